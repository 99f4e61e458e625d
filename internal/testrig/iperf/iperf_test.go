package iperf

import (
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	// 1000 datagrams of 1000 bytes sent, 750 received; iperf3 saw no
	// gap (the last 250 were lost) and reports no loss.
	udp := `{"start":{"test_start":{"protocol":"UDP"}},"end":{` +
		`"sum":{"bits_per_second":8e5,"seconds":10,"packets":750,"lost_packets":0},` +
		`"sum_sent":{"bytes":1000000,"bits_per_second":8e5,"seconds":10,"packets":1000},` +
		`"sum_received":{"bytes":750000,"bits_per_second":6e5,"seconds":10,"packets":750,"lost_packets":0}}}`
	r, err := Parse([]byte(udp))
	if err != nil {
		t.Fatal(err)
	}
	if !r.UDP || r.BPS != 6e5 || r.Delivered() != 75 || r.LossPercent() != 25 || r.Gaps != 0 {
		t.Errorf("UDP: %+v, delivered %v/s, lost %v%%", r, r.Delivered(), r.LossPercent())
	}
	// 100 lost within the stream, 50 at its end.
	mid := `{"start":{"test_start":{"protocol":"UDP"}},"end":{` +
		`"sum_sent":{"bytes":1000000,"bits_per_second":8e5,"seconds":10,"packets":1000},` +
		`"sum_received":{"bytes":850000,"bits_per_second":6.8e5,"seconds":10,"packets":950,"lost_packets":100}}}`
	if r, err = Parse([]byte(mid)); err != nil {
		t.Fatal(err)
	}
	if r.Lost != 150 || r.Gaps != 100 {
		t.Errorf("lost %d, gaps %d; want 150, 100", r.Lost, r.Gaps)
	}
	// Nothing arrived: all lost.
	none := `{"start":{"test_start":{"protocol":"UDP"}},"end":{` +
		`"sum_sent":{"bytes":1048800,"bits_per_second":2e7,"seconds":0.42,"packets":760},` +
		`"sum_received":{"bytes":0,"bits_per_second":0,"seconds":0.42,"packets":0}}}`
	if r, err = Parse([]byte(none)); err != nil {
		t.Fatal(err)
	}
	if r.BPS != 0 || r.LossPercent() != 100 {
		t.Errorf("nothing received: %+v, lost %v%%", r, r.LossPercent())
	}
	tcp := `{"start":{"test_start":{"protocol":"TCP"}},"end":{"sum_received":{"bits_per_second":2.5e9,"seconds":5}}}`
	if r, err = Parse([]byte(tcp)); err != nil {
		t.Fatal(err)
	}
	if r.UDP || r.BPS != 2.5e9 || r.Sent != 0 || math.IsNaN(r.LossPercent()) {
		t.Errorf("TCP: %+v", r)
	}
	for in, want := range map[string]string{
		`{"error":"unable to connect to server"}`:              "unable to connect",
		`{"start":{"test_start":{"protocol":"UDP"}},"end":{}}`: "no UDP result",
		`{"start":{"test_start":{"protocol":"TCP"}},"end":{}}`: "no TCP result",
		`not json`: "iperf3 report",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

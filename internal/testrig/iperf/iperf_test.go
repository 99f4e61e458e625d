package iperf

import (
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	udp := `{"start":{"test_start":{"protocol":"UDP"}},"end":{"sum":{"bits_per_second":1e9,"seconds":10,"packets":1000,"lost_packets":250}}}`
	r, err := Parse([]byte(udp))
	if err != nil {
		t.Fatal(err)
	}
	if !r.UDP || r.BPS != 0.75e9 || r.Delivered() != 75 || r.LossPercent() != 25 {
		t.Errorf("UDP: %+v, delivered %v/s, lost %v%%", r, r.Delivered(), r.LossPercent())
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

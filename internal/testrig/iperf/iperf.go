// Package iperf reads the JSON report of an iperf3 client (iperf3 -J):
// the figures the data-path tests and benchmarks compare.
package iperf

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Result is what one iperf3 run measured.
type Result struct {
	// UDP is set for a UDP test.
	UDP bool
	// BPS is the rate the receiver saw, in bits per second.
	BPS float64
	// Seconds is the test's duration.
	Seconds float64
	// Sent counts the UDP datagrams the client sent and Lost those the
	// server did not receive (0 for TCP).
	Sent, Lost int
	// Gaps counts the UDP datagrams missing before the last one the
	// server received (iperf3's own count): losses within the stream.
	// Lost less Gaps is the tail the server did not see, which includes
	// datagrams still on their way when the test ended.
	Gaps int
}

// Delivered returns the UDP datagrams delivered per second.
func (r Result) Delivered() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Sent-r.Lost) / r.Seconds
}

// LossPercent returns the share of UDP datagrams lost, in percent.
func (r Result) LossPercent() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 100 * float64(r.Lost) / float64(r.Sent)
}

// sum is one of the totals at the end of a report.
type sum struct {
	Bytes   int64   `json:"bytes"`
	BPS     float64 `json:"bits_per_second"`
	Seconds float64 `json:"seconds"`
	Packets int     `json:"packets"`
	Lost    int     `json:"lost_packets"`
}

// Parse reads an iperf3 -J report. A report that carries an error, or no
// result, is an error.
//
// For UDP, the datagrams lost are those sent less those whose bytes the
// server counted. iperf3's own lost_packets (Gaps) counts only gaps in the
// sequence numbers the server saw, so a run whose datagrams never arrive,
// or whose last ones are lost, would count as lossless by it.
func Parse(b []byte) (Result, error) {
	var r struct {
		Start struct {
			Test struct {
				Protocol string `json:"protocol"`
			} `json:"test_start"`
		} `json:"start"`
		End struct {
			SumSent     sum `json:"sum_sent"`
			SumReceived sum `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("iperf3 report: %w", err)
	}
	if r.Error != "" {
		return Result{}, fmt.Errorf("iperf3: %s", r.Error)
	}
	sent, recv := r.End.SumSent, r.End.SumReceived
	if r.Start.Test.Protocol == "UDP" {
		if sent.Packets <= 0 || sent.Bytes <= 0 || recv.Seconds <= 0 {
			return Result{}, errors.New("iperf3: no UDP result")
		}
		size := sent.Bytes / int64(sent.Packets) // every datagram has the same length
		got := int((recv.Bytes + size/2) / size)
		lost := max(sent.Packets-got, 0)
		return Result{UDP: true, BPS: recv.BPS, Seconds: recv.Seconds, Sent: sent.Packets, Lost: lost, Gaps: recv.Lost}, nil
	}
	if recv.BPS == 0 {
		return Result{}, errors.New("iperf3: no TCP result")
	}
	return Result{BPS: recv.BPS, Seconds: recv.Seconds}, nil
}

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
	// BPS is the rate the receiver saw, in bits per second. For UDP it is
	// the datagrams delivered: the sender's rate less the lost ones.
	BPS float64
	// Seconds is the test's duration.
	Seconds float64
	// Sent and Lost count UDP datagrams (0 for TCP).
	Sent, Lost int
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

// Parse reads an iperf3 -J report. A report that carries an error, or no
// result, is an error.
func Parse(b []byte) (Result, error) {
	var r struct {
		Start struct {
			Test struct {
				Protocol string `json:"protocol"`
			} `json:"test_start"`
		} `json:"start"`
		End struct {
			SumReceived struct {
				BPS     float64 `json:"bits_per_second"`
				Seconds float64 `json:"seconds"`
			} `json:"sum_received"`
			Sum struct {
				BPS     float64 `json:"bits_per_second"`
				Seconds float64 `json:"seconds"`
				Packets int     `json:"packets"`
				Lost    int     `json:"lost_packets"`
			} `json:"sum"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("iperf3 report: %w", err)
	}
	if r.Error != "" {
		return Result{}, fmt.Errorf("iperf3: %s", r.Error)
	}
	if r.Start.Test.Protocol == "UDP" {
		s := r.End.Sum
		if s.Seconds <= 0 || s.Packets == 0 {
			return Result{}, errors.New("iperf3: no UDP result")
		}
		return Result{UDP: true, BPS: s.BPS * float64(s.Packets-s.Lost) / float64(s.Packets), Seconds: s.Seconds, Sent: s.Packets, Lost: s.Lost}, nil
	}
	if r.End.SumReceived.BPS == 0 {
		return Result{}, errors.New("iperf3: no TCP result")
	}
	return Result{BPS: r.End.SumReceived.BPS, Seconds: r.End.SumReceived.Seconds}, nil
}

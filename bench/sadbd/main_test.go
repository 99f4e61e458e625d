package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The bench re-executes its binary as the daemon; under test that
	// binary is the test binary.
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serve(os.Args[2:]))
	}
	goleak.VerifyTestMain(m,
		// gRPC keeps a process-wide resolver and balancer goroutine alive.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"))
}

// A short run of every measurement prints every figure, each positive.
func TestBenchPrintsFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sadbd five times")
	}
	var out bytes.Buffer
	prof := filepath.Join(t.TempDir(), "inproc.pprof")
	args := []string{"-run", "fsync,grpc,throughput,restart", "-clients", "2", "-duration", "300ms", "-warmup", "100ms",
		"-contexts", "300", "-rounds", "1", "-dir", t.TempDir(), "-memory-store", "-in-process-store", "-shared-conn",
		"-in-process-cpuprofile", prof}
	if code := run(args, &out); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	t.Log("\n" + out.String())
	for _, re := range []string{
		`fsync .* p50 (\d+)`,
		`grpc floor .* 2 streams on 2 connections: (\d+) round trips/s \(\d+µs per round trip on each stream\)`,
		`grpc floor .* 2 streams on 1 connection: (\d+) round trips/s`,
		`rpc +durable/1conn +2 clients: +(\d+) SA contexts/s`,
		`rpc +no store/1conn +2 clients: +(\d+) SA contexts/s`,
		`in-process +2 goroutines: +(\d+) SA contexts/s`,
		`in-process durable +2 goroutines: +(\d+) SA contexts/s`,
		`store +[\d.]+ commits per log frame, (\d+) log frames/s`,
		`syscalls +per SA context: sadbd [\d.]+ reads, ([\d.]+) writes`,
		`restart +round 1: serving .* (\d+) SA contexts; RSS`,
		`ratio +RPC durable / in-process: ([\d.]+)`,
	} {
		m := regexp.MustCompile(re).FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("no line matches %q", re)
			continue
		}
		if v, err := strconv.ParseFloat(m[1], 64); err != nil || v <= 0 {
			t.Errorf("%q: figure %q is not positive", re, m[1])
		}
	}
	if !regexp.MustCompile(`restart +round 1: .* 300 SA contexts;`).MatchString(out.String()) {
		t.Error("the restarted daemon did not load the 300 contexts the bench stored")
	}
	// A CPU profile is gzipped protobuf; an empty or missing file fails.
	if b, err := os.ReadFile(prof); err != nil {
		t.Errorf("the in-process durable run's CPU profile: %v", err)
	} else if zr, err := gzip.NewReader(bytes.NewReader(b)); err != nil {
		t.Errorf("the in-process durable run's CPU profile is not gzipped: %v", err)
	} else if n, err := io.Copy(io.Discard, zr); err != nil || n == 0 {
		t.Errorf("the in-process durable run's CPU profile: %d bytes inside, %v", n, err)
	}
}

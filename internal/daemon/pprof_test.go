package daemon

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// freeAddr returns a local TCP address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The runtime profiles are served on the metrics address when asked for,
// and only then; asking for them without a metrics address is an error.
func TestPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := testConfig(t)
		cfg.Metrics, cfg.Pprof = freeAddr(t), on
		d, err := Start(cfg, quiet())
		if err != nil {
			t.Fatal(err)
		}
		code, body := get(t, "http://"+cfg.Metrics+"/debug/pprof/heap?debug=1")
		if on && (code != http.StatusOK || !strings.Contains(body, "heap profile")) {
			t.Errorf("pprof on: /debug/pprof/heap: %d %.100q", code, body)
		}
		if !on && code != http.StatusNotFound {
			t.Errorf("pprof off: /debug/pprof/heap: %d", code)
		}
		if code, _ := get(t, "http://"+cfg.Metrics+"/metrics"); code != http.StatusOK {
			t.Errorf("/metrics: %d", code)
		}
		if err := d.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t)
	cfg.Pprof = true
	if _, err := Start(cfg, quiet()); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("pprof without a metrics address: %v", err)
	}
}

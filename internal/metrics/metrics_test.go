package metrics

import (
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/datapath/userspace"
	"github.com/sadb-dev/sadb/internal/storage/bolt"
	"github.com/sadb-dev/sadb/wfp"
)

// scrape returns what m's handler serves.
func scrape(m *Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// The endpoint serves every family with the engine's and the store's
// current values.
func TestExposition(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "sadb.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m := New(e, st, nil)
	m.Observe("IPsecSaContextCreate1", 0, 3*time.Microsecond)
	m.Observe("IPsecSaContextGetSpi1", wfp.ErrNotFound, time.Microsecond)
	body := scrape(m)
	for _, want := range []string{
		`sadb_calls_total{code="ERROR_SUCCESS",function="IPsecSaContextCreate1"} 1`,
		`sadb_calls_total{code="FWP_E_NOT_FOUND",function="IPsecSaContextGetSpi1"} 1`,
		`sadb_sa_contexts{state="SA_CONTEXT_CREATED"} 0`,
		`sadb_call_duration_seconds_bucket`,
		`sadb_store_commit_seconds_bucket`,
		`sadb_store_checkpoints_total`,
		`sadb_sessions 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

type datapathStats userspace.Stats

func (s datapathStats) Stats() userspace.Stats { return userspace.Stats(s) }

// The data path's counters appear by outcome, each from its own field,
// and only when there is a data path.
func TestDatapathExposition(t *testing.T) {
	e, err := engine.New(engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if body := scrape(New(e, nil, nil)); strings.Contains(body, "sadb_datapath_") {
		t.Errorf("data path metrics without a data path")
	}
	body := scrape(New(e, nil, datapathStats{
		OutProtected: 1, OutProtectedBytes: 2, OutClear: 3, OutBlocked: 4, OutNoSA: 5, OutSAExpired: 6, OutMalformed: 7,
		OutReassembled: 8, OutReasmDropped: 9, OutFragmented: 10, OutSendErrors: 11,
		InAccepted: 12, InAcceptedBytes: 13, InInvalidSPI: 14, InReplay: 15, InAuth: 16, InMalformed: 17, InSelector: 18,
		InUDPInvalid: 19, InSAExpired: 20, InBundleMismatch: 21, InDummy: 22, InTUNErrors: 23,
	}))
	for _, want := range []string{
		`sadb_datapath_out_packets_total{result="protected"} 1`,
		`sadb_datapath_out_protected_bytes_total 2`,
		`sadb_datapath_out_packets_total{result="clear"} 3`,
		`sadb_datapath_out_packets_total{result="blocked"} 4`,
		`sadb_datapath_out_packets_total{result="no_sa"} 5`,
		`sadb_datapath_out_packets_total{result="sa_expired"} 6`,
		`sadb_datapath_out_packets_total{result="malformed"} 7`,
		`sadb_datapath_out_reassembled_total 8`,
		`sadb_datapath_out_reassembly_dropped_total 9`,
		`sadb_datapath_out_fragmented_total 10`,
		`sadb_datapath_out_packets_total{result="send_error"} 11`,
		`sadb_datapath_in_packets_total{result="accepted"} 12`,
		`sadb_datapath_in_accepted_bytes_total 13`,
		`sadb_datapath_in_packets_total{result="invalid_spi"} 14`,
		`sadb_datapath_in_packets_total{result="replay"} 15`,
		`sadb_datapath_in_packets_total{result="auth"} 16`,
		`sadb_datapath_in_packets_total{result="malformed"} 17`,
		`sadb_datapath_in_packets_total{result="selector"} 18`,
		`sadb_datapath_in_packets_total{result="udp_invalid"} 19`,
		`sadb_datapath_in_packets_total{result="sa_expired"} 20`,
		`sadb_datapath_in_packets_total{result="bundle_mismatch"} 21`,
		`sadb_datapath_in_packets_total{result="dummy"} 22`,
		`sadb_datapath_in_packets_total{result="tun_error"} 23`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// ParseText reads what the endpoint serves, sample by sample, and skips
// comments and lines without a value.
func TestParseText(t *testing.T) {
	e, err := engine.New(engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m := New(e, nil, datapathStats{InTUNErrors: 23})
	m.Observe("IPsecSaContextCreate1", 0, 3*time.Microsecond)
	got, err := ParseText(strings.NewReader(scrape(m)))
	if err != nil {
		t.Fatal(err)
	}
	for sample, want := range map[string]float64{
		`sadb_datapath_in_packets_total{result="tun_error"}`:                      23,
		`sadb_calls_total{code="ERROR_SUCCESS",function="IPsecSaContextCreate1"}`: 1,
		`sadb_call_duration_seconds_count{function="IPsecSaContextCreate1"}`:      1,
		`sadb_sessions`: 0,
	} {
		if v, ok := got[sample]; !ok || v != want {
			t.Errorf("%s: %v (present %v), want %v", sample, v, ok, want)
		}
	}
	got, err = ParseText(strings.NewReader("# HELP x y\n\nnovalue\nbad 1x\na{b=\"c d\"} 2.5\nc 3\n"))
	if err != nil || len(got) != 2 || got[`a{b="c d"}`] != 2.5 || got["c"] != 3 {
		t.Errorf("got %v, %v", got, err)
	}
}

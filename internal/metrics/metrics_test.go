package metrics

import (
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/storage/bolt"
	"github.com/sadb-dev/sadb/wfp"
)

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
	m := New(e, st)
	m.Observe("IPsecSaContextCreate1", 0, 3*time.Microsecond)
	m.Observe("IPsecSaContextGetSpi1", wfp.ErrNotFound, time.Microsecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`sadb_calls_total{code="ERROR_SUCCESS",function="IPsecSaContextCreate1"} 1`,
		`sadb_calls_total{code="FWP_E_NOT_FOUND",function="IPsecSaContextGetSpi1"} 1`,
		`sadb_sa_contexts{state="SA_CONTEXT_CREATED"} 0`,
		`sadb_call_duration_seconds_bucket`,
		`sadb_store_commit_seconds_bucket`,
		`sadb_store_checkpoints_total`,
		`sadb_sessions 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

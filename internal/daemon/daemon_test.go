package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/wfp"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	return Config{Store: filepath.Join(dir, "sadb.db"), Socket: filepath.Join(dir, "sadbd.sock"), ShutdownGrace: Duration(100 * time.Millisecond)}
}

func open(t *testing.T, cfg Config, flags uint32) wfp.API {
	t.Helper()
	api, err := client.Open(context.Background(), "unix://"+cfg.Socket, &wfp.FwpmSession0{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.FwpmEngineClose0() })
	return api
}

// A context survives a restart, keys included, and the store file is private.
func TestRestartKeepsState(t *testing.T) {
	cfg := testConfig(t)
	d, err := Start(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	api := open(t, cfg, 0)
	local, remote := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	out, in, err := conformance.TransportFilters(api, local, remote)
	if err != nil {
		t.Fatal(err)
	}
	tr := conformance.TransportTraffic(local, remote, out)
	id, _, err := api.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := conformance.GetSPI(conformance.TransportTraffic(local, remote, in))
	spi, err := api.IPsecSaContextGetSpi1(id, g)
	if err != nil {
		t.Fatal(err)
	}
	key := conformance.TestKey(20, 7)
	if err := api.IPsecSaContextAddInbound1(id, conformance.GCMBundle(wfp.IPVersionV4, spi, key)); err != nil {
		t.Fatal(err)
	}
	api.FwpmEngineClose0()
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(cfg.Store)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode %v, %v", st.Mode(), err)
	}

	d, err = Start(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	api = open(t, cfg, wfp.SessionFlagKeyMaterial)
	sc, err := api.IPsecSaContextGetById1(id)
	if err != nil {
		t.Fatal(err)
	}
	if sc.State != wfp.SAContextInboundAdded || sc.InboundSPI != spi {
		t.Fatalf("after restart: %v spi %d", sc.State, sc.InboundSPI)
	}
	got := sc.InboundSA.SABundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey
	if string(got) != string(key) {
		t.Fatalf("key changed across the restart")
	}
	// The SPI is still reserved.
	id2, _, err := api.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.IPsecSaContextSetSpi0(id2, g, spi); wfp.Code(err) != wfp.ErrAlreadyExists {
		t.Fatalf("SetSpi of a stored SPI: %v", err)
	}
}

func TestSecondDaemonRefused(t *testing.T) {
	cfg := testConfig(t)
	d, err := Start(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	other := cfg
	other.Store = filepath.Join(t.TempDir(), "other.db")
	if _, err := Start(other, quiet()); err == nil {
		t.Fatal("a second daemon started on the same socket")
	}
	open(t, cfg, 0) // the first one still answers
}

// TestDatapathRefusedCleanly starts a daemon whose data path cannot be
// opened (a TUN name Linux refuses; without root, any): Start must return
// the error and release what it took, not crash on the backend it did
// not get.
func TestDatapathRefusedCleanly(t *testing.T) {
	cfg := testConfig(t)
	cfg.Datapath = DatapathConfig{Type: "userspace", TUN: "sadb-name-too-long"}
	d, err := Start(cfg, quiet())
	if err == nil {
		d.Shutdown()
		t.Fatal("a daemon started with a data path it could not open")
	}
	cfg.Datapath = DatapathConfig{}
	d, err = Start(cfg, quiet()) // the socket and the store were released
	if err != nil {
		t.Fatal(err)
	}
	d.Shutdown()
}

// The admins given when the store is created are the store's: a restart
// with other admins keeps the stored security descriptors, even when
// nothing was written before it.
func TestAdminsFixedAtStoreCreation(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admins = []wfp.SID{wfp.GroupSID(27)}
	d, err := Start(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	d.Shutdown()
	cfg.Admins = []wfp.SID{wfp.GroupSID(28)}
	d, err = Start(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	sd, err := open(t, cfg, 0).IPsecSaDbGetSecurityInfo0(wfp.DACLSecurityInformation)
	if err != nil {
		t.Fatal(err)
	}
	has := func(sid wfp.SID) bool {
		for _, a := range *sd.DACL {
			if a.SID == sid {
				return true
			}
		}
		return false
	}
	if !has(wfp.GroupSID(27)) || has(wfp.GroupSID(28)) {
		t.Errorf("after a restart with other admins the SA database's DACL is %v; want the store's (gid:27), not gid:28", *sd.DACL)
	}
}

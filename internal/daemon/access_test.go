package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/wfp"
)

// nobody is the unprivileged credential the client process runs under.
const nobody = 65534

// aclParams tell the acl-client helper what to act on (JSON in aclEnv).
type aclParams struct {
	Target    string
	Victim    uint64 // a context the administrator plumbed
	OutFilter uint64
	InFilter  uint64
}

const aclEnv = "SADB_DAEMON_TEST_ACL"

// aclReport is what the acl-client helper saw: the identity sadbd gave its
// session and the status code of each call ("" for calls it did not get
// to make).
type aclReport struct {
	SID       wfp.SID
	ProcessID uint32
	Codes     map[string]string
	// Keys is the length of the victim's inbound cipher key as GetById
	// returned it (the session asks for key material; -1 if not read).
	Keys int
	// Contexts is how many SA contexts the enumeration returned (-1 if
	// it failed).
	Contexts int
}

// aclClient is the helper: it runs as another user, makes each call once
// and prints an aclReport on stdout.
func aclClient() int {
	var p aclParams
	if err := json.Unmarshal([]byte(os.Getenv(aclEnv)), &p); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r := aclReport{Codes: map[string]string{}, Keys: -1, Contexts: -1}
	code := func(err error) string {
		if err == nil {
			return "ERROR_SUCCESS"
		}
		return wfp.Code(err).Name()
	}
	api, err := client.Open(context.Background(), p.Target, &wfp.FwpmSession0{Flags: wfp.SessionFlagKeyMaterial})
	r.Codes["FwpmEngineOpen0"] = code(err)
	if err == nil {
		defer api.FwpmEngineClose0()
		info := api.Session()
		r.SID, r.ProcessID = info.SID, info.ProcessID
		pl := plumbing{outFilter: p.OutFilter, inFilter: p.InFilter}

		tr := pl.outbound()
		id, _, err := api.IPsecSaContextCreate1(&tr, nil)
		r.Codes["IPsecSaContextCreate1"] = code(err)
		if err == nil {
			spi, err := api.IPsecSaContextGetSpi1(id, pl.getSPI())
			r.Codes["IPsecSaContextGetSpi1"] = code(err)
			if err == nil {
				err = api.IPsecSaContextAddInbound1(id, conformance.GCMBundle(wfp.IPVersionV4, spi, conformance.TestKey(20, 0x65)))
				r.Codes["IPsecSaContextAddInbound1"] = code(err)
			}
		}

		sc, err := api.IPsecSaContextGetById1(p.Victim)
		r.Codes["IPsecSaContextGetById1"] = code(err)
		if err == nil {
			r.Keys = len(bundleKey(sc.InboundSA))
		}

		h, err := api.IPsecSaContextCreateEnumHandle0(nil)
		r.Codes["IPsecSaContextCreateEnumHandle0"] = code(err)
		if err == nil {
			page, err := api.IPsecSaContextEnum1(h, 100)
			r.Codes["IPsecSaContextEnum1"] = code(err)
			if err == nil {
				r.Contexts = len(page)
			}
			api.IPsecSaContextDestroyEnumHandle0(h)
		}

		sh, err := api.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(*wfp.IPsecSAContextChange0) {})
		r.Codes["IPsecSaContextSubscribe0"] = code(err)
		if err == nil {
			api.IPsecSaContextUnsubscribe0(sh)
		}

		r.Codes["IPsecSaContextDeleteById0"] = code(api.IPsecSaContextDeleteById0(p.Victim))
	}
	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// publicDir makes a temporary directory that other users can enter.
func publicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sadb-daemon-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyExecutable copies the test binary into dir, where another user can
// run it (the go command builds it in a directory private to us).
func copyExecutable(t testing.TB, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "daemon-test-helper")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAsNobody runs the acl-client helper as uid and gid 65534 and returns
// its report and its process id.
func runAsNobody(t testing.TB, helper string, p aclParams) (aclReport, int) {
	t.Helper()
	params, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helper)
	cmd.Dir = filepath.Dir(helper)
	cmd.Env = []string{helperEnv + "=acl-client", aclEnv + "=" + string(params), "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper as uid %d: %v\nstderr:\n%s", nobody, err, stderr.String())
	}
	var r aclReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("helper report %q: %v\nstderr:\n%s", stdout.String(), err, stderr.String())
	}
	return r, cmd.Process.Pid
}

// A client process running as another user reaches the daemon through the
// socket, is identified by its peer credentials, and can do exactly what
// the SA database's descriptor grants it: with the defaults nothing but
// opening a session; after the administrator grants ADD|READ|ENUM, those
// calls (and no others); a deny ACE for its group takes READ back.
func TestAccessControlOtherUser(t *testing.T) {
	requireRoot(t)
	pub := publicDir(t)
	cfg := newConfig(t)
	cfg.Socket = filepath.Join(pub, "sadbd.sock") // the socket is 0666 by default
	d := startInProc(t, cfg, discard())
	target := "unix://" + cfg.Socket

	admin := openAPI(t, target, wfp.SessionFlagKeyMaterial)
	pl := addFilters(t, admin)
	victim := pl.mustPlumb(t, admin, 1)
	helper := copyExecutable(t, pub)
	params := aclParams{Target: target, Victim: victim.id, OutFilter: pl.outFilter, InFilter: pl.inFilter}

	const (
		ok     = "ERROR_SUCCESS"
		denied = "ERROR_ACCESS_DENIED"
	)
	check := func(t *testing.T, want map[string]string) aclReport {
		t.Helper()
		sessions := d.Engine().Stats().Sessions
		r, pid := runAsNobody(t, helper, params)
		if diff := cmp.Diff(want, r.Codes); diff != "" {
			t.Errorf("status codes (-want +got):\n%s", diff)
		}
		if r.SID != wfp.UserSID(nobody) || r.ProcessID != uint32(pid) {
			t.Errorf("sadbd identified the helper (pid %d, uid %d) as %s pid %d", pid, nobody, r.SID, r.ProcessID)
		}
		if got := d.Engine().Stats().Sessions; got != sessions {
			t.Errorf("%d sessions after the helper ended, %d before", got, sessions)
		}
		// Whatever was denied, the administrator's context is intact.
		sc, err := admin.IPsecSaContextGetById1(victim.id)
		if err != nil || sc.State != wfp.SAContextOutboundAdded || bundleKey(sc.InboundSA) != string(victim.inKey) {
			t.Errorf("the administrator's context after the helper: %+v, %v", sc, err)
		}
		return r
	}

	// What another user may do under the default descriptors: open a
	// session, nothing more.
	defaultAccess := map[string]string{
		"FwpmEngineOpen0":                 ok,
		"IPsecSaContextCreate1":           denied,
		"IPsecSaContextGetById1":          denied,
		"IPsecSaContextCreateEnumHandle0": denied,
		"IPsecSaContextSubscribe0":        denied,
		"IPsecSaContextDeleteById0":       denied,
	}
	t.Run("DefaultDescriptors", func(t *testing.T) {
		check(t, defaultAccess)
		if n := len(enumContexts(t, admin)); n != 1 {
			t.Errorf("%d SA contexts, want the administrator's one", n)
		}
	})

	sd, err := admin.IPsecSaDbGetSecurityInfo0(wfp.DACLSecurityInformation)
	if err != nil {
		t.Fatal(err)
	}
	defaults := *sd.DACL
	setDACL := func(t *testing.T, aces ...wfp.ACE) {
		t.Helper()
		if err := admin.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, new(wfp.ACL(aces))); err != nil {
			t.Fatalf("IPsecSaDbSetSecurityInfo0: %v", err)
		}
	}
	grant := wfp.ACE{Type: wfp.AccessAllowed, Mask: wfp.ActrlAdd | wfp.ActrlRead | wfp.ActrlEnum, SID: wfp.UserSID(nobody)}

	t.Run("GrantAddReadEnum", func(t *testing.T) {
		setDACL(t, append(defaults, grant)...)
		r := check(t, map[string]string{
			"FwpmEngineOpen0":                 ok,
			"IPsecSaContextCreate1":           ok,
			"IPsecSaContextGetSpi1":           ok,
			"IPsecSaContextAddInbound1":       ok,
			"IPsecSaContextGetById1":          ok,
			"IPsecSaContextCreateEnumHandle0": ok,
			"IPsecSaContextEnum1":             ok,
			"IPsecSaContextSubscribe0":        denied,
			"IPsecSaContextDeleteById0":       denied,
		})
		if r.Keys != 0 {
			t.Errorf("GetById without READ_KEYS returned a %d-byte key", r.Keys)
		}
		if r.Contexts != 2 {
			t.Errorf("the helper enumerated %d contexts, want 2 (the administrator's and its own)", r.Contexts)
		}
		states := map[wfp.SAContextState]int{}
		for _, sc := range enumContexts(t, admin) {
			states[sc.State]++
		}
		if diff := cmp.Diff(map[wfp.SAContextState]int{wfp.SAContextOutboundAdded: 1, wfp.SAContextInboundAdded: 1}, states); diff != "" {
			t.Errorf("contexts by state (-want +got):\n%s", diff)
		}
	})

	t.Run("DenyReadByGroup", func(t *testing.T) {
		deny := wfp.ACE{Type: wfp.AccessDenied, Mask: wfp.ActrlRead, SID: wfp.GroupSID(nobody)}
		setDACL(t, append(wfp.ACL{deny}, append(defaults, grant)...)...)
		check(t, map[string]string{
			"FwpmEngineOpen0":                 ok,
			"IPsecSaContextCreate1":           ok,
			"IPsecSaContextGetSpi1":           ok,
			"IPsecSaContextAddInbound1":       ok,
			"IPsecSaContextGetById1":          denied,
			"IPsecSaContextCreateEnumHandle0": denied,
			"IPsecSaContextSubscribe0":        denied,
			"IPsecSaContextDeleteById0":       denied,
		})
	})

	t.Run("Restored", func(t *testing.T) {
		setDACL(t, defaults...)
		check(t, defaultAccess)
		if n := len(enumContexts(t, admin)); n != 3 {
			t.Errorf("%d SA contexts, want 3 (the administrator's and two of the helper's)", n)
		}
	})
}

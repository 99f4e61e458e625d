package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// TestTransformNames checks that every transform name builds an SA that
// names itself back, with the WFP transform type its name promises.
func TestTransformNames(t *testing.T) {
	for _, name := range transformNames() {
		tr, err := parseTransform(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ks, err := parseKeys([]byte(keyFileFor(t, name, 7)), "test")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sas, err := tr.build(0x1234, ks)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := bundleName(sas); got != name {
			t.Errorf("%s builds an SA named %q", name, got)
		}
		typ := sas[0].SATransformType
		switch {
		case strings.HasPrefix(name, "ah-"):
			if typ != wfp.TransformAH {
				t.Errorf("%s: %v", name, typ)
			}
		case strings.HasPrefix(name, "esp-fw-"):
			if typ != wfp.TransformESPAuthFW {
				t.Errorf("%s: %v", name, typ)
			}
		case strings.HasPrefix(name, "esp-null-"), strings.HasPrefix(name, "esp-gmac-"):
			if typ != wfp.TransformESPAuth {
				t.Errorf("%s: %v", name, typ)
			}
		case strings.HasSuffix(name, "-null"):
			if typ != wfp.TransformESPCipher {
				t.Errorf("%s: %v", name, typ)
			}
		default:
			if typ != wfp.TransformESPAuthAndCipher {
				t.Errorf("%s: %v", name, typ)
			}
		}
	}
	gcm, _ := parseTransform("esp-gcm-256")
	if s := gcm.sas[0]; s.cipher != wfp.CipherTransformIDGCMAES256 || s.auth != wfp.AuthTransformIDGCMAES256 || s.cipherLen != 36 || s.authLen != 0 {
		t.Errorf("esp-gcm-256: %+v", s)
	}
	des, _ := parseTransform("ESP-3DES-MD5")
	if s := des.sas[0]; s.cipher != wfp.CipherTransformIDCBC3DES || s.auth != wfp.AuthTransformIDHMACMD596 || s.cipherLen != 24 || s.authLen != 16 {
		t.Errorf("esp-3des-md5: %+v", s)
	}
	for _, bad := range []string{"ah-sha1+esp-gcm-128", "esp-gcm-128+esp-gcm-128", "esp-gcm-128+ah-sha1+ah-sha1", "esp-chacha20", ""} {
		if _, err := parseTransform(bad); err == nil {
			t.Errorf("parseTransform(%q): no error", bad)
		}
	}
	// An SA no name describes is shown in WFP's terms.
	odd := wfp.IPsecSA0{SATransformType: wfp.TransformESPAuthAndCipher, ESPAuthAndCipherInformation: &wfp.IPsecSAAuthAndCipherInformation0{
		SACipherInformation: wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: wfp.CipherTransformIDGCMAES128}},
		SAAuthInformation:   wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: wfp.AuthTransformIDHMACSHA196}},
	}}
	if got := saName(&odd); got != "esp_auth_and_cipher/gcm_aes_128/hmac_sha_1_96" {
		t.Errorf("saName = %q", got)
	}
}

// TestKeyFiles checks key-file parsing and the errors for keys that do not
// fit the transform, none of which may show key material.
func TestKeyFiles(t *testing.T) {
	const secret = "deadbeefcafebabe0011223344556677" // 16 bytes
	for _, tc := range []struct {
		name, transform, file, want string
	}{
		{"WrongLength", "esp-gcm-128", "cipher=" + secret, "cipher key for esp-gcm-128 must be 20 bytes (40 hex digits: 16-byte AES key + 4-byte salt), got 16 bytes"},
		{"AuthLength", "esp-aes-128-sha1", "cipher=" + secret + "\nauth=" + secret, "auth key for esp-aes-128-sha1 must be 20 bytes (40 hex digits: HMAC-SHA-1-96 key)"},
		{"Missing", "esp-aes-128-sha256", "cipher=" + secret, "esp-aes-128-sha256 needs auth= (32 bytes, 64 hex digits: HMAC-SHA-256-128 key)"},
		{"Extra", "esp-gcm-128", "cipher=" + secret + "00112233\nauth=" + secret, "esp-gcm-128 takes cipher, not auth"},
		{"BundleNames", "esp-aes-128-sha1+ah-sha1", "cipher=" + secret, "needs esp.cipher="},
		{"Duplicate", "esp-gcm-128", "cipher=" + secret + "\ncipher=" + secret, "line 2: cipher is given twice"},
		{"NotHex", "esp-gcm-128", "# c\ncipher=" + secret[:10] + "zz", "line 2: cipher is not an even number of hex digits"},
		{"Odd", "esp-gcm-128", "cipher=" + secret + "0", "line 1: cipher is not an even number of hex digits"},
		{"NoEquals", "esp-gcm-128", secret, "line 1: want NAME=HEX"},
		{"Empty", "esp-gcm-128", "cipher=", "line 1: cipher is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := parseTransform(tc.transform)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := parseKeys([]byte(tc.file), "k.keys")
			if err == nil {
				_, err = tr.build(300, ks)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret[:8]) || strings.Contains(err.Error(), "zz") {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}
	ks, err := parseKeys([]byte("\n# comment\n  Cipher = 0x00:11:22:33 \n\tauth=aabb ccdd\n"), "k")
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.keys["cipher"]; !bytes.Equal(got, []byte{0, 0x11, 0x22, 0x33}) {
		t.Errorf("cipher = %x", []byte(got))
	}
	if got := ks.keys["auth"]; !bytes.Equal(got, []byte{0xaa, 0xbb, 0xcc, 0xdd}) {
		t.Errorf("auth = %x", []byte(got))
	}
	ks.zero()
	if got := ks.keys["auth"]; !bytes.Equal(got, make([]byte, 4)) {
		t.Errorf("zero left %x", []byte(got))
	}
}

// TestKeyFileWarnsWhenReadable checks the warning for a key file others
// can read.
func TestKeyFileWarnsWhenReadable(t *testing.T) {
	c := newCLI(t)
	c.ok("filter", "add-pair", "--local", "192.0.2.1", "--remote", "192.0.2.2")
	c.ok("ctx", "create", "--local", "192.0.2.1", "--remote", "192.0.2.2", "--filter", "1")
	c.ok("ctx", "getspi", "1")
	p := filepath.Join(t.TempDir(), "open.keys")
	if err := os.WriteFile(p, []byte(keyFileFor(t, "esp-gcm-128", 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.run("ctx", "add-inbound", "1", "--transform", "esp-gcm-128", "--key-file", p)
	if r.code != 0 || !strings.Contains(r.stderr, "is readable by other users") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestUsageErrors checks that command-line mistakes exit 2 before any call.
func TestUsageErrors(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "sadb"`},
		{[]string{"ctx", "shwo", "1"}, `did you mean show?`},
		{[]string{"-o", "yaml", "stats"}, `-o "yaml": want table or json`},
		{[]string{"ctx", "create", "--local", "192.0.2.1"}, "--local and --remote are required"},
		{[]string{"ctx", "create", "--local", "192.0.2.1", "--remote", "192.0.2.2"}, "give --filter ID"},
		{[]string{"ctx", "create", "--local", "192.0.2.1", "--remote", "192.0.2.2", "--filter", "1", "--tunnel-policy", "2"}, "not both"},
		{[]string{"ctx", "create", "--local", "192.0.2.300", "--remote", "192.0.2.2", "--filter", "1"}, `--local "192.0.2.300": not an IP address`},
		{[]string{"ctx", "create", "--local", "192.0.2.1", "--remote", "2001:db8::1", "--filter", "1"}, "different IP versions"},
		{[]string{"ctx", "setspi", "1", "lots"}, `SPI "lots"`},
		{[]string{"ctx", "show", "0"}, `SA context id "0": want a positive number`},
		{[]string{"ctx", "getspi", "1", "--udp-encap", "4500"}, "want LOCAL:REMOTE"},
		{[]string{"ctx", "add-outbound", "1", "--transform", "esp-gcm-128", "--spi", "4096", "--key-stdin", "--key-file", "x"}, "not both"},
		{[]string{"ctx", "add-outbound", "1", "--transform", "esp-gcm-128", "--key-file", "x"}, "--spi is required"},
		{[]string{"ctx", "update", "1"}, "nothing to update"},
		{[]string{"ctx", "list", "--remote", "10.0.0.0/33"}, "not an address or subnet"},
		{[]string{"filter", "add", "--local", "192.0.2.1"}, "give --layer"},
		{[]string{"filter", "add", "--ipsec", "sideways"}, "want outbound or inbound"},
		{[]string{"filter", "add", "--layer", "no-such-layer", "--action", "permit"}, "unknown layer"},
		{[]string{"filter", "add", "--ipsec", "outbound", "--callout", "ipsec-outbound-tunnel-v4"}, "not both"},
		{[]string{"filter", "add", "--ipsec", "outbound", "--local-port", "99999"}, "want a port or a range"},
		{[]string{"filter", "add-pair", "--local", "192.0.2.1"}, "--local and --remote are required"},
		{[]string{"sa", "list", "--direction", "up"}, "want inbound or outbound"},
		{[]string{"acl", "show", "--engine", "--sadb"}, "not both"},
		{[]string{"acl", "set", "--allow", "uid:1=FLY"}, "rights"},
		{[]string{"acl", "set", "--allow", "root=READ"}, "is not a SID"},
		{[]string{"acl", "set"}, "nothing to set"},
		{[]string{"stats", "extra"}, `takes no arguments; got "extra"`},
	} {
		r := c.run(tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "--help' for usage") {
			t.Errorf("sadb %s: exit %d, stderr:\n%s\nwant exit 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
}

// TestDaemonNotRunning checks the hint printed when nothing listens on the
// socket.
func TestDaemonNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sadbd.sock")
	var out, errb syncBuffer
	a := &app{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	code := a.execute([]string{"--target", sock, "ctx", "list"})
	if code != exitError {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "sadb: is sadbd running? socket: "+sock+"\n") || !strings.Contains(errb.String(), "sadb: RPC_") {
		t.Errorf("stderr:\n%s", errb.String())
	}
}

// TestTCPTargetNeedsTLS checks that a host:port target asks for the TLS
// files.
func TestTCPTargetNeedsTLS(t *testing.T) {
	var out, errb syncBuffer
	a := &app{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	if code := a.execute([]string{"--target", "127.0.0.1:1", "stats"}); code != exitUsage || !strings.Contains(errb.String(), "needs --tls-cert, --tls-key and --tls-ca") {
		t.Errorf("exit %d, stderr:\n%s", code, errb.String())
	}
}

// TestHelp checks that every command has a short description and examples,
// and that --help prints them.
func TestHelp(t *testing.T) {
	root := newRootCmd(&app{ctx: context.Background()})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Parent() != nil && c.Parent().Name() != "completion" && c.Name() != "completion" {
			if c.Short == "" || c.Example == "" {
				t.Errorf("%s: no Short or no Example", c.CommandPath())
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	c := newCLI(t)
	r := c.run("ctx", "add-inbound", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "esp-gcm-128|192|256") {
		t.Errorf("exit %d, help:\n%s", r.code, r.stdout)
	}
	if r := c.run("ctx"); r.code != 0 || !strings.Contains(r.stdout, "Available Commands:") {
		t.Errorf("sadb ctx: exit %d:\n%s", r.code, r.stdout)
	}
}

// TestCompletion checks cobra's completion scripts.
func TestCompletion(t *testing.T) {
	c := newCLI(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := c.run("completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "sadb") {
			t.Errorf("completion %s: exit %d, %d bytes", sh, r.code, len(r.stdout))
		}
	}
	r := c.run("__complete", "ctx", "add-inbound", "1", "--transform", "esp-gcm")
	if !strings.Contains(r.stdout, "esp-gcm-256\n") {
		t.Errorf("transform completion:\n%s", r.stdout)
	}
}

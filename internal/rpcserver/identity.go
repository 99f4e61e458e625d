package rpcserver

import (
	"context"
	"crypto/x509"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/sadb-dev/sadb/internal/peercred"
	"github.com/sadb-dev/sadb/wfp"
)

// tokenOf derives the caller's engine identity from how the connection was
// authenticated: peer credentials on the Unix socket, the verified client
// certificate over TLS. Anything else is refused.
func tokenOf(ctx context.Context) (wfp.Token, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return wfp.Token{}, false
	}
	switch ai := p.AuthInfo.(type) {
	case peercred.Info:
		tok := wfp.Token{User: wfp.UserSID(ai.UID), Groups: []wfp.SID{wfp.GroupSID(ai.GID)}, ProcessID: uint32(max(ai.PID, 0))}
		for _, g := range ai.Groups {
			if g != ai.GID {
				tok.Groups = append(tok.Groups, wfp.GroupSID(g))
			}
		}
		return tok, true
	case credentials.TLSInfo:
		chains := ai.State.VerifiedChains
		if len(chains) == 0 || len(chains[0]) == 0 {
			return wfp.Token{}, false
		}
		name := certName(chains[0][0])
		if name == "" {
			return wfp.Token{}, false
		}
		return wfp.Token{User: wfp.CertSID(name)}, true
	}
	return wfp.Token{}, false
}

// certName is a client certificate's identity: its subject common name, or
// else its first DNS or URI subject alternative name.
func certName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	}
	return ""
}

// Package peercred authenticates gRPC callers on a Unix-domain socket by the
// kernel's account of who is on the other end (SO_PEERCRED): uid, gid, pid,
// and the process's supplementary groups. Nothing the caller sends can
// change it.
package peercred

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
)

// AuthType is the AuthInfo type name of peer credentials.
const AuthType = "peercred"

// Info is the caller's identity, as the gRPC peer's AuthInfo.
type Info struct {
	credentials.CommonAuthInfo
	UID, GID uint32
	PID      int32
	Groups   []uint32 // supplementary groups, as the process had them at connect time
}

// AuthType implements credentials.AuthInfo.
func (Info) AuthType() string { return AuthType }

// Credentials returns transport credentials for a gRPC server listening on a
// Unix socket (server side) and for clients dialing one (client side, where
// they only mark the connection as local).
func Credentials() credentials.TransportCredentials { return creds{} }

type creds struct{}

func (creds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, Info{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (creds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, nil, fmt.Errorf("peercred: %T is not a Unix socket connection", c)
	}
	info, err := Of(uc)
	if err != nil {
		return nil, nil, err
	}
	return c, info, nil
}

func (creds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: AuthType}
}

func (c creds) Clone() credentials.TransportCredentials { return c }

func (creds) OverrideServerName(string) error { return nil }

// Of reads the peer credentials of a connected Unix socket.
func Of(uc *net.UnixConn) (Info, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return Info{}, fmt.Errorf("peercred: %w", err)
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Info{}, fmt.Errorf("peercred: %w", err)
	}
	if serr != nil {
		return Info{}, fmt.Errorf("peercred: SO_PEERCRED: %w", serr)
	}
	info := Info{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		UID:            cred.Uid, GID: cred.Gid, PID: cred.Pid,
	}
	info.Groups, _ = groupsOf(cred.Pid) // best effort: the process may be gone already
	return info, nil
}

// groupsOf reads a process's supplementary groups from /proc.
func groupsOf(pid int32) ([]uint32, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		var out []uint32
		for _, fld := range strings.Fields(rest) {
			g, err := strconv.ParseUint(fld, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("peercred: bad Groups line %q", line)
			}
			out = append(out, uint32(g))
		}
		return out, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("peercred: no Groups line")
}

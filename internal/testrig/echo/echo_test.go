package echo

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTCP(t *testing.T) {
	s, err := Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []int64{0, 1, 100_000, 3 << 20} {
		c, err := Dial(ctx, "tcp4", s.Addr.String())
		if err != nil {
			t.Fatal(err)
		}
		r, err := TCP(ctx, c, n)
		if err != nil || r.Sent != n || r.Received != n {
			t.Errorf("TCP(%d) = %+v, %v", n, r, err)
		}
	}
}

// TestTCPMismatch checks that a peer sending other bytes is caught.
func TestTCPMismatch(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			buf[n/2] ^= 1
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TCP(ctx, c, 10_000); err == nil {
		t.Error("TCP took altered bytes")
	}
	<-done
}

func TestUDP(t *testing.T) {
	s, err := Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c, err := Dial(ctx, "udp4", s.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	r, err := UDP(ctx, c, 20, 1380, time.Second)
	if err != nil || r.SentPackets != 20 || r.ReceivedPackets != 20 || r.Received != 20*1380 {
		t.Errorf("UDP = %+v, %v", r, err)
	}
	// Nobody answers: every datagram is lost, none is an error.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err = Dial(ctx, "udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	r, err = UDP(ctx, c, 3, 100, 50*time.Millisecond)
	if err != nil || r.SentPackets != 3 || r.ReceivedPackets != 0 {
		t.Errorf("UDP into the void = %+v, %v", r, err)
	}
	if _, err := UDP(ctx, c, 1, 7, time.Second); err == nil {
		t.Error("UDP took 7-byte datagrams")
	}
}

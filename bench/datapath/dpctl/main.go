// Command dpctl is the helper of the data-path benchmark
// (bench/datapath/run.sh):
//
//	dpctl contexts -target unix:///run/sadb/sadbd.sock -n 100000 -local 192.0.2.1
//	dpctl contexts -target unix:///run/sadb/sadbd.sock -n 10000 -local 192.0.2.1 -churn
//	dpctl iperf FILE
//
// contexts programs n SA contexts through a running sadbd's socket, as a
// keying daemon would: each gets an outbound and an inbound transport
// filter (IP_LOCAL_ADDRESS, IP_REMOTE_ADDRESS, IP_PROTOCOL UDP,
// IP_REMOTE_PORT, one port per context) toward an address of -remote (a
// /25 by default, so that routes come and go too), an SA context, its
// inbound SPI and AES-GCM-128 bundles. With -filters shared all contexts
// share one filter pair instead. Filters, SPIs and bundles go in
// transactions of -batch, contexts are created (and deleted) one call
// each, as WFP requires. The contexts stay, unless -churn: then each batch
// is deleted again once it is complete, so that n contexts are added and
// deleted while at most -batch exist. Nothing should send to -remote. It
// prints how long it took.
//
// iperf prints one line from an iperf3 -J result: the protocol, the
// receiver's bit rate, the delivered datagrams per second, and the
// datagrams lost and sent (UDP; zeros for TCP).
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/testrig/iperf"
	"github.com/sadb-dev/sadb/wfp"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dpctl contexts|iperf ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "contexts":
		err = contexts(os.Args[2:])
	case "iperf":
		err = iperfLine(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dpctl:", err)
		os.Exit(1)
	}
}

func contexts(args []string) error {
	fs := flag.NewFlagSet("contexts", flag.ContinueOnError)
	target := fs.String("target", "unix:///run/sadb/sadbd.sock", "sadbd to program")
	n := fs.Int("n", 10000, "SA contexts")
	batch := fs.Int("batch", 100, "contexts per batch (transaction)")
	local := fs.String("local", "192.0.2.1", "local address of every context")
	remote := fs.String("remote", "192.0.2.128/25", "remote addresses of the contexts (nothing should use them)")
	filters := fs.String("filters", "each", "each: a filter pair per context; shared: one pair for all")
	churn := fs.Bool("churn", false, "delete each batch once it is complete")
	spiBase := fs.Uint("spi-base", 0x20000000, "first inbound SPI")
	if err := fs.Parse(args); err != nil {
		return err
	}
	la, err := netip.ParseAddr(*local)
	if err != nil {
		return err
	}
	rp, err := netip.ParsePrefix(*remote)
	if err != nil || !rp.Addr().Is4() {
		return fmt.Errorf("-remote %q: an IPv4 prefix", *remote)
	}
	if *filters != "each" && *filters != "shared" {
		return fmt.Errorf("-filters %q: each or shared", *filters)
	}
	p := &programmer{local: la, remote: rp.Masked(), shared: *filters == "shared", spiBase: uint32(*spiBase)}
	if p.api, err = client.Open(context.Background(), *target, &wfp.FwpmSession0{TxnWaitTimeoutInMSec: 0xFFFFFFFF},
		client.WithCallTimeout(5*time.Minute)); err != nil {
		return err
	}
	defer p.api.FwpmEngineClose0()
	t0 := time.Now()
	if err := p.run(*n, *batch, *churn); err != nil {
		return err
	}
	d := time.Since(t0)
	verb := "installed"
	if *churn {
		verb = "added and deleted"
	}
	fmt.Printf("%d SA contexts %s in %.1f s (%.0f/s)\n", *n, verb, d.Seconds(), float64(*n)/d.Seconds())
	return nil
}

// programmer programs contexts on one session.
type programmer struct {
	api           wfp.API
	local         netip.Addr
	remote        netip.Prefix
	shared        bool
	spiBase       uint32
	sharedFilters *[2]uint64
}

// remoteOf returns context i's remote address.
func (p *programmer) remoteOf(i int) netip.Addr {
	if p.shared {
		return p.remote.Addr()
	}
	hosts := uint64(1) << (32 - p.remote.Bits())
	b := p.remote.Addr().As4()
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(b[:])+uint32(uint64(i)%hosts))
	return netip.AddrFrom4(a)
}

// filters returns context i's outbound and inbound filters.
func (p *programmer) filters(i int) (out, in *wfp.FwpmFilter0) {
	r := p.remoteOf(i)
	out = conformance.TransportFilter(wfp.DirectionOutbound, p.local, r)
	in = conformance.TransportFilter(wfp.DirectionInbound, p.local, r)
	if !p.shared {
		for _, f := range []*wfp.FwpmFilter0{out, in} {
			f.FilterCondition = append(f.FilterCondition,
				wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(17)),
				wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint16Value(uint16(1+i%65535))))
		}
	}
	return out, in
}

// txn runs fn in a transaction.
func (p *programmer) txn(fn func() error) error {
	if err := p.api.FwpmTransactionBegin0(0); err != nil {
		return fmt.Errorf("FwpmTransactionBegin0: %w", err)
	}
	if err := fn(); err != nil {
		p.api.FwpmTransactionAbort0()
		return err
	}
	if err := p.api.FwpmTransactionCommit0(); err != nil {
		return fmt.Errorf("FwpmTransactionCommit0: %w", err)
	}
	return nil
}

// run programs n contexts, batch at a time, deleting each batch again
// with churn.
func (p *programmer) run(n, batch int, churn bool) error {
	key := make(wfp.Key, 20)
	rand.Read(key)
	type ctx struct{ out, in, id uint64 }
	ids := make([]ctx, batch)
	if p.shared {
		out, in := p.filters(0)
		var f [2]uint64
		err := p.txn(func() (err error) {
			if f[0], err = p.api.FwpmFilterAdd0(out, nil); err != nil {
				return fmt.Errorf("FwpmFilterAdd0: %w", err)
			}
			if f[1], err = p.api.FwpmFilterAdd0(in, nil); err != nil {
				return fmt.Errorf("FwpmFilterAdd0: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		p.sharedFilters = &f
	}
	for lo := 0; lo < n; lo += batch {
		cnt := min(batch, n-lo)
		if p.shared {
			for i := range cnt {
				ids[i].out, ids[i].in = p.sharedFilters[0], p.sharedFilters[1]
			}
		} else {
			err := p.txn(func() error {
				for i := range cnt {
					out, in := p.filters(lo + i)
					var err error
					if ids[i].out, err = p.api.FwpmFilterAdd0(out, nil); err != nil {
						return fmt.Errorf("FwpmFilterAdd0: %w", err)
					}
					if ids[i].in, err = p.api.FwpmFilterAdd0(in, nil); err != nil {
						return fmt.Errorf("FwpmFilterAdd0: %w", err)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for i := range cnt {
			tr := conformance.TransportTraffic(p.local, p.remoteOf(lo+i), ids[i].out)
			var err error
			if ids[i].id, _, err = p.api.IPsecSaContextCreate1(&tr, nil); err != nil {
				return fmt.Errorf("IPsecSaContextCreate1: %w", err)
			}
		}
		err := p.txn(func() error {
			for i := range cnt {
				spi := p.spiBase + uint32(lo+i)
				in := conformance.TransportTraffic(p.local, p.remoteOf(lo+i), ids[i].in)
				if err := p.api.IPsecSaContextSetSpi0(ids[i].id, conformance.GetSPI(in), spi); err != nil {
					return fmt.Errorf("IPsecSaContextSetSpi0: %w", err)
				}
				if err := p.api.IPsecSaContextAddInbound1(ids[i].id, conformance.GCMBundle(wfp.IPVersionV4, spi, key)); err != nil {
					return fmt.Errorf("IPsecSaContextAddInbound1: %w", err)
				}
				if err := p.api.IPsecSaContextAddOutbound1(ids[i].id, conformance.GCMBundle(wfp.IPVersionV4, spi^0x0f000000, key)); err != nil {
					return fmt.Errorf("IPsecSaContextAddOutbound1: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !churn {
			continue
		}
		for i := range cnt {
			if err := p.api.IPsecSaContextDeleteById0(ids[i].id); err != nil {
				return fmt.Errorf("IPsecSaContextDeleteById0: %w", err)
			}
		}
		if p.shared {
			continue
		}
		err = p.txn(func() error {
			for i := range cnt {
				if err := p.api.FwpmFilterDeleteById0(ids[i].out); err != nil {
					return fmt.Errorf("FwpmFilterDeleteById0: %w", err)
				}
				if err := p.api.FwpmFilterDeleteById0(ids[i].in); err != nil {
					return fmt.Errorf("FwpmFilterDeleteById0: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func iperfLine(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: dpctl iperf FILE")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	r, err := iperf.Parse(b)
	if err != nil {
		return err
	}
	if r.UDP {
		fmt.Printf("udp %.0f %.0f %d %d\n", r.BPS, r.Delivered(), r.Lost, r.Sent)
		return nil
	}
	fmt.Printf("tcp %.0f 0 0 0\n", r.BPS)
	return nil
}

package userspace

import (
	"testing"
)

var pingModes = []mode{
	{name: "transport-v4-gcm", bundle: gcm, keys: gcmKeys},
	{name: "transport-v6-gcm", v6: true, bundle: gcm, keys: gcmKeys},
	{name: "transport-v4-cbc", bundle: cbc, keys: cbcKeys},
	{name: "transport-v4-udp-gcm", udp: true, bundle: gcm, keys: gcmKeys},
	{name: "transport-v4-udp-port-4501-gcm", udp: true, portA: 4501, bundle: gcm, keys: gcmKeys},
	{name: "transport-v4-esp-ah", bundle: espAH, keys: espAHKeys},
	{name: "transport-v6-ah", v6: true, bundle: ahOnly, keys: ahKeys},
	{name: "tunnel-v4-gcm", tunnel: true, bundle: gcm, keys: gcmKeys},
	{name: "tunnel-v6-cbc", tunnel: true, v6: true, bundle: cbc, keys: cbcKeys},
	{name: "tunnel-v4-udp-cbc", tunnel: true, udp: true, bundle: cbc, keys: cbcKeys},
	{name: "tunnel-v6-esp-ah", tunnel: true, v6: true, bundle: espAH, keys: espAHKeys},
}

func TestPing(t *testing.T) {
	requireTool(t, "ping")
	for _, m := range pingModes {
		t.Run(m.name, func(t *testing.T) {
			a, b := newPair(t, pairOptions{})
			plumb(t, a, b, m)
			src, dst := m.addrs(a, b)
			_ = src
			if got := a.ping(t, dst, 20); got != 20 {
				t.Errorf("%d of 20 echo replies; A: %+v B: %+v", got, a.be.Stats(), b.be.Stats())
			}
		})
	}
}

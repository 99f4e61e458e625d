package kernelpeer

import "strings"

// initScript is the guest's /init: mount, load the modules, name the NICs
// by their MAC addresses, turn their offloads off (so that the kernel's
// XFRM counters see one packet per packet on the wire), configure the
// addresses and routes (IPv4 and IPv6), start the agent and stay PID 1 (ash's wait also
// reaps the orphans the agent's commands leave behind).
func initScript() string {
	r := strings.NewReplacer(
		"@MODULES@", strings.Join(bootModules, " "),
		"@NATMAC@", natMAC, "@PLAINMAC@", plainMAC,
		"@NAT@", GuestNATLink, "@PLAIN@", GuestPlainLink,
		"@GUESTNAT@", GuestNAT.String(), "@GW@", SlirpGateway.String(),
		"@GUESTPLAIN@", GuestPlain.String(),
		"@GUESTINNER@", GuestInner.String(), "@HOSTINNERNET@", HostInnerNet.String(),
		"@HOSTPLAIN6@", HostPlain6.String(), "@GUESTPLAIN6@", GuestPlain6.String(),
		"@GUESTINNER6@", GuestInner6.String(), "@HOSTINNERNET6@", HostInnerNet6.String(),
	)
	return r.Replace(`#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
up() { cut -d' ' -f1 /proc/uptime; }
echo "kernelpeer: init at $(up) s"
for m in @MODULES@; do modprobe $m || echo "kernelpeer: modprobe $m failed"; done
echo "kernelpeer: modules at $(up) s"
byMAC() { for d in /sys/class/net/*; do [ "$(cat $d/address)" = "$1" ] && basename $d; done; }
nat=$(byMAC @NATMAC@); plain=$(byMAC @PLAINMAC@)
xip link set lo up
xip link set "$nat" name @NAT@
xip link set "$plain" name @PLAIN@
for l in @NAT@ @PLAIN@; do
	ethtool -K $l tso off gso off gro off tx off rx off sg off >/dev/null 2>&1
	ethtool -K $l lro off ufo off >/dev/null 2>&1
	xip link set $l up
done
sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
xip addr add @GUESTNAT@/25 dev @NAT@
xip route add default via @GW@ dev @NAT@
xip addr add @GUESTPLAIN@/25 dev @PLAIN@
xip addr add @GUESTINNER@/32 dev lo
xip route add @HOSTINNERNET@ via @GW@ dev @NAT@ src @GUESTINNER@
xip -6 addr add @GUESTPLAIN6@/64 dev @PLAIN@ nodad
xip -6 addr add @GUESTINNER6@/128 dev lo nodad
xip -6 route add @HOSTINNERNET6@ via @HOSTPLAIN6@ dev @PLAIN@ src @GUESTINNER6@
echo "kernelpeer: network at $(up) s"
echo "kernelpeer: agent start at $(up) s"
/sbin/kpagent </dev/null >/dev/console 2>&1 &
while :; do sleep 3600; done
`)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

#!/usr/bin/env bash
# The userspace data path against wireguard-go, in one run on one rig:
# TCP throughput, UDP datagrams delivered per second, the cost of 100,000
# installed SA contexts, and what control-plane churn costs traffic; and
# the ceilings of the machine: how many ESP packets each way of sending
# and receiving them can move here at all (bench/datapath/floor).
#
#   sudo bench/datapath/run.sh                   # TCP and UDP, median of 3 rounds of 5 s
#   sudo bench/datapath/run.sh -n 100000         # then again with 100,000 contexts installed
#   sudo bench/datapath/run.sh -c 10000          # and a UDP stream during 10,000 contexts' churn
#   sudo bench/datapath/run.sh -n 100000 -c 10000 -r 5 -t 10 -o results.md
#
# Options: -t seconds per measurement (5), -r rounds (3; the table shows
# medians), -n contexts to install after the first rounds (0: none),
# -f each|shared (their filters: a pair per context, or one pair for all;
# default each), -c contexts to add and delete during the churn run (0:
# none), -b the churn stream's rate (20M), -o also write the report to a
# file.
#
# The rig: two network namespaces joined by a veth pair (192.0.2.1/24 and
# 192.0.2.2/24), each with
#   - sadbd and its userspace data path, plumbed with the sadb command line
#     as a keying daemon would: two tunnel-mode SA contexts with
#     AES-GCM-128, plain ESP between 198.51.100.0/26 and 203.0.113.0/26
#     (hosts .1), and ESP in UDP (RFC 3948, port 4500) between
#     198.51.100.64/26 and 203.0.113.64/26 (hosts .65);
#   - wireguard-go (at the version this module's go.mod names, or
#     WG_VERSION), between 198.51.100.129 and 203.0.113.129.
# iperf3 runs from the first namespace to the second: TCP with one flow,
# and UDP with 1380-byte datagrams at an unlimited rate, reported as
# datagrams delivered per second. The three paths alternate within each
# round, so that the machine's load hits them alike; the bare veth is
# measured once for reference. Ratios are of medians.
#
# -n N installs N SA contexts on each sadbd (bench/datapath/dpctl: each
# with its filters, SPI and bundles, in transport mode to addresses no
# traffic goes to) and repeats the rounds: the ratio is what N contexts
# cost the packet path (lookups are by hash, not scans).
#
# -c N runs a UDP stream at -b through each sadb path while N other SA
# contexts are added and deleted on both sadbd's through their sockets
# (dpctl contexts -churn), and the same stream without churn, and reports
# the datagrams lost in each (iperf3 with a 4 MiB socket buffer, so that
# losses are the tunnel's, not the receiving iperf3's).
#
# Needs root, Go, iperf3, iproute2 and wireguard-tools (wg). Absolute
# figures depend on the machine: compare the ratios.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 2; }
SECS=5
ROUNDS=3
CONTEXTS=0
FILTERS=each
CHURN=0
RATE=20M
OUT=
while getopts "t:r:n:f:c:b:o:h" o; do
	case $o in
	t) SECS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	n) CONTEXTS=$OPTARG ;;
	f) FILTERS=$OPTARG ;;
	c) CHURN=$OPTARG ;;
	b) RATE=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (namespaces, TUN)" >&2; exit 1; }
for t in go ip iperf3 wg ss; do
	command -v $t >/dev/null || { echo "run.sh: $t is missing (apt-get install iproute2 iperf3 wireguard-tools; Go)" >&2; exit 1; }
done

W=$(mktemp -d -t datapath-bench.XXXXXX)
A=dpbench-a-$$
B=dpbench-b-$$
PIDS=()
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	ip netns del $A 2>/dev/null
	ip netns del $B 2>/dev/null
	rm -f /var/run/wireguard/dpwga.sock /var/run/wireguard/dpwgb.sock
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "== $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

log "building sadbd, sadb and dpctl; installing wireguard-go"
mkdir -p "$W/bin"
(cd "$ROOT" && go build -o "$W/bin/" ./cmd/sadbd ./cmd/sadb ./bench/datapath/dpctl ./bench/datapath/floor)
WG_VERSION=${WG_VERSION:-$(cd "$ROOT" && go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard)}
(cd "$W" && GOFLAGS= GOBIN="$W/bin" go install "golang.zx2c4.com/wireguard@$WG_VERSION")
DPCTL="$W/bin/dpctl"

log "rig: $A (192.0.2.1) <-veth-> $B (192.0.2.2)"
ip netns add $A
ip netns add $B
ip link add va netns $A type veth peer name vb netns $B
ip -n $A addr add 192.0.2.1/24 dev va
ip -n $B addr add 192.0.2.2/24 dev vb
for h in 1 65; do
	ip -n $A addr add 198.51.100.$h/32 dev lo
	ip -n $B addr add 203.0.113.$h/32 dev lo
done
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set va up
ip -n $B link set vb up

start_sadbd() { # ns name
	ip netns exec "$1" "$W/bin/sadbd" -memory -socket "$W/$2.sock" -datapath userspace -log-level warn >"$W/$2.log" 2>&1 &
	PIDS+=($!)
	echo $! >"$W/$2.pid"
	for _ in $(seq 100); do "$W/bin/sadb" --target "unix://$W/$2.sock" stats >/dev/null 2>&1 && return; sleep 0.05; done
	echo "sadbd in $1 did not come up:" >&2
	cat "$W/$2.log" >&2
	exit 1
}
start_sadbd $A sadbd-a
start_sadbd $B sadbd-b
sadb() { local s=$1; shift; "$W/bin/sadb" --target "unix://$W/$s.sock" -o json "$@"; }
field() { grep -o "\"$1\": *[0-9]*" | grep -o '[0-9]*$'; }
hexkey() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

log "plumbing the SA contexts with the sadb command line"
umask 077
for d in ab ba; do printf 'cipher=%s\n' "$(hexkey 20)" >"$W/$d.keys"; done
plumb() { # sock local-outer remote-outer local-inner remote-inner in-spi out-spi in-keys out-keys [udp]
	local out ctx udp=()
	[ -n "${10:-}" ] && udp=(--udp-encap 4500:4500)
	out=$(sadb "$1" filter add-pair --tunnel --local "$4" --remote "$5" | field outbound_filter_id)
	ctx=$(sadb "$1" ctx create --local "$2" --remote "$3" --tunnel-policy "$out" | field sa_context_id)
	sadb "$1" ctx setspi "$ctx" "$6" "${udp[@]}" >/dev/null
	sadb "$1" ctx add-inbound "$ctx" --transform esp-gcm-128 --key-file "$8" >/dev/null
	sadb "$1" ctx add-outbound "$ctx" --transform esp-gcm-128 --spi "$7" --key-file "$9" >/dev/null
}
plumb sadbd-a 192.0.2.1 192.0.2.2 198.51.100.0/26 203.0.113.0/26 0x1001 0x2001 "$W/ba.keys" "$W/ab.keys"
plumb sadbd-b 192.0.2.2 192.0.2.1 203.0.113.0/26 198.51.100.0/26 0x2001 0x1001 "$W/ab.keys" "$W/ba.keys"
plumb sadbd-a 192.0.2.1 192.0.2.2 198.51.100.64/26 203.0.113.64/26 0x1002 0x2002 "$W/ba.keys" "$W/ab.keys" udp
plumb sadbd-b 192.0.2.2 192.0.2.1 203.0.113.64/26 198.51.100.64/26 0x2002 0x1002 "$W/ab.keys" "$W/ba.keys" udp

log "starting wireguard-go $WG_VERSION"
wg genkey >"$W/wga.key"
wg genkey >"$W/wgb.key"
wg pubkey <"$W/wga.key" >"$W/wga.pub"
wg pubkey <"$W/wgb.key" >"$W/wgb.pub"
start_wg() { # ns ifname
	WG_PROCESS_FOREGROUND=1 ip netns exec "$1" "$W/bin/wireguard" -f "$2" >"$W/$2.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do ip -n "$1" link show "$2" >/dev/null 2>&1 && return; sleep 0.05; done
	echo "wireguard-go $2 did not come up:" >&2
	cat "$W/$2.log" >&2
	exit 1
}
start_wg $A dpwga
start_wg $B dpwgb
ip netns exec $A wg set dpwga private-key "$W/wga.key" listen-port 51820 peer "$(cat "$W/wgb.pub")" allowed-ips 203.0.113.129/32 endpoint 192.0.2.2:51820
ip netns exec $B wg set dpwgb private-key "$W/wgb.key" listen-port 51820 peer "$(cat "$W/wga.pub")" allowed-ips 198.51.100.129/32 endpoint 192.0.2.1:51820
ip -n $A addr add 198.51.100.129/32 dev dpwga
ip -n $B addr add 203.0.113.129/32 dev dpwgb
ip -n $A link set dpwga up
ip -n $B link set dpwgb up
ip -n $A route add 203.0.113.129/32 dev dpwga
ip -n $B route add 198.51.100.129/32 dev dpwgb

declare -A DST=([esp]=203.0.113.1 [udp]=203.0.113.65 [wg]=203.0.113.129 [veth]=192.0.2.2)
declare -A LABEL=([esp]="sadb, ESP (AES-GCM-128)" [udp]="sadb, ESP in UDP (AES-GCM-128)" [wg]="wireguard-go" [veth]="veth, no tunnel")
for p in esp udp wg; do
	ip netns exec $A ping -c 3 -i 0.2 -W 2 -q "${DST[$p]}" >/dev/null || { echo "no traffic through ${LABEL[$p]}" >&2; exit 1; }
done

# measure TAG PATH tcp|udp [iperf3 args...]: one iperf3 run; appends
# "TAG PATH proto bps pps lost sent load1" to results and prints the line.
PORT=5201
measure() {
	local tag=$1 path=$2 proto=$3
	shift 3
	local args=(-t "$SECS" -J "$@")
	[ "$proto" = udp ] && [ $# -eq 0 ] && args+=(-u -l 1380 -b 0)
	ip netns exec $B iperf3 -s -1 -p $PORT >/dev/null 2>&1 &
	local srv=$!
	for _ in $(seq 100); do ip netns exec $B ss -ltnH "sport = :$PORT" | grep -q . && break; sleep 0.05; done
	local load b0 b1 t0 t1
	load=$(cut -d' ' -f1 /proc/loadavg)
	b0=$(busy)
	t0=$(date +%s.%N)
	ip netns exec $A iperf3 -c "${DST[$path]}" -p $PORT "${args[@]}" >"$W/iperf.json" 2>/dev/null || true
	b1=$(busy)
	t1=$(date +%s.%N)
	wait $srv 2>/dev/null || true
	local r
	r=$("$DPCTL" iperf "$W/iperf.json") || { echo "iperf3 $tag $path $proto failed" >&2; head -c 2000 "$W/iperf.json" >&2; exit 1; }
	echo "$tag $path $r $load $(awk -v b="$((b1 - b0))" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f %.2f", b / 100, t1 - t0}')" | tee -a "$W/results" |
		awk '{printf "== %-6s %-5s %s %8.3f Gbit/s %8.1f kpps  lost %s of %s  machine CPU %.2f s  (load %s)\n", $1, $2, $3, $4/1e9, $5/1e3, $6, $7, $9, $8}' >&2
}
# busy: the busy time of all CPUs since boot, in USER_HZ ticks.
busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# TCP payload of a full-size packet through the tunnels (inner MTU 1420,
# IPv4, TCP timestamps): what a TCP run's bit/s are divided by to count
# its packets.
SEGMENT=1368
rounds() { # tag
	for r in $(seq "$ROUNDS"); do
		for p in esp udp wg; do measure "$1" $p tcp; done
		for p in esp udp wg; do measure "$1" $p udp; done
	done
}

: >"$W/results"
LOAD_START=$(loadavg)
log "bare veth, for reference"
measure base veth tcp
measure base veth udp
log "$ROUNDS rounds of ${SECS} s: sadb (ESP, ESP in UDP) and wireguard-go"
rounds base

# The ceilings (bench/datapath/floor, in namespaces of its own): as many
# ESP packets as each way of sending and receiving them moves here,
# sealed and opened and nothing else, as TCP goodput.
log "ceilings: ESP packets moved, sealed and opened, nothing else (bench/datapath/floor)"
"$W/bin/floor" -t "${SECS}s" -rounds "$ROUNDS" >"$W/floor.out" 2>&1 || log "floor: some ways failed (their ceilings show 0)"
cat "$W/floor.out" >&2
awk '$1 == "floor" && $3 ~ /^[0-9]+$/ {
	for (i = 4; i <= NF; i++) { if ($i == "machine;") cpu = $(i - 1); if ($i == "Gbit/s") g = $(i - 1) }
	sub(/µs/, "", cpu); load = $0; sub(/.*\[load /, "", load); sub(/ .*/, "", load)
	printf "floor %s ceiling %.0f %s %s 0 %s\n", $2, g * 1e9, $3, cpu, load
}' "$W/floor.out" >>"$W/results"

INSTALL=
if [ "$CONTEXTS" -gt 0 ]; then
	log "installing $CONTEXTS SA contexts on each sadbd (filters: $FILTERS)"
	"$DPCTL" contexts -target "unix://$W/sadbd-a.sock" -n "$CONTEXTS" -local 192.0.2.1 -filters "$FILTERS" -batch 500 >"$W/install-a" &
	ia=$!
	"$DPCTL" contexts -target "unix://$W/sadbd-b.sock" -n "$CONTEXTS" -local 192.0.2.2 -filters "$FILTERS" -batch 500 -spi-base 0x30000000 >"$W/install-b"
	wait $ia
	INSTALL="A: $(cat "$W/install-a"); B: $(cat "$W/install-b"); sadbd A's RSS $(awk '/VmRSS/ {print $2 " " $3}' /proc/"$(cat "$W/sadbd-a.pid")"/status)"
	log "$INSTALL"
	rounds many
fi

CHURNREP=
if [ "$CHURN" -gt 0 ]; then
	# How long the churn takes here decides how long the streams run.
	t0=$(date +%s.%N)
	"$DPCTL" contexts -target "unix://$W/sadbd-a.sock" -n 300 -local 192.0.2.1 -churn -spi-base 0x40000000 >/dev/null &
	ca=$!
	"$DPCTL" contexts -target "unix://$W/sadbd-b.sock" -n 300 -local 192.0.2.2 -churn -spi-base 0x50000000 >/dev/null
	wait $ca
	CSECS=$(awk -v t0="$t0" -v t1="$(date +%s.%N)" -v n="$CHURN" 'BEGIN {s = int((t1 - t0) * n / 300 * 1.5 + 5); print (s < 20 ? 20 : s)}')
	for p in udp esp; do
		log "churn: a $RATE stream through ${LABEL[$p]} for ${CSECS} s while $CHURN contexts are added and deleted on each sadbd"
		( sleep 1
			"$DPCTL" contexts -target "unix://$W/sadbd-a.sock" -n "$CHURN" -local 192.0.2.1 -churn -spi-base 0x40000000 >"$W/churn-a" &
			"$DPCTL" contexts -target "unix://$W/sadbd-b.sock" -n "$CHURN" -local 192.0.2.2 -churn -spi-base 0x50000000 >"$W/churn-b"
			wait ) &
		cpid=$!
		SECS0=$SECS
		SECS=$CSECS
		measure churn $p udp -u -l 1380 -b "$RATE" -w 4M
		wait $cpid
		log "A: $(cat "$W/churn-a"); B: $(cat "$W/churn-b")"
		measure still $p udp -u -l 1380 -b "$RATE" -w 4M
		SECS=$SECS0
		CHURNREP+="$p: A $(cat "$W/churn-a"); B $(cat "$W/churn-b"). "
	done
fi
LOAD_END=$(loadavg)

# middle: the median of the numbers on standard input, a line each (0 for none).
middle() {
	sort -g | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
# median TAG PATH PROTO FIELD (4: bit/s, 5: datagrams/s)
median() {
	awk -v t="$1" -v p="$2" -v pr="$3" -v f="$4" '$1 == t && $2 == p && $3 == pr {print $f}' "$W/results" | middle
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
# tcpcpu PATH: the median over the base rounds of the machine's CPU time
# per packet of the TCP runs through PATH, in µs: the CPUs' busy time per
# second of the run over its packets per second.
tcpcpu() {
	awk -v p="$1" -v g="$SEGMENT" '$1 == "base" && $2 == p && $3 == "tcp" && $4 > 0 && $10 > 0 {print $9 / $10 * 1e6 / ($4 / 8 / g)}' "$W/results" | middle
}
report() {
	echo "## Userspace data path against wireguard-go"
	echo
	echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr), $(go version | cut -d' ' -f3), iperf3 $(iperf3 --version | head -1 | cut -d' ' -f2), wireguard-go $WG_VERSION."
	echo "Median of $ROUNDS rounds of ${SECS} s; TCP: one flow; UDP: 1380-byte datagrams at an unlimited rate, delivered."
	echo "Load average (1, 5, 15 min): $LOAD_START at the start, $LOAD_END at the end (the machine is shared)."
	echo
	echo "| path | TCP Gbit/s | machine CPU per TCP packet | UDP kdatagrams/s delivered |"
	echo "|---|---:|---:|---:|"
	printf '| %s | %.2f | - | %.1f |\n' "${LABEL[veth]}" "$(median base veth tcp 4 | awk '{print $1 / 1e9}')" "$(median base veth udp 5 | awk '{print $1 / 1e3}')"
	for p in esp udp wg; do
		printf '| %s | %.2f | %.2f µs | %.1f |\n' "${LABEL[$p]}" "$(median base $p tcp 4 | awk '{print $1 / 1e9}')" "$(tcpcpu $p)" "$(median base $p udp 5 | awk '{print $1 / 1e3}')"
	done
	for p in esp udp; do
		printf '| **ratio %s / wireguard-go** | **%s** | **%s** |\n' "${LABEL[$p]}" \
			"$(ratio "$(median base $p tcp 4)" "$(median base wg tcp 4)")" "$(ratio "$(median base $p udp 5)" "$(median base wg udp 5)")"
	done
	echo
	echo "Ceilings: ESP packets of a full-size inner packet moved between two namespaces of their own, sealed and opened with AES-GCM-128 and nothing else (no TUN device, no TCP, no SA lookups), as the TCP goodput they could carry at most (bench/datapath/floor):"
	echo
	echo "| way | packets/s | CPU per packet (machine) | at most TCP Gbit/s | / wireguard-go's TCP |"
	echo "|---|---:|---:|---:|---:|"
	declare -A WAY=([raw]="plain ESP on raw sockets (as sadb sends it)" [af_xdp]="plain ESP by AF_XDP (kernel bypass)" [udp_gso]="ESP in UDP with UDP GSO and GRO (as sadb and wireguard-go send theirs)")
	for w in raw af_xdp udp_gso; do
		printf '| %s | %.0f | %.2f µs | %.2f | %s |\n' "${WAY[$w]}" "$(median floor $w ceiling 5)" "$(median floor $w ceiling 6)" \
			"$(median floor $w ceiling 4 | awk '{print $1 / 1e9}')" "$(ratio "$(median floor $w ceiling 4)" "$(median base wg tcp 4)")"
	done
	# What the rest of a tunnel costs per packet (TUN device, both TCP
	# stacks, iperf3, the SA processing) is ESP in UDP's whole cost less
	# its ceiling's. Added to the AF_XDP ceiling's cost, it bounds what a
	# plain-ESP path by kernel bypass could carry with every CPU busy.
	local rest xdp
	rest=$(awk -v a="$(tcpcpu udp)" -v b="$(median floor udp_gso ceiling 6)" 'BEGIN {print a - b}')
	xdp=$(awk -v r="$rest" -v c="$(median floor af_xdp ceiling 6)" -v n="$(nproc)" -v g="$SEGMENT" 'BEGIN {printf "%.0f", (r + c > 0 ? n * 1e6 / (r + c) * g * 8 : 0)}')
	local busy
	busy=$(awk -v p=udp -v n="$(nproc)" '$1 == "base" && $2 == p && $3 == "tcp" && $10 > 0 {print $9 / $10 / n}' "$W/results" | middle)
	echo
	[ "$(median floor af_xdp ceiling 5)" != 0 ] && [ "$(median floor udp_gso ceiling 5)" != 0 ] &&
	printf 'The rest of a tunnel (TUN device, TCP, iperf3, SA processing) costs %.2f µs per packet here (ESP in UDP'"'"'s %.2f µs less its ceiling'"'"'s %.2f µs). A plain-ESP path by AF_XDP would therefore carry at most %.2f Gbit/s with all %d CPUs busy (%s× wireguard-go), and %.2f Gbit/s at the %.0f %% busy that ESP in UDP keeps them (%s×).\n' \
		"$rest" "$(tcpcpu udp)" "$(median floor udp_gso ceiling 6)" "$(awk -v x="$xdp" 'BEGIN {print x / 1e9}')" "$(nproc)" "$(ratio "$xdp" "$(median base wg tcp 4)")" \
		"$(awk -v x="$xdp" -v b="$busy" 'BEGIN {print x * b / 1e9}')" "$(awk -v b="$busy" 'BEGIN {print b * 100}')" "$(ratio "$(awk -v x="$xdp" -v b="$busy" 'BEGIN {print x * b}')" "$(median base wg tcp 4)")"
	if [ "$CONTEXTS" -gt 0 ]; then
		echo
		echo "With $CONTEXTS more SA contexts installed on each sadbd (filters: $FILTERS):"
		echo
		echo "| path | TCP Gbit/s | UDP kdatagrams/s | TCP ratio to 1 context | UDP ratio to 1 context | TCP ratio, normalized by wireguard-go's drift | UDP ratio, normalized |"
		echo "|---|---:|---:|---:|---:|---:|---:|"
		for p in esp udp wg; do
			tcp1=$(median base $p tcp 4); tcpn=$(median many $p tcp 4); udp1=$(median base $p udp 5); udpn=$(median many $p udp 5)
			if [ $p = wg ]; then
				nt=-; nu=-
			else
				nt=$(awk -v a="$tcpn" -v b="$tcp1" -v c="$(median many wg tcp 4)" -v d="$(median base wg tcp 4)" 'BEGIN {printf "%.2f", (b > 0 && c > 0 ? (a / b) / (c / d) : 0)}')
				nu=$(awk -v a="$udpn" -v b="$udp1" -v c="$(median many wg udp 5)" -v d="$(median base wg udp 5)" 'BEGIN {printf "%.2f", (b > 0 && c > 0 ? (a / b) / (c / d) : 0)}')
			fi
			printf '| %s | %.2f | %.1f | %s | %s | %s | %s |\n' "${LABEL[$p]}" "$(awk -v x="$tcpn" 'BEGIN {print x / 1e9}')" "$(awk -v x="$udpn" 'BEGIN {print x / 1e3}')" \
				"$(ratio "$tcpn" "$tcp1")" "$(ratio "$udpn" "$udp1")" "$nt" "$nu"
		done
		echo
		echo "Installing: $INSTALL."
	fi
	if [ "$CHURN" -gt 0 ]; then
		echo
		echo "Churn: $CHURN SA contexts added and deleted on each sadbd (their own filters, SPIs and bundles, in batches of 100) during a UDP stream of $RATE (1380-byte datagrams) through the other SA context, and the same stream without churn:"
		echo
		echo "| path | datagrams lost with churn | datagrams lost without |"
		echo "|---|---:|---:|"
		for p in udp esp; do
			printf '| %s | %s | %s |\n' "${LABEL[$p]}" \
				"$(awk -v p=$p '$1 == "churn" && $2 == p {print $6 " of " $7}' "$W/results")" \
				"$(awk -v p=$p '$1 == "still" && $2 == p {print $6 " of " $7}' "$W/results")"
		done
		echo
		echo "Churn rates: $CHURNREP"
	fi
	echo
	echo "Every measurement (tag path proto bit/s datagrams/s lost sent load1 machine-CPU-seconds wall-seconds; the ceilings: floor way ceiling bit/s packets/s CPU-µs-per-packet 0 load1):"
	echo
	echo '```'
	cat "$W/results"
	echo '```'
}
echo
report | tee ${OUT:+"$OUT"}

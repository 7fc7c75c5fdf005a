#!/bin/bash
# bench/migration.sh: what a live migration costs a 1 ms UDP stream, over
# fabric and over a bare QEMU migration measured in the same run.  A
# benchmark, not a test: it prints numbers and gates nothing.
#
#   usage: bench/migration.sh [MIGRATIONS]   (default 10; env RUNS)
#
# Fabric: the cloud of tests/integration/migrate.sh (tests/lib/migrate.sh):
# a controller, hosts A, B and C, the test guest web1 in a stateful
# security group, and vmC1 on host C streaming a UDP datagram every 1 ms
# through web1's echo (tests/tools/udpseq) and holding a TCP connection to
# it.  web1 migrates A -> B -> A ... ("fabricctl vm migrate --wait"), one
# migration per run.
#
# Baseline: the same guest image in one namespace with a Linux bridge, two
# taps on it and a client on a veth, migrated over QMP between two bare
# QEMUs (one per tap) with the same downtime limit and auto-converge; the
# bridge learns the guest's new port from QEMU's announce.  That is the
# best a single-host software switch does: no VXLAN, no controller, no
# conntrack to move.
#
# Per migration and as medians: datagrams lost, those lost beyond QEMU's
# reported downtime (one datagram a ms: the target is 0), QEMU's downtime
# and total migration time, and fabric's figures as ratios of the
# baseline's; per fabric migration also whether the TCP connection held
# and how many frames the datapaths dropped meanwhile (the rest of the
# losses happened in the taps, QEMU or the guest).
set -euo pipefail
export LC_ALL=C

RUNS=${1:-${RUNS:-10}}
if [ $# -gt 1 ] || ! [[ $RUNS =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bench/migration.sh [MIGRATIONS] (a count, default 10)" >&2
    exit 2
fi

export FAB_PREFIX=bm-$$  # Short: "PREFIX-ctl0" is a device name.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../tests/lib/common.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../tests/lib/migrate.sh"

fab_setup
require_cmd busybox python3

# Prints the median of the numbers on standard input.
median() {
    sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Prints "a" / "b" with two decimals, or "n/a" when "b" is 0.
ratio() {
    awk -v a="$1" -v b="$2" \
        'BEGIN { if (b == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

# Appends one migration's "lost downtime total" to file "out" as "lost
# beyond downtime total", and prints its line: "what", its number, where
# it went, and the UDP report "udp".
record() {
    local out=$1 what=$2 i=$3 to=$4 lost=$5 downtime=$6 total=$7 udp=$8
    local beyond=$(( lost > downtime ? lost - downtime : 0 ))
    echo "$lost $beyond $downtime $total" >>"$out"
    printf '  %-6s %2d -> %s: lost %4d (beyond downtime %3d), downtime %4d ms, total %6d ms, longest silence %7.1f ms%s\n' \
        "$what" "$i" "$to" "$lost" "$beyond" "$downtime" "$total" \
        "$(jq -r .longest_gap_ms <<<"$udp")" "${9:-}"
}

# ---------------------------------------------------------------------------
# Fabric.

mig_cloud
mig_boot
echo "migration: $RUNS migrations of each kind, 1 ms UDP probe (TCG)"
: >"$FAB_TMP/fabric.txt"
to=B
for i in $(seq "$RUNS"); do
    before=$(mig_drops_total)
    mig_probe_start
    mig_migrate "$to"
    sleep 1
    mig_probe_stop
    tcp=", TCP held"
    [ "$MIG_TCP_RC" = 0 ] || tcp=", TCP broken ($(jq -r .error <<<"$MIG_TCP"))"
    tcp="$tcp, datapaths dropped $(( $(mig_drops_total) - before ))"
    record "$FAB_TMP/fabric.txt" fabric "$i" "$to" "$(jq -r .lost <<<"$MIG_UDP")" \
        "$MIG_DOWNTIME_MS" "$MIG_TOTAL_MS" "$MIG_UDP" "$tcp"
    [ "$to" = B ] && to=A || to=B
done
fabctl vm delete web1 >/dev/null

# ---------------------------------------------------------------------------
# Baseline: bare QEMU on a Linux bridge.

BARE_MAC=02:00:00:00:99:01
BARE_IP=10.9.0.10
BARE=$FAB_TMP/bare
ip netns add "$(fab_ns bare)"
ip netns add "$(fab_ns client)"
in_ns bare ip link set lo up
in_ns bare ip link add br0 type bridge
in_ns bare ip addr add 10.9.0.1/24 dev br0
in_ns bare ip link set br0 up
for tap in tapm0 tapm1; do
    in_ns bare ip tuntap add dev "$tap" mode tap
    in_ns bare ip link set "$tap" mtu 1450 master br0 up
done
ip link add eth0 netns "$(fab_ns client)" mtu 1450 type veth \
    peer name client netns "$(fab_ns bare)" mtu 1450
in_ns bare ip link set client master br0 up
in_ns client ip addr add 10.9.0.50/24 dev eth0
in_ns client ip link set eth0 up
mkdir -p "$BARE/seed"
printf '%s\n' "start 10.9.0.100" "end 10.9.0.110" "interface br0" \
    "lease_file $BARE/udhcpd.leases" "pidfile $BARE/udhcpd.pid" \
    "option subnet 255.255.255.0" "option mtu 1450" \
    "static_lease $BARE_MAC $BARE_IP" >"$BARE/udhcpd.conf"
: >"$BARE/udhcpd.leases"
in_ns_bg bare busybox udhcpd -f -a 0 "$BARE/udhcpd.conf" >/dev/null 2>&1
printf 'instance-id: bare\nlocal-hostname: bare\n' >"$BARE/seed/meta-data"
: >"$BARE/seed/user-data"
genisoimage -quiet -o "$BARE/seed.iso" -V cidata -J -r "$BARE/seed" 2>/dev/null
qemu-img create -q -f qcow2 -b "$FAB_VM_IMAGE" -F qcow2 "$BARE/disk.qcow2"

# Starts bare QEMU "n" (0 or 1) on tap "tapmN", with its QMP socket
# $BARE/qmpN, and "args..." more (-incoming).
bare_qemu() {
    local n=$1
    shift
    rm -f "$BARE/pid$n"
    in_ns bare qemu-system-x86_64 -machine pc,accel=tcg -cpu max -smp 1 \
        -m 128 -nodefaults -no-user-config -display none \
        -serial "file:$BARE/console$n.log" -pidfile "$BARE/pid$n" \
        -qmp "unix:$BARE/qmp$n,server=on,wait=off" \
        -drive "file=$BARE/disk.qcow2,if=none,id=disk0,format=qcow2,cache=none" \
        -device virtio-blk-pci,drive=disk0,bootindex=0 \
        -drive "file=$BARE/seed.iso,if=none,id=seed0,format=raw,readonly=on" \
        -device virtio-blk-pci,drive=seed0 \
        -netdev "tap,id=net0,ifname=tapm$n,script=no,downscript=no" \
        -device "virtio-net-pci,netdev=net0,mac=$BARE_MAC,host_mtu=1450" \
        -daemonize "$@"
}

# Runs the QMP commands (JSON, one an argument) on bare QEMU "n"'s socket
# and prints the last one's "return" as JSON.
qmp() {
    python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())
ret = None
for cmd in ["{\"execute\": \"qmp_capabilities\"}"] + sys.argv[2:]:
    f.write(cmd + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "event" in msg:
            continue
        if "error" in msg:
            sys.exit("qmp: %s: %s" % (cmd, msg["error"]["desc"]))
        ret = msg["return"]
        break
print(json.dumps(ret))
' "$BARE/qmp$1" "${@:2}"
}

bare_qemu 0
deadline=$(( SECONDS + FAB_VM_BOOT_TIMEOUT ))
until grep -q "fabric-test-image: up" "$BARE/console0.log" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the bare guest did not boot"
    sleep 0.5
done
for _ in $(seq 30); do
    r=$(in_ns client "$MIG_UDPSEQ" send "$BARE_IP:$MIG_PORT" -d 1 -w 500 -j)
    [ "$(jq -r .received <<<"$r")" -gt 0 ] && break
done
[ "$(jq -r .received <<<"$r")" -gt 0 ] || fail "the bare guest's echo does not answer"

: >"$FAB_TMP/bare.txt"
from=0
for i in $(seq "$RUNS"); do
    to=$(( 1 - from ))
    uri=tcp:127.0.0.1:$(( 4440 + to ))
    bare_qemu "$to" -incoming "$uri"
    in_ns_bg client "$MIG_UDPSEQ" send "$BARE_IP:$MIG_PORT" -d 0 -j \
        >"$BARE/udp.json"
    probe=$!
    sleep 1
    qmp "$from" \
        '{"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "auto-converge", "state": true}]}}' \
        "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"downtime-limit\": $MIG_DOWNTIME_LIMIT}}" \
        "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"$uri\"}}" >/dev/null
    while :; do
        m=$(qmp "$from" '{"execute": "query-migrate"}')
        case $(jq -r .status <<<"$m") in
        completed) break ;;
        failed | cancelled) fail "the bare migration failed: $m" ;;
        esac
        sleep 0.05
    done
    sleep 1
    kill -TERM "$probe"
    wait "$probe" || fail "the baseline's UDP probe failed"
    pid=$(cat "$BARE/pid$from")
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
    done
    udp=$(cat "$BARE/udp.json")
    record "$FAB_TMP/bare.txt" bare "$i" "tap$to" "$(jq -r .lost <<<"$udp")" \
        "$(jq -r .downtime <<<"$m")" "$(jq -r '."total-time"' <<<"$m")" "$udp"
    from=$to
done

# ---------------------------------------------------------------------------
# Medians and ratios.

# Prints the median of column "c" of file "file".
column_median() {
    awk -v c="$2" '{ print $c }' "$1" | median
}
printf 'p50 %-26s %10s %10s %8s\n' "" fabric bare ratio
for c in 1:lost 2:"lost beyond downtime" 3:"downtime (QEMU, ms)" \
    4:"migration time (QEMU, ms)"; do
    f=$(column_median "$FAB_TMP/fabric.txt" "${c%%:*}")
    b=$(column_median "$FAB_TMP/bare.txt" "${c%%:*}")
    printf 'p50 %-26s %10s %10s %8s\n' "${c#*:}" "$f" "$b" "$(ratio "$f" "$b")"
done
echo "target: fabric loses 0 datagrams beyond QEMU's downtime"

#!/bin/bash
# bench/vm-boot.sh: how long "fabricctl vm create" takes until the guest
# answers ping, against a bare qemu-system-x86_64 boot of the same image
# to its first ping, measured in the same run.  A benchmark, not a test:
# it prints numbers and gates nothing.
#
#   usage: bench/vm-boot.sh [-n RUNS]   (default 10; env RUNS)
#
# Baseline: a namespace with a Linux bridge, a tap on it, busybox udhcpd
# with a fixed lease for the guest's MAC, and QEMU started by hand on the
# tap with the flags the QEMU driver uses (TCG, 128 MiB, the test image
# as a qcow2 overlay made beforehand, a NoCloud seed); the clock runs from
# QEMU's start to the first echo reply.
#
# Fabric: a controller and two hosts with agents (tests/lib/common.sh),
# network blue and the image registered; the clock runs from "fabricctl vm
# create" (API, placement, the watch, the tap and its port program, the
# disk overlay and seed, QEMU, the guest's DHCP from the fabric) to the
# first echo reply to a namespace on host A, across VXLAN when the
# scheduler put the VM on host B.  Each VM is deleted (and gone) before
# the next is created, as each baseline QEMU is killed before the next
# starts, so one guest boots at a time.
#
# Figures are medians (p50) over the runs, with how long fabric took to
# start QEMU (from the agent's log); the difference is what fabric
# adds to a bare boot (target: at most 1 s).  bench/first-reply pings
# every 10 ms whether answered or not; the baseline's namespace knows the
# guest's MAC, as the agent's ARP responder answers for a fabric port, so
# that the first ping waits for the guest and not for ARP's retries.
set -euo pipefail
export LC_ALL=C

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/bench-lib.sh"
bench_runs 10 "$@"

export FAB_PREFIX=vb-$$  # Short: "PREFIX-ctl0" is a device name.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../tests/lib/common.sh"

fab_setup
require_cmd busybox
fab_vm_init

FIRST_REPLY=${FIRST_REPLY:-$top_builddir/bench/first-reply}
[ -x "$FIRST_REPLY" ] || fail "$FIRST_REPLY not built: run \"make\" first"

now() {
    echo "$EPOCHREALTIME"
}

# Pings "ip" from node "ns" every 10 ms until the first reply (for at most
# FAB_VM_BOOT_TIMEOUT seconds), and prints when it came (wall clock).
ping_first() {
    in_ns "$1" "$FIRST_REPLY" -i 10000 -w "$FAB_VM_BOOT_TIMEOUT" "$2" \
        | awk '$1 == "reply" { print $2 }'
}

# ---------------------------------------------------------------------------
# The baseline: a bare QEMU.

bare_ns=$(fab_ns bare)
BARE_MAC=02:00:00:00:99:01
BARE_IP=10.9.0.10
ip netns add "$bare_ns"
in_ns bare ip link set lo up
in_ns bare ip link add br0 type bridge
in_ns bare ip addr add 10.9.0.1/24 dev br0
in_ns bare ip link set br0 up
in_ns bare ip tuntap add dev tapb0 mode tap
in_ns bare ip link set tapb0 mtu 1450 master br0 up
in_ns bare ip neigh replace "$BARE_IP" lladdr "$BARE_MAC" dev br0 nud permanent
cat >"$FAB_TMP/udhcpd.conf" <<EOF
start 10.9.0.100
end 10.9.0.110
interface br0
lease_file $FAB_TMP/udhcpd.leases
pidfile $FAB_TMP/udhcpd.pid
option subnet 255.255.255.0
option mtu 1450
static_lease $BARE_MAC $BARE_IP
EOF
: >"$FAB_TMP/udhcpd.leases"
# No ARP ping of an address before offering it (udhcpd waits 2 s for
# one by default): the fabric's responder offers at once too.
in_ns_bg bare busybox udhcpd -f -a 0 "$FAB_TMP/udhcpd.conf" >/dev/null 2>&1

mkdir -p "$FAB_TMP/bare/seed"
printf 'instance-id: bare\nlocal-hostname: bare\n' >"$FAB_TMP/bare/seed/meta-data"
: >"$FAB_TMP/bare/seed/user-data"
genisoimage -quiet -o "$FAB_TMP/bare/seed.iso" -V cidata -J -r \
    "$FAB_TMP/bare/seed" 2>/dev/null

# One bare boot: a fresh overlay, QEMU, the first ping; prints seconds.
bare_boot() {
    local disk=$FAB_TMP/bare/disk.qcow2 start end pid
    rm -f "$disk" "$FAB_TMP/bare/pid"
    qemu-img create -q -f qcow2 -b "$FAB_VM_IMAGE" -F qcow2 "$disk"
    start=$(now)
    in_ns bare qemu-system-x86_64 -machine pc,accel=tcg -cpu max -smp 1 \
        -m 128 -nodefaults -no-user-config -display none \
        -serial "file:$FAB_TMP/bare/console.log" \
        -pidfile "$FAB_TMP/bare/pid" \
        -drive "file=$disk,if=none,id=disk0,format=qcow2" \
        -device virtio-blk-pci,drive=disk0,bootindex=0 \
        -drive "file=$FAB_TMP/bare/seed.iso,if=none,id=seed0,format=raw,readonly=on" \
        -device virtio-blk-pci,drive=seed0 \
        -netdev tap,id=net0,ifname=tapb0,script=no,downscript=no \
        -device "virtio-net-pci,netdev=net0,mac=$BARE_MAC,host_mtu=1450" \
        -daemonize
    end=$(ping_first bare "$BARE_IP")
    [ -n "$end" ] || fail "the bare guest did not answer ping"
    pid=$(cat "$FAB_TMP/bare/pid")
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
    done
    echo "$start $end" | awk '{ printf "%.2f\n", $2 - $1 }'
}

# ---------------------------------------------------------------------------
# Fabric: "fabricctl vm create".

fab_controlled_cloud A B
fab_agent_start_controlled A
fab_agent_start_controlled B
fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
fab_network blue 100
fabctl image create tiny --file "$FAB_VM_IMAGE" >/dev/null
fab_vm_from_api vmA1 blue --ip 10.0.0.2
fab_ports_up_wait 20

# Prints the wall-clock time of the agent of host "X" logging that it
# started VM "name".
qemu_started() {
    local line
    line=$(grep -m 1 "VM \"$2\": started" "$(fab_agent_log "$1")" | cut -d' ' -f1)
    date -d "${line%Z}Z" +%s.%N
}

# One VM: create, first ping, delete and wait until its QEMU is gone;
# prints seconds to the ping, seconds until the agent had started its
# QEMU, and the host it ran on.
fabric_boot() {
    local name=$1 start end json ip host letter started
    # Each VM takes the address the last one left (the lowest free one)
    # with a new MAC: vmA1's neighbour entry for it is the last VM's, and
    # would keep its pings from the new guest until it ages out.
    in_ns vmA1 ip neigh flush dev eth0
    start=$(now)
    json=$(fabctl -o json vm create "$name" --network blue --vcpus 1 \
        --memory 128M --image tiny)
    ip=$(jq -r '.nics[0].ip' <<<"$json")
    end=$(ping_first vmA1 "$ip")
    [ -n "$end" ] || fail "$name ($ip) did not answer ping"
    host=$(fabctl -o json vm show "$name" | jq -r .host)
    letter=${host#host-}
    letter=${letter^^}
    started=$(qemu_started "$letter" "$name")
    fabctl vm delete "$name" >/dev/null
    for _ in $(seq 600); do
        if fabctl -o json vm list | jq -e --arg n "$name" 'all(.[]; .name != $n)' \
            >/dev/null && [ -z "$(fab_qemu_pid "$letter" "$name")" ]; then
            break
        fi
        sleep 0.1
    done
    echo "$start $end $started $host" \
        | awk '{ printf "%.2f %.2f %s\n", $2 - $1, $3 - $1, $4 }'
}

echo "vm-boot: $RUNS runs each, one guest at a time (TCG)"
: >"$FAB_TMP/bare.txt"
: >"$FAB_TMP/fabric.txt"
: >"$FAB_TMP/qemu.txt"
for i in $(seq "$RUNS"); do
    t=$(bare_boot)
    echo "$t" >>"$FAB_TMP/bare.txt"
    read -r f q h <<<"$(fabric_boot "boot$i")"
    echo "$f" >>"$FAB_TMP/fabric.txt"
    echo "$q" >>"$FAB_TMP/qemu.txt"
    printf '  run %2d: bare QEMU %6.2f s   fabricctl vm create %6.2f s (QEMU started after %.2f s, %s)\n' \
        "$i" "$t" "$f" "$q" "$h"
done
bare=$(median <"$FAB_TMP/bare.txt")
fabric=$(median <"$FAB_TMP/fabric.txt")
printf 'p50: bare QEMU boot to first ping      %6.2f s\n' "$bare"
printf 'p50: fabricctl vm create to first ping %6.2f s\n' "$fabric"
printf 'p50: fabricctl vm create to QEMU start %6.2f s\n' \
    "$(median <"$FAB_TMP/qemu.txt")"
printf 'fabric adds %+.2f s (target: at most +1.00 s)\n' \
    "$(echo "$fabric $bare" | awk '{ print $1 - $2 }')"

#!/bin/bash
# bench/iperf-vxlan.sh: TCP throughput VM -> VM across two hosts through
# fabric, against the Linux kernel's own bridge + vxlan path built the same
# way and measured in the same run.  A benchmark, not a test: it prints
# numbers and a ratio and gates nothing.
#
#   usage: bench/iperf-vxlan.sh [-t SECONDS] [-r REPETITIONS]
#          (defaults 10 s, 3 repetitions; env DURATION and REPS too)
#
# Both setups have the shape of tests/lib/common.sh: an underlay bridge,
# hosts A and B (VTEPs 192.168.100.1 and .2, underlay MTU 1500), and VMs
# vmA1 10.0.0.1 and vmB1 10.0.0.2 (eth0 MTU 1450) on veth pairs.  In the
# fabric setup the host side of each VM veth is a fabric port; in the
# kernel setup it is enslaved to a Linux bridge with a kernel "vxlan"
# device (VNI 100, static FDB, no learning).  Runs alternate between the
# two setups, single stream and 4 streams (-P 4); each figure is the
# median over the repetitions of the receiver's rate.
set -euo pipefail

DURATION=${DURATION:-10}
REPS=${REPS:-3}
while getopts t:r:h opt; do
    case $opt in
    t) DURATION=$OPTARG ;;
    r) REPS=$OPTARG ;;
    *) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done

bench_prefix=bench-$$
export FAB_PREFIX=$bench_prefix-f
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../tests/lib/common.sh"
kernel_prefix=$bench_prefix-k
fabric_prefix=$FAB_PREFIX

fab_init
require_cmd iperf3 bridge

bench_cleanup() {
    local rc=$?
    trap - EXIT
    set +e
    FAB_PREFIX=$kernel_prefix fab_teardown
    FAB_PREFIX=$fabric_prefix fab_teardown
    rm -rf "$FAB_TMP"
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

mtu=$(( FAB_UNDERLAY_MTU - FAB_VXLAN_OVERHEAD ))
mac_a=02:00:00:00:01:01
mac_b=02:00:00:00:02:01

echo "building the fabric setup"
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1 "$mac_a"
fab_vm vmB1 blue 10.0.0.2 "$mac_b"
fab_start_agents
assert_ping_ok vmA1 10.0.0.2

echo "building the kernel setup"
build_kernel() {
    fab_underlay
    fab_kernel_host hostA "$FAB_UNDERLAY_NET.1"
    fab_kernel_host hostB "$FAB_UNDERLAY_NET.2"
    fab_kernel_network hostA 100 "$FAB_UNDERLAY_NET.1" "$mtu"
    fab_kernel_network hostB 100 "$FAB_UNDERLAY_NET.2" "$mtu"
    fab_kernel_vm hostA vmA1 100 10.0.0.1 "$mac_a" "$mtu"
    fab_kernel_vm hostB vmB1 100 10.0.0.2 "$mac_b" "$mtu"
    fab_kernel_remote hostA 100 "$mac_b" "$FAB_UNDERLAY_NET.2"
    fab_kernel_remote hostB 100 "$mac_a" "$FAB_UNDERLAY_NET.1"
    assert_ping_ok vmA1 10.0.0.2
}
FAB_PREFIX=$kernel_prefix build_kernel

# Runs one iperf3 client in "prefix"'s vmA1 with "streams" streams, and
# prints the receiver's rate in Gbit/s.  A fresh one-shot server each time.
measure() {
    local prefix=$1 streams=$2 json
    FAB_PREFIX=$prefix in_ns vmB1 iperf3 -s -1 -D \
        --pidfile "$FAB_TMP/iperf3-$prefix.pid" >/dev/null
    for _ in $(seq 50); do
        FAB_PREFIX=$prefix in_ns vmB1 ss -H -ltn 'sport = :5201' \
            | grep -q . && break
        sleep 0.1
    done
    json=$(FAB_PREFIX=$prefix in_ns vmA1 iperf3 -c 10.0.0.2 -J \
        -t "$DURATION" -P "$streams") \
        || fail "iperf3 through $prefix failed: $(echo "$json" | jq -r .error)"
    echo "$json" | jq -r '.end.sum_received.bits_per_second / 1e9'
}

# Prints the median of the numbers given.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A runs=()
for rep in $(seq "$REPS"); do
    for streams in 1 4; do
        for setup in fabric kernel; do
            prefix=$fabric_prefix
            [ "$setup" = kernel ] && prefix=$kernel_prefix
            rate=$(measure "$prefix" "$streams")
            runs[$setup-$streams]+=" $rate"
            printf 'run %d/%d  %-6s -P %d  %6.2f Gbit/s\n' \
                "$rep" "$REPS" "$setup" "$streams" "$rate"
        done
    done
done

echo
echo "iperf3 TCP vmA1 -> vmB1 across two hosts, ${DURATION}s x $REPS runs," \
    "underlay MTU $FAB_UNDERLAY_MTU, VM MTU $mtu, $(nproc) CPUs, $(uname -r)"
printf '%-10s %14s %14s %14s\n' streams "fabric Gbit/s" "kernel Gbit/s" \
    "fabric/kernel"
for streams in 1 4; do
    # shellcheck disable=SC2086 # The lists are space-separated numbers.
    f=$(median ${runs[fabric-$streams]})
    # shellcheck disable=SC2086
    k=$(median ${runs[kernel-$streams]})
    ratio=$(awk -v f="$f" -v k="$k" 'BEGIN { printf "%.2f", f / k }')
    verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0) ? "meets" : "below" }')
    printf '%-10s %14.2f %14.2f %13sx  (%s target >= 1.00x)\n' \
        "-P $streams" "$f" "$k" "$ratio" "$verdict"
done

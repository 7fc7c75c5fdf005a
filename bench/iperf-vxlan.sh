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

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/iperf-lib.sh"

bench_build_fabric
bench_build_kernel

declare -A runs=()
for rep in $(seq "$REPS"); do
    for streams in 1 4; do
        for setup in fabric kernel; do
            prefix=$fabric_prefix
            [ "$setup" = kernel ] && prefix=$kernel_prefix
            rate=$(bench_iperf "$prefix" "$streams")
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
    f=$(bench_median ${runs[fabric-$streams]})
    # shellcheck disable=SC2086
    k=$(bench_median ${runs[kernel-$streams]})
    ratio=$(bench_ratio "$f" "$k")
    verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0) ? "meets" : "below" }')
    printf '%-10s %14.2f %14.2f %13sx  (%s target >= 1.00x)\n' \
        "-P $streams" "$f" "$k" "$ratio" "$verdict"
done

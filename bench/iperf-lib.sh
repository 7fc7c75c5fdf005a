# shellcheck shell=bash
# Shared by the iperf benchmarks (bench/iperf-*.sh), sourced after they set
# their options: a fabric setup and a kernel (bridge + vxlan) setup of the
# same two-host shape, each under its own namespace prefix, torn down on
# exit; iperf3 runs through either; medians.
#
# After sourcing: $fabric_prefix and $kernel_prefix name the two setups,
# FAB_PREFIX is the fabric one, and tests/lib/common.sh is loaded.

bench_prefix=bench-$$
export FAB_PREFIX=$bench_prefix-f
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/common.sh"
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

# Builds the fabric setup: hosts A and B, vmA1 10.0.0.1 and vmB1 10.0.0.2
# on network blue (VNI 100), standalone agents.
bench_build_fabric() {
    echo "building the fabric setup"
    fab_underlay
    fab_host A
    fab_host B
    fab_network blue 100
    fab_vm vmA1 blue 10.0.0.1 "$mac_a"
    fab_vm vmB1 blue 10.0.0.2 "$mac_b"
    fab_start_agents
    assert_ping_ok vmA1 10.0.0.2
}

# Builds the same shape switched by the kernel: a Linux bridge and a
# "vxlan" device per host (VNI 100, static FDB, no learning).
bench_build_kernel() {
    echo "building the kernel setup"
    FAB_PREFIX=$kernel_prefix bench_kernel_topology
}

bench_kernel_topology() {
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

# Runs one iperf3 client for DURATION seconds in "prefix"'s vmA1 with
# "streams" streams (default 1), and prints the receiver's rate in
# Gbit/s.  A fresh one-shot server each time.
bench_iperf() {
    local prefix=$1 streams=${2:-1} json
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
bench_median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Prints a / b with two decimals.
bench_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

#!/bin/bash
# bench/iperf-firewall.sh: TCP throughput VM -> VM across two hosts through
# fabric with RULES firewall rules installed, beside the same fabric
# without rules and beside the Linux kernel path (bridge + vxlan) filtered
# by the same number of nftables rules, all in the same run.  A benchmark,
# not a test: it prints numbers and ratios and gates nothing.
#
#   usage: bench/iperf-firewall.sh [-t SECONDS] [-r REPETITIONS] [-n RULES]
#          (defaults 10 s, 3 repetitions, 10000 rules; env DURATION, REPS,
#          RULES too)
#
# Topology as in bench/iperf-vxlan.sh.  With rules, vmB1 ("db", identity
# 301) is default-deny on ingress, with RULES rules of its group (TCP ports
# 10000 upward from peer identities of other groups) that do not match and
# one that does (TCP 5201 from "web", vmA1's identity 300); vmA1 may send
# anything.  The kernel path gets the same policy as nftables rules in the
# bridge's forward chain of host B: RULES non-matching "ip saddr . tcp
# dport" accepts, then the matching accept, then drop; evaluated for every
# packet, as a per-rule firewall is.  Target: fabric with rules >= 0.9 x
# fabric without.
set -euo pipefail

DURATION=${DURATION:-10}
REPS=${REPS:-3}
RULES=${RULES:-10000}
while getopts t:r:n:h opt; do
    case $opt in
    t) DURATION=$OPTARG ;;
    r) REPS=$OPTARG ;;
    n) RULES=$OPTARG ;;
    *) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done

# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/iperf-lib.sh"
require_cmd nft

WEB=300 DB=301

bench_build_fabric
for host in A B; do
    cp "$(fab_state_file "$host")" "$FAB_TMP/host$host-plain.json"
done

# The documents with the firewall: identities on the ports and remotes,
# web's egress rule on A, db's RULES + 1 ingress rules on B.
jq --argjson web "$WEB" --argjson db "$DB" '
    (.ports[] | select(.name == "vmA1")) += {identity: $web}
    | (.remotes[]?) += {identity: $db}
    | .identities = [{id: $web, groups: ["web"], governs: ["egress"],
        rules: [{id: 1, group: "web", direction: "egress",
                 protocol: "any", action: "allow"}]}]' \
    "$FAB_TMP/hostA-plain.json" >"$FAB_TMP/hostA-rules.json"
jq --argjson web "$WEB" --argjson db "$DB" --argjson n "$RULES" '
    (.ports[] | select(.name == "vmB1")) += {identity: $db}
    | (.remotes[]?) += {identity: $web}
    | .identities = [{id: $db, groups: ["db"], governs: ["ingress"],
        rules: ([range(0; $n) | {id: (. + 10), group: "db",
                   direction: "ingress", protocol: "tcp",
                   ports: [10000 + (. % 50000), 10000 + (. % 50000)],
                   peer_identities: [1000 + ((. / 50000) | floor)],
                   action: "allow"}]
                + [{id: 2, group: "db", direction: "ingress",
                    protocol: "tcp", ports: [5201, 5201],
                    peer_identities: [$web], action: "allow"}])}]' \
    "$FAB_TMP/hostB-plain.json" >"$FAB_TMP/hostB-rules.json"

# Gives both fabric hosts the "plain" or "rules" documents and waits until
# host B's agent has applied them.
fabric_policy() {
    local which=$1 want=0 host n
    [ "$which" = rules ] && want=1
    for host in A B; do
        cp "$FAB_TMP/host$host-$which.json" "$(fab_state_file "$host")"
        fab_agent_hup "$host"
    done
    for _ in $(seq 600); do
        n=$(fab_agent_cmd B --show -o json | jq '.policies | length')
        if { [ "$want" = 1 ] && [ "$n" -gt "$RULES" ]; } \
            || { [ "$want" = 0 ] && [ "$n" = 0 ]; }; then
            return 0
        fi
        sleep 0.1
    done
    fail "host B did not apply the $which document (policies: $n)"
}

bench_build_kernel

# Loads (or with "flush", removes) the nftables ruleset of the kernel
# setup's host B.
kernel_policy() {
    local which=$1 ns
    ns=/run/netns/$(FAB_PREFIX=$kernel_prefix fab_ns hostB)
    nsenter --net="$ns" nft delete table bridge fw 2>/dev/null || true
    [ "$which" = rules ] || return 0
    {
        echo "table bridge fw {"
        echo "  chain vm_filter {"
        echo "    type filter hook forward priority 0; policy accept;"
        echo "    ether type arp accept"
        echo "    ip daddr != 10.0.0.2 accept"
        awk -v n="$RULES" 'BEGIN {
            for (i = 0; i < n; i++)
                printf "    ip saddr 10.%d.%d.%d tcp dport %d accept\n",
                    1 + int(i / 50000), int((i % 50000) / 256), i % 256,
                    10000 + i % 50000
        }'
        echo "    ip saddr 10.0.0.1 tcp dport 5201 accept"
        echo "    drop"
        echo "  }"
        echo "}"
    } | nsenter --net="$ns" nft -f -
}

declare -A runs=()
for rep in $(seq "$REPS"); do
    for setup in fabric-plain fabric-rules kernel-plain kernel-rules; do
        case $setup in
        fabric-*) fabric_policy "${setup#fabric-}"; prefix=$fabric_prefix ;;
        kernel-*) kernel_policy "${setup#kernel-}"; prefix=$kernel_prefix ;;
        esac
        rate=$(bench_iperf "$prefix")
        runs[$setup]+=" $rate"
        printf 'run %d/%d  %-13s %6.2f Gbit/s\n' "$rep" "$REPS" "$setup" \
            "$rate"
    done
done

echo
echo "iperf3 TCP vmA1 -> vmB1 across two hosts, 1 stream, ${DURATION}s x" \
    "$REPS runs, $RULES rules, $(nproc) CPUs, $(uname -r)"
declare -A med=()
for setup in fabric-plain fabric-rules kernel-plain kernel-rules; do
    # shellcheck disable=SC2086 # Space-separated numbers.
    med[$setup]=$(bench_median ${runs[$setup]})
    printf '%-28s %8.2f Gbit/s\n' "$setup" "${med[$setup]}"
done
r=$(bench_ratio "${med[fabric-rules]}" "${med[fabric-plain]}")
printf 'fabric, %d rules / no rules: %sx (%s target >= 0.90x)\n' "$RULES" "$r" \
    "$(awk -v r="$r" 'BEGIN { print (r >= 0.9) ? "meets" : "below" }')"
printf 'kernel + nftables, %d rules / no rules: %sx\n' "$RULES" \
    "$(bench_ratio "${med[kernel-rules]}" "${med[kernel-plain]}")"
printf 'fabric with rules / kernel with rules: %sx\n' \
    "$(bench_ratio "${med[fabric-rules]}" "${med[kernel-rules]}")"

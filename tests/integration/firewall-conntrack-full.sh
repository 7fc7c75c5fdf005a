#!/bin/bash
# With its conntrack table full, a host refuses new connections and counts
# them, while the connections it already tracks carry on; the agent then
# makes room by evicting half-open flows.  (Collecting
# expired entries is tests/agent/test-reconcile's: here they would take
# 30 s to expire.)
#
#   host A: vmA1 "web"
#   host B: vmB1 "db", conntrack table of CT_MAX entries, all of which
#           vmB1 may take (tests/integration/firewall-conntrack-fair.sh
#           is about the share of one port)
#
# Needs root, jq, curl and nc (OpenBSD).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

CT_MAX=16

fab_setup
require_cmd curl nc
fab_controlled_cloud A B
fab_agent_start_controlled A
fab_agent_start_controlled B --conntrack-max "$CT_MAX" \
    --conntrack-port-max $((2 * CT_MAX))

fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
fab_network blue 100
fabctl sg create db --selector tier=db >/dev/null
for proto in tcp udp; do
    fabctl sg rule add db --direction ingress --protocol "$proto" \
        --ports 5000-5100 --action allow >/dev/null
done
fab_vm_from_api vmA1 blue
fab_vm_from_api vmB1 blue --label tier=db
fab_ports_up_wait 20
DB=${FAB_VM_IP[vmB1]}

# Prints host B's fabric_conntrack_full_total.
ct_full() {
    curl -sf "http://$FAB_CONTROL_NET.2:$FAB_AGENT_PORT/metrics" \
        | awk '$1 == "fabric_conntrack_full_total" {print $2}'
}

say "an established stream first"
STREAM=$FAB_TMP/stream.out
in_ns_bg vmB1 sh -c "nc -l 5000 >$STREAM"
fab_wait_listen vmB1 tcp 5000
in_ns_bg vmA1 sh -c "while :; do echo tick; sleep 0.05; done | nc $DB 5000"
for _ in $(seq 50); do
    [ -s "$STREAM" ] && break
    sleep 0.1
done
[ -s "$STREAM" ] || fail "the stream carries nothing"

# Exactly full, beside the stream: a refusal now would have the agent make
# room at once.
say "fill host B's table: UDP to $((CT_MAX - 1)) ports of db (each a connection)"
for port in $(seq 5001 $((5000 + CT_MAX - 1))); do
    echo x | in_ns vmA1 nc -u -w 0 "$DB" "$port" || true
done

entries=$(fab_agent_cmd B --show -o json | jq .firewall.conntrack_entries)
echo "  host B tracks $entries connections"
[ "$entries" = "$CT_MAX" ] || fail "host B tracks $entries, not $CT_MAX"

say "a new connection is refused and counted, then the agent makes room"
full_before=$(ct_full)
drops_before=$(fab_port_drops vmB1 conntrack-full)
in_ns_bg vmB1 nc -l 5100
fab_wait_listen vmB1 tcp 5100
# The first SYN finds the table full; the agent then evicts half-open
# flows (the unanswered UDP), and a retransmitted SYN gets in.
in_ns vmA1 nc -z -w 10 "$DB" 5100 \
    || fail "no room made for a new connection in 10 s"
evicted=$(curl -sf "http://$FAB_CONTROL_NET.2:$FAB_AGENT_PORT/metrics" \
    | awk '$1 == "fabric_conntrack_evicted_total" {print $2}')
[ "$evicted" -gt 0 ] || fail "fabric_conntrack_evicted_total is $evicted"
full_after=$(ct_full)
drops_after=$(fab_port_drops vmB1 conntrack-full)
[ "$full_after" -gt "$full_before" ] \
    || fail "fabric_conntrack_full_total $full_before -> $full_after"
[ "$drops_after" -gt "$drops_before" ] \
    || fail "vmB1: conntrack-full drops $drops_before -> $drops_after"
echo "  refused, then let in after $evicted evictions;" \
    "conntrack_full_total $full_before -> $full_after"
a=$(stat -c %s "$STREAM")
sleep 1
b=$(stat -c %s "$STREAM")
[ "$b" -gt "$a" ] || fail "the established stream stopped ($a -> $b bytes)"
echo "  the stream still flows ($a -> $b bytes in 1 s)"
say "ok"

#!/bin/bash
# One VM cannot take a host's whole conntrack table: a VM that floods new
# connections, all of them allowed, fills only its own share (a quarter of
# the table by default), and its further connections are dropped and
# counted as "conntrack-port-limit" on its port, while a VM of another
# network on the same host still opens new connections at once.  And when
# one port may have the whole table and fills it, the agent evicts that
# port's half-open flows to make room for the others.
#
#   host A: vmA1 "flooder" (blue), vmA2 "client" (green); a conntrack
#           table of CT_MAX entries, the default share of CT_MAX / 4
#   host B: vmB1 (blue), vmB2 (green), in no group
#
# Needs root, jq, curl and nc (OpenBSD).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

CT_MAX=64
SHARE=$((CT_MAX / 4))
FLOOD=300

fab_setup
require_cmd curl nc
fab_controlled_cloud A B
fab_agent_start_controlled A --conntrack-max "$CT_MAX"
fab_agent_start_controlled B

fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
fabctl network create green --cidr 10.0.1.0/24 --vni 200 >/dev/null
fab_network blue 100
fab_network green 200
fabctl sg create out --selector role=out >/dev/null
for proto in tcp udp; do
    fabctl sg rule add out --direction egress --protocol "$proto" \
        --action allow >/dev/null
done
fab_vm_from_api vmA1 blue --label role=out
fab_vm_from_api vmA2 green --label role=out
fab_vm_from_api vmB1 blue
fab_vm_from_api vmB2 green
fab_ports_up_wait 20
SINK=${FAB_VM_IP[vmB1]}
SERVER=${FAB_VM_IP[vmB2]}

# Prints a metric of host A's agent: "name{labels}" exactly as it is shown.
metric() {
    curl -sf "http://$FAB_CONTROL_NET.1:$FAB_AGENT_PORT/metrics" \
        | awk -v m="$1" '$1 == m {print $2}'
}

say "vmA1 floods $FLOOD new UDP connections to vmB1, each from a new port"
limit_before=$(fab_port_drops vmA1 conntrack-port-limit)
in_ns vmA1 bash -c "for p in \$(seq 6000 $((6000 + FLOOD - 1))); do
    echo x >/dev/udp/$SINK/\$p || true
done"

say "vmA2 (green, same host) opens new connections at once"
for i in 1 2 3; do
    start=$(date +%s%N)
    in_ns_bg vmB2 timeout 10 nc -l 7000
    fab_wait_listen vmB2 tcp 7000
    in_ns vmA2 nc -z -w 2 "$SERVER" 7000 \
        || fail "vmA2: new connection $i to $SERVER:7000 refused"
    echo "  connection $i opened in $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
fab_tcp_check vmA2 "$SERVER" vmB2 65536
[ "$(fab_port_drops vmA2 conntrack-port-limit)" = 0 ] \
    || fail "vmA2's connections were counted against a limit"

say "vmA1 took its share and no more, and its drops are counted"
entries=$(fab_agent_cmd A --show -o json | jq .firewall.conntrack_entries)
share=$(fab_port_json vmA1 | jq -c .conntrack)
echo "  host A tracks $entries connections; vmA1's share: $share"
[ "$entries" -lt "$CT_MAX" ] || fail "host A's table is full: $entries"
[ "$(jq .tracked <<<"$share")" = "$SHARE" ] \
    || fail "vmA1's share is $share, not $SHARE of $SHARE"
[ "$(jq .max <<<"$share")" = "$SHARE" ] || fail "vmA1's limit is not $SHARE"
limit_after=$(fab_port_drops vmA1 conntrack-port-limit)
[ "$limit_after" -ge $((limit_before + FLOOD - SHARE)) ] \
    || fail "vmA1: conntrack-port-limit drops $limit_before -> $limit_after"
echo "  vmA1: conntrack-port-limit drops $limit_before -> $limit_after"
[ "$(fab_port_drops vmA1 conntrack-full)" = 0 ] \
    || fail "the table filled up: conntrack-full drops on vmA1"
[ "$(metric 'fabric_agent_port_conntrack_max{port="vma1"}')" = "$SHARE" ] \
    || fail "metrics: vma1's conntrack_max is not $SHARE"
[ "$(metric "fabric_agent_port_drops_total{port=\"vma1\",reason=\"conntrack-port-limit\"}")" = "$limit_after" ] \
    || fail "metrics: vma1's conntrack-port-limit drops are not $limit_after"

say "--conntrack shows whose share each connection takes"
owners=$(fab_agent_cmd A --conntrack -o json \
    | jq -r '[.[] | select(.owner == "vmA1-h")] | length')
[ "$owners" = "$SHARE" ] \
    || fail "--conntrack: $owners connections owned by vmA1-h, not $SHARE"

say "restarted to let one port have the whole table, the agent keeps count"
fab_agent_stop A
fab_agent_start_controlled A --conntrack-max "$CT_MAX" \
    --conntrack-port-max "$CT_MAX"
for _ in $(seq 50); do
    share=$(fab_port_json vmA1 | jq -c .conntrack)
    [ "$(jq .max <<<"$share")" = "$CT_MAX" ] && break
    sleep 0.1
done
echo "  vmA1's share: $share"
[ "$(jq .max <<<"$share")" = "$CT_MAX" ] \
    || fail "vmA1's limit is not $CT_MAX after the restart"
owners=$(fab_agent_cmd A --conntrack -o json \
    | jq -r '[.[] | select(.owner == "vmA1-h")] | length')
[ "$(jq .tracked <<<"$share")" = "$owners" ] \
    || fail "vmA1 owns $owners connections, but its count says $share"

say "vmA1 fills the table; the agent evicts its half-open flows for vmA2"
in_ns vmA1 bash -c "for p in \$(seq 8000 $((8000 + FLOOD - 1))); do
    echo x >/dev/udp/$SINK/\$p || true
done"
entries=$(fab_agent_cmd A --show -o json | jq .firewall.conntrack_entries)
[ "$entries" = "$CT_MAX" ] || fail "host A tracks $entries, not $CT_MAX"
in_ns_bg vmB2 timeout 20 nc -l 7001
fab_wait_listen vmB2 tcp 7001
start=$SECONDS
in_ns vmA2 nc -z -w 15 "$SERVER" 7001 \
    || fail "vmA2: no room made for a new connection in 15 s"
echo "  vmA2's connection opened after $((SECONDS - start)) s"
evicted=$(metric fabric_conntrack_evicted_total)
tracked=$(fab_port_json vmA1 | jq .conntrack.tracked)
echo "  evicted $evicted of vmA1's; it owns $tracked now"
[ "$evicted" -gt 0 ] || fail "fabric_conntrack_evicted_total is $evicted"
[ "$tracked" -le $((CT_MAX * 3 / 4)) ] \
    || fail "vmA1 still owns $tracked of $CT_MAX"
say "ok"

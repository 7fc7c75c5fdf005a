#!/bin/bash
# The distributed firewall end to end: security groups and rules written
# with fabricctl at a real controller, enforced by the agents' fast paths.
#
#   host A: vmA1 "web" (tier=web)       vmA2 "db" (tier=db, web's neighbour)
#   host B: vmB1 "db"  (tier=db)        vmB2 no group
#
# Group db accepts TCP 5432 and 6000 from group web, nothing else; web
# may send anything.  Checked: web reaches db on 5432 across hosts and on
# its own host, and nothing else; a port in no group reaches nothing in
# db; replies flow; a deny beats the allow; an established TCP stream
# flows on while host B's agent is stopped and restarted, and a new deny
# rule stops it; a label change moves vmB2 into web and out
# again, and its reach follows; nmap from vmB2 sees every port of vmB1
# filtered; VXLAN forged by a host outside the fabric, claiming web's
# group, is dropped and counted; denied connections show up in the flow
# log, rules count their hits, and fabricctl trace names the deciding
# rule.
#
# Needs root, jq, curl, nc (OpenBSD) and nmap.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd curl nc nmap nft
fab_web_db_cloud
DB_5432=$(fabctl -o json sg rule add db --direction ingress --protocol tcp \
    --ports 5432 --peer-group web --action allow | jq -r .id)
fabctl sg rule add db --direction ingress --protocol tcp --ports 6000 \
    --peer-group web --action allow >/dev/null

fab_vm_from_api vmA1 blue --label tier=web
fab_vm_from_api vmA2 blue --label tier=db
fab_vm_from_api vmB1 blue --label tier=db
fab_vm_from_api vmB2 blue
fab_ports_up_wait 20
DB_A=${FAB_VM_IP[vmA2]} DB_B=${FAB_VM_IP[vmB1]}

# Servers on the db VMs for the whole run.
for vm in vmA2 vmB1; do
    for port in 22 5432; do
        in_ns_bg "$vm" nc -lk "$port" >/dev/null 2>&1
    done
done
fab_wait_listen vmB1 tcp 5432
fab_wait_listen vmA2 tcp 5432

# Succeeds if "from" opens a TCP connection to "ip":"port" within a few
# seconds, retrying while the agents converge.
tcp_opens() {
    local from=$1 ip=$2 port=$3
    for _ in 1 2 3 4 5; do
        in_ns "$from" nc -z -w 2 "$ip" "$port" 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}

assert_tcp_ok() {
    tcp_opens "$@" || fail "$1 could not open TCP to $2:$3"
    echo "  $1 -> $2:$3 open"
}

# Fails if "from" can open a TCP connection to "ip":"port" (one try of 2 s:
# the firewall drops, so the attempt times out).
assert_tcp_refused() {
    local from=$1 ip=$2 port=$3
    if in_ns "$from" nc -z -w 2 "$ip" "$port" 2>/dev/null; then
        fail "$from opened TCP to $ip:$port"
    fi
    echo "  $from -> $ip:$port refused"
}

# Waits until "from" can (want=ok) or cannot (want=refused) open TCP to
# "ip":"port", for up to 15 s.
tcp_wait() {
    local want=$1 from=$2 ip=$3 port=$4
    for _ in $(seq 15); do
        if in_ns "$from" nc -z -w 1 "$ip" "$port" 2>/dev/null; then
            [ "$want" = ok ] && { echo "  $from -> $ip:$port open"; return 0; }
        else
            [ "$want" = refused ] && { echo "  $from -> $ip:$port refused"; return 0; }
        fi
        sleep 1
    done
    fail "$from -> $ip:$port: still not $want after 15 s"
}

say "web reaches db on 5432, across hosts and on its own host, nothing else"
assert_tcp_ok vmA1 "$DB_B" 5432
assert_tcp_ok vmA1 "$DB_A" 5432
assert_tcp_refused vmA1 "$DB_B" 22
assert_tcp_refused vmA1 "$DB_A" 22
assert_ping_fails vmA1 "$DB_B"
say "a port in no group reaches nothing in db"
assert_tcp_refused vmB2 "$DB_B" 5432
assert_tcp_refused vmB2 "$DB_A" 5432
say "replies of allowed flows pass: 1 MiB over TCP web -> db:6000 and back"
in_ns_bg vmB1 sh -c 'nc -l 6000 >/dev/null' # Consumed; the echo is below.
fab_wait_listen vmB1 tcp 6000
head -c 1048576 /dev/urandom | in_ns vmA1 timeout 20 nc -N "$DB_B" 6000 \
    || fail "TCP web -> db:6000 failed"
echo "  1 MiB delivered and acknowledged"

say "deny beats allow: a deny for web on 5432 wins over the allow"
DENY=$(fabctl -o json sg rule add db --direction ingress --protocol tcp \
    --ports 5432 --peer-group web --action deny | jq -r .id)
tcp_wait refused vmA1 "$DB_B" 5432
assert_tcp_refused vmA1 "$DB_A" 5432
fabctl sg rule delete db "$DENY" >/dev/null
tcp_wait ok vmA1 "$DB_B" 5432

say "a new deny rule stops an established TCP stream"
STREAM=$FAB_TMP/stream.out
in_ns_bg vmB1 sh -c "nc -l 6000 >$STREAM"
fab_wait_listen vmB1 tcp 6000
in_ns_bg vmA1 sh -c "while :; do echo tick; sleep 0.05; done | nc $DB_B 6000"
sleep 1
a=$(stat -c %s "$STREAM")
sleep 1
before=$(stat -c %s "$STREAM")
[ "$before" -gt "$a" ] || fail "the stream web -> db:6000 does not flow"
say "the firewall keeps its state while host B's agent restarts"
fab_agent_kill B
a=$(stat -c %s "$STREAM")
sleep 1
b=$(stat -c %s "$STREAM")
[ "$b" -gt "$a" ] || fail "the stream stopped with host B's agent away"
fab_agent_start_controlled B
fab_ports_up_wait 20
sleep 1
before=$(stat -c %s "$STREAM")
[ "$before" -gt "$b" ] || fail "the stream stopped after host B's agent came back"
echo "  the stream flowed on: $a -> $b bytes with no agent, $before after"
fab_agent_cmd B --conntrack
n=$(fab_agent_cmd B --conntrack -o json | jq --arg d "$DB_B:6000" \
    '[.[] | select(.destination == $d and .state == "established"
                   and .packets.original > 0)] | length')
[ "$n" = 1 ] || fail "host B does not list the stream as established"
DENY=$(fabctl -o json sg rule add db --direction ingress --protocol tcp \
    --ports 6000 --peer-group web --action deny | jq -r .id)
stopped=
for _ in $(seq 15); do
    sleep 1
    a=$(stat -c %s "$STREAM")
    sleep 1
    if [ "$(stat -c %s "$STREAM")" = "$a" ]; then
        stopped=$a
        break
    fi
done
[ -n "$stopped" ] || fail "the stream still flows 30 s after the deny rule"
echo "  stream stopped at $stopped bytes (was $before when the rule came)"
fabctl sg rule delete db "$DENY" >/dev/null

say "a label change moves vmB2 into web and out again"
fabctl port update vmb2 --label tier=web >/dev/null
[ "$(fabctl -o json port show vmb2 | jq -c .groups)" = '["web"]' ] \
    || fail "vmb2 is not in group web after its label change"
tcp_wait ok vmB2 "$DB_B" 5432
tcp_wait ok vmB2 "$DB_A" 5432
fabctl port update vmb2 --remove-label tier >/dev/null
tcp_wait refused vmB2 "$DB_B" 5432
tcp_wait refused vmB2 "$DB_A" 5432

say "nmap from vmB2 (no group) sees every port of vmB1 filtered"
scan=$(in_ns vmB2 nmap -Pn -n -sS -p 1-1024,5432,6000 --max-retries 1 \
    --max-rtt-timeout 200ms --host-timeout 120s -oG - "$DB_B")
echo "$scan" | grep -E '^Host: .*(Ports|Ignored)' || fail "nmap: no result"
if echo "$scan" | grep -qE '/(open|closed)/'; then
    fail "nmap found ports not filtered: $(echo "$scan" | grep Ports)"
fi
echo "$scan" | grep -q 'Ignored State: filtered (1026)' \
    || fail "nmap did not report all 1026 ports filtered"

say "forged VXLAN from outside the fabric, claiming web's group, is dropped"
identity=$(curl -sf -H "Authorization: Bearer $(cat "$FABRIC_TOKEN_FILE")" \
    "$FABRIC_CONTROLLER/v1/hosts/$(fab_api_host A)/desired-state" \
    | jq -r '.document // . | .ports[] | select(.name == "vma1") | .identity')
[ "$identity" -gt 0 ] || fail "web's identity is unknown"
rogue=$(fab_ns rogue)
ip netns add "$rogue"
ip -n "$rogue" link set lo up
fab_underlay_plug "$rogue" ul-rogue "$FAB_UNDERLAY_NET.77"
ip -n "$rogue" link add vx0 type vxlan id 100 remote "$(fab_vtep B)" \
    dstport 4789 gbp
ip -n "$rogue" addr add 10.0.0.250/24 dev vx0
ip -n "$rogue" link set vx0 up
ip -n "$rogue" neigh add "$DB_B" lladdr "${FAB_VM_MAC[vmB1]}" dev vx0 nud permanent
nsenter --net="/run/netns/$rogue" nft -f - <<EOF
table ip forge {
    chain out {
        type route hook output priority 0;
        meta mark set $identity
    }
}
EOF
# Prints host B's count of VXLAN frames dropped as from a foreign VTEP.
foreign_drops() {
    fab_agent_cmd B --show -o json \
        | jq '[.counters[] | select(.role == "underlay")
               | .drops["foreign-vtep"] // 0] | add // 0'
}
before=$(foreign_drops)
if nsenter --net="/run/netns/$rogue" nc -z -w 2 "$DB_B" 5432; then
    fail "a forged VXLAN connection reached vmB1"
fi
after=$(foreign_drops)
[ "$after" -gt "$before" ] \
    || fail "host B: foreign-vtep drops $before -> $after, expected growth"
echo "  host B dropped $((after - before)) forged frame(s) as foreign-vtep"

say "denied connections are in the flow log; rules count hits; trace explains"
for _ in $(seq 20); do
    n=$(fabctl -o json flowlog --port vmb1 --verdict deny | jq length)
    [ "$n" -gt 0 ] && break
    sleep 0.5
done
if [ "$n" = 0 ]; then
    cat "$FAB_TMP"/flows*.log >&2 || true
    grep -i flow "$FAB_TMP"/host*.log "$FAB_TMP/controller.log" >&2 || true
    fail "no denied flows of vmb1 in the flow log"
fi
fabctl flowlog --port vmb1 --verdict deny --limit 3
hits=0
for _ in $(seq 30); do
    hits=$(fabctl -o json sg rule list db \
        | jq --argjson id "$DB_5432" '.[] | select(.id == $id) | .hits')
    [ "$hits" -gt 0 ] && break
    sleep 0.5
done
[ "$hits" -gt 0 ] || fail "rule $DB_5432 (db from web on 5432) counts no hits"
echo "  rule $DB_5432 hit $hits times"
fabctl sg rule list db
trace=$(fabctl -o json trace --from vma1 --to "$DB_B" --proto tcp --dport 5432)
[ "$(jq -r .verdict <<<"$trace")" = allow ] || fail "trace to 5432: $trace"
[ "$(jq -r .rule.id <<<"$trace")" = "$DB_5432" ] || fail "trace to 5432: $trace"
trace=$(fabctl -o json trace --from vma1 --to "$DB_B" --proto tcp --dport 22)
[ "$(jq -r .verdict <<<"$trace")" = deny ] || fail "trace to 22: $trace"
fabctl trace --from vma1 --to "$DB_B" --proto tcp --dport 22

say "floods of denials: one flow is one record with a count; a scan is rate limited"
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
# A scan: 1000 UDP ports of vmB1 from vmB2 (in no group), each a new flow,
# then a flood of one flow: 2000 datagrams through one UDP socket.
in_ns vmB2 bash -c "for p in \$(seq 2000 2999); do
    echo x >/dev/udp/$DB_B/\$p; done" 2>/dev/null || true
in_ns vmB2 bash -c "exec 3>/dev/udp/$DB_B/9; for i in \$(seq 2000); do
    echo x >&3; done" 2>/dev/null || true
# The flood's repeats are reported when the agent's 5 s window ends.
for _ in $(seq 30); do
    records=$(fabctl -o json flowlog --port vmb1 --verdict deny \
        --since "$since" --limit 1000)
    flood=$(jq '[.[] | select(.dst_port == 9)]' <<<"$records")
    [ "$(jq '[.[] | .count] | add // 0' <<<"$flood")" -gt 1 ] && break
    sleep 0.5
done
n_flood=$(jq length <<<"$flood")
flood_count=$(jq '[.[] | .count] | add // 0' <<<"$flood")
n_scan=$(jq '[.[] | select(.dst_port >= 2000 and .dst_port <= 2999)] | length' \
    <<<"$records")
suppressed=$(jq '[.[] | .suppressed // 0] | add // 0' <<<"$records")
echo "  flood of one flow: $flood_count denials in $n_flood record(s);" \
    "scan of 1000 ports: $n_scan records, $suppressed denials suppressed"
[ "$flood_count" -ge 1000 ] && [ "$n_flood" -le 3 ] \
    || fail "the flood of one flow: $flood_count denials in $n_flood records"
# The port's bucket holds 100 records and refills at 20 a second.
[ "$n_scan" -ge 20 ] && [ "$n_scan" -lt 300 ] \
    || fail "a scan of 1000 ports gave $n_scan records, not 20..299"
[ $((n_scan + suppressed)) -ge 900 ] \
    || fail "the scan's suppressed records are not counted: $suppressed"
metrics=$(curl -sf "http://$FAB_CONTROL_NET.2:$FAB_AGENT_PORT/metrics")
agg_total=$(awk '$1 == "fabric_flowlog_aggregated_total" { print $2 }' \
    <<<"$metrics")
sup_total=$(awk '$1 == "fabric_flowlog_suppressed_total" { print $2 }' \
    <<<"$metrics")
echo "  host B's metrics: $agg_total aggregated, $sup_total suppressed"
[ "${agg_total:-0}" -ge 1999 ] && [ "${sup_total:-0}" -ge "$suppressed" ] \
    || fail "host B's metrics do not count the flood: $agg_total, $sup_total"
fabctl flowlog --port vmb1 --verdict deny --since "$since" --limit 3
say "ok"

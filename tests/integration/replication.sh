#!/bin/bash
# Several controllers on one etcd store, and the faults they must ride out
# (doc/replication.md).
#
#   etcd: three members on loopback, ports of their own
#   the control network: controllers C1, C2 and C3 at 198.18.N.254, ports
#                        9470, 9480 and 9490, on the one etcd store
#   host A: vmA1        host B: vmB1        (network blue)
#
# The agents and fabricctl are given the three controllers' URLs.  vmA1
# pings vmB1 all along, and a writer creates networks through fabricctl all
# along, keeping the name of every one the API acknowledged.
#
# 1. A network created through C1 is read through C2, and a port created
#    through C3 reaches the agents, which bring its VM up.
# 2. The leader controller (GET /v1/status) is killed: another leads
#    within a lease (as every controller's status says), the agents'
#    heartbeats reach it (a controller that does not lead shows both hosts
#    ready, with heartbeats after the kill, past the heartbeat timeout),
#    the agents re-attach to live controllers, their watches resuming from
#    their revision (no whole document), and a port created then reaches
#    them.
# 3. The etcd leader member is killed: writes resume through the
#    controllers, and a port created then reaches the agents.
# After each fault every acknowledged network is read back through every
# live controller; at the end vmA1's pings crossed the faults.
#
# Needs root, etcd and etcdctl (scripts/install-deps), the agent, the
# controller and fabricctl built, jq and curl.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd curl jq etcd etcdctl
[ -x "$FABRIC_CONTROLLER_BIN" ] || fail "$FABRIC_CONTROLLER_BIN not built"
unset FABRIC_CONTROLLER FABRIC_TOKEN FABRIC_TOKEN_FILE FABRIC_CACERT

CTL=$FAB_CONTROL_NET.254
declare -A CTL_PORT=([1]=9470 [2]=9480 [3]=9490)
declare -A CTL_PID=()
declare -A ETCD_PID=() ETCD_CLIENT=() ETCD_PEER=()
WRITER_PID=
PING_PID=
ACKED=$FAB_TMP/acked
HB_TIMEOUT=4

ctl_url() {
    echo "http://$CTL:${CTL_PORT[$1]}"
}

cleanup() {
    local rc=$? i
    [ -z "$WRITER_PID" ] || kill "$WRITER_PID" 2>/dev/null
    [ -z "$PING_PID" ] || kill "$PING_PID" 2>/dev/null
    for i in "${!CTL_PID[@]}"; do
        [ -z "${CTL_PID[$i]}" ] || kill "${CTL_PID[$i]}" 2>/dev/null
    done
    if [ "$rc" -ne 0 ]; then
        for i in 1 2 3; do
            echo "=== controller C$i" >&2
            tail -n 15 "$FAB_TMP/controller$i.log" >&2 || true
        done
    fi
    for i in "${!ETCD_PID[@]}"; do
        [ -z "${ETCD_PID[$i]}" ] || kill "${ETCD_PID[$i]}" 2>/dev/null
    done
    # Not a bare "wait": the agents, which fab_cleanup stops, are jobs too.
    for i in "${!CTL_PID[@]}" ; do
        [ -z "${CTL_PID[$i]}" ] || wait "${CTL_PID[$i]}" 2>/dev/null
    done
    (exit "$rc")
    fab_cleanup
}
trap cleanup EXIT

# Prints a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Starts the three etcd members on loopback, with data of their own in
# FAB_TMP, and waits until the cluster has a leader.
etcd_start() {
    local i cluster=""
    for i in 1 2 3; do
        ETCD_CLIENT[$i]=$(free_port)
        ETCD_PEER[$i]=$(free_port)
        cluster+="${cluster:+,}m$i=http://127.0.0.1:${ETCD_PEER[$i]}"
    done
    for i in 1 2 3; do
        etcd --name "m$i" --data-dir "$FAB_TMP/etcd$i" \
            --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" \
            --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" \
            --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token "$FAB_PREFIX" \
            </dev/null >"$FAB_TMP/etcd$i.log" 2>&1 &
        ETCD_PID[$i]=$!
    done
    wait_for 30 etcd_leader_member >/dev/null \
        || fail "the etcd cluster elected no leader"
}

# Prints the endpoints of the live etcd members, comma-separated.
etcd_endpoints() {
    local i out=""
    for i in 1 2 3; do
        [ -n "${ETCD_PID[$i]:-}" ] \
            && out+="${out:+,}127.0.0.1:${ETCD_CLIENT[$i]}"
    done
    echo "$out"
}

# Prints the number (1..3) of the etcd member that leads.
etcd_leader_member() {
    local i status
    for i in 1 2 3; do
        [ -n "${ETCD_PID[$i]:-}" ] || continue
        status=$(ETCDCTL_API=3 etcdctl --endpoints \
            "127.0.0.1:${ETCD_CLIENT[$i]}" endpoint status -w json \
            2>/dev/null) || continue
        if [ "$(jq '.[0].Status.leader' <<<"$status")" \
            = "$(jq '.[0].Status.header.member_id' <<<"$status")" ]; then
            echo "$i"
            return 0
        fi
    done
    return 1
}

# Starts controller "i" on the etcd store and waits until it is ready.
controller_start() {
    local i=$1
    "$FABRIC_CONTROLLER_BIN" --listen "$CTL:${CTL_PORT[$i]}" \
        --store "etcd://$(etcd_endpoints)/$FAB_PREFIX" \
        --storage "$FAB_TMP/storage" --heartbeat-timeout "$HB_TIMEOUT" \
        --bootstrap-token-file "$FAB_TMP/admin$i.token" \
        </dev/null >>"$FAB_TMP/controller$i.log" 2>&1 &
    CTL_PID[$i]=$!
    wait_for 30 curl -sf "$(ctl_url "$i")/readyz" >/dev/null 2>&1 \
        || fail "controller C$i did not become ready"
}

# fabricctl as the admin through controller "i" alone.
ctl_at() {
    local i=$1
    shift
    "$FABRICCTL" --controller "$(ctl_url "$i")" \
        --token-file "$FABRIC_TOKEN_FILE" "$@"
}

# Prints the leader controller's number (1..3), as controller "i" says.
leader_as_seen_by() {
    local url
    url=$(ctl_at "$1" -o json status 2>/dev/null \
        | jq -r '.status.leaders.leader // empty') || return 1
    for i in 1 2 3; do
        [ "$url" = "$(ctl_url "$i")" ] && { echo "$i"; return 0; }
    done
    return 1
}

# Creates networks ack-1, ack-2... through fabricctl with every
# controller's URL, one after another until killed, and appends the name
# of each one acknowledged to $ACKED.
writer() {
    local n=0 third
    while :; do
        n=$((n + 1))
        third=$(( (n / 250) % 250 ))
        if fabctl --timeout 10 network create "ack-$n" \
            --cidr "10.$((100 + n % 100)).$third.0/24" >/dev/null 2>&1; then
            echo "ack-$n" >>"$ACKED"
        fi
        sleep 0.1
    done
}

# Fails unless every acknowledged network reads back through every live
# controller.
check_acked() {
    local i missing
    [ -s "$ACKED" ] || fail "no write was acknowledged"
    for i in 1 2 3; do
        [ -n "${CTL_PID[$i]:-}" ] || continue
        missing=$(comm -23 <(sort -u "$ACKED") \
            <(ctl_at "$i" -o json network list | jq -r '.[].name' | sort -u))
        [ -z "$missing" ] \
            || fail "C$i lost acknowledged network(s): ${missing//$'\n'/ }"
    done
    say "all $(wc -l <"$ACKED") acknowledged writes read back through every live controller"
}

# Prints how many writes were acknowledged so far.
acked_count() {
    wc -l <"$ACKED" 2>/dev/null || echo 0
}

# Succeeds if more than "n" writes were acknowledged.
acked_more() {
    [ "$(acked_count)" -gt "$1" ]
}

# Waits until writes are acknowledged again after a fault.
writes_resume() {
    local before
    before=$(acked_count)
    wait_for 30 acked_more "$((before + 2))" || fail "writes did not resume"
}

# Creates port "vm" (vmXN) through controller "i" on host X in blue, and
# the VM namespace with its address, then waits until the port is up.
port_through() {
    local i=$1 vm=$2 json
    json=$(ctl_at "$i" -o json port create "${vm,,}" --network blue \
        --host "$(fab_api_host "${vm:2:1}")" --device "$vm-h")
    fab_vm "$vm" blue "$(jq -r .ip <<<"$json")" "$(jq -r .mac <<<"$json")"
    wait_for 30 port_up "${vm,,}" || fail "port ${vm,,} never came up"
}

port_up() {
    [ "$(fabctl -o json port show "$1" 2>/dev/null | jq -r .status)" = up ]
}

# Succeeds if controller "i" shows hosts A and B ready, each heard from
# at or after epoch second "since".
hosts_ready_since() {
    ctl_at "$1" -o json host list 2>/dev/null | jq -e --argjson t "$2" '
        [.[] | select(.status == "ready"
                      and (.last_heartbeat | fromdateiso8601) >= $t)]
        | length == 2' >/dev/null
}

# Fails if host "X"'s agent fetched its whole document more than once.
no_full_resync() {
    local n
    n=$(grep -c "(whole document)" "$(fab_agent_log "$1")" || true)
    [ "$n" -le 1 ] || fail "host $1 fetched its whole document $n times"
}

fab_underlay
fab_host A
fab_host B
fab_network blue 1000
fab_control_network

say "a 3-member etcd cluster and 3 controllers on it"
etcd_start
controller_start 1
# The first made the bootstrap token; the others find tokens in the store.
export FABRIC_TOKEN_FILE=$FAB_TMP/admin1.token
controller_start 2
controller_start 3
FABRIC_CONTROLLER="$(ctl_url 1),$(ctl_url 2),$(ctl_url 3)"
export FABRIC_CONTROLLER
ctl_at 2 -o json status | jq -e '.status.store.backend == "etcd"' >/dev/null \
    || fail "C2 does not say it is on etcd"

say "created through C1, read through C2"
ctl_at 1 network create blue --cidr 10.0.0.0/24 >/dev/null
wait_for 10 ctl_at 2 network show blue >/dev/null 2>&1 \
    || fail "C2 does not see network blue created through C1"

fab_agent_start_controlled A --heartbeat-interval 1
fab_agent_start_controlled B --heartbeat-interval 1
port_through 3 vmA1
port_through 2 vmB1
fab_agent_wait A 20
fab_agent_wait B 20
assert_ping_ok vmA1 "${FAB_VM_IP[vmB1]}"
in_ns_bg vmA1 ping -i 0.05 -W 1 "${FAB_VM_IP[vmB1]}" >"$FAB_TMP/ping.log" 2>&1
PING_PID=$!
: >"$ACKED"
writer &
WRITER_PID=$!
writes_resume
check_acked

say "the leader controller is killed"
leader=$(leader_as_seen_by 1) || fail "no leader in C1's status"
killed_at=$(date +%s)
kill -KILL "${CTL_PID[$leader]}"
wait "${CTL_PID[$leader]}" 2>/dev/null || true
CTL_PID[$leader]=
t0=$SECONDS
others=()
for i in 1 2 3; do [ -n "${CTL_PID[$i]}" ] && others+=("$i"); done
new_leader_elected() {
    local i l
    for i in "${others[@]}"; do
        l=$(leader_as_seen_by "$i") || return 1
        [ "$l" != "$leader" ] || return 1
    done
}
wait_for 20 new_leader_elected \
    || fail "no other controller leads 20 s after the leader C$leader died"
new=$(leader_as_seen_by "${others[0]}")
say "C$new leads $((SECONDS - t0)) s after C$leader was killed (leader-lease 3 s)"
for i in "${others[@]}"; do
    [ "$i" != "$new" ] && follower=$i
done
# The heartbeat monitor moved: hosts stay ready, heard from after the kill
# (past the heartbeat timeout), as the controller that does not lead shows
# from the liveness the new leader publishes.
sleep "$HB_TIMEOUT"
wait_for 20 hosts_ready_since "$follower" "$killed_at" \
    || fail "C$follower does not show both hosts ready with heartbeats after the kill: $(ctl_at "$follower" -o json host list)"
writes_resume
check_acked
port_through "$follower" vmA2
fab_agent_wait A 20
assert_ping_ok vmA2 "${FAB_VM_IP[vmB1]}"
no_full_resync A
no_full_resync B

say "the etcd leader member is killed"
member=$(etcd_leader_member) || fail "no etcd leader"
kill -KILL "${ETCD_PID[$member]}"
wait "${ETCD_PID[$member]}" 2>/dev/null || true
ETCD_PID[$member]=
writes_resume
check_acked
port_through "$new" vmB2
fab_agent_wait B 20
assert_ping_ok vmB2 "${FAB_VM_IP[vmA1]}"

say "the pings crossed both faults"
kill -INT "$PING_PID"
wait "$PING_PID" 2>/dev/null || true
PING_PID=
kill "$WRITER_PID"
wait "$WRITER_PID" 2>/dev/null || true
WRITER_PID=
check_acked
loss=$(grep -o '[0-9.]*% packet loss' "$FAB_TMP/ping.log" | cut -d% -f1)
sent=$(grep -o '^[0-9]* packets transmitted' "$FAB_TMP/ping.log" | cut -d' ' -f1)
[ -n "$loss" ] || fail "no ping summary: $(tail -3 "$FAB_TMP/ping.log")"
say "vmA1 -> vmB1: $sent pings, $loss% lost"
awk -v l="$loss" 'BEGIN { exit !(l <= 1) }' \
    || fail "vmA1 lost $loss% of its pings to vmB1 across the faults"
say "PASS"

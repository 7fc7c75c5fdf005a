#!/bin/bash
# fabric-agent with a list of controllers (doc/replication.md, "Clients").
#
#   the control network: controllers A and B at 198.18.N.254, ports of
#                        their own, and a port where nothing listens
#   host A (host-a):     vmA1, later vmA2
#
# The agent's "controller" setting lists the port where nothing listens,
# then A, then B.  A's store is held locked by another process, so A
# answers the agent's registration 503 after its busy timeout: the agent
# registers with B, gets its port from B and reports it up there, and
# stays with B once A's store is free again (A never hears of the host).
# Then B is killed: the agent's long poll breaks, it moves to A, registers
# there (A's store has no such host), reports its port up, and a port
# created through A reaches its datapath.  Bad lists are refused at
# start.
#
# A and B have stores of their own, copies of one with the same tokens
# (SQLite serves one controller): what is checked is the HTTP fail-over.
# tests/integration/replication.sh checks it over one etcd store, where
# the watch resumes from its revision on another replica.
#
# Needs root, the agent, the controller and fabricctl built, jq, curl and
# python3 (whose sqlite3 holds A's store locked).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd curl jq python3
[ -x "$FABRIC_CONTROLLER_BIN" ] || fail "$FABRIC_CONTROLLER_BIN not built"
unset FABRIC_CONTROLLER FABRIC_TOKEN FABRIC_TOKEN_FILE FABRIC_CACERT

CTL=$FAB_CONTROL_NET.254
PORT_A=9470
PORT_B=9480
PORT_DOWN=9490
URL_A=http://$CTL:$PORT_A
URL_B=http://$CTL:$PORT_B
URL_DOWN=http://$CTL:$PORT_DOWN
declare -A CTL_PID=()
LOCK_PID=

# Starts controller "X" (A or B) on its store $FAB_TMP/X.db and port and
# waits until it is ready.
controller_start() {
    local x=$1 port url
    port=$([ "$x" = A ] && echo $PORT_A || echo $PORT_B)
    url=http://$CTL:$port
    echo "=== start $(date +%T.%N)" >>"$FAB_TMP/controller$x.log"
    "$FABRIC_CONTROLLER_BIN" --listen "$CTL:$port" --db "$FAB_TMP/$x.db" \
        --storage "$FAB_TMP/storage" \
        --bootstrap-token-file "$FAB_TMP/admin.token" \
        </dev/null >>"$FAB_TMP/controller$x.log" 2>&1 &
    CTL_PID[$x]=$!
    for _ in $(seq 100); do
        curl -sf "$url/readyz" >/dev/null 2>&1 && return 0
        kill -0 "${CTL_PID[$x]}" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$FAB_TMP/controller$x.log" >&2
    fail "controller $x did not become ready"
}

controller_kill() {
    kill -KILL "${CTL_PID[$1]}" 2>/dev/null || true
    wait "${CTL_PID[$1]}" 2>/dev/null || true
    CTL_PID[$1]=
}

cleanup() {
    local rc=$? x
    for x in "${!CTL_PID[@]}"; do
        [ -n "${CTL_PID[$x]}" ] && kill "${CTL_PID[$x]}" 2>/dev/null
    done
    [ -z "$LOCK_PID" ] || kill "$LOCK_PID" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        for x in A B; do
            echo "=== controller $x" >&2
            tail -n 15 "$FAB_TMP/controller$x.log" >&2 || true
        done
    fi
    (exit "$rc")
    fab_cleanup
}
trap cleanup EXIT

# fabricctl as the admin, against controller "X".
ctl() {
    local x=$1
    shift
    "$FABRICCTL" --controller "$([ "$x" = A ] && echo "$URL_A" || echo "$URL_B")" \
        --token-file "$FAB_TMP/admin.token" "$@"
}

# Succeeds if controller "X" lists host-a as ready.
host_ready_at() {
    ctl "$1" -o json host list 2>/dev/null \
        | jq -e 'any(.[]; .name == "host-a" and .status == "ready")' >/dev/null
}

# Succeeds if controller "X" reports port "name" up.
port_up_at() {
    [ "$(ctl "$1" -o json port show "$2" 2>/dev/null | jq -r .status)" = up ]
}

fab_underlay
fab_host A
fab_network blue 1000 # The VNI the controller allocates first.
fab_control_network

say "bad controller lists are refused at start"
for bad in "$URL_A,,$URL_B" "$URL_A,$URL_A/" "$URL_A,ftp://x"; do
    if out=$(fab_agent_cmd A --controller "$bad" --host host-a \
        --underlay ul0 2>&1); then
        fail "the agent took --controller $bad"
    fi
    grep -Eq "controller \"$bad\": (item 2 is empty|\"http://[^\"]*\" is given twice|\"ftp://x\": expected)" <<<"$out" \
        || fail "--controller $bad: $out"
done

say "one store, copied for A and B: the same tokens, network and port"
controller_start A
ctl A -o json token create host-a-agent --role agent --host host-a \
    | jq -r .token >"$FAB_TMP/hostA.token"
ctl A network create blue --cidr 10.0.0.0/24 >/dev/null
json=$(ctl A -o json port create vma1 --network blue --host host-a \
    --device vmA1-h)
fab_vm vmA1 blue "$(jq -r .ip <<<"$json")" "$(jq -r .mac <<<"$json")"
kill -TERM "${CTL_PID[A]}"
wait "${CTL_PID[A]}" 2>/dev/null || true
cp "$FAB_TMP/A.db" "$FAB_TMP/B.db"
# The WAL too: a stopped controller may leave commits in it.
[ ! -e "$FAB_TMP/A.db-wal" ] || cp "$FAB_TMP/A.db-wal" "$FAB_TMP/B.db-wal"
controller_start A
controller_start B

say "A answers 503 (its store is locked): the agent registers with B"
fab_sqlite_lock "$FAB_TMP/A.db"
fab_agent_spawn A --controller "$URL_DOWN,$URL_A,$URL_B" \
    --token-file "$FAB_TMP/hostA.token" --host host-a --underlay ul0 \
    --state-cache "$FAB_TMP/hostA-state.json" --heartbeat-interval 1
wait_for 30 host_ready_at B || fail "host-a never became ready at B"
wait_for 15 port_up_at B vma1 || fail "vma1 never came up at B"
fab_agent_wait A 10
log=$(fab_agent_log A)
grep -q "controller $URL_DOWN: POST /v1/hosts: .*; trying $URL_A" "$log" \
    || fail "the agent did not say it left $URL_DOWN"
grep -q "controller $URL_A: POST /v1/hosts: 503 unavailable; trying $URL_B" "$log" \
    || fail "the agent did not say A answered 503"

say "A's store is free again: the agent stays with B, which answers"
kill "$LOCK_PID"
wait "$LOCK_PID" 2>/dev/null || true
LOCK_PID=
sleep 4 # Heartbeats every second, and the long poll, all go to B.
if ctl A host show host-a >/dev/null 2>&1; then
    fail "host-a registered at A too: the agent did not stay with B"
fi
host_ready_at B || fail "host-a is no longer ready at B"

say "B is killed: the agent moves to A and registers there"
skip_lines=$(wc -l <"$log")
controller_kill B
wait_for 30 host_ready_at A || fail "host-a never became ready at A"
wait_for 15 port_up_at A vma1 || fail "vma1 never came up at A"
tail -n +"$skip_lines" "$log" | grep -q "trying $URL_DOWN\|trying $URL_A" \
    || fail "the agent did not say it left B"

say "a port created through A reaches the agent's datapath"
json=$(ctl A -o json port create vma2 --network blue --host host-a \
    --device vmA2-h)
fab_vm vmA2 blue "$(jq -r .ip <<<"$json")" "$(jq -r .mac <<<"$json")"
fab_agent_wait A 15
wait_for 15 port_up_at A vma2 || fail "vma2 never came up at A"
in_ns vmA1 ping -c 1 -W 2 "$(jq -r .ip <<<"$json")" >/dev/null \
    || fail "vmA1 cannot ping vmA2"
say "PASS"

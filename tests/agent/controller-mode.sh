#!/bin/bash
# fabric-agent in controller mode, against a real fabric-controller.
#
#   underlay bridge: the controller at 192.168.100.254:9470 (fabricctl
#                    talks to it from the underlay namespace)
#   host A (host-a): vmA1
#   host B (host-b): vmB1, later vmB2
#
# The operator creates agent tokens, a network and ports with fabricctl;
# the agents register their hosts, program the ports they are given and
# report them up.  Then the controller is killed: traffic flows on, an
# agent restarted meanwhile programs itself from its state cache without
# losing a packet, and when the controller comes back on the same
# database a change made there reaches the agents.  An agent restarted
# under a steady ping loses nothing; a VM whose device disappears is
# reported down, and up again with a new one; a deleted port becomes
# unreachable; the controller refuses a network MTU or a port that a
# host's underlay cannot carry; a host whose underlay shrinks leaves out
# the network that no longer fits, applies every other change, and the
# controller and fabricctl status show why, until it fits again; an agent
# with a wrong token logs the refusal, keeps forwarding from its cache, and
# recovers once the token is fixed and it gets SIGHUP.
#
# Needs root, the agent, the controller and fabricctl built, jq and curl;
# dumpcap, tshark, node and the OpenAPI validators to check every answer of
# the controller (captured, so that agents keep their own addresses)
# against controller/openapi.json.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

FABRICCTL=${FABRICCTL:-$top_builddir/cli/fabricctl}
CONTROLLER=${CONTROLLER:-$top_builddir/controller/fabric-controller}
CTL_IP=192.168.100.254
CTL_PORT=9470
CTL_URL=http://$CTL_IP:$CTL_PORT
METRICS=127.0.0.1:9471         # In each host's namespace.

fab_setup
require_cmd curl
# Every answer the controller gives is held against controller/openapi.json.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/openapi.sh"
openapi_require
require_cmd dumpcap tshark
[ -x "$CONTROLLER" ] || fail "$CONTROLLER not built: run \"make\" first"
[ -x "$FABRICCTL" ] || fail "$FABRICCTL not built: run \"make\" first"

# Nothing from the caller's environment may steer fabricctl or the agents.
unset FABRIC_CONTROLLER FABRIC_TOKEN FABRIC_TOKEN_FILE FABRIC_CACERT

CTL_DIR=$FAB_TMP/controller
CTL_LOG=$FAB_TMP/controller.log
CTL_PID=
mkdir -p "$CTL_DIR"
: >"$CTL_DIR/controller.conf"  # Whatever /etc/fabric holds stays out.

# ---------------------------------------------------------------------------
# Helpers.

# Starts the controller in the underlay namespace on its database and
# waits until it answers.
controller_start() {
    echo "=== start $(date +%T.%N)" >>"$CTL_LOG"
    in_ns_bg ul "$CONTROLLER" --config "$CTL_DIR/controller.conf" \
        --db "$CTL_DIR/db" --listen "0.0.0.0:$CTL_PORT" \
        --bootstrap-token-file "$CTL_DIR/admin.token" \
        </dev/null >>"$CTL_LOG" 2>&1
    CTL_PID=$!
    for _ in $(seq 100); do
        kill -0 "$CTL_PID" 2>/dev/null \
            || { tail -n 20 "$CTL_LOG" >&2; fail "the controller exited"; }
        if [ -s "$CTL_DIR/admin.token" ] \
            && in_ns ul curl -sf "http://127.0.0.1:$CTL_PORT/readyz" \
                >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    fail "the controller did not become ready within 10 s"
}

# Kills the controller outright, as a crash would.
controller_kill() {
    kill -KILL "$CTL_PID"
    wait "$CTL_PID" 2>/dev/null || true
    CTL_PID=
}

# Runs fabricctl "args..." as the admin, from the underlay namespace.
ctl() {
    in_ns ul "$FABRICCTL" --controller "http://127.0.0.1:$CTL_PORT" \
        --token-file "$CTL_DIR/admin.token" "$@"
}

# Prints host "X"'s fabric name: host-a, host-b...
host_name() {
    echo "host-$(echo "$1" | tr '[:upper:]' '[:lower:]')"
}

# Writes host "X"'s agent configuration file.
agent_conf() {
    local host=$1
    cat >"$FAB_TMP/host$host.conf" <<EOF
# fabric-agent of host $host, in controller mode.
controller = $CTL_URL
token-file = $FAB_TMP/host$host.token
host = $(host_name "$host")
underlay = ul0   # The VTEP is taken from its address.
state-cache = $FAB_TMP/host$host.cache.json
metrics = $METRICS
heartbeat-interval = 1
log-level = debug
EOF
}

# Starts host "X"'s agent in controller mode from its configuration file,
# with the machine's BPF filesystem (nsenter, not "ip netns exec"), under
# umask 000: what it creates must not be readable by everyone all the same.
agent_start() {
    local host=$1 pidfile log
    pidfile=$(fab_agent_pidfile "$host")
    log=$(fab_agent_log "$host")
    rm -f "$pidfile"
    echo "=== start $(date +%T.%N)" >>"$log"
    (umask 000 && in_host "$host" "$FABRIC_AGENT" -c "$FAB_TMP/host$host.conf" \
        -i "$(fab_instance "$host")" --pidfile "$pidfile" \
        </dev/null >>"$log" 2>&1) &
    local pid=$!
    # The pidfile comes after the BPF programs are loaded, which takes
    # seconds on a loaded machine: wait as long as the agent lives.
    for _ in $(seq 300); do
        [ -s "$pidfile" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$log" >&2
    fail "agent of host $host did not start"
}

# Succeeds if the controller lists host "name" as ready.
host_ready() {
    ctl -o json host list 2>/dev/null \
        | jq -e --arg n "$1" 'any(.[]; .name == $n and .status == "ready")' \
            >/dev/null
}

# Succeeds if the controller has host "name"'s underlay MTU as "mtu".
host_underlay_mtu_is() {
    [ "$(ctl -o json host show "$1" 2>/dev/null | jq .limits.underlay_mtu)" = "$2" ]
}

# Succeeds if the controller reports port "name" with status "status".
port_status_is() {
    [ "$(ctl -o json port show "$1" 2>/dev/null | jq -r .status)" = "$2" ]
}

# Creates port "name" on host "X" for VM "vm" (device "vm-h") in
# network blue, lets the controller allocate its MAC and IP, and builds
# the VM with them.  Prints nothing; sets PORT_IP.
port_create() {
    local name=$1 host=$2 vm=$3 json
    json=$(ctl -o json port create "$name" --network blue \
        --host "$(host_name "$host")" --device "$vm-h") \
        || fail "fabricctl port create $name failed"
    PORT_IP=$(jq -r .ip <<<"$json")
    fab_vm "$vm" blue "$PORT_IP" "$(jq -r .mac <<<"$json")"
}

# Prints the value of metric line "sample" (name and labels) of host
# "X"'s agent.
metric() {
    in_host "$1" curl -sf "http://$METRICS/metrics" \
        | awk -v s="$2" '$1 == s { print $2 }'
}

# Milliseconds since the epoch of a log line's timestamp "stamp"
# (2026-01-01T00:00:00.000Z) or of "now".
epoch_ms() {
    date -u -d "${1:-now}" +%s%3N
}

# Waits until host "X"'s log has a line matching "re" after line "skip";
# prints the first such line.
log_wait() {
    local host=$1 skip=$2 re=$3 line
    for _ in $(seq 100); do
        line=$(tail -n +"$(( skip + 1 ))" "$(fab_agent_log "$host")" \
            | grep -E -m1 -- "$re" || true)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        sleep 0.1
    done
    fail "host $host logged nothing matching /$re/"
}

log_lines() {
    wc -l <"$(fab_agent_log "$1")"
}

# Starts "count" pings from vmA1 to "ip", 10 ms apart, in the background.
steady_ping_start() {
    STEADY_LOG=$FAB_TMP/steady.log
    in_ns_bg vmA1 ping -i 0.01 -W 2 -c "$2" "$1" >"$STEADY_LOG" 2>&1
    STEADY_PID=$!
}

# Waits for the steady ping and fails unless every ping was answered.
steady_ping_check() {
    local summary
    wait "$STEADY_PID" || true
    summary=$(grep 'packets transmitted' "$STEADY_LOG") \
        || fail "steady ping printed no summary: $(tail -n 3 "$STEADY_LOG")"
    say "steady ping: $summary"
    [[ $summary =~ ^([0-9]+)\ packets\ transmitted,\ ([0-9]+)\ received ]] \
        || fail "cannot parse ping summary: $summary"
    if [ "${BASH_REMATCH[1]}" -eq 0 ] \
        || [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]; then
        fail "steady ping lost packets: $summary"
    fi
}

# ---------------------------------------------------------------------------
say "a controller on the underlay, two hosts"

fab_underlay
ip -n "$(fab_ns ul)" addr add "$CTL_IP/24" dev br0
fab_host A
fab_host B
openapi_capture_start ul "$CTL_PORT" "$FAB_TMP/controller.pcapng"
controller_start

for host in A B; do
    ctl -o json token create "agent-$(host_name "$host")" --role agent \
        --host "$(host_name "$host")" | jq -r .token >"$FAB_TMP/host$host.token"
    [ -s "$FAB_TMP/host$host.token" ] || fail "no token for host $host"
    agent_conf "$host"
done

say "the agents register their hosts"

t0=$(epoch_ms)
agent_start A
agent_start B
for host in A B; do
    wait_for 10 host_ready "$(host_name "$host")" \
        || fail "host $host did not register as ready"
    line=$(log_wait "$host" 0 'desired state revision [0-9]+ .*reconciled')
    say "host $host: start -> first reconciliation: $(( $(epoch_ms "${line%% *}") - t0 )) ms"
done
ctl -o json host show host-a | jq -e '.vtep == "192.168.100.1"
    and .underlay == "ul0" and .capacity.vcpus >= 1' >/dev/null \
    || fail "host-a registered with the wrong settings: $(ctl -o json host show host-a)"
in_host A curl -sf "http://$METRICS/readyz" >/dev/null \
    || fail "host A's agent is not ready after its first reconciliation"
flows_log=$FAB_TMP/flows-$(fab_instance A).log
[ -f "$flows_log" ] || fail "host A's agent made no local flow log $flows_log"
[ "$(stat -c %a "$flows_log")" = 640 ] \
    || fail "$flows_log is mode $(stat -c %a "$flows_log") under umask 000, not 640"

say "a network and a port per host: ping across hosts"

vni=$(ctl -o json network create blue --cidr 10.0.0.0/24 | jq -r .vni)
fab_network blue "$vni"
port_create vm-a1 A vmA1
ipA1=$PORT_IP
skipB=$(log_lines B)
t0=$(epoch_ms)
port_create vm-b1 B vmB1
ipB1=$PORT_IP
line=$(log_wait B "$skipB" 'desired state revision [0-9]+ .*reconciled')
say "host B: port create -> reconciled: $(( $(epoch_ms "${line%% *}") - t0 )) ms (${line##*reconciled })"
assert_ping_ok vmA1 "$ipB1"
assert_ping_ok vmB1 "$ipA1"
for port in vm-a1 vm-b1; do
    wait_for 10 port_status_is "$port" up \
        || fail "port $port is not up: $(ctl -o json port show "$port")"
done
ctl -o json port list | jq -e 'all(.[]; .status == "up")' >/dev/null \
    || fail "port list: not every port is up"

say "metrics: counters, connection, revision"

[ "$(metric A 'fabric_agent_port_rx_packets_total{port="vm-a1"}')" -gt 0 ] \
    || fail "no rx packets counted for vm-a1"
[ "$(metric A fabric_agent_controller_connected)" = 1 ] \
    || fail "host A's agent does not count itself connected"
[ "$(metric A fabric_agent_desired_revision)" -gt 0 ] \
    || fail "host A's agent shows no desired revision"
in_host A curl -sf "http://$METRICS/healthz" | grep -q '^ok$' \
    || fail "/healthz does not answer ok"

# The agent reports its ports' counters with its heartbeats, and the
# controller answers them (the web console's traffic charts).
port_traffic_counted() {
    in_ns ul curl -sf -H "Authorization: Bearer $(cat "$CTL_DIR/admin.token")" \
        "http://127.0.0.1:$CTL_PORT/v1/ports/vm-a1/traffic" \
        | jq -e '.host == "host-a" and .rx_packets > 0 and .tx_packets > 0' \
            >/dev/null
}
wait_for 10 port_traffic_counted \
    || fail "the controller has no traffic of vm-a1 from host A's heartbeats"

say "the controller dies: traffic flows on, a restarted agent loses nothing"

steady_ping_start "$ipB1" 500
sleep 0.5
skipA=$(log_lines A)
controller_kill
log_wait A "$skipA" 'controller unreachable' >/dev/null
# An agent that starts while the controller is away programs itself from
# its state cache.
fab_agent_stop A
agent_start A
log_wait A "$skipA" 'started from the state cache' >/dev/null
steady_ping_check
[ "$(metric A fabric_agent_controller_connected)" = 0 ] \
    || fail "host A's agent counts itself connected to a dead controller"
[ "$(metric A fabric_agent_desired_revision)" -gt 0 ] \
    || fail "host A's agent lost its revision with the controller away"

say "the controller returns on the same database: state kept, changes flow"

skipA=$(log_lines A)
skipB=$(log_lines B)
controller_start
log_wait A "$skipA" 'controller reachable again|registered host' >/dev/null
log_wait B "$skipB" 'controller reachable again|registered host' >/dev/null
for host in A B; do
    wait_for 10 host_ready "$(host_name "$host")" \
        || fail "host $host is not ready after the controller returned"
done
assert_ping_ok vmA1 "$ipB1"
[ "$(ctl -o json port show vm-b1 | jq -r .status)" = up ] \
    || fail "vm-b1 is not up after the controller returned"
port_create vm-b2 B vmB2
ipB2=$PORT_IP
assert_ping_ok vmA1 "$ipB2"
wait_for 10 port_status_is vm-b2 up || fail "port vm-b2 did not come up"

say "an agent restarted under a steady ping loses nothing"

steady_ping_start "$ipB1" 300
sleep 0.5
skipB=$(log_lines B)
fab_agent_stop B
agent_start B
log_wait B "$skipB" 'registered host' >/dev/null
steady_ping_check
assert_ping_ok vmA1 "$ipB2"

say "a VM whose device goes away is down; a deleted port is unreachable"

ip -n "$(fab_ns hostB)" link del vmB2-h
wait_for 10 port_status_is vm-b2 down \
    || fail "port vm-b2 is not down without its device: $(ctl -o json port show vm-b2)"
ip link add eth0 netns "$(fab_ns vmB2)" mtu 1450 \
    address "${FAB_VM_MAC[vmB2]}" type veth peer name vmB2-h \
    netns "$(fab_ns hostB)" mtu 1450
ip -n "$(fab_ns vmB2)" addr add "$ipB2/24" dev eth0
ip -n "$(fab_ns vmB2)" link set eth0 up
wait_for 10 port_status_is vm-b2 up \
    || fail "port vm-b2 is not up again with a new device"
assert_ping_ok vmA1 "$ipB2"
skipB=$(log_lines B)
ctl port delete vm-b2 >/dev/null
log_wait B "$skipB" 'desired state revision [0-9]+ .*reconciled' >/dev/null
assert_ping_fails vmA1 "$ipB2"
assert_ping_ok vmA1 "$ipB1"

say "the controller refuses what a host's underlay cannot carry"

# Host A's underlay has 1500 bytes: 1450 with VXLAN, not 9000.
ctl network create jumbo --cidr 10.9.0.0/24 --mtu 9000 >/dev/null
rev=$(metric A fabric_agent_desired_revision)
out=$(ctl port create big --network jumbo --host host-a --device big-h 2>&1) \
    && fail "a port in a network host A cannot carry was accepted"
grep -qF 'host "host-a" cannot carry network "jumbo": its mtu 9000 plus 50 bytes of VXLAN overhead is 9050, more than the underlay MTU 1500 of "host-a"' <<<"$out" \
    || fail "port create big: unexpected refusal: $out"
out=$(ctl network update blue --mtu 9000 2>&1) \
    && fail "an MTU the hosts of blue cannot carry was accepted"
grep -qF 'cannot carry network "blue": its mtu 9000' <<<"$out" \
    || fail "network update blue: unexpected refusal: $out"
[ "$(ctl -o json network show blue | jq .mtu)" = 1450 ] \
    || fail "the refused MTU changed network blue"
assert_ping_ok vmA1 "$ipB1"
[ "$(metric A fabric_agent_desired_revision)" = "$rev" ] \
    || fail "a refused change reached host A"

say "an underlay that shrinks: what no longer fits is left out, the rest applies"

skipA=$(log_lines A)
in_host A ip link set dev ul0 mtu 1400
log_wait A "$skipA" 'network "blue" left out, the rest applies: mtu: 1450 is larger than 1350, the MTU of underlay "ul0" \(1400\)' >/dev/null
log_wait A "$skipA" 'port "vm-a1" left out, the rest applies: network "blue" is left out' >/dev/null
wait_for 10 port_status_is vm-a1 refused \
    || fail "port vm-a1 is not refused: $(ctl -o json port show vm-a1)"
[ "$(metric A 'fabric_agent_desired_left_out{kind="network"}')" = 1 ] \
    && [ "$(metric A 'fabric_agent_desired_left_out{kind="port"}')" = 1 ] \
    || fail "host A's metrics do not count what it left out"
ctl -o json port show vm-a1 | jq -e '.status_reason
    | startswith("network \"blue\" is left out: mtu: 1450 is larger than 1350")' \
    >/dev/null || fail "vm-a1 has no reason: $(ctl -o json port show vm-a1)"
ctl -o json host show host-a | jq -e '.status == "degraded"
    and any(.conditions[]; .kind == "network" and .name == "blue")' \
    >/dev/null || fail "host-a shows no condition: $(ctl -o json host show host-a)"
# The next heartbeat tells the controller the new underlay MTU.
wait_for 10 host_underlay_mtu_is host-a 1400 \
    || fail "host-a's limits: $(ctl -o json host show host-a)"
status_out=$(ctl status)
grep -Eq '^Hosts: +2 \(2 ready, of which 1 degraded; 0 unreachable\)$' \
    <<<"$status_out" || fail "fabricctl status: $status_out"
grep -Eq '^Ports: +.* 1 refused\)$' <<<"$status_out" \
    || fail "fabricctl status counts no refused port: $status_out"
grep -Eq '^host-a +network +blue +mtu: 1450 is larger than 1350' \
    <<<"$status_out" || fail "fabricctl status shows no condition: $status_out"
grep -Eq '^vm-a1 +blue +host-a +refused +network "blue" is left out' \
    <<<"$status_out" || fail "fabricctl status: vm-a1 not refused: $status_out"
# Host B, and the rest of host A, go on; later changes still apply on A.
assert_ping_ok vmB1 "$ipB1"
ctl network create small --cidr 10.8.0.0/24 --mtu 1300 >/dev/null
ctl port create tiny --network small --host host-a --device tiny-h >/dev/null
wait_for 10 port_status_is tiny down \
    || fail "host A took no change after leaving blue out: $(ctl -o json port show tiny)"
[ "$(metric A fabric_agent_desired_revision)" -gt "$rev" ] \
    || fail "host A's agent is stuck at revision $rev"
# Its heartbeats told the controller: blue is no longer placed on A.
out=$(ctl port create vm-a9 --network blue --host host-a 2>&1) \
    && fail "a blue port was placed on host A's shrunk underlay"
grep -qF 'more than the underlay MTU 1400 of "host-a"' <<<"$out" \
    || fail "port create vm-a9: unexpected refusal: $out"

say "the underlay back to 1500: the network comes back"

in_host A ip link set dev ul0 mtu 1500
wait_for 10 port_status_is vm-a1 up \
    || fail "port vm-a1 did not come back: $(ctl -o json port show vm-a1)"
wait_for 10 host_ready host-a || fail "host-a is still $(ctl -o json host show host-a)"
[ "$(metric A 'fabric_agent_desired_left_out{kind="network"}')" = 0 ] \
    || fail "host A's metrics still count a network left out"
assert_ping_ok vmA1 "$ipB1"
ctl port delete tiny >/dev/null
ctl network delete small >/dev/null
ctl network delete jumbo >/dev/null

say "a wrong token: the refusal is logged, the datapath kept"

fab_agent_stop B
cp "$FAB_TMP/hostB.token" "$FAB_TMP/hostB.token.good"
echo "not-a-token" >"$FAB_TMP/hostB.token"
skipB=$(log_lines B)
agent_start B
log_wait B "$skipB" 'controller refused the agent: .*401' >/dev/null
assert_ping_ok vmA1 "$ipB1"
[ -n "$(fab_agent_pid B)" ] || fail "the agent with a wrong token exited"

say "the token fixed and SIGHUP: the agent is back"

mv "$FAB_TMP/hostB.token.good" "$FAB_TMP/hostB.token"
fab_agent_hup B
log_wait B "$skipB" 'registered host' >/dev/null
assert_ping_ok vmA1 "$ipB1"

say "SIGTERM stops an agent promptly, the datapath stays"

start=$(epoch_ms)
fab_agent_stop A
say "agent A stopped in $(( $(epoch_ms) - start )) ms"
assert_ping_ok vmA1 "$ipB1"

say "every answer the controller gave conforms to controller/openapi.json"

openapi_capture_conforms

#!/bin/bash
# The agent can go away, come back and change its mind without costing a
# packet; a broken document changes nothing, and a bad port in a good one
# is all that is left out.
#
#   host A: vmA1 blue 10.0.0.1
#   host B: vmB1 blue 10.0.0.2   vmB2 blue 10.0.0.3
#
# 1. A steady ping vmA1 -> vmB1 (100 a second, for some 30 s) runs while
#    the agents of both hosts are stopped with SIGTERM and started again,
#    one at a time and together, over and over: not one packet may be
#    lost.  With no agent running at all, traffic still flows.
# 2. SIGHUP with vmB2 removed from B's document: vmB2 becomes unreachable.
# 3. SIGHUP with a broken document (bad JSON): refused, the agent keeps
#    running with its old state, so vmB2 stays unreachable and vmB1
#    reachable.  Then SIGHUP with vmB2 back next to an invalid port: the
#    invalid port is left out (and logged), vmB2 is reachable again.
# 4. SIGHUP with the invalid port gone: nothing else changes.
# A second steady ping covers 2-4 and must not lose a packet either.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1
fab_vm vmB1 blue 10.0.0.2
fab_vm vmB2 blue 10.0.0.3
fab_start_agents
assert_ping_ok vmA1 10.0.0.2
assert_ping_ok vmA1 10.0.0.3

# Starts "count" pings from vmA1 to "ip", 10 ms apart, in the background;
# steady_ping_check waits for them and fails unless all were answered once.
steady_ping_start() {
    local ip=$1 count=$2
    STEADY_LOG=$FAB_TMP/steady-$ip.log
    in_ns_bg vmA1 ping -i 0.01 -W 2 -c "$count" "$ip" >"$STEADY_LOG" 2>&1
    STEADY_PID=$!
}

# Succeeds once the steady ping has ended (and printed its summary).
steady_ping_done() {
    grep -q 'packets transmitted' "$STEADY_LOG"
}

steady_ping_check() {
    local summary
    wait "$STEADY_PID" || true
    summary=$(grep 'packets transmitted' "$STEADY_LOG") \
        || fail "steady ping printed no summary: $(tail -n 3 "$STEADY_LOG")"
    echo "steady ping: $summary"
    [[ $summary =~ ^([0-9]+)\ packets\ transmitted,\ ([0-9]+)\ received ]] \
        || fail "cannot parse ping summary: $summary"
    if [ "${BASH_REMATCH[1]}" -eq 0 ] \
        || [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]; then
        fail "steady ping lost packets: $summary"
    fi
    [[ $summary != *duplicates* ]] || fail "steady ping saw duplicates: $summary"
}

# Fails unless the agent of host "X" is still running.
assert_agent_alive() {
    [ -n "$(fab_agent_pid "$1")" ] || fail "agent of host $1 died"
}

# Waits up to 5 s for vmA1's pings to "ip" to stop getting answers.
wait_unreachable() {
    local ip=$1
    for _ in $(seq 10); do
        in_ns vmA1 ping -q -c 2 -i 0.2 -W 0.5 "$ip" >/dev/null 2>&1 || return 0
    done
    fail "vmA1 still reaches $ip"
}

say "1. agents restart under a steady ping"
# Restart rounds go on for as long as the ping runs, 3 at least.
steady_ping_start 10.0.0.2 1800
round=0
while [ "$round" -lt 3 ] || ! steady_ping_done; do
    round=$(( round + 1 ))
    fab_agent_stop A
    sleep 0.3
    fab_agent_start A
    fab_agent_wait A
    fab_agent_stop B
    sleep 0.3
    fab_agent_start B
    fab_agent_wait B
    fab_agent_stop A
    fab_agent_stop B
    sleep 0.3
    fab_agent_start A
    fab_agent_start B
    fab_agent_wait A
    fab_agent_wait B
done
echo "$round rounds of: restart A, restart B, restart both"
steady_ping_check

say "no agent at all: forwarding goes on"
fab_agent_stop A
fab_agent_stop B
assert_ping_ok vmA1 10.0.0.2
assert_ping_ok vmA1 10.0.0.3
fab_agent_start A
fab_agent_start B
fab_agent_wait A
fab_agent_wait B

steady_ping_start 10.0.0.2 700
state_b=$(fab_state_file B)

say "2. SIGHUP with vmB2 removed: vmB2 unreachable"
fab_exclude vmB2
fab_write_state B
fab_agent_hup B
wait_unreachable 10.0.0.3
fab_agent_converged B || fail "agent of host B lost its remaining ports"
case $(fab_agent_cmd B --show -o json | tr '[:upper:]' '[:lower:]') in
*"${FAB_VM_MAC[vmB2]}"*) fail "host B still shows removed port vmB2" ;;
esac

say "3a. SIGHUP with a document that is not JSON: refused, old state kept"
good=$FAB_TMP/good.json
cp "$state_b" "$good"
printf '{"host": {"name": "host-b", ' >"$state_b"
if fab_agent_cmd B --check -s "$state_b" >/dev/null 2>&1; then
    fail "--check accepted a truncated document"
fi
fab_agent_hup B
sleep 1
assert_agent_alive B
assert_ping_ok vmA1 10.0.0.2
assert_ping_fails vmA1 10.0.0.3

say "3b. SIGHUP with vmB2 back next to an invalid port: only that port left out"
fab_exclude vmB2 ''
fab_document B \
    | jq '.ports += [{"name": "bogus", "network": "no-such-network",
                      "device": "vmB2-h", "mac": "02:00:00:00:02:99",
                      "ip": "10.0.0.99"}]' >"$state_b"
if fab_agent_cmd B --check -s "$state_b" >/dev/null 2>&1; then
    fail "--check accepted a port on an undeclared network"
fi
skip_log=$(wc -l <"$(fab_agent_log B)")
fab_agent_hup B
fab_agent_wait B
assert_agent_alive B
tail -n +"$(( skip_log + 1 ))" "$(fab_agent_log B)" \
    | grep -qF 'desired state: port "bogus" left out, the rest applies: network: "no-such-network": no such network' \
    || fail "host B did not say it left out the bogus port"
assert_ping_ok vmA1 10.0.0.2
assert_ping_ok vmA1 10.0.0.3

say "4. SIGHUP with the invalid port gone: nothing else changes"
fab_write_state B
fab_agent_cmd B --check -s "$state_b" >/dev/null \
    || fail "--check refused a valid document"
fab_agent_hup B
fab_agent_wait B
assert_ping_ok vmA1 10.0.0.3
assert_agent_alive A
steady_ping_check

say "PASS"

#!/bin/bash
# An agent applies what it can of its desired state: one bad object never
# freezes a host.
#
#   host A: vmA1 blue 10.0.0.1   vmA3 red 10.2.0.3   later vmA5 red 10.2.0.5
#           and vmA2 green (MTU 9000) 10.1.0.2
#   host B: vmB1 blue 10.0.0.3   vmB3 red 10.2.0.4
#
# Both agents run standalone, from files.  Host A's file then gains, in one
# change, a network whose MTU its 1500-byte underlay cannot carry (green,
# with vmA2 in it), a port with a multicast MAC (vmA4), and a good new port
# (vmA5).  On SIGHUP the agent leaves out green, vmA2 and vmA4, saying why
# for each, and applies the rest: vmA5 reaches vmB3, blue and red go on.
# "fabric-agent --check" still refuses the file for its mistakes.  When the underlay
# grows to 9050 bytes, green fits and comes back without a reload.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

# Waits until host "X"'s log has a line containing "text" (fixed string).
log_has() {
    local host=$1 text=$2
    for _ in $(seq 100); do
        grep -qF -- "$text" "$(fab_agent_log "$host")" && return 0
        sleep 0.1
    done
    tail -n 20 "$(fab_agent_log "$host")" >&2
    fail "host $host logged nothing with: $text"
}

# Succeeds if host "X"'s datapath has a port with MAC "mac".
has_port() {
    fab_agent_cmd "$1" --show -o json \
        | jq -e --arg m "$2" 'any(.ports[]; (.mac | ascii_downcase) == $m)' \
            >/dev/null
}

fab_setup
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_network red 300
fab_vm vmA1 blue 10.0.0.1
fab_vm vmB1 blue 10.0.0.3
fab_vm vmA3 red 10.2.0.3
fab_vm vmB3 red 10.2.0.4
fab_start_agents
assert_ping_ok vmA1 10.0.0.3
assert_ping_ok vmA3 10.2.0.4

say "host A's document gains a network too big, a bad port and a good one"
fab_network green 200 9000
fab_vm vmA2 green 10.1.0.2
fab_vm vmA5 red 10.2.0.5
fab_write_state B
fab_agent_hup B
fab_write_state A
file=$(fab_state_file A)
jq '.ports += [{"name": "vmA4", "network": "blue", "device": "vmA4-h",
                "mac": "01:00:00:00:00:04", "ip": "10.0.0.4"}]' \
    "$file" >"$file.new"
mv "$file.new" "$file"
fab_agent_hup A

log_has A 'desired state: network "green" left out, the rest applies: mtu: 9000 is larger than 1450, the MTU of underlay "ul0" (1500) minus 50 bytes of VXLAN overhead'
log_has A 'desired state: port "vmA2" left out, the rest applies: network "green" is left out: mtu: 9000'
log_has A 'desired state: port "vmA4" left out, the rest applies: mac: "01:00:00:00:00:04": a multicast MAC'

say "everything else applies: the new port works, the old ones go on"
assert_ping_ok vmA5 10.2.0.4
assert_ping_ok vmB3 10.2.0.5
assert_ping_ok vmA1 10.0.0.3
assert_ping_ok vmA3 10.2.0.4
has_port A "${FAB_VM_MAC[vmA5]}" || fail "vmA5 is not in host A's datapath"
! has_port A "${FAB_VM_MAC[vmA2]}" || fail "vmA2 is in the datapath"
fab_agent_cmd A --show -o json | jq -e 'all(.. | objects | .vni? // empty;
    . != 200)' >/dev/null || fail "network green (VNI 200) is in the datapath"
[ -n "$(fab_agent_pid A)" ] || fail "host A's agent exited"

say "--check still refuses the file for its mistakes"
out=$(in_host A "$FABRIC_AGENT" --check -s "$file" 2>&1) \
    && fail "--check accepted a document with mistakes: $out"
grep -Eq 'ports\[4\]\.mac: "01:00:00:00:00:04": a multicast MAC' <<<"$out" \
    || fail "--check: $out"

say "an underlay that grows carries green: it comes back without a reload"
in_host A ip link set dev ul0 mtu 9050
log_has A 'underlay MTU 9050 (was 1500): fitting the desired state to it'
for _ in $(seq 50); do
    has_port A "${FAB_VM_MAC[vmA2]}" && break
    sleep 0.1
done
has_port A "${FAB_VM_MAC[vmA2]}" || fail "vmA2 did not come back"
! has_port A 01:00:00:00:00:04 || fail "the port with a bad MAC came in"
assert_ping_ok vmA5 10.2.0.4

say "PASS"

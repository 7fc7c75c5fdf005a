#!/bin/bash
# Per-port rate limits, changed live: a VM limited to 100 Mbit/s sends and
# receives TCP across hosts at about that rate, and gets its full speed
# back when the limit is lifted.
#
#   host A: vmA1 blue 10.0.0.1   (the limited VM)
#   host B: vmB1 blue 10.0.0.2   (iperf3 server)
#
# Egress to other hosts is shaped by the port's class of the HTB qdisc
# the agent puts on the underlay device (tests/integration/qos-shaping.sh
# tells that story with default bursts); ingress by the HTB qdisc fab1:
# the agent puts on the port's own device, with the default burst.  The
# band is 95..105 Mbit/s of TCP goodput.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

RATE=100000000
# A policer drops whole GSO packets (up to 64 KiB, some 45 TCP segments at
# once), which a burst of 10 ms (125 kB here) let TCP recover from only
# slowly: about 5 Mbit/s of the 100.  A 4 MB burst (320 ms) keeps TCP at
# the rate.  Shaped (or paced) egress does not need it.
BURST=4000000
LOW=95000000
HIGH=105000000
FULL=1000000000

fab_setup
require_cmd iperf3 jq tc
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1
fab_vm vmB1 blue 10.0.0.2
fab_start_agents

# Gives VM "vm" the "qos" object "json" ("null" removes it) in its host's
# document, reloads the agent with SIGHUP and waits until the datapath
# holds the change.
qos_set() {
    local vm=$1 json=$2 host file want
    host=${FAB_VM_HOST[$vm]}
    file=$(fab_state_file "$host")
    jq --arg vm "$vm" --argjson q "$json" \
        '(.ports[] | select(.name == $vm)) |=
            (if $q == null then del(.qos) else .qos = $q end)' \
        "$file" >"$file.new"
    mv "$file.new" "$file"
    fab_agent_hup "$host"
    want=$(jq -c -n --argjson q "$json" \
        'if $q == null then 0 else 1 end')
    for _ in $(seq 50); do
        if [ "$(fab_agent_cmd "$host" --show -o json \
            | jq --arg d "$vm-h" '[.qos[] | select(.device == $d)] | length')" \
            = "$want" ]; then
            return 0
        fi
        sleep 0.1
    done
    fail "host $host did not apply qos $json to $vm"
}

# Prints the TCP goodput in bits/s of a 4-second iperf3 run from vmA1 to
# vmB1, or from vmB1 to vmA1 with "-R".
measure() {
    in_ns vmA1 iperf3 -c 10.0.0.2 -t 4 -O 1 -J "$@" \
        | jq '.end.sum_received.bits_per_second | floor'
}

# Fails unless "bps" is within LOW..HIGH.
assert_limited() {
    local what=$1 bps=$2
    say "$what: $((bps / 1000000)) Mbit/s"
    [ "$bps" -ge "$LOW" ] && [ "$bps" -le "$HIGH" ] \
        || fail "$what: $bps bit/s is outside $LOW..$HIGH"
}

in_ns_bg vmB1 iperf3 -s
fab_wait_listen vmB1 tcp 5201
assert_ping_ok vmA1 10.0.0.2

say "egress limited to 100 Mbit/s"
qos_set vmA1 "{\"egress_rate\": $RATE, \"egress_burst\": $BURST}"
# Shaped by HTB, which the agent puts on the underlay (paced by fq, or
# policed, only where the kernel has no HTB).
mode=$(fab_agent_cmd A --show -o json \
    | jq -r '.qos[] | select(.device == "vmA1-h") | .egress')
root=$(in_host A tc qdisc show dev ul0 root | awk '{print $2; exit}')
say "egress $mode; root qdisc of ul0: $root"
case $mode in
shaped) [ "$root" = htb ] || fail "egress shaped without htb on ul0" ;;
paced) [ "$root" = fq ] || fail "egress paced without fq on ul0" ;;
policed) [ "$root" != fq ] || fail "egress policed although ul0 has fq" ;;
*) fail "unexpected egress mode '$mode'" ;;
esac
assert_limited "vmA1 -> vmB1" "$(measure)"

say "ingress limited to 100 Mbit/s as well, live, default burst: shaped"
qos_set vmA1 "{\"egress_rate\": $RATE, \"egress_burst\": $BURST, \"ingress_rate\": $RATE}"
mode=$(fab_agent_cmd A --show -o json \
    | jq -r '.qos[] | select(.device == "vmA1-h") | .ingress')
root=$(in_host A tc qdisc show dev vmA1-h root | awk '{print $2, $3; exit}')
say "ingress $mode; root qdisc of vmA1-h: $root"
[ "$mode" = shaped ] || fail "ingress $mode, not shaped"
[ "$root" = "htb fab1:" ] || fail "vmA1-h has '$root' as its root qdisc"
drops=$(fab_port_drops vmA1 qos-rate)
assert_limited "vmB1 -> vmA1" "$(measure -R)"
sent=$(in_host A tc -s class show dev vmA1-h classid fab1:1 \
    | awk '$1 == "Sent" {print $2; exit}')
say "class fab1:1 sent $sent bytes"
[ "${sent:-0}" -gt 40000000 ] \
    || fail "vmA1's frames did not go through its ingress class"
[ "$(fab_port_drops vmA1 qos-rate)" = "$drops" ] \
    || fail "shaped ingress was policed as well"

say "limits lifted: full speed again, and vmA1-h's qdisc is gone"
qos_set vmA1 null
root=$(in_host A tc qdisc show dev vmA1-h root | awk '{print $2; exit}')
[ "$root" != htb ] || fail "vmA1-h still has an htb qdisc"
bps=$(measure)
say "vmA1 -> vmB1 unlimited: $((bps / 1000000)) Mbit/s"
[ "$bps" -gt "$FULL" ] || fail "unlimited egress only $bps bit/s"
bps=$(measure -R)
say "vmB1 -> vmA1 unlimited: $((bps / 1000000)) Mbit/s"
[ "$bps" -gt "$FULL" ] || fail "unlimited ingress only $bps bit/s"

say "PASS"

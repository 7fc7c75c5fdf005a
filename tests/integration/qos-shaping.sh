#!/bin/bash
# Egress shaping by HTB on the underlay: limits with the default burst,
# changed live, lifted; and guarantees shared out of one host's uplink.
#
#   host A: vmA1 blue 10.0.0.1, vmA2 blue 10.0.0.3   (shaped senders)
#   host B: vmB1 blue 10.0.0.2, vmB2 blue 10.0.0.4   (iperf3 servers)
#
# The agent of host A puts an HTB qdisc (fab0:) on ul0 while a port is
# shaped, one class per shaped port, and the fast path puts each port's
# packets in its class.  A queue instead of a policer: TCP needs no large
# burst, UDP above the limit is delayed and then dropped by the queue,
# not by a token bucket.  Bands are 95..105 Mbit/s for the limit and 95 %
# of each guarantee.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

LOW=95000000
HIGH=105000000
UDP_LOW=70000000
FULL=1000000000

fab_setup
require_cmd iperf3 jq tc
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1
fab_vm vmB1 blue 10.0.0.2
fab_vm vmA2 blue 10.0.0.3
fab_vm vmB2 blue 10.0.0.4
fab_start_agents

# Applies the jq filter "filter" to host "host"'s document, reloads its
# agent with SIGHUP and waits until its "--show -o json" satisfies the jq
# predicate "until".
doc_set() {
    local host=$1 filter=$2 until=$3 file
    file=$(fab_state_file "$host")
    jq "$filter" "$file" >"$file.new"
    mv "$file.new" "$file"
    fab_agent_hup "$host"
    for _ in $(seq 50); do
        if fab_agent_cmd "$host" --show -o json | jq -e "$until" >/dev/null
        then
            return 0
        fi
        sleep 0.1
    done
    fail "host $host did not apply $filter"
}

# Gives VM "vm" the "qos" object "json" ("null" removes it) and waits
# until the datapath holds it (egress rate "rate", 0 for none).
qos_set() {
    local vm=$1 json=$2 rate=${3:-0}
    doc_set "${FAB_VM_HOST[$vm]}" \
        "(.ports[] | select(.name == \"$vm\")) |=
            (if $json == null then del(.qos) else .qos = $json end)" \
        "[.qos[] | select(.device == \"$vm-h\")
              | select((.egress_rate // 0) == $rate)]
         | length == (if $json == null then 0 else 1 end)"
}

# Prints the receiver's figure in bits/s of a 4-second iperf3 run from VM
# "from" to address "to", with more iperf3 options.
measure() {
    local from=$1 to=$2
    shift 2
    in_ns "$from" iperf3 -c "$to" -t 4 -O 1 -J "$@" \
        | jq '.end.sum_received.bits_per_second // .end.sum.bits_per_second
              | floor'
}

# Fails unless "bps" is within "low".."high".
assert_band() {
    local what=$1 bps=$2 low=$3 high=$4
    say "$what: $((bps / 1000000)) Mbit/s"
    if [ "$bps" -lt "$low" ] || [ "$bps" -gt "$high" ]; then
        fail "$what: $bps bit/s is outside $low..$high"
    fi
}

# Prints the HTB class that host A's agent gave VM "vm", e.g. "fab0:2".
class_of() {
    fab_agent_cmd A --show -o json \
        | jq -r --arg d "$1-h" '.qos[] | select(.device == $d)
                                | .egress_class'
}

in_ns_bg vmB1 iperf3 -s
in_ns_bg vmB2 iperf3 -s
fab_wait_listen vmB1 tcp 5201
fab_wait_listen vmB2 tcp 5201
assert_ping_ok vmA1 10.0.0.2
assert_ping_ok vmA2 10.0.0.4

say "egress limited to 100 Mbit/s, default burst: shaped by HTB"
qos_set vmA1 '{"egress_rate": 100000000}' 100000000
mode=$(fab_agent_cmd A --show -o json \
    | jq -r '.qos[] | select(.device == "vmA1-h") | .egress')
[ "$mode" = shaped ] || fail "vmA1's egress is $mode, not shaped"
class=$(class_of vmA1)
in_host A tc qdisc show dev ul0 root | grep -q '^qdisc htb fab0: ' \
    || fail "no HTB qdisc fab0: on ul0"
in_host A tc class show dev ul0 classid "$class" | grep -q 'ceil 100Mbit' \
    || fail "class $class is not limited to 100 Mbit/s"
assert_band "TCP vmA1 -> vmB1" "$(measure vmA1 10.0.0.2)" "$LOW" "$HIGH"
# UDP sent at twice the limit: the class must pass about the limit (the
# queue holds the rest back, and the sender's socket waits for it).  What
# it passed is read from the class's own counters, not from the receiver,
# which a loaded machine starves (iperf3 once counted 9.6% lost, once
# 25%, in CI); the receiver must still get no more than the limit.  The
# class counts whole frames with their VXLAN headers, a few percent more
# than iperf3's payload, hence the upper bound's margin.
class_bytes() {
    in_host A tc -s class show dev ul0 classid "$class" \
        | awk '/Sent/ {print $2; exit}'
}
b0=$(class_bytes)
t0=$(date +%s%N)
udp=$(measure vmA1 10.0.0.2 -u -b 200M)
t1=$(date +%s%N)
b1=$(class_bytes)
# iperf3 -t 4 -O 1 sends for 5 s; the class's rate over the whole run,
# start-up included, can only be lower than while it sent: the lower
# bound leaves a second and more for starting iperf3 on a loaded machine.
passed=$(( (b1 - b0) * 8 * 1000000000 / (t1 - t0) ))
say "UDP at 200 Mbit/s vmA1 -> vmB1: the class passed" \
    "$((passed / 1000000)) Mbit/s; received $((udp / 1000000)) Mbit/s"
[ "$passed" -le 110000000 ] \
    || fail "the class passed $passed bit/s of UDP limited to 100 Mbit/s"
[ "$udp" -le "$HIGH" ] \
    || fail "vmB1 received $udp bit/s of UDP limited to 100 Mbit/s"
[ "$passed" -ge "$UDP_LOW" ] \
    || fail "the class passed only $passed bit/s of UDP limited to" \
        "100 Mbit/s"
[ "$udp" -gt 0 ] || fail "vmB1 received no UDP"
say "limit changed to 50 Mbit/s during a flow, by SIGHUP"
json=$FAB_TMP/change.json
t0=$(date +%s.%N)
in_ns vmA1 iperf3 -c 10.0.0.2 -t 7 -i 1 -J >"$json" &
iperf=$!
sleep 3
th=$(date +%s.%N)
qos_set vmA1 '{"egress_rate": 50000000}' 50000000
t1=$(date +%s.%N)
in_host A tc class show dev ul0 classid "$class" | grep -q 'ceil 50Mbit' \
    || fail "class $class is not limited to 50 Mbit/s"
say "SIGHUP to the change in the datapath:" \
    "$(echo "($t1 - $th) * 1000 / 1" | bc) ms"
wait "$iperf" || fail "the flow did not survive the change"
# Interval i covers i..i+1 s after the flow started, about when t0 was
# taken.  The change is within a second if the first interval that starts
# one second after the change is within the new band, and so is each
# later one.
change=$(echo "$t1 - $t0" | bc)
mapfile -t rates < <(jq '.intervals[].sum.bits_per_second | floor' "$json")
say "change applied $(printf %.2f "$change") s into the flow; per second:" \
    "$(for r in "${rates[@]}"; do printf '%d ' $((r / 1000000)); done)Mbit/s"
first=$(echo "($change + 1.999) / 1" | bc)
[ "${#rates[@]}" -ge 7 ] || fail "only ${#rates[@]} intervals"
[ "${rates[1]}" -ge 90000000 ] || fail "before the change: ${rates[1]} bit/s"
for ((i = first; i < ${#rates[@]}; i++)); do
    r=${rates[$i]}
    if [ "$r" -lt 45000000 ] || [ "$r" -gt 55000000 ]; then
        fail "interval $i after the change: $r bit/s"
    fi
done

say "limit lifted: full speed, and the HTB qdisc is gone"
qos_set vmA1 null
bps=$(measure vmA1 10.0.0.2)
say "vmA1 -> vmB1 unlimited: $((bps / 1000000)) Mbit/s"
[ "$bps" -gt "$FULL" ] || fail "unlimited egress only $bps bit/s"
if in_host A tc qdisc show dev ul0 root | grep -q '^qdisc htb fab0: '; then
    fail "the HTB qdisc is still on ul0"
fi

say "guarantees 300 and 100 Mbit/s on an uplink of 400 Mbit/s"
doc_set A '.host.uplink_rate = 400000000
    | (.ports[] | select(.name == "vmA1")).qos = {"egress_min_rate": 300000000}
    | (.ports[] | select(.name == "vmA2")).qos = {"egress_min_rate": 100000000}' \
    '[.qos[] | select(.egress == "shaped")] | length == 2'
in_ns vmA1 iperf3 -c 10.0.0.2 -t 5 -O 1 -J >"$FAB_TMP/g1.json" &
g1=$!
in_ns vmA2 iperf3 -c 10.0.0.4 -t 5 -O 1 -J >"$FAB_TMP/g2.json" &
g2=$!
wait "$g1" || fail "iperf3 from vmA1 failed"
wait "$g2" || fail "iperf3 from vmA2 failed"
bps1=$(jq '.end.sum_received.bits_per_second | floor' "$FAB_TMP/g1.json")
bps2=$(jq '.end.sum_received.bits_per_second | floor' "$FAB_TMP/g2.json")
assert_band "vmA1 (guaranteed 300) together with vmA2" "$bps1" 285000000 \
    420000000
assert_band "vmA2 (guaranteed 100) together with vmA1" "$bps2" 95000000 \
    420000000
assert_band "both, on the 400 Mbit/s uplink" $((bps1 + bps2)) 380000000 \
    420000000

say "PASS"

#!/bin/bash
# bench/qos-accuracy.sh: how close a port's egress and ingress limits hold
# to what they are set to, at 10 Mbit/s, 100 Mbit/s and 1 Gbit/s, for TCP
# and UDP, VM -> VM across two hosts, beside the unlimited rate measured
# in the same run.  A benchmark, not a test: it prints a table and verdicts and
# gates nothing.
#
#   usage: bench/qos-accuracy.sh [-t SECONDS]   (default 5; env DURATION)
#
# The shape is tests/lib/common.sh's: hosts A and B on an underlay bridge
# (MTU 1500), vmA1 10.0.0.1 sending, vmB1 10.0.0.2 receiving (MTU 1450).
# Egress to another host is shaped by the port's HTB class on the
# underlay (paced or policed where the kernel has neither HTB nor fq; the
# mode is printed).  A limit counts what the VM sends, inner Ethernet
# frames, so the ratio compares the receiver's goodput converted back to
# frames with the limit: a UDP datagram of L bytes is an L + 42-byte
# frame (UDP, IPv4, Ethernet headers), a TCP segment of MSS bytes an
# MSS + 66-byte one (timestamps, TCP, IPv4, Ethernet).  The goodput/limit
# ratio is printed too: HTB counts a GSO packet once, with one set of
# headers (doc/datapath.md, QoS), so TCP's frames may exceed the limit by
# the headers of the other segments, some 4.5 %.  The first second
# of every run is left out (TCP's slow start; HTB's initial burst).  UDP
# is offered at 1.5 times the limit, and without limit as fast as one
# iperf3 sends.  Ingress rows send from vmB1 to the limited vmA1 (iperf3
# -R), whose port shapes them with the HTB qdisc on its device and the
# default burst (100 ms at the rate); the mode is printed.
set -euo pipefail

DURATION=${DURATION:-5}
while getopts t:h opt; do
    case $opt in
    t) DURATION=$OPTARG ;;
    *) sed -n '2,24s/^# \{0,1\}//p' "$0"; exit 2 ;;
    esac
done

export FAB_PREFIX=bench-$$
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../tests/lib/common.sh"

UDP_LEN=1350
UDP_FRAME=$((UDP_LEN + 42))
TCP_HEADERS=66

fab_setup
require_cmd iperf3 jq
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1
fab_vm vmB1 blue 10.0.0.2
fab_start_agents

# Gives vmA1 the "qos" object "json" ("null" removes it), reloads host
# A's agent and waits until the datapath holds the change.
qos_set() {
    local json=$1 file want
    file=$(fab_state_file A)
    jq --argjson q "$json" \
        '(.ports[] | select(.name == "vmA1")) |=
            (if $q == null then del(.qos) else .qos = $q end)' \
        "$file" >"$file.new"
    mv "$file.new" "$file"
    fab_agent_hup A
    want=$(jq -n --argjson q "$json" 'if $q == null then 0 else 1 end')
    for _ in $(seq 50); do
        if [ "$(fab_agent_cmd A --show -o json \
            | jq '[.qos[] | select(.device == "vmA1-h")] | length')" \
            = "$want" ]; then
            return 0
        fi
        sleep 0.1
    done
    fail "host A did not apply qos $json to vmA1"
}

# Runs iperf3 from vmA1 to vmB1 (with -R among the extra arguments, from
# vmB1 to vmA1) for DURATION + 1 seconds, and prints the receiver's
# goodput in bits/s over all but the first second, and the MSS (0 for
# UDP).
run() {
    local json pid receiver=.server_output_json.intervals
    case " $* " in *" -R "*) receiver=.intervals ;; esac
    in_ns_bg vmB1 iperf3 -s -1 -J >/dev/null
    pid=$!
    fab_wait_listen vmB1 tcp 5201
    json=$(in_ns vmA1 iperf3 -c 10.0.0.2 -t $((DURATION + 1)) \
        --get-server-output -J "$@")
    wait "$pid" || true
    jq -r "[(${receiver}[1:] | map(.sum)
             | (map(.bytes) | add) * 8 / (map(.seconds) | add) | floor),
            (.start.tcp_mss_default // 0)] | @tsv" <<<"$json"
}

# Prints one row of the table for protocol "proto", "limit" in bits/s
# (0: none) and "base" (the unlimited frame rate of that protocol, or
# empty), measured with run's extra arguments; sets ROW_WIRE to the
# frame rate.
ROW_WIRE=0
row() {
    local proto=$1 limit=$2 base=$3 good mss frame payload ratio gratio verdict
    shift 3
    read -r good mss < <(run "$@")
    if [ "$proto" = udp ]; then
        frame=$UDP_FRAME
        payload=$UDP_LEN
    else
        frame=$((mss + TCP_HEADERS))
        payload=$mss
    fi
    ROW_WIRE=$((good * frame / payload))
    if [ "$limit" -eq 0 ]; then
        printf '%-4s %10s %10.1f %10.1f %7s %7s  %s\n' "$proto" unlimited \
            "$(mbit "$good")" "$(mbit "$ROW_WIRE")" - - "baseline"
        return
    fi
    ratio=$(awk -v w="$ROW_WIRE" -v l="$limit" \
        'BEGIN { printf "%.3f", w / l }')
    gratio=$(awk -v g="$good" -v l="$limit" 'BEGIN { printf "%.3f", g / l }')
    if awk -v r="$ratio" 'BEGIN { exit !(r >= 0.95 && r <= 1.05) }'; then
        verdict="within ±5%"
    else
        verdict="OUTSIDE ±5%"
    fi
    printf '%-4s %10s %10.1f %10.1f %7s %7s  %s (%.0f%% of unlimited)\n' \
        "$proto" "$(mbit "$limit")" "$(mbit "$good")" "$(mbit "$ROW_WIRE")" \
        "$gratio" "$ratio" "$verdict" \
        "$(awk -v w="$ROW_WIRE" -v b="$base" 'BEGIN { print 100 * w / b }')"
}

# Prints "bps" in Mbit/s.
mbit() {
    awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'
}

assert_ping_ok vmA1 10.0.0.2
echo "qos-accuracy: vmA1 -> vmB1 across hosts, ${DURATION} s per row" \
    "after 1 s left out"
printf '%-4s %10s %10s %10s %7s %7s  %s\n' proto limit goodput frames \
    good/ frames/ "verdict (on frames/limit)"
printf '%-4s %10s %10s %10s %7s %7s\n' "" "(Mbit/s)" "(Mbit/s)" "(Mbit/s)" \
    limit limit

# Measures one direction: its unlimited ceiling, then a limit of each
# size on vmA1's "key" ("egress_rate" or "ingress_rate"), with run's extra
# arguments (-R for ingress); "label" heads the rows.
direction() {
    local key=$1 label=$2 tcp_base udp_base mode limit
    shift 2
    qos_set null
    echo "--- $label, no limit"
    row tcp 0 "" "$@"
    tcp_base=$ROW_WIRE
    row udp 0 "" "$@" -u -b 0 -l "$UDP_LEN"
    udp_base=$ROW_WIRE
    for limit in 10000000 100000000 1000000000; do
        qos_set "{\"$key\": $limit}"
        mode=$(fab_agent_cmd A --show -o json \
            | jq -r --arg m "${key%_rate}" \
                '.qos[] | select(.device == "vmA1-h") | .[$m]')
        [ "$limit" = 10000000 ] && echo "--- $label, limited ($mode)"
        row tcp "$limit" "$tcp_base" "$@"
        row udp "$limit" "$udp_base" "$@" -u -b $((limit * 3 / 2)) \
            -l "$UDP_LEN"
    done
}

direction egress_rate "egress, vmA1 -> vmB1"
direction ingress_rate "ingress, vmB1 -> vmA1" -R
qos_set null
echo "target: every limited row within ±5% of its limit (frames/limit" \
    "0.95..1.05); the unlimited rows are this machine's ceiling"

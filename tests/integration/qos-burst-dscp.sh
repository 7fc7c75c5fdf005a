#!/bin/bash
# Bursts, DSCP on the wire and policed UDP: the parts of a port's QoS
# policy that tests/integration/qos-rate.sh (rates with TCP) and
# qos-shaping.sh (HTB guarantees) leave out.
#
#   host A: vmA1 blue 10.0.0.1   (the VM with a policy)
#           vmA2 blue 10.0.0.3   (no policy)
#   host B: vmB1 blue 10.0.0.2   (the other end)
#
# 1. A burst allowance lets a short transfer through at line rate, then
#    the rate holds.  Egress to other hosts is shaped by HTB, whose class
#    has a burst of its own (10 ms at its rate plus 64 KiB, see
#    fabric-agent(8)) and ignores egress_burst, and ingress by an HTB
#    qdisc on the port's device, so the burst is tested where the token
#    bucket applies: egress to a VM on the same host, policed.
# 2. dscp 46 marks the inner IPv4 header and the VXLAN outer header copies
#    the DSCP; the VM's ECN bits stay in the inner header, and the outer
#    header copies them too (RFC 6040, normal mode).  A port without dscp
#    keeps the VM's own DSCP.
# 3. UDP sent at twice the ingress rate reaches the VM at about the rate,
#    shaped by the HTB qdisc on its device.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd iperf3 jq nc tshark dumpcap
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1
fab_vm vmA2 blue 10.0.0.3
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
    want=$(jq -c -n --argjson q "$json" 'if $q == null then 0 else 1 end')
    for _ in $(seq 50); do
        if [ "$(fab_agent_cmd "$host" --show -o json \
            | jq --arg d "$vm-h" \
                '[.qos[] | select(.device == $d)] | length')" \
            = "$want" ]; then
            return 0
        fi
        sleep 0.1
    done
    fail "host $host did not apply qos $json to $vm"
}

# Prints the current time in nanoseconds.
now_ns() {
    date +%s%N
}

# Prints the goodput in bits/s that the receiver got in the iperf3 run
# (with --get-server-output) whose client's JSON is "json", leaving out
# the first "skip" one-second intervals.
udp_received() {
    jq --argjson skip "$2" '.server_output_json.intervals[$skip:]
        | map(.sum) | (map(.bytes) | add) * 8 / (map(.seconds) | add)
        | floor' <<<"$1"
}

assert_ping_ok vmA1 10.0.0.2
assert_ping_ok vmA2 10.0.0.2

# ---------------------------------------------------------------------------
say "1. egress 20 Mbit/s with a 1 MB burst, to vmA2 on the same host:" \
    "a burst passes, then the rate"
qos_set vmA1 '{"egress_rate": 20000000, "egress_burst": 1000000}'
# The bucket starts full, and a previous policy's state refills in 1 MB at
# 20 Mbit/s = 0.4 s: after half a second it is full either way.
sleep 0.5
BYTES=800000
head -c "$BYTES" /dev/urandom >"$FAB_TMP/burst.in"
drops0=$(fab_port_drops vmA1 qos-rate)
# The receiver times the transfer from its first byte to the sender's end
# of stream, so starting processes in namespaces on a busy machine does
# not count.  It prints "BYTES MS" and keeps the data.
in_ns_bg vmA2 timeout 10 python3 -c '
import socket, sys, time
srv = socket.create_server(("0.0.0.0", 5001))
conn, _ = srv.accept()
out = open(sys.argv[1], "wb")
data = conn.recv(65536)
t0 = time.monotonic()
n = 0
while data:
    out.write(data)
    n += len(data)
    data = conn.recv(65536)
print(n, int((time.monotonic() - t0) * 1000))
' "$FAB_TMP/burst.out" >"$FAB_TMP/burst.time"
pid=$!
fab_wait_listen vmA2 tcp 5001
in_ns vmA1 timeout 10 nc -N 10.0.0.3 5001 <"$FAB_TMP/burst.in" \
    || fail "vmA1: TCP to vmA2 failed"
wait "$pid" || fail "vmA2: TCP receiver failed"
read -r bytes ms <"$FAB_TMP/burst.time"
drops1=$(fab_port_drops vmA1 qos-rate)
say "800 kB burst from vmA1: $bytes bytes in $ms ms," \
    "$((drops1 - drops0)) policer drops"
cmp -s "$FAB_TMP/burst.in" "$FAB_TMP/burst.out" \
    || fail "vmA2 received $bytes of $BYTES bytes"
# At 20 Mbit/s, 800 kB take 320 ms.  Within the 1 MB burst the policer
# drops nothing and TCP runs at the veth's speed (a few ms).  Had the
# burst been ignored (the default is 64 KiB), the policer would have
# dropped and the transfer would have taken 290 ms or more, plus TCP's
# recovery.
[ "$drops1" -eq "$drops0" ] \
    || fail "the policer dropped $((drops1 - drops0)) frames of a burst" \
        "within egress_burst"
[ "$ms" -lt 150 ] \
    || fail "800 kB within the burst took $ms ms" \
        "(20 Mbit/s: 320 ms; want < 150)"

# Sustained: UDP at twice the rate, which the policer must cut to the
# rate.  (TCP through a policer gets the rate minus its recovery:
# tests/integration/qos-rate.sh.)  The first second would carry what is
# left of the burst (at most 1 MB, 8 Mbit), so the receiver's first second
# is left out; the three seconds after it get only the rate.  1350-byte
# datagrams are 1392-byte frames, which the policer counts: 20 * 1350 /
# 1392 = 19.4 Mbit/s of goodput, in the issue's 18..22.  Without the
# policer all 40 Mbit/s would arrive.
in_ns_bg vmA2 iperf3 -s -1 -J >/dev/null
pid=$!
fab_wait_listen vmA2 tcp 5201
json=$(in_ns vmA1 iperf3 -c 10.0.0.3 -u -b 40M -l 1350 -t 4 \
    --get-server-output -J)
wait "$pid" || true
bps=$(udp_received "$json" 1)
say "sustained UDP at 40 Mbit/s from vmA1: received $((bps / 1000)) kbit/s"
if [ "$bps" -lt 18000000 ] || [ "$bps" -gt 22000000 ]; then
    fail "sustained UDP from vmA1: $bps bit/s is outside 18..22 Mbit/s"
fi
[ "$(fab_port_drops vmA1 qos-rate)" -gt "$drops1" ] \
    || fail "a sustained flow above the rate met no policer drop"

# ---------------------------------------------------------------------------
say "2. dscp 46 on vmA1: inner and outer DSCP 46, the VM's ECN copied out"
qos_set vmA1 '{"dscp": 46}'
cap=$FAB_TMP/dscp.pcapng
fab_capture_start "$cap" "udp port 4789"
# ping -Q sets the whole TOS byte: 0x01 is DSCP 0 with ECN ECT(1); 0x28 is
# DSCP 10 (AF11) with ECN 0.
in_ns vmA1 ping -q -c 3 -i 0.1 -W 1 -Q 0x01 10.0.0.2 >/dev/null \
    || fail "vmA1 (dscp 46) cannot ping vmB1"
in_ns vmA2 ping -q -c 3 -i 0.1 -W 1 -Q 0x28 10.0.0.2 >/dev/null \
    || fail "vmA2 cannot ping vmB1 with TOS 0x28"
fab_capture_stop

# Prints, one line per echo request from "src" on the wire, the DSCP and
# the ECN of the outer and inner IPv4 headers as tshark prints fields of
# an encapsulated frame: "outer,inner outer,inner".
wire_tos() {
    tshark -r "$cap" -d udp.port==4789,vxlan \
        -Y "icmp.type == 8 && ip.src == $1" \
        -T fields -e ip.dsfield.dscp -e ip.dsfield.ecn 2>/dev/null \
        | tr '\t' ' ' | sort -u
}
got=$(wire_tos 10.0.0.1)
say "vmA1 on the wire (dscp outer,inner ecn outer,inner): $got"
[ "$got" = "46,46 1,1" ] \
    || fail "vmA1's echo requests carry '$got', want DSCP 46,46 and ECN 1,1"
got=$(wire_tos 10.0.0.3)
say "vmA2 on the wire (dscp outer,inner ecn outer,inner): $got"
[ "$got" = "10,10 0,0" ] \
    || fail "vmA2's echo requests carry '$got', want DSCP 10,10 and ECN 0,0"
# The receiver got them with a valid inner checksum (RFC 1624 update):
# the replies prove it, since Linux drops IPv4 with a bad checksum.

# ---------------------------------------------------------------------------
say "3. ingress 50 Mbit/s (default burst), UDP at 100 Mbit/s to vmA1"
qos_set vmA1 '{"ingress_rate": 50000000}'
mode=$(fab_agent_cmd A --show -o json \
    | jq -r '.qos[] | select(.device == "vmA1-h") | .ingress')
[ "$mode" = shaped ] || fail "vmA1's ingress is $mode, not shaped"
# 1350-byte datagrams are 1392-byte frames, which the HTB class counts: a
# goodput of 50 * 1350 / 1392 = 48.5 Mbit/s, plus the default burst (100
# ms at the rate, 625 kB) over the 3 s, about 1.7 Mbit/s.  What the
# class's queue cannot hold is dropped there.  The rates are modest so
# that a loaded machine still sends well above the rate.
in_ns_bg vmA1 iperf3 -s -1 -J >/dev/null
pid=$!
fab_wait_listen vmA1 tcp 5201
json=$(in_ns vmB1 iperf3 -c 10.0.0.1 -u -b 100M -l 1350 -t 3 \
    --get-server-output -J)
wait "$pid" || true
bps=$(udp_received "$json" 0)
sent=$(jq '.end.sum.bits_per_second | floor' <<<"$json")
say "UDP to vmA1: sent $((sent / 1000)) kbit/s," \
    "received $((bps / 1000)) kbit/s"
[ "$sent" -ge 75000000 ] \
    || fail "iperf3 sent only $sent bit/s, too little to test the shaper"
if [ "$bps" -lt 47500000 ] || [ "$bps" -gt 52500000 ]; then
    fail "UDP to vmA1 at $bps bit/s is outside 47.5..52.5 Mbit/s"
fi
dropped=$(in_host A tc -s qdisc show dev vmA1-h \
    | awk '/dropped/ {gsub(",", ""); n += $7} END {print n + 0}')
say "dropped by vmA1-h's qdiscs: $dropped packets"
[ "$dropped" -gt 0 ] || fail "UDP at twice the rate met no drop in the queue"

say "PASS"

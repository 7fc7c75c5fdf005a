#!/bin/bash
# DHCP from the fabric (doc/vms.md): a VM gets its port's address by DHCP,
# answered by its host's agent and seen by nobody else.
#
#   host A: vmA1 blue 10.0.0.1 "web1"   vmA2 blue 10.0.0.2
#           vmA3 blue, a port without an address
#   host B: vmB1 blue 10.0.0.4
#   blue: 10.0.0.0/24, DNS 10.9.0.1 10.9.0.2; the DHCP server is 10.0.0.254
#
# 1. vmA1, its address flushed, runs busybox udhcpc and gets 10.0.0.1/24,
#    the network's MTU, hostname web1, both DNS servers, server id
#    10.0.0.254 and no router; then it pings vmB1 with that address.
#    Captures in vmA2 and on the underlay hold none of the exchange.
# 2. udhcpc renews by unicast to 10.0.0.254 (SIGUSR1), which the ARP
#    responder resolves, and gets an ACK.
# 3. vmA3, whose port has no address, gets no answer; so does vmA2 with a
#    MAC that is not its port's, dropped as spoofed-mac.
# 4. vmA2 floods DISCOVERs: its punts are rate-limited ("punt-rate-limit")
#    while vmA1 gets its lease again, as fast as without the flood.
# The agent's metrics count what it answered and ignored.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/dhcp.sh"

fab_setup
require_cmd tshark dumpcap busybox python3 curl
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1
fab_vm vmA2 blue 10.0.0.2
fab_vm vmA3 blue 10.0.0.3
fab_vm vmB1 blue 10.0.0.4
mtu=$(fab_net_mtu blue)
metrics="127.0.0.1:$FAB_AGENT_PORT"

# The documents a controller would send: blue with its cidr and DNS
# servers, vmA1 with its VM's hostname, vmA3 without an address.
for host in A B; do
    fab_write_state "$host"
    file=$(fab_state_file "$host")
    jq '(.networks[] | select(.name == "blue"))
            += {cidr: "10.0.0.0/24", dns_servers: ["10.9.0.1", "10.9.0.2"]}
        | (.ports[] | select(.name == "vmA1")) += {hostname: "web1"}
        | (.ports[] | select(.name == "vmA3")) |= del(.ip)' \
        "$file" >"$file.new"
    mv "$file.new" "$file"
done
fab_agent_start A --metrics "$metrics"
fab_agent_start B
fab_agent_wait A
fab_agent_wait B

# Prints the agent of host A's metric sample "name{labels}".
metric() {
    in_host A curl -sf "http://$metrics/metrics" \
        | awk -v m="$1" '$1 == m { print $2 }'
}

# Prints how many frames of capture "file" match the display filter.
count() {
    tshark -r "$1" -Y "$2" 2>/dev/null | wc -l
}

say "vmA1 gets its port's lease; nobody else sees the exchange"
assert_ping_ok vmA1 10.0.0.4 # The underlay's ARP settles first.
ul_cap=$FAB_TMP/underlay.pcapng
fab_capture_start "$ul_cap" "udp"
a2_cap=$FAB_TMP/vmA2.pcapng
in_ns_bg vmA2 dumpcap -q -i eth0 -f "udp port 67 or udp port 68" \
    -w "$a2_cap" >/dev/null 2>&1
a2_pid=$!
a1_cap=$FAB_TMP/vmA1-h.pcapng
in_ns_bg hostA dumpcap -q -i vmA1-h -f "udp port 67 or udp port 68" \
    -w "$a1_cap" >/dev/null 2>&1
a1_pid=$!
for _ in $(seq 50); do
    [ -s "$a2_cap" ] && [ -s "$a1_cap" ] && break
    sleep 0.1
done

log=$FAB_TMP/vmA1.log
start_ns=$(date +%s%N)
dhcp_once vmA1 "$log" || fail "vmA1 got no lease: $(cat "$log")"
quiet_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
[ "$(lease_of "$log" event)" = bound ] || fail "no bound event: $(cat "$log")"
[ "$(lease_of "$log" ip)" = 10.0.0.1 ] || fail "vmA1 got ip $(lease_of "$log" ip)"
[ "$(lease_of "$log" mask)" = 24 ] || fail "vmA1 got mask $(lease_of "$log" mask)"
[ "$(lease_of "$log" mtu)" = "$mtu" ] || fail "vmA1 got mtu '$(lease_of "$log" mtu)', not $mtu"
[ "$(lease_of "$log" hostname)" = web1 ] || fail "vmA1 got hostname '$(lease_of "$log" hostname)'"
[ "$(lease_of "$log" dns)" = "10.9.0.1 10.9.0.2" ] || fail "vmA1 got dns '$(lease_of "$log" dns)'"
[ "$(lease_of "$log" serverid)" = 10.0.0.254 ] || fail "server id '$(lease_of "$log" serverid)'"
[ -z "$(lease_of "$log" router)" ] || fail "vmA1 got a router: $(lease_of "$log" router)"
in_ns vmA1 ip -4 -o addr show dev eth0 | grep -q "inet 10.0.0.1/24" \
    || fail "vmA1's eth0 is not 10.0.0.1/24: $(in_ns vmA1 ip -4 -o addr show dev eth0)"
assert_ping_ok vmA1 10.0.0.4

say "renewal: a unicast REQUEST to the server id gets an ACK"
dhcp_start vmA1 "$log"
acks=$(metric 'fabric_agent_dhcp_sent_total{type="ack"}')
dhcp_renew "$log"
dhcp_stop
[ "$(lease_of "$log" ip)" = 10.0.0.1 ] || fail "renewal gave $(lease_of "$log" ip)"
[ "$(metric 'fabric_agent_dhcp_sent_total{type="ack"}')" -gt "$acks" ] \
    || fail "the agent counted no ACK for the renewal"
mac=$(fab_neigh_mac vmA1 10.0.0.254)
[ "$mac" = 0e:fa:b0:00:00:67 ] || fail "vmA1 resolved the server to '$mac'"

fab_capture_stop
sleep 0.5
kill -INT "$a2_pid" "$a1_pid" 2>/dev/null || true
wait "$a2_pid" "$a1_pid" 2>/dev/null || true
n=$(count "$a1_cap" 'dhcp.option.dhcp == 3 && ip.dst == 10.0.0.254')
[ "$n" -ge 1 ] || fail "vmA1 sent no unicast REQUEST to the server"
n=$(count "$a1_cap" 'dhcp.option.dhcp == 2')
[ "$n" -ge 1 ] || fail "no OFFER reached vmA1"
n=$(count "$a2_cap" 'dhcp')
[ "$n" -eq 0 ] || fail "vmA2 saw $n DHCP frames of vmA1's"
n=$(count "$ul_cap" 'udp.port == 67 || udp.port == 68')
[ "$n" -eq 0 ] || fail "$n DHCP frames crossed the underlay:
$(tshark -r "$ul_cap" -Y 'udp.port == 67 || udp.port == 68' 2>&1)"

say "no answer for a port without an address, nor for another MAC"
log3=$FAB_TMP/vmA3.log
ignored=$(metric 'fabric_agent_dhcp_ignored_total{reason="unknown-port"}')
if dhcp_once vmA3 "$log3"; then
    fail "vmA3, whose port has no address, got a lease: $(cat "$log3")"
fi
[ "$(metric 'fabric_agent_dhcp_ignored_total{reason="unknown-port"}')" -gt "$ignored" ] \
    || fail "the agent did not count vmA3's messages as unknown-port"
in_ns vmA2 ip link set eth0 address 02:00:00:00:99:99
log2=$FAB_TMP/vmA2.log
if dhcp_once vmA2 "$log2"; then
    fail "vmA2 got a lease for a MAC not its port's: $(cat "$log2")"
fi
[ "$(fab_port_drops vmA2 spoofed-mac)" -ge 1 ] \
    || fail "vmA2's DHCP from another MAC was not dropped as spoofed-mac"
in_ns vmA2 ip link set eth0 address "${FAB_VM_MAC[vmA2]}"

say "a DHCP flood from vmA2 is rate-limited; vmA1 still gets its lease"
cat >"$FAB_TMP/flood.py" <<'EOF'
import socket, struct, sys, time
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
seconds = float(sys.argv[2])
bootp = struct.pack("!BBBBIHHIIII", 1, 1, 6, 0, 0x1234, 0, 0x8000, 0, 0, 0, 0)
bootp += mac + bytes(10 + 64 + 128) + struct.pack("!I", 0x63825363)
bootp += bytes([53, 1, 1, 255]) + bytes(60)
udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                 bytes(4), b"\xff" * 4)
s = sum(struct.unpack("!10H", ip))
s = (s & 0xffff) + (s >> 16)
ip = ip[:10] + struct.pack("!H", ~s & 0xffff) + ip[12:]
frame = b"\xff" * 6 + mac + b"\x08\x00" + ip + udp
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind(("eth0", 0))
n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    sock.send(frame)
    n += 1
print(n)
EOF
limited=$(fab_port_drops vmA2 punt-rate-limit)
in_ns_bg vmA2 python3 "$FAB_TMP/flood.py" "${FAB_VM_MAC[vmA2]}" 8 \
    >"$FAB_TMP/flood.out"
flood_pid=$!
sleep 1
start_ns=$(date +%s%N)
dhcp_once vmA1 "$log" || fail "vmA1 got no lease during the flood: $(cat "$log")"
took_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
[ "$(lease_of "$log" ip)" = 10.0.0.1 ] || fail "vmA1 got $(lease_of "$log" ip)"
wait "$flood_pid" || fail "the flood did not run"
sent=$(cat "$FAB_TMP/flood.out")
[ "$sent" -ge 1000 ] || fail "the flood sent only $sent frames"
now=$(fab_port_drops vmA2 punt-rate-limit)
[ $(( now - limited )) -ge $(( sent / 2 )) ] \
    || fail "of $sent flooded DISCOVERs only $(( now - limited )) were rate-limited"
say "flood: $sent DISCOVERs in 8 s, $(( now - limited )) rate-limited;" \
    "vmA1's lease took $took_ms ms (without a flood: $quiet_ms ms)"
[ "$took_ms" -le 5000 ] || fail "vmA1's lease took $took_ms ms during the flood"

say "the metrics name what the agent did"
for m in 'fabric_agent_dhcp_received_total{type="discover"}' \
    'fabric_agent_dhcp_received_total{type="request"}' \
    'fabric_agent_dhcp_sent_total{type="offer"}' \
    'fabric_agent_dhcp_sent_total{type="ack"}'; do
    [ "$(metric "$m")" -ge 1 ] || fail "$m is $(metric "$m")"
done
punted=$(metric 'fabric_agent_port_punted_total{port="vmA1"}')
[ "$punted" -ge 4 ] || fail "vmA1's port punted $punted frames"

say "PASS"

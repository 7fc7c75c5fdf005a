#!/bin/bash
# ARP for an address the fabric knows is answered on the host the asking
# VM sits on; it never crosses the underlay.
#
#   host A: vmA1 blue 10.0.0.1   vmA2 blue 10.0.0.2
#   host B: vmB1 blue 10.0.0.3
#
# With a capture running on the underlay bridge, vmA1 resolves vmB1
# (remote) and vmA2 (local) from an empty neighbour table: both resolve to
# the right MACs and the ICMP that follows crosses the underlay, but no
# ARP for them does, neither plain nor inside VXLAN.  As a control, ARP for an
# address nobody has (10.0.0.77) is flooded: it shows up in the capture
# inside VXLAN, so the capture would have seen a leak.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd tshark dumpcap
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1
fab_vm vmA2 blue 10.0.0.2
fab_vm vmB1 blue 10.0.0.3
fab_start_agents
# Settle the underlay's own ARP between the VTEPs before capturing.
assert_ping_ok vmA1 10.0.0.3

cap=$FAB_TMP/underlay.pcapng
fab_capture_start "$cap" "arp or udp port 4789"

say "vmA1 resolves a remote and a local VM from scratch"
in_ns vmA1 ip neigh flush dev eth0
in_ns vmA1 ping -q -c 2 -i 0.2 -W 1 10.0.0.3 >/dev/null \
    || fail "vmA1 cannot ping vmB1"
in_ns vmA1 ping -q -c 2 -i 0.2 -W 1 10.0.0.2 >/dev/null \
    || fail "vmA1 cannot ping vmA2"
mac=$(fab_neigh_mac vmA1 10.0.0.3)
[ "$mac" = "${FAB_VM_MAC[vmB1]}" ] \
    || fail "vmA1 resolved 10.0.0.3 to '$mac', not ${FAB_VM_MAC[vmB1]}"
mac=$(fab_neigh_mac vmA1 10.0.0.2)
[ "$mac" = "${FAB_VM_MAC[vmA2]}" ] \
    || fail "vmA1 resolved 10.0.0.2 to '$mac', not ${FAB_VM_MAC[vmA2]}"

say "control: ARP for an unknown address is flooded over VXLAN"
assert_ping_fails vmA1 10.0.0.77
fab_capture_stop

count() {
    tshark -r "$cap" -d udp.port==4789,vxlan -Y "$1" 2>/dev/null | wc -l
}

n=$(count 'vxlan && icmp && ip.dst == 10.0.0.3')
[ "$n" -ge 2 ] || fail "capture holds $n VXLAN ICMP requests, expected 2"
n=$(count 'arp.dst.proto_ipv4 == 10.0.0.3 || arp.dst.proto_ipv4 == 10.0.0.2')
[ "$n" -eq 0 ] || fail "$n ARP requests for known addresses crossed the underlay"
n=$(count 'vxlan.vni == 100 && arp.dst.proto_ipv4 == 10.0.0.77')
[ "$n" -ge 1 ] || fail "ARP for the unknown 10.0.0.77 was not flooded to host B"

say "PASS"

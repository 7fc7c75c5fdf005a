#!/bin/bash
# A plain Linux VXLAN host talks to a fabric host.
#
#   host A (fabric):   vmA1 blue 10.0.0.1, VTEP 192.168.100.1
#   linux (kernel):    vmK1 10.0.0.9 on a Linux bridge with vxlan device
#                      "vx-100" (VNI 100, UDP 4789, no learning),
#                      VTEP 192.168.100.9
#
# Host A's document lists vmK1 as a remote behind 192.168.100.9; the
# kernel side has static FDB entries: everything unknown (broadcast, ARP)
# and vmA1's MAC go to 192.168.100.1.  Pings, ARP (broadcast requests and
# unicast probes) and TCP flow both ways, so each side decodes what the
# other encapsulates, including segmented TCP.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd nc ss bridge
fab_underlay
fab_host A
fab_network blue 100
fab_vm vmA1 blue 10.0.0.1

kernel_vtep=$FAB_UNDERLAY_NET.9
kernel_mac=02:00:00:00:09:01
mtu=$(fab_net_mtu blue)

say "kernel VXLAN host at $kernel_vtep"
fab_kernel_host linux "$kernel_vtep"
fab_kernel_network linux 100 "$kernel_vtep" "$mtu"
fab_kernel_vm linux vmK1 100 10.0.0.9 "$kernel_mac" "$mtu"
fab_kernel_remote linux 100 "${FAB_VM_MAC[vmA1]}" "$(fab_vtep A)"

fab_remote A blue "$kernel_mac" 10.0.0.9 "$kernel_vtep"
fab_start_agents

say "fabric VM -> kernel VM"
assert_ping_ok vmA1 10.0.0.9
[ "$(fab_neigh_mac vmA1 10.0.0.9)" = "$kernel_mac" ] \
    || fail "vmA1 resolved 10.0.0.9 to the wrong MAC"

say "kernel VM -> fabric VM (its ARP goes over VXLAN to our VTEP)"
in_ns vmK1 ip neigh flush dev eth0
assert_ping_ok vmK1 10.0.0.1
[ "$(fab_neigh_mac vmK1 10.0.0.1)" = "${FAB_VM_MAC[vmA1]}" ] \
    || fail "vmK1 resolved 10.0.0.1 to the wrong MAC"

say "kernel VM re-validates vmA1's MAC with unicast ARP probes"
# A stale entry in use is confirmed by ARP requests sent straight to the
# known MAC: they arrive by VXLAN as unicast, and vmA1 must answer them.
in_ns vmK1 sysctl -qw net.ipv4.neigh.eth0.delay_first_probe_time=1
in_ns vmK1 ip neigh replace 10.0.0.1 lladdr "${FAB_VM_MAC[vmA1]}" dev eth0 nud stale
summary=$(in_ns vmK1 ping -c 60 -i 0.1 -W 1 10.0.0.1 | grep 'packets transmitted') || true
echo "ping during the probes: $summary"
[[ $summary == *" 0% packet loss"* ]] || fail "vmK1 lost pings while probing: $summary"
state=$(in_ns vmK1 ip neigh show to 10.0.0.1 dev eth0)
[[ $state == *REACHABLE* ]] || fail "vmK1's entry for 10.0.0.1 is not REACHABLE: $state"

say "TCP both ways, payload intact"
fab_tcp_check vmA1 10.0.0.9 vmK1 2097152
fab_tcp_check vmK1 10.0.0.1 vmA1 2097152

say "full-size packets both ways (1450-byte IP in 1500-byte underlay)"
in_ns vmA1 ping -q -c 3 -i 0.2 -W 1 -M "do" -s $(( mtu - 28 )) 10.0.0.9 >/dev/null \
    || fail "vmA1: full-size ping to the kernel VM failed"
in_ns vmK1 ping -q -c 3 -i 0.2 -W 1 -M "do" -s $(( mtu - 28 )) 10.0.0.1 >/dev/null \
    || fail "vmK1: full-size ping to the fabric VM failed"

say "PASS"

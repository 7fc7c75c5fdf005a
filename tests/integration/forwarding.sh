#!/bin/bash
# Forwarding between VMs, on one host and across hosts, in two networks
# whose address ranges overlap; and isolation between those networks.
#
#   host A: vmA1 blue 10.0.0.1   vmA2 blue 10.0.0.2
#   host B: vmB1 blue 10.0.0.3   vmB2 red  10.0.0.3   (same IP, two networks)
#   host C: vmC1 red  10.0.0.1   vmC2 red  10.0.0.4
#
# Blue is VNI 100, red VNI 200, both 10.0.0.0/24.  A blue VM asking for
# 10.0.0.3 must get the blue one, and a red VM the red one: the overlap is
# what proves that the networks are really apart.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd nc ss
fab_underlay
fab_host A
fab_host B
fab_host C
fab_network blue 100
fab_network red 200
fab_vm vmA1 blue 10.0.0.1
fab_vm vmA2 blue 10.0.0.2
fab_vm vmB1 blue 10.0.0.3
fab_vm vmB2 red 10.0.0.3
fab_vm vmC1 red 10.0.0.1
fab_vm vmC2 red 10.0.0.4
fab_start_agents

say "blue: ping on one host and across hosts"
assert_ping_ok vmA1 10.0.0.2
assert_ping_ok vmA2 10.0.0.1
assert_ping_ok vmA1 10.0.0.3
assert_ping_ok vmB1 10.0.0.2

say "red: ping on one host and across hosts"
assert_ping_ok vmC1 10.0.0.4
assert_ping_ok vmC2 10.0.0.1
assert_ping_ok vmC1 10.0.0.3
assert_ping_ok vmB2 10.0.0.4

say "10.0.0.3 resolves to the VM of the asker's own network"
mac=$(fab_neigh_mac vmA1 10.0.0.3)
[ "$mac" = "${FAB_VM_MAC[vmB1]}" ] \
    || fail "blue vmA1 resolved 10.0.0.3 to '$mac', not blue vmB1 ${FAB_VM_MAC[vmB1]}"
mac=$(fab_neigh_mac vmC1 10.0.0.3)
[ "$mac" = "${FAB_VM_MAC[vmB2]}" ] \
    || fail "red vmC1 resolved 10.0.0.3 to '$mac', not red vmB2 ${FAB_VM_MAC[vmB2]}"

say "TCP across hosts reaches only the listener of the sender's network"
# Both 10.0.0.3s listen; the bytes must arrive whole at the right one.
fab_tcp_check vmA1 10.0.0.3 vmB1 1048576 vmB2
fab_tcp_check vmC1 10.0.0.3 vmB2 1048576 vmB1
# And the other way, a bulk transfer through the return path.
fab_tcp_check vmB1 10.0.0.1 vmA1 4194304 vmC1

say "UDP across hosts, payload intact"
fab_udp_check vmA2 10.0.0.3 vmB1
fab_udp_check vmC2 10.0.0.3 vmB2

say "no reachability across networks"
# 10.0.0.4 exists only in red, 10.0.0.2 only in blue.
assert_ping_fails vmA1 10.0.0.4
assert_ping_fails vmB1 10.0.0.4
assert_ping_fails vmC1 10.0.0.2
assert_ping_fails vmB2 10.0.0.2
# Even knowing the red VM's MAC, a blue VM cannot send to it.
in_ns vmA1 ip neigh replace 10.0.0.4 lladdr "${FAB_VM_MAC[vmC2]}" dev eth0
assert_ping_fails vmA1 10.0.0.4
in_ns vmA2 ip neigh replace 10.0.0.99 lladdr "${FAB_VM_MAC[vmB2]}" dev eth0
assert_ping_fails vmA2 10.0.0.99

say "PASS"

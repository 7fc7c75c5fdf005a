#!/bin/bash
# Port security and the network MTU are enforced where the VM plugs in,
# and every drop is counted under its reason.
#
#   host A: vmA1 blue 10.0.0.1 (port security on)
#           vmA2 blue 10.0.0.2 (port security off)
#   host B: vmB1 blue 10.0.0.3
#
# Blue's MTU is 1450.  vmA1 takes another MAC, then another IP: it can no
# longer send, and its port counts "spoofed-mac" and "spoofed-ip" drops;
# given its own addresses back it works again.  Then vmA1 raises its MTU
# above the network's: packets up to 1450 bytes pass, larger ones are
# dropped and counted as "oversize".  Last, vmA2, without port security,
# may send from another IP (vmB1's ARP for it is flooded to every host).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
fab_underlay
fab_host A
fab_host B
fab_network blue 100 1450
fab_vm vmA1 blue 10.0.0.1
fab_vm vmA2 blue 10.0.0.2 "" false
fab_vm vmB1 blue 10.0.0.3
fab_start_agents
assert_ping_ok vmA1 10.0.0.3
assert_ping_ok vmA1 10.0.0.2

# Fails unless the "reason" drop counter of "vm"'s port grew past "before".
assert_drops_grew() {
    local vm=$1 reason=$2 before=$3 after
    after=$(fab_port_drops "$vm" "$reason")
    [ "$after" -gt "$before" ] \
        || fail "$vm: \"$reason\" drops $before -> $after, expected growth"
    echo "$vm: $reason drops $before -> $after"
}

say "vmA1 takes another MAC: it cannot send, drops counted as spoofed-mac"
before=$(fab_port_drops vmA1 spoofed-mac)
in_ns vmA1 ip link set eth0 address 02:00:00:00:01:99
assert_ping_fails vmA1 10.0.0.3
assert_ping_fails vmA1 10.0.0.2
assert_drops_grew vmA1 spoofed-mac "$before"
in_ns vmA1 ip link set eth0 address "${FAB_VM_MAC[vmA1]}"
assert_ping_ok vmA1 10.0.0.3

say "vmA1 takes another IP: it cannot send, drops counted as spoofed-ip"
before=$(fab_port_drops vmA1 spoofed-ip)
in_ns vmA1 ip addr flush dev eth0
in_ns vmA1 ip addr add 10.0.0.66/24 dev eth0
assert_ping_fails vmA1 10.0.0.3
assert_drops_grew vmA1 spoofed-ip "$before"
in_ns vmA1 ip addr flush dev eth0
in_ns vmA1 ip addr add 10.0.0.1/24 dev eth0
assert_ping_ok vmA1 10.0.0.3

say "vmA1 raises its MTU above the network's: oversize packets dropped"
# A veth drops frames larger than the receiving end's MTU before the
# fabric sees them, which a tap would not; raise the host side too, so it
# is the fabric that enforces the network MTU.
in_ns vmA1 ip link set eth0 mtu 1500
in_host A ip link set vmA1-h mtu 1500
# 1422 bytes of ICMP data make a 1450-byte IP packet: the largest allowed.
in_ns vmA1 ping -q -c 3 -i 0.1 -W 1 -M "do" -s 1422 10.0.0.3 >/dev/null \
    || fail "vmA1: a packet of exactly the network MTU was dropped"
in_ns vmA1 ping -q -c 3 -i 0.1 -W 1 -s 1000 10.0.0.2 >/dev/null \
    || fail "vmA1: a normal-sized ping on one host failed"
before=$(fab_port_drops vmA1 oversize)
if in_ns vmA1 ping -q -c 3 -i 0.1 -W 1 -M "do" -s 1423 10.0.0.3 >/dev/null; then
    fail "vmA1: a 1451-byte packet crossed a 1450-MTU network"
fi
if in_ns vmA1 ping -q -c 3 -i 0.1 -W 1 -M "do" -s 1460 10.0.0.2 >/dev/null; then
    fail "vmA1: a 1488-byte packet reached a VM on the same host"
fi
assert_drops_grew vmA1 oversize "$before"
[ "$(fab_port_drops vmA1 oversize)" -ge $(( before + 6 )) ] \
    || fail "vmA1: not every oversize packet was counted"
assert_ping_ok vmA1 10.0.0.3

say "vmA2 has no port security: another IP still works"
in_ns vmA2 ip addr add 10.0.0.77/24 dev eth0
in_ns vmA2 ping -q -c 1 -w 5 -I 10.0.0.77 10.0.0.3 >/dev/null \
    || fail "vmA2 (port security off) cannot send from another IP"

say "PASS"

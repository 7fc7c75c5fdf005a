#!/bin/bash
# DHCP from the fabric end to end through the controller: a network's DNS
# servers set with fabricctl reach a VM's lease, and change with it.
#
#   host A: vmA1 in blue (10.0.0.0/24), its port made through the API
#
# fabricctl refuses a bad --dns (and creates nothing) and a port asking
# for the DHCP server's address 10.0.0.254; vmA1 gets the address the
# controller gave its port, the two DNS servers and no hostname (a plain
# port has none); after "network update --dns" a renewal brings the new
# server.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/dhcp.sh"

fab_setup
require_cmd busybox
fab_controlled_cloud A

say "bad DNS servers and the server's address are refused"
if out=$(fabctl network create blue --cidr 10.0.0.0/24 --vni 100 \
    --dns 10.9.0.1 --dns ns1.example 2>&1); then
    fail "a network with DNS server \"ns1.example\" was created"
fi
grep -q 'dns_servers\[1\] "ns1.example": not an IPv4 address' <<<"$out" \
    || fail "unexpected message: $out"
if fabctl network show blue >/dev/null 2>&1; then
    fail "the refused network exists"
fi
if out=$(fabctl network create blue --cidr 10.0.0.0/24 --vni 100 \
    --dns 10.9.0.1 --dns 10.9.0.2 --dns 10.9.0.3 --dns 10.9.0.4 2>&1); then
    fail "a network with four DNS servers was created"
fi
grep -q 'at most 3' <<<"$out" || fail "unexpected message: $out"
fabctl network create blue --cidr 10.0.0.0/24 --vni 100 \
    --dns 10.9.0.1 --dns 10.9.0.2 >/dev/null
fab_network blue 100
if out=$(fabctl port create x --network blue --ip 10.0.0.254 2>&1); then
    fail "a port got the DHCP server's address 10.0.0.254"
fi
grep -q "DHCP server address" <<<"$out" || fail "unexpected message: $out"

say "vmA1 gets its port's address and the network's DNS servers"
fab_vm_from_api vmA1 blue
fab_agent_start_controlled A
fab_ports_up_wait
ip=$(fabctl -o json port show vma1 | jq -r .ip)
log=$FAB_TMP/vmA1.log
dhcp_start vmA1 "$log"
[ "$(lease_of "$log" ip)" = "$ip" ] || fail "vmA1 got $(lease_of "$log" ip), not $ip"
[ "$(lease_of "$log" dns)" = "10.9.0.1 10.9.0.2" ] \
    || fail "vmA1 got dns '$(lease_of "$log" dns)'"
[ -z "$(lease_of "$log" hostname)" ] \
    || fail "a plain port's VM got hostname '$(lease_of "$log" hostname)'"
[ "$(lease_of "$log" serverid)" = 10.0.0.254 ] \
    || fail "server id '$(lease_of "$log" serverid)'"

say "a new DNS server reaches the VM at its next renewal"
fabctl network update blue --dns 10.9.0.3 >/dev/null
for _ in $(seq 50); do
    dhcp_renew "$log"
    [ "$(lease_of "$log" dns)" = 10.9.0.3 ] && break
    sleep 0.2
done
[ "$(lease_of "$log" dns)" = 10.9.0.3 ] \
    || fail "after the update vmA1 still gets dns '$(lease_of "$log" dns)'"
dhcp_stop

say "PASS"

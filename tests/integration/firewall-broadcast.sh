#!/bin/bash
# Micro-segmentation holds for every frame, not only for the ones a well
# behaved stack addresses to its peer: IP in broadcast and multicast frames
# meets the policy of each port it reaches.
#
#   host A: vmA1 "web" (tier=web)   vmA2 "db" (tier=db)   vmA3 no group
#   host B: vmB1 no group
#
# db accepts UDP 6000 and TCP 5432 from web, nothing else.  The attackers
# vmA3 (db's own host) and vmB1 (another host), in no group, craft frames
# at db's UDP socket and TCP listener: IP to db's address in an Ethernet
# broadcast frame (through a static neighbour entry, and raw with nping),
# to the subnet broadcast, to 255.255.255.255, to 224.0.0.1, to ff02::1,
# as UDP and as TCP SYNs.  Nothing reaches db's NIC (an nftables counter
# in db's namespace, in front of its stack), db's socket receives nothing,
# every drop is counted as firewall-deny on db's port and is in the flow
# log, and a trace agrees.  Meanwhile web's broadcast to db's socket
# arrives, TCP from web works (ARP), and IPv6 neighbour discovery between
# the VMs still works.
#
# Needs root, jq, curl, nc (OpenBSD), nping (from nmap) and nft.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd curl nc nping nft
fab_web_db_cloud
for proto_port in udp:6000 tcp:5432; do
    fabctl sg rule add db --direction ingress --protocol "${proto_port%:*}" \
        --ports "${proto_port#*:}" --peer-group web --action allow >/dev/null
done

fab_vm_from_api vmA1 blue --label tier=web
fab_vm_from_api vmA2 blue --label tier=db
fab_vm_from_api vmA3 blue
fab_vm_from_api vmB1 blue
fab_ports_up_wait 20
DB=${FAB_VM_IP[vmA2]}
BCAST=10.0.0.255

# db's servers: a UDP socket on 6000 whose every datagram goes to a file,
# and a TCP listener on 5432.
UDP_OUT=$FAB_TMP/db-udp.out
in_ns_bg vmA2 sh -c "exec nc -u -l -k 6000 >$UDP_OUT"
in_ns_bg vmA2 nc -l -k 5432 >/dev/null 2>&1
fab_wait_listen vmA2 udp 6000
fab_wait_listen vmA2 tcp 5432

# What reaches db's NIC from the attackers, counted in db's namespace before
# its stack sees it (netdev ingress runs after the fabric delivered the
# frame, whatever its destination MAC).
nft_db() {
    nsenter --net="/run/netns/$(fab_ns vmA2)" nft "$@"
}
nft_db -f - <<EOF
table netdev watch {
    counter attackers {}
    chain in {
        type filter hook ingress device eth0 priority 0;
        ip saddr { ${FAB_VM_IP[vmA3]}, ${FAB_VM_IP[vmB1]} } counter name attackers
        ip6 nexthdr udp udp dport 6000 counter name attackers
    }
}
EOF
reached_db() {
    nft_db -j list counter netdev watch attackers \
        | jq '[.nftables[] | .counter? | select(.) | .packets] | add'
}

# Sums db's port's drops of "reason" on host A.
db_drops() {
    fab_port_drops vmA2 "$1"
}

# Every VM has an IPv6 link-local address once duplicate address detection
# is over: prints "vm"'s.
link_local() {
    local vm=$1 addr
    for _ in $(seq 50); do
        addr=$(in_ns "$vm" ip -6 -j addr show dev eth0 scope link \
            | jq -r '.[0].addr_info[] | select(.tentative | not) | .local' \
            | head -n 1)
        [ -n "$addr" ] && { echo "$addr"; return 0; }
        sleep 0.1
    done
    fail "$vm has no IPv6 link-local address"
}

# Sends one crafted frame from "vm" with nping: "args..." say what.
craft() {
    local vm=$1
    shift
    in_ns "$vm" nping --send-eth -e eth0 -c 1 --delay 10ms -q "$@" \
        >/dev/null 2>&1 || fail "$vm: nping $* failed"
}

# The attack of one attacker "vm".
attack() {
    local vm=$1
    # A static neighbour entry: the VM's own stack sends to db's address
    # in broadcast frames, as UDP and as TCP SYNs.
    in_ns "$vm" ip neigh replace "$DB" lladdr ff:ff:ff:ff:ff:ff dev eth0 \
        nud permanent
    echo "from $vm by broadcast MAC" | in_ns "$vm" nc -u -w 1 "$DB" 6000 \
        || true
    if in_ns "$vm" nc -z -w 1 "$DB" 5432; then
        fail "$vm opened TCP to db"
    fi
    in_ns "$vm" ip neigh del "$DB" dev eth0
    # Raw frames: to db in a broadcast frame, to the broadcast addresses and
    # to all hosts, UDP and TCP SYN.
    local ip mac
    while read -r ip mac; do
        craft "$vm" --udp -p 6000 --dest-mac "$mac" --data-string "from $vm" \
            "$ip"
        craft "$vm" --tcp --flags syn -p 5432 --dest-mac "$mac" "$ip"
    done <<EOF
$DB ff:ff:ff:ff:ff:ff
$BCAST ff:ff:ff:ff:ff:ff
255.255.255.255 ff:ff:ff:ff:ff:ff
224.0.0.1 01:00:5e:00:00:01
EOF
    # IPv6 to all nodes, from the attacker's link-local address.
    craft "$vm" -6 --udp -p 6000 --dest-mac 33:33:00:00:00:01 \
        --source-mac "${FAB_VM_MAC[$vm]}" -S "$(link_local "$vm")" \
        --data-string "from $vm" ff02::1
}

say "attackers in no group send crafted broadcast and multicast frames to db"
deny_before=$(db_drops firewall-deny)
attack vmA3
attack vmB1
sleep 0.5
n=$(reached_db)
[ "$n" = 0 ] || fail "$n frame(s) from the attackers reached db's NIC"
[ ! -s "$UDP_OUT" ] || fail "db's UDP socket received: $(cat "$UDP_OUT")"
deny_after=$(db_drops firewall-deny)
# Per attacker: 2 through the neighbour entry (the TCP SYN is retried,
# hence at least), 8 raw IPv4 and 1 IPv6.
[ "$((deny_after - deny_before))" -ge 22 ] \
    || fail "db's port counts $((deny_after - deny_before)) firewall-deny drops, expected at least 22"
echo "  nothing reached db; its port dropped $((deny_after - deny_before)) frames as firewall-deny"

say "the drops are in the flow log, by destination"
for dst in "$DB" "$BCAST" 255.255.255.255 224.0.0.1 ff02::1; do
    for _ in $(seq 40); do
        n=$(fabctl -o json flowlog --port vma2 --verdict deny --limit 1000 \
            | jq --arg d "$dst" '[.[] | select(.dst_ip == $d)] | length')
        [ "$n" -gt 0 ] && break
        sleep 0.5
    done
    [ "$n" -gt 0 ] || fail "no denied flow to $dst in vma2's flow log"
    echo "  $n denied flow(s) to $dst"
done
from_b=$(fabctl -o json flowlog --port vma2 --verdict deny --limit 1000 \
    | jq --arg s "${FAB_VM_IP[vmB1]}" '[.[] | select(.src_ip == $s)] | length')
[ "$from_b" -gt 0 ] || fail "no denied flow from the other host's attacker"
fabctl flowlog --port vma2 --verdict deny --limit 5

say "a trace of the attack says deny; of web's request, allow"
trace=$(fabctl -o json trace --from vma3 --to "$DB" --proto udp --dport 6000)
[ "$(jq -r .verdict <<<"$trace")" = deny ] || fail "trace: $trace"
trace=$(fabctl -o json trace --from vma1 --to "$DB" --proto udp --dport 6000)
[ "$(jq -r .verdict <<<"$trace")" = allow ] || fail "trace: $trace"

say "web's broadcast reaches db's socket; TCP from web works"
for _ in $(seq 10); do
    echo "web by broadcast" | in_ns vmA1 nc -u -b -w 1 "$BCAST" 6000 \
        2>/dev/null || true
    grep -q "web by broadcast" "$UDP_OUT" && break
done
grep -q "web by broadcast" "$UDP_OUT" \
    || fail "web's broadcast did not reach db's socket"
in_ns vmA1 nc -z -w 2 "$DB" 5432 || fail "web cannot open TCP to db"
echo "  db received web's broadcast; web -> db:5432 open"

say "neighbour discovery works between VMs, on a host and across hosts"
while read -r from to; do
    in_ns "$from" ping -6 -q -c 1 -w 5 "$(link_local "$to")%eth0" \
        >/dev/null || fail "$from cannot reach $to's link-local address"
    echo "  $from -> $to over IPv6 link-local"
done <<EOF
vmA3 vmA1
vmB1 vmA1
vmA2 vmA1
EOF
say "ok"

#!/bin/bash
# What the fabric puts on the wire is well-formed VXLAN, as an independent
# decoder (Wireshark's) sees it.
#
#   host A: vmA1 blue 10.0.0.1   vmA2 red 10.0.0.1
#   host B: vmB1 blue 10.0.0.2   vmB2 red 10.0.0.2
#
# Blue is VNI 100 and red VNI 1193046 (0x123456, which needs all 24 bits).
# While the VMs ping and copy a file across hosts we capture on the
# underlay bridge and check every frame: at most underlay-MTU sized, outer
# IPv4 between the two VTEPs with a good header checksum, UDP to 4789 from
# a port in 49152..65535 that is the same for every frame of one inner
# flow, UDP checksum 0 (RFC 7348 allows zero over IPv4; we do not compute
# it), VXLAN with the VNI of the inner sender's network, inner ICMP or TCP
# with good checksums, and nothing Wireshark calls malformed.
#
# The hosts' underlay devices get segmentation and checksum offloads
# turned off, so the kernel cuts and checksums our tunnel GSO frames in
# software before the capture sees them, as a NIC would on a real wire.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd tshark dumpcap nc ss ethtool
fab_underlay
fab_host A
fab_host B
fab_network blue 100
fab_network red 1193046
fab_vm vmA1 blue 10.0.0.1
fab_vm vmA2 red 10.0.0.1
fab_vm vmB1 blue 10.0.0.2
fab_vm vmB2 red 10.0.0.2
fab_start_agents
for host in A B; do
    in_host "$host" ethtool -K ul0 tx off tx-udp_tnl-segmentation off \
        tx-udp_tnl-csum-segmentation off >/dev/null
done

# Resolve everything first, so the capture holds steady-state traffic.
assert_ping_ok vmA1 10.0.0.2
assert_ping_ok vmA2 10.0.0.2

cap=$FAB_TMP/underlay.pcapng
say "capturing VXLAN on the underlay while VMs ping and copy"
fab_capture_start "$cap" "udp port 4789"
in_ns vmA1 ping -q -c 10 -i 0.05 10.0.0.2 >/dev/null || fail "blue ping failed"
in_ns vmB2 ping -q -c 10 -i 0.05 10.0.0.1 >/dev/null || fail "red ping failed"
fab_tcp_check vmA2 10.0.0.2 vmB2 262144
fab_capture_stop

tshark_read() {
    tshark -r "$cap" -d udp.port==4789,vxlan -o ip.check_checksum:TRUE \
        -o tcp.check_checksum:TRUE "$@" 2>"$FAB_TMP/tshark.err" \
        || fail "tshark: $(grep -v 'Running as user' "$FAB_TMP/tshark.err")"
}

say "every frame decodes as the VXLAN we meant to send"
# One line per frame; fields that occur in both the outer and the inner
# headers come as "outer,inner".
fields=$FAB_TMP/fields.txt
tshark_read -T fields -E separator='|' -E occurrence=a -E aggregator=, \
    -e ip.src -e ip.dst -e udp.srcport -e udp.dstport -e udp.checksum \
    -e vxlan.vni -e eth.src -e ip.proto -e frame.len -e tcp.srcport \
    -e tcp.dstport >"$fields"

declare -A vni_of_mac=()
for vm in "${FAB_VMS[@]}"; do
    vni_of_mac[${FAB_VM_MAC[$vm]}]=${FAB_NET_VNI[${FAB_VM_NET[$vm]}]}
done
vteps=" $(fab_vtep A) $(fab_vtep B) "

n=0 n_icmp=0 n_tcp=0 n_other=0
declare -A vnis_seen=() flow_port=()
max_len=$(( FAB_UNDERLAY_MTU + 14 ))
while IFS='|' read -r ips ipd sport dport csum vni macs protos len tsport tdport; do
    n=$(( n + 1 ))
    where="frame $n ($ips -> $ipd)"
    outer_src=${ips%%,*} outer_dst=${ipd%%,*}
    [[ $vteps == *" $outer_src "* && $vteps == *" $outer_dst "* \
        && $outer_src != "$outer_dst" ]] \
        || fail "$where: outer addresses are not two of our VTEPs"
    [ "$len" -le "$max_len" ] || fail "$where: $len bytes, over the underlay MTU"
    [ "${dport%%,*}" = 4789 ] || fail "$where: UDP destination port $dport"
    sport=${sport%%,*}
    [ "$sport" -ge 49152 ] || fail "$where: UDP source port $sport below 49152"
    [ "$sport" -le 65535 ] \
        || fail "$where: UDP source port $sport outside 49152..65535"
    [ "${csum%%,*}" = 0x0000 ] || fail "$where: outer UDP checksum $csum, not 0"
    inner_mac=${macs#*,}
    expected=${vni_of_mac[$inner_mac]:-}
    [ -n "$expected" ] || fail "$where: inner source MAC $inner_mac is no VM's"
    [ "$vni" = "$expected" ] \
        || fail "$where: VNI $vni, but $inner_mac is in VNI $expected"
    vnis_seen[$vni]=1
    case ${protos#*,} in
    1) n_icmp=$(( n_icmp + 1 )) ;;
    6)
        n_tcp=$(( n_tcp + 1 ))
        # One inner TCP flow, one outer source port (ECMP keeps it on one
        # path, in order).
        flow="$vni $ips $tsport $tdport"
        : "${flow_port[$flow]:=$sport}"
        [ "${flow_port[$flow]}" = "$sport" ] \
            || fail "$where: flow $flow moved from UDP port ${flow_port[$flow]} to $sport"
        ;;
    *) n_other=$(( n_other + 1 )) ;; # IPv6 neighbour discovery, say.
    esac
done <"$fields"

# 10 requests and 10 replies per network; the copy's data and its ACKs.
[ "$n_icmp" -ge 40 ] || fail "only $n_icmp ICMP frames captured, expected 40"
[ "$n_tcp" -ge 100 ] || fail "only $n_tcp TCP frames captured"
[ "${#vnis_seen[@]}" -eq 2 ] || fail "saw VNIs ${!vnis_seen[*]}, expected 100 and 1193046"
echo "$n frames: $n_icmp ICMP, $n_tcp TCP, $n_other other; VNIs ${!vnis_seen[*]}"

say "Wireshark finds nothing malformed or wrong"
bad=$(tshark_read -Y '_ws.malformed || _ws.expert.severity == error
                      || ip.checksum.status == "Bad"
                      || tcp.checksum.status == "Bad"
                      || icmp.checksum.status == "Bad"')
[ -z "$bad" ] || fail "malformed or erroneous frames: $bad"

say "PASS"

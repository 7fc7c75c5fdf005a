#!/bin/bash
# VTEPs outside the fabric join a network through the API, and talk to
# fabric VMs both ways, with and without security groups.
#
#   host A (fabric):  vmA1, vmA2 in blue (VNI 100)
#   host B (fabric):  vmB1 in blue
#   ovs:              Open vSwitch (userspace datapath, datapath_type=netdev)
#                     at 192.168.100.20, VXLAN ports to hosts A and B, no
#                     GBP; VM vmO1 behind it
#   lnx:              a Linux bridge with a vxlan device without "gbp" at
#                     192.168.100.21; VM vmL1 behind it
#
# Both are made external VTEPs of blue with "fabricctl external-vtep
# create", their VMs static endpoints.  Checked: ping and TCP both ways
# between each of them and the fabric VMs on both hosts (their ARP goes by
# flood to the fabric and back).  Then vmA1 gets a security group whose
# only ingress rule allows vmO1's address: vmO1 still reaches vmA1 (ping
# and TCP), while vmL1 and vmB1 are refused; vmA1, now sending with a
# group, still reaches both external VMs, which drop VXLAN with the GBP
# flag, so the fabric sends them plain RFC 7348 (checked on the wire too),
# while fabric hosts still get the group.  VXLAN from an external VTEP in
# a network it did not join is dropped as "foreign-vtep".  Deleting the
# external VTEP cuts it off.
#
# Open vSwitch runs in its own network namespace with its own database,
# run and log directories under FAB_TMP, so nothing system-wide is
# touched, and is stopped at the end.
#
# Needs root, jq, curl, nc (OpenBSD), tshark and Open vSwitch 3.1
# (ovsdb-server, ovs-vswitchd, ovs-vsctl, ovs-appctl, ovsdb-tool).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd curl nc bridge ethtool tshark dumpcap ovsdb-server ovs-vswitchd ovs-vsctl \
    ovs-appctl ovsdb-tool
OVS_SCHEMA=${OVS_SCHEMA:-/usr/share/openvswitch/vswitch.ovsschema}
[ -r "$OVS_SCHEMA" ] || skip "needs Open vSwitch's schema at $OVS_SCHEMA"

OVS_IP=$FAB_UNDERLAY_NET.20
LNX_IP=$FAB_UNDERLAY_NET.21
OVS_VM_IP=10.0.0.20
LNX_VM_IP=10.0.0.21
OVS_VM_MAC=02:00:00:00:20:01
LNX_VM_MAC=02:00:00:00:21:01
OVS_DIR=$FAB_TMP/ovs

# ---------------------------------------------------------------------------
# Open vSwitch, confined to node "ovs" and OVS_DIR.

ovs_env() {
    env OVS_RUNDIR="$OVS_DIR" OVS_LOGDIR="$OVS_DIR" OVS_DBDIR="$OVS_DIR" \
        OVS_SYSCONFDIR="$OVS_DIR" "$@"
}

vsctl() {
    ovs_env ovs-vsctl --db="unix:$OVS_DIR/db.sock" --timeout=10 "$@"
}

ovs_appctl() {
    ovs_env ovs-appctl -t "$OVS_DIR/ovs-vswitchd.ctl" "$@"
}

# Stops what ovs_start started, by the pids it wrote.
ovs_stop() {
    local pidfile pid
    for pidfile in "$OVS_DIR/ovs-vswitchd.pid" "$OVS_DIR/ovsdb-server.pid"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

# The test's own EXIT trap: Open vSwitch first, then the library's, which
# exits with the test's status.
cleanup() {
    local rc=$?
    set +e
    ovs_stop
    (exit "$rc")
    fab_cleanup
}
trap cleanup EXIT

# Builds node "ovs": its underlay port in bridge br-phy (which carries the
# VTEP address, as OVS's userspace tunnelling needs), bridge br-int with
# VM vmO1 and one VXLAN port per fabric host, all datapath_type=netdev.
ovs_start() {
    local ns
    mkdir -p "$OVS_DIR"
    fab_kernel_host ovs "$OVS_IP"
    ns=$(fab_ns ovs)
    ovs_env ovsdb-tool create "$OVS_DIR/conf.db" "$OVS_SCHEMA"
    in_ns ovs env OVS_RUNDIR="$OVS_DIR" OVS_LOGDIR="$OVS_DIR" \
        OVS_DBDIR="$OVS_DIR" ovsdb-server "$OVS_DIR/conf.db" \
        --remote="punix:$OVS_DIR/db.sock" \
        --pidfile="$OVS_DIR/ovsdb-server.pid" \
        --unixctl="$OVS_DIR/ovsdb-server.ctl" \
        --log-file="$OVS_DIR/ovsdb-server.log" --detach --no-chdir
    vsctl --no-wait init
    in_ns ovs env OVS_RUNDIR="$OVS_DIR" OVS_LOGDIR="$OVS_DIR" \
        OVS_DBDIR="$OVS_DIR" ovs-vswitchd "unix:$OVS_DIR/db.sock" \
        --pidfile="$OVS_DIR/ovs-vswitchd.pid" \
        --unixctl="$OVS_DIR/ovs-vswitchd.ctl" \
        --log-file="$OVS_DIR/ovs-vswitchd.log" --detach --no-chdir
    # The underlay address moves from ul0 to br-phy, whose MAC it takes.
    vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev \
        other_config:hwaddr="$(ip -n "$ns" -br link show ul0 | awk '{print $3}')" \
        -- add-port br-phy ul0
    ip -n "$ns" addr flush dev ul0
    ip -n "$ns" addr add "$OVS_IP/24" dev br-phy
    ip -n "$ns" link set br-phy up
    vsctl add-br br-int -- set bridge br-int datapath_type=netdev
    ip netns add "$(fab_ns vmO1)"
    ip -n "$(fab_ns vmO1)" link set lo up
    ip link add eth0 netns "$(fab_ns vmO1)" mtu "$MTU" address "$OVS_VM_MAC" \
        type veth peer name vmO1-h netns "$ns" mtu "$MTU"
    # OVS's userspace datapath reads and writes its ports with AF_PACKET
    # and, without userspace TSO, takes neither partial checksums nor
    # segmentation offloads: what reaches it must be whole, wire-size
    # frames, so the devices that hand it frames do that work themselves.
    in_ns vmO1 ethtool -K eth0 tx off tso off gso off >/dev/null
    in_ns ul ethtool -K ul-ovs tx off tso off gso off >/dev/null
    ip -n "$(fab_ns vmO1)" addr add "$OVS_VM_IP/24" dev eth0
    ip -n "$(fab_ns vmO1)" link set eth0 up
    ip -n "$ns" link set vmO1-h up
    vsctl add-port br-int vmO1-h
    vsctl add-port br-int vx-a -- set interface vx-a type=vxlan \
        options:remote_ip="$(fab_vtep A)" options:key=100 \
        -- add-port br-int vx-b -- set interface vx-b type=vxlan \
        options:remote_ip="$(fab_vtep B)" options:key=100
    ip -n "$ns" link set br-int up
}

# Builds node "lnx": a Linux bridge and a vxlan device without "gbp",
# flooding to both fabric hosts, with VM vmL1.
lnx_start() {
    fab_kernel_host lnx "$LNX_IP"
    fab_kernel_network lnx 100 "$LNX_IP" "$MTU"
    fab_kernel_vm lnx vmL1 100 "$LNX_VM_IP" "$LNX_VM_MAC" "$MTU"
    for vm in vmA1 vmA2; do
        fab_kernel_remote lnx 100 "${FAB_VM_MAC[$vm]}" "$(fab_vtep A)"
    done
    fab_kernel_remote lnx 100 "${FAB_VM_MAC[vmB1]}" "$(fab_vtep B)"
}

# Succeeds if "from" opens a TCP connection to "ip" port 5001 where "to"
# listens, within a few seconds.
tcp_opens() {
    local from=$1 ip=$2 to=$3 pid ok=
    in_ns_bg "$to" timeout 10 nc -l 5001 >/dev/null
    pid=$!
    fab_wait_listen "$to" tcp 5001
    in_ns "$from" timeout 3 nc -z -w 2 "$ip" 5001 && ok=1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ -n "$ok" ]
}

# Prints the VXLAN flags byte (hex) of every VXLAN frame in capture "file"
# from VTEP "src" to VTEP "dst", one distinct value a line.
vxlan_flags() {
    tshark -r "$1" -Y "ip.src == $2 && ip.dst == $3 && udp.dstport == 4789" \
        -T fields -e udp.payload 2>/dev/null | cut -c1-2 | sort -u
}

# ---------------------------------------------------------------------------

fab_controlled_cloud A B
fab_agent_start_controlled A
fab_agent_start_controlled B
fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
fab_network blue 100
MTU=$(fab_net_mtu blue)
fab_vm_from_api vmA1 blue
fab_vm_from_api vmA2 blue
fab_vm_from_api vmB1 blue
fab_ports_up_wait 20
A1=${FAB_VM_IP[vmA1]} A2=${FAB_VM_IP[vmA2]} B1=${FAB_VM_IP[vmB1]}

say "Open vSwitch $(ovs-vswitchd --version | awk 'NR == 1 {print $NF}') at $OVS_IP, Linux vxlan at $LNX_IP"
ovs_start
lnx_start

say "both join blue through the API, with their VMs as endpoints"
fabctl external-vtep create ovs --address "$OVS_IP" --network blue \
    --endpoint "blue/$OVS_VM_MAC/$OVS_VM_IP" --description "OVS 3.1 netdev" \
    >/dev/null
fabctl external-vtep create lnx --address "$LNX_IP" --network blue \
    --endpoint "blue/$LNX_VM_MAC/$LNX_VM_IP" --gbp off >/dev/null
fabctl external-vtep list
[ "$(fabctl -o json external-vtep show ovs | jq -c '[.address, .networks, .gbp, .endpoints[0].ip]')" \
    = "[\"$OVS_IP\",[\"blue\"],false,\"$OVS_VM_IP\"]" ] \
    || fail "external-vtep show ovs: $(fabctl -o json external-vtep show ovs)"

say "no security group: ping and TCP both ways, both hosts"
for ext in vmO1 vmL1; do
    ext_ip=$OVS_VM_IP
    [ "$ext" = vmL1 ] && ext_ip=$LNX_VM_IP
    for vm in vmA1 vmB1; do
        assert_ping_ok "$ext" "${FAB_VM_IP[$vm]}"
        assert_ping_ok "$vm" "$ext_ip"
        fab_tcp_check "$ext" "${FAB_VM_IP[$vm]}" "$vm" 1048576
        fab_tcp_check "$vm" "$ext_ip" "$ext" 1048576
    done
done

say "vmA1 in group db, whose one ingress rule allows $OVS_VM_IP/32"
fabctl sg create db >/dev/null
fabctl sg rule add db --direction ingress --protocol any \
    --peer-cidr "$OVS_VM_IP/32" --action allow >/dev/null
fabctl port update vma1 --security-group db >/dev/null
cap=$FAB_TMP/gbp.pcapng
fab_capture_start "$cap" "udp port 4789"
# The group reaches host A's agent: vmB1's pings stop.
for _ in $(seq 50); do
    in_ns vmB1 ping -q -c 1 -W 1 "$A1" >/dev/null 2>&1 || break
    sleep 0.2
done
assert_ping_fails vmB1 "$A1"
assert_ping_ok vmO1 "$A1"
fab_tcp_check vmO1 "$A1" vmA1 1048576
say "vmL1 and vmB1 are refused"
assert_ping_fails vmL1 "$A1"
tcp_opens vmL1 "$A1" vmA1 && fail "vmL1 opened TCP to vmA1, which only vmO1 may"
tcp_opens vmB1 "$A1" vmA1 && fail "vmB1 opened TCP to vmA1, which only vmO1 may"
say "vmA1, sending with a group, still reaches both external VMs"
assert_ping_ok vmA1 "$OVS_VM_IP"
assert_ping_ok vmA1 "$LNX_VM_IP"
fab_tcp_check vmA1 "$OVS_VM_IP" vmO1 1048576
fab_tcp_check vmA1 "$LNX_VM_IP" vmL1 1048576
assert_ping_ok vmA1 "$B1"
fab_capture_stop
got=$(vxlan_flags "$cap" "$(fab_vtep A)" "$OVS_IP")
[ "$got" = 08 ] || fail "host A -> OVS: VXLAN flags '$got', want 08 alone (no G bit)"
got=$(vxlan_flags "$cap" "$(fab_vtep A)" "$LNX_IP")
[ "$got" = 08 ] || fail "host A -> Linux vxlan: VXLAN flags '$got', want 08 alone"
got=$(vxlan_flags "$cap" "$(fab_vtep A)" "$(fab_vtep B)")
[[ $got == *88* ]] || fail "host A -> host B: VXLAN flags '$got', want the G bit (88)"
say "on the wire: plain VXLAN to OVS and Linux, GBP to host B"

say "VXLAN from OVS in a network it did not join: foreign-vtep"
# Prints host A's count of VXLAN frames dropped as from a foreign VTEP.
foreign_drops() {
    fab_agent_cmd A --show -o json \
        | jq '[.counters[] | select(.role == "underlay")
               | .drops["foreign-vtep"] // 0] | add // 0'
}
before=$(foreign_drops)
vsctl set interface vx-a options:key=200
in_ns vmO1 ping -q -c 3 -i 0.2 -W 1 "$A1" >/dev/null 2>&1 || true
after=$(foreign_drops)
[ "$after" -gt "$before" ] || fail "host A counted no foreign-vtep drop ($before -> $after)"
vsctl set interface vx-a options:key=100
assert_ping_ok vmO1 "$A1"

say "deleting the external VTEP cuts it off"
fabctl external-vtep delete ovs >/dev/null
for _ in $(seq 50); do
    in_ns vmO1 ping -q -c 1 -W 1 "$A2" >/dev/null 2>&1 || break
    sleep 0.2
done
assert_ping_fails vmO1 "$A2"
assert_ping_ok vmL1 "$A2"

say "PASS"

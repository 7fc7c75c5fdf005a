#!/bin/bash
# Real VMs end to end, through fabricctl, a controller and three agents.
#
#   host A: vmA1, a network namespace in "blue" (10.0.0.40, group client)
#   host C: vmC1, a network namespace in "red" (10.0.0.50): red has the
#           same addresses as blue
#   web1, web2: QEMU guests of the test image in "blue", placed by the
#           scheduler on two different hosts (a strict anti-affinity
#           group), web1 in security group "web", web2 in "client"
#
# The image is registered from the test image.  Both guests boot, get
# their port's address by DHCP from the fabric, and web2's user-data
# script pings web1 and talks TCP to it across VXLAN: "web" lets group
# client in by ICMP and on TCP port 7 (echo), not on port 80 (HTTP), and
# the firewall enforces it.  The agents report the VMs running with their
# hypervisor, and count them in their metrics; "fabricctl vm console"
# shows the guest, and only the controller may read it from an agent.  A
# QoS policy on web1's NIC limits what it receives, measured at its tap.
# vmC1, in red, reaches neither guest.  Deleting web1 removes its QEMU,
# tap, port and disk.  web2 is stopped (its QEMU goes), started again and
# rebooted (in the same QEMU), and answers each time.
#
# Needs root, the agent, the controller and fabricctl built, QEMU (TCG is
# enough), jq, curl, promtool, and what tests/lib/common.sh's
# fab_controlled_cloud needs to hold the controller's answers against
# controller/openapi.json.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd curl promtool
fab_vm_init
fab_controlled_cloud A B C
fab_agent_start_controlled A
fab_agent_start_controlled B
fab_agent_start_controlled C

say "the agents register their hosts with a hypervisor and storage"
for _ in $(seq 100); do
    n=$(fabctl -o json host list \
        | jq '[.[] | select(.hypervisor.driver == "qemu"
                            and .hypervisor.accel == "tcg"
                            and (.capacity.disk_gb // 0) > 0)] | length')
    [ "$n" = 3 ] && break
    sleep 0.2
done
[ "$n" = 3 ] || fail "only $n hosts report a hypervisor and disk capacity"

say "networks, the image, groups and rules"
fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
fabctl network create red --cidr 10.0.0.0/24 --vni 200 >/dev/null
fab_network blue 100
fab_network red 200
fabctl image create tiny --file "$FAB_VM_IMAGE" >/dev/null
fabctl sg create web >/dev/null
fabctl sg create client >/dev/null
fabctl sg rule add web --direction ingress --protocol icmp \
    --peer-group client --action allow >/dev/null
fabctl sg rule add web --direction ingress --protocol tcp --ports 7 \
    --peer-group client --action allow >/dev/null
fabctl vm-group create apart --policy anti-affinity --strict >/dev/null
fab_vm_from_api vmA1 blue --ip 10.0.0.40 --security-group client
fab_vm_from_api vmC1 red --ip 10.0.0.50

# web2 tells on its console what it could reach of web1.
cat >"$FAB_TMP/web2.sh" <<'EOF'
#!/bin/sh
ok=
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    if ping -c 1 -W 1 10.0.0.11 >/dev/null 2>&1; then ok=1; break; fi
done
echo "fabric-test: ping ${ok:+ok}${ok:-failed}"
r=$(echo fabric-echo | nc -w 3 10.0.0.11 7)
[ "$r" = fabric-echo ] && echo "fabric-test: echo ok" || echo "fabric-test: echo failed"
if printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 10.0.0.11 80 | grep -q web1; then
    echo "fabric-test: http open"
else
    echo "fabric-test: http blocked"
fi
EOF

say "fabricctl vm create web1, web2: placed on two hosts, booted"
fabctl vm create web1 --network blue,ip=10.0.0.11,sg=web --vcpus 1 \
    --memory 128M --image tiny --group apart >/dev/null
fabctl vm create web2 --network blue,ip=10.0.0.12,sg=client --vcpus 1 \
    --memory 128M --image tiny --group apart \
    --user-data-file "$FAB_TMP/web2.sh" >/dev/null
deadline=$(( SECONDS + FAB_VM_BOOT_TIMEOUT ))
while :; do
    running=$(fabctl -o json vm list | jq '[.[] | select(.status == "running")] | length')
    [ "$running" = 2 ] && break
    [ "$SECONDS" -lt "$deadline" ] \
        || fail "VMs not running: $(fabctl -o json vm list | jq -c '[.[] | {name, status, status_reason}]')"
    sleep 0.5
done
host1=$(fabctl -o json vm show web1 | jq -r .host)
host2=$(fabctl -o json vm show web2 | jq -r .host)
[ "$host1" != "$host2" ] || fail "web1 and web2 are both on $host1"
h1=${host1#host-}
h1=${h1^^}
h2=${host2#host-}
h2=${h2^^}
uuid1=$(fabctl -o json vm show web1 | jq -r .uuid)
tap1=$(fabctl -o json vm show web1 | jq -r '.nics[0].device')
[ -n "$tap1" ] && [ "$tap1" != null ] || fail "web1's NIC has no device"
pid1=$(fab_qemu_pid "$h1" web1)
[ -n "$pid1" ] || fail "no QEMU for web1 on $host1"
[ -n "$(fab_qemu_pid "$h2" web2)" ] || fail "no QEMU for web2 on $host2"

say "the guests get their ports' addresses by DHCP from the fabric"
fab_vm_wait_up "$h1" web1 | grep -q "^fabric-test-image: up web1 10.0.0.11" \
    || fail "web1 did not get 10.0.0.11: $(fab_vm_console "$h1" web1 | tail -n 3)"
fab_vm_wait_up "$h2" web2 | grep -q "^fabric-test-image: up web2 10.0.0.12" \
    || fail "web2 did not get 10.0.0.12: $(fab_vm_console "$h2" web2 | tail -n 3)"

say "fabricctl vm console shows web2 pinging and talking to web1 across VXLAN, through the firewall"
deadline=$(( SECONDS + 60 ))
until fabctl vm console web2 | grep -q "^fabric-test: http"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "web2's script did not finish: $(fabctl vm console web2 | tail -n 5)"
    sleep 1
done
console=$(fabctl vm console web2)
grep -q "^fabric-test-image: up web2 10.0.0.12" <<<"$console" \
    || fail "the console of web2 does not show it up"
grep -q "^fabric-test: ping ok" <<<"$console" || fail "web2 cannot ping web1"
grep -q "^fabric-test: echo ok" <<<"$console" || fail "web2 gets no TCP echo from web1"
grep -q "^fabric-test: http blocked" <<<"$console" \
    || fail "web2 reached web1's port 80, which group web does not allow"

say "only the controller reads a console from an agent"
agent1=http://$FAB_CONTROL_NET.$(fab_host_index "$h1"):$FAB_AGENT_PORT
[ "$(curl -s -o /dev/null -w '%{http_code}' "$agent1/v1/vms/web1/console")" = 401 ] \
    || fail "the agent of $host1 shows a console without its token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer 00' \
    "$agent1/v1/vms/web1/console")" = 401 ] \
    || fail "the agent of $host1 shows a console for a wrong token"

say "vmA1 (client) reaches web1; vmC1 in red reaches neither guest"
assert_ping_ok vmA1 10.0.0.11
assert_ping_ok vmA1 10.0.0.12
assert_ping_fails vmC1 10.0.0.11
assert_ping_fails vmC1 10.0.0.12

# Prints the bits per second web1's tap delivered to its QEMU while vmA1
# sent it 1400-byte UDP datagrams as fast as it could for 3 seconds.
delivered_rate() {
    local before after
    before=$(in_ns "host$h1" cat "/sys/class/net/$tap1/statistics/tx_bytes")
    in_ns vmA1 timeout 3 bash -c 'exec 3>/dev/udp/10.0.0.11/9
        s=$(printf "%1400s" "")
        while :; do printf "%s" "$s" >&3 2>/dev/null || :; done' || true
    sleep 0.5
    after=$(in_ns "host$h1" cat "/sys/class/net/$tap1/statistics/tx_bytes")
    echo $(( (after - before) * 8 / 3 ))
}

say "a QoS limit on web1's NIC: what it receives, measured at its tap"
fabctl sg rule add web --direction ingress --protocol udp --ports 9 \
    --peer-group client --action allow >/dev/null
free=$(delivered_rate)
fabctl qos create slow --ingress-rate 4mbit >/dev/null
fabctl port update web1-0 --qos slow >/dev/null
sleep 2
limited=$(delivered_rate)
echo "web1 receives $free bit/s unlimited, $limited bit/s limited to 4 Mbit/s"
[ "$limited" -le 5000000 ] || fail "web1 received $limited bit/s, over its 4 Mbit/s limit"
[ "$limited" -ge 2000000 ] || fail "web1 received only $limited bit/s under its 4 Mbit/s limit"
[ "$free" -ge 12000000 ] \
    || fail "unlimited, web1 received only $free bit/s: the test cannot tell a 4 Mbit/s limit"

say "the agent's metrics count the running VMs"
metrics=$(curl -sf "$agent1/metrics")
grep -q '^fabric_agent_vms{state="running"} 1$' <<<"$metrics" \
    || fail "host $h1's metrics do not count web1 running"
grep -q '^fabric_agent_vm_cpu_seconds_total{vm="web1"} ' <<<"$metrics" \
    || fail "host $h1's metrics lack web1's CPU time"
promtool check metrics <<<"$metrics" || fail "promtool refuses the agent's metrics"

say "deleting web1 removes its QEMU, tap, port and disk"
[ -f "$FAB_STORAGE/vms/$uuid1.qcow2" ] || fail "web1's disk is not in the storage"
fabctl vm delete web1 >/dev/null
deadline=$(( SECONDS + 60 ))
while kill -0 "$pid1" 2>/dev/null || in_host "$h1" ip link show "$tap1" >/dev/null 2>&1 \
    || [ -e "$FAB_STORAGE/vms/$uuid1.qcow2" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "web1's QEMU, tap or disk is still there"
    sleep 0.5
done
fabctl -o json port list | jq -e 'all(.[]; .name != "web1-0")' >/dev/null \
    || fail "web1's port is still there"
fabctl -o json vm list | jq -e 'all(.[]; .name != "web1")' >/dev/null \
    || fail "web1 is still listed"
assert_ping_ok vmA1 10.0.0.12

# Waits until VM "vm" has status "status" (fabricctl's --wait, bounded).
vm_wait_status() {
    local vm=$1 status=$2 deadline=$(( SECONDS + FAB_VM_BOOT_TIMEOUT ))
    until [ "$(fabctl -o json vm show "$vm" | jq -r .status)" = "$status" ]; do
        [ "$SECONDS" -lt "$deadline" ] \
            || fail "$vm is not $status: $(fabctl -o json vm show "$vm" | jq -c '{status, status_reason}')"
        sleep 0.5
    done
}

say "web2 stopped: its QEMU goes; started again: it boots and answers"
pid2=$(fab_qemu_pid "$h2" web2)
fabctl vm stop web2 >/dev/null
vm_wait_status web2 stopped
for _ in $(seq 100); do
    kill -0 "$pid2" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid2" 2>/dev/null && fail "web2 is stopped but its QEMU $pid2 runs"
grep -q "fabric-test-image: power button" <(fab_vm_console "$h2" web2) \
    || fail "web2 was not powered off by ACPI"
fabctl vm start web2 >/dev/null
vm_wait_status web2 running
# A new QEMU, a new console.
fab_vm_wait_up "$h2" web2 1 | grep -q "up web2 10.0.0.12" \
    || fail "web2 did not boot again with its address"
assert_ping_ok vmA1 10.0.0.12

say "web2 rebooted: reset in the same QEMU, it boots and answers"
pid2=$(fab_qemu_pid "$h2" web2)
fabctl vm reboot web2 >/dev/null
fab_vm_wait_up "$h2" web2 2 | grep -q "up web2 10.0.0.12" \
    || fail "web2 did not boot again after its reboot"
[ "$(fab_qemu_pid "$h2" web2)" = "$pid2" ] || fail "the reboot replaced web2's QEMU"
assert_ping_ok vmA1 10.0.0.12
say "ok"

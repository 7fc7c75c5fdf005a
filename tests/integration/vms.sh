#!/bin/bash
# Real VMs end to end, through fabricctl, a controller and three agents.
#
#   web1, web2: QEMU guests of the test image in "blue", placed by the
#           scheduler on two different hosts (a strict anti-affinity
#           group)
#
# The agents register their hosts with their hypervisor and storage.  The
# image is registered from the test image; both guests boot with their
# seeds ("fabricctl vm console" shows it) and the agents report them
# running, in their metrics too.  Deleting web1 removes its QEMU, tap,
# port and disk.
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

say "a network, the image, a VM group"
fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
fab_network blue 100
fabctl image create tiny --file "$FAB_VM_IMAGE" >/dev/null
fabctl vm-group create apart --policy anti-affinity --strict >/dev/null

say "fabricctl vm create web1, web2: placed on two hosts, booted"
fabctl vm create web1 --network blue,ip=10.0.0.11 --vcpus 1 \
    --memory 128M --image tiny --group apart >/dev/null
fabctl vm create web2 --network blue,ip=10.0.0.12 --vcpus 1 \
    --memory 128M --image tiny --group apart >/dev/null
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
pid1=$(fab_qemu_pid "$h1" web1)
[ -n "$pid1" ] || fail "no QEMU for web1 on $host1"
[ -n "$(fab_qemu_pid "$h2" web2)" ] || fail "no QEMU for web2 on $host2"

say "fabricctl vm console shows each guest booted with its seed's hostname"
for vm in web1 web2; do
    deadline=$(( SECONDS + FAB_VM_BOOT_TIMEOUT ))
    until fabctl vm console "$vm" | grep -Eq "^fabric-test-image: (up|dhcp failed) $vm"; do
        [ "$SECONDS" -lt "$deadline" ] \
            || fail "$vm did not boot: $(fabctl vm console "$vm" | tail -n 5)"
        sleep 1
    done
done

say "the agent's metrics count the running VMs"
metrics=$(curl -sf "http://$FAB_CONTROL_NET.$(fab_host_index "$h1"):$FAB_AGENT_PORT/metrics")
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
say "ok"

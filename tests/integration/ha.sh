#!/bin/bash
# HA: restart after a host fails (doc/mobility.md), with a controller, three
# agents and real guests.
#
#   host A: g1 (ha restart, priority 500), g2 (priority 10), g3 (ha off),
#           all running, and "big" (stopped, 900M, priority 5) that no
#           other host has room for once g1 and g2 took theirs
#   hosts B and C: 1 GiB each; vmB1, a namespace in "blue" on B, pings
#
# The controller grants a lease of 2 s and allows 3 s more to fence.
#
# 1. A's control network is cut (its address on it deleted): A turns
#    unreachable but never failed, as its agent still answers its peers'
#    probes; its guests keep running there and nothing starts elsewhere.
#    Restored, A is ready again.
# 2. A's agent and its QEMUs are killed: A is declared failed, g1 then g2
#    (by priority) come back on B and C, each exactly once, while g3 stays
#    down and "big" waits for capacity, reported.  The time from the kill
#    to the QEMUs started elsewhere and to g1 answering ping is printed.
# 3. A's agent comes back: A is ready again, and its agent removes the
#    moved guests' records and taps but not their disks, which B and C
#    run on.
# 4. A is cut off altogether (its only link down) with g3, now ha restart,
#    running: its agent, without lease or peers, forces g3 off (fences)
#    before the controller declares A failed and restarts g3 elsewhere.
#
# Needs root, the agent, the controller and fabricctl built, QEMU (TCG is
# enough), jq, curl, and what fab_controlled_cloud needs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd curl
fab_vm_init
# The margin covers an agent's fencing: no lease (2 s) and no answer from
# its peers for 3 s, checked every second.
FAB_CONTROLLER_ARGS=(--ha-lease 2000 --ha-fence-margin 3000
    --heartbeat-timeout 4)
fab_controlled_cloud A B C
fab_agent_start_controlled A --vcpus 8 --memory-mb 4096
fab_agent_start_controlled B --vcpus 8 --memory-mb 1024
fab_agent_start_controlled C --vcpus 8 --memory-mb 1024

# Prints the status of host "X".
host_status() {
    fabctl -o json host show "$(fab_api_host "$1")" | jq -r .status
}

# Waits up to "seconds" until host "X" has status "status".
host_wait_status() {
    local host=$1 status=$2 deadline=$(( SECONDS + $3 ))
    until [ "$(host_status "$host")" = "$status" ]; do
        [ "$SECONDS" -lt "$deadline" ] \
            || fail "host $host is $(host_status "$host"), not $status"
        sleep 0.2
    done
}

# Prints field "field" of VM "vm".
vm_field() {
    fabctl -o json vm show "$1" | jq -r ".$2"
}

# Prints the hosts ("A B") whose agents run a QEMU of VM "vm" (a killed
# one, a zombie until it is reaped, does not count).
qemu_hosts() {
    local host pid found=()
    for host in A B C; do
        pid=$(fab_qemu_pid "$host" "$1")
        if [ -n "$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
            found+=("$host")
        fi
    done
    echo "${found[*]:-}"
}

# The controller's metric "name" (with its labels), as a number.
metric() {
    curl -sf "$FABRIC_CONTROLLER/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

now_ms() {
    date +%s%3N
}

say "the agents register, B and C with 1 GiB each"
for _ in $(seq 100); do
    n=$(fabctl -o json host list \
        | jq '[.[] | select(.hypervisor.driver == "qemu")] | length')
    [ "$n" = 3 ] && break
    sleep 0.2
done
[ "$n" = 3 ] || fail "only $n hosts report a hypervisor"

fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
fab_network blue 100
fabctl image create tiny --file "$FAB_VM_IMAGE" >/dev/null
fab_vm_from_api vmB1 blue --ip 10.0.0.40

say "g1, g2 (HA) and g3 (ha off) run on A; big, stopped, fits only there"
fabctl vm create g1 --network blue,ip=10.0.0.11 --vcpus 1 --memory 128M \
    --image tiny --host host-a --ha-priority 500 >/dev/null
fabctl vm create g2 --network blue,ip=10.0.0.12 --vcpus 1 --memory 128M \
    --image tiny --host host-a --ha-priority 10 >/dev/null
fabctl vm create g3 --network blue,ip=10.0.0.13 --vcpus 1 --memory 128M \
    --image tiny --host host-a --ha off >/dev/null
fabctl vm create big --network blue,ip=10.0.0.14 --vcpus 1 --memory 900M \
    --image tiny --host host-a --ha-priority 50 --stopped >/dev/null
[ "$(vm_field g3 ha)" = off ] || fail "g3 is not ha off"
[ "$(vm_field g1 ha_priority)" = 500 ] || fail "g1's priority is not 500"
# The last to restart: it must not take the room g2 needs.
fabctl vm update big --ha-priority 5 >/dev/null
[ "$(vm_field big ha_priority)" = 5 ] || fail "vm update did not set big's priority"
for vm in g1 g2 g3; do
    fab_vm_wait_up A "$vm" | grep -q "^fabric-test-image: up $vm " \
        || fail "$vm did not boot on A: $(fab_vm_console A "$vm" | tail -n 3)"
done
assert_ping_ok vmB1 10.0.0.11
uuid1=$(vm_field g1 uuid)
uuid2=$(vm_field g2 uuid)
tap1=$(fabctl -o json vm show g1 | jq -r '.nics[0].device')
pids_a="$(fab_qemu_pid A g1) $(fab_qemu_pid A g2) $(fab_qemu_pid A g3)"
[ "$(wc -w <<<"$pids_a")" = 3 ] || fail "not every guest has a QEMU on A"

say "1. A's control network is cut: unreachable, never failed; its guests stay"
in_ns hostA ip addr del "$FAB_CONTROL_NET.1/24" dev ul0
host_wait_status A unreachable 20
# Well past the lease and the margin, with the monitor at work.
sleep 6
[ "$(host_status A)" = unreachable ] || fail "host A is $(host_status A), not unreachable"
[ "$(metric fabric_ha_host_failures_total)" = 0 ] \
    || fail "the controller counts a host failure"
for pid in $pids_a; do
    kill -0 "$pid" 2>/dev/null || fail "a guest's QEMU ($pid) on A stopped"
done
for vm in g1 g2 g3; do
    [ "$(qemu_hosts "$vm")" = A ] || fail "$vm runs on $(qemu_hosts "$vm")"
    [ "$(vm_field "$vm" host)" = host-a ] || fail "$vm moved to $(vm_field "$vm" host)"
done
grep -q "HA VMs: hold" "$(fab_agent_log A)" \
    || fail "A's agent did not hold its HA VMs when it lost its lease"
grep -q "fenced" "$(fab_agent_log A)" && fail "A's agent fenced a VM while its peers answered"
assert_ping_ok vmB1 10.0.0.11
seen=$(wc -l <"$(fab_agent_log A)")
ip -n "$(fab_ns hostA)" addr add "$FAB_CONTROL_NET.1/24" dev ul0
host_wait_status A ready 60
# A new lease, and an answer to the watch since the cut: its long poll of
# before the cut may take up to its timeout (45 s) to end.
deadline=$(( SECONDS + 90 ))
until tail -n "+$(( seen + 1 ))" "$(fab_agent_log A)" | grep -q "HA VMs: run"; do
    [ "$SECONDS" -lt "$deadline" ] \
        || fail "A's agent does not run its HA VMs again under a new lease"
    sleep 0.2
done

say "2. A's agent and QEMUs are killed: A fails, g1 then g2 restart elsewhere"
t0=$(now_ms)
agent_a=$(fab_agent_pid A)
[ -n "$agent_a" ] || fail "A's agent does not run"
# shellcheck disable=SC2086
kill -KILL "$agent_a" $pids_a
wait "$agent_a" 2>/dev/null || true
rm -f "$(fab_agent_pidfile A)"
t_qemu=
t_ping=
deadline=$(( SECONDS + FAB_VM_BOOT_TIMEOUT ))
while [ -z "$t_ping" ]; do
    if [ -z "$t_qemu" ] && [[ "$(qemu_hosts g1)" = [BC] ]] \
        && [[ "$(qemu_hosts g2)" = [BC] ]]; then
        t_qemu=$(( $(now_ms) - t0 ))
    fi
    if [ -n "$t_qemu" ] \
        && in_ns vmB1 ping -q -c 1 -W 1 10.0.0.11 >/dev/null 2>&1; then
        t_ping=$(( $(now_ms) - t0 ))
    fi
    [ -s "$FABRIC_TOKEN_FILE" ] || fail "$FABRIC_TOKEN_FILE is gone: $(ls -la "$FAB_TMP" 2>&1 | head -5)"
    [ "$SECONDS" -lt "$deadline" ] \
        || fail "g1 is not back: A $(host_status A), g1 $(fabctl -o json vm show g1 | jq -c '{host, status, status_reason}'), QEMU on ${t_qemu:+[$(qemu_hosts g1)]}"
    sleep 0.1
done
echo "host A killed: QEMUs of g1 and g2 started elsewhere after ${t_qemu} ms, g1 answers ping after ${t_ping} ms"
[ "$(host_status A)" = failed ] || fail "host A is $(host_status A), not failed"
h1=$(vm_field g1 host)
h2=$(vm_field g2 host)
for pair in "g1 $h1" "g2 $h2"; do
    read -r vm host <<<"$pair"
    case $host in
    host-b | host-c) ;;
    *) fail "$vm is on $host after A failed" ;;
    esac
    host=${host#host-}
    [ "$(qemu_hosts "$vm")" = "${host^^}" ] \
        || fail "$vm's QEMU runs on [$(qemu_hosts "$vm")], not ${host^^} alone"
done
[ "$h1" != "$h2" ] || fail "g1 and g2 both went to $h1: spread would have split them"
[ "$(vm_field g3 host)" = host-a ] || fail "g3 (ha off) moved"
[ "$(vm_field g3 status)" = failed ] || fail "g3 is $(vm_field g3 status), not failed"
vm_field g3 status_reason | grep -q "ha off" || fail "g3 does not say why it is down"
[ -z "$(qemu_hosts g3)" ] || fail "g3 (ha off) runs on $(qemu_hosts g3)"
[ "$(vm_field big host)" = host-a ] || fail "big moved to $(vm_field big host)"
[ "$(vm_field big status)" = pending ] || fail "big is $(vm_field big status), not pending"
vm_field big status_reason | grep -q "^ha: waiting for capacity: .*memory 896M free, needs 900M" \
    || fail "big does not say what it waits for: $(vm_field big status_reason)"
# By priority: g1 (500) before g2 (10), then big (5).
order=$(grep -o 'vm \\"g[12]\\" restarted\|vm "g[12]" restarted' "$FAB_TMP/controller.log" \
    | tr -d '\\"' | awk '{print $2}' | tr '\n' ' ')
[ "$order" = "g1 g2 " ] || fail "restart order \"$order\", not \"g1 g2 \""
grep -q 'EVENT host.failed: 200 host "host-a" failed' "$FAB_TMP/controller.log" \
    || fail "no audit event of host A's failure"

say "exactly once: the monitor's later passes move nothing"
sleep 3
[ "$(metric fabric_ha_host_failures_total)" = 1 ] || fail "host failures counted: $(metric fabric_ha_host_failures_total)"
[ "$(metric 'fabric_ha_restarts_total{result="ok"}')" = 2 ] \
    || fail "restarts counted: $(metric 'fabric_ha_restarts_total{result="ok"}')"
[ "$(metric 'fabric_ha_restarts_total{result="failed"}')" = 1 ] \
    || fail "failed restarts counted: $(metric 'fabric_ha_restarts_total{result="failed"}')"
[ "$(metric fabric_ha_vms_waiting)" = 1 ] || fail "waiting VMs: $(metric fabric_ha_vms_waiting)"
[ "$(qemu_hosts g1)" = "$(h=${h1#host-}; echo "${h^^}")" ] || fail "g1 runs on $(qemu_hosts g1)"
h=${h1#host-}
pid1=$(fab_qemu_pid "${h^^}" g1)

say "3. A's agent comes back: ready; it removes g1 and g2 but not their disks"
fab_agent_start_controlled A --vcpus 8 --memory-mb 4096
host_wait_status A ready 30
records=$(fab_vm_run_dir A)/records
deadline=$(( SECONDS + 60 ))
while [ -e "$records/g1.json" ] || [ -e "$records/g2.json" ] \
    || in_host A ip link show "$tap1" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "A's agent did not remove g1 and g2"
    sleep 0.2
done
grep -q 'VM "g1": removed here .*another host runs on it' "$(fab_agent_log A)" \
    || fail "A's agent did not say g1 moved"
for uuid in "$uuid1" "$uuid2"; do
    [ -f "$FAB_STORAGE/vms/$uuid.qcow2" ] || fail "the disk of a moved VM was removed"
    [ -f "$FAB_STORAGE/vms/$uuid.seed.iso" ] || fail "the seed of a moved VM was removed"
done
[ "$(fab_qemu_pid "${h^^}" g1)" = "$pid1" ] || fail "g1's QEMU on $h1 changed"
assert_ping_ok vmB1 10.0.0.11
say "4. A cut off altogether: its agent fences g3, which the controller restarts elsewhere"
fabctl vm update g3 --ha restart >/dev/null
deadline=$(( SECONDS + 60 ))
until [ "$(qemu_hosts g3)" = A ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "g3 does not run on A again: [$(qemu_hosts g3)]"
    sleep 0.2
done
pid3=$(fab_qemu_pid A g3)
in_ns hostA ip link set ul0 down
deadline=$(( SECONDS + 60 ))
until [[ "$(qemu_hosts g3)" = [BC] ]]; do
    [ "$SECONDS" -lt "$deadline" ] \
        || fail "g3 was not restarted elsewhere: [$(qemu_hosts g3)], $(fabctl -o json vm show g3 | jq -c '{host, status, status_reason}')"
    sleep 0.2
done
# Fenced by its own agent, before the controller restarted it.
grep -q 'VM "g3": fenced' "$(fab_agent_log A)" || fail "A's agent did not fence g3"
kill -0 "$pid3" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid3/status" \
    && fail "g3's QEMU on A still runs"
fenced=$(date -d "$(grep -m 1 'VM "g3": fenced' "$(fab_agent_log A)" | cut -d' ' -f1)" +%s%3N)
declared=$(date -d "$(grep 'host "host-a" failed' "$FAB_TMP/controller.log" | tail -n 1 | cut -d' ' -f1)" +%s%3N)
echo "g3 fenced on A $(( declared - fenced )) ms before the controller declared A failed"
[ "$fenced" -lt "$declared" ] || fail "A was declared failed before its agent fenced g3"
[ "$(host_status A)" = failed ] || fail "host A is $(host_status A), not failed"
ip -n "$(fab_ns hostA)" link set ul0 up
host_wait_status A ready 60

# A's document forgets the moved VMs once its agent reported them gone
# (its watch, too, may wait out a long poll of before the cut).
deadline=$(( SECONDS + 90 ))
until [ "$(curl -sf -H "Authorization: Bearer $(cat "$FABRIC_TOKEN_FILE")" \
    "$FABRIC_CONTROLLER/v1/hosts/host-a/desired-state" | jq -c '.document.moved_vms // .moved_vms')" = null ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "host A's document still lists moved VMs"
    sleep 0.5
done
say "ok"

#!/bin/bash
# Maintenance and the balancer with real guests, through fabricctl, a
# controller and three agents:
#
#   host C: vmC1, a network namespace in "blue" (10.0.0.50)
#   web1, web2: QEMU guests of the test image in "blue" (10.0.0.11 and
#           10.0.0.12), packed on host A: B and C are in maintenance
#           while they are created
#
# "fabricctl host maintenance enter host-a --wait" empties host A by live
# migration while vmC1 pings web1 every 50 ms: both guests run elsewhere,
# keep their addresses and answer, nothing of them is left on A, the
# lost pings are counted.  Then host C enters maintenance too: its guest
# goes to B, which holds both; once A and C are out of maintenance, the
# balancer in mode automatic spreads them again by its own migrations
# (reason drs), and both still answer.
#
# One boot of each guest serves every check (TCG: ~10-60 s each).
#
# Needs root, the agent, the controller and fabricctl built, QEMU (TCG is
# enough), jq, curl, and what fab_controlled_cloud needs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd curl
fab_vm_init
fab_controlled_cloud A B C
fab_agent_start_controlled A
fab_agent_start_controlled B
fab_agent_start_controlled C

# Prints the host of VM "vm".
host_of() {
    fabctl -o json vm show "$1" | jq -r .host
}

# Waits up to "seconds" for no migration to run and both guests to be
# reported running where they are.
wait_settled() {
    local seconds=$1 deadline
    deadline=$(( SECONDS + seconds ))
    until [ "$(curl -sf -H "Authorization: Bearer $(cat "$FABRIC_TOKEN_FILE")" \
        "$FABRIC_CONTROLLER/v1/migrations" | jq '.items | length')" = 0 ] \
        && [ "$(fabctl -o json vm list | jq '[.[] | select(.status == "running")] | length')" = 2 ]; do
        [ "$SECONDS" -lt "$deadline" ] \
            || fail "not settled: $(fabctl migration list 2>&1); $(fabctl -o json vm list | jq -c '[.[] | {name, host, status}]')"
        sleep 1
    done
}

# Fails unless both guests run, on hosts other than "host", and answer
# vmC1.
assert_guests_away_from() {
    local host=$1 vm
    for vm in web1 web2; do
        [ "$(fabctl -o json vm show $vm | jq -r .status)" = running ] \
            || fail "$vm is not running: $(fabctl -o json vm show $vm | jq -c '{host, status, status_reason, migration}')"
        [ "$(host_of $vm)" != "$host" ] || fail "$vm is still on $host"
    done
    assert_ping_ok vmC1 10.0.0.11
    assert_ping_ok vmC1 10.0.0.12
}

say "the agents register their hosts with a hypervisor"
for _ in $(seq 100); do
    n=$(fabctl -o json host list \
        | jq '[.[] | select(.hypervisor.driver == "qemu")] | length')
    [ "$n" = 3 ] && break
    sleep 0.2
done
[ "$n" = 3 ] || fail "only $n hosts report a hypervisor"

say "web1 and web2 packed on host A (B and C in maintenance), booted"
fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
fab_network blue 100
fabctl image create tiny --file "$FAB_VM_IMAGE" >/dev/null
fab_vm_from_api vmC1 blue --ip 10.0.0.50
fabctl host maintenance enter host-b | grep -q 'in maintenance, no VMs left' \
    || fail "host-b did not enter maintenance at once"
fabctl host maintenance enter host-c >/dev/null
fabctl vm create web1 --network blue,ip=10.0.0.11 --vcpus 1 --memory 128M \
    --image tiny >/dev/null
fabctl vm create web2 --network blue,ip=10.0.0.12 --vcpus 1 --memory 128M \
    --image tiny >/dev/null
[ "$(host_of web1)" = host-a ] && [ "$(host_of web2)" = host-a ] \
    || fail "web1 and web2 are not both on host-a"
fabctl host maintenance exit host-b >/dev/null
fabctl host maintenance exit host-c >/dev/null
fab_vm_wait_up A web1 | grep -q "^fabric-test-image: up web1 10.0.0.11" \
    || fail "web1 did not get 10.0.0.11: $(fab_vm_console A web1 | tail -n 3)"
fab_vm_wait_up A web2 | grep -q "^fabric-test-image: up web2 10.0.0.12" \
    || fail "web2 did not get 10.0.0.12: $(fab_vm_console A web2 | tail -n 3)"
assert_ping_ok vmC1 10.0.0.11
assert_ping_ok vmC1 10.0.0.12
tap1=$(fabctl -o json vm show web1 | jq -r '.nics[0].device')
uuid1=$(fabctl -o json vm show web1 | jq -r .uuid)

say "host A enters maintenance: its guests migrate away live and answer"
in_ns_bg vmC1 ping -i 0.05 -W 1 10.0.0.11 >"$FAB_TMP/ping" 2>&1
ping_pid=$!
start=$SECONDS
fabctl host maintenance enter host-a --wait --timeout 600 >"$FAB_TMP/out" \
    || fail "host-a did not empty: $(cat "$FAB_TMP/out")"
took=$(( SECONDS - start ))
grep -q '^host "host-a": in maintenance, no VMs left$' "$FAB_TMP/out" \
    || fail "fabricctl says: $(cat "$FAB_TMP/out")"
sleep 1
kill -INT "$ping_pid" 2>/dev/null || true
wait "$ping_pid" 2>/dev/null || true
summary=$(grep 'packets transmitted' "$FAB_TMP/ping" || true)
echo "host-a emptied in $took s; vmC1 -> web1 every 50 ms meanwhile: $summary"
assert_guests_away_from host-a
[ -z "$(fab_qemu_pid A web1)" ] && [ -z "$(fab_qemu_pid A web2)" ] \
    || fail "host A still runs a guest's QEMU"
! in_host A ip link show "$tap1" >/dev/null 2>&1 \
    || fail "host A still has web1's tap $tap1"
[ -f "$FAB_STORAGE/vms/$uuid1.qcow2" ] || fail "web1's disk is gone"
fabctl -o json host show host-a \
    | jq -e '.maintenance_status == {"state": "in-maintenance", "vms": 0, "blocked": []}' >/dev/null \
    || fail "host-a: $(fabctl -o json host show host-a | jq -c .maintenance_status)"
fabctl -o json audit --limit 200 \
    | jq -e '[.[] | select(.method == "EVENT" and .who == "maintenance")] | length == 2' >/dev/null \
    || fail "the audit trail lacks the two migrations of maintenance"
fabctl vm create nowhere --network blue --vcpus 1 --memory 128M --image tiny \
    --host host-a 2>"$FAB_TMP/err" && fail "a VM was placed on host-a in maintenance"
grep -q 'in maintenance' "$FAB_TMP/err" || fail "the refusal says: $(cat "$FAB_TMP/err")"

say "packed again on one host, then spread by the balancer"
wait_settled 60
other=host-c
[ "$(host_of web1)" = host-c ] && other=host-b
# Whichever host holds web1 keeps both: the other enters maintenance.
fabctl host maintenance enter "$other" --wait --timeout 600 >/dev/null \
    || fail "$other did not empty"
packed=$(host_of web1)
[ "$(host_of web2)" = "$packed" ] || fail "web1 and web2 are not both on $packed"
fabctl host maintenance exit host-a >/dev/null
fabctl host maintenance exit "$other" >/dev/null
wait_settled 60
fabctl drs set --mode automatic --threshold 0.01 --interval 5 >/dev/null
deadline=$(( SECONDS + 600 ))
until [ "$(host_of web1)" != "$(host_of web2)" ] && wait_settled 600; do
    [ "$SECONDS" -lt "$deadline" ] \
        || fail "the balancer did not spread them: $(fabctl drs recommendations 2>&1)"
    sleep 2
done
fabctl drs set --mode off >/dev/null
fabctl drs recommendations
fabctl -o json audit --limit 200 \
    | jq -e '[.[] | select(.method == "EVENT" and .who == "drs")] | length >= 1' >/dev/null \
    || fail "the audit trail lacks the balancer's migration"
for vm in web1 web2; do
    [ "$(fabctl -o json vm show $vm | jq -r .status)" = running ] \
        || fail "$vm is not running after the balancer moved it"
done
assert_ping_ok vmC1 10.0.0.11
assert_ping_ok vmC1 10.0.0.12

say "ok"

#!/bin/bash
# Live migration between two standalone agents, driven by hand-written
# desired-state documents as the controller writes them (doc/mobility.md),
# with a real guest on shared storage.
#
#   host A: web1, a QEMU guest of the test image (tap fv1a2b3c4d0)
#   host B: where web1 migrates to
#   host C: vmC1, a network namespace on a veth: the third endpoint
#
# A migration whose destination QEMU is killed mid-copy fails: the guest
# runs on on A with its FDB entry local, B's QEMU is not started again.
# One that the documents take back mid-copy is cancelled by A, and the
# guest runs on there too; once B's document drops the VM, B removes its
# taps and record and leaves the disk.  Then web1 migrates to B: B programs its port standby (its MAC
# still at A, out of the flood list) and listens on its VTEP; A sends the
# guest with a pause before the switch-over, forwards its MAC to B there;
# the guest's first frame on B activates the port (its MAC local, in the
# flood list).  vmC1 pings the guest all along, C's document still sending
# to A, which forwards to B.  Once the documents say the VM moved, A ends its
# QEMU and removes its tap and record but never its disk or seed; the guest
# answers from B without having rebooted.
#
# Needs root, qemu-system-x86_64, qemu-img and genisoimage (real QEMU
# under TCG: no KVM needed).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

UUID=1a2b3c4d-0000-4000-8000-0000000000a1
TAP=fv1a2b3c4d0
MAC=02:00:00:00:01:0a
GUEST_IP=10.0.0.10
MIG1=0f0f0f0f-1111-4111-8111-000000000001 # Killed mid-copy.
MIG1B=0f0f0f0f-1111-4111-8111-00000000001b # Cancelled mid-copy.
MIG2=0f0f0f0f-2222-4222-8222-000000000002 # Completes.

fab_setup
fab_vm_init copy
fab_underlay
fab_host A
fab_host B
fab_host C
fab_network blue 100
fab_vm vmC1 blue 10.0.0.3

# Writes host "X"'s document: "run" (web1 runs here), "none" (web1 is a
# remote at host $WEB1_AT), "incoming ID" (web1 migrates in, its port
# standby), "migrate ID URI [MBPS]" (web1 runs here and migrates out),
# "moved" (web1 left for B, listed in moved_vms).  Host C has vmC1 and web1
# as a remote at $WEB1_AT, and accepts VXLAN from the fabric hosts in
# $FABRIC_VTEPS (what the controller sends while web1 migrates to B, whose
# answers reach C before C's remotes say web1 moved).
WEB1_AT=A
FABRIC_VTEPS=
write_doc() {
    local host=$1 what=${2:-none} id=${3:-} uri=${4:-} mbps=${5:-0} file
    file=$(fab_state_file "$host")
    fab_document "$host" | jq --arg what "$what" --arg id "$id" \
        --arg uri "$uri" --argjson mbps "$mbps" --arg uuid "$UUID" \
        --arg tap "$TAP" --arg mac "$MAC" --arg ip "$GUEST_IP" \
        --arg at "$(fab_vtep "$WEB1_AT")" --arg vtep_a "$(fab_vtep A)" \
        --arg vtep_b "$(fab_vtep B)" --arg c_mac "${FAB_VM_MAC[vmC1]}" \
        --arg c_vtep "$(fab_vtep C)" --arg fabric "$FABRIC_VTEPS" '
        ({name: "web1-0", network: "blue", device: $tap, mac: $mac,
          ip: $ip, hostname: "web1"}) as $port
        | ({name: "web1", uuid: $uuid, vcpus: 1, memory_mb: 128,
            disk: {file: "vms/\($uuid).qcow2", image: "images/tiny.qcow2"},
            seed: {file: "vms/\($uuid).seed.iso", hostname: "web1"},
            nics: [{port: "web1-0", device: $tap, mac: $mac,
                    mtu: 1450}]}) as $vm
        | ({network: "blue", mac: $mac, ip: $ip, vtep: $at}) as $remote
        | .networks = [{name: "blue", vni: 100, cidr: "10.0.0.0/24"}]
        | if .host.vtep == $c_vtep then
              .remotes = [$remote]
              | if $fabric != "" then
                    .fabric_vteps = ($fabric | split(" "))
                else . end
          else
              .remotes = [{network: "blue", mac: $c_mac, ip: "10.0.0.3",
                           vtep: $c_vtep}]
              | if $what == "run" then
                    .ports = [$port] | .vms = [$vm]
                elif $what == "incoming" then
                    .ports = [$port + {standby: true}]
                    | .vms = [$vm + {incoming: {id: $id, from: "host-a",
                                                from_vtep: $vtep_a}}]
                elif $what == "migrate" then
                    .ports = [$port]
                    | .vms = [$vm + {migrate: {id: $id, to: "host-b",
                                               to_vtep: $vtep_b, uri: $uri,
                                               downtime_ms: 300,
                                               max_bandwidth_mbps: $mbps}}]
                elif $what == "moved" then
                    .remotes += [$remote] | .moved_vms = {web1: $uuid}
                else
                    .remotes += [$remote]
                end
          end' >"$file.new"
    mv "$file.new" "$file"
}

# Prints host "X"'s datapath entry (fabric-agent --show) for web1's MAC.
fdb_of() {
    fab_agent_cmd "$1" --show -o json \
        | jq -c --arg mac "$MAC" '[.fdb[] | select(.mac == $mac)][0]'
}

# Waits up to "timeout" seconds for "pattern" (grep -E) in host "X"'s log
# and prints the first line that matches.
wait_log() {
    local host=$1 pattern=$2 timeout=${3:-60} log line
    log=$(fab_agent_log "$host")
    for _ in $(seq $(( timeout * 10 ))); do
        line=$(grep -E -m1 -- "$pattern" "$log" || true)
        [ -z "$line" ] || { echo "$line"; return 0; }
        sleep 0.1
    done
    tail -n 30 "$log" >&2
    fail "host $host did not log \"$pattern\" within ${timeout}s"
}

# Writes the document of host B with web1 incoming as migration "id",
# reloads it and prints the URI B listens on.
incoming() {
    local id=$1 line
    write_doc B incoming "$id"
    fab_agent_hup B
    line=$(wait_log B "VM \"web1\": migration $id: waiting for it on tcp:" 60)
    echo "${line##* on }"
}

WEB1_AT=A
write_doc A run
write_doc B none
write_doc C
for host in A B; do
    fab_agent_start "$host" --storage "$FAB_STORAGE" --accel "$FAB_VM_ACCEL"
done
fab_agent_start C
fab_agent_wait C 20

say "web1 boots on A and answers vmC1 on C"
up=$(fab_vm_wait_up A web1)
case $up in
"fabric-test-image: up web1 $GUEST_IP"*) ;;
*) fail "web1 did not come up with its address by DHCP: $up" ;;
esac
assert_ping_ok vmC1 "$GUEST_IP"
pid_a=$(fab_qemu_pid A web1)

say "B waits for migration 1 with web1's port standby: its MAC still at A, out of the flood list"
uri=$(incoming "$MIG1")
tap_b=$(in_ns hostB cat "/sys/class/net/$TAP/ifindex")
fab_agent_cmd B --show -o json | jq -e --argjson i "$tap_b" \
    '[.ports[] | select(.ifindex == $i and (.flags | index("standby")))]
     | length == 1' >/dev/null || fail "B's port of web1 is not standby"
fdb=$(fdb_of B)
jq -e --argjson i "$tap_b" --arg a "$(fab_vtep A)" \
    '.to.ifindex == $i and .standby_from == $a' <<<"$fdb" >/dev/null \
    || fail "B's FDB entry of web1 is not standby to A: $fdb"
fab_agent_cmd B --show -o json | jq -e --argjson i "$tap_b" \
    '[.flood[]? | .members[]? | select(.ifindex == $i)] | length == 0' \
    >/dev/null || fail "B floods to a standby port"
pid_b=$(fab_qemu_pid B web1)
[ -n "$pid_b" ] || fail "B started no QEMU for web1"

say "migration 1: B's QEMU killed mid-copy; web1 runs on on A, its FDB local"
write_doc A migrate "$MIG1" "$uri" 8
fab_agent_hup A
wait_log A "VM \"web1\": migration $MIG1: sending it to host-b" 30 >/dev/null
sleep 1
kill -9 "$pid_b"
wait_log A "VM \"web1\": migration $MIG1 failed" 60
wait_log B "VM \"web1\": .*its QEMU ended while it migrated in" 30 >/dev/null
[ "$(fab_qemu_pid A web1)" = "$pid_a" ] || fail "A's QEMU of web1 changed"
assert_ping_ok vmC1 "$GUEST_IP"
tap_a=$(in_ns hostA cat "/sys/class/net/$TAP/ifindex")
fdb=$(fdb_of A)
jq -e --argjson i "$tap_a" '.to.ifindex == $i and (.forward | not)' \
    <<<"$fdb" >/dev/null || fail "A's FDB entry of web1 is not local: $fdb"
sleep 2
[ -z "$(fab_qemu_pid B web1)" ] || fail "B started web1 again after its QEMU died"

say "migration 1b: the documents take it back mid-copy: A cancels it, web1 runs on on A"
uri=$(incoming "$MIG1B")
pid_b=$(fab_qemu_pid B web1)
write_doc A migrate "$MIG1B" "$uri" 8
fab_agent_hup A
wait_log A "VM \"web1\": migration $MIG1B: sending it to host-b" 30 >/dev/null
sleep 1
write_doc A run
fab_agent_hup A
wait_log A "VM \"web1\": migration $MIG1B: no longer wanted; cancelling it" 30 >/dev/null
wait_log A "VM \"web1\": migration $MIG1B cancelled" 30
wait_log B "VM \"web1\": migration $MIG1B failed here" 30 >/dev/null
[ "$(fab_qemu_pid A web1)" = "$pid_a" ] || fail "A's QEMU of web1 changed"
assert_ping_ok vmC1 "$GUEST_IP"
fdb=$(fdb_of A)
jq -e --argjson i "$tap_a" '.to.ifindex == $i and (.forward | not)' \
    <<<"$fdb" >/dev/null || fail "A's FDB entry of web1 is not local: $fdb"

say "the documents drop migration 1b: B removes its tap and record, never the disk"
write_doc A run
write_doc B none
fab_agent_hup A
fab_agent_hup B
wait_log B 'VM "web1": removed here' 60 >/dev/null
in_host B ip link show "$TAP" >/dev/null 2>&1 && fail "B's tap of web1 is still there"
[ ! -e "$(fab_vm_run_dir B)/records/web1.json" ] || fail "B kept web1's record"
[ -e "$FAB_STORAGE/vms/$UUID.qcow2" ] || fail "B removed web1's disk"
[ -e "$FAB_STORAGE/vms/$UUID.seed.iso" ] || fail "B removed web1's seed"
assert_ping_ok vmC1 "$GUEST_IP"

say "migration 2: web1 goes to B while vmC1 pings it every 10 ms"
FABRIC_VTEPS=$(fab_vtep B)
write_doc C
fab_agent_hup C
uri=$(incoming "$MIG2")
in_ns_bg vmC1 ping -n -i 0.01 -W 1 -w 300 "$GUEST_IP" >"$FAB_TMP/ping.txt" 2>&1
ping_pid=$!
write_doc A migrate "$MIG2" "$uri"
fab_agent_hup A
done_a=$(wait_log A "VM \"web1\": migration $MIG2 completed" 120)
echo "$done_a"
# The network moved in the pause before the switch-over, and QEMU says
# how long the guest was paused.
wait_log A "VM \"web1\": migration $MIG2: switch-over: the network moved" 1
grep -Eq "downtime [1-9][0-9]* ms" <<<"$done_a" || fail "no downtime from QEMU"
wait_log B "VM \"web1\": migration $MIG2: it runs here now" 30
tap_b=$(in_ns hostB cat "/sys/class/net/$TAP/ifindex")
fdb=$(fdb_of B)
jq -e --argjson i "$tap_b" '.to.ifindex == $i and (.standby_from | not)' \
    <<<"$fdb" >/dev/null || fail "B's FDB entry of web1 is not local: $fdb"
fab_agent_cmd B --show -o json | jq -e --argjson i "$tap_b" \
    '[.flood[]? | .members[]? | select(.ifindex == $i)] | length == 1' \
    >/dev/null || fail "B's port of web1 is not in its flood list"
fdb=$(fdb_of A)
jq -e --arg b "$(fab_vtep B)" '.to.vtep == $b and .forward' <<<"$fdb" \
    >/dev/null || fail "A does not forward web1's MAC to B: $fdb"
# C still sends to A, which forwards to B.
assert_ping_ok vmC1 "$GUEST_IP"

say "the documents say web1 moved: A ends its QEMU, removes tap and record, keeps disk and seed"
WEB1_AT=B
write_doc A moved
write_doc B run
write_doc C
for host in A B C; do
    fab_agent_hup "$host"
done
wait_log A 'VM "web1": removed here' 60 >/dev/null
# Ended, then reaped by whoever adopted the daemon.
for _ in $(seq 100); do
    kill -0 "$pid_a" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid_a" 2>/dev/null && fail "A's QEMU of web1 still runs"
in_host A ip link show "$TAP" >/dev/null 2>&1 && fail "A's tap of web1 is still there"
[ ! -e "$(fab_vm_run_dir A)/records/web1.json" ] || fail "A kept web1's record"
[ -e "$FAB_STORAGE/vms/$UUID.qcow2" ] || fail "A removed web1's disk"
[ -e "$FAB_STORAGE/vms/$UUID.seed.iso" ] || fail "A removed web1's seed"
kill -INT "$ping_pid" 2>/dev/null || true
wait "$ping_pid" 2>/dev/null || true
grep -E "packets transmitted" "$FAB_TMP/ping.txt" || fail "no ping summary"

say "web1 answers from B, not rebooted"
assert_ping_ok vmC1 "$GUEST_IP"
echo "fabric-echo-$$" | in_ns vmC1 timeout 10 nc -w 2 "$GUEST_IP" 7 \
    | grep -q "fabric-echo-$$" || fail "no TCP echo from web1 on B"
fab_vm_console B web1 | grep -q '^fabric-test-image: ' \
    && fail "web1 booted again on B"
[ -n "$(fab_qemu_pid B web1)" ] || fail "no QEMU of web1 on B"
say "ok"

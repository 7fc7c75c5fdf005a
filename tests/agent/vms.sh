#!/bin/bash
# A standalone fabric-agent runs a real VM from its desired-state file.
#
#   host A: vmA1, a network namespace on a veth, and web1, a QEMU guest of
#           the test image on tap fv1a2b3c4d0, both in "blue"; web2, whose
#           NIC device is a veth; web3, a guest that powers itself off
#
# The agent makes web1's tap, the port program is on it before QEMU
# starts, and the guest boots from an overlay of the image with its seed
# (its console says so, with the seed's hostname), gets its port's
# address by DHCP from the agent and answers ping and TCP echo through the
# fabric.  A VM whose NIC device is not a tap never starts; one whose
# guest powers itself off (web3's user-data script) is started again,
# since its power is "running".  An agent
# restart leaves the same QEMU process running and re-attaches to it
# without a reboot; a growing "boot" resets the guest; removing the VM
# from the document stops it and removes its QEMU, tap, disk and seed.
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

fab_setup
fab_vm_init copy
fab_underlay
fab_host A
fab_network blue 100
fab_vm vmA1 blue 10.0.0.2

# The desired state: host A's document from tests/lib/common.sh (the
# network only) plus web1, web2 and web3, and web1's "boot", as the story
# goes on.
write_state() {
    local boot=$1 with_web1=$2 with_web2=$3 file
    file=$(fab_state_file A)
    fab_document A | jq --arg uuid "$UUID" --arg tap "$TAP" --arg mac "$MAC" \
        --arg ip "$GUEST_IP" --argjson boot "$boot" \
        --argjson web1 "$with_web1" --argjson web2 "$with_web2" '
        .networks = [{name: "blue", vni: 100, cidr: "10.0.0.0/24"}]
        | .ports = [.ports[] | select(.name == "vmA1")]
        | .ports += (if $web1 then [{name: "web1-0", network: "blue",
                     device: $tap, mac: $mac, ip: $ip}] else [] end)
        | .ports += (if $web2 then [{name: "web2-0", network: "blue",
                     device: "notatap0", mac: "02:00:00:00:01:0b"}]
                     else [] end)
        | .vms = (if $web1 then [{name: "web1", uuid: $uuid, vcpus: 1,
                     memory_mb: 128, boot: $boot,
                     disk: {file: "vms/\($uuid).qcow2",
                            image: "images/tiny.qcow2"},
                     seed: {file: "vms/\($uuid).seed.iso",
                            hostname: "web1"},
                     nics: [{port: "web1-0", device: $tap, mac: $mac,
                             mtu: 1450}]}] else [] end)
        | .vms += (if $web2 then [{name: "web2",
                     uuid: "2b2b2b2b-0000-4000-8000-0000000000b2",
                     vcpus: 1, memory_mb: 64,
                     disk: {file: "vms/web2.qcow2",
                            image: "images/tiny.qcow2"},
                     nics: [{port: "web2-0", device: "notatap0",
                             mac: "02:00:00:00:01:0b"}]}] else [] end)
        | .ports += (if $web2 then [{name: "web3-0", network: "blue",
                     device: "fv3c3c3c3c0", mac: "02:00:00:00:01:0c",
                     ip: "10.0.0.13"}] else [] end)
        | .vms += (if $web2 then [{name: "web3",
                     uuid: "3c3c3c3c-0000-4000-8000-0000000000c3",
                     vcpus: 1, memory_mb: 128,
                     disk: {file: "vms/web3.qcow2",
                            image: "images/tiny.qcow2"},
                     seed: {file: "vms/web3.seed.iso",
                            user_data: "#!/bin/sh\npoweroff -f\n"},
                     nics: [{port: "web3-0", device: "fv3c3c3c3c0",
                             mac: "02:00:00:00:01:0c"}]}] else [] end)
        ' >"$file.new"
    mv "$file.new" "$file"
}

say "a device that is not a tap: web2's NIC"
in_host A ip link add notatap0 type veth peer name notatap0p

write_state 0 true true
fab_agent_start A --storage "$FAB_STORAGE" --accel "$FAB_VM_ACCEL"
fab_agent_wait A 20
log=$(fab_agent_log A)

say "the guest boots from an overlay of the image, with its seed"
up=$(fab_vm_wait_up A web1)
echo "$up"
[ -f "$FAB_STORAGE/vms/$UUID.qcow2" ] || fail "no disk made"
[ -f "$FAB_STORAGE/vms/$UUID.seed.iso" ] || fail "no seed made"
qemu-img info -U "$FAB_STORAGE/vms/$UUID.qcow2" | grep -q "backing file: .*images/tiny.qcow2" \
    || fail "the disk is not an overlay of the image"
case $up in
"fabric-test-image: up web1 $GUEST_IP"*) ;;
*) fail "the guest did not come up as web1 (its seed's hostname) with its port's address by DHCP: $up" ;;
esac
pid=$(fab_qemu_pid A web1)
[ -n "$pid" ] || fail "no QEMU process for web1"

say "the tap is persistent, has the network's MTU, and the port program was on it before QEMU started"
link=$(in_host A ip -d link show "$TAP")
grep -q "tun type tap" <<<"$link" || fail "$TAP is not a tap: $link"
grep -q "persist on" <<<"$link" || fail "$TAP is not persistent: $link"
grep -q "mtu 1450" <<<"$link" || fail "$TAP has not MTU 1450: $link"
tap_ifindex=$(in_ns hostA cat "/sys/class/net/$TAP/ifindex")
fab_agent_cmd A --show -o json | jq -e --argjson i "$tap_ifindex" \
    '[.ports[] | select(.ifindex == $i)] | length == 1' >/dev/null \
    || fail "the datapath has no port on $TAP"
port_line=$(grep -n "add ports ifindex $tap_ifindex " "$log" | head -1 | cut -d: -f1 || true)
start_line=$(grep -n 'VM "web1": started' "$log" | head -1 | cut -d: -f1 || true)
[ -n "$port_line" ] && [ -n "$start_line" ] \
    || fail "the log lacks the port's program or the VM's start"
[ "$port_line" -lt "$start_line" ] \
    || fail "QEMU started (log line $start_line) before the port program was on $TAP (line $port_line)"

say "the guest answers ping and TCP echo through the fabric"
assert_ping_ok vmA1 "$GUEST_IP"
echo "fabric-echo-$$" | in_ns vmA1 timeout 10 nc -w 2 "$GUEST_IP" 7 \
    | grep -q "fabric-echo-$$" || fail "no TCP echo from the guest"

say "web2, whose NIC is not a tap, never starts"
grep -q 'device "notatap0" exists and is not a tap' "$log" \
    || fail "the agent did not say why web2 cannot start"
[ -z "$(fab_qemu_pid A web2)" ] || fail "web2 runs without a fabric port"
[ ! -e "$(fab_vm_run_dir A)/driver/web2" ] || fail "web2 was started"

say "web3, whose guest powers itself off once up, is started again"
deadline=$(( SECONDS + 2 * FAB_VM_BOOT_TIMEOUT ))
until [ "$(grep -c 'VM "web3": started' "$log")" -ge 2 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "web3 was not started again after it powered off"
    sleep 0.5
done

say "an agent restart leaves the same QEMU running, re-attached, not rebooted"
fab_agent_stop A
kill -0 "$pid" 2>/dev/null || fail "stopping the agent stopped the VM"
write_state 0 true false
fab_agent_start A --storage "$FAB_STORAGE" --accel "$FAB_VM_ACCEL"
fab_agent_wait A 20
for _ in $(seq 50); do
    grep -q 'VM "web1": found it, re-attached' "$log" && break
    sleep 0.1
done
grep -q 'VM "web1": found it, re-attached' "$log" || fail "the new agent did not re-attach"
[ "$(fab_qemu_pid A web1)" = "$pid" ] || fail "web1's QEMU changed from $pid"
assert_ping_ok vmA1 "$GUEST_IP"
sleep 2
[ "$(fab_vm_console A web1 | grep -c '^fabric-test-image: ')" = 1 ] \
    || fail "the guest booted again after the agent restart"
[ "$(grep -c 'VM "web1": started' "$log")" = 1 ] || fail "web1 was started twice"

say "a growing boot counter resets the guest, in the same process"
write_state 1 true false
fab_agent_hup A
fab_vm_wait_up A web1 2 >/dev/null
[ "$(fab_qemu_pid A web1)" = "$pid" ] || fail "a reboot replaced web1's QEMU"
assert_ping_ok vmA1 "$GUEST_IP"

say "removing the VM from the document removes its QEMU, tap, disk and seed"
write_state 1 false false
fab_agent_hup A
for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "web1's QEMU still runs"
for _ in $(seq 100); do
    grep -q 'VM "web1": removed' "$log" && break
    sleep 0.1
done
grep -q 'VM "web1": removed' "$log" || fail "the agent did not remove web1"
in_host A ip link show "$TAP" >/dev/null 2>&1 && fail "$TAP is still there"
[ ! -e "$FAB_STORAGE/vms/$UUID.qcow2" ] || fail "the disk is still there"
[ ! -e "$FAB_STORAGE/vms/$UUID.seed.iso" ] || fail "the seed is still there"
[ ! -e "$(fab_vm_run_dir A)/records/web1.json" ] || fail "the record is still there"
[ -e "$FAB_STORAGE/images/tiny.qcow2" ] || fail "the image went with the VM"
say "ok"

#!/bin/bash
# VMs through fabricctl against a real fabric-controller.  An operator
# registers a qcow2 image that qemu-img made and checks its SHA-256 against
# sha256sum, makes an anti-affinity group, registers three hosts through
# the API (no agents: VMs go as far as "scheduled"), creates VMs with NICs,
# lists and shows them, waits for one that cannot start here, reads the
# console of a VM whose host's agent is unreachable, and deletes them.
# Every mistake on the command line (a bad flag, a bad size, a bad NIC, an
# unreadable file) is one line and exit status 2 and creates nothing; what
# the controller refuses is exit status 1 and creates nothing either.
#
# Needs cli/fabricctl and controller/fabric-controller built, qemu-img,
# python3 and node with the OpenAPI validators (scripts/install-deps):
# every answer the controller gives is checked against
# controller/openapi.json.  No root, no namespaces, no QEMU guest.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fabricctl-lib.sh"

require_cmd python3 qemu-img sha256sum

fabctl_scratch vms

# Fails unless fabricctl "list..." -o json holds exactly the names "want"
# (space-separated, sorted).
names_are() {
    local want=$1
    shift
    ok -o json "$@"
    js_is '" ".join(sorted(x["name"] for x in d))' "$want"
}

# Fails unless the storage directory's images are "want" (sorted, dot
# files included, space-separated).
stored_are() {
    local got
    got=$(cd "$tmp/main/storage/images" && LC_ALL=C ls -A | tr '\n' ' ' |
        sed 's/ $//')
    [ "$got" = "$1" ] || fail "images stored: \"$got\", expected \"$1\""
}

# ---------------------------------------------------------------------------
say "a controller with a storage directory"

port=$(free_port)
url=http://127.0.0.1:$port
controller_pid=$(start_controller main "$port" --image-size-max 64M)
export FABRIC_CONTROLLER=$url FABRIC_TOKEN_FILE=$tmp/main/bootstrap-token
wait_controller "$controller_pid"
for verb in "vm create" "vm list" "vm show" "vm start" "vm stop" \
    "vm reboot" "vm delete" "vm console" "vm-group create" "vm-group list" \
    "vm-group show" "vm-group delete" "image create" "image list" \
    "image show" "image delete"; do
    # shellcheck disable=SC2086
    ok $verb -h
    out_says "^Usage: fabricctl $verb"
done

say "images: a qcow2 from qemu-img, a raw disk, and what is refused"

qemu-img create -q -f qcow2 "$tmp/tiny.qcow2" 64M
ok image create tiny --file "$tmp/tiny.qcow2" --description "test guest"
out_says '^status: +active$'
out_says '^format: +qcow2$'
out_says '^virtual_size: +64MiB$'
out_says "^sha256: +$(sha256sum "$tmp/tiny.qcow2" | cut -d' ' -f1)\$"
out_says '^file: +images/tiny.qcow2$'
cmp -s "$tmp/tiny.qcow2" "$tmp/main/storage/images/tiny.qcow2" ||
    fail "the stored image differs from the file uploaded"
head -c 2097152 /dev/urandom >"$tmp/disk.raw"
ok -o json image create rawdisk --file "$tmp/disk.raw"
js_is 'd["format"]' raw
js_is 'd["sha256"]' "$(sha256sum "$tmp/disk.raw" | cut -d' ' -f1)"
js_is 'd["virtual_size_bytes"]' 2097152
qemu-img compare -q -f raw -F qcow2 "$tmp/disk.raw" \
    "$tmp/main/storage/images/rawdisk.qcow2" ||
    fail "the raw image was not stored as the same disk in qcow2"
ok image list
out_says '^NAME +STATUS +FORMAT +SIZE +VIRTUAL-SIZE +DESCRIPTION$'
out_says '^tiny +active +qcow2 +[0-9.]+KiB +64MiB +test guest$'
ok image show rawdisk
out_says '^size: +2MiB$'

# Refused by the controller (exit 1): nothing stays, not even the queued
# image.
printf 'KDMV\001\000\000\000' >"$tmp/x.vmdk"
head -c 4096 /dev/zero >>"$tmp/x.vmdk"
refused 1 image create vmdk --file "$tmp/x.vmdk"
err_says 'image "vmdk": the file is a vmdk image, not qcow2 or raw'
qemu-img create -q -f qcow2 -b "$tmp/tiny.qcow2" -F qcow2 "$tmp/overlay.qcow2"
refused 1 image create overlay --file "$tmp/overlay.qcow2"
err_says 'backing file'
head -c 1000 /dev/zero >"$tmp/odd.raw"
refused 1 image create odd --file "$tmp/odd.raw"
err_says '512-byte sectors'
# (Too big is tests/controller/test-images: the recording proxy reads a
# whole body before it passes it on, and so cannot pass on an answer that
# comes before the body.)
refused 1 image create tiny --file "$tmp/tiny.qcow2"
err_says 'image "tiny": already exists'
names_are "rawdisk tiny" image list
stored_are "rawdisk.qcow2 tiny.qcow2"

# Refused on the command line (exit 2), before any request.
refused 2 image create nofile
err_says 'missing --file'
refused 2 image create ghost --file "$tmp/no-such-file"
err_says '--file ".*no-such-file": cannot read it: No such file'
[ "$(wc -l <"$tmp/err")" -le 2 ] || fail "more than an error and a hint"
refused 2 image create ghost --file "$tmp/tiny.qcow2" --frob
err_says 'unknown option "--frob"'
refused 1 image show ghost
err_says 'image "ghost": not found'
names_are "rawdisk tiny" image list

say "VM groups"

ok vm-group create web --policy anti-affinity --strict
out_says '^policy: +anti-affinity$'
out_says '^strict: +true$'
ok vm-group create db --policy affinity --description "keep together"
ok vm-group list
out_says '^NAME +POLICY +STRICT'
out_says '^web +anti-affinity +true'
refused 2 vm-group create bad --policy love
err_says '--policy "love"'
refused 2 vm-group create bad
err_says 'missing --policy'
refused 1 vm-group create web --policy affinity
err_says 'already exists'
names_are "db web" vm-group list

say "three hosts, registered through the API, without agents"

for i in 1 2 3; do
    [ "$(api POST /v1/hosts "{\"name\": \"hv$i\", \"vtep\": \"192.0.2.$i\",
        \"underlay\": \"eth0\", \"agent_url\": \"http://127.0.0.1:1\",
        \"agent_token\": \"$(printf '%064d' "$i")\",
        \"capacity\": {\"vcpus\": 2, \"memory_mb\": 2048, \"disk_gb\": 20}}")" \
        = 201 ] || fail "cannot register hv$i"
done
ok host update hv3 --maintenance on --cpu-overcommit 2
out_says '^maintenance: +yes$'
out_says '^overcommit: +cpu 2, memory 1$'
ok host list
out_says '^NAME +VTEP +UNDERLAY +UPLINK +STATUS +LAST-HEARTBEAT +VMS +VCPUS +MEMORY +MAINT$'
out_says '^hv3 .* 0/2 +0B/2GiB +yes$'
ok host update hv3 --maintenance off
refused 2 host update hv3 --maintenance maybe
err_says '--maintenance "maybe"'
refused 2 host update hv3 --memory-overcommit -1
refused 2 host update hv3 --cpu-overcommit lots
err_says '--cpu-overcommit "lots": must be a ratio'
refused 2 host update hv3
err_says 'nothing to change'
ok network create blue --cidr 10.10.0.0/24
ok sg create web

say "VMs: created, placed, listed and shown"

ok vm create web1 --network blue,ip=10.10.0.10,sg=web --vcpus 1 \
    --memory 256M --image tiny --disk 2G --group web --hostname www1
out_says '^name: +web1$'
out_says '^status: +(pending|scheduled)$'
out_says '^memory: +256MiB$'
out_says '^disk: +2GiB$'
out_says '^nics: +blue 10.10.0.10 02:'
ok -o json vm create web2 --network blue --network blue --vcpus 1 \
    --memory 1G --image tiny --group web --stopped
js_is 'd["power"]' stopped
js_is 'len(d["nics"])' 2
js_is 'd["memory_mb"]' 1024
ok vm list
out_says '^NAME +STATUS +HOST +VCPUS +MEMORY +IMAGE +IPS$'
out_says '^web1 +[a-z]+ +hv[123] +1 +256MiB +tiny +10.10.0.10$'
ok -o json vm show web1
js_is 'd["nics"][0]["port"]' web1-0
web1_host=$(js 'd["host"]')
ok -o json vm show web2
[ "$(js 'd["host"]')" != "$web1_host" ] ||
    fail "anti-affinity group web: web1 and web2 both on $web1_host"
ok port show web1-0
out_says '^vm: +web1$'

# The command line refuses, with one line naming the flag, and nothing is
# created.
for bad in "--memory 256" "--memory 1000k" "--memory 0M" "--memory lots" \
    "--memory 99999999999999999999G" "--vcpus 0" "--vcpus -1" \
    "--vcpus 1.5" "--disk 1500M" "--disk 0G"; do
    flag=${bad%% *}
    args=(--network blue --image tiny)
    [ "$flag" = --vcpus ] || args+=(--vcpus 1)
    [ "$flag" = --memory ] || args+=(--memory 256M)
    # shellcheck disable=SC2086
    refused 2 vm create bad "${args[@]}" $bad
    err_says "^fabricctl: vm create: (option )?$flag"
done
for nic in "blue,foo=1" ",blue" "blue,ip" "blue,ip=1,ip=2" "ip=10.0.0.1" \
    "blue,,sg=web"; do
    refused 2 vm create bad --network "$nic" --vcpus 1 --memory 256M \
        --image tiny
    err_says "--network \"$nic\""
done
refused 2 vm create bad --vcpus 1 --memory 256M --image tiny
err_says 'missing --network'
refused 2 vm create bad --network blue --vcpus 1 --memory 256M --image tiny \
    --ssh-key-file "$tmp/nope"
err_says '--ssh-key-file ".*nope": cannot read it'
: >"$tmp/empty.pub"
refused 2 vm create bad --network blue --vcpus 1 --memory 256M --image tiny \
    --ssh-key-file "$tmp/empty.pub"
err_says 'holds no key'
printf '\377\376' >"$tmp/binary"
refused 2 vm create bad --network blue --vcpus 1 --memory 256M --image tiny \
    --user-data-file "$tmp/binary"
err_says 'not UTF-8'
refused 2 vm create bad --network blue --vcpus 1 --memory 256M --image tiny \
    --placement random
err_says '--placement "random"'

# The controller refuses, and nothing is created either: no VM, no port.
refused 1 vm create bad --network blue --vcpus 1 --memory 256M --image nope
err_says 'nope'
refused 1 vm create bad --network blue --vcpus 1 --memory 10T --image tiny
refused 1 vm create bad --network green --vcpus 1 --memory 256M --image tiny
err_says 'green'
refused 1 vm create web1 --network blue --vcpus 1 --memory 256M --image tiny
err_says 'already exists'
refused 1 vm create bad --network blue,ip=10.10.0.10 --vcpus 1 --memory 256M \
    --image tiny
refused 1 vm create bad --network blue --vcpus 1 --memory 256M --image tiny \
    --host hv9
refused 1 vm create bad --network blue --vcpus 1 --memory 256M --image tiny \
    --group nosuch
# Two hosts are left for the strict anti-affinity group "web" (hv3 is out
# of maintenance, but web1 and web2 hold two of the three).
ok vm create web3 --network blue --vcpus 1 --memory 256M --image tiny \
    --group web
refused 1 vm create web4 --network blue --vcpus 1 --memory 256M \
    --image tiny --group web
names_are "web1 web2 web3" vm list
ok status
out_says '^VMs: +3 \(3 scheduled\)$'
out_says '^VMs neither running nor stopped:$'
out_says "^web1 +scheduled +$web1_host +placed on host \"$web1_host\""
ok -o json status
js_is 'len(d["vms_unsettled"])' 3
ok -o json port list
js_is '" ".join(sorted(x["name"] for x in d))' "web1-0 web2-0 web2-1 web3-0"

say "images in use, waiting, console, power"

refused 1 image delete tiny
err_says 'in use by vm'
stored_are "rawdisk.qcow2 tiny.qcow2"

# No agent runs it: --wait gives up after --timeout, naming where it is.
refused 1 vm start web2 --wait --timeout 1
err_says 'vm "web2" is still [a-z]+ after 1 s \(waiting for it to be running'
refused 1 vm console web1
err_says "the agent of host \"$web1_host\": http://127.0.0.1:1/v1/vms/web1/console"
refused 1 vm console nosuch
err_says 'vm "nosuch": not found'
refused 2 vm console web1 --bytes many
refused 1 vm console web1 --bytes 0
err_says 'bytes must be'
refused 1 vm reboot nosuch
ok vm stop web1
refused 1 vm reboot web1
err_says 'stopped'

say "deleting"

ok vm delete web1
out_says 'vm "web1" is being deleted'
ok vm delete web2
ok vm delete web3
refused 1 vm delete web1 --wait --timeout 1
ok image delete rawdisk
stored_are "tiny.qcow2"
refused 1 image delete rawdisk
err_says 'not found'
ok vm-group delete db

say "every answer the controller gave conforms to controller/openapi.json"

openapi_conforms "$tmp/main.responses"

say "ok"

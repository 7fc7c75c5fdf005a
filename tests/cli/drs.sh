#!/bin/bash
# Maintenance and the balancer through fabricctl against a real
# fabric-controller.  An operator reads and changes the balancer's
# settings (bad values refused, nothing changed), packs VMs on one of
# three hosts registered through the API by putting the other two in
# maintenance, lets the hosts' "agents" (agent tokens, through the API)
# report the VMs' memory, reads the recommendations and applies them (the
# migrations start; with no agents they go no further), then puts hosts in
# maintenance and sees what stays and why: a pinned VM blocks --wait at
# once.
#
# Needs cli/fabricctl and controller/fabric-controller built, qemu-img,
# python3 and node with the OpenAPI validators (scripts/install-deps):
# every answer the controller gives is checked against
# controller/openapi.json.  No root, no namespaces, no QEMU guest.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fabricctl-lib.sh"

require_cmd python3 qemu-img

fabctl_scratch drs

# ---------------------------------------------------------------------------
say "a controller, and the commands' help"

port=$(free_port)
url=http://127.0.0.1:$port
# The hosts send no heartbeats: a long HA lease keeps them from being
# declared failed (and their VMs from being restarted elsewhere).
controller_pid=$(start_controller main "$port" --ha-lease 600000)
export FABRIC_CONTROLLER=$url FABRIC_TOKEN_FILE=$tmp/main/bootstrap-token
wait_controller "$controller_pid"
for verb in "host maintenance enter" "host maintenance exit" "drs show" \
    "drs set" "drs recommendations"; do
    # shellcheck disable=SC2086
    ok $verb -h
    out_says "^Usage: fabricctl $verb"
done

say "the balancer's settings"

ok drs show
out_says '^mode: +off$'
out_says '^threshold: +0.2$'
out_says '^interval_s: +60$'
out_says '^max_concurrent: +2$'
refused 2 drs set
err_says 'nothing to change'
refused 2 drs set --mode sometimes
err_says '--mode "sometimes"'
refused 2 drs set --interval soon
refused 1 drs set --mode automatic --threshold 5
err_says 'threshold: expected a number from 0.01 to 1'
refused 1 drs set --interval 2
err_says 'interval_s: expected an integer from 5 to 86400'
ok -o json drs show
js_is 'd["mode"]' off
ok drs set --mode manual --threshold 0.25 --max-concurrent 2
out_says '^mode: +manual$'
out_says '^threshold: +0.25$'
ok -o json drs set --interval 30
js_is '[d["mode"], d["threshold"], d["interval_s"]]' '["manual", 0.25, 30]'
viewer=$(FABRIC_TOKEN_FILE=$FABRIC_TOKEN_FILE "$FABRICCTL" -o json \
    token create ops --role viewer | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["token"])')
FABRIC_TOKEN=$viewer refused 1 drs set --mode off
err_says '403|forbidden|may not'
FABRIC_TOKEN=$viewer ok drs show
out_says '^mode: +manual$'

say "three hosts, VMs packed on one"

for i in 1 2 3; do
    [ "$(api POST /v1/hosts "{\"name\": \"hv$i\", \"vtep\": \"192.0.2.$i\",
        \"underlay\": \"eth0\",
        \"capacity\": {\"vcpus\": 4, \"memory_mb\": 8192, \"disk_gb\": 50},
        \"hypervisor\": {\"driver\": \"qemu\", \"accel\": \"tcg\"}}")" = 201 ] ||
        fail "cannot register hv$i"
done
qemu-img create -q -f qcow2 "$tmp/tiny.qcow2" 64M
ok image create tiny --file "$tmp/tiny.qcow2"
ok network create blue --cidr 10.10.0.0/24
ok host maintenance enter hv2
out_says '^host "hv2": in maintenance, no VMs left$'
ok -o json host maintenance enter hv3
js_is 'd["maintenance_status"]' \
    '{"blocked": [], "state": "in-maintenance", "vms": 0}'
ok vm create pinned --vcpus 1 --memory 1G --image tiny --network blue --host hv1
for vm in v1 v2 v3; do
    ok -o json vm create $vm --vcpus 1 --memory 1G --image tiny --network blue
    js_is 'd["host"]' hv1
done
refused 1 vm create nowhere --vcpus 1 --memory 1G --image tiny --network blue --host hv2
err_says 'hv2: in maintenance'
ok host maintenance exit hv2
out_says '^host "hv2": out of maintenance, takes VMs$'
ok host maintenance exit hv3

say "the load the hosts report, and what the balancer recommends"

token=$("$FABRICCTL" -o json token create agent-hv1 --role agent \
    --host hv1 | python3 -c \
    'import json, sys; print(json.load(sys.stdin)["token"])')
report='{"ports": {}, "vms": {'
for vm in pinned v1 v2 v3; do
    report+="\"$vm\": {\"state\": \"running\", \"memory_kb\": 2097152,
        \"cpu_time_ns\": 0},"
done
report="${report%,}}}"
[ "$(api PUT /v1/hosts/hv1/port-status "$report" "$token")" = 204 ] ||
    fail "hv1's report was refused"
ok drs recommendations
out_says '^HOST +LOAD +CPU-USED +MEMORY-USED +IN-SERVICE$'
out_says '^hv1 +1.000 +0.00 +8192MiB +yes$'
out_says '^hv2 +0.000 +0.00 +0MiB +yes$'
out_says '^mode manual, imbalance 1.000, threshold 0.25$'
out_says '^VM +FROM +TO +IMBALANCE-AFTER$'
out_says '^v1 +hv1 +hv2 +0.750$'
out_says '^v2 +hv1 +hv3 +0.250$'
ok -o json drs recommendations
js_is '[(r["vm"], r["to"]) for r in d["recommendations"]]' \
    '[["v1", "hv2"], ["v2", "hv3"]]'
ok drs set --mode off
ok drs recommendations
out_says '^No migrations recommended.$'
refused 1 drs apply
err_says 'mode is off'
FABRIC_TOKEN=$viewer refused 1 drs apply
err_says '403|forbidden|may not'

say "the recommendations applied: two migrations start"

ok drs set --mode manual
ok drs apply
out_says '^VM +FROM +TO +MIGRATION$'
out_says '^v1 +hv1 +hv2 +[0-9a-f-]{36}$'
out_says '^v2 +hv1 +hv3 +[0-9a-f-]{36}$'
ok -o json vm show v1
js_is 'd["migration"]["reason"]' drs
# Two run already: v3, next in the plan, waits.
ok drs set --threshold 0.01
ok drs apply
out_says '^No migrations started'
grep -q 'vm "v3" not moved: max_concurrent migrations run already' \
    "$tmp/err" || fail "v3's refusal not said: $(cat "$tmp/err")"

say "maintenance: what stays, and why"

ok host maintenance enter hv1
out_says '^host "hv1": entering maintenance, 4 VMs left; these cannot leave:$'
out_says '^  pinned: pinned to host "hv1"'
ok host show hv1
out_says '^maintenance: +yes, entering \(4 VMs left, 1 blocked\)$'
# Every VM on hv3 is blocked (pinned there), so --wait gives up after 5 s
# (not its timeout) and says why.
ok vm create lone --vcpus 1 --memory 1G --image tiny --network blue --host hv3 --stopped
start=$SECONDS
refused 1 host maintenance enter hv3 --wait --timeout 60
[ $(( SECONDS - start )) -lt 30 ] || fail "--wait took its timeout"
err_says 'host "hv3": 1 VM cannot leave'
grep -q '^  lone: pinned to host "hv3"' "$tmp/err" ||
    fail "no reason: $(cat "$tmp/err")"
ok host maintenance exit hv1
ok host show hv1
out_says '^maintenance: +no$'
refused 1 host maintenance enter nosuch
err_says 'host "nosuch": not found'
FABRIC_TOKEN=$viewer refused 1 host maintenance enter hv1
err_says '403|forbidden|may not'
refused 2 host maintenance leave hv1

say "every answer the controller gave conforms to controller/openapi.json"

openapi_conforms "$tmp/main.responses"

say "ok"

#!/bin/bash
# Live migrations through fabricctl against a real fabric-controller, the
# agents' side played by their reports (PUT /v1/hosts/NAME/port-status
# with each host's own agent token), as doc/mobility.md has them: an
# operator migrates a running VM and waits while the destination listens,
# the source copies and the destination activates it; lists migrations
# with their progress; cancels one; sees one fail when the destination's
# QEMU dies, and a --wait that times out.  Mistakes on the command line
# are exit status 2 and send nothing; what the controller refuses is exit
# status 1 and changes nothing.
#
# Needs cli/fabricctl and controller/fabric-controller built, qemu-img,
# promtool, python3 and
# node with the OpenAPI validators (scripts/install-deps): every answer is
# checked against controller/openapi.json.  No root, no guests.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fabricctl-lib.sh"

require_cmd python3 qemu-img promtool

fabctl_scratch migrate

# Reports the VMs "vms" (JSON) of host "host" as its agent.
report() {
    local token
    token=$(cat "$tmp/$1.token")
    [ "$(api PUT "/v1/hosts/$1/port-status" "{\"ports\": {}, \"vms\": $2}" \
        "$token")" = 204 ] || fail "report of $1 refused: $2"
}

# Prints the id of web1's migration, as "vm show" gives it.
migration_id() {
    ok -o json vm show web1
    js 'd["migration"]["id"]'
}

# Starts "fabricctl args..." in the background, its output in $tmp/bg.out
# and $tmp/bg.err; its pid in $bg.
background() {
    "$FABRICCTL" "$@" >"$tmp/bg.out" 2>"$tmp/bg.err" &
    bg=$!
}

# Waits for the background fabricctl and fails unless it exits "want".
background_exits() {
    local got=0
    wait "$bg" || got=$?
    [ "$got" -eq "$1" ] ||
        fail "background fabricctl: exit $got instead of $1: $(cat "$tmp/bg.err")"
    cp "$tmp/bg.out" "$tmp/out"
    cp "$tmp/bg.err" "$tmp/err"
}

# ---------------------------------------------------------------------------
say "a controller, two qemu hosts and a libvirt one, a VM running on hv1"

port=$(free_port)
url=http://127.0.0.1:$port
# No agent sends heartbeats here: a lease of 10 minutes keeps the HA
# monitor from declaring the hosts failed while the story runs.
controller_pid=$(start_controller main "$port" --ha-lease 600000)
export FABRIC_CONTROLLER=$url FABRIC_TOKEN_FILE=$tmp/main/bootstrap-token
wait_controller "$controller_pid"
for verb in "vm migrate" "migration list"; do
    # shellcheck disable=SC2086
    ok $verb -h
    out_says "^Usage: fabricctl $verb"
done

for i in 1 2 3; do
    driver=qemu
    [ "$i" != 3 ] || driver=libvirt
    [ "$(api POST /v1/hosts "{\"name\": \"hv$i\", \"vtep\": \"192.0.2.$i\",
        \"underlay\": \"eth0\",
        \"capacity\": {\"vcpus\": 2, \"memory_mb\": 2048, \"disk_gb\": 20},
        \"hypervisor\": {\"driver\": \"$driver\", \"accel\": \"tcg\"}}")" \
        = 201 ] || fail "cannot register hv$i"
    ok -o json token create "agent-hv$i" --role agent --host "hv$i"
    js 'd["token"]' >"$tmp/hv$i.token"
done
qemu-img create -q -f qcow2 "$tmp/tiny.qcow2" 64M
ok image create tiny --file "$tmp/tiny.qcow2"
ok network create blue --cidr 10.10.0.0/24
ok vm create web1 --network blue --vcpus 1 --memory 256M --image tiny \
    --host hv1

say "what is refused: on the command line (2), by the controller (1)"

refused 2 vm migrate web1 --cancel --to hv2
err_says 'vm migrate: --cancel takes no --to'
refused 2 vm migrate web1 --downtime-ms soon
err_says '--downtime-ms "soon"'
refused 2 vm migrate
refused 1 vm migrate web1 --to hv2
err_says 'vm "web1": is scheduled, not running'
report hv1 '{"web1": {"state": "running"}}'
refused 1 vm migrate nosuch
err_says 'vm "nosuch": not found'
refused 1 vm migrate web1 --to hv9
err_says 'host "hv9": no such host'
refused 1 vm migrate web1 --to hv1
err_says 'runs on host "hv1" already'
refused 1 vm migrate web1 --to hv3
err_says 'hv3: its hypervisor driver takes no live migration in'
refused 1 vm migrate web1 --downtime-ms 0
err_says 'downtime_ms 0: must be 1..60000'
refused 1 vm migrate web1 --cancel
err_says 'no migration of it is running'
ok migration list
[ ! -s "$tmp/out" ] || fail "migrations listed: $(cat "$tmp/out")"
grep -q '^No migrations found' "$tmp/err" || fail "$(cat "$tmp/err")"

say "a migration to hv2, waited for while the agents report"

background vm migrate web1 --to hv2 --downtime-ms 200 --max-bandwidth 100 \
    --no-auto-converge --wait
for _ in $(seq 50); do
    ok -o json migration list
    [ "$(js 'len(d)')" = 0 ] || break
    sleep 0.1
done
js_is 'd[0]["vm"]' web1
js_is 'd[0]["state"]' preparing
js_is 'd[0]["downtime_ms"]' 200
js_is 'd[0]["max_bandwidth_mbps"]' 100
js_is 'd[0]["auto_converge"]' false
id=$(js 'd[0]["id"]')
report hv2 "{\"web1\": {\"state\": \"incoming\", \"migration\": {\"id\":
    \"$id\", \"role\": \"destination\", \"status\": \"listening\",
    \"uri\": \"tcp:192.0.2.2:49152\"}}}"
report hv1 "{\"web1\": {\"state\": \"running\", \"migration\": {\"id\":
    \"$id\", \"role\": \"source\", \"status\": \"active\",
    \"transferred_bytes\": 67108864, \"remaining_bytes\": 201326592,
    \"total_bytes\": 268435456}}}"
# The source's agent hands conntrack entries over: hv2's agent gave no
# address, so the controller cannot pass them on (503); bad bodies are
# 400, another host's agent 403, another host 409, no such migration 404.
ct="/v1/hosts/hv1/migrations/$id/conntrack"
entry='{"entries": [{"port": "web1-0", "key": "0a0b", "value": "ff00"}]}'
[ "$(api POST "$ct" "$entry" "$(cat "$tmp/hv1.token")")" = 503 ] ||
    fail "conntrack to an agent without an address: not 503"
[ "$(api POST "$ct" '{"entries": [{"port": "other-0", "key": "0a",
    "value": "0b"}]}' "$(cat "$tmp/hv1.token")")" = 400 ] ||
    fail "conntrack of another VM's port: not 400"
[ "$(api POST "$ct" "$entry" "$(cat "$tmp/hv2.token")")" = 403 ] ||
    fail "conntrack by another host's agent: not 403"
[ "$(api POST "/v1/hosts/hv2/migrations/$id/conntrack" "$entry" \
    "$(cat "$tmp/hv2.token")")" = 409 ] ||
    fail "conntrack from the destination: not 409"
[ "$(api POST /v1/hosts/hv1/migrations/nope/conntrack "$entry" \
    "$(cat "$tmp/hv1.token")")" = 404 ] ||
    fail "conntrack of no migration: not 404"
ok migration list
out_says '^VM +FROM +TO +STATE +REASON +PROGRESS +STARTED$'
out_says '^web1 +hv1 +hv2 +migrating +api +25% of 256MiB +20[0-9-]+T'
ok vm show web1
out_says '^status: +migrating$'
out_says '^migration: +migrating from hv1 to hv2: 25% of 256MiB$'
report hv1 "{\"web1\": {\"state\": \"running\", \"migration\": {\"id\":
    \"$id\", \"role\": \"source\", \"status\": \"completed\",
    \"downtime_ms\": 42, \"total_ms\": 1500}}}"
report hv2 "{\"web1\": {\"state\": \"running\", \"migration\": {\"id\":
    \"$id\", \"role\": \"destination\", \"status\": \"completed\",
    \"activated\": true}}}"
background_exits 0
out_says '^host: +hv2$'
out_says '^status: +running$'
out_says '^migration: +completed from hv1 to hv2 \(downtime 42 ms, 1500 ms in all\)$'
ok -o json vm show web1
js_is 'd["migration"]["result"]["downtime_ms"]' 42
ok -o json port show web1-0
js_is 'd["host"]' hv2

say "back by the scheduler's choice, cancelled"

ok vm migrate web1
out_says '^status: +migrating$'
out_says '^migration: +preparing from hv2 to hv1$'
ok vm migrate web1 --cancel
out_says '^status: +(running|starting)$'
out_says '^migration: +cancelled from hv2 to hv1: cancelled through the API$'
ok -o json vm show web1
js_is 'd["host"]' hv2

say "the destination's QEMU dies: --wait fails with its reason"

report hv2 '{"web1": {"state": "running"}}'
background vm migrate web1 --wait
for _ in $(seq 50); do
    ok -o json vm show web1
    [ "$(js 'd.get("migration", {}).get("state")')" != preparing ] || break
    sleep 0.1
done
id=$(migration_id)
report hv1 "{\"web1\": {\"state\": \"failed\", \"reason\": \"qemu exited\",
    \"migration\": {\"id\": \"$id\", \"role\": \"destination\",
    \"status\": \"failed\"}}}"
background_exits 1
err_says "vm \"web1\": migration failed from hv2 to hv1: the destination, host \"hv1\": qemu exited"
ok -o json vm show web1
js_is 'd["host"]' hv2

say "a --wait that times out says how to go on"

refused 1 vm migrate web1 --wait --timeout 1
err_says 'migration still preparing from hv2 to hv1 after 1 s .*vm migrate web1 --cancel'
ok vm migrate web1 --cancel

say "metrics: one completed, two cancelled, one failed; promtool-clean"

python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
    "$url/metrics" >"$tmp/metrics"
promtool check metrics <"$tmp/metrics" || fail "promtool finds fault"
for want in 'fabric_migrations_total{result="completed"} 1' \
    'fabric_migrations_total{result="cancelled"} 2' \
    'fabric_migrations_total{result="failed"} 1' \
    'fabric_migrations_running 0' \
    'fabric_migration_downtime_seconds_bucket{le="0.05"} 1' \
    'fabric_migration_duration_seconds_count 1'; do
    grep -qxF "$want" "$tmp/metrics" || fail "/metrics lacks: $want"
done

say "every answer the controller gave conforms to controller/openapi.json"

openapi_conforms "$tmp/main.responses"

say "ok"

#!/bin/bash
# fabricctl flowlog and fabricctl trace against a real fabric-controller.
# Two agents report what their firewalls did (POST /v1/flowlogs with their
# own tokens); an operator reads it back as a table, filters it by port,
# host, verdict, network and time, and as JSON; a monitoring token may
# read but not write.  Then the operator traces packets: to an address
# nobody has (no agent needed), from a host whose agent gave no address
# (the controller says what to configure), and with usage mistakes caught
# before any request.
#
# Needs cli/fabricctl and controller/fabric-controller built, python3, and
# node with the OpenAPI validators (scripts/install-deps): every answer the
# controller gives is checked against controller/openapi.json.
# No root, no namespaces.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fabricctl-lib.sh"

require_cmd python3

fabctl_scratch flowlog

# The PORT column of the last table, top to bottom, joined with ",".
ports_column() {
    awk 'NR > 1 { printf "%s%s", sep, $3; sep = "," }' "$tmp/out"
}

ports_are() {
    local got
    got=$(ports_column)
    [ "$got" = "$1" ] || fail "ports are \"$got\", expected \"$1\":"$'\n'"$(cat "$tmp/out")"
}

# POSTs /v1/flowlogs body "json" with token "token"; prints the status.
post_flowlogs() {
    api POST /v1/flowlogs "$2" "$1"
}

# One record as JSON: "time port network verdict reason [SRC DST]".
rec() {
    local rule=7
    [ "$5" = rule ] || rule=0
    echo "{\"time\": \"$1\", \"network\": \"$3\", \"vni\": 1000,
      \"protocol\": \"tcp\", \"src_ip\": \"${6:-10.0.0.2}\", \"src_port\": 40000,
      \"dst_ip\": \"${7:-10.0.0.3}\", \"dst_port\": 5432, \"port\": \"$2\",
      \"direction\": \"egress\", \"rule\": $rule, \"verdict\": \"$4\",
      \"reason\": \"$5\"}"
}

# ---------------------------------------------------------------------------
say "a controller and two agents' tokens"

port=$(free_port)
url=http://127.0.0.1:$port
controller_pid=$(start_controller main "$port")
export FABRIC_CONTROLLER=$url FABRIC_TOKEN_FILE=$tmp/main/bootstrap-token
wait_controller "$controller_pid"
ok token create agent-a --role agent --host host-a -o json
agent_a=$(js 'd["token"]')
ok token create agent-b --role agent --host host-b -o json
agent_b=$(js 'd["token"]')
ok token create monitor --role viewer -o json
monitor=$(js 'd["token"]')
# An agent reports only its own host's ports, so they come first.
ok network create blue --cidr 10.0.0.0/24
ok network create red --cidr 10.1.0.0/24
ok port create web1 --network blue --ip 10.0.0.2 --host host-a
ok port create db1 --network blue --ip 10.0.0.3 --host host-b
ok port create cache1 --network red --host host-a
ok port create app1 --network blue --host host-b

say "no records yet"

ok flowlog
[ ! -s "$tmp/out" ] || fail "output for no records: $(cat "$tmp/out")"
grep -q '^No flow log records found\.$' "$tmp/err" \
    || fail "no note for no records: $(cat "$tmp/err")"

say "agents report"

status=$(post_flowlogs "$agent_a" "{\"host\": \"host-a\", \"records\": [
    $(rec 2026-11-22T10:00:01Z web1 blue allow rule),
    $(rec 2026-11-22T10:00:03Z web1 blue deny default-deny),
    $(rec 2026-11-22T10:00:02Z cache1 red allow network-default)]}")
[ "$status" = 204 ] || fail "agent a's post: $status"
status=$(post_flowlogs "$agent_b" "{\"host\": \"host-b\", \"records\": [
    $(rec 2026-11-22T10:00:04Z app1 blue deny network-default fd00::2 fd00::3 |
      sed 's/}$/, "count": 42, "last_time": "2026-11-22T10:00:09Z"}/')]}")
[ "$status" = 204 ] || fail "agent b's post: $status"
status=$(post_flowlogs "$agent_b" "{\"host\": \"host-a\", \"records\": []}")
[ "$status" = 403 ] || fail "agent b posting for host a: $status, not 403"
status=$(post_flowlogs "$monitor" "{\"host\": \"host-a\", \"records\": []}")
[ "$status" = 403 ] || fail "a viewer posting: $status, not 403"
status=$(post_flowlogs "$agent_a" "{\"host\": \"host-a\", \"records\": [
    $(rec 2026-11-22T10:00:05Z web1 blue allow rule),
    $(rec 2026-11-22T10:00:06Z web1 blue maybe rule)]}")
[ "$status" = 400 ] || fail "a bad record: $status, not 400"
status=$(post_flowlogs "$agent_a" "{\"host\": \"host-a\", \"records\": [
    $(rec 2026-11-22T10:00:05Z app1 blue deny default-deny)]}")
[ "$status" = 403 ] || fail "agent a posting host b's port: $status, not 403"

say "the operator reads them, newest first"

ok flowlog
head -n 1 "$tmp/out" | grep -Eq '^TIME +HOST +PORT +DIR +PROTO +SRC +DST +VERDICT +RULE +REASON +COUNT$' \
    || fail "header: $(head -n 1 "$tmp/out")"
ports_are app1,web1,cache1,web1
out_says '^2026-11-22T10:00:04Z +host-b +app1 +egress +tcp +\[fd00::2\]:40000 +\[fd00::3\]:5432 +deny +<none> +network-default +42$'
out_says '^2026-11-22T10:00:01Z +host-a +web1 +egress +tcp +10.0.0.2:40000 +10.0.0.3:5432 +allow +7 +rule +1$'
ok flowlog --port web1
ports_are web1,web1
ok flowlog --host host-b
ports_are app1
ok flowlog --verdict deny
ports_are app1,web1
ok flowlog --network red --verdict allow
ports_are cache1
ok flowlog --since 2026-11-22T10:00:02Z --limit 2
ports_are app1,web1
ok flowlog --since 2026-11-22T11:00:03+01:00
ports_are app1,web1

say "as JSON, and as a viewer"

ok flowlog -o json --token "$monitor" --port web1
js_is 'len(d)' 2
js_is 'd[0]["verdict"]' deny
js_is 'd[0]["host"]' host-a
js_is 'd[1]["rule"]' 7

say "mistakes"

refused 2 flowlog --verdict drop
refused 2 flowlog --limit 0
refused 1 flowlog --since yesterday
err_says 'since "yesterday"'
refused 1 flowlog --token "$agent_a"

say "traces"

ok trace --from web1 --to 10.0.0.9 --proto icmp --token "$monitor"
out_says '^from: port web1 \(10.0.0.2, host host-a, network blue\)$'
out_says '^to: +10.0.0.9: no port has this address in network blue$'
out_says '^verdict: drop \(unknown-destination\)$'
ok trace --from web1 --to 10.0.0.9 --proto icmp -o json
js_is 'd["verdict"]' drop
js_is 'd["stages"]' '[]'

# host-a's agent never registered an address for traces.
refused 1 trace --from web1 --to 10.0.0.3 --proto tcp --dport 5432
err_says 'host "host-a"'

refused 2 trace --from web1 --to 10.0.0.3 --proto tcp
err_says 'dport'
refused 2 trace --from web1 --to 10.0.0.3 --proto icmp --dport 80
refused 2 trace --from web1 --to 10.0.0.3 --proto udp --dport 53 --icmp-type 8
refused 2 trace --from web1 --to 10.0.0.3 --proto gre
refused 2 trace --to 10.0.0.3 --proto icmp
refused 1 trace --from nobody --to 10.0.0.3 --proto icmp
err_says 'port "nobody"'

say "every answer the controller gave conforms to controller/openapi.json"

openapi_conforms "$tmp/main.responses"

say "ok"

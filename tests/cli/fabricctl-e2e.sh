#!/bin/bash
# fabricctl end to end: a real fabric-controller on a scratch database, and
# an operator's afternoon with fabricctl.  They bootstrap with the token the
# controller wrote, build a network with ports (the controller allocates
# addresses), look at it as tables and as JSON, race a colleague with a
# stale --if-version, try to delete a network that still has ports, set
# QoS policies in tc units and attach them to ports and networks, hand a
# read-only token to a monitoring system, meet a controller behind TLS, and
# finally lose the controller.
# Every step checks fabricctl's exit status and what it printed, and at the
# end every answer the controller gave is checked against
# controller/openapi.json.
#
# Needs cli/fabricctl and controller/fabric-controller built, node and the
# OpenAPI validators (scripts/install-deps), python3 to read the JSON and
# openssl for a certificate.  No root, no namespaces.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fabricctl-lib.sh"

require_cmd python3 openssl

tmp=$(mktemp -d /tmp/fabricctl-e2e.XXXXXX)
controller_pid=
tls_pid=

cleanup() {
    local rc=$? pid log
    trap - EXIT
    for pid in $controller_pid $tls_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        for log in "$tmp"/*.log; do
            [ -s "$log" ] || continue
            echo "=== last lines of $log" >&2
            tail -n 20 "$log" >&2
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Helpers of this story; those it shares with flowlog.sh (ctl, ok, refused,
# err_says, out_says, js, js_is, start_controller, wait_controller,
# free_port) are in fabricctl-lib.sh.

# Fails unless the last standard output is a table whose header starts
# with the words "headers..." and whose every column starts at the
# position of its header in every row.
table_is_aligned() {
    python3 - "$tmp/out" "$@" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
want = sys.argv[2:]
header = lines[0].split()
if header[:len(want)] != want:
    sys.exit("header %r does not start with %r" % (header, want))
starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
for line in lines[1:]:
    cells = [m.start() for m in re.finditer(r"\S+", line)]
    if cells[:len(starts)] != starts or line != line.rstrip():
        sys.exit("row %r is not aligned with %r" % (line, lines[0]))
EOF
}

# Counts the rows of the last table output, header excluded.
rows() {
    echo $(( $(wc -l <"$tmp/out") - 1 ))
}

# ---------------------------------------------------------------------------
say "a controller on a fresh database"

port=$(free_port)
url=http://127.0.0.1:$port
# Its hosts send no heartbeats after registering: a lease of 10 minutes
# keeps the HA monitor from declaring them failed (and writing that in the
# audit trail the story reads) while it runs.
controller_pid=$(start_controller main "$port" --ha-lease 600000)
export FABRIC_CONTROLLER=$url
export FABRIC_TOKEN_FILE=$tmp/main/bootstrap-token
wait_controller "$controller_pid"
ok status
[ "$(stat -c %a "$FABRIC_TOKEN_FILE")" = 600 ] \
    || fail "the bootstrap token file is not mode 0600"

say "help everywhere, usage errors before any request"

ok --help
out_says '^Usage: fabricctl '
for resource in network port qos sg host external-vtep token audit status \
    version completion; do
    ok "$resource" --help
    out_says "^Usage: fabricctl $resource"
done
for verb in "network create" "network list" "network show" "network update" \
    "network delete" "port create" "port list" "port show" "port update" \
    "port delete" "qos create" "qos list" "qos show" "qos update" \
    "qos delete" "sg create" "sg list" "sg show" "sg update" "sg delete" \
    "sg rule add" "sg rule list" "sg rule delete" \
    "host list" "host show" "host update" "host delete" \
    "external-vtep create" "external-vtep list" "external-vtep show" \
    "external-vtep update" "external-vtep delete" \
    "token create" \
    "token list" "token delete"; do
    # shellcheck disable=SC2086
    ok $verb -h
    out_says "^Usage: fabricctl $verb"
done
refused 2 network frob
err_says 'network: unknown verb "frob"'
grep -q "^Try 'fabricctl network --help'$" "$tmp/err" || fail "no hint"
refused 2 network create blue
err_says 'missing --cidr'
refused 2 network create blue --cidr 10.10.0.0/24 --mtu big
err_says '--mtu "big": must be a whole number'
refused 2 port create web-1 --network blue --label tier
err_says '--label "tier": must be KEY=VALUE'

ok version
out_says '^fabricctl [0-9]'
out_says "^controller $url: API version "

say "networks: create, with an allocated and a chosen VNI"

ok network create blue --cidr 10.10.0.0/24 --description "web tier"
out_says '^name: +blue$'
out_says '^vni: +1000$'
out_says '^mtu: +1450$'
out_says '^version: +1$'
ok -o json network create red --cidr 10.20.0.0/24 --vni 5000 --mtu 9000
js_is 'd["vni"]' 5000
js_is 'd["mtu"]' 9000

# The controller judges values; fabricctl shows its message as it is.
refused 1 network create bad --cidr 10.30.0.0/33
err_says 'cidr'
refused 1 network create blue --cidr 10.40.0.0/24
err_says 'blue'
refused 1 network show green
err_says 'green'

ok network list
table_is_aligned NAME VNI CIDR MTU DESCRIPTION
[ "$(rows)" = 2 ] || fail "network list: $(rows) rows, expected 2"
out_says '^blue +1000 +10\.10\.0\.0/24 +1450 +web tier$'
out_says '^red +5000 +10\.20\.0\.0/24 +9000 +<none>$'
ok network list -o json
js_is 'len(d)' 2
js_is '[n["name"] for n in d]' '["blue", "red"]'

say "ports: addresses allocated unless given"

ok -o json port create web-1 --network blue --label tier=web --label env=prod
js_is 'd["ip"]' 10.10.0.1
js_is 'd["mac"].startswith("02:fa:")' true
js_is 'd["labels"]' '{"env": "prod", "tier": "web"}'
js_is 'd["status"]' pending
web1_mac=$(js 'd["mac"]')
ok port create web-2 --network blue --ip 10.10.0.20 --mac 02:00:00:00:00:02
out_says '^ip: +10\.10\.0\.20$'
out_says '^mac: +02:00:00:00:00:02$'
for i in 1 2 3 4 5; do
    ok port create "db-$i" --network red --label tier=db
done
refused 1 port create web-3 --network blue --ip 10.10.0.20
err_says '10\.10\.0\.20'

ok port list
table_is_aligned NAME NETWORK MAC IP HOST STATUS LABELS
[ "$(rows)" = 7 ] || fail "port list: $(rows) rows, expected 7"
out_says "^web-1 +blue +$web1_mac +10\\.10\\.0\\.1 +<none> +pending +env=prod,tier=web +<none>\$"

# Small pages: the list is still complete, in order, without repeats.
ok port list -o json --page-size 2
js_is 'len(d)' 7
js_is '[p["name"] for p in d] == sorted(set(p["name"] for p in d))' true
ok port list --network blue -o json --page-size 1
js_is '[p["name"] for p in d]' '["web-1", "web-2"]'
ok port list --label tier=db -o json
js_is 'len(d)' 5
ok port list --label env -o json
js_is '[p["name"] for p in d]' '["web-1"]'
ok port list --label tier=web --label env=prod -o json
js_is '[p["name"] for p in d]' '["web-1"]'
ok port list --label tier=cache
[ ! -s "$tmp/out" ] || fail "an empty list printed: $(cat "$tmp/out")"
grep -q '^No ports found\.$' "$tmp/err" || fail "no note for an empty list"
# A network that does not exist is not an empty one.
refused 1 port list --network bleu
err_says 'network "bleu": not found'

# Shell completion asks the controller for names.
ok __complete port show ""
out_says '^web-1$'
out_says '^db-5$'
ok __complete port create web-3 --network ""
[ "$(cat "$tmp/out")" = "$(printf 'blue\nred')" ] \
    || fail "completing --network: $(cat "$tmp/out")"

ok port show web-1
out_says '^name: +web-1$'
out_says '^network: +blue$'
out_says '^labels: +env=prod,tier=web$'
out_says '^status: +pending$'
out_says '^status_reason: +not placed on a host$'

say "updates, and a stale --if-version"

ok -o json port update web-1 --label tier=db --remove-label env
js_is 'd["labels"]' '{"tier": "db"}'
js_is 'd["version"]' 2

ok network update blue --mtu 1400 --if-version 1
out_says '^mtu: +1400$'
out_says '^version: +2$'
# A colleague still looking at version 1 loses, and nothing changes.
refused 1 network update blue --description "not mine" --if-version 1
err_says 'version|conflict|stale'
ok network show blue -o json
js_is 'd["description"]' "web tier"
refused 1 network delete blue --if-version 1
err_says 'version|conflict|stale'

say "a network with ports cannot go"

refused 1 network delete blue
err_says 'port'
ok network show blue

say "QoS: policies in tc units, attached to ports and networks"

ok qos create gold --egress-rate 100mbit --egress-burst 64kb \
    --ingress-rate 1gbit --dscp 46 --description "VIP tenants"
out_says '^name: +gold$'
out_says '^egress_rate: +100Mbit$'
out_says '^egress_burst: +64KiB$'
out_says '^ingress_rate: +1Gbit$'
out_says '^dscp: +46$'
# Machines get integers: bits per second and bytes.
ok -o json qos create bronze --egress-rate 1.5mbit
js_is 'd["egress"]' '{"rate": 1500000}'
js_is '"dscp" in d' false
refused 2 qos create silver --egress-rate 100mbits
err_says '^fabricctl: qos create: --egress-rate "100mbits": unknown unit'
refused 2 qos create silver --egress-burst 0
err_says '--egress-burst "0": must be greater than zero'
refused 2 qos create silver --dscp 64
err_says '--dscp "64"'
refused 1 qos create silver --egress-burst 64kb
err_says 'egress.rate: required'
refused 1 qos create gold --ingress-rate 1mbit
err_says 'gold'

ok qos list
table_is_aligned NAME EGRESS-RATE EGRESS-BURST MIN-RATE PRIO INGRESS-RATE \
    INGRESS-BURST DSCP DESCRIPTION
[ "$(rows)" = 2 ] || fail "qos list: $(rows) rows, expected 2"
out_says '^bronze +1\.5Mbit +<none> +<none> +default +<none> +<none> +keep +<none>$'
out_says '^gold +100Mbit +64KiB +<none> +default +1Gbit +<none> +46 +VIP tenants$'
ok __complete port update web-1 --qos ""
[ "$(cat "$tmp/out")" = "$(printf 'bronze\ngold')" ] \
    || fail "completing --qos: $(cat "$tmp/out")"

# A guaranteed egress minimum (alone or under the rate) and a priority.
ok qos create premium --egress-min-rate 200mbit --priority 1
out_says '^egress_min_rate: +200Mbit$'
out_says '^priority: +1$'
ok -o json qos update premium --egress-rate 1gbit --priority default
js_is 'd["egress"]' '{"min_rate": 200000000, "rate": 1000000000}'
js_is '"priority" in d' false
refused 1 qos update premium --egress-rate 100mbit
err_says 'egress\.min_rate 200000000: must not exceed egress\.rate 100000000'
refused 1 qos create silver --egress-rate 1mbit --egress-min-rate 2mbit
err_says 'egress\.min_rate'
refused 2 qos create silver --priority 8
err_says '--priority "8": must be a priority 0 to 7'
ok qos list
out_says '^premium +1Gbit +<none> +200Mbit +default +<none> +<none> +keep +<none>$'
ok qos delete premium

refused 1 port update web-1 --qos platinum
err_says 'qos "platinum": no such qos policy'
ok -o json port update web-1 --qos gold
js_is 'd["qos"]' gold
ok -o json port create web-4 --network blue --qos bronze
js_is 'd["qos"]' bronze
ok -o json network update red --default-qos bronze
js_is 'd["default_qos"]' bronze

ok qos update gold --egress-rate 200mbit --dscp keep --if-version 1
out_says '^egress_rate: +200Mbit$'
out_says '^egress_burst: +64KiB$'
out_says '^dscp: +keep$'
out_says '^version: +2$'
refused 1 qos update gold --dscp 10 --if-version 1
err_says 'version|conflict|stale'
ok qos show gold -o json
js_is 'd["egress"]' '{"burst": 65536, "rate": 200000000}'
js_is '"dscp" in d' false

# In use: refused, naming a user; free again once detached.
refused 1 qos delete gold
err_says 'in use by port "web-1"'
ok port update web-1 --qos ""
ok -o json port show web-1
js_is '"qos" in d' false
ok qos delete gold
out_says '^qos "gold" deleted$'
refused 1 qos delete bronze
err_says 'in use by'
ok port delete web-4
refused 1 qos delete bronze
err_says 'in use by network "red"'
ok network update red --default-qos ""
ok qos delete bronze
ok qos list
[ ! -s "$tmp/out" ] || fail "an empty list printed: $(cat "$tmp/out")"
grep -q '^No QoS policies found\.$' "$tmp/err" || fail "no note for an empty list"

say "security groups: members by label and by name, rules, refusals"

ok sg create web --selector tier=web --description "front ends"
out_says '^name: +web$'
out_says '^selector: +tier=web$'
ok sg create db --selector tier=db
# "--selector a=1,b=2" means two pairs, as with kubectl.
ok -o json sg create shop --selector env=prod,tier=web
js_is 'd["selector"]' '{"env": "prod", "tier": "web"}'
refused 2 sg create shop2 --selector env=prod,tier
err_says 'item "tier": must be KEY=VALUE'
ok sg delete shop
ok port create web-9 --network blue --label tier=web --security-group db
ok -o json port show web-9
js_is 'd["security_groups"]' '["db"]'
js_is 'd["groups"]' '["db", "web"]'
js_is 'd["identity"] >= 256' true
ok port show web-9
out_says '^groups: +db,web$'
refused 1 port create web-8 --network blue --security-group ghosts
err_says 'security_groups: "ghosts": no such security group'
refused 1 port show web-8
ok sg list
table_is_aligned NAME SELECTOR MEMBERS DESCRIPTION
out_says '^web +tier=web +web-9 +front ends$'
out_says '^db +tier=db +([a-z0-9-]+,)*web-9 '

ok sg rule add web --direction egress --protocol tcp --ports 5432 \
    --peer-group db --action allow
out_says '^peer_group: +db$'
id1=$(awk '$1 == "id:" {print $2}' "$tmp/out")
ok -o json sg rule add web --direction ingress --protocol icmp \
    --icmp-type 8 --action allow --log
js_is 'd["log"]' true
id2=$(js 'd["id"]')
[ "$id2" -gt "$id1" ] || fail "rule ids $id1 then $id2"
ok sg rule add web --direction ingress --protocol any \
    --peer-cidr 192.0.2.0/24 --action deny
refused 1 sg rule add web --direction ingress --protocol icmp --ports 80 \
    --action allow
err_says 'ports: only for protocol tcp or udp'
refused 1 sg rule add web --direction ingress --protocol tcp \
    --peer-cidr 10.0.0.1/8 --action allow
err_says 'peer_cidr "10\.0\.0\.1/8": host bits must be zero'
refused 2 sg rule add web --direction ingress --protocol tcp \
    --peer-group db --peer-cidr 10.0.0.0/8 --action allow
err_says 'not both'
refused 1 sg rule add nobody --direction ingress --protocol tcp --action allow
err_says 'security group "nobody": not found'

ok sg rule list web
table_is_aligned ID DIRECTION PROTOCOL PORTS PEER ACTION LOG HITS
[ "$(rows)" = 3 ] || fail "sg rule list: $(rows) rows, expected 3"
out_says "^$id1 +egress +tcp +5432 +sg:db +allow +false +0$"
out_says "^$id2 +ingress +icmp +type=8 +any +allow +true +0$"
out_says ' +ingress +any +all +192\.0\.2\.0/24 +deny +false +0$'
ok -o json sg rule list web
js_is 'len(d)' 3
ok sg show web
out_says '^members: +web-9$'
out_says '^Rules:$'
out_says "^$id1 +egress "
ok -o json sg show web
js_is 'len(d["rules"])' 3
ok __complete sg rule list ""
out_says '^web$'

# In use: by a port that names it, then by another group's rule.
refused 1 sg delete db
err_says 'in use by port "web-9"'
ok port update web-9 --security-group ""
ok -o json port show web-9
js_is '"security_groups" in d' false
refused 1 sg delete db
err_says "rule $id1 of security group \"web\" names it as peer_group"
ok sg rule delete web "$id1"
out_says "^rule $id1 of security group \"web\" deleted$"
refused 1 sg rule delete web "$id1"
ok sg delete db
out_says '^sg "db" deleted$'

# Selectors follow labels at once.
ok -o json sg update web --selector app=shop
js_is 'd["selector"]' '{"app": "shop", "tier": "web"}'
js_is 'd["members"]' '[]'
ok -o json sg update web --remove-selector app
js_is 'd["members"]' '["web-9"]'

ok -o json network update red --default-action deny
js_is 'd["default_action"]' deny
refused 2 network update red --default-action drop
ok network update red --default-action allow
# Leave the rest of the story the ports it had.
ok port delete web-9
ok -o json sg show web
js_is 'd["members"]' '[]'
ok sg delete web

say "hosts, registered the way an agent does"

python3 - "$url" "$(cat "$FABRIC_TOKEN_FILE")" <<'EOF'
import json, sys, urllib.request
req = urllib.request.Request(
    sys.argv[1] + "/v1/hosts", method="POST",
    data=json.dumps({"name": "hv-1", "vtep": "192.0.2.1",
                     "underlay": "eth0"}).encode(),
    headers={"Authorization": "Bearer " + sys.argv[2],
             "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
EOF
ok host list
table_is_aligned NAME VTEP UNDERLAY UPLINK STATUS LAST-HEARTBEAT
out_says '^hv-1 +192\.0\.2\.1 +eth0 +<none> +ready '
ok host show hv-1
out_says '^vtep: +192\.0\.2\.1$'
# The uplink's rate, for the agent to shape QoS egress within.
ok host update hv-1 --uplink-rate 10gbit
out_says '^uplink_rate: +10Gbit$'
ok -o json host show hv-1
js_is 'd["uplink_rate"]' 10000000000
refused 1 host update hv-1 --uplink-rate 100kbit
err_says 'uplink_rate 100000: must be 1000000\.\.1000000000000'
refused 2 host update hv-1
err_says 'nothing to change'
ok host list
out_says '^hv-1 +192\.0\.2\.1 +eth0 +10Gbit +ready '

say "a host whose underlay cannot carry a network, and what its agent cannot apply"

# What an agent does: register with its limits, later report a port it
# left out.  "req METHOD PATH JSON" sends it with the admin token.
req() {
    python3 - "$url" "$(cat "$FABRIC_TOKEN_FILE")" "$@" <<'EOF2'
import json, sys, urllib.request
req = urllib.request.Request(
    sys.argv[1] + sys.argv[4], method=sys.argv[3],
    data=sys.argv[5].encode(),
    headers={"Authorization": "Bearer " + sys.argv[2],
             "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
EOF2
}
req POST /v1/hosts '{"name": "hv-2", "vtep": "192.0.2.2", "underlay": "eth0",
                     "limits": {"underlay_mtu": 1400, "flood_members": 256}}'
ok -o json host show hv-2
js_is 'd["limits"]' '{"flood_members": 256, "underlay_mtu": 1400}'
refused 1 port update web-2 --host hv-2
err_says 'port "web-2": host "hv-2" cannot carry network "blue": its mtu 1400 plus 50 bytes of VXLAN overhead is 1450, more than the underlay MTU 1400 of "hv-2" \(give the network an mtu of at most 1350, or raise the underlay MTU of "hv-2"\)'
ok network create small --cidr 10.7.0.0/24 --mtu 1350
ok port create tiny --network small --host hv-2
refused 1 network update small --mtu 1351
err_says 'host "hv-2" cannot carry network "small"'
req PUT /v1/hosts/hv-2/port-status '{"ports": {"tiny": "refused"},
    "conditions": [{"kind": "port", "name": "tiny",
                    "reason": "mac: \"01:00:00:00:00:01\": a multicast MAC"},
                   {"kind": "identity", "name": "300",
                    "reason": "rules[0].direction: \"egress\", which the identity does not govern"}]}'
ok port show tiny
out_says '^status: +refused$'
out_says '^status_reason: +mac: "01:00:00:00:00:01": a multicast MAC$'
ok host list
out_says '^hv-2 +192\.0\.2\.2 +eth0 +<none> +degraded '
ok host show hv-2
out_says '^conditions: +port tiny: mac: "01:00:00:00:00:01": a multicast MAC'
ok status
out_says '^Hosts: +2 \(2 ready, of which 1 degraded; 0 unreachable\)$'
out_says '^Ports: +8 \(0 up, 0 down, 7 pending, 1 refused\)$'
out_says '^Not applied by their hosts \(the rest applies\):$'
out_says '^hv-2 +identity +300 +rules\[0\]\.direction: "egress", which'
out_says '^tiny +small +hv-2 +refused +mac: "01:00:00:00:00:01": a multicast MAC$'
ok -o json status
js_is 'd["status"]["ports"]["refused"]' 1
js_is 'd["status"]["hosts"]["degraded"]' 1
# Fixed: the next report clears it.
req PUT /v1/hosts/hv-2/port-status '{"ports": {"tiny": "up"}, "conditions": []}'
ok -o json host show hv-2
js_is 'd["status"]' ready
js_is 'd["conditions"]' '[]'
ok port delete tiny
ok network delete small
ok host delete hv-2

ok port update web-2 --host hv-1
out_says '^host: +hv-1$'
ok port list --host hv-1 -o json
js_is '[p["name"] for p in d]' '["web-2"]'
ok port update web-2 --host ""
ok port show web-2 -o json
js_is '"host" in d' false

say "status and audit"

ok status
out_says '^Hosts: +1 \(1 ready, of which 0 degraded; 0 unreachable\)$'
out_says '^Networks: +2$'
out_says '^Ports: +7 \(0 up, 0 down, 7 pending, 0 refused\)$'
out_says '^hv-1 +192\.0\.2\.1 '
out_says '^Ports not up:$'
ok status -o json
js_is 'd["status"]["networks"]' 2
js_is 'len(d["hosts"])' 1
js_is 'len(d["ports_not_up"])' 7

ok audit --limit 3
table_is_aligned TIME CLIENT WHO ROLE METHOD PATH STATUS MESSAGE
[ "$(rows)" = 3 ] || fail "audit --limit 3: $(rows) rows"
ok audit -o json
js_is 'd[0]["method"]' PATCH
js_is 'd[0]["path"]' /v1/ports/web-2

say "external VTEPs: an OVS joins blue, with its VMs as endpoints"

refused 1 external-vtep create ovs-1 --address 192.0.2.50 --network blue \
    --endpoint blue/02:00:00:00:50:01/10.10.0.50 \
    --endpoint BLUE/02:00:00:00:50:02
err_says 'endpoints\[1\]\.network: expected the name of a network'
refused 1 external-vtep create ovs-1 --address 192.0.2.50 --network blue \
    --endpoint blue/02:00:00:00:50:01/10.11.0.50
err_says 'endpoints\[0\]\.ip "10\.11\.0\.50": not a usable address of network "blue"'
refused 1 external-vtep create ovs-1 --address 192.0.2.1 --network blue
err_says 'address 192\.0\.2\.1: in use by host "hv-1"'
refused 1 external-vtep create ovs-1 --address 192.0.2.50 --network green
err_says 'networks\[0\]: "green": no such network'
refused 2 external-vtep create ovs-1 --address 192.0.2.50 --network blue \
    --endpoint 02:00:00:00:50:01
err_says '^fabricctl: external-vtep create: --endpoint "02:00:00:00:50:01": expected NETWORK/MAC or NETWORK/MAC/IP'
refused 2 external-vtep create ovs-1 --address 192.0.2.50 --network blue \
    --gbp maybe
refused 2 external-vtep create ovs-1 --network blue
err_says 'missing --address'
ok external-vtep create ovs-1 --address 192.0.2.50 --network blue \
    --endpoint blue/02:00:00:00:50:01/10.10.0.50
out_says '^gbp: +off$'
out_says '^endpoints: +blue/02:00:00:00:50:01/10\.10\.0\.50$'
ok external-vtep list
table_is_aligned NAME ADDRESS NETWORKS GBP ENDPOINTS DESCRIPTION
out_says '^ovs-1 +192\.0\.2\.50 +blue +off +blue/02:00:00:00:50:01/10\.10\.0\.50 +<none>$'
# Its address is taken in blue: a port cannot have it.
refused 1 port create web-9 --network blue --ip 10.10.0.50
err_says 'in use by external VTEP "ovs-1"'
ok external-vtep update ovs-1 --gbp on --description "rack 7 OVS"
out_says '^gbp: +on$'
ok -o json external-vtep show ovs-1
js_is '[d["gbp"], d["endpoints"][0]["mac"], d["version"]]' \
    '[true, "02:00:00:00:50:01", 2]'
refused 1 external-vtep update ovs-1 --gbp off --if-version 1
ok external-vtep update ovs-1 --endpoint ""
out_says '^endpoints: +<none>$'
refused 2 external-vtep update ovs-1
err_says 'nothing to change'
refused 1 network delete blue
err_says 'external VTEP "ovs-1" joins it'
ok external-vtep delete ovs-1
out_says '^external-vtep "ovs-1" deleted$'
ok -o json external-vtep list
js_is 'd' '[]'

say "tokens: a read-only token for monitoring"

ok -o json token create grafana --role viewer
js_is 'd["role"]' viewer
js 'd["token"]' >"$tmp/viewer-token"
[ -s "$tmp/viewer-token" ] || fail "token create printed no token"
ok token create ci --role admin
out_says '^token: +[^ ]+$'
grep -q 'cannot show it again' "$tmp/err" || fail "no warning to save the token"
ok token list
table_is_aligned NAME ROLE HOST CREATED
out_says '^grafana +viewer '
grep -q -- "$(cat "$tmp/viewer-token")" "$tmp/out" \
    && fail "token list shows a token"
refused 1 token create rogue --role agent
err_says 'host'

# The viewer reads everything but the tokens, and changes nothing.
ok --token-file "$tmp/viewer-token" network list
ok --token "$(cat "$tmp/viewer-token")" port show web-1
refused 1 --token-file "$tmp/viewer-token" network create green \
    --cidr 10.50.0.0/24
err_says 'forbidden|not allowed|may not|viewer'
refused 1 --token-file "$tmp/viewer-token" token list
err_says 'forbidden|not allowed|may not|viewer'

# A token nobody issued.
refused 1 --token not-a-token network list
err_says 'unauthenticated|token'

# Revoked: the same token no longer works.
ok token delete grafana
out_says '^token "grafana" deleted$'
refused 1 --token-file "$tmp/viewer-token" network list
err_says 'unauthenticated|token'

# Refusals are counted apart from the changes, per client and reason.
ok audit --refused
table_is_aligned LAST CLIENT WHO STATUS COUNT FIRST METHOD PATH MESSAGE
out_says ' 127\.0\.0\.1 +- +401 +2 '
out_says ' 127\.0\.0\.1 +grafana +403 +2 '
ok audit --refused -o json
js_is 'd[0]["status"]' 401
js_is 'd[0]["count"]' 2
ok audit -o json
js_is '[e for e in d if e["status"] in (401, 403)]' '[]'
js_is 'd[0]["client"]' 127.0.0.1

say "cleaning up: ports first, then the network"

for p in web-1 web-2 db-1 db-2 db-3 db-4 db-5; do
    ok port delete "$p"
done
ok -o json port list
js_is 'd' '[]'
ok network delete blue
out_says '^network "blue" deleted$'
refused 1 network show blue
err_says 'blue'

say "TLS: the controller's certificate is checked"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" 2>/dev/null || fail "openssl cannot make a certificate"
tls_port=$(free_port)
tls_url=https://127.0.0.1:$tls_port
tls_pid=$(start_controller tls "$tls_port" --tls-cert "$tmp/cert.pem" \
    --tls-key "$tmp/key.pem")
(
    export FABRIC_TOKEN_FILE=$tmp/tls/bootstrap-token
    wait_controller "$tls_pid" --controller "$tls_url" --cacert "$tmp/cert.pem"
    # A self-signed certificate is nobody's the system trusts.
    refused 3 --controller "$tls_url" network list
    err_says "^fabricctl: TLS with the controller at $tls_url failed: .*certificate"
    ok --controller "$tls_url" --cacert "$tmp/cert.pem" network list
    FABRIC_CACERT=$tmp/cert.pem ok --controller "$tls_url" network list
    # TLS to a plain HTTP listener fails the handshake.
    refused 3 --controller "https://127.0.0.1:$port" --cacert "$tmp/cert.pem" \
        network list
    err_says "TLS with the controller at https://127\\.0\\.0\\.1:$port failed"
    # A CA file that is not there is the operator's mistake, found first.
    refused 2 --controller "$tls_url" --cacert "$tmp/nonexistent.pem" status
    err_says 'cacert .*nonexistent\.pem.*: cannot read it'
)

say "no controller: exit status 3"

kill "$controller_pid"
wait "$controller_pid" 2>/dev/null || true
controller_pid=
refused 3 network list
err_says "^fabricctl: cannot reach the controller at $url: Connection refused\$"
refused 3 status
ok version --client

say "every answer the controller gave conforms to controller/openapi.json"

openapi_conforms "$tmp/main.responses" "$tmp/tls.responses"

say "done"

#!/bin/bash
# The response check itself, shown to catch drift.  A real
# fabric-controller runs behind tests/openapi/proxy.js, and a client that
# does everything wrong (no token, a token nobody issued, a path and a
# method that do not exist, broken JSON, a 2 MB body, a deleted object)
# and some things right gets answers that pass through unchanged and all
# conform to controller/openapi.json, error shape included.  Then the same
# real answers are held against copies of the document with one field
# changed, and crafted answers with an undocumented status, Content-Type
# or error shape: each is refused, naming the operation and the field.
# A packet capture of the same traffic, as the stories with agents use,
# reads as exactly the exchanges the proxy recorded.
#
# Needs root (to capture), controller/fabric-controller built, node and
# the validators that scripts/install-deps installs, curl, python3 and
# tshark.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/openapi.sh"

CONTROLLER=${CONTROLLER:-$top_builddir/controller/fabric-controller}
[ -x "$CONTROLLER" ] || fail "$CONTROLLER not built: run \"make\" first"
openapi_require
require_root
require_cmd curl python3 dumpcap tshark

tmp=$(mktemp -d /tmp/openapi-responses.XXXXXX)
proxy_pid=

cleanup() {
    local rc=$?
    trap - EXIT
    if [ -n "$proxy_pid" ]; then
        kill "$proxy_pid" 2>/dev/null || true
        wait "$proxy_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -s "$tmp/controller.log" ]; then
        echo "=== last lines of the controller's log" >&2
        tail -n 20 "$tmp/controller.log" >&2
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

# Sends a request with curl "args..." to path "path" through the proxy and
# fails unless the status is "want".
call() {
    local want=$1 path=$2 got
    shift 2
    got=$(curl -s -o "$tmp/body" -w '%{http_code}' "$@" "$url$path") || true
    [ "$got" = "$want" ] \
        || fail "$* $path: status $got instead of $want: $(cat "$tmp/body")"
}

# Runs the checker over document "doc" and recordings "files...", keeping
# its output in $tmp/check and its exit status in $rc.
check() {
    local doc=$1
    shift
    set +e
    node "$OPENAPI_TOOLS/check-responses.js" "$doc" "$@" >"$tmp/check" 2>&1
    rc=$?
    set -e
}

# Fails unless the last check refused, saying extended regular expression
# "re".
refused_saying() {
    [ "$rc" -eq 1 ] || fail "the check passed (exit $rc): $(cat "$tmp/check")"
    grep -Eq -- "$1" "$tmp/check" \
        || fail "the check does not say /$1/: $(cat "$tmp/check")"
}

say "a controller behind the recording proxy"

port=$(free_port)
inner=$(free_port)
url=http://127.0.0.1:$port
: >"$tmp/controller.conf"
# The same traffic captured, as the stories with agents check it.
openapi_capture_start "" "$port" "$tmp/capture.pcapng" 127.0.0.1
openapi_proxy "127.0.0.1:$port" "http://127.0.0.1:$inner" "$tmp/rec" -- \
    "$CONTROLLER" --config "$tmp/controller.conf" --db "$tmp/db" \
    --listen "127.0.0.1:$inner" --bootstrap-token-file "$tmp/token" \
    </dev/null >"$tmp/controller.log" 2>&1
proxy_pid=$!
for _ in $(seq 100); do
    kill -0 "$proxy_pid" 2>/dev/null || fail "the controller or proxy exited"
    [ -s "$tmp/token" ] && curl -sf "$url/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "$url/readyz" >/dev/null || fail "no answer at $url within 10 s"
auth=(-H "Authorization: Bearer $(cat "$tmp/token")")
json=(-H 'Content-Type: application/json')

say "answers pass through unchanged"

curl -sf "${auth[@]}" "$url/v1/openapi.json" >"$tmp/via-proxy"
curl -sf "${auth[@]}" "http://127.0.0.1:$inner/v1/openapi.json" >"$tmp/direct"
cmp -s "$tmp/via-proxy" "$tmp/direct" || fail "the proxy changed an answer"
cmp -s "$tmp/direct" "$OPENAPI_DOC" \
    || fail "the controller serves another document than $OPENAPI_DOC"

say "a client that does everything wrong, and some things right"

call 200 /healthz
call 200 /readyz
call 200 /metrics
call 401 /v1/networks
call 401 /v1/networks -H 'Authorization: Bearer not-a-token'
call 404 /v1/no-such-thing "${auth[@]}"
call 405 /v1/networks -X PUT "${auth[@]}"
call 400 /v1/networks -X POST "${auth[@]}" "${json[@]}" -d '{"name": '
call 400 /v1/networks -X POST "${auth[@]}" "${json[@]}" \
    -d '{"name": "blue", "cidr": "10.0.0.0/33"}'
head -c 2000000 /dev/zero | tr '\0' x >"$tmp/big"
call 413 /v1/networks -X POST "${auth[@]}" "${json[@]}" --data-binary @"$tmp/big"
call 201 /v1/networks -X POST "${auth[@]}" "${json[@]}" \
    -d '{"name": "blue", "cidr": "10.0.0.0/24"}'
call 409 /v1/networks -X POST "${auth[@]}" "${json[@]}" \
    -d '{"name": "blue", "cidr": "10.1.0.0/24"}'
call 200 /v1/networks/blue -X PATCH "${auth[@]}" \
    -H 'Content-Type: application/merge-patch+json' \
    -d '{"default_action": null, "mtu": null, "description": null}'
call 409 /v1/networks/blue -X PATCH "${auth[@]}" "${json[@]}" \
    -d '{"mtu": 1400, "version": 99}'
call 200 '/v1/networks?limit=1' "${auth[@]}"
call 400 '/v1/networks?limit=zero' "${auth[@]}"
call 204 /v1/networks/blue -X DELETE "${auth[@]}"
call 404 /v1/networks/blue "${auth[@]}"
call 404 /v1/hosts/nobody/desired-state "${auth[@]}"
call 200 /v1/status "${auth[@]}"
call 200 /v1/audit "${auth[@]}"

say "every one of those answers conforms"

check "$OPENAPI_DOC" "$tmp/rec"
[ "$rc" -eq 0 ] || fail "$(cat "$tmp/check")"
grep -Eq '^check-responses: 2[0-9] responses of [0-9]+ operations checked, 0 do not conform$' \
    "$tmp/check" || fail "not every answer was checked: $(cat "$tmp/check")"

say "a capture of the same traffic reads as the same exchanges"

kill -INT "$OPENAPI_CAPTURE_PID"
wait "$OPENAPI_CAPTURE_PID" || true
OPENAPI_CAPTURE_PID=
node "$OPENAPI_TOOLS/from-pcap.js" "$tmp/capture.pcapng" "$port" \
    >"$tmp/from-capture" || fail "from-pcap.js cannot read the capture"
python3 - "$tmp/rec" "$tmp/from-capture" <<'PY' || fail "the capture differs"
import json, sys
proxy, capture = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
if proxy != capture:
    for a, b in zip(proxy, capture):
        if a != b:
            sys.exit("proxy %r\ncapture %r" % (a, b))
    sys.exit("%d exchanges recorded, %d captured" % (len(proxy), len(capture)))
PY

say "a network field the document no longer has is drift"

openapi_doc_copy "$tmp/no-mtu.json" '
network = d["components"]["schemas"]["Network"]
del network["properties"]["mtu"]
network["required"].remove("mtu")'
check "$tmp/no-mtu.json" "$tmp/rec"
refused_saying 'POST /v1/networks -> 201 does not conform'
refused_saying 'must NOT have additional properties \("mtu"\)'

say "an error shape that changed is drift"

openapi_doc_copy "$tmp/error.json" '
error = d["components"]["schemas"]["Error"]["properties"]["error"]
error["properties"]["hint"] = {"type": "string"}
error["required"].append("hint")'
check "$tmp/error.json" "$tmp/rec"
refused_saying 'GET /v1/networks -> 401 does not conform'
refused_saying "/error must have required property 'hint'"
refused_saying 'PUT /v1/networks -> 405 does not conform'

say "a type that changed is drift"

openapi_doc_copy "$tmp/vni.json" '
d["components"]["schemas"]["Network"]["properties"]["vni"]["type"] = "string"'
check "$tmp/vni.json" "$tmp/rec"
refused_saying '/vni must be string'

say "crafted answers: undocumented status, Content-Type and error shape"

cat >"$tmp/crafted" <<'JSONL'
{"method": "GET", "path": "/v1/networks", "status": 418, "content_type": "application/json", "body": "{}"}
{"method": "GET", "path": "/v1/networks?limit=1", "status": 200, "content_type": "text/html", "body": "<p>hi</p>"}
{"method": "GET", "path": "/v1/ports/web-1", "status": 404, "content_type": "application/json", "body": "{\"error\": {\"status\": 404, \"reason\": \"gone\", \"message\": \"x\"}}"}
{"method": "GET", "path": "/v1/ports/web-1", "status": 404, "content_type": "application/json", "body": "{\"error\": {\"status\": 400, \"reason\": \"not-found\", \"message\": \"x\"}}"}
{"method": "GET", "path": "/v1/nowhere", "status": 200, "content_type": "application/json", "body": "{}"}
{"method": "DELETE", "path": "/v1/networks/blue", "status": 204, "content_type": "", "body": "surprise"}
{"method": "GET", "path": "/v1/status", "status": 200, "content_type": "application/json", "body": "{not json"}
JSONL
check "$OPENAPI_DOC" "$tmp/crafted"
refused_saying 'crafted:1: GET /v1/networks -> 418 .*'
refused_saying 'status 418 is not documented'
refused_saying 'Content-Type "text/html" is not documented'
refused_saying '/error/reason must be equal to one of the allowed values'
refused_saying '/error/status is 400, the response.s status 404'
refused_saying 'no documented operation, so 404 was due, not 200'
refused_saying 'status 204 documents no body, yet one came'
refused_saying 'the body is not JSON'
refused_saying '7 responses of [0-9]+ operations checked, 7 do not conform'

say "a recording of nothing is no pass"

: >"$tmp/empty"
check "$OPENAPI_DOC" "$tmp/empty"
refused_saying 'nothing was recorded'

say "ok"

# shellcheck shell=bash
# Holds what a real fabric-controller answers in a test against its
# contract, controller/openapi.json.  A story starts its controller behind
# tests/openapi/proxy.js (openapi_proxy), which passes every request and
# answer through unchanged and records each exchange; at the end the story
# calls openapi_conforms, which checks every recorded answer (errors
# included) against the operation's documented status, Content-Type and
# response schema with Ajv, and fails the test on any drift.
# Source it after tests/lib/common.sh.  Needs node and the validators that
# scripts/install-deps installs with "npm ci" into tests/openapi.

OPENAPI_DOC=${OPENAPI_DOC:-$top_srcdir/controller/openapi.json}
OPENAPI_TOOLS=$top_srcdir/tests/openapi

# Skips the test (fails it under CI=true) unless node and the validators
# are installed.
openapi_require() {
    command -v node >/dev/null 2>&1 \
        || skip "node is not installed: run scripts/install-deps"
    [ -f "$OPENAPI_TOOLS/node_modules/ajv/package.json" ] \
        && [ -f "$OPENAPI_TOOLS/node_modules/@apidevtools/swagger-parser/package.json" ] \
        || skip "the OpenAPI validators are not in $OPENAPI_TOOLS/node_modules: run scripts/install-deps (npm ci there)"
}

# Runs "command..." (a controller listening at "upstream", a URL) behind
# the recording proxy listening at "listen" (HOST:PORT), recording into
# "file", in the background; $! is the proxy, which stands for the
# controller (signals pass on, it exits with it).  Options before "--"
# (--cert, --key, --upstream-ca) go to the proxy.
openapi_proxy() {
    local listen=$1 upstream=$2 file=$3
    shift 3
    node "$OPENAPI_TOOLS/proxy.js" --listen "$listen" --upstream "$upstream" \
        --record "$file" "$@" &
}

# Starts capturing, in network namespace "ns" of this run ("" for the
# machine's own), every TCP packet to or from port "port" (of address
# "host", if given) into "file", and waits until the capture runs.  For
# stories where agents talk to the controller: a capture leaves them each
# other's real addresses, where a proxy would stand in between.
# openapi_capture_check and openapi_capture_conforms check it.
openapi_capture_start() {
    local ns=$1 port=$2 file=$3 host=${4:-} filter netns=()
    [ -n "$ns" ] && netns=(ip netns exec "$(fab_ns "$ns")")
    filter="tcp port $port"
    [ -n "$host" ] && filter="host $host and $filter"
    OPENAPI_CAPTURE=$file
    OPENAPI_CAPTURE_PORT=$port
    : >"$file.log"
    "${netns[@]}" dumpcap -q -i any -f "$filter" -w "$file" 2>"$file.log" &
    OPENAPI_CAPTURE_PID=$!
    for _ in $(seq 100); do
        grep -q '^Capturing on' "$file.log" && return 0
        kill -0 "$OPENAPI_CAPTURE_PID" 2>/dev/null \
            || fail "dumpcap exited: $(cat "$file.log")"
        sleep 0.1
    done
    fail "dumpcap did not start capturing within 10 s: $(cat "$file.log")"
}

# Stops the capture that openapi_capture_start started and checks every
# answer of the controller it holds, as openapi_check does; returns 1 if
# one does not conform or the capture cannot be read.
openapi_capture_check() {
    [ -n "${OPENAPI_CAPTURE_PID:-}" ] || return 0
    kill -INT "$OPENAPI_CAPTURE_PID" 2>/dev/null
    wait "$OPENAPI_CAPTURE_PID" 2>/dev/null
    OPENAPI_CAPTURE_PID=
    if ! node "$OPENAPI_TOOLS/from-pcap.js" "$OPENAPI_CAPTURE" \
        "$OPENAPI_CAPTURE_PORT" >"$OPENAPI_CAPTURE.responses"; then
        echo "tshark cannot read the capture $OPENAPI_CAPTURE" >&2
        return 1
    fi
    openapi_check "$OPENAPI_CAPTURE.responses"
}

# Fails the test unless every answer in the capture conforms.
openapi_capture_conforms() {
    openapi_capture_check \
        || fail "the controller's answers do not conform to $OPENAPI_DOC (above)"
}

# Writes a copy of controller/openapi.json to "file", changed by Python
# statement "stmt" over the parsed document "d": a document with one
# defect, to show that a check catches it.
openapi_doc_copy() {
    python3 - "$OPENAPI_DOC" "$2" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(d, open(sys.argv[3], "w"), indent=2)
PY
}

# Checks every exchange recorded in "files..." against
# controller/openapi.json: prints the checker's summary line on stderr
# and returns 0 if all conform, else prints what does not and returns 1.
openapi_check() {
    local out
    if ! out=$(node "$OPENAPI_TOOLS/check-responses.js" "$OPENAPI_DOC" "$@" 2>&1); then
        echo "answers that do not conform to $OPENAPI_DOC:"$'\n'"$out" >&2
        return 1
    fi
    echo "$out" | tail -n 1 >&2
}

# Fails the test unless every exchange recorded in "files..." conforms.
openapi_conforms() {
    openapi_check "$@" \
        || fail "the controller's answers do not conform to $OPENAPI_DOC (above)"
}

# shellcheck shell=bash
# Helpers of the stories that run fabricctl against a real
# fabric-controller (fabricctl-e2e.sh, flowlog.sh, vms.sh), written once so that
# both check fabricctl the same way.  Source it after tests/lib/common.sh:
# it fails the test if fabricctl is not built, skips it if the controller
# is not, and clears the environment that would steer fabricctl.  The
# functions keep their files in the script's scratch directory $tmp.

FABRICCTL=${FABRICCTL:-$top_builddir/cli/fabricctl}
CONTROLLER=${CONTROLLER:-$top_builddir/controller/fabric-controller}

[ -x "$FABRICCTL" ] || fail "$FABRICCTL not built: run \"make\" first"
[ -x "$CONTROLLER" ] || skip "$CONTROLLER not built"

# The controller's answers are held against its OpenAPI document.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/openapi.sh"
openapi_require

# Nothing from the caller's environment may steer fabricctl.
unset FABRIC_CONTROLLER FABRIC_TOKEN FABRIC_TOKEN_FILE FABRIC_CACERT

# Makes the scratch directory $tmp ("/tmp/fabricctl-NAME.XXXXXX") and, on
# exit, stops the controller whose pid the story keeps in $controller_pid,
# shows the end of its log ($tmp/main.log) if the story failed, and removes
# $tmp.
fabctl_scratch() {
    tmp=$(mktemp -d "/tmp/fabricctl-$1.XXXXXX")
    controller_pid=
    trap fabctl_cleanup EXIT
}

fabctl_cleanup() {
    local rc=$?
    trap - EXIT
    if [ -n "$controller_pid" ]; then
        kill "$controller_pid" 2>/dev/null || true
        wait "$controller_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -s "$tmp/main.log" ]; then
        echo "=== last lines of the controller's log" >&2
        tail -n 20 "$tmp/main.log" >&2
    fi
    rm -rf "$tmp"
    exit "$rc"
}

# Runs fabricctl "args...", keeping its output in $tmp/out, its errors in
# $tmp/err and its exit status in $rc.
ctl() {
    set +e
    "$FABRICCTL" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
}

# Runs fabricctl "args..." and fails unless it exits 0.
ok() {
    ctl "$@"
    [ "$rc" -eq 0 ] || fail "fabricctl $*: exit $rc: $(cat "$tmp/err")"
}

# Runs fabricctl "args..." and fails unless it exits "status".
refused() {
    local want=$1
    shift
    ctl "$@"
    [ "$rc" -eq "$want" ] \
        || fail "fabricctl $*: exit $rc instead of $want: $(cat "$tmp/err")"
}

# Fails unless the last standard error is one line "fabricctl: ..." that
# matches extended regular expression "re" (case-insensitive).
err_says() {
    [ "$(wc -l <"$tmp/err")" -ge 1 ] || fail "no message on stderr"
    head -n 1 "$tmp/err" | grep -q '^fabricctl: ' \
        || fail "message does not start with \"fabricctl: \": $(cat "$tmp/err")"
    grep -Eiq -- "$1" "$tmp/err" \
        || fail "message does not say /$1/: $(cat "$tmp/err")"
}

# Fails unless the last standard output matches "re".
out_says() {
    grep -Eq -- "$1" "$tmp/out" \
        || fail "output does not match /$1/:"$'\n'"$(cat "$tmp/out")"
}

# Prints Python expression "expr" evaluated with "d" bound to the last
# standard output, parsed as JSON.
js() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, bool)) or v is None else v)' \
        "$tmp/out" "$1"
}

# Fails unless Python expression "expr" over the last JSON output equals
# "want".
js_is() {
    local got
    got=$(js "$1") || fail "cannot evaluate $1 over: $(cat "$tmp/out")"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}

# Starts a controller on a fresh database in "$tmp/NAME" listening on
# 127.0.0.1:"port", with extra "args...", and prints its pid.  Its log is
# "$tmp/NAME.log" and its bootstrap token "$tmp/NAME/bootstrap-token".
# The controller really listens on another port, behind the recording
# proxy of tests/lib/openapi.sh, which serves "port" (in TLS too, with the
# controller's certificate) and whose pid is the one printed; every
# exchange goes to "$tmp/NAME.responses" for openapi_conforms.
start_controller() {
    local name=$1 port=$2 inner scheme=http proxy_tls=() i
    shift 2
    local args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case ${args[i]} in
        --tls-cert)
            scheme=https
            proxy_tls+=(--cert "${args[i + 1]}" --upstream-ca "${args[i + 1]}")
            ;;
        --tls-key) proxy_tls+=(--key "${args[i + 1]}") ;;
        esac
    done
    inner=$(free_port)
    mkdir "$tmp/$name"
    : >"$tmp/$name/controller.conf" # Whatever /etc/fabric holds stays out.
    openapi_proxy "127.0.0.1:$port" "$scheme://127.0.0.1:$inner" \
        "$tmp/$name.responses" "${proxy_tls[@]}" -- \
        "$CONTROLLER" --config "$tmp/$name/controller.conf" --db "$tmp/$name/db" \
        --storage "$tmp/$name/storage" \
        --listen "127.0.0.1:$inner" \
        --bootstrap-token-file "$tmp/$name/bootstrap-token" "$@" \
        </dev/null >"$tmp/$name.log" 2>&1
    echo $!
}

# Waits until the controller "pid" has written its bootstrap token and
# fabricctl "args..." reaches it.
wait_controller() {
    local pid=$1 i
    shift
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || fail "the controller exited"
        if [ -s "$FABRIC_TOKEN_FILE" ]; then
            ctl "$@" status
            [ "$rc" -ne 3 ] && return 0
        fi
        sleep 0.1
    done
    fail "the controller did not answer within 10 s: $(cat "$tmp/err")"
}

# Sends "method" "path" (under $url) with JSON "body" and bearer "token"
# (default: the admin's, from $FABRIC_TOKEN_FILE), as a host's agent or a
# script would without fabricctl; prints the HTTP status.
api() {
    python3 - "$url$2" "$1" "${3:-}" "${4:-$(cat "$FABRIC_TOKEN_FILE")}" <<'EOF'
import sys, urllib.request, urllib.error
url, method, body, token = sys.argv[1:5]
req = urllib.request.Request(url, data=body.encode() if body else None,
                             method=method,
                             headers={"Authorization": "Bearer " + token,
                                      "Content-Type": "application/json"})
try:
    print(urllib.request.urlopen(req).status)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
}

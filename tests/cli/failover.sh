#!/bin/bash
# fabricctl with a list of controllers (doc/replication.md, "Clients"): an
# operator's --controller names two replicas, and fabricctl goes on to the
# second when the first is down, or answers 503 because its store is
# busy; -v tells which controller answered.  Lists with an empty item, a
# bad URL or a URL given twice are refused before anything is sent, from
# --controller and from FABRIC_CONTROLLER alike; with every controller
# down the message names each, and a POST that may have been applied is
# never sent twice.
#
# The two controllers have stores of their own (SQLite serves one
# controller), copies of one with the same admin token: what is checked
# here is the client's fail-over over real HTTP, not a shared store.
#
# Needs cli/fabricctl and controller/fabric-controller built, python3
# (whose sqlite3 holds the first store's write lock), node and the OpenAPI
# validators.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fabricctl-lib.sh"

require_cmd python3

fabctl_scratch failover
b_pid=
LOCK_PID=
cleanup() {
    local rc=$? pid
    for pid in $LOCK_PID $b_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [ "$rc" -eq 0 ] || [ ! -s "$tmp/b.log" ] || tail -n 20 "$tmp/b.log" >&2
    (exit "$rc")
    fabctl_cleanup
}
trap cleanup EXIT

port_a=$(free_port)
port_b=$(free_port)
down=$(free_port) # Nothing listens there.
url_a=http://127.0.0.1:$port_a
url_b=http://127.0.0.1:$port_b
url_down=http://127.0.0.1:$down
export FABRIC_TOKEN_FILE=$tmp/seed/bootstrap-token

# Starts controller "name" on the copy "$tmp/name/db" of the seed's store
# behind the recording proxy on 127.0.0.1:"port", and prints the proxy's
# pid (start_controller makes a fresh store, with a token of its own).
start_copy() {
    local name=$1 port=$2 inner
    inner=$(free_port)
    mkdir "$tmp/$name"
    # The WAL too: a stopped controller may leave commits in it.
    cp "$tmp/seed/db" "$tmp/$name/db"
    [ ! -e "$tmp/seed/db-wal" ] || cp "$tmp/seed/db-wal" "$tmp/$name/db-wal"
    openapi_proxy "127.0.0.1:$port" "http://127.0.0.1:$inner" \
        "$tmp/$name.responses" -- \
        "$CONTROLLER" --config "$tmp/seed/controller.conf" \
        --db "$tmp/$name/db" --storage "$tmp/$name/storage" \
        --listen "127.0.0.1:$inner" \
        --bootstrap-token-file "$tmp/$name/bootstrap-token" \
        </dev/null >"$tmp/$name.log" 2>&1
    echo $!
}

# The seed makes the store and its admin token, and stops.
controller_pid=$(start_controller seed "$port_a")
wait_controller "$controller_pid" --controller "$url_a"
# The proxy was started in a subshell, so "wait" cannot wait for it: wait
# for its controller to be gone before the store is copied.
seed_ctl=$(pgrep -P "$controller_pid")
kill "$controller_pid"
wait_for 10 eval '! kill -0 "$seed_ctl" 2>/dev/null' || kill -KILL "$seed_ctl"
controller_pid=$(start_copy main "$port_a")
wait_controller "$controller_pid" --controller "$url_a"
b_pid=$(start_copy b "$port_b")
wait_controller "$b_pid" --controller "$url_b"

say "bad lists are refused before anything is sent"
for bad in "$url_a,,$url_b" "$url_a," ",$url_a" "$url_a,$url_a/" \
    "$url_a,ftp://x" "$url_a,http://u:p@h:1" "$url_a,http://h:0"; do
    refused 2 --controller "$bad" network list
    err_says "--controller \"$bad\": (item [0-9]+ is empty|.*is given twice|.*expected)"
done
FABRIC_CONTROLLER="$url_a,,$url_b" refused 2 network list
err_says "FABRIC_CONTROLLER .*item 2 is empty"

say "the first controller down: the second answers, and -v says so"
ok --controller "$url_down,$url_b" -v network create blue --cidr 10.0.0.0/24
grep -q "cannot reach the controller at $url_down" "$tmp/err" \
    || fail "-v does not say the first failed: $(cat "$tmp/err")"
grep -q "trying $url_b" "$tmp/err" || fail "-v: $(cat "$tmp/err")"
grep -q "POST /v1/networks: HTTP 201 from $url_b" "$tmp/err" \
    || fail "-v does not say who answered: $(cat "$tmp/err")"
ok --controller "$url_b" -o json network show blue
js_is 'd["cidr"]' 10.0.0.0/24
ctl --controller "$url_a" network show blue
[ "$rc" -eq 1 ] || fail "blue reached the first controller too (exit $rc)"
# Without -v nothing but the result is said.
ok --controller "$url_down,$url_b" network list
[ ! -s "$tmp/err" ] || fail "fail-over without -v said: $(cat "$tmp/err")"
out_says '^blue '
ok --controller "$url_down,$url_b" -o json status
js_is 'd["status"]["networks"]' 1

say "every controller down: exit 3, and the message names each"
refused 3 --controller "$url_down,http://127.0.0.1:$(free_port)" network list
err_says "cannot reach the controller at $url_down: .*; cannot reach the controller at http://127.0.0.1:"

say "the first answers 503 (its store's write lock is held): the write goes to the second"
fab_sqlite_lock "$tmp/main/db"
# Reads still go to the first, which answers them.
ok --controller "$url_a,$url_b" -v network list
grep -q "GET /v1/networks?limit=500: HTTP 200 from $url_a" "$tmp/err" \
    || fail "the read did not go to the first: $(cat "$tmp/err")"
ok --controller "$url_a,$url_b" -v network create red --cidr 10.1.0.0/24
grep -q "POST /v1/networks: HTTP 503 from $url_a" "$tmp/err" \
    || fail "-v does not show the first's 503: $(cat "$tmp/err")"
grep -q "POST /v1/networks: HTTP 201 from $url_b" "$tmp/err" \
    || fail "the write did not go to the second: $(cat "$tmp/err")"
ok --controller "$url_b" network show red
kill "$LOCK_PID"; wait "$LOCK_PID" 2>/dev/null || true
LOCK_PID=
ctl --controller "$url_a" network show red
[ "$rc" -eq 1 ] || fail "red is in the first controller's store (exit $rc)"
# A 503 from the only controller is its answer.
fab_sqlite_lock "$tmp/main/db"
refused 1 --controller "$url_a" network create green --cidr 10.2.0.0/24
err_says "the store is busy"
kill "$LOCK_PID"; wait "$LOCK_PID" 2>/dev/null || true
LOCK_PID=

say "a POST that timed out is not sent again elsewhere"
# A controller that is stopped (SIGSTOP) accepts connections in the
# kernel and never answers: the POST went out, and may have been applied.
inner_a=$(pgrep -P "$controller_pid")
kill -STOP "$inner_a"
refused 3 --controller "$url_a,$url_b" -v --timeout 1 network create \
    purple --cidr 10.3.0.0/24
grep -q "did not answer within 1 seconds" "$tmp/err" \
    || fail "$(cat "$tmp/err")"
if grep -q "trying $url_b" "$tmp/err"; then
    fail "the POST went on to the second: $(cat "$tmp/err")"
fi
# A GET is safe to send again, and goes on.
ok --controller "$url_a,$url_b" -v --timeout 1 network list
grep -q "HTTP 200 from $url_b" "$tmp/err" || fail "$(cat "$tmp/err")"
kill -CONT "$inner_a"
ok --controller "$url_b" network list
if grep -q '^purple ' "$tmp/out"; then
    fail "purple reached the second controller"
fi

openapi_conforms "$tmp/seed.responses" "$tmp/main.responses" "$tmp/b.responses"
say "PASS"

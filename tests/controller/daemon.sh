#!/bin/bash
# fabric-controller as a program: its options, its configuration file
# (errors name the file and line, exit status 2), the bootstrap token
# written with mode 0600 and never logged, the store 0600 under any umask,
# SIGHUP reloading the log level and heartbeat timeout, and SIGTERM
# stopping it cleanly.  HTTP goes over
# bash's /dev/tcp, so nothing beyond bash is needed.
set -u

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
controller=$top_builddir/controller/fabric-controller
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fabric-controller-daemon-XXXXXX")
pid=

cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$tmp/log" ]; then
        echo "--- controller log:" >&2
        cat "$tmp/log" >&2
    fi
    exit 1
}

# Runs the controller with "$@" and expects exit status $status and
# $pattern on stderr.
expect_exit() {
    local status=$1 pattern=$2
    shift 2
    "$controller" "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    [ "$got" = "$status" ] || fail "$*: exit $got, expected $status: $(cat "$tmp/err")"
    grep -q -- "$pattern" "$tmp/out" "$tmp/err" ||
        fail "$*: no \"$pattern\" in: $(cat "$tmp/out" "$tmp/err")"
}

# Sends "GET $1" with bearer token $2 (may be empty) to the controller and
# prints the whole answer.
http_get() {
    local auth=
    [ -n "${2:-}" ] && auth="Authorization: Bearer $2"$'\r\n'
    exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to port $port"
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n' \
        "$1" "$auth" >&3
    timeout 10 cat <&3
    exec 3<&-
}

# Sends "POST $1" with JSON body $3 and bearer token $2, and prints the
# whole answer.
http_post() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to port $port"
    printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$1" "$2" "${#3}" "$3" >&3
    timeout 10 cat <&3
    exec 3<&-
}

# Waits until the log has a line matching $1.
wait_log() {
    for _ in $(seq 100); do
        grep -q -- "$1" "$tmp/log" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "the log never said \"$1\""
}

[ -x "$controller" ] || fail "$controller is not built"

# Options.
expect_exit 0 "--heartbeat-timeout" --help
expect_exit 0 "^fabric-controller [0-9]" -V
expect_exit 2 "usage" --no-such-option
expect_exit 2 "heartbeat-timeout \"soon\"" --heartbeat-timeout soon
expect_exit 2 "scheduler-weigher \"random\": expected spread or pack" \
    --scheduler-weigher random
expect_exit 2 "listen \"nowhere\"" --listen nowhere
expect_exit 2 "max-connections-per-address \"0\": expected a number of connections, 1..65536" \
    --max-connections-per-address 0
expect_exit 2 "idle-timeout \"1m\": expected a number of seconds" \
    --idle-timeout 1m
expect_exit 2 "storage \"var/images\": expected an absolute path" \
    --storage var/images
expect_exit 2 "image-size-max: size \"0\": must be greater than zero" \
    --image-size-max 0
expect_exit 2 "image-size-max: size \"big\"" --image-size-max big
expect_exit 0 "--ha-lease=MS" --help
expect_exit 2 "ha-lease \"100\": expected a number of milliseconds, 500..600000" \
    --ha-lease 100
expect_exit 2 "ha-lease \"5s\": expected a number of milliseconds" \
    --ha-lease 5s
expect_exit 2 "ha-fence-margin \"-1\": expected a number of milliseconds, 0..600000" \
    --ha-fence-margin -1
expect_exit 2 "unexpected argument" extra

# The store's URL: a scheme nobody knows, a malformed etcd URL and an etcd
# that does not answer fail at start-up, naming the URL and what to do,
# with nothing created.
expect_exit 1 "unsupported store type \"redis\": use \"sqlite:PATH\", a plain PATH, \"etcd://" \
    --store redis://127.0.0.1:6379 --bootstrap-token-file "$tmp/none.token"
expect_exit 1 "etcd member \"127.0.0.1:99999\" is not HOST:PORT" \
    --store etcd://127.0.0.1:99999 --bootstrap-token-file "$tmp/none.token"
expect_exit 1 "no etcd member answered: start etcd or fix the store URL" \
    --store "etcd://127.0.0.1:1/x" --bootstrap-token-file "$tmp/none.token"
printf 'store = etcd://127.0.0.1:1/y\n' >"$tmp/store.conf"
expect_exit 1 "store etcd://127.0.0.1:1/y: no etcd member answered" \
    -c "$tmp/store.conf" --bootstrap-token-file "$tmp/none.token"
[ ! -e "$tmp/none.token" ] || fail "a controller that could not start wrote a token"
expect_exit 2 "--migrate-store takes two arguments, FROM and TO, and no other option" \
    --migrate-store "$tmp/a.db"
expect_exit 2 "--migrate-store takes two arguments" \
    --migrate-store "$tmp/a.db" "$tmp/b.db" --listen 127.0.0.1:0

# The configuration file: optional by default, required when named, and
# every mistake named by file and line.
expect_exit 2 "$tmp/none.conf: No such file" -c "$tmp/none.conf"
printf 'listen = 127.0.0.1:0\ncolour = blue\n' >"$tmp/bad.conf"
expect_exit 2 "$tmp/bad.conf:2: unknown key \"colour\"" -c "$tmp/bad.conf"
printf 'tls-cert = %s/cert.pem\n' "$tmp" >"$tmp/tls.conf"
expect_exit 2 "tls-cert and tls-key go together" -c "$tmp/tls.conf"
expect_exit 2 "ui-dir \"ui/dist\": expected an absolute path" --ui-dir ui/dist

# A first start, under umask 000: the bootstrap token is written 0600 and
# never logged, and the store and its -wal and -shm files are 0600 whatever
# the umask.
cat >"$tmp/controller.conf" <<EOF
# A test controller.
listen = 127.0.0.1:0
db = $tmp/controller.db
bootstrap-token-file = $tmp/admin.token
heartbeat-timeout = 30
max-connections-per-address = 8
idle-timeout = 5
storage = $tmp/storage/shared
log-level = info
ui-dir = $tmp/console
EOF
mkdir "$tmp/console" "$tmp/console2"
echo "the first console" >"$tmp/console/index.html"
echo "the second console" >"$tmp/console2/index.html"
(umask 000 && exec "$controller" -c "$tmp/controller.conf" \
    >"$tmp/out" 2>"$tmp/log") &
pid=$!
wait_log "serving HTTP"
port=$(sed -n 's/.*serving HTTP on .* port \([0-9]*\),.*/\1/p' "$tmp/log")
[ -n "$port" ] && [ "$port" != 0 ] || fail "no port in the log"
grep -q "at most 1024 connections (8 per client address), idle timeout 5 s (330 s once authenticated), storage $tmp/storage/shared, web console from $tmp/console$" "$tmp/log" ||
    fail "the connection limits of the file are not those in force"
grep -q "bootstrap admin token \"admin\": it is in $tmp/admin.token" \
    "$tmp/log" || fail "the bootstrap token's file was not named"
[ "$(stat -c %a "$tmp/admin.token")" = 600 ] || fail "admin.token is not 0600"
token=$(cat "$tmp/admin.token")
[ ${#token} -ge 43 ] || fail "admin.token holds no token: \"$token\""
grep -q -- "$token" "$tmp/log" "$tmp/out" && fail "the token is in the log"
for f in controller.db controller.db-wal controller.db-shm controller.db.key; do
    [ -e "$tmp/$f" ] || fail "no $f"
    [ "$(stat -c %a "$tmp/$f")" = 600 ] ||
        fail "$f is mode $(stat -c %a "$tmp/$f") under umask 000, not 600"
done

# The storage directory, missing parents included, is made 0700: image
# files are for the hosts only.
for d in storage storage/shared storage/shared/images; do
    [ "$(stat -c %a "$tmp/$d" 2>/dev/null)" = 700 ] ||
        fail "$d is not a directory of mode 700 under umask 000"
done

http_get /healthz | grep -q '^ok' || fail "/healthz"
http_get /v1/status | grep -q "401 Unauthorized" || fail "/v1/status without a token"
http_get /v1/status "$token" | grep -q '"revision"' || fail "/v1/status"

# SIGHUP reloads what can change while running, and says so.
sed -i -e 's/^heartbeat-timeout = 30/heartbeat-timeout = 7/' \
    -e 's/^log-level = info/log-level = debug/' "$tmp/controller.conf"
kill -HUP "$pid"
wait_log "SIGHUP: reloaded .*log-level debug, heartbeat-timeout 7 s, scheduler-weigher spread, ha-lease 5000 ms, ha-fence-margin 2000 ms"
http_get /healthz >/dev/null
wait_log "debug: GET /healthz: 200"
# Another ui-dir waits for a restart (the HTTP threads read its name
# without a lock), and the log says so; the console stays where it was.
grep -q "ui-dir .* restart" "$tmp/log" && fail "a warning about ui-dir before it changed"
sed -i -e "s|^ui-dir = .*|ui-dir = $tmp/console2|" "$tmp/controller.conf"
kill -HUP "$pid"
wait_log "SIGHUP: ui-dir \"$tmp/console2\" takes effect only on restart: the web console is still served from \"$tmp/console\""
http_get /ui/ | grep -q "the first console" || fail "the console moved to another ui-dir without a restart"
echo "heartbeat-timeout = never" >>"$tmp/controller.conf"
kill -HUP "$pid"
wait_log "SIGHUP: not reloaded.*controller.conf:11: heartbeat-timeout"
kill -0 "$pid" || fail "a bad reload killed the controller"

# SIGTERM stops it, cleanly.
kill -TERM "$pid"
wait "$pid"
status=$?
pid=
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
grep -q "stopped" "$tmp/log" || fail "no \"stopped\" in the log"

# A second start keeps the tokens: no new bootstrap token.
sed -i -e '/never/d' "$tmp/controller.conf"
"$controller" -c "$tmp/controller.conf" --listen 127.0.0.1:0 2>"$tmp/log" &
pid=$!
wait_log "serving HTTP"
port=$(sed -n 's/.*serving HTTP on .* port \([0-9]*\),.*/\1/p' "$tmp/log")
grep -q "bootstrap admin token" "$tmp/log" && fail "a second bootstrap token"
[ "$(cat "$tmp/admin.token")" = "$token" ] || fail "admin.token changed"
http_get /v1/status "$token" | grep -q '"revision"' ||
    fail "the first token no longer works"
http_get /ui/ | grep -q "the second console" ||
    fail "the restart did not take the new ui-dir"

# Stopping does not wait for long polls to time out: they end with 503.
http_post /v1/hosts "$token" \
    '{"name": "h1", "vtep": "192.0.2.1", "underlay": "eth0"}' |
    grep -q "201 Created" || fail "cannot register a host"
revision=$(http_get /v1/hosts/h1/desired-state "$token" |
    sed -n 's/.*"revision":\([0-9]*\).*/\1/p')
[ -n "$revision" ] || fail "no revision in the desired state"
http_get "/v1/hosts/h1/desired-state?since=$revision&wait=300" "$token" \
    >"$tmp/poll" &
poller=$!
sleep 0.5
start=$(date +%s)
kill -INT "$pid"
wait "$pid" || fail "exit status $? after SIGINT"
pid=
[ $(($(date +%s) - start)) -le 5 ] || fail "stopping took longer than 5 s"
wait "$poller"
grep -q "503 Service Unavailable" "$tmp/poll" ||
    fail "the long poll got: $(cat "$tmp/poll")"
exit 0

#!/bin/bash
# The web console (ui/) in real headless Chromium, driven by puppeteer-core,
# against a real fabric-controller on a fresh SQLite store serving the
# console built into the build tree (ui/dist): the story is
# tests/ui/console.js.  The controller runs behind the recording proxy of
# tests/lib/openapi.sh, so every answer the console got, its files and
# GET /v1/changes included, is checked against controller/openapi.json.
# Screenshots of each view are kept in tests/ui/artifacts of the build
# tree, and listed at the end of the log.
#
# Needs node, Debian's chromium, and ui/node_modules (npm ci in ui/, which
# scripts/install-deps runs).

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/openapi.sh"

openapi_require
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || skip "needs $chromium (scripts/install-deps installs chromium)"
[ -f "$top_srcdir/ui/node_modules/puppeteer-core/package.json" ] \
    && [ -f "$top_srcdir/ui/node_modules/axe-core/axe.min.js" ] \
    || skip "puppeteer-core and axe-core are not in $top_srcdir/ui/node_modules: run scripts/install-deps (npm ci there)"
ui_dir=$(cd "$top_builddir" && pwd)/ui/dist
[ -f "$ui_dir/index.html" ] || fail "the console is not built in $ui_dir: run make"

tmp=$(mktemp -d /tmp/fabric-ui.XXXXXX)
proxy=
cleanup() {
    if [ -n "$proxy" ]; then
        kill -TERM "$proxy" 2>/dev/null || true
        wait "$proxy" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(free_port)
inner=$(free_port)
: >"$tmp/controller.conf"
openapi_proxy "127.0.0.1:$port" "http://127.0.0.1:$inner" "$tmp/responses" -- \
    "$FABRIC_CONTROLLER_BIN" --config "$tmp/controller.conf" \
    --db "$tmp/controller.db" --storage "$tmp/storage" \
    --listen "127.0.0.1:$inner" --bootstrap-token-file "$tmp/admin.token" \
    --ui-dir "$ui_dir" </dev/null >"$tmp/controller.log" 2>&1
proxy=$!
for _ in $(seq 100); do
    [ -s "$tmp/admin.token" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    kill -0 "$proxy" 2>/dev/null || fail "the controller exited: $(cat "$tmp/controller.log")"
    sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || fail "the controller is not ready"

artifacts=$(cd "$top_builddir" && pwd)/tests/ui/artifacts
# Not its subdirectories: trace.sh's, which may run at the same time.
rm -f "$artifacts"/*.png
say "the console's story in headless Chromium"
if ! CONSOLE_URL="http://127.0.0.1:$port" ADMIN_TOKEN=$(cat "$tmp/admin.token") \
    ARTIFACTS="$artifacts" CHROMIUM="$chromium" \
    NODE_PATH="$top_srcdir/ui/node_modules" \
    node "$top_srcdir/tests/ui/console.js"; then
    tail -n 20 "$tmp/controller.log" >&2
    fail "the console's story failed (above)"
fi

say "every answer the console got conforms to the API's document"
kill -TERM "$proxy"
wait "$proxy" 2>/dev/null || true
proxy=
openapi_conforms "$tmp/responses"

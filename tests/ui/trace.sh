#!/bin/bash
# The web console's trace view through real agents: two hosts in network
# namespaces with their agents' fast paths, the firewall of
# tests/integration/firewall.sh cut down to one rule (web on host A may
# reach db on host B on TCP 5432, nothing else), and the console in
# headless Chromium tracing both ways through the form: the story is
# tests/ui/trace.js.  The controller's answers are checked against
# controller/openapi.json when the story ends (fab_controlled_cloud).
#
#   host A: vmA1 "web" (tier=web)       host B: vmB1 "db" (tier=db)
#
# Needs root, jq, node, Debian's chromium and ui/node_modules (npm ci in
# ui/, which scripts/install-deps runs).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || skip "needs $chromium (scripts/install-deps installs chromium)"
[ -f "$top_srcdir/ui/node_modules/puppeteer-core/package.json" ] \
    && [ -f "$top_srcdir/ui/node_modules/axe-core/axe.min.js" ] \
    || skip "puppeteer-core and axe-core are not in $top_srcdir/ui/node_modules: run scripts/install-deps (npm ci there)"
[ -f "$FAB_UI_DIR/index.html" ] || fail "the console is not built in $FAB_UI_DIR: run make"

fab_setup
fab_web_db_cloud
rule=$(fabctl -o json sg rule add db --direction ingress --protocol tcp \
    --ports 5432 --peer-group web --action allow | jq -r .id)
fab_vm_from_api vmA1 blue --label tier=web
fab_vm_from_api vmB1 blue --label tier=db
fab_ports_up_wait 20

# Its screenshots go beside console.sh's, which may run at the same time.
artifacts=$(cd "$top_builddir" && pwd)/tests/ui/artifacts/trace
rm -rf "$artifacts"
say "the console traces web to db through both hosts' fast paths"
if ! CONSOLE_URL=$FABRIC_CONTROLLER ADMIN_TOKEN=$(cat "$FABRIC_TOKEN_FILE") \
    ARTIFACTS="$artifacts" \
    CHROMIUM="$chromium" NODE_PATH="$top_srcdir/ui/node_modules" \
    TRACE_FROM=vma1 TRACE_TO="${FAB_VM_IP[vmB1]}" TRACE_RULE="$rule" \
    node "$top_srcdir/tests/ui/trace.js"; then
    tail -n 20 "$FAB_TMP/controller.log" >&2
    fail "the trace story failed (above)"
fi

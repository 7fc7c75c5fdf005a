#!/bin/bash
# controller/openapi.json is valid OpenAPI 3.0 to the tools others use:
# swagger-parser checks it against the official OpenAPI 3.0 schema and
# rules, and Ajv compiles every response schema in strict mode.  Then the
# linter shows it is worth running: copies of the document with the
# defects it once had (a JSON Schema type list with "null" in a PATCH
# body, "nullable" without "type") are refused, naming where.
#
# Needs node and the validators that scripts/install-deps installs.

set -eu

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/common.sh"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/openapi.sh"

openapi_require
require_cmd python3

tmp=$(mktemp -d /tmp/openapi-lint.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

lint() {
    set +e
    node "$OPENAPI_TOOLS/lint.js" "$1" >"$tmp/out" 2>&1
    rc=$?
    set -e
}

# Fails unless the linter refuses document "file" with a message that
# contains "text".
lint_refuses() {
    lint "$1"
    [ "$rc" -eq 1 ] || fail "lint exit $rc for $1: $(cat "$tmp/out")"
    grep -qF -- "$2" "$tmp/out" \
        || fail "the error does not say \"$2\": $(cat "$tmp/out")"
}

say "the document is valid OpenAPI 3.0"

lint "$OPENAPI_DOC"
[ "$rc" -eq 0 ] || fail "$(cat "$tmp/out")"
grep -q 'valid OpenAPI 3.0$' "$tmp/out" || fail "$(cat "$tmp/out")"

say "a type list with null (JSON Schema, not OpenAPI 3.0) is refused"

openapi_doc_copy "$tmp/type-list.json" '
p = d["components"]["schemas"]["NetworkPatch"]["properties"]["default_action"]
p["type"] = ["string", "null"]
del p["nullable"]'
lint_refuses "$tmp/type-list.json" 'default_action/type must be string'

say "nullable without a type (which no validator can apply) is refused"

# shellcheck disable=SC2016 # Python, where "$ref" is a key.
openapi_doc_copy "$tmp/nullable.json" '
d["components"]["schemas"]["TraceStage"]["properties"]["firewall"] = {
    "allOf": [{"$ref": "#/components/schemas/TraceFirewall"}],
    "nullable": True}'
lint_refuses "$tmp/nullable.json" '"nullable" cannot be used without "type"'

say "a reference that leads nowhere is refused"

# shellcheck disable=SC2016 # Python, where "$ref" is a key.
openapi_doc_copy "$tmp/dangling.json" '
d["paths"]["/v1/networks"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/Nowhere"}'
lint_refuses "$tmp/dangling.json" 'Token "Nowhere" does not exist'

say "ok"

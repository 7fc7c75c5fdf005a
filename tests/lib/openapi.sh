# shellcheck shell=bash
# Helpers of the tests that check the REST API's contract,
# controller/openapi.json, with the standard validators that
# scripts/install-deps installs with "npm ci" into tests/openapi.  Source it
# after tests/lib/common.sh.

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

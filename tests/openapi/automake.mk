# tests/openapi: the REST API's contract, controller/openapi.json, checked
# with standard validators from npm (pinned by package-lock.json, installed
# into tests/openapi/node_modules by scripts/install-deps with "npm ci").
# lint.sh validates the document.

TESTS += tests/openapi/lint.sh
EXTRA_DIST += \
	tests/lib/openapi.sh \
	tests/openapi/lint.sh \
	tests/openapi/package.json \
	tests/openapi/package-lock.json \
	tests/openapi/contract.js \
	tests/openapi/lint.js

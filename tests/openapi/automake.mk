# tests/openapi: the REST API's contract, controller/openapi.json, checked
# with standard validators from npm (pinned by package-lock.json, installed
# into tests/openapi/node_modules by scripts/install-deps with "npm ci").
# lint.sh validates the document; responses.sh shows that the check of
# real answers (proxy.js records them, check-responses.js holds them
# against the document) catches drift.  The end-to-end stories of
# tests/cli run their controller behind the same proxy; where agents talk
# to the controller (tests/agent/controller-mode.sh, the integration tests
# of fab_controlled_cloud) the answers are captured instead and read by
# from-pcap.js.

TESTS += tests/openapi/lint.sh tests/openapi/responses.sh
EXTRA_DIST += \
	tests/lib/openapi.sh \
	tests/openapi/lint.sh \
	tests/openapi/responses.sh \
	tests/openapi/package.json \
	tests/openapi/package-lock.json \
	tests/openapi/contract.js \
	tests/openapi/check-responses.js \
	tests/openapi/lint.js \
	tests/openapi/from-pcap.js \
	tests/openapi/proxy.js

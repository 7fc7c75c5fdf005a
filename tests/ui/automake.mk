# The web console (ui/) in headless Chromium driven by puppeteer-core, with
# axe-core's accessibility checks: tests/ui/console.sh runs the story of
# tests/ui/console.js against a real controller, tests/ui/trace.sh the
# trace view of tests/ui/trace.js through real agents in network
# namespaces (root); both use tests/ui/browser.js.  Screenshots go to
# tests/ui/artifacts in the build tree (trace.sh's to its trace/).
TESTS += tests/ui/console.sh tests/ui/trace.sh
EXTRA_DIST += tests/ui/console.sh tests/ui/console.js tests/ui/trace.sh \
	tests/ui/trace.js tests/ui/browser.js
CLEANFILES += tests/ui/artifacts/*.png tests/ui/artifacts/trace/*.png

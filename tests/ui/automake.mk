# The web console (ui/) in headless Chromium driven by puppeteer-core, with
# axe-core's accessibility checks: tests/ui/console.sh runs the story of
# tests/ui/console.js against a real controller.  Screenshots go to
# tests/ui/artifacts in the build tree.
TESTS += tests/ui/console.sh
EXTRA_DIST += tests/ui/console.sh tests/ui/console.js
CLEANFILES += tests/ui/artifacts/*.png

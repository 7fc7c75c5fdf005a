# ui: the web console (doc/console.md), bundled by esbuild from ui/src and
# the npm libraries of ui/package-lock.json (installed by
# scripts/install-deps with "npm ci" into ui/node_modules) into ui/dist of
# the build tree at "make" time.  fabric-controller serves it at /ui/ from
# its ui-dir: the installed copy by default, ui/dist for the tests and
# the demo.
CONSOLE_FILES = \
	ui/build.mjs \
	ui/package.json \
	ui/package-lock.json \
	ui/src/api.js \
	ui/src/data.js \
	ui/src/dom.js \
	ui/src/index.html \
	ui/src/main.js \
	ui/src/style.css \
	ui/src/topology.js \
	ui/src/ui.js \
	ui/src/views.js
EXTRA_DIST += $(CONSOLE_FILES)

ui/dist/index.html: $(CONSOLE_FILES:%=$(srcdir)/%)
	@if [ ! -d $(srcdir)/ui/node_modules/esbuild ]; then \
	  echo "ui: $(srcdir)/ui/node_modules is missing: run scripts/install-deps (npm ci in ui/) to build the web console" >&2; \
	  exit 1; \
	fi
	$(AM_V_GEN)node $(srcdir)/ui/build.mjs $(srcdir)/ui ui/dist

all-local: ui/dist/index.html

uidir = $(pkgdatadir)/ui
install-data-local: ui/dist/index.html
	$(MKDIR_P) $(DESTDIR)$(uidir)
	rm -f $(DESTDIR)$(uidir)/app-*
	$(INSTALL_DATA) ui/dist/* $(DESTDIR)$(uidir)/

uninstall-local:
	rm -rf $(DESTDIR)$(uidir)

clean-local:
	rm -rf ui/dist

# controller: filled in by its owners.

# store: the desired-state store (controller/store.h) over SQLite or etcd.
noinst_LIBRARIES += controller/libfabric-store.a
controller_libfabric_store_a_SOURCES = \
	controller/etcd.c \
	controller/etcd.h \
	controller/store.c \
	controller/store-etcd.c \
	controller/store-provider.h \
	controller/store-sqlite.c \
	controller/store.h
controller_libfabric_store_a_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	$(SQLITE_CFLAGS) $(CURL_CFLAGS)
# What a program linking the store needs.
STORE_LIBS = controller/libfabric-store.a utils/libfabric-utils.a \
	$(SQLITE_LIBS) $(CURL_LIBS) $(JANSSON_LIBS) -lpthread
# end of store

# api: fabric-controller, the REST API of doc/api.md over the store.
# Everything but main.c is a library, so that tests link the same code.
noinst_LIBRARIES += controller/libfabric-controller.a
controller_libfabric_controller_a_SOURCES = \
	controller/agents.c \
	controller/agents.h \
	controller/api.c \
	controller/api.h \
	controller/api-changes.c \
	controller/api-console.c \
	controller/api-drs.c \
	controller/api-external-vteps.c \
	controller/api-flowlogs.c \
	controller/api-hosts.c \
	controller/api-images.c \
	controller/api-migrations.c \
	controller/api-networks.c \
	controller/api-ports.c \
	controller/api-qos.c \
	controller/api-sgroups.c \
	controller/api-traffic.c \
	controller/api-vm-groups.c \
	controller/api-vms.c \
	controller/audit.c \
	controller/audit.h \
	controller/auth.c \
	controller/auth.h \
	controller/config.c \
	controller/config.h \
	controller/desired.c \
	controller/desired.h \
	controller/drs.c \
	controller/drs.h \
	controller/flowlogs.c \
	controller/flowlogs.h \
	controller/ha.c \
	controller/ha.h \
	controller/http.c \
	controller/http.h \
	controller/leader.c \
	controller/leader.h \
	controller/image-format.c \
	controller/image-format.h \
	controller/metrics.c \
	controller/metrics.h \
	controller/migrations.h \
	controller/openapi.h \
	controller/scheduler.c \
	controller/scheduler.h \
	controller/secrets.c \
	controller/secrets.h \
	controller/server.c \
	controller/server.h \
	controller/trace.c \
	controller/trace.h \
	controller/ui.c \
	controller/ui.h
nodist_controller_libfabric_controller_a_SOURCES = controller/openapi-json.c
# Where "make install" puts the web console (ui/automake.mk): the default
# of the controller's ui-dir.
UI_CPPFLAGS = -DUI_DIR_DEFAULT='"$(pkgdatadir)/ui"'
controller_libfabric_controller_a_CPPFLAGS = $(AM_CPPFLAGS) $(UI_CPPFLAGS) \
	$(MHD_CFLAGS) \
	$(JANSSON_CFLAGS) $(GNUTLS_CFLAGS) $(SQLITE_CFLAGS) $(CURL_CFLAGS) \
	$(LIBBPF_CFLAGS)
# What a program linking the controller needs.
CONTROLLER_LIBS = controller/libfabric-controller.a $(STORE_LIBS) \
	$(MHD_LIBS) $(GNUTLS_LIBS) $(CURL_LIBS) $(JANSSON_LIBS) -lpthread

sbin_PROGRAMS += controller/fabric-controller
controller_fabric_controller_SOURCES = controller/main.c
controller_fabric_controller_CPPFLAGS = $(AM_CPPFLAGS) $(UI_CPPFLAGS) \
	$(JANSSON_CFLAGS)
controller_fabric_controller_LDADD = $(CONTROLLER_LIBS)

# The OpenAPI document is installed, and compiled in as a C array (od and
# sed are everywhere; xxd is not) so that the program serves it itself.
openapidir = $(pkgdatadir)
dist_openapi_DATA = controller/openapi.json
BUILT_SOURCES += controller/openapi-json.c
CLEANFILES += controller/openapi-json.c
controller/openapi-json.c: controller/openapi.json
	$(AM_V_GEN){ \
	  echo '/* Generated from controller/openapi.json: do not edit. */'; \
	  echo '#include "controller/openapi.h"'; \
	  echo 'const char openapi_json[] = {'; \
	  od -An -v -tx1 $(srcdir)/controller/openapi.json \
	    | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0 };'; \
	  echo 'const size_t openapi_json_len = sizeof openapi_json - 1;'; \
	} > $@.tmp && mv $@.tmp $@

# The unit names the program where "make install" puts it.
systemdsystemunit_DATA += controller/fabric-controller.service
EXTRA_DIST += controller/fabric-controller.service.in
CLEANFILES += controller/fabric-controller.service
controller/fabric-controller.service: controller/fabric-controller.service.in
	$(AM_V_GEN)sed -e 's|@sbindir[@]|$(sbindir)|g' \
	  $(srcdir)/controller/fabric-controller.service.in > $@.tmp \
	  && mv $@.tmp $@
# end of api

# store: tests/controller/test-store runs the SQLite store on real database
# files in a temporary directory.
check_PROGRAMS += tests/controller/test-store
TESTS += tests/controller/test-store
tests_controller_test_store_SOURCES = tests/controller/test-store.c
tests_controller_test_store_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(SQLITE_CFLAGS)
tests_controller_test_store_LDADD = $(STORE_LIBS) $(CMOCKA_LIBS)

# tests/controller/test-store-etcd runs the etcd store on real etcd members
# that it starts on free ports of 127.0.0.1 (tests/controller/etcd-members.c).
ETCD_MEMBERS_SOURCES = \
	tests/controller/etcd-members.c \
	tests/controller/etcd-members.h
check_PROGRAMS += tests/controller/test-store-etcd
TESTS += tests/controller/test-store-etcd
tests_controller_test_store_etcd_SOURCES = \
	tests/controller/test-store-etcd.c $(ETCD_MEMBERS_SOURCES)
tests_controller_test_store_etcd_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(CURL_CFLAGS)
tests_controller_test_store_etcd_LDADD = $(STORE_LIBS) $(CMOCKA_LIBS)
# end of store

# api: tests of fabric-controller (controller/), each on real SQLite files
# in a temporary directory; test-http also on real HTTP over 127.0.0.1.
CONTROLLER_TEST_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(CURL_CFLAGS) $(GNUTLS_CFLAGS)
CONTROLLER_TEST_LIBS = $(CONTROLLER_LIBS) $(CURL_LIBS) $(CMOCKA_LIBS)
CONTROLLER_TEST_FIXTURE = \
	tests/controller/fixture.c \
	tests/controller/fixture.h

check_PROGRAMS += tests/controller/test-resources
TESTS += tests/controller/test-resources
tests_controller_test_resources_SOURCES = \
	tests/controller/test-resources.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_resources_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_resources_LDADD = $(CONTROLLER_TEST_LIBS)

# Links fabric-agent's document parser, to check that what the controller
# sends is what the agent reads.
check_PROGRAMS += tests/controller/test-desired
TESTS += tests/controller/test-desired
tests_controller_test_desired_SOURCES = \
	tests/controller/test-desired.c $(CONTROLLER_TEST_FIXTURE) \
	agent/state.c \
	agent/state.h
tests_controller_test_desired_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS) \
	$(LIBBPF_CFLAGS)
tests_controller_test_desired_LDADD = $(CONTROLLER_TEST_LIBS)

# The scheduler's filters and weighers alone (controller/scheduler.c).
check_PROGRAMS += tests/controller/test-scheduler
TESTS += tests/controller/test-scheduler
tests_controller_test_scheduler_SOURCES = \
	tests/controller/test-scheduler.c \
	controller/scheduler.c \
	controller/scheduler.h
tests_controller_test_scheduler_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_controller_test_scheduler_LDADD = utils/libfabric-utils.a \
	$(CMOCKA_LIBS)

# VMs, VM groups and the scheduler; links fabric-agent's document parser
# too, to check the VMs of a desired state.
check_PROGRAMS += tests/controller/test-vms
TESTS += tests/controller/test-vms
tests_controller_test_vms_SOURCES = \
	tests/controller/test-vms.c $(CONTROLLER_TEST_FIXTURE) \
	agent/state.c \
	agent/state.h
tests_controller_test_vms_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS) \
	$(LIBBPF_CFLAGS)
tests_controller_test_vms_LDADD = $(CONTROLLER_TEST_LIBS)

check_PROGRAMS += tests/controller/test-http
TESTS += tests/controller/test-http
tests_controller_test_http_SOURCES = \
	tests/controller/test-http.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_http_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_http_LDADD = $(CONTROLLER_TEST_LIBS)

# Images: uploads into a storage directory, checked with qemu-img and
# sha256sum.
check_PROGRAMS += tests/controller/test-images
TESTS += tests/controller/test-images
tests_controller_test_images_SOURCES = \
	tests/controller/test-images.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_images_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_images_LDADD = $(CONTROLLER_TEST_LIBS)

# The console proxy: GET /v1/vms/NAME/console and its errors.
check_PROGRAMS += tests/controller/test-console
TESTS += tests/controller/test-console
tests_controller_test_console_SOURCES = \
	tests/controller/test-console.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_console_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_console_LDADD = $(CONTROLLER_TEST_LIBS)

check_PROGRAMS += tests/controller/test-support
TESTS += tests/controller/test-support
tests_controller_test_support_SOURCES = \
	tests/controller/test-support.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_support_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_support_LDADD = $(CONTROLLER_TEST_LIBS)

# The firewall's model: security groups, rules, identities, documents.
check_PROGRAMS += tests/controller/test-sgroups
TESTS += tests/controller/test-sgroups
tests_controller_test_sgroups_SOURCES = \
	tests/controller/test-sgroups.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_sgroups_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_sgroups_LDADD = $(CONTROLLER_TEST_LIBS)

# Flow logs and traces (controller/api-flowlogs.c, controller/trace.c),
# with a fake agent on libmicrohttpd.
check_PROGRAMS += tests/controller/test-flowlogs
TESTS += tests/controller/test-flowlogs
tests_controller_test_flowlogs_SOURCES = \
	tests/controller/test-flowlogs.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_flowlogs_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS) \
	$(MHD_CFLAGS) $(LIBBPF_CFLAGS)
tests_controller_test_flowlogs_LDADD = $(CONTROLLER_TEST_LIBS)

# Floods: bad tokens against the audit trail, idle connections against
# the connection limits.
check_PROGRAMS += tests/controller/test-floods
TESTS += tests/controller/test-floods
tests_controller_test_floods_SOURCES = \
	tests/controller/test-floods.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_floods_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_floods_LDADD = $(CONTROLLER_TEST_LIBS)

# The program itself: options, configuration file, signals.
TESTS += tests/controller/daemon.sh
EXTRA_DIST += tests/controller/daemon.sh
# 50 simulated hosts (bench/fake-agents) against the controller: a port's
# change reaches exactly the hosts it concerns, and wakes no other.
TESTS += tests/controller/fake-agents.sh
EXTRA_DIST += tests/controller/fake-agents.sh bench/scale-lib.sh

# Two controllers on one etcd member that the test starts, over HTTP.
check_PROGRAMS += tests/controller/test-store-replicas
TESTS += tests/controller/test-store-replicas
tests_controller_test_store_replicas_SOURCES = \
	tests/controller/test-store-replicas.c $(CONTROLLER_TEST_FIXTURE) \
	$(ETCD_MEMBERS_SOURCES)
tests_controller_test_store_replicas_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_store_replicas_LDADD = $(CONTROLLER_TEST_LIBS)

# Every test program above again, against one etcd member instead of SQLite
# files (make check builds every check program before it runs a test).
TESTS += tests/controller/etcd-suite.sh
EXTRA_DIST += tests/controller/etcd-suite.sh
# end of api

# The balancer's planner alone (controller/drs.c).
check_PROGRAMS += tests/controller/test-drs
TESTS += tests/controller/test-drs
tests_controller_test_drs_SOURCES = \
	tests/controller/test-drs.c \
	controller/drs.c \
	controller/drs.h \
	controller/scheduler.c \
	controller/scheduler.h
tests_controller_test_drs_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_controller_test_drs_LDADD = utils/libfabric-utils.a $(CMOCKA_LIBS)

# Maintenance and the balancer's API (controller/api-drs.c) over HTTP.
check_PROGRAMS += tests/controller/test-maintenance
TESTS += tests/controller/test-maintenance
tests_controller_test_maintenance_SOURCES = \
	tests/controller/test-maintenance.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_maintenance_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_maintenance_LDADD = $(CONTROLLER_TEST_LIBS)

# Live migrations, the controller's side: refusals, the happy path driven
# by agents' reports, rollback, the conntrack relay (to a small HTTP server
# standing for the destination's agent) and a restart mid-migration.
check_PROGRAMS += tests/controller/test-migrations
TESTS += tests/controller/test-migrations
tests_controller_test_migrations_SOURCES = \
	tests/controller/test-migrations.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_migrations_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS) \
	$(MHD_CFLAGS)
tests_controller_test_migrations_LDADD = $(CONTROLLER_TEST_LIBS)
check_PROGRAMS += tests/controller/test-ha
TESTS += tests/controller/test-ha
tests_controller_test_ha_SOURCES = \
	tests/controller/test-ha.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_ha_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_ha_LDADD = $(CONTROLLER_TEST_LIBS)

# The web console's side: its files at /ui/ (and no way out of ui-dir),
# and the change stream GET /v1/changes.
check_PROGRAMS += tests/controller/test-ui
TESTS += tests/controller/test-ui
tests_controller_test_ui_SOURCES = \
	tests/controller/test-ui.c $(CONTROLLER_TEST_FIXTURE)
tests_controller_test_ui_CPPFLAGS = $(CONTROLLER_TEST_CPPFLAGS)
tests_controller_test_ui_LDADD = $(CONTROLLER_TEST_LIBS)

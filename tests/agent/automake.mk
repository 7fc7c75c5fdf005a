# Unit tests of fabric-agent: the desired-state parser and validator, and
# reconciliation against a fake datapath.  Neither needs root.
AGENT_TEST_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) $(LIBBPF_CFLAGS) \
	$(CMOCKA_CFLAGS)
AGENT_TEST_LIBS = utils/libfabric-utils.a $(JANSSON_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/agent/test-state tests/agent/test-reconcile
TESTS += tests/agent/test-state tests/agent/test-reconcile

tests_agent_test_state_SOURCES = \
	tests/agent/test-state.c \
	agent/state.c \
	agent/state.h
tests_agent_test_state_CPPFLAGS = $(AGENT_TEST_CPPFLAGS)
tests_agent_test_state_LDADD = $(AGENT_TEST_LIBS)

# The agent's code that turns a desired state into datapath entries, which
# test-reconcile and test-firewall both link.
AGENT_RECONCILE_SOURCES = \
	agent/firewall.c \
	agent/firewall.h \
	agent/reconcile-table.c \
	agent/reconcile-table.h \
	agent/reconcile.c \
	agent/reconcile.h \
	agent/state.c \
	agent/state.h

# Links reconcile.c against the fake datapath and netlink in the test
# instead of the real ones.
tests_agent_test_reconcile_SOURCES = \
	tests/agent/test-reconcile.c \
	$(AGENT_RECONCILE_SOURCES)
tests_agent_test_reconcile_CPPFLAGS = $(AGENT_TEST_CPPFLAGS)
tests_agent_test_reconcile_LDADD = $(AGENT_TEST_LIBS)

# The firewall's compilation of identities into datapath entries: pure
# functions, linked against the real datapath library but never opening
# one.
check_PROGRAMS += tests/agent/test-firewall
TESTS += tests/agent/test-firewall
tests_agent_test_firewall_SOURCES = \
	tests/agent/test-firewall.c \
	$(AGENT_RECONCILE_SOURCES)
tests_agent_test_firewall_CPPFLAGS = $(AGENT_TEST_CPPFLAGS)
tests_agent_test_firewall_LDADD = $(DATAPATH_LIBS) $(AGENT_TEST_LIBS)

# Flow events aggregated and rate limited per port before they become
# records: floods of one flow, scans, a full table.
check_PROGRAMS += tests/agent/test-flowagg
TESTS += tests/agent/test-flowagg
tests_agent_test_flowagg_SOURCES = \
	tests/agent/test-flowagg.c \
	agent/flowagg.c \
	agent/flowagg.h
tests_agent_test_flowagg_CPPFLAGS = $(AGENT_TEST_CPPFLAGS)
tests_agent_test_flowagg_LDADD = $(AGENT_TEST_LIBS)

# Controller mode without a controller: applying delta answers to a
# document, the configuration file, the retry backoff, the metrics text.
check_PROGRAMS += tests/agent/test-watch
TESTS += tests/agent/test-watch
# Everything of fabric-agent but its main(), for the tests of controller
# mode (tests/fuzz/automake.mk too).
AGENT_CONTROLLER_MODE_SOURCES = \
	agent/agent-config.c \
	agent/agent-config.h \
	agent/changes.c \
	agent/changes.h \
	agent/core.c \
	agent/core.h \
	agent/dhcp.c \
	agent/dhcp.h \
	agent/firewall.c \
	agent/firewall.h \
	agent/flowagg.c \
	agent/flowagg.h \
	agent/flowlog.c \
	agent/flowlog.h \
	agent/http-client.c \
	agent/http-client.h \
	agent/lease.c \
	agent/lease.h \
	agent/metrics.c \
	agent/metrics.h \
	agent/migrate.c \
	agent/migrate.h \
	agent/probe.c \
	agent/probe.h \
	agent/reconcile-table.c \
	agent/reconcile-table.h \
	agent/reconcile.c \
	agent/reconcile.h \
	agent/state.c \
	agent/state.h \
	agent/trace.c \
	agent/trace.h \
	agent/vms.c \
	agent/vms.h \
	agent/watch.c \
	agent/watch.h
tests_agent_test_watch_SOURCES = \
	tests/agent/test-watch.c \
	$(AGENT_CONTROLLER_MODE_SOURCES)
tests_agent_test_watch_CPPFLAGS = $(AGENT_TEST_CPPFLAGS) $(CURL_CFLAGS) \
	$(MHD_CFLAGS)
tests_agent_test_watch_LDADD = $(DATAPATH_LIBS) $(VMM_GLUE_LIBS) \
	$(AGENT_TEST_LIBS) \
	$(CURL_LIBS) $(MHD_LIBS) -lpthread

# The network side of a live migration against a real datapath: standby
# port, conntrack hand-over over real HTTP, activation, forward (root;
# skips otherwise, fails under CI).
check_PROGRAMS += tests/agent/test-migrate
TESTS += tests/agent/test-migrate
tests_agent_test_migrate_SOURCES = \
	tests/agent/test-migrate.c \
	$(AGENT_CONTROLLER_MODE_SOURCES)
tests_agent_test_migrate_CPPFLAGS = $(tests_agent_test_watch_CPPFLAGS)
tests_agent_test_migrate_LDADD = $(tests_agent_test_watch_LDADD)

# The agent in controller mode against a real fabric-controller, with
# hosts in network namespaces (root; skips otherwise, fails under CI).
TESTS += tests/agent/controller-mode.sh
EXTRA_DIST += tests/agent/controller-mode.sh

# A standalone agent runs a real QEMU guest (TCG) from its desired-state
# file: tap and port program first, boot, restart, reboot, removal (root,
# QEMU; skips otherwise, fails under CI).
TESTS += tests/agent/vms.sh
EXTRA_DIST += tests/agent/vms.sh

# Live migration between two standalone agents with a real guest: the
# destination's port standby, the switch-over, activation, a destination
# killed mid-copy, cleanup without the disk (root, QEMU; skips otherwise,
# fails under CI).
TESTS += tests/agent/migrate.sh
EXTRA_DIST += tests/agent/migrate.sh
# The HA lease's decisions (run, hold, fence) and the UDP probes between
# agents, on real sockets of 127.0.0.1.
check_PROGRAMS += tests/agent/test-lease
TESTS += tests/agent/test-lease
tests_agent_test_lease_SOURCES = \
	tests/agent/test-lease.c \
	agent/lease.c \
	agent/lease.h \
	agent/probe.c \
	agent/probe.h
tests_agent_test_lease_CPPFLAGS = $(AGENT_TEST_CPPFLAGS)
tests_agent_test_lease_LDADD = $(AGENT_TEST_LIBS) -lpthread

# fabric-agent with a list of controllers: fail-over when the first is
# down or answers 503 (needs root, the agent, the controller, fabricctl,
# jq and python3).
TESTS += tests/agent/failover.sh
EXTRA_DIST += tests/agent/failover.sh

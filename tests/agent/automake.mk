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

# Links reconcile.c against the fake datapath and netlink in the test
# instead of the real ones.
tests_agent_test_reconcile_SOURCES = \
	tests/agent/test-reconcile.c \
	agent/reconcile.c \
	agent/reconcile.h \
	agent/state.c \
	agent/state.h
tests_agent_test_reconcile_CPPFLAGS = $(AGENT_TEST_CPPFLAGS)
tests_agent_test_reconcile_LDADD = $(AGENT_TEST_LIBS)

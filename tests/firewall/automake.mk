# Unit tests (cmocka) for firewall/ct.h and firewall/policy.h, and a check
# that both headers compile under "clang -target bpf".

FIREWALL_DEPS = firewall/ct.h firewall/policy.h

check_PROGRAMS += tests/firewall/test-ct
tests_firewall_test_ct_SOURCES = \
	tests/firewall/test-ct.c \
	tests/unit/guard-buf.h
tests_firewall_test_ct_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_firewall_test_ct_LDADD = $(CMOCKA_LIBS)
TESTS += tests/firewall/test-ct

check_PROGRAMS += tests/firewall/test-policy
tests_firewall_test_policy_SOURCES = tests/firewall/test-policy.c
tests_firewall_test_policy_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_firewall_test_policy_LDADD = $(CMOCKA_LIBS)
TESTS += tests/firewall/test-policy

# The BPF compile check: a tc program that calls every per-packet function,
# built with the datapath's BPF flags (-Wall -Werror) whenever the tests
# are.  It is never loaded; compiling it is the test.
tests/firewall/compile-check.bpf.o: $(FIREWALL_DEPS)
$(tests_firewall_test_ct_OBJECTS): tests/firewall/compile-check.bpf.o
CLEANFILES += tests/firewall/compile-check.bpf.o
EXTRA_DIST += tests/firewall/compile-check.bpf.c

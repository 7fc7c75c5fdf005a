# tests/cli: fabricctl.  Unit tests (cmocka) of its table formatting, its
# command-line parsing and its client, the whole program run in-process
# for usage errors, help and completion, and an end-to-end story against a
# real fabric-controller.

FABRICCTL_TEST_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(CURL_CFLAGS) \
	$(JANSSON_CFLAGS)
FABRICCTL_TEST_LDADD = cli/libfabricctl.a utils/libfabric-utils.a \
	$(CMOCKA_LIBS) $(CURL_LIBS) $(JANSSON_LIBS)

check_PROGRAMS += tests/cli/test-table
tests_cli_test_table_SOURCES = tests/cli/test-table.c
tests_cli_test_table_CPPFLAGS = $(FABRICCTL_TEST_CPPFLAGS)
tests_cli_test_table_LDADD = $(FABRICCTL_TEST_LDADD)
TESTS += tests/cli/test-table

check_PROGRAMS += tests/cli/test-parse
tests_cli_test_parse_SOURCES = tests/cli/test-parse.c
tests_cli_test_parse_CPPFLAGS = $(FABRICCTL_TEST_CPPFLAGS)
tests_cli_test_parse_LDADD = $(FABRICCTL_TEST_LDADD)
TESTS += tests/cli/test-parse

check_PROGRAMS += tests/cli/test-client
tests_cli_test_client_SOURCES = tests/cli/test-client.c
tests_cli_test_client_CPPFLAGS = $(FABRICCTL_TEST_CPPFLAGS)
tests_cli_test_client_LDADD = $(FABRICCTL_TEST_LDADD)
TESTS += tests/cli/test-client

check_PROGRAMS += tests/cli/test-fabricctl
tests_cli_test_fabricctl_SOURCES = tests/cli/test-fabricctl.c
tests_cli_test_fabricctl_CPPFLAGS = $(FABRICCTL_TEST_CPPFLAGS)
tests_cli_test_fabricctl_LDADD = $(FABRICCTL_TEST_LDADD)
TESTS += tests/cli/test-fabricctl

# The bash completion script as bash runs it; needs no controller.
TESTS += tests/cli/completion.sh
EXTRA_DIST += tests/cli/completion.sh

# The helpers that fabricctl-e2e.sh and flowlog.sh source.
EXTRA_DIST += tests/cli/fabricctl-lib.sh

# Needs controller/fabric-controller and cli/fabricctl built.
TESTS += tests/cli/fabricctl-e2e.sh
EXTRA_DIST += tests/cli/fabricctl-e2e.sh

# Flow logs and traces through fabricctl; needs controller/fabric-controller
# and cli/fabricctl built.
TESTS += tests/cli/flowlog.sh
EXTRA_DIST += tests/cli/flowlog.sh

# VMs, VM groups and images through fabricctl, hosts registered through the
# API (no agents, no guests); needs controller/fabric-controller,
# cli/fabricctl and qemu-img.
TESTS += tests/cli/vms.sh
EXTRA_DIST += tests/cli/vms.sh

# Maintenance and the balancer through fabricctl, hosts registered and
# reports sent through the API (no agents, no guests); needs
# controller/fabric-controller, cli/fabricctl and qemu-img.
TESTS += tests/cli/drs.sh
EXTRA_DIST += tests/cli/drs.sh

# Live migrations through fabricctl, the agents played by their reports;
# needs controller/fabric-controller, cli/fabricctl and qemu-img.
TESTS += tests/cli/migrate.sh
EXTRA_DIST += tests/cli/migrate.sh

# fabricctl with a list of controllers: fail-over when the first is down
# or answers 503; needs controller/fabric-controller and cli/fabricctl.
TESTS += tests/cli/failover.sh
EXTRA_DIST += tests/cli/failover.sh

# Unit tests (cmocka) for the shared QoS logic in qos/ and for the rate and
# size parser in utils/units.c; see the comment at the top of each source
# file for its story.

check_PROGRAMS += tests/qos/test-bucket
tests_qos_test_bucket_SOURCES = tests/qos/test-bucket.c
tests_qos_test_bucket_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_qos_test_bucket_LDADD = $(CMOCKA_LIBS)
# Building the test builds the BPF compile check too, so "make check"
# proves that the qos/ headers compile for the BPF target.
EXTRA_tests_qos_test_bucket_DEPENDENCIES = tests/qos/compile-check.bpf.o
TESTS += tests/qos/test-bucket

check_PROGRAMS += tests/qos/test-dscp
tests_qos_test_dscp_SOURCES = \
	tests/qos/test-dscp.c \
	tests/unit/guard-buf.h
tests_qos_test_dscp_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_qos_test_dscp_LDADD = $(CMOCKA_LIBS)
TESTS += tests/qos/test-dscp

check_PROGRAMS += tests/qos/test-units
tests_qos_test_units_SOURCES = tests/qos/test-units.c
tests_qos_test_units_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_qos_test_units_LDADD = utils/libfabric-utils.a $(CMOCKA_LIBS)
TESTS += tests/qos/test-units

# The BPF compile check: built by the %.bpf.o rule in datapath/automake.mk,
# which does not know the qos/ headers, so they are named here.
tests/qos/compile-check.bpf.o: qos/bucket.h qos/dscp.h
CLEANFILES += tests/qos/compile-check.bpf.o
EXTRA_DIST += tests/qos/compile-check.bpf.c

# tests/bpf: the real port and uplink programs run on crafted packets with
# BPF_PROG_TEST_RUN, in a private network namespace (needs root; skipped
# otherwise, failed under CI=true).
check_PROGRAMS += tests/bpf/test-datapath
TESTS += tests/bpf/test-datapath
tests_bpf_test_datapath_SOURCES = \
	tests/bpf/craft.c \
	tests/bpf/craft.h \
	tests/bpf/fixture.c \
	tests/bpf/fixture.h \
	tests/bpf/test-datapath.c
tests_bpf_test_datapath_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) \
	$(LIBBPF_CFLAGS)
tests_bpf_test_datapath_LDADD = $(DATAPATH_LIBS) $(CMOCKA_LIBS)
# The fixture includes the generated skeletons, so they come first even when
# the test is built on its own ("make tests/bpf/test-datapath").
$(tests_bpf_test_datapath_OBJECTS): $(BPF_SKELS)

check_PROGRAMS += tests/bpf/test-firewall
TESTS += tests/bpf/test-firewall
tests_bpf_test_firewall_SOURCES = \
	tests/bpf/craft.c \
	tests/bpf/craft.h \
	tests/bpf/fixture.c \
	tests/bpf/fixture.h \
	tests/bpf/test-firewall.c
tests_bpf_test_firewall_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) \
	$(LIBBPF_CFLAGS)
tests_bpf_test_firewall_LDADD = $(DATAPATH_LIBS) $(CMOCKA_LIBS)
$(tests_bpf_test_firewall_OBJECTS): $(BPF_SKELS)

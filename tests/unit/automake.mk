# Unit tests (cmocka) for the header-only packet and VXLAN code and for
# utils/base64, and the replay of the parser fuzz corpus.  Each is a
# program that "make check" runs; see the comment at the top of each
# source file for its story.

check_PROGRAMS += tests/unit/test-parse
tests_unit_test_parse_SOURCES = \
	tests/unit/test-parse.c \
	tests/unit/guard-buf.h
tests_unit_test_parse_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_parse_LDADD = $(CMOCKA_LIBS)
TESTS += tests/unit/test-parse

check_PROGRAMS += tests/unit/test-vxlan
tests_unit_test_vxlan_SOURCES = \
	tests/unit/test-vxlan.c \
	tests/unit/guard-buf.h \
	tests/unit/rfc1071.h
tests_unit_test_vxlan_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_vxlan_LDADD = $(CMOCKA_LIBS)
TESTS += tests/unit/test-vxlan

# dhcp/dhcp.h: parsing clients' messages and building the answers.
check_PROGRAMS += tests/unit/test-dhcp
tests_unit_test_dhcp_SOURCES = \
	tests/unit/test-dhcp.c \
	tests/unit/guard-buf.h \
	tests/unit/rfc1071.h
tests_unit_test_dhcp_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_dhcp_LDADD = $(CMOCKA_LIBS)
TESTS += tests/unit/test-dhcp

# utils/base64.h, which carries trace frames between the controller and
# the agents.
check_PROGRAMS += tests/unit/test-base64
tests_unit_test_base64_SOURCES = tests/unit/test-base64.c
tests_unit_test_base64_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_base64_LDADD = utils/libfabric-utils.a $(CMOCKA_LIBS)
TESTS += tests/unit/test-base64

# Regression tests for bugs found in packet/ and vxlan/.
check_PROGRAMS += tests/unit/test-regressions
tests_unit_test_regressions_SOURCES = \
	tests/unit/test-regressions.c \
	tests/unit/guard-buf.h
tests_unit_test_regressions_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_regressions_LDADD = $(CMOCKA_LIBS)
TESTS += tests/unit/test-regressions

# The parser fuzz target, built with the ordinary compiler and fed the seed
# corpus plus fixed pseudo-random mutations of it.  tests/fuzz/run-fuzz.sh
# runs the same target under libFuzzer.
check_PROGRAMS += tests/unit/test-fuzz-parse
tests_unit_test_fuzz_parse_SOURCES = \
	tests/fuzz/replay.c \
	tests/fuzz/fuzz-parse.c \
	tests/fuzz/fuzz.h \
	tests/unit/guard-buf.h
TESTS += tests/unit/test-fuzz-parse

EXTRA_DIST += \
	tests/fuzz/run-fuzz.sh \
	tests/fuzz/corpus/arp-request \
	tests/fuzz/corpus/eth-ipv4-udp \
	tests/fuzz/corpus/ipv4-later-fragment \
	tests/fuzz/corpus/ipv4-options-icmp \
	tests/fuzz/corpus/ipv6-ext-frag-udp \
	tests/fuzz/corpus/ipv6-icmpv6 \
	tests/fuzz/corpus/ipv6-later-fragment-dstopts \
	tests/fuzz/corpus/vlan-ipv4-tcp-options \
	tests/fuzz/corpus/vxlan-first-fragment \
	tests/fuzz/corpus/vxlan-gbp-ipv6-udp \
	tests/fuzz/corpus/vxlan-i-flag-clear \
	tests/fuzz/corpus/vxlan-ipv4-udp \
	tests/fuzz/corpus/vxlan-outer-ipv4-options \
	tests/fuzz/corpus/vxlan-priority-tagged \
	tests/fuzz/corpus/vxlan-vlan-tagged

# utils/url-list.h: lists of controllers and when a request goes on to the
# next one.
check_PROGRAMS += tests/unit/test-url-list
tests_unit_test_url_list_SOURCES = tests/unit/test-url-list.c
tests_unit_test_url_list_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_url_list_LDADD = utils/libfabric-utils.a $(CMOCKA_LIBS)
TESTS += tests/unit/test-url-list

# The fuzz targets beyond the frame parsers (whose replay,
# tests/unit/test-fuzz-parse, lives in tests/unit/automake.mk).  Each
# target is built here with the ordinary compiler and tests/fuzz/replay.c,
# which feeds it its seed corpus tests/fuzz/corpus-TARGET/ plus fixed
# pseudo-random mutations of it; tests/fuzz/run-fuzz.sh TARGET runs the
# same target under libFuzzer and the sanitizers.  The corpora are large
# (what libFuzzer kept from minutes of fuzzing, for its coverage), so that
# "make check" stays within seconds each input is mutated 50 times rather
# than replay.c's 500, and the controller's, whose every input costs a
# store, not at all.

FUZZ_REPLAY_SOURCES = \
	tests/fuzz/replay.c \
	tests/fuzz/fuzz.h \
	tests/unit/guard-buf.h

# Conntrack keys, ICMP errors' quotes included (firewall/ct.h).
check_PROGRAMS += tests/fuzz/test-fuzz-ct
tests_fuzz_test_fuzz_ct_SOURCES = tests/fuzz/fuzz-ct.c $(FUZZ_REPLAY_SOURCES)
tests_fuzz_test_fuzz_ct_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"tests/fuzz/corpus-ct"' -DMUTATIONS_PER_INPUT=50
TESTS += tests/fuzz/test-fuzz-ct

# DHCP client messages and the answers to them (dhcp/dhcp.h).
check_PROGRAMS += tests/fuzz/test-fuzz-dhcp
tests_fuzz_test_fuzz_dhcp_SOURCES = tests/fuzz/fuzz-dhcp.c \
	$(FUZZ_REPLAY_SOURCES)
tests_fuzz_test_fuzz_dhcp_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"tests/fuzz/corpus-dhcp"'
TESTS += tests/fuzz/test-fuzz-dhcp

# The first bytes of an uploaded image (controller/image-format.h).
check_PROGRAMS += tests/fuzz/test-fuzz-image
tests_fuzz_test_fuzz_image_SOURCES = \
	tests/fuzz/fuzz-image.c \
	controller/image-format.c \
	controller/image-format.h \
	$(FUZZ_REPLAY_SOURCES)
tests_fuzz_test_fuzz_image_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"tests/fuzz/corpus-image"'
tests_fuzz_test_fuzz_image_LDADD = utils/libfabric-utils.a
TESTS += tests/fuzz/test-fuzz-image

# Datagrams to the probe port of an agent (agent/probe.h).
check_PROGRAMS += tests/fuzz/test-fuzz-probe
tests_fuzz_test_fuzz_probe_SOURCES = \
	tests/fuzz/fuzz-probe.c \
	agent/probe.c \
	agent/probe.h \
	$(FUZZ_REPLAY_SOURCES)
tests_fuzz_test_fuzz_probe_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	-DFUZZ_CORPUS='"tests/fuzz/corpus-probe"'
tests_fuzz_test_fuzz_probe_LDADD = utils/libfabric-utils.a $(JANSSON_LIBS) \
	-lpthread
TESTS += tests/fuzz/test-fuzz-probe

# The agent's desired-state document (agent/state.c).
check_PROGRAMS += tests/fuzz/test-fuzz-state
tests_fuzz_test_fuzz_state_SOURCES = \
	tests/fuzz/fuzz-state.c \
	agent/state.c \
	agent/state.h \
	$(FUZZ_REPLAY_SOURCES)
tests_fuzz_test_fuzz_state_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	$(LIBBPF_CFLAGS) -DFUZZ_CORPUS='"tests/fuzz/corpus-state"' \
	-DMUTATIONS_PER_INPUT=50
tests_fuzz_test_fuzz_state_LDADD = utils/libfabric-utils.a $(JANSSON_LIBS)
TESTS += tests/fuzz/test-fuzz-state

# The watch's delta answers (agent/changes.c) and the controller's diff that
# makes them (controller/desired.c).
check_PROGRAMS += tests/fuzz/test-fuzz-watch
tests_fuzz_test_fuzz_watch_SOURCES = \
	tests/fuzz/fuzz-watch.c \
	$(AGENT_CONTROLLER_MODE_SOURCES) \
	$(FUZZ_REPLAY_SOURCES)
tests_fuzz_test_fuzz_watch_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	$(LIBBPF_CFLAGS) $(CURL_CFLAGS) $(MHD_CFLAGS) \
	-DFUZZ_CORPUS='"tests/fuzz/corpus-watch"' -DMUTATIONS_PER_INPUT=50
tests_fuzz_test_fuzz_watch_LDADD = $(CONTROLLER_LIBS) $(DATAPATH_LIBS) \
	$(VMM_GLUE_LIBS) \
	$(JANSSON_LIBS) $(CURL_LIBS) $(MHD_LIBS) -lpthread
TESTS += tests/fuzz/test-fuzz-watch

# The controller's request bodies, on a real SQLite store.
check_PROGRAMS += tests/fuzz/test-fuzz-api
tests_fuzz_test_fuzz_api_SOURCES = \
	tests/fuzz/fuzz-api.c \
	agent/state.c \
	agent/state.h \
	$(FUZZ_REPLAY_SOURCES)
tests_fuzz_test_fuzz_api_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	$(LIBBPF_CFLAGS) -DFUZZ_CORPUS='"tests/fuzz/corpus-api"' \
	-DMUTATIONS_PER_INPUT=0
tests_fuzz_test_fuzz_api_LDADD = $(CONTROLLER_LIBS)
TESTS += tests/fuzz/test-fuzz-api

EXTRA_DIST += \
	tests/fuzz/api.dict \
	tests/fuzz/state.dict \
	tests/fuzz/corpus-api \
	tests/fuzz/corpus-ct \
	tests/fuzz/corpus-dhcp \
	tests/fuzz/corpus-image \
	tests/fuzz/corpus-probe \
	tests/fuzz/corpus-state \
	tests/fuzz/corpus-watch

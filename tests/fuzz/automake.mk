# The fuzz targets beyond the frame parsers (whose replay,
# tests/unit/test-fuzz-parse, lives in tests/unit/automake.mk).  Each
# target is built here with the ordinary compiler and tests/fuzz/replay.c,
# which feeds it its seed corpus tests/fuzz/corpus-TARGET/ plus fixed
# pseudo-random mutations of it; tests/fuzz/run-fuzz.sh TARGET runs the
# same target under libFuzzer and the sanitizers.

FUZZ_REPLAY_SOURCES = \
	tests/fuzz/replay.c \
	tests/fuzz/fuzz.h \
	tests/unit/guard-buf.h

# Conntrack keys, ICMP errors' quotes included (firewall/ct.h).
check_PROGRAMS += tests/fuzz/test-fuzz-ct
tests_fuzz_test_fuzz_ct_SOURCES = tests/fuzz/fuzz-ct.c $(FUZZ_REPLAY_SOURCES)
# Its corpus is large (libFuzzer's merge of minutes of fuzzing), so each
# input is mutated less.
tests_fuzz_test_fuzz_ct_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"tests/fuzz/corpus-ct"' -DMUTATIONS_PER_INPUT=50
TESTS += tests/fuzz/test-fuzz-ct

EXTRA_DIST += \
	tests/fuzz/corpus-ct

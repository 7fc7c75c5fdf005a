# The UDP sequence probe that counts what a live migration costs
# (tests/integration/migrate.sh, bench/migration.sh), its unit test and
# its test over network namespaces.  udpseq is linked static so that
# scripts/build-test-image can put it into the test guest as it is; "make"
# builds it, since every user of the test image (the demo too) needs it.
noinst_PROGRAMS += tests/tools/udpseq
tests_tools_udpseq_SOURCES = \
	tests/tools/udpseq.c \
	tests/tools/seqstat.c \
	tests/tools/seqstat.h
tests_tools_udpseq_LDFLAGS = -static

check_PROGRAMS += tests/tools/test-seqstat
tests_tools_test_seqstat_SOURCES = \
	tests/tools/test-seqstat.c \
	tests/tools/seqstat.c \
	tests/tools/seqstat.h
tests_tools_test_seqstat_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_tools_test_seqstat_LDADD = $(CMOCKA_LIBS)
TESTS += tests/tools/test-seqstat

TESTS += tests/tools/udpseq.sh
EXTRA_DIST += tests/tools/udpseq.sh

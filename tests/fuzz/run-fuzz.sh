#!/bin/sh
# Fuzzes the packet and VXLAN parsers with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer.
#
# usage: tests/fuzz/run-fuzz.sh [SECONDS]
#
# Builds tests/fuzz/fuzz-parse.c with clang into a temporary directory and
# runs it for SECONDS (default 30), starting from the seed corpus in
# tests/fuzz/corpus/.  Inputs that find new code stay in the temporary
# directory and are thrown away; those worth keeping can be copied out with
# libFuzzer's -merge=1 by hand.  An input that crashes the target is saved
# as fuzz-parse-crash-* in the current directory.  Once the bug is fixed,
# copy it into tests/fuzz/corpus/ (and EXTRA_DIST): "make check" replays the
# corpus through tests/fuzz/replay, so it stays fixed.
#
# Needs clang and libFuzzer, which Debian ships in libclang-rt-14-dev.
# Extra arguments for libFuzzer go in FUZZ_FLAGS, e.g. FUZZ_FLAGS=-jobs=4.

set -eu

seconds=${1:-30}
case $seconds in
'' | *[!0-9]*)
    echo "$0: SECONDS must be a whole number of seconds, not \"$seconds\"" >&2
    exit 2
    ;;
esac

top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
CLANG=${CLANG:-clang}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-parse.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if ! $CLANG -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter \
    -Wmissing-prototypes -Wshadow -std=gnu11 -D_GNU_SOURCE -I"$top_srcdir" \
    -o "$tmp/fuzz-parse" "$top_srcdir/tests/fuzz/fuzz-parse.c"; then
    echo "$0: building the fuzz target failed; libFuzzer comes with the" \
        "Debian package \"libclang-rt-14-dev\"" >&2
    exit 1
fi

mkdir "$tmp/corpus"
# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of arguments.
"$tmp/fuzz-parse" -max_total_time="$seconds" -max_len=2048 \
    -print_final_stats=1 -artifact_prefix="$PWD/fuzz-parse-" \
    ${FUZZ_FLAGS:-} "$tmp/corpus" "$top_srcdir/tests/fuzz/corpus"

#!/bin/sh
# Fuzzes one of fabric's input parsers with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer (leaks included).
#
# usage: tests/fuzz/run-fuzz.sh [TARGET] [SECONDS]
#
# TARGET is one of (default parse):
#   parse  frames: pkt_parse_frame() and vxlan_classify()   (fuzz-parse.c)
#   ct     conntrack keys, ICMP errors' quotes included      (fuzz-ct.c)
#   dhcp   DHCP client messages and the answers to them      (fuzz-dhcp.c)
#   image  the first bytes of an uploaded image             (fuzz-image.c)
#   probe  datagrams to an agent's probe port               (fuzz-probe.c)
#   state  the agent's desired-state document               (fuzz-state.c)
#   watch  delta answers of the controller's long poll      (fuzz-watch.c)
#   api    the controller's request bodies, on SQLite       (fuzz-api.c)
#
# Builds tests/fuzz/fuzz-TARGET.c and the code it tests with clang into a
# temporary directory and runs it for SECONDS (default 30), starting from
# the seed corpus tests/fuzz/corpus-TARGET/ (tests/fuzz/corpus/ for parse)
# and the dictionary tests/fuzz/TARGET.dict when there is one (the watch's
# is state.dict).  Inputs that find new code stay in the temporary
# directory and are thrown away, unless FUZZ_MERGE=1: then those that cover
# code the seed corpus does not are added to it at the end (libFuzzer's
# -merge=1, which keeps the smallest input for each feature).  An input
# that breaks the target is saved as fuzz-TARGET-crash-* (or -leak-*,
# -timeout-*) in the current directory.  Once the bug is fixed, copy it into
# the seed corpus under a name that says what it was (for parse, list it in
# tests/unit/automake.mk's EXTRA_DIST too): "make check" replays every
# corpus through tests/fuzz/replay.c, so it stays fixed.
#
# The watch target links the datapath and controller libraries of a
# configured and built tree, uninstrumented but for controller/desired.c:
# top_builddir names it (default: the source tree).  The api target
# compiles the whole controller, whose OpenAPI document this script turns
# into C as the build does.
#
# Needs clang and libFuzzer, which Debian ships in libclang-rt-14-dev.
# Extra arguments for libFuzzer go in FUZZ_FLAGS, e.g. FUZZ_FLAGS=-jobs=4.

set -eu

target=parse
case ${1:-} in
'' | *[!0-9]*)
    target=${1:-parse}
    [ $# -gt 0 ] && shift
    ;;
esac
seconds=${1:-30}
case $seconds in
'' | *[!0-9]*)
    echo "$0: SECONDS must be a whole number of seconds, not \"$seconds\"" >&2
    exit 2
    ;;
esac

top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
top_builddir=${top_builddir:-$top_srcdir}
CLANG=${CLANG:-clang}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
here=$PWD
# Prints the files of the source tree that glob $1 names.
# shellcheck disable=SC2086 # $1 is a glob.
src_files() { (cd "$top_srcdir" && ls $1); }

# What each target compiles (instrumented) and links.
corpus=$top_srcdir/tests/fuzz/corpus-$target
max_len=4096
pkgs=
extra=
case $target in
parse)
    corpus=$top_srcdir/tests/fuzz/corpus
    max_len=2048
    srcs=tests/fuzz/fuzz-parse.c
    ;;
ct)
    max_len=2048
    srcs=tests/fuzz/fuzz-ct.c
    ;;
dhcp)
    max_len=1500
    srcs=tests/fuzz/fuzz-dhcp.c
    ;;
image)
    max_len=1024
    srcs="tests/fuzz/fuzz-image.c controller/image-format.c
        $(src_files 'utils/*.c')"
    ;;
probe)
    max_len=256
    srcs="tests/fuzz/fuzz-probe.c agent/probe.c $(src_files 'utils/*.c')"
    pkgs="jansson"
    ;;
state)
    srcs="tests/fuzz/fuzz-state.c agent/state.c $(src_files 'utils/*.c')"
    pkgs="jansson"
    ;;
watch)
    # All of fabric-agent but its main().
    srcs="tests/fuzz/fuzz-watch.c
        $(src_files 'agent/*.c' | grep -v -x -F agent/agent.c)
        controller/desired.c $(src_files 'utils/*.c')"
    pkgs="jansson libcurl libmicrohttpd libbpf libmnl libelf zlib sqlite3
        gnutls"
    extra=
    for lib in controller/libfabric-controller.a controller/libfabric-store.a \
        datapath/libfabric-datapath.a; do
        if [ ! -f "$top_builddir/$lib" ]; then
            echo "$0: $top_builddir/$lib not found: build the tree first" \
                "(make), or set top_builddir to a built one" >&2
            exit 1
        fi
        extra="$extra $top_builddir/$lib"
    done
    ;;
api)
    srcs="tests/fuzz/fuzz-api.c agent/state.c
        $(src_files 'controller/*.c' |
            grep -v -x -F -e controller/main.c -e controller/openapi-json.c)
        $(src_files 'utils/*.c')"
    pkgs="jansson sqlite3 libmicrohttpd gnutls libcurl libbpf"
    ;;
*)
    echo "$0: unknown target \"$target\": expected parse, ct, dhcp, image," \
        "probe, state, watch or api" >&2
    exit 2
    ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$target.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if [ "$target" = api ]; then
    # The controller serves its OpenAPI document from a C array that the
    # build generates; make the same one here.
    {
        echo '#include "controller/openapi.h"'
        echo 'const char openapi_json[] = {'
        od -An -v -tx1 "$top_srcdir/controller/openapi.json" |
            sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'
        echo '0 };'
        echo 'const size_t openapi_json_len = sizeof openapi_json - 1;'
    } >"$tmp/openapi-json.c"
    extra=$tmp/openapi-json.c
fi

cflags=
libs=
if [ -n "$pkgs" ]; then
    # shellcheck disable=SC2086 # $pkgs is a list of modules.
    if ! cflags=$($PKG_CONFIG --cflags $pkgs) ||
        ! libs=$($PKG_CONFIG --libs $pkgs); then
        echo "$0: pkg-config found no $pkgs: run scripts/install-deps" >&2
        exit 1
    fi
fi

# shellcheck disable=SC2086 # $cflags, $srcs, $extra and $libs are lists.
if ! (cd "$top_srcdir" && $CLANG -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter \
    -Wmissing-prototypes -Wshadow -std=gnu11 -D_GNU_SOURCE \
    -DPACKAGE_VERSION='"fuzz"' -I"$top_srcdir" \
    -I"$top_builddir" $cflags -o "$tmp/fuzz-$target" $srcs $extra $libs \
    -lpthread); then
    echo "$0: building the fuzz target failed; libFuzzer comes with the" \
        "Debian package \"libclang-rt-14-dev\"" >&2
    exit 1
fi

dict=$top_srcdir/tests/fuzz/$target.dict
# The watch's answers carry documents: its dictionary is the state's.
[ "$target" = watch ] && dict=$top_srcdir/tests/fuzz/state.dict
if [ -f "$dict" ]; then
    dict=-dict=$dict
else
    dict=
fi
mkdir "$tmp/corpus"
# The fuzzed code runs in the temporary directory, where the api target
# keeps its store.
cd "$tmp"
# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of arguments.
"$tmp/fuzz-$target" -max_total_time="$seconds" -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$here/fuzz-$target-" $dict \
    ${FUZZ_FLAGS:-} "$tmp/corpus" "$corpus"
if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    "$tmp/fuzz-$target" -merge=1 -max_len="$max_len" "$corpus" "$tmp/corpus"
fi

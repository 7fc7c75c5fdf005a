#!/bin/bash
# The controller's test suite against the etcd store: starts one etcd
# member of its own on free ports of 127.0.0.1, then runs every
# tests/controller/test-* program with FABRIC_TEST_STORE pointing at it,
# so that each fixture opens a fresh prefix of that etcd instead of an
# SQLite file (tests/controller/fixture.c); then copies what they left with
# fabric-controller --migrate-store.  The member takes transactions
# of up to 100,000 operations and 16 MiB, since a test fills every group
# identity (65,535 objects) in one transaction.  Excluded by name, each
# with its reason:
#   test-store        the SQLite backend itself: its file, its schema's
#                     migrations, its change log.
#   test-store-etcd, test-store-replicas
#                     start members of their own (one, and clusters of
#                     three), and run in the suite by themselves.
#   test-scheduler, test-drs
#                     pure planners that open no store.
set -u

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fabric-etcd-suite-XXXXXX")
etcd_pid=
excluded=" test-store test-store-etcd test-store-replicas test-scheduler test-drs "

cleanup() {
    if [ -n "$etcd_pid" ]; then
        kill "$etcd_pid" 2>/dev/null
        wait "$etcd_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

command -v etcd >/dev/null || fail "etcd is not installed (scripts/install-deps)"

. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/ports.sh"

# Starts the member; a port taken between the check and etcd's bind makes
# it exit, and another pair is tried.
for attempt in 1 2 3 4 5; do
    client=$(free_port)
    peer=$(free_port)
    [ "$client" != "$peer" ] || continue
    rm -rf "$tmp/data"
    etcd --name suite --data-dir "$tmp/data" \
        --listen-client-urls "http://127.0.0.1:$client" \
        --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "suite=http://127.0.0.1:$peer" \
        --max-txn-ops 100000 --max-request-bytes 16777216 \
        --logger zap --log-level warn \
        >"$tmp/etcd.log" 2>&1 &
    etcd_pid=$!
    for _ in $(seq 1 300); do
        if ! kill -0 "$etcd_pid" 2>/dev/null; then
            wait "$etcd_pid" 2>/dev/null
            etcd_pid=
            break
        fi
        in_use "$client" && break 2
        sleep 0.1
    done
    [ -z "$etcd_pid" ] || fail "etcd did not listen on $client: $(tail -5 "$tmp/etcd.log")"
done
[ -n "$etcd_pid" ] || fail "etcd did not start: $(tail -5 "$tmp/etcd.log")"

export FABRIC_TEST_STORE="etcd://127.0.0.1:$client"
failed=
ran=0
for test in "$top_builddir"/tests/controller/test-*; do
    name=$(basename "$test")
    case "$name" in *.*) continue ;; esac
    [ -x "$test" ] || continue
    case "$excluded" in *" $name "*) continue ;; esac
    ran=$((ran + 1))
    start=$SECONDS
    if "$test" >"$tmp/$name.log" 2>&1; then
        echo "ok $name against etcd ($((SECONDS - start)) s)"
    else
        echo "FAILED $name against etcd; the end of its output:"
        tail -40 "$tmp/$name.log"
        failed="$failed $name"
    fi
done
[ "$ran" -ge 10 ] || fail "only $ran test programs found under $top_builddir/tests/controller: build them first (make check builds them)"
# The fixtures wrote through the etcd of this run, not through a file.
prefixes=$(ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" get / \
    --prefix --keys-only 2>/dev/null | grep -c '/meta/schema$')
[ "$prefixes" -ge "$ran" ] || fail "only $prefixes stores were made in etcd by $ran programs"
[ -z "$failed" ] || fail "against etcd:$failed"
echo "$ran test programs passed against etcd ($prefixes stores)"

# fabric-controller --migrate-store on what the tests left: the store with
# the most objects, up to 3000 (a minute's copy at most on a loaded
# machine), goes to an SQLite file and from there to a new prefix,
# with the same counts per kind both ways; a store with objects is refused
# as TO, and a FROM that does not exist too.
controller=$top_builddir/controller/fabric-controller
etcd_url="etcd://127.0.0.1:$client"
prefix=$(ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client" get / \
    --prefix --keys-only 2>/dev/null | sed -n 's|^\(/[^/]*\)/o/.*|\1|p' |
    sort | uniq -c | sort -rn | awk '$1 <= 3000 {print $2; exit}')
[ -n "$prefix" ] || fail "no store with objects in etcd"
"$controller" --migrate-store "$etcd_url$prefix" "$tmp/copy.db" \
    >"$tmp/to-sqlite" 2>"$tmp/err" || fail "--migrate-store to SQLite: $(cat "$tmp/err")"
"$controller" --migrate-store "$tmp/copy.db" "$etcd_url/migrated" \
    >"$tmp/to-etcd" 2>"$tmp/err" || fail "--migrate-store to etcd: $(cat "$tmp/err")"
grep -q "^copied [1-9][0-9]* objects of [1-9][0-9]* kinds from $etcd_url$prefix to $tmp/copy.db$" \
    "$tmp/to-sqlite" || fail "--migrate-store said: $(cat "$tmp/to-sqlite")"
diff <(sed '$d' "$tmp/to-sqlite") <(sed '$d' "$tmp/to-etcd") >&2 ||
    fail "the counts per kind differ between the two copies"
if "$controller" --migrate-store "$tmp/copy.db" "$etcd_url/migrated" \
    >"$tmp/out" 2>"$tmp/err"; then
    fail "--migrate-store copied into a store with objects"
fi
grep -q "copy only into an empty store" "$tmp/err" ||
    fail "--migrate-store into a full store said: $(cat "$tmp/err")"
if "$controller" --migrate-store "$tmp/none.db" "$etcd_url/other" \
    >"$tmp/out" 2>"$tmp/err"; then
    fail "--migrate-store copied from a file that is not there"
fi
grep -q "store $tmp/none.db: No such file or directory" "$tmp/err" ||
    fail "--migrate-store from nothing said: $(cat "$tmp/err")"
[ ! -e "$tmp/none.db" ] || fail "--migrate-store created its FROM"
echo "--migrate-store: $(tail -1 "$tmp/to-etcd")"

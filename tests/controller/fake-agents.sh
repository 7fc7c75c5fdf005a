#!/bin/bash
# 50 simulated hosts (bench/fake-agents) on a real controller, in 5 blocks
# of 10 hosts with 2 networks of their own each (bench/scale-lib.sh: 10
# networks, 500 ports): every host registers (again), gets its document and
# reports its ports, and holds every port and remote of its networks in
# the end; one new port per block reaches exactly the 10
# hosts of its block (as a remote, or as the port itself on its host), no
# other host hears anything, and the controller computes and wakes no
# more than those hosts' long polls.  Correctness only: bench/scale.sh
# measures the speed.
set -u

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
SCALE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fabric-fake-agents-XXXXXX")

fail() {
    echo "FAIL: $*" >&2
    for f in controller.log fake-agents.err; do
        if [ -f "$SCALE_TMP/$f" ]; then
            echo "--- $f:" >&2
            tail -n 20 "$SCALE_TMP/$f" >&2
        fi
    done
    exit 1
}

# shellcheck source=../../bench/scale-lib.sh
. "$top_srcdir/bench/scale-lib.sh"

cleanup() {
    scale_stop
    rm -rf "$SCALE_TMP"
}
trap cleanup EXIT

for cmd in curl jq; do
    command -v "$cmd" >/dev/null || {
        [ "${CI:-}" = true ] && fail "$cmd is missing"
        echo "SKIP: $cmd is missing"
        exit 77
    }
done

HOSTS=50 M=2 K=10 Q=5
BLOCKS=$(( HOSTS / K ))

# Bad arguments are refused, by name.
fake=$top_builddir/bench/fake-agents
out=$("$fake" -c http://127.0.0.1:1 -T /dev/null -n 0 2>&1) &&
    fail "-n 0 accepted"
grep -q -- '-n "0": expected a number 1..65535' <<<"$out" ||
    fail "-n 0: unclear refusal: $out"
out=$("$fake" -T /dev/null -n 5 2>&1) && fail "no -c accepted"
grep -q -- "-c, -T and -n are required" <<<"$out" ||
    fail "no -c: unclear refusal: $out"
out=$("$fake" -c http://127.0.0.1:1 -T "$SCALE_TMP/none" -n 5 2>&1) &&
    fail "a missing token file accepted"
grep -q -- "$SCALE_TMP/none: cannot read the token" <<<"$out" ||
    fail "missing token file: unclear refusal: $out"

scale_controller_start
scale_populate "$HOSTS" "$M" "$K" "$Q"
scale_fake_start "$HOSTS"

# Every host registered and reports its ports up.
for _ in $(seq 100); do
    up=$(curl -sf -H "Authorization: Bearer $SCALE_TOKEN" "$SCALE_URL/v1/status" |
        jq '"\(.hosts.ready) \(.ports.up)"' -r)
    [ "$up" = "$HOSTS $(( HOSTS * M * Q ))" ] && break
    sleep 0.2
done
[ "$up" = "$HOSTS $(( HOSTS * M * Q ))" ] ||
    fail "ready hosts and ports up: $up, expected $HOSTS $(( HOSTS * M * Q ))"
computes=$(scale_metric fabric_controller_desired_computes_total)
wakeups=$(scale_metric fabric_controller_desired_wakeups_total)
start=$(date +%s%6N)
for (( b = 0; b < BLOCKS; b++ )); do
    printf -v net 'net-%05d' $(( b * M + 1 ))
    printf -v host 'fake-%05d' $(( b * K + 3 ))
    scale_change "new-$b" "$net" "$host"
    sleep 0.2
done
expected=$(( BLOCKS * K ))
for _ in $(seq 150); do
    [ "$(scale_deliveries | wc -l)" -ge "$expected" ] && break
    sleep 0.2
done
# A last look for answers that should not come.
sleep 1
scale_deliveries >"$SCALE_TMP/deliveries"
for (( b = 0; b < BLOCKS; b++ )); do
    got=$(awk -v p="new-$b" '$1 == p { print $2 }' "$SCALE_TMP/deliveries" | sort | tr '\n' ' ')
    want=$(for (( h = b * K; h < (b + 1) * K; h++ )); do printf 'fake-%05d ' "$h"; done)
    [ "$got" = "$want" ] || fail "port new-$b reached: ${got:-nobody}; expected: $want"
done
# No host heard anything else meanwhile: every answer since the first
# change brought one of the changes.
others=$(awk -v t="$start" '$1 >= t' "$SCALE_TMP/events" | wc -l)
[ "$others" = "$expected" ] ||
    fail "$others answers to the long polls since the first change, expected $expected (one per host of each block)"
computes=$(( $(scale_metric fabric_controller_desired_computes_total) - computes ))
wakeups=$(( $(scale_metric fabric_controller_desired_wakeups_total) - wakeups ))
[ "$computes" -le $(( 2 * expected )) ] ||
    fail "$computes documents computed for $BLOCKS changes of $K hosts each (at most $(( 2 * expected )) expected)"
[ "$wakeups" -le "$expected" ] ||
    fail "$wakeups long polls woken for $BLOCKS changes of $K hosts each (at most $expected expected)"
# What each host holds in the end: its M*Q ports and the M*(K-1)*Q
# remotes of its networks (those of hosts that registered after it came
# with their registration), and the new port of its block, its own or a
# remote.
kill -TERM "$SCALE_FAKE_PID"
wait "$SCALE_FAKE_PID" || fail "fake-agents failed"
SCALE_FAKE_PID=
[ "$(wc -l <"$SCALE_TMP/summary")" = "$HOSTS" ] || fail "fake-agents summed up $(wc -l <"$SCALE_TMP/summary") hosts"
bad=$(awk -v want=$(( M * Q + M * (K - 1) * Q + 1 )) '$3 + $4 != want' "$SCALE_TMP/summary")
[ -z "$bad" ] ||
    fail "hosts whose document has not $(( M * Q + M * (K - 1) * Q + 1 )) ports and remotes: $(head -3 <<<"$bad")"
echo "PASS: $BLOCKS changes reached their $K hosts each; $computes documents computed, $wakeups polls woken"

#!/bin/bash
# udpseq, the probe of tests/integration/migrate.sh, counts what a path
# really lost, no more and no less.  Two network namespaces joined by a
# veth pair, "udpseq echo" in one, the 1 ms stream from the other:
#
#   - a clean path: everything comes back;
#   - the echo's address gone for 300 ms: about 300 datagrams lost, in one
#     run, and a silence of about 300 ms;
#   - the echo stopped (SIGSTOP) for 300 ms: the datagrams wait in its
#     socket, so none is lost, but the silence is there;
#   - one way ("recv") with the address gone, and strangers' datagrams and
#     bad arguments;
#   - over TCP through busybox's echo: every record back in order; an
#     echo that goes away is an error.
#
# Needs root (network namespaces) and busybox (its nc, for the TCP echo).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib/common.sh"

fab_setup
require_cmd busybox
udpseq=$top_builddir/tests/tools/udpseq
[ -x "$udpseq" ] || fail "$udpseq not built: run \"make check\""

ip netns add "$(fab_ns a)"
ip netns add "$(fab_ns b)"
ip link add eth0 netns "$(fab_ns a)" type veth peer name eth0 netns "$(fab_ns b)"
in_ns a ip addr add 10.9.0.1/24 dev eth0
in_ns b ip addr add 10.9.0.2/24 dev eth0
in_ns a ip link set eth0 up
in_ns b ip link set eth0 up
in_ns a ip link set lo up
in_ns b ip link set lo up

in_ns_bg b "$udpseq" echo 7
echo_pid=$!
fab_wait_listen b udp 7

# Prints field "key" of the JSON report "json".
field() {
    jq -r ".$2" <<<"$1"
}

say "a clean path: all 2000 datagrams of 2 s come back"
r=$(in_ns a "$udpseq" send 10.9.0.2:7 -d 2 -j)
echo "$r"
[ "$(field "$r" sent)" -ge 1900 ] || fail "sent only $(field "$r" sent) in 2 s at 1 ms"
[ "$(field "$r" lost)" = 0 ] || fail "lost datagrams on a clean path: $r"
[ "$(field "$r" duplicates)" = 0 ] && [ "$(field "$r" reordered)" = 0 ] \
    || fail "duplicates or reordering on a veth: $r"

# Runs the 3 s stream from a while "action" breaks the path after 1 s,
# and prints the report.
stream_with() {
    local out=$FAB_TMP/stream.json pid
    in_ns_bg a "$udpseq" send 10.9.0.2:7 -d 3 -j >"$out"
    pid=$!
    sleep 1
    "$@"
    wait "$pid" || fail "udpseq send failed"
    cat "$out"
}

# The echo's host loses its address for 300 ms: what arrives then is
# dropped.  (A link set down would not do: the sender's side of the veth
# loses its carrier and holds the datagrams until it is back.)
link_down_300ms() {
    in_ns b ip addr del 10.9.0.2/24 dev eth0
    sleep 0.3
    in_ns b ip addr add 10.9.0.2/24 dev eth0
}

say "the echo's address gone for 300 ms: about 300 lost in one run"
r=$(stream_with link_down_300ms)
echo "$r"
lost=$(field "$r" lost)
run=$(field "$r" longest_loss)
gap=$(field "$r" longest_gap_ms)
# The address goes and comes back through "ip" processes, which a loaded machine
# may take a while to start: the loss is at least the sleep, and the gap
# at least the loss, but bounded by a few hundred ms more.
[ "$lost" -ge 250 ] && [ "$lost" -le 1500 ] \
    || fail "the address was gone 300 ms but $lost datagrams were lost"
[ "$run" = "$lost" ] || fail "the $lost losses were not in one run ($run)"
awk -v g="$gap" -v l="$lost" 'BEGIN { exit !(g >= l * 0.9) }' \
    || fail "the longest silence, $gap ms, is shorter than $lost lost datagrams at 1 ms"

say "the echo stopped for 300 ms: nothing lost, a silence of 300 ms"
stop_echo_300ms() {
    kill -STOP "$echo_pid"
    sleep 0.3
    kill -CONT "$echo_pid"
}
r=$(stream_with stop_echo_300ms)
echo "$r"
[ "$(field "$r" lost)" = 0 ] || fail "datagrams that waited were counted lost: $r"
awk -v g="$(field "$r" longest_gap_ms)" 'BEGIN { exit !(g >= 280) }' \
    || fail "a 300 ms pause of the echo made no 300 ms silence: $r"
awk -v g="$(field "$r" rtt_max_ms)" 'BEGIN { exit !(g >= 280) }' \
    || fail "datagrams held 300 ms report no such round trip: $r"

say "one way: recv counts what a sender's stream lost while the address was gone"
in_ns_bg b "$udpseq" recv 9 -d 4 -j >"$FAB_TMP/recv.json"
recv_pid=$!
fab_wait_listen b udp 9
in_ns_bg a "$udpseq" send 10.9.0.2:9 -d 3 -w 0 >/dev/null
send_pid=$!
sleep 1
link_down_300ms
# A stranger's datagrams, and one of ours with a number beyond the limit.
in_ns a bash -c 'echo hello >/dev/udp/10.9.0.2/9; printf "FSQ1\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0\0\0\0\0" >/dev/udp/10.9.0.2/9'
wait "$send_pid" || true
wait "$recv_pid" || fail "udpseq recv failed"
r=$(cat "$FAB_TMP/recv.json")
echo "$r"
[ "$(field "$r" lost)" -ge 250 ] && [ "$(field "$r" lost)" -le 1500 ] \
    || fail "recv counted $(field "$r" lost) lost for a 300 ms outage: $r"
[ "$(field "$r" invalid)" = 2 ] || fail "recv did not refuse the 2 strangers' datagrams: $r"

say "bad arguments are refused with status 2 and a reason"
for args in "send 10.9.0.2" "send 7" "send 10.9.0.2:0" "send 10.9.0.2:7 -i 0" \
    "send 10.9.0.2:7 -s 9000" "send 300.1.1.1:7" "bounce 10.9.0.2:7" \
    "send 10.9.0.2:7 -d x"; do
    rc=0
    # shellcheck disable=SC2086
    "$udpseq" $args >/dev/null 2>"$FAB_TMP/err" || rc=$?
    [ "$rc" = 2 ] || fail "udpseq $args: status $rc, not 2"
    [ -s "$FAB_TMP/err" ] || fail "udpseq $args: no reason given"
done

say "TCP: every record comes back in order through busybox's echo"
in_ns_bg b busybox nc -ll -p 7 -e cat
nc_pid=$!
fab_wait_listen b tcp 7
r=$(in_ns a "$udpseq" tcp 10.9.0.2:7 -i 1000 -d 1 -j) || fail "udpseq tcp failed: $r"
echo "$r"
[ "$(field "$r" sent)" -ge 900 ] && [ "$(field "$r" lost)" = 0 ] \
    || fail "TCP records lost on a veth: $r"

say "TCP: an echo that goes away is an error"
in_ns_bg a "$udpseq" tcp 10.9.0.2:7 -d 3 -j >"$FAB_TMP/tcp.json"
tcp_pid=$!
sleep 1
kill "$nc_pid"
in_ns b ss -K dport != 0 sport = :7 >/dev/null 2>&1 || true
rc=0
wait "$tcp_pid" || rc=$?
r=$(cat "$FAB_TMP/tcp.json")
echo "$r"
[ "$rc" = 1 ] || fail "udpseq tcp ended $rc when its echo went away"
[ "$(field "$r" error)" != null ] || fail "udpseq tcp reports no error: $r"
say "ok"

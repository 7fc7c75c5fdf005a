#!/bin/bash
# bench/agent-resync.sh: how long fabric-agent takes to resync a host
# whose desired state holds 10,000 ports, against "fabric-agent --check"
# (read, parse and validate the same document, touch nothing) measured in
# the same run.  A benchmark, not a test: it prints numbers and ratios and
# gates nothing.
#
#   usage: bench/agent-resync.sh [-r REPETITIONS]   (default 10; env REPS)
#
# One host namespace (tests/lib/common.sh: "ul0" on an underlay bridge,
# VTEP 192.168.100.1) with 100 local VM ports, the host side of veth pairs
# whose VM side waits in one extra namespace, and 9,900 remote ports on
# 50 remote VTEPs (192.168.100.101-150: addresses only, with permanent
# neighbour entries so that every next hop resolves at once).  10
# networks; each has 10 local ports and 990 remote ones spread over all
# 50 VTEPs, so its flood list has 60 members (at most 256 are allowed;
# 100 local ports keep the setup quick).
#
# Each repetition purges the instance, puts the port devices back down at
# MTU 1500, and times "fabric-agent --once" run by nsenter in the host's
# network namespace (process start included, as for the baseline):
#
#   (a) the first full programming into an empty datapath
#   (b) a second run on the same document: a resync that changes nothing
#   (c) a run on a document where 1% of the ports changed: 99 remote
#       ports moved to another VTEP and 1 local port got a new address
#
# Figures are medians over the repetitions.
set -euo pipefail
export LC_ALL=C

REPS=${REPS:-10}
while getopts r:h opt; do
    case $opt in
    r) REPS=$OPTARG ;;
    *) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
       exit 2 ;;
    esac
done
if ! [[ $REPS =~ ^[1-9][0-9]*$ ]]; then
    echo "REPS \"$REPS\": not a count" >&2
    exit 2
fi

export FAB_PREFIX=bench-$$
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../tests/lib/common.sh"

N_NETS=10
N_LOCAL=100                      # 10 per network.
N_PORTS=10000                    # Local and remote.
N_VTEPS=50                       # Remote VTEPs, in every network.
CHANGE_EVERY=100                 # (c) changes 1 port in 100.

fab_setup                        # Its EXIT trap purges and deletes all.

echo "building the host: $N_LOCAL veth pairs, $N_VTEPS remote VTEPs"
fab_underlay
fab_host A
host_ns=$(fab_ns hostA)
vm_ns=$(fab_ns vms)
instance=$(fab_instance A)
ip netns add "$vm_ns"
for (( i = 0; i < N_LOCAL; i++ )); do
    echo "link add lp$i type veth peer name eth$i netns $vm_ns"
done | ip -n "$host_ns" -batch -
for (( v = 0; v < N_VTEPS; v++ )); do
    printf 'neigh replace %s.%d lladdr 02:00:00:ee:00:%02x' \
        "$FAB_UNDERLAY_NET" $(( 101 + v )) "$v"
    echo " nud permanent dev ul0"
done | ip -n "$host_ns" -batch -

# Prints the document; with "changed" = 1, 1 port in CHANGE_EVERY differs.
# Port g (0..N_PORTS-1) is in network g % N_NETS, as that network's
# member j = g / N_NETS; members 0-9 of each network are local.
document() {
    awk -v changed="$1" -v nets="$N_NETS" -v nlocal="$N_LOCAL" \
        -v nports="$N_PORTS" -v nvteps="$N_VTEPS" -v every="$CHANGE_EVERY" \
        -v ul="$FAB_UNDERLAY_NET" '
    function ip(n, j) {
        return sprintf("10.%d.%d.%d", n, int(j / 250), j % 250 + 1)
    }
    function mac(n, j) {
        return sprintf("02:00:%02x:00:%02x:%02x", n, int(j / 256), j % 256)
    }
    BEGIN {
        printf "{\"host\": {\"name\": \"bench\", \"vtep\": \"%s.1\", ", ul
        printf "\"underlay\": \"ul0\"},\n \"networks\": [\n"
        for (n = 0; n < nets; n++)
            printf "  {\"name\": \"net%d\", \"vni\": %d}%s\n", n, 1000 + n,
                n < nets - 1 ? "," : ""
        printf " ],\n \"ports\": [\n"
        for (g = 0; g < nlocal; g++) {
            n = g % nets; j = int(g / nets)
            addr = ip(n, j)
            if (changed && g % every == every / 2)
                addr = ip(n, 50000 + j)
            printf "  {\"name\": \"vm%d\", \"network\": \"net%d\", ", g, n
            printf "\"device\": \"lp%d\", \"mac\": \"%s\", \"ip\": \"%s\"}%s\n",
                g, mac(n, j), addr, g < nlocal - 1 ? "," : ""
        }
        printf " ],\n \"remotes\": [\n"
        for (g = nlocal; g < nports; g++) {
            n = g % nets; j = int(g / nets)
            v = j % nvteps
            if (changed && g % every == every / 2)
                v = (v + 1) % nvteps
            printf "  {\"network\": \"net%d\", \"mac\": \"%s\", ", n, mac(n, j)
            printf "\"ip\": \"%s\", \"vtep\": \"%s.%d\"}%s\n", ip(n, j), ul,
                101 + v, g < nports - 1 ? "," : ""
        }
        printf " ]\n}\n"
    }'
}

doc=$FAB_TMP/state.json
doc_changed=$FAB_TMP/state-changed.json
document 0 >"$doc"
document 1 >"$doc_changed"
[ "$(jq '(.ports | length) + (.remotes | length)' "$doc")" = "$N_PORTS" ] \
    || fail "the generated document does not hold $N_PORTS ports"
changes=$(diff "$doc" "$doc_changed" | grep -c '^>' || true)
echo "document: $N_NETS networks, $N_LOCAL local ports," \
    "$(( N_PORTS - N_LOCAL )) remote ports, $(stat -c %s "$doc") bytes;" \
    "$changes ports differ in (c)"

# Runs fabric-agent "args..." in the host's network namespace, with the
# machine's bpffs; stores its standard error in $FAB_TMP/agent.log and the
# wall-clock seconds it took in $elapsed.
agent_timed() {
    local t0 t1
    t0=$EPOCHREALTIME
    if ! in_host A "$FABRIC_AGENT" -c /dev/null "$@" \
        >/dev/null 2>"$FAB_TMP/agent.log"; then
        cat "$FAB_TMP/agent.log" >&2
        fail "fabric-agent $* failed"
    fi
    t1=$EPOCHREALTIME
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
}

# Prints what the last run's log says it changed, "+A -D ~M".
agent_changes() {
    sed -n 's/.*reconciled: \(+[0-9]* -[0-9]* ~[0-9]*\) entries.*/\1/p' \
        "$FAB_TMP/agent.log" | tail -n 1
}

# Puts the datapath and the devices back as they were before the agent.
reset_host() {
    in_host A "$FABRIC_AGENT" -c /dev/null --purge -i "$instance" \
        >/dev/null 2>&1 || fail "fabric-agent --purge failed"
    for (( i = 0; i < N_LOCAL; i++ )); do
        echo "link set lp$i down mtu 1500"
    done | ip -n "$host_ns" -batch -
}

# Prints the median of the numbers given.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A runs=() what=()
for rep in $(seq "$REPS"); do
    reset_host
    agent_timed --check -s "$doc"
    runs[check]+=" $elapsed"
    agent_timed --once -s "$doc" -i "$instance"
    runs[a]+=" $elapsed"
    what[a]=$(agent_changes)
    if [ "$rep" = 1 ]; then
        # Once, untimed: the datapath holds what the document says.
        in_host A "$FABRIC_AGENT" -c /dev/null --show -o json -i "$instance" \
            | jq -e --argjson n "$N_PORTS" --argjson l "$N_LOCAL" \
                '(.fdb | length) == $n and (.ports | length) == $l' >/dev/null \
            || fail "after (a), the datapath does not hold $N_PORTS FDB" \
                "entries and $N_LOCAL ports"
    fi
    agent_timed --once -s "$doc" -i "$instance"
    runs[b]+=" $elapsed"
    what[b]=$(agent_changes)
    agent_timed --once -s "$doc_changed" -i "$instance"
    runs[c]+=" $elapsed"
    what[c]=$(agent_changes)
    printf 'run %d/%d  check %.3f s  (a) %.3f s  (b) %.3f s  (c) %.3f s\n' \
        "$rep" "$REPS" "${runs[check]##* }" "${runs[a]##* }" \
        "${runs[b]##* }" "${runs[c]##* }"
done

echo
echo "fabric-agent --once, $N_PORTS ports ($N_LOCAL local, $N_VTEPS remote" \
    "VTEPs, $N_NETS networks), median of $REPS runs, $(nproc) CPUs, $(uname -r)"
printf '%-44s %9s %10s  %s\n' step seconds "x --check" "changes (+add -del ~mod)"
# shellcheck disable=SC2086 # The lists are space-separated numbers.
base=$(median ${runs[check]})
declare -A label=(
    [check]="--check, parse + validate (baseline)"
    [a]="(a) first full programming, empty datapath"
    [b]="(b) resync, nothing changed"
    [c]="(c) resync, 1% of the ports changed"
)
worst=0
worst_step=
for step in check a b c; do
    # shellcheck disable=SC2086
    m=$(median ${runs[$step]})
    printf '%-44s %9.3f %9.1fx  %s\n' "${label[$step]}" "$m" \
        "$(awk -v m="$m" -v b="$base" 'BEGIN { print m / b }')" \
        "${what[$step]:--}"
    if [ "$step" != check ] \
        && awk -v m="$m" -v w="$worst" 'BEGIN { exit !(m > w) }'; then
        worst=$m
        worst_step=$step
    fi
done
case ${what[b]} in
"+0 -0 ~0") ;;
*) echo "note: the no-change resync changed ${what[b]:-?} entries" ;;
esac
verdict=$(awk -v w="$worst" 'BEGIN { print (w < 1.0) ? "MET" : "NOT MET" }')
printf '\ntarget: full resync < 1 s (slowest step, (%s): %.3f s): %s\n' \
    "$worst_step" "$worst" "$verdict"

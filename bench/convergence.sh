#!/bin/bash
# bench/convergence.sh: how long a new port takes to carry traffic across
# hosts, from "fabricctl port create" returning to the first ping answered
# through it, against the same measurement with standalone agents that
# get the new port in their documents (written, then SIGHUP), in the same
# run.  A benchmark, not a test: it prints numbers and ratios and gates
# nothing.
#
#   usage: bench/convergence.sh [-n PORTS] [-i INTERVAL_MS] [-g GAP_MS]
#          (defaults 50 ports, a ping every 2 ms, gaps of 0-200 ms; env
#          PORTS, INTERVAL_MS, GAP_MS)
#
# The topology is tests/lib/common.sh's: an underlay bridge and four hosts
# on it, each agent in its host's network namespace (by nsenter, so that
# it sees the machine's bpffs).
#
#   controller  fabric-controller runs inside the underlay namespace and
#               listens on the bridge's own address, 192.168.100.254:9470,
#               which every host reaches through its "ul0" (the same set-up
#               as tests/agent/controller-mode.sh); fabricctl runs there too
#   hosts A, B  agents in controller mode; network "blue" (10.0.0.0/24)
#               with the prober vmA1 on A and vmB0 on B
#   hosts C, D  standalone agents (--state, SIGHUP): the baseline; network
#               "green" (VNI 200, 10.1.0.0/24) with vmC1 on C, vmD0 on D
#
# Every port N (1..PORTS) is measured on both sides, alternately.  The VM
# (a namespace, and the host side of its veth on host B or D) is created
# first, and the prober gets a permanent neighbour entry for its MAC, so
# that the prober's ARP retry timer stays out of the figure.  The script
# then waits a random 0..GAP_MS ms, so that the change does not come in
# step with the previous one (the controller and the agents work in
# rounds, and a steady rhythm would always hit the same point of a round;
# -g 0 shows what back-to-back changes get), and starts bench/first-reply
# in the prober, which sends an ICMP echo request to the VM every
# INTERVAL_MS, answered or not, and notes when the first reply arrived
# (the kernel's receive timestamp); then
#
#   controller  "fabricctl port create" with the VM's device, MAC and IP;
#               t0 = when the command has returned
#   standalone  both documents, rewritten with the new port before the
#               wait, take effect: t0 = now, then SIGHUP to both agents
#
# and convergence = first reply - t0, which may be negative: the
# controller answers the create after the commit that wakes the agents,
# so a port can carry traffic before fabricctl has exited.  Until host A
# (C) knows the new MAC, it floods the requests to host B's (D's) VTEP,
# so the first reply needs host B (D) to have programmed the port; the
# reply itself goes back by host B's (D's) tables.
set -euo pipefail
export LC_ALL=C

PORTS=${PORTS:-50}
INTERVAL_MS=${INTERVAL_MS:-2}
GAP_MS=${GAP_MS:-200}
while getopts n:i:g:h opt; do
    case $opt in
    n) PORTS=$OPTARG ;;
    i) INTERVAL_MS=$OPTARG ;;
    g) GAP_MS=$OPTARG ;;
    *) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
       exit 2 ;;
    esac
done
if ! [[ $PORTS =~ ^[1-9][0-9]*$ ]] || [ "$PORTS" -gt 200 ]; then
    echo "PORTS \"$PORTS\": must be 1..200" >&2
    exit 2
fi
[[ $INTERVAL_MS =~ ^[1-9][0-9]*$ ]] \
    || { echo "INTERVAL_MS \"$INTERVAL_MS\": not a count" >&2; exit 2; }
[[ $GAP_MS =~ ^[0-9]+$ ]] \
    || { echo "GAP_MS \"$GAP_MS\": not a number of ms" >&2; exit 2; }

export FAB_PREFIX=bench-$$
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../tests/lib/common.sh"

FABRICCTL=${FABRICCTL:-$top_builddir/cli/fabricctl}
FIRST_REPLY=${FIRST_REPLY:-$top_builddir/bench/first-reply}
CONTROLLER=${CONTROLLER:-$top_builddir/controller/fabric-controller}
CTL_IP=$FAB_UNDERLAY_NET.254
CTL_URL=http://$CTL_IP:9470
TARGET_P50_MS=100
PROBE_DEADLINE=10                # Seconds before a port counts as lost.

fab_setup                        # Its EXIT trap stops and deletes all.
require_cmd ping
[ -x "$CONTROLLER" ] || fail "$CONTROLLER not built: run \"make\" first"
[ -x "$FABRICCTL" ] || fail "$FABRICCTL not built: run \"make\" first"
[ -x "$FIRST_REPLY" ] || fail "$FIRST_REPLY not built: run \"make\" first"
"$FABRIC_AGENT" --help | grep -q -- '--controller' \
    || fail "$FABRIC_AGENT has no controller mode (--controller)"
unset FABRIC_CONTROLLER FABRIC_TOKEN FABRIC_TOKEN_FILE FABRIC_CACERT

# ---------------------------------------------------------------------------
# Helpers.

# Runs "command..." in node "name"'s network namespace only: cheaper than
# "ip netns exec", which also sets up a mount namespace.
in_net() {
    local name=$1
    shift
    nsenter --net="/run/netns/$(fab_ns "$name")" -- "$@"
}

# Runs fabricctl "args..." as the admin, from the underlay namespace.
ctl() {
    in_net ul "$FABRICCTL" --controller "$CTL_URL" \
        --token-file "$FAB_TMP/admin.token" "$@"
}

# Starts host "X"'s agent in controller mode as host "host-x", with a
# configuration file of its own; waits until it has written its pidfile.
agent_start_controller() {
    local host=$1 name conf pidfile
    name=host-$(echo "$host" | tr '[:upper:]' '[:lower:]')
    conf=$FAB_TMP/host$host.conf
    pidfile=$(fab_agent_pidfile "$host")
    ctl -o json token create "agent-$name" --role agent --host "$name" \
        | jq -r .token >"$FAB_TMP/host$host.token"
    cat >"$conf" <<EOF
controller = $CTL_URL
token-file = $FAB_TMP/host$host.token
host = $name
underlay = ul0
state-cache = $FAB_TMP/host$host.cache.json
EOF
    in_host "$host" "$FABRIC_AGENT" -c "$conf" -i "$(fab_instance "$host")" \
        --pidfile "$pidfile" </dev/null >>"$(fab_agent_log "$host")" 2>&1 &
    for _ in $(seq 50); do
        [ -s "$pidfile" ] && return 0
        sleep 0.1
    done
    fail "agent of host $host did not start"
}

# Creates VM "vm" on "network" with "ip" and "mac", and gives "prober" a
# permanent neighbour entry for it.
vm_create() {
    local vm=$1 network=$2 ip=$3 mac=$4 prober=$5
    fab_vm "$vm" "$network" "$ip" "$mac"
    ip -n "$(fab_ns "$prober")" neigh replace "$ip" lladdr "$mac" \
        nud permanent dev eth0
}

# Sleeps a random 0..GAP_MS milliseconds.
random_gap() {
    sleep "$(awk -v ms="$(( RANDOM % (GAP_MS + 1) ))" \
        'BEGIN { printf "%.3f", ms / 1000 }')"
}

# Starts pinging "ip" from "prober" every INTERVAL_MS until the first
# reply, into $FAB_TMP/probe.out; waits until the first request has left.
probe_start() {
    local prober=$1 ip=$2
    rm -f "$FAB_TMP/probe.out"
    in_net "$prober" "$FIRST_REPLY" -i "$(( INTERVAL_MS * 1000 ))" \
        -w "$PROBE_DEADLINE" "$ip" >"$FAB_TMP/probe.out" &
    PROBE_PID=$!
    for _ in $(seq 1000); do
        [ -s "$FAB_TMP/probe.out" ] && return 0
        sleep 0.001
    done
    fail "the probe from $prober did not start"
}

# Waits for the prober, then sets "ms" to the milliseconds from "t0"
# (seconds since the epoch) to the first reply, or to "" if none came.
probe_result() {
    local t0=$1
    wait "$PROBE_PID" || true
    ms=$(awk -v t0="$t0" '$1 == "reply" {
        printf "%.2f\n", ($2 - t0) * 1000; exit }' "$FAB_TMP/probe.out")
}

# Prints the p-th percentile (nearest rank) of the numbers given.
percentile() {
    local p=$1
    shift
    printf '%s\n' "$@" | sort -g | awk -v p="$p" '{ v[NR] = $1 }
        END { r = int(NR * p / 100 + 0.999999); if (r < 1) r = 1;
              print v[r] }'
}

# ---------------------------------------------------------------------------
echo "building: underlay with the controller, hosts A B (controller mode)," \
    "C D (standalone)"

fab_underlay
ip -n "$(fab_ns ul)" addr add "$CTL_IP/24" dev br0
for host in A B C D; do
    fab_host "$host"
done

: >"$FAB_TMP/controller.conf"    # Whatever /etc/fabric holds stays out.
in_ns_bg ul "$CONTROLLER" --config "$FAB_TMP/controller.conf" \
    --db "$FAB_TMP/controller.db" --listen "$CTL_IP:9470" \
    --bootstrap-token-file "$FAB_TMP/admin.token" \
    </dev/null >>"$FAB_TMP/controller.log" 2>&1
for _ in $(seq 100); do
    [ -s "$FAB_TMP/admin.token" ] && ctl status >/dev/null 2>&1 && break
    sleep 0.1
done
ctl status >/dev/null \
    || fail "the controller did not start: $(tail -n 5 "$FAB_TMP/controller.log")"

# Controller side: blue, the prober vmA1 and vmB0, which puts host B's
# VTEP in host A's flood list.
vni=$(ctl -o json network create blue --cidr 10.0.0.0/24 | jq -r .vni)
fab_network blue "$vni"
agent_start_controller A
agent_start_controller B
fab_vm vmA1 blue 10.0.0.1 02:00:00:00:01:01
fab_vm vmB0 blue 10.0.0.2 02:00:00:00:02:00
ctl port create vm-a1 --network blue --host host-a --device vmA1-h \
    --mac 02:00:00:00:01:01 --ip 10.0.0.1 >/dev/null
ctl port create vm-b0 --network blue --host host-b --device vmB0-h \
    --mac 02:00:00:00:02:00 --ip 10.0.0.2 >/dev/null
assert_ping_ok vmA1 10.0.0.2

# Standalone side: green, vmC1 and vmD0.
fab_network green 200
fab_vm vmC1 green 10.1.0.1 02:00:00:00:03:01
fab_vm vmD0 green 10.1.0.2 02:00:00:00:04:00
for host in C D; do
    fab_write_state "$host"
    fab_agent_start "$host" -l info
done
fab_agent_wait C
fab_agent_wait D
assert_ping_ok vmC1 10.1.0.2
pid_c=$(fab_agent_pid C)
pid_d=$(fab_agent_pid D)

rtt_ms=$(in_net vmA1 ping -n -q -c 50 -i 0.005 10.0.0.2 \
    | awk -F/ '/^rtt/ { print $5 }')

# ---------------------------------------------------------------------------
echo "measuring $PORTS ports each way, a ping every $INTERVAL_MS ms," \
    "gaps of 0-$GAP_MS ms"

ctl_ms=() sa_ms=()
lost_ctl=0 lost_sa=0
for n in $(seq "$PORTS"); do
    # Controller mode: port p-N, VM vmBN on host B.
    ip=10.0.0.$(( 10 + n ))
    mac=$(printf '02:00:00:00:02:%02x' "$(( 10 + n ))")
    vm_create "vmB$n" blue "$ip" "$mac" vmA1
    random_gap
    probe_start vmA1 "$ip"
    ctl port create "p-$n" --network blue --host host-b --device "vmB$n-h" \
        --mac "$mac" --ip "$ip" >/dev/null
    probe_result "$EPOCHREALTIME"
    ctl_one=$ms
    if [ -n "$ms" ]; then ctl_ms+=("$ms"); else lost_ctl=$(( lost_ctl + 1 )); fi

    # Standalone: VM vmDN on host D, in both documents, then SIGHUP.
    ip=10.1.0.$(( 10 + n ))
    mac=$(printf '02:00:00:00:04:%02x' "$(( 10 + n ))")
    vm_create "vmD$n" green "$ip" "$mac" vmC1
    fab_write_state C
    fab_write_state D
    random_gap
    probe_start vmC1 "$ip"
    t0=$EPOCHREALTIME
    kill -HUP "$pid_c" "$pid_d"
    probe_result "$t0"
    if [ -n "$ms" ]; then sa_ms+=("$ms"); else lost_sa=$(( lost_sa + 1 )); fi

    printf 'port %3d/%d  controller %8s ms  standalone %8s ms\n' "$n" \
        "$PORTS" "${ctl_one:-lost}" "${ms:-lost}"
done

[ "${#ctl_ms[@]}" -gt 0 ] || fail "no port converged in controller mode"
[ "${#sa_ms[@]}" -gt 0 ] || fail "no port converged in standalone mode"

echo
echo "convergence: port created -> first ping across hosts answered, $PORTS" \
    "ports, a ping every $INTERVAL_MS ms, $(nproc) CPUs, $(uname -r)"
echo "raw ping RTT between two existing VMs on hosts A and B: $rtt_ms ms"
printf '%-12s %9s %9s %9s %9s %6s\n' "" "p50 ms" "p90 ms" "p99 ms" "max ms" lost
declare -A stat=()
for side in controller standalone; do
    if [ "$side" = controller ]; then
        values=("${ctl_ms[@]}") lost=$lost_ctl
    else
        values=("${sa_ms[@]}") lost=$lost_sa
    fi
    for p in 50 90 99 100; do
        stat[$side-$p]=$(percentile "$p" "${values[@]}")
    done
    printf '%-12s %9.2f %9.2f %9.2f %9.2f %6d\n' "$side" \
        "${stat[$side-50]}" "${stat[$side-90]}" "${stat[$side-99]}" \
        "${stat[$side-100]}" "$lost"
done
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'
}
printf '%-12s %8sx %8sx %8sx %8sx\n' "ratio" \
    "$(ratio "${stat[controller-50]}" "${stat[standalone-50]}")" \
    "$(ratio "${stat[controller-90]}" "${stat[standalone-90]}")" \
    "$(ratio "${stat[controller-99]}" "${stat[standalone-99]}")" \
    "$(ratio "${stat[controller-100]}" "${stat[standalone-100]}")"
verdict=$(awk -v p="${stat[controller-50]}" -v t="$TARGET_P50_MS" \
    'BEGIN { print (p < t) ? "MET" : "NOT MET" }')
printf '\ntarget: controller-mode p50 < %d ms: %.2f ms: %s\n' \
    "$TARGET_P50_MS" "${stat[controller-50]}" "$verdict"

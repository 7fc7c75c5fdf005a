# shellcheck shell=bash
# Shared shell library for fabric's integration tests, the demo and the
# benchmarks.  Source it; it defines functions and variables only.
#
# It builds a small simulated cloud out of network namespaces:
#
#   <prefix>-ul       the underlay: one Linux bridge "br0" joining every host
#   <prefix>-hostX    a hypervisor host: "ul0" on the underlay with address
#                     192.168.100.N (A=1, B=2, ...), one host-side device
#                     "vmXN-h" per VM port, and a fabric-agent instance
#                     named "<prefix>-hostX"
#   <prefix>-vmXN     a VM: "eth0" with the port's MAC, IP and MTU
#
# A test describes the cloud with fab_underlay, fab_host, fab_network and
# fab_vm, then calls fab_start_agents, which writes one desired-state
# document per host (its local ports; every other host's ports on the same
# networks as remotes), starts the agents and waits until they converged.
# fab_cleanup (installed as an EXIT trap by fab_setup) kills everything that
# runs in our namespaces, purges the agent instances and deletes the
# namespaces, whether the test passed or not.
#
# Exit codes follow automake: 0 pass, 77 skip, 1 fail.  Under CI=true
# nothing skips: a missing prerequisite fails.

# Where the tree is: "make check" exports these; by hand, the repository
# root that holds this file.
fab_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$fab_lib_dir/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
FABRIC_AGENT=${FABRIC_AGENT:-$top_builddir/agent/fabric-agent}
FABRIC_CONTROLLER_BIN=${FABRIC_CONTROLLER_BIN:-$top_builddir/controller/fabric-controller}
FABRICCTL=${FABRICCTL:-$top_builddir/cli/fabricctl}
# The web console that "make" builds, which fab_controller_start serves.
FAB_UI_DIR=${FAB_UI_DIR:-$(cd "$top_builddir" && pwd)/ui/dist}

# Every name this run creates starts with the prefix, so concurrent runs
# (and a leftover demo) never collide.  Instance names are machine-wide
# (bpffs pins are not per network namespace), hence the pid.
FAB_PREFIX=${FAB_PREFIX:-it-$$}
FAB_UNDERLAY_NET=192.168.100       # Underlay /24; host X gets .N.
FAB_UNDERLAY_MTU=${FAB_UNDERLAY_MTU:-1500}
FAB_VXLAN_OVERHEAD=50              # Outer Ethernet+IPv4+UDP+VXLAN.
# The control network: the machine's own namespace joins the underlay
# bridge at .254 and every host gets .N as a second address, so agents in
# the hosts and fabricctl outside reach one controller.  The range is RFC
# 2544's benchmarking block, which no real network should be using.  It is
# in the machine's own namespace, so concurrent runs each take a /24 of it
# of their own, or two would answer at the same address: the first from
# the pid on that no route of the machine holds yet (two pids 250 apart
# would otherwise share one).
fab_free_control_net() {
    local i n routes
    routes=$(ip -4 route show 2>/dev/null || true)
    for i in $(seq 0 249); do
        n=$(( ($$ + i) % 250 + 1 ))
        grep -q "^198\.18\.$n\.0/24 " <<<"$routes" || break
    done
    echo "198.18.$n"
}
FAB_CONTROL_NET=${FAB_CONTROL_NET:-$(fab_free_control_net)}
FAB_CONTROL_PORT=${FAB_CONTROL_PORT:-9470}
FAB_AGENT_PORT=${FAB_AGENT_PORT:-9471} # Agents' API, on the control network.
FAB_TMP=${FAB_TMP:-}               # Documents, logs, pidfiles, captures.
FAB_KEEP_TMP=${FAB_KEEP_TMP:-}     # Non-empty: leave FAB_TMP behind.
FAB_HOLD=${FAB_HOLD:-}             # Non-empty: on failure, wait for Enter
                                   # before tearing down, to look around.

# The cloud as described so far.
FAB_HOSTS=()                       # Host letters, in creation order.
FAB_NETWORKS=()                    # Network names, in creation order.
FAB_VMS=()                         # VM names, in creation order.
declare -A FAB_NET_VNI=()          # network -> VNI
declare -A FAB_NET_MTU=()          # network -> MTU given ("" = default)
declare -A FAB_VM_HOST=()          # vm -> host letter
declare -A FAB_VM_NET=()           # vm -> network
declare -A FAB_VM_IP=()            # vm -> IPv4 address
declare -A FAB_VM_MAC=()           # vm -> MAC
declare -A FAB_VM_SECURITY=()      # vm -> "true" | "false"
declare -A FAB_EXTRA_REMOTES=()    # host -> JSON objects, comma-separated
declare -A FAB_EXCLUDED=()         # vm -> 1 if left out of its host's doc

# ---------------------------------------------------------------------------
# Outcomes.

# Prints "message" to stderr and exits 1 (the EXIT trap cleans up).
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Exits with automake's SKIP (77), or fails under CI=true, where nothing
# may skip.
skip() {
    if [ "${CI:-}" = true ]; then
        fail "cannot run under CI: $*"
    fi
    echo "SKIP: $*" >&2
    exit 77
}

# Prints a TCP port on 127.0.0.1 that is free right now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Prints a progress line, so a failing test's log reads like its story.
say() {
    echo "--- $*"
}

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        skip "needs root (network namespaces, tc, BPF)"
    fi
}

# Skips (fails under CI) unless every named command is installed.
require_cmd() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 \
            || skip "needs \"$cmd\" (scripts/install-deps installs it)"
    done
}

require_agent() {
    [ -x "$FABRIC_AGENT" ] \
        || fail "$FABRIC_AGENT not built: run \"make\" first"
}

# Waits up to "timeout" seconds until "command..." succeeds; returns 1 if
# it never did.
wait_for() {
    local timeout=$1
    shift
    for _ in $(seq $(( timeout * 10 ))); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# Holds the write lock of SQLite store "db" in a process of its own, as a
# long transaction of another program would, and sets LOCK_PID to it (kill
# it to free the store).  A controller's writes wait out its busy timeout
# and answer 503; its reads go on.  Needs python3.
fab_sqlite_lock() {
    local db=$1 ready
    ready=$(mktemp -u "${TMPDIR:-/tmp}/fab-lock.XXXXXX")
    python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(600)' "$db" "$ready" &
    LOCK_PID=$!
    wait_for 10 test -e "$ready" || fail "cannot lock the store $db"
    rm -f "$ready"
}

# ---------------------------------------------------------------------------
# Running things in namespaces.

# Prints the namespace name of node "name" (ul, hostA, vmA1, ...).
fab_ns() {
    echo "$FAB_PREFIX-$1"
}

# Runs "command..." inside node "name"'s network namespace.
in_ns() {
    local name=$1
    shift
    ip netns exec "$(fab_ns "$name")" "$@"
}

# Starts "command..." inside node "name"'s network namespace in the
# background, as a child of this shell whose pid is then in $! (the
# command itself: "ip netns exec" execs it), so it can be killed and
# waited for.
in_ns_bg() {
    local name=$1
    shift
    ip netns exec "$(fab_ns "$name")" "$@" &
}

# Runs "command..." in host "X"'s network namespace but the machine's mount
# namespace.  "ip netns exec" remounts /sys for the namespace, which hides
# the machine's BPF filesystem at /sys/fs/bpf: pins made behind it would
# die with the process, so the agent always runs through here.
in_host() {
    local host=$1
    shift
    nsenter --net="/run/netns/$(fab_ns "host$host")" -- "$@"
}

# Prints host "X"'s number: A=1, B=2, ...
fab_host_index() {
    printf '%d' "$(( $(printf '%d' "'$1") - 64 ))"
}

# Prints host "X"'s VTEP (underlay) address.
fab_vtep() {
    echo "$FAB_UNDERLAY_NET.$(fab_host_index "$1")"
}

fab_instance() {
    fab_ns "host$1"
}

# ---------------------------------------------------------------------------
# Building the cloud.

# Checks prerequisites and creates the scratch directory FAB_TMP.
fab_init() {
    require_root
    require_cmd ip nsenter jq
    require_agent
    if [ -z "$FAB_TMP" ]; then
        FAB_TMP=$(mktemp -d "/tmp/fabric-$FAB_PREFIX.XXXXXX")
    fi
    mkdir -p "$FAB_TMP"
}

# Prepares a test run: fab_init, then the trap that cleans up on exit.
fab_setup() {
    fab_init
    trap fab_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Creates the underlay namespace and its bridge, MTU FAB_UNDERLAY_MTU.
fab_underlay() {
    local ns
    ns=$(fab_ns ul)
    ip netns add "$ns"
    in_ns ul ip link set lo up
    in_ns ul ip link add br0 mtu "$FAB_UNDERLAY_MTU" type bridge
    in_ns ul ip link set br0 up
}

# Plugs namespace "ns" into the underlay bridge: "ul0" inside it, with
# address "ip"/24 and MTU FAB_UNDERLAY_MTU; "peer" names the bridge side.
fab_underlay_plug() {
    local ns=$1 peer=$2 ip=$3
    ip link add ul0 netns "$ns" mtu "$FAB_UNDERLAY_MTU" type veth \
        peer name "$peer" netns "$(fab_ns ul)" mtu "$FAB_UNDERLAY_MTU"
    in_ns ul ip link set "$peer" master br0 up
    ip -n "$ns" addr add "$ip/24" dev ul0
    ip -n "$ns" link set ul0 up
}

# Creates host "X" (a single capital letter) on the underlay.
fab_host() {
    local host=$1 ns
    ns=$(fab_ns "host$host")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    fab_underlay_plug "$ns" "ul-$host" "$(fab_vtep "$host")"
    FAB_HOSTS+=("$host")
}

# Declares network "name" with "vni" and optionally "mtu" (otherwise the
# agent's default, underlay MTU - 50).
fab_network() {
    FAB_NETWORKS+=("$1")
    FAB_NET_VNI[$1]=$2
    FAB_NET_MTU[$1]=${3:-}
}

# Prints the MTU VMs on "network" get.
fab_net_mtu() {
    echo "${FAB_NET_MTU[$1]:-$(( FAB_UNDERLAY_MTU - FAB_VXLAN_OVERHEAD ))}"
}

# Creates VM "vmXN" (X = its host, N = a digit) on "network" with address
# "ip"/24, and optionally "mac" (default 02:00:00:00:0X:0N) and port
# security "true"|"false" (default true).  The VM's eth0 is one end of a
# veth pair; the other end, "vmXN-h", is the port in the host namespace.
fab_vm() {
    local vm=$1 network=$2 ip=$3 mac=${4:-} security=${5:-true}
    local host=${vm:2:1} n=${vm:3} ns mtu
    [ -n "${FAB_NET_VNI[$network]:-}" ] || fail "fab_vm $vm: no network $network"
    if [ -z "$mac" ]; then
        mac=$(printf '02:00:00:00:%02x:%02x' "$(fab_host_index "$host")" "$n")
    fi
    ns=$(fab_ns "$vm")
    mtu=$(fab_net_mtu "$network")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add eth0 netns "$ns" mtu "$mtu" address "$mac" type veth \
        peer name "$vm-h" netns "$(fab_ns "host$host")" mtu "$mtu"
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    in_host "$host" ip link set "$vm-h" up
    FAB_VMS+=("$vm")
    FAB_VM_HOST[$vm]=$host
    FAB_VM_NET[$vm]=$network
    FAB_VM_IP[$vm]=$ip
    FAB_VM_MAC[$vm]=$mac
    FAB_VM_SECURITY[$vm]=$security
}

# Adds a remote endpoint outside the fabric (say, a kernel VXLAN host) to
# host "X"'s document.
fab_remote() {
    local host=$1 network=$2 mac=$3 ip=$4 vtep=$5 obj
    obj=$(printf '{"network": "%s", "mac": "%s", "ip": "%s", "vtep": "%s"}' \
        "$network" "$mac" "$ip" "$vtep")
    FAB_EXTRA_REMOTES[$host]=${FAB_EXTRA_REMOTES[$host]:+${FAB_EXTRA_REMOTES[$host]}, }$obj
}

# Leaves VM "vm" out of every document from now on (its port and its
# remotes), or brings it back with "fab_exclude vm ''".
fab_exclude() {
    FAB_EXCLUDED[$1]=${2-1}
}

# Joins the remaining arguments with ",\n    ".
fab_json_join() {
    local first=1 item
    for item in "$@"; do
        if [ "$first" = 1 ]; then
            first=0
        else
            printf ',\n    '
        fi
        printf '%s' "$item"
    done
}

# Prints host "X"'s desired-state document.
fab_document() {
    local host=$1 vm net mtu
    local -a nets=() ports=() remotes=()
    local -A used=()

    for vm in "${FAB_VMS[@]}"; do
        if [ "${FAB_VM_HOST[$vm]}" = "$host" ] && [ -z "${FAB_EXCLUDED[$vm]:-}" ]; then
            used[${FAB_VM_NET[$vm]}]=1
        fi
    done
    # Networks with a local port, plus those of extra remotes.
    if [ -n "${FAB_EXTRA_REMOTES[$host]:-}" ]; then
        for net in "${FAB_NETWORKS[@]}"; do
            case ${FAB_EXTRA_REMOTES[$host]} in
            *"\"network\": \"$net\""*) used[$net]=1 ;;
            esac
        done
    fi
    for net in "${FAB_NETWORKS[@]}"; do
        [ -n "${used[$net]:-}" ] || continue
        mtu=${FAB_NET_MTU[$net]:-}
        nets+=("$(printf '{"name": "%s", "vni": %s%s}' "$net" \
            "${FAB_NET_VNI[$net]}" "${mtu:+, \"mtu\": $mtu}")")
    done
    for vm in "${FAB_VMS[@]}"; do
        [ -z "${FAB_EXCLUDED[$vm]:-}" ] || continue
        net=${FAB_VM_NET[$vm]}
        if [ "${FAB_VM_HOST[$vm]}" = "$host" ]; then
            ports+=("$(printf '{"name": "%s", "network": "%s", "device": "%s", "mac": "%s", "ip": "%s", "port_security": %s}' \
                "$vm" "$net" "$vm-h" "${FAB_VM_MAC[$vm]}" \
                "${FAB_VM_IP[$vm]}" "${FAB_VM_SECURITY[$vm]}")")
        elif [ -n "${used[$net]:-}" ]; then
            remotes+=("$(printf '{"network": "%s", "mac": "%s", "ip": "%s", "vtep": "%s"}' \
                "$net" "${FAB_VM_MAC[$vm]}" "${FAB_VM_IP[$vm]}" \
                "$(fab_vtep "${FAB_VM_HOST[$vm]}")")")
        fi
    done
    if [ -n "${FAB_EXTRA_REMOTES[$host]:-}" ]; then
        remotes+=("${FAB_EXTRA_REMOTES[$host]}")
    fi

    printf '{\n  "host": {"name": "host-%s", "vtep": "%s", "underlay": "ul0"},\n' \
        "$(echo "$host" | tr '[:upper:]' '[:lower:]')" "$(fab_vtep "$host")"
    printf '  "networks": [\n    %s\n  ],\n' "$(fab_json_join "${nets[@]}")"
    printf '  "ports": [\n    %s\n  ],\n' "$(fab_json_join "${ports[@]}")"
    printf '  "remotes": [\n    %s\n  ]\n}\n' "$(fab_json_join "${remotes[@]}")"
}

# Prints the path of host "X"'s document.
fab_state_file() {
    echo "$FAB_TMP/host$1.json"
}

# (Re)writes host "X"'s document from the current description.  Written
# to a temporary file and renamed, so an agent never reads half of it.
fab_write_state() {
    local file
    file=$(fab_state_file "$1")
    fab_document "$1" >"$file.new"
    jq -e . "$file.new" >/dev/null || fail "generated invalid JSON: $file.new"
    mv "$file.new" "$file"
}

# ---------------------------------------------------------------------------
# Agents.

fab_agent_pidfile() {
    echo "$FAB_TMP/host$1.pid"
}

fab_agent_log() {
    echo "$FAB_TMP/host$1.log"
}

# Prints the pid of host "X"'s agent, or nothing if it is not running.
fab_agent_pid() {
    local pidfile pid
    pidfile=$(fab_agent_pidfile "$1")
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
    fi
}

# Runs fabric-agent "args..." once in host "X" against its instance, e.g.
# "fab_agent_cmd A --show -o json".
fab_agent_cmd() {
    local host=$1
    shift
    in_host "$host" "$FABRIC_AGENT" -i "$(fab_instance "$host")" "$@"
}

# Starts host "X"'s agent as a daemon over its document, logging to
# fab_agent_log.  Extra "args..." are passed on.
fab_agent_start() {
    local host=$1
    shift
    fab_agent_spawn "$host" -s "$(fab_state_file "$host")" "$@"
}

# Starts host "X"'s agent as a daemon with "args..." and its instance,
# pidfile and log, and waits until it runs.
fab_agent_spawn() {
    local host=$1 pidfile log pid
    shift
    pidfile=$(fab_agent_pidfile "$host")
    log=$(fab_agent_log "$host")
    rm -f "$pidfile"
    echo "=== start $(date +%T.%N)" >>"$log"
    nsenter --net="/run/netns/$(fab_ns "host$host")" -- "$FABRIC_AGENT" \
        -i "$(fab_instance "$host")" --pidfile "$pidfile" -l debug "$@" \
        </dev/null >>"$log" 2>&1 &
    pid=$!
    # nsenter execs the agent, so $! is its pid; an agent that forks
    # into the background writes its own pid, which then wins.
    for _ in $(seq 50); do
        [ -s "$pidfile" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$pid" >"$pidfile"
        return 0
    fi
    tail -n 20 "$log" >&2
    fail "agent of host $host did not start (log: $log)"
}

# Stops host "X"'s agent with SIGTERM and waits until it has exited;
# returns 1 (after killing it) if it ignored SIGTERM for 5 s.
fab_agent_kill() {
    local host=$1 pid
    pid=$(fab_agent_pid "$host")
    [ -n "$pid" ] || return 0
    kill -TERM "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    rm -f "$(fab_agent_pidfile "$host")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "agent of host $host ignored SIGTERM for 5 s" >&2
        return 1
    fi
    wait "$pid" 2>/dev/null || true
}

fab_agent_stop() {
    fab_agent_kill "$1" || fail "agent of host $1 did not stop on SIGTERM"
}

# Sends SIGHUP to host "X"'s agent: re-read the document.
fab_agent_hup() {
    local pid
    pid=$(fab_agent_pid "$1")
    [ -n "$pid" ] || fail "agent of host $1 is not running"
    kill -HUP "$pid"
}

# Succeeds if host "X"'s datapath is configured and holds a port for every
# local VM its document lists, as "fabric-agent --show -o json" reports.
fab_agent_converged() {
    local host=$1 vm
    local -a macs=()
    for vm in "${FAB_VMS[@]}"; do
        if [ "${FAB_VM_HOST[$vm]}" = "$host" ] && [ -z "${FAB_EXCLUDED[$vm]:-}" ]; then
            macs+=("${FAB_VM_MAC[$vm]}")
        fi
    done
    fab_agent_cmd "$host" --show -o json 2>/dev/null \
        | jq -e --arg want "${macs[*]}" '
            .config != null and
            ([.ports[].mac | ascii_downcase] as $have
             | all($want | split(" ")[] | select(. != "");
                   . as $m | $have | index($m)))' >/dev/null
}

# Waits up to "timeout" seconds (default 10) until host "X"'s agent runs
# and has programmed its ports.
fab_agent_wait() {
    local host=$1 timeout=${2:-10}
    for _ in $(seq $(( timeout * 10 ))); do
        [ -n "$(fab_agent_pid "$host")" ] \
            || { tail -n 20 "$(fab_agent_log "$host")" >&2;
                 fail "agent of host $host exited"; }
        fab_agent_converged "$host" && return 0
        sleep 0.1
    done
    tail -n 20 "$(fab_agent_log "$host")" >&2
    fail "agent of host $host did not converge within ${timeout}s"
}

# Writes every host's document, starts every agent and waits for all.
fab_start_agents() {
    local host
    for host in "${FAB_HOSTS[@]}"; do
        fab_write_state "$host"
        fab_agent_start "$host"
    done
    for host in "${FAB_HOSTS[@]}"; do
        fab_agent_wait "$host"
    done
}

# Prints the JSON counters of VM "vm"'s port, from its host's
# "fabric-agent --show -o json": the first object that mentions the port's
# name or device and carries a "drops" member.
fab_port_json() {
    local vm=$1
    fab_agent_cmd "${FAB_VM_HOST[$vm]}" --show -o json \
        | jq -c --arg n "$vm" --arg d "$vm-h" \
            'first(.. | objects | select(has("drops") and
                   (.name == $n or .device == $d)))'
}

# Prints the drop counter "reason" (as named by the datapath, e.g.
# "spoofed-mac") of VM "vm"'s port; 0 if absent.
fab_port_drops() {
    fab_port_json "$1" | jq -r --arg r "$2" '.drops[$r] // 0'
}

# ---------------------------------------------------------------------------
# Assertions.

# Succeeds when "ns" (a node name) can ping "ip" within a few seconds: the
# first reply counts, so a path still being set up gets time to converge.
assert_ping_ok() {
    local ns=$1 ip=$2
    in_ns "$ns" ping -q -c 1 -w 5 -W 1 "$ip" >/dev/null 2>&1 \
        || fail "$ns cannot ping $ip"
    in_ns "$ns" ping -q -c 3 -i 0.1 -W 1 "$ip" >/dev/null 2>&1 \
        || fail "$ns reached $ip once but then lost pings"
}

# Succeeds when none of three pings from "ns" to "ip" gets a reply.
assert_ping_fails() {
    local ns=$1 ip=$2
    if in_ns "$ns" ping -q -c 3 -i 0.2 -W 1 "$ip" >/dev/null 2>&1; then
        fail "$ns can ping $ip, which it must not reach"
    fi
}

# Prints the MAC that node "ns" has in its neighbour table for "ip".
fab_neigh_mac() {
    in_ns "$1" ip neigh show to "$2" dev eth0 \
        | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }'
}

# Starts a capture of "filter" on the underlay bridge into "file", and
# waits until it is running; fab_capture_stop ends it.
fab_capture_start() {
    local file=$1 filter=$2
    rm -f "$file"
    in_ns_bg ul dumpcap -q -i br0 -f "$filter" -w "$file" >/dev/null 2>&1
    FAB_CAPTURE_PID=$!
    for _ in $(seq 50); do
        [ -s "$file" ] && return 0
        sleep 0.1
    done
    fail "capture on the underlay did not start"
}

fab_capture_stop() {
    sleep 0.5                    # Let the last frames reach the file.
    kill -INT "$FAB_CAPTURE_PID" 2>/dev/null || true
    wait "$FAB_CAPTURE_PID" 2>/dev/null || true
}

# Waits until something in node "ns" listens on "proto" ("tcp"|"udp")
# port "port".
fab_wait_listen() {
    local ns=$1 proto=$2 port=$3 flag=-ltn
    [ "$proto" = udp ] && flag=-lun
    for _ in $(seq 50); do
        in_ns "$ns" ss -H "$flag" "sport = :$port" | grep -q . && return 0
        sleep 0.1
    done
    fail "$ns: nothing listens on $proto port $port"
}

# Sends "bytes" (default 1 MiB) of random data over TCP from node "from"
# to "ip" port 5001 while node "to" listens there, and fails unless "to"
# received exactly those bytes.  If "other" is given, it listens too and
# must receive nothing (it has the same address in another network).
fab_tcp_check() {
    local from=$1 ip=$2 to=$3 bytes=${4:-1048576} other=${5:-} pid opid=
    local in=$FAB_TMP/tcp.in out=$FAB_TMP/tcp.out oout=$FAB_TMP/tcp.other
    head -c "$bytes" /dev/urandom >"$in"
    rm -f "$out" "$oout"
    in_ns_bg "$to" timeout 30 nc -l 5001 >"$out"
    pid=$!
    if [ -n "$other" ]; then
        in_ns_bg "$other" timeout 30 nc -l 5001 >"$oout"
        opid=$!
        fab_wait_listen "$other" tcp 5001
    fi
    fab_wait_listen "$to" tcp 5001
    in_ns "$from" timeout 30 nc -N "$ip" 5001 <"$in" \
        || fail "$from: TCP to $ip:5001 failed"
    wait "$pid" || fail "$to: TCP receiver failed"
    cmp -s "$in" "$out" \
        || fail "$to received $(stat -c %s "$out") bytes from $from, not the $bytes sent"
    if [ -n "$opid" ]; then
        kill "$opid" 2>/dev/null || true
        wait "$opid" 2>/dev/null || true
        [ ! -s "$oout" ] || fail "$other (another network) received TCP data from $from"
    fi
}

# Sends a few UDP datagrams from node "from" to "ip" port 5002 while node
# "to" listens there, and fails unless "to" received their payload.
fab_udp_check() {
    local from=$1 ip=$2 to=$3 pid msg out=$FAB_TMP/udp.out
    msg="fabric-udp-$RANDOM-$(head -c 600 /dev/urandom | base64 -w0)"
    rm -f "$out"
    in_ns_bg "$to" timeout 10 nc -u -l 5002 >"$out"
    pid=$!
    fab_wait_listen "$to" udp 5002
    for _ in $(seq 10); do
        echo "$msg" | in_ns "$from" nc -u -w 1 "$ip" 5002 >/dev/null 2>&1 || true
        grep -qF "$msg" "$out" && break
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -qF "$msg" "$out" || fail "$to did not receive UDP from $from"
}

# ---------------------------------------------------------------------------
# Real VMs: QEMU guests of the test image (scripts/build-test-image), run
# by the agents from a storage directory in FAB_TMP.

FAB_STORAGE=${FAB_STORAGE:-}      # The storage directory, once made
                                  # ($FAB_TMP/storage, the controller's):
                                  # agents started here then share it.
FAB_VM_ACCEL=${FAB_VM_ACCEL:-tcg} # How agents started here run guests:
                                  # TCG works everywhere, without waiting
                                  # for the KVM probe.
FAB_VM_BOOT_TIMEOUT=${FAB_VM_BOOT_TIMEOUT:-180} # Seconds for a guest to
                                  # boot: TCG on a loaded machine is slow.

# Checks that guests can run here, builds the test image (cached) into
# FAB_VM_IMAGE and makes FAB_STORAGE; with "copy", the image is copied
# there as images/tiny.qcow2 (a standalone agent's document names it; the
# controller writes its own images).
fab_vm_init() {
    require_cmd qemu-system-x86_64 qemu-img genisoimage
    FAB_VM_IMAGE=$(top_builddir=$top_builddir "$top_srcdir/scripts/build-test-image") \
        || fail "scripts/build-test-image failed"
    FAB_STORAGE=$FAB_TMP/storage
    mkdir -p "$FAB_STORAGE"
    if [ "${1:-}" = copy ]; then
        mkdir -p "$FAB_STORAGE/images" "$FAB_STORAGE/vms"
        cp "$FAB_VM_IMAGE" "$FAB_STORAGE/images/tiny.qcow2"
    fi
}

# Prints the run directory of host "X"'s agent's VMs (its default).
fab_vm_run_dir() {
    echo "/run/fabric/$(fab_instance "$1")/vms"
}

# Prints the pid of the QEMU of VM "name" that host "X"'s agent runs, or
# nothing if there is none (the QEMU driver's pidfile, checked alive).
fab_qemu_pid() {
    local host=$1 name=$2 pid file
    file=$(fab_vm_run_dir "$host")/driver/$name/pid
    [ -s "$file" ] || return 0
    pid=$(tr -d ' \n' <"$file")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
    fi
}

# Prints the serial console so far of VM "name" on host "X".
fab_vm_console() {
    cat "$(fab_vm_run_dir "$1")/driver/$2/console.log" 2>/dev/null || true
}

# Waits until the console of VM "name" on host "X" has "count" (default
# 1) lines that match the test image's "fabric-test-image: up" or "dhcp
# failed", and prints the last.
fab_vm_wait_up() {
    local host=$1 name=$2 count=${3:-1}
    local deadline=$(( SECONDS + FAB_VM_BOOT_TIMEOUT )) lines
    while :; do
        lines=$(fab_vm_console "$host" "$name" | tr -d '\r' \
            | grep -E '^fabric-test-image: (up|dhcp failed)' || true)
        if [ -n "$lines" ] && [ "$(wc -l <<<"$lines")" -ge "$count" ]; then
            tail -n 1 <<<"$lines"
            return 0
        fi
        [ "$SECONDS" -lt "$deadline" ] || {
            fab_vm_console "$host" "$name" | tail -n 20 >&2
            fail "VM $name on host $host did not boot ($count) within ${FAB_VM_BOOT_TIMEOUT}s"
        }
        sleep 0.5
    done
}

# ---------------------------------------------------------------------------
# Plain Linux VXLAN hosts, built the same way as fabric hosts but switching
# with a Linux bridge and a kernel "vxlan" device per network.  Used for
# interoperability tests and as the benchmark's baseline.

# Creates node "name" on the underlay with address "ip".
fab_kernel_host() {
    local name=$1 ip=$2 ns
    ns=$(fab_ns "$name")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    fab_underlay_plug "$ns" "ul-$name" "$ip"
}

# Adds to kernel host "name" bridge "br-vni" with device "vx-vni" for
# "vni", leaving by VTEP address "local", MTU "mtu".  The device never
# learns: fab_kernel_remote tells it where MACs are.
fab_kernel_network() {
    local name=$1 vni=$2 local_ip=$3 mtu=$4
    in_ns "$name" ip link add "br-$vni" mtu "$mtu" type bridge
    in_ns "$name" ip link add "vx-$vni" mtu "$mtu" type vxlan id "$vni" \
        local "$local_ip" dstport 4789 nolearning dev ul0
    in_ns "$name" ip link set "vx-$vni" master "br-$vni" up
    in_ns "$name" ip link set "br-$vni" up
}

# Creates VM "vm" plugged into kernel host "name"'s bridge for "vni":
# eth0 with "mac", "ip"/24 and "mtu".
fab_kernel_vm() {
    local name=$1 vm=$2 vni=$3 ip=$4 mac=$5 mtu=$6 ns
    ns=$(fab_ns "$vm")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add eth0 netns "$ns" mtu "$mtu" address "$mac" type veth \
        peer name "$vm-h" netns "$(fab_ns "$name")" mtu "$mtu"
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    in_ns "$name" ip link set "$vm-h" master "br-$vni" up
}

# Tells kernel host "name" that "mac" in "vni" is behind "vtep", and adds
# "vtep" to the VNI's flood list (once).
fab_kernel_remote() {
    local name=$1 vni=$2 mac=$3 vtep=$4
    in_ns "$name" bridge fdb replace "$mac" dev "vx-$vni" dst "$vtep" \
        static self permanent
    if ! in_ns "$name" bridge fdb show dev "vx-$vni" \
        | grep -q "^00:00:00:00:00:00 dst $vtep "; then
        in_ns "$name" bridge fdb append 00:00:00:00:00:00 dev "vx-$vni" \
            dst "$vtep" self permanent
    fi
}

# ---------------------------------------------------------------------------
# Teardown.

# Tears down everything of prefix FAB_PREFIX: stops the agents (pidfiles in
# FAB_TMP), kills whatever else runs in our namespaces, purges the agent
# instances and deletes the namespaces.  Safe to run any number of times.
# ---------------------------------------------------------------------------
# The controller.

# Runs fabricctl against this run's controller (fab_controller_start sets
# FABRIC_CONTROLLER and FABRIC_TOKEN_FILE).
fabctl() {
    "$FABRICCTL" "$@"
}

# Joins the machine's namespace and every host created so far to the
# control network (see FAB_CONTROL_NET).
fab_control_network() {
    local host link="$FAB_PREFIX-ctl0"
    ip link add "$link" type veth peer name ul-ctl netns "$(fab_ns ul)"
    in_ns ul ip link set ul-ctl master br0 up
    ip addr add "$FAB_CONTROL_NET.254/24" dev "$link"
    ip link set "$link" up
    for host in "${FAB_HOSTS[@]}"; do
        ip -n "$(fab_ns "host$host")" addr add \
            "$FAB_CONTROL_NET.$(fab_host_index "$host")/24" dev ul0
    done
}

# Starts fabric-controller on the control network with its database in
# FAB_TMP and the options of the array FAB_CONTROLLER_ARGS (if set), waits
# until it is ready and points fabctl at it.
fab_controller_start() {
    local url="http://$FAB_CONTROL_NET.254:$FAB_CONTROL_PORT"
    [ -x "$FABRIC_CONTROLLER_BIN" ] || fail "$FABRIC_CONTROLLER_BIN not built"
    # Another controller there (a demo left running, say) would answer in
    # ours' stead.
    if curl -sf "$url/healthz" >/dev/null 2>&1; then
        fail "something already answers at $url (scripts/demo down?)"
    fi
    echo "=== start $(date +%T.%N)" >>"$FAB_TMP/controller.log"
    "$FABRIC_CONTROLLER_BIN" --listen "$FAB_CONTROL_NET.254:$FAB_CONTROL_PORT" \
        --db "$FAB_TMP/controller.db" --storage "$FAB_TMP/storage" \
        --bootstrap-token-file "$FAB_TMP/admin.token" \
        --ui-dir "$FAB_UI_DIR" \
        ${FAB_CONTROLLER_ARGS+"${FAB_CONTROLLER_ARGS[@]}"} \
        </dev/null >>"$FAB_TMP/controller.log" 2>&1 &
    echo $! >"$FAB_TMP/controller.pid"
    for _ in $(seq 50); do
        if curl -sf "$url/readyz" >/dev/null 2>&1; then
            export FABRIC_CONTROLLER=$url
            export FABRIC_TOKEN_FILE=$FAB_TMP/admin.token
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$FAB_TMP/controller.log" >&2
    fail "fabric-controller did not become ready"
}

# Stops the controller with SIGTERM and waits for it.
fab_controller_stop() {
    local pid
    [ -s "$FAB_TMP/controller.pid" ] || return 0
    pid=$(cat "$FAB_TMP/controller.pid")
    rm -f "$FAB_TMP/controller.pid"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Prints host "X"'s name in the API, where names are lower case: host-x.
fab_api_host() {
    echo "host-${1,,}"
}

# Starts host "X"'s agent in controller mode with a token of its own and
# "args..." more; its API (metrics, traces) listens on the control network.
fab_agent_start_controlled() {
    local host=$1 token_file="$FAB_TMP/host$1.token" name
    shift
    name=$(fab_api_host "$host")
    if [ ! -s "$token_file" ]; then
        fabctl -o json token create "$name-agent" --role agent \
            --host "$name" | jq -r .token >"$token_file"
        chmod 600 "$token_file"
    fi
    fab_agent_spawn "$host" --controller "$FABRIC_CONTROLLER" \
        --token-file "$token_file" --host "$name" --underlay ul0 \
        --vtep "$(fab_vtep "$host")" \
        --state-cache "$FAB_TMP/host$host-state.json" \
        --metrics "$FAB_CONTROL_NET.$(fab_host_index "$host"):$FAB_AGENT_PORT" \
        ${FAB_STORAGE:+--storage "$FAB_STORAGE" --accel "$FAB_VM_ACCEL"} \
        "$@"
}

# Creates port "vmxn" (VM "vmXN" in lower case, as API names are) in
# "network" through the API, placed on host X, with "args..." more for
# "fabricctl port create" (--ip, --label, --security-group; else the
# controller allocates the address), then the VM with the MAC and IP the
# port got.
fab_vm_from_api() {
    local vm=$1 network=$2 json
    shift 2
    json=$(fabctl -o json port create "${vm,,}" --network "$network" \
        --host "$(fab_api_host "${vm:2:1}")" --device "$vm-h" "$@")
    fab_vm "$vm" "$network" "$(jq -r .ip <<<"$json")" "$(jq -r .mac <<<"$json")"
}

# Builds hosts "hosts..." on an underlay with the control network, starts
# the controller there and points fabctl at it, with nothing from the
# caller's environment steering fabricctl.  The agents are the caller's.
# What the controller answers anyone (fabricctl, agents, curl) is captured
# and checked against controller/openapi.json when the story ends.
fab_controlled_cloud() {
    local host
    unset FABRIC_CONTROLLER FABRIC_TOKEN FABRIC_TOKEN_FILE FABRIC_CACERT
    # Every answer the controller gives is captured, and fab_cleanup holds
    # them against controller/openapi.json once the story passed.
    # shellcheck source-path=SCRIPTDIR
    . "$fab_lib_dir/openapi.sh"
    openapi_require
    require_cmd dumpcap tshark
    fab_underlay
    for host in "$@"; do
        fab_host "$host"
    done
    fab_control_network
    openapi_capture_start "" "$FAB_CONTROL_PORT" "$FAB_TMP/controller.pcapng" \
        "$FAB_CONTROL_NET.254"
    fab_controller_start
}

# The firewall's two-host cloud (fab_controlled_cloud A B, both agents
# running): network blue (VNI 100, 10.0.0.0/24) and security groups web
# (tier=web), which may send anything, and db (tier=db), which takes
# nothing until the caller adds its rules.
fab_web_db_cloud() {
    fab_controlled_cloud A B
    fab_agent_start_controlled A
    fab_agent_start_controlled B
    fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
    fab_network blue 100
    fabctl sg create web --selector tier=web >/dev/null
    fabctl sg create db --selector tier=db >/dev/null
    fabctl sg rule add web --direction egress --protocol any --action allow \
        >/dev/null
}

# Waits up to "seconds" (default 10) until the controller reports every
# port up.
fab_ports_up_wait() {
    local deadline=$(( SECONDS + ${1:-10} )) down
    while :; do
        down=$(fabctl -o json port list | jq '[.[] | select(.status != "up")] | length')
        [ "$down" = 0 ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || fail "$down port(s) not up"
        sleep 0.2
    done
}

fab_teardown() {
    local ns pid pidfile inst host
    fab_controller_stop
    for pidfile in "$FAB_TMP"/host*.pid; do
        [ -e "$pidfile" ] || continue
        host=${pidfile##*/host}
        host=${host%.pid}
        fab_agent_kill "$host" || true
    done
    for ns in $(ip netns list | awk '{print $1}'); do
        case $ns in
        "$FAB_PREFIX"-*)
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                kill -KILL "$pid" 2>/dev/null || true
            done
            ;;
        esac
    done
    for inst in /sys/fs/bpf/"$FAB_PREFIX"-host*; do
        [ -e "$inst" ] || continue
        inst=${inst##*/}
        host=${inst#"$FAB_PREFIX"-host}
        if [ -e "/run/netns/$inst" ]; then
            in_host "$host" "$FABRIC_AGENT" --purge -i "$inst" >/dev/null 2>&1 || true
        else
            "$FABRIC_AGENT" --purge -i "$inst" >/dev/null 2>&1 || true
        fi
        if [ -e "/sys/fs/bpf/$inst" ]; then
            echo "warning: --purge left /sys/fs/bpf/$inst behind; removing" >&2
            rm -rf "/sys/fs/bpf/${inst:?}"
        fi
    done
    for ns in $(ip netns list | awk '{print $1}'); do
        case $ns in
        "$FAB_PREFIX"-*) ip netns del "$ns" 2>/dev/null || true ;;
        esac
    done
}

# The EXIT trap of a test: on failure shows the agents' logs, then tears
# down and removes the scratch directory.
fab_cleanup() {
    local rc=$? log
    trap - EXIT
    set +e
    # A story that passed still fails if the controller's answers in it
    # drifted from its API document (fab_controlled_cloud captured them).
    if [ "$rc" -eq 0 ] && [ -n "${OPENAPI_CAPTURE_PID:-}" ]; then
        say "every answer the controller gave conforms to controller/openapi.json"
        openapi_capture_check || rc=1
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$FAB_TMP" ]; then
        for log in "$FAB_TMP"/host*.log; do
            [ -e "$log" ] || continue
            echo "=== last lines of $log" >&2
            tail -n 15 "$log" >&2
        done
    fi
    if [ "$rc" -ne 0 ] && [ -n "$FAB_HOLD" ] && [ -r /dev/tty ]; then
        echo "holding the failed setup (namespaces $FAB_PREFIX-*, files" \
            "in $FAB_TMP); press Enter to tear it down" >&2
        read -r _ </dev/tty || true
    fi
    jobs -p | xargs -r kill 2>/dev/null
    fab_teardown
    if [ -n "$FAB_TMP" ] && [ -z "$FAB_KEEP_TMP" ]; then
        rm -rf "$FAB_TMP"
    fi
    exit "$rc"
}

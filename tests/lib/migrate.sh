# shellcheck shell=bash
# The cloud of a live migration and its probes, shared by
# tests/integration/migrate.sh and bench/migration.sh.  Source it after
# tests/lib/common.sh.
#
#   host A, B: the guest web1 (the test image, 10.0.0.11, security group
#           "web") starts on A and moves between them
#   vmA1:   a netns endpoint on A in "blue" (10.0.0.40, group "client")
#   vmC1:   a netns endpoint on host C (10.0.0.50, group "client"), the
#           third host the probes run from
#
# "web" is default-deny on ingress and lets group "client" in on port 7,
# UDP (udpseq's echo in the guest) and TCP (busybox's echo), and ICMP.
# A TCP segment without its SYN that no conntrack entry knows is dropped
# (doc/firewall.md), so a TCP connection outlives a migration only if its
# conntrack entry moved with the guest.

MIG_IP=10.0.0.11           # web1's address.
MIG_PORT=7                 # The guest's echo, UDP and TCP.
MIG_UDPSEQ=${MIG_UDPSEQ:-$top_builddir/tests/tools/udpseq}
MIG_DOWNTIME_LIMIT=300     # QEMU's downtime-limit, ms: the API's default.

# Builds the cloud above with the controller and three agents, up to
# web1, which mig_boot starts.
mig_cloud() {
    local n
    [ -x "$MIG_UDPSEQ" ] || fail "$MIG_UDPSEQ not built: run \"make\" first"
    fab_vm_init
    fab_controlled_cloud A B C
    fab_agent_start_controlled A
    fab_agent_start_controlled B
    fab_agent_start_controlled C
    for _ in $(seq 100); do
        n=$(fabctl -o json host list \
            | jq '[.[] | select(.hypervisor.driver == "qemu"
                                and (.capacity.disk_gb // 0) > 0)] | length')
        [ "$n" = 3 ] && break
        sleep 0.2
    done
    [ "$n" = 3 ] || fail "only $n hosts report a hypervisor and disk capacity"

    fabctl network create blue --cidr 10.0.0.0/24 --vni 100 >/dev/null
    fab_network blue 100
    fabctl image create tiny --file "$FAB_VM_IMAGE" >/dev/null
    fabctl sg create web >/dev/null
    fabctl sg create client >/dev/null
    fabctl sg rule add web --direction ingress --protocol udp \
        --ports "$MIG_PORT" --peer-group client --action allow >/dev/null
    fabctl sg rule add web --direction ingress --protocol tcp \
        --ports "$MIG_PORT" --peer-group client --action allow >/dev/null
    fabctl sg rule add web --direction ingress --protocol icmp \
        --peer-group client --action allow >/dev/null
    fab_vm_from_api vmA1 blue --ip 10.0.0.40 --security-group client
    fab_vm_from_api vmC1 blue --ip 10.0.0.50 --security-group client
}

# Boots web1 on host A with "args..." more for "fabricctl vm create",
# waits until its echo answers vmC1, and sets MIG_MAC and MIG_UUID to its
# NIC's MAC and its UUID.
mig_boot() {
    local deadline
    fabctl vm create web1 --network "blue,ip=$MIG_IP,sg=web" --vcpus 1 \
        --memory 128M --image tiny --host host-a "$@" >/dev/null
    deadline=$(( SECONDS + FAB_VM_BOOT_TIMEOUT ))
    until [ "$(fabctl -o json vm show web1 | jq -r .status)" = running ]; do
        [ "$SECONDS" -lt "$deadline" ] \
            || fail "web1 is not running: $(fabctl -o json vm show web1 | jq -c '{status, status_reason}')"
        sleep 0.5
    done
    fab_vm_wait_up A web1 | grep -q "^fabric-test-image: up web1 $MIG_IP" \
        || fail "web1 did not get $MIG_IP: $(fab_vm_console A web1 | tail -n 3)"
    MIG_MAC=$(fabctl -o json port show web1-0 | jq -r .mac)
    MIG_UUID=$(fabctl -o json vm show web1 | jq -r .uuid)
    mig_wait_echo vmC1
}

# Waits until web1's UDP echo answers node "ns" (the guest's echo starts
# with its init, before its address).
mig_wait_echo() {
    local ns=$1 r
    for _ in $(seq 30); do
        r=$(in_ns "$ns" "$MIG_UDPSEQ" send "$MIG_IP:$MIG_PORT" -d 1 -w 500 -j)
        [ "$(jq -r .received <<<"$r")" -gt 0 ] && return 0
    done
    fail "web1's UDP echo does not answer $ns: $r"
}

# Starts the probes from vmC1 through web1: the 1 ms UDP stream into
# $FAB_TMP/udp.json and a TCP connection (a record every 10 ms) into
# $FAB_TMP/tcp.json, until mig_probe_stop; waits until both flow.
mig_probe_start() {
    rm -f "$FAB_TMP/udp.json" "$FAB_TMP/tcp.json"
    in_ns_bg vmC1 "$MIG_UDPSEQ" send "$MIG_IP:$MIG_PORT" -d 0 -j \
        >"$FAB_TMP/udp.json"
    MIG_UDP_PID=$!
    in_ns_bg vmC1 "$MIG_UDPSEQ" tcp "$MIG_IP:$MIG_PORT" -d 0 -w 5000 -j \
        >"$FAB_TMP/tcp.json"
    MIG_TCP_PID=$!
    for _ in $(seq 50); do
        in_ns vmC1 ss -Htn state established "dport = :$MIG_PORT" | grep -q . \
            && break
        sleep 0.1
    done
    in_ns vmC1 ss -Htn state established "dport = :$MIG_PORT" | grep -q . \
        || fail "the TCP probe did not connect to web1"
    sleep 1
}

# Stops the probes (each waits for its last echoes) and sets MIG_UDP and
# MIG_TCP to their reports; MIG_TCP_RC is the TCP probe's exit status (0:
# every record came back in order on the one connection).
# shellcheck disable=SC2034 # The caller's.
mig_probe_stop() {
    kill -TERM "$MIG_UDP_PID" "$MIG_TCP_PID" 2>/dev/null || true
    wait "$MIG_UDP_PID" || fail "the UDP probe failed"
    MIG_TCP_RC=0
    wait "$MIG_TCP_PID" || MIG_TCP_RC=$?
    MIG_UDP=$(cat "$FAB_TMP/udp.json")
    MIG_TCP=$(cat "$FAB_TMP/tcp.json")
}

# Migrates web1 to host "X" with "args..." more for "fabricctl vm
# migrate", waits for it, and sets MIG_DOWNTIME_MS and MIG_TOTAL_MS to
# what QEMU reported and MIG_WALL_MS to how long fabricctl took.
mig_migrate() {
    local to=$1 start vm
    shift
    start=$EPOCHREALTIME
    fabctl vm migrate web1 --to "$(fab_api_host "$to")" --wait \
        --timeout 120 --downtime-ms "$MIG_DOWNTIME_LIMIT" "$@" >/dev/null \
        || fail "web1's migration to host $to failed: $(fabctl -o json vm show web1 | jq -c '{host, status, migration}')"
    MIG_WALL_MS=$(awk -v a="$start" -v b="$EPOCHREALTIME" \
        'BEGIN { printf "%d", (b - a) * 1000 }')
    vm=$(fabctl -o json vm show web1)
    [ "$(jq -r .host <<<"$vm")" = "$(fab_api_host "$to")" ] \
        || fail "web1 migrated but is on $(jq -r .host <<<"$vm"), not host $to"
    [ "$(jq -r .migration.state <<<"$vm")" = completed ] \
        || fail "web1's last migration is not completed: $(jq -c .migration <<<"$vm")"
    # The destination's activation completes the migration; QEMU's
    # figures come with the source's report, which may come just after.
    for _ in $(seq 100); do
        MIG_DOWNTIME_MS=$(jq -r '.migration.result.downtime_ms' <<<"$vm")
        [[ $MIG_DOWNTIME_MS =~ ^[0-9]+$ ]] && break
        sleep 0.1
        vm=$(fabctl -o json vm show web1)
    done
    MIG_TOTAL_MS=$(jq -r '.migration.result.total_ms' <<<"$vm")
    [[ $MIG_DOWNTIME_MS =~ ^[0-9]+$ ]] \
        || fail "web1's migration reports no downtime: $(jq -c .migration <<<"$vm")"
}

# Prints the datagrams of MIG_UDP lost beyond QEMU's downtime: at one
# datagram a millisecond, the guest's pause costs MIG_DOWNTIME_MS of them.
mig_lost_beyond() {
    local lost
    lost=$(jq -r .lost <<<"$MIG_UDP")
    echo $(( lost > MIG_DOWNTIME_MS ? lost - MIG_DOWNTIME_MS : 0 ))
}

# Prints the drop counters of every host's datapath that are not 0, to
# tell where the datagrams a migration lost were dropped.
mig_drops() {
    local host
    for host in A B C; do
        echo "host $host drops: $(fab_agent_cmd "$host" --show -o json \
            | jq -c '[.. | objects | select(has("drops"))
                      | {(.name // .device // "?"): (.drops | with_entries(select(.value > 0)))}
                      | select(.[] != {})] | add // {}')"
    done
}

# Prints the sum of every drop counter of every host's datapath.  A
# port's counters go with it: after a migration the source's port of the
# VM no longer counts, so a difference may even be negative.
mig_drops_total() {
    local host total=0 n
    for host in A B C; do
        n=$(fab_agent_cmd "$host" --show -o json \
            | jq '[.. | objects | select(has("drops")) | .drops[]] | add // 0')
        total=$(( total + n ))
    done
    echo "$total"
}

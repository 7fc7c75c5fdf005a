# DHCP clients for the integration tests: busybox udhcpc in a netns VM,
# its events logged.  Sourced after tests/lib/common.sh.

# Writes udhcpc's event script to $FAB_TMP/udhcpc.script, once: it logs
# each event with what the server said to $UDHCPC_LOG and configures eth0
# as the lease says.
dhcp_script() {
    local script=$FAB_TMP/udhcpc.script
    [ -x "$script" ] && { echo "$script"; return 0; }
    cat >"$script" <<'EOF'
#!/bin/sh
{
    echo "event=$1"
    for v in ip mask subnet mtu hostname dns serverid lease router; do
        eval "echo $v=\${$v:-}"
    done
} >>"$UDHCPC_LOG"
case $1 in
bound)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -z "${mtu:-}" ] || ip link set "$interface" mtu "$mtu"
    ;;
renew)
    # A flush would take the neighbour table with it.
    ip addr replace "$ip/$mask" dev "$interface"
    ;;
esac
EOF
    chmod +x "$script"
    echo "$script"
}

# Runs udhcpc once in "vm" until it has a lease (or gives up after 4
# DISCOVERs a second apart), logging to "log"; fails as udhcpc does.
dhcp_once() {
    local vm=$1 log=$2 script
    script=$(dhcp_script)
    : >"$log"
    in_ns "$vm" ip addr flush dev eth0
    in_ns "$vm" env UDHCPC_LOG="$log" timeout 30 \
        busybox udhcpc -f -q -n -t 4 -T 1 -i eth0 -s "$script" >/dev/null 2>&1
}

# Starts udhcpc in "vm" in the background, logging to "log", and waits for
# its lease; DHCP_PID is its pid (SIGUSR1 renews).
dhcp_start() {
    local vm=$1 log=$2 script
    script=$(dhcp_script)
    : >"$log"
    in_ns_bg "$vm" env UDHCPC_LOG="$log" busybox udhcpc -f -t 4 -T 1 \
        -i eth0 -s "$script" >/dev/null 2>&1
    DHCP_PID=$!
    dhcp_wait_event "$log" bound
}

# Waits up to 10 s for event "event" in udhcpc log "log".
dhcp_wait_event() {
    for _ in $(seq 100); do
        grep -q "^event=$2" "$1" && return 0
        sleep 0.1
    done
    fail "udhcpc logged no $2 event: $(cat "$1")"
}

# Renews the lease of the udhcpc DHCP_PID logging to "log" (a unicast
# REQUEST to the server) and waits for the answer.
dhcp_renew() {
    : >"$1"
    kill -USR1 "$DHCP_PID"
    dhcp_wait_event "$1" renew
}

# Stops the udhcpc DHCP_PID.
dhcp_stop() {
    kill "$DHCP_PID" 2>/dev/null || true
    wait "$DHCP_PID" 2>/dev/null || true
}

# Prints the value of "key" in the last event of udhcpc log "log".
lease_of() {
    awk -F= -v k="$2" '$1 == "event" { n++ }
        $1 == k && n { v = substr($0, length(k) + 2) } END { print v }' "$1"
}

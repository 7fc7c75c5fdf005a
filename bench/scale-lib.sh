# bench/scale-lib.sh: what bench/scale.sh and tests/controller/fake-agents.sh
# share: a fabric-controller of their own on 127.0.0.1, a fabric of
# simulated hosts (bench/fake-agents) laid out in blocks, port changes, and
# who received each change when.  Sourced; the caller sets SCALE_TMP (a
# directory of its own) and top_builddir, and defines fail().
#
# The layout, for H hosts, M networks per host, K hosts per network and Q
# ports per network and host: the hosts form blocks of K, and each block
# has M networks of its own, each with Q ports on every host of the block.
# So there are H*M/K networks and H*M*Q ports; each host's document has
# M*Q ports and M*(K-1)*Q remotes; and a port's change concerns the K
# hosts of its block.  Hosts are fake-00000..., networks net-00000...,
# ports p00000000...

# The controller, its URL and its token once scale_controller_start ran.
SCALE_PID=
SCALE_URL=
SCALE_TOKEN=
# bench/fake-agents, once scale_fake_start ran.
SCALE_FAKE_PID=

# Starts fabric-controller with its store in $SCALE_TMP and the connection
# limits a thousand hosts on one address need, plus the arguments given.
scale_controller_start() {
    local log=$SCALE_TMP/controller.log port
    "$top_builddir/controller/fabric-controller" --listen 127.0.0.1:0 \
        --db "$SCALE_TMP/controller.db" --storage "$SCALE_TMP/storage" \
        --bootstrap-token-file "$SCALE_TMP/admin.token" \
        --max-connections 8192 --max-connections-per-address 8192 \
        --heartbeat-timeout 60 "$@" </dev/null >"$log" 2>&1 &
    SCALE_PID=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/.*serving HTTP on .* port \([0-9]*\),.*/\1/p' "$log")
        [ -n "$port" ] && break
        kill -0 "$SCALE_PID" 2>/dev/null || fail "the controller died: $(tail -5 "$log")"
        sleep 0.1
    done
    [ -n "$port" ] || fail "the controller did not listen: $(tail -5 "$log")"
    SCALE_URL=http://127.0.0.1:$port
    SCALE_TOKEN=$(cat "$SCALE_TMP/admin.token")
}

# Stops the controller and fake-agents, if running.
scale_stop() {
    if [ -n "$SCALE_FAKE_PID" ]; then
        kill -TERM "$SCALE_FAKE_PID" 2>/dev/null
        wait "$SCALE_FAKE_PID" 2>/dev/null
        SCALE_FAKE_PID=
    fi
    if [ -n "$SCALE_PID" ]; then
        kill -TERM "$SCALE_PID" 2>/dev/null
        wait "$SCALE_PID" 2>/dev/null
        SCALE_PID=
    fi
}

# Prints the controller's resident memory in KiB.
scale_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$SCALE_PID/status"
}

# Prints the controller's metric $1.
scale_metric() {
    curl -sf "$SCALE_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# Sends the requests of curl config file $1 (made by scale_request) over a
# few kept-alive connections at once; fails unless every answer is $2.
scale_send() {
    local config=$1 expect=$2 bad
    # Each request ends with "next", which must not end the file.
    sed -i '$d' "$config"
    curl -sS --no-progress-meter --parallel --parallel-max 4 -K "$config" \
        >"$config.codes" || fail "curl failed on $config"
    bad=$(grep -vc "^$expect\$" "$config.codes" || true)
    [ "$bad" = 0 ] || fail "$bad request(s) of $config answered other than $expect: $(sort "$config.codes" | uniq -c | tr '\n' ' ')"
}

# Appends to curl config file $4 a request $1 (method) $2 (path) with
# JSON body $3, sent again on a 503 (a store busy with a thousand hosts'
# reports refuses a transaction it could not begin: nothing was done).
scale_request() {
    printf 'url = "%s%s"\nrequest = "%s"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata = "%s"\nretry = 5\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
        "$SCALE_URL" "$2" "$1" "$SCALE_TOKEN" "${3//\"/\\\"}" >>"$4"
}

# Registers the hosts, networks and ports of the layout H=$1 M=$2 K=$3
# Q=$4 (see above).  The hosts register as bench/fake-agents will (same
# VTEPs), as agents did long ago: when the fake ones register again, their
# VTEPs change nothing in the others' documents.
scale_populate() {
    local hosts=$1 m=$2 k=$3 q=$4 n net block h i body seq=0
    local nets=$(( hosts * m / k ))
    : >"$SCALE_TMP/hosts.curl"
    for (( h = 0; h < hosts; h++ )); do
        n=$(( h + 1 ))
        printf -v body '{"name": "fake-%05d", "vtep": "10.%d.%d.%d", "underlay": "fake0", "capacity": {"vcpus": 8, "memory_mb": 16384}, "limits": {"flood_members": 256, "underlay_mtu": 1500}}' \
            "$h" $(( (n >> 16) & 255 )) $(( (n >> 8) & 255 )) $(( n & 255 ))
        scale_request POST /v1/hosts "$body" "$SCALE_TMP/hosts.curl"
    done
    scale_send "$SCALE_TMP/hosts.curl" 201
    : >"$SCALE_TMP/networks.curl"
    for (( n = 0; n < nets; n++ )); do
        printf -v net 'net-%05d' "$n"
        scale_request POST /v1/networks \
            "{\"name\": \"$net\", \"cidr\": \"100.$(( 64 + n / 256 )).$(( n % 256 )).0/24\", \"vni\": $(( 10000 + n ))}" \
            "$SCALE_TMP/networks.curl"
    done
    scale_send "$SCALE_TMP/networks.curl" 201
    : >"$SCALE_TMP/ports.curl"
    for (( n = 0; n < nets; n++ )); do
        printf -v net 'net-%05d' "$n"
        block=$(( n / m ))
        for (( h = block * k; h < (block + 1) * k; h++ )); do
            for (( i = 0; i < q; i++ )); do
                # A port's default device keeps 12 characters of its
                # name, which must tell the ports of a host apart.
                printf -v body '{"name": "p%08d", "network": "%s", "host": "fake-%05d"}' \
                    $(( seq++ )) "$net" "$h"
                scale_request POST /v1/ports "$body" "$SCALE_TMP/ports.curl"
            done
        done
    done
    scale_send "$SCALE_TMP/ports.curl" 201
}

# Starts bench/fake-agents for $1 hosts, logging the keys of every change
# to $SCALE_TMP/events (and, once stopped, what each host holds to
# $SCALE_TMP/summary), and waits until every host has its document.
scale_fake_start() {
    local hosts=$1 err=$SCALE_TMP/fake-agents.err
    "$top_builddir/bench/fake-agents" -c "$SCALE_URL" \
        -T "$SCALE_TMP/admin.token" -n "$hosts" -k \
        -o "$SCALE_TMP/events" -s "$SCALE_TMP/summary" 2>"$err" &
    SCALE_FAKE_PID=$!
    for _ in $(seq 1800); do
        grep -q "hosts watching" "$err" && return 0
        kill -0 "$SCALE_FAKE_PID" 2>/dev/null || fail "fake-agents died: $(tail -5 "$err")"
        sleep 0.1
    done
    fail "fake-agents: not every host got its document in 180 s: $(tail -5 "$err")"
}

# Creates port $1 in network $2 on host $3 and appends to
# $SCALE_TMP/changes "NAME NETWORK MAC T0_US", T0 the wall clock when the
# request went out: when curl ended less the time it took, so that
# starting curl is not counted.
scale_change() {
    local answer mac took end
    answer=$(curl -sf -w '\n%{time_total}' \
        -H "Authorization: Bearer $SCALE_TOKEN" \
        -H 'Content-Type: application/json' \
        -d "{\"name\": \"$1\", \"network\": \"$2\", \"host\": \"$3\"}" \
        "$SCALE_URL/v1/ports") || fail "cannot create port $1"
    end=${EPOCHREALTIME/./}
    took=$(tail -n 1 <<<"$answer")
    mac=$(head -n 1 <<<"$answer" | jq -r .mac)
    echo "$1 $2 $mac $(awk -v e="$end" -v t="$took" 'BEGIN { printf "%.0f", e - t * 1e6 }')" \
        >>"$SCALE_TMP/changes"
}

# Prints one line per delivery of a change of $SCALE_TMP/changes to a host,
# from the events: "NAME HOST LATENCY_US", the first event that brought
# the port (as a remote, or as the host's own port) to the host.
scale_deliveries() {
    awk 'FNR == NR { t0[$1] = $4; by_key["set:port:" $1] = $1
                     by_key["set:remote:" $2 "/" $3] = $1; next }
         { for (i = 6; i <= NF; i++) {
               if (!($i in by_key)) continue
               name = by_key[$i]
               if (!((name, $2) in seen)) {
                   seen[name, $2] = 1
                   print name, $2, $1 - t0[name]
               }
           } }' "$SCALE_TMP/changes" "$SCALE_TMP/events"
}

# Prints the $2-th percentile (0..100) of the numbers in file $1.
scale_percentile() {
    sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 }
        END { if (!NR) { print "nan"; exit }
              i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1
              print v[i] }'
}

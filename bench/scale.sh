#!/bin/bash
# bench/scale.sh: the control plane at a thousand hosts.  How long one port
# change takes to reach every agent it concerns, with 1000 simulated hosts
# (bench/fake-agents) and 100,000 ports in 1000 networks, each host in 10
# networks, beside the same figure with 10 hosts measured in the same run;
# the controller's memory per port; and a full resync of a 10,000-port
# document, beside GET /healthz.  A benchmark, not a test: it prints
# figures and ratios and gates nothing.
#
#   usage: bench/scale.sh [-e] [-H HOSTS] [-s SMALL] [-c CHANGES]
#          [-x RESYNC] [-- CONTROLLER-OPTIONS...]
#
#   -H HOSTS    hosts of the large fabric (default 1000)
#   -s SMALL    hosts of the baseline fabric (default 10)
#   -c CHANGES  port changes timed in each fabric (default 50)
#   -x RESYNC   ports of the resync document (default 10000; 0: none)
#   -e          the etcd store: one etcd member of the bench's own on free
#               ports of 127.0.0.1, a fresh prefix for each fabric
#               (default: SQLite)
#
# Layout (bench/scale-lib.sh): blocks of 10 hosts, each block with 10
# networks of its own and 10 ports per network and host, so every host is
# in 10 networks, every network spans 10 hosts and has 100 ports, and a
# host's document has 100 ports and 900 remotes; HOSTS hosts make
# HOSTS networks and HOSTS*100 ports.  A change is a new port in a random
# network on a random host of its block: it concerns the 10 hosts of the
# block in either fabric, so the two figures differ only by the size of
# the fabric around them.  A change "reaches" a host when that host's
# long poll answers with the port in it (remote, or its own port); the
# time of a change is from just before its POST to the last of its 10
# hosts.  Changes go one at a time, 0.2 s apart.
#
# Memory per port: the controller's resident set after the ports were
# created, and after every host took its document (documents cached for
# the long polls), minus its size at start, over the number of ports.
#
# With -e, building a fabric of 1000 hosts takes long: every port is one
# etcd transaction through its JSON gateway.
set -euo pipefail
export LC_ALL=C

HOSTS=1000 SMALL=10 CHANGES=50 RESYNC=10000 ETCD=
while getopts H:s:c:x:eh opt; do
    case $opt in
    e) ETCD=1 ;;
    H) HOSTS=$OPTARG ;;
    s) SMALL=$OPTARG ;;
    c) CHANGES=$OPTARG ;;
    x) RESYNC=$OPTARG ;;
    *) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
       exit 2 ;;
    esac
done
shift $(( OPTIND - 1 ))
for v in HOSTS SMALL CHANGES; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] ||
        { echo "bench/scale.sh: $v \"${!v}\": expected a positive number" >&2; exit 2; }
done
for v in HOSTS SMALL; do
    (( ${!v} % 10 == 0 )) ||
        { echo "bench/scale.sh: $v ${!v}: expected a multiple of 10 (blocks of 10 hosts)" >&2; exit 2; }
done
[[ $RESYNC =~ ^[0-9]+$ ]] && (( RESYNC <= 60000 )) ||
    { echo "bench/scale.sh: RESYNC \"$RESYNC\": expected 0..60000" >&2; exit 2; }

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
M=10 K=10 Q=10

fail() {
    echo "bench/scale.sh: $*" >&2
    exit 1
}
# shellcheck source=scale-lib.sh
. "$top_srcdir/bench/scale-lib.sh"

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fabric-bench-scale-XXXXXX")
ETCD_PID=
trap 'scale_stop; [ -z "$ETCD_PID" ] || { kill "$ETCD_PID"; wait "$ETCD_PID" || true; }; rm -rf "$BENCH_TMP"' EXIT

# Whether something listens on port $1 of 127.0.0.1.
in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts an etcd member on free ports and sets ETCD_URL.
etcd_start() {
    local client peer
    command -v etcd >/dev/null || fail "etcd is not installed (scripts/install-deps)"
    for _ in 1 2 3 4 5; do
        client=$(( 20000 + RANDOM % 40000 )) peer=$(( 20000 + RANDOM % 40000 ))
        [ "$client" != "$peer" ] && ! in_use "$client" && ! in_use "$peer" || continue
        rm -rf "$BENCH_TMP/etcd"
        etcd --name bench --data-dir "$BENCH_TMP/etcd" \
            --listen-client-urls "http://127.0.0.1:$client" \
            --advertise-client-urls "http://127.0.0.1:$client" \
            --listen-peer-urls "http://127.0.0.1:$peer" \
            --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
            --initial-cluster "bench=http://127.0.0.1:$peer" \
            --quota-backend-bytes 8589934592 --logger zap --log-level warn \
            >"$BENCH_TMP/etcd.log" 2>&1 &
        ETCD_PID=$!
        for _ in $(seq 100); do
            in_use "$client" && { ETCD_URL=etcd://127.0.0.1:$client; return 0; }
            kill -0 "$ETCD_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; ETCD_PID=
    done
    fail "etcd did not start: $(tail -5 "$BENCH_TMP/etcd.log")"
}

# The figures of each fabric, by name.
declare -A R

# Prints the seconds between $1 and $2 (date +%s%N).
elapsed() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'
}

# Builds a fabric of $1 hosts on a controller started with the options
# that follow, times $CHANGES changes in it and stores the figures in
# R[$1,...].
run() {
    local hosts=$1 t0 t1 rss0 rss1 rss2 ports computes wakeups n b net host
    shift
    SCALE_TMP=$BENCH_TMP/$hosts
    mkdir -p "$SCALE_TMP"
    ports=$(( hosts * M * Q ))
    echo "--- $hosts hosts, $(( hosts * M / K )) networks, $ports ports" >&2
    scale_controller_start "$@"
    rss0=$(scale_rss_kib)
    t0=$(date +%s%N)
    scale_populate "$hosts" "$M" "$K" "$Q"
    t1=$(date +%s%N)
    rss1=$(scale_rss_kib)
    echo "    created in $(elapsed "$t0" "$t1") s" >&2
    t0=$(date +%s%N)
    scale_fake_start "$hosts"
    t1=$(date +%s%N)
    echo "    every host registered and took its document in $(elapsed "$t0" "$t1") s" >&2
    R[$hosts,sync]=$(elapsed "$t0" "$t1")
    sleep 2
    rss2=$(scale_rss_kib)
    R[$hosts,mem_store]=$(awk -v a="$rss0" -v b="$rss1" -v n="$ports" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    R[$hosts,mem_all]=$(awk -v a="$rss0" -v b="$rss2" -v n="$ports" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    R[$hosts,rss]=$(( rss2 / 1024 ))

    computes=$(scale_metric fabric_controller_desired_computes_total)
    wakeups=$(scale_metric fabric_controller_desired_wakeups_total)
    : >"$SCALE_TMP/changes"
    for (( n = 0; n < CHANGES; n++ )); do
        b=$(( RANDOM % (hosts / K) ))
        printf -v net 'net-%05d' $(( b * M + RANDOM % M ))
        printf -v host 'fake-%05d' $(( b * K + RANDOM % K ))
        scale_change "chg-$n" "$net" "$host"
        sleep 0.2
    done
    for _ in $(seq 300); do
        [ "$(scale_deliveries | wc -l)" -ge $(( CHANGES * K )) ] && break
        sleep 0.2
    done
    scale_deliveries >"$SCALE_TMP/deliveries"
    R[$hosts,delivered]=$(wc -l <"$SCALE_TMP/deliveries")
    R[$hosts,computes]=$(awk -v a="$computes" -v b="$(scale_metric fabric_controller_desired_computes_total)" -v c="$CHANGES" 'BEGIN { printf "%.1f", (b - a) / c }')
    R[$hosts,wakeups]=$(awk -v a="$wakeups" -v b="$(scale_metric fabric_controller_desired_wakeups_total)" -v c="$CHANGES" 'BEGIN { printf "%.1f", (b - a) / c }')
    # The time of each change: to the last of its hosts.
    awk '{ if ($3 > t[$1]) t[$1] = $3 } END { for (p in t) print t[p] / 1000 }' \
        "$SCALE_TMP/deliveries" >"$SCALE_TMP/all-ms"
    awk '{ print $3 / 1000 }' "$SCALE_TMP/deliveries" >"$SCALE_TMP/each-ms"
    R[$hosts,p50]=$(scale_percentile "$SCALE_TMP/all-ms" 50)
    R[$hosts,p99]=$(scale_percentile "$SCALE_TMP/all-ms" 99)
    R[$hosts,each50]=$(scale_percentile "$SCALE_TMP/each-ms" 50)
    R[$hosts,each99]=$(scale_percentile "$SCALE_TMP/each-ms" 99)
}

# Times the full document of a host with $RESYNC ports and remotes more in
# the running fabric (half its own ports, half fake-00001's, 250 to a
# network), beside GET /healthz, 5 times each, medians in R[resync...].
resync() {
    local i body
    # 250 ports a network, half on each host, keeps each host's flood list
    # of a network (its ports and the other host) within the 256 a
    # datapath holds.
    : >"$SCALE_TMP/resync-nets.curl"
    for (( i = 0; i < (RESYNC + 249) / 250; i++ )); do
        printf -v body '{"name": "rs-%03d", "cidr": "10.128.%d.0/24", "vni": %d}' "$i" "$i" $(( 9000 + i ))
        scale_request POST /v1/networks "$body" "$SCALE_TMP/resync-nets.curl"
    done
    scale_send "$SCALE_TMP/resync-nets.curl" 201
    : >"$SCALE_TMP/resync.curl"
    for (( i = 0; i < RESYNC; i++ )); do
        printf -v body '{"name": "r%08d", "network": "rs-%03d", "host": "fake-%05d"}' "$i" $(( i / 250 )) $(( i % 2 ))
        scale_request POST /v1/ports "$body" "$SCALE_TMP/resync.curl"
    done
    scale_send "$SCALE_TMP/resync.curl" 201
    sleep 2
    for (( i = 0; i < 5; i++ )); do
        curl -sf -o "$SCALE_TMP/doc.json" -w '%{time_total}\n' \
            -H "Authorization: Bearer $SCALE_TOKEN" \
            "$SCALE_URL/v1/hosts/fake-00000/desired-state" >>"$SCALE_TMP/resync-s"
        curl -sf -o /dev/null -w '%{time_total}\n' "$SCALE_URL/healthz" \
            >>"$SCALE_TMP/healthz-s"
    done
    R[resync,entries]=$(jq '.document.ports + .document.remotes | length' "$SCALE_TMP/doc.json")
    R[resync,bytes]=$(stat -c %s "$SCALE_TMP/doc.json")
    R[resync,ms]=$(awk '{ print $1 * 1000 }' "$SCALE_TMP/resync-s" >"$SCALE_TMP/r"; scale_percentile "$SCALE_TMP/r" 50)
    R[healthz,ms]=$(awk '{ print $1 * 1000 }' "$SCALE_TMP/healthz-s" >"$SCALE_TMP/h"; scale_percentile "$SCALE_TMP/h" 50)
}

STORE=SQLite
if [ -n "$ETCD" ]; then
    etcd_start
    STORE=etcd
    run "$SMALL" --store "$ETCD_URL/bench-$SMALL" "$@"
    scale_stop
    run "$HOSTS" --store "$ETCD_URL/bench-$HOSTS" "$@"
else
    run "$SMALL" "$@"
    scale_stop
    run "$HOSTS" "$@"
fi

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'
}
printf '\n%-46s %12s %12s %8s\n' "one port change, $STORE store" "$SMALL hosts" "$HOSTS hosts" ratio
printf '%-46s %12s %12s %8s\n' "networks / ports" \
    "$(( SMALL * M / K ))/$(( SMALL * M * Q ))" "$(( HOSTS * M / K ))/$(( HOSTS * M * Q ))" \
    "$(ratio "$HOSTS" "$SMALL")"
for f in p50 p99 each50 each99; do
    case $f in
    p50) label="reaches all its $K hosts, p50 (ms)" ;;
    p99) label="reaches all its $K hosts, p99 (ms)" ;;
    each50) label="reaches one host, p50 (ms)" ;;
    each99) label="reaches one host, p99 (ms)" ;;
    esac
    printf '%-46s %12s %12s %8s\n' "$label" "${R[$SMALL,$f]}" "${R[$HOSTS,$f]}" \
        "$(ratio "${R[$HOSTS,$f]}" "${R[$SMALL,$f]}")"
done
printf '%-46s %12s %12s\n' "deliveries (expected $(( CHANGES * K )))" \
    "${R[$SMALL,delivered]}" "${R[$HOSTS,delivered]}"
printf '%-46s %12s %12s\n' "documents computed per change" \
    "${R[$SMALL,computes]}" "${R[$HOSTS,computes]}"
printf '%-46s %12s %12s\n' "long polls woken per change" \
    "${R[$SMALL,wakeups]}" "${R[$HOSTS,wakeups]}"
printf '%-46s %12s %12s\n' "all hosts registered and synced (s)" \
    "${R[$SMALL,sync]}" "${R[$HOSTS,sync]}"
printf '%-46s %12s %12s\n' "controller memory per port, store (bytes)" \
    "${R[$SMALL,mem_store]}" "${R[$HOSTS,mem_store]}"
printf '%-46s %12s %12s\n' "... with every document cached (bytes)" \
    "${R[$SMALL,mem_all]}" "${R[$HOSTS,mem_all]}"
printf '%-46s %12s %12s\n' "controller resident set (MiB)" \
    "${R[$SMALL,rss]}" "${R[$HOSTS,rss]}"
if (( RESYNC > 0 )); then
    resync
    printf '\nfull resync at %s hosts: GET desired-state of a document of %s ports and remotes (%s bytes): %s ms, p50 of 5; GET /healthz: %s ms (%s)\n' \
        "$HOSTS" "${R[resync,entries]}" "${R[resync,bytes]}" "${R[resync,ms]}" \
        "${R[healthz,ms]}" "$(ratio "${R[resync,ms]}" "${R[healthz,ms]}")"
fi
scale_stop

#!/bin/bash
# make bench-store: API writes and reads per second through the real
# controller (bench/bench-api: POST /v1/ports and GET /v1/ports/NAME, the
# same client threads) on SQLite, on etcd with one member and on etcd with
# three, each beside etcd's own rate of puts and reads through the same
# JSON gateway on the same members in the same run (bench/etcd-put), and
# printed as ratios.  The etcd members are this script's own, on free
# ports of 127.0.0.1 with data in a temporary folder.  A benchmark: it
# prints figures and gates nothing.
#
# FAB_BENCH_SECONDS (default 3), FAB_BENCH_THREADS (one count, default 4)
# and FAB_BENCH_PORTS (default 1000) set the measurements.
set -u

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/.." && pwd)}
seconds=${FAB_BENCH_SECONDS:-3}
threads=${FAB_BENCH_THREADS:-4}
ports=${FAB_BENCH_PORTS:-1000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fabric-bench-store-XXXXXX")
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

die() {
    echo "bench-store: $*" >&2
    exit 1
}

command -v etcd >/dev/null || die "etcd is not installed (scripts/install-deps)"

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib/ports.sh"

# Starts a cluster named $1 of $2 members and sets $endpoints (the client
# URLs, comma-separated, without a scheme) and $first (the first member's).
start_cluster() {
    local name=$1 n=$2 cluster="" i
    local -a client peer
    for ((i = 0; i < n; i++)); do
        client[i]=$(free_port)
        peer[i]=$(free_port)
        cluster="$cluster${cluster:+,}$name$i=http://127.0.0.1:${peer[i]}"
    done
    endpoints=""
    for ((i = 0; i < n; i++)); do
        etcd --name "$name$i" --data-dir "$tmp/$name$i" \
            --listen-client-urls "http://127.0.0.1:${client[i]}" \
            --advertise-client-urls "http://127.0.0.1:${client[i]}" \
            --listen-peer-urls "http://127.0.0.1:${peer[i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${peer[i]}" \
            --initial-cluster "$cluster" --initial-cluster-token "$name$$" \
            --max-txn-ops 20000 --logger zap --log-level error \
            >"$tmp/$name$i.log" 2>&1 &
        pids+=($!)
        endpoints="$endpoints${endpoints:+,}127.0.0.1:${client[i]}"
    done
    first="http://127.0.0.1:${client[0]}"
    for ((i = 0; i < 300; i++)); do
        curl -sf -X POST "$first/v3/kv/range" -d '{"key":"eA=="}' >/dev/null &&
            return 0
        sleep 0.1
    done
    die "etcd cluster $name did not start: $(tail -3 "$tmp/${name}0.log")"
}

# Prints "writes/s reads/s" of the controller on store $1 (empty: SQLite).
api_rates() {
    local out=$tmp/api.out
    "$top_builddir/bench/bench-api" -d "$seconds" -t "$threads" -n "$ports" \
        -C "$top_builddir/controller/fabric-controller" ${1:+-s "$1"} \
        >"$out" 2>"$tmp/api.err" || die "bench-api: $(tail -5 "$tmp/api.err")"
    awk -v t="$threads" '
        $1 == t && substr($0, 10, 32) ~ /^POST \/v1\/ports / { w = substr($0, 43, 9) + 0 }
        $1 == t && substr($0, 10, 32) ~ /^GET \/v1\/ports\/NAME / { r = substr($0, 43, 9) + 0 }
        END { printf "%d %d\n", w, r }' "$out"
}

# Prints "puts/s ranges/s" of etcd at $1.
etcd_rates() {
    "$top_builddir/bench/etcd-put" "$1" "$seconds" "$threads" >"$tmp/put.out" ||
        die "etcd-put $1 failed"
    awk '{ v[$1] = $2 } END { printf "%d %d\n", v["puts/s"], v["ranges/s"] }' \
        "$tmp/put.out"
}

read -r sqlite_w sqlite_r < <(api_rates "")
start_cluster one 1
read -r one_put one_range < <(etcd_rates "$first")
read -r one_w one_r < <(api_rates "etcd://$endpoints/bench")
start_cluster three 3
read -r three_put three_range < <(etcd_rates "$first")
read -r three_w three_r < <(api_rates "etcd://$endpoints/bench")

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'
}

echo "The store's write and read rates through fabric-controller's API"
echo "($threads client threads, keep-alive, $ports ports, $seconds s each;"
echo " writes: POST /v1/ports, reads: GET /v1/ports/NAME; etcd's own: puts"
echo " and single-key ranges through the same JSON gateway, same threads)"
echo
printf "%-14s %10s %10s %12s %12s %11s %11s\n" store "writes/s" "reads/s" \
    "etcd puts/s" "etcd reads/s" "writes/put" "reads/read"
printf "%-14s %10d %10d %12s %12s %11s %11s\n" SQLite "$sqlite_w" "$sqlite_r" - - - -
printf "%-14s %10d %10d %12d %12d %11s %11s\n" "etcd, 1 member" "$one_w" "$one_r" \
    "$one_put" "$one_range" "$(ratio "$one_w" "$one_put")" "$(ratio "$one_r" "$one_range")"
printf "%-14s %10d %10d %12d %12d %11s %11s\n" "etcd, 3 members" "$three_w" "$three_r" \
    "$three_put" "$three_range" "$(ratio "$three_w" "$three_put")" "$(ratio "$three_r" "$three_range")"
echo
echo "etcd beside SQLite: writes $(ratio "$one_w" "$sqlite_w") (1 member), $(ratio "$three_w" "$sqlite_w") (3);" \
    "reads $(ratio "$one_r" "$sqlite_r") (1 member), $(ratio "$three_r" "$sqlite_r") (3)"

# shellcheck shell=bash
# Shared by the benchmarks that boot guests (bench/vm-boot.sh,
# bench/ha-failover.sh): their "-n RUNS" option and the median of their
# runs.  Source it before tests/lib/common.sh.

# Reads "-n RUNS" (default: the environment's RUNS, else "default") from
# the script's arguments "args..." into RUNS; -h prints the script's
# opening comment.  Exits with status 2 on a bad count.
bench_runs() {
    local default=$1 opt OPTIND=1
    shift
    RUNS=${RUNS:-$default}
    while getopts n:h opt; do
        case $opt in
        n) RUNS=$OPTARG ;;
        *) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
           exit 2 ;;
        esac
    done
    if ! [[ $RUNS =~ ^[1-9][0-9]*$ ]]; then
        echo "RUNS \"$RUNS\": not a count" >&2
        exit 2
    fi
}

# Prints the median of the numbers on standard input.
median() {
    sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

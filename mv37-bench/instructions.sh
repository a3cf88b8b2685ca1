#!/usr/bin/env bash
# Instructions per span, counted by valgrind's callgrind: a figure that does not move
# with the host's phases (times here swing by a third within an hour), for telling a
# change that removes work from one that only moves it.
#
#   mv37-bench/instructions.sh                                  # mv37 and fastrace, 5 cases
#   mv37-bench/instructions.sh --stacks mv37,otel --cases tiny --spans 50000
#
# The thread that makes the spans is counted inside the measured loop only
# (`mv37_bench::measured`, through callgrind's `--toggle-collect`): N spans, divided by
# N, the same figure at every run. The other threads (mv37's exporter, fastrace's
# collector, the OpenTelemetry SDK's batch processor) are counted whole, in a run of N
# and one of 2N spans, and the difference divided by N is what one more span costs them
# (set-up and shutdown cancel out; this column moves by a few instructions between runs,
# with where the scheduler switched threads). Needs `valgrind` (Debian: `apt-get install
# valgrind`); a case takes some seconds. Cases with more than one producer thread, and
# the agent case (whose receiver is another process), are left out.
set -euo pipefail
cd "$(dirname "$0")/.."

stacks=mv37,fastrace
cases=sync,macro,async,capture,tiny
spans=100000
while [ $# -gt 0 ]; do
    case "$1" in
        --stacks) stacks=$2; shift 2 ;;
        --cases) cases=$2; shift 2 ;;
        --spans) spans=$2; shift 2 ;;
        *) echo "usage: $0 [--stacks a,b] [--cases a,b] [--spans N]" >&2; exit 64 ;;
    esac
done
case "$spans" in
    ''|*[!0-9]*|0) echo "error: --spans takes a positive whole number, not '$spans'" >&2; exit 64 ;;
esac
if ! command -v valgrind >/dev/null; then
    echo "error: valgrind is not installed (Debian: apt-get install valgrind)" >&2
    exit 1
fi

cargo build --release --quiet -p mv37-bench --bin peers
peers="${CARGO_TARGET_DIR:-target}/release/peers"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs `peers` under callgrind, one output file per thread (`<out>-01` the main thread,
# which makes the spans), with the extra options given.
callgrind() {
    local out=$1 stack=$2 case=$3 spans=$4
    shift 4
    # A run whose delivery check fails still counts (a peer slowed fifty-fold by
    # valgrind may drop spans; the table says so); a run with no result does not.
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" "$@" \
        "$peers" "$stack" "$case" "$spans" >"$out.log" 2>&1 || true
    if ! grep -q '^RESULT ' "$out.log"; then
        echo "error: $stack $case $spans failed under valgrind; the end of its output:" >&2
        tail -n 5 "$out.log" >&2
        exit 1
    fi
}

# "every span" when each run's delivery check passed, else what the failing ones said.
delivery() {
    local failed
    failed=$(grep -h '^RESULT ' "${@/%/.log}" | grep -v 'check=ok' |
        sed -n 's/.*expected=\([0-9]*\).*exported=\([0-9]*\).*/\2 of \1 exported/p' | paste -sd ';' -)
    echo "${failed:-every span}"
}

# The instructions of the main thread's files, or of the other threads', of one run.
summed() {
    local out=$1 which=$2
    awk -v which="$which" '/^summary:/ {
        main = FILENAME ~ /-01$/
        if ((which == "main") == main) total += $2
    } END { printf "%d\n", total }' "$out"-*
}

echo "Instructions per span (callgrind; $spans spans, and $((spans * 2)) for the other threads), on $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: //')"
echo
echo "| case | stack | spans' thread (measured loop) | other threads | all | delivery under valgrind |"
echo "|---|---|---:|---:|---:|---|"
IFS=, read -ra stack_list <<<"$stacks"
IFS=, read -ra case_list <<<"$cases"
for case in "${case_list[@]}"; do
    for stack in "${stack_list[@]}"; do
        base="$work/$stack-$case"
        if ! "$peers" "$stack" "$case" 2 >/dev/null 2>"$base.probe"; then
            if grep -q ' has no ' "$base.probe"; then
                echo "| $case | $stack | — | — | — | no such case |"
                continue
            fi
        fi
        callgrind "$base-loop" "$stack" "$case" "$spans" --toggle-collect='mv37_bench::measured*'
        callgrind "$base-n" "$stack" "$case" "$spans"
        callgrind "$base-2n" "$stack" "$case" $((spans * 2))
        awk -v c="$case" -v s="$stack" -v n="$spans" \
            -v loop="$(summed "$base-loop" main)" \
            -v o1="$(summed "$base-n" other)" -v o2="$(summed "$base-2n" other)" \
            -v check="$(delivery "$base-loop" "$base-n" "$base-2n")" \
            'BEGIN { m = loop / n; o = (o2 - o1) / n;
                     printf "| %s | %s | %.1f | %.0f | %.0f | %s |\n", c, s, m, o, m + o, check }'
    done
done

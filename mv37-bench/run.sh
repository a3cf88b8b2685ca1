#!/usr/bin/env bash
# Side-by-side span benchmark: builds mv37-bench in release once, then runs every
# (stack, case) pair in its own process N times and prints markdown tables of medians.
#
#   mv37-bench/run.sh                       # 1,000,000 spans, 5 runs per pair
#   mv37-bench/run.sh --runs 3 --spans 2000000 --stacks mv37,fastrace --cases sync,async
#   mv37-bench/run.sh --strict              # exit 1 if any run of any stack dropped a span
#
# Options are those of the `compare` bin (src/bin/compare.rs); one run is
# `target/release/peers <stack> <case> <spans>`. Runs that dropped or lost spans are
# flagged in the delivery column and listed under the tables.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p mv37-bench --bins

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
memory=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
echo "Machine: ${cpu:-unknown CPU}, $(nproc) cores, ${memory:-unknown memory}, $(uname -sr); $(rustc --version)."
echo
echo "Command: mv37-bench/run.sh${*:+ $*}"
echo
exec "${CARGO_TARGET_DIR:-target}/release/compare" "$@"

#!/usr/bin/env bash
# The viewer's timings on a capture of about 10 million events (viewer/demo/workload.c at
# scale 155): time to the first view, with the heap index stored by `memprof run` and
# without (indexed on opening), then a range's analysis and a range's comparison, through
# the real window under Xvfb. Prints a markdown table (paste it into the README).
#
#   bash viewer/bench.sh          # 3 runs each, medians
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
cargo build --release --quiet -p memprof -p memprof-preload -p memprof-viewer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -g -pthread -I include -o "$work/workload" viewer/demo/workload.c
target/release/memprof run -o "$work/indexed.mprof" -- "$work/workload" 155 >/dev/null 2>&1
target/release/memprof run -q -o "$work/bare.mprof" -- "$work/workload" 155 >/dev/null 2>&1
# A small capture, to compare the timeline's drawing time with.
target/release/memprof run -o "$work/small.mprof" -- "$work/workload" 1 >/dev/null 2>&1

timings() {
    GTK_A11Y=none xvfb-run -a -s "-screen 0 1400x900x24" \
        target/release/memprof-viewer --timings "$1" 2>/dev/null
}
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
field() { grep "^$1:" | sed 's/.*: //; s/ ms//'; }

first=() bare=() range=() diff=() draw=() small=()
for _ in $(seq "$RUNS"); do
    out=$(timings "$work/indexed.mprof")
    first+=("$(field "first view" <<<"$out")")
    range+=("$(field "range" <<<"$out")")
    diff+=("$(field "range diff" <<<"$out")")
    draw+=("$(field "timeline draw" <<<"$out")")
    small+=("$(timings "$work/small.mprof" | field "timeline draw")")
    events=$(field events <<<"$out")
    cp "$work/bare.mprof" "$work/fresh.mprof"
    bare+=("$(timings "$work/fresh.mprof" | field "first view")")
done
echo "| capture | first view, index stored | first view, indexed on opening | range analysis | range comparison | timeline draw (small capture) |"
echo "|---|---|---|---|---|---|"
printf '| %s events | %s ms | %s ms | %s ms | %s ms | %s ms (%s ms) |\n' "$events" \
    "$(printf '%s\n' "${first[@]}" | median)" "$(printf '%s\n' "${bare[@]}" | median)" \
    "$(printf '%s\n' "${range[@]}" | median)" "$(printf '%s\n' "${diff[@]}" | median)" \
    "$(printf '%s\n' "${draw[@]}" | median)" "$(printf '%s\n' "${small[@]}" | median)"

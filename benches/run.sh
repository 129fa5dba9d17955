#!/usr/bin/env bash
# Side-by-side benchmarks: native vs memprof vs heaptrack on the workloads of ../shared/bench,
# as ratios of medians of runs that take turns. Prints a markdown table (paste it into the README)
# and checks the exact counts the workloads are known to produce.
#
#   bash benches/run.sh            # 3 runs each
#   RUNS=5 bash benches/run.sh
source "$(dirname "$0")/setup.sh"

command -v heaptrack >/dev/null || echo "benches: heaptrack not installed (apt-get install heaptrack); its column stays empty"
gcc -O2 -g -pthread -o "$OUT/scaling" benches/programs/scaling.c
PY=/usr/bin/python3.11
[ -x "$PY" ] || PY=$(command -v python3)

# Wall seconds of one run of a command.
once() {
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    echo "$e - $s" | bc
}
# The median of the numbers on standard input.
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
# Median wall seconds of a command over $RUNS runs.
wall() {
    for _ in $(seq "$RUNS"); do once "$@"; done | median
}
ratio() { echo "scale=2; $1 / $2" | bc; }
field() { "$MEMPROF" report --json "$1" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['summary']['$2'])"; }
peak_rss_mb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1/1024}'; }

echo "| workload | native s | memprof, recording | memprof run (+ symbols, summary) | heaptrack | capture B/event | memprof peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
bench() {
    local name=$1; shift
    local native rec mp ht="" cap="$OUT/$name.mprof" times="$OUT/$name.times"
    local heaptrack=
    if command -v heaptrack >/dev/null && [ "${SKIP_HEAPTRACK:-}" != "$name" ]; then
        heaptrack=yes
    fi
    # The commands take turns, run after run, so that a host getting slower or faster
    # meanwhile weighs on every column alike.
    : >"$times"
    for _ in $(seq "$RUNS"); do
        echo "native $(once "$@")" >>"$times"
        echo "rec $(once "$MEMPROF" run -q --no-symbols -o "$cap" -- "$@")" >>"$times"
        echo "mp $(once "$MEMPROF" run -o "$cap" -- "$@")" >>"$times"
        if [ -n "$heaptrack" ]; then
            echo "ht $(once heaptrack -o "$OUT/$name.heaptrack" "$@")" >>"$times"
        fi
    done
    native=$(awk '$1 == "native" {print $2}' "$times" | median)
    rec=$(awk '$1 == "rec" {print $2}' "$times" | median)
    mp=$(awk '$1 == "mp" {print $2}' "$times" | median)
    if [ -n "$heaptrack" ]; then
        ht="$(ratio "$(awk '$1 == "ht" {print $2}' "$times" | median)" "$native")×"
    fi
    local size events rss
    # The largest process of a default run; its capture, recorded with symbols but before
    # any analysis appended a heap index, gives the size per event.
    rss=$(peak_rss_mb "$MEMPROF" run -o "$cap" -- "$@")
    "$MEMPROF" run -q -o "$cap" -- "$@" >/dev/null 2>&1 || true
    size=$(stat -c %s "$cap")
    events=$(( $(field "$cap" allocations) + $(field "$cap" frees) ))
    echo "| $name | $(printf %.2f "$native") | $(ratio "$rec" "$native")× | $(ratio "$mp" "$native")× | $ht | $(echo "scale=1; $size / $events" | bc) | $rss |"
}

# Debian's heaptrack 1.4 mis-records W1 (a bug fixed after 1.5) and takes ~40x: skipped.
SKIP_HEAPTRACK=W1 bench W1 "$BENCH/build/alloc_storm"
bench W2 "$BENCH/build/threads"
PYTHONMALLOC=malloc bench "W3am(1M)" "$PY" -c "d={str(i):[i]*3 for i in range(1000000)}"
# cc1 itself, with the arguments `gcc -O2 -c` gives it: the driver's children are not followed.
bench W3b "$(gcc -print-prog-name=cc1)" -quiet -imultiarch x86_64-linux-gnu "$BENCH/build/big.c" \
    -dumpbase big.c -dumpbase-ext .c -mtune=generic -march=x86-64 -O2 \
    -fasynchronous-unwind-tables -o /dev/null
bench W3e "$BENCH/build/rustmap"
bench W4 "$BENCH/build/leaky"

# CPU seconds (user + system, children included) of one run of a command.
cpu_once() {
    /usr/bin/time -o "$OUT/cpu.txt" -f '%U %S' "$@" >/dev/null 2>&1 || true
    tail -1 "$OUT/cpu.txt" | awk '{print $1 + $2}'
}

echo
echo "Thread scaling (benches/programs/scaling.c, 2M malloc/free pairs per thread, CPU time):"
: >"$OUT/scaling.times"
for _ in $(seq "$RUNS"); do
    for t in 1 4; do
        echo "native$t $(cpu_once "$OUT/scaling" "$t" 2000000)" >>"$OUT/scaling.times"
        echo "mp$t $(cpu_once "$MEMPROF" run -q --no-symbols -o "$OUT/scaling$t.mprof" -- "$OUT/scaling" "$t" 2000000)" >>"$OUT/scaling.times"
    done
done
for t in 1 4; do
    native=$(awk -v k="native$t" '$1 == k {print $2}' "$OUT/scaling.times" | median)
    mp=$(awk -v k="mp$t" '$1 == k {print $2}' "$OUT/scaling.times" | median)
    echo "  $t thread(s): native $native s, memprof $mp s: $(echo "scale=1; ($mp - $native) * 1000000000 / ($t * 2000000)" | bc) ns added per allocation"
done

echo
echo "Exact counts:"
check() {
    local cap=$1 f=$2 want=$3 got
    got=$(field "$cap" "$f")
    if [ "$got" = "$want" ]; then echo "  PASS $(basename "$cap") $f = $want"; else echo "  FAIL $(basename "$cap") $f = $got, expected $want"; fi
}
check "$OUT/W1.mprof" allocations 11200321
check "$OUT/W1.mprof" frees 11200321
check "$OUT/W1.mprof" bytes_allocated 21326284103
check "$OUT/W1.mprof" leaked_bytes 0
check "$OUT/W2.mprof" allocations 8000004
check "$OUT/W2.mprof" frees 8000004
check "$OUT/W2.mprof" leaked_blocks 0
check "$OUT/W4.mprof" leaked_blocks 1500
check "$OUT/W4.mprof" leaked_bytes 4128000
check "$OUT/W4.mprof" peak_bytes 17235200
check "$OUT/W4.mprof" temporary_allocations 10006

echo
echo "Report time on the W3e capture (median of $RUNS):"
# A capture recorded with -q has no heap index yet: its first analysis builds and stores it.
"$MEMPROF" run -q -o "$OUT/W3e-fresh.mprof" -- "$BENCH/build/rustmap" >/dev/null 2>&1
s=$(date +%s.%N); "$MEMPROF" report "$OUT/W3e-fresh.mprof" >/dev/null; e=$(date +%s.%N)
echo "  memprof report, first (builds the heap index): $(printf %.2f "$(echo "$e - $s" | bc)") s"
rm -f "$OUT/W3e-fresh.mprof"
mp=$(wall "$MEMPROF" report "$OUT/W3e.mprof")
events=$(( $(field "$OUT/W3e.mprof" allocations) + $(field "$OUT/W3e.mprof" frees) ))
rss=$(peak_rss_mb "$MEMPROF" report "$OUT/W3e.mprof")
echo "  memprof report: $(printf %.2f "$mp") s, peak RSS $rss MB ($(echo "scale=1; $rss * 1048576 / $events" | bc) B/event)"
if command -v heaptrack_print >/dev/null && [ -e "$OUT/W3e.heaptrack.zst" ]; then
    ht=$(wall heaptrack_print "$OUT/W3e.heaptrack.zst")
    echo "  heaptrack_print: $(printf %.2f "$ht") s ($(ratio "$ht" "$mp")x memprof's time)"
fi

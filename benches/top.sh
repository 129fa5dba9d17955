#!/usr/bin/env bash
# memprof top against memprof run: how much longer the program runs while the live view
# follows it (interactive in a pseudo-terminal, and --batch), and whether the live figures
# equal the finished capture's at the same moments.
#
#   bash benches/top.sh            # 3 runs each
#   RUNS=5 bash benches/top.sh
source "$(dirname "$0")/setup.sh"
gcc -O1 -g -o "$OUT/grows" tests/programs/grows.c
PY=$(command -v python3)

# The recorded run time of the program in capture $1, in seconds.
duration() { "$MEMPROF" report --json "$1" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['summary']['duration_ns']/1e9)"; }
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }

# The interactive display in a pseudo-terminal; `q` once the program has ended.
top_tty() {
    local cap=$1; shift
    local quoted
    quoted=$(printf '%q ' "$@")
    (while ! "$PY" - "$cap" <<'PYEOF'
import struct, sys
try:
    with open(sys.argv[1], 'rb') as f: h = f.read(32)
    sys.exit(0 if len(h) == 32 and struct.unpack_from('<I', h, 24)[0] & 8 else 1)
except OSError: sys.exit(1)
PYEOF
    do sleep 0.2; done; sleep 0.5; printf q) |
        script -qefc "stty rows 40 cols 120; $MEMPROF top -q --no-symbols -o $cap -- $quoted" /dev/null >/dev/null
}

echo "| workload | memprof run s | memprof top s | memprof top --batch s | top / run |"
echo "|---|---|---|---|---|"
compare() {
    local name=$1; shift
    local run=() tty=() batch=() cap="$OUT/top-$name.mprof"
    for _ in $(seq "$RUNS"); do
        rm -f "$cap"; "$MEMPROF" run -q --no-symbols -o "$cap" -- "$@" >/dev/null 2>&1
        run+=("$(duration "$cap")")
        rm -f "$cap"; top_tty "$cap" "$@"
        tty+=("$(duration "$cap")")
        rm -f "$cap"; "$MEMPROF" top --batch -q --no-symbols -o "$cap" -- "$@" >/dev/null 2>&1
        batch+=("$(duration "$cap")")
    done
    local r t b
    r=$(printf '%s\n' "${run[@]}" | median)
    t=$(printf '%s\n' "${tty[@]}" | median)
    b=$(printf '%s\n' "${batch[@]}" | median)
    echo "| $name | $r | $t | $b | $(echo "scale=2; $t / $r" | bc)× |"
}
compare W1 "$BENCH/build/alloc_storm"
compare W2 "$BENCH/build/threads"
compare grows-10s "$OUT/grows" 1000

echo
echo "Live figures against the finished capture (grows, 10 s, a print every second):"
cap="$OUT/top-moments.mprof"
rm -f "$cap"
"$MEMPROF" top --batch --json --interval 1 --rows 1 -q -o "$cap" -- "$OUT/grows" 1000 >"$OUT/top-moments.json"
# The program changes its heap only every 10 ms, at its steps; a print's moment is its last
# counted event, so the capture is asked 2 ms later, before the next step (the last print,
# at the end).
"$PY" - "$MEMPROF" "$cap" "$OUT/top-moments.json" <<'PYEOF'
import json, subprocess, sys
memprof, cap, prints = sys.argv[1:]
same = 0
rows = [json.loads(l) for l in open(prints)]
for p in rows:
    at = f"{p['time_ns'] + 2_000_000}ns" if p["state"] == "running" else "end"
    r = json.loads(subprocess.check_output([memprof, "report", "--json", "--at", at, cap]))
    heap = sum(t["leaked_bytes"] for t in r["threads"])
    mark = "=" if heap == p["heap_bytes"] else "≠"
    same += heap == p["heap_bytes"]
    print(f"  {p['time_ns'] / 1e9:7.3f}s  live {p['heap_bytes']:>9,} B  capture {heap:>9,} B  {mark}")
print(f"{same} of {len(rows)} moments equal")
sys.exit(0 if same == len(rows) else 1)
PYEOF

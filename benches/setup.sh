# Sourced by the benchmark scripts: the paths they share, the workloads and memprof built.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=${BENCH:-$ROOT/../shared/bench}
RUNS=${RUNS:-3}
OUT=$ROOT/benches/results
mkdir -p "$OUT"
[ -d "$BENCH" ] || { echo "benches: $BENCH not found (set BENCH=path/to/shared/bench)"; exit 1; }
bash "$BENCH/build.sh" >/dev/null
cargo build --release --quiet -p memprof -p memprof-preload
MEMPROF=$ROOT/target/release/memprof

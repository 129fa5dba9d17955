#!/usr/bin/env bash
# Renders every view of the viewer, on a capture of viewer/demo/workload.c, to
# docs/screenshots/*.png (no screenshot tool: the viewer draws its window into PNG files
# itself, under Xvfb). Needs gcc, libgtk-4-dev, xvfb and xauth.
#
#   bash docs/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p memprof -p memprof-preload -p memprof-viewer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O1 -g -pthread -I include -o "$work/workload" viewer/demo/workload.c
target/debug/memprof run -q -o "$work/workload.mprof" -- "$work/workload" 1
rm -rf docs/screenshots
GTK_A11Y=none xvfb-run -a -s "-screen 0 1400x900x24" \
    target/debug/memprof-viewer --screenshot docs/screenshots "$work/workload.mprof"
ls docs/screenshots

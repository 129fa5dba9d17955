#!/bin/sh
# Meson's bridge to cargo.
#   cargo.sh build SOURCE TARGET_DIR PROFILE OUTDIR   build and copy the installed files
#   cargo.sh test  SOURCE TARGET_DIR PROFILE -        build and run every test (the viewer's
#                                                     under Xvfb when there is no display)
set -eu
action=$1 source=$2 target=$3 profile=$4 outdir=$5
set -- --manifest-path "$source/Cargo.toml" --target-dir "$target"
[ "$profile" = release ] && set -- "$@" --release
case $action in
build)
    cargo build "$@" -p memprof -p memprof-preload -p memprof-viewer
    for f in memprof memprof-viewer libmemprof_preload.so; do
        cp "$target/$profile/$f" "$outdir/$f"
    done
    ;;
test)
    cargo build "$@" --workspace
    if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
        GTK_A11Y=none xvfb-run -a cargo test "$@" --workspace
    else
        GTK_A11Y=none cargo test "$@" --workspace
    fi
    ;;
*)
    echo "cargo.sh: unknown action $action" >&2
    exit 2
    ;;
esac

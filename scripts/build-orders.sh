#!/usr/bin/env bash
# Builds the Rust fault fixture fixtures/orders (orders-server) offline from
# Debian's packaged crates, twice:
#
#   OUTDIR/orders-server      as users build it: cargo build --release (line
#                             tables kept, no forced frame pointers)
#   OUTDIR/orders-server-fp   the same with RUSTFLAGS="-C force-frame-pointers=yes"
#
# each in its own target directory under OUTDIR. Nothing is rebuilt when both
# binaries are newer than every source of the fixture, so tests and benches
# may call it every time; it is never run from the dashboard's path. Builds
# with at most 2 jobs (CARGO_BUILD_JOBS overrides). Concurrent callers wait on
# a lock in OUTDIR. Prints the two paths on success.
#
# Needs cargo/rustc (rustup's in ~/.cargo/bin, else Debian's) and the
# librust-*-dev packages that scripts/install-deps.sh installs.
#
# Usage: scripts/build-orders.sh OUTDIR

set -euo pipefail

die() {
    printf 'build-orders: error: %s\n' "$*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: build-orders.sh OUTDIR"

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
crate_dir=$(cd -- "$script_dir/../fixtures/orders" && pwd)
mkdir -p -- "$1"
out_dir=$(cd -- "$1" && pwd)

cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then
    cargo="$HOME/.cargo/bin/cargo"
fi
[ -n "$cargo" ] || die "no cargo: install rustup's toolchain or Debian's cargo (scripts/install-deps.sh)"
# rustup's cargo finds its rustc through PATH.
export PATH="$(dirname -- "$cargo"):$PATH"

plain="$out_dir/orders-server"
fp="$out_dir/orders-server-fp"
# Touched when a build starts and kept once both binaries are in place: a
# source edited during a build is newer than it, so the next call rebuilds.
stamp="$out_dir/.build-orders.stamp"

# True when both binaries exist and no source of the crate is newer than the
# start of the build that made them.
up_to_date() {
    [ -x "$plain" ] && [ -x "$fp" ] && [ -f "$stamp" ] || return 1
    local newer
    newer=$(find "$crate_dir/src" "$crate_dir/Cargo.toml" "$crate_dir/Cargo.lock" \
        "$crate_dir/.cargo" "$script_dir/build-orders.sh" \
        -newer "$stamp" -print -quit 2>/dev/null)
    [ -z "$newer" ]
}

# One build into its own target directory; copies the binary to $2.
build_one() {
    local target_dir=$1 dest=$2 rustflags=$3
    (
        cd -- "$crate_dir" # .cargo/config.toml (offline, Debian's registry) is found from here
        unset CARGO_ENCODED_RUSTFLAGS
        RUSTFLAGS="$rustflags" "$cargo" build --release --offline --locked --quiet \
            --jobs "${CARGO_BUILD_JOBS:-2}" --target-dir "$target_dir"
    ) || die "cargo build failed (target dir $target_dir)"
    cp -- "$target_dir/release/orders-server" "$dest.tmp.$$"
    mv -f -- "$dest.tmp.$$" "$dest"
}

exec 9>"$out_dir/.build-orders.lock"
flock 9

if ! up_to_date; then
    touch "$stamp.new"
    build_one "$out_dir/target" "$plain" ""
    build_one "$out_dir/target-fp" "$fp" "-C force-frame-pointers=yes"
    mv -f -- "$stamp.new" "$stamp"
fi
printf '%s\n%s\n' "$plain" "$fp"

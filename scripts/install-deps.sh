#!/usr/bin/env bash
# Installs what loadscope needs to build, test and run its fixtures on a
# Debian 12 machine: the C toolchain and libraries from apt, then the pinned
# npm packages of fixtures/ (the real MCP servers the tests run against).
#
# Idempotent: apt-get runs (update once, then install) only when a package is
# missing, and `npm ci` only when fixtures/node_modules is missing or older
# than fixtures/package-lock.json (never through a symlinked, shared
# node_modules). A second run does nothing and prints
# nothing. Run as root, or as a user with sudo. Works from any directory.

set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
fixtures_dir="$repo_root/fixtures"

# python3-jsonschema: test_export_json validates exports against docs/export.schema.json.
apt_packages=(
    build-essential cmake pkg-config clang
    libcurl4-openssl-dev libcjson-dev libsqlite3-dev sqlite3 libssl-dev
    libncurses-dev libcmocka-dev
    libdw-dev libelf-dev libiberty-dev libunwind-dev
    python3 python3-jsonschema tmux
    locales
)

# The Rust fault fixture (fixtures/orders: tokio + hyper + serde_json) builds
# offline from Debian's packaged crates in /usr/share/cargo/registry
# (scripts/build-orders.sh); their dependencies come with them.
apt_packages+=(
    librust-tokio-dev librust-hyper-dev librust-serde-json-dev
    librust-serde+serde-derive-dev librust-hmac-dev librust-sha2-dev librust-hex-dev
)

# Rust fixture targets need rustc (std only) and, for fixtures/orders, cargo.
# rustup's copies in ~/.cargo/bin count; otherwise Debian's (rustc 1.63, which
# the fixtures are written for).
command -v rustc >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/rustc" ] || apt_packages+=(rustc)
command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || apt_packages+=(cargo)

# Node may come from elsewhere (NodeSource's nodejs bundles npm and conflicts
# with Debian's npm package), so ask apt for them only when the commands are
# absent.
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)

log() {
    printf 'install-deps: %s\n' "$*"
}

die() {
    printf 'install-deps: error: %s\n' "$*" >&2
    exit 1
}

# Runs a command with its output kept in a log; shows the log only on failure.
run_quiet() {
    local out rc
    out=$(mktemp)
    rc=0
    "$@" >"$out" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$out" >&2
        rm -f "$out"
        die "command failed (exit $rc): $*"
    fi
    rm -f "$out"
}

# Prints the command prefix that gives root: none, or sudo.
root_prefix() {
    if [ "$(id -u)" -eq 0 ]; then
        return 0
    elif command -v sudo >/dev/null 2>&1; then
        echo sudo
    else
        die "need root to install packages (run as root or install sudo)"
    fi
}

is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [ "$status" = "install ok installed" ]
}

missing=()
for pkg in "${apt_packages[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    sudo_cmd=$(root_prefix)
    # shellcheck disable=SC2086 # empty when already root
    run_quiet $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update
    # shellcheck disable=SC2086
    run_quiet $sudo_cmd env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The export tests check '.' decimals under a comma-decimal locale: compile
# de_DE.UTF-8 (from the locales package) when it is missing.
if ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
    log "localedef de_DE.UTF-8"
    sudo_cmd=$(root_prefix)
    # shellcheck disable=SC2086 # empty when already root
    run_quiet $sudo_cmd localedef -i de_DE -f UTF-8 de_DE.UTF-8
fi

# The MCP SDK in fixtures/ needs Node 18 or newer.
node_major=$(node -p 'process.versions.node.split(".")[0]') ||
    die "node does not run"
[ "$node_major" -ge 18 ] || die "node $node_major is too old: fixtures need Node >= 18"

lock="$fixtures_dir/package-lock.json"
installed_lock="$fixtures_dir/node_modules/.package-lock.json"
if [ -L "$fixtures_dir/node_modules" ]; then
    # A symlink is an install shared with other checkouts (git worktrees):
    # `npm ci` would empty the directory it points to and leave a private copy
    # here, so it is left alone; update it from the checkout that owns it.
    [ -f "$installed_lock" ] ||
        die "fixtures/node_modules links to $(readlink -- "$fixtures_dir/node_modules"), which holds no install"
elif [ ! -d "$fixtures_dir/node_modules" ] || [ ! -f "$installed_lock" ] ||
    [ "$lock" -nt "$installed_lock" ]; then
    log "npm ci in fixtures/"
    (cd "$fixtures_dir" && run_quiet npm ci --no-audit --no-fund --loglevel=error)
fi

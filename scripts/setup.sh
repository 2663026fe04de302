#!/usr/bin/env bash
# Installs what this repository needs and is missing, and nothing else.
# Safe to run repeatedly: every step checks first. Sourced by run.sh and
# test.sh; can be run alone: scripts/setup.sh [build|python|nats|ui|browser|all]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

apt_install() {
  # Debian packages, only when a command is missing.
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

need_build() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs), then re-run" >&2; exit 1; }
  # The vendored libzmq is compiled with the system C++ compiler.
  command -v g++ >/dev/null || apt_install g++ make
  # A clean build of everything (debug tests, release bench, wasm console)
  # takes about 5 GB under target/. Say so up front instead of failing
  # half-way with "No space left on device".
  local free_kb
  free_kb="$(df -Pk "$ROOT" 2>/dev/null | awk 'NR==2 {print $4}')"
  if [ -n "$free_kb" ] && [ "$free_kb" -lt $((6 * 1024 * 1024)) ]; then
    say "warning: only $((free_kb / 1024)) MB free on the disk holding $ROOT; a clean build needs about 5 GB." \
      "Free space (e.g. 'cargo clean' in old checkouts) if the build fails with 'No space left on device'."
  fi
}

need_python() {
  command -v python3 >/dev/null || apt_install python3 python3-venv
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  # Re-install only when the package definition changed.
  local stamp="$VENV/.pulse_mq-installed"
  if [ ! -f "$stamp" ] || [ "$ROOT/python/pyproject.toml" -nt "$stamp" ]; then
    # The package builds with maturin and carries the broker (the pulsemq
    # command): the first install compiles it in release mode (a few
    # minutes on two cores; the bench reuses that build).
    say "installing the Python SDK (with the broker binary) and its test dependencies into .venv"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e "$ROOT/python[dev,dataframe,bench]"
    touch "$stamp"
  fi
}

# The deployment tests (tests/tests/deploy.rs) verify the systemd unit with
# systemd-analyze, part of Debian's systemd package.
need_deploy_tools() {
  command -v systemd-analyze >/dev/null || apt_install systemd
}

# NATS (issue 15): the bench's peer, measured in the same run. Debian's
# package; the bench starts its own nats-server on a loopback port.
need_nats() {
  apt_install nats-server
}

# ------------------------------------------------------------ console (issue 5)
# Trunk builds the leptos console into frontend/dist. It must not download
# anything (only package registries are reachable), so every tool it uses is
# installed here at the version it wants and found on PATH:
#   trunk 0.21.14 (newer ones need a newer Rust), wasm-bindgen-cli at exactly
#   the wasm-bindgen version in Cargo.lock, wasm-opt from npm binaryen@132
#   into .tools/ (never Debian's binaryen 108: its output dies in the browser).
# Cold on 2 cores: trunk ~8.5 min, wasm-bindgen-cli ~3.5 min; later runs skip.
TRUNK_VERSION="0.21.14"
BINARYEN_VERSION="132"
TOOLS="$ROOT/.tools"
export PATH="$TOOLS/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

need_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
}

wasm_bindgen_version() {
  # The version of the wasm-bindgen crate Cargo.lock resolved.
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

need_ui() {
  need_build
  need_node
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    say "installing trunk $TRUNK_VERSION (one-time, ~9 min on 2 cores)"
    cargo install trunk --locked --version "$TRUNK_VERSION"
  fi
  # Resolve the lockfile (and download every crate, for --offline builds).
  (cd "$ROOT" && cargo fetch -q)
  local wb
  wb="$(wasm_bindgen_version)"
  [ -n "$wb" ] || { echo "wasm-bindgen not found in Cargo.lock" >&2; exit 1; }
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wb" ]; then
    say "installing wasm-bindgen-cli $wb (one-time, ~4 min on 2 cores)"
    # No --locked: its lockfile names a crate version the registry mirror lacks.
    cargo install wasm-bindgen-cli --version "$wb"
  fi
  if ! "$TOOLS/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version $BINARYEN_VERSION\b"; then
    say "installing wasm-opt (npm binaryen@$BINARYEN_VERSION) into .tools/"
    mkdir -p "$TOOLS"
    npm install --prefix "$TOOLS" --no-save --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION" >/dev/null
  fi
  say "console tools ready: $(trunk --version), $(wasm-bindgen --version), $(wasm-opt --version | head -1)"
}

# Builds the console into frontend/dist (embedded by the next broker build).
build_ui() {
  say "building the console: trunk build --release --offline"
  (cd "$ROOT" && trunk build --release --offline)
}

need_browser() {
  need_node
  # Debian's chromium: `npx playwright install` downloads a browser build,
  # which cannot work here. The CJK font makes the Chinese UI readable in
  # the screenshots.
  apt_install chromium fonts-wqy-microhei
  local dir="$ROOT/tests/browser" stamp="$ROOT/tests/browser/node_modules/.installed"
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    say "installing the browser tests' npm packages (playwright-core)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-all}" in
    build) need_build ;;
    python) need_python ;;
    ui) need_ui ;;
    browser) need_browser ;;
    nats) need_nats ;;
    all) need_build; [ -f "$ROOT/python/pyproject.toml" ] && need_python; need_nats; need_ui; need_browser ;;
    *) echo "usage: scripts/setup.sh [build|python|nats|ui|browser|all]" >&2; exit 2 ;;
  esac
fi

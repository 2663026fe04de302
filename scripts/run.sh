#!/usr/bin/env bash
# Sets up what is missing, builds the broker in release mode and runs it on
# the embedded defaults (ports 5555/5556, SQLite ./pulsemq.db). Extra
# arguments go to pulsemq, e.g. scripts/run.sh --pub-port 6000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
need_build
# The console is embedded when its sources are present.
if [ -f "$ROOT/frontend/Cargo.toml" ]; then
  need_ui
  build_ui
fi
cd "$ROOT"
cargo build --release -p pulsemq
exec "$ROOT/target/release/pulsemq" "$@"

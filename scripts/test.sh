#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script). It installs what it
# needs itself (the Python tools in .venv, scripts/venv.sh), starts a moto server (S3 and
# DynamoDB) on a free port of 127.0.0.1 for the AWS adapter tests, and stops it by PID whatever
# happens. Needs nothing outside this repository (no ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

# wait_for URL SECONDS NAME LOG
wait_for() {
  for _ in $(seq 1 $(( $2 * 5 ))); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$3 did not answer at $1 within $2 s; its log:" >&2
  tail -n 40 "$4" >&2
  exit 1
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "tools (.venv)"
scripts/venv.sh

step "moto server (S3, DynamoDB) on 127.0.0.1"
LOGS=$(mktemp -d)
MOTO_PORT=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" > "$LOGS/moto.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" 30 moto "$LOGS/moto.log"
echo "moto on port $MOTO_PORT (pid ${PIDS[0]})"

step "cargo test"
FRAUD_TEST_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT" \
  cargo test --workspace --locked --features fraud-aws/moto-tests

step "all tests passed"

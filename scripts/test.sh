#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script). It installs what it
# needs itself (the Python tools in .venv, scripts/venv.sh; Debian's chromium for the report's
# browser test, with apt when missing), starts a moto server (S3 and
# DynamoDB) and an MLflow tracking server on free ports of 127.0.0.1 for the adapter and
# logger tests, and stops both by PID whatever happens. Needs nothing outside this repository
# (no ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

PIDS=()
# Each server runs in its own process group (setsid), so stopping it also stops the workers it
# spawned (MLflow starts uvicorn and a job consumer).
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
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

step "headless Chromium (renders the monitoring report in a test)"
if ! command -v chromium > /dev/null; then
  SUDO=$([[ $(id -u) -eq 0 ]] && echo "" || echo "sudo -n")
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q chromium > "${TMPDIR:-/tmp}/chromium-install.log" 2>&1 \
    || { $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium; } > "${TMPDIR:-/tmp}/chromium-install.log" 2>&1 \
    || { echo "could not install chromium (Debian package; needs root or sudo):" >&2; tail -5 "${TMPDIR:-/tmp}/chromium-install.log" >&2; exit 1; }
fi
CHROMIUM=$(command -v chromium)
echo "$CHROMIUM: $("$CHROMIUM" --version 2>/dev/null)"

step "template checks"
.venv/bin/cfn-lint template.yaml
SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --template-file template.yaml
python3 -m json.tool infra/train-grid.asl.json > /dev/null
.venv/bin/python tests/template/check_template.py template.yaml

step "moto server (S3, DynamoDB) on 127.0.0.1"
LOGS=$(mktemp -d)
MOTO_PORT=$(free_port)
setsid .venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" > "$LOGS/moto.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" 30 moto "$LOGS/moto.log"
echo "moto on port $MOTO_PORT (pid ${PIDS[0]})"

step "MLflow tracking server on 127.0.0.1"
MLFLOW_PORT=$(free_port)
setsid .venv/bin/mlflow server --backend-store-uri "sqlite:///$LOGS/mlflow.db" --artifacts-destination "$LOGS/mlflow-artifacts" \
  --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 > "$LOGS/mlflow.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$MLFLOW_PORT/health" 90 MLflow "$LOGS/mlflow.log"
echo "MLflow on port $MLFLOW_PORT (pid ${PIDS[1]})"

step "cargo test"
FRAUD_TEST_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT" FRAUD_TEST_MLFLOW_URI="http://127.0.0.1:$MLFLOW_PORT" \
  FRAUD_TEST_CHROMIUM="$CHROMIUM" \
  cargo test --workspace --locked --features fraud-aws/moto-tests,fraud-service/moto-tests,eval/moto-tests,mlflow-logger/mlflow-tests,fraud-e2e/stack-tests,fraud-cli/browser-tests

step "all tests passed"

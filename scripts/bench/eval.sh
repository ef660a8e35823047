#!/usr/bin/env bash
# Batch-evaluation figures for BENCHMARKS.md: the eval function's handler on a fraudTest-sized
# file, over a local directory and over S3 (a moto server on 127.0.0.1, started and stopped
# here), timed inside the process (stream, features, scoring, every output written).
#
#   scripts/bench/eval.sh [MODEL] [DATA]
#   defaults: out/bench/gbdt.bin (trained by scripts/bench/core.sh, or here when missing)
#             ../shared/data/sparkov/test.csv.zst
set -euo pipefail
cd "$(dirname "$0")/../.."

MODEL=${1:-out/bench/gbdt.bin}
DATA=${2:-../shared/data/sparkov/test.csv.zst}

cargo build --release --locked -p eval --example eval_bench -p fraud-cli >&2
source scripts/cargo-target.sh
TARGET=$(cargo_target_dir)
if [[ ! -f $MODEL ]]; then
  mkdir -p "$(dirname "$MODEL")"
  "$TARGET/release/fraud" train --train ../shared/data/sparkov/train.csv.zst --out "$MODEL" >&2
fi
BENCH=$TARGET/release/examples/eval_bench

echo "local directory: $($BENCH "$MODEL" "$DATA" 2>/dev/null)"

scripts/venv.sh
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid .venv/bin/moto_server -H 127.0.0.1 -p "$PORT" > /dev/null 2>&1 &
MOTO=$!
trap 'kill -TERM -- "-$MOTO" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/moto-api/" && break; sleep 0.2; done
echo "S3 (moto):       $(AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 FRAUD_BUCKET=bench-eval $BENCH "$MODEL" "$DATA" --s3 2>/dev/null)"

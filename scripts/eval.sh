#!/usr/bin/env bash
# The original project's client, same arguments in the same order: score a test set through a
# deployed (or local) /predict, then write the monitoring report next to the predictions.
#
#   scripts/eval.sh TEST_SET PREDICTION_FILE WEB_SERVER_API BATCH_SIZE NUM_WORKERS
#   scripts/eval.sh data/fraudTest.csv out/replay.csv http://127.0.0.1:3000/predict 1 8
#
# WEB_SERVER_API is the /predict URL (API Gateway: https://ID.execute-api.REGION.amazonaws.com/predict).
# An execute-api URL gets SigV4-signed requests (the stack's default IAM authorization; AWS
# credentials from the usual chain) unless FRAUD_API_TOKEN is set (a JWT authorizer, or a
# `fraud serve` with a token).
# BATCH_SIZE 1 posts rows one by one; more uses /predict/batch. The report (PREDICTION_FILE
# without .csv, plus -report/) compares against REFERENCE: a model file (default out/model.bin,
# what scripts/run.sh trains) or a reference CSV such as the training file.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ne 5 ]]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
TEST_SET=$1 PREDICTIONS=$2 URL=$3 BATCH_SIZE=$4 WORKERS=$5
REFERENCE=${REFERENCE:-out/model.bin}
if [[ ! -f $REFERENCE ]]; then
  echo "REFERENCE=$REFERENCE not found: set REFERENCE to the served model file or a reference CSV" >&2
  exit 2
fi

cargo build --release --locked -q -p fraud-cli
source scripts/cargo-target.sh
FRAUD=$(cargo_target_dir)/release/fraud
mkdir -p "$(dirname "$PREDICTIONS")"
SIGN=()
[[ $URL == *.execute-api.* && -z ${FRAUD_API_TOKEN:-} ]] && SIGN=(--sigv4)
"$FRAUD" replay --data "$TEST_SET" --url "$URL" --out "$PREDICTIONS" --batch-size "$BATCH_SIZE" --workers "$WORKERS" "${SIGN[@]}"
"$FRAUD" report --reference "$REFERENCE" --current "$PREDICTIONS" --out "${PREDICTIONS%.csv}-report"

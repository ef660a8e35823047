#!/usr/bin/env bash
# The main job on one machine, no AWS or Kaggle account: build, get data, train, evaluate.
#
#   scripts/run.sh
#
# Data: data/fraudTrain.csv + data/fraudTest.csv when present (the real Kaggle files, see
# scripts/download_data.sh); otherwise a simulated set of FRAUD_CUSTOMERS card holders (default
# 500, about a million rows) made by the built-in simulator into data/simulated/.
# Outputs go to out/: model.bin, eval/predictions.csv, eval/metrics.json, and a decision policy
# (policy.json: deny and review thresholds of least dollar cost on the validation slice, with a
# false decline priced at its amount and a review at $5 for at most 1 % of transactions) with
# its backtest on the test file (backtest/backtest.json). Then it serves POST /predict with that
# policy on 127.0.0.1:${FRAUD_PORT:-3000} until Ctrl-C (FRAUD_SERVE=0 stops before).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${FRAUD_OUT:-out}
CUSTOMERS=${FRAUD_CUSTOMERS:-500}
SEED=${FRAUD_SEED:-1}
step() { printf '\n== %s\n' "$*"; }

step "build (release)"
cargo build --release --locked -p fraud-cli
source scripts/cargo-target.sh
FRAUD=$(cargo_target_dir)/release/fraud

step "data"
if [[ -f data/fraudTrain.csv && -f data/fraudTest.csv ]]; then
  TRAIN=data/fraudTrain.csv
  TEST=data/fraudTest.csv
  echo "using the Kaggle files in data/"
else
  TRAIN=data/simulated/fraudTrain.csv
  TEST=data/simulated/fraudTest.csv
  if [[ -f $TRAIN && -f $TEST ]]; then
    echo "using the simulated set in data/simulated/ (delete it to generate anew)"
  else
    echo "data/fraudTrain.csv not found (scripts/download_data.sh fetches the Kaggle files):"
    echo "generating $CUSTOMERS simulated card holders over 2019-2020 instead"
    "$FRAUD" generate --customers "$CUSTOMERS" --seed "$SEED" --out data/simulated
  fi
fi

mkdir -p "$OUT"
step "train ($TRAIN)"
"$FRAUD" train --train "$TRAIN" --out "$OUT/model.bin"

step "evaluate ($TEST, card history replayed from $TRAIN)"
"$FRAUD" eval --model "$OUT/model.bin" --data "$TEST" --history "$TRAIN" --out "$OUT/eval"

step "decision policy: thresholds from dollars on the validation slice of $TRAIN"
"$FRAUD" policy fit --model "$OUT/model.bin" --train "$TRAIN" --review-cost 5 --review-rate-max 0.01 \
  --version "run-$(date -u +%Y%m%dT%H%M%SZ)" --out "$OUT/policy.json"

step "backtest of the policy on $TEST"
"$FRAUD" backtest --model "$OUT/model.bin" --policy "$OUT/policy.json" --data "$TEST" --history "$TRAIN" \
  --out "$OUT/backtest"

step "done"
echo "model:       $OUT/model.bin"
echo "predictions: $OUT/eval/predictions.csv"
echo "metrics:     $OUT/eval/metrics.json"
echo "policy:      $OUT/policy.json (backtest: $OUT/backtest/backtest.json)"

if [[ ${FRAUD_SERVE:-1} != 0 ]]; then
  PORT=${FRAUD_PORT:-3000}
  step "serve POST /predict on http://127.0.0.1:$PORT (Ctrl-C stops; card state in $OUT/card-state.db, decisions in $OUT/decisions.db: $FRAUD decisions $OUT/decisions.db prints them)"
  echo "try:  curl -s -H 'content-type: application/json' -d @functions/score/tests/fixtures/predict_body.json http://127.0.0.1:$PORT/predict"
  CARD_HASH_SECRET=${CARD_HASH_SECRET:-local-development-secret-not-for-production} \
    exec "$FRAUD" serve --model "$OUT/model.bin" --policy "$OUT/policy.json" --port "$PORT" \
      --state "$OUT/card-state.db" --decision-log "$OUT/decisions.db"
fi

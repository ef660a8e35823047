#!/usr/bin/env bash
# The main job on one machine, no AWS account: build, get data, train, evaluate.
#   scripts/run.sh            # uses data/fraudTrain.csv + data/fraudTest.csv when present
# Outputs go to out/ (model.bin, eval/predictions.csv, eval/metrics.json).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${FRAUD_OUT:-out}
step() { printf '\n== %s\n' "$*"; }

step "build (release)"
cargo build --release --locked -p fraud-cli
FRAUD=target/release/fraud

step "data"
if [[ -f data/fraudTrain.csv && -f data/fraudTest.csv ]]; then
  TRAIN=data/fraudTrain.csv
  TEST=data/fraudTest.csv
  echo "using the Kaggle files in data/"
else
  # Until the built-in simulator lands, a fresh clone runs on the committed sample of real
  # Kaggle rows: the pipeline runs end to end, but 422 rows make a toy model.
  TRAIN=tests/fixtures/kaggle/kaggle_train_sample.csv
  TEST=tests/fixtures/kaggle/kaggle_test_sample.csv
  echo "data/fraudTrain.csv not found: using the small committed Kaggle sample ($TRAIN)"
fi

mkdir -p "$OUT"
step "train ($TRAIN)"
"$FRAUD" train --train "$TRAIN" --out "$OUT/model.bin"

step "evaluate ($TEST, card history replayed from $TRAIN)"
"$FRAUD" eval --model "$OUT/model.bin" --data "$TEST" --history "$TRAIN" --out "$OUT/eval"

step "done"
echo "model:       $OUT/model.bin"
echo "predictions: $OUT/eval/predictions.csv"
echo "metrics:     $OUT/eval/metrics.json"

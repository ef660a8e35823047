#!/usr/bin/env bash
# Training and evaluation figures for BENCHMARKS.md: every model, trained on TRAIN, evaluated on
# TEST with an empty card history and (gbdt) with TRAIN replayed as history, under /usr/bin/time -v.
#
#   scripts/bench/core.sh [TRAIN] [TEST] [OUT_DIR] [MODELS...]
#   defaults: ../shared/data/sparkov/train.csv.zst ../shared/data/sparkov/test.csv.zst out/bench gbdt forest logistic
#
# Prints a markdown table. Run it on a quiet machine: these VMs are shared, and a concurrent build
# doubles training times.
set -euo pipefail
cd "$(dirname "$0")/../.."

TRAIN=${1:-../shared/data/sparkov/train.csv.zst}
TEST=${2:-../shared/data/sparkov/test.csv.zst}
OUT=${3:-out/bench}
shift $(( $# > 3 ? 3 : $# ))
MODELS=("${@:-gbdt forest logistic}")
read -r -a MODELS <<< "${MODELS[*]}"

cargo build --release --locked -p fraud-cli >&2
source scripts/cargo-target.sh
FRAUD=$(cargo_target_dir)/release/fraud
mkdir -p "$OUT"

# wall seconds and peak RSS (MB) from a `/usr/bin/time -v` log
timing() { python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
print(f"{secs:.1f} s | {rss:,.0f} MB")
PY
}

metrics() { python3 - "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
c = m["confusion"]
print(f'{m["auc_roc"]:.4f} | {m["auc_pr"]:.4f} | {m["precision"]:.4f} | {m["recall"]:.4f} | {m["f1"]:.4f} | '
      f'{m["recall_at_1pct_fpr"]:.4f} | {m["threshold"]:.4f} | {c["tp"]}/{c["fp"]}/{c["fn"]}')
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | train wall | train peak RSS | eval (history) | eval wall | eval peak RSS | AUC-ROC | AUC-PR | precision | recall | F1 | recall@1%FPR | threshold | TP/FP/FN |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for model in "${MODELS[@]}"; do
  /usr/bin/time -v "$FRAUD" train --train "$TRAIN" --model "$model" --out "$OUT/$model.bin" \
    > "$OUT/$model.train.log" 2> "$OUT/$model.train.time"
  train_t=$(timing "$OUT/$model.train.time")
  runs=("empty")
  [[ $model == gbdt ]] && runs+=("replayed")
  for history in "${runs[@]}"; do
    args=(eval --model "$OUT/$model.bin" --data "$TEST" --out "$OUT/$model-$history")
    [[ $history == replayed ]] && args+=(--history "$TRAIN")
    /usr/bin/time -v "$FRAUD" "${args[@]}" > "$OUT/$model-$history.log" 2> "$OUT/$model-$history.time"
    echo "| $model | $train_t | $history | $(timing "$OUT/$model-$history.time") | $(metrics "$OUT/$model-$history/metrics.json") |"
  done
done
echo
echo "validation (last 15 % of TRAIN by time), from the train logs:"
grep -H "validation:" "$OUT"/*.train.log | sed "s|$OUT/||"

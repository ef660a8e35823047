#!/usr/bin/env bash
# Training and batch scoring side by side with the Python peer (LightGBM + pandas,
# ../shared/peers/python-lightgbm), in one run with the same inputs, for BENCHMARKS.md and the
# model campaign (issue 11).
#
# Each round runs, one after the other: `fraud train` and the peer's `train.py` on TRAIN, then
# `fraud eval` and the peer's `score_batch.py` on TEST (card history empty at its first row for
# both), every command under /usr/bin/time -v. It prints per round the wall time and peak RSS of
# each and the ratio ours / peer, then the quality of both on TEST from their own predictions
# at their own validation-chosen thresholds (AUC-PR, F1, value detection rate).
#
#   scripts/bench/peer.sh [TRAIN] [TEST] [OUT_DIR]
#   defaults: ../shared/data/sparkov/train.csv.zst ../shared/data/sparkov/test.csv.zst out/bench-peer
#   env: ROUNDS (default 3)
#
# Run it on a quiet machine: a concurrent build doubles the peer's training time (its README).
set -euo pipefail
cd "$(dirname "$0")/../.."

TRAIN=$(realpath "${1:-../shared/data/sparkov/train.csv.zst}")
TEST=$(realpath "${2:-../shared/data/sparkov/test.csv.zst}")
OUT=$(realpath -m "${3:-out/bench-peer}")
ROUNDS=${ROUNDS:-3}
PEER=$(realpath ../shared/peers/python-lightgbm)
mkdir -p "$OUT"

cargo build --release --locked -p fraud-cli >&2
source scripts/cargo-target.sh
FRAUD=$(cargo_target_dir)/release/fraud
if [[ ! -x $OUT/peer-venv/bin/python ]]; then
  python3 -m venv "$OUT/peer-venv"
  "$OUT/peer-venv/bin/pip" install -q -r "$PEER/requirements.txt"
fi
PY=$OUT/peer-venv/bin/python

# timed NAME COMMAND...: runs it under /usr/bin/time -v; prints "wall_s rss_mb"
timed() {
  local name=$1; shift
  /usr/bin/time -v -o "$OUT/$name.time" "$@" > "$OUT/$name.log" 2>&1 || { echo "$name failed:" >&2; tail "$OUT/$name.log" >&2; exit 1; }
  python3 - "$OUT/$name.time" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall.split(":"))))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
print(f"{secs:.2f} {rss:.0f}")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| round | fraud train | train.py | ratio | fraud eval | score_batch.py | ratio |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  read -r ot orss < <(timed ours-train "$FRAUD" train --train "$TRAIN" --out "$OUT/model.bin")
  read -r pt prss < <(cd "$PEER" && timed peer-train "$PY" train.py --train "$TRAIN" --test "$TEST" --out "$OUT/peer-model")
  read -r oe oerss < <(timed ours-eval "$FRAUD" eval --model "$OUT/model.bin" --data "$TEST" --out "$OUT/eval")
  read -r pe perss < <(cd "$PEER" && timed peer-score "$PY" score_batch.py --model "$OUT/peer-model" --data "$TEST" --out "$OUT/peer-predictions.csv")
  ratio() { python3 -c "print(f'{$1 / $2:.2f}x')"; }
  echo "| $round | $ot s, $orss MB | $pt s, $prss MB | $(ratio "$ot" "$pt") | $oe s, $oerss MB | $pe s, $perss MB | $(ratio "$oe" "$pe") |"
done
echo
echo "quality on $(basename "$TEST"), card history empty at its first row, each at its own validation-chosen threshold:"
"$PY" - "$TEST" "$OUT/eval/predictions.csv" "$(python3 -c "import json; print(json.load(open('$OUT/eval/metrics.json'))['threshold'])")" ours \
  "$OUT/peer-predictions.csv" "$(python3 -c "import json; print(json.load(open('$OUT/peer-model/meta.json'))['threshold'])")" peer <<'PY'
import sys
import pandas as pd
from sklearn.metrics import average_precision_score
test = pd.read_csv(sys.argv[1], usecols=["trans_num", "amt", "is_fraud"])
for path, threshold, name in [sys.argv[2:5], sys.argv[5:8]]:
    d = test.merge(pd.read_csv(path), on="trans_num")
    y, p, amt = d.is_fraud.to_numpy(), d.fraud_probability.to_numpy(), d.amt.to_numpy()
    flag = p >= float(threshold)
    tp, fp, fn = (flag & (y == 1)).sum(), (flag & (y == 0)).sum(), (~flag & (y == 1)).sum()
    print(f"- {name}: AUC-PR {average_precision_score(y, p):.4f}  F1 {2 * tp / (2 * tp + fp + fn):.4f}  "
          f"TP/FP/FN {tp}/{fp}/{fn}  value detection {amt[flag & (y == 1)].sum() / amt[y == 1].sum():.4f}  "
          f"good spend declined ${amt[flag & (y == 0)].sum():,.0f}  (threshold {float(threshold):.4f})")
PY

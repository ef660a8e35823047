#!/usr/bin/env bash
# Side-by-side HTTP benchmark of `fraud serve` and the Python peer (FastAPI + LightGBM,
# ../shared/peers/python-lightgbm), with the same load generator (wrk, one thread), the same
# bodies (500 real test rows of the test file's first day; scripts/bench/bodies.lua, the peer's
# bench/bodies.lua plus a new trans_num on each pass so every request is a new decision)
# and the same pinning: server on CPU 1, wrk on CPU 0.
#
# Each server is loaded at every concurrency level in turn. Its capacity is the most requests per
# second it served at a level whose p99 stayed at or under the latency objective (P99_MS, 5 ms by
# default) with no errors; the two capacities give the ratio. Concurrency 1 is reported too: there
# every request waits for the previous answer, so its rate is one over the round trip, which on
# loopback is mostly the kernel and the client (BENCHMARKS.md).
#
#   scripts/bench/http.sh [TRAIN] [TEST] [OUT_DIR]
#   defaults: ../shared/data/sparkov/train.csv.zst ../shared/data/sparkov/test.csv.zst out/bench-http
#   env: DURATION (default 10s), CONCURRENCY ("1 2 4 8 16 32 64"), P99_MS (5), SKIP_PEER=1 to
#   measure only ours, DURABLE=0 to keep our card state in memory (by default it is in a
#   database file and every answer is on disk before it is sent)
#
# Needs wrk and taskset (Debian: apt-get install wrk util-linux). Prints a markdown table and
# writes OUT_DIR/results.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

TRAIN=$(realpath "${1:-../shared/data/sparkov/train.csv.zst}")
TEST=$(realpath "${2:-../shared/data/sparkov/test.csv.zst}")
OUT=$(realpath -m "${3:-out/bench-http}")
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-1 2 4 8 16 32 64}
P99_MS=${P99_MS:-5}
PEER=$(realpath ../shared/peers/python-lightgbm)
SERVER_CPU=1
CLIENT_CPU=0
mkdir -p "$OUT"
for tool in wrk taskset curl; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }; done

cargo build --release --locked -p fraud-cli >&2
source "$ROOT/scripts/cargo-target.sh"
FRAUD=$(cargo_target_dir)/release/fraud
[[ -f $OUT/model.bin ]] || "$FRAUD" train --train "$TRAIN" --out "$OUT/model.bin" >&2

if [[ ${SKIP_PEER:-0} != 1 ]]; then
  if [[ ! -x $OUT/peer-venv/bin/uvicorn ]]; then
    python3 -m venv "$OUT/peer-venv"
    "$OUT/peer-venv/bin/pip" install -q -r "$PEER/requirements.txt"
  fi
  [[ -f $OUT/peer-model/meta.json ]] || (cd "$PEER" && "$OUT/peer-venv/bin/python" train.py --train "$TRAIN" --test "$TEST" --out "$OUT/peer-model" >&2)
fi
if [[ ! -f $OUT/bodies.jsonl ]]; then
  python3 - "$TEST" 500 > "$OUT/bodies.jsonl" <<'PY'
# Like the peer's bench/make_bodies.py (N real rows spread evenly, as JSON), but over the first
# day of the file: bodies.lua moves unix_time forward by the bodies' span plus a day on every
# pass, and with a six-month span a million requests would carry unix_time past the year 2100,
# which the service refuses as absurd (the peer does not check).
import csv, io, json, subprocess, sys
path, n = sys.argv[1], int(sys.argv[2])
raw = subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout.decode() if path.endswith(".zst") else open(path).read()
rows = list(csv.DictReader(io.StringIO(raw)))
first = int(rows[0]["unix_time"])
rows = [r for r in rows if int(r["unix_time"]) < first + 86_400]
ints = {"cc_num", "zip", "city_pop", "unix_time"}
floats = {"amt", "lat", "long", "merch_lat", "merch_long"}
for r in rows[:: max(len(rows) // n, 1)][:n]:
    print(json.dumps({k: int(v) if k in ints else float(v) if k in floats else v for k, v in r.items() if k not in ("", "is_fraud")}))
PY
fi

taskset -cp $CLIENT_CPU $$ >/dev/null  # this shell and its children (curl, wrk) run on the client CPU

# start_server NAME PORT COMMAND...: starts it on the server CPU, prints ms from spawn to the
# first answered /predict.
start_server() {
  local name=$1 port=$2; shift 2
  local t0 body
  body=$(head -n 1 "$OUT/bodies.jsonl")
  t0=$(date +%s%N)
  taskset -c $SERVER_CPU "$@" > "$OUT/$name.server.log" 2>&1 &
  SERVER=$!
  until curl -sf -o /dev/null -H 'content-type: application/json' --data-binary "$body" "http://127.0.0.1:$port/predict"; do
    sleep 0.002
    kill -0 $SERVER 2>/dev/null || { echo "$name died: $(cat "$OUT/$name.server.log")" >&2; exit 1; }
  done
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}

measure() { # NAME PORT
  local name=$1 port=$2 url=http://127.0.0.1:$2/predict
  wrk -t1 -c8 -d3s -s "$ROOT/scripts/bench/bodies.lua" "$url" -- "$OUT/bodies.jsonl" > /dev/null  # warm-up
  for c in $CONCURRENCY; do
    wrk -t1 -c"$c" -d"$DURATION" --latency -s "$ROOT/scripts/bench/bodies.lua" "$url" -- "$OUT/bodies.jsonl" \
      | tail -n 1 > "$OUT/$name.c$c.json"
  done
  ps -o rss= -p $SERVER | tr -d ' ' > "$OUT/$name.rss_kb"
}

SERVER=
trap '[[ -n $SERVER ]] && kill $SERVER 2>/dev/null || true' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$OUT/load.txt"

if [[ ${SKIP_PEER:-0} != 1 ]]; then
  start_server peer 8011 env MODEL_DIR="$OUT/peer-model" "$OUT/peer-venv/bin/uvicorn" serve:app \
    --app-dir "$PEER" --host 127.0.0.1 --port 8011 --workers 1 --log-level warning > "$OUT/peer.start_ms"
  measure peer 8011
  kill $SERVER; wait $SERVER 2>/dev/null || true
fi

# Durability on (the default): card state and decisions in database files, every answer
# committed to disk before it is sent; DURABLE=0 keeps card state in memory.
rm -f "$OUT"/decisions.db* "$OUT"/cards.db*  # with their journals
STATE=()
[[ ${DURABLE:-1} == 1 ]] && STATE=(--state "$OUT/cards.db")
start_server ours 8012 env CARD_HASH_SECRET=bench-secret-0123456789abcdef "$FRAUD" serve --model "$OUT/model.bin" \
  --port 8012 --decision-log "$OUT/decisions.db" "${STATE[@]}" > "$OUT/ours.start_ms"
measure ours 8012
kill $SERVER; wait $SERVER 2>/dev/null || true

python3 - "$OUT" "$CONCURRENCY" "$P99_MS" <<'PY'
import json, os, sys
out, levels, objective = sys.argv[1], sys.argv[2].split(), float(sys.argv[3])
servers = [s for s in ("peer", "ours") if os.path.exists(f"{out}/{s}.rss_kb")]
results = {}
print(f"machine: {os.cpu_count()} cores; {open(out + '/load.txt').read().strip()}; server on CPU 1, wrk -t1 on CPU 0")
print()
print("| server | concurrency | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | RSS after | start to first answer |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s in servers:
    results[s] = {"start_ms": int(open(f"{out}/{s}.start_ms").read()), "rss_mb": int(open(f"{out}/{s}.rss_kb").read()) / 1024}
    for c in levels:
        r = json.load(open(f"{out}/{s}.c{c}.json"))
        results[s][f"c{c}"] = r
        errors = sum(r["errors"].values())
        name = "fraud serve" if s == "ours" else "Python peer"
        print(f'| {name} | {c} | {r["requests_per_s"]:,.0f} | {r["p50_ms"]:.3f} | {r["p90_ms"]:.3f} | {r["p99_ms"]:.3f} | '
              f'{r["max_ms"]:.2f} | {errors} | {results[s]["rss_mb"]:.0f} MB | {results[s]["start_ms"]} ms |')
print()
for s in servers:
    name = "fraud serve" if s == "ours" else "Python peer"
    within = [(results[s][f"c{c}"]["requests_per_s"], int(c)) for c in levels
              if results[s][f"c{c}"]["p99_ms"] <= objective and not sum(results[s][f"c{c}"]["errors"].values())]
    rate, level = max(within, default=(0.0, None))
    results[s]["capacity"] = {"requests_per_s": rate, "concurrency": level, "p99_objective_ms": objective}
    print(f"- {name}: capacity at p99 <= {objective:g} ms: {rate:,.0f} req/s (concurrency {level})")
if len(servers) == 2:
    peer_rate = results["peer"]["capacity"]["requests_per_s"]
    if peer_rate:
        print(f"- capacity ratio, fraud serve / peer: {results['ours']['capacity']['requests_per_s'] / peer_rate:.1f}x")
    for c in levels:
        ratio = results["ours"][f"c{c}"]["requests_per_s"] / results["peer"][f"c{c}"]["requests_per_s"]
        print(f"- concurrency {c}: fraud serve / peer = {ratio:.1f}x requests per second")
json.dump(results, open(f"{out}/results.json", "w"), indent=2)
PY

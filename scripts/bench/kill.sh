#!/usr/bin/env bash
# Fault campaign, SIGKILL: `fraud serve` with its card state and decision log in database files
# is killed (kill -9) under load from several concurrent clients, restarted, and killed again,
# ROUNDS times. Every round the clients post new rows (real Kaggle rows) and first retry the last
# answered transaction of each card from the rounds before. Afterwards it counts what a payment
# system cares about: acknowledged decisions missing from the log, decisions logged twice, and
# retries answered differently from the first answer.
#
#   scripts/bench/kill.sh [ROWS.csv] [OUT_DIR]
#   defaults: ../shared/data/kaggle/fraudTest_head.csv (else the committed fixture) out/bench-kill
#   env: ROUNDS (10), CLIENTS (8), KILL_AFTER_MS (400: the kill comes this long after the load starts)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${1:-../shared/data/kaggle/fraudTest_head.csv}
[[ -f $ROWS ]] || ROWS=tests/fixtures/kaggle/kaggle_test_sample.csv
ROWS=$(realpath "$ROWS")
OUT=$(realpath -m "${2:-out/bench-kill}")
mkdir -p "$OUT"
rm -f "$OUT"/cards.db* "$OUT"/decisions.db* "$OUT/acknowledged.jsonl"  # with their journals

cargo build --release --locked -q -p fraud-cli
source scripts/cargo-target.sh
FRAUD=$(cargo_target_dir)/release/fraud
MODEL=tests/fixtures/golden/model.bin
export CARD_HASH_SECRET=kill-campaign-secret-0123456789

python3 - "$FRAUD" "$MODEL" "$ROWS" "$OUT" "${ROUNDS:-10}" "${CLIENTS:-8}" "${KILL_AFTER_MS:-400}" <<'PY'
import csv, http.client, json, os, signal, socket, subprocess, sys, threading, time

fraud, model, rows_path, out, rounds, clients, kill_after = sys.argv[1:8]
rounds, clients, kill_after = int(rounds), int(clients), int(kill_after) / 1000

def rows():
    with open(rows_path, newline="") as f:
        for row in csv.DictReader(f):
            row.pop("", None)
            row.pop("is_fraud", None)
            for k in ("amt", "lat", "long", "merch_lat", "merch_long"):
                row[k] = float(row[k])
            for k in ("cc_num", "zip", "city_pop", "unix_time"):
                row[k] = int(row[k])
            yield row

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start():
    port = free_port()
    proc = subprocess.Popen([fraud, "serve", "--model", model, "--port", str(port),
                             "--state", f"{out}/cards.db", "--decision-log", f"{out}/decisions.db"],
                            stdout=subprocess.DEVNULL, stderr=open(f"{out}/server.log", "a"))
    for _ in range(1000):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health"); c.getresponse().read()
            return proc, port
        except OSError:
            time.sleep(0.01)
    sys.exit("fraud serve did not start")

def post(conn, body):
    conn.request("POST", "/predict", body, {"content-type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read().decode()

all_rows = list(rows())
for i, row in enumerate(all_rows):
    row["trans_num"] = f"{row['trans_num']}-{i}"
acked = {}          # trans_num -> (card, body, answer)
last_of_card = {}   # card -> trans_num of its last acknowledged transaction
retried = mismatched = sent = 0
lock = threading.Lock()
position = 0
for round_no in range(rounds):
    proc, port = start()
    retries = [acked[t] for t in last_of_card.values()]
    def client(k):
        global position, retried, mismatched, sent
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            for card, body, answer in retries[k::clients]:
                status, got = post(conn, body)
                with lock:
                    retried += 1
                    mismatched += status != 200 or got != answer
            while True:
                with lock:
                    if position >= len(all_rows):
                        return
                    row = all_rows[position]; position += 1; sent += 1
                body = json.dumps(row)
                status, got = post(conn, body)
                if status == 200:
                    with lock:
                        acked[row["trans_num"]] = (row["cc_num"], body, got)
                        last_of_card[row["cc_num"]] = row["trans_num"]
        except (OSError, http.client.HTTPException):
            return
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads: t.start()
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL); proc.wait()
    for t in threads: t.join()
    if position >= len(all_rows):
        break

logged = subprocess.run([fraud, "decisions", f"{out}/decisions.db"], check=True,
                        capture_output=True, text=True).stdout.splitlines()
names = [json.loads(line)["trans_num"] for line in logged]
missing = [t for t in acked if t not in set(names)]
twice = len(names) - len(set(names))
result = {"rounds": round_no + 1, "clients": clients, "requests_sent": sent,
          "acknowledged": len(acked), "logged": len(names),
          "acknowledged_missing_from_log": len(missing), "logged_twice": twice,
          "retries_after_kill": retried, "retries_answered_differently": mismatched}
json.dump(result, open(f"{out}/result.json", "w"), indent=1)
print(json.dumps(result, indent=1))
sys.exit(1 if missing or twice or mismatched else 0)
PY

#!/usr/bin/env bash
# Instructions per POST /predict of `fraud serve`, counted by valgrind's callgrind: a figure that
# does not move with the machine's load, for comparing two builds of the service.
#
#   scripts/bench/instructions.sh [MODEL] [BODIES] [REQUESTS]
#   defaults: out/bench-http/model.bin out/bench-http/bodies.jsonl 2000 (scripts/bench/http.sh
#   makes both); env FRAUD=path/to/fraud to count another build.
#
# The server runs under callgrind; 500 warm-up requests go first over one keep-alive connection,
# then the counters are zeroed, REQUESTS more are sent (each pass over the bodies gets new
# trans_nums and later times, as in bodies.lua), and the counters are dumped. Prints the total per
# request and the heaviest parts of the request path. Needs valgrind (Debian: apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/../.."

MODEL=$(realpath "${1:-out/bench-http/model.bin}")
BODIES=$(realpath "${2:-out/bench-http/bodies.jsonl}")
REQUESTS=${3:-2000}
PORT=${PORT:-8041}
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
if [[ -z ${FRAUD:-} ]]; then
  cargo build --release --locked -p fraud-cli >&2
  source scripts/cargo-target.sh
  FRAUD=$(cargo_target_dir)/release/fraud
fi
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$FRAUD" serve --model "$MODEL" \
  --port "$PORT" --threads 1 --decision-log "$WORK/decisions.db" > "$WORK/server.log" 2>&1 &
SERVER=$!
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
  sleep 0.2
  kill -0 $SERVER 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
done

python3 - "$PORT" "$REQUESTS" "$BODIES" "$SERVER" <<'PY'
import http.client, json, subprocess, sys
port, n, path, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
bodies = [json.loads(line) for line in open(path)]
span = max(b["unix_time"] for b in bodies) - min(b["unix_time"] for b in bodies) + 86_400
conn = http.client.HTTPConnection("127.0.0.1", port)
def send(i):
    body, p = dict(bodies[i % len(bodies)]), i // len(bodies)
    body["trans_num"] = f"p{p}{body['trans_num']}"
    body["unix_time"] += p * span
    conn.request("POST", "/predict", json.dumps(body), {"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
for i in range(500):
    send(i)
subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
for i in range(500, 500 + n):
    send(i)
subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
PY

kill -INT $SERVER
wait $SERVER 2>/dev/null || true
DUMP=$(ls "$WORK"/cg.out.* | head -n 1)
callgrind_annotate --auto=no --threshold=100 --inclusive=yes "$DUMP" 2>/dev/null | python3 -c '
import re, sys
n = int(sys.argv[1])
parts = {
    "tree walk and contributions": "TreeEnsemble::sum_and_contributions",
    "JSON body parse": "serde_json::de::from_trait",
    "response JSON": "Json<T> as axum_core::response::into_response::IntoResponse>::into_response [",
    "card hash (HMAC-SHA256)": "CardHasher::key",
    "decision log line": "JsonLinesLog as fraud_core::ports::DecisionLog>::append",
    "decision timestamp": "fraud_core::time::now_rfc3339",
    "HTTP request parse (hyper)": "Buffered<T,B>::parse",
}
total, found = None, {}
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) ", line)
    if not m:
        continue
    count = int(m.group(1).replace(",", ""))
    if "PROGRAM TOTALS" in line:
        total = count
    for name, pattern in parts.items():
        if pattern in line and name not in found:
            found[name] = count
print(f"{total / n:,.0f} instructions per request ({n} requests)")
for name, count in sorted(found.items(), key=lambda kv: -kv[1]):
    print(f"  {name}: {count / n:,.0f} ({count / total:.0%})")
' "$REQUESTS"

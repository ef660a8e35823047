#!/usr/bin/env bash
# The AWS side on this machine, for trying the functions by hand with `cargo lambda watch`:
# moto (S3 + DynamoDB) and an MLflow tracking server on 127.0.0.1, the bucket and both tables
# created as template.yaml would. State and logs in .local-stack/ (git-ignored).
#
#   scripts/local-stack.sh up             start both, create bucket fraud-local and the tables
#   eval "$(scripts/local-stack.sh env)"  point the SDK, the functions and `fraud` at them
#   scripts/local-stack.sh put FILE KEY   upload a file        (get KEY [FILE], ls [PREFIX])
#   scripts/local-stack.sh down           stop both (process groups) and keep nothing running
#
# Ports: MOTO_PORT (5001) and MLFLOW_PORT (5002).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=.local-stack
MOTO_PORT=${MOTO_PORT:-5001}
MLFLOW_PORT=${MLFLOW_PORT:-5002}
BUCKET=fraud-local
CARDS=fraud-card-state
DECISIONS=fraud-decision-log

env_lines() {
  cat <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export FRAUD_BUCKET=$BUCKET MODEL_KEY=models/champion.json CARD_STATE_TABLE=$CARDS DECISION_LOG_TABLE=$DECISIONS
export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT
ENV
}

# boto3 comes with moto in the .venv.
py() { eval "$(env_lines)"; .venv/bin/python - "$@"; }

wait_for() {
  for _ in $(seq 1 $(( $2 * 5 ))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$3 did not answer at $1; see $STATE/$3.log" >&2
  exit 1
}

case "${1:-}" in
  up)
    scripts/venv.sh
    mkdir -p "$STATE"
    setsid .venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" > "$STATE/moto.log" 2>&1 &
    echo $! > "$STATE/moto.pid"
    setsid .venv/bin/mlflow server --backend-store-uri "sqlite:///$PWD/$STATE/mlflow.db" \
      --artifacts-destination "$PWD/$STATE/mlflow-artifacts" --host 127.0.0.1 --port "$MLFLOW_PORT" \
      --workers 1 > "$STATE/mlflow.log" 2>&1 &
    echo $! > "$STATE/mlflow.pid"
    wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" 30 moto
    py "$BUCKET" "$CARDS" "$DECISIONS" <<'PY'
import sys, boto3
bucket, cards, decisions = sys.argv[1:]
boto3.client("s3").create_bucket(Bucket=bucket)
ddb = boto3.client("dynamodb")
for table, key in ((cards, "card"), (decisions, "trans_num")):
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
PY
    wait_for "http://127.0.0.1:$MLFLOW_PORT/health" 90 mlflow
    echo "moto on 127.0.0.1:$MOTO_PORT (bucket $BUCKET, tables $CARDS, $DECISIONS), MLflow on http://127.0.0.1:$MLFLOW_PORT"
    echo 'next: eval "$(scripts/local-stack.sh env)"'
    ;;
  env) env_lines ;;
  put) py "$BUCKET" "$2" "$3" <<'PY'
import sys, boto3
bucket, path, key = sys.argv[1:]
boto3.client("s3").upload_file(path, bucket, key)
print(f"s3://{bucket}/{key}")
PY
    ;;
  get) py "$BUCKET" "$2" "${3:--}" <<'PY'
import sys, boto3
bucket, key, out = sys.argv[1:]
body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
(sys.stdout.buffer.write(body) if out == "-" else open(out, "wb").write(body))
PY
    ;;
  ls) py "$BUCKET" "${2:-}" <<'PY'
import sys, boto3
bucket, prefix = sys.argv[1:]
for page in boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        print(f'{o["Size"]:>12}  {o["Key"]}')
PY
    ;;
  down)
    for name in moto mlflow; do
      if [[ -f $STATE/$name.pid ]]; then
        kill -TERM -- "-$(cat "$STATE/$name.pid")" 2>/dev/null || true
        rm -f "$STATE/$name.pid"
      fi
    done
    echo "stopped"
    ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Downloads the real Kaggle "kartik2112/fraud-detection" files into data/ (or DEST):
#
#   scripts/download_data.sh [DEST]
#
# Credentials: KAGGLE_USERNAME and KAGGLE_KEY, or ~/.kaggle/kaggle.json. Both files are checked
# (header, row counts 1,296,675 and 555,719) before they appear in DEST; on any failure nothing
# is left behind. Without an account, `fraud generate` makes a faithful simulated set instead.
#
# For mirrors and tests: KAGGLE_DATASET_URL overrides the download address, and
# FRAUD_EXPECT_TRAIN_ROWS / FRAUD_EXPECT_TEST_ROWS the expected row counts.
set -euo pipefail

DEST=${1:-data}
URL=${KAGGLE_DATASET_URL:-https://www.kaggle.com/api/v1/datasets/download/kartik2112/fraud-detection}
EXPECT_TRAIN=${FRAUD_EXPECT_TRAIN_ROWS:-1296675}
EXPECT_TEST=${FRAUD_EXPECT_TEST_ROWS:-555719}
HEADER=',trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,zip,lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud'

fail() { echo "download_data.sh: $*" >&2; exit 1; }

for tool in curl unzip; do
  command -v "$tool" >/dev/null || fail "needs '$tool' (Debian: apt-get install $tool)"
done

user=${KAGGLE_USERNAME:-}
key=${KAGGLE_KEY:-}
config="${HOME:-}/.kaggle/kaggle.json"
if [[ -z $user || -z $key ]] && [[ -f $config ]]; then
  # kaggle.json is {"username":"...","key":"..."}
  user=$(sed -n 's/.*"username"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$config")
  key=$(sed -n 's/.*"key"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$config")
  [[ -n $user && -n $key ]] || fail "$config has no \"username\" and \"key\""
fi
if [[ -z $user || -z $key ]]; then
  cat >&2 <<EOF
download_data.sh: no Kaggle credentials.
  Get an API token: sign in at https://www.kaggle.com, open Settings > API > "Create New Token",
  and save the downloaded kaggle.json as ~/.kaggle/kaggle.json (chmod 600), or set
  KAGGLE_USERNAME and KAGGLE_KEY.
  No account? 'fraud generate --out data/simulated' makes a faithful simulated data set
  (scripts/run.sh does this by itself).
EOF
  exit 2
fi

mkdir -p "$DEST"
work=$(mktemp -d "$DEST/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "downloading $URL"
status=$(curl --silent --show-error --location --user "$user:$key" \
  --output "$work/fraud-detection.zip" --write-out '%{http_code}' "$URL") \
  || fail "download failed (curl exit $?): $URL"
case $status in
  200) ;;
  401|403) fail "Kaggle rejected the credentials of user '$user' (HTTP $status); check KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json" ;;
  404) fail "dataset not found (HTTP 404): $URL" ;;
  *) fail "unexpected HTTP $status from $URL" ;;
esac

unzip -tq "$work/fraud-detection.zip" >/dev/null 2>&1 \
  || fail "the downloaded archive is corrupt or truncated ($(wc -c < "$work/fraud-detection.zip") bytes); try again"
unzip -q -o "$work/fraud-detection.zip" fraudTrain.csv fraudTest.csv -d "$work/files" 2>/dev/null \
  || fail "the archive does not hold fraudTrain.csv and fraudTest.csv"

check() { # FILE EXPECTED_ROWS
  local file=$1 expected=$2 first rows
  first=$(head -n 1 "$work/files/$file" | tr -d '\r')
  [[ $first == "$HEADER" ]] || fail "$file: unexpected header: ${first:0:80}..."
  rows=$(awk 'END { print NR - 1 }' "$work/files/$file")
  [[ $rows == "$expected" ]] || fail "$file has $rows rows, expected $expected (incomplete download?)"
  echo "$file: $rows rows, header ok"
}
check fraudTrain.csv "$EXPECT_TRAIN"
check fraudTest.csv "$EXPECT_TEST"

mv -f "$work/files/fraudTrain.csv" "$work/files/fraudTest.csv" "$DEST/"
echo "saved $DEST/fraudTrain.csv and $DEST/fraudTest.csv"

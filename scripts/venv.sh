#!/usr/bin/env bash
# Installs the Python-packaged tools the tests and deployment use into a git-ignored .venv:
# moto[server] (S3 and DynamoDB on loopback), mlflow (tracking server), aws-sam-cli + cfn-lint
# (template checks), cargo-lambda + ziglang (Lambda cross builds). Idempotent: does nothing
# when the pinned versions are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUIREMENTS=scripts/requirements-tools.txt
VENV=.venv
STAMP=$VENV/.installed-$(sha256sum "$REQUIREMENTS" | cut -c1-16)

if [[ -f $STAMP ]]; then
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -r "$REQUIREMENTS"
rm -f "$VENV"/.installed-*
touch "$STAMP"
echo "tools installed in $VENV"

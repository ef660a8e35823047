#!/usr/bin/env bash
# Builds what `sam deploy` ships, without AWS credentials: checks the template, runs
# `sam build` (cargo lambda cross-compiles every function of template.yaml for arm64), then checks
# that each function got a `bootstrap` that is an aarch64 ELF and prints the sizes and the time.
#
#   scripts/check-deploy.sh                      # into .aws-sam/build, where `sam deploy` looks
#   BUILD_DIR=/tmp/sam scripts/check-deploy.sh   # elsewhere (then: sam deploy --template-file /tmp/sam/template.yaml)
#
# Cargo builds into CARGO_TARGET_DIR when it is set (target/ otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-.aws-sam/build}

step() { printf '\n== %s\n' "$*"; }

step "tools (.venv, aarch64 target)"
scripts/venv.sh
rustup target add aarch64-unknown-linux-gnu
# cargo lambda links with zig, which comes from the venv; no SAM telemetry from here.
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0

step "template checks"
cfn-lint template.yaml
sam validate --lint --template-file template.yaml
python3 -m json.tool infra/train-grid.asl.json > /dev/null
.venv/bin/python tests/template/check_template.py template.yaml

step "sam build -> $BUILD_DIR"
SECONDS=0
sam build --template-file template.yaml --build-dir "$BUILD_DIR"
BUILD_SECONDS=$SECONDS

step "bootstraps"
python3 - "$BUILD_DIR" <<'EOF'
import pathlib, re, sys

build = pathlib.Path(sys.argv[1])
functions = re.findall(r"^  (\w+):\n    Type: AWS::Serverless::Function$",
                       pathlib.Path("template.yaml").read_text(), re.M)
failed = False
for name in functions:
    bootstrap = build / name / "bootstrap"
    if not bootstrap.is_file():
        print(f"{name}: no {bootstrap}")
        failed = True
        continue
    header = bootstrap.read_bytes()[:20]
    # ELF magic, 64-bit, little-endian, e_machine 183 (EM_AARCH64)
    if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1 or int.from_bytes(header[18:20], "little") != 183:
        print(f"{name}: {bootstrap} is not an aarch64 ELF executable")
        failed = True
        continue
    print(f"{name:24} {bootstrap.stat().st_size / 2**20:6.1f} MiB  {bootstrap}")
sys.exit(1 if failed or not functions else 0)
EOF
echo "sam build took ${BUILD_SECONDS} s"

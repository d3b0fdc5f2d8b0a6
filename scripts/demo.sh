#!/usr/bin/env bash
# Set everything up, then run the main job: generate sample certificates and inspect them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
out=out/sample
onshi-cert sample "$out"
for p12 in "$out"/*.p12; do
    onshi-cert inspect "$p12" --password-file "$out/password.txt" || true
    echo
done

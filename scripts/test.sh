#!/usr/bin/env bash
# Run every check and test: ruff, then pytest (unit and integration against the lab).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/system-deps.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"
ruff check src plugins tests bench
echo "== ansible-lint (production profile)"
ansible-lint --profile production --offline playbooks roles
echo "== pytest"
pytest -n 2 --dist loadfile "$@"

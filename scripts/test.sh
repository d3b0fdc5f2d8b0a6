#!/usr/bin/env bash
# Run every check and test: ruff, ansible-lint and ansible-test sanity (side by side), pytest (unit and integration
# against the lab), then the integration subset with every supported ansible-core release (scripts/matrix.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/system-deps.sh
export PATH="$PWD/.venv/bin:$PATH"
# The matrix's virtualenvs are made in the background while the main suite runs (their log: .venv/matrix.log).
mkdir -p .venv
bash scripts/matrix.sh --prepare >.venv/matrix.log 2>&1 &
prepare=$!
echo "== ruff"
ruff check src plugins tests bench
echo "== ansible-lint (production profile, the repository root; settings in .ansible-lint) and ansible-test sanity"
# ansible-test sanity of the built collection (the pytest marked 'lint') runs beside ansible-lint: each is a static
# check that keeps one core busy for about a minute. Its log: .venv/sanity.log.
pytest -q -p no:cacheprovider -m lint tests/integration/test_collection.py >.venv/sanity.log 2>&1 &
sanity=$!
trap 'kill "$sanity" 2>/dev/null || true' EXIT  # not left running when ansible-lint fails first
ansible-lint
if ! wait "$sanity"; then
    cat .venv/sanity.log >&2
    exit 1
fi
trap - EXIT
tail -n 1 .venv/sanity.log
echo "== pytest"
started=$SECONDS
pytest -n 2 --dist loadfile --durations=10 -m "not lint" "$@"
echo "== pytest took $((SECONDS - started))s"
echo "== ansible-core version matrix (2.16-2.21, the integration subset marked 'matrix')"
if ! wait "$prepare"; then
    cat .venv/matrix.log >&2
    exit 1
fi
bash scripts/matrix.sh
echo "== all checks passed in ${SECONDS}s"

#!/usr/bin/env bash
# The ansible-core releases users run (meta/runtime.yml: requires_ansible >=2.16): for each release other
# than the main virtualenv's (2.19), a bare virtualenv with that ansible-core, pywinrm and the collection's
# requirements.txt runs the integration subset marked `matrix` (provision, renew, backup + replace_pc,
# audit) against the lab. The lab recognises each release's own payload (src/onshi_cert_tools/lab/cores.py).
#   bash scripts/matrix.sh            # every release
#   bash scripts/matrix.sh 2.16 2.21  # some
#   bash scripts/matrix.sh --prepare  # only make the virtualenvs, all at once (scripts/test.sh does this while
#                                     # the main suite runs)
set -euo pipefail
cd "$(dirname "$0")/.."
PREPARE=0
if [ "${1:-}" = "--prepare" ]; then
    PREPARE=1
    shift
fi
RELEASES=("$@")
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=(2.16 2.17 2.18 2.20 2.21)

# ansible-core 2.20 and later need Python 3.12+; 2.16 runs on 3.10-3.12: one Python 3.12 serves all.
find_python() {
    for candidate in python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
        if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
            "$candidate" -c 'import sys; print(sys.executable)'
            return
        fi
    done
    echo "scripts/matrix.sh: no Python 3.12 found (install python3.12 or set MATRIX_PYTHON)" >&2
    exit 2
}
PY=${MATRIX_PYTHON:-$(find_python)}

make_venv() {
    local release=$1 venv=.venv/matrix/$1
    if [ ! -x "$venv/bin/ansible-playbook" ] || [ requirements.txt -nt "$venv/.installed" ]; then
        "$PY" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "ansible-core==$release.*" 'pywinrm>=0.5,<0.6' -r requirements.txt
        touch "$venv/.installed"
    fi
}
# The virtualenvs are independent: make them side by side (mostly download and unpacking).
pids=()
for release in "${RELEASES[@]}"; do
    make_venv "$release" &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid"
done
[ "$PREPARE" -eq 0 ] || exit 0
bins=()
for release in "${RELEASES[@]}"; do
    bins+=("$PWD/.venv/matrix/$release/bin")
done
joined_bins=$(IFS=:; echo "${bins[*]}")
pythons=$(for b in "${bins[@]}"; do printf '%s:' "$b/python"; done)
echo "== the matrix subset with ansible-core ${RELEASES[*]}"
ONSHI_MATRIX_BINS="$joined_bins" ONSHI_LAB_ANSIBLE_CORES="${pythons%:}" \
    .venv/bin/pytest -q -p no:cacheprovider -n 2 -m matrix tests/integration/test_playbooks.py

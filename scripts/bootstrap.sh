#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install onshi-cert with its test tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.onshi-cert-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi
# The checkout is the collection onshi.cert: make it findable as one (ansible.cfg: collections_path = ./.collections).
mkdir -p .collections/ansible_collections/onshi
ln -sfn ../../.. .collections/ansible_collections/onshi/cert
# A second, bare virtualenv with only what the collection declares (ansible-core, pywinrm, its requirements.txt):
# tests/integration/test_collection.py runs the installed collection from it, as AWX would.
alone=.venv/collection-only
if [ ! -x "$alone/bin/ansible-playbook" ] || [ requirements.txt -nt "$alone/.installed" ]; then
    "$PYTHON" -m venv "$alone"
    "$alone/bin/python" -m pip install --quiet --disable-pip-version-check \
        'ansible-core>=2.19,<2.21' 'pywinrm>=0.5,<0.6' -r requirements.txt
    touch "$alone/.installed"
fi
# A real ja_JP.UTF-8 locale for the tests of the Japanese messages, compiled into a private LOCPATH
# (.venv/locale): a fresh machine seldom has one, and ansible refuses to start under a LANG it lacks.
if [ ! -f .venv/locale/ja_JP.UTF-8/LC_CTYPE ] && command -v localedef >/dev/null 2>&1; then
    mkdir -p .venv/locale
    localedef -c -i ja_JP -f UTF-8 .venv/locale/ja_JP.UTF-8 2>/dev/null || true
fi

#!/usr/bin/env bash
# Refresh the message catalogue after changing a message: Babel extracts every id from plugins/ and src/,
# updates plugins/plugin_utils/locale/ja/LC_MESSAGES/onshi_cert.po (write the Japanese there), compiles the
# .mo beside it and regenerates docs/errors.md. Fails while a message has no Japanese. The tests check all three.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m onshi_cert_tools.catalogue "$@"

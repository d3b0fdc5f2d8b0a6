#!/usr/bin/env bash
# Debian packages the tests use: headless Chromium (report screenshot), Japanese fonts, openssl, the locale
# sources (localedef builds ja_JP.UTF-8 for the Japanese-message tests) and PostgreSQL's server binaries (the
# tests start a private cluster on loopback, tests/postgres.py; no service is enabled).
# Installs them when missing and this user may (root); otherwise says what is missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)   # the lab exports PFX as Windows does (RC2-40 bags)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
{ command -v localedef >/dev/null 2>&1 && [ -f /usr/share/i18n/locales/ja_JP ]; } || missing+=(locales)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "note: ${missing[*]} missing and cannot be installed by this user: the browser test will say so" >&2
fi

#!/usr/bin/env bash
# Runs the whole test suite: SQLite always, PostgreSQL on a throwaway local server.
set -euo pipefail
cd "$(dirname "$0")/.."
# PDF reports (tests/compliance): a CJK font, poppler (pdftoppm, pdftotext), HarfBuzz's font subsetter
# and Pango for WeasyPrint; the browser tests (tests/web): Debian's Chromium (never `playwright install`)
# and ffmpeg for the fake camera. Installed once when missing (as root, like CI); idempotent.
missing=()
for pkg in fonts-noto-cjk poppler-utils libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 chromium ffmpeg; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "test.sh: installing ${missing[*]} (apt-get)" >&2
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } \
      || echo "test.sh: could not install ${missing[*]}; the PDF and browser tests will say what is missing" >&2
  else
    echo "test.sh: Debian packages missing: ${missing[*]} (run as root to install them)" >&2
  fi
fi
if [ -x scripts/start-postgres.sh ]; then
  eval "$(scripts/start-postgres.sh)"
  trap 'scripts/start-postgres.sh stop >/dev/null 2>&1 || true' EXIT
fi
# known vulnerabilities in the installed packages (pip-audit, on a full run): fatal when one is found;
# an advisory service that cannot be reached (offline CI, a mirrored index) is reported, not fatal
# (TRUSTFACE_AUDIT_STRICT=1 makes it fatal too)
if [ $# -eq 0 ]; then
  .venv/bin/python tests/hardening/pip_audit_gate.py
fi
.venv/bin/pytest "$@"

#!/usr/bin/env bash
# `make demo`: the engine on real photos (detect, compare, a one-fold LFW check), then the
# residential story on a throwaway deployment. `make run` serves the HTTP API instead (serve-demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${TRUSTFACE_DATA:-../shared/data}"
EX="$DATA/photos/examples"
echo "== faces in a group photo"
.venv/bin/trustface detect "$EX/two_people.jpg"
echo "== the same person at two sittings"
.venv/bin/trustface compare "$EX/obama.jpg" "$EX/obama2.jpg"
echo "== two different people"
.venv/bin/trustface compare "$EX/obama.jpg" "$EX/biden.jpg"
echo "== LFW, first fold (600 pairs)"
.venv/bin/trustface bench lfw --folds 1 --data "$DATA"
echo "== the residential story: consent, enrolment, 1:N at the gate, withdrawal, audit"
.venv/bin/python scripts/demo_story.py

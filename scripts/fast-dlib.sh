#!/usr/bin/env bash
# Builds dlib 20.0.1 against Debian's OpenBLAS once (about 10 minutes on 2 cores; the wheel is
# cached in ~/.cache/trustface/wheels) and installs it beside dlib-bin, in
# .venv/lib/trustface-dlib-blas, where trustface.engine picks it up. Where any step fails the
# engine keeps using dlib-bin, and `trustface doctor` says so.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
TARGET="$VENV/lib/trustface-dlib-blas"
CACHE="${TRUSTFACE_WHEEL_CACHE:-$HOME/.cache/trustface/wheels}"
[ -d "$TARGET" ] && [ "${1:-}" != "--force" ] && { echo "fast dlib already installed in $TARGET"; exit 0; }

if ! dpkg -s libopenblas-dev liblapack-dev cmake >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq libopenblas-dev liblapack-dev cmake >/dev/null \
      || { echo "fast dlib: could not install OpenBLAS; keeping dlib-bin" >&2; exit 0; }
  else
    echo "fast dlib: libopenblas-dev, liblapack-dev and cmake are needed (run as root); keeping dlib-bin" >&2
    exit 0
  fi
fi
mkdir -p "$CACHE"
wheel=$(ls "$CACHE"/dlib-20.0.1-*.whl 2>/dev/null | head -n 1)
if [ -z "$wheel" ]; then
  echo "fast dlib: building dlib 20.0.1 against OpenBLAS (one time, ~10 minutes on 2 cores)..." >&2
  start=$(date +%s)
  "$VENV/bin/pip" wheel --no-binary dlib --no-deps --no-cache-dir -w "$CACHE" dlib==20.0.1 \
    > "$CACHE/build.log" 2>&1 &
  build=$!
  while kill -0 "$build" 2>/dev/null; do
    sleep 30; echo "fast dlib: still building ($(( $(date +%s) - start )) s; log in $CACHE/build.log)" >&2
  done
  wait "$build" || { echo "fast dlib: build failed (see $CACHE/build.log); keeping dlib-bin" >&2; exit 0; }
  wheel=$(ls "$CACHE"/dlib-20.0.1-*.whl | head -n 1)
fi
tmp="$TARGET.tmp"
rm -rf "$tmp"
"$VENV/bin/pip" install --quiet --no-deps --target "$tmp" "$wheel" && mv "$tmp" "$TARGET" \
  || { rm -rf "$tmp"; echo "fast dlib: install failed; keeping dlib-bin" >&2; exit 0; }
if ! TRUSTFACE_DESCRIPTOR_BACKEND=blas "$VENV/bin/python" -c "from trustface.engine._dlib import dlib_build; dlib_build()" 2>/dev/null; then
  rm -rf "$TARGET"; echo "fast dlib: the build does not load; keeping dlib-bin" >&2
fi
"$VENV/bin/python" -c "from trustface.engine._dlib import dlib_build; b = dlib_build(); print('dlib build:', b.name, '-', b.reason)"

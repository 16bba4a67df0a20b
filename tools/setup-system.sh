#!/bin/sh
# The system packages the tests need, installed on Debian when missing: the system Chromium for the
# Playwright browser tests, Mesa's EGL/GLES for WebGPU on the CPU (Dawn in Node, ANGLE in Chromium), and
# clang and lld 19 (relaxed SIMD), with which tests/wasm-build.test.ts rebuilds the CPU route's WebAssembly kernels.
# `npm test` runs this first (the `pretest` script); `.ci/run` relies on it too.
#   FASTTTS_SKIP_SETUP=1   skip the check (for machines set up another way)
#   --dry-run              say what would be installed, install nothing
set -eu

packages="chromium libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri fonts-dejavu-core clang-19 lld-19"
dry_run=0
[ "${1:-}" = "--dry-run" ] && dry_run=1
[ "${FASTTTS_SKIP_SETUP:-0}" = "1" ] && exit 0

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  chromium="${FASTTTS_CHROMIUM:-/usr/bin/chromium}"
  if [ ! -x "$chromium" ]; then
    echo "setup: not a Debian system (no dpkg/apt-get), so nothing was installed. The browser tests need" >&2
    echo "setup: Chromium at $chromium (or set FASTTTS_CHROMIUM), and WebGPU on the CPU needs Mesa's EGL/GLES." >&2
  fi
  exit 0
fi

missing=""
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$dry_run" = "1" ]; then
  echo "setup: would install:$missing"
  exit 0
fi

if [ "$(id -u)" = "0" ]; then
  run=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run="sudo -n"
else
  echo "setup: the tests need these Debian packages, which are missing:$missing" >&2
  echo "setup: install them as root, then run npm test again:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi

echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$run apt-get update -q
# shellcheck disable=SC2086
$run apt-get install -y -q --no-install-recommends $missing

#!/bin/sh
# Installs the two comparison engines OUTSIDE the project's dependencies (never into package.json):
#   node-llama-cpp (llama.cpp, native CPU build) and @wllama/wllama (llama.cpp compiled to WASM).
# --omit=optional skips node-llama-cpp's GPU prebuilds (CUDA/Vulkan, hundreds of MB); the CPU x64
# Linux prebuild is itself an optional dependency, so it is named explicitly.
#
#   sh tools/compare/install.sh            # installs into $COMPARE_PREFIX (default ~/.cache/fasttts-compare)
set -eu
PREFIX="${COMPARE_PREFIX:-$HOME/.cache/fasttts-compare}"
NODE_LLAMA_CPP_VERSION=3.22.1
WLLAMA_VERSION=3.13.0
mkdir -p "$PREFIX"
[ -f "$PREFIX/package.json" ] || printf '{ "name": "fasttts-compare", "private": true, "type": "module" }\n' > "$PREFIX/package.json"
# NODE_LLAMA_CPP_SKIP_DOWNLOAD: never fall back to downloading/building llama.cpp from source at install time.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --prefix "$PREFIX" --omit=optional --no-audit --no-fund \
  "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" \
  "@node-llama-cpp/linux-x64@$NODE_LLAMA_CPP_VERSION" \
  "@wllama/wllama@$WLLAMA_VERSION"
ls "$PREFIX/node_modules/@node-llama-cpp/linux-x64/bins" >/dev/null
ls "$PREFIX/node_modules/@wllama/wllama/esm" >/dev/null
echo "installed into $PREFIX"

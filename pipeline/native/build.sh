#!/usr/bin/env bash
# Builds the native kernels (kernels.c) into build/Release/cnn_lens_kernels.node: package.json's
# install script, so `npm ci` and `npm rebuild` run it. node-gyp is npm's own; it needs make, a C
# compiler and python3, and Node's headers (npm's nodedir setting, /usr on these machines).
#
# A failed build does not fail the install: without the addon the wasm backend runs the same
# products on XNNPACK, with the same bits, only slower; every run's log says which it uses.
set -uo pipefail
cd "$(dirname "$0")"
args=(rebuild --loglevel=warn)
# Node's own headers where npm was not told of them: node-gyp would try to download them
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then args+=(--nodedir=/usr); fi
# built is not enough: the addon must load here (node-gyp has exited 0 without writing it)
if node-gyp "${args[@]}" >build.log 2>&1 &&
  isa=$(node -p "require('./build/Release/cnn_lens_kernels.node').useIsa('avx2')" 2>>build.log); then
  echo "cnn-lens: native kernels built ($isa)"
else
  tail -n 20 build.log >&2
  echo "cnn-lens: WARNING: the native kernels did not build (full log: pipeline/native/build.log)." >&2
  echo "  Training and inference run on XNNPACK alone: the same numbers, about 1.5x slower." >&2
  echo "  Install make, gcc, g++ and python3 (Debian: apt-get install build-essential python3), then npm rebuild." >&2
fi
exit 0

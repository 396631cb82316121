#!/usr/bin/env bash
# The Debian packages the test suite needs. `npm test` and `.ci/run` run this first.
#
# Each package is checked by what the tests use from it (a file, a font, a Python module), so a
# machine with everything costs a fraction of a second and no apt call. Missing packages are
# installed as root, or with sudo when it can ask for a password (stdin is a terminal) or needs
# none (sudo -n); otherwise this fails at once naming the one apt-get command to run, and never
# waits at a password prompt nobody can see.
#
# CNN_LENS_SKIP_SYSTEM_PACKAGES=1 skips the check (the tests that need a missing package then fail).
# CNN_LENS_PRETEND_MISSING="pkg ..." treats those packages as missing, to exercise this script.
set -euo pipefail

if [ "${CNN_LENS_SKIP_SYSTEM_PACKAGES:-}" = 1 ]; then
  echo "system packages: not checked (CNN_LENS_SKIP_SYSTEM_PACKAGES=1)" >&2
  exit 0
fi

DATASET=/usr/share/datasets/fashion-mnist
# Debian's interpreter, not the first python3 on PATH (a pyenv or venv one may lack the modules):
# test/helpers.ts uses the same one.
PYTHON=/usr/bin/python3

PACKAGES=(build-essential dataset-fashion-mnist chromium fontconfig fonts-nanum python3-numpy python3-h5py)

purpose() {
  case $1 in
    build-essential) echo "make, gcc and g++ (node-gyp links with it), which npm ci builds the native kernels (pipeline/native) with" ;;
    dataset-fashion-mnist) echo "Fashion-MNIST at $DATASET, the download step's offline source" ;;
    chromium) echo "/usr/bin/chromium, the browser of the report and diff tests" ;;
    fontconfig) echo "fc-list, how the figures step finds a Korean font" ;;
    fonts-nanum) echo "Hangul glyphs for --lang ko figures" ;;
    python3-numpy) echo "numpy for $PYTHON, the reference for .npy files and statistics" ;;
    python3-h5py) echo "h5py for $PYTHON, the reader of exported Keras files" ;;
  esac
}

has_module() {
  [ -x "$PYTHON" ] && "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)' "$1" 2>/dev/null
}

present() {
  case " ${CNN_LENS_PRETEND_MISSING:-} " in *" $1 "*) return 1 ;; esac
  case $1 in
    build-essential) command -v make >/dev/null && command -v gcc >/dev/null && command -v g++ >/dev/null ;;
    dataset-fashion-mnist)
      local f
      for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -f "$DATASET/$f.gz" ] || return 1
      done
      ;;
    chromium) [ -x /usr/bin/chromium ] ;;
    fontconfig) command -v fc-list >/dev/null ;;
    fonts-nanum) command -v fc-list >/dev/null && [ -n "$(fc-list :lang=ko family)" ] ;;
    python3-numpy) has_module numpy ;;
    python3-h5py) has_module h5py ;;
  esac
}

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do present "$p" || echo "$p"; done
}

mapfile -t missing < <(missing_packages)
[ ${#missing[@]} -eq 0 ] && exit 0

install_args=(install -y -qq --no-install-recommends "${missing[@]}")
fail() {
  {
    echo "error: the tests need system packages that are missing:"
    for p in "${missing[@]}"; do echo "  $p: $(purpose "$p")"; done
    echo "$1"
    echo "Install them with:"
    echo "  $2apt-get install -y --no-install-recommends ${missing[*]}"
    echo "then run npm test again (CNN_LENS_SKIP_SYSTEM_PACKAGES=1 skips this check; the tests that use them then fail)."
  } >&2
  exit 1
}

if ! command -v apt-get >/dev/null; then
  fail "This host has no apt-get: install the same software with its package manager." ""
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && [ -t 0 ]; then
  sudo=(sudo)
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
elif command -v sudo >/dev/null; then
  fail "Not root, and sudo needs a password but cannot ask for it here (stdin is not a terminal)." "sudo "
else
  fail "Not root, and there is no sudo: run this as root." ""
fi

echo "system packages: installing ${missing[*]}${sudo[*]:+ (with ${sudo[*]})}" >&2
# sudo resets the environment: pass the frontend through env.
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${install_args[@]}"; }; then
  fail "apt-get failed (output above)." "${sudo[*]:+sudo }"
fi
mapfile -t missing < <(missing_packages)
[ ${#missing[@]} -eq 0 ] || fail "apt-get finished but these are still missing." "${sudo[*]:+sudo }"

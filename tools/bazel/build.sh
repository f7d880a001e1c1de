#!/usr/bin/env bash
# envoy-pyext: Apache-2.0
#
# Builds //:libpyfilter.so with Bazel, offline, and copies it to build/bazel/libpyfilter.so
# (the path is the last line printed). `make build-so-bazel` runs this with PYTHON_BIN_PATH set
# to the project virtualenv's bin/python; see docs/bazel.md.
#
# Installs Debian's bazel-bootstrap (Bazel 4.2.3) and a JDK with apt-get when `bazel` is
# missing. Environment:
#   PYTHON_BIN_PATH  the Python to build against (default: .venv/bin/python, else python3)
#   BAZEL            the bazel command (default: bazel)
#   BAZEL_ARGS       extra `bazel build` options (word-split)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

BAZEL="${BAZEL:-bazel}"

install_bazel() {
  local pkgs=(bazel-bootstrap default-jdk-headless)
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "build.sh: bazel is missing; install it with: apt-get install ${pkgs[*]}" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  echo "build.sh: bazel is missing; installing ${pkgs[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y "${pkgs[@]}"; then
    # A fresh machine may have no package lists yet.
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y "${pkgs[@]}"
  fi
}

if ! command -v "$BAZEL" >/dev/null; then
  install_bazel
fi

if [ -z "${PYTHON_BIN_PATH:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then
    PYTHON_BIN_PATH="$ROOT/.venv/bin/python"
  else
    PYTHON_BIN_PATH="$(command -v python3)"
  fi
fi
case "$PYTHON_BIN_PATH" in
  /*) ;;
  *) PYTHON_BIN_PATH="$ROOT/$PYTHON_BIN_PATH" ;;  # never symlink-resolved (a venv's python is a symlink)
esac
export PYTHON_BIN_PATH

# The server's startup options (1 GiB heap, exit after 120 s idle) are in .bazelrc: repeating
# them here would make every plain `bazel` command in this workspace restart the server.
# shellcheck disable=SC2086
"$BAZEL" build \
  --repo_env=PYTHON_BIN_PATH="$PYTHON_BIN_PATH" \
  --nosandbox_debug \
  --color=no --curses=no --show_timestamps \
  ${BAZEL_ARGS:-} \
  //:libpyfilter.so

# shellcheck disable=SC2086
BIN="$("$BAZEL" info \
  --repo_env=PYTHON_BIN_PATH="$PYTHON_BIN_PATH" --nosandbox_debug ${BAZEL_ARGS:-} bazel-bin)"
mkdir -p build/bazel
# cp --remove-destination: Bazel's outputs are read-only; a stale copy must not block this.
cp --remove-destination "$BIN/libpyfilter.so" build/bazel/libpyfilter.so
chmod u+w build/bazel/libpyfilter.so
echo "$ROOT/build/bazel/libpyfilter.so"

#!/usr/bin/env bash
# Interoperability with Python's `websockets` (PyPI), compressed, both ways:
# makes a venv under target/python-interop/venv with the pinned version
# (kept between runs; remade when the pin changes), then runs the interop
# crate's python test with INTEROP_PYTHON=required, so that a missing Python
# fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

WEBSOCKETS_VERSION=17.4
venv=target/python-interop/venv

if [ ! -x "$venv/bin/python" ] ||
    ! "$venv/bin/python" -c "import sys, websockets; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "websockets==$WEBSOCKETS_VERSION"
fi

INTEROP_PYTHON=required PYTHON_WEBSOCKETS="$PWD/$venv/bin/python" \
    cargo test -p rusty-socket-interop --test python -- --nocapture

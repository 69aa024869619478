#!/usr/bin/env bash
# The Autobahn|Testsuite against both adapters, as server and as client:
# four runs of all 517 cases, permessage-deflate (sections 12 and 13)
# included. Fails if any case FAILED. The suite itself is installed and run
# by the scripts in ../shared/autobahn (next to this repo).
#
#   .ci/conformance.sh [OUTDIR]     (default target/autobahn)
#
# A run takes about 4 minutes, almost all of it sections 12 and 13, bound by
# wstest's Python. QUICK=1 skips those two sections (15 s a run).
set -euo pipefail
cd "$(dirname "$0")/.."
AUTOBAHN="$(cd ../shared/autobahn && pwd)"
OUT="${1:-target/autobahn}"
BIN="$OUT/bin"
mkdir -p "$BIN"

# Both adapters name their examples echo_server and autobahn_client, so each
# build's binaries are copied aside before the next build overwrites them.
for adapter in tokio std; do
  cargo build --release -p "rusty-socket-$adapter" --example echo_server --example autobahn_client
  for example in echo_server autobahn_client; do
    cp "target/release/examples/$example" "$BIN/$adapter-$example"
  done
done
"$AUTOBAHN/install.sh" >/dev/null

server_pid=
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

failed=()
skip=""
if [ "${QUICK:-0}" = 1 ]; then
  skip="12.* 13.*"
fi
run() {
  local name=$1
  shift
  printf '\n---- autobahn: %s ----\n' "$name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

port=9101
for adapter in tokio std; do
  # The server logs every failed connection (expected here): keep that out
  # of the CI log, next to the report.
  mkdir -p "$OUT/server-$adapter"
  "$BIN/$adapter-echo_server" "127.0.0.1:$port" 2>"$OUT/server-$adapter/echo_server.log" &
  server_pid=$!
  EXCLUDE="$skip" \
    run "server $adapter" "$AUTOBAHN/test-server.sh" "127.0.0.1:$port" "rusty-socket-$adapter" "$OUT/server-$adapter"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  port=$((port + 1))
done

for adapter in tokio std; do
  EXCLUDE="$skip" \
    run "client $adapter" "$AUTOBAHN/test-client.sh" "$port" "$OUT/client-$adapter" -- \
    "$BIN/$adapter-autobahn_client" "ws://127.0.0.1:$port" "rusty-socket-$adapter"
  port=$((port + 1))
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "conformance: FAILED runs: ${failed[*]}" >&2
  exit 1
fi
echo "conformance: all four runs without a FAILED case"

#!/usr/bin/env bash
# The Autobahn|Testsuite's server cases over wss://: rusty-socket-tokio's
# tls_echo_server, with a test CA and server certificate made for the run
# (bench's tls_cert), under wstest's fuzzingclient. All 517 cases,
# permessage-deflate (sections 12 and 13) included. Fails if any case
# FAILED. wstest's Python 2 TLS client does not check the certificate (no
# "hostname" in the spec), so the test CA needs no installing.
#
#   .ci/conformance-tls.sh [OUTDIR]     (default $CARGO_TARGET_DIR/autobahn-tls)
#
# EXCLUDE="12.* 13.*" skips case patterns, CASES="1.* 2.*" picks them (as
# in ../shared/autobahn/test-server.sh, whose run this repeats with a
# wss:// URL in the spec: that script writes ws:// only). PORT (9143).
set -euo pipefail
cd "$(dirname "$0")/.."
AUTOBAHN="$(cd ../shared/autobahn && pwd)"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="${1:-$TARGET/autobahn-tls}"
PORT="${PORT:-9143}"
AGENT=rusty-socket-tokio-tls

cargo build --release -p rusty-socket-tokio --example tls_echo_server
cargo build --release -p rusty-socket-bench --bin tls_cert
WSTEST="${WSTEST:-$("$AUTOBAHN/install.sh")}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
rm -f "$OUT/index.json"

"$TARGET/release/tls_cert" "$OUT/pki"
server_pid=
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT
# The server logs every connection that a case breaks (expected here): keep
# that out of the CI log, next to the report.
"$TARGET/release/examples/tls_echo_server" "127.0.0.1:$PORT" "$OUT/pki/cert.pem" "$OUT/pki/key.pem" \
  2>"$OUT/tls_echo_server.log" &
server_pid=$!
for _ in $(seq 100); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$OUT/tls_echo_server.log" >&2; exit 2; }
  [ -n "$(ss -Hltn "sport = :$PORT")" ] && break
  sleep 0.05
done

python3 - "wss://127.0.0.1:$PORT" "$AGENT" "$OUT" "${CASES:-*}" "${EXCLUDE:-}" \
  >"$OUT/fuzzingclient.json" <<'PY'
import json, sys
url, agent, outdir, cases, exclude = sys.argv[1:]
patterns = lambda s: s.replace(",", " ").split()
json.dump({"outdir": outdir,
           "servers": [{"agent": agent, "url": url}],
           "cases": patterns(cases), "exclude-cases": patterns(exclude),
           "exclude-agent-cases": {}}, sys.stdout, indent=2)
PY

echo "conformance-tls: wstest -m fuzzingclient against wss://127.0.0.1:$PORT (cases '${CASES:-*}'," \
  "exclude '${EXCLUDE:-}'); progress: tail -f $OUT/wstest.log" >&2
start=$(date +%s)
(cd "$OUT" && timeout "${WSTEST_TIMEOUT:-7200}" "$WSTEST" -m fuzzingclient -s fuzzingclient.json) \
  >"$OUT/wstest.log" 2>&1 || { tail -20 "$OUT/wstest.log" >&2; exit 2; }
echo "conformance-tls: wstest ran $(($(date +%s) - start))s; report in $OUT/index.html" >&2
[ -f "$OUT/index.json" ] || { echo "conformance-tls: no index.json written" >&2; exit 2; }
python3 "$AUTOBAHN/summarize.py" "$OUT"

#!/usr/bin/env bash
# The chat server at scale, within this machine's limits (a process may hold
# at most `ulimit -Hn` open files: 20,000 here):
#
#  a. one tokio chat-server with IDLE idle clients (default 19,000): server
#     RSS per client and the handshake rate (wsload --idle), then one
#     broadcast to as many clients (wsload --fanout, a fresh server);
#  b. TOTAL idle clients (default 100,000) on NODES chat-server nodes
#     (default 6) joined through a real redis-server, the load spread over
#     one wsload process per node, each from its own loopback address
#     (127.0.0.2, 127.0.0.3...): the nodes' RSS together, and MESSAGES
#     broadcasts from one client, each timed to its last delivery across
#     all the processes (wsload --spread-receive / --spread-send);
#  c. FANOUT clients on one node (default 10,000): the time for one
#     broadcast to reach them all, median of 50 (wsload --fanout).
#
# Release builds. Needs redis-server (Debian: apt-get install redis-server)
# for b. PARTS=ac (say) runs only those parts. Prints the figures as they
# come.
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE=${IDLE:-19000}
FANOUT=${FANOUT:-10000}
NODES=${NODES:-6}
TOTAL=${TOTAL:-100000}
MESSAGES=${MESSAGES:-5}
PARTS=${PARTS:-abc}
BASE_PORT=${BASE_PORT:-9400}

cargo build --release -q -p chat-server
cargo build --release -q -p rusty-socket-bench --bin wsload
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
    [ -n "${KEEP:-}" ] && echo "kept $work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
echo "open-file limit per process: $(ulimit -n)"

# Waits until something listens on 127.0.0.1:$1.
wait_port() {
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# Starts a chat-server on port $1 with the rest as flags; its pid in $node_pid.
start_node() {
    local port=$1
    shift
    "$bin/chat-server" --addr "127.0.0.1:$port" --max-connections 19900 "$@" \
        2>>"$work/node-$port.log" &
    node_pid=$!
    pids+=("$node_pid")
    wait_port "$port"
}

stop_node() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

if [[ $PARTS == *a* ]]; then
    echo
    echo "== a. one node, $IDLE idle clients"
    start_node "$BASE_PORT"
    "$bin/wsload" --url "ws://127.0.0.1:$BASE_PORT/" --idle "$IDLE" --pid "$node_pid"
    stop_node "$node_pid"
    start_node "$BASE_PORT"
    "$bin/wsload" --url "ws://127.0.0.1:$BASE_PORT/" --fanout "$IDLE" --messages 20
    stop_node "$node_pid"
fi

if [[ $PARTS == *c* ]]; then
    echo
    echo "== c. one node, one broadcast to $FANOUT clients"
    start_node "$BASE_PORT"
    "$bin/wsload" --url "ws://127.0.0.1:$BASE_PORT/" --fanout "$FANOUT" --messages 50
    stop_node "$node_pid"
fi

if [[ $PARTS != *b* ]]; then
    exit 0
fi
echo
echo "== b. $TOTAL idle clients on $NODES nodes joined through Redis"
redis_port=$((BASE_PORT + 99))
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    >"$work/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port"
node_pids=()
for i in $(seq 0 $((NODES - 1))); do
    start_node $((BASE_PORT + i)) --redis "redis://127.0.0.1:$redis_port/"
    node_pids+=("$node_pid")
done
per_node=$((TOTAL / NODES))
started=$(date +%s.%N)
for i in $(seq 0 $((NODES - 1))); do
    receivers=$per_node
    if [ "$i" -eq $((NODES - 1)) ]; then receivers=$((TOTAL - per_node * (NODES - 1))); fi
    "$bin/wsload" --spread-receive "$receivers" --messages "$MESSAGES" --timeout 120 \
        --node "ws://127.0.0.1:$((BASE_PORT + i))/" --bind "127.0.0.$((i + 2))" \
        >"$work/receivers-$i.json" 2>"$work/receivers-$i.log" &
    pids+=($!)
done
for i in $(seq 0 $((NODES - 1))); do
    until grep -q '^ready' "$work/receivers-$i.json"; do
        if [ -s "$work/receivers-$i.log" ]; then cat "$work/receivers-$i.log" >&2; exit 1; fi
        sleep 0.2
    done
done
connected=$(date +%s.%N)
sleep 2
rss_total=0
for pid in "${node_pids[@]}"; do rss_total=$((rss_total + $(rss_kib "$pid"))); done
awk -v total="$TOTAL" -v s="$started" -v e="$connected" -v rss="$rss_total" -v nodes="$NODES" 'BEGIN {
    printf "%d clients connected in %.1f s (%.0f handshakes/s over %d nodes)\n", total, e - s, total / (e - s), nodes
    printf "nodes RSS together: %.1f MiB (%.2f KiB per client)\n", rss / 1024, rss / total
}'
"$bin/wsload" --spread-send --messages "$MESSAGES" --interval 2 \
    --node "ws://127.0.0.1:$BASE_PORT/"
for i in $(seq 0 $((NODES - 1))); do
    until [ "$(wc -l <"$work/receivers-$i.json")" -ge 2 ]; do
        if [ -s "$work/receivers-$i.log" ]; then cat "$work/receivers-$i.log" >&2; exit 1; fi
        sleep 0.2
    done
done
python3 - "$TOTAL" "$MESSAGES" "$work"/receivers-*.json <<'EOF'
import json, statistics, sys
total, messages, files = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
per_seq = {}
for path in files:
    result = json.loads(open(path).read().splitlines()[-1])
    for arrival in result["arrivals"]:
        count, last = per_seq.get(arrival["seq"], (0, 0.0))
        per_seq[arrival["seq"]] = (count + arrival["delivered"], max(last, arrival["last_ms"]))
lasts = []
for seq in range(1, messages + 1):
    count, last = per_seq.get(seq, (0, 0.0))
    print(f"message {seq}: reached {count} of {total} clients, the last after {last:.1f} ms")
    lasts.append(last)
print(f"time to the last delivery: median {statistics.median(lasts):.1f} ms, max {max(lasts):.1f} ms")
EOF

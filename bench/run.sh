#!/usr/bin/env bash
# Benchmarks our echo servers against peer WebSocket servers and raw TCP.
#
#   bench/run.sh                      # full run: 5 rounds of 3 s per server
#   ROUNDS=2 DURATION=1 bench/run.sh  # quick look
#   SUITES=compression bench/run.sh   # only the permessage-deflate part
#   SUITES=tls bench/run.sh           # only the wss:// part
#
# Environment: ROUNDS (5), DURATION (3 s), WARMUP (1 s), IDLE_CONNS (5000),
# FANOUT_RECEIVERS (1000), FANOUT_MESSAGES (100), CHAT_PATH (/),
# BASE_PORT (19100), CORE_SLOWDOWN (1.35), CORE_RETRIES (3), BUSY_MAX (15 %),
# SUITES ("classic compression"; also "tls"), IDLE_DEFLATE_CONNS (2000),
# IDLE_TLS_CONNS (2000),
# CEILING_SECONDS (2), RESULTS_MD (bench/results.md), RESULTS_SVG
# (bench/results.svg), CARGO_TARGET_DIR.
#
# Suites: "classic" is (a)-(f), every message uncompressed: wsload offers no
# extension (it is its own client, not ours), and fails if a server answers
# one. "compression" is (g) and (h), JSON echoes with permessage-deflate
# negotiated without context takeover, against the peers that have it, (i)
# idle compressed connections, and the in-process ceiling; it writes its own
# section of results.md, which the classic report keeps. "tls" is (j) and
# (k), the pipelined small messages of (b) and the 1 MiB messages of
# (d-binary) over wss://, and (l) idle wss connections, against
# tokio-tungstenite over tokio-rustls and a raw TLS echo (tokio-rustls
# read/write), all on rustls with the ring provider; a test CA and server
# certificate are made for the run (bench tls_cert), wsload trusts that CA,
# every TLS handshake is done before the warm-up, no extension is offered;
# it writes its own section of results.md too. It is not in the default
# SUITES: run it on its own.
#
# Every server runs pinned to core 0 and wsload to core 1. Servers are
# restarted for every measurement and run in alternation (A B C A B C ...),
# so that slow drift of a shared host spreads over all of them; ratios are
# taken within each round. Before and after each round a 16-byte ping-pong
# between the two cores checks that they have not been moved apart (on this
# host the two vCPUs sometimes land on different dies, 1.5x to 2.5x slower);
# if they have, the round is run again, a bounded number of times. Rounds that
# only look slow once a faster placement has been seen later are run again
# at the end. A round also waits (bounded) while other processes keep the
# machine busy, e.g. a compiler: both cores are needed by the measurement.
#
# Writes bench/results.md and bench/results.svg; the raw JSON lines (one file
# per configuration) and the server logs stay in a per-run temporary
# directory, printed at the end.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
IDLE_CONNS=${IDLE_CONNS:-5000}
FANOUT_RECEIVERS=${FANOUT_RECEIVERS:-1000}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-100}
CHAT_PATH=${CHAT_PATH:-/}
SUITES=${SUITES:-classic compression}
IDLE_DEFLATE_CONNS=${IDLE_DEFLATE_CONNS:-2000}
IDLE_TLS_CONNS=${IDLE_TLS_CONNS:-2000}
CEILING_SECONDS=${CEILING_SECONDS:-2}
RESULTS_MD=${RESULTS_MD:-bench/results.md}
RESULTS_SVG=${RESULTS_SVG:-bench/results.svg}
CLASSIC=0
COMPRESSION=0
TLS=0
[[ " $SUITES " == *" classic "* ]] && CLASSIC=1
[[ " $SUITES " == *" compression "* ]] && COMPRESSION=1
[[ " $SUITES " == *" tls "* ]] && TLS=1
BASE_PORT=${BASE_PORT:-19100}
CORE_SLOWDOWN=${CORE_SLOWDOWN:-1.35}
CORE_RETRIES=${CORE_RETRIES:-3}
BUSY_MAX=${BUSY_MAX:-15}
SERVER_CORE=0
CLIENT_CORE=1

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REL=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rusty-socket-bench.XXXXXX")
RESULTS=$WORK/results.jsonl
mkdir -p "$WORK/results"
NOTES=()
SERVER_PID=
CORE_ECHO_PID=

log() { printf '%s\n' "$*" >&2; }

cleanup() {
    for pid in $SERVER_PID $CORE_ECHO_PID; do
        kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# ---------------------------------------------------------------- build

log "== building (release) into $REL"
cargo build --release -p rusty-socket-bench --features peers --bins
mkdir -p "$WORK/bin"

# Builds one of our optional binaries and copies it aside. Copying matters:
# both adapters' examples are called echo_server and share one output path.
# Usage: build_ours NAME BUILT_PATH CARGO_ARGS...
build_ours() {
    local name=$1 built=$2
    shift 2
    if cargo build --release "$@" 2>"$WORK/build-$name.log"; then
        cp "$built" "$WORK/bin/$name"
    else
        log "   cannot build $name: $(grep -m1 -E '^error' "$WORK/build-$name.log" || tail -n1 "$WORK/build-$name.log")"
    fi
}
build_ours ours-tokio "$REL/examples/echo_server" -p rusty-socket-tokio --example echo_server
build_ours ours-std "$REL/examples/echo_server" -p rusty-socket-std --example echo_server
build_ours chat-server "$REL/chat-server" -p chat-server
if ((TLS)); then
    build_ours ours-tokio-tls "$REL/examples/tls_echo_server" -p rusty-socket-tokio --example tls_echo_server
    build_ours ours-std-tls "$REL/examples/tls_echo_server" -p rusty-socket-std --example tls_echo_server
fi

WSLOAD=$REL/wsload

# -------------------------------------------------------------- servers

SERVERS=()
declare -A BIN PORT ARGS
NEXT_PORT=$((BASE_PORT + 1))
# The notes array that add_server reports a missing binary in.
SUITE_NOTES=NOTES
# Usage: add_server NAME BINARY [SERVER_ARGS...]
add_server() {
    local name=$1 bin=$2
    local -n suite_notes=$SUITE_NOTES
    shift 2
    if [[ -x $bin ]]; then
        SERVERS+=("$name")
        BIN[$name]=$bin
        PORT[$name]=$NEXT_PORT
        ARGS[$name]="$*"
        NEXT_PORT=$((NEXT_PORT + 1))
    else
        log "   skipping $name: $bin does not exist"
        suite_notes+=("$name not measured: binary missing")
    fi
}
add_server ours-tokio "$WORK/bin/ours-tokio"
add_server ours-std "$WORK/bin/ours-std"
add_server tungstenite "$REL/peer_tungstenite"
add_server fastwebsockets "$REL/peer_fastwebsockets"
add_server tokio-websockets "$REL/peer_tokio_websockets"
add_server raw "$REL/raw_echo"
CLASSIC_SERVERS=("${SERVERS[@]}")
# Compression: ours at the default level 1, at level 3 (the lowest whose
# 64 KiB JSON comes out smaller than wtx's) and at wtx's level 5, and the
# peers with permessage-deflate (see the peer sources for their settings).
SERVERS=()
add_server ours-tokio "$WORK/bin/ours-tokio"
add_server ours-tokio-l3 "$WORK/bin/ours-tokio" --deflate-level 3
add_server ours-tokio-l5 "$WORK/bin/ours-tokio" --deflate-level 5
add_server ours-std "$WORK/bin/ours-std"
add_server wtx "$REL/peer_wtx"
add_server yawc "$REL/peer_yawc" 1
COMPRESSION_SERVERS=("${SERVERS[@]}")
SERVERS=("${CLASSIC_SERVERS[@]}")
CORE_PORT=$((BASE_PORT + 50))
CHAT_PORT=$((BASE_PORT + 51))

# Waits until something listens on port $1 (and process $2 is alive).
wait_listening() {
    local port=$1 pid=$2
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        [[ -n $(ss -Hltn "sport = :$port") ]] && return 0
        sleep 0.05
    done
    return 1
}

# Starts server NAME pinned to the server core; sets SERVER_PID.
# Usage: start_server NAME PORT COMMAND...
start_server() {
    local name=$1 port=$2
    shift 2
    taskset -c "$SERVER_CORE" "$@" >>"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_listening "$port" "$SERVER_PID"; then
        log "   $name did not start listening on $port (see $WORK/$name.log)"
        stop_server
        return 1
    fi
}

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

# shellcheck disable=SC2086 # ARGS holds flags meant to split
start_echo() { start_server "$1" "${PORT[$1]}" "${BIN[$1]}" "127.0.0.1:${PORT[$1]}" ${ARGS[$1]}; }

# wsload pinned to the client core.
client() { taskset -c "$CLIENT_CORE" "$WSLOAD" "$@"; }

# wsload's target flags for server $1: a ws:// URL, or wss:// with the
# TLS suite's CA in TLS_ARGS; plain echo (no WebSocket) for raw.
SCHEME=ws
TLS_ARGS=
target_args() {
    local raw=
    [[ $1 == raw ]] && raw=--raw
    echo "$raw --url $SCHEME://127.0.0.1:${PORT[$1]}/ $TLS_ARGS"
}

# Extracts a numeric field from a JSON line: json_field NAME LINE.
json_field() { sed -n "s/.*\"$1\":\\([-0-9.e+]*\\).*/\\1/p" <<<"$2"; }

# Runs one measurement of server NAME and appends it to $ROUND_FILE.
# `@PID@` in the wsload arguments becomes the server's process id.
# Usage: measure NAME CONFIG ROUND WSLOAD_ARGS...
measure() {
    local name=$1 config=$2 round=$3 out
    shift 3
    start_echo "$name" || return 0
    # shellcheck disable=SC2046 # target_args is meant to split into flags
    if out=$(client $(target_args "$name") "${@//@PID@/$SERVER_PID}" --json 2>>"$WORK/wsload.log"); then
        printf '{"server":"%s","config":"%s","round":%d,"result":%s}\n' \
            "$name" "$config" "$round" "$out" >>"$ROUND_FILE"
        if [[ $out == *'"mode":"idle"'* ]]; then
            log "   $(printf '%-17s %6.2f' "$name" "$(json_field kib_per_conn "$out")") KiB/conn"
        else
            log "   $(printf '%-17s %10.0f msg/s  p50 %.1f us' "$name" "$(json_field msgs_per_sec "$out")" "$(json_field p50_us "$out")")"
        fi
    else
        log "   $name: wsload failed: $(tail -n1 "$WORK/wsload.log")"
        NOTES+=("$config round $round: $name failed ($(tail -n1 "$WORK/wsload.log"))")
    fi
    stop_server
}

# ------------------------------------------------------------ core check

taskset -c "$SERVER_CORE" "$REL/raw_echo" "127.0.0.1:$CORE_PORT" >>"$WORK/core-echo.log" 2>&1 &
CORE_ECHO_PID=$!
wait_listening "$CORE_PORT" "$CORE_ECHO_PID" || {
    log "raw_echo for the core check did not start (see $WORK/core-echo.log)"
    exit 1
}

# Median round trip of 16 bytes between the two cores, in microseconds.
core_p50() {
    json_field p50_us "$(client --raw --addr "127.0.0.1:$CORE_PORT" --conns 1 --window 1 \
        --size 16 --warmup 0.1 --duration 0.3 --json)"
}

# True if $1 us is much slower than the best seen so far (and updates it).
core_slow() {
    if awk -v p="$1" -v b="$CORE_BEST" -v f="$CORE_SLOWDOWN" 'BEGIN { exit !(p > b * f) }'; then
        return 0
    fi
    CORE_BEST=$(awk -v p="$1" -v b="$CORE_BEST" 'BEGIN { print (p < b ? p : b) }')
    return 1
}

CORE_BEST=$(for _ in 1 2 3; do core_p50; done | sort -g | sed -n 1p)
log "== core-to-core round trip (16 B, p50): $CORE_BEST us"

# Percentage of the machine's CPU time used over half a second, taken when
# nothing of ours runs: anything above a few percent is someone else's work.
busy_pct() {
    # shellcheck disable=SC2016 # an awk program, not a shell expansion
    local fields='/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }'
    local before after
    before=$(awk "$fields" /proc/stat)
    sleep 0.5
    after=$(awk "$fields" /proc/stat)
    awk -v a="$before" -v b="$after" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; idle = y[2] - x[2]
        print int(100 * busy / (busy + idle + 1e-9))
    }'
}

# Slowest core check of each accepted round, and what was wrong with it if
# it had to be kept after all retries; both keyed "CONFIG/ROUND".
declare -A ROUND_CORE ROUND_FLAW

# Runs all servers once for CONFIG, as round ROUND, and appends the round to
# $WORK/results/CONFIG.jsonl. Retries (up to CORE_RETRIES times) while other
# processes keep the machine busy or the core check says the cores were moved
# apart; the last attempt is kept whatever happens, and its flaw recorded.
# Usage: run_round CONFIG ROUND WSLOAD_ARGS...
run_round() {
    local config=$1 round=$2 attempt before after busy last flaws
    shift 2
    for ((attempt = 0; ; attempt++)); do
        last=$((attempt >= CORE_RETRIES))
        flaws=()
        ROUND_FILE=$WORK/round.jsonl
        : >"$ROUND_FILE"
        busy=$(busy_pct)
        if ((busy > BUSY_MAX)); then
            if ((!last)); then
                log "   machine busy ($busy% CPU used by other processes): waiting"
                sleep 5
                continue
            fi
            flaws+=("$busy% CPU busy")
        fi
        before=$(core_p50)
        if core_slow "$before"; then
            if ((!last)); then
                log "   core check slow before the round ($before us, best $CORE_BEST us): retrying"
                sleep 2
                continue
            fi
            flaws+=("core check $before us")
        fi
        log "-- $config, round $round (core check $before us)"
        for name in "${CHECKED[@]}"; do
            measure "$name" "$config" "$round" "$@"
        done
        after=$(core_p50)
        if core_slow "$after"; then
            if ((!last)); then
                log "   core check slow after the round ($after us, best $CORE_BEST us): running it again"
                sleep 2
                continue
            fi
            flaws+=("core check $after us after")
        fi
        ROUND_CORE[$config/$round]=$(awk -v a="$before" -v b="$after" 'BEGIN { print (a > b ? a : b) }')
        ROUND_FLAW[$config/$round]=$(IFS=,; echo "${flaws[*]}")
        cat "$ROUND_FILE" >>"$WORK/results/$config.jsonl"
        return
    done
}

# Runs ROUNDS rounds of each configuration ("ID|WSLOAD_ARGS") with the
# servers in CHECKED, the server's CPU time read too, and appends them to
# file OUT; rounds kept in bad conditions get a line in the array NOTES.
# Usage: suite_rounds NOTES OUT CONFIG...
suite_rounds() {
    local -n notes=$1
    local out=$2 entry config round flaw
    local -a args
    shift 2
    for entry in "$@"; do
        config=${entry%%|*}
        read -r -a args <<<"${entry#*|} --pid @PID@ --warmup $WARMUP --duration $DURATION"
        log "== ($config) ${args[*]}"
        for ((round = 1; round <= ROUNDS; round++)); do
            run_round "$config" "$round" "${args[@]}"
            flaw=${ROUND_FLAW[$config/$round]:-}
            if [[ -n $flaw ]]; then notes+=("$config round $round kept in bad conditions: $flaw"); fi
        done
        if [[ -f $WORK/results/$config.jsonl ]]; then cat "$WORK/results/$config.jsonl" >>"$out"; fi
    done
}

# Runs ROUNDS rounds of wsload's idle mode (WSLOAD_ARGS) against every
# server in CHECKED as configuration CONFIG, appending them to file OUT.
# Usage: idle_rounds CONFIG OUT WSLOAD_ARGS...
idle_rounds() {
    local config=$1 out=$2 round name
    shift 2
    for ((round = 1; round <= ROUNDS; round++)); do
        ROUND_FILE=$WORK/round.jsonl
        : >"$ROUND_FILE"
        for name in "${CHECKED[@]}"; do
            measure "$name" "$config" "$round" "$@"
        done
        cat "$ROUND_FILE" >>"$out"
    done
}

# Fills the array OUT with bench-report's --note flags: when and what ran,
# the rounds (with SUFFIX after them), the EXTRA notes, then every line of
# the array NOTES. Usage: report_notes OUT SUFFIX NOTES [EXTRA...]
report_notes() {
    local -n flags=$1 notes=$3
    local suffix=$2 note
    shift 3
    flags=(
        --note "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $rev, $(nproc) × $cpu, Linux $(uname -r)"
        --note "$ROUNDS rounds of $DURATION s after $WARMUP s warm-up; servers on core $SERVER_CORE, wsload on core $CLIENT_CORE$suffix"
    )
    for note in "$@" ${notes[@]+"${notes[@]}"}; do
        flags+=(--note "$note")
    done
}

# ---------------------------------------------------------- sanity check

# Checks every server of SERVERS with wsload (every echo compared byte for
# byte) and puts those that pass into CHECKED; the others get a line in the
# array named by $1. Usage: sanity_check NOTES_ARRAY
sanity_check() {
    local -n notes=$1
    local name check
    CHECKED=()
    for name in "${SERVERS[@]}"; do
        start_echo "$name" || {
            notes+=("$name excluded: did not start")
            continue
        }
        if [[ $name == raw ]]; then
            check=(--conns 2 --window 2 --size 65536 --warmup 0 --duration 0.3 --verify)
        else
            check=(--check)
        fi
        # shellcheck disable=SC2046 # target_args is meant to split into flags
        if client $(target_args "$name") "${check[@]}" >"$WORK/check-$name.txt" 2>&1; then
            log "   $name: ok"
            CHECKED+=("$name")
        else
            log "   $name FAILED the sanity check and is excluded:"
            grep -E 'FAIL|wsload:' "$WORK/check-$name.txt" | head -n5 | sed 's/^/     /' >&2 || true
            notes+=("$name excluded: failed the sanity check (wsload --check)")
        fi
        stop_server
    done
}

CHECKED=()
if ((CLASSIC)); then
    log "== sanity check"
    sanity_check NOTES
fi

# ------------------------------------------------------------- throughput

CONFIGS=(
    "a|--conns 1 --window 1 --size 16 --kind binary"
    "b|--conns 64 --window 16 --size 16 --kind binary"
    "c-binary|--conns 16 --window 4 --size 16384 --kind binary"
    "c-text-ascii|--conns 16 --window 4 --size 16384 --kind text-ascii"
    "c-text-utf8|--conns 16 --window 4 --size 16384 --kind text-utf8"
    "d-binary|--conns 4 --window 2 --size 1048576 --kind binary"
    "d-text-ascii|--conns 4 --window 2 --size 1048576 --kind text-ascii"
    "d-text-utf8|--conns 4 --window 2 --size 1048576 --kind text-utf8"
)
declare -A CONFIG_ARGS
if ((${#CHECKED[@]} > 0)); then
    for entry in "${CONFIGS[@]}"; do
        config=${entry%%|*}
        CONFIG_ARGS[$config]="${entry#*|} --warmup $WARMUP --duration $DURATION"
        read -r -a args <<<"${CONFIG_ARGS[$config]}"
        log "== ($config) ${args[*]}"
        for ((round = 1; round <= ROUNDS; round++)); do
            run_round "$config" "$round" "${args[@]}"
        done
    done
fi

# A round accepted as clean before a faster placement was first seen may have
# run on the slow one: run those again (once more each, with the usual
# retries). Rounds already kept with a flaw are not tried again.
for entry in "${CONFIGS[@]}"; do
    config=${entry%%|*}
    for ((round = 1; round <= ROUNDS; round++)); do
        core=${ROUND_CORE[$config/$round]:-}
        if [[ -n $core && -z ${ROUND_FLAW[$config/$round]:-} ]] && awk -v p="$core" -v b="$CORE_BEST" -v f="$CORE_SLOWDOWN" 'BEGIN { exit !(p > b * f) }'; then
            log "== re-running ($config) round $round: its core check ($core us) is slow against the best ($CORE_BEST us)"
            file=$WORK/results/$config.jsonl
            grep -v -F "\"round\":$round," "$file" >"$file.keep" || true
            mv "$file.keep" "$file"
            read -r -a args <<<"${CONFIG_ARGS[$config]}"
            run_round "$config" "$round" "${args[@]}"
        fi
    done
done

# ------------------------------------------------------ idle connections

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < IDLE_CONNS + 256)); then
    IDLE_CONNS=$(($(ulimit -n) - 256))
    NOTES+=("idle connections reduced to $IDLE_CONNS by the open-file limit")
fi
if ((CLASSIC)); then
log "== (e) $IDLE_CONNS idle connections"
idle_rounds e "$WORK/results/e.jsonl" --idle "$IDLE_CONNS" --pid @PID@

# ------------------------------------------------------------ chat fan-out

if [[ -x $WORK/bin/chat-server ]]; then
    log "== (f) chat fan-out: $FANOUT_RECEIVERS receivers, $FANOUT_MESSAGES messages"
    if start_server chat-server "$CHAT_PORT" "$WORK/bin/chat-server" --addr "127.0.0.1:$CHAT_PORT"; then
        if out=$(client --url "ws://127.0.0.1:$CHAT_PORT$CHAT_PATH" --fanout "$FANOUT_RECEIVERS" \
            --messages "$FANOUT_MESSAGES" --json 2>>"$WORK/wsload.log"); then
            printf '{"server":"ours-chat","config":"f","round":1,"result":%s}\n' "$out" >>"$WORK/results/f.jsonl"
            log "   $(printf 'p50 %.0f us, p99 %.0f us' "$(json_field p50_us "$out")" "$(json_field p99_us "$out")")"
        else
            log "   fan-out failed: $(tail -n1 "$WORK/wsload.log")"
            NOTES+=("chat fan-out failed: $(tail -n1 "$WORK/wsload.log")")
        fi
        stop_server
    fi
else
    log "== (f) skipping chat fan-out: chat-server is not built yet"
    NOTES+=("chat fan-out not measured: chat-server binary missing")
fi
fi

# ------------------------------------------------------------- compression

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || rev="$rev (uncommitted changes)"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

# Chat-like: many connections of small messages, a few in flight each (a
# chat client rarely has more), enough together to keep one core busy.
# Documents: fewer connections, two 64 KiB messages in flight each, as in
# (c) and (d), about 2 MiB uncompressed in flight in all.
COMPRESSION_CONFIGS=(
    "g|--conns 64 --window 4 --size 200 --kind json --deflate --deflate-level 1"
    "h|--conns 16 --window 2 --size 65536 --kind json --deflate --deflate-level 1"
)
if ((COMPRESSION)); then
    SERVERS=("${COMPRESSION_SERVERS[@]}")
    log "== compression: sanity check (wsload --check --deflate)"
    CHECKED=()
    CNOTES=()
    for name in "${SERVERS[@]}"; do
        start_echo "$name" || {
            CNOTES+=("$name excluded: did not start")
            continue
        }
        client --check --deflate --url "ws://127.0.0.1:${PORT[$name]}/" >"$WORK/dcheck-$name.txt" 2>&1 || true
        stop_server
        if grep -q -E '^FAIL +json|wsload:' "$WORK/dcheck-$name.txt" || ! grep -q -E '^ok +json' "$WORK/dcheck-$name.txt"; then
            log "   $name FAILED the compressed JSON check and is excluded:"
            grep -E 'FAIL|wsload:' "$WORK/dcheck-$name.txt" | head -n5 | sed 's/^/     /' >&2 || true
            CNOTES+=("$name excluded: failed wsload --check --deflate on JSON")
            continue
        fi
        CHECKED+=("$name")
        if grep -q '^FAIL' "$WORK/dcheck-$name.txt"; then
            fails=$(grep '^FAIL' "$WORK/dcheck-$name.txt" | sed -E 's/^FAIL +//; s/ +/ /g' | paste -sd ';' | sed 's/;/; /g')
            log "   $name: json ok, other cases failed: $fails"
            CNOTES+=("$name: compressed JSON echoes exact, but wsload --check --deflate failed other cases: $fails")
        else
            log "   $name: ok"
        fi
    done
    : >"$WORK/compression.jsonl"
    suite_rounds CNOTES "$WORK/compression.jsonl" "${COMPRESSION_CONFIGS[@]}"
    log "== (i) $IDLE_DEFLATE_CONNS idle connections with permessage-deflate"
    idle_rounds i "$WORK/compression.jsonl" --idle "$IDLE_DEFLATE_CONNS" --pid @PID@ --deflate
    log "== ceiling: deflate_ceiling on core $SERVER_CORE"
    for _ in 1 2 3 4 5 6; do
        (($(busy_pct) <= BUSY_MAX)) && break
        log "   machine busy: waiting"
        sleep 5
    done
    taskset -c "$SERVER_CORE" "$REL/deflate_ceiling" --json --levels 1,3,5,6,9 --sizes 200,65536 \
        --seconds "$CEILING_SECONDS" >"$WORK/ceiling.jsonl"
    cat "$WORK/ceiling.jsonl" >&2
    report_notes cnotes "; idle: $IDLE_DEFLATE_CONNS connections" CNOTES \
        "wsload offers \`${OFFER:-permessage-deflate; client_no_context_takeover; server_no_context_takeover}\` and sends JSON compressed once at level 1 (bench/src/payload.rs, bench/src/deflate.rs); it inflates the first echo of each connection, and any echo whose compressed length changes"
    "$REL/bench-report" --compression --input "$WORK/compression.jsonl" --ceiling "$WORK/ceiling.jsonl" \
        --markdown "$RESULTS_MD" \
        --config "g=64 conns × window 4, 200 B JSON chat message, permessage-deflate" \
        --config "h=16 conns × window 2, 64 KiB JSON document, permessage-deflate" \
        --describe "ours-tokio=rusty-socket-tokio echo_server, proto defaults: level 1, 15-bit windows, no context takeover, threshold 64 B" \
        --describe "ours-tokio-l3=the same with --deflate-level 3 (level 3)" \
        --describe "ours-tokio-l5=the same with --deflate-level 5 (level 5)" \
        --describe "ours-std=rusty-socket-std echo_server, proto defaults (level 1)" \
        --describe "wtx=wtx 0.46 Flate2 defaults: level 5, 12-bit windows both ways, no context takeover" \
        --describe "yawc=yawc 0.5 (zlib feature): level 1, 15-bit windows, no context takeover, threshold 0" \
        "${cnotes[@]}"
    SERVERS=("${CLASSIC_SERVERS[@]}")
fi

# --------------------------------------------------------------------- tls

TLS_CONFIGS=(
    "j|--conns 64 --window 16 --size 16 --kind binary"
    "k|--conns 4 --window 2 --size 1048576 --kind binary"
)
if ((TLS)); then
    log "== tls: certificate, sanity check (wsload over wss://)"
    "$REL/tls_cert" "$WORK/tls"
    CERT_KEY="$WORK/tls/cert.pem $WORK/tls/key.pem"
    TNOTES=()
    SUITE_NOTES=TNOTES
    SERVERS=()
    add_server ours-tokio "$WORK/bin/ours-tokio-tls" "$CERT_KEY"
    add_server ours-std "$WORK/bin/ours-std-tls" "$CERT_KEY"
    add_server tungstenite "$REL/peer_tungstenite" "$CERT_KEY"
    add_server raw "$REL/raw_echo" "$CERT_KEY"
    SCHEME=wss
    TLS_ARGS="--ca $WORK/tls/ca.pem"
    sanity_check TNOTES
    : >"$WORK/tls.jsonl"
    suite_rounds TNOTES "$WORK/tls.jsonl" "${TLS_CONFIGS[@]}"
    log "== (l) $IDLE_TLS_CONNS idle wss:// connections"
    idle_rounds l "$WORK/tls.jsonl" --idle "$IDLE_TLS_CONNS" --pid @PID@
    suite=$(sed -n 's/.*"tls":"\([^"]*\)".*/\1/p' "$WORK/tls.jsonl" | sort -u | paste -sd ';' | sed 's/;/; /g')
    report_notes tnotes "; idle: $IDLE_TLS_CONNS connections" TNOTES \
        "every side on rustls 0.23 with the ring provider; negotiated: ${suite:-nothing measured}; certificate: ECDSA P-256, signed by a test CA made for the run (bench tls_cert, test-support's TestPki); TLS handshakes done before the warm-up; no WebSocket extension offered" \
        "÷ raw is against the raw TLS echo, not raw TCP; MB/s is WebSocket payload, not TLS records"
    "$REL/bench-report" --tls --input "$WORK/tls.jsonl" --markdown "$RESULTS_MD" \
        --describe "ours-tokio=rusty-socket-tokio example tls_echo_server: the adapter's tls::accept, then accept and the echo loop, current-thread runtime" \
        --describe "ours-std=rusty-socket-std example tls_echo_server" \
        --describe "tungstenite=tokio-tungstenite 0.30 over tokio-rustls 0.26, current-thread runtime (bench/src/bin/peer_tungstenite.rs given CERT KEY)" \
        --describe "raw=tokio-rustls 0.26 read/write echo, 1 MiB buffer, current-thread runtime (bench/src/bin/raw_echo.rs given CERT KEY): the ceiling" \
        "${tnotes[@]}"
    SERVERS=("${CLASSIC_SERVERS[@]}")
    SCHEME=ws
    TLS_ARGS=
fi

# ------------------------------------------------------------------ report

if ((!CLASSIC)); then
    log "raw results and logs: $WORK"
    exit 0
fi

flawed=()
for entry in "${CONFIGS[@]}"; do
    config=${entry%%|*}
    for ((round = 1; round <= ROUNDS; round++)); do
        flaw=${ROUND_FLAW[$config/$round]:-}
        if [[ -n $flaw ]]; then flawed+=("$config/$round: ${flaw//,/, }"); fi
    done
done
if ((${#flawed[@]} > 0)); then
    joined=$(printf '%s; ' "${flawed[@]}")
    NOTES+=("rounds kept after $CORE_RETRIES retries in bad conditions (${#flawed[@]}): ${joined%; }")
fi

report_notes classic_notes "" NOTES "core-to-core 16 B round trip (best p50): $CORE_BEST us"
log "== results"
for entry in "${CONFIGS[@]}" e f; do
    file=$WORK/results/${entry%%|*}.jsonl
    if [[ -f $file ]]; then cat "$file"; fi
done >"$RESULTS"
"$REL/bench-report" --input "$RESULTS" --markdown "$RESULTS_MD" --svg "$RESULTS_SVG" \
    "${classic_notes[@]}"
log "raw results and logs: $WORK"

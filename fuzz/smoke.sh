#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) from its checked-in seeds,
# one target at a time, and prints each target's final coverage and speed.
# Exits non-zero if any target crashed (a panic, a failed invariant, a
# sanitizer report, a timeout or an out-of-memory); the input that did it is
# kept under fuzz/artifacts/TARGET/ (ignored by git).
#
# Usage: fuzz/smoke.sh [SECONDS]
#
# Needs only a Rust toolchain: cargo-fuzz is installed if missing, and the
# nightly-only flags it passes are unlocked on stable with RUSTC_BOOTSTRAP=1.
set -euo pipefail

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS]" >&2
    exit 2
fi

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

fuzz() { cargo fuzz "$1" --fuzz-dir "$fuzz_dir" "${@:2}"; }

echo "== building the fuzz targets"
fuzz build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
results=()
for target in $(fuzz list); do
    corpus="$work/corpus/$target"
    mkdir -p "$corpus"
    cp corpus/"$target"/seed-* "$corpus"/ 2>/dev/null || true
    args=(-max_total_time="$seconds" -timeout=10)
    case "$target" in
        handshake_*) args+=(-dict="$fuzz_dir/dict/handshake.dict") ;;
    esac

    echo "== $target: ${seconds}s from $(ls "$corpus" | wc -l) seeds"
    log="$work/$target.log"
    status=0
    fuzz run "$target" "$corpus" -- "${args[@]}" >"$log" 2>&1 || status=$?

    last="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)"
    cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")"
    speed="$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$last")"
    if [ "$status" -eq 0 ]; then
        verdict="ok"
    else
        verdict="CRASH (exit $status)"
        failed+=("$target")
        # The assertion and its message, the sanitizer's verdict, the input.
        summary="$(grep -m1 -A3 'panicked at' "$log" || true
                   grep -E '^SUMMARY|Test unit written to' "$log" || true)"
        sed 's/^/    /' <<<"${summary:-$(tail -n 30 "$log")}"
    fi
    results+=("$(printf '%-20s cov: %-6s exec/s: %-8s %s' "$target" "${cov:-?}" "${speed:-?}" "$verdict")")
done

echo
echo "== results (${seconds}s per target)"
printf '%s\n' "${results[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi

#!/usr/bin/env bash
# The published crates are ready to publish: `cargo publish --dry-run` of the
# four together (they depend on each other by path + version and none is on
# crates.io yet, so cargo packages them into a local registry and builds each
# from its unpacked .crate against the others), and each .crate holds only
# what belongs in it (no tests, proptest regression files, fuzz corpora or
# benches). --allow-dirty: it checks the working tree as it is.
# Network: the crates.io index only.
set -euo pipefail
cd "$(dirname "$0")/.."

published=(rusty-socket-proto rusty-socket-tls rusty-socket-std rusty-socket-tokio)
args=()
for p in "${published[@]}"; do args+=(-p "$p"); done

cargo publish --dry-run --allow-dirty "${args[@]}"

# Only the library, its examples, its README, the two licence texts (the
# crates are "MIT OR Apache-2.0") and cargo's own files.
status=0
for p in "${published[@]}"; do
    listed=$(cargo package --list --allow-dirty -p "$p" 2>/dev/null)
    stray=$(grep -Ev '^(src/.*\.rs|examples/.*\.rs|README\.md|LICENSE-MIT|LICENSE-APACHE|Cargo\.toml|Cargo\.toml\.orig|Cargo\.lock|\.cargo_vcs_info\.json)$' <<<"$listed" || true)
    if [[ -n $stray ]]; then
        echo "$p: files that do not belong in the package:" >&2
        echo "$stray" >&2
        status=1
    fi
    for licence in LICENSE-MIT LICENSE-APACHE; do
        if ! grep -qx "$licence" <<<"$listed"; then
            echo "$p: the package lacks $licence" >&2
            status=1
        fi
    done
done
exit "$status"

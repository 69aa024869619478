#!/usr/bin/env bash
# MSRV check for the published crates: the workspace's `rust-version`
# (workspace.package.rust-version in Cargo.toml) is what they promise.
#
# 1. No package the published crates depend on (normal and build
#    dependencies, every feature on, as resolved in Cargo.lock) declares a
#    `rust-version` newer than ours (a fast check that names the culprit).
#    Not `--offline`: `cargo metadata` reads the manifest of every locked
#    package, other platforms' too (e.g. anstyle-wincon), which a fresh
#    cargo home has not downloaded.
# 2. The published crates, every feature on, `cargo check` with exactly that
#    toolchain, against the committed Cargo.lock. rustup installs it if it is
#    missing (a download from static.rust-lang.org, once).
# Needs: rustup, cargo, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

published=(rusty-socket-proto rusty-socket-std rusty-socket-tokio rusty-socket-tls)

# Every published crate takes rust-version from the workspace: one value.
msrv=$(cargo metadata --format-version 1 --no-deps --offline | python3 -c '
import json, sys
found = {p["rust_version"] for p in json.load(sys.stdin)["packages"] if p["name"] in sys.argv[1:]}
if len(found) != 1 or None in found:
    sys.exit(f"the published crates must declare one rust-version, found {sorted(map(str, found))}")
print(found.pop())
' "${published[@]}")
echo "rust-version of the published crates: $msrv"

cargo metadata --format-version 1 --all-features --locked | python3 -c '
import json, sys
meta = json.load(sys.stdin)
msrv, published = sys.argv[1], set(sys.argv[2:])
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
def ver(v):
    return tuple(int(x) for x in v.split("."))
roots = [i for i, p in pkgs.items() if p["name"] in published]
seen, todo = set(), list(roots)
while todo:
    i = todo.pop()
    if i in seen:
        continue
    seen.add(i)
    for d in nodes[i]["deps"]:
        if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
            todo.append(d["pkg"])
too_new = sorted(
    (pkgs[i]["name"], pkgs[i]["version"], pkgs[i]["rust_version"])
    for i in seen
    if pkgs[i]["rust_version"] and ver(pkgs[i]["rust_version"]) > ver(msrv)
)
undeclared = sum(1 for i in seen if not pkgs[i]["rust_version"])
for name, version, rv in too_new:
    print(f"  {name} {version} requires Rust {rv}, above our rust-version {msrv}")
if too_new:
    sys.exit(f"{len(too_new)} dependencies of the published crates need a newer Rust than {msrv}")
print(f"rust-version {msrv}: none of the {len(seen) - len(roots)} dependencies of the published crates declares a newer one ({undeclared} declare none)")
' "$msrv" "${published[@]}"

if ! rustup run "$msrv" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$msrv" --profile minimal
fi
args=()
for p in "${published[@]}"; do args+=(-p "$p"); done
cargo "+$msrv" check --locked --all-features "${args[@]}"
echo "msrv: the published crates build with Rust $msrv"

#!/usr/bin/env bash
# Runs the unit tests of the vendored str0m (vendor/str0m, see its PLENUM-PATCH.md) in a
# copy outside the workspace. Its manifest lists optional crypto back-ends and dev-dependencies
# (str0m-netem 0.5, rouille) the registry here lacks: the copy's manifest leaves them out, and
# the crate's docs/ (read by src/sdp's tests, not vendored) comes from the published crate.
# Usage: scripts/str0m-unit-tests.sh [cargo test filter]
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${STR0M_TEST_DIR:-/tmp/plenum-str0m-unit-tests}"
rm -rf "$dir"
cp -r vendor/str0m "$dir"

# The published crate's docs/ (cargo fetches the crate if it is not in the registry yet).
published() {
    find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d -name 'str0m-0.25.0' | head -n 1
}
docs=$(published)
if [ -z "$docs" ]; then
    # The workspace patches str0m, so its source is not in the registry yet: fetch it.
    mkdir -p "$dir/.fetch" && cat > "$dir/.fetch/Cargo.toml" <<'TOML'
[package]
name = "fetch-str0m"
version = "0.0.0"
edition = "2021"
[dependencies]
str0m = "=0.25.0"
[workspace]
TOML
    mkdir -p "$dir/.fetch/src" && : > "$dir/.fetch/src/lib.rs"
    (cd "$dir/.fetch" && cargo fetch --quiet)
    docs=$(published)
    rm -rf "$dir/.fetch"
fi
cp -r "$docs/docs" "$dir/docs"

python3 - "$dir/Cargo.toml" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
drop = ["netem", "str0m-openssl", "str0m-apple-crypto", "str0m-wincrypto", "str0m-rust-crypto", "rouille", "drv"]
drop_features = {"apple-crypto", "openssl", "openssl-dimpl", "rust-crypto", "vendored", "wincrypto",
                 "wincrypto-dimpl", "drv", "examples"}
out = []
for section in re.split(r"(?m)^(?=\[)", text):
    head = section.split("\n", 1)[0].strip()
    if any(head in (f"[dependencies.{d}]", f"[dev-dependencies.{d}]") for d in drop):
        continue
    if re.match(r"\[target\..*\]", head):
        continue
    if head == "[features]":
        body = section[len(head) + 1:]
        entries = re.findall(r'(?ms)^([\w-]+) = (\[.*?\]|"[^"]*")\n', body)
        # `default` lists the dropped `examples` feature.
        kept = [k + " = " + v.replace('"examples",', "").replace('"examples"', "")
                for k, v in entries if k not in drop_features]
        section = head + "\n" + "\n".join(kept) + "\n\n"
    out.append(section)
open(path, "w").write("".join(out) + "\n[workspace]\n")
PY

cd "$dir"
cargo test --lib --release "$@"

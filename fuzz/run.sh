#!/usr/bin/env bash
# Runs the fuzz targets (cargo-fuzz on nightly, libFuzzer) for SECONDS each (default 600),
# growing fuzz/corpus/<target>/ from the hand-made fuzz/seeds/<target>/, then minimising it. A crash is written to fuzz/artifacts/<target>/; once fixed,
# its input goes to fuzz/regressions/<target>/, which the stable test run replays with the
# corpus (fuzzing/tests/corpus.rs). Figures: docs/security.md.
#   fuzz/run.sh [SECONDS] [TARGET…]
# Needs: rustup's nightly toolchain and `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ws_command sdp_offer rfc4571 csv_import ballot cluster_wire)
for t in "${targets[@]}"; do
  echo "== $t: ${seconds}s"
  # No sanitizer: the code is safe Rust (its C dependencies are not what is under test);
  # libFuzzer still finds panics, timeouts and runaway memory.
  cargo +nightly fuzz run -O --sanitizer none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
  # Keep only inputs that add coverage (what is committed and replayed by `cargo test`).
  cargo +nightly fuzz cmin -O --sanitizer none "$t" "fuzz/corpus/$t"
done

//! Criterion benches live in `benches/`; see docs/perf.md.

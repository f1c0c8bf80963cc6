//! Synthetic Plenum participants: the real signalling protocol over a WebSocket, real
//! WebRTC (str0m) over real UDP, synthetic media with valid RTP and VP8 framing.
//!
//! Modules:
//! - [`signal`] — a protocol-1 WebSocket client (commands with ids, answers, events);
//! - [`synth`] — media generators: VP8 simulcast layers (payload descriptor, keyframes on
//!   an interval and on request, a send timestamp in every packet) and audio frames with
//!   RFC 6464 levels;
//! - [`participant`] — one participant: joins, negotiates its slots, publishes, receives,
//!   and records per-slot statistics;
//! - [`pool`] — the threads the participants' media tasks run on, each task on one.
//!
//! - [`scenario`] — load scenarios as TOML files;
//! - [`runner`] — ramps a scenario up, rotates speakers, samples the server;
//! - [`server`] — the server under test: spawned or remote, `/proc` and `/metrics` readings;
//! - [`cascade`] — an origin and its edge nodes spawned for a run, the origin's placement;
//! - [`report`] — terminal table, JSON and a self-contained HTML page;
//! - [`janus`], [`compare`] — the same livestream load against Janus VideoRoom;
//! - [`whip`] — WHIP ingest and WHEP viewing clients.
//!
//! Used by the server's integration tests and by the `plenum-loadtest` binary.

pub mod cascade;
pub mod compare;
pub mod janus;
pub mod participant;
pub mod pool;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod signal;
pub mod synth;
pub mod whip;

pub use participant::{Participant, ParticipantConfig, SlotStats};
pub use signal::{SignalClient, SignalError};

//! The cryptographic core of Plenum's end-to-end verifiable secret ballots (no I/O, no clock,
//! randomness passed in). The protocol, threat model and wire format are in docs/ballot.md.
pub mod ballot;
pub mod board;
pub mod dkg;
pub mod elgamal;
pub mod encoding;
mod error;
pub mod poll;
pub mod proofs;
pub mod simulate;
pub mod tally;

pub use error::Error;

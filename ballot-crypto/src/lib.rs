//! The cryptographic core of Plenum's end-to-end verifiable secret ballots: exponential ElGamal
//! on ristretto255, zero-knowledge proofs, a t-of-n distributed key generation for the tally
//! committee, threshold decryption and the hash-chained bulletin board. No I/O, no clock;
//! randomness is passed in (`rand_core::CryptoRng`). The protocol, threat model and byte-level
//! wire format are in docs/ballot.md ("Verifiable ballots"); `web/ballot-crypto.js` implements
//! the same format for the browser, and `vectors/` pins both to the same bytes.
//!
//! Modules, bottom up:
//! - [`encoding`]: 32-byte points and scalars (hex in JSON) and their decoding rules, the
//!   canonical [`encoding::Writer`] behind every hash and transcript, random scalars.
//! - [`elgamal`]: ciphertexts, homomorphic sums, integer weights.
//! - [`proofs`]: disjunctive range proofs (0/1 and bounds), Chaum–Pedersen, Schnorr.
//! - [`dkg`]: the committee's rounds (keys, dealings, complaints, answers), the
//!   disqualification rule, verification keys, each member's share.
//! - [`poll`]: questions, the roll and its hash, the header and its checked form [`poll::Poll`].
//! - [`ballot`]: credentials (Ed25519), encryption with proofs, the tracker, the server's check,
//!   the Benaloh audit.
//! - [`tally`]: the weighted sum, partial decryptions with proofs, Lagrange combination,
//!   baby-step giant-step.
//! - [`board`]: entries, chain hashes, the [`board::Board`] state machine that the server appends
//!   through and [`board::verify_board`] replays, the JSON export.
//! - [`simulate`]: a whole election in memory, for tests, vectors and benches.
//!
//! The server's order of calls: `Board::new(roll)`, `open(header)`, then `register` and `cast`
//! while the poll is open, `close`, `publish_tally`, one `append(Entry::PartialDecryption)` per
//! member, `publish_result`. Every refusal is an [`Error`] with a stable [`Error::code`].

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

//! The bulletin board: an append-only, hash-chained list of entries, and the one state machine
//! that both the server (appending) and every verifier (replaying an export) run.
//!
//! Entries, in the order the board allows them:
//! 1. `header` — [`PollHeader`]: poll id, questions, roll hash, the committee's DKG record,
//!    election key.
//! 2. `registration` — a credential and its right's weight, no name; and `ballot` — an
//!    encrypted, signed [`Ballot`] of a registered, unused credential. Interleaved.
//! 3. `closed` — how many ballots were refused, and which rights registered a credential (their
//!    holders, sorted; not which credential).
//! 4. `tally` — the weighted sums of the accepted ballots.
//! 5. `partial_decryption` — one per qualified member taking part.
//! 6. `result` — the weighted counts, once t valid partial decryptions are on the board.
//!
//! Entry k's hash is SHA-256(hash_{k−1} ‖ canonical bytes of entry k), hash_{−1} = 32 zero
//! bytes. [`verify_board`] replays an export through [`Board::append`] and returns the first
//! entry that fails, with its index and the typed [`Error`].

use std::collections::{BTreeMap, HashMap, HashSet};

use curve25519_dalek::ristretto::RistrettoPoint;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ballot::{Ballot, decode_credential, verify_ballot};
use crate::encoding::{CredentialKey, Hash32, Writer, sha256};
use crate::poll::{MAX_WEIGHT, Poll, PollHeader, Roll};
use crate::tally::{
    EncryptedTally, PartialDecryption, Tally, TallyResult, check_result, combine, decode_tally,
    decrypt_points, verify_partial_decryption,
};

/// The export's format name.
pub const FORMAT: &str = "plenum-board/v1";

/// A credential registered for a right of the given weight (the right's holder is not named).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The credential's Ed25519 public key.
    pub credential: CredentialKey,
    /// The right's weight.
    pub weight: u64,
}

/// Voting has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closed {
    /// How many ballots the server refused (bad proofs, replays, unknown credentials, …).
    pub rejected_ballots: u64,
    /// The holders of the rights that registered a credential, sorted (byte order).
    pub participation: Vec<String>,
}

/// One board entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The poll.
    Header(PollHeader),
    /// A credential and its weight.
    Registration(Registration),
    /// An accepted ballot.
    Ballot(Ballot),
    /// Voting ended.
    Closed(Closed),
    /// The weighted sums.
    Tally(EncryptedTally),
    /// A member's partial decryption.
    PartialDecryption(PartialDecryption),
    /// The published counts.
    Result(TallyResult),
}

impl Entry {
    /// The entry's kind as named in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Header(_) => "header",
            Entry::Registration(_) => "registration",
            Entry::Ballot(_) => "ballot",
            Entry::Closed(_) => "closed",
            Entry::Tally(_) => "tally",
            Entry::PartialDecryption(_) => "partial_decryption",
            Entry::Result(_) => "result",
        }
    }

    /// The canonical bytes (each starts with its own tag `plenum-ballot/v1/entry/<kind>`).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Entry::Header(h) => h.to_bytes(),
            Entry::Registration(r) => {
                let mut w = Writer::new("entry/registration");
                w.raw(&r.credential.0).u64(r.weight);
                w.into_bytes()
            }
            Entry::Ballot(b) => {
                let mut w = Writer::new("entry/ballot");
                w.raw(&b.to_bytes());
                w.into_bytes()
            }
            Entry::Closed(c) => {
                let mut w = Writer::new("entry/closed");
                w.u64(c.rejected_ballots).len(c.participation.len());
                for h in &c.participation {
                    w.str(h);
                }
                w.into_bytes()
            }
            Entry::Tally(t) => {
                let mut w = Writer::new("entry/tally");
                w.len(t.ciphertexts.len());
                for q in &t.ciphertexts {
                    w.len(q.len());
                    for c in q {
                        w.raw(&c.alpha.0).raw(&c.beta.0);
                    }
                }
                w.into_bytes()
            }
            Entry::PartialDecryption(p) => {
                let mut w = Writer::new("entry/partial-decryption");
                w.u32(p.member).len(p.factors.len());
                for q in &p.factors {
                    w.len(q.len());
                    for f in q {
                        w.raw(&f.factor.0).raw(&f.proof.c.0).raw(&f.proof.z.0);
                    }
                }
                w.into_bytes()
            }
            Entry::Result(r) => {
                let mut w = Writer::new("entry/result");
                w.len(r.counts.len());
                for q in &r.counts {
                    w.len(q.len());
                    for c in q {
                        w.u64(*c);
                    }
                }
                w.into_bytes()
            }
        }
    }
}

/// An entry with its chain hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainedEntry {
    /// SHA-256(previous hash ‖ entry bytes).
    pub hash: Hash32,
    /// The entry.
    pub entry: Entry,
}

/// The chain hash of an entry after `prev`.
pub fn chain_hash(prev: &Hash32, entry: &Entry) -> Hash32 {
    let mut b = prev.0.to_vec();
    b.extend_from_slice(&entry.to_bytes());
    sha256(&b)
}

/// What `plenum-verify` reads: the roll and the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardExport {
    /// Always [`FORMAT`].
    pub format: String,
    /// The frozen roll (its hash is in the header).
    pub roll: Roll,
    /// The entries, in order.
    pub entries: Vec<ChainedEntry>,
}

impl BoardExport {
    /// Parse an export.
    pub fn from_json(s: &str) -> Result<Self, Error> {
        Ok(serde_json::from_str(s)?)
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string and no value is a
        // non-finite float.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Where the board is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No header yet.
    Empty,
    /// Registrations and ballots.
    Voting,
    /// Closed, no tally yet.
    Closed,
    /// Tallied; partial decryptions arrive.
    Tallied,
    /// The result is on the board; nothing more may follow.
    Published,
}

/// What a verified board says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardSummary {
    /// The poll.
    pub poll_id: String,
    /// Where the board is.
    pub phase: Phase,
    /// How many entries.
    pub entries: usize,
    /// The last entry's hash (pin it in the minutes).
    pub head: Hash32,
    /// Registered credentials.
    pub registrations: u64,
    /// Accepted ballots.
    pub ballots: u64,
    /// Their total weight.
    pub weight_cast: u64,
    /// Refused ballots, once closed.
    pub rejected_ballots: Option<u64>,
    /// The qualified committee members.
    pub qualified: Vec<u32>,
    /// Members whose valid partial decryption is on the board.
    pub decrypted_by: Vec<u32>,
    /// The verified result, once published.
    pub result: Option<TallyResult>,
}

/// The board and its state.
#[derive(Debug, Clone)]
pub struct Board {
    roll: Roll,
    entries: Vec<ChainedEntry>,
    poll: Option<Poll>,
    phase: Phase,
    /// Weight and whether it has cast, per credential.
    credentials: HashMap<CredentialKey, (u64, bool)>,
    /// Rights of each weight not yet bound to a credential.
    weights_left: BTreeMap<u64, u64>,
    trackers: HashSet<Hash32>,
    tally: Option<Tally>,
    /// The published tally, decoded.
    sums: Vec<Vec<crate::elgamal::Ciphertext>>,
    factors: BTreeMap<u32, Vec<Vec<RistrettoPoint>>>,
    rejected: u64,
    closed: Option<Closed>,
    result: Option<TallyResult>,
}

impl Board {
    /// An empty board for this roll (checked: canonical).
    pub fn new(roll: Roll) -> Result<Self, Error> {
        roll.check()?;
        let weights_left = roll.weights();
        Ok(Board {
            roll,
            entries: Vec::new(),
            poll: None,
            phase: Phase::Empty,
            credentials: HashMap::new(),
            weights_left,
            trackers: HashSet::new(),
            tally: None,
            sums: Vec::new(),
            factors: BTreeMap::new(),
            rejected: 0,
            closed: None,
            result: None,
        })
    }

    /// The checked poll, once the header is on the board.
    pub fn poll(&self) -> Option<&Poll> {
        self.poll.as_ref()
    }

    /// Rebuild a board from an export (the server after a restart): every entry is checked
    /// again, as [`verify_board`] does. `rejected` is the server's count of refused ballots so
    /// far (not on the board until `closed`).
    pub fn restore(export: &BoardExport, rejected: u64) -> Result<Self, BoardError> {
        let mut board = replay(export)?;
        board.rejected = rejected;
        Ok(board)
    }

    /// Count a ballot refused before it reached the board's checks (it did not even parse),
    /// while voting is open.
    pub fn count_refused(&mut self) {
        if self.phase == Phase::Voting {
            self.rejected += 1;
        }
    }

    /// How many ballots were refused so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Where the board is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The entries so far.
    pub fn entries(&self) -> &[ChainedEntry] {
        &self.entries
    }

    /// The last hash (32 zero bytes before the first entry).
    pub fn head(&self) -> Hash32 {
        self.entries.last().map_or(Hash32([0; 32]), |e| e.hash)
    }

    /// Whether a tracker is on the board (the voter's check).
    pub fn contains_tracker(&self, tracker: &Hash32) -> bool {
        self.trackers.contains(tracker)
    }

    /// The export.
    pub fn export(&self) -> BoardExport {
        BoardExport {
            format: FORMAT.into(),
            roll: self.roll.clone(),
            entries: self.entries.clone(),
        }
    }

    fn poll_or_err(&self) -> Result<&Poll, Error> {
        self.poll
            .as_ref()
            .ok_or_else(|| Error::OutOfOrder("the header must come first".into()))
    }

    fn expect_phase(&self, phase: Phase, what: &str) -> Result<(), Error> {
        if self.phase != phase {
            return Err(Error::OutOfOrder(format!(
                "{what} is not allowed in phase {:?}",
                self.phase
            )));
        }
        Ok(())
    }

    /// Check an entry against the board's state without appending it.
    pub fn check(&self, entry: &Entry) -> Result<(), Error> {
        self.check_inner(entry).map(|_| ())
    }

    /// Check an entry and append it; returns its chain hash. Nothing changes on error.
    pub fn append(&mut self, entry: Entry) -> Result<Hash32, Error> {
        let effect = self.check_inner(&entry)?;
        let hash = chain_hash(&self.head(), &entry);
        self.apply(effect);
        self.entries.push(ChainedEntry { hash, entry });
        Ok(hash)
    }

    /// Header: start the board.
    pub fn open(&mut self, header: PollHeader) -> Result<Hash32, Error> {
        self.append(Entry::Header(header))
    }

    /// Bind a credential to a right's weight.
    pub fn register(&mut self, credential: CredentialKey, weight: u64) -> Result<Hash32, Error> {
        self.append(Entry::Registration(Registration { credential, weight }))
    }

    /// Accept a ballot (returns its tracker) or refuse it (and count the refusal for the
    /// `closed` entry).
    pub fn cast(&mut self, ballot: Ballot) -> Result<Hash32, Error> {
        let tracker = ballot.tracker();
        match self.append(Entry::Ballot(ballot)) {
            Ok(_) => Ok(tracker),
            Err(e) => {
                if self.phase == Phase::Voting {
                    self.rejected += 1;
                }
                Err(e)
            }
        }
    }

    /// Register a fresh credential for a right of `weight` and accept its ballot, both or
    /// neither (the server's `cast_ballot`): the registration is checked, then the ballot as
    /// [`Board::cast`] would check it once the credential is registered. Returns the
    /// tracker; a refusal is counted as a refused ballot and changes nothing else.
    pub fn register_and_cast(
        &mut self,
        credential: CredentialKey,
        weight: u64,
        ballot: Ballot,
    ) -> Result<Hash32, Error> {
        let checked = self.check_pair(credential, weight, &ballot);
        let (register, cast) = match checked {
            Ok(effects) => effects,
            Err(e) => {
                if self.phase == Phase::Voting {
                    self.rejected += 1;
                }
                return Err(e);
            }
        };
        let tracker = ballot.tracker();
        let registration = Entry::Registration(Registration { credential, weight });
        let hash = chain_hash(&self.head(), &registration);
        self.apply(register);
        self.entries.push(ChainedEntry {
            hash,
            entry: registration,
        });
        let entry = Entry::Ballot(ballot);
        let hash = chain_hash(&self.head(), &entry);
        self.apply(cast);
        self.entries.push(ChainedEntry { hash, entry });
        Ok(tracker)
    }

    fn check_pair(
        &self,
        credential: CredentialKey,
        weight: u64,
        ballot: &Ballot,
    ) -> Result<(Effect, Effect), Error> {
        let register =
            self.check_inner(&Entry::Registration(Registration { credential, weight }))?;
        if ballot.credential != credential {
            return Err(Error::UnknownCredential);
        }
        let poll = self.poll_or_err()?;
        if ballot.poll_id != poll.header.poll_id {
            return Err(Error::WrongPoll {
                expected: poll.header.poll_id.clone(),
                got: ballot.poll_id.clone(),
            });
        }
        if self.trackers.contains(&ballot.tracker()) {
            return Err(Error::DuplicateBallot);
        }
        let v = verify_ballot(poll, ballot)?;
        Ok((
            register,
            Effect::Cast {
                credential,
                tracker: v.tracker,
                ciphertexts: v.ciphertexts,
                weight,
            },
        ))
    }

    /// End voting; `participation` lists the holders whose right registered a credential.
    pub fn close(&mut self, mut participation: Vec<String>) -> Result<Hash32, Error> {
        participation.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let rejected_ballots = self.rejected;
        self.append(Entry::Closed(Closed {
            rejected_ballots,
            participation,
        }))
    }

    /// Publish the weighted sums.
    pub fn publish_tally(&mut self) -> Result<Hash32, Error> {
        let Some(tally) = &self.tally else {
            return Err(Error::OutOfOrder("no header yet".into()));
        };
        let t = tally.encode();
        self.append(Entry::Tally(t))
    }

    /// The decoded tally ciphertexts (for the members' partial decryptions), once published.
    pub fn tally_ciphertexts(&self) -> Option<&[Vec<crate::elgamal::Ciphertext>]> {
        (self.phase == Phase::Tallied || self.phase == Phase::Published).then_some(&self.sums[..])
    }

    /// Combine the partial decryptions on the board (at least t) and publish the counts.
    pub fn publish_result(&mut self) -> Result<TallyResult, Error> {
        let poll = self.poll_or_err()?;
        self.expect_phase(Phase::Tallied, "a result")?;
        let points = decrypt_points(poll, &self.sums, &self.factors)?;
        let bound = self.tally.as_ref().map_or(0, Tally::weight);
        let result = combine(&points, bound)?;
        self.append(Entry::Result(result.clone()))?;
        Ok(result)
    }

    /// What the board says so far.
    pub fn summary(&self) -> BoardSummary {
        BoardSummary {
            poll_id: self
                .poll
                .as_ref()
                .map(|p| p.header.poll_id.clone())
                .unwrap_or_default(),
            phase: self.phase,
            entries: self.entries.len(),
            head: self.head(),
            registrations: self.credentials.len() as u64,
            ballots: self.tally.as_ref().map_or(0, Tally::ballots),
            weight_cast: self.tally.as_ref().map_or(0, Tally::weight),
            rejected_ballots: self.closed.as_ref().map(|c| c.rejected_ballots),
            qualified: self
                .poll
                .as_ref()
                .map(|p| p.outcome.qualified.clone())
                .unwrap_or_default(),
            decrypted_by: self.factors.keys().copied().collect(),
            result: self.result.clone(),
        }
    }

    fn check_inner(&self, entry: &Entry) -> Result<Effect, Error> {
        match entry {
            Entry::Header(h) => {
                self.expect_phase(Phase::Empty, "a header")?;
                if h.roll_hash != self.roll.hash() {
                    return Err(Error::RollMismatch);
                }
                Ok(Effect::Open(Box::new(h.verify()?)))
            }
            Entry::Registration(r) => {
                self.expect_phase(Phase::Voting, "a registration")?;
                decode_credential(&r.credential)?;
                if self.credentials.contains_key(&r.credential) {
                    return Err(Error::CredentialRegistered);
                }
                if r.weight == 0 || r.weight > MAX_WEIGHT {
                    return Err(Error::BadRegistration("weight out of range".into()));
                }
                if self.weights_left.get(&r.weight).copied().unwrap_or(0) == 0 {
                    return Err(Error::BadRegistration(format!(
                        "no right of weight {} is left unregistered",
                        r.weight
                    )));
                }
                Ok(Effect::Register(*r))
            }
            Entry::Ballot(b) => {
                let poll = self.poll_or_err()?;
                self.expect_phase(Phase::Voting, "a ballot")?;
                if b.poll_id != poll.header.poll_id {
                    return Err(Error::WrongPoll {
                        expected: poll.header.poll_id.clone(),
                        got: b.poll_id.clone(),
                    });
                }
                if self.trackers.contains(&b.tracker()) {
                    return Err(Error::DuplicateBallot);
                }
                let Some(&(weight, used)) = self.credentials.get(&b.credential) else {
                    return Err(Error::UnknownCredential);
                };
                if used {
                    return Err(Error::CredentialUsed);
                }
                let v = verify_ballot(poll, b)?;
                Ok(Effect::Cast {
                    credential: b.credential,
                    tracker: v.tracker,
                    ciphertexts: v.ciphertexts,
                    weight,
                })
            }
            Entry::Closed(c) => {
                self.expect_phase(Phase::Voting, "closing")?;
                let mut weights: BTreeMap<u64, u64> = BTreeMap::new();
                for (i, h) in c.participation.iter().enumerate() {
                    if i > 0 && c.participation[i - 1].as_bytes() >= h.as_bytes() {
                        return Err(Error::BadParticipation(
                            "holders must be sorted and unique".into(),
                        ));
                    }
                    let Some(right) = self.roll.right(h) else {
                        return Err(Error::BadParticipation(format!("{h:?} is not on the roll")));
                    };
                    *weights.entry(right.weight).or_insert(0) += 1;
                }
                let mut registered: BTreeMap<u64, u64> = BTreeMap::new();
                for (w, _) in self.credentials.values() {
                    *registered.entry(*w).or_insert(0) += 1;
                }
                if weights != registered {
                    return Err(Error::BadParticipation(
                        "the weights of the listed rights are not those of the registrations"
                            .into(),
                    ));
                }
                Ok(Effect::Close(c.clone()))
            }
            Entry::Tally(t) => {
                let poll = self.poll_or_err()?;
                self.expect_phase(Phase::Closed, "a tally")?;
                let published = decode_tally(poll, t)?;
                let computed = self.tally.as_ref().map(Tally::sums).unwrap_or_default();
                if published != computed {
                    return Err(Error::TallyMismatch);
                }
                Ok(Effect::Tally(published))
            }
            Entry::PartialDecryption(p) => {
                let poll = self.poll_or_err()?;
                self.expect_phase(Phase::Tallied, "a partial decryption")?;
                if self.factors.contains_key(&p.member) {
                    return Err(Error::BadTrustee {
                        member: p.member,
                        reason: "already published one".into(),
                    });
                }
                let f = verify_partial_decryption(poll, &self.sums, p)?;
                Ok(Effect::Partial(p.member, f))
            }
            Entry::Result(r) => {
                let poll = self.poll_or_err()?;
                self.expect_phase(Phase::Tallied, "a result")?;
                let points = decrypt_points(poll, &self.sums, &self.factors)?;
                let bound = self.tally.as_ref().map_or(0, Tally::weight);
                check_result(&points, r, bound)?;
                Ok(Effect::Result(r.clone()))
            }
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Open(poll) => {
                self.tally = Some(Tally::new(&poll));
                self.poll = Some(*poll);
                self.phase = Phase::Voting;
            }
            Effect::Register(r) => {
                if let Some(n) = self.weights_left.get_mut(&r.weight) {
                    *n = n.saturating_sub(1);
                }
                self.credentials.insert(r.credential, (r.weight, false));
            }
            Effect::Cast {
                credential,
                tracker,
                ciphertexts,
                weight,
            } => {
                if let Some(c) = self.credentials.get_mut(&credential) {
                    c.1 = true;
                }
                self.trackers.insert(tracker);
                if let Some(t) = &mut self.tally {
                    t.add(&ciphertexts, weight);
                }
            }
            Effect::Close(c) => {
                self.closed = Some(c);
                self.phase = Phase::Closed;
            }
            Effect::Tally(sums) => {
                self.sums = sums;
                self.phase = Phase::Tallied;
            }
            Effect::Partial(member, f) => {
                self.factors.insert(member, f);
            }
            Effect::Result(r) => {
                self.result = Some(r);
                self.phase = Phase::Published;
            }
        }
    }
}

/// What a checked entry changes.
enum Effect {
    Open(Box<Poll>),
    Register(Registration),
    Cast {
        credential: CredentialKey,
        tracker: Hash32,
        ciphertexts: Vec<Vec<crate::elgamal::Ciphertext>>,
        weight: u64,
    },
    Close(Closed),
    Tally(Vec<Vec<crate::elgamal::Ciphertext>>),
    Partial(u32, Vec<Vec<RistrettoPoint>>),
    Result(TallyResult),
}

/// The first thing wrong with an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoardError {
    /// The export's format name is not [`FORMAT`].
    #[error("not a {FORMAT} export (format {0:?})")]
    Format(String),
    /// The roll is not canonical.
    #[error("roll: {0}")]
    Roll(Error),
    /// Entry `index` (from 0) fails.
    #[error("entry {index} ({kind}): {error}")]
    Entry {
        /// Its position.
        index: usize,
        /// Its kind.
        kind: &'static str,
        /// What is wrong.
        error: Error,
    },
}

impl BoardError {
    /// The underlying error, if it is about an entry or the roll.
    pub fn error(&self) -> Option<&Error> {
        match self {
            BoardError::Format(_) => None,
            BoardError::Roll(e) | BoardError::Entry { error: e, .. } => Some(e),
        }
    }
}

/// Re-check a whole export: the roll, then every entry in order — its place in the sequence,
/// every proof, the DKG and election key, registrations against the roll's weights, each
/// credential's single ballot, the tally as the weighted sum, each partial decryption, the
/// result — and its chain hash. Returns the first failing item.
pub fn verify_board(export: &BoardExport) -> Result<BoardSummary, BoardError> {
    replay(export).map(|b| b.summary())
}

fn replay(export: &BoardExport) -> Result<Board, BoardError> {
    if export.format != FORMAT {
        return Err(BoardError::Format(export.format.clone()));
    }
    let mut board = Board::new(export.roll.clone()).map_err(BoardError::Roll)?;
    for (index, ce) in export.entries.iter().enumerate() {
        let fail = |error: Error| BoardError::Entry {
            index,
            kind: ce.entry.kind(),
            error,
        };
        if chain_hash(&board.head(), &ce.entry) != ce.hash {
            return Err(fail(Error::ChainBroken));
        }
        board.append(ce.entry.clone()).map_err(fail)?;
    }
    Ok(board)
}

//! What a poll asks and who may answer: the header's questions (options with coefficients and
//! [min, max] bounds), the frozen roll of rights and its hash, and [`Poll`], the checked header
//! that ballots, tallies and decryptions are verified against.

use std::collections::BTreeMap;

use curve25519_dalek::ristretto::RistrettoPoint;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::dkg::{DkgOutcome, DkgTranscript};
use crate::encoding::{Hash32, IdentityRule, PointBytes, Writer};
use crate::proofs::Bases;

/// Most questions in one poll (an election with yes/no/abstain per candidate has one question
/// per candidate).
pub const MAX_QUESTIONS: usize = 128;
/// Most options in one question.
pub const MAX_OPTIONS: usize = 128;
/// Largest coefficient of an option in its question's bounds sum.
pub const MAX_COEFFICIENT: u32 = 1024;
/// Most values a bounds proof covers (max − min + 1): its size and cost grow with this.
pub const MAX_RANGE: u32 = 256;
/// Longest text (poll id, question, option label, holder, committee id or label), in bytes.
pub const MAX_TEXT: usize = 1024;
/// Most rights in a roll.
pub const MAX_RIGHTS: usize = 100_000;
/// Largest weight of one right.
pub const MAX_WEIGHT: u64 = 1 << 20;
/// Largest total weight of a roll: a decrypted sum is at most this, which bounds the
/// baby-step giant-step search (2¹⁶ baby steps).
pub const MAX_TOTAL_WEIGHT: u64 = 1 << 32;

/// One option of a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollOption {
    /// What the voter sees.
    pub label: String,
    /// How much choosing it counts towards the question's [min, max] bounds (usually 1). A
    /// "no to all" option in a choose-up-to-k election has coefficient k, so it excludes every
    /// candidate.
    pub coefficient: u32,
}

/// One question: each option is chosen (1) or not (0), and Σ coefficient·choice ∈ [min, max].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The question's text.
    pub text: String,
    /// Its options, in ballot order.
    pub options: Vec<PollOption>,
    /// Least weighted number of choices.
    pub min: u32,
    /// Most weighted number of choices.
    pub max: u32,
}

impl Question {
    fn check(&self, q: usize) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidPoll(format!("question {q}: {m}")));
        if self.text.len() > MAX_TEXT {
            return bad("text too long".into());
        }
        if self.options.is_empty() || self.options.len() > MAX_OPTIONS {
            return bad(format!("needs 1 to {MAX_OPTIONS} options"));
        }
        let mut total: u64 = 0;
        for o in &self.options {
            if o.label.len() > MAX_TEXT {
                return bad("option label too long".into());
            }
            if o.coefficient == 0 || o.coefficient > MAX_COEFFICIENT {
                return bad(format!("coefficients must be 1 to {MAX_COEFFICIENT}"));
            }
            total += u64::from(o.coefficient);
        }
        if self.min > self.max || u64::from(self.max) > total {
            return bad("needs min ≤ max ≤ the sum of the coefficients".into());
        }
        if self.max - self.min >= MAX_RANGE {
            return bad(format!("max − min must be below {MAX_RANGE}"));
        }
        Ok(())
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.str(&self.text).len(self.options.len());
        for o in &self.options {
            w.str(&o.label).u32(o.coefficient);
        }
        w.u32(self.min).u32(self.max);
    }
}

/// One right of the frozen roll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Right {
    /// Whose right it is (an opaque participant id; one right per holder per poll).
    pub holder: String,
    /// Who casts it, when it is delegated.
    pub proxy: Option<String>,
    /// Its weight (≥ 1).
    pub weight: u64,
}

/// The frozen roll: every eligible right, sorted by holder (byte order), each holder once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Roll {
    /// The rights.
    pub rights: Vec<Right>,
}

impl Roll {
    /// Sort rights into canonical order (the server builds the roll with this).
    pub fn new(mut rights: Vec<Right>) -> Result<Self, Error> {
        rights.sort_by(|a, b| a.holder.as_bytes().cmp(b.holder.as_bytes()));
        let roll = Roll { rights };
        roll.check()?;
        Ok(roll)
    }

    /// Canonical: holders strictly ascending, weights 1..=MAX_WEIGHT, total within
    /// MAX_TOTAL_WEIGHT.
    pub fn check(&self) -> Result<(), Error> {
        if self.rights.is_empty() || self.rights.len() > MAX_RIGHTS {
            return Err(Error::InvalidRoll(format!(
                "needs 1 to {MAX_RIGHTS} rights"
            )));
        }
        let mut total = 0u64;
        for (i, r) in self.rights.iter().enumerate() {
            if r.holder.len() > MAX_TEXT || r.proxy.as_ref().is_some_and(|p| p.len() > MAX_TEXT) {
                return Err(Error::InvalidRoll(format!("right {i}: name too long")));
            }
            if r.weight == 0 || r.weight > MAX_WEIGHT {
                return Err(Error::InvalidRoll(format!(
                    "right {i}: weight must be 1 to {MAX_WEIGHT}"
                )));
            }
            total += r.weight;
            if i > 0 && self.rights[i - 1].holder.as_bytes() >= r.holder.as_bytes() {
                return Err(Error::InvalidRoll(format!(
                    "right {i}: holders must be sorted and unique"
                )));
            }
        }
        if total > MAX_TOTAL_WEIGHT {
            return Err(Error::InvalidRoll("total weight too large".into()));
        }
        Ok(())
    }

    /// SHA-256 over `"plenum-ballot/v1/roll"`, the count, then per right: holder, optional
    /// proxy, weight (u64).
    pub fn hash(&self) -> Hash32 {
        let mut w = Writer::new("roll");
        w.len(self.rights.len());
        for r in &self.rights {
            w.str(&r.holder).opt_str(r.proxy.as_deref()).u64(r.weight);
        }
        w.sha256()
    }

    /// The right of a holder.
    pub fn right(&self, holder: &str) -> Option<&Right> {
        self.rights
            .binary_search_by(|r| r.holder.as_bytes().cmp(holder.as_bytes()))
            .ok()
            .and_then(|i| self.rights.get(i))
    }

    /// How many rights there are of each weight.
    pub fn weights(&self) -> BTreeMap<u64, u64> {
        let mut m = BTreeMap::new();
        for r in &self.rights {
            *m.entry(r.weight).or_insert(0) += 1;
        }
        m
    }
}

/// The first entry of a board: everything a ballot's proofs are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollHeader {
    /// The poll's id (as the server names it).
    pub poll_id: String,
    /// The questions.
    pub questions: Vec<Question>,
    /// [`Roll::hash`] of the frozen roll.
    pub roll_hash: Hash32,
    /// The tally committee's whole DKG record.
    pub committee: DkgTranscript,
    /// The election public key H (= the qualified dealers' constant terms, summed).
    pub election_key: PointBytes,
}

impl PollHeader {
    /// The canonical bytes (the board entry's bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new("entry/header");
        w.str(&self.poll_id).len(self.questions.len());
        for q in &self.questions {
            q.write(&mut w);
        }
        w.raw(&self.roll_hash.0);
        self.committee.write(&mut w);
        w.raw(&self.election_key.0);
        w.into_bytes()
    }

    /// Check everything: the questions, the committee's DKG (every proof, the complaints, the
    /// qualified set) and that the election key follows from it.
    pub fn verify(&self) -> Result<Poll, Error> {
        if self.poll_id.is_empty() || self.poll_id.len() > MAX_TEXT {
            return Err(Error::InvalidPoll("poll id empty or too long".into()));
        }
        if self.questions.is_empty() || self.questions.len() > MAX_QUESTIONS {
            return Err(Error::InvalidPoll(format!(
                "needs 1 to {MAX_QUESTIONS} questions"
            )));
        }
        for (q, question) in self.questions.iter().enumerate() {
            question.check(q)?;
        }
        let h = self
            .election_key
            .decode("election key", IdentityRule::Forbidden)?;
        let outcome = self.committee.qualify()?;
        if outcome.election_key != h {
            return Err(Error::ElectionKeyMismatch);
        }
        Ok(Poll {
            context: crate::encoding::sha256(&self.to_bytes()),
            header: self.clone(),
            election_key: h,
            bases: std::sync::Arc::new(Bases::new(h)),
            outcome,
        })
    }
}

/// A checked header, with its context hash and the committee's outcome.
#[derive(Debug, Clone)]
pub struct Poll {
    /// The header as published.
    pub header: PollHeader,
    /// SHA-256 of the header's canonical bytes: every proof and signature is bound to it.
    pub context: Hash32,
    /// H.
    pub election_key: RistrettoPoint,
    /// Qualified members and their verification keys.
    pub outcome: DkgOutcome,
    /// G and H, precomputed for verifying range proofs.
    pub bases: std::sync::Arc<Bases>,
}

impl Poll {
    /// Options per question.
    pub fn shape(&self) -> Vec<usize> {
        self.header
            .questions
            .iter()
            .map(|q| q.options.len())
            .collect()
    }
}

//! Counting: the weighted homomorphic sum of the accepted ballots, each qualified member's
//! partial decryption of it with Chaum–Pedersen proofs, their Lagrange combination, and the
//! discrete logarithm of the small sums.
//!
//! A right of weight w adds w·C for each of its ciphertexts C, so option o's tally encrypts the
//! weighted count Σ w·choice ≤ W, the total weight of the ballots cast. Member i publishes
//! D_i = x_i·A for every tally ciphertext (A, B) with a proof that log_G vk_i = log_A D_i. Any t
//! valid ones give x·A = Σ λ_i·D_i (Lagrange coefficients at 0 over the set used), and
//! B − x·A = count·G. [`combine`] finds the count by baby-step giant-step over 0..=W
//! (⌈√(W+1)⌉ baby steps; W ≤ 2³² by the roll's limit, so at most 65 536 table entries); a
//! verifier never needs this: it checks count·G directly ([`check_result`]).

use std::collections::{BTreeMap, HashMap};

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT as G, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::dkg::TrusteeShare;
use crate::elgamal::{Ciphertext, EncodedCiphertext};
use crate::encoding::{IdentityRule, PointBytes, Writer, scalar_u64};
use crate::poll::Poll;
use crate::proofs::{DleqProof, prove_dleq, verify_dleq};

/// The summed ciphertexts, per question, per option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedTally {
    /// Σ weight·ciphertext over the accepted ballots.
    pub ciphertexts: Vec<Vec<EncodedCiphertext>>,
}

/// The running sum while ballots arrive.
#[derive(Debug, Clone)]
pub struct Tally {
    sums: Vec<Vec<Ciphertext>>,
    weight: u64,
    ballots: u64,
}

impl Tally {
    /// Empty, shaped like the poll.
    pub fn new(poll: &Poll) -> Self {
        Tally {
            sums: poll
                .shape()
                .into_iter()
                .map(|n| vec![Ciphertext::zero(); n])
                .collect(),
            weight: 0,
            ballots: 0,
        }
    }

    /// Add a checked ballot's ciphertexts with its right's weight.
    pub fn add(&mut self, ciphertexts: &[Vec<Ciphertext>], weight: u64) {
        for (sums, cts) in self.sums.iter_mut().zip(ciphertexts) {
            for (s, c) in sums.iter_mut().zip(cts) {
                *s = s.add(&c.scale(weight));
            }
        }
        self.weight = self.weight.saturating_add(weight);
        self.ballots += 1;
    }

    /// The total weight of the ballots added: the bound of every decrypted sum.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    /// How many ballots were added.
    pub fn ballots(&self) -> u64 {
        self.ballots
    }

    /// The decoded sums.
    pub fn sums(&self) -> &[Vec<Ciphertext>] {
        &self.sums
    }

    /// Encode for the board.
    pub fn encode(&self) -> EncryptedTally {
        EncryptedTally {
            ciphertexts: self
                .sums
                .iter()
                .map(|q| q.iter().map(Ciphertext::encode).collect())
                .collect(),
        }
    }
}

/// One member's factor for one tally ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptionFactor {
    /// D_i = x_i·A.
    pub factor: PointBytes,
    /// Chaum–Pedersen proof that log_G vk_i = log_A D_i.
    pub proof: DleqProof,
}

/// A member's partial decryption of the whole tally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialDecryption {
    /// The member i.
    pub member: u32,
    /// Per question, per option.
    pub factors: Vec<Vec<DecryptionFactor>>,
}

/// The published result: per question, per option, the weighted count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TallyResult {
    /// Weighted counts.
    pub counts: Vec<Vec<u64>>,
}

/// tag ‖ context ‖ member ‖ vk ‖ question ‖ option ‖ A ‖ B ‖ D; the proof appends a, b.
fn decryption_transcript(
    poll: &Poll,
    member: u32,
    vk: &RistrettoPoint,
    q: u32,
    o: u32,
    ct: &Ciphertext,
    d: &RistrettoPoint,
) -> Writer {
    let mut w = Writer::new("proof/decryption");
    w.raw(&poll.context.0)
        .u32(member)
        .point(vk)
        .u32(q)
        .u32(o)
        .point(&ct.alpha)
        .point(&ct.beta)
        .point(d);
    w
}

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Decode a published tally, checking its shape against the poll.
pub fn decode_tally(poll: &Poll, tally: &EncryptedTally) -> Result<Vec<Vec<Ciphertext>>, Error> {
    let shape = poll.shape();
    if tally.ciphertexts.len() != shape.len()
        || tally
            .ciphertexts
            .iter()
            .zip(&shape)
            .any(|(q, n)| q.len() != *n)
    {
        return Err(Error::BallotShape("the tally does not fit the poll".into()));
    }
    tally
        .ciphertexts
        .iter()
        .map(|q| q.iter().map(|c| c.decode(IdentityRule::Allowed)).collect())
        .collect()
}

/// Member `share.member()` decrypts its part of the tally, one proof per ciphertext
/// (randomness: one scalar per proof, in question/option order).
pub fn partial_decrypt<R: CryptoRng + ?Sized>(
    poll: &Poll,
    tally: &[Vec<Ciphertext>],
    share: &TrusteeShare,
    rng: &mut R,
) -> Result<PartialDecryption, Error> {
    let member = share.member();
    let Some(vk) = poll.outcome.verification_keys.get(&member) else {
        return Err(Error::BadTrustee {
            member,
            reason: "not a qualified member".into(),
        });
    };
    let factors = tally
        .iter()
        .enumerate()
        .map(|(q, cts)| {
            cts.iter()
                .enumerate()
                .map(|(o, ct)| {
                    let d = share.secret * ct.alpha;
                    let t = decryption_transcript(poll, member, vk, idx(q), idx(o), ct, &d);
                    DecryptionFactor {
                        factor: PointBytes::of(&d),
                        proof: prove_dleq(t, &share.secret, &ct.alpha, rng),
                    }
                })
                .collect()
        })
        .collect();
    Ok(PartialDecryption { member, factors })
}

/// Check a partial decryption: a qualified member, the tally's shape, every proof. Returns the
/// decoded factors.
pub fn verify_partial_decryption(
    poll: &Poll,
    tally: &[Vec<Ciphertext>],
    pd: &PartialDecryption,
) -> Result<Vec<Vec<RistrettoPoint>>, Error> {
    let Some(vk) = poll.outcome.verification_keys.get(&pd.member) else {
        return Err(Error::BadTrustee {
            member: pd.member,
            reason: "not a qualified member".into(),
        });
    };
    if pd.factors.len() != tally.len()
        || pd
            .factors
            .iter()
            .zip(tally)
            .any(|(f, t)| f.len() != t.len())
    {
        return Err(Error::BallotShape(
            "the partial decryption does not fit the tally".into(),
        ));
    }
    let mut out = Vec::with_capacity(tally.len());
    for (q, (fs, cts)) in pd.factors.iter().zip(tally).enumerate() {
        let mut row = Vec::with_capacity(fs.len());
        for (o, (f, ct)) in fs.iter().zip(cts).enumerate() {
            let d = f
                .factor
                .decode("decryption factor", IdentityRule::Allowed)?;
            let t = decryption_transcript(poll, pd.member, vk, idx(q), idx(o), ct, &d);
            if !verify_dleq(t, vk, &ct.alpha, &d, &f.proof)? {
                return Err(Error::BadPartialDecryption {
                    member: pd.member,
                    question: idx(q),
                    option: idx(o),
                });
            }
            row.push(d);
        }
        out.push(row);
    }
    Ok(out)
}

/// Lagrange coefficients at 0 for the index set `members` (distinct, non-zero).
pub fn lagrange_at_zero(members: &[u32]) -> Vec<Scalar> {
    members
        .iter()
        .map(|&i| {
            let xi = scalar_u64(u64::from(i));
            let (num, den) = members.iter().filter(|&&j| j != i).fold(
                (Scalar::ONE, Scalar::ONE),
                |(num, den), &j| {
                    let xj = scalar_u64(u64::from(j));
                    (num * xj, den * (xj - xi))
                },
            );
            num * den.invert()
        })
        .collect()
}

/// count·G for every tally ciphertext, from verified factors of at least t members:
/// B − Σ λ_i·D_i. [`Error::NotEnoughTrustees`] below t.
pub fn decrypt_points(
    poll: &Poll,
    tally: &[Vec<Ciphertext>],
    factors: &BTreeMap<u32, Vec<Vec<RistrettoPoint>>>,
) -> Result<Vec<Vec<RistrettoPoint>>, Error> {
    let have = idx(factors.len());
    let need = poll.outcome.threshold;
    if have < need {
        return Err(Error::NotEnoughTrustees { have, need });
    }
    let members: Vec<u32> = factors.keys().copied().collect();
    let lambdas = lagrange_at_zero(&members);
    let mut out = Vec::with_capacity(tally.len());
    for (q, cts) in tally.iter().enumerate() {
        let mut row = Vec::with_capacity(cts.len());
        for (o, ct) in cts.iter().enumerate() {
            let ds = factors
                .values()
                .map(|f| f.get(q).and_then(|r| r.get(o)).copied());
            let ds: Option<Vec<RistrettoPoint>> = ds.collect();
            let Some(ds) = ds else {
                return Err(Error::BallotShape(
                    "a partial decryption does not fit".into(),
                ));
            };
            let xa = RistrettoPoint::vartime_multiscalar_mul(&lambdas, &ds);
            row.push(ct.beta - xa);
        }
        out.push(row);
    }
    Ok(out)
}

/// Find m ≤ bound with m·G = p by baby-step giant-step.
pub fn discrete_log(p: &RistrettoPoint, bound: u64) -> Result<u64, Error> {
    let table = BabySteps::new(bound);
    table.solve(p)
}

struct BabySteps {
    table: HashMap<[u8; 32], u64>,
    step: u64,
    bound: u64,
}

impl BabySteps {
    fn new(bound: u64) -> Self {
        // ⌈√(bound+1)⌉ baby steps j·G, j < step.
        let step = (bound.saturating_add(1) as f64).sqrt().ceil().max(1.0) as u64;
        let mut table = HashMap::with_capacity(step as usize);
        let mut p = RistrettoPoint::identity();
        for j in 0..step {
            table.insert(p.compress().to_bytes(), j);
            p += G;
        }
        BabySteps { table, step, bound }
    }

    fn solve(&self, target: &RistrettoPoint) -> Result<u64, Error> {
        let giant = &scalar_u64(self.step) * RISTRETTO_BASEPOINT_TABLE;
        let mut p = *target;
        let mut i = 0u64;
        while i.saturating_mul(self.step) <= self.bound {
            if let Some(j) = self.table.get(&p.compress().to_bytes()) {
                let m = i * self.step + j;
                if m <= self.bound {
                    return Ok(m);
                }
            }
            p -= giant;
            i += 1;
        }
        Err(Error::DiscreteLogOutOfRange { bound: self.bound })
    }
}

/// The counts from count·G, each at most `bound` (the total weight cast).
pub fn combine(points: &[Vec<RistrettoPoint>], bound: u64) -> Result<TallyResult, Error> {
    let table = BabySteps::new(bound);
    let counts = points
        .iter()
        .map(|q| q.iter().map(|p| table.solve(p)).collect())
        .collect::<Result<_, _>>()?;
    Ok(TallyResult { counts })
}

/// Check a published result against count·G, without a discrete logarithm.
pub fn check_result(
    points: &[Vec<RistrettoPoint>],
    result: &TallyResult,
    bound: u64,
) -> Result<(), Error> {
    if result.counts.len() != points.len()
        || result
            .counts
            .iter()
            .zip(points)
            .any(|(c, p)| c.len() != p.len())
    {
        return Err(Error::ResultMismatch);
    }
    for (cs, ps) in result.counts.iter().zip(points) {
        for (c, p) in cs.iter().zip(ps) {
            if *c > bound || &(&scalar_u64(*c) * RISTRETTO_BASEPOINT_TABLE) != p {
                return Err(Error::ResultMismatch);
            }
        }
    }
    Ok(())
}

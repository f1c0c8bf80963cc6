//! The voter's side: a per-poll credential (an Ed25519 key pair made in the browser), the
//! encrypted ballot with its proofs and signature, its canonical bytes and tracker, the server's
//! check of a ballot, and the Benaloh audit of a spoiled ballot.
//!
//! A ballot has one ciphertext per option (it encrypts 0 or 1) with a 0/1 proof, and per
//! question a proof that Σ coefficient·choice ∈ [min, max] over the homomorphic weighted sum of
//! the question's ciphertexts. Every proof's transcript binds the poll context (the hash of the
//! header: poll id, questions, options, bounds, roll hash, committee, election key), the
//! election key and the credential's public key, so a ballot cannot be moved to another poll or
//! re-signed with another credential without re-proving, which needs its randomness.

use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;
use crate::elgamal::{Ciphertext, EncodedCiphertext};
use crate::encoding::{
    CredentialKey, Hash32, IdentityRule, ScalarBytes, SignatureBytes, Writer, random_scalar,
};
use crate::poll::Poll;
use crate::proofs::{ProofBranch, RangeProof, prove_range, verify_range};

/// The option index that marks the bounds proof of a question in a transcript.
pub const SUM_INDEX: u32 = u32::MAX;

/// One option on a ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedOption {
    /// Encrypts 1 (chosen) or 0.
    pub ciphertext: EncodedCiphertext,
    /// Disjunctive proof over {0, 1}: two branches.
    pub proof: RangeProof,
}

/// One question on a ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotQuestion {
    /// One per option, in order.
    pub options: Vec<EncryptedOption>,
    /// Disjunctive proof that Σ coefficient·ciphertext encrypts a value in [min, max]: one
    /// branch per value.
    pub sum_proof: RangeProof,
}

/// An encrypted, signed ballot. No name, no time, no weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ballot {
    /// The poll.
    pub poll_id: String,
    /// The credential's public key.
    pub credential: CredentialKey,
    /// One per question, in order.
    pub questions: Vec<BallotQuestion>,
    /// Ed25519 over [`Ballot::signed_message`].
    pub signature: SignatureBytes,
}

fn write_proof(w: &mut Writer, proof: &[ProofBranch]) {
    w.len(proof.len());
    for b in proof {
        w.raw(&b.c.0).raw(&b.z.0);
    }
}

impl Ballot {
    /// The canonical bytes without the signature.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new("ballot");
        w.str(&self.poll_id)
            .raw(&self.credential.0)
            .len(self.questions.len());
        for q in &self.questions {
            w.len(q.options.len());
            for o in &q.options {
                w.raw(&o.ciphertext.alpha.0).raw(&o.ciphertext.beta.0);
                write_proof(&mut w, &o.proof);
            }
            write_proof(&mut w, &q.sum_proof);
        }
        w.into_bytes()
    }

    /// The canonical bytes: body ‖ signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.body_bytes();
        b.extend_from_slice(&self.signature.0);
        b
    }

    /// What the credential signs: tag ‖ poll context ‖ body.
    pub fn signed_message(&self, context: &Hash32) -> Vec<u8> {
        let mut w = Writer::new("ballot-signature");
        w.raw(&context.0).raw(&self.body_bytes());
        w.into_bytes()
    }

    /// The ballot as revealed for a Benaloh audit instead of casting: the signature zeroed, so
    /// that it can never be cast.
    pub fn spoiled(&self) -> Ballot {
        Ballot {
            signature: SignatureBytes([0; 64]),
            ..self.clone()
        }
    }

    /// The tracker: SHA-256(tag ‖ canonical bytes). The voter keeps it and finds it on the
    /// board.
    pub fn tracker(&self) -> Hash32 {
        tracker_of_bytes(&self.to_bytes())
    }
}

/// A voting right's per-poll credential: an Ed25519 signing key, made in the voter's browser.
#[derive(Clone, ZeroizeOnDrop)]
pub struct Credential {
    key: SigningKey,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({})", self.public())
    }
}

impl Credential {
    /// Draw the 32-byte Ed25519 seed from the RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let c = Credential::from_seed(&seed);
        seed.zeroize();
        c
    }

    /// From the 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Credential {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The public key registered for the right.
    pub fn public(&self) -> CredentialKey {
        CredentialKey(self.key.verifying_key().to_bytes())
    }
}

/// Decode a credential key: a valid Ed25519 point, not of small order.
pub fn decode_credential(key: &CredentialKey) -> Result<VerifyingKey, Error> {
    let vk = VerifyingKey::from_bytes(&key.0).map_err(|_| Error::InvalidCredentialKey)?;
    if vk.is_weak() {
        return Err(Error::InvalidCredentialKey);
    }
    Ok(vk)
}

/// The Fiat–Shamir transcript of a range proof on a ballot: tag ‖ context ‖ credential ‖ H ‖
/// question ‖ option (SUM_INDEX for the bounds proof) ‖ lo ‖ hi ‖ α ‖ β; the proof appends its
/// commitments.
///
/// Takes the ciphertext's encoding (the bytes a ballot carries, or a computed sum's), so that
/// verification compresses no point twice.
fn range_transcript(
    poll: &Poll,
    credential: &CredentialKey,
    question: u32,
    option: u32,
    lo: u32,
    hi: u32,
    ct: &EncodedCiphertext,
) -> Writer {
    let mut w = Writer::new("proof/range");
    w.raw(&poll.context.0)
        .raw(&credential.0)
        .raw(&poll.header.election_key.0)
        .u32(question)
        .u32(option)
        .u32(lo)
        .u32(hi)
        .raw(&ct.alpha.0)
        .raw(&ct.beta.0);
    w
}

/// What a spoiled ballot reveals for a Benaloh audit: every choice and its randomness.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct BallotOpening {
    /// Per question, per option.
    pub questions: Vec<Vec<OptionOpening>>,
}

impl std::fmt::Debug for BallotOpening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BallotOpening(..)")
    }
}

/// One option's plaintext and randomness.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
pub struct OptionOpening {
    /// 0 or 1.
    pub value: u8,
    /// r.
    pub randomness: ScalarBytes,
}

impl std::fmt::Debug for OptionOpening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OptionOpening(..)")
    }
}

impl Zeroize for ScalarBytes {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

fn check_shape(poll: &Poll, lens: impl ExactSizeIterator<Item = usize>) -> Result<(), Error> {
    let shape = poll.shape();
    if lens.len() != shape.len() {
        return Err(Error::BallotShape(format!(
            "{} questions expected",
            shape.len()
        )));
    }
    for (q, (got, want)) in lens.zip(&shape).enumerate() {
        if got != *want {
            return Err(Error::BallotShape(format!(
                "question {q}: {want} options expected, {got} given"
            )));
        }
    }
    Ok(())
}

/// Encrypt a choice vector (per question, per option: chosen or not) and prove everything.
///
/// Randomness, in this order: for each question, for each option: r (one scalar), then the
/// option's proof (two scalars per branch, branches 0 and 1); then the question's bounds proof
/// (two scalars per branch, min..=max). The signature is deterministic (Ed25519).
pub fn encrypt_ballot<R: CryptoRng + ?Sized>(
    poll: &Poll,
    credential: &Credential,
    choices: &[Vec<bool>],
    rng: &mut R,
) -> Result<(Ballot, BallotOpening), Error> {
    check_shape(poll, choices.iter().map(Vec::len))?;
    let cred = credential.public();
    let h = &poll.election_key;
    let mut questions = Vec::with_capacity(choices.len());
    let mut openings = Vec::with_capacity(choices.len());
    for (qi, (question, chosen)) in poll.header.questions.iter().zip(choices).enumerate() {
        let qn = u32::try_from(qi).unwrap_or(u32::MAX);
        let weighted: u32 = question
            .options
            .iter()
            .zip(chosen)
            .map(|(o, &c)| if c { o.coefficient } else { 0 })
            .sum();
        if weighted < question.min || weighted > question.max {
            return Err(Error::Bounds(format!(
                "question {qi}: the choices count {weighted}, allowed are {}..={}",
                question.min, question.max
            )));
        }
        let mut options = Vec::with_capacity(chosen.len());
        let mut opening = Vec::with_capacity(chosen.len());
        let mut sum = Ciphertext::zero();
        let mut sum_r = Scalar::ZERO;
        for (oi, (option, &c)) in question.options.iter().zip(chosen).enumerate() {
            let on = u32::try_from(oi).unwrap_or(u32::MAX);
            let m = u32::from(c);
            let r = random_scalar(rng);
            let ct = Ciphertext::encrypt(h, u64::from(m), &r);
            let t = range_transcript(poll, &cred, qn, on, 0, 1, &ct.encode());
            let proof = prove_range(t, h, &ct, m, &r, 0, 1, rng)?;
            sum = sum.add(&ct.scale(u64::from(option.coefficient)));
            sum_r += Scalar::from(option.coefficient) * r;
            options.push(EncryptedOption {
                ciphertext: ct.encode(),
                proof,
            });
            opening.push(OptionOpening {
                value: u8::from(c),
                randomness: ScalarBytes::of(&r),
            });
        }
        let t = range_transcript(
            poll,
            &cred,
            qn,
            SUM_INDEX,
            question.min,
            question.max,
            &sum.encode(),
        );
        let sum_proof = prove_range(
            t,
            h,
            &sum,
            weighted,
            &sum_r,
            question.min,
            question.max,
            rng,
        )?;
        sum_r.zeroize();
        questions.push(BallotQuestion { options, sum_proof });
        openings.push(opening);
    }
    let mut ballot = Ballot {
        poll_id: poll.header.poll_id.clone(),
        credential: cred,
        questions,
        signature: SignatureBytes([0; 64]),
    };
    let sig = credential.key.sign(&ballot.signed_message(&poll.context));
    ballot.signature = SignatureBytes(sig.to_bytes());
    Ok((
        ballot,
        BallotOpening {
            questions: openings,
        },
    ))
}

/// A ballot that passed [`verify_ballot`]: its ciphertexts, ready to be added to the tally.
#[derive(Debug, Clone)]
pub struct VerifiedBallot {
    /// Per question, per option.
    pub ciphertexts: Vec<Vec<Ciphertext>>,
    /// Its tracker.
    pub tracker: Hash32,
}

/// Check a ballot against the poll, in this order: poll id, shape, credential key, every
/// ciphertext and 0/1 proof, every bounds proof, the signature. (Whether the credential is
/// registered and unused is the board's check.)
pub fn verify_ballot(poll: &Poll, ballot: &Ballot) -> Result<VerifiedBallot, Error> {
    let (verifying, ciphertexts) = verify_proofs(poll, ballot)?;
    let sig = ed25519_dalek::Signature::from_bytes(&ballot.signature.0);
    verifying
        .verify_strict(&ballot.signed_message(&poll.context), &sig)
        .map_err(|_| Error::BadSignature)?;
    Ok(VerifiedBallot {
        ciphertexts,
        tracker: ballot.tracker(),
    })
}

/// Everything of [`verify_ballot`] but the signature.
fn verify_proofs(
    poll: &Poll,
    ballot: &Ballot,
) -> Result<(VerifyingKey, Vec<Vec<Ciphertext>>), Error> {
    if ballot.poll_id != poll.header.poll_id {
        return Err(Error::WrongPoll {
            expected: poll.header.poll_id.clone(),
            got: ballot.poll_id.clone(),
        });
    }
    check_shape(poll, ballot.questions.iter().map(|q| q.options.len()))?;
    let verifying = decode_credential(&ballot.credential)?;
    let mut ciphertexts = Vec::with_capacity(ballot.questions.len());
    for (qi, (question, bq)) in poll
        .header
        .questions
        .iter()
        .zip(&ballot.questions)
        .enumerate()
    {
        let qn = u32::try_from(qi).unwrap_or(u32::MAX);
        let mut cts = Vec::with_capacity(bq.options.len());
        let mut sum = Ciphertext::zero();
        for (oi, (option, eo)) in question.options.iter().zip(&bq.options).enumerate() {
            let on = u32::try_from(oi).unwrap_or(u32::MAX);
            let ct = eo.ciphertext.decode(IdentityRule::Forbidden)?;
            let t = range_transcript(poll, &ballot.credential, qn, on, 0, 1, &eo.ciphertext);
            if !verify_range(t, &poll.bases, &ct, 0, 1, &eo.proof)? {
                return Err(Error::BadOptionProof {
                    question: qn,
                    option: on,
                });
            }
            sum = sum.add(&ct.scale(u64::from(option.coefficient)));
            cts.push(ct);
        }
        let t = range_transcript(
            poll,
            &ballot.credential,
            qn,
            SUM_INDEX,
            question.min,
            question.max,
            &sum.encode(),
        );
        if !verify_range(
            t,
            &poll.bases,
            &sum,
            question.min,
            question.max,
            &bq.sum_proof,
        )? {
            return Err(Error::BadSumProof { question: qn });
        }
        ciphertexts.push(cts);
    }
    Ok((verifying, ciphertexts))
}

/// Benaloh audit of a spoiled ballot: check its proofs, then that the opening re-encrypts to
/// exactly its ciphertexts; returns the choices it held. The signature is **not** checked: a
/// spoiled ballot is revealed without it (zeroed), so that nobody can cast it — its proofs are
/// bound to the voter's real credential, which had to be fixed before the voter chose between
/// casting and auditing (otherwise a cheating browser would know which ballots are audited).
pub fn audit_ballot(
    poll: &Poll,
    ballot: &Ballot,
    opening: &BallotOpening,
) -> Result<Vec<Vec<bool>>, Error> {
    let (_, ciphertexts) = verify_proofs(poll, ballot)?;
    check_shape(poll, opening.questions.iter().map(Vec::len))?;
    let mut choices = Vec::with_capacity(opening.questions.len());
    for (qi, (cts, ops)) in ciphertexts.iter().zip(&opening.questions).enumerate() {
        let mut q = Vec::with_capacity(ops.len());
        for (oi, (ct, op)) in cts.iter().zip(ops).enumerate() {
            if op.value > 1 {
                return Err(Error::BadOpening(format!(
                    "question {qi} option {oi}: value not 0 or 1"
                )));
            }
            let r = op.randomness.decode("opening randomness")?;
            if Ciphertext::encrypt(&poll.election_key, u64::from(op.value), &r) != *ct {
                return Err(Error::BadOpening(format!(
                    "question {qi} option {oi}: does not re-encrypt to the ballot's ciphertext"
                )));
            }
            q.push(op.value == 1);
        }
        choices.push(q);
    }
    Ok(choices)
}

/// The tracker of a ballot's canonical bytes, for a caller that holds only bytes.
pub fn tracker_of_bytes(bytes: &[u8]) -> Hash32 {
    let mut w = Writer::new("tracker");
    w.raw(bytes);
    w.sha256()
}

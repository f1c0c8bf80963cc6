//! The tally committee's distributed key generation: Pedersen's DKG (joint Feldman VSS) with
//! complaints, for t of n members. Every member is a delegate's browser; the server only relays
//! and records, and holds no share.
//!
//! Rounds, each published in full on the board's header ([`DkgTranscript`]):
//! 1. **Keys.** Each member publishes an ephemeral DKG key E_i = e_i·G with a Schnorr proof of
//!    knowledge ([`DkgKeyPair::generate`] → [`MemberKey`]). The members with valid keys form the
//!    [`Committee`] (indices 1..=n).
//! 2. **Dealings.** Each member j picks a random polynomial f_j of degree t−1, publishes Feldman
//!    commitments C_{j,k} = a_{j,k}·G, a Schnorr proof of knowledge of a_{j,0}, and for every
//!    other member i the share f_j(i) encrypted under a key derived from the Diffie–Hellman
//!    value e_j·E_i (HKDF-SHA256 → ChaCha20-Poly1305) ([`deal`] → [`Dealing`]).
//! 3. **Complaints.** A member whose share does not decrypt or does not satisfy
//!    f_j(i)·G = Σ_k i^k·C_{j,k} ([`open_share`]) publishes a [`Complaint`].
//! 4. **Answers.** The dealer answers each complaint by publishing that share
//!    ([`answer_complaint`] → [`ComplaintAnswer`]); anyone checks it against the commitments.
//!
//! **Disqualification.** A dealer is disqualified when it published no dealing, or a complaint
//! against it has no answer or an answer that fails the commitment check. The qualified set Q is
//! everyone else; a disqualified member does not take part in decryption either. **If fewer
//! than t members are qualified, there is no election key and the poll cannot be tallied**
//! ([`Error::CommitteeTooSmall`]). The election key is H = Σ_{j∈Q} C_{j,0}; member i's
//! verification key vk_i = Σ_{j∈Q} Σ_k i^k·C_{j,k} = x_i·G is derived from public data
//! ([`DkgTranscript::qualify`]); its secret share is x_i = Σ_{j∈Q} f_j(i) ([`trustee_share`]).

use std::collections::{BTreeMap, BTreeSet};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, VartimeMultiscalarMul};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2_010::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;
use crate::encoding::{
    Hash32, HexBytes, IdentityRule, PointBytes, ScalarBytes, Writer, random_scalar, scalar_u64,
};
use crate::poll::MAX_TEXT;
use crate::proofs::{SchnorrProof, prove_schnorr, verify_schnorr};

/// Most committee members.
pub const MAX_MEMBERS: u32 = 32;
/// Length of an encrypted share: 32-byte scalar + 16-byte Poly1305 tag.
pub const ENCRYPTED_SHARE_LEN: usize = 48;

/// Round 1: a member's ephemeral DKG key with its proof of knowledge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberKey {
    /// The member's index i (1..=n), its x-coordinate in the sharing.
    pub index: u32,
    /// Who the member is, for people (e.g. "Mandatsprüfungskommission").
    pub label: String,
    /// E_i = e_i·G.
    pub key: PointBytes,
    /// Schnorr proof of knowledge of e_i.
    pub proof: SchnorrProof,
}

/// Round 2: a dealer's Feldman commitments, proof and encrypted shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dealing {
    /// The dealer's index j.
    pub dealer: u32,
    /// C_{j,0}, …, C_{j,t−1}.
    pub commitments: Vec<PointBytes>,
    /// Schnorr proof of knowledge of a_{j,0}.
    pub proof: SchnorrProof,
    /// One encrypted share per other member, by ascending recipient.
    pub shares: Vec<EncryptedShare>,
}

/// f_j(i), encrypted to member i.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedShare {
    /// The recipient i.
    pub recipient: u32,
    /// ChaCha20-Poly1305 ciphertext of the 32-byte share (48 bytes).
    pub ciphertext: HexBytes,
}

/// Round 3: member `complainer` says dealer `dealer` sent it a bad share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Complaint {
    /// Who complains.
    pub complainer: u32,
    /// About whose share.
    pub dealer: u32,
}

/// Round 4: the dealer reveals the share in question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintAnswer {
    /// The dealer.
    pub dealer: u32,
    /// The complainer.
    pub complainer: u32,
    /// f_dealer(complainer), in the clear.
    pub share: ScalarBytes,
}

/// The whole DKG record, as the board's header carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgTranscript {
    /// The committee's id (e.g. the congress and the date): bound into every key proof.
    pub id: String,
    /// t: how many members it takes to decrypt.
    pub threshold: u32,
    /// Round 1, by ascending index.
    pub members: Vec<MemberKey>,
    /// Round 2, by ascending dealer; a member without a dealing is disqualified.
    pub dealings: Vec<Dealing>,
    /// Round 3, by ascending (dealer, complainer).
    pub complaints: Vec<Complaint>,
    /// Round 4, by ascending (dealer, complainer).
    pub answers: Vec<ComplaintAnswer>,
}

/// The checked member list of a committee.
#[derive(Debug, Clone)]
pub struct Committee {
    /// The committee's id.
    pub id: String,
    /// t.
    pub threshold: u32,
    /// E_i by index.
    pub keys: BTreeMap<u32, RistrettoPoint>,
    /// SHA-256 of id, t, n and every (index, label, key): bound into every dealing.
    pub digest: Hash32,
}

/// What the DKG produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkgOutcome {
    /// t.
    pub threshold: u32,
    /// The qualified set Q, ascending.
    pub qualified: Vec<u32>,
    /// H = Σ_{j∈Q} C_{j,0}.
    pub election_key: RistrettoPoint,
    /// vk_i = x_i·G for each i ∈ Q.
    pub verification_keys: BTreeMap<u32, RistrettoPoint>,
}

fn key_proof_transcript(
    id: &str,
    threshold: u32,
    index: u32,
    label: &str,
    key: &RistrettoPoint,
) -> Writer {
    let mut w = Writer::new("proof/dkg-key");
    w.str(id).u32(threshold).u32(index).str(label).point(key);
    w
}

fn write_commitments(w: &mut Writer, commitments: &[PointBytes]) {
    w.len(commitments.len());
    for c in commitments {
        w.raw(&c.0);
    }
}

fn constant_proof_transcript(
    committee: &Hash32,
    dealer: u32,
    commitments: &[PointBytes],
) -> Writer {
    let mut w = Writer::new("proof/dkg-constant");
    w.raw(&committee.0).u32(dealer);
    write_commitments(&mut w, commitments);
    w
}

impl MemberKey {
    /// Check one member's round-1 message on its own: its label's length, a key that decodes
    /// and is not the identity, and the proof of knowledge bound to the committee's id, t and
    /// this index. The server checks each key as it arrives; [`Committee::new`] checks them
    /// all (and the indices) once the round is complete. Returns E_i.
    pub fn verify(&self, committee_id: &str, threshold: u32) -> Result<RistrettoPoint, Error> {
        if self.label.len() > MAX_TEXT {
            return Err(Error::InvalidCommittee("label too long".into()));
        }
        let key = self.key.decode("DKG key", IdentityRule::Forbidden)?;
        let t = key_proof_transcript(committee_id, threshold, self.index, &self.label, &key);
        if !verify_schnorr(t, &key, &self.proof)? {
            return Err(Error::BadKeyProof { member: self.index });
        }
        Ok(key)
    }
}

impl Committee {
    /// Check round 1: t and n within bounds, indices exactly 1..=n in order, labels and keys
    /// well formed (no identity), every proof valid.
    pub fn new(id: &str, threshold: u32, members: &[MemberKey]) -> Result<Self, Error> {
        let n = u32::try_from(members.len()).unwrap_or(u32::MAX);
        if id.is_empty() || id.len() > MAX_TEXT {
            return Err(Error::InvalidCommittee("id empty or too long".into()));
        }
        if n == 0 || n > MAX_MEMBERS || threshold == 0 || threshold > n {
            return Err(Error::InvalidCommittee(format!(
                "needs 1 ≤ t ≤ n ≤ {MAX_MEMBERS} (t = {threshold}, n = {n})"
            )));
        }
        let mut keys = BTreeMap::new();
        let mut w = Writer::new("committee");
        w.str(id).u32(threshold).u32(n);
        for (pos, m) in members.iter().enumerate() {
            if u64::from(m.index) != pos as u64 + 1 {
                return Err(Error::InvalidCommittee(
                    "indices must be 1..=n in order".into(),
                ));
            }
            let key = m.verify(id, threshold)?;
            w.u32(m.index).str(&m.label).point(&key);
            keys.insert(m.index, key);
        }
        Ok(Committee {
            id: id.to_owned(),
            threshold,
            keys,
            digest: w.sha256(),
        })
    }

    /// n.
    pub fn size(&self) -> u32 {
        u32::try_from(self.keys.len()).unwrap_or(u32::MAX)
    }

    /// Check a dealing's public part: the dealer is a member, t commitments (C_0 not the
    /// identity), a valid proof of knowledge of a_0, one 48-byte share for every other member
    /// in ascending order. Returns the decoded commitments.
    pub fn verify_dealing(&self, d: &Dealing) -> Result<Vec<RistrettoPoint>, Error> {
        let bad = |reason: &str| Error::BadDealing {
            dealer: d.dealer,
            reason: reason.into(),
        };
        if !self.keys.contains_key(&d.dealer) {
            return Err(bad("the dealer is not a member"));
        }
        if d.commitments.len() != self.threshold as usize {
            return Err(bad("needs exactly t commitments"));
        }
        let mut cs = Vec::with_capacity(d.commitments.len());
        for (k, c) in d.commitments.iter().enumerate() {
            let rule = if k == 0 {
                IdentityRule::Forbidden
            } else {
                IdentityRule::Allowed
            };
            cs.push(c.decode("Feldman commitment", rule)?);
        }
        let t = constant_proof_transcript(&self.digest, d.dealer, &d.commitments);
        if !verify_schnorr(t, &cs[0], &d.proof)? {
            return Err(Error::BadDealingProof { dealer: d.dealer });
        }
        let expected: Vec<u32> = self
            .keys
            .keys()
            .copied()
            .filter(|&i| i != d.dealer)
            .collect();
        let got: Vec<u32> = d.shares.iter().map(|s| s.recipient).collect();
        if expected != got {
            return Err(bad(
                "needs one share for every other member, by ascending index",
            ));
        }
        if d.shares
            .iter()
            .any(|s| s.ciphertext.0.len() != ENCRYPTED_SHARE_LEN)
        {
            return Err(bad("an encrypted share is not 48 bytes"));
        }
        Ok(cs)
    }

    /// The AEAD key for dealer → recipient: HKDF-SHA256 with salt = committee digest,
    /// ikm = the compressed DH point, info = tag ‖ dealer ‖ recipient ‖ commitments.
    fn share_key(
        &self,
        dh: &RistrettoPoint,
        dealer: u32,
        recipient: u32,
        commitments: &[PointBytes],
    ) -> Key {
        let mut info = Writer::new("dkg-share");
        info.u32(dealer).u32(recipient);
        write_commitments(&mut info, commitments);
        let hk = Hkdf::<Sha256>::new(Some(&self.digest.0), &dh.compress().to_bytes());
        let mut key = Key::default();
        // 32 bytes is far below HKDF-SHA256's limit of 255·32 bytes: this cannot fail.
        let _ = hk.expand(info.as_bytes(), &mut key);
        key
    }
}

/// A member's ephemeral DKG secret, kept in its browser until the DKG ends.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DkgKeyPair {
    #[zeroize(skip)]
    index: u32,
    secret: Scalar,
}

impl std::fmt::Debug for DkgKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DkgKeyPair {{ index: {}, .. }}", self.index)
    }
}

impl DkgKeyPair {
    /// Draw e_i (64 bytes from the RNG) and prove knowledge of it (one more scalar draw).
    pub fn generate<R: CryptoRng + ?Sized>(
        committee_id: &str,
        threshold: u32,
        index: u32,
        label: &str,
        rng: &mut R,
    ) -> (Self, MemberKey) {
        let secret = random_scalar(rng);
        let key = &secret * RISTRETTO_BASEPOINT_TABLE;
        let proof = prove_schnorr(
            key_proof_transcript(committee_id, threshold, index, label, &key),
            &secret,
            rng,
        );
        let public = MemberKey {
            index,
            label: label.to_owned(),
            key: PointBytes::of(&key),
            proof,
        };
        (DkgKeyPair { index, secret }, public)
    }

    /// The member's index.
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// A dealer's polynomial, kept until complaints are answered.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DealerSecret {
    #[zeroize(skip)]
    dealer: u32,
    coefficients: Vec<Scalar>,
}

impl std::fmt::Debug for DealerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DealerSecret {{ dealer: {}, .. }}", self.dealer)
    }
}

impl DealerSecret {
    /// f(i), by Horner's rule.
    fn eval(&self, i: u32) -> Scalar {
        let x = scalar_u64(u64::from(i));
        self.coefficients
            .iter()
            .rev()
            .fold(Scalar::ZERO, |acc, a| acc * x + a)
    }
}

/// Round 2 for member `me`: draw a_0..a_{t−1} (64 bytes each), prove knowledge of a_0 (one
/// scalar draw), and encrypt f(i) to every other member (deterministic: no randomness).
pub fn deal<R: CryptoRng + ?Sized>(
    committee: &Committee,
    me: &DkgKeyPair,
    rng: &mut R,
) -> Result<(Dealing, DealerSecret), Error> {
    if !committee.keys.contains_key(&me.index) {
        return Err(Error::InvalidCommittee("the dealer is not a member".into()));
    }
    let secret = DealerSecret {
        dealer: me.index,
        coefficients: (0..committee.threshold)
            .map(|_| random_scalar(rng))
            .collect(),
    };
    let commitments: Vec<PointBytes> = secret
        .coefficients
        .iter()
        .map(|a| PointBytes::of(&(a * RISTRETTO_BASEPOINT_TABLE)))
        .collect();
    let proof = prove_schnorr(
        constant_proof_transcript(&committee.digest, me.index, &commitments),
        &secret.coefficients[0],
        rng,
    );
    let mut shares = Vec::new();
    for (&i, key) in &committee.keys {
        if i == me.index {
            continue;
        }
        let aead_key = committee.share_key(&(me.secret * key), me.index, i, &commitments);
        let mut share = secret.eval(i).to_bytes();
        let ciphertext = ChaCha20Poly1305::new(&aead_key)
            .encrypt(
                &Nonce::default(),
                Payload {
                    msg: &share,
                    aad: &[],
                },
            )
            .map_err(|_| Error::InvalidCommittee("share encryption failed".into()))?;
        share.zeroize();
        shares.push(EncryptedShare {
            recipient: i,
            ciphertext: HexBytes(ciphertext),
        });
    }
    Ok((
        Dealing {
            dealer: me.index,
            commitments,
            proof,
            shares,
        },
        secret,
    ))
}

/// Σ_k i^k·C_k.
fn feldman_eval(commitments: &[RistrettoPoint], i: u32) -> RistrettoPoint {
    let x = scalar_u64(u64::from(i));
    let mut powers = Vec::with_capacity(commitments.len());
    let mut p = Scalar::ONE;
    for _ in commitments {
        powers.push(p);
        p *= x;
    }
    RistrettoPoint::vartime_multiscalar_mul(&powers, commitments)
}

fn share_matches(commitments: &[RistrettoPoint], i: u32, share: &Scalar) -> bool {
    share * RISTRETTO_BASEPOINT_TABLE == feldman_eval(commitments, i)
}

/// A share as received, kept secret by its recipient.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ReceivedShare(Scalar);

impl std::fmt::Debug for ReceivedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceivedShare(..)")
    }
}

/// Round 3 for member `me`: decrypt dealer j's share and check it against the commitments.
/// [`Error::BadShare`] means: publish `Complaint { complainer: me, dealer: j }`. Any other error
/// means the dealing itself is invalid and should never have been accepted.
pub fn open_share(
    committee: &Committee,
    me: &DkgKeyPair,
    dealing: &Dealing,
) -> Result<ReceivedShare, Error> {
    let commitments = committee.verify_dealing(dealing)?;
    let bad = Error::BadShare {
        dealer: dealing.dealer,
        recipient: me.index,
    };
    let Some(enc) = dealing.shares.iter().find(|s| s.recipient == me.index) else {
        return Err(bad);
    };
    let Some(dealer_key) = committee.keys.get(&dealing.dealer) else {
        return Err(bad);
    };
    let key = committee.share_key(
        &(me.secret * dealer_key),
        dealing.dealer,
        me.index,
        &dealing.commitments,
    );
    let mut plain = ChaCha20Poly1305::new(&key)
        .decrypt(
            &Nonce::default(),
            Payload {
                msg: &enc.ciphertext.0,
                aad: &[],
            },
        )
        .map_err(|_| bad.clone())?;
    let bytes: Option<[u8; 32]> = plain.as_slice().try_into().ok();
    plain.zeroize();
    let share = bytes
        .and_then(|b| Option::<Scalar>::from(Scalar::from_canonical_bytes(b)))
        .ok_or_else(|| bad.clone())?;
    if !share_matches(&commitments, me.index, &share) {
        return Err(bad);
    }
    Ok(ReceivedShare(share))
}

/// Round 4: reveal the share the complainer should have received.
pub fn answer_complaint(
    secret: &DealerSecret,
    complaint: &Complaint,
) -> Result<ComplaintAnswer, Error> {
    if complaint.dealer != secret.dealer || complaint.complainer == secret.dealer {
        return Err(Error::BadComplaint(
            "the complaint is about another dealer".into(),
        ));
    }
    Ok(ComplaintAnswer {
        dealer: secret.dealer,
        complainer: complaint.complainer,
        share: ScalarBytes::of(&secret.eval(complaint.complainer)),
    })
}

impl DkgTranscript {
    /// The canonical bytes (part of the header's bytes).
    pub(crate) fn write(&self, w: &mut Writer) {
        w.str(&self.id).u32(self.threshold).len(self.members.len());
        for m in &self.members {
            w.u32(m.index)
                .str(&m.label)
                .raw(&m.key.0)
                .raw(&m.proof.c.0)
                .raw(&m.proof.z.0);
        }
        w.len(self.dealings.len());
        for d in &self.dealings {
            w.u32(d.dealer);
            write_commitments(w, &d.commitments);
            w.raw(&d.proof.c.0).raw(&d.proof.z.0).len(d.shares.len());
            for s in &d.shares {
                w.u32(s.recipient).bytes(&s.ciphertext.0);
            }
        }
        w.len(self.complaints.len());
        for c in &self.complaints {
            w.u32(c.complainer).u32(c.dealer);
        }
        w.len(self.answers.len());
        for a in &self.answers {
            w.u32(a.dealer).u32(a.complainer).raw(&a.share.0);
        }
    }

    /// The checked committee of round 1.
    pub fn committee(&self) -> Result<Committee, Error> {
        Committee::new(&self.id, self.threshold, &self.members)
    }

    /// Check every round and apply the disqualification rule: returns Q, H and every
    /// qualified member's verification key, or [`Error::CommitteeTooSmall`] when |Q| < t.
    pub fn qualify(&self) -> Result<DkgOutcome, Error> {
        let committee = self.committee()?;
        let mut commitments: BTreeMap<u32, Vec<RistrettoPoint>> = BTreeMap::new();
        for (pos, d) in self.dealings.iter().enumerate() {
            if pos > 0 && self.dealings[pos - 1].dealer >= d.dealer {
                return Err(Error::BadDealing {
                    dealer: d.dealer,
                    reason: "dealings must be sorted by dealer, one each".into(),
                });
            }
            commitments.insert(d.dealer, committee.verify_dealing(d)?);
        }
        let mut open: BTreeSet<(u32, u32)> = BTreeSet::new();
        let mut last = None;
        for c in &self.complaints {
            let k = (c.dealer, c.complainer);
            if last.is_some_and(|l| l >= k) {
                return Err(Error::BadComplaint(
                    "complaints must be sorted, one each".into(),
                ));
            }
            last = Some(k);
            if !committee.keys.contains_key(&c.complainer) || c.complainer == c.dealer {
                return Err(Error::BadComplaint(format!(
                    "member {} may not complain about {}",
                    c.complainer, c.dealer
                )));
            }
            if !commitments.contains_key(&c.dealer) {
                return Err(Error::BadComplaint(format!(
                    "dealer {} has no dealing",
                    c.dealer
                )));
            }
            open.insert(k);
        }
        let mut disqualified: BTreeSet<u32> = BTreeSet::new();
        let mut last = None;
        for a in &self.answers {
            let k = (a.dealer, a.complainer);
            if last.is_some_and(|l| l >= k) {
                return Err(Error::BadComplaint(
                    "answers must be sorted, one each".into(),
                ));
            }
            last = Some(k);
            if !open.remove(&k) {
                return Err(Error::BadComplaint(format!(
                    "dealer {} answers a complaint of {} that was not made",
                    a.dealer, a.complainer
                )));
            }
            let ok = match (a.share.decode("revealed share"), commitments.get(&a.dealer)) {
                (Ok(s), Some(cs)) => share_matches(cs, a.complainer, &s),
                _ => false,
            };
            if !ok {
                disqualified.insert(a.dealer);
            }
        }
        // Complaints left open: their dealer did not answer.
        disqualified.extend(open.iter().map(|&(dealer, _)| dealer));
        let qualified: Vec<u32> = commitments
            .keys()
            .copied()
            .filter(|j| !disqualified.contains(j))
            .collect();
        let q = u32::try_from(qualified.len()).unwrap_or(u32::MAX);
        if q < self.threshold {
            return Err(Error::CommitteeTooSmall {
                qualified: q,
                threshold: self.threshold,
            });
        }
        // Sum the qualified dealers' commitments coefficient-wise: the joint polynomial's.
        let mut joint = vec![RistrettoPoint::identity(); self.threshold as usize];
        for j in &qualified {
            for (acc, c) in joint.iter_mut().zip(&commitments[j]) {
                *acc += c;
            }
        }
        let election_key = joint[0];
        if election_key == RistrettoPoint::identity() {
            return Err(Error::IdentityPoint("election key"));
        }
        let verification_keys = qualified
            .iter()
            .map(|&i| (i, feldman_eval(&joint, i)))
            .collect();
        Ok(DkgOutcome {
            threshold: self.threshold,
            qualified,
            election_key,
            verification_keys,
        })
    }
}

/// A qualified member's share of the election secret: x_i with x_i·G = vk_i.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TrusteeShare {
    #[zeroize(skip)]
    member: u32,
    pub(crate) secret: Scalar,
}

impl std::fmt::Debug for TrusteeShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrusteeShare {{ member: {}, .. }}", self.member)
    }
}

impl TrusteeShare {
    /// The member's index.
    pub fn member(&self) -> u32 {
        self.member
    }

    /// The encoded secret x_i (for the browser's storage between DKG and tally).
    pub fn to_bytes(&self) -> ScalarBytes {
        ScalarBytes::of(&self.secret)
    }

    /// Back from storage: refused unless x_i·G is member i's verification key.
    pub fn from_bytes(
        outcome: &DkgOutcome,
        member: u32,
        secret: &ScalarBytes,
    ) -> Result<Self, Error> {
        let x = secret.decode("trustee share")?;
        match outcome.verification_keys.get(&member) {
            Some(vk) if &(&x * RISTRETTO_BASEPOINT_TABLE) == vk => {
                Ok(TrusteeShare { member, secret: x })
            }
            Some(_) => Err(Error::ShareMismatch { member }),
            None => Err(Error::BadTrustee {
                member,
                reason: "not qualified".into(),
            }),
        }
    }
}

/// After the DKG: member `me` sums its shares from every qualified dealer (its own polynomial,
/// the revealed share where it complained, the decrypted one otherwise) and checks the sum
/// against its public verification key.
pub fn trustee_share(
    transcript: &DkgTranscript,
    me: &DkgKeyPair,
    own: &DealerSecret,
) -> Result<TrusteeShare, Error> {
    let outcome = transcript.qualify()?;
    let committee = transcript.committee()?;
    let Some(vk) = outcome.verification_keys.get(&me.index) else {
        return Err(Error::BadTrustee {
            member: me.index,
            reason: "not qualified".into(),
        });
    };
    let mut x = Scalar::ZERO;
    for &j in &outcome.qualified {
        if j == me.index {
            x += own.eval(me.index);
            continue;
        }
        if let Some(a) = transcript
            .answers
            .iter()
            .find(|a| a.dealer == j && a.complainer == me.index)
        {
            x += a.share.decode("revealed share")?;
            continue;
        }
        let Some(dealing) = transcript.dealings.iter().find(|d| d.dealer == j) else {
            return Err(Error::BadShare {
                dealer: j,
                recipient: me.index,
            });
        };
        x += open_share(&committee, me, dealing)?.0;
    }
    if &(&x * RISTRETTO_BASEPOINT_TABLE) != vk {
        return Err(Error::ShareMismatch { member: me.index });
    }
    Ok(TrusteeShare {
        member: me.index,
        secret: x,
    })
}

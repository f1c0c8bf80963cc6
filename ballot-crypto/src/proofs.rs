//! Sigma protocols made non-interactive with Fiat–Shamir (the strong form: the challenge hashes
//! the whole statement and its context, not only the commitments):
//!
//! - [`RangeProof`]: a disjunctive Chaum–Pedersen proof (Cramer–Damgård–Schoenmakers) that an
//!   exponential-ElGamal ciphertext encrypts one of lo, lo+1, …, hi. With lo = 0, hi = 1 it is the
//!   per-option 0/1 proof; over a question's weighted sum it is the bounds proof.
//! - [`DleqProof`]: a Chaum–Pedersen proof that log_G X = log_A D (partial decryptions).
//! - [`SchnorrProof`]: knowledge of x with X = x·G (DKG keys, constant terms).
//!
//! All proofs are stored in the compact (challenge, response) form and verified by recomputing
//! the commitments and the challenge. The caller passes a [`Writer`] that already holds the
//! domain tag, the context and the statement; the proof appends its commitments and hashes.

use curve25519_dalek::constants::{RISTRETTO_BASEPOINT_POINT as G, RISTRETTO_BASEPOINT_TABLE};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::ristretto::VartimeRistrettoPrecomputation;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{VartimeMultiscalarMul, VartimePrecomputedMultiscalarMul};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::Error;
use crate::elgamal::Ciphertext;
use crate::encoding::{ScalarBytes, Writer, random_scalar, scalar_u64};

/// One branch of a disjunctive proof, and the whole of a Schnorr or Chaum–Pedersen proof: a
/// challenge share `c` and a response `z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofBranch {
    /// Challenge (share).
    pub c: ScalarBytes,
    /// Response.
    pub z: ScalarBytes,
}

/// A disjunctive proof that a ciphertext encrypts a value in lo..=hi: one branch per value,
/// in ascending order. The challenges add up to the Fiat–Shamir hash.
pub type RangeProof = Vec<ProofBranch>;
/// Chaum–Pedersen proof of equal discrete logarithms.
pub type DleqProof = ProofBranch;
/// Schnorr proof of knowledge of a discrete logarithm.
pub type SchnorrProof = ProofBranch;

/// The two fixed bases of a poll's range proofs, G and the election key H, with precomputed
/// tables for variable-time verification.
pub struct Bases {
    /// H.
    pub h: RistrettoPoint,
    table: VartimeRistrettoPrecomputation,
}

impl Bases {
    /// Precompute for G and H (once per poll).
    pub fn new(h: RistrettoPoint) -> Self {
        Bases {
            h,
            table: VartimeRistrettoPrecomputation::new([G, h]),
        }
    }
}

impl std::fmt::Debug for Bases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bases {{ h: {:?} }}", self.h.compress())
    }
}

/// Prove that `ct = (r·G, m·G + r·H)` encrypts `m ∈ lo..=hi`. `transcript` holds the context and
/// statement (see `ballot.rs`); the commitments (a_k, b_k) for k = lo..=hi are appended.
///
/// Randomness, in this order (the JS side does the same): for each k = lo..=hi a challenge
/// c_k and a response z_k; for the true value, c_k is discarded and z_k serves as the nonce w.
/// The real branch is chosen by constant-time selection, so every branch costs the same.
#[allow(clippy::too_many_arguments)]
pub fn prove_range<R: CryptoRng + ?Sized>(
    mut transcript: Writer,
    h: &RistrettoPoint,
    ct: &Ciphertext,
    m: u32,
    r: &Scalar,
    lo: u32,
    hi: u32,
    rng: &mut R,
) -> Result<RangeProof, Error> {
    if lo > hi || m < lo || m > hi {
        return Err(Error::Bounds(format!("value not within {lo}..={hi}")));
    }
    let n = (hi - lo) as usize + 1;
    let mut cs = Vec::with_capacity(n);
    let mut zs = Vec::with_capacity(n);
    let mut real = Vec::with_capacity(n);
    for k in lo..=hi {
        let is_real = k.ct_eq(&m);
        let c = random_scalar(rng);
        let z = random_scalar(rng);
        // For the true value: c = 0, so a = w·G, b = w·H with w = z.
        let c = Scalar::conditional_select(&c, &Scalar::ZERO, is_real);
        let shifted = ct.beta - G * scalar_u64(u64::from(k));
        let a = &z * RISTRETTO_BASEPOINT_TABLE - c * ct.alpha;
        let b = z * h - c * shifted;
        transcript.point(&a).point(&b);
        cs.push(c);
        zs.push(z);
        real.push(is_real);
    }
    let c_total = transcript.challenge();
    let c_real = cs.iter().fold(c_total, |acc, c| acc - c);
    let mut proof = Vec::with_capacity(n);
    for ((c, z), is_real) in cs.iter().zip(&zs).zip(&real) {
        let c = Scalar::conditional_select(c, &c_real, *is_real);
        let z = Scalar::conditional_select(z, &(z + c_real * r), *is_real);
        proof.push(ProofBranch {
            c: ScalarBytes::of(&c),
            z: ScalarBytes::of(&z),
        });
    }
    Ok(proof)
}

/// 1/2 mod ℓ, i.e. (ℓ + 1)/2, little endian.
const HALF: [u8; 32] = [
    247, 233, 122, 46, 141, 49, 9, 44, 107, 206, 123, 81, 239, 124, 111, 10, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 8,
];

/// Verify a range proof. `Ok(false)` when it does not verify; `Err` when a scalar in it is not
/// canonical.
///
/// The commitments are computed halved, (z/2)·G − (c/2)·α and so on, and compressed together
/// with `double_and_compress_batch`: one field inversion for the whole proof instead of one per
/// point, the same bytes.
pub fn verify_range(
    mut transcript: Writer,
    bases: &Bases,
    ct: &Ciphertext,
    lo: u32,
    hi: u32,
    proof: &[ProofBranch],
) -> Result<bool, Error> {
    if lo > hi || proof.len() != (hi - lo) as usize + 1 {
        return Ok(false);
    }
    let half = Scalar::from_bytes_mod_order(HALF);
    let mut sum = Scalar::ZERO;
    let mut halves = Vec::with_capacity(2 * proof.len());
    for (k, branch) in (lo..=hi).zip(proof) {
        let c = branch.c.decode("proof challenge")?;
        let z = branch.z.decode("proof response")?;
        let (hc, hz) = (c * half, z * half);
        // a/2 = (z/2)·G − (c/2)·α ; b/2 = (c/2)·k·G + (z/2)·H − (c/2)·β
        halves.push(bases.table.vartime_mixed_multiscalar_mul(
            [hz, Scalar::ZERO],
            [-hc],
            [ct.alpha],
        ));
        halves.push(bases.table.vartime_mixed_multiscalar_mul(
            [hc * scalar_u64(u64::from(k)), hz],
            [-hc],
            [ct.beta],
        ));
        sum += c;
    }
    for p in RistrettoPoint::double_and_compress_batch(&halves) {
        transcript.raw(p.as_bytes());
    }
    Ok(bool::from(sum.ct_eq(&transcript.challenge())))
}

/// Prove knowledge of x with X = x·G; `transcript` holds the statement (including X).
pub fn prove_schnorr<R: CryptoRng + ?Sized>(
    mut transcript: Writer,
    x: &Scalar,
    rng: &mut R,
) -> SchnorrProof {
    let w = random_scalar(rng);
    transcript.point(&(&w * RISTRETTO_BASEPOINT_TABLE));
    let c = transcript.challenge();
    ProofBranch {
        c: ScalarBytes::of(&c),
        z: ScalarBytes::of(&(w + c * x)),
    }
}

/// Verify a Schnorr proof for X.
pub fn verify_schnorr(
    mut transcript: Writer,
    x_pub: &RistrettoPoint,
    proof: &SchnorrProof,
) -> Result<bool, Error> {
    let c = proof.c.decode("proof challenge")?;
    let z = proof.z.decode("proof response")?;
    let r = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, x_pub, &z);
    transcript.point(&r);
    Ok(bool::from(c.ct_eq(&transcript.challenge())))
}

/// Prove log_G X = log_A D for the secret x (X = x·G, D = x·A); `transcript` holds the
/// statement. Commitments a = w·G, b = w·A are appended.
pub fn prove_dleq<R: CryptoRng + ?Sized>(
    mut transcript: Writer,
    x: &Scalar,
    base_a: &RistrettoPoint,
    rng: &mut R,
) -> DleqProof {
    let w = random_scalar(rng);
    transcript
        .point(&(&w * RISTRETTO_BASEPOINT_TABLE))
        .point(&(w * base_a));
    let c = transcript.challenge();
    ProofBranch {
        c: ScalarBytes::of(&c),
        z: ScalarBytes::of(&(w + c * x)),
    }
}

/// Verify a Chaum–Pedersen proof for (X, A, D).
pub fn verify_dleq(
    mut transcript: Writer,
    x_pub: &RistrettoPoint,
    base_a: &RistrettoPoint,
    d: &RistrettoPoint,
    proof: &DleqProof,
) -> Result<bool, Error> {
    let c = proof.c.decode("proof challenge")?;
    let z = proof.z.decode("proof response")?;
    let a = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, x_pub, &z);
    let b = RistrettoPoint::vartime_multiscalar_mul([z, -c], [*base_a, *d]);
    transcript.point(&a).point(&b);
    Ok(bool::from(c.ct_eq(&transcript.challenge())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_is_the_inverse_of_two() {
        assert_eq!(
            Scalar::from_bytes_mod_order(HALF) * Scalar::from(2u8),
            Scalar::ONE
        );
        assert_eq!(
            Scalar::from_bytes_mod_order(HALF).to_bytes(),
            HALF,
            "canonical"
        );
    }
}

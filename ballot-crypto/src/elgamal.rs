//! Exponential ElGamal on ristretto255: Enc_H(m; r) = (r·G, m·G + r·H). Ciphertexts add up
//! (the plaintexts add), and an integer weight scales one (w·C encrypts w·m); decryption gives
//! m·G, whose small logarithm the tally finds by baby-step giant-step (`tally.rs`).

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::encoding::{IdentityRule, PointBytes, scalar_u64};

/// w·P by double-and-add, for public small w (variable time).
pub fn mul_public(p: &RistrettoPoint, w: u64) -> RistrettoPoint {
    let mut acc = RistrettoPoint::identity();
    for bit in (0..64 - w.leading_zeros()).rev() {
        acc = acc + acc;
        if (w >> bit) & 1 == 1 {
            acc += p;
        }
    }
    acc
}

/// A decoded ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ciphertext {
    /// r·G
    pub alpha: RistrettoPoint,
    /// m·G + r·H
    pub beta: RistrettoPoint,
}

/// A ciphertext as it travels: `{"alpha": hex, "beta": hex}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedCiphertext {
    /// r·G, compressed.
    pub alpha: PointBytes,
    /// m·G + r·H, compressed.
    pub beta: PointBytes,
}

impl Ciphertext {
    /// The encryption of 0 with randomness 0 (the identity of the homomorphic sum).
    pub fn zero() -> Self {
        Ciphertext {
            alpha: RistrettoPoint::identity(),
            beta: RistrettoPoint::identity(),
        }
    }

    /// Encrypt the small integer `m` under `h` with randomness `r` (constant time in r).
    pub fn encrypt(h: &RistrettoPoint, m: u64, r: &Scalar) -> Self {
        Ciphertext {
            alpha: r * RISTRETTO_BASEPOINT_TABLE,
            beta: &scalar_u64(m) * RISTRETTO_BASEPOINT_TABLE + r * h,
        }
    }

    /// Homomorphic sum.
    pub fn add(&self, other: &Ciphertext) -> Self {
        Ciphertext {
            alpha: self.alpha + other.alpha,
            beta: self.beta + other.beta,
        }
    }

    /// w·C: encrypts w·m. Variable time: w is public (a right's weight, an option's
    /// coefficient), and mostly 1.
    pub fn scale(&self, w: u64) -> Self {
        Ciphertext {
            alpha: mul_public(&self.alpha, w),
            beta: mul_public(&self.beta, w),
        }
    }

    /// Encode.
    pub fn encode(&self) -> EncodedCiphertext {
        EncodedCiphertext {
            alpha: PointBytes::of(&self.alpha),
            beta: PointBytes::of(&self.beta),
        }
    }
}

impl EncodedCiphertext {
    /// Decode; `alpha` must not be the identity where `alpha_rule` forbids it (a ballot's
    /// ciphertext with α = identity was made with r = 0 and shows its plaintext).
    pub fn decode(&self, alpha_rule: IdentityRule) -> Result<Ciphertext, Error> {
        Ok(Ciphertext {
            alpha: self.alpha.decode("ciphertext alpha", alpha_rule)?,
            beta: self.beta.decode("ciphertext beta", IdentityRule::Allowed)?,
        })
    }
}

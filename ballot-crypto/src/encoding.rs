//! Byte-level building blocks: 32-byte points and scalars as they travel (hex in JSON), the
//! rules for decoding them, the canonical writer that every hash input and Fiat–Shamir
//! transcript is built with, and drawing scalars from an RNG. docs/ballot.md, "Verifiable
//! ballots: wire format", specifies all of it byte by byte.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2_010::{Digest, Sha256, Sha512};

use crate::Error;

/// Prefix of every domain-separation tag.
pub const DOMAIN: &str = "plenum-ballot/v1/";

/// Fixed-size byte strings as lowercase hex in JSON; uppercase or odd-length hex is refused so
/// that one value has one JSON spelling.
macro_rules! hex_bytes {
    ($name:ident, $len:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let v = decode_hex(&s).map_err(serde::de::Error::custom)?;
                let arr: [u8; $len] = v.try_into().map_err(|v: Vec<u8>| {
                    serde::de::Error::custom(format!("expected {} bytes, got {}", $len, v.len()))
                })?;
                Ok($name(arr))
            }
        }
    };
}

hex_bytes!(
    PointBytes,
    32,
    "A ristretto255 point as 32 compressed bytes (decoded and checked where used)."
);
hex_bytes!(
    ScalarBytes,
    32,
    "A scalar mod ℓ as 32 little-endian bytes (must be canonical, checked where used)."
);
hex_bytes!(Hash32, 32, "A SHA-256 digest.");
hex_bytes!(
    CredentialKey,
    32,
    "An Ed25519 public key (a voting right's per-poll credential)."
);
hex_bytes!(SignatureBytes, 64, "An Ed25519 signature (R ‖ S).");

/// Lowercase hex only.
pub(crate) fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    if s.bytes()
        .any(|b| !(b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err("expected lowercase hex".into());
    }
    hex::decode(s).map_err(|e| e.to_string())
}

/// Variable-length bytes as lowercase hex (the encrypted DKG shares).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl std::fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HexBytes({})", hex::encode(&self.0))
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        decode_hex(&s)
            .map(HexBytes)
            .map_err(serde::de::Error::custom)
    }
}

/// Whether the identity point is acceptable for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityRule {
    /// Keys, commitments' constant terms, a ballot ciphertext's α.
    Forbidden,
    /// Sums and decryption factors (an empty tally is the identity).
    Allowed,
}

impl PointBytes {
    /// Encode a point.
    pub fn of(p: &RistrettoPoint) -> Self {
        PointBytes(p.compress().to_bytes())
    }

    /// Decode: the 32 bytes must be a canonical ristretto255 encoding (the decoder refuses
    /// every other string), and not the identity where `identity` forbids it.
    pub fn decode(
        &self,
        field: &'static str,
        identity: IdentityRule,
    ) -> Result<RistrettoPoint, Error> {
        let p = CompressedRistretto(self.0)
            .decompress()
            .ok_or(Error::InvalidPoint(field))?;
        if identity == IdentityRule::Forbidden && p == RistrettoPoint::identity() {
            return Err(Error::IdentityPoint(field));
        }
        Ok(p)
    }
}

impl ScalarBytes {
    /// Encode a scalar.
    pub fn of(s: &Scalar) -> Self {
        ScalarBytes(s.to_bytes())
    }

    /// Decode: refuses any value ≥ ℓ.
    pub fn decode(&self, field: &'static str) -> Result<Scalar, Error> {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(self.0))
            .ok_or(Error::NonCanonicalScalar(field))
    }
}

/// The canonical writer: every hash input in this crate is built with it, field by field,
/// starting with a domain tag. Integers are little endian; strings and byte strings carry a
/// u32 length prefix; points and scalars are 32 bytes without prefix; lists carry a u32 count.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Start with the tag `plenum-ballot/v1/<purpose>` (length-prefixed like any string).
    pub fn new(purpose: &str) -> Self {
        let mut w = Writer { buf: Vec::new() };
        w.str(&format!("{DOMAIN}{purpose}"));
        w
    }

    /// 4 bytes, little endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// 8 bytes, little endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A length or count. Every length in this crate is bounded far below 2³² by the format's
    /// limits; a longer one is clamped, which only ever makes a hash input different.
    pub fn len(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// u32 length ‖ UTF-8 bytes.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// u32 length ‖ bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.len(b.len());
        self.buf.extend_from_slice(b);
        self
    }

    /// Fixed-size bytes, no prefix (points, scalars, hashes, signatures).
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// A point, 32 bytes.
    pub fn point(&mut self, p: &RistrettoPoint) -> &mut Self {
        self.raw(&p.compress().to_bytes())
    }

    /// An absent (0x00) or present (0x01 ‖ string) optional string.
    pub fn opt_str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => self.raw(&[0]),
            Some(s) => self.raw(&[1]).str(s),
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// SHA-256 of the bytes.
    pub fn sha256(&self) -> Hash32 {
        sha256(&self.buf)
    }

    /// Hash to a scalar: SHA-512 of the bytes, read as a 512-bit little-endian integer and
    /// reduced mod ℓ (bias < 2⁻²⁵⁹).
    pub fn challenge(&self) -> Scalar {
        let digest: [u8; 64] = Sha512::digest(&self.buf).into();
        Scalar::from_bytes_mod_order_wide(&digest)
    }
}

/// SHA-256.
pub fn sha256(bytes: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(bytes).into())
}

/// A uniformly random scalar: 64 bytes from the RNG, reduced mod ℓ. (The JavaScript side draws
/// the same way, so that a seeded RNG gives the same bytes in both languages.)
pub fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let s = Scalar::from_bytes_mod_order_wide(&wide);
    zeroize::Zeroize::zeroize(&mut wide);
    s
}

/// A scalar from a small integer.
pub fn scalar_u64(v: u64) -> Scalar {
    Scalar::from(v)
}

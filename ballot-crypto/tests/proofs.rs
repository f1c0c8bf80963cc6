//! Every proof: valid ones verify; changing any single field of a proof, its statement or its
//! context makes it fail (property tests over seeds, ranges and values).

mod common;

use common::rng;
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::scalar::Scalar;
use plenum_ballot_crypto::elgamal::Ciphertext;
use plenum_ballot_crypto::encoding::{ScalarBytes, Writer, random_scalar};
use plenum_ballot_crypto::proofs::{
    Bases, ProofBranch, prove_dleq, prove_range, prove_schnorr, verify_dleq, verify_range,
    verify_schnorr,
};
use proptest::prelude::*;

fn transcript(tag: u32) -> Writer {
    let mut w = Writer::new("test/statement");
    w.u32(tag);
    w
}

/// Every way to change one field of a proof: each c and each z of each branch, +1.
fn single_field_changes(proof: &[ProofBranch]) -> Vec<Vec<ProofBranch>> {
    let bump =
        |s: &ScalarBytes| ScalarBytes::of(&(s.decode("t").expect("canonical") + Scalar::ONE));
    let mut out = Vec::new();
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i].c = bump(&p[i].c);
        out.push(p);
        let mut p = proof.to_vec();
        p[i].z = bump(&p[i].z);
        out.push(p);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn range_proofs_verify_and_every_single_change_fails(seed in any::<u8>(), lo in 0u32..4, span in 0u32..4, pick in 0u32..8) {
        let hi = lo + span;
        let m = lo + pick % (span + 1);
        let mut r = rng(seed);
        let x = random_scalar(&mut r);
        let h = G * x;
        let rand = random_scalar(&mut r);
        let ct = Ciphertext::encrypt(&h, u64::from(m), &rand);
        let proof = prove_range(transcript(1), &h, &ct, m, &rand, lo, hi, &mut r).expect("prove");
        prop_assert!(verify_range(transcript(1), &Bases::new(h), &ct, lo, hi, &proof).expect("decodes"));
        for changed in single_field_changes(&proof) {
            prop_assert!(!verify_range(transcript(1), &Bases::new(h), &ct, lo, hi, &changed).expect("decodes"));
        }
        // The statement and its context are bound.
        prop_assert!(!verify_range(transcript(2), &Bases::new(h), &ct, lo, hi, &proof).expect("decodes"));
        prop_assert!(!verify_range(transcript(1), &Bases::new(h + G), &ct, lo, hi, &proof).expect("decodes"));
        let moved = Ciphertext { alpha: ct.alpha + G, beta: ct.beta };
        prop_assert!(!verify_range(transcript(1), &Bases::new(h), &moved, lo, hi, &proof).expect("decodes"));
        let moved = Ciphertext { alpha: ct.alpha, beta: ct.beta + G };
        prop_assert!(!verify_range(transcript(1), &Bases::new(h), &moved, lo, hi, &proof).expect("decodes"));
        prop_assert!(!verify_range(transcript(1), &Bases::new(h), &ct, lo, hi + 1, &proof).expect("decodes"));
        if lo > 0 {
            prop_assert!(!verify_range(transcript(1), &Bases::new(h), &ct, lo - 1, hi - 1, &proof).expect("decodes"));
        }
    }

    #[test]
    fn a_value_outside_the_range_cannot_be_proven(seed in any::<u8>(), lo in 0u32..4, span in 0u32..3) {
        let hi = lo + span;
        let mut r = rng(seed);
        let h = G * random_scalar(&mut r);
        let rand = random_scalar(&mut r);
        let m = hi + 1;
        let ct = Ciphertext::encrypt(&h, u64::from(m), &rand);
        prop_assert!(prove_range(transcript(1), &h, &ct, m, &rand, lo, hi, &mut r).is_err());
        // A proof for the right range on another ciphertext does not carry over.
        let other = Ciphertext::encrypt(&h, u64::from(hi), &rand);
        let proof = prove_range(transcript(1), &h, &other, hi, &rand, lo, hi, &mut r).expect("prove");
        prop_assert!(!verify_range(transcript(1), &Bases::new(h), &ct, lo, hi, &proof).expect("decodes"));
    }

    #[test]
    fn schnorr_and_chaum_pedersen_proofs(seed in any::<u8>()) {
        let mut r = rng(seed);
        let x = random_scalar(&mut r);
        let big_x = G * x;
        let p = prove_schnorr(transcript(3), &x, &mut r);
        prop_assert!(verify_schnorr(transcript(3), &big_x, &p).expect("decodes"));
        for changed in single_field_changes(&[p]) {
            prop_assert!(!verify_schnorr(transcript(3), &big_x, &changed[0]).expect("decodes"));
        }
        prop_assert!(!verify_schnorr(transcript(4), &big_x, &p).expect("decodes"));
        prop_assert!(!verify_schnorr(transcript(3), &(big_x + G), &p).expect("decodes"));

        let a = G * random_scalar(&mut r);
        let d = a * x;
        let p = prove_dleq(transcript(5), &x, &a, &mut r);
        prop_assert!(verify_dleq(transcript(5), &big_x, &a, &d, &p).expect("decodes"));
        for changed in single_field_changes(&[p]) {
            prop_assert!(!verify_dleq(transcript(5), &big_x, &a, &d, &changed[0]).expect("decodes"));
        }
        prop_assert!(!verify_dleq(transcript(5), &big_x, &a, &(d + G), &p).expect("decodes"));
        prop_assert!(!verify_dleq(transcript(5), &big_x, &(a + G), &d, &p).expect("decodes"));
        prop_assert!(!verify_dleq(transcript(5), &(big_x + G), &a, &d, &p).expect("decodes"));
        prop_assert!(!verify_dleq(transcript(6), &big_x, &a, &d, &p).expect("decodes"));
    }

    #[test]
    fn decoding_never_panics_and_accepts_only_canonical_values(bytes in any::<[u8; 32]>()) {
        use plenum_ballot_crypto::encoding::{IdentityRule, PointBytes};
        if let Ok(p) = PointBytes(bytes).decode("t", IdentityRule::Allowed) {
            prop_assert_eq!(PointBytes::of(&p).0, bytes);
        }
        if let Ok(s) = ScalarBytes(bytes).decode("t") {
            prop_assert_eq!(s.to_bytes(), bytes);
        }
    }
}

#[test]
fn a_non_canonical_scalar_in_a_proof_is_a_typed_error() {
    let mut r = rng(1);
    let x = random_scalar(&mut r);
    let mut p = prove_schnorr(transcript(3), &x, &mut r);
    p.z = ScalarBytes([0xff; 32]);
    assert_eq!(
        verify_schnorr(transcript(3), &(G * x), &p).map_err(|e| e.code()),
        Err("non_canonical_scalar")
    );
}

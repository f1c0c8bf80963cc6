//! Threshold decryption: every single-field change of a partial decryption is refused by name;
//! any t of the members give the same counts; the discrete logarithm and its bound.

mod common;

use std::collections::BTreeMap;

use common::{expected_counts, rng, voted};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::scalar::Scalar;
use plenum_ballot_crypto::Error;
use plenum_ballot_crypto::encoding::{IdentityRule, PointBytes, ScalarBytes};
use plenum_ballot_crypto::tally::{
    combine, decrypt_points, discrete_log, partial_decrypt, verify_partial_decryption,
};
use proptest::prelude::*;

#[test]
fn every_single_field_change_of_a_partial_decryption_is_refused() {
    let sim = voted(4);
    let poll = sim.board.poll().cloned().expect("poll");
    let sums = sim.board.tally_ciphertexts().expect("tallied").to_vec();
    let share = sim.committee.trustee(2).expect("share");
    let pd = partial_decrypt(&poll, &sums, &share, &mut rng(1)).expect("pd");
    verify_partial_decryption(&poll, &sums, &pd).expect("valid");
    let bump =
        |s: &ScalarBytes| ScalarBytes::of(&(s.decode("t").expect("canonical") + Scalar::ONE));
    for q in 0..pd.factors.len() {
        for o in 0..pd.factors[q].len() {
            let want = Err(Error::BadPartialDecryption {
                member: 2,
                question: q as u32,
                option: o as u32,
            });
            let mut x = pd.clone();
            let f = &mut x.factors[q][o];
            let d = f.factor.decode("t", IdentityRule::Allowed).expect("point");
            f.factor = PointBytes::of(&(d + G));
            assert_eq!(
                verify_partial_decryption(&poll, &sums, &x).map(|_| ()),
                want
            );
            let mut x = pd.clone();
            x.factors[q][o].proof.c = bump(&x.factors[q][o].proof.c);
            assert_eq!(
                verify_partial_decryption(&poll, &sums, &x).map(|_| ()),
                want
            );
            let mut x = pd.clone();
            x.factors[q][o].proof.z = bump(&x.factors[q][o].proof.z);
            assert_eq!(
                verify_partial_decryption(&poll, &sums, &x).map(|_| ()),
                want
            );
        }
    }
    let mut x = pd.clone();
    x.member = 3;
    assert_eq!(
        verify_partial_decryption(&poll, &sums, &x).map(|_| ()),
        Err(Error::BadPartialDecryption {
            member: 3,
            question: 0,
            option: 0
        })
    );
    let mut x = pd.clone();
    x.factors[1].pop();
    assert_eq!(
        verify_partial_decryption(&poll, &sums, &x)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("ballot_shape")
    );
    let mut x = pd;
    x.factors[0][0].factor.0[31] |= 0x80;
    assert_eq!(
        verify_partial_decryption(&poll, &sums, &x)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("invalid_point")
    );
}

#[test]
fn any_t_members_give_the_same_counts_and_fewer_give_none() {
    let sim = voted(5);
    let poll = sim.board.poll().cloned().expect("poll");
    let sums = sim.board.tally_ciphertexts().expect("tallied").to_vec();
    let factors: BTreeMap<u32, _> = (1..=3)
        .map(|m| {
            let pd = partial_decrypt(
                &poll,
                &sums,
                &sim.committee.trustee(m).expect("share"),
                &mut rng(m as u8),
            )
            .expect("pd");
            (
                m,
                verify_partial_decryption(&poll, &sums, &pd).expect("valid"),
            )
        })
        .collect();
    for set in [vec![1, 2], vec![1, 3], vec![2, 3], vec![1, 2, 3]] {
        let subset: BTreeMap<u32, _> = set.iter().map(|m| (*m, factors[m].clone())).collect();
        let points = decrypt_points(&poll, &sums, &subset).expect("points");
        assert_eq!(
            combine(&points, 7).expect("counts").counts,
            expected_counts(),
            "{set:?}"
        );
    }
    for m in 1..=3 {
        let one: BTreeMap<u32, _> = [(m, factors[&m].clone())].into_iter().collect();
        assert_eq!(
            decrypt_points(&poll, &sums, &one).map(|_| ()),
            Err(Error::NotEnoughTrustees { have: 1, need: 2 })
        );
    }
}

proptest! {
    #[test]
    fn the_discrete_log_is_found_up_to_its_bound_and_not_beyond(m in 0u64..5000, bound in 0u64..5000) {
        let p = G * Scalar::from(m);
        let got = discrete_log(&p, bound);
        if m <= bound {
            prop_assert_eq!(got, Ok(m));
        } else {
            prop_assert_eq!(got, Err(Error::DiscreteLogOutOfRange { bound }));
        }
    }
}

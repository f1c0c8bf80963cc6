//! Ballots: valid ones verify; a single changed field of any proof, ciphertext or signature is
//! refused with the error that names it; bad encodings and another poll are typed errors; a
//! Benaloh audit opens a spoiled ballot; random corruption never panics.

mod common;

use common::{published, rng};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::Signer;
use plenum_ballot_crypto::Error;
use plenum_ballot_crypto::ballot::{
    Ballot, Credential, audit_ballot, encrypt_ballot, verify_ballot,
};
use plenum_ballot_crypto::board::Entry;
use plenum_ballot_crypto::encoding::{PointBytes, ScalarBytes};
use plenum_ballot_crypto::poll::Poll;
use proptest::prelude::*;

const SEED: [u8; 32] = [42; 32];

fn poll() -> Poll {
    let sim = published(1);
    match &sim.board.entries()[0].entry {
        Entry::Header(h) => h.verify().expect("header"),
        _ => unreachable!("the first entry is the header"),
    }
}

fn choices() -> Vec<Vec<bool>> {
    vec![vec![false, true, false], vec![true, false, true, false]]
}

fn ballot(poll: &Poll) -> Ballot {
    encrypt_ballot(poll, &Credential::from_seed(&SEED), &choices(), &mut rng(5))
        .expect("ballot")
        .0
}

/// Sign like a cheating voter who holds the credential: only the proofs can refuse it.
fn resigned(poll: &Poll, mut b: Ballot) -> Ballot {
    let key = ed25519_dalek::SigningKey::from_bytes(&SEED);
    b.signature.0 = key.sign(&b.signed_message(&poll.context)).to_bytes();
    b
}

fn bump(s: &ScalarBytes) -> ScalarBytes {
    ScalarBytes::of(&(s.decode("t").expect("canonical") + Scalar::ONE))
}

#[test]
fn every_single_field_change_of_every_proof_and_ciphertext_is_refused_by_name() {
    let poll = poll();
    let good = ballot(&poll);
    verify_ballot(&poll, &good).expect("the ballot verifies");
    let mut checked = 0;
    for q in 0..good.questions.len() {
        for o in 0..good.questions[q].options.len() {
            let want = Err(Error::BadOptionProof {
                question: q as u32,
                option: o as u32,
            });
            for br in 0..2 {
                for field in 0..2 {
                    let mut b = good.clone();
                    let branch = &mut b.questions[q].options[o].proof[br];
                    if field == 0 {
                        branch.c = bump(&branch.c)
                    } else {
                        branch.z = bump(&branch.z)
                    }
                    assert_eq!(verify_ballot(&poll, &resigned(&poll, b)).map(|_| ()), want);
                    checked += 1;
                }
            }
            for which in 0..2 {
                let mut b = good.clone();
                let ct = &mut b.questions[q].options[o].ciphertext;
                let target = if which == 0 {
                    &mut ct.alpha
                } else {
                    &mut ct.beta
                };
                let p = target
                    .decode("t", plenum_ballot_crypto::encoding::IdentityRule::Allowed)
                    .expect("point");
                *target = PointBytes::of(&(p + G));
                assert_eq!(verify_ballot(&poll, &resigned(&poll, b)).map(|_| ()), want);
                checked += 1;
            }
        }
        for br in 0..good.questions[q].sum_proof.len() {
            for field in 0..2 {
                let mut b = good.clone();
                let branch = &mut b.questions[q].sum_proof[br];
                if field == 0 {
                    branch.c = bump(&branch.c)
                } else {
                    branch.z = bump(&branch.z)
                }
                assert_eq!(
                    verify_ballot(&poll, &resigned(&poll, b)).map(|_| ()),
                    Err(Error::BadSumProof { question: q as u32 })
                );
                checked += 1;
            }
        }
    }
    // Every byte of the signature, and the credential.
    for i in 0..64 {
        let mut b = good.clone();
        b.signature.0[i] ^= 0x01;
        assert_eq!(
            verify_ballot(&poll, &b).map(|_| ()),
            Err(Error::BadSignature),
            "signature byte {i}"
        );
        checked += 1;
    }
    let mut b = good.clone();
    b.credential = Credential::from_seed(&[1; 32]).public();
    assert!(verify_ballot(&poll, &b).is_err());
    assert!(checked > 60, "{checked}");
}

#[test]
fn bad_encodings_and_another_poll_are_typed_errors() {
    let poll = poll();
    let good = ballot(&poll);
    let code = |b: Ballot| verify_ballot(&poll, &b).map(|_| ()).map_err(|e| e.code());
    let mut b = good.clone();
    b.poll_id = "other".into();
    assert_eq!(code(resigned(&poll, b)), Err("wrong_poll"));
    let mut b = good.clone();
    b.questions[0].options[0].ciphertext.alpha = PointBytes([0; 32]);
    assert_eq!(code(resigned(&poll, b)), Err("identity_point"));
    let mut b = good.clone();
    b.questions[0].options[0].ciphertext.beta.0[31] |= 0x80;
    assert_eq!(code(resigned(&poll, b)), Err("invalid_point"));
    let mut b = good.clone();
    b.questions[1].sum_proof[0].c = ScalarBytes([0xff; 32]);
    assert_eq!(code(resigned(&poll, b)), Err("non_canonical_scalar"));
    let mut b = good.clone();
    b.questions.pop();
    assert_eq!(code(resigned(&poll, b)), Err("ballot_shape"));
    let mut b = good.clone();
    b.credential.0 = [0; 32];
    assert_eq!(code(b), Err("invalid_credential_key"));
    // A choice outside the bounds cannot even be encrypted.
    let too_many = vec![vec![true, true, false], vec![true, false, true, false]];
    assert_eq!(
        encrypt_ballot(&poll, &Credential::from_seed(&SEED), &too_many, &mut rng(1))
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("bounds")
    );
}

#[test]
fn a_spoiled_ballot_opens_to_its_choices_and_a_false_opening_is_refused() {
    let poll = poll();
    let (b, opening) = encrypt_ballot(
        &poll,
        &Credential::from_seed(&SEED),
        &choices(),
        &mut rng(5),
    )
    .expect("ballot");
    let b = b.spoiled();
    assert_eq!(audit_ballot(&poll, &b, &opening).expect("audit"), choices());
    // Revealed without its signature, the spoiled ballot cannot be cast by anyone.
    assert_eq!(
        verify_ballot(&poll, &b).map(|_| ()),
        Err(Error::BadSignature)
    );
    let mut lie = opening.clone();
    lie.questions[1][2].value = 0;
    assert_eq!(
        audit_ballot(&poll, &b, &lie).map_err(|e| e.code()),
        Err("bad_opening")
    );
    let mut lie = opening.clone();
    lie.questions[0][0].randomness = ScalarBytes::of(&Scalar::ONE);
    assert_eq!(
        audit_ballot(&poll, &b, &lie).map_err(|e| e.code()),
        Err("bad_opening")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Change one hex digit anywhere in the ballot's JSON: parsing or verification refuses it,
    /// and nothing panics.
    #[test]
    fn a_changed_hex_digit_anywhere_is_refused(pos in any::<prop::sample::Index>(), digit in 0u8..16) {
        static POLL: std::sync::OnceLock<(Poll, String)> = std::sync::OnceLock::new();
        let (poll, json) = POLL.get_or_init(|| {
            let p = poll();
            let j = serde_json::to_string(&ballot(&p)).expect("json");
            (p, j)
        });
        let hex_positions: Vec<usize> = json
            .char_indices()
            .filter(|(_, c)| c.is_ascii_hexdigit())
            .map(|(i, _)| i)
            .collect();
        let at = hex_positions[pos.index(hex_positions.len())];
        let old = json.as_bytes()[at];
        let new = b"0123456789abcdef"[digit as usize];
        prop_assume!(old != new);
        let mut changed = json.clone().into_bytes();
        changed[at] = new;
        let changed = String::from_utf8(changed).expect("ascii");
        if let Ok(b) = serde_json::from_str::<Ballot>(&changed) {
            prop_assert!(verify_ballot(poll, &b).is_err());
        }
    }
}

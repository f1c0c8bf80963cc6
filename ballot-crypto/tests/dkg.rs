//! The committee's DKG: honest runs give every qualified member a share that matches its
//! verification key and t of them decrypt; complaints, answers and the disqualification rule;
//! refusals of bad keys, dealings and complaint records.

mod common;

use common::rng;
use plenum_ballot_crypto::Error;
use plenum_ballot_crypto::dkg::{
    Complaint, DkgKeyPair, DkgTranscript, TrusteeShare, answer_complaint, deal, open_share,
};
use plenum_ballot_crypto::encoding::{PointBytes, ScalarBytes};
use plenum_ballot_crypto::simulate::run_dkg;

#[test]
fn an_honest_run_qualifies_everyone_and_shares_match_verification_keys() {
    for (t, n) in [(1, 1), (2, 3), (3, 5)] {
        let sim = run_dkg("c", t, n, &[], &mut rng(t as u8)).expect("dkg");
        let outcome = sim.transcript.qualify().expect("qualified");
        assert_eq!(outcome.qualified, (1..=n).collect::<Vec<_>>());
        for i in 1..=n {
            let share = sim.trustee(i).expect("share matches vk");
            assert_eq!(share.member(), i);
            let stored = share.to_bytes();
            let back = TrusteeShare::from_bytes(&outcome, i, &stored).expect("restores");
            assert_eq!(back.to_bytes(), stored);
            assert_eq!(
                TrusteeShare::from_bytes(&outcome, i % n + 1, &stored)
                    .map(|_| ())
                    .map_err(|e| e.code()),
                if n == 1 {
                    Ok(())
                } else {
                    Err("share_mismatch")
                }
            );
        }
    }
}

#[test]
fn a_silent_dealer_is_disqualified_and_fewer_than_t_qualified_means_no_key() {
    let sim = run_dkg("c", 2, 3, &[2], &mut rng(1)).expect("dkg");
    let outcome = sim.transcript.qualify().expect("qualified");
    assert_eq!(outcome.qualified, vec![1, 3]);
    assert!(
        sim.trustee(2).is_err(),
        "a disqualified member does not decrypt"
    );
    sim.trustee(1).expect("member 1's share");
    assert_eq!(
        run_dkg("c", 2, 3, &[1, 2], &mut rng(1))
            .expect("dkg")
            .transcript
            .qualify()
            .map(|_| ()),
        Err(Error::CommitteeTooSmall {
            qualified: 1,
            threshold: 2
        })
    );
}

fn three(
    seed: u8,
) -> (
    Vec<DkgKeyPair>,
    DkgTranscript,
    Vec<plenum_ballot_crypto::dkg::DealerSecret>,
) {
    let mut r = rng(seed);
    let mut keys = Vec::new();
    let mut members = Vec::new();
    for i in 1..=3 {
        let (k, m) = DkgKeyPair::generate("c", 2, i, "m", &mut r);
        keys.push(k);
        members.push(m);
    }
    let mut t = DkgTranscript {
        id: "c".into(),
        threshold: 2,
        members,
        dealings: vec![],
        complaints: vec![],
        answers: vec![],
    };
    let committee = t.committee().expect("committee");
    let mut secrets = Vec::new();
    for k in &keys {
        let (d, s) = deal(&committee, k, &mut r).expect("deal");
        t.dealings.push(d);
        secrets.push(s);
    }
    (keys, t, secrets)
}

#[test]
fn a_bad_share_draws_a_complaint_and_the_answer_decides() {
    let (keys, mut t, secrets) = three(2);
    let committee = t.committee().expect("committee");
    // Dealer 1 sends member 2 garbage.
    t.dealings[0].shares[0].ciphertext.0[5] ^= 1;
    assert_eq!(
        open_share(&committee, &keys[1], &t.dealings[0]).map(|_| ()),
        Err(Error::BadShare {
            dealer: 1,
            recipient: 2
        })
    );
    open_share(&committee, &keys[2], &t.dealings[0]).expect("member 3's share is fine");
    let complaint = Complaint {
        complainer: 2,
        dealer: 1,
    };
    t.complaints.push(complaint);
    // Unanswered: dealer 1 is out.
    assert_eq!(t.qualify().expect("qualify").qualified, vec![2, 3]);
    // Answered correctly: dealer 1 stays, member 2 uses the revealed share.
    t.answers
        .push(answer_complaint(&secrets[0], &complaint).expect("answer"));
    assert_eq!(t.qualify().expect("qualify").qualified, vec![1, 2, 3]);
    plenum_ballot_crypto::dkg::trustee_share(&t, &keys[1], &secrets[1]).expect("member 2's share");
    // Answered with a wrong share: dealer 1 is out.
    t.answers[0].share = ScalarBytes::of(&curve25519_dalek::scalar::Scalar::ONE);
    assert_eq!(t.qualify().expect("qualify").qualified, vec![2, 3]);
    // A non-canonical revealed share counts as a wrong answer, not as a broken record.
    t.answers[0].share = ScalarBytes([0xff; 32]);
    assert_eq!(t.qualify().expect("qualify").qualified, vec![2, 3]);
}

#[test]
fn malformed_records_are_refused_with_typed_errors() {
    let (_, t, _) = three(3);
    let code = |t: &DkgTranscript| t.qualify().map(|_| ()).map_err(|e| e.code());
    let mut x = t.clone();
    x.members[1].proof.z = ScalarBytes::of(&curve25519_dalek::scalar::Scalar::ONE);
    assert_eq!(code(&x), Err("bad_key_proof"));
    let mut x = t.clone();
    x.members[0].key = PointBytes([0; 32]);
    assert_eq!(code(&x), Err("identity_point"));
    let mut x = t.clone();
    x.members[2].index = 4;
    assert_eq!(code(&x), Err("invalid_committee"));
    let mut x = t.clone();
    x.threshold = 4;
    assert_eq!(code(&x), Err("invalid_committee"));
    let mut x = t.clone();
    x.dealings[1].commitments[1] = x.dealings[0].commitments[1];
    assert_eq!(code(&x), Err("bad_dealing_proof"));
    let mut x = t.clone();
    x.dealings[1].commitments.pop();
    assert_eq!(code(&x), Err("bad_dealing"));
    let mut x = t.clone();
    x.dealings[1].shares.pop();
    assert_eq!(code(&x), Err("bad_dealing"));
    let mut x = t.clone();
    x.dealings.swap(0, 1);
    assert_eq!(code(&x), Err("bad_dealing"));
    let mut x = t.clone();
    x.complaints.push(Complaint {
        complainer: 1,
        dealer: 1,
    });
    assert_eq!(code(&x), Err("bad_complaint"));
    let mut x = t.clone();
    x.answers.push(plenum_ballot_crypto::dkg::ComplaintAnswer {
        dealer: 1,
        complainer: 2,
        share: ScalarBytes([0; 32]),
    });
    assert_eq!(code(&x), Err("bad_complaint"));
    // A header whose election key is not the committee's.
    let sim = common::published(1);
    let plenum_ballot_crypto::board::Entry::Header(mut h) = sim.board.entries()[0].entry.clone()
    else {
        unreachable!()
    };
    h.election_key = t.dealings[0].commitments[0];
    assert_eq!(
        h.verify().map(|_| ()).map_err(|e| e.code()),
        Err("election_key_mismatch")
    );
}

//! A full simulated election on the board (5 rights, one delegated, one of weight 3; 2-of-3
//! committee, member 2 absent at the tally), verified; then single changes that must fail at the
//! right entry with the right error.

mod common;

use common::{expected_counts, published, rng, voted};
use plenum_ballot_crypto::Error;
use plenum_ballot_crypto::ballot::Credential;
use plenum_ballot_crypto::board::{
    BoardError, BoardExport, Entry, Phase, chain_hash, verify_board,
};
use plenum_ballot_crypto::encoding::Hash32;
use plenum_ballot_crypto::tally::partial_decrypt;

fn rechain(mut e: BoardExport) -> BoardExport {
    let mut prev = Hash32([0; 32]);
    for ce in &mut e.entries {
        ce.hash = chain_hash(&prev, &ce.entry);
        prev = ce.hash;
    }
    e
}

fn failure(e: &BoardExport) -> (usize, &'static str) {
    match verify_board(e) {
        Err(BoardError::Entry { index, error, .. }) => (index, error.code()),
        other => panic!("expected an entry error, got {other:?}"),
    }
}

#[test]
fn a_full_election_verifies_and_yields_the_weighted_counts() {
    let sim = published(1);
    let export = sim.board.export();
    let parsed = BoardExport::from_json(&export.to_json()).expect("parses");
    assert_eq!(parsed, export);
    let summary = verify_board(&parsed).expect("verifies");
    assert_eq!(summary.phase, Phase::Published);
    assert_eq!(summary.ballots, 5);
    assert_eq!(summary.weight_cast, 7);
    assert_eq!(summary.rejected_ballots, Some(0));
    assert_eq!(summary.decrypted_by, vec![1, 3]);
    assert_eq!(summary.qualified, vec![1, 2, 3]);
    assert_eq!(summary.head, sim.board.head());
    assert_eq!(summary.result.expect("result").counts, expected_counts());
    for (_, tracker) in &sim.ballots {
        assert!(sim.board.contains_tracker(tracker));
    }
}

#[test]
fn flipping_one_byte_in_any_ballot_fails_at_that_ballot() {
    let export = published(1).board.export();
    let ballots: Vec<usize> = (0..export.entries.len())
        .filter(|&i| matches!(export.entries[i].entry, Entry::Ballot(_)))
        .collect();
    assert_eq!(ballots.len(), 5);
    for &i in &ballots {
        for which in 0..4 {
            let mut e = export.clone();
            let Entry::Ballot(b) = &mut e.entries[i].entry else {
                unreachable!()
            };
            match which {
                0 => b.questions[0].options[0].ciphertext.beta.0[7] ^= 0x10,
                1 => b.questions[1].options[3].proof[1].c.0[0] ^= 0x01,
                2 => b.questions[1].sum_proof[0].z.0[2] ^= 0x01,
                _ => b.signature.0[40] ^= 0x01,
            }
            // The stored hash no longer fits: the chain breaks right there.
            assert_eq!(failure(&e), (i, "chain_broken"));
            // Even with every hash recomputed, the ballot itself fails at the same entry.
            let (index, code) = failure(&rechain(e));
            assert_eq!(index, i);
            assert!(
                [
                    "invalid_point",
                    "bad_option_proof",
                    "bad_sum_proof",
                    "bad_signature"
                ]
                .contains(&code),
                "{code}"
            );
        }
    }
}

#[test]
fn the_board_refuses_replays_second_ballots_strangers_and_late_entries() {
    let mut sim = voted(2);
    let (ballot, _) = sim.ballots[0].clone();
    let export = sim.board.export();
    let mut board = plenum_ballot_crypto::board::Board::new(export.roll.clone()).expect("board");
    let Entry::Header(h) = export.entries[0].entry.clone() else {
        unreachable!()
    };
    board.open(h).expect("open");
    let poll = board.poll().cloned().expect("poll");
    let cred = Credential::from_seed(&[3; 32]);
    assert_eq!(
        board.register(cred.public(), 2).map(|_| ()),
        Err(Error::BadRegistration(
            "no right of weight 2 is left unregistered".into()
        ))
    );
    board.register(cred.public(), 3).expect("register");
    assert_eq!(
        board.register(cred.public(), 1).map(|_| ()),
        Err(Error::CredentialRegistered)
    );
    assert_eq!(
        board
            .register(Credential::from_seed(&[4; 32]).public(), 3)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("bad_registration")
    );
    let choices = common::ballots()[2].2.clone();
    let (b, _) = plenum_ballot_crypto::ballot::encrypt_ballot(&poll, &cred, &choices, &mut rng(9))
        .expect("ballot");
    board.cast(b.clone()).expect("cast");
    assert_eq!(
        board.cast(b.clone()).map(|_| ()),
        Err(Error::DuplicateBallot)
    );
    let (again, _) =
        plenum_ballot_crypto::ballot::encrypt_ballot(&poll, &cred, &choices, &mut rng(10))
            .expect("ballot");
    assert_eq!(board.cast(again).map(|_| ()), Err(Error::CredentialUsed));
    assert_eq!(
        board.cast(ballot.clone()).map(|_| ()),
        Err(Error::UnknownCredential)
    );
    let mut other = ballot.clone();
    other.poll_id = "poll-8".into();
    assert_eq!(
        board.cast(other).map(|_| ()).map_err(|e| e.code()),
        Err("wrong_poll")
    );
    // Participation must match the registrations' weights.
    assert_eq!(
        board
            .close(vec!["alice".into()])
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("bad_participation")
    );
    assert_eq!(
        board
            .close(vec!["mallory".into()])
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("bad_participation")
    );
    board.close(vec!["carol".into()]).expect("close");
    assert_eq!(board.summary().rejected_ballots, Some(4));
    assert_eq!(
        board.cast(b).map(|_| ()).map_err(|e| e.code()),
        Err("out_of_order")
    );
    // The result needs t partial decryptions.
    board.publish_tally().expect("tally");
    let sums = board.tally_ciphertexts().expect("tallied").to_vec();
    let pd = partial_decrypt(
        &poll,
        &sums,
        &sim.committee.trustee(3).expect("share"),
        &mut rng(11),
    )
    .expect("pd");
    let mut forged = pd.clone();
    forged.member = 1; // member 3's factors under member 1's key
    assert_eq!(
        board
            .append(Entry::PartialDecryption(forged))
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("bad_partial_decryption")
    );
    let mut stranger = pd.clone();
    stranger.member = 7;
    assert_eq!(
        board
            .append(Entry::PartialDecryption(stranger))
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("bad_trustee")
    );
    board
        .append(Entry::PartialDecryption(pd.clone()))
        .expect("member 3");
    assert_eq!(
        board
            .append(Entry::PartialDecryption(pd))
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("bad_trustee")
    );
    assert_eq!(
        board.publish_result().map(|_| ()),
        Err(Error::NotEnoughTrustees { have: 1, need: 2 })
    );
    let pd1 = partial_decrypt(
        &poll,
        &sums,
        &sim.committee.trustee(1).expect("share"),
        &mut rng(12),
    )
    .expect("pd");
    board
        .append(Entry::PartialDecryption(pd1))
        .expect("member 1");
    let result = board.publish_result().expect("result");
    // Carol (weight 3) alone: her choices times 3.
    let want: Vec<Vec<u64>> = choices
        .iter()
        .map(|q| q.iter().map(|&c| if c { 3 } else { 0 }).collect())
        .collect();
    assert_eq!(result.counts, want);
    verify_board(&board.export()).expect("verifies");
    let _ = sim.board.summary();
    sim.board.publish_tally().expect_err("tallied already");
}

#[test]
fn a_roll_or_header_that_does_not_match_is_refused() {
    let export = published(1).board.export();
    let mut e = export.clone();
    e.roll.rights[2].weight = 2;
    assert_eq!(failure(&e), (0, "roll_mismatch"));
    let mut e = export.clone();
    e.roll.rights.swap(0, 1);
    assert!(matches!(verify_board(&e), Err(BoardError::Roll(_))));
    let mut e = export.clone();
    e.format = "other".into();
    assert!(matches!(verify_board(&e), Err(BoardError::Format(_))));
    let mut e = export;
    e.entries.swap(1, 2); // a ballot before its registration
    assert_eq!(failure(&rechain(e)), (1, "unknown_credential"));
}

#[test]
fn a_restored_board_goes_on_where_it_stopped() {
    let sim = voted(3);
    let mut board =
        plenum_ballot_crypto::board::Board::restore(&sim.board.export(), 2).expect("restores");
    assert_eq!(board.head(), sim.board.head());
    assert_eq!(board.rejected(), 2);
    let poll = board.poll().cloned().expect("poll");
    let sums = board.tally_ciphertexts().expect("tallied").to_vec();
    for m in [2, 3] {
        let pd = partial_decrypt(
            &poll,
            &sums,
            &sim.committee.trustee(m).expect("share"),
            &mut rng(m as u8),
        )
        .expect("pd");
        board.append(Entry::PartialDecryption(pd)).expect("append");
    }
    assert_eq!(
        board.publish_result().expect("result").counts,
        expected_counts()
    );
    let mut broken = sim.board.export();
    broken.entries[3].hash.0[0] ^= 1;
    assert!(matches!(
        plenum_ballot_crypto::board::Board::restore(&broken, 0),
        Err(BoardError::Entry {
            index: 3,
            error: Error::ChainBroken,
            ..
        })
    ));
}

#[test]
fn register_and_cast_appends_both_or_neither() {
    use plenum_ballot_crypto::ballot::encrypt_ballot;
    use plenum_ballot_crypto::board::Board;
    use plenum_ballot_crypto::simulate;

    let mut rng = rng(9);
    let committee = simulate::run_dkg("LPT 2025", 2, 3, &[], &mut rng).expect("dkg");
    let roll = common::roll();
    let header = simulate::header("poll-7", common::questions(), &roll, &committee.transcript)
        .expect("header");
    let mut board = Board::new(roll).expect("board");
    board.open(header).expect("open");
    let poll = board.poll().cloned().expect("poll");
    let choices = &common::ballots()[0].2;
    let alice = Credential::generate(&mut rng);
    let (ballot, _) = encrypt_ballot(&poll, &alice, choices, &mut rng).expect("encrypt");

    // A broken proof: refused, counted, the board unchanged (no registration either).
    let mut bad = ballot.clone();
    bad.questions[0].sum_proof[0].z.0[0] ^= 1;
    let before = board.head();
    assert!(board.register_and_cast(alice.public(), 1, bad).is_err());
    assert_eq!(
        (board.head(), board.entries().len(), board.rejected()),
        (before, 1, 1)
    );
    // Signed by another credential than the one registered.
    let bob = Credential::generate(&mut rng);
    assert_eq!(
        board.register_and_cast(bob.public(), 1, ballot.clone()),
        Err(Error::UnknownCredential)
    );
    // A weight nobody has.
    assert!(matches!(
        board.register_and_cast(alice.public(), 2, ballot.clone()),
        Err(Error::BadRegistration(_))
    ));
    assert_eq!((board.entries().len(), board.rejected()), (1, 3));

    let tracker = board
        .register_and_cast(alice.public(), 1, ballot.clone())
        .expect("cast");
    assert_eq!(tracker, ballot.tracker());
    assert!(board.contains_tracker(&tracker));
    assert_eq!(board.entries().len(), 3);
    // The same again: the credential is registered already.
    assert_eq!(
        board.register_and_cast(alice.public(), 1, ballot),
        Err(Error::CredentialRegistered)
    );
    // What the server appended verifies like any board.
    let summary = verify_board(&board.export()).expect("verifies");
    assert_eq!((summary.registrations, summary.ballots), (1, 1));
}

//! A full simulated election on the board, verified; then single changes that must fail at the
//! right entry with the right error.

mod common;

use std::time::Instant;

use common::{expected_counts, published, voted};
use plenum_ballot_crypto::Error;
use plenum_ballot_crypto::board::{BoardError, Entry, Phase, verify_board};

#[test]
fn a_full_election_verifies_and_yields_the_weighted_counts() {
    let t = Instant::now();
    let sim = published(1);
    eprintln!("simulated election: {:?}", t.elapsed());
    let export = sim.board.export();
    let json = export.to_json();
    let parsed = plenum_ballot_crypto::board::BoardExport::from_json(&json).expect("parses");
    assert_eq!(parsed, export);
    let t = Instant::now();
    let summary = verify_board(&parsed).expect("verifies");
    eprintln!("verify_board: {:?}", t.elapsed());
    assert_eq!(summary.phase, Phase::Published);
    assert_eq!(summary.ballots, 5);
    assert_eq!(summary.weight_cast, 7);
    assert_eq!(summary.decrypted_by, vec![1, 3]);
    assert_eq!(summary.qualified, vec![1, 2, 3]);
    assert_eq!(summary.result.expect("result").counts, expected_counts());
    for (_, tracker) in &sim.ballots {
        assert!(sim.board.contains_tracker(tracker));
    }
}

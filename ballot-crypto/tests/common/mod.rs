//! Shared harness: the simulated election of the tests (5 rights, one delegated, one of weight
//! 3; a 2-of-3 committee; member 2 absent at the tally).
#![allow(dead_code)]

use plenum_ballot_crypto::ballot::Ballot;
use plenum_ballot_crypto::board::Board;
use plenum_ballot_crypto::encoding::Hash32;
use plenum_ballot_crypto::poll::{PollOption, Question, Right, Roll};
use plenum_ballot_crypto::simulate::{self, SimCommittee};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

pub fn option(label: &str, coefficient: u32) -> PollOption {
    PollOption {
        label: label.into(),
        coefficient,
    }
}

/// A motion (exactly one of yes/no/abstain) and a choose-up-to-2 election of three candidates
/// with a global "no" (coefficient 2: it excludes every candidate).
pub fn questions() -> Vec<Question> {
    vec![
        Question {
            text: "Motion A1: adopt the agenda?".into(),
            options: vec![option("yes", 1), option("no", 1), option("abstain", 1)],
            min: 1,
            max: 1,
        },
        Question {
            text: "Board election: choose up to 2".into(),
            options: vec![
                option("Ada", 1),
                option("Ben", 1),
                option("Cem", 1),
                option("no to all", 2),
            ],
            min: 1,
            max: 2,
        },
    ]
}

pub fn roll() -> Roll {
    let right = |h: &str, p: Option<&str>, w| Right {
        holder: h.into(),
        proxy: p.map(Into::into),
        weight: w,
    };
    Roll::new(vec![
        right("erin", None, 1),
        right("alice", None, 1),
        right("bob", None, 1),
        right("carol", None, 3),
        right("dave", Some("erin"), 1),
    ])
    .expect("a valid roll")
}

pub fn ballots() -> Vec<(&'static str, u64, Vec<Vec<bool>>)> {
    let b = |v: &[u8]| v.iter().map(|&x| x == 1).collect::<Vec<bool>>();
    vec![
        ("alice", 1, vec![b(&[1, 0, 0]), b(&[1, 1, 0, 0])]),
        ("bob", 1, vec![b(&[0, 1, 0]), b(&[0, 0, 0, 1])]),
        ("carol", 3, vec![b(&[1, 0, 0]), b(&[1, 0, 1, 0])]),
        ("dave", 1, vec![b(&[0, 0, 1]), b(&[0, 1, 0, 0])]),
        ("erin", 1, vec![b(&[1, 0, 0]), b(&[0, 1, 1, 0])]),
    ]
}

#[derive(Debug)]
pub struct Simulated {
    pub committee: SimCommittee,
    pub board: Board,
    pub ballots: Vec<(Ballot, Hash32)>,
}

/// Voting done and closed, tallied; not yet decrypted.
pub fn voted(seed: u8) -> Simulated {
    let mut rng = rng(seed);
    let committee = simulate::run_dkg("LPT 2025", 2, 3, &[], &mut rng).expect("dkg");
    let roll = roll();
    let header =
        simulate::header("poll-7", questions(), &roll, &committee.transcript).expect("header");
    let mut board = Board::new(roll).expect("board");
    board.open(header).expect("open");
    let mut cast = Vec::new();
    for (_, weight, choices) in ballots() {
        cast.push(simulate::vote(&mut board, weight, &choices, &mut rng).expect("vote"));
    }
    board
        .close(ballots().iter().map(|b| b.0.to_string()).collect())
        .expect("close");
    board.publish_tally().expect("tally");
    Simulated {
        committee,
        board,
        ballots: cast,
    }
}

/// The full election: members 1 and 3 decrypt, member 2 is absent.
pub fn published(seed: u8) -> Simulated {
    let mut sim = voted(seed);
    let mut rng = rng(seed.wrapping_add(100));
    simulate::decrypt_and_publish(&mut sim.board, &sim.committee, &[1, 3], &mut rng)
        .expect("publish");
    sim
}

/// The weighted counts computed from the plaintexts.
pub fn expected_counts() -> Vec<Vec<u64>> {
    let mut counts = vec![vec![0u64; 3], vec![0u64; 4]];
    for (_, w, choices) in ballots() {
        for (q, cs) in choices.iter().enumerate() {
            for (o, &c) in cs.iter().enumerate() {
                counts[q][o] += if c { w } else { 0 };
            }
        }
    }
    counts
}

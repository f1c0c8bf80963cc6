//! Verifiable ballots (plenum-ballot-crypto): the server's check of one ballot with 10 options,
//! and a whole count of 150 ballots × 10 options (accept every ballot on the board, tally, two
//! partial decryptions with proofs, combine, and a full `verify_board` of the export).
//! Goals: < 2 ms per ballot, < 3 s for the count. Run:
//! `cargo bench -p plenum-benches --bench ballot`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use plenum_ballot_crypto::ballot::{Ballot, Credential, encrypt_ballot, verify_ballot};
use plenum_ballot_crypto::board::{Board, Entry, verify_board};
use plenum_ballot_crypto::poll::{Poll, PollOption, Question, Right, Roll};
use plenum_ballot_crypto::simulate::{self, SimCommittee};
use plenum_ballot_crypto::tally::partial_decrypt;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const VOTERS: usize = 150;

fn election(
    min: u32,
    max: u32,
) -> (
    Poll,
    Roll,
    SimCommittee,
    plenum_ballot_crypto::poll::PollHeader,
) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let committee = simulate::run_dkg("bench", 2, 3, &[], &mut rng).expect("dkg");
    let roll = Roll::new(
        (0..VOTERS)
            .map(|i| Right {
                holder: format!("voter-{i:03}"),
                proxy: None,
                weight: 1 + (i % 3) as u64,
            })
            .collect(),
    )
    .expect("roll");
    let question = Question {
        text: "Election".into(),
        options: (0..10)
            .map(|i| PollOption {
                label: format!("candidate {i}"),
                coefficient: 1,
            })
            .collect(),
        min,
        max,
    };
    let header =
        simulate::header("bench", vec![question], &roll, &committee.transcript).expect("header");
    (header.verify().expect("poll"), roll, committee, header)
}

fn choices(i: usize, n: usize) -> Vec<Vec<bool>> {
    vec![(0..10).map(|o| (o + i) % 10 < n).collect()]
}

fn verify_one(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify_ballot");
    for (name, min, max, chosen) in [
        ("10_options_choose_1", 1, 1, 1),
        ("10_options_choose_up_to_10", 0, 10, 4),
    ] {
        let (poll, _, _, _) = election(min, max);
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let cred = Credential::generate(&mut rng);
        let (ballot, _) =
            encrypt_ballot(&poll, &cred, &choices(0, chosen), &mut rng).expect("ballot");
        g.bench_function(name, |b| {
            b.iter(|| verify_ballot(&poll, black_box(&ballot)).expect("valid"))
        });
    }
    g.finish();
}

fn count(c: &mut Criterion) {
    let (poll, roll, committee, header) = election(1, 1);
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let ballots: Vec<(u64, Ballot)> = (0..VOTERS)
        .map(|i| {
            let cred = Credential::generate(&mut rng);
            let (b, _) = encrypt_ballot(&poll, &cred, &choices(i, 1), &mut rng).expect("ballot");
            (roll.rights[i].weight, b)
        })
        .collect();
    let shares = [
        committee.trustee(1).expect("share"),
        committee.trustee(3).expect("share"),
    ];
    let mut g = c.benchmark_group("count");
    g.sample_size(10);
    g.bench_function("150_ballots_10_options_tally_decrypt_verify_board", |b| {
        b.iter(|| {
            let mut board = Board::new(roll.clone()).expect("board");
            board.open(header.clone()).expect("open");
            for (w, ballot) in &ballots {
                board.register(ballot.credential, *w).expect("register");
                board.cast(ballot.clone()).expect("cast");
            }
            board
                .close(roll.rights.iter().map(|r| r.holder.clone()).collect())
                .expect("close");
            board.publish_tally().expect("tally");
            let sums = board.tally_ciphertexts().expect("tallied").to_vec();
            let mut r = ChaCha20Rng::from_seed([4; 32]);
            for s in &shares {
                let pd = partial_decrypt(&poll, &sums, s, &mut r).expect("partial");
                board.append(Entry::PartialDecryption(pd)).expect("append");
            }
            board.publish_result().expect("result");
            verify_board(&board.export()).expect("verifies")
        })
    });
    g.finish();
}

criterion_group!(benches, verify_one, count);
criterion_main!(benches);

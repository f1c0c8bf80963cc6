//! CPU time (not wall time: the build machine is shared) of the operations a ballot check is
//! made of, and of a whole check. `cargo run --release -p plenum-ballot-crypto --example costs`.

use std::hint::black_box;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use plenum_ballot_crypto::ballot::{Credential, encrypt_ballot, verify_ballot};
use plenum_ballot_crypto::encoding::random_scalar;
use plenum_ballot_crypto::poll::{PollOption, Question, Right, Roll};
use plenum_ballot_crypto::simulate;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Nanoseconds this thread has run on a CPU (Linux schedstat).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn per_op(name: &str, n: u32, mut f: impl FnMut()) {
    f();
    let t = cpu_ns();
    for _ in 0..n {
        f();
    }
    let ns = (cpu_ns() - t) / u64::from(n);
    println!("{name:<48} {:>9.1} µs", ns as f64 / 1000.0);
}

fn main() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let (a, b) = (random_scalar(&mut rng), random_scalar(&mut rng));
    let p = G * a;
    let q = G * b;
    let c = p.compress();
    per_op("compress", 2000, || {
        black_box(black_box(p).compress());
    });
    per_op("decompress", 2000, || {
        black_box(black_box(c).decompress());
    });
    per_op("a·P + b·G (vartime double base)", 2000, || {
        black_box(RistrettoPoint::vartime_double_scalar_mul_basepoint(
            &a, &p, &b,
        ));
    });
    per_op("3-term vartime multiscalar", 2000, || {
        black_box(RistrettoPoint::vartime_multiscalar_mul(
            [a, b, a],
            [p, q, G],
        ));
    });
    per_op("a·P (constant time)", 2000, || {
        black_box(black_box(p) * a);
    });

    let mut run_dkg_rng = ChaCha20Rng::from_seed([2; 32]);
    let committee = simulate::run_dkg("costs", 2, 3, &[], &mut run_dkg_rng).expect("dkg");
    let roll = Roll::new(vec![Right {
        holder: "a".into(),
        proxy: None,
        weight: 1,
    }])
    .expect("roll");
    for (min, max, chosen) in [(1, 1, 1), (0, 10, 4)] {
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
        let header = simulate::header("costs", vec![question], &roll, &committee.transcript)
            .expect("header");
        let poll = header.verify().expect("poll");
        let cred = Credential::generate(&mut rng);
        let choices = vec![(0..10).map(|o| o < chosen).collect::<Vec<_>>()];
        let (ballot, _) = encrypt_ballot(&poll, &cred, &choices, &mut rng).expect("ballot");
        per_op(
            &format!("verify_ballot, 10 options, bounds {min}..={max}"),
            200,
            || {
                verify_ballot(&poll, black_box(&ballot)).expect("valid");
            },
        );
        per_op(
            &format!("encrypt_ballot, 10 options, bounds {min}..={max}"),
            50,
            || {
                black_box(encrypt_ballot(&poll, &cred, &choices, &mut rng).expect("ballot"));
            },
        );
    }
}

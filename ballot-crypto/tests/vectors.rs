//! The shared test vectors (ballot-crypto/vectors/*.json): generated here from seeded RNGs and
//! compared with the committed files (`PLENUM_WRITE_VECTORS=1 cargo test -p
//! plenum-ballot-crypto --test vectors` rewrites them), and the JavaScript-made vectors
//! (`js-made.json`, written by web/test/ballot-crypto.test.mjs) verified by the Rust code.

mod common;

use std::path::PathBuf;

use common::{expected_counts, published, questions, rng};
use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;
use plenum_ballot_crypto::Error;
use plenum_ballot_crypto::ballot::{
    Ballot, BallotOpening, Credential, audit_ballot, encrypt_ballot, verify_ballot,
};
use plenum_ballot_crypto::board::{BoardError, BoardExport, Entry, chain_hash, verify_board};
use plenum_ballot_crypto::encoding::{IdentityRule, PointBytes, ScalarBytes, Writer};
use plenum_ballot_crypto::poll::{Poll, PollHeader};
use plenum_ballot_crypto::tally::PartialDecryption;
use rand_core::RngCore;
use serde_json::{Value, json};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn check_or_write(name: &str, v: &Value) {
    let path = dir().join(name);
    let text = serde_json::to_string_pretty(v).expect("serializes") + "\n";
    if std::env::var_os("PLENUM_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(dir()).expect("mkdir");
        std::fs::write(&path, &text).expect("write");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{name} is not what the code generates: run PLENUM_WRITE_VECTORS=1 cargo test -p plenum-ballot-crypto --test vectors"
    );
}

fn primitives() -> Value {
    let mut r = rng(7);
    let mut stream = [0u8; 160];
    r.fill_bytes(&mut stream);
    let mut w = Writer::new("test");
    w.u32(7)
        .u64(1 << 40)
        .str("Grüße")
        .opt_str(None)
        .opt_str(Some("x"))
        .point(&G)
        .bytes(&[1, 2, 3]);
    let l = curve25519_dalek::scalar::Scalar::ZERO - curve25519_dalek::scalar::Scalar::ONE;
    let mut ell = l.to_bytes();
    ell[0] += 1; // ℓ itself
    let scalar_cases = [
        ("zero", [0u8; 32]),
        ("ℓ − 1", l.to_bytes()),
        ("ℓ", ell),
        ("2²⁵⁶ − 1", [0xff; 32]),
    ];
    let scalars: Vec<Value> = scalar_cases
        .iter()
        .map(|(name, b)| {
            let res = ScalarBytes(*b).decode("test");
            json!({ "name": name, "hex": hex::encode(b), "error": res.err().map(|e| e.code()) })
        })
        .collect();
    let mut non_canonical = [0u8; 32];
    non_canonical[0] = 0xed; // p = 2²⁵⁵ − 19 itself: not a canonical field element
    non_canonical[1..31].fill(0xff);
    non_canonical[31] = 0x7f;
    let mut negative = PointBytes::of(&(G + G)).0;
    negative[0] |= 1; // an odd ("negative") s is never canonical
    let point_cases = [
        ("basepoint", PointBytes::of(&G).0),
        ("identity", PointBytes::of(&RistrettoPoint::identity()).0),
        ("field element ≥ p", non_canonical),
        ("negative s", negative),
        ("high bit set", {
            let mut b = PointBytes::of(&G).0;
            b[31] |= 0x80;
            b
        }),
    ];
    let points: Vec<Value> = point_cases
        .iter()
        .map(|(name, b)| {
            let forbidden = PointBytes(*b).decode("test", IdentityRule::Forbidden);
            let allowed = PointBytes(*b).decode("test", IdentityRule::Allowed);
            json!({
                "name": name,
                "hex": hex::encode(b),
                "error_identity_forbidden": forbidden.err().map(|e| e.code()),
                "error_identity_allowed": allowed.err().map(|e| e.code()),
            })
        })
        .collect();
    json!({
        "rng": { "seed": hex::encode([7u8; 32]), "first_160_bytes": hex::encode(stream) },
        "writer": {
            "ops": "Writer::new(\"test\").u32(7).u64(2^40).str(\"Grüße\").opt_str(None).opt_str(Some(\"x\")).point(G).bytes([1,2,3])",
            "bytes": hex::encode(w.as_bytes()),
            "sha256": w.sha256().to_string(),
            "challenge": hex::encode(w.challenge().to_bytes()),
        },
        "scalars": scalars,
        "points": points,
    })
}

/// The seeded election of `common` (seed 1; decryption with seed 101): JS replays it and must
/// arrive at the same board, entry for entry.
fn election() -> Value {
    let sim = published(1);
    json!({
        "seed": 1,
        "decryption_seed": 101,
        "committee": { "id": "LPT 2025", "threshold": 2, "members": 3, "decrypting": [1, 3] },
        "ballots": common::ballots().iter().map(|(h, w, c)| json!({"holder": h, "weight": w, "choices": c})).collect::<Vec<_>>(),
        "expected_counts": expected_counts(),
        "board": sim.board.export(),
    })
}

fn header_of(export: &BoardExport) -> PollHeader {
    match &export.entries[0].entry {
        Entry::Header(h) => h.clone(),
        _ => panic!("the first entry is the header"),
    }
}

fn resign(poll: &Poll, cred: &Credential, b: &mut Ballot) {
    use ed25519_dalek::Signer;
    // The test knows the credential's seed; re-signing makes only the proof check fail.
    let key = ed25519_dalek::SigningKey::from_bytes(&cred_seed(cred));
    b.signature.0 = key.sign(&b.signed_message(&poll.context)).to_bytes();
}

const SEED: [u8; 32] = [9; 32];
fn cred_seed(_: &Credential) -> [u8; 32] {
    SEED
}

/// Bad ballots (each signed by its credential, so only the named check fails) and bad boards,
/// each with the error code both implementations must give.
fn bad_inputs() -> Value {
    let sim = published(1);
    let export = sim.board.export();
    let poll = header_of(&export).verify().expect("header");
    let cred = Credential::from_seed(&SEED);
    let choices = common::ballots()[0].2.clone();
    let (good, opening) = encrypt_ballot(&poll, &cred, &choices, &mut rng(3)).expect("ballot");
    let mut cases: Vec<(String, Ballot, &'static str)> = Vec::new();
    let mut add = |name: &str, f: &dyn Fn(&mut Ballot), resigned: bool, code: &'static str| {
        let mut b = good.clone();
        f(&mut b);
        if resigned {
            resign(&poll, &cred, &mut b);
        }
        cases.push((name.into(), b, code));
    };
    add(
        "another poll",
        &|b| b.poll_id = "poll-8".into(),
        true,
        "wrong_poll",
    );
    add(
        "an option missing",
        &|b| {
            b.questions[1].options.pop();
        },
        true,
        "ballot_shape",
    );
    add(
        "option proof challenge changed",
        &|b| b.questions[0].options[1].proof[0].c.0[0] ^= 1,
        true,
        "bad_option_proof",
    );
    add(
        "option proof response changed",
        &|b| b.questions[1].options[2].proof[1].z.0[3] ^= 1,
        true,
        "bad_option_proof",
    );
    add(
        "proofs of two options swapped",
        &|b| {
            let p = b.questions[0].options[0].proof.clone();
            b.questions[0].options[0].proof = b.questions[0].options[1].proof.clone();
            b.questions[0].options[1].proof = p;
        },
        true,
        "bad_option_proof",
    );
    add(
        "sum proof changed",
        &|b| b.questions[1].sum_proof[0].z.0[5] ^= 1,
        true,
        "bad_sum_proof",
    );
    add(
        "sum proof branch dropped",
        &|b| {
            b.questions[1].sum_proof.pop();
        },
        true,
        "bad_sum_proof",
    );
    add(
        "ciphertext beta changed",
        &|b| b.questions[0].options[0].ciphertext.beta = PointBytes::of(&G),
        true,
        "bad_option_proof",
    );
    add(
        "non-canonical scalar",
        &|b| b.questions[0].options[0].proof[0].z.0 = [0xff; 32],
        true,
        "non_canonical_scalar",
    );
    add(
        "alpha the identity",
        &|b| b.questions[0].options[0].ciphertext.alpha = PointBytes([0; 32]),
        true,
        "identity_point",
    );
    add(
        "alpha not a point",
        &|b| b.questions[0].options[0].ciphertext.alpha.0[0] |= 1,
        true,
        "invalid_point",
    );
    add(
        "signature changed",
        &|b| b.signature.0[10] ^= 1,
        false,
        "bad_signature",
    );
    add(
        "signature S not canonical",
        &|b| b.signature.0[32..].fill(0xff),
        false,
        "bad_signature",
    );
    add(
        "credential of small order",
        &|b| b.credential.0 = [0; 32],
        false,
        "invalid_credential_key",
    );
    add(
        "credential another key",
        &|b| b.credential = Credential::from_seed(&[5; 32]).public(),
        false,
        "bad_option_proof",
    );
    let ballots: Vec<Value> = cases
        .iter()
        .map(|(name, b, code)| {
            let got = verify_ballot(&poll, b).err().map(|e| e.code());
            assert_eq!(got, Some(*code), "{name}");
            json!({ "name": name, "ballot": b, "error": code })
        })
        .collect();

    // Boards: one change each, chain hashes recomputed so that the named check is what fails.
    let rechain = |mut e: BoardExport| {
        let mut prev = plenum_ballot_crypto::encoding::Hash32([0; 32]);
        for ce in &mut e.entries {
            ce.hash = chain_hash(&prev, &ce.entry);
            prev = ce.hash;
        }
        e
    };
    let first_ballot = export
        .entries
        .iter()
        .position(|e| matches!(e.entry, Entry::Ballot(_)))
        .expect("a ballot");
    let mut boards: Vec<(String, BoardExport, usize, &str)> = Vec::new();
    let mut replay = export.clone();
    let again = replay.entries[first_ballot].clone();
    replay.entries.insert(first_ballot + 1, again);
    boards.push((
        "a replayed ballot".into(),
        rechain(replay),
        first_ballot + 1,
        "duplicate_ballot",
    ));
    let mut second = export.clone();
    let Entry::Ballot(b0) = &export.entries[first_ballot].entry else {
        unreachable!()
    };
    let Entry::Ballot(b1) = &export.entries[first_ballot + 2].entry else {
        unreachable!()
    };
    let mut other = b1.clone();
    other.credential = b0.credential; // a second ballot for a used credential
    second.entries.insert(
        first_ballot + 1,
        plenum_ballot_crypto::board::ChainedEntry {
            hash: plenum_ballot_crypto::encoding::Hash32([0; 32]),
            entry: Entry::Ballot(other),
        },
    );
    boards.push((
        "a second ballot for a used credential".into(),
        rechain(second),
        first_ballot + 1,
        "credential_used",
    ));
    let mut unknown = export.clone();
    unknown.entries.remove(first_ballot - 1); // the ballot's registration
    boards.push((
        "a ballot of an unregistered credential".into(),
        rechain(unknown),
        first_ballot - 1,
        "unknown_credential",
    ));
    let mut flipped = export.clone();
    if let Entry::Ballot(b) = &mut flipped.entries[first_ballot].entry {
        b.questions[0].options[0].ciphertext.beta.0[0] ^= 0x02;
    }
    boards.push((
        "a ballot's byte flipped (hash kept)".into(),
        flipped,
        first_ballot,
        "chain_broken",
    ));
    let pd_index = export
        .entries
        .iter()
        .position(|e| matches!(e.entry, Entry::PartialDecryption(_)))
        .expect("a partial decryption");
    let mut bad_pd = export.clone();
    if let Entry::PartialDecryption(PartialDecryption { factors, .. }) =
        &mut bad_pd.entries[pd_index].entry
    {
        factors[1][2].proof.z.0[0] ^= 1;
    }
    boards.push((
        "a partial decryption with a bad proof".into(),
        rechain(bad_pd),
        pd_index,
        "bad_partial_decryption",
    ));
    let mut wrong_result = export.clone();
    if let Some(Entry::Result(r)) = wrong_result.entries.last_mut().map(|e| &mut e.entry) {
        r.counts[0][0] += 1;
    }
    let last = wrong_result.entries.len() - 1;
    boards.push((
        "a result one vote off".into(),
        rechain(wrong_result),
        last,
        "result_mismatch",
    ));
    let mut one_trustee = export.clone();
    one_trustee.entries.remove(pd_index + 1);
    let last = one_trustee.entries.len() - 1;
    boards.push((
        "a result from one partial decryption (t = 2)".into(),
        rechain(one_trustee),
        last,
        "not_enough_trustees",
    ));
    let board_cases: Vec<Value> = boards
        .iter()
        .map(|(name, e, index, code)| {
            match verify_board(e) {
                Err(BoardError::Entry {
                    index: i, error, ..
                }) => {
                    assert_eq!((i, error.code()), (*index, *code), "{name}");
                }
                other => panic!("{name}: {other:?}"),
            }
            json!({ "name": name, "board": e, "index": index, "error": code })
        })
        .collect();
    json!({
        "header": header_of(&export),
        "audit": { "ballot": good.spoiled(), "opening": opening, "choices": choices },
        "ballots": ballots,
        "boards": board_cases,
    })
}

#[test]
fn primitives_vectors_are_up_to_date() {
    check_or_write("primitives.json", &primitives());
}

#[test]
fn election_vectors_are_up_to_date() {
    check_or_write("election.json", &election());
}

#[test]
fn bad_input_vectors_are_up_to_date_and_refused_as_named() {
    check_or_write("bad-inputs.json", &bad_inputs());
}

#[test]
fn javascript_made_vectors_verify_in_rust() {
    let text = std::fs::read_to_string(dir().join("js-made.json"))
        .expect("js-made.json (written by the node test)");
    let v: Value = serde_json::from_str(&text).expect("json");
    let export: BoardExport = serde_json::from_value(v["board"].clone()).expect("board");
    let summary = verify_board(&export).expect("the JS-made board verifies");
    let expected: Vec<Vec<u64>> =
        serde_json::from_value(v["expected_counts"].clone()).expect("counts");
    assert_eq!(summary.result.expect("result").counts, expected);
    // The same seeded election made by Rust gives the very same board.
    let seed = u8::try_from(v["seed"].as_u64().expect("seed")).expect("small seed");
    assert_eq!(
        published(seed).board.head(),
        summary.head,
        "JS and Rust boards differ"
    );
    // The JS-made Benaloh opening audits in Rust; a changed opening is refused.
    let poll = header_of(&export).verify().expect("header");
    let ballot: Ballot = serde_json::from_value(v["audit"]["ballot"].clone()).expect("ballot");
    let opening: BallotOpening =
        serde_json::from_value(v["audit"]["opening"].clone()).expect("opening");
    let choices: Vec<Vec<bool>> =
        serde_json::from_value(v["audit"]["choices"].clone()).expect("choices");
    assert_eq!(
        audit_ballot(&poll, &ballot, &opening).expect("audit"),
        choices
    );
    assert_eq!(
        verify_ballot(&poll, &ballot)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("bad_signature")
    );
    let mut lie = opening.clone();
    lie.questions[0][0].value ^= 1;
    assert_eq!(
        audit_ballot(&poll, &ballot, &lie).map_err(|e| e.code()),
        Err("bad_opening")
    );
    // JS-made refusals: every tampered ballot the node test made is refused with its code here.
    for case in v["bad_ballots"].as_array().expect("bad ballots") {
        let b: Ballot = serde_json::from_value(case["ballot"].clone()).expect("ballot");
        let got = verify_ballot(&poll, &b)
            .err()
            .map(|e: Error| e.code().to_string());
        assert_eq!(got.as_deref(), case["error"].as_str(), "{}", case["name"]);
    }
    let _ = questions();
}

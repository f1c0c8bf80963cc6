//! A verifiable election over real WebSockets against a running `plenum` with its SQLite file
//! (issue 16): five delegates, three of them the tally committee (t = 2), one delegation and
//! one right of weight 3. The committee's "browsers" (this test, with `plenum-ballot-crypto`)
//! run the key generation through the server, the voters encrypt and cast, the server is
//! killed and restarted mid-ballot, one committee member is gone before the tally, the other
//! two decrypt; the result is judged and published; `plenum-verify` accepts the exported board
//! and refuses it with one byte flipped in a ballot. Every bad input is refused with a typed
//! code and changes nothing; the database and the log never hold a key share, a credential's
//! secret or anything else a choice could be read from.
#![allow(clippy::unwrap_used)]

mod common;

use common::polls::{create, dump_database, poll_of};
use common::{TestServer, expect_error, join};

use std::path::Path;
use std::process::Command;

use plenum_ballot_crypto::ballot::{Credential, encrypt_ballot};
use plenum_ballot_crypto::board::{Board, BoardExport, Entry};
use plenum_ballot_crypto::dkg::{
    Complaint, DealerSecret, DkgKeyPair, DkgTranscript, TrusteeShare, deal, open_share,
    trustee_share,
};
use plenum_ballot_crypto::poll::Poll;
use plenum_ballot_crypto::tally::partial_decrypt;
use plenum_loadtest::SignalClient;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

fn id_of(joined: &Value) -> String {
    joined["participant"]["id"].as_str().unwrap().to_owned()
}

/// A committee member's browser: its DKG key and, once dealt, its polynomial; at the end its
/// share (what the web client keeps in localStorage).
struct Member {
    id: String,
    key: Option<DkgKeyPair>,
    dealer: Option<DealerSecret>,
    share: Option<TrusteeShare>,
}

/// Wait for this client's `dkg_changed` of round `round`; its committee record.
async fn dkg_round(c: &mut SignalClient, round: &str) -> DkgTranscript {
    loop {
        let ev = c.next_event("dkg_changed").await.unwrap();
        if ev["round"] == round {
            return serde_json::from_value(ev["committee"].clone()).unwrap();
        }
    }
}

/// The poll as the board's header defines it (what a browser checks before encrypting).
async fn board_poll(c: &SignalClient, id: &str) -> (BoardExport, Poll) {
    let export = board(c, id).await;
    let Entry::Header(header) = &export.entries[0].entry else {
        panic!("the board starts with its header");
    };
    let poll = header.verify().unwrap();
    (export, poll)
}

async fn board(c: &SignalClient, id: &str) -> BoardExport {
    let r = c
        .request("poll_board", json!({ "poll_id": id }))
        .await
        .unwrap();
    serde_json::from_value(r["export"].clone()).unwrap()
}

/// A choose-up-to-2 election of three candidates with a global "no": one board question with
/// the options Anna, Ben, Cem, no.
fn choice(picks: &[usize], no: bool) -> Vec<Vec<bool>> {
    let mut v: Vec<bool> = (0..3).map(|i| picks.contains(&i)).collect();
    v.push(no);
    vec![v]
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.contains(needle)
}

/// Run `plenum-verify` (built from its own crate) on a board file.
fn plenum_verify(file: &Path) -> std::process::Output {
    let cargo = env!("CARGO");
    let built = Command::new(cargo)
        .args(["build", "--quiet", "-p", "plenum-verify"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(built.success(), "building plenum-verify");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    Command::new(target.join("debug/plenum-verify"))
        .arg("--require-result")
        .arg(file)
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_verifiable_election_with_a_committee_a_delegation_and_a_weight() {
    let mut server = TestServer::start_logged();
    let mut rng = ChaCha20Rng::from_seed([16; 32]);
    let (m, _) = join(&server, &server.token(0)).await;
    let mut tokens = vec![server.token(1), server.token(2)];
    for name in ["Delegierte C", "Delegierter D", "Delegierte E"] {
        tokens.push(server.invite(name, "delegate", &[]));
    }
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for t in &tokens {
        let (c, joined) = join(&server, t).await;
        ids.push(id_of(&joined));
        clients.push(c);
    }
    // D carries 3 votes; E gives hers to D.
    m.request(
        "set_grants",
        json!({ "participant_id": ids[3], "vote_weight": 3 }),
    )
    .await
    .unwrap();
    clients[4]
        .request("set_proxy", json!({ "proxy_id": ids[3] }))
        .await
        .unwrap();

    let spec = json!({
        "title": "Wahl der Beisitzer", "kind": "election", "secret": true,
        "candidates": ["Anna", "Ben", "Cem"],
        "method": { "type": "choose", "k": 2, "global_no": true },
        "majority": { "rule": "simple" },
        "verifiable": { "committee": [ids[0], ids[1], ids[2]], "threshold": 2 }
    });
    // A committee of someone absent, a threshold above its size, a named verifiable poll.
    for bad in [
        json!({ "committee": [ids[0], "p-nobody"], "threshold": 2 }),
        json!({ "committee": [ids[0], ids[1]], "threshold": 3 }),
    ] {
        let mut s = spec.clone();
        s["verifiable"] = bad;
        expect_error(&m, "poll_create", json!({ "poll": s }), "bad_request").await;
    }
    let mut named = spec.clone();
    named["secret"] = json!(false);
    expect_error(&m, "poll_create", json!({ "poll": named }), "bad_request").await;

    let id = create(&m, spec).await;
    let view = poll_of(&m, &id).await;
    assert_eq!(view["verifiable"]["dkg"]["round"], "keys");
    assert_eq!(view["verifiable"]["threshold"], 2);
    expect_error(&m, "poll_open", json!({ "poll_id": id }), "dkg_incomplete").await;

    // Round 1: keys. Someone off the committee, a key under another index: refused.
    let (_, stranger) = DkgKeyPair::generate(&id, 2, 1, &ids[3], &mut rng);
    expect_error(
        &clients[3],
        "dkg_key",
        json!({ "poll_id": id, "key": stranger }),
        "forbidden",
    )
    .await;
    let mut members: Vec<Member> = ids[..3]
        .iter()
        .map(|id| Member {
            id: id.clone(),
            key: None,
            dealer: None,
            share: None,
        })
        .collect();
    let (_, misnumbered) = DkgKeyPair::generate(&id, 2, 2, &ids[0], &mut rng);
    expect_error(
        &clients[0],
        "dkg_key",
        json!({ "poll_id": id, "key": misnumbered }),
        "bad_request",
    )
    .await;
    let (_, other_poll) = DkgKeyPair::generate("poll-other", 2, 1, &ids[0], &mut rng);
    expect_error(
        &clients[0],
        "dkg_key",
        json!({ "poll_id": id, "key": other_poll }),
        "bad_key_proof",
    )
    .await;
    for (i, member) in members.iter_mut().enumerate() {
        let index = u32::try_from(i + 1).unwrap();
        let (k, public) = DkgKeyPair::generate(&id, 2, index, &member.id, &mut rng);
        member.key = Some(k);
        clients[i]
            .request("dkg_key", json!({ "poll_id": id, "key": public }))
            .await
            .unwrap();
    }
    // Round 2: each member deals to the others (shares encrypted to their keys).
    for (i, member) in members.iter_mut().enumerate() {
        let transcript = dkg_round(&mut clients[i], "dealings").await;
        let committee = transcript.committee().unwrap();
        let (dealing, secret) = deal(&committee, member.key.as_ref().unwrap(), &mut rng).unwrap();
        member.dealer = Some(secret);
        clients[i]
            .request("dkg_deal", json!({ "poll_id": id, "dealing": dealing }))
            .await
            .unwrap();
    }
    // Round 3: every share checks out: no complaints; then the key generation is done.
    for (i, member) in members.iter().enumerate() {
        let transcript = dkg_round(&mut clients[i], "complaints").await;
        let committee = transcript.committee().unwrap();
        let me = member.key.as_ref().unwrap();
        let complaints: Vec<Complaint> = transcript
            .dealings
            .iter()
            .filter(|d| d.dealer != me.index() && open_share(&committee, me, d).is_err())
            .map(|d| Complaint {
                complainer: me.index(),
                dealer: d.dealer,
            })
            .collect();
        assert!(complaints.is_empty());
        clients[i]
            .request(
                "dkg_complain",
                json!({ "poll_id": id, "complaints": complaints }),
            )
            .await
            .unwrap();
    }
    for (i, member) in members.iter_mut().enumerate() {
        let transcript = dkg_round(&mut clients[i], "done").await;
        member.share = Some(
            trustee_share(
                &transcript,
                member.key.as_ref().unwrap(),
                member.dealer.as_ref().unwrap(),
            )
            .unwrap(),
        );
    }
    let view = poll_of(&m, &id).await;
    assert_eq!(view["verifiable"]["dkg"]["round"], "done");
    assert!(view["verifiable"]["election_key"].is_string());

    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    let (export, poll) = board_poll(&clients[0], &id).await;
    assert_eq!(export.entries.len(), 1);
    for holder in &ids {
        assert!(
            export.roll.right(holder).is_some(),
            "every present voter's right"
        );
    }
    let carried = export
        .roll
        .rights
        .iter()
        .find(|r| r.holder == ids[4])
        .unwrap();
    assert_eq!(carried.proxy.as_deref(), Some(ids[3].as_str()));
    expect_error(
        &clients[0],
        "cast_vote",
        json!({ "poll_id": id, "choice": { "select": [0] } }),
        "bad_request",
    )
    .await;

    // Ballots: (client, on behalf of, weight, choice). A: Anna+Ben, B: Cem, C: Anna,
    // D (3): Ben+Cem, E through D: no to all.
    let seeds: Vec<[u8; 32]> = (0..5u8).map(|i| [100 + i; 32]).collect();
    let cast = |c: usize, behalf: Option<&str>, ballot: &plenum_ballot_crypto::ballot::Ballot| {
        let mut args = json!({ "poll_id": id, "credential": ballot.credential, "ballot": ballot });
        if let Some(h) = behalf {
            args["on_behalf_of"] = json!(h);
        }
        (c, args)
    };
    let encrypt = |seed: &[u8; 32], choices: &[Vec<bool>], rng: &mut ChaCha20Rng| {
        encrypt_ballot(&poll, &Credential::from_seed(seed), choices, rng)
            .unwrap()
            .0
    };
    let a = encrypt(&seeds[0], &choice(&[0, 1], false), &mut rng);

    // Bad input first: each refused with its code, counted, nothing on the board.
    let stranger_credential = Credential::from_seed(&[7; 32]).public();
    let mut broken = a.clone();
    broken.questions[0].options[1].proof[0].z.0[3] ^= 1;
    let mut wrong_poll = a.clone();
    wrong_poll.poll_id = "poll-other".into();
    let refusals = [
        (
            json!({ "poll_id": id, "credential": a.credential, "ballot": broken }),
            "bad_option_proof",
        ),
        (
            json!({ "poll_id": id, "credential": a.credential, "ballot": wrong_poll }),
            "wrong_poll",
        ),
        (
            json!({ "poll_id": id, "credential": "zz", "ballot": a }),
            "malformed",
        ),
        (
            json!({ "poll_id": id, "credential": a.credential, "ballot": { "poll_id": id } }),
            "malformed",
        ),
        (
            json!({ "poll_id": id, "credential": stranger_credential, "ballot": a }),
            "unknown_credential",
        ),
    ];
    for (args, code) in &refusals {
        expect_error(&clients[0], "cast_ballot", args.clone(), code).await;
    }
    expect_error(
        &clients[0],
        "cast_ballot",
        json!({ "poll_id": id, "credential": a.credential, "ballot": a, "on_behalf_of": ids[4] }),
        "not_eligible",
    )
    .await;
    assert_eq!(board(&m, &id).await.entries.len(), 1, "nothing appended");
    assert_eq!(poll_of(&m, &id).await["voted"], 0);

    let mut trackers = Vec::new();
    let (c, args) = cast(0, None, &a);
    let r = clients[c].request("cast_ballot", args).await.unwrap();
    assert_eq!(r["tracker"], json!(a.tracker()));
    assert_eq!(r["index"], 2, "header, registration, ballot");
    trackers.push(a.tracker());
    // The same ballot again: the right is used; from another right: its credential is.
    let (_, args) = cast(0, None, &a);
    expect_error(&clients[0], "cast_ballot", args.clone(), "already_voted").await;
    expect_error(&clients[1], "cast_ballot", args, "credential_registered").await;

    let b = encrypt(&seeds[1], &choice(&[2], false), &mut rng);
    let (c, args) = cast(1, None, &b);
    clients[c].request("cast_ballot", args).await.unwrap();
    trackers.push(b.tracker());

    // The server dies (SIGKILL) mid-ballot and comes back: every acknowledged ballot is on
    // the board, the board checks out again, voting goes on.
    server.restart();
    let (m, _) = join(&server, &server.token(0)).await;
    let mut clients = Vec::new();
    for t in &tokens {
        clients.push(join(&server, t).await.0);
    }
    let after = board(&m, &id).await;
    assert_eq!(after.entries.len(), 5);
    for t in &trackers {
        assert!(
            after
                .entries
                .iter()
                .any(|e| matches!(&e.entry, Entry::Ballot(b) if b.tracker() == *t))
        );
    }
    let (_, args) = cast(1, None, &b);
    expect_error(&clients[1], "cast_ballot", args, "already_voted").await;

    let cc = encrypt(&seeds[2], &choice(&[0], false), &mut rng);
    let d = encrypt(&seeds[3], &choice(&[1, 2], false), &mut rng);
    let e = encrypt(&seeds[4], &choice(&[], true), &mut rng);
    for (c, behalf, ballot) in [
        (2, None, &cc),
        (3, None, &d),
        (3, Some(ids[4].as_str()), &e),
    ] {
        let (c, args) = cast(c, behalf, ballot);
        clients[c].request("cast_ballot", args).await.unwrap();
        trackers.push(ballot.tracker());
    }
    let view = poll_of(&m, &id).await;
    assert_eq!(view["voted"], 5);
    assert_eq!(view["verifiable"]["board"]["entries"], 11);

    // Committee member C leaves before the tally; A and B remain (t = 2).
    clients[2].request("leave", json!({})).await.ok();
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    let closed = board(&m, &id).await;
    let Entry::Closed(c) = &closed.entries[11].entry else {
        panic!("closed after the last ballot");
    };
    assert_eq!(c.rejected_ballots, 6, "five bad ballots and one replay");
    assert_eq!(c.participation.len(), 5);
    assert!(view.get("result").is_none());
    let tallied = Board::restore(&closed, 0).unwrap();
    let sums = tallied.tally_ciphertexts().unwrap().to_vec();
    expect_error(&m, "poll_publish", json!({ "poll_id": id }), "bad_request").await;

    // A decryption by someone off the committee, or with a broken proof: refused.
    let pd_a = partial_decrypt(&poll, &sums, members[0].share.as_ref().unwrap(), &mut rng).unwrap();
    expect_error(
        &clients[3],
        "dkg_decrypt",
        json!({ "poll_id": id, "partial": pd_a }),
        "forbidden",
    )
    .await;
    let mut bad_pd = pd_a.clone();
    bad_pd.factors[0][1].proof.z.0[0] ^= 1;
    let answer = clients[0]
        .request_raw("dkg_decrypt", json!({ "poll_id": id, "partial": bad_pd }))
        .await
        .unwrap();
    assert_eq!(answer["ok"], json!(false));
    assert!(
        answer["error"]["code"]
            .as_str()
            .unwrap()
            .starts_with("bad_"),
        "{answer}"
    );
    clients[0]
        .request("dkg_decrypt", json!({ "poll_id": id, "partial": pd_a }))
        .await
        .unwrap();
    let view = poll_of(&m, &id).await;
    assert_eq!(view["verifiable"]["decryption"]["valid"], 1);
    assert!(view.get("result").is_none(), "one of two");
    let pd_b = partial_decrypt(&poll, &sums, members[1].share.as_ref().unwrap(), &mut rng).unwrap();
    clients[1]
        .request("dkg_decrypt", json!({ "poll_id": id, "partial": pd_b }))
        .await
        .unwrap();

    // The result: Anna 2, Ben 4, Cem 4 of weight 7 (A, B, C, D ×3; E's 1 said no to all).
    let view = poll_of(&m, &id).await;
    let yes: Vec<u64> = view["result"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["counts"]["yes"].as_u64().unwrap())
        .collect();
    assert_eq!(yes, vec![2, 4, 4], "{view}");
    assert!(poll_of(&clients[0], &id).await.get("result").is_none());
    m.request("poll_publish", json!({ "poll_id": id }))
        .await
        .unwrap();
    let published = poll_of(&clients[0], &id).await;
    assert_eq!(published["result"], view["result"]);

    // The export verifies with plenum-verify; a byte flipped in any ballot fails it.
    let export = board(&clients[3], &id).await;
    assert_eq!(export.entries.len(), 16);
    let dir = std::env::temp_dir().join(format!("plenum-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("board.json");
    std::fs::write(&good, export.to_json()).unwrap();
    let out = plenum_verify(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = hex_of(&export.entries.last().unwrap().hash.0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&head));
    let mut flipped: Value = serde_json::from_str(&export.to_json()).unwrap();
    let ballot = flipped["entries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["entry"]["kind"] == "ballot")
        .unwrap();
    let sig = ballot["entry"]["signature"].as_str().unwrap().to_owned();
    let flipped_sig = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    ballot["entry"]["signature"] = json!(flipped_sig);
    let bad = dir.join("flipped.json");
    std::fs::write(&bad, flipped.to_string()).unwrap();
    let out = plenum_verify(&bad);
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);

    // The minutes' record cites the board's head.
    let record = dump_database(&server.data_dir.join("plenum.db"));
    let mut everything = String::new();
    for (table, columns, rows) in &record {
        everything.push_str(&format!("{table} {columns:?}\n"));
        for row in rows {
            everything.push_str(&row.join("|"));
            everything.push('\n');
        }
    }
    let log = server.log();
    // No key share, no credential secret, in the database or the log.
    for member in &members {
        let share = hex_of(&member.share.as_ref().unwrap().to_bytes().0);
        assert!(
            !contains(&everything, &share),
            "a key share in the database"
        );
        assert!(!contains(&log, &share), "a key share in the log");
    }
    for seed in &seeds {
        let seed = hex_of(seed);
        assert!(!contains(&everything, &seed) && !contains(&log, &seed));
    }
    // What the database holds of the poll: the board (public), the key generation's public
    // record, the used rights; no table of ballots or shares.
    let tables: Vec<&str> = record.iter().map(|(t, _, _)| t.as_str()).collect();
    for t in &tables {
        assert!(
            !t.contains("share") && !t.contains("ballot") && !t.contains("choice"),
            "table {t}"
        );
    }
    assert!(!contains(&log, "\"ballot\""), "no ballot in the log");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

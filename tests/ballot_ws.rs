//! Secret ballots over a real WebSocket against a running `plenum` with its SQLite file:
//! one counted vote per right (also from two devices, after a restart, and with 150 voters
//! at once), typed refusals that change nothing, delegation, named polls, the audit chain —
//! and an inspection of the whole database and the server log after a secret poll.
#![allow(clippy::unwrap_used)]

mod common;

use common::polls::{counts, create, dump_database, motion, poll_of, vote};
use common::{expect_error, join};

use std::time::{Duration, Instant};

use plenum_loadtest::SignalClient;
use serde_json::{Value, json};

/// A refused `cast_vote` of `choice` in poll `id`.
async fn expect_cast_error(c: &SignalClient, id: &str, choice: Value, code: &str) {
    expect_error(
        c,
        "cast_vote",
        json!({ "poll_id": id, "choice": choice }),
        code,
    )
    .await;
}

#[tokio::test]
async fn a_secret_motion_counts_each_right_once_and_links_no_voter_to_a_choice() {
    let server = common::TestServer::start_logged();
    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, d1_joined) = join(&server, &server.token(1)).await;
    let (d2, d2_joined) = join(&server, &server.token(2)).await;
    let d3_token = server.invite("Delegierte C", "delegate", &[]);
    let (d3, d3_joined) = join(&server, &d3_token).await;
    let guest_token = server.invite("Gast", "guest_speaker", &[]);
    let (guest, _) = join(&server, &guest_token).await;
    let voter_ids: Vec<String> = [&d1_joined, &d2_joined, &d3_joined]
        .iter()
        .map(|j| j["participant"]["id"].as_str().unwrap().to_owned())
        .collect();

    let id = create(&m, motion(true)).await;
    expect_cast_error(&d1, &id, json!({ "vote": "yes" }), "poll_not_open").await;
    expect_error(&d1, "poll_open", json!({ "poll_id": id }), "forbidden").await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    expect_error(&m, "poll_open", json!({ "poll_id": id }), "bad_request").await;

    // Refusals are typed and change nothing.
    expect_cast_error(&guest, &id, json!({ "vote": "yes" }), "forbidden").await;
    expect_cast_error(&d1, &id, json!({ "select": [0] }), "invalid_choice").await;
    expect_cast_error(&d1, &id, json!({ "vote": "maybe" }), "bad_request").await;
    expect_error(
        &d1,
        "cast_vote",
        json!({ "poll_id": "poll-nope", "choice": { "vote": "yes" } }),
        "not_found",
    )
    .await;
    let late_token = server.invite("Zu spät", "delegate", &[]);
    let (late, _) = join(&server, &late_token).await;
    expect_cast_error(&late, &id, json!({ "vote": "yes" }), "not_eligible").await;
    assert_eq!(poll_of(&m, &id).await["voted"], 0);

    // One vote each; a second device of the same member cannot vote again.
    let r1 = vote(&d1, &id, json!({ "vote": "yes" })).await;
    expect_cast_error(&d1, &id, json!({ "vote": "no" }), "already_voted").await;
    let (d1_phone, _) = join(&server, &server.token(1)).await;
    expect_cast_error(&d1_phone, &id, json!({ "vote": "no" }), "already_voted").await;
    let r2 = vote(&d2, &id, json!({ "vote": "no" })).await;
    let r3 = vote(&d3, &id, json!({ "vote": "yes" })).await;

    // While open: only the count, no result.
    let open_view = poll_of(&d2, &id).await;
    assert_eq!(open_view["voted"], 3);
    assert_eq!(open_view["eligible_voters"], 3);
    assert!(open_view.get("result").is_none());

    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    assert!(
        poll_of(&d2, &id).await.get("result").is_none(),
        "not yet published"
    );
    assert_eq!(
        counts(&poll_of(&m, &id).await),
        (2, 1, 0),
        "moderators see it closed"
    );
    expect_cast_error(&d3, &id, json!({ "vote": "no" }), "poll_not_open").await;
    m.request("poll_publish", json!({ "poll_id": id }))
        .await
        .unwrap();
    let published = poll_of(&d2, &id).await;
    assert_eq!(counts(&published), (2, 1, 0));
    assert_eq!(published["result"]["accepted"], true);
    assert!(published.get("votes").is_none(), "secret: no names");
    let receipts = d1_phone
        .request("poll_receipts", json!({ "poll_id": id }))
        .await
        .unwrap();
    let receipts: Vec<&str> = receipts["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for r in [&r1, &r2, &r3] {
        assert!(receipts.contains(&r.as_str()), "receipt {r} counted");
    }

    // The audit chain holds created, opened, closed, published and verifies.
    let audit = m.request("audit_export", json!({})).await.unwrap();
    assert_eq!(audit["valid"], true);
    let events: Vec<String> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e["event"].as_str().unwrap()).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(events, vec!["created", "opened", "closed", "published"]);

    // The whole database: no row holds both a voter id and a choice, ballots have no voter,
    // no time and no order column; the log names neither voters nor receipts.
    let dump = dump_database(&server.data_dir.join("plenum.db"));
    let choices = ["\"yes\"", "\"no\""];
    for (table, cols, rows) in &dump {
        for row in rows {
            let line = row.join(" | ");
            let has_voter = voter_ids.iter().any(|v| line.contains(v.as_str()));
            let has_choice = choices.iter().any(|c| line.contains(c)) && line.contains("vote");
            assert!(
                !(has_voter && has_choice),
                "{table} links a voter to a choice: {line}"
            );
        }
        assert_ne!(table, "ballots", "no table of ballots");
        if table == "poll_receipts" {
            assert_eq!(cols, &["poll_id", "receipt"], "receipts stand alone");
            assert_eq!(rows.len(), 3);
        }
        if table == "named_votes" {
            assert!(rows.is_empty(), "a secret poll records no names");
        }
        if table == "poll_rights" {
            assert!(
                cols.iter()
                    .all(|c| !c.contains("at") && !c.contains("time")),
                "no time in poll_rights: {cols:?}"
            );
        }
    }
    let log = server.log();
    assert!(log.contains("poll closed"), "the log is being written");
    for secret in voter_ids.iter().chain([&r1, &r2, &r3]) {
        assert!(!log.contains(secret.as_str()), "the log mentions {secret}");
    }
    drop((d1, d2, d3, guest, late, d1_phone));
}

#[tokio::test]
async fn named_polls_record_who_chose_what() {
    let server = common::TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, d1_joined) = join(&server, &server.token(1)).await;
    let (d2, _) = join(&server, &server.token(2)).await;
    let id = create(&m, motion(false)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    vote(&d1, &id, json!({ "vote": "abstain" })).await;
    vote(&d2, &id, json!({ "vote": "no" })).await;
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    m.request("poll_publish", json!({ "poll_id": id }))
        .await
        .unwrap();
    let poll = poll_of(&d2, &id).await;
    let votes = poll["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 2);
    assert!(votes.contains(&json!({
        "participant_id": d1_joined["participant"]["id"],
        "choice": { "vote": "abstain" }
    })));
    assert_eq!(poll["result"]["accepted"], false);
}

#[tokio::test]
async fn an_election_with_a_delegated_vote() {
    let server = common::TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, d1_joined) = join(&server, &server.token(1)).await;
    let (d2, d2_joined) = join(&server, &server.token(2)).await;
    let d1_id = d1_joined["participant"]["id"].clone();
    let d2_id = d2_joined["participant"]["id"].clone();
    expect_error(
        &d1,
        "set_proxy",
        json!({ "proxy_id": d1_id }),
        "bad_request",
    )
    .await;
    d1.request("set_proxy", json!({ "proxy_id": d2_id }))
        .await
        .unwrap();
    expect_error(
        &d2,
        "set_proxy",
        json!({ "proxy_id": d1_id }),
        "bad_request",
    )
    .await;

    let id = create(
        &m,
        json!({
            "title": "Wahl des Vorstands", "kind": "election",
            "candidates": ["Anna", "Ben", "Cem"],
            "method": { "type": "choose", "k": 1, "global_no": true },
            "majority": { "rule": "simple" }
        }),
    )
    .await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    let view = poll_of(&d2, &id).await;
    assert_eq!(
        view["my_rights"].as_array().unwrap().len(),
        2,
        "own + delegated"
    );
    expect_cast_error(&d1, &id, json!({ "select": [0] }), "not_eligible").await;
    expect_cast_error(&d2, &id, json!({ "select": [0, 1] }), "invalid_choice").await;
    expect_cast_error(&d2, &id, json!({ "global": "abstain" }), "invalid_choice").await;
    vote(&d2, &id, json!({ "select": [1] })).await;
    d2.request(
        "cast_vote",
        json!({ "poll_id": id, "choice": { "select": [1] }, "on_behalf_of": d1_id }),
    )
    .await
    .unwrap();
    expect_error(
        &d2,
        "cast_vote",
        json!({ "poll_id": id, "choice": { "global": "no" }, "on_behalf_of": d1_id }),
        "already_voted",
    )
    .await;
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    let poll = poll_of(&m, &id).await;
    assert_eq!(poll["result"]["participation"]["ballots"], 2);
    assert_eq!(poll["result"]["elected"], json!([1]), "Ben");
}

#[tokio::test]
async fn a_restart_during_an_open_poll_loses_no_vote_and_allows_no_second() {
    let mut server = common::TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, _) = join(&server, &server.token(1)).await;
    let (_d2, _) = join(&server, &server.token(2)).await;
    let id = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    vote(&d1, &id, json!({ "vote": "yes" })).await;

    // SIGKILL right after the acknowledgement: the vote must already be on disk.
    server.restart();

    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, _) = join(&server, &server.token(1)).await;
    let (d2, _) = join(&server, &server.token(2)).await;
    let poll = poll_of(&m, &id).await;
    assert_eq!(poll["state"], "open");
    assert_eq!(poll["voted"], 1);
    expect_cast_error(&d1, &id, json!({ "vote": "no" }), "already_voted").await;
    vote(&d2, &id, json!({ "vote": "yes" })).await;
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    assert_eq!(counts(&poll_of(&m, &id).await), (2, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_fifty_voters_at_once_all_count_exactly() {
    const VOTERS: usize = 150;
    let server = common::TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let tokens = server.invite_many("Delegierte", "delegate", VOTERS);
    assert_eq!(tokens.len(), VOTERS);
    let voters = common::join_each(&server, &tokens).await;
    let id = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    assert_eq!(poll_of(&m, &id).await["eligible_voters"], VOTERS);

    // Everyone casts at the same moment; every third votes no, every fifth abstains.
    let choice = |i: usize| match (i % 3, i % 5) {
        (0, _) => "no",
        (_, 0) => "abstain",
        _ => "yes",
    };
    let started = Instant::now();
    let casts = voters.iter().enumerate().map(|(i, v)| {
        let id = id.clone();
        async move {
            let r = v
                .request(
                    "cast_vote",
                    json!({ "poll_id": id, "choice": { "vote": choice(i) } }),
                )
                .await;
            (r, Instant::now())
        }
    });
    let results = futures_util::future::join_all(casts).await;
    let elapsed = started.elapsed();
    let mut receipts_in_ack_order: Vec<(Instant, String)> = results
        .into_iter()
        .map(|(r, at)| (at, r.unwrap()["receipt"].as_str().unwrap().to_owned()))
        .collect();
    println!("{VOTERS} votes cast and acknowledged in {elapsed:?}");
    receipts_in_ack_order.sort();

    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    let poll = poll_of(&m, &id).await;
    let expected_no = (0..VOTERS).filter(|&i| choice(i) == "no").count() as u64;
    let expected_abstain = (0..VOTERS).filter(|&i| choice(i) == "abstain").count() as u64;
    assert_eq!(
        counts(&poll),
        (
            VOTERS as u64 - expected_no - expected_abstain,
            expected_no,
            expected_abstain
        )
    );
    assert_eq!(poll["result"]["participation"]["ballots"], VOTERS);

    // The stored order of the receipts is not the order of casting.
    let dump = dump_database(&server.data_dir.join("plenum.db"));
    let (_, _, receipts) = dump.iter().find(|(t, _, _)| t == "poll_receipts").unwrap();
    let stored: Vec<&str> = receipts.iter().map(|r| r[1].as_str()).collect();
    let acked: Vec<&str> = receipts_in_ack_order
        .iter()
        .map(|(_, r)| r.as_str())
        .collect();
    assert_eq!(stored.len(), VOTERS);
    assert_ne!(stored, acked, "ballots are stored in casting order");
    drop(voters);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

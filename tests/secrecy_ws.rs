//! Secrecy of secret ballots against a curious operator and curious participants, over a
//! real WebSocket against a running `plenum` with its SQLite file (issue 12, items 1–6):
//! - results stay with the moderators until `poll_publish`, also in `audit_export` and
//!   in events (the chain carries a commitment, the publication opens it);
//! - a copy of the data directory taken right after any vote is acknowledged, after a
//!   cancel, after a close and after a shutdown holds no WAL frames, no ballot row and no
//!   choice: a vote adds exactly one row, a bare receipt;
//! - cancelling forgets the votes and who cast them;
//! - the data directory and every database file are owner-only.
#![allow(clippy::unwrap_used)]

mod common;

use common::polls::{create, dump_database, motion, poll_of, vote};
use common::{TestServer, expect_error, join};

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use plenum_loadtest::SignalClient;
use serde_json::{Value, json};

/// What a choice looks like as JSON (`Choice` in ballot.rs): none of it may be stored.
const CHOICE_MARKERS: [&str; 4] = [
    r#""vote":"#,
    r#""select":"#,
    r#""answers":"#,
    r#""global":"#,
];

/// Copy every file of the data directory (as an operator's backup or a snapshot would).
fn snapshot(data_dir: &Path, label: &str) -> PathBuf {
    let dir = copies(data_dir).join(label);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(data_dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// Where [`snapshot`] puts its copies (removed by [`remove_copies`]).
fn copies(data_dir: &Path) -> PathBuf {
    data_dir.with_file_name(format!(
        "{}-copies",
        data_dir.file_name().unwrap().to_string_lossy()
    ))
}

fn remove_copies(data_dir: &Path) {
    let _ = std::fs::remove_dir_all(copies(data_dir));
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Rows per table of a copied database.
fn row_counts(copy: &Path) -> BTreeMap<String, usize> {
    dump_database(&copy.join("plenum.db"))
        .into_iter()
        .map(|(t, _, rows)| (t, rows.len()))
        .collect()
}

/// Everything a copy of the data directory must not reveal: WAL frames, a choice in any
/// byte of any file, a ballot table, a row linking a voter to a receipt.
fn assert_no_link(copy: &Path, voters: &[String], receipts: &[String], label: &str) {
    let wal = copy.join("plenum.db-wal");
    if wal.exists() {
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            0,
            "{label}: the WAL holds frames"
        );
    }
    for entry in std::fs::read_dir(copy).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for marker in CHOICE_MARKERS {
            assert!(
                !contains(&bytes, marker),
                "{label}: {} holds a choice ({marker})",
                path.display()
            );
        }
    }
    for (table, cols, rows) in dump_database(&copy.join("plenum.db")) {
        assert_ne!(table, "ballots", "{label}: a table of ballots");
        if table == "named_votes" {
            assert!(rows.is_empty(), "{label}: names in a secret poll");
        }
        for row in rows {
            let line = row.join(" | ");
            let receipt = receipts.iter().any(|r| line.contains(r.as_str()));
            if receipt {
                assert_eq!(
                    (table.as_str(), cols.len()),
                    ("poll_receipts", 2),
                    "{label}: a receipt stored with more than its poll: {line}"
                );
            }
            let voter = voters.iter().any(|v| line.contains(v.as_str()));
            assert!(
                !(voter && receipt),
                "{label}: {table} links a voter to a receipt: {line}"
            );
        }
    }
}

fn id_of(joined: &Value) -> String {
    joined["participant"]["id"].as_str().unwrap().to_owned()
}

/// The audit chain's `data` of the entry for `poll` and `event`.
async fn audit_data(c: &SignalClient, poll: &str, event: &str) -> Option<(String, Value)> {
    let audit = c.request("audit_export", json!({})).await.unwrap();
    assert_eq!(audit["valid"], true);
    audit["entries"].as_array().unwrap().iter().find_map(|e| {
        let text = e["event"].as_str().unwrap().to_owned();
        let v: Value = serde_json::from_str(&text).unwrap();
        (v["poll_id"] == poll && v["event"] == event).then(|| (text, v["data"].clone()))
    })
}

#[tokio::test]
async fn results_stay_with_the_moderators_until_published() {
    let server = TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, _) = join(&server, &server.token(1)).await;
    let (d2, _) = join(&server, &server.token(2)).await;
    let observer_token = server.invite("Presse", "observer", &[]);
    let (mut observer, _) = join(&server, &observer_token).await;

    let id = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    vote(&d1, &id, json!({ "vote": "yes" })).await;
    vote(&d2, &id, json!({ "vote": "yes" })).await;
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    assert_eq!(
        poll_of(&m, &id).await["result"]["accepted"],
        true,
        "moderators see it"
    );

    // Observers and delegates: no result in the list, the events or the audit chain.
    for c in [&observer, &d1] {
        assert!(poll_of(c, &id).await.get("result").is_none());
        let (text, data) = audit_data(c, &id, "closed").await.unwrap();
        for leak in ["counts", "accepted", "passed", "questions", "elected"] {
            assert!(
                !text.contains(leak),
                "the closed entry shows {leak}: {text}"
            );
        }
        assert_eq!(data["voted"], 2);
        assert_eq!(data["result_commitment"].as_str().unwrap().len(), 64);
        assert!(audit_data(c, &id, "published").await.is_none());
    }
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(5), observer.next_event("poll_changed"))
            .await
            .unwrap()
            .unwrap();
        assert!(
            ev["poll"].get("result").is_none(),
            "an event shows it: {ev}"
        );
        if ev["poll"]["state"] == "closed" {
            break;
        }
    }
    expect_error(
        &observer,
        "poll_receipts",
        json!({ "poll_id": id }),
        "bad_request",
    )
    .await;

    // Publication opens the commitment.
    m.request("poll_publish", json!({ "poll_id": id }))
        .await
        .unwrap();
    let (_, closed) = audit_data(&observer, &id, "closed").await.unwrap();
    let (_, published) = audit_data(&observer, &id, "published").await.unwrap();
    let result = published["result"].as_str().unwrap();
    let nonce = published["nonce"].as_str().unwrap();
    assert_eq!(
        plenum_signalling::storage::result_commitment(nonce, result),
        closed["result_commitment"].as_str().unwrap(),
        "the published result is the one committed at close"
    );
    let result: Value = serde_json::from_str(result).unwrap();
    assert_eq!(result["accepted"], true);
    assert_eq!(poll_of(&observer, &id).await["result"], result);
}

#[tokio::test]
async fn copies_of_the_data_directory_never_link_a_voter_to_a_choice() {
    let mut server = TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, d1_joined) = join(&server, &server.token(1)).await;
    let (d2, d2_joined) = join(&server, &server.token(2)).await;
    let d3_token = server.invite("Delegierte C", "delegate", &[]);
    let (d3, d3_joined) = join(&server, &d3_token).await;
    let voters = vec![id_of(&d1_joined), id_of(&d2_joined), id_of(&d3_joined)];
    // A unique weight: Delegierte A carries 3 votes.
    m.request(
        "set_grants",
        json!({ "participant_id": voters[0], "vote_weight": 3 }),
    )
    .await
    .unwrap();

    let id = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    let mut receipts = Vec::new();
    let mut before = row_counts(&snapshot(&server.data_dir, "open"));
    for (i, (c, choice)) in [(&d1, "yes"), (&d2, "no"), (&d3, "abstain")]
        .into_iter()
        .enumerate()
    {
        receipts.push(vote(c, &id, json!({ "vote": choice })).await);
        // Right after the acknowledgement: the worst moment for a copy.
        let copy = snapshot(&server.data_dir, &format!("vote-{i}"));
        assert_no_link(&copy, &voters, &receipts, &format!("after vote {i}"));
        let after = row_counts(&copy);
        let grown: Vec<(&String, usize)> = after
            .iter()
            .filter(|(t, n)| before.get(*t) != Some(n))
            .map(|(t, n)| (t, n - before.get(t).copied().unwrap_or(0)))
            .collect();
        assert_eq!(
            grown,
            vec![(&"poll_receipts".to_owned(), 1)],
            "a vote adds one bare receipt and nothing else"
        );
        before = after;
    }
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    let copy = snapshot(&server.data_dir, "closed");
    assert_no_link(&copy, &voters, &receipts, "after close");

    // Cancelling an open poll forgets its votes and who cast them (docs/ballot.md).
    let cancelled = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": cancelled }))
        .await
        .unwrap();
    let mut cancelled_receipts = Vec::new();
    for (c, choice) in [(&d1, "no"), (&d3, "yes")] {
        cancelled_receipts.push(vote(c, &cancelled, json!({ "vote": choice })).await);
    }
    m.request("poll_cancel", json!({ "poll_id": cancelled }))
        .await
        .unwrap();
    let view = poll_of(&d1, &cancelled).await;
    assert_eq!(view["state"], "cancelled");
    assert_eq!(view["voted"], 0, "no voted marks survive");
    assert_eq!(view["my_rights"], json!([]));
    let (_, data) = audit_data(&m, &cancelled, "cancelled").await.unwrap();
    assert_eq!(data["voted"], 2, "the chain keeps how many had voted");
    let copy = snapshot(&server.data_dir, "cancelled");
    let all: Vec<String> = receipts
        .iter()
        .chain(&cancelled_receipts)
        .cloned()
        .collect();
    assert_no_link(&copy, &voters, &all, "after cancel");
    for entry in std::fs::read_dir(&copy).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for r in &cancelled_receipts {
            assert!(!contains(&bytes, r), "a cancelled receipt survives on disk");
        }
    }
    let dump = dump_database(&copy.join("plenum.db"));
    for (table, _, rows) in &dump {
        if ["poll_rights", "poll_tally", "poll_receipts"].contains(&table.as_str()) {
            assert!(
                rows.iter().all(|r| r[0] != cancelled),
                "{table} keeps rows of the cancelled poll"
            );
        }
    }

    // An open poll at shutdown: the files the server leaves behind hold no trail either.
    let open = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": open }))
        .await
        .unwrap();
    let last = vote(&d2, &open, json!({ "vote": "yes" })).await;
    m.request("request_floor", json!({})).await.unwrap();
    server.terminate();
    let copy = snapshot(&server.data_dir, "shutdown");
    let all: Vec<String> = all.into_iter().chain([last]).collect();
    assert_no_link(&copy, &voters, &all, "after shutdown");
    remove_copies(&server.data_dir);
    drop((d1, d2, d3));
}

#[tokio::test]
async fn the_data_directory_and_database_files_are_owner_only() {
    let server = TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, _) = join(&server, &server.token(1)).await;
    let id = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    vote(&d1, &id, json!({ "vote": "yes" })).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // The test harness created the directory 0755; the server tightened it.
    assert_eq!(mode(&server.data_dir), 0o700, "data directory");
    for f in [
        "plenum.db",
        "plenum.db-wal",
        "plenum.db-shm",
        "token.key",
        "tls/key.pem",
    ] {
        assert_eq!(mode(&server.data_dir.join(f)), 0o600, "{f}");
    }
}

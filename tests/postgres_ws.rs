//! Secret ballots against a running `plenum` on PostgreSQL (`[database] url`), over a real
//! WebSocket, each test on a fresh database of its own (scripts/pg-test.sh starts the
//! server; without one these tests fail where PostgreSQL is required, e.g. in CI):
//! - durable before acknowledged: SIGKILL right after a vote's acknowledgement, restart, the
//!   vote is there and cannot be repeated;
//! - secrecy: a dump of every table right after each acknowledged vote and after the close
//!   links no voter to a choice or a receipt, a vote adds one bare receipt, and after the
//!   close the rows' transaction ids and physical order no longer order the votes;
//! - 150 voters at once count exactly;
//! - `plenum backup` and `restore` point to PostgreSQL's own tools.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::pg::PgDatabase;
use common::polls::{counts, create, motion, poll_of, vote};
use common::{TestServer, expect_error, join};
use serde_json::{Value, json};

/// What a choice looks like as JSON (`Choice` in ballot.rs): none of it may be stored.
const CHOICE_MARKERS: [&str; 4] = [
    r#""vote":"#,
    r#""select":"#,
    r#""answers":"#,
    r#""global":"#,
];

fn id_of(joined: &Value) -> String {
    joined["participant"]["id"].as_str().unwrap().to_owned()
}

fn row_counts(db: &PgDatabase) -> BTreeMap<String, usize> {
    db.dump()
        .into_iter()
        .map(|(t, _, rows)| (t, rows.len()))
        .collect()
}

/// No table holds a ballot, a choice, names in a secret poll, or a row with a voter and a
/// receipt; receipts stand alone.
fn assert_no_link(db: &PgDatabase, voters: &[String], receipts: &[String], label: &str) {
    for (table, cols, rows) in db.dump() {
        assert_ne!(table, "ballots", "{label}: a table of ballots");
        if table == "named_votes" {
            assert!(rows.is_empty(), "{label}: names in a secret poll");
        }
        if table == "poll_receipts" {
            assert_eq!(
                cols,
                ["poll_id", "receipt"],
                "{label}: receipts stand alone"
            );
        }
        for row in rows {
            let line = row.join(" | ");
            for marker in CHOICE_MARKERS {
                assert!(
                    !line.contains(marker),
                    "{label}: {table} holds a choice: {line}"
                );
            }
            let voter = voters.iter().any(|v| line.contains(v.as_str()));
            let receipt = receipts.iter().any(|r| line.contains(r.as_str()));
            assert!(
                !(voter && receipt),
                "{label}: {table} links a voter to a receipt: {line}"
            );
        }
    }
}

#[tokio::test]
async fn a_restart_during_an_open_poll_loses_no_vote_and_allows_no_second() {
    let Some(mut server) = TestServer::start_postgres() else {
        return;
    };
    assert!(
        !server.data_dir.join("plenum.db").exists(),
        "no SQLite database beside PostgreSQL"
    );
    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, _) = join(&server, &server.token(1)).await;
    let (_d2, _) = join(&server, &server.token(2)).await;
    let id = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    vote(&d1, &id, json!({ "vote": "yes" })).await;

    // SIGKILL right after the acknowledgement: the vote must already be committed.
    server.restart();

    let (m, _) = join(&server, &server.token(0)).await;
    let (d1, _) = join(&server, &server.token(1)).await;
    let (d2, _) = join(&server, &server.token(2)).await;
    let poll = poll_of(&m, &id).await;
    assert_eq!(poll["state"], "open");
    assert_eq!(poll["voted"], 1);
    expect_error(
        &d1,
        "cast_vote",
        json!({ "poll_id": id, "choice": { "vote": "no" } }),
        "already_voted",
    )
    .await;
    vote(&d2, &id, json!({ "vote": "yes" })).await;
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    assert_eq!(counts(&poll_of(&m, &id).await), (2, 0, 0));
}

#[tokio::test]
async fn no_table_links_a_voter_to_a_choice_and_the_close_erases_the_order() {
    let Some(server) = TestServer::start_postgres() else {
        return;
    };
    let db = server.pg.as_ref().unwrap();
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
    let mut before = row_counts(db);
    for (i, (c, choice)) in [(&d1, "yes"), (&d2, "no"), (&d3, "abstain")]
        .into_iter()
        .enumerate()
    {
        receipts.push(vote(c, &id, json!({ "vote": choice })).await);
        // Right after the acknowledgement.
        assert_no_link(db, &voters, &receipts, &format!("after vote {i}"));
        let after = row_counts(db);
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
    // While the poll is open, each vote's transaction id is in its right's and its
    // receipt's rows (docs/ballot.md, PostgreSQL) …
    let distinct_xmin = |table: &str| -> String {
        db.query(&format!(
            "SELECT count(DISTINCT xmin::text) FROM {table} WHERE poll_id = '{id}'"
        ))[0][0]
            .clone()
    };
    assert_eq!(distinct_xmin("poll_receipts"), "3");
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    assert_no_link(db, &voters, &receipts, "after close");
    // … and no longer after the close: one transaction id for all, receipts in key order.
    assert_eq!(distinct_xmin("poll_rights"), "1");
    assert_eq!(distinct_xmin("poll_receipts"), "1");
    assert_eq!(distinct_xmin("poll_tally"), "1");
    let physical: Vec<String> = db
        .query(&format!(
            "SELECT receipt FROM poll_receipts WHERE poll_id = '{id}' ORDER BY ctid"
        ))
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let mut sorted = receipts.clone();
    sorted.sort();
    assert_eq!(physical, sorted);
    assert_eq!(counts(&poll_of(&m, &id).await), (3, 1, 1), "weights count");

    // Cancelling forgets the votes and who cast them.
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
    for (table, _, rows) in db.dump() {
        for row in rows {
            let line = row.join(" | ");
            assert!(
                !cancelled_receipts.iter().any(|r| line.contains(r.as_str())),
                "{table} keeps a cancelled receipt: {line}"
            );
            if ["poll_rights", "poll_tally", "poll_receipts"].contains(&table.as_str()) {
                assert_ne!(
                    row[0], cancelled,
                    "{table} keeps rows of the cancelled poll"
                );
            }
        }
    }
    drop((d1, d2, d3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_fifty_voters_at_once_all_count_exactly() {
    const VOTERS: usize = 150;
    let Some(server) = TestServer::start_postgres() else {
        return;
    };
    let (m, _) = join(&server, &server.token(0)).await;
    let tokens = server.invite_many("Delegierte", "delegate", VOTERS);
    let voters = common::join_each(&server, &tokens).await;
    let id = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    let choice = |i: usize| if i.is_multiple_of(3) { "no" } else { "yes" };
    let started = Instant::now();
    let casts = voters.iter().enumerate().map(|(i, v)| {
        let id = id.clone();
        async move {
            v.request(
                "cast_vote",
                json!({ "poll_id": id, "choice": { "vote": choice(i) } }),
            )
            .await
            .unwrap()
        }
    });
    let acks = futures_util::future::join_all(casts).await;
    println!(
        "{VOTERS} votes cast and acknowledged on PostgreSQL in {:?}",
        started.elapsed()
    );
    assert_eq!(acks.len(), VOTERS);
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    let no = (0..VOTERS).filter(|&i| choice(i) == "no").count() as u64;
    assert_eq!(counts(&poll_of(&m, &id).await), (VOTERS as u64 - no, no, 0));
    drop(voters);
}

#[tokio::test]
async fn backup_and_restore_point_to_pg_dump() {
    let Some(server) = TestServer::start_postgres() else {
        return;
    };
    let file = server.data_dir.join("backup.db");
    for (cmd, tool) in [("backup", "pg_dump"), ("restore", "pg_restore")] {
        let out = server.cli_output(&[cmd, file.to_str().unwrap()]);
        assert!(!out.status.success(), "{cmd} on PostgreSQL");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(tool), "{cmd}: {err}");
    }
    assert!(!file.exists());
    // The other commands work on PostgreSQL.
    assert!(server.cli(&["unit", "list"]).contains("Bundesverband"));
}

//! `plenum backup` while the server runs and `plenum restore` after it stopped, over real
//! sockets: a backup taken in the middle of a secret ballot holds every vote acknowledged
//! before it; a restore is refused while the server runs and changes nothing; after the
//! restore the ballot goes on from the backup's moment, each right still used once.
#![allow(clippy::unwrap_used)]

mod common;

use common::polls::{counts, create, motion, poll_of, vote};
use common::{TestServer, join};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_mid_ballot_restores_every_acknowledged_vote() {
    let mut server = TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let tokens = server.invite_many("Delegierte", "delegate", 8);
    let voters = common::join_each(&server, &tokens).await;
    let id = create(&m, motion(true)).await;
    m.request("poll_open", json!({ "poll_id": id }))
        .await
        .unwrap();
    // Six votes acknowledged, then the backup, with the server running and voters connected.
    for (i, v) in voters.iter().take(6).enumerate() {
        let choice = if i < 4 { "yes" } else { "no" };
        vote(v, &id, json!({ "vote": choice })).await;
    }
    let file = server.data_dir.join("mitten-in-der-wahl.db");
    let out = server.cli_output(&["backup", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("backup written:"));
    // The operator is told what two backups during a secret poll would reveal.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: the secret poll"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second backup to the same file is refused.
    let again = server.cli_output(&["backup", file.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    // One more vote after the backup.
    vote(&voters[6], &id, json!({ "vote": "abstain" })).await;

    // While the server runs, a restore is refused and changes nothing.
    let refused = server.cli_output(&["restore", file.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("stop the server"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(poll_of(&m, &id).await["voted"], 7);

    // The disk is lost: stop, remove the database, restore the backup, start again.
    server.terminate();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(server.data_dir.join(format!("plenum.db{suffix}")));
    }
    let out = server.cli(&["restore", file.to_str().unwrap()]);
    assert!(out.contains("restored"), "{out}");
    server.restart();

    let (m, _) = join(&server, &server.token(0)).await;
    let poll = poll_of(&m, &id).await;
    assert_eq!(poll["state"], "open", "the ballot is still open");
    assert_eq!(
        poll["voted"], 6,
        "every vote acknowledged before the backup"
    );
    let voters = common::join_each(&server, &tokens).await;
    // Those six keep their used right; the seventh voted after the backup and votes again.
    common::expect_error(
        &voters[0],
        "cast_vote",
        json!({ "poll_id": id, "choice": { "vote": "no" } }),
        "already_voted",
    )
    .await;
    vote(&voters[6], &id, json!({ "vote": "abstain" })).await;
    vote(&voters[7], &id, json!({ "vote": "yes" })).await;
    m.request("poll_close", json!({ "poll_id": id }))
        .await
        .unwrap();
    assert_eq!(counts(&poll_of(&m, &id).await), (5, 2, 1));
}

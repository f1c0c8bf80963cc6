//! What one client may cost, over real sockets against a running `plenum` (issue 12, items
//! 7, 10, 11, 12): connections that never join are closed (pings do not hold them) and
//! capped; commands have a budget with a typed `rate_limited` carrying the wait; concurrent
//! joins on one token each get exactly one answer; numeric `cmd`s are bad requests; a full
//! room refuses a further participant with `room_full`, never its chair.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, join};
use plenum_loadtest::SignalClient;
use serde_json::{Value, json};

async fn connect(
    server: &TestServer,
) -> Result<SignalClient, plenum_loadtest::signal::SignalError> {
    SignalClient::connect(&server.url, &server.url, Some(&server.ca_pem())).await
}

async fn closing(c: &mut SignalClient, within: Duration) -> Value {
    tokio::time::timeout(within, c.next_event("closing"))
        .await
        .expect("closed in time")
        .expect("a closing event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_join_are_closed_and_capped() {
    let server = TestServer::start_with_env(&[
        ("PLENUM_HTTP__JOIN_TIMEOUT_SECS", "1"),
        ("PLENUM_HTTP__MAX_PENDING_CONNECTIONS", "3"),
    ]);
    let started = Instant::now();
    let mut idle = connect(&server).await.unwrap();
    let mut pinging = connect(&server).await.unwrap();
    let third = connect(&server).await.unwrap();
    // The cap: a fourth connection that has not joined is refused at the upgrade.
    assert!(connect(&server).await.is_err(), "over the cap");
    // Joining frees a place.
    third
        .request("join", json!({ "protocol": 1, "token": server.token(1) }))
        .await
        .unwrap();
    let fourth = connect(&server).await.unwrap();

    // Pings do not keep a connection that has not joined.
    let pings = tokio::spawn(async move {
        let mut answered = 0;
        for _ in 0..20 {
            if pinging.request("ping", json!({})).await.is_err() {
                break;
            }
            answered += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (
            answered,
            closing(&mut pinging, Duration::from_secs(3)).await,
        )
    });
    assert_eq!(
        closing(&mut idle, Duration::from_secs(5)).await["reason"],
        "join_timeout"
    );
    let (answered, ev) = pings.await.unwrap();
    assert_eq!(ev["reason"], "join_timeout");
    assert!(answered < 10, "pinged {answered} times before the close");
    assert!(started.elapsed() < Duration::from_secs(4));
    // The joined connection stays; its place and the closed ones are free again.
    third.request("ping", json!({})).await.unwrap();
    drop(fourth);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_again, _) = join(&server, &server.token(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_over_the_budget_are_refused_with_the_wait_and_change_nothing() {
    let server = TestServer::start_with_env(&[
        ("PLENUM_HTTP__COMMAND_BURST", "20"),
        ("PLENUM_HTTP__COMMANDS_PER_SEC", "5"),
    ]);
    let (m, _) = join(&server, &server.token(0)).await;
    let (mut watcher, _) = join(&server, &server.token(2)).await;
    let (d, _) = join(&server, &server.token(1)).await;
    let (mut accepted, mut limited) = (0, 0);
    for _ in 0..100 {
        for (cmd, args) in [
            ("request_floor", json!({})),
            ("withdraw_floor_request", json!({ "entry_id": 0 })),
        ] {
            let answer = d.request_raw(cmd, args).await.unwrap();
            match answer["error"]["code"].as_str() {
                Some("rate_limited") => {
                    limited += 1;
                    let wait = answer["error"]["retry_after_ms"].as_u64().unwrap();
                    assert!((1..=200).contains(&wait), "{answer}");
                }
                _ if cmd == "request_floor" && answer["ok"] == true => accepted += 1,
                _ => {}
            }
        }
    }
    assert!(limited >= 150, "only {limited} of 200 refused");
    assert!((1..=20).contains(&accepted), "{accepted} requests accepted");
    // Everyone else saw only what was accepted: one queue_changed per accepted request.
    m.request("ping", json!({})).await.unwrap();
    let mut seen = 0;
    while let Ok(Some(ev)) = tokio::time::timeout(
        Duration::from_millis(500),
        watcher.next_event("queue_changed"),
    )
    .await
    {
        if ev["queue"]["entries"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
        {
            seen += 1;
        }
    }
    assert_eq!(seen, accepted, "queue changes broadcast");
    // After a pause the budget is back.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    d.request("ping", json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_joins_on_one_token_each_get_exactly_one_answer() {
    let server = TestServer::start();
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(connect(&server).await.unwrap());
    }
    let token = server.token(1);
    let answers = futures_util::future::join_all(
        clients
            .iter()
            .map(|c| c.request_raw("join", json!({ "protocol": 1, "token": token }))),
    )
    .await;
    for a in &answers {
        let a = a.as_ref().expect("every join is answered");
        assert!(a["ok"].is_boolean(), "{a}");
    }
    // The replaced ones are told so, after their answer; exactly one stays in the room.
    let mut alive = 0;
    for c in &mut clients {
        match tokio::time::timeout(Duration::from_millis(1500), c.next_event("closing")).await {
            Ok(Some(ev)) => assert_eq!(ev["reason"], "replaced"),
            _ => {
                c.request("ping", json!({})).await.unwrap();
                alive += 1;
            }
        }
    }
    assert_eq!(alive, 1);
}

#[tokio::test]
async fn a_numeric_cmd_is_a_bad_request_and_runs_nothing() {
    let server = TestServer::start();
    let (c, _) = join(&server, &server.token(0)).await;
    for (id, cmd) in [(901, "5"), (902, "7"), (903, "true")] {
        let answer = c
            .request_text(
                id,
                format!(r#"{{"id":{id},"cmd":{cmd},"participant_id":null}}"#),
            )
            .await
            .unwrap();
        assert_eq!(answer["ok"], false, "{answer}");
        assert_eq!(answer["error"]["code"], "bad_request", "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_a_further_participant_but_never_its_chair() {
    let server = TestServer::start_with_env(&[("PLENUM_HTTP__MAX_ROOM_PARTICIPANTS", "3")]);
    let delegates = server.invite_many("Delegierte", "delegate", 3);
    let (_m, _) = join(&server, &server.token(0)).await;
    let (d1, _) = join(&server, &delegates[0]).await;
    let (_d2, _) = join(&server, &delegates[1]).await;
    // The fourth: refused, typed, the connection stays open and nothing changed.
    let late = connect(&server).await.unwrap();
    common::expect_error(
        &late,
        "join",
        json!({ "protocol": 1, "token": delegates[2] }),
        "room_full",
    )
    .await;
    late.request("ping", json!({})).await.unwrap();
    // A participant on a second device takes their own place, not a new one.
    let (d1_again, joined) = join(&server, &delegates[0]).await;
    assert!(joined["participant"]["id"].is_string(), "{joined}");
    // A second moderator is admitted beyond the cap.
    let chair = server.invite("Zweite Moderation", "moderator", &[]);
    let (chair_c, joined) = join(&server, &chair).await;
    assert!(joined["participant"]["id"].is_string(), "{joined}");
    // Four are in now (the chair beyond the cap); two leave: the waiting one gets in.
    chair_c.request("leave", json!({})).await.unwrap();
    d1_again.request("leave", json!({})).await.unwrap();
    drop(d1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_d3, joined) = join(&server, &delegates[2]).await;
    assert!(joined["participant"]["id"].is_string(), "{joined}");
}

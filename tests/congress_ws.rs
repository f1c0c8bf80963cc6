//! Congress control over a real WebSocket against a running `plenum`: the speaker queue's
//! rules, the lobby, live grants, removal and bans — and all of it surviving a restart.
#![allow(clippy::unwrap_used)]

mod common;

use common::{expect_error, join};

use std::time::Duration;

use plenum_loadtest::SignalClient;
use serde_json::{Value, json};

async fn event(c: &mut SignalClient, name: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(5), c.next_event(name))
        .await
        .unwrap_or_else(|_| panic!("no {name} event within 5 s"))
        .unwrap()
}

/// (participant name, kind) of the waiting entries, in speaking order.
fn order(queue: &Value) -> Vec<(String, String)> {
    queue["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The queue as a newly joining observer sees it.
async fn queue_seen_by_newcomer(server: &common::TestServer, name: &str) -> Value {
    let token = server.invite(name, "observer", &[]);
    let (c, joined) = join(server, &token).await;
    let _ = c.request("leave", json!({})).await;
    joined["queue"].clone()
}

#[tokio::test]
async fn queue_rules_lobby_grants_and_bans_over_the_wire() {
    let server = common::TestServer::start();
    let (mut m, joined) = join(&server, &server.token(0)).await;
    assert_eq!(joined["mode"], "congress");
    assert_eq!(
        joined["lobby"]["enabled"], false,
        "moderators see the lobby"
    );
    assert_eq!(joined["participant"]["grants"]["moderate"], true);
    let (b, b_joined) = join(&server, &server.token(1)).await;
    assert!(b_joined.get("lobby").is_none(), "delegates do not");
    let b_id = b_joined["participant"]["id"].clone();
    let (mut c, c_joined) = join(&server, &server.token(2)).await;
    let c_id = c_joined["participant"]["id"].clone();
    let guest_token = server.invite("Gast", "guest_speaker", &[]);
    let (guest, guest_joined) = join(&server, &guest_token).await;
    assert_eq!(guest_joined["participant"]["grants"]["vote"], false);
    let observer_token = server.invite("Presse", "observer", &[]);
    let (observer, _) = join(&server, &observer_token).await;

    // Requests in this order: contribution, point of order, question.
    b.request("request_floor", json!({})).await.unwrap();
    c.request("request_floor", json!({ "kind": "point_of_order" }))
        .await
        .unwrap();
    guest
        .request("request_floor", json!({ "kind": "question" }))
        .await
        .unwrap();
    let queue = queue_seen_by_newcomer(&server, "Neu 1").await;
    let expected = vec![
        ("Delegierte B".to_owned(), "point_of_order".to_owned()),
        ("Gast".to_owned(), "question".to_owned()),
        ("Delegierte A".to_owned(), "contribution".to_owned()),
    ];
    assert_eq!(order(&queue), expected);

    // Refusals are typed and change nothing.
    expect_error(
        &c,
        "request_floor",
        json!({ "kind": "point_of_order" }),
        "already_queued",
    )
    .await;
    expect_error(&observer, "request_floor", json!({}), "forbidden").await;
    expect_error(&b, "queue_give_floor", json!({}), "forbidden").await;
    expect_error(
        &m,
        "queue_move",
        json!({ "entry_id": 999, "position": 0 }),
        "not_found",
    )
    .await;
    expect_error(
        &m,
        "queue_set_time_limit",
        json!({ "seconds": 0 }),
        "bad_request",
    )
    .await;
    expect_error(&m, "queue_end_floor", json!({}), "bad_request").await;
    expect_error(
        &m,
        "request_floor",
        json!({ "kind": "loud" }),
        "bad_request",
    )
    .await;
    assert_eq!(
        order(&queue_seen_by_newcomer(&server, "Neu 2").await),
        expected
    );

    // The point of order gets the floor first; the speaker may end their own speech.
    m.request("queue_give_floor", json!({})).await.unwrap();
    let changed = loop {
        let ev = event(&mut m, "queue_changed").await;
        if !ev["queue"]["floor"].is_null() {
            break ev;
        }
    };
    assert_eq!(changed["queue"]["floor"]["participant_id"], c_id);
    assert_eq!(changed["queue"]["floor"]["kind"], "point_of_order");
    c.request("queue_end_floor", json!({})).await.unwrap();
    let ended = event(&mut m, "speech_ended").await;
    assert_eq!(ended["speech"]["participant_id"], c_id);
    assert_eq!(ended["speech"]["ended"], "ended");
    let history = m.request("queue_history", json!({})).await.unwrap();
    assert_eq!(history["speeches"].as_array().unwrap().len(), 1);

    // Live grants: B becomes an observer and may no longer publish or ask.
    m.request(
        "set_grants",
        json!({ "participant_id": b_id, "role": "observer" }),
    )
    .await
    .unwrap();
    expect_error(&b, "publish", json!({ "kind": "audio" }), "forbidden").await;
    expect_error(&b, "request_floor", json!({}), "forbidden").await;
    // Only admins appoint moderators.
    expect_error(
        &m,
        "set_grants",
        json!({ "participant_id": b_id, "role": "moderator" }),
        "forbidden",
    )
    .await;
    expect_error(
        &m,
        "set_grants",
        json!({ "participant_id": b_id, "vote_weight": 0 }),
        "bad_request",
    )
    .await;

    // Lobby: a newcomer waits, may only ping or leave, and is admitted.
    m.request("set_lobby", json!({ "enabled": true }))
        .await
        .unwrap();
    let waiting_token = server.invite("Wartend", "delegate", &[]);
    let (mut waiting, w_joined) = join(&server, &waiting_token).await;
    assert_eq!(w_joined["lobby"], "waiting");
    let w_id = w_joined["participant"]["id"].clone();
    expect_error(&waiting, "request_floor", json!({}), "in_lobby").await;
    expect_error(&waiting, "offer", json!({ "sdp": "v=0" }), "in_lobby").await;
    waiting.request("ping", json!({})).await.unwrap();
    let lobby = loop {
        let ev = event(&mut m, "lobby_changed").await;
        if !ev["waiting"].as_array().unwrap().is_empty() {
            break ev;
        }
    };
    assert_eq!(lobby["waiting"][0]["participant_id"], w_id);
    m.request("admit", json!({ "participant_id": w_id }))
        .await
        .unwrap();
    let admitted = event(&mut waiting, "admitted").await;
    assert_eq!(admitted["participant"]["id"], w_id);
    assert!(admitted["queue"]["entries"].is_array());
    waiting.request("request_floor", json!({})).await.unwrap();

    // Denied.
    let denied_token = server.invite("Abgelehnt", "delegate", &[]);
    let (mut denied, d_joined) = join(&server, &denied_token).await;
    m.request(
        "deny",
        json!({ "participant_id": d_joined["participant"]["id"] }),
    )
    .await
    .unwrap();
    assert_eq!(event(&mut denied, "closing").await["reason"], "denied");

    // Removed with a ban: cannot come back.
    m.request(
        "remove_participant",
        json!({ "participant_id": c_id, "ban": true }),
    )
    .await
    .unwrap();
    assert_eq!(event(&mut c, "closing").await["reason"], "removed");
    let again = SignalClient::connect(&server.url, &server.url, Some(&server.ca_pem()))
        .await
        .unwrap();
    expect_error(
        &again,
        "join",
        json!({ "protocol": 1, "token": server.token(2) }),
        "banned",
    )
    .await;
}

#[tokio::test]
async fn congress_state_survives_a_restart() {
    let mut server = common::TestServer::start();
    let (m, _) = join(&server, &server.token(0)).await;
    let (b, b_joined) = join(&server, &server.token(1)).await;
    let b_id = b_joined["participant"]["id"].clone();
    let (c, c_joined) = join(&server, &server.token(2)).await;
    let c_id = c_joined["participant"]["id"].clone();
    let guest_token = server.invite("Gast", "guest_speaker", &[]);
    let (_guest, guest_joined) = join(&server, &guest_token).await;
    let guest_id = guest_joined["participant"]["id"].clone();

    b.request("request_floor", json!({ "kind": "pro" }))
        .await
        .unwrap();
    c.request("request_floor", json!({ "kind": "contra" }))
        .await
        .unwrap();
    m.request("queue_set_time_limit", json!({ "seconds": 600 }))
        .await
        .unwrap();
    m.request("queue_give_floor", json!({})).await.unwrap();
    m.request("mute_participant", json!({ "participant_id": c_id }))
        .await
        .unwrap();
    m.request(
        "set_grants",
        json!({ "participant_id": guest_id, "speak": false }),
    )
    .await
    .unwrap();
    let before = queue_seen_by_newcomer(&server, "Vorher").await;
    m.request("set_lobby", json!({ "enabled": true }))
        .await
        .unwrap();

    server.restart();

    let (_m, m_joined) = join(&server, &server.token(0)).await;
    assert_eq!(m_joined["mode"], "congress");
    assert_eq!(m_joined["lobby"]["enabled"], true);
    let after = &m_joined["queue"];
    assert_eq!(after["floor"]["participant_id"], b_id);
    assert_eq!(after["floor"]["kind"], "pro");
    assert_eq!(
        after["floor"]["started_at_ms"],
        before["floor"]["started_at_ms"]
    );
    assert_eq!(after["floor"]["limit_ms"], 600_000);
    assert_eq!(
        order(after),
        vec![("Delegierte B".to_owned(), "contra".to_owned())]
    );
    // Known participants skip the lobby only when admitted; the demo delegates were in
    // before the lobby went on, so they wait now — the moderator does not.
    let (_c, c_again) = join(&server, &server.token(2)).await;
    assert_eq!(c_again["lobby"], "waiting");
    assert_eq!(c_again["participant"]["force_muted"], true);
    let (_g, g_again) = join(&server, &guest_token).await;
    assert_eq!(g_again["participant"]["grants"]["speak"], false);
    // The floor holder's audio is heard again as soon as they reconnect.
    let (_b, b_again) = join(&server, &server.token(1)).await;
    assert_eq!(b_again["participant"]["heard"], true);
}

#[tokio::test]
async fn the_speaking_time_runs_out_on_the_servers_clock() {
    let server = common::TestServer::start();
    let (mut m, _) = join(&server, &server.token(0)).await;
    let (b, b_joined) = join(&server, &server.token(1)).await;
    let b_id = b_joined["participant"]["id"].clone();
    m.request("queue_set_time_limit", json!({ "seconds": 1 }))
        .await
        .unwrap();
    m.request("queue_give_floor", json!({ "participant_id": b_id }))
        .await
        .unwrap();
    let heard = loop {
        let ev = event(&mut m, "participant_updated").await;
        if ev["participant"]["id"] == b_id {
            break ev;
        }
    };
    assert_eq!(
        heard["participant"]["heard"], true,
        "the floor holder is heard"
    );
    let warning = event(&mut m, "floor_warning").await;
    assert_eq!(warning["participant_id"], b_id);
    let ended = event(&mut m, "speech_ended").await;
    assert_eq!(ended["speech"]["ended"], "time_up");
    assert_eq!(ended["speech"]["duration_ms"], 1000);
    let gated = loop {
        let ev = event(&mut m, "participant_updated").await;
        if ev["participant"]["id"] == b_id {
            break ev;
        }
    };
    assert_eq!(
        gated["participant"]["heard"], false,
        "gated again at time-up"
    );
    drop(b);
}

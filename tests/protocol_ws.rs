//! The signalling protocol over a real WebSocket against a running `plenum`.
#![allow(clippy::unwrap_used)]

mod common;

use common::expect_error;

use std::time::Duration;

use plenum_loadtest::SignalClient;
use serde_json::json;

async fn client(server: &common::TestServer) -> SignalClient {
    SignalClient::connect(&server.url, &server.url, Some(&server.ca_pem()))
        .await
        .unwrap()
}

#[tokio::test]
async fn foreign_origin_is_refused_before_the_upgrade() {
    let server = common::TestServer::start();
    let err = SignalClient::connect(&server.url, "https://evil.example", Some(&server.ca_pem()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test]
async fn bad_frames_get_typed_errors_and_the_connection_stays() {
    let server = common::TestServer::start();
    let mut c = client(&server).await;
    c.send_text("this is not json".into()).unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), c.events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev["ok"], json!(false));
    assert_eq!(ev["error"]["code"], "bad_request");
    assert_eq!(ev["id"], json!(null));
    expect_error(&c, "fly", json!({}), "bad_request").await;
    expect_error(&c, "publish", json!({"kind": "smell"}), "bad_request").await;
    expect_error(&c, "offer", json!({"sdp": "v=0"}), "not_joined").await;
    // Still usable.
    assert_eq!(c.request("ping", json!({})).await.unwrap(), json!({}));
}

#[tokio::test]
async fn invalid_expired_and_wrong_version_close_the_connection() {
    let server = common::TestServer::start();
    let c = client(&server).await;
    expect_error(
        &c,
        "join",
        json!({"protocol": 1, "token": "garbage"}),
        "invalid_token",
    )
    .await;
    // The server closes after the error: further commands get no answer.
    assert!(c.request_raw("ping", json!({})).await.is_err());

    let expired = server.invite("Late", "delegate", &["--valid-hours", "0"]);
    let c = client(&server).await;
    expect_error(
        &c,
        "join",
        json!({"protocol": 1, "token": expired}),
        "token_expired",
    )
    .await;

    let c = client(&server).await;
    let token = server.token(1);
    expect_error(
        &c,
        "join",
        json!({"protocol": 2, "token": token}),
        "unsupported_version",
    )
    .await;
}

#[tokio::test]
async fn membership_events_roles_and_errors() {
    let server = common::TestServer::start();
    let mut moderator = client(&server).await;
    let joined = moderator
        .request("join", json!({"protocol": 1, "token": server.token(0)}))
        .await
        .unwrap();
    assert_eq!(joined["participant"]["role"], "moderator");
    assert_eq!(joined["room"]["id"], "demo");
    assert_eq!(joined["slots"], json!({"stage": 1, "tiles": 8, "audio": 3}));
    assert_eq!(joined["participants"], json!([]));
    expect_error(
        &moderator,
        "join",
        json!({"protocol": 1, "token": server.token(0)}),
        "already_joined",
    )
    .await;

    let delegate = client(&server).await;
    let d = delegate
        .request("join", json!({"protocol": 1, "token": server.token(1)}))
        .await
        .unwrap();
    let delegate_id = d["participant"]["id"].as_str().unwrap().to_owned();
    assert_eq!(d["participants"].as_array().unwrap().len(), 1);
    let ev = moderator.next_event("participant_joined").await.unwrap();
    assert_eq!(ev["participant"]["id"], json!(delegate_id));

    // Roles: a delegate may not set the stage; unknown participants are not_found.
    expect_error(
        &delegate,
        "set_stage",
        json!({"participant_id": null}),
        "forbidden",
    )
    .await;
    expect_error(
        &moderator,
        "set_stage",
        json!({"participant_id": "p-nobody"}),
        "not_found",
    )
    .await;

    // Mute state reaches everyone.
    delegate
        .request("set_muted", json!({"muted": true}))
        .await
        .unwrap();
    let ev = moderator.next_event("participant_updated").await.unwrap();
    assert_eq!(ev["participant"]["muted"], json!(true));

    // An observer may not publish.
    let observer_token = server.invite("Gast", "observer", &[]);
    let observer = client(&server).await;
    observer
        .request("join", json!({"protocol": 1, "token": observer_token}))
        .await
        .unwrap();
    expect_error(&observer, "publish", json!({"kind": "audio"}), "forbidden").await;

    // Invalid SDP is a typed error.
    expect_error(
        &delegate,
        "offer",
        json!({"sdp": "nonsense"}),
        "invalid_sdp",
    )
    .await;

    // Leave: answered, then everyone else is told.
    delegate.request("leave", json!({})).await.unwrap();
    loop {
        let ev = moderator.next_event("participant_left").await.unwrap();
        if ev["participant_id"] == json!(delegate_id) {
            break;
        }
    }
}

#[tokio::test]
async fn a_second_connection_of_the_same_participant_replaces_the_first() {
    let server = common::TestServer::start();
    let mut first = client(&server).await;
    first
        .request("join", json!({"protocol": 1, "token": server.token(2)}))
        .await
        .unwrap();
    let second = client(&server).await;
    second
        .request("join", json!({"protocol": 1, "token": server.token(2)}))
        .await
        .unwrap();
    let ev = first.next_event("closing").await.unwrap();
    assert_eq!(ev["reason"], "replaced");
    assert!(second.request("ping", json!({})).await.is_ok());
}

#[tokio::test]
async fn the_join_result_carries_short_lived_turn_credentials_when_configured() {
    let server = common::TestServer::start_with_env(&[
        (
            "PLENUM_TURN__URLS",
            r#"["turn:127.0.0.1:3478?transport=udp"]"#,
        ),
        ("PLENUM_TURN__SECRET", "north"),
        ("PLENUM_TURN__TTL_SECS", "600"),
    ]);
    let (_c, joined) = common::join(&server, &server.token(1)).await;
    let ice = &joined["ice_servers"][0];
    assert_eq!(ice["urls"], json!(["turn:127.0.0.1:3478?transport=udp"]));
    let username = ice["username"].as_str().unwrap();
    let (expiry, participant) = username.split_once(':').unwrap();
    assert_eq!(participant, joined["participant"]["id"].as_str().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "expires in ~600 s"
    );
    assert_eq!(
        ice["credential"].as_str().unwrap(),
        plenum_signalling::turn::credential("north", username)
    );

    let plain = common::TestServer::start();
    let (_c, joined) = common::join(&plain, &plain.token(1)).await;
    assert_eq!(joined["ice_servers"], json!([]), "no TURN configured");
}

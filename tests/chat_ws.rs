//! The chat plugin through the real server: plugin commands and events over WebSocket.
#![allow(clippy::unwrap_used)]

mod common;

async fn join(server: &common::TestServer, token: &str) -> SignalClient {
    common::join(server, token).await.0
}

use std::time::Duration;

use plenum_loadtest::SignalClient;
use serde_json::{Value, json};

async fn chat(c: &SignalClient, body: Value) -> Value {
    c.request_raw("plugin", json!({ "ns": "chat", "body": body }))
        .await
        .unwrap()
}

/// The texts of chat messages that arrive within `wait`.
async fn received(c: &mut SignalClient, wait: Duration) -> Vec<String> {
    let mut texts = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(wait, c.next_event("plugin")).await {
        if ev["ns"] == "chat" && ev["body"]["type"] == "message" {
            texts.push(ev["body"]["message"]["text"].as_str().unwrap().to_owned());
        }
    }
    texts
}

#[tokio::test]
async fn room_and_private_messages_over_the_wire() {
    let server = common::TestServer::start();
    let mut m = join(&server, &server.token(0)).await;
    let mut a = join(&server, &server.token(1)).await;
    let mut b = join(&server, &server.token(2)).await;

    let r = chat(&a, json!({ "action": "send", "text": "Hallo zusammen" })).await;
    assert_eq!(r["ok"], true, "{r}");
    for c in [&mut m, &mut a, &mut b] {
        assert_eq!(
            received(c, Duration::from_millis(300)).await,
            vec!["Hallo zusammen"]
        );
    }

    // A private message from A to B: only B and A get it.
    let b_participant = {
        let c = SignalClient::connect(&server.url, &server.url, Some(&server.ca_pem()))
            .await
            .unwrap();
        // A fresh observer sees everyone's ids in its join result.
        let token = server.invite("Zuschauer", "observer", &[]);
        let joined = c
            .request("join", json!({ "protocol": 1, "token": token }))
            .await
            .unwrap();
        joined["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Delegierte B")
            .unwrap()["id"]
            .clone()
    };
    let r = chat(
        &a,
        json!({ "action": "send", "text": "Nur für dich", "to": b_participant }),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        received(&mut b, Duration::from_millis(300)).await,
        vec!["Nur für dich"]
    );
    assert_eq!(
        received(&mut a, Duration::from_millis(300)).await,
        vec!["Nur für dich"]
    );
    assert!(
        received(&mut m, Duration::from_millis(300))
            .await
            .is_empty()
    );

    // Typed plugin errors.
    let r = chat(&a, json!({ "action": "send", "text": "x".repeat(2001) })).await;
    assert_eq!(r["error"]["code"], "plugin_error");
    assert_eq!(r["error"]["reason"], "too_long");
    let r = chat(&a, json!({ "action": "announce", "text": "x" })).await;
    assert_eq!(r["error"]["code"], "forbidden");
    let r = a
        .request_raw("plugin", json!({ "ns": "nope", "body": {} }))
        .await
        .unwrap();
    assert_eq!(r["error"]["code"], "bad_request");
}

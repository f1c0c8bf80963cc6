//! Offers of the wrong shape, or no SDP at all, over a real WebSocket and over WHIP: refused
//! with `invalid_sdp` (400) whose message says what is wrong and never shows parser
//! internals; a 501-m-line offer costs nothing (refused before the media plane parses it).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, join};
use plenum_loadtest::server::https_request;
use serde_json::{Value, json};

/// An offer with these m-lines (kind, direction) that is shaped right but no real SDP.
fn fake_offer(lines: &[(&str, &str)]) -> String {
    let mut s = String::from("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n");
    for (kind, dir) in lines {
        s.push_str(&format!(
            "m={kind} 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na={dir}\r\n"
        ));
    }
    s
}

/// The m-lines the web client offers for `slots` (optionally with microphone and camera).
fn client_lines(slots: &Value, publish: bool) -> Vec<(&'static str, &'static str)> {
    let n = |k: &str| slots[k].as_u64().unwrap() as usize;
    let mut v = Vec::new();
    if publish {
        v.extend([("audio", "sendonly"), ("video", "sendonly")]);
    }
    v.extend(std::iter::repeat_n(
        ("video", "recvonly"),
        n("stage") + n("tiles"),
    ));
    v.extend(std::iter::repeat_n(("audio", "recvonly"), n("audio")));
    v
}

fn assert_clean(message: &str) {
    for internal in ["0x", "Pointer", "{", "}", "Offset"] {
        assert!(!message.contains(internal), "internals in {message:?}");
    }
    assert!(!message.is_empty());
}

async fn offer_error(c: &plenum_loadtest::SignalClient, sdp: String) -> String {
    let answer = c.request_raw("offer", json!({ "sdp": sdp })).await.unwrap();
    assert_eq!(answer["error"]["code"], "invalid_sdp", "{answer}");
    answer["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn misshapen_and_unparsable_offers_are_refused_with_a_clean_reason() {
    let server = TestServer::start();
    let (d, joined) = join(&server, &server.token(1)).await;
    let slots = joined["slots"].clone();

    // Shaped right, but not SDP str0m can use: the parser's complaint stays in the log.
    let msg = offer_error(&d, fake_offer(&client_lines(&slots, true))).await;
    assert_clean(&msg);
    let msg = offer_error(
        &d,
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n".into(),
    )
    .await;
    assert_clean(&msg);
    // The wrong shape.
    let mut two_mics = vec![("audio", "sendonly"), ("audio", "sendonly")];
    two_mics.extend(client_lines(&slots, false));
    assert!(
        offer_error(&d, fake_offer(&two_mics))
            .await
            .contains("at most one")
    );
    let no_receivers = fake_offer(&[("audio", "sendonly")]);
    assert!(offer_error(&d, no_receivers).await.contains("must receive"));
    // 501 m-lines: refused at once.
    let huge = fake_offer(&vec![("video", "recvonly"); 501]);
    let started = Instant::now();
    let msg = offer_error(&d, huge).await;
    assert!(msg.contains("m-lines") || msg.contains("larger"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // An observer may not offer to send.
    let observer = server.invite("Presse", "observer", &[]);
    let (o, _) = join(&server, &observer).await;
    assert!(
        offer_error(&o, fake_offer(&client_lines(&slots, true)))
            .await
            .contains("does not publish")
    );

    // Nothing was negotiated: a real offer still works afterwards.
    let mut real = server.participant_with(&server.token(2), 7);
    real.layers.clear();
    let p = plenum_loadtest::Participant::join(real).await.unwrap();
    p.stop().await;
}

#[tokio::test]
async fn whip_refuses_bad_offers_with_a_clean_reason() {
    let server = TestServer::start();
    let camera = server.invite("Saalkamera", "moderator", &[]);
    let auth = format!("Bearer {camera}");
    for (sdp, wanted) in [
        ("v=0 garbage".to_owned(), "WHIP"),
        (
            fake_offer(&[("audio", "sendonly"), ("video", "sendonly")]),
            "",
        ),
        (fake_offer(&[("video", "recvonly")]), "WHIP"),
    ] {
        let resp = https_request(
            &server.url,
            &server.ca_pem(),
            "POST",
            "/whip/demo",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/sdp"),
            ],
            sdp.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 400, "{sdp}");
        let body = String::from_utf8(resp.body).unwrap();
        assert_clean(&body);
        assert!(body.contains(wanted), "{body}");
    }
}

//! WHIP ingest into the stage and WHEP egress of it, over real HTTP and UDP: a str0m "hall
//! camera" publishes through `/whip/demo`, a str0m delegate sees it on stage, a str0m WHEP
//! viewer receives it, and `DELETE` ends it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use plenum_loadtest::Participant;
use plenum_loadtest::server::https_request;
use plenum_loadtest::synth::Talk;
use plenum_loadtest::whip::{post_offer, whep_view, whip_publish};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whip_camera_goes_on_stage_and_whep_viewers_watch_it() {
    let server = common::TestServer::start();
    let camera_token = server.invite("Saalkamera", "moderator", &[]);
    let viewer_token = server.invite("Stream", "observer", &[]);

    // Refusals: no token, a delegate's token, not SDP.
    let ca = server.ca_pem();
    let resp = https_request(
        &server.url,
        &ca,
        "POST",
        "/whip/demo",
        &[("Content-Type", "application/sdp")],
        b"v=0",
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
    let delegate = server.participant_with(&server.token(1), 9);
    assert_eq!(
        post_offer(&delegate, "/whip/demo", "v=0")
            .await
            .unwrap()
            .status,
        403
    );
    let auth = format!("Bearer {camera_token}");
    let resp = https_request(
        &server.url,
        &ca,
        "POST",
        "/whip/demo",
        &[("Content-Type", "text/plain"), ("Authorization", &auth)],
        b"v=0",
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 415);
    let camera = server.participant_with(&camera_token, 1);
    assert_eq!(
        post_offer(&camera, "/whip/other", "v=0")
            .await
            .unwrap()
            .status,
        403
    );

    // A delegate in the browser's place, receiving only.
    let mut d = server.participant_with(&server.token(2), 2);
    d.publish_audio = false;
    d.layers.clear();
    let mut delegate = Participant::join(d).await.unwrap();

    // The hall camera: three VP8 layers and Opus, over WHIP.
    let mut camera = server.participant_with(&camera_token, 3);
    camera.talk = Talk::Always;
    let mut whip = whip_publish(&camera, "demo").await.unwrap();
    assert!(
        whip.location.starts_with("/whip/demo/"),
        "{}",
        whip.location
    );
    assert!(whip.media.wait_connected(Duration::from_secs(10)).await);
    assert!(delegate.wait_connected(Duration::from_secs(10)).await);

    // A WHEP viewer of the stage.
    let mut whep = whep_view(&server.participant_with(&viewer_token, 4), "demo")
        .await
        .unwrap();
    assert!(whep.media.wait_connected(Duration::from_secs(10)).await);

    tokio::time::sleep(Duration::from_secs(4)).await;
    let stage = delegate.slot_stats("stage").unwrap();
    assert!(
        stage.packets > 100,
        "the delegate's stage got {} packets",
        stage.packets
    );
    assert_eq!(stage.first_is_keyframe, Some(true));
    assert_eq!(stage.widest_keyframe, Some(1280), "the top layer");
    let watched = whep.media.slot_stats("stage").unwrap();
    assert!(
        watched.packets > 100,
        "the WHEP viewer got {} packets",
        watched.packets
    );
    assert_eq!(watched.widest_keyframe, Some(1280));
    let heard = whep.media.slot_stats("audio-0").unwrap();
    assert!(
        heard.packets > 50,
        "the camera's microphone (a moderator's) is heard"
    );

    // No trickle ICE; DELETE ends the session and the stage goes dark.
    assert_eq!(
        whip.request("PATCH", "application/trickle-ice-sdpfrag", b"")
            .await
            .unwrap()
            .status,
        405
    );
    // Only the session's owner or a moderator may end it: without a token, with a bad one,
    // or with a delegate's, nothing changes — the stage keeps flowing.
    assert_eq!(whip.delete_as(None).await.unwrap(), 401);
    assert_eq!(whip.delete_as(Some("not-a-token")).await.unwrap(), 401);
    assert_eq!(whip.delete_as(Some(&server.token(1))).await.unwrap(), 403);
    let before = delegate.slot_stats("stage").unwrap().packets;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        delegate.slot_stats("stage").unwrap().packets > before,
        "refused DELETEs left the camera on stage"
    );
    assert_eq!(whip.delete().await.unwrap(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_delete = delegate.slot_stats("stage").unwrap().packets;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(delegate.slot_stats("stage").unwrap().packets, after_delete);
    assert_eq!(whip.delete().await.unwrap(), 404);
    assert_eq!(whep.delete().await.unwrap(), 200);

    whip.media.stop().await;
    whep.media.stop().await;
    delegate.stop().await;
}

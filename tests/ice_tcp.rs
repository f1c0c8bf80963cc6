//! Real sockets: a participant whose only candidate is ICE-TCP (as from a network that blocks
//! UDP) reaches the server's passive TCP candidate, and receives the stage and the audio of
//! a UDP publisher over RFC 4571-framed TCP.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use plenum_loadtest::Participant;
use plenum_loadtest::participant::Transport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_only_participant_gets_media_over_ice_tcp() {
    let server = common::TestServer::start();

    let mut publisher = server.join_talking_moderator().await;

    let mut viewer_cfg = server.participant(1);
    viewer_cfg.publish_audio = false;
    viewer_cfg.layers.clear();
    viewer_cfg.transport = Transport::Tcp;
    let mut viewer = Participant::join(viewer_cfg).await.unwrap();

    assert!(publisher.wait_connected(Duration::from_secs(10)).await);
    assert!(
        viewer.wait_connected(Duration::from_secs(10)).await,
        "ICE and DTLS complete over TCP"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;

    let stage = viewer.slot_stats("stage").unwrap();
    assert!(stage.packets > 100, "stage over TCP: {stage:?}");
    assert_eq!(stage.first_is_keyframe, Some(true));
    assert_eq!(
        stage.widest_keyframe,
        Some(1280),
        "the top layer (the bandwidth estimator may lower it later)"
    );
    assert_eq!(stage.lost(), 0, "TCP delivers every packet in order");
    let audio: u64 = viewer
        .all_stats()
        .iter()
        .filter(|s| s.slot.starts_with("audio-"))
        .map(|s| s.packets)
        .sum();
    assert!(audio > 100, "audio over TCP: {audio} packets");
    let counters =
        plenum_loadtest::server::scrape(&server.url, &server.ca_pem(), &server.metrics_token())
            .await
            .unwrap();
    assert!(
        counters.tcp_sent >= (stage.packets + audio) as f64,
        "the server sent the viewer's media over TCP: {counters:?}"
    );

    viewer.stop().await;
    publisher.stop().await;
}

//! Real sockets: str0m participants publish simulcast VP8 + audio to a running `plenum`
//! over UDP on 127.0.0.1; subscribers receive one continuous stream per slot.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use plenum_loadtest::{Participant, SlotStats};

fn assert_contiguous(s: &SlotStats) {
    let (first, high) = s.seq_range.expect("packets arrived");
    assert_eq!(s.lost(), 0, "slot {} has gaps in {first}..={high}", s.slot);
    assert_eq!(
        s.packets,
        high - first + 1,
        "slot {}: no duplicates",
        s.slot
    );
    assert!(high < 1 << 16, "slot {} starts with SRTP ROC 0", s.slot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_slot_is_one_continuous_stream_starting_with_a_keyframe() {
    let server = common::TestServer::start();

    // The moderator publishes audio (talking) and three VP8 layers.
    let mut publisher = server.join_talking_moderator().await;

    // Two delegates only watch and listen.
    let mut subscribers = Vec::new();
    for i in 1..3 {
        let mut c = server.participant(i);
        c.publish_audio = false;
        c.layers.clear();
        subscribers.push(Participant::join(c).await.unwrap());
    }
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);
    for s in &mut subscribers {
        assert!(s.wait_connected(Duration::from_secs(10)).await);
    }

    // Let media flow.
    tokio::time::sleep(Duration::from_secs(4)).await;

    for sub in &subscribers {
        let stage = sub
            .slot_stats("stage")
            .unwrap_or_else(|| panic!("a stage slot in {:?}", sub.slots));
        assert!(
            stage.packets > 100,
            "stage received {} packets",
            stage.packets
        );
        assert_eq!(stage.ssrcs.len(), 1, "one SSRC per slot");
        assert_eq!(
            stage.first_is_keyframe,
            Some(true),
            "the slot starts with a keyframe"
        );
        assert_eq!(
            stage.widest_keyframe,
            Some(1280),
            "the stage gets the top layer (the bandwidth estimator may lower it later)"
        );
        assert_contiguous(&stage);

        let audio: Vec<SlotStats> = sub
            .all_stats()
            .into_iter()
            .filter(|s| s.slot.starts_with("audio-") && s.packets > 0)
            .collect();
        assert_eq!(audio.len(), 1, "the one talker is heard on one audio slot");
        assert!(audio[0].packets > 100);
        assert_contiguous(&audio[0]);

        let tiles: u64 = sub
            .all_stats()
            .iter()
            .filter(|s| s.slot.starts_with("tile-"))
            .map(|s| s.packets)
            .sum();
        assert_eq!(tiles, 0, "the only camera is on stage, not in a tile");
    }

    // The publisher sees nobody on its own stage (no other camera).
    assert_eq!(publisher.slot_stats("stage").unwrap().packets, 0);
    for s in subscribers {
        s.stop().await;
    }
    publisher.stop().await;
}

/// A join connects (ICE and DTLS) as soon as the datagrams go back and forth: no step of the
/// handshake waits for a timer of the server's (str0m patch 8 once made the ICE agent wait
/// for its own, 0.8 s into each join).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_connect_without_waiting_for_a_server_timer() {
    let server = common::TestServer::start();
    let mut publisher = server.join_talking_moderator().await;
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);
    // The demo congress has three invitations.
    for i in 1..3 {
        let mut c = server.participant(i);
        c.publish_audio = false;
        c.layers.clear();
        let started = std::time::Instant::now();
        let mut p = Participant::join(c).await.unwrap();
        assert!(p.wait_connected(Duration::from_secs(10)).await);
        // 0.10-0.16 s here; 0.95 s with the ICE agent waiting for its timer.
        let took = p.connected_at().unwrap() - started;
        assert!(
            took < Duration::from_millis(600),
            "participant {i} took {took:?} to connect"
        );
        p.stop().await;
    }
    publisher.stop().await;
}

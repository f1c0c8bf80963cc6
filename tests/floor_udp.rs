//! Floor control in the media plane, over real UDP: in the demo congress (congress mode) a
//! delegate's microphone reaches nobody until a moderator gives them the floor, and is cut
//! again when the floor ends or a moderator mutes them — whatever the delegate keeps sending.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use plenum_loadtest::synth::Talk;
use plenum_loadtest::{Participant, ParticipantConfig};
use serde_json::json;

/// One Opus packet every 20 ms.
const PACKET_INTERVAL: Duration = Duration::from_millis(20);

fn config(server: &common::TestServer, token: &str, seed: u64) -> ParticipantConfig {
    let mut c = server.participant_with(token, seed);
    c.layers.clear();
    c
}

/// Audio packets the listener received over all its audio slots.
fn heard(listener: &Participant) -> u64 {
    listener
        .all_stats()
        .iter()
        .filter(|s| s.slot.starts_with("audio-"))
        .map(|s| s.packets)
        .sum()
}

/// After `sent` (the moment the command's answer arrived), the count must be frozen once
/// the packets already in flight have landed: it may grow during two packet intervals
/// (one forwarded just before the command, plus loopback delivery), not after.
async fn assert_cut_within_a_packet_interval(listener: &Participant, sent: Instant, what: &str) {
    tokio::time::sleep_until((sent + 2 * PACKET_INTERVAL).into()).await;
    let at_cut = heard(listener);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        heard(listener),
        at_cut,
        "{what}: audio still arrives more than {:?} after the command",
        2 * PACKET_INTERVAL
    );
}

async fn assert_flowing(listener: &Participant, what: &str) {
    let before = heard(listener);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = heard(listener) - before;
    assert!(got > 30, "{what}: only {got} audio packets in 1 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_decides_whose_audio_is_forwarded() {
    let server = common::TestServer::start();

    // Moderator: no media of their own, so every packet the listener gets is B's.
    let mut m_cfg = config(&server, &server.token(0), 1);
    m_cfg.publish_audio = false;
    let mut moderator = Participant::join(m_cfg).await.unwrap();
    // Delegate B talks all the time.
    let mut b_cfg = config(&server, &server.token(1), 2);
    b_cfg.talk = Talk::Always;
    let mut speaker = Participant::join(b_cfg).await.unwrap();
    // Delegate C listens.
    let mut c_cfg = config(&server, &server.token(2), 3);
    c_cfg.publish_audio = false;
    let mut listener = Participant::join(c_cfg).await.unwrap();
    for p in [&mut moderator, &mut speaker, &mut listener] {
        assert!(p.wait_connected(Duration::from_secs(10)).await);
    }
    assert_eq!(listener.joined["mode"], "congress");
    let b_id = speaker.joined["participant"]["id"].clone();
    assert_eq!(speaker.joined["participant"]["heard"], false);

    // Without the floor, B is not heard although B sends all the time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        heard(&listener),
        0,
        "a gated delegate's audio was forwarded"
    );

    // B asks to speak; the moderator gives the floor to the first in the queue.
    let entry = speaker
        .signal
        .request("request_floor", json!({ "kind": "pro" }))
        .await
        .unwrap();
    assert_eq!(entry["entry"]["participant_id"], b_id);
    moderator
        .signal
        .request("queue_give_floor", json!({}))
        .await
        .unwrap();
    assert_flowing(&listener, "floor holder").await;

    // The floor ends: B is gated again at once.
    moderator
        .signal
        .request("queue_end_floor", json!({}))
        .await
        .unwrap();
    assert_cut_within_a_packet_interval(&listener, Instant::now(), "floor ended").await;

    // Floor again, then a server-side mute: cut at once, even for the floor holder.
    moderator
        .signal
        .request("queue_give_floor", json!({ "participant_id": b_id }))
        .await
        .unwrap();
    assert_flowing(&listener, "floor holder again").await;
    moderator
        .signal
        .request("mute_participant", json!({ "participant_id": b_id }))
        .await
        .unwrap();
    assert_cut_within_a_packet_interval(&listener, Instant::now(), "muted by the moderator").await;

    // A delegate cannot give themselves the floor.
    let err = speaker
        .signal
        .request("queue_give_floor", json!({ "participant_id": b_id }))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("forbidden:"), "{err}");

    // Without the floor, a moderator can let B be heard: end the floor, lift the mute.
    moderator
        .signal
        .request("queue_end_floor", json!({}))
        .await
        .unwrap();
    moderator
        .signal
        .request("unmute_participant", json!({ "participant_id": b_id }))
        .await
        .unwrap();
    assert_flowing(&listener, "unmuted by the moderator, without the floor").await;

    for p in [listener, speaker, moderator] {
        p.stop().await;
    }
}

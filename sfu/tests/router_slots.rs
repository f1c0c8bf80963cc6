//! Slot assignment: stage, tiles and audio slots follow membership, speakers and pins.

mod harness;

use std::time::Duration;

use harness::*;
use plenum_sfu::router::{Kind, PeerId, RoomEvent, RouterOutput, SlotRole};

#[test]
fn first_camera_goes_on_stage_for_everyone_else() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    assert_eq!(w.router.stage(ROOM), Some(a));
    // B sees A on stage; A (on stage itself) sees B there instead.
    assert_eq!(w.router.slot_source(b, STAGE), Some(a));
    assert_eq!(w.router.slot_source(a, STAGE), Some(b));
    // Tiles never repeat the stage or show oneself.
    assert_eq!(w.router.slot_source(b, TILE0), None);
    assert_eq!(w.router.slot_source(a, TILE0), None);
}

#[test]
fn tiles_show_other_cameras_in_join_order() {
    let mut w = World::new();
    let peers: Vec<PeerId> = (1..=4).map(|i| w.join(i)).collect();
    let d = peers[3];
    // Stage for D: peer 1; tiles: 2 and 3.
    assert_eq!(w.router.slot_source(d, STAGE), Some(peers[0]));
    assert_eq!(w.router.slot_source(d, TILE0), Some(peers[1]));
    assert_eq!(w.router.slot_source(d, TILE1), Some(peers[2]));
}

#[test]
fn loudest_speaker_takes_the_stage_after_the_hold_time() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    let c = w.join(3);
    w.outputs();
    assert_eq!(w.router.stage(ROOM), Some(a));
    w.talk(b, -20, Duration::from_millis(600));
    // B is the first speaker at all: takes the stage without waiting.
    assert_eq!(w.router.stage(ROOM), Some(b));
    assert!(w.outputs().contains(&RouterOutput::Room {
        room: ROOM,
        event: RoomEvent::StageChanged {
            stage: Some(b),
            pinned: false,
        },
    }));
    // C gets louder; B falls silent: C takes over only after the hold time.
    for _ in 0..25 {
        w.audio(b, -127);
        w.audio(c, -15);
        w.advance(Duration::from_millis(20));
    }
    assert_eq!(w.router.stage(ROOM), Some(b), "hysteresis: not yet");
    for _ in 0..60 {
        w.audio(b, -127);
        w.audio(c, -15);
        w.advance(Duration::from_millis(20));
    }
    assert_eq!(w.router.stage(ROOM), Some(c));
    assert_eq!(w.router.slot_source(a, STAGE), Some(c));
}

#[test]
fn moderator_pin_overrides_the_speaker_and_can_be_released() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    let c = w.join(3);
    w.talk(b, -20, Duration::from_millis(600));
    w.router.set_stage_pin(w.now, ROOM, Some(c));
    assert_eq!(w.router.stage(ROOM), Some(c));
    assert!(w.outputs().contains(&RouterOutput::Room {
        room: ROOM,
        event: RoomEvent::StageChanged {
            stage: Some(c),
            pinned: true,
        },
    }));
    w.talk(b, -20, Duration::from_secs(3));
    assert_eq!(
        w.router.stage(ROOM),
        Some(c),
        "a pin holds against speakers"
    );
    w.router.set_stage_pin(w.now, ROOM, None);
    w.advance(Duration::from_millis(200));
    assert_eq!(w.router.stage(ROOM), Some(b));
    assert_eq!(w.router.slot_source(a, STAGE), Some(b));
}

#[test]
fn audio_slots_carry_the_loudest_others_and_never_oneself() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    let c = w.join(3);
    let d = w.join(4);
    for _ in 0..30 {
        w.audio(b, -20);
        w.audio(c, -25);
        w.audio(d, -127);
        w.advance(Duration::from_millis(20));
    }
    let heard: Vec<_> = [AUDIO0, AUDIO0 + 1]
        .iter()
        .map(|&s| w.router.slot_source(a, s))
        .collect();
    assert!(
        heard.contains(&Some(b)) && heard.contains(&Some(c)),
        "{heard:?}"
    );
    let fwds = w.audio(b, -20);
    assert!(
        fwds.iter().all(|f| f.subscriber != b),
        "nobody hears themselves"
    );
    assert_eq!(fwds.iter().filter(|f| f.subscriber == a).count(), 1);
}

#[test]
fn muted_or_unpublished_audio_is_not_forwarded() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    w.talk(b, -20, Duration::from_millis(200));
    assert!(!w.audio(b, -20).is_empty());
    w.router.set_muted(w.now, b, true);
    assert!(w.audio(b, -20).is_empty(), "server-side mute");
    w.router.set_muted(w.now, b, false);
    assert_eq!(to(&w.audio(b, -20), a, AUDIO0).len(), 1);
    w.router.set_publishing(w.now, b, Kind::Audio, false);
    assert!(w.audio(b, -20).is_empty());
}

#[test]
fn slot_changes_are_reported_with_roles() {
    let mut w = World::new();
    let a = w.join(1);
    w.outputs();
    let b = w.join(2);
    let outs = w.outputs();
    assert!(outs.contains(&RouterOutput::SlotChanged {
        room: ROOM,
        subscriber: b,
        slot: STAGE,
        role: SlotRole::Stage,
        source: Some(a)
    }));
    assert!(outs.contains(&RouterOutput::SlotChanged {
        room: ROOM,
        subscriber: a,
        slot: STAGE,
        role: SlotRole::Stage,
        source: Some(b)
    }));
}

/// The speaker changes the router reported, in order.
fn speaker_changes(w: &mut World) -> Vec<Option<PeerId>> {
    w.outputs()
        .into_iter()
        .filter_map(|o| match o {
            RouterOutput::Room {
                event: RoomEvent::SpeakerChanged { speaker },
                ..
            } => Some(speaker),
            _ => None,
        })
        .collect()
}

#[test]
fn the_dominant_speaker_is_reported_and_short_noises_do_not_take_over() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    w.outputs();
    w.talk(a, -20, Duration::from_secs(1));
    assert_eq!(speaker_changes(&mut w), vec![Some(a)]);
    // B coughs loudly for 300 ms while A keeps talking: no change.
    for _ in 0..15 {
        w.audio(a, -20);
        w.audio(b, -5);
        w.advance(Duration::from_millis(20));
    }
    for _ in 0..100 {
        w.audio(a, -20);
        w.audio(b, -127);
        w.advance(Duration::from_millis(20));
    }
    assert_eq!(speaker_changes(&mut w), vec![], "a short noise is ignored");
    // B talks for good, A falls silent: B takes over after the hold time, once.
    for _ in 0..150 {
        w.audio(a, -127);
        w.audio(b, -15);
        w.advance(Duration::from_millis(20));
    }
    assert_eq!(speaker_changes(&mut w), vec![Some(b)]);
    // A muted (or gated) microphone never counts; the speaker leaving is reported.
    w.router.set_muted(w.now, a, true);
    w.talk(a, -5, Duration::from_secs(3));
    assert_eq!(speaker_changes(&mut w), vec![]);
    w.router.remove_peer(w.now, b);
    assert_eq!(speaker_changes(&mut w), vec![None]);
}

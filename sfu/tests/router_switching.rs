//! Source switches: keyframe gating, keyframe requests, continuity, leave and rejoin.

mod harness;

use std::time::Duration;

use harness::*;
use plenum_sfu::router::TOP_LAYER;

#[test]
fn a_new_slot_waits_for_a_keyframe_and_asks_for_one() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    let asked = w.keyframe_requests();
    assert!(
        asked.contains(&(a, TOP_LAYER)),
        "stage wants A's top layer: {asked:?}"
    );
    assert!(
        to(&w.video(a, TOP_LAYER, false), b, STAGE).is_empty(),
        "no delta before a keyframe"
    );
    let fwd = to(&w.video(a, TOP_LAYER, true), b, STAGE);
    assert_eq!(fwd.len(), 1, "the keyframe starts the slot");
    assert_eq!(to(&w.video(a, TOP_LAYER, false), b, STAGE).len(), 1);
}

#[test]
fn keyframe_requests_are_throttled() {
    let mut w = World::new();
    let a = w.join(1);
    let _b = w.join(2);
    w.keyframe_requests();
    for _ in 0..10 {
        w.video(a, TOP_LAYER, false);
    }
    assert!(
        w.keyframe_requests().is_empty(),
        "asked already within the interval"
    );
    w.now += Duration::from_millis(600);
    w.video(a, TOP_LAYER, false);
    assert_eq!(w.keyframe_requests(), vec![(a, TOP_LAYER)]);
}

#[test]
fn stage_uses_the_highest_active_layer_and_tiles_the_lowest() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    let c = w.join(3);
    // Every layer of every publisher is active.
    for src in [a, b, c] {
        for layer in 0..=TOP_LAYER {
            w.video(src, layer, true);
        }
    }
    w.advance(Duration::from_millis(200));
    for src in [a, b, c] {
        for layer in 0..=TOP_LAYER {
            w.video(src, layer, true);
        }
    }
    // C: stage = A (top layer), tile = B (layer 0).
    assert_eq!(to(&w.video(a, TOP_LAYER, false), c, STAGE).len(), 1);
    assert!(to(&w.video(a, 0, false), c, STAGE).is_empty());
    assert_eq!(to(&w.video(b, 0, false), c, TILE0).len(), 1);
    assert!(to(&w.video(b, TOP_LAYER, false), c, TILE0).is_empty());
}

#[test]
fn stage_falls_back_to_a_lower_layer_when_the_top_one_stops() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    for _ in 0..3 {
        w.video(a, 0, true);
        w.video(a, 1, true);
        w.video(a, TOP_LAYER, true);
        w.advance(Duration::from_millis(100));
    }
    assert_eq!(to(&w.video(a, TOP_LAYER, false), b, STAGE).len(), 1);
    // The top layer pauses (the publisher's bandwidth dropped).
    for _ in 0..15 {
        w.video(a, 1, false);
        w.advance(Duration::from_millis(100));
    }
    assert!(w.keyframe_requests().contains(&(a, 1)));
    assert_eq!(
        to(&w.video(a, 1, true), b, STAGE).len(),
        1,
        "switched on the keyframe"
    );
}

#[test]
fn sequence_timestamp_and_picture_id_stay_continuous_across_a_speaker_switch() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    let c = w.join(3);
    // C watches the stage: A first.
    let mut got = to(&w.video(a, TOP_LAYER, true), c, STAGE);
    for _ in 0..20 {
        got.extend(to(&w.video(a, TOP_LAYER, false), c, STAGE));
    }
    // B starts talking: the stage moves to B after its keyframe.
    w.talk(b, -15, Duration::from_millis(400));
    assert_eq!(w.router.stage(ROOM), Some(b));
    // Until B's keyframe arrives, C keeps getting A.
    got.extend(to(&w.video(a, TOP_LAYER, false), c, STAGE));
    assert!(to(&w.video(b, TOP_LAYER, false), c, STAGE).is_empty());
    got.extend(to(&w.video(b, TOP_LAYER, true), c, STAGE));
    for _ in 0..20 {
        got.extend(to(&w.video(b, TOP_LAYER, false), c, STAGE));
        assert!(
            to(&w.video(a, TOP_LAYER, false), c, STAGE).is_empty(),
            "A is off the slot"
        );
    }
    for pair in got.windows(2) {
        let (x, y) = (pair[0].ids, pair[1].ids);
        assert_eq!(y.seq, x.seq + 1, "sequence continues");
        assert!(
            y.timestamp.wrapping_sub(x.timestamp) < 90_000,
            "timestamps move forward"
        );
        assert!(
            y.timestamp != x.timestamp,
            "a new frame has a new timestamp"
        );
        assert_eq!(
            y.picture_id.unwrap(),
            (x.picture_id.unwrap() + 1) & 0x7fff,
            "picture ids continue"
        );
    }
    assert!(got.first().unwrap().ids.seq < 1 << 16, "ROC starts at 0");
}

#[test]
fn leave_frees_slots_and_rejoin_gets_them_back() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    let c = w.join(3);
    assert_eq!(w.router.slot_source(c, TILE0), Some(b));
    w.router.remove_peer(w.now, b);
    assert_eq!(w.router.slot_source(c, TILE0), None);
    assert!(
        w.video(b, 0, true).is_empty(),
        "packets of a departed peer go nowhere"
    );
    // A leaves too: the stage moves on and nobody forwards A any more.
    w.router.remove_peer(w.now, a);
    assert_eq!(w.router.slot_source(c, STAGE), None);
    // B rejoins (new connection, same id): it is routed again after a keyframe.
    let b = w.join(2);
    assert_eq!(w.router.slot_source(c, STAGE), Some(b));
    assert!(w.keyframe_requests().contains(&(b, TOP_LAYER)));
    assert_eq!(to(&w.video(b, TOP_LAYER, true), c, STAGE).len(), 1);
}

#[test]
fn subscriber_pli_is_forwarded_to_the_slot_source() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    w.video(a, TOP_LAYER, true);
    w.keyframe_requests();
    w.now += Duration::from_secs(1);
    w.router.handle_keyframe_request(w.now, b, STAGE);
    assert_eq!(w.keyframe_requests(), vec![(a, TOP_LAYER)]);
}

#[test]
fn the_rendered_size_picks_the_layer_at_a_keyframe_with_hysteresis() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    let c = w.join(3);
    keyframes(&mut w, a);
    keyframes(&mut w, b);
    w.advance(Duration::from_millis(100));
    keyframes(&mut w, a);
    keyframes(&mut w, b);
    assert_eq!(layers_reaching(&mut w, a, c, STAGE), vec![TOP_LAYER]);

    // C shrinks the stage to a thumbnail: the quarter layer, from its next keyframe on; until
    // then the full layer keeps flowing (no gap), and a keyframe was asked for.
    w.outputs();
    w.router.set_slot_width(w.now, c, STAGE, 200);
    assert!(w.keyframe_requests().contains(&(a, 0)));
    assert_eq!(layers_reaching(&mut w, a, c, STAGE), vec![TOP_LAYER]);
    keyframes(&mut w, a);
    assert_eq!(layers_reaching(&mut w, a, c, STAGE), vec![0]);

    // Small changes inside the band (+10 %) change nothing.
    w.outputs();
    w.router.set_slot_width(w.now, c, STAGE, 430);
    assert!(w.keyframe_requests().is_empty());
    assert_eq!(layers_reaching(&mut w, a, c, STAGE), vec![0]);

    // Enlarged again: the full layer at its keyframe.
    w.router.set_slot_width(w.now, c, STAGE, 1280);
    keyframes(&mut w, a);
    assert_eq!(layers_reaching(&mut w, a, c, STAGE), vec![TOP_LAYER]);

    // A tile rendered 700 px wide gets the half layer instead of the quarter one.
    assert_eq!(layers_reaching(&mut w, b, c, TILE0), vec![0]);
    w.router.set_slot_width(w.now, c, TILE0, 700);
    keyframes(&mut w, b);
    assert_eq!(layers_reaching(&mut w, b, c, TILE0), vec![1]);
}

#[test]
fn dynacast_reports_the_layers_anyone_needs() {
    let mut w = World::new();
    let a = w.join(1);
    assert_eq!(
        layers_needed(&mut w)[&a],
        [false, false, false],
        "alone: nothing"
    );
    keyframes(&mut w, a);

    // B watches A on stage: the top layer (and A watches B's camera the same way).
    let b = w.join(2);
    let needed = layers_needed(&mut w);
    assert_eq!(needed[&a], [false, false, true]);
    assert_eq!(needed[&b], [false, false, true]);
    keyframes(&mut w, a);
    assert_eq!(layers_reaching(&mut w, a, b, STAGE), vec![TOP_LAYER]);

    // B shrinks its stage: the quarter layer is needed at once, the top one until the switch.
    w.router.set_slot_width(w.now, b, STAGE, 200);
    assert_eq!(layers_needed(&mut w)[&a], [true, false, true]);
    keyframes(&mut w, a);
    w.advance(Duration::from_millis(600));
    assert_eq!(layers_needed(&mut w)[&a], [true, false, false]);

    // C joins and watches A in full: the top layer is needed again, even while paused; B's
    // camera is now also in C's tile: its lowest layer.
    let c = w.join(3);
    let needed = layers_needed(&mut w);
    assert_eq!(needed[&a], [true, false, true]);
    assert_eq!(needed[&b], [true, false, true]);

    // Everyone else leaves: nothing needed.
    w.router.remove_peer(w.now, b);
    w.router.remove_peer(w.now, c);
    w.advance(Duration::from_millis(600));
    assert_eq!(layers_needed(&mut w)[&a], [false, false, false]);
}

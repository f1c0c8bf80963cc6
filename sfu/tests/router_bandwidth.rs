//! Bandwidth: a subscriber's egress estimate picks the simulcast layers its slots get.
//!
//! Publishers send at [`RATES`] (quarter 200 kbit/s, half 600 kbit/s, full 1.8 Mbit/s, audio
//! 40 kbit/s) unless a test says otherwise; the router measures that from packet sizes.

mod harness;

use std::time::Duration;

use harness::*;
use plenum_sfu::RouterConfig;
use plenum_sfu::router::{Kind, PeerId, RouterOutput, TOP_LAYER};

const MS: Duration = Duration::from_millis(1);

/// A router that uses estimates at once (the warm-up has its own test).
fn world() -> World {
    World::with_config(RouterConfig {
        bandwidth_warmup: Duration::ZERO,
        ..RouterConfig::default()
    })
}

/// A publishes, B watches A on stage; after 1.5 s everything is measured and B gets A's top
/// layer.
fn watched() -> (World, PeerId, PeerId) {
    let mut w = world();
    let a = w.join(1);
    let b = w.join(2);
    let got = w.stream(&[a], 1500 * MS);
    assert_eq!(layers_delivered(&got, a, b, STAGE), vec![TOP_LAYER]);
    assert_eq!(
        w.router.measured_bitrate(a, Kind::Video, 2),
        Some(1_800_000)
    );
    (w, a, b)
}

/// After streaming `sources` for `d`: the layer each (source, slot) of `sub` gets in the next
/// 100 ms, `None` when nothing.
fn settled<const N: usize>(
    w: &mut World,
    sources: &[PeerId],
    d: Duration,
    sub: PeerId,
    slots: [(PeerId, usize); N],
) -> [Option<u8>; N] {
    w.stream(sources, d);
    let got = w.stream(sources, 100 * MS);
    slots.map(|(src, slot)| {
        let layers = layers_delivered(&got, src, sub, slot);
        assert!(layers.len() <= 1, "settled: {layers:?}");
        layers.first().copied()
    })
}

/// The layer of `src` that `sub`'s `slot` gets after streaming it for `d`.
fn layer_after(w: &mut World, src: PeerId, sub: PeerId, slot: usize, d: Duration) -> Option<u8> {
    let [layer] = settled(w, &[src], d, sub, [(src, slot)]);
    layer
}

#[test]
fn a_low_estimate_puts_the_stage_on_a_lower_layer_at_its_keyframe() {
    let (mut w, a, b) = watched();
    w.answer_keyframes = false;
    w.outputs();
    // 1 Mbit/s: audio (40 k) and the half layer (600 k) fit, the full one (1.8 M) does not.
    w.router.set_bandwidth(w.now, b, Some(1_000_000));
    let got = w.stream(&[a], 300 * MS);
    assert_eq!(
        layers_delivered(&got, a, b, STAGE),
        vec![TOP_LAYER],
        "the full layer flows until the half one has a keyframe"
    );
    assert_eq!(
        w.keyframe_requests(),
        vec![(a, 1)],
        "one request for the half layer"
    );
    assert_eq!(to(&w.video(a, 1, true), b, STAGE).len(), 1, "switched");
    assert_eq!(layers_reaching(&mut w, a, b, STAGE), vec![1]);
}

#[test]
fn a_rising_estimate_moves_up_only_past_the_margin_and_after_the_hold() {
    let (mut w, a, b) = watched();
    w.outputs();
    // Down at once.
    w.router.set_bandwidth(w.now, b, Some(1_000_000));
    assert_eq!(layer_after(&mut w, a, b, STAGE, 400 * MS), Some(1));

    // Enough for the full layer with the margin (1.8 M × 1.2 + 40 k audio = 2.2 M), but the
    // hold (4 s since the cut) is not over.
    w.router.set_bandwidth(w.now, b, Some(2_500_000));
    let got = w.stream(&[a], 3000 * MS);
    assert_eq!(layers_delivered(&got, a, b, STAGE), vec![1], "held");
    assert!(!w.keyframe_requests().contains(&(a, TOP_LAYER)));
    let got = w.stream(&[a], 1000 * MS);
    assert_eq!(
        layers_delivered(&got, a, b, STAGE),
        vec![1, TOP_LAYER],
        "hold over"
    );

    // The estimate hovers around where the full layer stops fitting (1.8 M video + 40 k
    // audio, kept within 10 % tolerance: below 1.676 M): it goes down once and stays down,
    // also after the hold, because going up needs the margin.
    let mut seen = Vec::new();
    for i in 0..40 {
        let estimate = if i % 2 == 0 { 1_640_000 } else { 1_720_000 };
        w.router.set_bandwidth(w.now, b, Some(estimate));
        let got = w.stream(&[a], 200 * MS);
        seen.extend(layers_delivered(&got, a, b, STAGE));
    }
    seen.dedup();
    assert_eq!(seen, vec![TOP_LAYER, 1], "one switch down, no flapping");

    // The estimate hovers around what going up needs (2.2 M): up once the hold is over, and
    // the dips below the margin do not take it down again.
    let mut seen = Vec::new();
    for i in 0..40 {
        let estimate = if i % 2 == 0 { 2_150_000 } else { 2_250_000 };
        w.router.set_bandwidth(w.now, b, Some(estimate));
        let got = w.stream(&[a], 200 * MS);
        seen.extend(layers_delivered(&got, a, b, STAGE));
    }
    seen.dedup();
    assert_eq!(seen, vec![1, TOP_LAYER], "one switch up, no flapping");
}

#[test]
fn tiles_pause_before_the_stage_goes_down_and_the_stage_never_pauses() {
    let mut w = world();
    let [a, b, c, d] = [1, 2, 3, 4].map(|i| w.join(i));
    // D: A on stage, B and C in tiles rendered 700 px wide (the half layer).
    assert_eq!(
        [STAGE, TILE0, TILE1].map(|s| w.router.slot_source(d, s)),
        [Some(a), Some(b), Some(c)]
    );
    w.router.set_slot_width(w.now, d, TILE0, 700);
    w.router.set_slot_width(w.now, d, TILE1, 700);
    let layers = |w: &mut World, dur: Duration| {
        settled(w, &[a, b, c], dur, d, [(a, STAGE), (b, TILE0), (c, TILE1)])
    };
    assert_eq!(
        layers(&mut w, 1500 * MS),
        [Some(TOP_LAYER), Some(1), Some(1)]
    );

    // 2.6 M: audio (A and B, 80 k) and the stage (1.8 M) fit, then one tile's half layer
    // (600 k); what is left (120 k) is not enough even for C's quarter layer: C pauses but
    // stays assigned.
    w.router.set_bandwidth(w.now, d, Some(2_600_000));
    assert_eq!(layers(&mut w, 1000 * MS), [Some(TOP_LAYER), Some(1), None]);
    assert_eq!(w.router.slot_source(d, TILE1), Some(c));

    // 2.0 M: the stage still fits, no tile does.
    w.router.set_bandwidth(w.now, d, Some(2_000_000));
    assert_eq!(layers(&mut w, 1000 * MS), [Some(TOP_LAYER), None, None]);

    // 1.0 M: now the stage goes down (half layer, 600 k). B's quarter layer would fit the
    // rest (320 k ≥ 200 k + 20 %) but B was cut a moment ago: it waits out the hold...
    w.router.set_bandwidth(w.now, d, Some(1_000_000));
    assert_eq!(layers(&mut w, 1000 * MS), [Some(1), None, None]);
    // ... and then resumes at a keyframe, in the quarter layer; C still does not fit.
    assert_eq!(layers(&mut w, 3000 * MS), [Some(1), Some(0), None]);

    // Almost nothing: the stage keeps its lowest layer, everything else pauses.
    w.router.set_bandwidth(w.now, d, Some(100_000));
    assert_eq!(layers(&mut w, 1000 * MS), [Some(0), None, None]);
    assert_eq!(
        [STAGE, TILE0, TILE1].map(|s| w.router.slot_source(d, s)),
        [Some(a), Some(b), Some(c)]
    );
}

#[test]
fn an_unknown_estimate_restores_the_size_only_choice() {
    let mut w = world();
    let [a, b, c] = [1, 2, 3].map(|i| w.join(i));
    // C: A on stage, B in a tile. 300 k: audio (80 k) and A's quarter layer; B pauses.
    w.stream(&[a, b], 1500 * MS);
    w.router.set_bandwidth(w.now, c, Some(300_000));
    let [stage, tile] = settled(&mut w, &[a, b], 1000 * MS, c, [(a, STAGE), (b, TILE0)]);
    assert_eq!(stage, Some(0));
    assert_eq!(tile, None, "paused");
    assert_eq!(
        w.router.slot_source(c, TILE0),
        Some(b),
        "but still assigned"
    );

    // Unknown again: the stage's top layer and the tile's quarter layer at once (no hold:
    // there is no budget to protect).
    w.router.set_bandwidth(w.now, c, None);
    let got = w.stream(&[a, b], 400 * MS);
    assert_eq!(layers_delivered(&got, a, c, STAGE), vec![0, TOP_LAYER]);
    assert_eq!(layers_delivered(&got, b, c, TILE0), vec![0]);
}

/// The `DesiredBitrate` reports for `sub` since the last call.
fn desired(w: &mut World, sub: PeerId) -> Vec<u64> {
    w.outputs()
        .into_iter()
        .filter_map(|o| match o {
            RouterOutput::DesiredBitrate { subscriber, bps } if subscriber == sub => Some(bps),
            _ => None,
        })
        .collect()
}

#[test]
fn the_desired_bitrate_follows_sizes_and_ignores_small_changes() {
    let (mut w, a, b) = watched();
    // The stage's full layer plus A's audio, as measured (guessed before that), with the
    // 20 % upgrade margin on top.
    assert_eq!(desired(&mut w, b).last(), Some(&2_208_000));

    // It does not depend on the estimate.
    w.router.set_bandwidth(w.now, b, Some(500_000));
    w.stream(&[a], 1000 * MS);
    assert_eq!(desired(&mut w, b), vec![]);

    // B shrinks the stage: the quarter layer (200 k) and audio (40 k) are all it needs.
    w.router.set_slot_width(w.now, b, STAGE, 300);
    assert_eq!(desired(&mut w, b), vec![288_000]);

    // A's quarter layer gets 5 % more expensive: not worth a report; 50 % is.
    w.set_rates(
        a,
        Rates {
            video: [210_000, 600_000, 1_800_000],
            audio: 40_000,
        },
    );
    w.stream(&[a], 2000 * MS);
    assert_eq!(desired(&mut w, b), vec![]);
    w.set_rates(
        a,
        Rates {
            video: [300_000, 600_000, 1_800_000],
            audio: 40_000,
        },
    );
    w.stream(&[a], 2000 * MS);
    // Reported in steps of more than 10 %: the last step is within 10 % of 1.2 × 340 k.
    let last = *desired(&mut w, b).last().expect("reported");
    assert!((372_000..=408_000).contains(&last), "{last}");
}

#[test]
fn subscribers_waiting_for_the_same_layer_share_one_keyframe_request_and_keyframe() {
    let mut w = world();
    let a = w.join(1);
    let subs = [2, 3, 4].map(|i| w.join(i));
    let got = w.stream(&[a], 1500 * MS);
    for &s in &subs {
        assert_eq!(layers_delivered(&got, a, s, STAGE), vec![TOP_LAYER]);
    }
    w.answer_keyframes = false;
    w.outputs();
    // Two subscribers' estimates drop together, the third one's a moment later.
    w.router.set_bandwidth(w.now, subs[0], Some(1_000_000));
    w.router.set_bandwidth(w.now, subs[1], Some(1_000_000));
    w.stream(&[a], 200 * MS);
    w.router.set_bandwidth(w.now, subs[2], Some(1_000_000));
    w.stream(&[a], 200 * MS);
    assert_eq!(
        w.keyframe_requests(),
        vec![(a, 1)],
        "one request for all three"
    );
    let fwds = w.video(a, 1, true);
    for &s in &subs {
        assert_eq!(
            to(&fwds, s, STAGE).len(),
            1,
            "the keyframe switches everyone"
        );
        assert_eq!(layers_reaching(&mut w, a, s, STAGE), vec![1]);
    }
}

#[test]
fn dynacast_skips_layers_a_subscriber_cannot_afford_but_resumes_those_it_can() {
    let (mut w, a, b) = watched();
    assert_eq!(layers_needed(&mut w)[&a], [false, false, true]);

    // B can afford only the half layer: the full one is nobody's need any more.
    w.router.set_bandwidth(w.now, b, Some(1_000_000));
    w.stream(&[a], 1000 * MS);
    assert_eq!(layers_needed(&mut w)[&a], [false, true, false]);

    // A pauses its full layer (as dynacast allows).
    w.set_rates(
        a,
        Rates {
            video: [200_000, 600_000, 0],
            audio: 40_000,
        },
    );
    w.stream(&[a], 1500 * MS);
    assert_eq!(layers_needed(&mut w).get(&a), None, "no change");

    // B's estimate recovers: the full layer is needed again (its last measured rate fits)
    // before any slot can switch to it.
    w.router.set_bandwidth(w.now, b, Some(3_000_000));
    assert_eq!(layer_after(&mut w, a, b, STAGE, 200 * MS), Some(1));
    assert_eq!(layers_needed(&mut w)[&a], [false, true, true]);

    // A resumes it: B switches up (the hold is over) and only the full layer is needed.
    w.set_rates(a, RATES);
    assert_eq!(layer_after(&mut w, a, b, STAGE, 2000 * MS), Some(TOP_LAYER));
    assert_eq!(layers_needed(&mut w)[&a], [false, false, true]);
}

#[test]
fn a_new_subscribers_estimate_counts_only_after_the_warm_up() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    // The estimator's first values while the connection ramps up: ignored during the
    // warm-up (1 s by default).
    let warmup = RouterConfig::default().bandwidth_warmup;
    assert_eq!(warmup, 1000 * MS);
    w.router.set_bandwidth(w.now, b, Some(1_000_000));
    let got = w.stream(&[a], warmup - 200 * MS);
    assert_eq!(layers_delivered(&got, a, b, STAGE), vec![TOP_LAYER]);
    let got = w.stream(&[a], 1000 * MS);
    assert_eq!(
        layers_delivered(&got, a, b, STAGE).last(),
        Some(&1),
        "after the warm-up the budget applies"
    );
}

#[test]
fn a_standing_send_queue_cuts_the_layers_even_during_the_warm_up() {
    let mut w = World::new();
    let a = w.join(1);
    let b = w.join(2);
    // An estimate that would leave the top layer, and a standing queue that leaves 1 Mbit/s:
    // the queue counts at once (the warm-up only holds back the estimate).
    w.router.set_bandwidth(w.now, b, Some(5_000_000));
    w.router.set_send_queue_budget(w.now, b, Some(1_000_000));
    let got = w.stream(&[a], 600 * MS);
    assert_eq!(
        layers_delivered(&got, a, b, STAGE).last(),
        Some(&1),
        "the stage went down within the warm-up"
    );
    // A queue that leaves nothing: the stage's lowest layer, never a pause.
    w.router.set_send_queue_budget(w.now, b, Some(0));
    assert_eq!(layer_after(&mut w, a, b, STAGE, 400 * MS), Some(0));
    // Drained (`None`): the estimate alone again, up after the upgrade hold.
    w.router.set_send_queue_budget(w.now, b, None);
    let hold = RouterConfig::default().upgrade_hold;
    assert_eq!(layer_after(&mut w, a, b, STAGE, 400 * MS), Some(0), "held");
    assert_eq!(layer_after(&mut w, a, b, STAGE, hold), Some(TOP_LAYER));
    // The lower of the two counts: a queue budget above the estimate changes nothing.
    w.router.set_bandwidth(w.now, b, Some(1_000_000));
    w.router.set_send_queue_budget(w.now, b, Some(5_000_000));
    assert_eq!(layer_after(&mut w, a, b, STAGE, 400 * MS), Some(1));
}

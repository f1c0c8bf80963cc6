//! Pacing with bandwidth estimation on, in memory and virtual time: a subscriber's share of a
//! frame leaves together in one flush, after the shard's coalescing delay (str0m's
//! leaky-bucket pacer, as patched in vendor/str0m, lets every packet that is due go in one
//! timeout), while a keyframe larger than the pacer's burst is spread out at about the
//! subscriber's estimate and still arrives whole.

use std::time::Duration;

use plenum_sfu::SlotLayout;
use plenum_sfu::router::{PeerId, RoomId, RouterConfig};
use plenum_sfu::shard::DEFAULT_FLUSH_COALESCE;
use plenum_sfu::testing::Network;

const LAYOUT: SlotLayout = SlotLayout {
    stage: 1,
    tiles: 2,
    audio: 1,
};
const ROOM: RoomId = RoomId(1);
const SUBSCRIBER: PeerId = PeerId(2);

/// A publisher and one subscriber with estimation on; 6 s of 30 frames/s (a keyframe every
/// 2 s, 5 packets a frame) in 1 ms steps, so the stage is open and the estimate settled.
fn room() -> (Network, usize, usize) {
    let mut setup = Network::setup(1, LAYOUT, RouterConfig::default());
    setup.bandwidth_estimation = true;
    let mut net = Network::with_setup(setup);
    let publisher = net.join(1, ROOM, 0, true);
    let subscriber = net.join(SUBSCRIBER.0, ROOM, 0, false);
    assert!(net.connect_all(2000), "both connect");
    for frame in 0..180 {
        let keyframe = frame % 60 == 0 || net.clients[publisher].keyframe_requests > 0;
        net.clients[publisher].keyframe_requests = 0;
        net.send_frame(publisher, keyframe, 5);
        for _ in 0..33 {
            net.now += Duration::from_millis(1);
            net.pump();
        }
    }
    assert!(
        net.clients[subscriber].packets_received() > 500,
        "the stage flows: {:?}",
        net.clients[subscriber]
    );
    (net, publisher, subscriber)
}

fn estimate(net: &Network) -> u64 {
    net.shards[0]
        .bandwidth_estimate(SUBSCRIBER)
        .expect("the subscriber has an estimate")
}

#[test]
fn a_frame_within_the_budget_leaves_in_one_flush() {
    let (mut net, publisher, subscriber) = room();
    // Enough estimate for a 5-packet frame (40 kbit) in one burst.
    assert!(estimate(&net) > 1_000_000, "estimate {}", estimate(&net));
    for _ in 0..10 {
        let before = net.clients[subscriber].packets_received();
        net.send_frame(publisher, false, 5);
        net.pump();
        assert_eq!(
            net.clients[subscriber].packets_received(),
            before,
            "held for the coalescing delay"
        );
        // One pump at the flush: everything happens at one virtual instant (no time for a
        // per-packet "immediate" timeout to come due).
        net.now += DEFAULT_FLUSH_COALESCE;
        net.pump();
        assert_eq!(
            net.clients[subscriber].packets_received() - before,
            5,
            "all five packets at once"
        );
        net.now += Duration::from_millis(31);
        net.pump();
    }
}

#[test]
fn a_keyframe_beyond_the_burst_is_paced_at_about_the_estimate() {
    let (mut net, publisher, subscriber) = room();
    let bps = estimate(&net);
    let start = net.clients[subscriber].packets_received();
    // 100 packets of ~1 kB: far more than one 40 ms burst at this estimate.
    net.send_frame(publisher, true, 100);
    let mut arrivals: Vec<(u64, u64)> = Vec::new(); // (ms, packets arrived by then)
    for ms in 0..2000u64 {
        net.pump();
        let got = net.clients[subscriber].packets_received() - start;
        arrivals.push((ms, got));
        if got >= 100 {
            break;
        }
        net.now += Duration::from_millis(1);
    }
    let (done_ms, total) = *arrivals.last().expect("at least one step");
    assert_eq!(total, 100, "the whole keyframe arrives");
    let first = arrivals.iter().map(|a| a.1).find(|&n| n > 0).unwrap_or(0);
    assert!(
        first > 1 && first < 100,
        "a first burst, not one packet and not everything: {first}"
    );
    // Packets are ~1 040 bytes on the wire; any 100 ms window carries at most 2x the
    // estimate's worth.
    let per_window_max = arrivals
        .iter()
        .map(|&(t, n)| {
            let before = arrivals
                .iter()
                .rev()
                .find(|&&(u, _)| u + 100 <= t)
                .map_or(0, |&(_, m)| m);
            n - before
        })
        .max()
        .unwrap_or(0);
    let window_bits = per_window_max * 1040 * 8;
    assert!(
        window_bits <= 2 * bps / 10,
        "at most 2x the estimate ({bps} bit/s) in any 100 ms: {per_window_max} packets"
    );
    eprintln!(
        "estimate {bps} bit/s: first burst {first} packets, all 100 after {done_ms} ms, \
         busiest 100 ms {per_window_max} packets"
    );
}

//! The router's hot path: one packet in → N rewritten forwards out, and a slot switch.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use plenum_sfu::rewrite::PacketIds;
use plenum_sfu::router::{IncomingPacket, Kind, PeerId, RoomId, Router, TOP_LAYER};
use plenum_sfu::{RouterConfig, SlotLayout};

const LAYOUT: SlotLayout = SlotLayout {
    stage: 1,
    tiles: 8,
    audio: 3,
};

/// A room with one stage publisher (all layers active) and `n` subscribers.
fn room(n: u64) -> (Router, Instant) {
    let mut r = Router::new(RouterConfig::default());
    let now = Instant::now();
    let room = RoomId(1);
    r.add_peer(now, PeerId(0), room, LAYOUT);
    r.set_publishing(now, PeerId(0), Kind::Video, true);
    r.set_publishing(now, PeerId(0), Kind::Audio, true);
    for i in 1..=n {
        r.add_peer(now, PeerId(i), room, LAYOUT);
    }
    // Activate the top layer and deliver its keyframe so every stage slot forwards.
    let mut out = Vec::new();
    r.handle_packet(now, &packet(0, TOP_LAYER, true), &mut out);
    r.handle_timeout(now + Duration::from_millis(300));
    out.clear();
    r.handle_packet(now, &packet(1, TOP_LAYER, true), &mut out);
    assert_eq!(out.len() as u64, n, "every subscriber's stage forwards");
    (r, now)
}

fn packet(seq: u64, layer: u8, keyframe: bool) -> IncomingPacket {
    IncomingPacket {
        source: PeerId(0),
        kind: Kind::Video,
        layer,
        ids: PacketIds {
            seq,
            timestamp: (seq as u32) * 3000,
            picture_id: Some((seq & 0x7fff) as u16),
            tl0_pic_idx: Some(seq as u8),
        },
        keyframe,
        audio_level: None,
        size: 1100,
    }
}

fn fan_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("router_fan_out");
    for n in [10u64, 150] {
        let (mut r, now) = room(n);
        let mut out = Vec::with_capacity(n as usize);
        let mut seq = 2;
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                out.clear();
                seq += 1;
                r.handle_packet(now, black_box(&packet(seq, TOP_LAYER, false)), &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn slot_switch(c: &mut Criterion) {
    // A moderator moves the stage between two publishers: every subscriber's stage slot is
    // re-assigned (150 subscribers).
    let (mut r, now) = room(150);
    r.add_peer(now, PeerId(999), RoomId(1), LAYOUT);
    r.set_publishing(now, PeerId(999), Kind::Video, true);
    let mut pin = false;
    c.bench_function("router_stage_switch_150", |b| {
        b.iter(|| {
            pin = !pin;
            let target = if pin {
                Some(PeerId(999))
            } else {
                Some(PeerId(0))
            };
            r.set_stage_pin(now, RoomId(1), target);
            while let Some(o) = r.poll_output() {
                black_box(o);
            }
        })
    });
}

criterion_group!(benches, fan_out, slot_switch);
criterion_main!(benches);

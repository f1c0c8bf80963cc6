//! The whole forward path in memory: a publisher's SRTP datagram into the media shard
//! (demux, SRTP unprotect, router, rewrite, SRTP protect for every subscriber) and the
//! subscribers' datagrams out. Real str0m connections on both sides, no sockets: the
//! datagrams are handed over in memory, time is virtual.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use plenum_loadtest::synth::{DEFAULT_LAYERS, VideoLayer};
use plenum_sfu::router::RoomId;
use plenum_sfu::testing::Network;
use plenum_sfu::{RouterConfig, SlotLayout, payload_type};
use str0m::format::Codec;
use str0m::net::{Protocol, Transmit};
use str0m::rtp::RtpWrite;
use str0m::{Input, Output};

const LAYOUT: SlotLayout = SlotLayout {
    stage: 1,
    tiles: 8,
    audio: 3,
};

/// One shard, a publisher (client 0) and `subscribers`, all connected; with or without
/// bandwidth estimation (str0m's pacer then releases one packet per timeout).
fn setup(subscribers: usize, bandwidth_estimation: bool) -> Network {
    let mut setup = Network::setup(1, LAYOUT, RouterConfig::default());
    setup.bandwidth_estimation = bandwidth_estimation;
    let mut net = Network::with_setup(setup);
    net.join(0, RoomId(1), 0, true);
    for i in 1..=subscribers {
        net.join(i as u64, RoomId(1), 0, false);
    }
    assert!(net.connect_all(3000), "all connect in memory");
    net
}

fn forward(c: &mut Criterion) {
    for bwe in [false, true] {
        forward_group(c, bwe);
    }
}

fn forward_group(c: &mut Criterion, bandwidth_estimation: bool) {
    let name = if bandwidth_estimation {
        "forward_path_bwe"
    } else {
        "forward_path"
    };
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    // With estimation, 150 subscribers in virtual time outrun their (start) estimates and the
    // pacer holds packets back, so "every packet to every subscriber per flush" only holds for
    // the small room: that one isolates the pacer's extra timeout per packet.
    let sizes: &[usize] = if bandwidth_estimation {
        &[10]
    } else {
        &[10, 150]
    };
    for &n in sizes {
        let mut s = setup(n, bandwidth_estimation);
        let video_mid = s.clients[0].video_mid.unwrap();
        let pt = payload_type(&s.clients[0].rtc, video_mid, Codec::Vp8).unwrap();
        // A keyframe every second: the stage slots open on the first one after the router
        // noticed the (single) layer.
        let mut layer = VideoLayer::new(DEFAULT_LAYERS[2], Duration::from_secs(1), 1);
        let mut seq = 1000u64;
        let mut out = Vec::new();
        let mut pending: Vec<Transmit> = Vec::new();
        let mut frames = 0u64;
        // One packet from the publisher's connection, SRTP-protected (outside the timing).
        let mut next_datagram = |s: &mut Network| -> Transmit {
            loop {
                if let Some(t) = pending.pop() {
                    return t;
                }
                s.now += Duration::from_millis(34);
                let frame = layer.poll(s.now).expect("a frame is due");
                let publisher = &mut s.clients[0].rtc;
                let mut api = publisher.direct_api();
                let tx = api.stream_tx_by_mid(video_mid, None).unwrap();
                let count = frame.payloads.len();
                for (i, p) in frame.payloads.into_iter().enumerate() {
                    tx.write_rtp(
                        RtpWrite::new(pt, seq.into(), frame.rtp_time, s.now, p)
                            .marker(i + 1 == count)
                            .nackable(true),
                    );
                    seq += 1;
                }
                publisher.handle_input(Input::Timeout(s.now)).unwrap();
                loop {
                    match publisher.poll_output().unwrap() {
                        Output::Timeout(_) => break,
                        Output::Transmit(t) => pending.insert(0, t),
                        Output::Event(_) => {}
                    }
                }
                frames += 1;
                if frames.is_multiple_of(20) {
                    // Keep every connection alive (ICE consent, RTCP): run the clients and
                    // hand the shard's datagrams to them, outside the timing.
                    s.pump();
                }
            }
        };
        // Warm up until one publisher packet comes out once per subscriber (stage slots open).
        let mut forwarding = false;
        for _ in 0..2000 {
            let t = next_datagram(&mut s);
            s.shards[0].handle_datagram(s.now, Protocol::Udp, t.source, &t.contents);
            s.shards[0].handle_timeout(s.now);
            s.shards[0].take_transmits(&mut out);
            forwarding = out.len() >= n;
            out.clear();
            if forwarding {
                break;
            }
        }
        assert!(forwarding, "the shard forwards to all {n} subscribers");
        // Batch 1: every publisher packet is flushed to the subscribers on its own (one
        // timeout + drain per subscriber and packet). Batch 6: a 720p frame's packets are
        // handed over together and flushed once, as the driver does with a burst.
        for batch in [1usize, 6] {
            let mut sent = 0usize;
            let mut packets = 0usize;
            g.throughput(Throughput::Elements((n * batch) as u64));
            g.bench_with_input(BenchmarkId::new(format!("batch{batch}"), n), &n, |b, _| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let datagrams: Vec<Transmit> =
                            (0..batch).map(|_| next_datagram(&mut s)).collect();
                        let start = Instant::now();
                        for t in &datagrams {
                            s.shards[0].handle_datagram(
                                s.now,
                                Protocol::Udp,
                                t.source,
                                &t.contents,
                            );
                        }
                        s.shards[0].handle_timeout(s.now);
                        s.shards[0].take_transmits(&mut out);
                        total += start.elapsed();
                        sent += black_box(out.len());
                        packets += batch;
                        // Answers to the publisher (STUN, RTCP) reach it; subscribers' media
                        // is dropped here (their own timers run in `pump`).
                        let publisher = s.clients[0].addr;
                        out.retain(|t| t.destination == publisher);
                        s.deliver_all(&mut out);
                    }
                    total
                })
            });
            // The publisher's own RTCP is among the packets and forwards to nobody: allow 5 %.
            assert!(
                sent * 100 >= packets * n * 95,
                "every media packet went to every subscriber: {sent} datagrams for {packets} packets"
            );
        }
    }
    g.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);

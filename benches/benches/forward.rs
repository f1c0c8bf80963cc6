//! The whole forward path in memory: a publisher's SRTP datagram into the media shard
//! (demux, SRTP unprotect, router, rewrite, SRTP protect for every subscriber) and the
//! subscribers' datagrams out. Real str0m connections on both sides, no sockets: the
//! datagrams are handed over in memory, time is virtual.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use plenum_loadtest::synth::{DEFAULT_LAYERS, VideoLayer};
use plenum_sfu::router::{Kind, PeerId, RoomId};
use plenum_sfu::shard::Shard;
use plenum_sfu::{RouterConfig, SlotLayout, payload_type};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

const LAYOUT: SlotLayout = SlotLayout {
    stage: 1,
    tiles: 8,
    audio: 3,
};

struct Client {
    rtc: Rtc,
    addr: SocketAddr,
    connected: bool,
}

fn client(addr: SocketAddr, now: Instant) -> Client {
    let mut rtc = RtcConfig::new()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .build(now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    Client {
        rtc,
        addr,
        connected: false,
    }
}

/// Offer, let the shard answer, accept.
fn negotiate(
    shard: &mut Shard,
    c: &mut Client,
    id: u64,
    publisher: bool,
    now: Instant,
) -> Option<Mid> {
    let mut api = c.rtc.sdp_api();
    let video =
        publisher.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
    if !publisher {
        for _ in 0..(LAYOUT.stage + LAYOUT.tiles) {
            api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        }
        for _ in 0..LAYOUT.audio {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
    }
    let (offer, pending) = api.apply().unwrap();
    let offer = SdpOffer::from_sdp_string(&offer.to_sdp_string()).unwrap();
    let connected = shard
        .connect(now, PeerId(id), RoomId(1), &offer.to_sdp_string())
        .unwrap();
    let answer = SdpAnswer::from_sdp_string(&connected.answer).unwrap();
    c.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    video
}

/// Drain a client's outputs into the shard; returns datagrams it sent.
fn drain_client(c: &mut Client, shard: &mut Shard, now: Instant) {
    loop {
        match c.rtc.poll_output().unwrap() {
            Output::Timeout(_) => break,
            Output::Transmit(t) => shard.handle_datagram(now, t.source, &t.contents),
            Output::Event(Event::Connected) => c.connected = true,
            Output::Event(_) => {}
        }
    }
}

fn deliver(clients: &mut [Client], out: &mut Vec<Transmit>, now: Instant) {
    for t in out.drain(..) {
        if let Some(c) = clients.iter_mut().find(|c| c.addr == t.destination) {
            let r = Receive::new(Protocol::Udp, t.source, t.destination, &t.contents).unwrap();
            c.rtc.handle_input(Input::Receive(now, r)).unwrap();
        }
    }
}

/// One round of the clients' own timers, their datagrams into the shard, the shard's out.
fn pump(s: &mut Setup) {
    let mut out = Vec::new();
    for c in s.clients.iter_mut() {
        c.rtc.handle_input(Input::Timeout(s.now)).unwrap();
        drain_client(c, &mut s.shard, s.now);
    }
    s.shard.handle_timeout(s.now);
    s.shard.take_transmits(&mut out);
    deliver(&mut s.clients, &mut out, s.now);
}

struct Setup {
    shard: Shard,
    clients: Vec<Client>,
    video_mid: Mid,
    now: Instant,
}

fn setup(subscribers: usize) -> Setup {
    let now = Instant::now();
    let server: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::mem::forget(rx);
    let mut shard = Shard::new(server, vec![server], LAYOUT, RouterConfig::default(), tx).unwrap();
    let mut clients: Vec<Client> = (0..=subscribers)
        .map(|i| client(SocketAddr::from(([127, 0, 0, 1], 50_000 + i as u16)), now))
        .collect();
    let video_mid = negotiate(&mut shard, &mut clients[0], 0, true, now).unwrap();
    for (i, c) in clients.iter_mut().enumerate().skip(1) {
        negotiate(&mut shard, c, i as u64, false, now);
    }
    shard.set_publishing(now, PeerId(0), Kind::Video, true);
    let mut s = Setup {
        shard,
        clients,
        video_mid,
        now,
    };
    for _ in 0..3000 {
        pump(&mut s);
        if s.clients.iter().all(|c| c.connected) {
            break;
        }
        s.now += Duration::from_millis(2);
    }
    assert!(
        s.clients.iter().all(|c| c.connected),
        "all connect in memory"
    );
    s
}

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward_path");
    g.sample_size(20);
    for n in [10usize, 150] {
        let mut s = setup(n);
        let pt = payload_type(&s.clients[0].rtc, s.video_mid, Codec::Vp8).unwrap();
        // A keyframe every second: the stage slots open on the first one after the router
        // noticed the (single) layer.
        let mut layer = VideoLayer::new(DEFAULT_LAYERS[2], Duration::from_secs(1), 1);
        let mut seq = 1000u64;
        let mut out = Vec::new();
        let mut pending: Vec<Transmit> = Vec::new();
        let mut frames = 0u64;
        // One packet from the publisher's connection, SRTP-protected (outside the timing).
        let mut next_datagram = |s: &mut Setup| -> Transmit {
            loop {
                if let Some(t) = pending.pop() {
                    return t;
                }
                s.now += Duration::from_millis(34);
                let frame = layer.poll(s.now).expect("a frame is due");
                let publisher = &mut s.clients[0].rtc;
                let mut api = publisher.direct_api();
                let tx = api.stream_tx_by_mid(s.video_mid, None).unwrap();
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
                    pump(s);
                }
            }
        };
        // Warm up until one publisher packet comes out once per subscriber (stage slots open).
        let mut forwarding = false;
        for _ in 0..2000 {
            let t = next_datagram(&mut s);
            s.shard.handle_datagram(s.now, t.source, &t.contents);
            s.shard.handle_timeout(s.now);
            s.shard.take_transmits(&mut out);
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
                            s.shard.handle_datagram(s.now, t.source, &t.contents);
                        }
                        s.shard.handle_timeout(s.now);
                        s.shard.take_transmits(&mut out);
                        total += start.elapsed();
                        sent += black_box(out.len());
                        packets += batch;
                        // Answers to the publisher (STUN, RTCP) reach it; subscribers' media
                        // is dropped here (their own timers run in `pump`).
                        let publisher = s.clients[0].addr;
                        out.retain(|t| t.destination == publisher);
                        deliver(&mut s.clients[..1], &mut out, s.now);
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

//! Shared harness of the benches (the criterion benches live in `benches/`; see docs/perf.md).
//!
//! [`ForwardRoom`]: the whole forward path of one media shard in memory and virtual time —
//! one str0m publisher sending a 720p VP8 layer, N str0m subscribers (1 stage + 8 tiles + 3
//! audio slots each) that receive it and answer with RTCP (receiver reports, TWCC feedback),
//! and the shard between them with or without bandwidth estimation (str0m's estimator and
//! leaky-bucket pacer). Virtual time advances from frame to frame through every wake-up the
//! shard asks for (its pacer's) and a 5 ms client tick. Only the shard's own calls are
//! timed: publisher datagrams in, subscribers' RTCP in, timeouts with their paced sends, and
//! the datagrams out — everything the server does for a forwarded packet but the syscalls.
//! The publisher's encryption and the subscribers' decryption run outside the timing.
//! The `forward` bench and the `forward-profile` binary (for perf and callgrind) drive it.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use plenum_loadtest::synth::{DEFAULT_LAYERS, VideoLayer};
use plenum_sfu::router::{PeerId, RoomId};
use plenum_sfu::testing::Network;
use plenum_sfu::{RouterConfig, SlotLayout, payload_type};
use str0m::format::Codec;
use str0m::media::{Mid, Pt};
use str0m::net::{Protocol, Transmit};
use str0m::rtp::RtpWrite;
use str0m::{Input, Output};

/// The slots every subscriber receives.
pub const LAYOUT: SlotLayout = SlotLayout {
    stage: 1,
    tiles: 8,
    audio: 3,
};

/// How often the subscribers' timers run (and their RTCP reaches the shard).
const CLIENT_TICK: Duration = Duration::from_millis(5);

/// What the shard spent on one frame period.
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameCost {
    /// Wall time inside the shard's calls.
    pub shard_time: Duration,
    /// RTP packets of the publisher the subscribers received in the period.
    pub forwarded: u64,
    /// The publisher's RTP packets of the frame.
    pub packets: u64,
}

impl std::ops::AddAssign for FrameCost {
    fn add_assign(&mut self, other: Self) {
        self.shard_time += other.shard_time;
        self.forwarded += other.forwarded;
        self.packets += other.packets;
    }
}

/// See the crate docs.
pub struct ForwardRoom {
    net: Network,
    layer: VideoLayer,
    video_mid: Mid,
    pt: Pt,
    seq: u64,
    interval: Duration,
    next_frame: Instant,
    out: Vec<Transmit>,
}

impl std::fmt::Debug for ForwardRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardRoom")
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

impl ForwardRoom {
    /// A shard with a publisher (the top simulcast layer of the load tester's defaults, a
    /// keyframe every 3 s) and `subscribers`, all connected, then 5 s of virtual time so that
    /// the stage slots are open and the estimators have settled.
    ///
    /// # Panics
    /// When the in-memory connections do not come up (a bug).
    pub fn new(subscribers: usize, bandwidth_estimation: bool) -> Self {
        let mut setup = Network::setup(1, LAYOUT, RouterConfig::default());
        setup.bandwidth_estimation = bandwidth_estimation;
        let mut net = Network::with_setup(setup);
        net.join(0, RoomId(1), 0, true);
        for i in 1..=subscribers {
            net.join(i as u64, RoomId(1), 0, false);
        }
        assert!(net.connect_all(3000), "all connect in memory");
        let video_mid = net.clients[0].video_mid.expect("the publisher has video");
        let pt = payload_type(&net.clients[0].rtc, video_mid, Codec::Vp8).expect("VP8");
        let spec = DEFAULT_LAYERS[2];
        let layer = VideoLayer::new(spec, Duration::from_secs(3), 1);
        let next_frame = net.now;
        let mut room = Self {
            net,
            layer,
            video_mid,
            pt,
            seq: 1000,
            interval: Duration::from_micros(1_000_000 / u64::from(spec.fps)),
            next_frame,
            out: Vec::new(),
        };
        let until = room.net.now + Duration::from_secs(5);
        while room.net.now < until {
            room.frame(usize::MAX);
        }
        room
    }

    /// The lowest bandwidth estimate among the subscribers (bits per second).
    pub fn lowest_estimate(&self) -> Option<u64> {
        let n = self.net.clients.len() as u64;
        (1..n)
            .filter_map(|p| self.net.shards[0].bandwidth_estimate(PeerId(p)))
            .min()
    }

    /// One frame period: the publisher's next frame goes into the shard in batches of
    /// `batch` datagrams (one shard timeout after each batch; `usize::MAX`: the whole frame,
    /// as the driver does with a burst read in one loop turn), then virtual time runs to the
    /// next frame through the shard's wake-ups and the client ticks.
    ///
    /// # Panics
    /// When the publisher's connection fails (a bug).
    pub fn frame(&mut self, batch: usize) -> FrameCost {
        let before = self.received();
        let mut cost = FrameCost::default();
        self.net.now = self.next_frame;
        self.next_frame += self.interval;
        let datagrams = self.publish();
        cost.packets = datagrams.len() as u64;
        for chunk in datagrams.chunks(batch.max(1)) {
            cost.shard_time += self.shard_input(chunk);
        }
        let mut now = self.net.now;
        loop {
            let next = shard_wake(&self.net.shards[0], now)
                .min(now + CLIENT_TICK)
                .min(self.next_frame);
            if next >= self.next_frame {
                break;
            }
            now = next.max(now + Duration::from_micros(1));
            self.net.now = now;
            let rtcp = self.net.poll_clients();
            cost.shard_time += self.shard_input(&rtcp);
        }
        cost.forwarded = self.received() - before;
        cost
    }

    /// Hand datagrams to the shard, run its timeout, deliver what it sends: the shard's part
    /// is timed, the clients' part is not.
    fn shard_input(&mut self, datagrams: &[Transmit]) -> Duration {
        let start = Instant::now();
        shard_step(
            &mut self.net.shards[0],
            self.net.now,
            datagrams,
            &mut self.out,
        );
        let spent = start.elapsed();
        self.net.deliver_all(&mut self.out);
        spent
    }

    /// The publisher's next frame as SRTP datagrams.
    fn publish(&mut self) -> Vec<Transmit> {
        let now = self.net.now;
        let frame = self.layer.poll(now).expect("a frame is due every interval");
        let publisher = &mut self.net.clients[0].rtc;
        let mut api = publisher.direct_api();
        let tx = api
            .stream_tx_by_mid(self.video_mid, None)
            .expect("the publisher's stream");
        let count = frame.payloads.len();
        for (i, p) in frame.payloads.into_iter().enumerate() {
            tx.write_rtp(
                RtpWrite::new(self.pt, self.seq.into(), frame.rtp_time, now, p)
                    .marker(i + 1 == count)
                    .nackable(true),
            );
            self.seq += 1;
        }
        publisher
            .handle_input(Input::Timeout(now))
            .expect("the publisher takes the time");
        let mut datagrams = Vec::new();
        while let Ok(output) = publisher.poll_output() {
            match output {
                Output::Timeout(_) => break,
                Output::Transmit(t) => datagrams.push(t),
                Output::Event(_) => {}
            }
        }
        datagrams
    }

    /// RTP packets all subscribers received so far.
    fn received(&self) -> u64 {
        self.net.clients[1..]
            .iter()
            .map(|c| c.packets_received())
            .sum()
    }
}

/// The shard's part of a step, on its own so that callgrind can count just it
/// (`--toggle-collect=*shard_step*`).
#[inline(never)]
pub fn shard_step(
    shard: &mut plenum_sfu::shard::Shard,
    now: Instant,
    datagrams: &[Transmit],
    out: &mut Vec<Transmit>,
) {
    for t in datagrams {
        shard.handle_datagram(now, Protocol::Udp, t.source, &t.contents);
    }
    shard.handle_timeout(now);
    shard.take_transmits(out);
}

/// When the shard wants its next timeout, never before `now`.
fn shard_wake(shard: &plenum_sfu::shard::Shard, now: Instant) -> Instant {
    shard.poll_timeout(now).max(now)
}

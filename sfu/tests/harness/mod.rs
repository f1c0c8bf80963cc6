//! Shared harness for the router's deterministic tests: virtual time, packet builders.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use plenum_sfu::rewrite::PacketIds;
use plenum_sfu::router::{
    Forward, IncomingPacket, Kind, PACKET_OVERHEAD, PeerId, RoomEvent, RoomId, Router,
    RouterOutput, TOP_LAYER,
};
use plenum_sfu::{RouterConfig, SlotLayout};

pub const ROOM: RoomId = RoomId(1);

pub const LAYOUT: SlotLayout = SlotLayout {
    stage: 1,
    tiles: 2,
    audio: 2,
};

/// Slot indices for [`LAYOUT`].
pub const STAGE: usize = 0;
pub const TILE0: usize = 1;
pub const TILE1: usize = 2;
pub const AUDIO0: usize = 3;

/// Wire bitrates (payload plus [`PACKET_OVERHEAD`], 50 packets per second) a source sends
/// at unless [`World::set_rates`] says otherwise.
pub const RATES: Rates = Rates {
    video: [200_000, 600_000, 1_800_000],
    audio: 40_000,
};

/// What a source sends, in bits per second on the wire; 0: that layer is paused.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub video: [u64; 3],
    pub audio: u64,
}

/// A packet a [`World::tick`] sent and where it went.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub source: PeerId,
    pub kind: Kind,
    pub layer: u8,
    pub forward: Forward,
}

/// A router with a virtual clock.
#[derive(Debug)]
pub struct World {
    pub router: Router,
    pub now: Instant,
    /// [`World::tick`] answers keyframe requests with a keyframe on the next packet of that
    /// layer, as a publisher would.
    pub answer_keyframes: bool,
    /// Next sequence number / timestamp / picture id per (source, kind, layer).
    counters: std::collections::HashMap<(PeerId, Kind, u8), (u64, u32, u16)>,
    rates: std::collections::HashMap<PeerId, Rates>,
    /// Outputs [`World::tick`] polled, kept for [`World::outputs`].
    polled: Vec<RouterOutput>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> Self {
        Self::with_config(RouterConfig::default())
    }

    pub fn with_config(config: RouterConfig) -> Self {
        Self {
            router: Router::new(config),
            now: Instant::now(),
            answer_keyframes: true,
            counters: Default::default(),
            rates: Default::default(),
            polled: Vec::new(),
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.router.handle_timeout(self.now);
    }

    /// Join a peer that publishes a camera and a microphone.
    pub fn join(&mut self, id: u64) -> PeerId {
        let p = PeerId(id);
        self.router.add_peer(self.now, p, ROOM, LAYOUT);
        self.router.set_publishing(self.now, p, Kind::Video, true);
        self.router.set_publishing(self.now, p, Kind::Audio, true);
        p
    }

    /// `src` sends at these rates from now on.
    pub fn set_rates(&mut self, src: PeerId, rates: Rates) {
        self.rates.insert(src, rates);
    }

    /// What `src` sends at.
    pub fn rates(&self, src: PeerId) -> Rates {
        self.rates.get(&src).copied().unwrap_or(RATES)
    }

    /// Payload bytes of one 20 ms packet at `bps` on the wire (at least one).
    fn packet_size(bps: u64) -> usize {
        ((bps / 8 / 50) as usize)
            .saturating_sub(PACKET_OVERHEAD)
            .max(1)
    }

    /// One 20 ms step: each of `sources` sends one packet on each of its unpaused video
    /// layers (a keyframe where one was asked for, see [`World::answer_keyframes`]) and a
    /// silent audio packet; then time advances.
    pub fn tick(&mut self, sources: &[PeerId]) -> Vec<Delivery> {
        let fresh: Vec<RouterOutput> = std::iter::from_fn(|| self.router.poll_output()).collect();
        let asked: Vec<(PeerId, u8)> = fresh
            .iter()
            .filter_map(|o| match o {
                RouterOutput::RequestKeyframe { source, layer } => Some((*source, *layer)),
                _ => None,
            })
            .filter(|_| self.answer_keyframes)
            .collect();
        self.polled.extend(fresh);
        let mut delivered = Vec::new();
        for &src in sources {
            let rates = self.rates(src);
            for layer in 0..=TOP_LAYER {
                if rates.video[usize::from(layer)] == 0 {
                    continue;
                }
                let key = asked.contains(&(src, layer));
                for forward in self.video(src, layer, key) {
                    delivered.push(Delivery {
                        source: src,
                        kind: Kind::Video,
                        layer,
                        forward,
                    });
                }
            }
            for forward in self.audio(src, -127) {
                delivered.push(Delivery {
                    source: src,
                    kind: Kind::Audio,
                    layer: 0,
                    forward,
                });
            }
        }
        self.advance(Duration::from_millis(20));
        delivered
    }

    /// [`World::tick`] for `d`.
    pub fn stream(&mut self, sources: &[PeerId], d: Duration) -> Vec<Delivery> {
        let mut delivered = Vec::new();
        for _ in 0..d.as_millis() / 20 {
            delivered.extend(self.tick(sources));
        }
        delivered
    }

    /// Send one video packet on `layer`; returns the forwards.
    pub fn video(&mut self, src: PeerId, layer: u8, keyframe: bool) -> Vec<Forward> {
        let c = self.counters.entry((src, Kind::Video, layer)).or_insert((
            src.0 * 10_000 + u64::from(layer) * 1000,
            src.0 as u32 * 7_000_000,
            (src.0 as u16) * 100,
        ));
        c.0 += 1;
        c.1 = c.1.wrapping_add(3000);
        c.2 = (c.2 + 1) & 0x7fff;
        let packet = IncomingPacket {
            source: src,
            kind: Kind::Video,
            layer,
            ids: PacketIds {
                seq: c.0,
                timestamp: c.1,
                picture_id: Some(c.2),
                tl0_pic_idx: Some(c.2 as u8),
            },
            keyframe,
            audio_level: None,
            size: Self::packet_size(self.rates(src).video[usize::from(layer)]),
        };
        let mut out = Vec::new();
        self.router.handle_packet(self.now, &packet, &mut out);
        out
    }

    /// Send one audio packet at `level` (-dBov).
    pub fn audio(&mut self, src: PeerId, level: i8) -> Vec<Forward> {
        let c = self.counters.entry((src, Kind::Audio, 0)).or_insert((
            src.0 * 20_000,
            src.0 as u32 * 9_000_000,
            0,
        ));
        c.0 += 1;
        c.1 = c.1.wrapping_add(960);
        let packet = IncomingPacket {
            source: src,
            kind: Kind::Audio,
            layer: 0,
            ids: PacketIds {
                seq: c.0,
                timestamp: c.1,
                picture_id: None,
                tl0_pic_idx: None,
            },
            keyframe: false,
            audio_level: Some(level),
            size: Self::packet_size(self.rates(src).audio),
        };
        let mut out = Vec::new();
        self.router.handle_packet(self.now, &packet, &mut out);
        out
    }

    /// `src` talks at `level` for `d` (20 ms packets, virtual time advancing).
    pub fn talk(&mut self, src: PeerId, level: i8, d: Duration) {
        let steps = d.as_millis() / 20;
        for _ in 0..steps {
            self.audio(src, level);
            self.advance(Duration::from_millis(20));
        }
    }

    /// Everything the router reported since the last call.
    pub fn outputs(&mut self) -> Vec<RouterOutput> {
        let mut outputs = std::mem::take(&mut self.polled);
        outputs.extend(std::iter::from_fn(|| self.router.poll_output()));
        outputs
    }

    pub fn keyframe_requests(&mut self) -> Vec<(PeerId, u8)> {
        self.outputs()
            .into_iter()
            .filter_map(|o| match o {
                RouterOutput::RequestKeyframe { source, layer } => Some((source, layer)),
                _ => None,
            })
            .collect()
    }
}

/// Forwards that went to `sub`'s slot `slot`.
pub fn to(fwds: &[Forward], sub: PeerId, slot: usize) -> Vec<Forward> {
    fwds.iter()
        .filter(|f| f.subscriber == sub && f.slot == slot)
        .copied()
        .collect()
}

/// The layers of `src` that reached `sub`'s `slot` in `delivered`, in order, repeats removed.
pub fn layers_delivered(delivered: &[Delivery], src: PeerId, sub: PeerId, slot: usize) -> Vec<u8> {
    let mut layers: Vec<u8> = delivered
        .iter()
        .filter(|d| d.source == src && d.forward.subscriber == sub && d.forward.slot == slot)
        .map(|d| d.layer)
        .collect();
    layers.dedup();
    layers
}

/// Which layers of `src` reach `sub`'s `slot` right now (a non-key packet on each).
pub fn layers_reaching(w: &mut World, src: PeerId, sub: PeerId, slot: usize) -> Vec<u8> {
    (0..=TOP_LAYER)
        .filter(|&l| !to(&w.video(src, l, false), sub, slot).is_empty())
        .collect()
}

/// Every layer of `src` sends a keyframe (as it would on request).
pub fn keyframes(w: &mut World, src: PeerId) {
    for layer in 0..=TOP_LAYER {
        w.video(src, layer, true);
    }
}

/// The latest `LayersNeeded` report per publisher since the last call.
pub fn layers_needed(w: &mut World) -> std::collections::HashMap<PeerId, [bool; 3]> {
    w.outputs()
        .into_iter()
        .filter_map(|o| match o {
            RouterOutput::Room {
                event: RoomEvent::LayersNeeded { peer, layers },
                ..
            } => Some((peer, layers)),
            _ => None,
        })
        .collect()
}

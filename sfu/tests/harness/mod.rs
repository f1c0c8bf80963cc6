//! Shared harness for the router's deterministic tests: virtual time, packet builders.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use plenum_sfu::rewrite::PacketIds;
use plenum_sfu::router::{Forward, IncomingPacket, Kind, PeerId, RoomId, Router, RouterOutput};
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

/// A router with a virtual clock.
#[derive(Debug)]
pub struct World {
    pub router: Router,
    pub now: Instant,
    /// Next sequence number / timestamp / picture id per (source, kind, layer).
    counters: std::collections::HashMap<(PeerId, Kind, u8), (u64, u32, u16)>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> Self {
        Self {
            router: Router::new(RouterConfig::default()),
            now: Instant::now(),
            counters: Default::default(),
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
            size: 1000,
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
            size: 100,
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

    pub fn outputs(&mut self) -> Vec<RouterOutput> {
        std::iter::from_fn(|| self.router.poll_output()).collect()
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

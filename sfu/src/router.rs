//! The sans-IO router: rooms → sources → slots → subscribers.
//!
//! No sockets, no clock reads, no locks: time is an argument of every input. The driver feeds
//! it packets and membership changes and carries out what comes back:
//!
//! - inputs: [`Router::add_peer`], [`Router::remove_peer`], [`Router::set_publishing`],
//!   [`Router::set_muted`], [`Router::set_stage_pin`], [`Router::set_slot_width`],
//!   [`Router::set_bandwidth`] (a subscriber's egress estimate),
//!   [`Router::set_send_queue_budget`] (what its standing send queue leaves),
//!   [`Router::handle_packet`] (which also measures each source's bitrate per layer from
//!   [`IncomingPacket::size`]),
//!   [`Router::handle_keyframe_request`], [`Router::handle_timeout`];
//! - outputs: the [`Forward`]s that `handle_packet` appends to the caller's buffer (one per
//!   receiving slot), and [`RouterOutput`]s drained with [`Router::poll_output`]: keyframe
//!   requests, slot changes, each subscriber's [`RouterOutput::DesiredBitrate`] (for its
//!   bandwidth estimator to probe up to) and room events (stage, speaker, dynacast);
//! - [`Router::poll_timeout`] says when `handle_timeout` is due next.
//!
//! Policy: the stage shows the moderator's pick or the current speaker (dominant speaker by
//! RFC 6464 audio level, with hysteresis) in the highest active simulcast layer; tiles show
//! other camera publishers (recent speakers first) in the lowest active layer; audio slots
//! carry the loudest other speakers. A rendered size reported for a slot caps its layer.
//! Under a bandwidth estimate (or a standing send queue), each subscriber's budget goes to
//! audio first, then the stage, then the tiles in order, each taking the best layer (up to
//! the one its size calls for) whose measured bitrate fits: down at once, up only with a
//! margin and after a hold time; the stage never drops below its lowest layer, a tile that
//! does not fit pauses (keeps its source, forwards nothing). Video slots switch source or
//! layer on a keyframe of the new one; every switch asks for one (throttled per source and
//! layer, so subscribers waiting for the same layer share one request and switch on the
//! same keyframe).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::rewrite::{PacketIds, SlotRewriter};

/// A connection of one participant to the media plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// A group of peers that see and hear each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub u64);

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Opus audio.
    Audio,
    /// VP8 video (simulcast layers 0..=2).
    Video,
}

/// The highest simulcast layer index (full resolution).
pub const TOP_LAYER: u8 = 2;

/// What a receive slot is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotRole {
    /// The big video: the speaker or the moderator's pick.
    Stage,
    /// One of the small videos.
    Tile(u8),
    /// One of the mixed-by-the-browser audio streams.
    Audio(u8),
}

impl SlotRole {
    /// Audio or video.
    pub fn kind(self) -> Kind {
        match self {
            SlotRole::Stage | SlotRole::Tile(_) => Kind::Video,
            SlotRole::Audio(_) => Kind::Audio,
        }
    }

    /// The name used in the signalling protocol: `stage`, `tile-3`, `audio-0`.
    pub fn name(self) -> String {
        match self {
            SlotRole::Stage => "stage".to_owned(),
            SlotRole::Tile(i) => format!("tile-{i}"),
            SlotRole::Audio(i) => format!("audio-{i}"),
        }
    }
}

/// How many receive slots of each kind a subscriber negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLayout {
    /// 0 or 1 stage video slot.
    pub stage: u8,
    /// Tile video slots.
    pub tiles: u8,
    /// Audio slots.
    pub audio: u8,
}

impl SlotLayout {
    /// The slots in the order the router indexes them: stage, tiles, audio.
    pub fn roles(&self) -> Vec<SlotRole> {
        let stage = (0..self.stage.min(1)).map(|_| SlotRole::Stage);
        let tiles = (0..self.tiles).map(SlotRole::Tile);
        let audio = (0..self.audio).map(SlotRole::Audio);
        stage.chain(tiles).chain(audio).collect()
    }
}

/// Tuning of the routing policy.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Minimum time between two keyframe requests to the same source layer.
    pub keyframe_interval: Duration,
    /// How long a new loudest speaker must stay loudest before the stage follows.
    pub speaker_hold: Duration,
    /// A simulcast layer without packets for this long counts as paused.
    pub layer_timeout: Duration,
    /// How often slots are re-evaluated (speaker changes, layer activity).
    pub evaluation_interval: Duration,
    /// Smoothed loudness (0 = silence … 127 = 0 dBov) above which someone counts as speaking.
    pub speaking_threshold: f32,
    /// Under a bandwidth estimate, a slot moves up to a higher layer (or resumes) only when
    /// that layer fits with this much to spare, in percent of its bitrate.
    pub upgrade_margin_percent: u64,
    /// A slot keeps its current layer while the layer's bitrate exceeds what is left of the
    /// estimate by no more than this, in percent: an estimator that sends only what it is
    /// given estimates about that much (GoogCC drops well below it on congestion), so the
    /// estimate's noise around the current rate must not cut the layer.
    pub keep_tolerance_percent: u64,
    /// A new subscriber's estimate is not used for this long: the estimator's first values
    /// (its start value, then probe results while the connection sends little) can sit below
    /// what the link carries, and acting on them would cut a new subscriber's stage and hold
    /// it down. Short, because until it ends a subscriber behind a slow link gets what its
    /// slots' sizes call for and its pacer queues the excess: with 3 s a 900 kbit/s
    /// subscriber's stage queued for up to 2.6-2.8 s and drained from the 7th to 10th second
    /// on; with 1 s under 0.9 s, drained from the 4th second (`tests/bandwidth_udp.rs`,
    /// docs/perf.md round 5).
    pub bandwidth_warmup: Duration,
    /// After the bandwidth estimate made a slot go down or pause, it moves up no sooner
    /// than this.
    pub upgrade_hold: Duration,
    /// The bitrate assumed per video layer until measured (the web client's encoder caps).
    pub layer_bitrate_guess: [u64; 3],
    /// The audio bitrate assumed until measured (Opus plus per-packet overhead).
    pub audio_bitrate_guess: u64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            keyframe_interval: Duration::from_millis(500),
            speaker_hold: Duration::from_millis(1200),
            layer_timeout: Duration::from_millis(1000),
            evaluation_interval: Duration::from_millis(200),
            speaking_threshold: 40.0,
            upgrade_margin_percent: 20,
            keep_tolerance_percent: 10,
            bandwidth_warmup: Duration::from_secs(1),
            upgrade_hold: Duration::from_secs(4),
            layer_bitrate_guess: [150_000, 500_000, 1_500_000],
            audio_bitrate_guess: 50_000,
        }
    }
}

/// One received RTP packet, as far as routing is concerned.
#[derive(Debug, Clone, Copy)]
pub struct IncomingPacket {
    /// Who sent it.
    pub source: PeerId,
    /// Audio or video.
    pub kind: Kind,
    /// Simulcast layer (0 lowest; always 0 for audio and non-simulcast video).
    pub layer: u8,
    /// Sequence number, timestamp and VP8 ids.
    pub ids: PacketIds,
    /// The packet starts a VP8 keyframe.
    pub keyframe: bool,
    /// RFC 6464 audio level in -dBov (-127 silence … 0 loudest), if the packet has one.
    pub audio_level: Option<i8>,
    /// Payload bytes (what the bitrate of the source's layer is measured from).
    pub size: usize,
}

/// Bytes a forwarded packet costs on the wire beyond its payload (IPv4, UDP, RTP header with
/// a few extensions, SRTP tag): bandwidth estimates count whole packets, so measured
/// bitrates include this per packet.
pub const PACKET_OVERHEAD: usize = 60;

/// Send a packet to one slot of one subscriber, with these rewritten ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The receiving peer.
    pub subscriber: PeerId,
    /// Index into the subscriber's [`SlotLayout::roles`].
    pub slot: usize,
    /// The ids to put on the wire.
    pub ids: crate::rewrite::RewrittenIds,
}

/// Something the driver must do or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouterOutput {
    /// Ask the publisher for a keyframe on this layer (PLI).
    RequestKeyframe {
        /// The publisher.
        source: PeerId,
        /// Video layer.
        layer: u8,
    },
    /// A subscriber's slot now shows another source (or none).
    SlotChanged {
        /// The room.
        room: RoomId,
        /// Whose slot.
        subscriber: PeerId,
        /// Index into the subscriber's [`SlotLayout::roles`].
        slot: usize,
        /// The slot's role.
        role: SlotRole,
        /// The source now shown, `None` when empty.
        source: Option<PeerId>,
    },
    /// What a subscriber would receive at the layers its slots' sizes call for (plus audio),
    /// with the upgrade margin on top, in bits per second: the bitrate its bandwidth
    /// estimator should probe up to (str0m: `bwe().set_bitrate(minimum, desired)`) — an
    /// estimate that only reached the bare cost could never pass the margin a layer needs to
    /// go up. Reported when it changes by more than 10 %.
    DesiredBitrate {
        /// The subscriber.
        subscriber: PeerId,
        /// Desired bits per second.
        bps: u64,
    },
    /// Something a room's members should learn.
    Room {
        /// The room.
        room: RoomId,
        /// What happened.
        event: RoomEvent,
    },
}

/// Room-wide news from the router; the media plane passes it on unchanged
/// ([`crate::SfuEvent::Room`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// The room's stage shows someone else.
    StageChanged {
        /// Who is on stage.
        stage: Option<PeerId>,
        /// A moderator picked them (otherwise: the current speaker).
        pinned: bool,
    },
    /// Dynacast: which of a publisher's simulcast layers anyone needs now (index = layer).
    /// Reported on change; the publisher may pause the others.
    LayersNeeded {
        /// The publisher.
        peer: PeerId,
        /// Needed, per layer (quarter, half, full).
        layers: [bool; 3],
    },
    /// The room's dominant speaker changed (after the hold time; short noises never win).
    SpeakerChanged {
        /// The dominant speaker, `None` when they left.
        speaker: Option<PeerId>,
    },
}

#[derive(Debug)]
struct Slot {
    role: SlotRole,
    /// The participant this slot is assigned to (what the client is told).
    source: Option<PeerId>,
    /// What is forwarded now.
    forwarding: Option<(PeerId, u8)>,
    /// What is forwarded from the next keyframe on.
    pending: Option<(PeerId, u8)>,
    /// The highest layer worth sending, from the size the subscriber renders the slot at
    /// (`None`: not reported; the stage then gets the top layer, tiles the lowest).
    cap: Option<u8>,
    /// Dynacast: the layer this slot would take if it were active (size and bandwidth
    /// permitting); `None` when it would take none.
    wanted: Option<u8>,
    /// When the bandwidth estimate last made this slot go down or pause (starts the
    /// upgrade hold).
    cut_at: Option<Instant>,
    rewriter: SlotRewriter,
}

#[derive(Debug)]
struct Peer {
    room: RoomId,
    joined: u64,
    slots: Vec<Slot>,
    audio_on: bool,
    video_on: bool,
    /// Dynacast: the layers last reported as needed.
    layers_needed: Option<[bool; 3]>,
    /// Egress bandwidth estimate (bits per second); `None`: unknown, no budget.
    estimate: Option<u64>,
    /// While the peer's send queue stands: the rate (bits per second) it leaves for new
    /// media ([`Router::set_send_queue_budget`]).
    queue_budget: Option<u64>,
    /// When the peer joined (its estimate counts only after `bandwidth_warmup`).
    added_at: Instant,
    /// The desired bitrate last reported (0 before the first report).
    desired_reported: u64,
    muted: bool,
    /// Last packet time per video layer.
    layer_seen: [Option<Instant>; 3],
    /// Measured bitrate per video layer.
    video_rate: [RateMeter; 3],
    /// Measured audio bitrate.
    audio_rate: RateMeter,
    /// Last keyframe request per video layer.
    keyframe_asked: [Option<Instant>; 3],
    /// Exponentially smoothed loudness, 0 (silence) … 127 (0 dBov).
    loudness: f32,
    last_spoke: Option<Instant>,
}

impl Peer {
    fn audible(&self) -> bool {
        self.audio_on && !self.muted
    }

    fn layer_active(&self, layer: u8, now: Instant, timeout: Duration) -> bool {
        self.layer_seen[usize::from(layer)]
            .is_some_and(|t| now.saturating_duration_since(t) < timeout)
    }
}

#[derive(Debug, Default)]
struct Room {
    /// Members in join order.
    peers: Vec<PeerId>,
    pin: Option<PeerId>,
    speaker: Option<PeerId>,
    challenger: Option<(PeerId, Instant)>,
    stage: Option<PeerId>,
    previous_stage: Option<PeerId>,
}

/// The routing state of all rooms. See the module docs for the call contract.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    peers: FxHashMap<PeerId, Peer>,
    rooms: FxHashMap<RoomId, Room>,
    /// (source, kind) → slots that forward or wait for that source.
    index: FxHashMap<(PeerId, Kind), Vec<(PeerId, usize)>>,
    index_dirty: bool,
    outputs: VecDeque<RouterOutput>,
    next_evaluation: Option<Instant>,
    join_counter: u64,
}

impl Router {
    /// An empty router.
    pub fn new(config: RouterConfig) -> Self {
        Self {
            config,
            peers: FxHashMap::default(),
            rooms: FxHashMap::default(),
            index: FxHashMap::default(),
            index_dirty: false,
            outputs: VecDeque::new(),
            next_evaluation: None,
            join_counter: 0,
        }
    }

    /// A peer joined `room` with the given receive slots. It publishes nothing until
    /// [`Router::set_publishing`].
    pub fn add_peer(&mut self, now: Instant, peer: PeerId, room: RoomId, layout: SlotLayout) {
        if self.peers.contains_key(&peer) {
            self.remove_peer(now, peer);
        }
        let slots = layout
            .roles()
            .into_iter()
            .map(|role| Slot {
                role,
                source: None,
                forwarding: None,
                pending: None,
                cap: None,
                wanted: None,
                cut_at: None,
                rewriter: SlotRewriter::new(match role.kind() {
                    Kind::Audio => 48_000,
                    Kind::Video => 90_000,
                }),
            })
            .collect();
        self.join_counter += 1;
        self.peers.insert(
            peer,
            Peer {
                room,
                joined: self.join_counter,
                slots,
                audio_on: false,
                video_on: false,
                layers_needed: None,
                estimate: None,
                queue_budget: None,
                added_at: now,
                desired_reported: 0,
                muted: false,
                layer_seen: [None; 3],
                video_rate: Default::default(),
                audio_rate: RateMeter::default(),
                keyframe_asked: [None; 3],
                loudness: 0.0,
                last_spoke: None,
            },
        );
        self.rooms.entry(room).or_default().peers.push(peer);
        self.evaluate_room(now, room);
    }

    /// A peer left (or its connection died). Slots that showed it are re-assigned.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerId) {
        let Some(p) = self.peers.remove(&peer) else {
            return;
        };
        self.index_dirty = true;
        let room_id = p.room;
        if let Some(room) = self.rooms.get_mut(&room_id) {
            room.peers.retain(|&x| x != peer);
            if room.pin == Some(peer) {
                room.pin = None;
            }
            if room.speaker == Some(peer) {
                room.speaker = None;
                self.outputs.push_back(RouterOutput::Room {
                    room: room_id,
                    event: RoomEvent::SpeakerChanged { speaker: None },
                });
            }
            if room.previous_stage == Some(peer) {
                room.previous_stage = None;
            }
            if room.challenger.is_some_and(|(c, _)| c == peer) {
                room.challenger = None;
            }
            if room.peers.is_empty() {
                self.rooms.remove(&room_id);
                return;
            }
        }
        self.evaluate_room(now, room_id);
    }

    /// Start or stop forwarding a peer's microphone or camera.
    pub fn set_publishing(&mut self, now: Instant, peer: PeerId, kind: Kind, on: bool) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        match kind {
            Kind::Audio => p.audio_on = on,
            Kind::Video => p.video_on = on,
        }
        if !on && kind == Kind::Audio {
            p.loudness = 0.0;
        }
        let room = p.room;
        self.evaluate_room(now, room);
    }

    /// Mute or unmute a peer's microphone: a muted peer's audio is not forwarded.
    pub fn set_muted(&mut self, now: Instant, peer: PeerId, muted: bool) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.muted = muted;
        if muted {
            p.loudness = 0.0;
        }
        let room = p.room;
        self.evaluate_room(now, room);
    }

    /// The subscriber renders video slot `slot` `width` device pixels wide: forward the
    /// highest active layer not wider than needed. Layer bands (for a 1280-wide source in
    /// three layers): up to 400 px the quarter layer, up to 800 px the half, above that the
    /// full one; a change needs the width to leave the current band by 10 % (hysteresis).
    /// The switch itself waits for a keyframe of the new layer.
    pub fn set_slot_width(&mut self, now: Instant, peer: PeerId, slot: usize, width: u32) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(s) = p
            .slots
            .get_mut(slot)
            .filter(|s| s.role.kind() == Kind::Video)
        else {
            return;
        };
        let cap = layer_for_width(width, s.cap);
        if s.cap == Some(cap) {
            return;
        }
        s.cap = Some(cap);
        let room = p.room;
        self.evaluate_room(now, room);
    }

    /// The subscriber's egress bandwidth estimate in bits per second (str0m's
    /// `EgressBitrateEstimate`), or `None` when unknown: its video slots then take the layers
    /// their sizes call for, without a budget. Takes effect at the next evaluation (at most
    /// [`RouterConfig::evaluation_interval`] later), like layer activity: estimates arrive
    /// often, and re-evaluating the room on each would cost more than the delay.
    pub fn set_bandwidth(&mut self, now: Instant, subscriber: PeerId, estimate_bps: Option<u64>) {
        let Some(p) = self.peers.get_mut(&subscriber) else {
            return;
        };
        p.estimate = estimate_bps;
        self.evaluate_soon(now);
    }

    /// Evaluate at the latest one evaluation interval from `now`.
    fn evaluate_soon(&mut self, now: Instant) {
        if self.next_evaluation.is_none() {
            self.next_evaluation = Some(now + self.config.evaluation_interval);
        }
    }

    /// A subscriber's send queue stands (its oldest packet has waited long): what it leaves
    /// for new media, in bits per second; `None` once the queue no longer stands. The
    /// connection sends more than its link carries; what it queued must drain before it
    /// takes more. Unlike the estimate, this counts during the bandwidth warm-up too: a
    /// standing queue is no early guess but media that does not get out. Applied at the
    /// next evaluation.
    pub fn set_send_queue_budget(&mut self, now: Instant, subscriber: PeerId, bps: Option<u64>) {
        let Some(p) = self.peers.get_mut(&subscriber) else {
            return;
        };
        p.queue_budget = bps;
        self.evaluate_soon(now);
    }

    /// Put a peer on the room's stage, or (`None`) let the stage follow the speaker. The pin
    /// may name a peer whose connection is not up yet: it takes effect when the peer arrives
    /// with a camera, and ends when the peer leaves.
    pub fn set_stage_pin(&mut self, now: Instant, room: RoomId, peer: Option<PeerId>) {
        self.rooms.entry(room).or_default().pin = peer;
        self.evaluate_room(now, room);
    }

    /// Route one packet: appends a [`Forward`] per receiving slot to `out`.
    pub fn handle_packet(&mut self, now: Instant, packet: &IncomingPacket, out: &mut Vec<Forward>) {
        if self.index_dirty {
            self.rebuild_index();
        }
        let Some(src) = self.peers.get_mut(&packet.source) else {
            return;
        };
        let layer = packet.layer.min(TOP_LAYER);
        match packet.kind {
            Kind::Audio => {
                if !src.audible() {
                    return;
                }
                src.audio_rate.record(now, packet.size);
                if let Some(level) = packet.audio_level {
                    // -127..=0 dBov → 0..=127 loudness; ~200 ms smoothing at 50 packets/s.
                    let loudness = f32::from(level.clamp(-127, 0)) + 127.0;
                    src.loudness += (loudness - src.loudness) * 0.1;
                    if src.loudness > self.config.speaking_threshold {
                        src.last_spoke = Some(now);
                    }
                }
            }
            Kind::Video => {
                if !src.video_on {
                    return;
                }
                src.video_rate[usize::from(layer)].record(now, packet.size);
                let first_seen = src.layer_seen[usize::from(layer)].is_none();
                src.layer_seen[usize::from(layer)] = Some(now);
                if first_seen {
                    // A new layer may be what a slot is waiting for: re-evaluate soon.
                    self.next_evaluation = Some(now);
                }
            }
        }
        let Some(targets) = self.index.get(&(packet.source, packet.kind)) else {
            return;
        };
        let mut switched = false;
        let mut want_keyframe = false;
        for &(subscriber, slot_index) in targets {
            let Some(slot) = self
                .peers
                .get_mut(&subscriber)
                .and_then(|p| p.slots.get_mut(slot_index))
            else {
                continue;
            };
            let this = Some((packet.source, layer));
            if slot.pending == this {
                if packet.keyframe || packet.kind == Kind::Audio {
                    slot.forwarding = slot.pending.take();
                    slot.rewriter.switch_source();
                    switched = true;
                } else {
                    want_keyframe = true;
                }
            }
            if slot.forwarding == this
                && let Some(ids) = slot.rewriter.rewrite(now, packet.ids)
            {
                out.push(Forward {
                    subscriber,
                    slot: slot_index,
                    ids,
                });
            }
        }
        if switched {
            self.index_dirty = true;
        }
        if want_keyframe {
            self.request_keyframe(now, packet.source, layer);
        }
    }

    /// A subscriber's browser asked for a keyframe on a slot (PLI/FIR).
    pub fn handle_keyframe_request(&mut self, now: Instant, subscriber: PeerId, slot: usize) {
        let target = self
            .peers
            .get(&subscriber)
            .and_then(|p| p.slots.get(slot))
            .and_then(|s| s.pending.or(s.forwarding));
        if let Some((source, layer)) = target {
            self.request_keyframe(now, source, layer);
        }
    }

    /// When [`Router::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_evaluation
    }

    /// Re-evaluate speakers, stages and slots of every room.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_evaluation.is_some_and(|t| t > now) {
            return;
        }
        let rooms: Vec<RoomId> = self.rooms.keys().copied().collect();
        for room in rooms {
            self.update_speaker(now, room);
            self.evaluate_room(now, room);
        }
        self.next_evaluation = if self.rooms.is_empty() {
            None
        } else {
            Some(now + self.config.evaluation_interval)
        };
    }

    /// The next thing to do or report.
    pub fn poll_output(&mut self) -> Option<RouterOutput> {
        self.outputs.pop_front()
    }

    /// The room's current stage participant.
    pub fn stage(&self, room: RoomId) -> Option<PeerId> {
        self.rooms.get(&room).and_then(|r| r.stage)
    }

    /// The measured bitrate (bits per second on the wire, over the last second) of a source's
    /// video layer or (`layer` ignored) audio; `None` before half a second of it was seen.
    pub fn measured_bitrate(&self, source: PeerId, kind: Kind, layer: u8) -> Option<u64> {
        let p = self.peers.get(&source)?;
        match kind {
            Kind::Audio => p.audio_rate.bps,
            Kind::Video => p.video_rate[usize::from(layer.min(TOP_LAYER))].bps,
        }
    }

    /// The source a subscriber's slot is assigned to.
    pub fn slot_source(&self, subscriber: PeerId, slot: usize) -> Option<PeerId> {
        self.peers
            .get(&subscriber)
            .and_then(|p| p.slots.get(slot))
            .and_then(|s| s.source)
    }

    fn request_keyframe(&mut self, now: Instant, source: PeerId, layer: u8) {
        let Some(p) = self.peers.get_mut(&source) else {
            return;
        };
        let asked = &mut p.keyframe_asked[usize::from(layer.min(TOP_LAYER))];
        if asked.is_some_and(|t| now.saturating_duration_since(t) < self.config.keyframe_interval) {
            return;
        }
        *asked = Some(now);
        self.outputs
            .push_back(RouterOutput::RequestKeyframe { source, layer });
    }

    fn rebuild_index(&mut self) {
        self.index.clear();
        for (&subscriber, p) in &self.peers {
            for (i, slot) in p.slots.iter().enumerate() {
                let kind = slot.role.kind();
                let mut sources = [slot.forwarding, slot.pending].map(|s| s.map(|(id, _)| id));
                if sources[0] == sources[1] {
                    sources[1] = None;
                }
                for src in sources.into_iter().flatten() {
                    self.index
                        .entry((src, kind))
                        .or_default()
                        .push((subscriber, i));
                }
            }
        }
        self.index_dirty = false;
    }

    /// Dominant speaker with hysteresis: a challenger takes over after `speaker_hold`.
    fn update_speaker(&mut self, now: Instant, room_id: RoomId) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let threshold = self.config.speaking_threshold;
        let loudest = room
            .peers
            .iter()
            .filter_map(|id| self.peers.get(id).map(|p| (*id, p)))
            .filter(|(_, p)| p.audible() && p.loudness > threshold)
            .max_by(|a, b| a.1.loudness.total_cmp(&b.1.loudness))
            .map(|(id, _)| id);
        let before = room.speaker;
        match loudest {
            None => room.challenger = None,
            Some(l) if room.speaker == Some(l) => room.challenger = None,
            Some(l) if room.speaker.is_none() => {
                room.speaker = Some(l);
                room.challenger = None;
            }
            Some(l) => match room.challenger {
                Some((c, since)) if c == l => {
                    if now.saturating_duration_since(since) >= self.config.speaker_hold {
                        room.speaker = Some(l);
                        room.challenger = None;
                    }
                }
                _ => room.challenger = Some((l, now)),
            },
        }
        if room.speaker != before {
            self.outputs.push_back(RouterOutput::Room {
                room: room_id,
                event: RoomEvent::SpeakerChanged {
                    speaker: room.speaker,
                },
            });
        }
    }

    /// Recompute the room's stage and every member's slot assignments.
    fn evaluate_room(&mut self, now: Instant, room_id: RoomId) {
        self.evaluate_soon(now);
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        let has_video = |id: &PeerId| self.peers.get(id).is_some_and(|p| p.video_on);

        // Stage: the pick, else the speaker (with a camera), else whoever was there, else
        // the first camera in join order.
        let stage = room
            .pin
            .filter(has_video)
            .or(room.speaker.filter(has_video))
            .or(room.stage.filter(has_video))
            .or_else(|| room.peers.iter().copied().find(has_video));
        let pinned = room.pin.is_some() && stage == room.pin;
        if stage != room.stage {
            let old = room.stage;
            let room = self
                .rooms
                .get_mut(&room_id)
                .expect("room exists: looked up above");
            room.previous_stage = old.or(room.previous_stage);
            room.stage = stage;
            self.outputs.push_back(RouterOutput::Room {
                room: room_id,
                event: RoomEvent::StageChanged { stage, pinned },
            });
        }
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };

        // Rankings shared by all subscribers of the room.
        let mut video_rank: Vec<PeerId> = room.peers.iter().copied().filter(has_video).collect();
        video_rank.sort_by_key(|id| {
            let p = &self.peers[id];
            (std::cmp::Reverse(p.last_spoke), p.joined)
        });
        let mut audio_rank: Vec<PeerId> = room
            .peers
            .iter()
            .copied()
            .filter(|id| self.peers.get(id).is_some_and(Peer::audible))
            .collect();
        audio_rank.sort_by(|a, b| {
            let (pa, pb) = (&self.peers[a], &self.peers[b]);
            pb.loudness
                .total_cmp(&pa.loudness)
                .then(pa.joined.cmp(&pb.joined))
        });
        let threshold = self.config.speaking_threshold;
        let speaking: Vec<PeerId> = audio_rank
            .iter()
            .copied()
            .filter(|id| self.peers[id].loudness > threshold)
            .collect();

        let members = room.peers.clone();
        let previous_stage = room.previous_stage;
        let mut plans: Vec<(PeerId, Vec<SlotPlan>, u64)> = Vec::new();
        for &sub in &members {
            let Some(p) = self.peers.get(&sub) else {
                continue;
            };
            // The stage slot never shows the subscriber itself.
            let stage_src = stage
                .filter(|&s| s != sub)
                .or(previous_stage.filter(|s| *s != sub && has_video(s)))
                .or_else(|| video_rank.iter().copied().find(|&s| s != sub));
            let tile_candidates: Vec<PeerId> = video_rank
                .iter()
                .copied()
                .filter(|&s| s != sub && Some(s) != stage_src)
                .collect();
            let audio_candidates: Vec<PeerId> =
                audio_rank.iter().copied().filter(|&s| s != sub).collect();
            let audio_wanted: Vec<PeerId> =
                speaking.iter().copied().filter(|&s| s != sub).collect();

            let tiles: Vec<usize> = slot_indices(p, |r| matches!(r, SlotRole::Tile(_)));
            let audios: Vec<usize> = slot_indices(p, |r| matches!(r, SlotRole::Audio(_)));
            // In priority order for the bandwidth budget: stage, tiles, audio.
            let mut assign: Vec<(usize, Option<PeerId>)> = Vec::new();
            for i in slot_indices(p, |r| r == SlotRole::Stage) {
                assign.push((i, stage_src));
            }
            let n_tiles = tiles.len();
            let tile_wanted: Vec<PeerId> = tile_candidates.iter().copied().take(n_tiles).collect();
            assign.extend(sticky_assign(p, &tiles, &tile_wanted, &tile_candidates));
            assign.extend(sticky_assign(p, &audios, &audio_wanted, &audio_candidates));

            let (plan, desired) = self.plan_layers(now, p, &assign);
            plans.push((sub, plan, desired));
        }
        let mut changes: Vec<(PeerId, SlotPlan)> = Vec::new();
        for (sub, plan, desired) in plans {
            let Some(p) = self.peers.get_mut(&sub) else {
                continue;
            };
            // Only noticeable changes: the estimator re-plans its probing on each.
            if desired.abs_diff(p.desired_reported) * 10 > p.desired_reported {
                p.desired_reported = desired;
                self.outputs.push_back(RouterOutput::DesiredBitrate {
                    subscriber: sub,
                    bps: desired,
                });
            }
            for sp in plan {
                let Some(slot) = p.slots.get_mut(sp.slot) else {
                    continue;
                };
                slot.wanted = sp.wanted;
                if sp.cut {
                    slot.cut_at = Some(now);
                }
                let target = sp.source.zip(sp.layer);
                if slot.source != sp.source || slot.pending.or(slot.forwarding) != target {
                    changes.push((sub, sp));
                }
            }
        }
        for (sub, sp) in changes {
            self.apply_slot(
                now,
                room_id,
                sub,
                sp.slot,
                sp.source.zip(sp.layer),
                sp.source,
            );
        }
        self.update_dynacast(room_id);
    }

    /// Dynacast: a publisher's layer is needed when a video slot forwards it, waits for it,
    /// or would choose it if it were active (the stage's top or the rendered size's layer, as
    /// far as the subscriber's bandwidth allows): so a paused layer is resumed before the
    /// slots need it, no slot is stuck on a lower one because the better one was paused, and
    /// nobody asks for a layer their bandwidth keeps them from receiving.
    fn update_dynacast(&mut self, room_id: RoomId) {
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        let mut needed: FxHashMap<PeerId, [bool; 3]> = room
            .peers
            .iter()
            .filter(|id| self.peers.get(id).is_some_and(|p| p.video_on))
            .map(|id| (*id, [false; 3]))
            .collect();
        for sub in &room.peers {
            let Some(p) = self.peers.get(sub) else {
                continue;
            };
            for slot in p.slots.iter().filter(|s| s.role.kind() == Kind::Video) {
                let mut mark = |source: PeerId, layer: u8| {
                    if let Some(n) = needed.get_mut(&source) {
                        n[usize::from(layer.min(TOP_LAYER))] = true;
                    }
                };
                if let Some((source, wanted)) = slot.source.zip(slot.wanted) {
                    mark(source, wanted);
                }
                for (source, layer) in slot.forwarding.into_iter().chain(slot.pending) {
                    mark(source, layer);
                }
            }
        }
        for (peer, layers) in needed {
            let Some(p) = self.peers.get_mut(&peer) else {
                continue;
            };
            if p.layers_needed != Some(layers) {
                p.layers_needed = Some(layers);
                self.outputs.push_back(RouterOutput::Room {
                    room: room_id,
                    event: RoomEvent::LayersNeeded { peer, layers },
                });
            }
        }
    }

    /// The layers of one subscriber's slots (`assign`: slot order, i.e. stage, tiles, audio)
    /// and its desired bitrate.
    ///
    /// Without a budget each video slot takes the layer its size calls for. The budget is the
    /// bandwidth estimate once the warm-up is over, or what a standing send queue leaves
    /// ([`Router::set_send_queue_budget`]), whichever is lower. With one, the audio slots'
    /// bitrate is reserved first; then the video slots, in order, take the best layer (up to
    /// that one) that fits what is left: the slot's current layer or a
    /// lower one must fit (the current one within `keep_tolerance_percent`), a higher one (or
    /// resuming) must fit with `upgrade_margin_percent`
    /// to spare and waits `upgrade_hold` after the slot's last cut, so an estimate hovering
    /// around a layer's bitrate does not flap. The stage never drops below its lowest active
    /// layer. A tile that cannot fit even its lowest layer pauses: it keeps its source (the
    /// client keeps its label and last frame) but forwards nothing, and resumes at a keyframe
    /// once the budget allows; cheaper tiles after it may still fit.
    fn plan_layers(
        &self,
        now: Instant,
        p: &Peer,
        assign: &[(usize, Option<PeerId>)],
    ) -> (Vec<SlotPlan>, u64) {
        let config = &self.config;
        let audio: u64 = assign
            .iter()
            .filter(|(i, _)| p.slots[*i].role.kind() == Kind::Audio)
            .filter_map(|(_, source)| *source)
            .map(|source| self.audio_cost(source))
            .sum();
        let warm = now.saturating_duration_since(p.added_at) >= config.bandwidth_warmup;
        let budget = match (p.estimate.filter(|_| warm), p.queue_budget) {
            (Some(estimate), Some(queue)) => Some(estimate.min(queue)),
            (estimate, queue) => estimate.or(queue),
        };
        let mut left = budget.map(|b| b.saturating_sub(audio));
        let mut desired = audio;
        let mut plans = Vec::with_capacity(assign.len());
        for &(i, source) in assign {
            let slot = &p.slots[i];
            let mut plan = SlotPlan {
                slot: i,
                source,
                layer: None,
                wanted: None,
                cut: false,
            };
            let Some(src) = source else {
                plans.push(plan);
                continue;
            };
            if slot.role.kind() == Kind::Audio {
                plan.layer = Some(0);
                plans.push(plan);
                continue;
            }
            let stage = slot.role == SlotRole::Stage;
            let want = slot
                .cap
                .unwrap_or(if stage { TOP_LAYER } else { 0 })
                .min(TOP_LAYER);
            let candidates = self.layer_candidates(now, src, stage || slot.cap.is_some(), want);
            // The first candidate is always set.
            let preferred = candidates[0].unwrap_or(0);
            desired += self.layer_cost(src, preferred);
            let Some(budget) = left.as_mut() else {
                plan.layer = Some(preferred);
                plan.wanted = Some(want);
                plans.push(plan);
                continue;
            };
            let available = *budget;
            let current = slot_level(slot);
            let rises = |layer: u8| current.is_some_and(|c| i16::from(layer) > c);
            let fits = |layer: u8| {
                let cost = self.layer_cost(src, layer);
                if rises(layer) {
                    let margin = 100 + config.upgrade_margin_percent;
                    cost.saturating_mul(margin) <= available.saturating_mul(100)
                } else if current == Some(i16::from(layer)) {
                    let tolerance = 100 + config.keep_tolerance_percent;
                    cost.saturating_mul(100) <= available.saturating_mul(tolerance)
                } else {
                    cost <= available
                }
            };
            let held = slot
                .cut_at
                .is_some_and(|t| now.saturating_duration_since(t) < config.upgrade_hold);
            let chosen = candidates
                .into_iter()
                .flatten()
                .find(|&l| fits(l) && !(held && rises(l)));
            // Dynacast ignores the hold: the layer should be flowing when the hold ends.
            let affordable = (0..=want).rev().find(|&l| fits(l));
            (plan.layer, plan.wanted) = if stage {
                let lowest = candidates.into_iter().flatten().last();
                (chosen.or(lowest), affordable.or(Some(0)))
            } else {
                (chosen, affordable)
            };
            let level = plan.layer.map_or(-1, i16::from);
            // Only a cut of what the subscriber receives starts the hold: dropping a layer
            // that never started (still waiting for its keyframe, e.g. while the first
            // estimates come in) is invisible and must not delay the way up.
            let seen = slot
                .forwarding
                .filter(|(s, _)| *s == src)
                .map(|(_, l)| i16::from(l));
            plan.cut = seen.is_some_and(|c| level < c) && plan.layer != Some(preferred);
            *budget = budget.saturating_sub(plan.layer.map_or(0, |l| self.layer_cost(src, l)));
            plans.push(plan);
        }
        let headroom = desired.saturating_mul(100 + config.upgrade_margin_percent) / 100;
        (plans, headroom)
    }

    /// The layers a video slot may forward from `source`, best first (the first is what its
    /// size calls for): the active ones at or below `want`, all of them, highest first, for
    /// the stage or a slot with a reported size, else the lowest active one; when none is at
    /// or below `want`, the lowest active one; when none is active yet, `want` and the ones
    /// below it (or 0).
    fn layer_candidates(
        &self,
        now: Instant,
        source: PeerId,
        high: bool,
        want: u8,
    ) -> [Option<u8>; 3] {
        let mut layers = [None; 3];
        let Some(p) = self.peers.get(&source) else {
            layers[0] = Some(0);
            return layers;
        };
        let timeout = self.config.layer_timeout;
        let active = |l: &u8| p.layer_active(*l, now, timeout);
        let lowest_active = (0..=TOP_LAYER).find(active);
        if high {
            for (slot, l) in layers.iter_mut().zip((0..=want).rev().filter(active)) {
                *slot = Some(l);
            }
        }
        if layers[0].is_none() {
            match lowest_active {
                Some(l) => layers[0] = Some(l),
                None if high => {
                    for (slot, l) in layers.iter_mut().zip((0..=want).rev()) {
                        *slot = Some(l);
                    }
                }
                None => layers[0] = Some(0),
            }
        }
        layers
    }

    /// What forwarding a source's video layer costs (measured, else the configured guess).
    fn layer_cost(&self, source: PeerId, layer: u8) -> u64 {
        let layer = usize::from(layer.min(TOP_LAYER));
        self.peers
            .get(&source)
            .and_then(|p| p.video_rate[layer].bps)
            .unwrap_or(self.config.layer_bitrate_guess[layer])
    }

    /// What forwarding a source's audio costs (measured, else the configured guess).
    fn audio_cost(&self, source: PeerId) -> u64 {
        self.peers
            .get(&source)
            .and_then(|p| p.audio_rate.bps)
            .unwrap_or(self.config.audio_bitrate_guess)
    }

    fn apply_slot(
        &mut self,
        now: Instant,
        room: RoomId,
        sub: PeerId,
        i: usize,
        target: Option<(PeerId, u8)>,
        source: Option<PeerId>,
    ) {
        let forwarding_gone = self
            .peers
            .get(&sub)
            .and_then(|p| p.slots.get(i))
            .and_then(|s| s.forwarding)
            .is_some_and(|(s, _)| !self.peers.contains_key(&s));
        let Some(slot) = self.peers.get_mut(&sub).and_then(|p| p.slots.get_mut(i)) else {
            return;
        };
        let role = slot.role;
        let source_changed = slot.source != source;
        slot.source = source;
        self.index_dirty = true;
        match target {
            // No source, or paused for bandwidth: stop at once.
            None => {
                slot.forwarding = None;
                slot.pending = None;
            }
            Some(t) if slot.forwarding == Some(t) => slot.pending = None,
            Some(t) if role.kind() == Kind::Audio => {
                slot.forwarding = Some(t);
                slot.pending = None;
                slot.rewriter.switch_source();
            }
            Some(t) => {
                // Keep forwarding the old source until the new one sends a keyframe, unless
                // the old one is gone.
                if forwarding_gone {
                    slot.forwarding = None;
                }
                slot.pending = Some(t);
                self.request_keyframe(now, t.0, t.1);
            }
        }
        if source_changed {
            self.outputs.push_back(RouterOutput::SlotChanged {
                room,
                subscriber: sub,
                slot: i,
                role,
                source,
            });
        }
    }
}

/// Bitrate window: `RATE_BUCKETS` buckets of `RATE_BUCKET_MS` (1 s), slid one bucket at a time.
const RATE_BUCKET_MS: u64 = 100;
const RATE_BUCKETS: u64 = 10;
/// A fresh measurement counts after this many complete buckets (0.5 s): earlier ones are
/// dominated by the first keyframe.
const RATE_MIN_BUCKETS: u64 = 5;

/// The bitrate of one stream over a sliding 1 s window, measured from packet sizes (plus
/// [`PACKET_OVERHEAD`]) and the `now` of each packet. The rate is updated when a packet opens a
/// new 100 ms bucket and kept while the stream pauses: the last known rate is the best guess
/// for what resuming it will cost.
#[derive(Debug, Default)]
struct RateMeter {
    /// Start of bucket 0; restarted after a silence longer than the window.
    epoch: Option<Instant>,
    /// (bucket number, bytes), at `number % RATE_BUCKETS`.
    buckets: [(u64, u64); RATE_BUCKETS as usize],
    /// The bucket packets go into now.
    current: u64,
    /// Bits per second over the last complete window.
    bps: Option<u64>,
}

impl RateMeter {
    fn record(&mut self, now: Instant, size: usize) {
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = now.saturating_duration_since(epoch).as_millis() / u128::from(RATE_BUCKET_MS);
        // Out-of-order times go into the current bucket.
        let mut n = u64::try_from(elapsed).unwrap_or(u64::MAX).max(self.current);
        if n >= self.current.saturating_add(RATE_BUCKETS) {
            // Silent for a whole window: measure afresh (the old rate stands until then).
            self.epoch = Some(now);
            self.buckets = Default::default();
            self.current = 0;
            n = 0;
        } else if n > self.current {
            self.bps = self.measure(n).or(self.bps);
            self.current = n;
        }
        let bucket = &mut self.buckets[(n % RATE_BUCKETS) as usize];
        if bucket.0 != n {
            *bucket = (n, 0);
        }
        bucket.1 += (size + PACKET_OVERHEAD) as u64;
    }

    /// The rate over the (up to `RATE_BUCKETS`) complete buckets before bucket `n`.
    fn measure(&self, n: u64) -> Option<u64> {
        let first = n.saturating_sub(RATE_BUCKETS);
        let span = n - first;
        if span < RATE_MIN_BUCKETS {
            return None;
        }
        let bytes: u64 = self
            .buckets
            .iter()
            .filter(|(k, _)| (first..n).contains(k))
            .map(|(_, b)| b)
            .sum();
        Some(bytes * 8 * 1000 / (span * RATE_BUCKET_MS))
    }
}

/// Upper widths of the layer bands (device pixels).
const LAYER_BANDS: [u32; 2] = [400, 800];

/// The layer for a rendered `width`, staying at `current` unless the width left its band by
/// more than 10 %.
fn layer_for_width(width: u32, current: Option<u8>) -> u8 {
    let plain = LAYER_BANDS.iter().take_while(|&&b| width > b).count() as u8;
    let Some(cur) = current else {
        return plain;
    };
    let lower = if cur == 0 {
        0
    } else {
        LAYER_BANDS[usize::from(cur) - 1]
    };
    let upper = LAYER_BANDS
        .get(usize::from(cur))
        .copied()
        .unwrap_or(u32::MAX);
    let inside = width * 10 >= lower * 9 && width * 10 <= upper.saturating_mul(11);
    if inside { cur } else { plain }
}

/// One slot's outcome of an evaluation.
#[derive(Debug)]
struct SlotPlan {
    slot: usize,
    source: Option<PeerId>,
    /// The layer to forward (0 for audio); `None` with a source: paused for bandwidth.
    layer: Option<u8>,
    /// Dynacast: the layer the slot would take if it were active.
    wanted: Option<u8>,
    /// The bandwidth estimate made the slot go down or pause.
    cut: bool,
}

/// Where a video slot stands for the bandwidth hysteresis: the layer it forwards or waits
/// for, -1 when paused, `None` when it shows nothing yet.
fn slot_level(slot: &Slot) -> Option<i16> {
    match slot.pending.or(slot.forwarding) {
        Some((_, layer)) => Some(i16::from(layer)),
        None => slot.source.map(|_| -1),
    }
}

fn slot_indices(p: &Peer, pred: impl Fn(SlotRole) -> bool) -> Vec<usize> {
    p.slots
        .iter()
        .enumerate()
        .filter(|(_, s)| pred(s.role))
        .map(|(i, _)| i)
        .collect()
}

/// Assign sources to a group of slots: a slot keeps its source while it is wanted (or still
/// a candidate and no wanted source needs the place); wanted sources fill free slots first,
/// then evict unwanted ones; left-over free slots take further candidates in rank order.
fn sticky_assign(
    p: &Peer,
    slots: &[usize],
    wanted: &[PeerId],
    candidates: &[PeerId],
) -> Vec<(usize, Option<PeerId>)> {
    let mut result: Vec<(usize, Option<PeerId>)> = slots
        .iter()
        .map(|&i| (i, p.slots[i].source.filter(|s| candidates.contains(s))))
        .collect();
    let placed =
        |result: &[(usize, Option<PeerId>)], s: PeerId| result.iter().any(|(_, x)| *x == Some(s));
    for &w in wanted {
        if placed(&result, w) {
            continue;
        }
        let free = result.iter().position(|(_, x)| x.is_none()).or_else(|| {
            result
                .iter()
                .position(|(_, x)| x.is_some_and(|s| !wanted.contains(&s)))
        });
        if let Some(pos) = free {
            result[pos].1 = Some(w);
        }
    }
    for &c in candidates {
        if placed(&result, c) {
            continue;
        }
        match result.iter().position(|(_, x)| x.is_none()) {
            Some(pos) => result[pos].1 = Some(c),
            None => break,
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `meter` 50 packets per second of `size` payload bytes for `d`, from `*now` on.
    fn feed(meter: &mut RateMeter, now: &mut Instant, size: usize, d: Duration) {
        for _ in 0..d.as_millis() / 20 {
            meter.record(*now, size);
            *now += Duration::from_millis(20);
        }
    }

    #[test]
    fn rate_meter_measures_a_steady_stream_over_a_sliding_window() {
        let mut meter = RateMeter::default();
        let mut now = Instant::now();
        // 440 + 60 bytes every 20 ms = 200 kbit/s on the wire.
        feed(&mut meter, &mut now, 440, Duration::from_millis(400));
        assert_eq!(meter.bps, None, "too early to tell");
        feed(&mut meter, &mut now, 440, Duration::from_millis(1600));
        assert_eq!(meter.bps, Some(200_000));
        // The rate doubles: after one window the meter says so.
        feed(&mut meter, &mut now, 940, Duration::from_millis(500));
        let halfway = meter.bps.expect("measured above");
        assert!(halfway > 250_000 && halfway < 350_000, "{halfway}");
        feed(&mut meter, &mut now, 940, Duration::from_millis(1000));
        assert_eq!(meter.bps, Some(400_000));
    }

    #[test]
    fn rate_meter_keeps_the_last_rate_over_a_pause_and_measures_afresh_after_it() {
        let mut meter = RateMeter::default();
        let mut now = Instant::now();
        feed(&mut meter, &mut now, 440, Duration::from_secs(2));
        assert_eq!(meter.bps, Some(200_000));
        now += Duration::from_secs(10);
        feed(&mut meter, &mut now, 190, Duration::from_millis(200));
        assert_eq!(meter.bps, Some(200_000), "the last known rate stands");
        feed(&mut meter, &mut now, 190, Duration::from_millis(1000));
        assert_eq!(meter.bps, Some(100_000), "no silence averaged in");
    }
}

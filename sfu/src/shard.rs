//! The sans-IO media core of one worker: str0m peers, the datagram demux, and the router of
//! the rooms this shard is *home* to — without sockets, threads or clocks. The driver (or a
//! bench, or a test) feeds it datagrams, commands, messages from other shards and time, and
//! carries out what it returns: [`Transmit`]s to send and [`ShardMessage`]s to deliver.
//!
//! # Sharding
//! Peers are spread over `count` shards (one per core by default). A peer's connection lives
//! on exactly one shard, its *owner* (chosen by the handle, encoded in the first two
//! characters of the ICE ufrag). Each room has one *home* shard ([`home_of`]) whose
//! [`Router`] makes every decision for that room — stage, slots, layers, speaker, dynacast —
//! so the routing core stays one deterministic, single-threaded state machine. The packet
//! path crosses shards by message passing with shared (`Arc`) payloads, never a lock:
//!
//! 1. the publisher's owner decrypts a packet and sends it to the room's home
//!    ([`ShardMessage::Packets`]) unless it is the home itself;
//! 2. the home routes it and sends the resulting writes to each subscriber's owner
//!    ([`ShardMessage::Writes`]), batched per flush;
//! 3. each owner writes into its str0m connections (SRTP, RTX cache) and transmits.
//!
//! Owners tell the home about their peers (up, down, publishing, mute/floor gate, rendered
//! sizes, PLIs); the home tells owners which publisher must send a keyframe. Messages between
//! two shards arrive in the order they were sent.
//!
//! # Demux
//! Datagrams are routed to peers by map — (protocol, remote address) once known, STUN
//! username (our local ufrag) before — never by asking every `Rtc`. With several shards the
//! kernel spreads UDP datagrams over the shards' sockets by address hash, so a datagram may
//! land on a shard that does not own its peer: STUN is passed on by the ufrag's shard prefix,
//! and so is everything that follows from the same address, at once — not only once the
//! owner has confirmed the username ([`ShardMessage::Route`]): the client starts its DTLS
//! handshake as soon as the first STUN answer reaches it, and a ClientHello that got here
//! before that confirmation was dropped and resent only after DTLS's 1 s retransmission timer
//! (the joins' connect p95 of ~1 s in congress-150, docs/perf.md round 5). The confirmation
//! stays: it follows, in order, any [`ShardMessage::Unroute`] the owner sent for the same
//! address (a peer that left, a username no peer has), so a client that reconnects from the
//! same address is routed again.
//!
//! # Call order
//! Any number of [`Shard::handle_datagram`], [`Shard::handle_message`] and commands, then
//! [`Shard::handle_timeout`] (which also flushes batched writes: one `Rtc::handle_written`,
//! or after an API change one `Input::Timeout(now)`, + drain per written connection); after
//! each step send what [`Shard::take_transmits`] and [`Shard::take_messages`] return.
//! [`Shard::poll_timeout`] says when to call again at the latest.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use metrics::{Counter, Gauge};
use rand::Rng;
use rand::distr::Alphanumeric;
use rustc_hash::FxHashMap;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::config::DtlsCert;
use str0m::crypto;
use str0m::format::Codec;
use str0m::ice::{IceCreds, StunMessage};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive, TcpType, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc, Vp8Descriptor};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::relay::{InjectedPacket, RelaySink, RelayedPacket};
use crate::rewrite::PacketIds;
use crate::router::{
    Forward, IncomingPacket, Kind, PeerId, RoomId, Router, RouterConfig, RouterOutput,
};
use crate::{Connected, SfuError, SfuEvent, SlotInfo, SlotLayout, payload_type};

/// The shard whose router decides for `room`.
pub fn home_of(room: RoomId, count: usize) -> usize {
    (room.0 % count.max(1) as u64) as usize
}

/// The shard a local ufrag was issued by (its first two characters, decimal).
pub(crate) fn owner_of_ufrag(ufrag: &str) -> Option<usize> {
    ufrag.get(..2)?.parse().ok()
}

/// The start estimate (bit/s) of a new connection unless [`ShardSetup::set_start_estimate`]
/// sets another.
pub const DEFAULT_START_ESTIMATE: u64 = 2_500_000;
/// The start estimates [`ShardSetup::set_start_estimate`] accepts (bit/s).
pub const START_ESTIMATE_RANGE: std::ops::RangeInclusive<u64> = 100_000..=100_000_000;
/// Estimate changes smaller than this (percent) are not passed to the router.
const ESTIMATE_STEP_PERCENT: u64 = 5;

/// How often a connection's send queue (str0m's pacer queues) is looked at.
const SEND_QUEUE_CHECK: Duration = Duration::from_millis(100);
/// A send queue stands when its oldest packet has waited this long: longer than a burst of
/// keyframes takes to leave at the estimate, so a connection that only starts or switches
/// layers is left alone.
const SEND_QUEUE_STANDING: Duration = Duration::from_millis(200);
/// A standing queue that would take this long to drain at the estimate leaves nothing for
/// new media ([`send_queue_budget`]).
const SEND_QUEUE_HORIZON: Duration = Duration::from_secs(1);
/// A stream's queue snapshot older than this is of a stream that has gone idle since (str0m
/// snapshots a stream only while it has something queued, at least every 40 ms).
const SEND_QUEUE_SNAPSHOT_AGE: Duration = Duration::from_millis(100);

/// The default of [`ShardSetup::flush_coalesce`].
pub const DEFAULT_FLUSH_COALESCE: Duration = Duration::from_millis(2);

/// Timer/flush rounds per [`Shard::handle_timeout`] (a bound, in case a connection keeps
/// asking for an immediate timeout).
const FLUSH_ROUNDS: usize = 8;

/// Most shards a ufrag prefix can name.
pub const MAX_SHARDS: usize = 100;

/// Counters are summed locally per packet and published once per flush: the shared
/// atomic increments showed up in profiles at per-packet rates.
struct Metrics {
    pending_received: u64,
    pending_forwarded: u64,
    pending_forwarded_bytes: u64,
    pending_timeouts: u64,
    pending_relayed: u64,
    received: Counter,
    relayed: Counter,
    timeouts: Counter,
    forwarded: Counter,
    forwarded_bytes: Counter,
    keyframe_requests: Counter,
    shard_messages: Counter,
    peers: Gauge,
}

impl Metrics {
    fn new() -> Self {
        Self {
            pending_received: 0,
            pending_forwarded: 0,
            pending_forwarded_bytes: 0,
            pending_timeouts: 0,
            pending_relayed: 0,
            relayed: metrics::counter!("plenum_media_rtp_relayed_total"),
            timeouts: metrics::counter!("plenum_media_peer_timeouts_total"),
            received: metrics::counter!("plenum_media_rtp_received_total"),
            forwarded: metrics::counter!("plenum_media_rtp_forwarded_total"),
            forwarded_bytes: metrics::counter!("plenum_media_rtp_forwarded_bytes_total"),
            keyframe_requests: metrics::counter!("plenum_media_keyframe_requests_total"),
            shard_messages: metrics::counter!("plenum_media_shard_messages_total"),
            peers: metrics::gauge!("plenum_media_peers"),
        }
    }

    fn publish(&mut self) {
        self.received
            .increment(std::mem::take(&mut self.pending_received));
        self.forwarded
            .increment(std::mem::take(&mut self.pending_forwarded));
        self.forwarded_bytes
            .increment(std::mem::take(&mut self.pending_forwarded_bytes));
        self.timeouts
            .increment(std::mem::take(&mut self.pending_timeouts));
        self.relayed
            .increment(std::mem::take(&mut self.pending_relayed));
    }
}

/// What every shard of a media plane shares: addresses, slots, policy, the DTLS certificate.
#[derive(Clone)]
pub struct ShardSetup {
    /// Number of shards.
    pub count: usize,
    /// The bound UDP address (the destination of datagrams when no candidate matches).
    pub local_addr: SocketAddr,
    /// Announced UDP host candidates.
    pub udp_candidates: Vec<SocketAddr>,
    /// Announced passive ICE-TCP candidates (empty: no ICE-TCP).
    pub tcp_candidates: Vec<SocketAddr>,
    /// Receive slots offered to every subscriber.
    pub slots: SlotLayout,
    /// Routing policy.
    pub router: RouterConfig,
    /// Estimate each subscriber's bandwidth (TWCC) and let the router fit its layers to it
    /// (on by default; see docs/perf.md for what it costs).
    pub bandwidth_estimation: bool,
    /// How long forwarded packets may wait so that what arrives close together reaches each
    /// subscriber's connection in one flush (one str0m timeout per connection and flush is
    /// most of the cost of forwarding; docs/perf.md). Zero: flush at once.
    pub flush_coalesce: Duration,
    /// See [`ShardSetup::set_start_estimate`].
    start_estimate: u64,
    /// Where relays' packets and mirrors' keyframe requests go (`crate::relay`); `None`: this
    /// node cascades nothing.
    pub relay_sink: Option<Arc<dyn RelaySink>>,
    /// One DTLS certificate for all peers: generating one per connection costs ~1-2 ms.
    dtls_cert: DtlsCert,
}

impl std::fmt::Debug for ShardSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSetup")
            .field("count", &self.count)
            .field("local_addr", &self.local_addr)
            .field("udp_candidates", &self.udp_candidates)
            .field("tcp_candidates", &self.tcp_candidates)
            .finish_non_exhaustive()
    }
}

impl ShardSetup {
    /// A setup for `count` shards; generates the DTLS certificate.
    pub fn new(
        count: usize,
        local_addr: SocketAddr,
        udp_candidates: Vec<SocketAddr>,
        tcp_candidates: Vec<SocketAddr>,
        slots: SlotLayout,
        router: RouterConfig,
    ) -> Result<Self, SfuError> {
        let dtls_cert: DtlsCert = crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
            .ok_or(SfuError::Crypto)?;
        Ok(Self {
            count: count.clamp(1, MAX_SHARDS),
            local_addr,
            udp_candidates,
            tcp_candidates,
            slots,
            router,
            bandwidth_estimation: true,
            flush_coalesce: DEFAULT_FLUSH_COALESCE,
            start_estimate: DEFAULT_START_ESTIMATE,
            relay_sink: None,
            dtls_cert,
        })
    }

    /// Set the bandwidth estimate (bit/s) a new connection starts from, until its estimator
    /// has measured: its pacer sends at 1.25 times it, while the router ignores estimates
    /// during [`RouterConfig::bandwidth_warmup`] and gives each slot the layer its size calls
    /// for. A start well below what the slots carry (a congress delegate's ≈ 3 Mbit/s) queued
    /// every new subscriber's media in the pacer until probing had raised the estimate:
    /// congress-150's stage latency p99 over the whole run, 150 joins included, reached
    /// 334 ms with 1 Mbit/s, and stayed at 33–40 ms with 2.5 Mbit/s (docs/perf.md, round 5).
    /// An error outside [`START_ESTIMATE_RANGE`], and nothing changes.
    pub fn set_start_estimate(&mut self, bps: u64) -> Result<(), SfuError> {
        if !START_ESTIMATE_RANGE.contains(&bps) {
            return Err(SfuError::InvalidStartEstimate(bps));
        }
        self.start_estimate = bps;
        Ok(())
    }
}

/// A packet as received from its publisher: shared by every write of it, on every shard.
#[derive(Debug)]
pub struct PacketData {
    payload: Arc<[u8]>,
    keyframe: bool,
    marker: bool,
    wallclock: StdInstant,
    vp8: Option<Vp8Descriptor>,
    audio_level: Option<i8>,
}

/// A packet for its room's home router.
#[derive(Debug)]
pub struct Routed {
    incoming: IncomingPacket,
    data: Arc<PacketData>,
}

/// A packet to write to one subscriber's slot.
#[derive(Debug)]
pub struct Outgoing {
    forward: Forward,
    data: Arc<PacketData>,
}

/// What a peer's owner tells its room's home about the peer once its connection is up.
#[derive(Debug)]
pub struct PeerUp {
    peer: PeerId,
    room: RoomId,
    owner: usize,
    layout: SlotLayout,
    mids: Vec<String>,
    audio_on: bool,
    video_on: bool,
    silenced: bool,
    widths: Vec<(usize, u32)>,
    estimate: Option<u64>,
}

/// A message from one shard to another (see the module docs for who sends what).
#[derive(Debug)]
pub enum ShardMessage {
    /// To the home: a peer's connection is up (it joins the router).
    PeerUp(Box<PeerUp>),
    /// To the home: the peer left or its connection died.
    PeerDown {
        /// The peer.
        peer: PeerId,
    },
    /// To the home: the peer started/stopped publishing.
    Publishing {
        /// The peer.
        peer: PeerId,
        /// Audio or video.
        kind: Kind,
        /// On or off.
        on: bool,
    },
    /// To the home: the peer is muted or not allowed to be heard (or no longer).
    Silenced {
        /// The peer.
        peer: PeerId,
        /// Silenced.
        silenced: bool,
    },
    /// To the home: the subscriber renders a slot this wide.
    SlotWidth {
        /// The subscriber.
        peer: PeerId,
        /// Slot index.
        slot: usize,
        /// Device pixels.
        width: u32,
    },
    /// To the home: the subscriber's bandwidth estimate (`None`: unknown).
    Bandwidth {
        /// The subscriber.
        peer: PeerId,
        /// Bits per second.
        bps: Option<u64>,
    },
    /// To the home: what the subscriber's standing send queue leaves for new media (`None`:
    /// it no longer stands).
    SendQueueBudget {
        /// The subscriber.
        peer: PeerId,
        /// Bits per second.
        bps: Option<u64>,
    },
    /// To an owner: the rate the subscriber's slots would take at the layers their sizes
    /// call for (the estimator probes up to it).
    DesiredBitrate {
        /// The subscriber.
        peer: PeerId,
        /// Bits per second.
        bps: u64,
    },
    /// To the home: the subscriber's browser asked for a keyframe on a slot.
    KeyframeRequest {
        /// The subscriber.
        subscriber: PeerId,
        /// Slot index.
        slot: usize,
    },
    /// To the home: packets its publishers sent.
    Packets(Vec<Routed>),
    /// To an owner: write these to its subscribers.
    Writes(Vec<Outgoing>),
    /// To an owner: ask the publisher for a keyframe on this layer.
    RequestKeyframe {
        /// The publisher.
        source: PeerId,
        /// Video layer.
        layer: u8,
    },
    /// To an owner: UDP datagrams of its peers that arrived on the sender's socket.
    Datagrams {
        /// The shard whose socket received them.
        via: usize,
        /// (remote address, datagram).
        datagrams: Vec<(SocketAddr, Vec<u8>)>,
    },
    /// To the shard whose socket receives from `addr`: pass its datagrams to `owner`.
    Route {
        /// The remote address.
        addr: SocketAddr,
        /// The owner of the peer using it.
        owner: usize,
    },
    /// To the shard whose socket receives from `addr`: the peer is gone (or never was),
    /// stop passing on.
    Unroute {
        /// The remote address.
        addr: SocketAddr,
    },
}

/// A receive slot of a subscriber, as the owner writes to it.
struct TxSlot {
    mid: Mid,
    pt: Pt,
    kind: Kind,
    /// The send stream's SSRC once looked up: str0m finds streams by SSRC in a map, by
    /// mid with a linear search.
    ssrc: Option<Ssrc>,
    /// The rendered width the subscriber last reported.
    width: Option<u32>,
}

/// A remote address a peer uses, and the shard whose socket receives from it.
struct PeerAddr {
    proto: Protocol,
    addr: SocketAddr,
    via: usize,
}

struct Peer {
    rtc: Rtc,
    room: RoomId,
    ufrag: String,
    addrs: Vec<PeerAddr>,
    connected: bool,
    /// Written to, or changed through the API, since the last flush.
    dirty: bool,
    /// Changed through the API (not only written to) since the last flush: the flush runs
    /// a whole timeout rather than `Rtc::handle_written`.
    changed: bool,
    next_timeout: StdInstant,
    audio_mid: Option<Mid>,
    video_mid: Option<Mid>,
    slots: Vec<TxSlot>,
    /// ssrc → (kind, layer) of what this peer publishes.
    rx: HashMap<Ssrc, (Kind, u8)>,
    /// The ssrc of each video layer, learned from packets (for keyframe requests).
    layer_ssrc: [Option<Ssrc>; 3],
    /// Receive slots, handed to the router once the connection is up.
    layout: SlotLayout,
    /// Publishing and mute state, kept here until the home's router knows the peer.
    audio_on: bool,
    video_on: bool,
    muted: bool,
    /// Floor control (control plane): false until allowed, so nothing leaks before it.
    audio_allowed: bool,
    /// The latest bandwidth estimate, and the one last sent to the home.
    estimate: Option<u64>,
    reported_estimate: Option<u64>,
    /// When the send queue is looked at next, and the budget it left that was last sent to
    /// the home (`None`: the queue does not stand).
    next_queue_check: StdInstant,
    reported_queue_budget: Option<u64>,
}

impl Peer {
    /// What the router treats as muted: the own mute or no permission to be heard.
    fn silenced(&self) -> bool {
        self.muted || !self.audio_allowed
    }
}

/// A peer of a room this shard is home to.
struct Member {
    owner: usize,
    mids: Vec<String>,
}

/// See the module docs.
pub struct Shard {
    id: usize,
    setup: ShardSetup,
    peers: FxHashMap<PeerId, Peer>,
    by_addr: HashMap<(Protocol, SocketAddr), PeerId>,
    by_ufrag: HashMap<String, PeerId>,
    /// UDP addresses whose datagrams land on this shard's socket but whose peer lives on
    /// another shard.
    foreign: HashMap<SocketAddr, usize>,
    /// Routing for the rooms this shard is home to.
    router: Router,
    members: FxHashMap<PeerId, Member>,
    /// Relays (origin side) and mirrors (edge side) of the rooms this shard is home to, with
    /// their room (`crate::relay`).
    relays: FxHashMap<PeerId, RoomId>,
    mirrors: FxHashMap<PeerId, RoomId>,
    /// Lazy min-heap of peer timeouts; entries that no longer match a peer's
    /// `next_timeout` are skipped.
    timers: BinaryHeap<Reverse<(StdInstant, PeerId)>>,
    dirty: Vec<PeerId>,
    outbox: Vec<Outgoing>,
    /// Since when writes (or connections marked dirty) wait for a flush.
    pending_since: Option<StdInstant>,
    forwards: Vec<Forward>,
    events: mpsc::UnboundedSender<SfuEvent>,
    metrics: Metrics,
    transmits: Vec<Transmit>,
    /// Control messages to other shards, in order.
    messages: Vec<(usize, ShardMessage)>,
    /// Batched per destination shard, sent after the control messages of a step.
    to_home: Vec<Vec<Routed>>,
    to_owner: Vec<Vec<Outgoing>>,
    passed_on: Vec<Vec<(SocketAddr, Vec<u8>)>>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("peers", &self.peers.len())
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl Shard {
    /// Shard `id` of `setup.count`.
    pub fn new(id: usize, setup: ShardSetup, events: mpsc::UnboundedSender<SfuEvent>) -> Self {
        let count = setup.count;
        let router = Router::new(setup.router.clone());
        Self {
            id,
            setup,
            peers: FxHashMap::default(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            foreign: HashMap::new(),
            router,
            members: FxHashMap::default(),
            relays: FxHashMap::default(),
            mirrors: FxHashMap::default(),
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            outbox: Vec::new(),
            pending_since: None,
            forwards: Vec::new(),
            events,
            metrics: Metrics::new(),
            transmits: Vec::new(),
            messages: Vec::new(),
            to_home: (0..count).map(|_| Vec::new()).collect(),
            to_owner: (0..count).map(|_| Vec::new()).collect(),
            passed_on: (0..count).map(|_| Vec::new()).collect(),
        }
    }

    /// This shard's index.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Number of peer connections this shard owns.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The latest bandwidth estimate of a peer this shard owns (bits per second).
    pub fn bandwidth_estimate(&self, peer: PeerId) -> Option<u64> {
        self.peers.get(&peer).and_then(|p| p.estimate)
    }

    /// The datagrams to send, in order (the vector is left empty).
    pub fn take_transmits(&mut self, into: &mut Vec<Transmit>) {
        into.append(&mut self.transmits);
    }

    /// The messages for other shards, as (destination shard, message): control messages
    /// first, then the batched packets, writes and passed-on datagrams.
    pub fn take_messages(&mut self, into: &mut Vec<(usize, ShardMessage)>) {
        let before = into.len();
        into.append(&mut self.messages);
        for (shard, batch) in self.to_home.iter_mut().enumerate() {
            if !batch.is_empty() {
                into.push((shard, ShardMessage::Packets(std::mem::take(batch))));
            }
        }
        for (shard, batch) in self.to_owner.iter_mut().enumerate() {
            if !batch.is_empty() {
                into.push((shard, ShardMessage::Writes(std::mem::take(batch))));
            }
        }
        for (shard, batch) in self.passed_on.iter_mut().enumerate() {
            if !batch.is_empty() {
                let datagrams = std::mem::take(batch);
                into.push((
                    shard,
                    ShardMessage::Datagrams {
                        via: self.id,
                        datagrams,
                    },
                ));
            }
        }
        self.metrics
            .shard_messages
            .increment((into.len() - before) as u64);
    }

    /// When [`Shard::handle_timeout`] is due (at the latest one second from `now`).
    pub fn poll_timeout(&self, now: StdInstant) -> StdInstant {
        let far = now + Duration::from_secs(1);
        let timer = self.timers.peek().map(|Reverse((t, _))| *t).unwrap_or(far);
        let router = self.router.poll_timeout().unwrap_or(far);
        let flush = self
            .pending_since
            .map_or(far, |t| t + self.setup.flush_coalesce);
        timer.min(router).min(flush)
    }

    /// Run what is due at `now`: peer timeouts, the router's evaluation; then flush the
    /// writes that have waited [`ShardSetup::flush_coalesce`].
    pub fn handle_timeout(&mut self, now: StdInstant) {
        for _ in 0..FLUSH_ROUNDS {
            self.handle_due_timers(now);
            if self.router.poll_timeout().is_some_and(|t| t <= now) {
                self.router.handle_timeout(now);
            }
            self.handle_router_outputs(now);
            if self.pending_since.is_none() && !(self.outbox.is_empty() && self.dirty.is_empty()) {
                self.pending_since = Some(now);
            }
            if self
                .pending_since
                .is_some_and(|t| t + self.setup.flush_coalesce <= now)
            {
                self.flush(now);
            }
            // A connection that asks for an immediate timeout (its pacer): let it go now,
            // not a loop turn later.
            if self.timers.peek().is_none_or(|Reverse((t, _))| *t > now) {
                break;
            }
        }
        self.metrics.publish();
    }

    /// Start or stop forwarding a peer's microphone or camera (command to the owner).
    pub fn set_publishing(&mut self, now: StdInstant, peer: PeerId, kind: Kind, on: bool) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        match kind {
            Kind::Audio => p.audio_on = on,
            Kind::Video => p.video_on = on,
        }
        if p.connected {
            let room = p.room;
            self.send_home(now, room, ShardMessage::Publishing { peer, kind, on });
        }
    }

    /// The participant's own mute (command to the owner).
    pub fn set_muted(&mut self, now: StdInstant, peer: PeerId, muted: bool) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.muted = muted;
            self.report_silenced(now, peer);
        }
    }

    /// Floor control: may this peer's audio be forwarded at all? Takes effect with the next
    /// packet the home routes (command to the owner).
    pub fn set_audio_allowed(&mut self, now: StdInstant, peer: PeerId, allowed: bool) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.audio_allowed = allowed;
            self.report_silenced(now, peer);
        }
    }

    fn report_silenced(&mut self, now: StdInstant, peer: PeerId) {
        let Some(p) = self.peers.get(&peer).filter(|p| p.connected) else {
            return;
        };
        let (room, silenced) = (p.room, p.silenced());
        self.send_home(now, room, ShardMessage::Silenced { peer, silenced });
    }

    /// The subscriber renders its receive slot `mid` `width` pixels wide (command to the
    /// owner; kept until the connection is up).
    pub fn set_slot_width(&mut self, now: StdInstant, peer: PeerId, mid: &str, width: u32) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(slot) = p.slots.iter().position(|s| s.mid.to_string() == mid) else {
            return;
        };
        p.slots[slot].width = Some(width);
        if p.connected {
            let room = p.room;
            self.send_home(now, room, ShardMessage::SlotWidth { peer, slot, width });
        }
    }

    /// Origin side: a relay joins `room`'s router with these receive slots and slot widths
    /// (command to the room's home; `crate::relay`).
    pub fn add_relay(
        &mut self,
        now: StdInstant,
        relay: PeerId,
        room: RoomId,
        layout: SlotLayout,
        widths: &[(usize, u32)],
    ) {
        if self.relays.insert(relay, room).is_some() {
            self.router.remove_peer(now, relay);
        }
        self.router.add_peer(now, relay, room, layout);
        for &(slot, width) in widths {
            self.router.set_slot_width(now, relay, slot, width);
        }
    }

    /// Origin side: the edge behind a relay asks for a keyframe on one of its slots.
    pub fn relay_keyframe_request(&mut self, now: StdInstant, relay: PeerId, slot: usize) {
        if self.relays.contains_key(&relay) {
            self.router.handle_keyframe_request(now, relay, slot);
        }
    }

    /// Edge side: a mirror publisher joins `room`'s router, publishing `kinds`.
    pub fn add_mirror(&mut self, now: StdInstant, mirror: PeerId, room: RoomId, kinds: &[Kind]) {
        if self.mirrors.insert(mirror, room).is_some() {
            self.router.remove_peer(now, mirror);
        }
        let none = SlotLayout {
            stage: 0,
            tiles: 0,
            audio: 0,
        };
        self.router.add_peer(now, mirror, room, none);
        for &kind in kinds {
            self.router.set_publishing(now, mirror, kind, true);
        }
    }

    /// A relay or mirror leaves its room's router.
    pub fn remove_relay(&mut self, now: StdInstant, peer: PeerId) {
        if self.relays.remove(&peer).is_some() || self.mirrors.remove(&peer).is_some() {
            self.router.remove_peer(now, peer);
        }
    }

    /// Edge side: route a packet the origin sent for a mirror as if its browser had sent it
    /// (does not flush).
    pub fn inject(&mut self, now: StdInstant, packet: InjectedPacket) {
        if !self.mirrors.contains_key(&packet.mirror) {
            return;
        }
        self.metrics.pending_received += 1;
        let vp8 = match packet.kind {
            Kind::Video => Vp8Descriptor::parse(&packet.payload).ok(),
            Kind::Audio => None,
        };
        let incoming = IncomingPacket {
            source: packet.mirror,
            kind: packet.kind,
            layer: packet.layer.min(2),
            ids: packet.ids,
            keyframe: packet.keyframe,
            audio_level: packet.audio_level,
            size: packet.payload.len(),
        };
        let data = Arc::new(PacketData {
            payload: packet.payload,
            keyframe: packet.keyframe,
            marker: packet.marker,
            wallclock: now,
            vp8,
            audio_level: packet.audio_level,
        });
        self.route(now, &incoming, data);
    }

    /// Pin a peer to the room's stage, or follow the speaker (command to the room's home).
    pub fn set_stage_pin(&mut self, now: StdInstant, room: RoomId, peer: Option<PeerId>) {
        self.router.set_stage_pin(now, room, peer)
    }

    /// A peer left (command to the owner).
    pub fn disconnect(&mut self, now: StdInstant, peer: PeerId) {
        self.remove_peer(now, peer, false)
    }

    /// Negotiate a peer's connection from its SDP offer; it joins `room` (command to the
    /// shard that is to own it).
    pub fn connect(
        &mut self,
        now: StdInstant,
        peer_id: PeerId,
        room: RoomId,
        offer: &str,
    ) -> Result<Connected, SfuError> {
        if self.peers.contains_key(&peer_id) {
            self.remove_peer(now, peer_id, false);
        }
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| {
            // The parser's error names positions in memory: log it, tell the client less.
            debug!("unparsable SDP offer: {e}");
            SfuError::InvalidSdp("the offer is not valid SDP".into())
        })?;
        let ufrag = self.unique_ufrag();
        let creds = IceCreds {
            ufrag: ufrag.clone(),
            pass: random_string(24),
        };
        let bwe = self
            .setup
            .bandwidth_estimation
            .then_some(Bitrate::bps(self.setup.start_estimate));
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_bwe(bwe)
            .set_dtls_cert(self.setup.dtls_cert.clone())
            .set_local_ice_credentials(creds)
            .build(now);
        for addr in &self.setup.udp_candidates {
            let candidate =
                Candidate::host(*addr, "udp").map_err(|_| SfuError::InvalidPublicAddress(*addr))?;
            rtc.add_local_candidate(candidate);
        }
        for addr in &self.setup.tcp_candidates {
            let candidate = Candidate::builder()
                .tcp()
                .host(*addr)
                .tcptype(TcpType::Passive)
                .build()
                .map_err(|_| SfuError::InvalidPublicAddress(*addr))?;
            rtc.add_local_candidate(candidate);
        }
        let answer: SdpAnswer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::InvalidSdp(client_message(&e.to_string())))?;

        // The m-lines, in SDP order, with their kind and our direction.
        let answer_sdp = answer.to_sdp_string();
        let lines: Vec<(Mid, MediaKind, Direction)> = answer_sdp
            .lines()
            .filter_map(|l| l.strip_prefix("a=mid:"))
            .filter_map(|m| {
                let mid = Mid::from(m.trim());
                rtc.media(mid)
                    .map(|media| (mid, media.kind(), media.direction()))
            })
            .collect();
        let next_timeout = match rtc.poll_output() {
            Ok(Output::Timeout(t)) => t,
            _ => now,
        };
        let mut audio_mid = None;
        let mut video_mid = None;
        let mut video_slots = Vec::new();
        let mut audio_slots = Vec::new();
        for &(mid, kind, direction) in &lines {
            match (kind, direction) {
                (MediaKind::Audio, Direction::RecvOnly) if audio_mid.is_none() => {
                    audio_mid = Some(mid)
                }
                (MediaKind::Video, Direction::RecvOnly) if video_mid.is_none() => {
                    video_mid = Some(mid)
                }
                (MediaKind::Audio, Direction::SendOnly) => audio_slots.push(mid),
                (MediaKind::Video, Direction::SendOnly) => video_slots.push(mid),
                _ => {}
            }
        }
        let wanted = self.setup.slots;
        let stage = usize::from(wanted.stage.min(1)).min(video_slots.len());
        let tiles = usize::from(wanted.tiles).min(video_slots.len() - stage);
        let audio = usize::from(wanted.audio).min(audio_slots.len());
        let layout = SlotLayout {
            stage: stage as u8,
            tiles: tiles as u8,
            audio: audio as u8,
        };
        let mut slots = Vec::new();
        let mut infos = Vec::new();
        let mids = video_slots
            .iter()
            .take(stage + tiles)
            .chain(&audio_slots[..audio]);
        for (role, mid) in layout.roles().into_iter().zip(mids) {
            let codec = match role.kind() {
                Kind::Audio => Codec::Opus,
                Kind::Video => Codec::Vp8,
            };
            let pt = payload_type(&rtc, *mid, codec).ok_or_else(|| {
                let name = match codec {
                    Codec::Opus => "Opus",
                    _ => "VP8",
                };
                SfuError::InvalidSdp(format!("m-line {mid} offers no {name}"))
            })?;
            slots.push(TxSlot {
                mid: *mid,
                pt,
                kind: role.kind(),
                ssrc: None,
                width: None,
            });
            infos.push(SlotInfo {
                role,
                mid: mid.to_string(),
            });
        }

        self.by_ufrag.insert(ufrag.clone(), peer_id);
        self.peers.insert(
            peer_id,
            Peer {
                rtc,
                room,
                ufrag,
                addrs: Vec::new(),
                connected: false,
                dirty: false,
                changed: false,
                next_timeout,
                audio_mid,
                video_mid,
                slots,
                rx: HashMap::new(),
                layer_ssrc: [None; 3],
                layout,
                audio_on: false,
                video_on: false,
                muted: false,
                audio_allowed: false,
                estimate: None,
                reported_estimate: None,
                next_queue_check: now,
                reported_queue_budget: None,
            },
        );
        self.timers.push(Reverse((next_timeout, peer_id)));
        // The home's router learns of the peer when its connection is up (Event::Connected):
        // forwarding to a peer that cannot receive yet would start its slots mid-frame.
        self.metrics.peers.increment(1);
        debug!(
            peer = peer_id.0,
            room = room.0,
            shard = self.id,
            ?layout,
            "peer negotiated"
        );
        Ok(Connected {
            answer: answer_sdp,
            slots: infos,
        })
    }

    /// A fresh local ufrag: the owner's index in two digits, then random characters.
    fn unique_ufrag(&self) -> String {
        loop {
            let ufrag = format!("{:02}{}", self.id, random_string(6));
            if !self.by_ufrag.contains_key(&ufrag) {
                return ufrag;
            }
        }
    }

    fn remove_peer(&mut self, now: StdInstant, peer_id: PeerId, report: bool) {
        let Some(mut peer) = self.peers.remove(&peer_id) else {
            return;
        };
        peer.rtc.disconnect();
        self.by_ufrag.remove(&peer.ufrag);
        for a in &peer.addrs {
            if self.by_addr.get(&(a.proto, a.addr)) == Some(&peer_id) {
                self.by_addr.remove(&(a.proto, a.addr));
            }
            if a.via != self.id {
                self.messages
                    .push((a.via, ShardMessage::Unroute { addr: a.addr }));
            }
        }
        if peer.connected {
            self.send_home(now, peer.room, ShardMessage::PeerDown { peer: peer_id });
        }
        self.metrics.peers.decrement(1);
        if report {
            let _ = self.events.send(SfuEvent::PeerDisconnected {
                room: peer.room,
                peer: peer_id,
            });
        }
        debug!(peer = peer_id.0, "peer removed");
    }

    /// Deliver a message about the room: handled here when this shard is its home.
    fn send_home(&mut self, now: StdInstant, room: RoomId, msg: ShardMessage) {
        let home = home_of(room, self.setup.count);
        if home == self.id {
            self.handle_message(now, msg);
        } else {
            self.messages.push((home, msg));
        }
    }

    /// Deliver a message about a member of a room this shard is home to: handled here when
    /// this shard owns the member's connection (or the member is unknown: nothing to do).
    fn send_owner(&mut self, now: StdInstant, peer: PeerId, msg: ShardMessage) {
        match self.members.get(&peer).map(|m| m.owner) {
            Some(owner) if owner != self.id => self.messages.push((owner, msg)),
            _ => self.handle_message(now, msg),
        }
    }

    /// A message from another shard (does not flush).
    pub fn handle_message(&mut self, now: StdInstant, msg: ShardMessage) {
        match msg {
            ShardMessage::PeerUp(up) => {
                let PeerUp {
                    peer,
                    room,
                    owner,
                    layout,
                    mids,
                    audio_on,
                    video_on,
                    silenced,
                    widths,
                    estimate,
                } = *up;
                self.members.insert(peer, Member { owner, mids });
                self.router.add_peer(now, peer, room, layout);
                self.router.set_muted(now, peer, silenced);
                self.router.set_publishing(now, peer, Kind::Audio, audio_on);
                self.router.set_publishing(now, peer, Kind::Video, video_on);
                for (slot, width) in widths {
                    self.router.set_slot_width(now, peer, slot, width);
                }
                self.router.set_bandwidth(now, peer, estimate);
            }
            ShardMessage::PeerDown { peer } => {
                self.members.remove(&peer);
                self.router.remove_peer(now, peer);
            }
            ShardMessage::Publishing { peer, kind, on } => {
                self.router.set_publishing(now, peer, kind, on)
            }
            ShardMessage::Silenced { peer, silenced } => self.router.set_muted(now, peer, silenced),
            ShardMessage::SlotWidth { peer, slot, width } => {
                self.router.set_slot_width(now, peer, slot, width)
            }
            ShardMessage::Bandwidth { peer, bps } => self.router.set_bandwidth(now, peer, bps),
            ShardMessage::SendQueueBudget { peer, bps } => {
                self.router.set_send_queue_budget(now, peer, bps)
            }
            ShardMessage::DesiredBitrate { peer, bps } => self.set_desired_bitrate(peer, bps),
            ShardMessage::KeyframeRequest { subscriber, slot } => {
                self.router.handle_keyframe_request(now, subscriber, slot)
            }
            ShardMessage::Packets(packets) => {
                for p in packets {
                    self.route(now, &p.incoming, p.data);
                }
            }
            ShardMessage::Writes(writes) => self.outbox.extend(writes),
            ShardMessage::RequestKeyframe { source, layer } => self.request_keyframe(source, layer),
            ShardMessage::Datagrams { via, datagrams } => {
                for (source, data) in datagrams {
                    self.receive(now, Protocol::Udp, source, &data, via);
                }
            }
            ShardMessage::Route { addr, owner } => {
                self.foreign.insert(addr, owner);
            }
            ShardMessage::Unroute { addr } => {
                self.foreign.remove(&addr);
            }
        }
    }

    /// One datagram received on this shard's UDP socket, or one RFC 4571 frame of an
    /// ICE-TCP connection (does not flush).
    pub fn handle_datagram(
        &mut self,
        now: StdInstant,
        proto: Protocol,
        source: SocketAddr,
        data: &[u8],
    ) {
        if proto == Protocol::Udp
            && !self.by_addr.contains_key(&(proto, source))
            && let Some(owner) = self.foreign_owner(source, data)
        {
            self.passed_on[owner].push((source, data.to_vec()));
            return;
        }
        self.receive(now, proto, source, data, self.id);
    }

    /// The other shard that owns the peer sending from `source`, if it is not this one: as
    /// remembered, or named by a STUN username's ufrag — then remembered for whatever follows
    /// from the same address (module docs, Demux).
    fn foreign_owner(&mut self, source: SocketAddr, data: &[u8]) -> Option<usize> {
        if let Some(&owner) = self.foreign.get(&source) {
            return Some(owner);
        }
        let msg = StunMessage::parse(data).ok()?;
        let (local_ufrag, _) = msg.split_username()?;
        let owner = owner_of_ufrag(local_ufrag)?;
        if owner == self.id || owner >= self.setup.count {
            return None;
        }
        self.foreign.insert(source, owner);
        Some(owner)
    }

    /// Find the peer a datagram belongs to: by remote address, else by the STUN username.
    fn demux(
        &mut self,
        proto: Protocol,
        source: SocketAddr,
        data: &[u8],
        via: usize,
    ) -> Option<PeerId> {
        if let Some(&id) = self.by_addr.get(&(proto, source)) {
            return Some(id);
        }
        let msg = StunMessage::parse(data).ok()?;
        let (local_ufrag, _) = msg.split_username()?;
        let id = *self.by_ufrag.get(local_ufrag)?;
        // Remember the address: later DTLS/SRTP from it carries no username. str0m checks
        // the STUN message's integrity itself; a forged one does not authenticate.
        self.by_addr.insert((proto, source), id);
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.addrs.push(PeerAddr {
                proto,
                addr: source,
                via,
            });
        }
        if via != self.id {
            self.messages.push((
                via,
                ShardMessage::Route {
                    addr: source,
                    owner: self.id,
                },
            ));
        }
        Some(id)
    }

    fn receive(
        &mut self,
        now: StdInstant,
        proto: Protocol,
        source: SocketAddr,
        data: &[u8],
        via: usize,
    ) {
        let Some(id) = self.demux(proto, source, data, via) else {
            if via != self.id {
                // Passed on by `via` for a username no peer here has (or a peer that left).
                self.messages
                    .push((via, ShardMessage::Unroute { addr: source }));
            }
            return;
        };
        // The remote sent to one of our announced candidates (behind NAT or a relay that is
        // not the bound address): str0m matches the destination against its local candidates.
        let candidates = match proto {
            Protocol::Udp => &self.setup.udp_candidates,
            _ => &self.setup.tcp_candidates,
        };
        let destination = candidates
            .iter()
            .find(|c| c.is_ipv4() == source.is_ipv4())
            .copied()
            .unwrap_or(self.setup.local_addr);
        let Ok(receive) = Receive::new(proto, source, destination, data) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Err(e) = peer.rtc.handle_input(Input::Receive(now, receive)) {
            debug!(peer = id.0, "input rejected: {e}");
        }
        self.drain(now, id);
    }

    fn handle_due_timers(&mut self, now: StdInstant) {
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.next_timeout != t {
                continue; // stale entry
            }
            self.metrics.pending_timeouts += 1;
            if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                debug!(peer = id.0, "timeout rejected: {e}");
            }
            self.drain(now, id);
        }
    }

    /// Drain one peer's outputs until its next timeout.
    fn drain(&mut self, now: StdInstant, id: PeerId) {
        let mut gone = false;
        let mut check_queue = false;
        loop {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            match peer.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    if peer.next_timeout != t {
                        peer.next_timeout = t;
                        self.timers.push(Reverse((t, id)));
                    }
                    check_queue = peer.connected && now >= peer.next_queue_check;
                    break;
                }
                Ok(Output::Transmit(t)) => self.transmits.push(t),
                Ok(Output::Event(event)) => {
                    if self.handle_event(now, id, event) {
                        gone = true;
                    }
                }
                Err(e) => {
                    warn!(peer = id.0, "connection failed: {e}");
                    gone = true;
                    break;
                }
            }
        }
        if gone {
            self.remove_peer(now, id, true);
        } else if check_queue {
            self.check_send_queue(now, id);
        }
    }

    /// Look at a connection's send queue: while it stands, tell the home's router what it
    /// leaves for new media ([`Router::set_send_queue_budget`]), and when it no longer does.
    fn check_send_queue(&mut self, now: StdInstant, id: PeerId) {
        let start_estimate = self.setup.start_estimate;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.next_queue_check = now + SEND_QUEUE_CHECK;
        let mut queued = 0u64;
        let mut oldest = Duration::ZERO;
        let mut api = peer.rtc.direct_api();
        for slot in &peer.slots {
            let Some(info) = slot
                .ssrc
                .and_then(|ssrc| api.stream_tx(&ssrc))
                .and_then(|tx| tx.queue_info())
            else {
                continue;
            };
            if now.saturating_duration_since(info.created_at()) > SEND_QUEUE_SNAPSHOT_AGE {
                continue;
            }
            queued += info.byte_size() as u64;
            if let Some(first) = info.first_unsent() {
                oldest = oldest.max(now.saturating_duration_since(first));
            }
        }
        let rate = peer.estimate.unwrap_or(start_estimate);
        let budget = send_queue_budget(rate, queued, oldest);
        let noticeable = match (peer.reported_queue_budget, budget) {
            (Some(old), Some(new)) => new.abs_diff(old) * 100 > old * ESTIMATE_STEP_PERCENT,
            (old, new) => old != new,
        };
        if !noticeable {
            return;
        }
        debug!(peer = id.0, queued, ?oldest, rate, budget, "send queue");
        peer.reported_queue_budget = budget;
        let room = peer.room;
        self.send_home(
            now,
            room,
            ShardMessage::SendQueueBudget {
                peer: id,
                bps: budget,
            },
        );
    }

    /// Returns true when the peer's connection is over.
    fn handle_event(&mut self, now: StdInstant, id: PeerId, event: Event) -> bool {
        match event {
            Event::Connected => {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return false;
                };
                peer.connected = true;
                debug!(peer = id.0, "connected");
                let up = PeerUp {
                    peer: id,
                    room: peer.room,
                    owner: self.id,
                    layout: peer.layout,
                    mids: peer.slots.iter().map(|s| s.mid.to_string()).collect(),
                    audio_on: peer.audio_on,
                    video_on: peer.video_on,
                    silenced: peer.silenced(),
                    widths: peer
                        .slots
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| s.width.map(|w| (i, w)))
                        .collect(),
                    estimate: peer.estimate,
                };
                peer.reported_estimate = peer.estimate;
                let room = peer.room;
                self.send_home(now, room, ShardMessage::PeerUp(Box::new(up)));
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => return true,
            Event::EgressBitrateEstimate(BweKind::Twcc {
                estimate,
                can_probe,
            }) => {
                // Without probing (no TWCC feedback) the estimate goes stale: unknown. The
                // first event carries the configured start value, not a measurement.
                let first = self.peers.get(&id).is_some_and(|p| p.estimate.is_none());
                let bps = can_probe
                    .then(|| estimate.as_u64())
                    .filter(|&bps| !(first && bps == self.setup.start_estimate));
                self.report_estimate(now, id, bps);
            }
            Event::RtpPacket(packet) => self.handle_rtp(now, id, packet),
            Event::KeyframeRequest(req) => {
                if let Some(peer) = self.peers.get(&id)
                    && let Some(slot) = peer.slots.iter().position(|s| s.mid == req.mid)
                {
                    let room = peer.room;
                    let msg = ShardMessage::KeyframeRequest {
                        subscriber: id,
                        slot,
                    };
                    self.send_home(now, room, msg);
                }
            }
            _ => {}
        }
        false
    }

    fn handle_rtp(&mut self, now: StdInstant, id: PeerId, packet: RtpPacket) {
        self.metrics.pending_received += 1;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let (kind, layer) = match peer.rx.get(&ssrc) {
            Some(&known) => known,
            None => {
                let Some((mid, rid)) = peer
                    .rtc
                    .direct_api()
                    .stream_rx(&ssrc)
                    .map(|s| (s.mid(), s.rid()))
                else {
                    return;
                };
                let kind = if Some(mid) == peer.audio_mid {
                    Kind::Audio
                } else if Some(mid) == peer.video_mid {
                    Kind::Video
                } else {
                    return;
                };
                let layer = match rid.as_deref() {
                    Some("h") => 1,
                    Some("f") => 2,
                    _ => 0,
                };
                peer.rx.insert(ssrc, (kind, layer));
                if kind == Kind::Video {
                    peer.layer_ssrc[usize::from(layer)] = Some(ssrc);
                }
                (kind, layer)
            }
        };
        let room = peer.room;
        let payload = packet.payload;
        let vp8 = match kind {
            Kind::Video => Vp8Descriptor::parse(&payload).ok(),
            Kind::Audio => None,
        };
        let keyframe = vp8.is_some_and(|d| d.starts_keyframe(&payload));
        let incoming = IncomingPacket {
            source: id,
            kind,
            layer,
            ids: PacketIds {
                seq: *packet.seq_no,
                timestamp: packet.header.timestamp,
                picture_id: vp8.and_then(|d| d.picture_id()),
                tl0_pic_idx: vp8.and_then(|d| d.tl0_pic_idx()),
            },
            keyframe,
            audio_level: packet.header.ext_vals.audio_level,
            size: payload.len(),
        };
        let data = Arc::new(PacketData {
            payload,
            keyframe,
            marker: packet.header.marker,
            wallclock: packet.timestamp,
            vp8,
            audio_level: incoming.audio_level,
        });
        let home = home_of(room, self.setup.count);
        if home == self.id {
            self.route(now, &incoming, data);
        } else {
            self.to_home[home].push(Routed { incoming, data });
        }
    }

    /// Route one packet of a room this shard is home to: queue a write per receiving slot,
    /// here or at the subscriber's owner.
    fn route(&mut self, now: StdInstant, incoming: &IncomingPacket, data: Arc<PacketData>) {
        self.forwards.clear();
        self.router.handle_packet(now, incoming, &mut self.forwards);
        for forward in self.forwards.drain(..) {
            if self.relays.contains_key(&forward.subscriber) {
                if let Some(sink) = &self.setup.relay_sink {
                    let packet = RelayedPacket {
                        kind: incoming.kind,
                        ids: forward.ids,
                        keyframe: data.keyframe,
                        marker: data.marker,
                        audio_level: data.audio_level,
                        payload: &data.payload,
                    };
                    sink.packet(forward.subscriber, forward.slot, &packet);
                    self.metrics.pending_relayed += 1;
                }
                continue;
            }
            let Some(member) = self.members.get(&forward.subscriber) else {
                continue;
            };
            let out = Outgoing {
                forward,
                data: data.clone(),
            };
            if member.owner == self.id {
                self.outbox.push(out);
            } else {
                self.to_owner[member.owner].push(out);
            }
        }
    }

    fn handle_router_outputs(&mut self, now: StdInstant) {
        while let Some(out) = self.router.poll_output() {
            match out {
                RouterOutput::RequestKeyframe { source, layer } => {
                    if self.mirrors.contains_key(&source) {
                        if let Some(sink) = &self.setup.relay_sink {
                            sink.keyframe_request(source, layer);
                        }
                        continue;
                    }
                    let msg = ShardMessage::RequestKeyframe { source, layer };
                    self.send_owner(now, source, msg);
                }
                RouterOutput::SlotChanged {
                    room,
                    subscriber,
                    slot,
                    role,
                    source,
                } => {
                    let Some(mid) = self
                        .members
                        .get(&subscriber)
                        .and_then(|m| m.mids.get(slot))
                        .cloned()
                    else {
                        continue;
                    };
                    let _ = self.events.send(SfuEvent::SlotChanged {
                        room,
                        subscriber,
                        role,
                        mid,
                        source,
                    });
                }
                RouterOutput::DesiredBitrate { subscriber, bps } => {
                    let msg = ShardMessage::DesiredBitrate {
                        peer: subscriber,
                        bps,
                    };
                    self.send_owner(now, subscriber, msg);
                }
                RouterOutput::Room { room, event } => {
                    let _ = self.events.send(SfuEvent::Room { room, event });
                }
            }
        }
    }

    /// Pass a subscriber's estimate to the home when it moved noticeably: str0m reports small
    /// steps often, the router needs the trend.
    fn report_estimate(&mut self, now: StdInstant, id: PeerId, bps: Option<u64>) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.estimate = bps;
        debug!(peer = id.0, bps, "bandwidth estimate");
        let noticeable = match (peer.reported_estimate, bps) {
            (Some(old), Some(new)) => new.abs_diff(old) * 100 > old * ESTIMATE_STEP_PERCENT,
            (old, new) => old != new,
        };
        if !noticeable || !peer.connected {
            return;
        }
        peer.reported_estimate = bps;
        let room = peer.room;
        self.send_home(now, room, ShardMessage::Bandwidth { peer: id, bps });
    }

    /// Let a local subscriber's estimator probe up to what its slots would take.
    fn set_desired_bitrate(&mut self, id: PeerId, bps: u64) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !self.setup.bandwidth_estimation {
            return;
        }
        peer.rtc.bwe().set_bitrate(Bitrate::ZERO, Bitrate::bps(bps));
        peer.changed = true;
        mark_dirty(&mut self.dirty, id, peer);
    }

    /// Ask a local publisher for a keyframe (PLI) on a layer.
    fn request_keyframe(&mut self, source: PeerId, layer: u8) {
        let Some(peer) = self.peers.get_mut(&source) else {
            return;
        };
        let Some(ssrc) = peer.layer_ssrc[usize::from(layer.min(2))] else {
            return;
        };
        if let Some(stream) = peer.rtc.direct_api().stream_rx(&ssrc) {
            stream.request_keyframe(KeyframeRequestKind::Pli);
            self.metrics.keyframe_requests.increment(1);
            peer.changed = true;
            mark_dirty(&mut self.dirty, source, peer);
        }
    }

    /// Write queued packets to their subscribers, then one timeout (or, for a connection
    /// only written to, `Rtc::handle_written`) + drain per written connection. Draining can
    /// produce more packets (RTP read during the drain), so repeat.
    fn flush(&mut self, now: StdInstant) {
        loop {
            let outbox = std::mem::take(&mut self.outbox);
            for out in &outbox {
                self.write(out);
            }
            self.outbox = outbox;
            self.outbox.clear();
            self.handle_router_outputs(now);
            if self.dirty.is_empty() {
                break;
            }
            let dirty = std::mem::take(&mut self.dirty);
            for id in &dirty {
                let Some(peer) = self.peers.get_mut(id) else {
                    continue;
                };
                peer.dirty = false;
                // Only written to since it drained: the pacer looks at the new packets
                // without a whole timeout (str0m patch 8), unless one is due anyway.
                let res = if std::mem::take(&mut peer.changed) {
                    peer.rtc.handle_input(Input::Timeout(now))
                } else {
                    peer.rtc.handle_written(now)
                };
                if let Err(e) = res {
                    debug!(peer = id.0, "timeout rejected: {e}");
                }
                self.drain(now, *id);
            }
            self.dirty = dirty;
            self.dirty.clear();
            if self.outbox.is_empty() {
                break;
            }
        }
        self.pending_since = None;
    }

    fn write(&mut self, out: &Outgoing) {
        let id = out.forward.subscriber;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.connected {
            return;
        }
        let Some(slot) = peer.slots.get_mut(out.forward.slot) else {
            return;
        };
        let (pt, kind) = (slot.pt, slot.kind);
        let ids = out.forward.ids;
        let data = &out.data;
        let mut write = RtpWrite::new(
            pt,
            ids.seq.into(),
            ids.timestamp,
            data.wallclock,
            data.payload.clone(),
        )
        .marker(data.marker)
        .nackable(kind == Kind::Video);
        if let Some(desc) = data.vp8 {
            let mut patch = desc.patch();
            if let Some(pid) = ids.picture_id {
                patch = patch.picture_id(pid);
            }
            if let Some(tl0) = ids.tl0_pic_idx {
                patch = patch.tl0_pic_idx(tl0);
            }
            match patch.build() {
                Ok(p) => write = write.vp8_patch(p),
                Err(_) => return, // the descriptor cannot carry the rewritten id: drop
            }
        }
        if data.audio_level.is_some() {
            let ext = ExtensionValues {
                audio_level: data.audio_level,
                ..Default::default()
            };
            write = write.ext_vals(ext);
        }
        let mut api = peer.rtc.direct_api();
        let ssrc = match slot.ssrc {
            Some(ssrc) => ssrc,
            None => {
                let Some(tx) = api.stream_tx_by_mid(slot.mid, None) else {
                    return;
                };
                *slot.ssrc.insert(tx.ssrc())
            }
        };
        let Some(tx) = api.stream_tx(&ssrc) else {
            return;
        };
        tx.write_rtp(write);
        self.metrics.pending_forwarded += 1;
        self.metrics.pending_forwarded_bytes += data.payload.len() as u64;
        mark_dirty(&mut self.dirty, id, peer);
    }
}

/// What a send queue of `queued` bytes whose oldest packet has waited `oldest` leaves for
/// new media on a connection estimated at `rate` bits per second: nothing to say (`None`)
/// unless the queue stands ([`SEND_QUEUE_STANDING`]); then the rate less the share it needs
/// to drain the queue within [`SEND_QUEUE_HORIZON`] (as libwebrtc's pacer pushback scales
/// the encoder's target by the pacer's queue time), down to 0.
fn send_queue_budget(rate: u64, queued: u64, oldest: Duration) -> Option<u64> {
    if oldest < SEND_QUEUE_STANDING || rate == 0 {
        return None;
    }
    let horizon_ms = SEND_QUEUE_HORIZON.as_millis();
    let drain_ms = u128::from(queued) * 8_000 / u128::from(rate);
    let left = u128::from(rate) * horizon_ms.saturating_sub(drain_ms) / horizon_ms;
    // At most `rate`, so it fits.
    Some(u64::try_from(left).unwrap_or(rate))
}

fn mark_dirty(dirty: &mut Vec<PeerId>, id: PeerId, peer: &mut Peer) {
    if !peer.dirty {
        peer.dirty = true;
        dirty.push(id);
    }
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// What a client hears of str0m's refusal of an offer: its text when it is a plain sentence,
/// else a generic one (never debug output or memory positions). The full text is logged at
/// debug level.
fn client_message(detail: &str) -> String {
    debug!("refused SDP offer: {detail}");
    let plain = detail.len() <= 160
        && !detail.contains("0x")
        && !detail.contains("Pointer")
        && !detail.contains(['{', '}', '(', ')', '[', ']']);
    if plain {
        format!("the offer cannot be accepted: {detail}")
    } else {
        "the offer cannot be accepted".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standing_send_queue_leaves_the_rate_less_what_draining_it_takes() {
        let ms = Duration::from_millis;
        // A burst that leaves quickly says nothing, however large.
        assert_eq!(send_queue_budget(900_000, 200_000, ms(199)), None);
        // 900 kbit/s, 22.5 kB queued for 200 ms: 200 ms to drain, a fifth of the horizon.
        assert_eq!(send_queue_budget(900_000, 22_500, ms(200)), Some(720_000));
        // An empty queue whose snapshot still shows an old first packet: the whole rate.
        assert_eq!(send_queue_budget(900_000, 0, ms(500)), Some(900_000));
        // A second or more to drain: nothing for new media.
        assert_eq!(send_queue_budget(900_000, 112_500, ms(300)), Some(0));
        assert_eq!(send_queue_budget(900_000, 10_000_000, ms(300)), Some(0));
        // No rate (never an estimate of 0 from str0m, but no division by it either).
        assert_eq!(send_queue_budget(0, 1_000, ms(300)), None);
        assert_eq!(send_queue_budget(u64::MAX, u64::MAX, ms(300)), Some(0));
    }

    #[test]
    fn a_start_estimate_outside_its_range_is_refused_and_changes_nothing() {
        let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut setup = ShardSetup::new(
            1,
            addr,
            vec![addr],
            Vec::new(),
            SlotLayout {
                stage: 1,
                tiles: 2,
                audio: 1,
            },
            RouterConfig::default(),
        )
        .unwrap();
        assert_eq!(setup.start_estimate, DEFAULT_START_ESTIMATE);
        for bps in [0, 99_999, 100_000_001, u64::MAX] {
            assert!(matches!(
                setup.set_start_estimate(bps),
                Err(SfuError::InvalidStartEstimate(b)) if b == bps
            ));
            assert_eq!(setup.start_estimate, DEFAULT_START_ESTIMATE);
        }
        for bps in [100_000, 1_000_000, 100_000_000] {
            setup.set_start_estimate(bps).unwrap();
            assert_eq!(setup.start_estimate, bps);
        }
    }

    #[test]
    fn ufrags_name_their_owner() {
        assert_eq!(owner_of_ufrag("07abcdef"), Some(7));
        assert_eq!(owner_of_ufrag("00x"), Some(0));
        assert_eq!(owner_of_ufrag("ab123456"), None);
        assert_eq!(owner_of_ufrag("1"), None);
        assert_eq!(owner_of_ufrag("é1"), None);
    }

    #[test]
    fn rooms_spread_over_shards() {
        assert_eq!(home_of(RoomId(5), 1), 0);
        assert_eq!(home_of(RoomId(5), 2), 1);
        assert_eq!(home_of(RoomId(6), 2), 0);
        assert_eq!(home_of(RoomId(6), 0), 0);
    }
}

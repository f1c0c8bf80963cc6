//! The sans-IO media core: str0m peers, the datagram demux and the router, without sockets
//! or clocks. The driver (or a bench) feeds it datagrams, commands and time, and sends the
//! [`Transmit`]s it collects.
//!
//! Datagrams are routed to peers by map — remote address once known, STUN username (our
//! local ufrag) before — never by asking every `Rtc`. Incoming RTP goes through the router;
//! the resulting writes are batched per subscriber connection and sent with one
//! `Input::Timeout(now)` + drain per connection in [`Shard::flush`].
//!
//! Call order: any number of [`Shard::handle_datagram`] / commands, then [`Shard::flush`];
//! [`Shard::handle_timeout`] when [`Shard::poll_timeout`] is due; after each step, send what
//! [`Shard::take_transmits`] returns.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant as StdInstant;

use metrics::{Counter, Gauge};
use rand::Rng;
use rand::distr::Alphanumeric;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::config::DtlsCert;
use str0m::crypto;
use str0m::format::Codec;
use str0m::ice::{IceCreds, StunMessage};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc, Vp8Descriptor};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::rewrite::PacketIds;
use crate::router::{
    Forward, IncomingPacket, Kind, PeerId, RoomId, Router, RouterConfig, RouterOutput,
};
use crate::{Connected, SfuError, SfuEvent, SlotInfo, SlotLayout, payload_type};

/// Counters are summed locally per packet and published once per flush: the shared
/// atomic increments showed up in profiles at per-packet rates.
struct Metrics {
    pending_received: u64,
    pending_forwarded: u64,
    pending_forwarded_bytes: u64,
    pending_timeouts: u64,
    received: Counter,
    timeouts: Counter,
    forwarded: Counter,
    forwarded_bytes: Counter,
    keyframe_requests: Counter,
    peers: Gauge,
}

impl Metrics {
    fn new() -> Self {
        Self {
            pending_received: 0,
            pending_forwarded: 0,
            pending_forwarded_bytes: 0,
            pending_timeouts: 0,
            timeouts: metrics::counter!("plenum_media_peer_timeouts_total"),
            received: metrics::counter!("plenum_media_rtp_received_total"),
            forwarded: metrics::counter!("plenum_media_rtp_forwarded_total"),
            forwarded_bytes: metrics::counter!("plenum_media_rtp_forwarded_bytes_total"),
            keyframe_requests: metrics::counter!("plenum_media_keyframe_requests_total"),
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
    }
}

/// A receive slot of a subscriber, as the driver writes to it.
struct TxSlot {
    mid: Mid,
    pt: Pt,
    kind: Kind,
    /// The send stream's SSRC once looked up: str0m finds streams by SSRC in a map, by
    /// mid with a linear search.
    ssrc: Option<Ssrc>,
}

struct Peer {
    rtc: Rtc,
    room: RoomId,
    ufrag: String,
    addrs: Vec<SocketAddr>,
    connected: bool,
    dirty: bool,
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
    /// Publishing and mute state, kept here until the router knows the peer.
    audio_on: bool,
    video_on: bool,
    muted: bool,
    /// Floor control (control plane): false until allowed, so nothing leaks before it.
    audio_allowed: bool,
}

impl Peer {
    /// What the router treats as muted: the own mute or no permission to be heard.
    fn silenced(&self) -> bool {
        self.muted || !self.audio_allowed
    }
}

/// A packet waiting to be written to a subscriber.
struct Outgoing {
    forward: Forward,
    payload: Arc<[u8]>,
    marker: bool,
    wallclock: StdInstant,
    vp8: Option<Vp8Descriptor>,
    audio_level: Option<i8>,
}

/// See the module docs.
pub struct Shard {
    local_addr: SocketAddr,
    candidates: Vec<SocketAddr>,
    slots: SlotLayout,
    dtls_cert: DtlsCert,
    peers: HashMap<PeerId, Peer>,
    by_addr: HashMap<SocketAddr, PeerId>,
    by_ufrag: HashMap<String, PeerId>,
    router: Router,
    /// Lazy min-heap of peer timeouts; entries that no longer match a peer's
    /// `next_timeout` are skipped.
    timers: BinaryHeap<Reverse<(StdInstant, PeerId)>>,
    dirty: Vec<PeerId>,
    outbox: Vec<Outgoing>,
    forwards: Vec<Forward>,
    events: mpsc::UnboundedSender<SfuEvent>,
    metrics: Metrics,
    transmits: Vec<Transmit>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("local_addr", &self.local_addr)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Shard {
    /// A shard answering on `local_addr`, announcing `candidates`, offering `slots`.
    pub fn new(
        local_addr: SocketAddr,
        candidates: Vec<SocketAddr>,
        slots: SlotLayout,
        router: RouterConfig,
        events: mpsc::UnboundedSender<SfuEvent>,
    ) -> Result<Self, SfuError> {
        // One DTLS certificate for all peers: generating one per connection costs ~1-2 ms.
        let dtls_cert: DtlsCert = crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
            .ok_or(SfuError::Crypto)?;
        Ok(Self {
            local_addr,
            candidates,
            slots,
            dtls_cert,
            peers: HashMap::new(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            router: Router::new(router),
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            outbox: Vec::new(),
            forwards: Vec::new(),
            events,
            metrics: Metrics::new(),
            transmits: Vec::new(),
        })
    }

    /// The datagrams to send, in order (the vector is left empty).
    pub fn take_transmits(&mut self, into: &mut Vec<Transmit>) {
        into.append(&mut self.transmits);
    }

    /// When [`Shard::handle_timeout`] is due (at the latest one second from `now`).
    pub fn poll_timeout(&self, now: StdInstant) -> StdInstant {
        let far = now + std::time::Duration::from_secs(1);
        let timer = self.timers.peek().map(|Reverse((t, _))| *t).unwrap_or(far);
        let router = self.router.poll_timeout().unwrap_or(far);
        timer.min(router)
    }

    /// Run what is due at `now`: peer timeouts, the router's evaluation; then flush.
    pub fn handle_timeout(&mut self, now: StdInstant) {
        self.handle_due_timers(now);
        if self.router.poll_timeout().is_some_and(|t| t <= now) {
            self.router.handle_timeout(now);
        }
        self.handle_router_outputs();
        self.flush(now);
    }

    /// Start or stop forwarding a peer's microphone or camera.
    pub fn set_publishing(&mut self, now: StdInstant, peer: PeerId, kind: Kind, on: bool) {
        if let Some(p) = self.peers.get_mut(&peer) {
            match kind {
                Kind::Audio => p.audio_on = on,
                Kind::Video => p.video_on = on,
            }
        }
        self.router.set_publishing(now, peer, kind, on)
    }

    /// The participant's own mute.
    pub fn set_muted(&mut self, now: StdInstant, peer: PeerId, muted: bool) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.muted = muted;
            self.router.set_muted(now, peer, p.silenced());
        }
    }

    /// Floor control: may this peer's audio be forwarded at all? Takes effect with the next
    /// packet.
    pub fn set_audio_allowed(&mut self, now: StdInstant, peer: PeerId, allowed: bool) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.audio_allowed = allowed;
            self.router.set_muted(now, peer, p.silenced());
        }
    }

    /// The subscriber renders its receive slot `mid` `width` pixels wide.
    pub fn set_slot_width(&mut self, now: StdInstant, peer: PeerId, mid: &str, width: u32) {
        let Some(slot) = self
            .peers
            .get(&peer)
            .and_then(|p| p.slots.iter().position(|s| s.mid.to_string() == mid))
        else {
            return;
        };
        self.router.set_slot_width(now, peer, slot, width);
    }

    /// Pin a peer to the room's stage, or follow the speaker.
    pub fn set_stage_pin(&mut self, now: StdInstant, room: RoomId, peer: Option<PeerId>) {
        self.router.set_stage_pin(now, room, peer)
    }

    /// A peer left.
    pub fn disconnect(&mut self, now: StdInstant, peer: PeerId) {
        self.remove_peer(now, peer, false)
    }

    /// Negotiate a peer's connection from its SDP offer; it joins `room`.
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
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| SfuError::InvalidSdp(e.to_string()))?;
        let ufrag = self.unique_ufrag();
        let creds = IceCreds {
            ufrag: ufrag.clone(),
            pass: random_string(24),
        };
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .set_dtls_cert(self.dtls_cert.clone())
            .set_local_ice_credentials(creds)
            .build(now);
        for addr in &self.candidates {
            let candidate =
                Candidate::host(*addr, "udp").map_err(|_| SfuError::InvalidPublicAddress(*addr))?;
            rtc.add_local_candidate(candidate);
        }
        let answer: SdpAnswer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::InvalidSdp(e.to_string()))?;

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
        let stage = usize::from(self.slots.stage.min(1)).min(video_slots.len());
        let tiles = usize::from(self.slots.tiles).min(video_slots.len() - stage);
        let audio = usize::from(self.slots.audio).min(audio_slots.len());
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
            let pt = payload_type(&rtc, *mid, codec)
                .ok_or_else(|| SfuError::InvalidSdp(format!("m-line {mid} offers no {codec:?}")))?;
            slots.push(TxSlot {
                mid: *mid,
                pt,
                kind: role.kind(),
                ssrc: None,
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
            },
        );
        self.timers.push(Reverse((next_timeout, peer_id)));
        // The router learns of the peer when its connection is up (Event::Connected):
        // forwarding to a peer that cannot receive yet would start its slots mid-frame.
        self.metrics.peers.set(self.peers.len() as f64);
        debug!(peer = peer_id.0, room = room.0, ?layout, "peer negotiated");
        Ok(Connected {
            answer: answer_sdp,
            slots: infos,
        })
    }

    fn unique_ufrag(&self) -> String {
        loop {
            let ufrag = random_string(8);
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
        for addr in &peer.addrs {
            if self.by_addr.get(addr) == Some(&peer_id) {
                self.by_addr.remove(addr);
            }
        }
        self.router.remove_peer(now, peer_id);
        self.metrics.peers.set(self.peers.len() as f64);
        if report {
            let _ = self.events.send(SfuEvent::PeerDisconnected {
                room: peer.room,
                peer: peer_id,
            });
        }
        debug!(peer = peer_id.0, "peer removed");
    }

    /// Find the peer a datagram belongs to: by remote address, else by the STUN username.
    fn demux(&mut self, source: SocketAddr, data: &[u8]) -> Option<PeerId> {
        if let Some(&id) = self.by_addr.get(&source) {
            return Some(id);
        }
        let msg = StunMessage::parse(data).ok()?;
        let (local_ufrag, _) = msg.split_username()?;
        let id = *self.by_ufrag.get(local_ufrag)?;
        // Remember the address: later DTLS/SRTP from it carries no username. str0m checks
        // the STUN message's integrity itself; a forged one does not authenticate.
        self.by_addr.insert(source, id);
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.addrs.push(source);
        }
        Some(id)
    }

    /// One received datagram (does not flush).
    pub fn handle_datagram(&mut self, now: StdInstant, source: SocketAddr, data: &[u8]) {
        let Some(id) = self.demux(source, data) else {
            return;
        };
        // The remote sent to one of our announced candidates (behind NAT or a relay that is
        // not the bound address): str0m matches the destination against its local candidates.
        let destination = self
            .candidates
            .iter()
            .find(|c| c.is_ipv4() == source.is_ipv4())
            .copied()
            .unwrap_or(self.local_addr);
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, data) else {
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
        }
    }

    /// Returns true when the peer's connection is over.
    fn handle_event(&mut self, now: StdInstant, id: PeerId, event: Event) -> bool {
        match event {
            Event::Connected => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.connected = true;
                    debug!(peer = id.0, "connected");
                    self.router.add_peer(now, id, peer.room, peer.layout);
                    self.router.set_muted(now, id, peer.silenced());
                    self.router
                        .set_publishing(now, id, Kind::Audio, peer.audio_on);
                    self.router
                        .set_publishing(now, id, Kind::Video, peer.video_on);
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => return true,
            Event::RtpPacket(packet) => self.handle_rtp(now, id, packet),
            Event::KeyframeRequest(req) => {
                if let Some(peer) = self.peers.get(&id)
                    && let Some(slot) = peer.slots.iter().position(|s| s.mid == req.mid)
                {
                    self.router.handle_keyframe_request(now, id, slot);
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
        self.forwards.clear();
        self.router
            .handle_packet(now, &incoming, &mut self.forwards);
        for forward in self.forwards.drain(..) {
            self.outbox.push(Outgoing {
                forward,
                payload: payload.clone(),
                marker: packet.header.marker,
                wallclock: packet.timestamp,
                vp8,
                audio_level: incoming.audio_level,
            });
        }
    }

    fn handle_router_outputs(&mut self) {
        while let Some(out) = self.router.poll_output() {
            match out {
                RouterOutput::RequestKeyframe { source, layer } => {
                    let Some(peer) = self.peers.get_mut(&source) else {
                        continue;
                    };
                    let Some(ssrc) = peer.layer_ssrc[usize::from(layer.min(2))] else {
                        continue;
                    };
                    if let Some(stream) = peer.rtc.direct_api().stream_rx(&ssrc) {
                        stream.request_keyframe(KeyframeRequestKind::Pli);
                        self.metrics.keyframe_requests.increment(1);
                        mark_dirty(&mut self.dirty, source, peer);
                    }
                }
                RouterOutput::SlotChanged {
                    room,
                    subscriber,
                    slot,
                    role,
                    source,
                } => {
                    let Some(mid) = self
                        .peers
                        .get(&subscriber)
                        .and_then(|p| p.slots.get(slot))
                        .map(|s| s.mid.to_string())
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
                RouterOutput::DesiredBitrate { .. } => {} // Wired to str0m's BWE by the shard rewrite.
                RouterOutput::Room { room, event } => {
                    let _ = self.events.send(SfuEvent::Room { room, event });
                }
            }
        }
    }

    /// Write queued packets to their subscribers, then one timeout + drain per written
    /// connection. Draining can produce more packets (RTP read during the drain), so repeat.
    pub fn flush(&mut self, now: StdInstant) {
        loop {
            let outbox = std::mem::take(&mut self.outbox);
            for out in &outbox {
                self.write(out);
            }
            self.outbox = outbox;
            self.outbox.clear();
            self.handle_router_outputs();
            if self.dirty.is_empty() {
                break;
            }
            let dirty = std::mem::take(&mut self.dirty);
            for id in &dirty {
                let Some(peer) = self.peers.get_mut(id) else {
                    continue;
                };
                peer.dirty = false;
                if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
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
        self.metrics.publish();
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
        let mut write = RtpWrite::new(
            pt,
            ids.seq.into(),
            ids.timestamp,
            out.wallclock,
            out.payload.clone(),
        )
        .marker(out.marker)
        .nackable(kind == Kind::Video);
        if let Some(desc) = out.vp8 {
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
        if out.audio_level.is_some() {
            let ext = ExtensionValues {
                audio_level: out.audio_level,
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
        self.metrics.pending_forwarded_bytes += out.payload.len() as u64;
        mark_dirty(&mut self.dirty, id, peer);
    }
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

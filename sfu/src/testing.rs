//! An in-memory media plane for tests and benches: `count` [`Shard`]s and real str0m clients
//! exchanging datagrams in memory in virtual time, with the shards' messages delivered between
//! them as the workers would. The kernel's `SO_REUSEPORT` spreading is modelled by
//! [`Network::socket_of`]: a client's datagrams land on the shard its address hashes to, which
//! need not be the shard that owns its connection — as on a real multi-core server.
//!
//! Call order: [`Network::join`] clients (each owned by a chosen shard), [`Network::connect_all`],
//! then send media ([`Network::send_frame`]) and [`Network::pump`] to move everything along.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{RtpWrite, Vp8Descriptor};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;

use crate::router::{Kind, PeerId, RoomId, RouterConfig};
use crate::shard::{Shard, ShardMessage, ShardSetup};
use crate::{SfuEvent, SlotLayout, payload_type};

/// What a client received on one of its receive m-lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// RTP packets.
    pub packets: u64,
    /// Whether the first packet started a VP8 keyframe.
    pub first_was_keyframe: Option<bool>,
}

/// A str0m client of the in-memory network.
pub struct Client {
    /// Its connection.
    pub rtc: Rtc,
    /// Its address.
    pub addr: SocketAddr,
    /// Its peer id at the server.
    pub peer: PeerId,
    /// The shard that owns its connection.
    pub owner: usize,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// The video m-line it publishes on, if any.
    pub video_mid: Option<Mid>,
    /// Media received, per receive m-line.
    pub received: HashMap<Mid, Received>,
    /// Keyframe requests (PLI/FIR) the server sent it.
    pub keyframe_requests: u64,
    seq: u64,
    picture_id: u16,
    rtp_time: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.peer)
            .field("owner", &self.owner)
            .field("connected", &self.connected)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Packets received on all receive m-lines.
    pub fn packets_received(&self) -> u64 {
        self.received.values().map(|r| r.packets).sum()
    }

    /// Handle everything the connection wants to do now; its datagrams go to `out`.
    fn drain(&mut self, out: &mut Vec<Transmit>) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(_)) | Err(_) => break,
                Ok(Output::Transmit(t)) => out.push(t),
                Ok(Output::Event(Event::Connected)) => self.connected = true,
                Ok(Output::Event(Event::KeyframeRequest(_))) => self.keyframe_requests += 1,
                Ok(Output::Event(Event::RtpPacket(p))) => {
                    let Some(mid) = self
                        .rtc
                        .direct_api()
                        .stream_rx(&p.header.ssrc)
                        .map(|s| s.mid())
                    else {
                        continue;
                    };
                    let r = self.received.entry(mid).or_default();
                    r.packets += 1;
                    r.first_was_keyframe.get_or_insert_with(|| {
                        Vp8Descriptor::parse(&p.payload)
                            .is_ok_and(|d| d.starts_keyframe(&p.payload))
                    });
                }
                Ok(Output::Event(_)) => {}
            }
        }
    }
}

/// See the module docs.
pub struct Network {
    /// The shards, by index.
    pub shards: Vec<Shard>,
    /// The clients, in join order.
    pub clients: Vec<Client>,
    /// Virtual time.
    pub now: Instant,
    /// What the shards report to signalling.
    pub events: mpsc::UnboundedReceiver<SfuEvent>,
    /// Messages delivered between shards so far.
    pub messages_delivered: u64,
    layout: SlotLayout,
    /// Client datagrams not yet handed to a shard.
    in_flight: Vec<Transmit>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("shards", &self.shards)
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

/// The server's address in the in-memory network.
pub const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    40_000,
);

impl Network {
    /// `count` shards offering `layout` with `router` policy.
    ///
    /// # Panics
    /// When no DTLS certificate can be generated (a broken crypto provider).
    pub fn new(count: usize, layout: SlotLayout, router: RouterConfig) -> Self {
        Self::with_setup(Self::setup(count, layout, router))
    }

    /// The setup [`Network::new`] uses, to adjust before [`Network::with_setup`].
    ///
    /// # Panics
    /// When no DTLS certificate can be generated (a broken crypto provider).
    pub fn setup(count: usize, layout: SlotLayout, router: RouterConfig) -> ShardSetup {
        ShardSetup::new(count, SERVER, vec![SERVER], Vec::new(), layout, router)
            .expect("the crypto provider generates a certificate")
    }

    /// A network of shards with this setup (its candidates should be [`SERVER`]).
    pub fn with_setup(setup: ShardSetup) -> Self {
        let layout = setup.slots;
        let (tx, events) = mpsc::unbounded_channel();
        let shards = (0..setup.count)
            .map(|i| Shard::new(i, setup.clone(), tx.clone()))
            .collect();
        Self {
            shards,
            clients: Vec::new(),
            now: Instant::now(),
            events,
            messages_delivered: 0,
            layout,
            in_flight: Vec::new(),
        }
    }

    /// The shard whose socket receives datagrams from `addr` (a stand-in for the kernel's
    /// reuseport hash: stable per address, unrelated to the owner).
    pub fn socket_of(&self, addr: SocketAddr) -> usize {
        usize::from(addr.port()) / 3 % self.shards.len()
    }

    /// A client for `peer` in `room`, owned by shard `owner`, that publishes a camera
    /// (`publish`) or receives the full slot layout. Returns its index.
    ///
    /// # Panics
    /// When the shard refuses the offer (a bug in the test or the shard).
    pub fn join(&mut self, peer: u64, room: RoomId, owner: usize, publish: bool) -> usize {
        let index = self.clients.len();
        let addr = SocketAddr::from(([127, 0, 0, 1], 50_000 + index as u16));
        let mut rtc = RtcConfig::new()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("a valid address"));
        let mut api = rtc.sdp_api();
        let video_mid =
            publish.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
        if !publish {
            for _ in 0..(self.layout.stage + self.layout.tiles) {
                api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
            }
            for _ in 0..self.layout.audio {
                api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            }
        }
        let (offer, pending) = api.apply().expect("an offer with media");
        let connected = self.shards[owner]
            .connect(self.now, PeerId(peer), room, &offer.to_sdp_string())
            .expect("the shard accepts the offer");
        let answer = SdpAnswer::from_sdp_string(&connected.answer).expect("a valid answer");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("the answer fits the offer");
        self.clients.push(Client {
            rtc,
            addr,
            peer: PeerId(peer),
            owner,
            connected: false,
            video_mid,
            received: HashMap::new(),
            keyframe_requests: 0,
            seq: 1000,
            picture_id: 0,
            rtp_time: 0,
        });
        if publish {
            self.shards[owner].set_publishing(self.now, PeerId(peer), Kind::Video, true);
        }
        index
    }

    /// Pump in 2 ms steps until every client is connected (at most `max_steps`).
    pub fn connect_all(&mut self, max_steps: usize) -> bool {
        for _ in 0..max_steps {
            self.pump();
            if self.clients.iter().all(|c| c.connected) {
                return true;
            }
            self.now += Duration::from_millis(2);
        }
        false
    }

    /// Advance virtual time by `d` in 10 ms steps, pumping at each.
    pub fn advance(&mut self, d: Duration) {
        let steps = (d.as_millis() / 10).max(1);
        for _ in 0..steps {
            self.now += Duration::from_millis(10);
            self.pump();
        }
    }

    /// One round: the clients' timers, their datagrams into the shards' sockets, the shards'
    /// timeouts and flushes, their messages to each other and their datagrams to the clients,
    /// until nothing moves.
    pub fn pump(&mut self) {
        let now = self.now;
        let mut out = self.poll_clients();
        let mut messages: Vec<(usize, ShardMessage)> = Vec::new();
        let mut transmits: Vec<Transmit> = Vec::new();
        for _ in 0..100 {
            for t in out.drain(..) {
                let socket = self.socket_of(t.source);
                self.shards[socket].handle_datagram(now, Protocol::Udp, t.source, &t.contents);
            }
            for s in &mut self.shards {
                s.handle_timeout(now);
                s.take_transmits(&mut transmits);
                s.take_messages(&mut messages);
            }
            for t in transmits.drain(..) {
                self.deliver(&t, &mut out);
            }
            if messages.is_empty() && out.is_empty() {
                break;
            }
            for (to, msg) in messages.drain(..) {
                self.messages_delivered += 1;
                self.shards[to].handle_message(now, msg);
            }
        }
    }

    /// Run the clients' timers at [`Network::now`] and take every client datagram in flight,
    /// without involving the shards: for a caller that hands them to the shards itself (a
    /// bench timing only the shards' work).
    pub fn poll_clients(&mut self) -> Vec<Transmit> {
        let mut out = std::mem::take(&mut self.in_flight);
        for c in &mut self.clients {
            let _ = c.rtc.handle_input(Input::Timeout(self.now));
            c.drain(&mut out);
        }
        out
    }

    /// Hand server datagrams to their clients; the clients' answers stay in flight until the
    /// next [`Network::pump`] (or [`Network::poll_clients`]).
    pub fn deliver_all(&mut self, transmits: &mut Vec<Transmit>) {
        let mut out = std::mem::take(&mut self.in_flight);
        for t in transmits.drain(..) {
            self.deliver(&t, &mut out);
        }
        self.in_flight = out;
    }

    /// Hand a server datagram to its client; the client's answers go to `out`.
    fn deliver(&mut self, t: &Transmit, out: &mut Vec<Transmit>) {
        let Some(c) = self.clients.iter_mut().find(|c| c.addr == t.destination) else {
            return;
        };
        let Ok(r) = Receive::new(Protocol::Udp, t.source, t.destination, &t.contents) else {
            return;
        };
        let _ = c.rtc.handle_input(Input::Receive(self.now, r));
        c.drain(out);
    }

    /// The publisher `client` sends one VP8 frame of `packets` packets (its datagrams stay in
    /// flight until the next [`Network::pump`]).
    ///
    /// # Panics
    /// When the client publishes no video.
    pub fn send_frame(&mut self, client: usize, keyframe: bool, packets: usize) {
        let now = self.now;
        let c = &mut self.clients[client];
        let mid = c.video_mid.expect("the client publishes video");
        let pt = payload_type(&c.rtc, mid, Codec::Vp8).expect("VP8 was negotiated");
        c.picture_id = (c.picture_id + 1) & 0x7fff;
        c.rtp_time = c.rtp_time.wrapping_add(3000);
        let mut api = c.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        for i in 0..packets {
            let payload = vp8_payload(c.picture_id, i == 0, keyframe, 1000);
            tx.write_rtp(
                RtpWrite::new(
                    pt,
                    c.seq.into(),
                    c.rtp_time,
                    now,
                    Arc::<[u8]>::from(payload),
                )
                .marker(i + 1 == packets)
                .nackable(true),
            );
            c.seq += 1;
        }
        let _ = c.rtc.handle_input(Input::Timeout(now));
        c.drain(&mut self.in_flight);
    }
}

/// A VP8 RTP payload: descriptor with a 15-bit picture id, then `len` bytes of frame data;
/// the first packet of a keyframe carries a keyframe header (P bit clear).
pub fn vp8_payload(picture_id: u16, first: bool, keyframe: bool, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(len + 4);
    p.push(0x80 | if first { 0x10 } else { 0 });
    p.push(0x80);
    p.push(0x80 | (picture_id >> 8) as u8);
    p.push(picture_id as u8);
    let header = if first && keyframe { 0x10 } else { 0x11 };
    p.push(header);
    p.resize(len + 4, 0x5a);
    p
}

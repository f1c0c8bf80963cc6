//! Cascading rooms to edge nodes over QUIC (docs/cluster.md): the server's side of
//! `plenum-cluster`'s links.
//!
//! - **Origin** ([`Origin`]): accepts edges (mutual TLS, `plenum-cluster`); for each room an
//!   edge subscribes to, it adds relays to the room's media router — one per video layer the
//!   edge's viewers need (a stage slot capped at that layer) and one with the audio slots —
//!   and sends what they carry to the edge as datagrams ([`OriginSink`], called on the room's
//!   home shard). It answers placement (`GET /api/cluster/placement/{room}`): the least loaded
//!   edge from the edges' load reports.
//! - **Edge** ([`Edge`]): keeps one link to the origin (reconnecting by itself); serves WHEP
//!   viewers (`POST /whep/{room}` with a token the origin issued: the edge has the origin's
//!   token key); subscribes to a room with its first viewer; injects what arrives as the
//!   room's mirror publishers (one video mirror, layer = stream; one per audio slot) into its
//!   own media plane, which chooses layers per viewer; passes keyframe requests and the
//!   layers its viewers need up to the origin.
//!
//! Floor control, mutes and the stage choice happen on the origin before anything is relayed:
//! an edge forwards only what the origin's router let through.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use plenum_cluster::StreamInfo;
use plenum_cluster::{Control, EdgeConnected, EdgeEvent, EdgeNode, Link, RelayKind, RelayPacket};
use plenum_sfu::relay::{InjectedPacket, RelaySink, RelayedPacket};
use plenum_sfu::rewrite::PacketIds;
use plenum_sfu::{Kind, PeerId, RoomEvent, RoomId, SfuEvent, SfuHandle, SlotLayout};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::room::Rooms;

/// Stream ids of a relayed room: video layers 0..=2, then the audio slots.
const AUDIO_BASE: u16 = 3;
/// Audio slots relayed per room (the floor and the active speakers).
pub const AUDIO_SLOTS: u8 = 3;
/// How often each edge's link statistics are looked at.
const LINK_CHECK: Duration = Duration::from_secs(1);
/// A link whose cap went down stays there at least this long, and goes up one layer only
/// after it has been calm this long.
const CAP_DOWN_HOLD: Duration = Duration::from_secs(2);
const CAP_UP_CALM: Duration = Duration::from_secs(10);

/// The layers to relay when the edge needs `wanted` and its link carries up to `cap`.
fn capped(wanted: [bool; 3], cap: u8) -> [bool; 3] {
    let mut layers = [false; 3];
    for (layer, &w) in wanted.iter().enumerate() {
        if w {
            layers[layer.min(usize::from(cap))] = true;
        }
    }
    layers
}

/// Whether a second of a link's statistics shows congestion: more than 5 % of the datagrams
/// offered dropped at the origin (the send buffer full), or more than 5 % of QUIC's packets
/// lost — with enough traffic to tell.
fn congested(prev: &plenum_cluster::LinkStats, now: &plenum_cluster::LinkStats) -> bool {
    let d = |a: u64, b: u64| a.saturating_sub(b);
    let sent = d(now.datagrams_sent, prev.datagrams_sent);
    let dropped = d(now.datagrams_dropped, prev.datagrams_dropped);
    let packets = d(now.sent_packets, prev.sent_packets);
    let lost = d(now.lost_packets, prev.lost_packets);
    let offered = sent + dropped;
    (offered >= 50 && dropped * 20 > offered) || (packets >= 50 && lost * 20 > packets)
}

/// The next top layer of a link: one down on congestion (not within [`CAP_DOWN_HOLD`] of the
/// last change), one up after [`CAP_UP_CALM`] without congestion.
fn next_cap(cap: u8, congested: bool, since_change: Duration, calm_for: Duration) -> u8 {
    if congested && cap > 0 && since_change >= CAP_DOWN_HOLD {
        cap - 1
    } else if !congested && cap < 2 && calm_for >= CAP_UP_CALM && since_change >= CAP_UP_CALM {
        cap + 1
    } else {
        cap
    }
}

/// An edge whose last load report (one a second) is older than this gets no viewers.
const REPORT_STALE: Duration = Duration::from_millis(2500);
/// Slot widths that cap a relay's stage slot at one layer (router: up to 400 px the quarter
/// layer, up to 800 the half, above the full one).
const LAYER_WIDTHS: [u32; 3] = [320, 640, 1920];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The streams every relayed room announces.
fn streams() -> Vec<StreamInfo> {
    let video = (0..3u8).map(|layer| StreamInfo {
        stream: u16::from(layer),
        kind: RelayKind::Video,
        layer,
        audio_index: 0,
    });
    let audio = (0..AUDIO_SLOTS).map(|i| StreamInfo {
        stream: AUDIO_BASE + u16::from(i),
        kind: RelayKind::Audio,
        layer: 0,
        audio_index: i,
    });
    video.chain(audio).collect()
}

// ---------------------------------------------------------------------------------------
// Origin

/// Where a relay's packets go: the edge's link, the room's id on the wire and the stream id
/// of the relay's slot 0.
#[derive(Debug, Clone)]
struct RelayTarget {
    link: Link,
    room: u64,
    stream_base: u16,
}

/// The origin's [`RelaySink`]: relay → edge link, looked up per packet on the home shard.
#[derive(Debug, Default)]
pub struct OriginSink {
    targets: DashMap<PeerId, RelayTarget>,
}

impl RelaySink for OriginSink {
    fn packet(&self, relay: PeerId, slot: usize, p: &RelayedPacket<'_>) {
        let Some(t) = self.targets.get(&relay) else {
            return;
        };
        let packet = RelayPacket {
            room: t.room,
            stream: t.stream_base + u16::try_from(slot).unwrap_or(u16::MAX - t.stream_base),
            kind: match p.kind {
                Kind::Audio => RelayKind::Audio,
                Kind::Video => RelayKind::Video,
            },
            seq: p.ids.seq as u16,
            timestamp: p.ids.timestamp,
            picture_id: p.ids.picture_id,
            tl0_pic_idx: p.ids.tl0_pic_idx,
            keyframe: p.keyframe,
            marker: p.marker,
            audio_level: p.audio_level,
            payload: bytes::Bytes::copy_from_slice(p.payload),
        };
        // A full datagram buffer drops the packet (counted by the link): media is
        // loss-tolerant, and waiting would stall the shard.
        let _ = t.link.send_packet(&packet);
    }

    fn keyframe_request(&self, _mirror: PeerId, _layer: u8) {}
}

/// One room an edge subscribed to.
#[derive(Debug)]
struct Subscription {
    media_room: RoomId,
    video: [Option<PeerId>; 3],
    audio: PeerId,
    /// The layers the edge's viewers need (its last `LayersNeeded`).
    wanted: [bool; 3],
}

/// A connected edge.
#[derive(Debug)]
struct EdgeState {
    /// Which connection of the edge this is (a reconnect replaces the state).
    conn: u64,
    /// When its last load report came (placement skips an edge that stopped reporting
    /// before QUIC's idle timeout ends its link).
    reported_at: Option<std::time::Instant>,
    link: Link,
    public_url: Option<String>,
    viewers: u32,
    capacity: u32,
    subscriptions: HashMap<String, Subscription>,
    /// The highest video layer this edge's link carries now (2: all; lowered while the link
    /// drops or loses datagrams, raised again after it has been calm).
    cap: u8,
    /// When `cap` last changed, and since when the link has been calm.
    cap_changed: std::time::Instant,
    calm_since: std::time::Instant,
    /// The link's statistics a second ago.
    last_stats: Option<plenum_cluster::LinkStats>,
}

/// The origin's view of its edges.
#[derive(Debug)]
pub struct Origin {
    rooms: Arc<Rooms>,
    sfu: SfuHandle,
    sink: Arc<OriginSink>,
    edges: Mutex<HashMap<String, EdgeState>>,
    next_conn: AtomicU64,
    /// The web origins edges may announce (`[cluster] edge_urls`); empty: any.
    allowed_urls: Vec<String>,
}

/// Where a viewer should watch a room.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Placement {
    /// The node's name (`origin` for this server).
    pub node: String,
    /// The WHEP endpoint for the room there.
    pub whep: String,
}

impl Origin {
    /// The origin for these rooms and media plane; `sink` must be the media plane's relay
    /// sink.
    pub fn new(rooms: Arc<Rooms>, sfu: SfuHandle, sink: Arc<OriginSink>) -> Arc<Self> {
        Self::with_allowed_urls(rooms, sfu, sink, Vec::new())
    }

    /// As [`Origin::new`]; viewers are placed only at edges whose announced URL has one of
    /// these web origins (`scheme://host[:port]`; empty: whatever an edge announces — an edge
    /// with a stolen certificate could then send viewers elsewhere, docs/cluster.md).
    pub fn with_allowed_urls(
        rooms: Arc<Rooms>,
        sfu: SfuHandle,
        sink: Arc<OriginSink>,
        allowed: Vec<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            rooms,
            sfu,
            sink,
            edges: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            allowed_urls: allowed.iter().filter_map(|u| web_origin(u)).collect(),
        })
    }

    /// Serve the edges that connect (until the receiver ends).
    pub async fn run(self: Arc<Self>, mut connected: mpsc::Receiver<EdgeConnected>) {
        while let Some(edge) = connected.recv().await {
            let origin = self.clone();
            tokio::spawn(origin.serve_edge(edge));
        }
    }

    async fn serve_edge(self: Arc<Self>, edge: EdgeConnected) {
        let EdgeConnected {
            node,
            link,
            mut control_rx,
            public_url,
        } = edge;
        info!(edge = %node, "edge connected");
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let old = lock(&self.edges).insert(
            node.clone(),
            EdgeState {
                conn,
                reported_at: None,
                cap: 2,
                cap_changed: std::time::Instant::now(),
                calm_since: std::time::Instant::now(),
                last_stats: None,
                link: link.clone(),
                public_url,
                viewers: 0,
                capacity: 0,
                subscriptions: HashMap::new(),
            },
        );
        if let Some(old) = old {
            self.drop_relays(old.subscriptions.into_values());
            old.link.close();
        }
        metrics::gauge!("plenum_cluster_edges").increment(1.0);
        let mut check = tokio::time::interval(LINK_CHECK);
        loop {
            tokio::select! {
                msg = control_rx.recv() => match msg {
                    Some(c) => self.handle_control(&node, &link, c),
                    None => break,
                },
                () = link.closed() => break,
                _ = check.tick() => self.check_link(&node, &link),
            }
        }
        metrics::gauge!("plenum_cluster_edges").decrement(1.0);
        let mut edges = lock(&self.edges);
        // Only if no newer connection of the same edge replaced this one.
        if edges.get(&node).is_some_and(|e| e.conn == conn)
            && let Some(state) = edges.remove(&node)
        {
            drop(edges);
            self.drop_relays(state.subscriptions.into_values());
        }
        info!(edge = %node, "edge gone");
    }

    fn drop_relays(&self, subs: impl Iterator<Item = Subscription>) {
        for sub in subs {
            for relay in sub.video.into_iter().flatten().chain([sub.audio]) {
                self.sink.targets.remove(&relay);
                let _ = self.sfu.remove_relay(relay, sub.media_room);
            }
        }
    }

    fn handle_control(&self, node: &str, link: &Link, c: Control) {
        match c {
            Control::Hello { public_url, .. } => {
                if let Some(e) = lock(&self.edges).get_mut(node) {
                    e.public_url = public_url;
                }
            }
            Control::Subscribe { room } => self.subscribe(node, link, &room),
            Control::Unsubscribe { room } => {
                let sub = lock(&self.edges)
                    .get_mut(node)
                    .and_then(|e| e.subscriptions.remove(&room));
                self.drop_relays(sub.into_iter());
            }
            Control::LayersNeeded { room, layers } => self.layers_needed(node, link, &room, layers),
            Control::KeyframeRequest { room, stream } => {
                let edges = lock(&self.edges);
                let Some(sub) = edges.get(node).and_then(|e| e.subscriptions.get(&room)) else {
                    return;
                };
                if let Some(Some(relay)) = sub.video.get(usize::from(stream)) {
                    let _ = self.sfu.relay_keyframe_request(*relay, sub.media_room, 0);
                }
            }
            Control::Load {
                viewers, capacity, ..
            } => {
                if let Some(e) = lock(&self.edges).get_mut(node) {
                    e.viewers = viewers;
                    e.capacity = capacity;
                    e.reported_at = Some(std::time::Instant::now());
                }
            }
            other => debug!(edge = node, "ignored control message {other:?}"),
        }
    }

    fn subscribe(&self, node: &str, link: &Link, room: &str) {
        let handle = match self.rooms.get_or_start(room) {
            Ok(Some(h)) => h,
            _ => {
                let _ = link.send_control(Control::RoomGone {
                    room: room.to_owned(),
                });
                return;
            }
        };
        let media_room = handle.media_room;
        let mut edges = lock(&self.edges);
        let Some(edge) = edges.get_mut(node) else {
            return;
        };
        if !edge.subscriptions.contains_key(room) {
            let audio = self.rooms.next_peer_id();
            self.sink.targets.insert(
                audio,
                RelayTarget {
                    link: link.clone(),
                    room: media_room.0,
                    stream_base: AUDIO_BASE,
                },
            );
            let layout = SlotLayout {
                stage: 0,
                tiles: 0,
                audio: AUDIO_SLOTS,
            };
            let _ = self.sfu.add_relay(audio, media_room, layout, Vec::new());
            edge.subscriptions.insert(
                room.to_owned(),
                Subscription {
                    media_room,
                    video: [None; 3],
                    audio,
                    wanted: [false; 3],
                },
            );
            info!(edge = node, room, "relaying a room");
        }
        let _ = link.send_control(Control::Streams {
            room: room.to_owned(),
            room_id: media_room.0,
            streams: streams(),
        });
    }

    /// Dynacast across the cascade: a relay per video layer the edge's viewers need.
    fn layers_needed(&self, node: &str, link: &Link, room: &str, layers: [bool; 3]) {
        let mut edges = lock(&self.edges);
        let Some(edge) = edges.get_mut(node) else {
            return;
        };
        let cap = edge.cap;
        let Some(sub) = edge.subscriptions.get_mut(room) else {
            return;
        };
        sub.wanted = layers;
        self.reconcile(link, sub, cap);
    }

    /// A relay per video layer the edge needs, none above `cap` (what it needs above is
    /// served at `cap`: its router then chooses among the layers that arrive).
    fn reconcile(&self, link: &Link, sub: &mut Subscription, cap: u8) {
        let layers = capped(sub.wanted, cap);
        for (layer, &needed) in layers.iter().enumerate() {
            match (needed, sub.video[layer]) {
                (true, None) => {
                    let relay = self.rooms.next_peer_id();
                    self.sink.targets.insert(
                        relay,
                        RelayTarget {
                            link: link.clone(),
                            room: sub.media_room.0,
                            stream_base: layer as u16,
                        },
                    );
                    let layout = SlotLayout {
                        stage: 1,
                        tiles: 0,
                        audio: 0,
                    };
                    let widths = vec![(0, LAYER_WIDTHS[layer])];
                    let _ = self.sfu.add_relay(relay, sub.media_room, layout, widths);
                    sub.video[layer] = Some(relay);
                }
                (false, Some(relay)) => {
                    self.sink.targets.remove(&relay);
                    let _ = self.sfu.remove_relay(relay, sub.media_room);
                    sub.video[layer] = None;
                }
                _ => {}
            }
        }
    }

    /// Every second: a link that drops or loses datagrams carries one layer less for a while
    /// (a slow edge link costs that edge's viewers quality, nobody else anything).
    fn check_link(&self, node: &str, link: &Link) {
        let stats = link.stats();
        let now = std::time::Instant::now();
        let mut edges = lock(&self.edges);
        let Some(edge) = edges.get_mut(node) else {
            return;
        };
        let congested = edge
            .last_stats
            .as_ref()
            .is_some_and(|prev| congested(prev, &stats));
        edge.last_stats = Some(stats);
        if congested {
            edge.calm_since = now;
        }
        let cap = next_cap(
            edge.cap,
            congested,
            now.duration_since(edge.cap_changed),
            now.duration_since(edge.calm_since),
        );
        if cap == edge.cap {
            return;
        }
        info!(
            edge = node,
            from = edge.cap,
            to = cap,
            "the edge's link carries another top layer"
        );
        edge.cap = cap;
        edge.cap_changed = now;
        for sub in edge.subscriptions.values_mut() {
            self.reconcile(link, sub, cap);
        }
    }

    /// The web origins (`scheme://host[:port]`) of the configured and the connected edges:
    /// the client's pages may talk to them (CSP `connect-src`). With `[cluster] edge_urls` a
    /// page also reaches an edge that connects after it was loaded.
    pub fn edge_origins(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.edges)
            .values()
            .filter_map(|e| web_origin(e.public_url.as_deref()?))
            .chain(self.allowed_urls.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The least loaded connected edge with room left (by viewers over capacity), or this
    /// server when there is none.
    pub fn place(&self, room: &str, own_url: &str) -> Placement {
        let candidates: Vec<Candidate> = {
            let edges = lock(&self.edges);
            edges
                .iter()
                .filter_map(|(name, e)| {
                    Some(Candidate {
                        name: name.clone(),
                        url: e.public_url.clone()?,
                        viewers: e.viewers,
                        capacity: e.capacity,
                        fresh: e.reported_at.is_some_and(|t| t.elapsed() < REPORT_STALE),
                    })
                })
                .collect()
        };
        let whep = |url: &str| format!("{}/whep/{room}", url.trim_end_matches('/'));
        match choose(&candidates, &self.allowed_urls) {
            Some(c) => {
                // Counted now, not only with the edge's next report (a second away): a crowd
                // joining at once spreads over the edges and does not overfill one.
                if let Some(e) = lock(&self.edges).get_mut(&c.name) {
                    e.viewers = e.viewers.saturating_add(1);
                }
                Placement {
                    node: c.name.clone(),
                    whep: whep(&c.url),
                }
            }
            None => Placement {
                node: "origin".into(),
                whep: whep(own_url),
            },
        }
    }
}

/// An edge as placement weighs it.
#[derive(Debug, Clone)]
struct Candidate {
    name: String,
    url: String,
    viewers: u32,
    capacity: u32,
    /// Its last load report is recent.
    fresh: bool,
}

/// The least loaded edge (viewers over capacity; then by name) that reports, has room left
/// and, when `allowed` is not empty, announces a URL of an allowed web origin.
fn choose<'c>(candidates: &'c [Candidate], allowed: &[String]) -> Option<&'c Candidate> {
    candidates
        .iter()
        .filter(|c| c.fresh)
        .filter(|c| c.capacity == 0 || c.viewers < c.capacity)
        .filter(|c| allowed.is_empty() || web_origin(&c.url).is_some_and(|o| allowed.contains(&o)))
        .min_by(|a, b| {
            let load = |c: &Candidate| u64::from(c.viewers) * 1000 / u64::from(c.capacity.max(1));
            load(a).cmp(&load(b)).then(a.name.cmp(&b.name))
        })
}

/// `scheme://host[:port]` of a URL, if it is an http(s) URL without odd characters (it goes
/// into a header).
fn web_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split('/').next()?;
    let ok = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    ok.then(|| format!("{scheme}://{authority}"))
}

// ---------------------------------------------------------------------------------------
// Edge

/// Extends a relayed stream's 16-bit sequence numbers (the origin's are continuous per
/// stream) to the never-wrapping ones the router expects.
#[derive(Debug, Default, Clone, Copy)]
struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    fn extend(&mut self, seq: u16) -> u64 {
        let Some(last) = self.last else {
            let v = u64::from(seq) + (1 << 16);
            self.last = Some(v);
            return v;
        };
        let cycle = last & !0xffff;
        let candidates = [
            cycle.saturating_sub(1 << 16) | u64::from(seq),
            cycle | u64::from(seq),
            (cycle + (1 << 16)) | u64::from(seq),
        ];
        let v = candidates
            .into_iter()
            .min_by_key(|c| c.abs_diff(last))
            .unwrap_or(last);
        self.last = Some(self.last.map_or(v, |l| l.max(v)));
        v
    }
}

/// A room relayed to this edge.
#[derive(Debug)]
struct EdgeRoom {
    media_room: RoomId,
    /// The video mirror, then one per audio slot.
    video: PeerId,
    audio: Vec<PeerId>,
    viewers: HashSet<PeerId>,
    /// The origin's id of the room on the wire, once it sent `Streams`.
    origin_id: Option<u64>,
    /// The layers last reported as needed.
    layers: Option<[bool; 3]>,
}

/// A relayed room as the packet path sees it.
#[derive(Debug)]
struct Wire {
    media_room: RoomId,
    video: PeerId,
    audio: Vec<PeerId>,
    seq: Mutex<HashMap<u16, SeqExtender>>,
}

/// The edge's [`RelaySink`]: mirror keyframe requests to the origin.
#[derive(Debug, Default)]
pub struct EdgeSink {
    node: Mutex<Option<Arc<EdgeNode>>>,
    /// Video mirror → room name.
    mirrors: DashMap<PeerId, String>,
}

impl RelaySink for EdgeSink {
    fn packet(&self, _relay: PeerId, _slot: usize, _p: &RelayedPacket<'_>) {}

    fn keyframe_request(&self, mirror: PeerId, layer: u8) {
        let Some(room) = self.mirrors.get(&mirror).map(|r| r.clone()) else {
            return;
        };
        let link = lock(&self.node).as_ref().and_then(|n| n.link());
        if let Some(link) = link {
            let _ = link.send_control(Control::KeyframeRequest {
                room,
                stream: u16::from(layer),
            });
        }
    }
}

/// An edge node's rooms and viewers.
#[derive(Debug)]
pub struct Edge {
    node: Arc<EdgeNode>,
    sfu: SfuHandle,
    sink: Arc<EdgeSink>,
    capacity: u32,
    rooms: Mutex<HashMap<String, EdgeRoom>>,
    /// The origin's web origin (from its `Hello`): its pages may call this edge (CORS).
    origin_web: Mutex<Option<String>>,
    /// Origin room id → the room's packet path.
    wire: DashMap<u64, Arc<Wire>>,
    next_id: AtomicU64,
}

/// Why a viewer was not admitted at an edge.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The edge has as many viewers as it takes.
    #[error("this edge is full")]
    Full,
    /// The media plane refused the offer.
    #[error(transparent)]
    Sfu(#[from] plenum_sfu::SfuError),
}

impl Edge {
    /// An edge on `node` (its link to the origin) and this media plane, whose relay sink is
    /// `sink`; at most `capacity` viewers (0: no limit).
    pub fn new(node: EdgeNode, sfu: SfuHandle, sink: Arc<EdgeSink>, capacity: u32) -> Arc<Self> {
        let node = Arc::new(node);
        *lock(&sink.node) = Some(node.clone());
        Arc::new(Self {
            node,
            sfu,
            sink,
            capacity,
            rooms: Mutex::new(HashMap::new()),
            origin_web: Mutex::new(None),
            wire: DashMap::new(),
            // Peer ids of mirrors and viewers; far from 0 only to read well in logs.
            next_id: AtomicU64::new(1),
        })
    }

    fn next_peer(&self) -> PeerId {
        PeerId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Close the link to the origin (shutting down): the origin drops this edge's relays at
    /// once instead of after the link's idle timeout.
    pub fn close(&self) {
        if let Some(link) = self.node.link() {
            link.close();
        }
    }

    /// Viewers now.
    pub fn viewers(&self) -> u32 {
        let n: usize = lock(&self.rooms).values().map(|r| r.viewers.len()).sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Run the edge: the link's events, the media plane's events, load reports.
    pub async fn run(
        self: Arc<Self>,
        mut link_events: mpsc::Receiver<EdgeEvent>,
        mut sfu_events: mpsc::UnboundedReceiver<SfuEvent>,
    ) {
        let mut report = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = link_events.recv() => match ev {
                    Some(ev) => self.link_event(ev),
                    None => break,
                },
                ev = sfu_events.recv() => match ev {
                    Some(ev) => self.sfu_event(ev),
                    None => break,
                },
                _ = report.tick() => self.report_load(),
            }
        }
    }

    fn report_load(&self) {
        let viewers = self.viewers();
        metrics::gauge!("plenum_cluster_viewers").set(f64::from(viewers));
        self.node.report_load(viewers, self.capacity, 0);
    }

    fn link_event(&self, ev: EdgeEvent) {
        match ev {
            EdgeEvent::Packet(p) => self.inject(p),
            EdgeEvent::Connected => {
                info!("connected to the origin");
                let url = self
                    .node
                    .link()
                    .and_then(|l| l.peer_public_url().map(str::to_owned));
                if let Some(web) = url.as_deref().and_then(web_origin) {
                    *lock(&self.origin_web) = Some(web);
                }
                // Layer needs are reported again with the next change; ask for them now.
                for r in lock(&self.rooms).values_mut() {
                    r.layers = None;
                }
            }
            EdgeEvent::Disconnected => warn!("the link to the origin is down"),
            EdgeEvent::Control(Control::Streams { room, room_id, .. }) => {
                let mut rooms = lock(&self.rooms);
                let Some(r) = rooms.get_mut(&room) else {
                    return;
                };
                if let Some(old) = r.origin_id.replace(room_id) {
                    self.wire.remove(&old);
                    // A new link (maybe a restarted origin): its streams start anew, so
                    // they are new sources here — fresh mirrors, whose viewers' slots switch
                    // on the next keyframe instead of seeing numbers run backwards.
                    self.renew_mirrors(&room, r);
                }
                self.wire.insert(
                    room_id,
                    Arc::new(Wire {
                        media_room: r.media_room,
                        video: r.video,
                        audio: r.audio.clone(),
                        seq: Mutex::new(HashMap::new()),
                    }),
                );
                // What the viewers need so far (the router reports only changes).
                let layers = r.layers.unwrap_or([false, false, true]);
                if let Some(link) = self.node.link() {
                    let _ = link.send_control(Control::LayersNeeded { room, layers });
                }
            }
            EdgeEvent::Control(Control::RoomGone { room }) => {
                info!(room, "the origin does not relay this room");
            }
            EdgeEvent::Control(other) => debug!("ignored control message {other:?}"),
        }
    }

    /// Replace a room's mirrors by new ones (same media room, the stage pinned to the new
    /// video mirror).
    fn renew_mirrors(&self, room: &str, r: &mut EdgeRoom) {
        for old in std::iter::once(r.video).chain(r.audio.iter().copied()) {
            let _ = self.sfu.remove_relay(old, r.media_room);
        }
        self.sink.mirrors.remove(&r.video);
        let (video, audio) = self.add_mirrors(room, r.media_room);
        r.video = video;
        r.audio = audio;
    }

    /// A room's mirrors: the video one (pinned to the stage) and one per audio slot.
    fn add_mirrors(&self, room: &str, media_room: RoomId) -> (PeerId, Vec<PeerId>) {
        let video = self.next_peer();
        let audio: Vec<PeerId> = (0..AUDIO_SLOTS).map(|_| self.next_peer()).collect();
        let _ = self.sfu.add_mirror(video, media_room, vec![Kind::Video]);
        for &a in &audio {
            let _ = self.sfu.add_mirror(a, media_room, vec![Kind::Audio]);
        }
        let _ = self.sfu.set_stage_pin(media_room, Some(video));
        self.sink.mirrors.insert(video, room.to_owned());
        (video, audio)
    }

    fn inject(&self, p: RelayPacket) {
        let Some(wire) = self.wire.get(&p.room).map(|w| w.clone()) else {
            return;
        };
        let (mirror, kind, layer) = match p.kind {
            RelayKind::Video if p.stream < AUDIO_BASE => (wire.video, Kind::Video, p.stream as u8),
            RelayKind::Audio => {
                let Some(&m) = wire
                    .audio
                    .get(usize::from(p.stream.saturating_sub(AUDIO_BASE)))
                else {
                    return;
                };
                (m, Kind::Audio, 0)
            }
            RelayKind::Video => return,
        };
        let seq = lock(&wire.seq).entry(p.stream).or_default().extend(p.seq);
        let packet = InjectedPacket {
            mirror,
            kind,
            layer,
            ids: PacketIds {
                seq,
                timestamp: p.timestamp,
                picture_id: p.picture_id,
                tl0_pic_idx: p.tl0_pic_idx,
            },
            keyframe: p.keyframe,
            marker: p.marker,
            audio_level: p.audio_level,
            payload: Arc::from(&p.payload[..]),
        };
        let _ = self.sfu.inject(wire.media_room, packet);
    }

    fn sfu_event(&self, ev: SfuEvent) {
        match ev {
            SfuEvent::Room {
                event: RoomEvent::LayersNeeded { peer, layers },
                ..
            } => {
                let mut rooms = lock(&self.rooms);
                let Some((name, r)) = rooms.iter_mut().find(|(_, r)| r.video == peer) else {
                    return;
                };
                r.layers = Some(layers);
                if let Some(link) = self.node.link() {
                    let _ = link.send_control(Control::LayersNeeded {
                        room: name.clone(),
                        layers,
                    });
                }
            }
            SfuEvent::PeerDisconnected { peer, .. } => self.viewer_left(peer),
            _ => {}
        }
    }

    /// A WHEP viewer of `room` (its token checked by the caller): connect it to the room's
    /// mirrors, subscribing to the room at the origin with the first viewer.
    pub async fn connect_viewer(
        &self,
        room: &str,
        offer: String,
    ) -> Result<(PeerId, String), EdgeError> {
        if self.capacity > 0 && self.viewers() >= self.capacity {
            return Err(EdgeError::Full);
        }
        let viewer = self.next_peer();
        let media_room = {
            let mut rooms = lock(&self.rooms);
            let r = match rooms.get_mut(room) {
                Some(r) => r,
                None => {
                    let media_room = RoomId(self.next_id.fetch_add(1, Ordering::Relaxed));
                    let (video, audio) = self.add_mirrors(room, media_room);
                    self.node.subscribe(room);
                    info!(room, "first viewer: subscribing at the origin");
                    rooms.entry(room.to_owned()).or_insert(EdgeRoom {
                        media_room,
                        video,
                        audio,
                        viewers: HashSet::new(),
                        origin_id: None,
                        layers: None,
                    })
                }
            };
            r.viewers.insert(viewer);
            r.media_room
        };
        match self.sfu.connect(viewer, media_room, offer).await {
            Ok(c) => Ok((viewer, c.answer)),
            Err(e) => {
                self.viewer_left(viewer);
                Err(e.into())
            }
        }
    }

    /// A viewer left (DELETE, or its connection died).
    pub fn viewer_left(&self, viewer: PeerId) {
        let _ = self.sfu.disconnect(viewer);
        for r in lock(&self.rooms).values_mut() {
            r.viewers.remove(&viewer);
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP

/// This server's part in a cluster.
#[derive(Debug, Clone)]
pub enum Node {
    /// Hosts the rooms; edges relay them.
    Origin(Arc<Origin>),
    /// Relays an origin's rooms to its viewers.
    Edge(Arc<Edge>),
}

/// A WHEP session at an edge.
#[derive(Debug)]
struct EdgeSession {
    viewer: PeerId,
    room: String,
    participant: String,
}

/// Running WHEP sessions at an edge, by resource id.
#[derive(Debug, Default)]
pub struct EdgeSessions(Mutex<HashMap<String, EdgeSession>>);

/// `GET /api/cluster/placement/{room}` (origin): where the bearer token's participant should
/// watch the room — `{ "node", "whep" }`.
pub fn routes() -> axum::Router<Arc<crate::AppState>> {
    axum::Router::new().route(
        "/api/cluster/placement/{room}",
        axum::routing::get(placement),
    )
}

async fn placement(
    axum::extract::State(state): axum::extract::State<Arc<crate::AppState>>,
    axum::extract::Path(room): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let Some(token) = crate::whip::bearer(&headers) else {
        return (StatusCode::UNAUTHORIZED, "a bearer token is required").into_response();
    };
    match crate::ws::verify_access(&state, token) {
        Ok((claims, _)) if claims.room == room => {}
        Ok(_) => return (StatusCode::FORBIDDEN, "the token is for another room").into_response(),
        Err(e) => return (StatusCode::UNAUTHORIZED, e.message).into_response(),
    }
    let place = match &state.cluster {
        Some(Node::Origin(o)) => o.place(&room, &state.public_url),
        Some(Node::Edge(_)) => {
            return (StatusCode::NOT_FOUND, "placement is the origin's").into_response();
        }
        None => Placement {
            node: "origin".into(),
            whep: format!("{}/whep/{room}", state.public_url.trim_end_matches('/')),
        },
    };
    let mut resp = axum::Json(place).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

impl Edge {
    /// `POST /whep/{room}` at an edge: the token (the origin's, checked with its key: an
    /// edge has no invite records, so a revoked token works here until it expires) must be
    /// for the room; the offer is checked as a WHEP offer. Returns the answer and the
    /// session's resource id.
    pub async fn whep(
        &self,
        state: &crate::AppState,
        room: &str,
        token: &str,
        offer: String,
    ) -> Result<(String, String), crate::protocol::ErrorBody> {
        use crate::protocol::{ErrorBody, ErrorCode};
        let claims = state
            .keys
            .verify(token, (state.clock)())
            .map_err(|e| match e {
                crate::auth::TokenError::Expired => {
                    ErrorBody::new(ErrorCode::TokenExpired, e.to_string())
                }
                crate::auth::TokenError::Invalid => {
                    ErrorBody::new(ErrorCode::InvalidToken, e.to_string())
                }
            })?;
        if claims.room != room {
            return Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "the token is for another room",
            ));
        }
        let layout = SlotLayout {
            stage: 1,
            tiles: 0,
            audio: AUDIO_SLOTS,
        };
        crate::offer::check(&offer, crate::offer::Front::Whep, false, layout)
            .map_err(|m| ErrorBody::new(ErrorCode::InvalidSdp, m))?;
        let (viewer, answer) = self
            .connect_viewer(room, offer)
            .await
            .map_err(|e| match e {
                EdgeError::Full => ErrorBody::new(ErrorCode::RoomFull, e.to_string()),
                EdgeError::Sfu(plenum_sfu::SfuError::InvalidSdp(m)) => {
                    ErrorBody::new(ErrorCode::InvalidSdp, m)
                }
                EdgeError::Sfu(e) => ErrorBody::new(ErrorCode::MediaUnavailable, e.to_string()),
            })?;
        let resource = crate::whip::random_id();
        lock(&state.edge_sessions.0).insert(
            resource.clone(),
            EdgeSession {
                viewer,
                room: room.to_owned(),
                participant: claims.sub,
            },
        );
        Ok((answer, resource))
    }

    /// The origin's web origin, which may call this edge's WHEP endpoints from its pages.
    pub fn cors_origin(&self) -> Option<String> {
        lock(&self.origin_web).clone()
    }

    /// `DELETE` of a WHEP session at an edge, by its owner (the token's participant).
    pub fn end_whep(
        &self,
        state: &crate::AppState,
        room: &str,
        resource: &str,
        token: &str,
    ) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        let Ok(claims) = state.keys.verify(token, (state.clock)()) else {
            return StatusCode::UNAUTHORIZED;
        };
        let mut sessions = lock(&state.edge_sessions.0);
        let Some(s) = sessions.get(resource).filter(|s| s.room == room) else {
            return StatusCode::NOT_FOUND;
        };
        let (_, grants) = claims.grants.clone().unwrap_or_default().apply(claims.role);
        if claims.room != room || !(claims.sub == s.participant || grants.moderate) {
            return StatusCode::FORBIDDEN;
        }
        if let Some(s) = sessions.remove(resource) {
            drop(sessions);
            self.viewer_left(s.viewer);
        }
        StatusCode::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_extend_across_wraps_and_tolerate_reordering() {
        let mut x = SeqExtender::default();
        let first = x.extend(65_534);
        assert_eq!(x.extend(65_535), first + 1);
        assert_eq!(x.extend(0), first + 2, "wraps forward");
        assert_eq!(x.extend(65_535), first + 1, "a late packet stays behind");
        assert_eq!(x.extend(1), first + 3);
    }

    #[test]
    fn web_origins_are_scheme_host_and_port_only() {
        assert_eq!(
            web_origin("https://edge-1.example.org:8443/x").as_deref(),
            Some("https://edge-1.example.org:8443")
        );
        assert_eq!(
            web_origin("https://[::1]:9/").as_deref(),
            Some("https://[::1]:9")
        );
        assert_eq!(web_origin("ftp://x"), None);
        assert_eq!(web_origin("https://a b"), None);
        assert_eq!(web_origin("https://a;b"), None);
    }

    fn candidate(name: &str, url: &str, viewers: u32, capacity: u32, fresh: bool) -> Candidate {
        Candidate {
            name: name.into(),
            url: url.into(),
            viewers,
            capacity,
            fresh,
        }
    }

    #[test]
    fn placement_takes_the_least_loaded_reporting_edge_with_room_at_an_allowed_url() {
        let edges = [
            candidate("edge-1", "https://e1.example.org", 50, 100, true),
            candidate("edge-2", "https://e2.example.org:8443", 30, 100, true),
            candidate("edge-3", "https://e3.example.org", 0, 100, false),
            candidate("edge-4", "https://e4.example.org", 10, 10, true),
        ];
        let pick = |allowed: &[&str]| {
            let allowed: Vec<String> = allowed.iter().filter_map(|u| web_origin(u)).collect();
            choose(&edges, &allowed).map(|c| c.name.clone())
        };
        // edge-3 stopped reporting, edge-4 is full: edge-2 carries the least.
        assert_eq!(pick(&[]).as_deref(), Some("edge-2"));
        // Only URLs the origin's configuration names: an edge announcing another is skipped.
        assert_eq!(
            pick(&["https://e1.example.org/"]).as_deref(),
            Some("edge-1")
        );
        assert_eq!(
            pick(&["https://e2.example.org"]),
            None,
            "the port is part of it"
        );
        // Equal load: by name, so placement is stable.
        let tied = [
            candidate("b", "https://b", 0, 0, true),
            candidate("a", "https://a", 0, 0, true),
        ];
        assert_eq!(choose(&tied, &[]).map(|c| c.name.as_str()), Some("a"));
    }

    #[test]
    fn a_congested_link_carries_one_layer_less_and_recovers_when_calm() {
        let stats = |sent, dropped, packets, lost| plenum_cluster::LinkStats {
            datagrams_sent: sent,
            datagrams_dropped: dropped,
            sent_packets: packets,
            lost_packets: lost,
            ..Default::default()
        };
        let base = stats(1000, 0, 1000, 0);
        assert!(
            !congested(&base, &stats(1240, 2, 1240, 1)),
            "a little loss is normal"
        );
        assert!(
            congested(&base, &stats(1200, 40, 1200, 0)),
            "dropped at the origin"
        );
        assert!(
            congested(&base, &stats(1240, 0, 1240, 30)),
            "lost on the way"
        );
        assert!(
            !congested(&base, &stats(1010, 5, 1010, 5)),
            "too little traffic to tell"
        );
        let s = Duration::from_secs;
        assert_eq!(next_cap(2, true, s(5), s(0)), 1);
        assert_eq!(next_cap(1, true, s(1), s(0)), 1, "held after a change");
        assert_eq!(next_cap(1, true, s(3), s(0)), 0);
        assert_eq!(next_cap(0, true, s(3), s(0)), 0);
        assert_eq!(next_cap(0, false, s(11), s(5)), 0, "not calm long enough");
        assert_eq!(next_cap(0, false, s(11), s(11)), 1);
        assert_eq!(capped([false, false, true], 1), [false, true, false]);
        assert_eq!(capped([true, false, true], 0), [true, false, false]);
        assert_eq!(capped([true, true, true], 2), [true, true, true]);
    }

    #[test]
    fn every_stream_is_announced_once() {
        let s = streams();
        assert_eq!(s.len(), 3 + usize::from(AUDIO_SLOTS));
        let mut ids: Vec<u16> = s.iter().map(|i| i.stream).collect();
        ids.dedup();
        assert_eq!(ids.len(), s.len());
    }
}

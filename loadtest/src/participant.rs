//! One synthetic participant: joins over the WebSocket protocol, negotiates one str0m
//! connection with fixed receive slots, publishes synthetic simulcast VP8 and audio over
//! real UDP, and records what arrives on each slot.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plenum_sfu::payload_type;
use plenum_sfu::udp::MediaSocket;
use rustc_hash::FxHashMap;
use serde_json::{Value, json};
use str0m::change::{SdpAnswer, SdpApi, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Simulcast, SimulcastLayer};
use str0m::net::Transmit;
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::{ExtensionValues, RtpWrite, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::signal::{SignalClient, SignalError};
use crate::synth::{
    AudioSource, DEFAULT_LAYERS, Frame, LayerSpec, OpusClip, Talk, VideoLayer, send_timestamp,
    unix_micros,
};

/// How a participant behaves.
#[derive(Debug, Clone)]
pub struct ParticipantConfig {
    /// `https://host:port` of the server.
    pub base_url: String,
    /// Origin header for the WebSocket (normally the same as `base_url`).
    pub origin: String,
    /// PEM of the server certificate to trust.
    pub ca_pem: Option<Vec<u8>>,
    /// Access token from an invite.
    pub token: String,
    /// Publish a microphone.
    pub publish_audio: bool,
    /// Publish a camera with these simulcast layers (empty: no camera).
    pub layers: Vec<LayerSpec>,
    /// When the microphone carries speech.
    pub talk: Talk,
    /// Pin oneself to the stage after joining (moderators).
    pub pin_stage: bool,
    /// Switch the room to this mode after joining (moderators): `open` or `congress`.
    pub set_mode: Option<&'static str>,
    /// Keyframe interval (keyframes also come on request).
    pub keyframe_interval: Duration,
    /// Seed for generated media.
    pub seed: u64,
    /// Local address for the UDP socket (127.0.0.1 in tests).
    pub bind_ip: IpAddr,
    /// How media travels: UDP, or ICE-TCP to the server's passive TCP candidate.
    pub transport: Transport,
    /// A bottleneck on the way in: UDP datagrams pass at this many bits per second through a
    /// queue of [`BOTTLENECK_QUEUE`], like a slow access link.
    pub downlink_bps: Option<u64>,
    /// Keep the arrival time and size of every UDP datagram (before any bottleneck), for
    /// tests of the server's sending profile ([`MediaSession::arrivals`]).
    pub record_arrivals: bool,
    /// Keep, per receive slot, the latency of every frame by its send timestamp (its first and
    /// its last packet's; audio: one packet a frame), so that the same frame can be compared
    /// at two receivers ([`MediaSession::frame_latencies`]).
    pub record_frame_latencies: bool,
}

/// A connection's receive statistics by mid, looked up for every received packet (FxHash:
/// the mids are this process's own, from its SDP).
type SlotMap = FxHashMap<Mid, SlotStats>;

/// Per receive slot: send timestamp (µs since the epoch) → the frame's latencies.
type FrameLatencies = Arc<Mutex<HashMap<Mid, HashMap<u64, FrameLatency>>>>;

/// One frame at one receiver: the latency (µs) of the first and of the last of its packets to
/// arrive, and whether it is a keyframe. The first packet tells when the frame reached the
/// receiver at all; the last adds the spread of its packets (a sender's pacing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameLatency {
    /// The frame's send timestamp (µs since the epoch).
    pub sent: u64,
    /// Latency of its first packet to arrive (µs).
    pub first: u64,
    /// Latency of its last packet to arrive (µs).
    pub last: u64,
    /// Whether it is a keyframe.
    pub keyframe: bool,
}

/// (Unix time in µs, bytes) of every datagram that arrived, shared with the media task.
type Arrivals = Arc<Mutex<Vec<(u64, usize)>>>;

/// Messages one participant's socket reads per system call (a coalesced GRO run is one).
const RECV_BATCH: usize = 8;

/// The longest a datagram waits in a simulated downlink's queue before the queue drops it.
pub const BOTTLENECK_QUEUE: Duration = Duration::from_millis(150);

/// The media transport of a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// One UDP socket (a host candidate).
    #[default]
    Udp,
    /// ICE-TCP only (an active TCP candidate; RFC 4571 framing), as from a network that
    /// blocks UDP.
    Tcp,
}

impl ParticipantConfig {
    /// A publisher of audio and three-layer video, talking in bursts.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            origin: base_url.to_owned(),
            ca_pem: None,
            token: token.to_owned(),
            publish_audio: true,
            layers: DEFAULT_LAYERS.to_vec(),
            talk: Talk::Bursts,
            pin_stage: false,
            set_mode: None,
            keyframe_interval: Duration::from_secs(3),
            seed: 1,
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            transport: Transport::Udp,
            downlink_bps: None,
            record_arrivals: false,
            record_frame_latencies: false,
        }
    }
}

/// What arrived on one receive slot.
#[derive(Debug, Clone, Default)]
pub struct SlotStats {
    /// `stage`, `tile-N`, `audio-N`.
    pub slot: String,
    /// RTP packets received.
    pub packets: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// SSRCs seen (one, for a well-rewritten slot).
    pub ssrcs: Vec<u32>,
    /// Whether the very first packet started a VP8 keyframe.
    pub first_is_keyframe: Option<bool>,
    /// First and highest extended sequence number received (str0m's receive-side extension).
    pub seq_range: Option<(u64, u64)>,
    /// Keyframe starts seen.
    pub keyframes: u64,
    /// Width from the last keyframe header.
    pub last_keyframe_width: Option<u16>,
    /// The widest keyframe seen.
    pub widest_keyframe: Option<u16>,
    /// Video packets received after a keyframe of each width, in the order the widths
    /// changed (a width may come again): the layers this slot got ([`SlotStats::by_width`]).
    pub width_runs: Vec<(u16, u64)>,
    /// One-way latency (µs) from the send timestamps.
    pub latency_us: Latency,
    /// When the first packet arrived.
    pub first_packet_at: Option<Instant>,
}

impl SlotStats {
    /// Packets per keyframe width (ascending), from [`SlotStats::width_runs`].
    pub fn by_width(&self) -> std::collections::BTreeMap<u16, u64> {
        let mut widths = std::collections::BTreeMap::new();
        for &(width, packets) in &self.width_runs {
            *widths.entry(width).or_default() += packets;
        }
        widths
    }

    /// Packets missing between the first and the highest sequence number received.
    pub fn lost(&self) -> u64 {
        self.seq_range
            .map(|(first, high)| (high - first + 1).saturating_sub(self.packets))
            .unwrap_or(0)
    }
}

/// A latency histogram (µs, 1 µs … 60 s, 3 significant digits).
#[derive(Debug, Clone)]
pub struct Latency(pub hdrhistogram::Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        // Constant bounds that satisfy hdrhistogram's rules (low ≥ 1, high ≥ 2·low, sigfig ≤ 5).
        Self(hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"))
    }
}

impl Latency {
    fn record(&mut self, us: u64) {
        self.0.saturating_record(us.max(1));
    }
}

/// Participant failures.
#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    /// Signalling failed.
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// WebRTC negotiation failed.
    #[error("webrtc: {0}")]
    Rtc(String),
    /// Socket trouble.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A running participant. Dropping it stops its media task.
#[derive(Debug)]
pub struct Participant {
    /// The signalling connection (send further commands, read events).
    pub signal: SignalClient,
    /// The `join` result.
    pub joined: Value,
    /// The `offer` result's slot list.
    pub slots: Vec<Value>,
    /// The media connection.
    pub media: MediaSession,
}

impl Participant {
    /// Join, negotiate and start media. Returns once the offer is answered; media flows as
    /// soon as ICE and DTLS complete (see [`Participant::wait_connected`]).
    pub async fn join(config: ParticipantConfig) -> Result<Self, ParticipantError> {
        let signal =
            SignalClient::connect(&config.base_url, &config.origin, config.ca_pem.as_deref())
                .await?;
        let joined = signal
            .request("join", json!({ "protocol": 1, "token": config.token }))
            .await?;
        let count = |k: &str| joined["slots"][k].as_u64().unwrap_or(0) as usize;
        let (stage, tiles, audio) = (count("stage"), count("tiles"), count("audio"));

        let (socket, mut rtc) = match config.transport {
            Transport::Udp => local_peer(config.bind_ip).await?,
            Transport::Tcp => local_tcp_peer(config.bind_ip).await?,
        };

        let mut api = rtc.sdp_api();
        let (audio_mid, video_mid) = add_send_media(&mut api, &config);
        for _ in 0..stage + tiles {
            api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        }
        for _ in 0..audio {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending): (_, SdpPendingOffer) = api
            .apply()
            .ok_or_else(|| ParticipantError::Rtc("nothing to offer".into()))?;
        let answer = signal
            .request("offer", json!({ "sdp": offer.to_sdp_string() }))
            .await?;
        let sdp = answer["sdp"].as_str().unwrap_or_default();
        let sdp_answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| ParticipantError::Rtc(e.to_string()))?;
        rtc.sdp_api()
            .accept_answer(pending, sdp_answer)
            .map_err(|e| ParticipantError::Rtc(e.to_string()))?;
        let slots: Vec<Value> = answer["slots"].as_array().cloned().unwrap_or_default();

        let names = slots
            .iter()
            .map(|slot| {
                (
                    slot["mid"].as_str().unwrap_or_default().to_owned(),
                    slot["slot"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let media = MediaSession::start(rtc, socket, audio_mid, video_mid, names, &config)?;
        if let Some(mode) = config.set_mode {
            signal.request("set_mode", json!({ "mode": mode })).await?;
        }
        if config.publish_audio {
            signal
                .request("publish", json!({ "kind": "audio" }))
                .await?;
        }
        if !config.layers.is_empty() {
            signal
                .request("publish", json!({ "kind": "video" }))
                .await?;
        }
        if config.pin_stage {
            let me = joined["participant"]["id"].clone();
            signal
                .request("set_stage", json!({ "participant_id": me }))
                .await?;
        }
        Ok(Self {
            signal,
            joined,
            slots,
            media,
        })
    }

    /// Wait until ICE and DTLS are up (or `timeout` passes). Returns whether it connected.
    pub async fn wait_connected(&mut self, timeout: Duration) -> bool {
        self.media.wait_connected(timeout).await
    }

    /// When ICE and DTLS completed, if they have.
    pub fn connected_at(&self) -> Option<Instant> {
        self.media.connected_at()
    }

    /// A copy of the statistics of the slot named `slot` (`stage`, `tile-0`, …).
    pub fn slot_stats(&self, slot: &str) -> Option<SlotStats> {
        self.media.slot_stats(slot)
    }

    /// Copies of all slots' statistics.
    pub fn all_stats(&self) -> Vec<SlotStats> {
        self.media.all_stats()
    }

    /// Stop media and close the connection.
    pub async fn stop(self) {
        self.media.stop().await;
    }
}

/// The config's sending m-lines: a `sendonly` microphone and a `sendonly` camera with one
/// simulcast layer per configured layer (each only if configured). Returns their mids.
pub fn add_send_media(
    api: &mut SdpApi<'_>,
    config: &ParticipantConfig,
) -> (Option<Mid>, Option<Mid>) {
    let audio = config
        .publish_audio
        .then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
    let video = (!config.layers.is_empty()).then(|| {
        let mut sim = Simulcast::new();
        for l in &config.layers {
            sim.add_send_layer(SimulcastLayer::new(l.rid));
        }
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(sim))
    });
    (audio, video)
}

/// A UDP socket on `ip` (batched, GSO and GRO as the server's) and an RTP-mode `Rtc` (Opus,
/// VP8) with it as host candidate.
/// Boxed: an `Rtc` is large and lives across awaits.
pub async fn local_peer(ip: IpAddr) -> Result<(MediaSocket, Box<Rtc>), ParticipantError> {
    let socket = MediaSocket::bind(SocketAddr::new(ip, 0), RECV_BATCH)?;
    let mut rtc = Box::new(rtc_config().build(Instant::now()));
    let candidate = Candidate::host(socket.local_addr()?, "udp")
        .map_err(|e| ParticipantError::Rtc(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    Ok((socket, rtc))
}

/// The address an active ICE-TCP candidate announces (RFC 6544: port 9, the connection's
/// real port is chosen when it is opened).
fn active_tcp_candidate(ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, 9)
}

/// Like [`local_peer`], but the `Rtc`'s only candidate is an active TCP one: all media goes
/// over ICE-TCP. (The UDP socket stays unused; the media task keeps one either way.)
pub async fn local_tcp_peer(ip: IpAddr) -> Result<(MediaSocket, Box<Rtc>), ParticipantError> {
    let socket = MediaSocket::bind(SocketAddr::new(ip, 0), RECV_BATCH)?;
    let mut rtc = Box::new(rtc_config().build(Instant::now()));
    let candidate = Candidate::builder()
        .tcp()
        .host(active_tcp_candidate(ip))
        .tcptype(TcpType::Active)
        .build()
        .map_err(|e| ParticipantError::Rtc(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    Ok((socket, rtc))
}

fn rtc_config() -> RtcConfig {
    RtcConfig::new()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
}

/// A running str0m connection with synthetic publishing and per-slot receive statistics,
/// whatever signalling set it up (Plenum's or a peer SFU's). Dropping it stops the media.
#[derive(Debug)]
pub struct MediaSession {
    stats: Arc<Mutex<SlotMap>>,
    arrivals: Option<Arrivals>,
    frames: Option<FrameLatencies>,
    /// When ICE and DTLS completed (`None` until then).
    connected: watch::Receiver<Option<Instant>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl MediaSession {
    /// Start the media task for a negotiated `rtc` on `socket`. `slot_names` maps receive
    /// mids to the names statistics are kept under.
    pub fn start(
        rtc: Box<Rtc>,
        socket: MediaSocket,
        audio_mid: Option<Mid>,
        video_mid: Option<Mid>,
        slot_names: Vec<(String, String)>,
        config: &ParticipantConfig,
    ) -> Result<Self, ParticipantError> {
        let local = socket.local_addr()?;
        let stats: SlotMap = slot_names
            .into_iter()
            .map(|(mid, slot)| {
                (
                    Mid::from(mid.as_str()),
                    SlotStats {
                        slot,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let stats = Arc::new(Mutex::new(stats));
        let (stop, stop_rx) = watch::channel(false);
        let (connected_tx, connected) = watch::channel(None);
        let arrivals = config
            .record_arrivals
            .then(|| Arc::new(Mutex::new(Vec::new())));
        let frames = config
            .record_frame_latencies
            .then(|| Arc::new(Mutex::new(HashMap::new())));
        let mut socket = socket;
        // The kernel's receive times go to the connection as the datagrams' arrival
        // (`Media::read_datagrams`), and to the recorded arrivals.
        socket.enable_timestamps();
        let media = Media {
            rtc,
            socket: Some(socket),
            out: Vec::new(),
            arrivals: arrivals.clone(),
            local,
            tcp: None,
            tcp_out: Vec::new(),
            bottleneck: config.downlink_bps.map(Bottleneck::new),
            audio_mid,
            video_mid,
            audio: config
                .publish_audio
                .then(|| AudioSource::new(OpusClip::shared(), config.talk.clone(), config.seed)),
            layers: config
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    VideoLayer::new(*l, config.keyframe_interval, config.seed * 7 + i as u64)
                })
                .collect(),
            seq: HashMap::new(),
            stats: stats.clone(),
            mids: FxHashMap::default(),
            frames: frames.clone(),
            connected: connected_tx,
            clock: Instant::now(),
        };
        // On a media thread of its own (`crate::pool`), its socket with it.
        let task = crate::pool::spawn(async move {
            let mut media = media;
            match media.socket.take().map(MediaSocket::into_current_runtime) {
                Some(Ok(socket)) => media.socket = Some(socket),
                Some(Err(e)) => {
                    tracing::warn!("media socket unusable on its thread: {e}");
                    return;
                }
                None => {}
            }
            media.run(stop_rx).await
        });
        Ok(Self {
            stats,
            arrivals,
            frames,
            connected,
            stop,
            task: Some(task),
        })
    }

    /// (Unix time in µs, bytes) of every UDP datagram that arrived so far, when the config
    /// asked to record them.
    pub fn arrivals(&self) -> Vec<(u64, usize)> {
        self.arrivals.as_ref().map_or_else(Vec::new, |a| {
            a.lock().unwrap_or_else(|e| e.into_inner()).clone()
        })
    }

    /// Every frame received on the slot named `slot` with a send timestamp in `sent` (µs
    /// since the epoch), when the config asked to record them.
    pub fn frame_latencies(&self, slot: &str, sent: std::ops::Range<u64>) -> Vec<FrameLatency> {
        let Some(frames) = &self.frames else {
            return Vec::new();
        };
        let mid = {
            let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            s.iter().find(|(_, v)| v.slot == slot).map(|(m, _)| *m)
        };
        let frames = frames.lock().unwrap_or_else(|e| e.into_inner());
        mid.and_then(|m| frames.get(&m))
            .map(|f| {
                f.values()
                    .filter(|f| sent.contains(&f.sent))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait until ICE and DTLS are up (or `timeout` passes). Returns whether it connected.
    pub async fn wait_connected(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.connected.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// When ICE and DTLS completed, if they have.
    pub fn connected_at(&self) -> Option<Instant> {
        *self.connected.borrow()
    }

    /// A copy of the statistics of the slot named `slot`.
    pub fn slot_stats(&self, slot: &str) -> Option<SlotStats> {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.values().find(|v| v.slot == slot).cloned()
    }

    /// Copies of all slots' statistics.
    pub fn all_stats(&self) -> Vec<SlotStats> {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.values().cloned().collect()
    }

    /// Stop media and close the connection.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Media {
    rtc: Box<Rtc>,
    /// Taken out while a batch of datagrams is read (its callback needs the rest of `self`).
    socket: Option<MediaSocket>,
    /// UDP datagrams to send at the end of the loop turn (GSO runs, like the server).
    out: Vec<Transmit>,
    arrivals: Option<Arrivals>,
    local: SocketAddr,
    /// The ICE-TCP connection, once str0m sent the first TCP datagram.
    tcp: Option<TcpLink>,
    /// TCP datagrams waiting for the connection.
    tcp_out: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    bottleneck: Option<Bottleneck>,
    audio_mid: Option<Mid>,
    video_mid: Option<Mid>,
    audio: Option<AudioSource>,
    layers: Vec<VideoLayer>,
    /// Next sequence number per (mid, rid).
    seq: HashMap<(Mid, Option<String>), u64>,
    stats: Arc<Mutex<SlotMap>>,
    /// The mid of each receive stream seen (see [`Media::mid_of`]).
    mids: FxHashMap<Ssrc, Mid>,
    frames: Option<FrameLatencies>,
    connected: watch::Sender<Option<Instant>>,
    /// The latest time given to the connection (str0m's clock must not go back).
    clock: Instant,
}

impl Media {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        // A sender's frames are due on a 5 ms tick; a participant that only receives wakes
        // when its connection asks (feedback, reports) or a datagram comes, as a browser does.
        // A tick for 150 viewers was 30 000 extra timeouts a second, each over all m-lines.
        let tick =
            (self.audio.is_some() || !self.layers.is_empty()).then_some(Duration::from_millis(5));
        let mut is_connected = false;
        loop {
            let now = Instant::now();
            while let Some((source, data)) = self.bottleneck.as_mut().and_then(|b| b.poll(now)) {
                self.receive(now, Protocol::Udp, source, &data, &mut is_connected);
            }
            let timeout = self.drain(now, &mut is_connected);
            self.send_udp();
            let through = self.bottleneck.as_ref().and_then(Bottleneck::next_at);
            let wake = timeout
                .min(tick.map_or(timeout, |t| now + t))
                .min(through.unwrap_or(timeout));
            self.send_tcp().await;
            let Some(socket) = self.socket.take() else {
                break;
            };
            tokio::select! {
                _ = stop.changed() => break,
                r = socket.readable() => {
                    self.socket = Some(socket);
                    if r.is_ok() {
                        self.read_datagrams(&mut is_connected);
                    }
                    continue;
                }
                Some(frame) = async {
                    match self.tcp.as_mut() {
                        Some(link) => link.frames.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.socket = Some(socket);
                    if let Some((remote, local)) = self.tcp.as_ref().map(|l| (l.remote, l.local)) {
                        self.receive_from(Instant::now(), Protocol::Tcp, remote, local, &frame);
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    self.socket = Some(socket);
                }
            }
            let now = Instant::now();
            if is_connected {
                self.produce(now);
            }
            self.clock = self.clock.max(now);
            let _ = self.rtc.handle_input(Input::Timeout(now));
        }
        self.rtc.disconnect();
    }

    /// Read what waits on the socket (a few batches at most, so timers still run) and hand
    /// it to the connection, or to the bottleneck.
    fn read_datagrams(&mut self, is_connected: &mut bool) {
        let Some(mut socket) = self.socket.take() else {
            return;
        };
        for _ in 0..4 {
            let now = Instant::now();
            let wall = std::time::SystemTime::now();
            let read = socket.try_recv_batch_stamped(|source, data, at| {
                if let Some(arrivals) = &self.arrivals {
                    // The kernel's receive time where it has one, not when this task got to it.
                    let at = at
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or_else(unix_micros, |d| d.as_micros() as u64);
                    arrivals
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((at, data.len()));
                }
                match self.bottleneck.as_mut() {
                    Some(b) => b.offer(now, source, data),
                    None => {
                        let arrived = self.arrival(now, wall, at);
                        // Media is drained once for the whole batch (the connection holds
                        // every packet until then and runs no timeout per datagram: str0m
                        // patch 7); anything else (STUN, DTLS) at once, as it may answer.
                        if is_srtp(data) {
                            self.receive_from(arrived, Protocol::Udp, source, self.local, data);
                        } else {
                            self.receive(arrived, Protocol::Udp, source, data, is_connected);
                        }
                    }
                }
            });
            // An error read nothing (a short batch is `Ok`: sfu::udp), so nothing to drain.
            if read.is_err() {
                break;
            }
            self.drain(now, is_connected);
        }
        self.socket = Some(socket);
        self.send_udp();
    }

    /// When a datagram the kernel stamped `at` arrived, on the connection's clock: a browser
    /// reads its socket on a network thread of its own, but this task shares two cores with
    /// 150 others and the server, and may read a batch milliseconds late. Given the time of
    /// reading instead, the connection would report every such delay to the server's
    /// bandwidth estimator (transport-wide feedback) as queueing on the path. Never before
    /// the time the connection last got (its clock does not go back).
    fn arrival(
        &self,
        now: Instant,
        wall: std::time::SystemTime,
        at: Option<std::time::SystemTime>,
    ) -> Instant {
        at.and_then(|t| wall.duration_since(t).ok())
            .and_then(|ago| now.checked_sub(ago))
            .unwrap_or(now)
            .max(self.clock)
    }

    /// One datagram for the connection, then everything it does about it.
    fn receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        data: &[u8],
        is_connected: &mut bool,
    ) {
        self.receive_from(now, proto, source, self.local, data);
        self.drain(now, is_connected);
    }

    fn receive_from(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        local: SocketAddr,
        data: &[u8],
    ) {
        if let Ok(rx) = Receive::new(proto, source, local, data) {
            self.clock = self.clock.max(now);
            let _ = self.rtc.handle_input(Input::Receive(now, rx));
        }
    }

    /// Send the UDP datagrams the connection produced.
    fn send_udp(&mut self) {
        if let Some(socket) = &mut self.socket
            && !self.out.is_empty()
        {
            socket.send_all(&self.out);
        }
        self.out.clear();
    }

    /// Drain outputs; returns the next timeout.
    fn drain(&mut self, now: Instant, is_connected: &mut bool) -> Instant {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return t,
                Ok(Output::Transmit(t)) if t.proto == Protocol::Tcp => {
                    self.tcp_out
                        .push((t.source, t.destination, t.contents.to_vec()));
                }
                Ok(Output::Transmit(t)) => self.out.push(t),
                Ok(Output::Event(e)) => match e {
                    Event::Connected => {
                        *is_connected = true;
                        let _ = self.connected.send(Some(now));
                    }
                    Event::KeyframeRequest(req) => {
                        let rid = req.rid.map(|r| r.to_string());
                        for l in &mut self.layers {
                            if rid.as_deref().is_none_or(|r| r == l.spec().rid) {
                                l.request_keyframe();
                            }
                        }
                    }
                    Event::RtpPacket(p) => self.record(now, p),
                    _ => {}
                },
                Err(_) => return now + Duration::from_millis(50),
            }
        }
    }

    /// Send waiting ICE-TCP datagrams, opening the connection to the server first.
    async fn send_tcp(&mut self) {
        for (local, remote, data) in std::mem::take(&mut self.tcp_out) {
            if self.tcp.as_ref().is_none_or(|l| l.remote != remote) {
                self.tcp = TcpLink::open(local, remote).await;
            }
            let Some(link) = self.tcp.as_mut() else {
                continue;
            };
            if let Some(framed) = plenum_sfu::tcp::frame(&data)
                && link.writer.write_all(&framed).await.is_err()
            {
                self.tcp = None;
            }
        }
    }

    fn record(&mut self, now: Instant, p: str0m::rtp::RtpPacket) {
        let ssrc = p.header.ssrc;
        let Some(mid) = self.mid_of(ssrc) else {
            return;
        };
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = stats.get_mut(&mid) else {
            return;
        };
        let keyframe = str0m::format::detect_vp8_keyframe(&p.payload);
        if s.first_is_keyframe.is_none() {
            s.first_is_keyframe = Some(keyframe);
            s.first_packet_at = Some(now);
        }
        if keyframe {
            s.keyframes += 1;
            s.last_keyframe_width = vp8_keyframe_width(&p.payload);
            s.widest_keyframe = s.widest_keyframe.max(s.last_keyframe_width);
            // Opus payloads can look like VP8 keyframes: video slots only.
            if let Some(width) = s.last_keyframe_width
                && !s.slot.starts_with("audio")
                && s.width_runs.last().is_none_or(|&(w, _)| w != width)
            {
                s.width_runs.push((width, 0));
            }
        }
        if let Some(run) = s.width_runs.last_mut() {
            run.1 += 1;
        }
        s.packets += 1;
        s.bytes += p.payload.len() as u64;
        if !s.ssrcs.contains(&*ssrc) {
            s.ssrcs.push(*ssrc);
        }
        let seq = *p.seq_no;
        s.seq_range = Some(match s.seq_range {
            None => (seq, seq),
            Some((first, high)) => (first.min(seq), high.max(seq)),
        });
        if let Some(sent) = send_timestamp(&p.payload) {
            let latency = unix_micros().saturating_sub(sent);
            s.latency_us.record(latency);
            drop(stats);
            if let Some(frames) = &self.frames {
                let mut frames = frames.lock().unwrap_or_else(|e| e.into_inner());
                let f = frames
                    .entry(mid)
                    .or_default()
                    .entry(sent)
                    .or_insert(FrameLatency {
                        sent,
                        first: latency,
                        ..FrameLatency::default()
                    });
                f.first = f.first.min(latency);
                f.last = f.last.max(latency);
                f.keyframe |= keyframe;
            }
        }
    }

    /// The mid of a receive stream, remembered: str0m's `stream_rx` is a mutable access
    /// (through the `DirectApi`, which arms the connection's readiness), not worth paying
    /// for every received packet.
    fn mid_of(&mut self, ssrc: Ssrc) -> Option<Mid> {
        if let Some(mid) = self.mids.get(&ssrc) {
            return Some(*mid);
        }
        let mid = self.rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid())?;
        self.mids.insert(ssrc, mid);
        Some(mid)
    }

    fn produce(&mut self, now: Instant) {
        if let (Some(mid), Some(src)) = (self.audio_mid, self.audio.as_mut())
            && let Some(frame) = src.poll(now)
        {
            write_frame(
                &mut self.rtc,
                &mut self.seq,
                mid,
                None,
                Codec::Opus,
                frame,
                now,
            );
        }
        if let Some(mid) = self.video_mid {
            for layer in &mut self.layers {
                if let Some(frame) = layer.poll(now) {
                    let rid = Some(layer.spec().rid);
                    write_frame(
                        &mut self.rtc,
                        &mut self.seq,
                        mid,
                        rid,
                        Codec::Vp8,
                        frame,
                        now,
                    );
                }
            }
        }
    }
}

/// A slow downlink: datagrams leave its queue at the link rate (so a standing queue shows as
/// growing delay, as the sender's delay-based estimator expects), and the queue drops what
/// would wait longer than [`BOTTLENECK_QUEUE`].
struct Bottleneck {
    bytes_per_sec: f64,
    /// When the link is free again.
    free_at: Instant,
    queue: std::collections::VecDeque<(Instant, SocketAddr, Vec<u8>)>,
}

impl Bottleneck {
    fn new(bps: u64) -> Self {
        Self {
            bytes_per_sec: bps as f64 / 8.0,
            free_at: Instant::now(),
            queue: Default::default(),
        }
    }

    /// A datagram arrives at `now`: queued, or dropped when the queue is full.
    fn offer(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let start = self.free_at.max(now);
        let done = start + Duration::from_secs_f64(data.len() as f64 / self.bytes_per_sec);
        if done.saturating_duration_since(now) > BOTTLENECK_QUEUE {
            return;
        }
        self.free_at = done;
        self.queue.push_back((done, source, data.to_vec()));
    }

    /// The next datagram through the link by `now`.
    fn poll(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        if self.queue.front().is_some_and(|(t, _, _)| *t <= now) {
            return self.queue.pop_front().map(|(_, s, d)| (s, d));
        }
        None
    }

    /// When the next datagram gets through.
    fn next_at(&self) -> Option<Instant> {
        self.queue.front().map(|(t, _, _)| *t)
    }
}

/// A client's ICE-TCP connection: frames read by a task, written here.
struct TcpLink {
    /// The active candidate's address (what str0m sends from).
    local: SocketAddr,
    remote: SocketAddr,
    writer: tokio::net::tcp::OwnedWriteHalf,
    frames: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
}

impl TcpLink {
    async fn open(local: SocketAddr, remote: SocketAddr) -> Option<Self> {
        let stream = tokio::net::TcpStream::connect(remote).await.ok()?;
        let _ = stream.set_nodelay(true);
        let (mut reader, writer) = stream.into_split();
        let (tx, frames) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut deframer = plenum_sfu::tcp::Deframer::default();
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                deframer.push(&buf[..n]);
                while let Some(frame) = deframer.next_frame() {
                    if tx.send(frame).is_err() {
                        return;
                    }
                }
            }
        });
        Some(Self {
            local,
            remote,
            writer,
            frames,
        })
    }
}

/// Whether a datagram is SRTP or SRTCP: the first byte 128..=191 (RFC 7983's demultiplexing,
/// as str0m's); STUN starts with 0..=3, DTLS with 20..=63.
fn is_srtp(data: &[u8]) -> bool {
    matches!(data.first(), Some(128..=191))
}

fn write_frame(
    rtc: &mut Rtc,
    seqs: &mut HashMap<(Mid, Option<String>), u64>,
    mid: Mid,
    rid: Option<&str>,
    codec: Codec,
    frame: Frame,
    now: Instant,
) {
    let Some(pt) = payload_type(rtc, mid, codec) else {
        return;
    };
    let seq = seqs
        .entry((mid, rid.map(str::to_owned)))
        .or_insert_with(|| 1000 + u64::from(frame.rtp_time % 20_000));
    let mut api = rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(mid, rid.map(Into::into)) else {
        return;
    };
    let n = frame.payloads.len();
    for (i, payload) in frame.payloads.into_iter().enumerate() {
        let mut w = RtpWrite::new(pt, (*seq).into(), frame.rtp_time, now, payload)
            .marker(i + 1 == n)
            .nackable(codec == Codec::Vp8);
        if frame.audio_level.is_some() {
            w = w.ext_vals(ExtensionValues {
                audio_level: frame.audio_level,
                ..Default::default()
            });
        }
        tx.write_rtp(w);
        *seq += 1;
    }
}

/// The width in a VP8 keyframe header (first packet of the frame).
pub fn vp8_keyframe_width(payload: &[u8]) -> Option<u16> {
    let mut i = 1;
    let b0 = *payload.first()?;
    if b0 & 0x80 != 0 {
        let x = *payload.get(1)?;
        i = 2;
        if x & 0x80 != 0 {
            i += if payload.get(i)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    // frame tag (3) + start code (3), then 14-bit width, little endian.
    let w = payload.get(i + 6..i + 8)?;
    Some(u16::from_le_bytes([w[0], w[1]]) & 0x3fff)
}

#[cfg(test)]
mod tests {
    use super::is_srtp;

    #[test]
    fn media_is_told_from_stun_and_dtls_by_the_first_byte() {
        assert!(is_srtp(&[0x80, 96, 0, 1]), "RTP");
        assert!(is_srtp(&[0x81, 200, 0, 6]), "RTCP sender report");
        assert!(is_srtp(&[0xbf]), "the last RTP/RTCP first byte");
        assert!(!is_srtp(&[0x00, 0x01, 0x00, 0x2c]), "STUN binding request");
        assert!(!is_srtp(&[22, 0xfe, 0xfd]), "DTLS handshake");
        assert!(!is_srtp(&[0xc0]), "above RTP's range");
        assert!(!is_srtp(&[]), "empty");
    }
}

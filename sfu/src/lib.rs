//! Plenum's media plane: a selective forwarding unit on str0m.
//!
//! Modules:
//! - [`router`] — the sans-IO routing core (rooms → sources → slots → subscribers): which
//!   packet goes to which slot, which layer, when to ask for a keyframe, who is on stage.
//!   No sockets, no clock reads; deterministic unit tests in `tests/`.
//! - [`rewrite`] — per-slot rewriting of sequence numbers, timestamps and VP8 picture ids so
//!   each receive slot is one continuous stream.
//! - [`shard`] — the sans-IO media core of one worker: one str0m `Rtc` per peer in RTP
//!   mode, datagrams routed by map (STUN username before nomination, remote address after),
//!   the router of the rooms the shard is home to, router outputs turned into writes,
//!   keyframe requests and [`SfuEvent`]s; messages to the other shards; collects transmits;
//! - `driver` — the tokio glue: one worker thread per shard (one per core by default), each
//!   with its own UDP socket on the shared port, its datagrams and inputs into its shard, its
//!   transmits out, its messages to the other workers;
//! - [`tcp`] — ICE-TCP: the TCP listener, RFC 4571 framing, connections handed to their shard;
//! - [`relay`] — cascading to other nodes: relays (the origin's subscribers without a
//!   connection) and mirrors (an edge's publishers without one), around a [`relay::RelaySink`];
//! - [`udp`] — the batched UDP sockets (`recvmmsg`/`sendmmsg`, GSO sends, GRO receives),
//!   also used by the load tester;
//! - [`testing`] — an in-memory network of shards and str0m clients for tests and benches.
//!
//! Run-loop contract of a worker (per str0m): every input is followed by draining
//! `poll_output` until `Output::Timeout`; writes to one connection are batched and followed
//! by one `Rtc::handle_written(now)` (a timeout that runs only the estimator and the pacer
//! unless another timer is due; str0m patch 8) and a drain, which is when packets leave.
//!
//! Signalling drives it through [`SfuHandle`] (which sends each command to the worker that
//! owns the peer, or the room's home) and listens to [`SfuEvent`]s; nothing here knows about
//! congress rules.

mod driver;
pub mod relay;
pub mod rewrite;
pub mod router;
pub mod shard;
pub mod tcp;
pub mod testing;
pub mod udp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, oneshot};

use driver::Input;
pub use driver::{MediaTask, spawn};
pub use router::{Kind, PeerId, RoomEvent, RoomId, RouterConfig, SlotLayout, SlotRole};

/// The payload type the remote side offered for `codec` on an m-line (str0m glue shared
/// with the load tester).
pub fn payload_type(
    rtc: &str0m::Rtc,
    mid: str0m::media::Mid,
    codec: str0m::format::Codec,
) -> Option<str0m::media::Pt> {
    let remote = rtc.media(mid)?.remote_pts();
    rtc.codec_config()
        .params()
        .iter()
        .find(|p| p.spec().codec == codec && remote.contains(&p.pt()))
        .map(|p| p.pt())
}

/// Errors of the media plane, as signalling shows them to a client.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// The offer could not be parsed or negotiated.
    #[error("invalid SDP offer: {0}")]
    InvalidSdp(String),
    /// The media task is gone (shutting down).
    #[error("media plane unavailable")]
    Unavailable,
    /// The UDP sockets or the ICE-TCP listener could not be bound (or a worker thread could
    /// not be started).
    #[error("cannot bind media socket {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// No DTLS certificate could be generated.
    #[error("cannot generate the DTLS certificate")]
    Crypto,
    /// A configured public address is not usable as an ICE candidate.
    #[error("invalid public address {0}")]
    InvalidPublicAddress(SocketAddr),
    /// The configured start estimate is outside [`shard::START_ESTIMATE_RANGE`].
    #[error("start estimate {0} bit/s is outside 100 kbit/s ..= 100 Mbit/s")]
    InvalidStartEstimate(u64),
}

/// Media plane settings (the `[media]` config section).
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The one UDP port for all peers (and, with `ice_tcp`, the same TCP port).
    pub bind: SocketAddr,
    /// Addresses announced as ICE candidates. Empty: the bound address (which must then not
    /// be unspecified). A port of 0 means: the bound port.
    pub public_addresses: Vec<SocketAddr>,
    /// Worker threads (shards); 0: one per core.
    pub workers: usize,
    /// Also accept ICE over TCP (RFC 6544, passive candidates) on the bound port number.
    pub ice_tcp: bool,
    /// Estimate each subscriber's bandwidth (TWCC, str0m's GoogCC) and fit its layers to it.
    pub bandwidth_estimation: bool,
    /// UDP GSO on sends and GRO on receives (see [`udp`]).
    pub udp_offload: bool,
    /// How long forwarded packets may wait to be flushed together
    /// ([`shard::ShardSetup::flush_coalesce`]).
    pub flush_coalesce: std::time::Duration,
    /// The bandwidth estimate (bit/s) a new connection starts from
    /// ([`shard::ShardSetup::set_start_estimate`]).
    pub start_estimate: u64,
    /// Receive slots offered to every subscriber.
    pub slots: SlotLayout,
    /// Routing policy.
    pub router: RouterConfig,
    /// Where relays' packets and mirrors' keyframe requests go (cluster nodes); `None`: no
    /// cascade.
    pub relay_sink: Option<Arc<dyn relay::RelaySink>>,
}

/// One negotiated receive slot of a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    /// What the slot shows.
    pub role: SlotRole,
    /// The m-line's mid.
    pub mid: String,
}

/// The result of connecting a peer.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The SDP answer for the browser.
    pub answer: String,
    /// The receive slots, by mid.
    pub slots: Vec<SlotInfo>,
}

/// What the media plane reports to signalling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SfuEvent {
    /// A subscriber's slot shows another participant.
    SlotChanged {
        /// The room.
        room: RoomId,
        /// Whose slot.
        subscriber: PeerId,
        /// Which slot.
        role: SlotRole,
        /// Its mid.
        mid: String,
        /// The participant shown, if any.
        source: Option<PeerId>,
    },
    /// Room-wide news from the router (stage, dominant speaker, dynacast).
    Room {
        /// The room.
        room: RoomId,
        /// What happened.
        event: RoomEvent,
    },
    /// A peer's connection is gone (ICE consent expired, DTLS closed).
    PeerDisconnected {
        /// The room.
        room: RoomId,
        /// The peer.
        peer: PeerId,
    },
}

pub(crate) enum Command {
    Connect {
        peer: PeerId,
        room: RoomId,
        offer: String,
        reply: oneshot::Sender<Result<Connected, SfuError>>,
    },
    Disconnect {
        peer: PeerId,
    },
    SetPublishing {
        peer: PeerId,
        kind: Kind,
        on: bool,
    },
    SetMuted {
        peer: PeerId,
        muted: bool,
    },
    SetAudioAllowed {
        peer: PeerId,
        allowed: bool,
    },
    SetSlotWidth {
        peer: PeerId,
        mid: String,
        width: u32,
    },
    SetStagePin {
        room: RoomId,
        peer: Option<PeerId>,
    },
    AddRelay {
        relay: PeerId,
        room: RoomId,
        layout: SlotLayout,
        widths: Vec<(usize, u32)>,
    },
    RelayKeyframe {
        relay: PeerId,
        slot: usize,
    },
    AddMirror {
        mirror: PeerId,
        room: RoomId,
        kinds: Vec<Kind>,
    },
    RemoveRelay {
        peer: PeerId,
    },
    Inject(Box<relay::InjectedPacket>),
}

/// A cheap, cloneable handle to the running media plane.
#[derive(Debug, Clone)]
pub struct SfuHandle {
    inputs: Arc<[mpsc::UnboundedSender<Input>]>,
    placement: Arc<Mutex<Placement>>,
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
}

/// Which worker owns which peer: a new peer goes to the worker with the fewest.
#[derive(Debug)]
pub(crate) struct Placement {
    owner: FxHashMap<PeerId, usize>,
    load: Vec<usize>,
}

impl Placement {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            owner: FxHashMap::default(),
            load: vec![0; count.max(1)],
        }
    }

    fn place(&mut self, peer: PeerId) -> usize {
        if let Some(&shard) = self.owner.get(&peer) {
            return shard;
        }
        let shard = (0..self.load.len())
            .min_by_key(|&i| self.load[i])
            .unwrap_or(0);
        self.load[shard] += 1;
        self.owner.insert(peer, shard);
        shard
    }

    fn remove(&mut self, peer: PeerId) -> Option<usize> {
        let shard = self.owner.remove(&peer)?;
        self.load[shard] = self.load[shard].saturating_sub(1);
        Some(shard)
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Connect { peer, room, .. } => write!(f, "Connect({peer:?}, {room:?})"),
            Command::Disconnect { peer } => write!(f, "Disconnect({peer:?})"),
            Command::SetPublishing { peer, kind, on } => {
                write!(f, "SetPublishing({peer:?}, {kind:?}, {on})")
            }
            Command::SetMuted { peer, muted } => write!(f, "SetMuted({peer:?}, {muted})"),
            Command::SetAudioAllowed { peer, allowed } => {
                write!(f, "SetAudioAllowed({peer:?}, {allowed})")
            }
            Command::SetSlotWidth { peer, mid, width } => {
                write!(f, "SetSlotWidth({peer:?}, {mid}, {width})")
            }
            Command::SetStagePin { room, peer } => write!(f, "SetStagePin({room:?}, {peer:?})"),
            Command::AddRelay { relay, room, .. } => write!(f, "AddRelay({relay:?}, {room:?})"),
            Command::RelayKeyframe { relay, slot } => {
                write!(f, "RelayKeyframe({relay:?}, {slot})")
            }
            Command::AddMirror { mirror, room, .. } => {
                write!(f, "AddMirror({mirror:?}, {room:?})")
            }
            Command::RemoveRelay { peer } => write!(f, "RemoveRelay({peer:?})"),
            Command::Inject(p) => write!(f, "Inject({:?})", p.mirror),
        }
    }
}

impl SfuHandle {
    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The ICE-TCP listener's address, when ICE-TCP is on.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Number of worker threads (shards).
    pub fn workers(&self) -> usize {
        self.inputs.len()
    }

    /// Negotiate a peer's connection from its SDP offer; the peer joins `room`.
    pub async fn connect(
        &self,
        peer: PeerId,
        room: RoomId,
        offer: String,
    ) -> Result<Connected, SfuError> {
        let (reply, answer) = oneshot::channel();
        let shard = self.placement().place(peer);
        self.send(
            shard,
            Command::Connect {
                peer,
                room,
                offer,
                reply,
            },
        )?;
        answer.await.map_err(|_| SfuError::Unavailable)?
    }

    /// Drop a peer's connection (it left).
    pub fn disconnect(&self, peer: PeerId) -> Result<(), SfuError> {
        match self.placement().remove(peer) {
            Some(shard) => self.send(shard, Command::Disconnect { peer }),
            None => Ok(()),
        }
    }

    /// Start/stop forwarding a peer's microphone or camera.
    pub fn set_publishing(&self, peer: PeerId, kind: Kind, on: bool) -> Result<(), SfuError> {
        self.send_to_owner(peer, Command::SetPublishing { peer, kind, on })
    }

    /// Server-side mute: a muted peer's audio is not forwarded.
    pub fn set_muted(&self, peer: PeerId, muted: bool) -> Result<(), SfuError> {
        self.send_to_owner(peer, Command::SetMuted { peer, muted })
    }

    /// Floor control: whether a peer's audio may be forwarded at all. A new peer starts
    /// *not* allowed (fail closed) until the control plane says otherwise.
    pub fn set_audio_allowed(&self, peer: PeerId, allowed: bool) -> Result<(), SfuError> {
        self.send_to_owner(peer, Command::SetAudioAllowed { peer, allowed })
    }

    /// The subscriber renders its receive slot `mid` `width` pixels wide (layer choice).
    pub fn set_slot_width(&self, peer: PeerId, mid: String, width: u32) -> Result<(), SfuError> {
        self.send_to_owner(peer, Command::SetSlotWidth { peer, mid, width })
    }

    /// Pin a peer to the room's stage, or follow the speaker (`None`).
    pub fn set_stage_pin(&self, room: RoomId, peer: Option<PeerId>) -> Result<(), SfuError> {
        let home = shard::home_of(room, self.inputs.len());
        self.send(home, Command::SetStagePin { room, peer })
    }

    /// Origin side: a relay (`relay`) joins `room` with these receive slots and widths; its
    /// packets go to the media plane's [`relay::RelaySink`].
    pub fn add_relay(
        &self,
        relay: PeerId,
        room: RoomId,
        layout: SlotLayout,
        widths: Vec<(usize, u32)>,
    ) -> Result<(), SfuError> {
        let cmd = Command::AddRelay {
            relay,
            room,
            layout,
            widths,
        };
        self.send_home(room, cmd)
    }

    /// Origin side: the edge behind `relay` wants a keyframe on slot `slot`.
    pub fn relay_keyframe_request(
        &self,
        relay: PeerId,
        room: RoomId,
        slot: usize,
    ) -> Result<(), SfuError> {
        self.send_home(room, Command::RelayKeyframe { relay, slot })
    }

    /// Edge side: a mirror publisher (`mirror`) of `kinds` joins `room`.
    pub fn add_mirror(
        &self,
        mirror: PeerId,
        room: RoomId,
        kinds: Vec<Kind>,
    ) -> Result<(), SfuError> {
        self.send_home(
            room,
            Command::AddMirror {
                mirror,
                room,
                kinds,
            },
        )
    }

    /// A relay or mirror of `room` leaves.
    pub fn remove_relay(&self, peer: PeerId, room: RoomId) -> Result<(), SfuError> {
        self.send_home(room, Command::RemoveRelay { peer })
    }

    /// Edge side: a packet from the origin for a mirror of `room`.
    pub fn inject(&self, room: RoomId, packet: relay::InjectedPacket) -> Result<(), SfuError> {
        self.send_home(room, Command::Inject(Box::new(packet)))
    }

    fn send_home(&self, room: RoomId, cmd: Command) -> Result<(), SfuError> {
        let home = shard::home_of(room, self.inputs.len());
        self.send(home, cmd)
    }

    fn placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        // The map stays consistent whatever panicked while holding it: use it anyway.
        self.placement.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commands about a peer go to the worker that owns it; a peer without a connection
    /// (never connected, or gone) has nothing to change.
    fn send_to_owner(&self, peer: PeerId, cmd: Command) -> Result<(), SfuError> {
        let owner = self.placement().owner.get(&peer).copied();
        match owner {
            Some(shard) => self.send(shard, cmd),
            None => Ok(()),
        }
    }

    fn send(&self, shard: usize, cmd: Command) -> Result<(), SfuError> {
        self.inputs
            .get(shard)
            .ok_or(SfuError::Unavailable)?
            .send(Input::Command(cmd))
            .map_err(|_| SfuError::Unavailable)
    }
}

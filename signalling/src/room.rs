//! Rooms: one actor task per active room owns its membership and talks to the media plane.
//!
//! Connections send [`RoomMsg`]s and get answers on oneshot channels; the actor pushes
//! events to every member's outbound channel. Media-plane events arrive through
//! [`Rooms::dispatch_sfu_events`], which routes them to the right actor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use plenum_sfu::{Connected, Kind, PeerId, RoomId, SfuError, SfuEvent, SfuHandle, SlotRole};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::auth::{Claims, Role};
use crate::protocol::{
    CloseReason, ErrorBody, ErrorCode, Event, MediaKindArg, ParticipantInfo, SlotAssignment,
};
use crate::storage::{RoomRecord, Store};

/// What the actor sends to a connection's writer.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// An event for the client.
    Event(Event),
    /// Send `closing` with this reason, then close.
    Close(CloseReason),
}

/// A connection's identity within a room: a participant may reconnect (new connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

type Reply = oneshot::Sender<Result<serde_json::Value, ErrorBody>>;

/// Messages a room actor handles.
#[derive(Debug)]
pub enum RoomMsg {
    /// A verified participant enters.
    Join {
        /// The token's claims.
        claims: Claims,
        /// The connection.
        conn: ConnId,
        /// Where to send events.
        out: mpsc::UnboundedSender<Outbound>,
        /// The join result.
        reply: Reply,
    },
    /// A command of a joined participant.
    Command {
        /// Who.
        participant: String,
        /// From which connection.
        conn: ConnId,
        /// What.
        command: MemberCommand,
        /// The answer.
        reply: Reply,
    },
    /// The media plane finished negotiating an offer.
    Negotiated {
        participant: String,
        conn: ConnId,
        peer: PeerId,
        result: Result<Connected, SfuError>,
        reply: Reply,
    },
    /// The connection is gone.
    Disconnected {
        /// Who.
        participant: String,
        /// Which connection.
        conn: ConnId,
    },
    /// An event of the media plane.
    Sfu(SfuEvent),
}

/// Commands that act on room state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberCommand {
    /// SDP offer.
    Offer(String),
    /// Start/stop forwarding.
    Publish(MediaKindArg, bool),
    /// Own mute.
    SetMuted(bool),
    /// Moderator: pin stage.
    SetStage(Option<String>),
    /// Leave.
    Leave,
}

/// A handle to a room actor.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    /// The room's id.
    pub id: String,
    tx: mpsc::UnboundedSender<RoomMsg>,
}

impl RoomHandle {
    /// Send a message; fails only if the actor is gone (shutdown).
    pub fn send(&self, msg: RoomMsg) -> Result<(), ErrorBody> {
        self.tx
            .send(msg)
            .map_err(|_| ErrorBody::new(ErrorCode::Internal, "the room is closed"))
    }
}

/// All active rooms of this server.
#[derive(Debug)]
pub struct Rooms {
    store: Arc<dyn Store>,
    sfu: SfuHandle,
    active: Mutex<HashMap<String, RoomHandle>>,
    by_sfu_room: Mutex<HashMap<RoomId, RoomHandle>>,
    next_room: AtomicU64,
    next_peer: Arc<AtomicU64>,
}

impl Rooms {
    /// Rooms backed by `store`, media through `sfu`.
    pub fn new(store: Arc<dyn Store>, sfu: SfuHandle) -> Self {
        Self {
            store,
            sfu,
            active: Mutex::new(HashMap::new()),
            by_sfu_room: Mutex::new(HashMap::new()),
            next_room: AtomicU64::new(1),
            next_peer: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The actor of a stored room, started on first use. `None` if no such room exists.
    pub fn get_or_start(&self, room_id: &str) -> Result<Option<RoomHandle>, ErrorBody> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = active.get(room_id) {
            return Ok(Some(h.clone()));
        }
        let record = self.store.room(room_id).map_err(|e| {
            warn!("room lookup failed: {e}");
            ErrorBody::new(ErrorCode::Internal, "storage unavailable")
        })?;
        let Some(record) = record else {
            return Ok(None);
        };
        let sfu_room = RoomId(self.next_room.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = RoomHandle {
            id: record.id.clone(),
            tx: tx.clone(),
        };
        let actor = RoomActor {
            record,
            sfu_room,
            sfu: self.sfu.clone(),
            tx,
            next_peer: self.next_peer.clone(),
            members: HashMap::new(),
            by_peer: HashMap::new(),
            stage: None,
            pinned: false,
        };
        tokio::spawn(actor.run(rx));
        active.insert(room_id.to_owned(), handle.clone());
        self.by_sfu_room
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sfu_room, handle.clone());
        Ok(Some(handle))
    }

    /// Route media-plane events to room actors until the media plane stops.
    pub async fn dispatch_sfu_events(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<SfuEvent>,
    ) {
        while let Some(event) = events.recv().await {
            let room = match &event {
                SfuEvent::SlotChanged { room, .. }
                | SfuEvent::StageChanged { room, .. }
                | SfuEvent::PeerDisconnected { room, .. } => *room,
            };
            let handle = self
                .by_sfu_room
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&room)
                .cloned();
            if let Some(h) = handle {
                let _ = h.send(RoomMsg::Sfu(event));
            }
        }
    }
}

#[derive(Debug)]
struct Member {
    info: ParticipantInfo,
    role: Role,
    conn: ConnId,
    out: mpsc::UnboundedSender<Outbound>,
    peer: Option<PeerId>,
    /// mid → current assignment of this member's receive slots.
    slots: HashMap<String, SlotAssignment>,
}

struct RoomActor {
    record: RoomRecord,
    sfu_room: RoomId,
    sfu: SfuHandle,
    tx: mpsc::UnboundedSender<RoomMsg>,
    next_peer: Arc<AtomicU64>,
    /// By participant id.
    members: HashMap<String, Member>,
    by_peer: HashMap<PeerId, String>,
    stage: Option<String>,
    pinned: bool,
}

impl RoomActor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RoomMsg>) {
        info!(room = %self.record.id, "room active");
        while let Some(msg) = rx.recv().await {
            self.handle(msg);
        }
    }

    fn handle(&mut self, msg: RoomMsg) {
        match msg {
            RoomMsg::Join {
                claims,
                conn,
                out,
                reply,
            } => {
                let _ = reply.send(Ok(self.join(claims, conn, out)));
            }
            RoomMsg::Command {
                participant,
                conn,
                command,
                reply,
            } => {
                if !self.is_current(&participant, conn) {
                    let _ = reply.send(Err(ErrorBody::new(
                        ErrorCode::NotJoined,
                        "this connection is no longer in the room",
                    )));
                    return;
                }
                match command {
                    MemberCommand::Offer(sdp) => self.offer(participant, conn, sdp, reply),
                    other => {
                        let _ = reply.send(self.command(&participant, other));
                    }
                }
            }
            RoomMsg::Negotiated {
                participant,
                conn,
                peer,
                result,
                reply,
            } => {
                let _ = reply.send(self.negotiated(&participant, conn, peer, result));
            }
            RoomMsg::Disconnected { participant, conn } => {
                if self.is_current(&participant, conn) {
                    self.remove(&participant);
                }
            }
            RoomMsg::Sfu(event) => self.sfu_event(event),
        }
    }

    fn is_current(&self, participant: &str, conn: ConnId) -> bool {
        self.members
            .get(participant)
            .is_some_and(|m| m.conn == conn)
    }

    fn join(
        &mut self,
        claims: Claims,
        conn: ConnId,
        out: mpsc::UnboundedSender<Outbound>,
    ) -> serde_json::Value {
        if let Some(old) = self.members.get(&claims.sub) {
            // Same participant on a new connection (second tab, device, reconnect).
            let _ = old.out.send(Outbound::Close(CloseReason::Replaced));
            self.remove(&claims.sub.clone());
        }
        let info = ParticipantInfo {
            id: claims.sub.clone(),
            name: claims.name.clone(),
            role: claims.role.as_str().to_owned(),
            audio: false,
            video: false,
            muted: false,
        };
        let others: Vec<ParticipantInfo> = self.members.values().map(|m| m.info.clone()).collect();
        self.broadcast(Event::ParticipantJoined {
            participant: info.clone(),
        });
        self.members.insert(
            claims.sub.clone(),
            Member {
                info: info.clone(),
                role: claims.role,
                conn,
                out,
                peer: None,
                slots: HashMap::new(),
            },
        );
        info!(room = %self.record.id, members = self.members.len(), "participant joined");
        json!({
            "participant": info,
            "room": { "id": self.record.id, "name": self.record.name },
            "participants": others,
            "stage": self.stage,
            "pinned": self.pinned,
        })
    }

    fn offer(&mut self, participant: String, conn: ConnId, sdp: String, reply: Reply) {
        let Some(member) = self.members.get_mut(&participant) else {
            return;
        };
        if member.peer.is_some() {
            let _ = reply.send(Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "media is already negotiated on this connection",
            )));
            return;
        }
        let peer = PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed));
        member.peer = Some(peer);
        self.by_peer.insert(peer, participant.clone());
        let sfu = self.sfu.clone();
        let room = self.sfu_room;
        let tx = self.tx.clone();
        // Negotiation runs outside the actor; the result comes back as `Negotiated`. An
        // observer's send m-lines are accepted but never forwarded: `publish` is refused.
        tokio::spawn(async move {
            let result = sfu.connect(peer, room, sdp).await;
            let _ = tx.send(RoomMsg::Negotiated {
                participant,
                conn,
                peer,
                result,
                reply,
            });
        });
    }

    fn negotiated(
        &mut self,
        participant: &str,
        conn: ConnId,
        peer: PeerId,
        result: Result<Connected, SfuError>,
    ) -> Result<serde_json::Value, ErrorBody> {
        let current = self.is_current(participant, conn);
        let connected = match result {
            Ok(c) => c,
            Err(e) => {
                self.by_peer.remove(&peer);
                if let Some(m) = self.members.get_mut(participant)
                    && m.peer == Some(peer)
                {
                    m.peer = None;
                }
                return Err(match e {
                    SfuError::InvalidSdp(msg) => ErrorBody::new(ErrorCode::InvalidSdp, msg),
                    other => ErrorBody::new(ErrorCode::MediaUnavailable, other.to_string()),
                });
            }
        };
        if !current {
            let _ = self.sfu.disconnect(peer);
            return Err(ErrorBody::new(
                ErrorCode::NotJoined,
                "this connection is no longer in the room",
            ));
        }
        let Some(member) = self.members.get(participant) else {
            return Err(ErrorBody::new(ErrorCode::NotJoined, "not in the room"));
        };
        let slots: Vec<SlotAssignment> = connected
            .slots
            .iter()
            .map(|s| {
                member.slots.get(&s.mid).cloned().unwrap_or(SlotAssignment {
                    slot: s.role.name(),
                    mid: s.mid.clone(),
                    kind: role_kind(s.role),
                    participant_id: None,
                })
            })
            .collect();
        Ok(json!({ "sdp": connected.answer, "slots": slots }))
    }

    fn command(
        &mut self,
        participant: &str,
        command: MemberCommand,
    ) -> Result<serde_json::Value, ErrorBody> {
        let Some(member) = self.members.get_mut(participant) else {
            return Err(ErrorBody::new(ErrorCode::NotJoined, "not in the room"));
        };
        match command {
            MemberCommand::Publish(kind, on) => {
                if on && !member.role.may_publish() {
                    return Err(ErrorBody::new(
                        ErrorCode::Forbidden,
                        "observers may not publish",
                    ));
                }
                let sfu_kind = match kind {
                    MediaKindArg::Audio => {
                        member.info.audio = on;
                        Kind::Audio
                    }
                    MediaKindArg::Video => {
                        member.info.video = on;
                        Kind::Video
                    }
                };
                if let Some(peer) = member.peer {
                    self.sfu
                        .set_publishing(peer, sfu_kind, on)
                        .map_err(media_unavailable)?;
                }
                let info = member.info.clone();
                self.broadcast(Event::ParticipantUpdated { participant: info });
            }
            MemberCommand::SetMuted(muted) => {
                member.info.muted = muted;
                if let Some(peer) = member.peer {
                    self.sfu.set_muted(peer, muted).map_err(media_unavailable)?;
                }
                let info = member.info.clone();
                self.broadcast(Event::ParticipantUpdated { participant: info });
            }
            MemberCommand::SetStage(target) => {
                if !member.role.may_moderate() {
                    return Err(ErrorBody::new(
                        ErrorCode::Forbidden,
                        "only moderators may set the stage",
                    ));
                }
                let peer = match &target {
                    None => None,
                    Some(id) => {
                        let Some(m) = self.members.get(id) else {
                            return Err(ErrorBody::new(
                                ErrorCode::NotFound,
                                format!("participant {id} is not in the room"),
                            ));
                        };
                        let Some(peer) = m.peer else {
                            return Err(ErrorBody::new(
                                ErrorCode::BadRequest,
                                format!("participant {id} has no media connection yet"),
                            ));
                        };
                        Some(peer)
                    }
                };
                self.sfu
                    .set_stage_pin(self.sfu_room, peer)
                    .map_err(media_unavailable)?;
            }
            MemberCommand::Leave => {
                if let Some(m) = self.members.get(participant) {
                    let _ = m.out.send(Outbound::Close(CloseReason::Left));
                }
                self.remove(participant);
            }
            MemberCommand::Offer(_) => {
                return Err(ErrorBody::new(ErrorCode::Internal, "offer routed wrongly"));
            }
        }
        Ok(json!({}))
    }

    fn remove(&mut self, participant: &str) {
        let Some(member) = self.members.remove(participant) else {
            return;
        };
        if let Some(peer) = member.peer {
            self.by_peer.remove(&peer);
            let _ = self.sfu.disconnect(peer);
        }
        self.broadcast(Event::ParticipantLeft {
            participant_id: participant.to_owned(),
        });
        info!(room = %self.record.id, members = self.members.len(), "participant left");
    }

    fn sfu_event(&mut self, event: SfuEvent) {
        match event {
            SfuEvent::SlotChanged {
                subscriber,
                role,
                mid,
                source,
                ..
            } => {
                let source_id = source.and_then(|p| self.by_peer.get(&p).cloned());
                let Some(id) = self.by_peer.get(&subscriber) else {
                    return;
                };
                let Some(member) = self.members.get_mut(id) else {
                    return;
                };
                let assignment = SlotAssignment {
                    slot: role.name(),
                    mid: mid.clone(),
                    kind: role_kind(role),
                    participant_id: source_id,
                };
                member.slots.insert(mid, assignment.clone());
                let _ = member.out.send(Outbound::Event(Event::SlotsChanged {
                    slots: vec![assignment],
                }));
            }
            SfuEvent::StageChanged { stage, pinned, .. } => {
                self.stage = stage.and_then(|p| self.by_peer.get(&p).cloned());
                self.pinned = pinned;
                self.broadcast(Event::StageChanged {
                    participant_id: self.stage.clone(),
                    pinned,
                });
            }
            SfuEvent::PeerDisconnected { peer, .. } => {
                // The browser's media connection died: end the session so the client can
                // rejoin cleanly.
                if let Some(id) = self.by_peer.get(&peer).cloned() {
                    if let Some(m) = self.members.get(&id) {
                        let _ = m.out.send(Outbound::Close(CloseReason::Error));
                    }
                    self.remove(&id);
                }
            }
        }
    }

    fn broadcast(&self, event: Event) {
        for m in self.members.values() {
            let _ = m.out.send(Outbound::Event(event.clone()));
        }
    }
}

fn role_kind(role: SlotRole) -> MediaKindArg {
    match role.kind() {
        Kind::Audio => MediaKindArg::Audio,
        Kind::Video => MediaKindArg::Video,
    }
}

fn media_unavailable(e: SfuError) -> ErrorBody {
    ErrorBody::new(ErrorCode::MediaUnavailable, e.to_string())
}

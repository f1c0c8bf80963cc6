//! Rooms: one actor task per active room owns its membership, its congress state and its
//! link to the media plane.
//!
//! Connections send [`RoomMsg`]s and get answers on oneshot channels; the actor pushes
//! events to every member's outbound channel. Media-plane events arrive through
//! [`Rooms::dispatch_sfu_events`], which routes them to the right actor. Congress control
//! (roles, lobby, speaker queue, floor) is in [`congress`]; its state is stored before a
//! command is answered.

mod ballots;
mod congress;
mod invites;
mod plugins;
mod verifiable;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plenum_sfu::{
    Connected, Kind, PeerId, RoomEvent, RoomId, SfuError, SfuEvent, SfuHandle, SlotLayout, SlotRole,
};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

pub use congress::{AgendaCall, CongressState, SessionLog};

use crate::auth::{Claims, Role};
use crate::authz::{self, GrantOverrides};
use crate::plugin::{PluginHost, Registry};
use crate::protocol::{
    CloseReason, Command, ErrorBody, ErrorCode, Event, MediaKindArg, ParticipantInfo,
    SlotAssignment,
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
    /// A command of a joined participant (anything but `join` and `ping`).
    Command {
        /// Who.
        participant: String,
        /// From which connection.
        conn: ConnId,
        /// What.
        command: Command,
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
    /// A participant's invite was revoked (elsewhere, e.g. by the CLI): end their session.
    Revoked {
        /// Whose.
        participant: String,
    },
    /// A member was erased: end their session and call them `pseudonym` in the room's state
    /// and its plugins' data (docs/privacy.md, *Erasure*). `done` answers once it is stored.
    Erase {
        /// Their participant id in this room.
        participant: String,
        /// The name that replaces theirs.
        pseudonym: String,
        /// `Err` if storing failed.
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// A handle to a room actor.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    /// The room's id.
    pub id: String,
    /// The room's id in the media plane.
    pub media_room: RoomId,
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

/// Who is in which room right now (participant ids of members who joined and are not
/// waiting in the lobby), kept by the room actors for readers outside them: congress
/// administration's attendance, reports. Cheap to clone; one lock, held for a set update.
#[derive(Debug, Clone, Default)]
pub struct Presence(Arc<Mutex<HashMap<String, std::collections::BTreeSet<String>>>>);

impl Presence {
    fn set(&self, room: &str, participant: &str, present: bool) {
        let mut rooms = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if present {
            rooms
                .entry(room.to_owned())
                .or_default()
                .insert(participant.to_owned());
        } else if let Some(set) = rooms.get_mut(room) {
            set.remove(participant);
            if set.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// The participants present in `room`.
    pub fn of(&self, room: &str) -> std::collections::BTreeSet<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(room)
            .cloned()
            .unwrap_or_default()
    }
}

/// Unix time in milliseconds; injected so tests can run on their own clock.
pub type ClockMs = fn() -> u64;

/// All active rooms of this server.
#[derive(Debug)]
pub struct Rooms {
    store: Arc<dyn Store>,
    sfu: SfuHandle,
    slots: SlotLayout,
    now_ms: ClockMs,
    plugins: Registry,
    active: Mutex<HashMap<String, RoomHandle>>,
    presence: Presence,
    by_sfu_room: Mutex<HashMap<RoomId, RoomHandle>>,
    next_room: AtomicU64,
    next_peer: Arc<AtomicU64>,
    max_participants: usize,
}

impl Rooms {
    /// Rooms backed by `store`, media through `sfu`; clients offer `slots` receive slots;
    /// every room runs the `plugins`.
    pub fn new(
        store: Arc<dyn Store>,
        sfu: SfuHandle,
        slots: SlotLayout,
        now_ms: ClockMs,
        plugins: Registry,
    ) -> Self {
        Self {
            store,
            sfu,
            slots,
            now_ms,
            plugins,
            active: Mutex::new(HashMap::new()),
            presence: Presence::default(),
            by_sfu_room: Mutex::new(HashMap::new()),
            next_room: AtomicU64::new(1),
            next_peer: Arc::new(AtomicU64::new(1)),
            max_participants: usize::MAX,
        }
    }

    /// At most `n` participants per room (the lobby included); moderators and admins are
    /// admitted beyond it, so a full room never locks out its chair.
    pub fn with_max_participants(mut self, n: usize) -> Self {
        self.max_participants = n;
        self
    }

    /// The plugins every room runs.
    pub fn plugins(&self) -> &Registry {
        &self.plugins
    }

    /// Who is in which room (kept current by the room actors).
    pub fn presence(&self) -> Presence {
        self.presence.clone()
    }

    /// The actor of a stored room, started on first use (with its stored congress state).
    /// `None` if no such room exists.
    pub fn get_or_start(&self, room_id: &str) -> Result<Option<RoomHandle>, ErrorBody> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = active.get(room_id) {
            return Ok(Some(h.clone()));
        }
        let storage_error = |e: crate::storage::StorageError| {
            warn!("room lookup failed: {e}");
            ErrorBody::new(ErrorCode::Internal, "storage unavailable")
        };
        let Some(record) = self.store.room(room_id).map_err(storage_error)? else {
            return Ok(None);
        };
        let state = match self.store.room_state(room_id).map_err(storage_error)? {
            None => CongressState::default(),
            Some(json) => CongressState::from_json(&json).map_err(|e| {
                warn!(room = room_id, "stored room state unreadable: {e}");
                ErrorBody::new(ErrorCode::Internal, "the room's stored state is unreadable")
            })?,
        };
        let polls = ballots::load(self.store.as_ref(), room_id).map_err(storage_error)?;
        // Stays still open were cut short by a stop of the server.
        self.store
            .close_stays(room_id, (self.now_ms)())
            .map_err(storage_error)?;
        let sfu_room = RoomId(self.next_room.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = RoomHandle {
            id: record.id.clone(),
            media_room: sfu_room,
            tx: tx.clone(),
        };
        let mut actor = RoomActor {
            plugins: self.plugins.host(),
            presence: self.presence.clone(),
            record,
            sfu_room,
            sfu: self.sfu.clone(),
            store: self.store.clone(),
            slots: self.slots,
            max_participants: self.max_participants,
            now_ms: self.now_ms,
            tx,
            next_peer: self.next_peer.clone(),
            state,
            polls,
            members: HashMap::new(),
            by_peer: HashMap::new(),
            stage: None,
            pinned: false,
            applied_pin: None,
        };
        actor.plugins_started();
        tokio::spawn(actor.run(rx));
        active.insert(room_id.to_owned(), handle.clone());
        self.by_sfu_room
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sfu_room, handle.clone());
        Ok(Some(handle))
    }

    /// A fresh media-plane peer id (for a relay to another node: docs/cluster.md).
    pub fn next_peer_id(&self) -> PeerId {
        PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed))
    }

    /// Every `every`, look for invites revoked outside the room actors (the CLI) and end
    /// their live sessions. Runs until the process ends.
    pub async fn watch_revocations(self: Arc<Self>, every: Duration) {
        let mut seen: std::collections::HashSet<String> = match self.store.revoked_invites() {
            Ok(r) => r.into_iter().map(|(id, _, _)| id).collect(),
            Err(e) => {
                warn!("reading revoked invites failed: {e}");
                Default::default()
            }
        };
        loop {
            tokio::time::sleep(every).await;
            let revoked = match self.store.revoked_invites() {
                Ok(r) => r,
                Err(e) => {
                    warn!("reading revoked invites failed: {e}");
                    continue;
                }
            };
            for (id, room, participant) in revoked {
                if !seen.insert(id) {
                    continue;
                }
                let handle = self
                    .active
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&room)
                    .cloned();
                if let Some(h) = handle {
                    let _ = h.send(RoomMsg::Revoked { participant });
                }
            }
        }
    }

    /// Route media-plane events to room actors until the media plane stops.
    pub async fn dispatch_sfu_events(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<SfuEvent>,
    ) {
        while let Some(event) = events.recv().await {
            let room = match &event {
                SfuEvent::SlotChanged { room, .. }
                | SfuEvent::Room { room, .. }
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
    /// The effective role (token role with overrides).
    role: Role,
    /// What the token said.
    token_role: Role,
    token_grants: Option<GrantOverrides>,
    conn: ConnId,
    out: mpsc::UnboundedSender<Outbound>,
    peer: Option<PeerId>,
    /// What the media plane was last told about this member's audio.
    applied_heard: Option<bool>,
    /// mid → current assignment of this member's receive slots.
    slots: HashMap<String, SlotAssignment>,
    /// Waiting in the lobby.
    waiting: bool,
}

struct RoomActor {
    record: RoomRecord,
    presence: Presence,
    sfu_room: RoomId,
    sfu: SfuHandle,
    store: Arc<dyn Store>,
    slots: SlotLayout,
    /// See [`Rooms::with_max_participants`].
    max_participants: usize,
    now_ms: ClockMs,
    tx: mpsc::UnboundedSender<RoomMsg>,
    next_peer: Arc<AtomicU64>,
    /// Everything that survives a restart.
    state: CongressState,
    /// The room's polls (also in the store, which is the authority).
    polls: Vec<ballots::Poll>,
    /// The room's plugins.
    plugins: PluginHost,
    /// By participant id, including those waiting in the lobby.
    members: HashMap<String, Member>,
    by_peer: HashMap<PeerId, String>,
    /// The stage as the media plane reports it.
    stage: Option<String>,
    pinned: bool,
    /// The stage pin the media plane was last given.
    applied_pin: Option<Option<PeerId>>,
}

impl RoomActor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RoomMsg>) {
        info!(room = %self.record.id, "room active");
        loop {
            let next = [
                self.state.queue.next_deadline_ms(),
                self.plugins.next_timer(),
            ]
            .into_iter()
            .flatten()
            .min();
            let wait = next.map(|at| Duration::from_millis(at.saturating_sub((self.now_ms)())));
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                () = sleep_or_never(wait) => {
                    self.tick();
                    self.plugins_tick();
                }
            }
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
                let _ = reply.send(self.join(claims, conn, out));
            }
            RoomMsg::Command {
                participant,
                conn,
                command,
                reply,
            } => {
                if let Err(e) = self.authorize(&participant, conn, &command) {
                    let _ = reply.send(Err(e));
                    return;
                }
                match command {
                    Command::Offer { sdp, front } => {
                        self.offer(participant, conn, sdp, front, reply)
                    }
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
                self.sync_media();
            }
            RoomMsg::Disconnected { participant, conn } => {
                if self.is_current(&participant, conn) {
                    self.remove(&participant);
                }
            }
            RoomMsg::Sfu(event) => self.sfu_event(event),
            RoomMsg::Revoked { participant } => self.end_revoked(&participant),
            RoomMsg::Erase {
                participant,
                pseudonym,
                done,
            } => {
                let _ = done.send(self.erase(&participant, &pseudonym));
            }
        }
    }

    fn is_current(&self, participant: &str, conn: ConnId) -> bool {
        self.members
            .get(participant)
            .is_some_and(|m| m.conn == conn)
    }

    /// The one gate every command passes: current connection, lobby, then the grants table.
    fn authorize(
        &self,
        participant: &str,
        conn: ConnId,
        command: &Command,
    ) -> Result<(), ErrorBody> {
        let member = self
            .members
            .get(participant)
            .filter(|m| m.conn == conn)
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::NotJoined,
                    "this connection is no longer in the room",
                )
            })?;
        if member.waiting && !authz::allowed_in_lobby(command) {
            return Err(ErrorBody::new(
                ErrorCode::InLobby,
                "you are waiting in the lobby",
            ));
        }
        let holds_floor = self.state.queue.floor_holder() == Some(participant);
        authz::check(&member.info.grants, holds_floor, command)
    }

    fn join(
        &mut self,
        claims: Claims,
        conn: ConnId,
        out: mpsc::UnboundedSender<Outbound>,
    ) -> Result<serde_json::Value, ErrorBody> {
        if self.state.banned.contains(&claims.sub) {
            return Err(ErrorBody::new(
                ErrorCode::Banned,
                "a moderator removed you from this room",
            ));
        }
        let chair = matches!(claims.role, Role::Moderator | Role::Admin);
        if !chair
            && !self.members.contains_key(&claims.sub)
            && self.members.len() >= self.max_participants
        {
            return Err(ErrorBody::new(
                ErrorCode::RoomFull,
                format!(
                    "the room is full: it admits {} participants",
                    self.max_participants
                ),
            ));
        }
        if let Some(old) = self.members.get(&claims.sub) {
            // Same participant on a new connection (second tab, device, reconnect). The
            // moderators hear of it: a takeover nobody expected is a leaked link to revoke.
            let _ = old.out.send(Outbound::Close(CloseReason::Replaced));
            self.remove(&claims.sub.clone());
            self.send_moderators(Event::SessionReplaced {
                participant_id: claims.sub.clone(),
            });
        }
        let id = claims.sub.clone();
        let mut member = Member {
            info: ParticipantInfo {
                id: id.clone(),
                name: claims.name.clone(),
                role: String::new(),
                audio: false,
                video: false,
                muted: false,
                grants: authz::Grants::for_role(Role::Observer),
                heard: false,
                force_muted: false,
            },
            role: claims.role,
            token_role: claims.role,
            token_grants: claims.grants.clone(),
            conn,
            out,
            peer: None,
            applied_heard: None,
            slots: HashMap::new(),
            waiting: false,
        };
        self.state.effective(&mut member);
        member.waiting =
            self.state.lobby && !member.info.grants.moderate && !self.state.admitted.contains(&id);
        let waiting = member.waiting;
        let info = member.info.clone();
        self.members.insert(id.clone(), member);
        info!(room = %self.record.id, members = self.members.len(), waiting, "participant joined");
        if waiting {
            self.send_lobby();
            return Ok(json!({
                "lobby": "waiting",
                "participant": info,
                "room": { "id": self.record.id, "name": self.record.name },
            }));
        }
        self.enter(&id);
        Ok(self.join_result(&id))
    }

    /// A member (new, or admitted from the lobby) becomes visible to the room.
    fn enter(&mut self, id: &str) {
        let Some(info) = self.members.get(id).map(|m| m.info.clone()) else {
            return;
        };
        self.presence.set(&self.record.id, id, true);
        if let Err(e) = self.store.record_join(&self.record.id, id, (self.now_ms)()) {
            warn!(room = %self.record.id, "recording attendance failed: {e}");
        }
        self.broadcast_except(id, Event::ParticipantJoined { participant: info });
        self.plugins_joined(id);
        self.send_dkg_records(id);
    }

    /// What `join` (and `admitted`) returns to a member in the room.
    fn join_result(&self, id: &str) -> serde_json::Value {
        let now = (self.now_ms)();
        let me = self.members.get(id).map(|m| m.info.clone());
        let moderate = me.as_ref().is_some_and(|i| i.grants.moderate);
        let mut result = json!({
            "participant": me,
            "room": { "id": self.record.id, "name": self.record.name },
            "participants": self.present().filter(|m| m.info.id != id).map(|m| m.info.clone()).collect::<Vec<_>>(),
            "stage": self.stage,
            "pinned": self.pinned,
            "slots": {
                "stage": self.slots.stage,
                "tiles": self.slots.tiles,
                "audio": self.slots.audio,
            },
            "mode": self.state.mode,
            "session": self.state.session,
            "agenda": self.store.event(&self.record.id).ok().flatten().map(|e| e.agenda).unwrap_or_default(),
            "queue": self.state.queue.view(now),
            "polls": self.poll_views(id),
            "proxy": self.state.proxies.get(id).map(|p| p.proxy_id.clone()),
        });
        if moderate {
            result["lobby"] = json!({ "enabled": self.state.lobby, "waiting": self.waiting() });
        }
        result
    }

    fn offer(
        &mut self,
        participant: String,
        conn: ConnId,
        sdp: String,
        front: crate::offer::Front,
        reply: Reply,
    ) {
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
        // The documented shape, before the media plane parses anything.
        if let Err(why) = crate::offer::check(&sdp, front, member.info.grants.publish, self.slots) {
            let _ = reply.send(Err(ErrorBody::new(ErrorCode::InvalidSdp, why)));
            return;
        }
        let peer = PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed));
        member.peer = Some(peer);
        member.applied_heard = None;
        self.by_peer.insert(peer, participant.clone());
        let sfu = self.sfu.clone();
        let room = self.sfu_room;
        let tx = self.tx.clone();
        // Negotiation runs outside the actor; the result comes back as `Negotiated`. The
        // media plane forwards none of the peer's audio until `sync_media` allows it, and an
        // observer's send m-lines are never forwarded: `publish` is refused.
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
        command: Command,
    ) -> Result<serde_json::Value, ErrorBody> {
        let Some(member) = self.members.get_mut(participant) else {
            return Err(ErrorBody::new(ErrorCode::NotJoined, "not in the room"));
        };
        match command {
            Command::Publish { kind } | Command::Unpublish { kind } => {
                let on = matches!(command, Command::Publish { .. });
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
            Command::SetMuted { muted } => {
                member.info.muted = muted;
                if let Some(peer) = member.peer {
                    self.sfu.set_muted(peer, muted).map_err(media_unavailable)?;
                }
                let info = member.info.clone();
                self.broadcast(Event::ParticipantUpdated { participant: info });
            }
            Command::Leave => {
                // The connection sends the answer, then `closing` (left) itself: sending the
                // close from here could overtake the answer.
                self.remove(participant);
            }
            Command::QueueHistory => {
                return Ok(json!({ "speeches": self.state.queue.history() }));
            }
            Command::SetSlotSizes { slots } => {
                if let Some(peer) = member.peer {
                    for s in slots {
                        self.sfu
                            .set_slot_width(peer, s.mid, s.width)
                            .map_err(media_unavailable)?;
                    }
                }
            }
            Command::Join { .. } | Command::Ping | Command::Offer { .. } => {
                return Err(ErrorBody::new(
                    ErrorCode::Internal,
                    "command routed wrongly",
                ));
            }
            poll @ (Command::PollCreate { .. }
            | Command::PollOpen { .. }
            | Command::PollClose { .. }
            | Command::PollPublish { .. }
            | Command::PollCancel { .. }
            | Command::CastVote { .. }
            | Command::PollList
            | Command::PollReceipts { .. }
            | Command::SetProxy { .. }
            | Command::AuditExport) => return self.ballot_command(participant, poll),
            verifiable @ (Command::DkgKey { .. }
            | Command::DkgDeal { .. }
            | Command::DkgComplain { .. }
            | Command::DkgAnswer { .. }
            | Command::PollDkgAdvance { .. }
            | Command::CastBallot { .. }
            | Command::DkgDecrypt { .. }
            | Command::PollBoard { .. }) => {
                return self.verifiable_command(participant, verifiable);
            }
            Command::Plugin { ns, body } => return self.plugin_command(participant, &ns, body),
            invite @ (Command::InviteList | Command::InviteRevoke { .. }) => {
                return self.invite_command(participant, invite);
            }
            congress => return self.congress(participant, congress),
        }
        Ok(json!({}))
    }

    /// A member's connection ends (left, replaced, disconnected, removed). Their queue
    /// entries and floor stay: they may be reconnecting.
    fn remove(&mut self, participant: &str) {
        let Some(member) = self.members.remove(participant) else {
            return;
        };
        if let Some(peer) = member.peer {
            self.by_peer.remove(&peer);
            let _ = self.sfu.disconnect(peer);
        }
        if member.waiting {
            self.send_lobby();
        } else {
            self.presence.set(&self.record.id, participant, false);
            if let Err(e) = self
                .store
                .record_leave(&self.record.id, participant, (self.now_ms)())
            {
                warn!(room = %self.record.id, "recording attendance failed: {e}");
            }
            self.broadcast(Event::ParticipantLeft {
                participant_id: participant.to_owned(),
            });
            self.plugins_left(crate::plugin::Member {
                id: member.info.id.clone(),
                name: member.info.name.clone(),
                role: member.role,
                grants: member.info.grants,
            });
        }
        self.sync_media();
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
            SfuEvent::Room {
                event: RoomEvent::StageChanged { stage, pinned },
                ..
            } => {
                self.stage = stage.and_then(|p| self.by_peer.get(&p).cloned());
                // The floor is applied as a media-plane pin too; clients hear `pinned` only
                // for the moderator's own pick.
                self.pinned = pinned && self.stage.is_some() && self.stage == self.state.manual_pin;
                self.broadcast(Event::StageChanged {
                    participant_id: self.stage.clone(),
                    pinned: self.pinned,
                });
            }
            SfuEvent::Room {
                event: RoomEvent::LayersNeeded { peer, layers },
                ..
            } => {
                if let Some(m) = self.by_peer.get(&peer).and_then(|id| self.members.get(id)) {
                    let [q, h, f] = layers;
                    let _ = m
                        .out
                        .send(Outbound::Event(Event::PublishLayers { q, h, f }));
                }
            }
            SfuEvent::Room {
                event: RoomEvent::SpeakerChanged { speaker },
                ..
            } => {
                self.broadcast(Event::ActiveSpeaker {
                    participant_id: speaker.and_then(|p| self.by_peer.get(&p).cloned()),
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

    /// Members in the room (not waiting in the lobby).
    fn present(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| !m.waiting)
    }

    fn broadcast(&self, event: Event) {
        for m in self.present() {
            let _ = m.out.send(Outbound::Event(event.clone()));
        }
    }

    fn send_moderators(&self, event: Event) {
        for m in self.present().filter(|m| m.info.grants.moderate) {
            let _ = m.out.send(Outbound::Event(event.clone()));
        }
    }

    fn broadcast_except(&self, id: &str, event: Event) {
        for m in self.present().filter(|m| m.info.id != id) {
            let _ = m.out.send(Outbound::Event(event.clone()));
        }
    }
}

async fn sleep_or_never(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
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

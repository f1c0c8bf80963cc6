//! Congress control inside the room actor: the stored state (mode, lobby, bans, grants,
//! mutes, speaker queue), the moderators' and speakers' commands, and the one place that
//! tells the media plane who is heard and who is on stage.
//!
//! Every command validates first, then changes [`CongressState`]; the state is stored
//! before the answer goes out, and a failed store rolls the change back.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::warn;

use super::{Member, Outbound, RoomActor};
use crate::auth::Role;
use crate::authz::{self, GrantOverrides};
use crate::protocol::{CloseReason, Command, ErrorBody, ErrorCode, Event, LobbyEntry, RoomMode};
use crate::queue::{Ended, QueueError, QueueEvent, SpeakerQueue};

/// A room's control state; stored as one JSON document per room.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CongressState {
    /// Who is heard.
    #[serde(default)]
    pub mode: RoomMode,
    /// Lobby on.
    #[serde(default)]
    pub lobby: bool,
    /// Let in from the lobby once: they skip it from now on.
    #[serde(default)]
    pub admitted: BTreeSet<String>,
    /// Barred from joining.
    #[serde(default)]
    pub banned: BTreeSet<String>,
    /// Live changes of roles and grants, by participant.
    #[serde(default)]
    pub grants: BTreeMap<String, GrantOverrides>,
    /// Muted by a moderator, by participant.
    #[serde(default)]
    pub force_muted: BTreeSet<String>,
    /// Unmuted by a moderator: heard in congress mode without the floor.
    #[serde(default)]
    pub unmuted: BTreeSet<String>,
    /// The moderator's stage pick.
    #[serde(default)]
    pub manual_pin: Option<String>,
    /// Speaker list, floor and history.
    #[serde(default)]
    pub queue: SpeakerQueue,
    /// Delegated voting rights: delegator → proxy.
    #[serde(default)]
    pub proxies: BTreeMap<String, Proxy>,
    /// Opening, closing and agenda calls (for the minutes).
    #[serde(default)]
    pub session: SessionLog,
}

/// A delegated voting right.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Proxy {
    /// Who casts it.
    pub proxy_id: String,
    /// The delegator's vote weight when delegating.
    pub weight: u64,
}

/// When the chair opened and closed the session and called each agenda item.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionLog {
    /// Opened (unix milliseconds).
    pub opened_at_ms: Option<u64>,
    /// Closed.
    pub closed_at_ms: Option<u64>,
    /// Agenda items called, in order (an item may be called again).
    pub agenda_calls: Vec<AgendaCall>,
}

/// One call of an agenda item.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgendaCall {
    /// The item (0-based index into the event's agenda).
    pub item: usize,
    /// When.
    pub at_ms: u64,
}

impl SessionLog {
    /// The item under discussion at `at_ms`: the last one called before.
    pub fn item_at(&self, at_ms: u64) -> Option<usize> {
        self.agenda_calls
            .iter()
            .rev()
            .find(|c| c.at_ms <= at_ms)
            .map(|c| c.item)
    }
}

impl CongressState {
    /// The state of a new congress room: congress mode, everything else default.
    pub fn congress() -> Self {
        Self {
            mode: RoomMode::Congress,
            ..Self::default()
        }
    }

    /// Read a stored state.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Set a member's effective role, grants, mute and heard state from the token and
    /// this state.
    pub(super) fn effective(&self, member: &mut Member) {
        let id = member.info.id.as_str();
        let mut overrides = member.token_grants.clone().unwrap_or_default();
        if let Some(live) = self.grants.get(id) {
            overrides = overrides.merged(live);
        }
        let (role, grants) = overrides.apply(member.token_role);
        member.role = role;
        member.info.role = role.as_str().to_owned();
        member.info.grants = grants;
        member.info.force_muted = self.force_muted.contains(id);
        member.info.heard = !member.info.force_muted
            && (self.mode == RoomMode::Open
                || grants.moderate
                || self.queue.floor_holder() == Some(id)
                || self.unmuted.contains(id));
    }
}

/// What a congress command did besides changing the state.
#[derive(Default)]
struct Applied {
    result: Option<serde_json::Value>,
    events: Vec<QueueEvent>,
    close: Option<(String, CloseReason)>,
    admitted: Option<String>,
}

impl Applied {
    fn events(events: Vec<QueueEvent>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }
}

fn queue_error(e: QueueError) -> ErrorBody {
    let code = match e {
        QueueError::Closed => ErrorCode::QueueClosed,
        QueueError::AlreadyQueued => ErrorCode::AlreadyQueued,
        QueueError::NoSuchEntry => ErrorCode::NotFound,
        QueueError::Empty | QueueError::NoFloor | QueueError::Invalid(_) => ErrorCode::BadRequest,
    };
    ErrorBody::new(code, e.to_string())
}

fn not_present(id: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::NotFound,
        format!("participant {id} is not in the room"),
    )
}

impl RoomActor {
    /// Run a congress command: validate, change, store, then tell everyone.
    pub(super) fn congress(
        &mut self,
        who: &str,
        command: Command,
    ) -> Result<serde_json::Value, ErrorBody> {
        let before = self.state.clone();
        let now = (self.now_ms)();
        let applied = match self.apply(who, command, now) {
            Ok(a) => a,
            Err(e) => {
                self.state = before;
                return Err(e);
            }
        };
        if self.state != before
            && let Err(e) = self
                .store
                .save_room_state(&self.record.id, &self.state.to_json())
        {
            warn!(room = %self.record.id, "storing the room state failed: {e}");
            self.state = before;
            return Err(ErrorBody::new(ErrorCode::Internal, "storage unavailable"));
        }
        self.queue_events(applied.events);
        if let Some(id) = applied.admitted {
            self.admit(&id);
        }
        if let Some((id, reason)) = applied.close
            && let Some(m) = self.members.get(&id)
        {
            let _ = m.out.send(Outbound::Close(reason));
            self.remove(&id);
        }
        self.publish_changes(&before, now);
        Ok(applied.result.unwrap_or_else(|| json!({})))
    }

    /// Change the state for one command; nothing is sent here.
    fn apply(&mut self, who: &str, command: Command, now: u64) -> Result<Applied, ErrorBody> {
        let q = &mut self.state.queue;
        Ok(match command {
            Command::RequestFloor { kind } => {
                let name = self
                    .members
                    .get(who)
                    .map(|m| m.info.name.clone())
                    .unwrap_or_default();
                let entry = q.request(who, &name, kind, now).map_err(queue_error)?;
                Applied {
                    result: Some(json!({ "entry": entry })),
                    ..Applied::default()
                }
            }
            Command::WithdrawFloorRequest { entry_id } => {
                q.remove(entry_id, Some(who)).map_err(queue_error)?;
                Applied::default()
            }
            Command::QueueGiveFloor {
                entry_id,
                participant_id,
            } => match (entry_id, participant_id) {
                (Some(_), Some(_)) => {
                    return Err(ErrorBody::new(
                        ErrorCode::BadRequest,
                        "give either entry_id or participant_id",
                    ));
                }
                (None, Some(id)) => {
                    let m = self
                        .members
                        .get(&id)
                        .filter(|m| !m.waiting)
                        .ok_or_else(|| not_present(&id))?;
                    if !m.info.grants.speak {
                        return Err(ErrorBody::new(
                            ErrorCode::BadRequest,
                            format!("participant {id} may not speak"),
                        ));
                    }
                    let name = m.info.name.clone();
                    Applied::events(self.state.queue.give_floor_to(&id, &name, now))
                }
                (entry, None) => {
                    Applied::events(q.give_floor_to_entry(entry, now).map_err(queue_error)?)
                }
            },
            Command::QueueEndFloor => {
                let speech = q.end_floor(Ended::Ended, now).map_err(queue_error)?;
                Applied::events(vec![QueueEvent::SpeechEnded(speech)])
            }
            Command::QueuePause => {
                q.pause(now).map_err(queue_error)?;
                Applied::default()
            }
            Command::QueueResume => {
                q.resume(now).map_err(queue_error)?;
                Applied::default()
            }
            Command::QueueExtend { seconds } => {
                q.extend(seconds, now).map_err(queue_error)?;
                Applied::default()
            }
            Command::QueueRemove { entry_id } => {
                q.remove(entry_id, None).map_err(queue_error)?;
                Applied::default()
            }
            Command::QueueMove { entry_id, position } => {
                q.move_entry(entry_id, position).map_err(queue_error)?;
                Applied::default()
            }
            Command::QueueSetOpen { open } => {
                q.set_open(open);
                Applied::default()
            }
            Command::QueueSetTimeLimit { seconds } => {
                q.set_time_limit(seconds).map_err(queue_error)?;
                Applied::default()
            }
            Command::SessionOpen => {
                let session = &mut self.state.session;
                if session.opened_at_ms.is_some() {
                    return Err(ErrorBody::new(
                        ErrorCode::BadRequest,
                        "the session is open already (or was closed)",
                    ));
                }
                session.opened_at_ms = Some(now);
                Applied::default()
            }
            Command::SessionClose => {
                let session = &mut self.state.session;
                if session.opened_at_ms.is_none() || session.closed_at_ms.is_some() {
                    return Err(ErrorBody::new(
                        ErrorCode::BadRequest,
                        "the session is not open",
                    ));
                }
                session.closed_at_ms = Some(now);
                Applied::default()
            }
            Command::AgendaCall { item } => {
                let items = self
                    .store
                    .event(&self.record.id)
                    .map_err(|e| {
                        warn!(room = %self.record.id, "reading the agenda failed: {e}");
                        ErrorBody::new(ErrorCode::Internal, "storage unavailable")
                    })?
                    .map_or(0, |e| e.agenda.len());
                if item >= items {
                    return Err(ErrorBody::new(
                        ErrorCode::NotFound,
                        format!("the agenda has {items} items"),
                    ));
                }
                let session = &mut self.state.session;
                if session.opened_at_ms.is_none() || session.closed_at_ms.is_some() {
                    return Err(ErrorBody::new(
                        ErrorCode::BadRequest,
                        "the session is not open",
                    ));
                }
                session.agenda_calls.push(AgendaCall { item, at_ms: now });
                Applied::default()
            }
            Command::SetMode { mode } => {
                self.state.mode = mode;
                Applied::default()
            }
            Command::SetLobby { enabled } => {
                self.state.lobby = enabled;
                Applied::default()
            }
            Command::Admit { participant_id } => {
                self.waiting_member(&participant_id)?;
                self.state.admitted.insert(participant_id.clone());
                Applied {
                    admitted: Some(participant_id),
                    ..Applied::default()
                }
            }
            Command::Deny { participant_id } => {
                self.waiting_member(&participant_id)?;
                Applied {
                    close: Some((participant_id, CloseReason::Denied)),
                    ..Applied::default()
                }
            }
            Command::SetStage { participant_id } => {
                if let Some(id) = &participant_id {
                    self.present_member(id)?;
                }
                self.state.manual_pin = participant_id;
                Applied::default()
            }
            Command::MuteParticipant {
                participant_id,
                floor_only,
            } => {
                self.target(who, &participant_id, None)?;
                if !floor_only {
                    self.state.force_muted.insert(participant_id.clone());
                }
                self.state.unmuted.remove(&participant_id);
                Applied::default()
            }
            Command::UnmuteParticipant { participant_id } => {
                self.target(who, &participant_id, None)?;
                self.state.force_muted.remove(&participant_id);
                if self.state.mode == RoomMode::Congress {
                    self.state.unmuted.insert(participant_id);
                }
                Applied::default()
            }
            Command::RemoveParticipant {
                participant_id,
                ban,
            } => {
                self.target(who, &participant_id, None)?;
                if ban {
                    self.state.banned.insert(participant_id.clone());
                    self.state.admitted.remove(&participant_id);
                }
                let q = &mut self.state.queue;
                q.remove_participant(&participant_id);
                let mut events = Vec::new();
                if q.floor_holder() == Some(participant_id.as_str()) {
                    events.push(QueueEvent::SpeechEnded(
                        q.end_floor(Ended::Removed, now).map_err(queue_error)?,
                    ));
                }
                Applied {
                    events,
                    close: Some((participant_id, CloseReason::Removed)),
                    ..Applied::default()
                }
            }
            Command::SetGrants {
                participant_id,
                overrides,
            } => {
                overrides.validate()?;
                self.target(who, &participant_id, overrides.role)?;
                let merged = self
                    .state
                    .grants
                    .get(&participant_id)
                    .cloned()
                    .unwrap_or_default()
                    .merged(&overrides);
                self.state.grants.insert(participant_id, merged);
                Applied::default()
            }
            Command::SetProxy { proxy_id } => {
                self.check_proxy(who, proxy_id.as_deref())?;
                match proxy_id {
                    None => {
                        self.state.proxies.remove(who);
                    }
                    Some(proxy_id) => {
                        let weight = self
                            .members
                            .get(who)
                            .map_or(1, |m| u64::from(m.info.grants.vote_weight));
                        self.state
                            .proxies
                            .insert(who.to_owned(), Proxy { proxy_id, weight });
                    }
                }
                Applied::default()
            }
            other => {
                return Err(ErrorBody::new(
                    ErrorCode::Internal,
                    format!("{} is not a congress command", other.name()),
                ));
            }
        })
    }

    /// A delegation goes to a present voter who has not delegated and holds no other
    /// delegation; someone who holds a delegation cannot pass their own right on (no chains).
    fn check_proxy(&self, who: &str, proxy: Option<&str>) -> Result<(), ErrorBody> {
        let Some(proxy) = proxy else {
            return Ok(());
        };
        let refuse = |m: &str| Err(ErrorBody::new(ErrorCode::BadRequest, m.to_owned()));
        if proxy == who {
            return refuse("you cannot delegate to yourself");
        }
        if !self.present_member(proxy)?.info.grants.vote {
            return refuse("the proxy has no voting right");
        }
        if self.state.proxies.contains_key(proxy) {
            return refuse("the proxy has delegated their own vote");
        }
        if self
            .state
            .proxies
            .iter()
            .any(|(holder, p)| p.proxy_id == who || (p.proxy_id == proxy && holder != who))
        {
            return refuse("one delegation per proxy, and no chains of delegations");
        }
        Ok(())
    }

    fn present_member(&self, id: &str) -> Result<&Member, ErrorBody> {
        self.members
            .get(id)
            .filter(|m| !m.waiting)
            .ok_or_else(|| not_present(id))
    }

    fn waiting_member(&self, id: &str) -> Result<&Member, ErrorBody> {
        self.members.get(id).filter(|m| m.waiting).ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::NotFound,
                format!("participant {id} is not waiting"),
            )
        })
    }

    /// A moderator acts on a present participant (admins for moderators and admins).
    fn target(&self, who: &str, id: &str, new_role: Option<Role>) -> Result<(), ErrorBody> {
        let target = self.present_member(id)?.role;
        let actor = self
            .members
            .get(who)
            .map(|m| m.info.grants)
            .ok_or_else(|| not_present(who))?;
        authz::check_target(&actor, target, new_role)
    }

    /// A waiting member comes in: `admitted` with a full join result, and the room sees them.
    fn admit(&mut self, id: &str) {
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        m.waiting = false;
        self.enter(id);
        let result = self.join_result(id);
        if let Some(m) = self.members.get(id) {
            let _ = m.out.send(Outbound::Event(Event::Admitted { result }));
        }
        self.send_lobby();
    }

    /// The speaker's clock: warnings and time-ups.
    pub(super) fn tick(&mut self) {
        let now = (self.now_ms)();
        let before = self.state.clone();
        let events = self.state.queue.tick(now);
        if events.is_empty() {
            return;
        }
        if let Err(e) = self
            .store
            .save_room_state(&self.record.id, &self.state.to_json())
        {
            // The speech ends in memory anyway (the microphone must close); the next
            // successful store catches up.
            warn!(room = %self.record.id, "storing the room state failed: {e}");
        }
        self.queue_events(events);
        self.publish_changes(&before, now);
    }

    fn queue_events(&self, events: Vec<QueueEvent>) {
        for event in events {
            self.broadcast(match event {
                QueueEvent::SpeechEnded(speech) => Event::SpeechEnded { speech },
                QueueEvent::Warning {
                    participant_id,
                    remaining_ms,
                } => Event::FloorWarning {
                    participant_id,
                    remaining_ms,
                },
            });
        }
    }

    /// Tell clients what changed between `before` and now, and bring the media plane in line.
    fn publish_changes(&mut self, before: &CongressState, now: u64) {
        if self.state.session != before.session {
            self.broadcast(Event::SessionChanged {
                session: self.state.session.clone(),
            });
        }
        if self.state.mode != before.mode {
            self.broadcast(Event::ModeChanged {
                mode: self.state.mode,
            });
        }
        if self.state.queue != before.queue {
            self.broadcast(Event::QueueChanged {
                queue: self.state.queue.view(now),
            });
        }
        if self.state.lobby != before.lobby {
            self.send_lobby();
            if !self.state.lobby {
                let waiting: Vec<String> = self
                    .members
                    .values()
                    .filter(|m| m.waiting)
                    .map(|m| m.info.id.clone())
                    .collect();
                for id in waiting {
                    self.admit(&id);
                }
            }
        }
        self.sync_media();
    }

    /// Recompute every member's grants and heard state; send `participant_updated` for
    /// changes, tell the media plane who may be heard and who is on stage.
    pub(super) fn sync_media(&mut self) {
        let mut updated = Vec::new();
        for member in self.members.values_mut() {
            let old = member.info.clone();
            self.state.effective(member);
            if member.info != old && !member.waiting {
                updated.push(member.info.clone());
            }
            if let Some(peer) = member.peer
                && member.applied_heard != Some(member.info.heard)
                && self.sfu.set_audio_allowed(peer, member.info.heard).is_ok()
            {
                member.applied_heard = Some(member.info.heard);
            }
        }
        for info in updated {
            self.broadcast(Event::ParticipantUpdated { participant: info });
        }
        let peer_of = |id: &str| {
            self.members
                .get(id)
                .filter(|m| !m.waiting)
                .and_then(|m| m.peer)
        };
        let pin = self
            .state
            .queue
            .floor_holder()
            .and_then(peer_of)
            .or_else(|| self.state.manual_pin.as_deref().and_then(peer_of));
        if self.applied_pin != Some(pin) && self.sfu.set_stage_pin(self.sfu_room, pin).is_ok() {
            self.applied_pin = Some(pin);
        }
    }

    /// Participants waiting in the lobby.
    pub(super) fn waiting(&self) -> Vec<LobbyEntry> {
        let mut waiting: Vec<LobbyEntry> = self
            .members
            .values()
            .filter(|m| m.waiting)
            .map(|m| LobbyEntry {
                participant_id: m.info.id.clone(),
                name: m.info.name.clone(),
            })
            .collect();
        waiting.sort_by(|a, b| a.name.cmp(&b.name));
        waiting
    }

    /// `lobby_changed` to the moderators.
    pub(super) fn send_lobby(&self) {
        let event = Event::LobbyChanged {
            enabled: self.state.lobby,
            waiting: self.waiting(),
        };
        for m in self.present().filter(|m| m.info.grants.moderate) {
            let _ = m.out.send(Outbound::Event(event.clone()));
        }
    }
}

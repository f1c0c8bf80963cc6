//! The session record of a room: every fact the minutes need, assembled from the store —
//! the event (title, kind, agenda), the room's state (opening, closing, agenda calls, the
//! speeches), the attendance log, the invites and rosters (names, roles, units), the polls
//! (definition, eligibility, results) and their audit chain (when each was opened and
//! closed). It is the read access to a room's record that the reports plugin builds on
//! (docs/plugins.md); [`session_record`] is a pure read, authorization is the caller's.
//!
//! Secrecy: a secret poll contributes its definition, its eligible and participating counts
//! and — once published — its result; never a voter's choice (the store keeps none). A named
//! poll adds its roll call once published. Results of polls not yet published are left out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::ballot::{PollResult, PollSpec, PollState};
use crate::org::UnitTree;
use crate::queue::RequestKind;
use crate::room::CongressState;
use crate::storage::{EventKind, StorageError, Store};

/// The record of one room.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    /// Room id.
    pub room: String,
    /// The room's name (the event's title).
    pub title: String,
    /// The kind of meeting, if the room is an event.
    pub kind: Option<EventKind>,
    /// The planned start (unix seconds).
    pub starts_at: Option<u64>,
    /// The organising unit's name.
    pub unit_name: Option<String>,
    /// When the chair opened the session (unix milliseconds).
    pub opened_at_ms: Option<u64>,
    /// When they closed it.
    pub closed_at_ms: Option<u64>,
    /// Moderators and admins who were present (the chair).
    pub chairs: Vec<String>,
    /// Everyone who was present, in the order they first came.
    pub attendance: Vec<Attendee>,
    /// The agenda with the times each item was called.
    pub agenda: Vec<AgendaItem>,
    /// Every finished speech, in order.
    pub speeches: Vec<SpeechEntry>,
    /// Every poll, in order of creation.
    pub polls: Vec<PollEntry>,
}

/// A participant's presence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attendee {
    /// Participant id.
    pub participant_id: String,
    /// Name as in the room (a pseudonym after erasure).
    pub name: String,
    /// Role in the room.
    pub role: Role,
    /// Their unit's name, for members.
    pub unit_name: Option<String>,
    /// Their Landesverband's name, for members.
    pub region_name: Option<String>,
    /// (entered, left) in unix milliseconds; `None`: still there.
    pub stays: Vec<(u64, Option<u64>)>,
}

/// An agenda item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgendaItem {
    /// 1-based number (TOP 1 …).
    pub number: usize,
    /// Title.
    pub title: String,
    /// When it was called (again).
    pub called_at_ms: Vec<u64>,
}

/// A finished speech.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpeechEntry {
    /// Who.
    pub name: String,
    /// Speech, point of order, pro/contra, reply.
    pub kind: RequestKind,
    /// Began.
    pub started_at_ms: u64,
    /// How long (pauses excluded).
    pub duration_ms: u64,
    /// The agenda item (1-based) under discussion then.
    pub agenda_item: Option<usize>,
}

/// A poll.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PollEntry {
    /// Poll id.
    pub id: String,
    /// Its definition (title, kind, candidates, secrecy, quorum, majority).
    pub spec: PollSpec,
    /// Draft, open, closed, published, cancelled.
    pub state: PollState,
    /// When voting opened, closed, the result was published (unix milliseconds).
    pub opened_at_ms: Option<u64>,
    /// See `opened_at_ms`.
    pub closed_at_ms: Option<u64>,
    /// See `opened_at_ms`.
    pub published_at_ms: Option<u64>,
    /// The agenda item (1-based) under discussion when it opened.
    pub agenda_item: Option<usize>,
    /// Participants present when it opened (anyone, voting or not).
    pub present_at_opening: usize,
    /// Voting rights and their weight fixed at opening.
    pub eligible_voters: u64,
    /// See `eligible_voters`.
    pub eligible_weight: u64,
    /// Rights used.
    pub voted: u64,
    /// The result, once published.
    pub result: Option<PollResult>,
    /// Named polls, once published: who chose what.
    pub roll_call: Option<Vec<RollCall>>,
    /// A verifiable poll's bulletin board: its last entry's chain hash (hex), which pins the
    /// whole board (`plenum-verify` prints the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_head: Option<String>,
}

/// One line of a roll call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RollCall {
    /// Who.
    pub name: String,
    /// Weight of the vote.
    pub weight: u64,
    /// Their choice, as stored (JSON).
    pub choice: serde_json::Value,
}

/// Poll events of the audit chain: (poll id, event, at_ms).
fn poll_times(store: &dyn Store, room: &str) -> Result<Vec<(String, String, u64)>, StorageError> {
    let mut out = Vec::new();
    for entry in store.audit(room)? {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&entry.event) else {
            continue;
        };
        if let (Some(poll), Some(event), Some(at)) = (
            v["poll_id"].as_str(),
            v["event"].as_str(),
            v["at_ms"].as_u64(),
        ) {
            out.push((poll.to_owned(), event.to_owned(), at));
        }
    }
    Ok(out)
}

/// The record of `room`; `None` if there is no such room.
pub fn session_record(
    store: &dyn Store,
    room: &str,
) -> Result<Option<SessionRecord>, StorageError> {
    let Some(record) = store.room(room)? else {
        return Ok(None);
    };
    let event = store.event(room)?;
    let units = UnitTree::new(&store.units()?).unwrap_or_default();
    let state = match store.room_state(room)? {
        Some(json) => CongressState::from_json(&json)
            .map_err(|e| StorageError::Corrupt(format!("room state of {room}: {e}")))?,
        None => CongressState::default(),
    };
    let session = &state.session;

    // Who is who: invites give name and role, rosters the member (and so the unit).
    let invites: BTreeMap<String, crate::storage::InviteRecord> = store
        .invites(room)?
        .into_iter()
        .map(|i| (i.participant_id.clone(), i))
        .collect();
    let mut unit_of: BTreeMap<String, String> = BTreeMap::new();
    for entry in store.roster(room)? {
        if let (Some(invite), Some(member)) = (
            store.invite(&entry.invite_id)?,
            store.member(&entry.number)?,
        ) {
            unit_of.insert(invite.participant_id, member.unit);
        }
    }
    let name_of = |id: &str| {
        invites
            .get(id)
            .map_or_else(|| id.to_owned(), |i| i.name.clone())
    };

    let stays = store.stays(room)?;
    let mut attendance: Vec<Attendee> = Vec::new();
    for stay in &stays {
        let span = (stay.joined_at_ms, stay.left_at_ms);
        if let Some(a) = attendance
            .iter_mut()
            .find(|a| a.participant_id == stay.participant_id)
        {
            a.stays.push(span);
            continue;
        }
        let unit = unit_of.get(&stay.participant_id);
        attendance.push(Attendee {
            participant_id: stay.participant_id.clone(),
            name: name_of(&stay.participant_id),
            role: invites
                .get(&stay.participant_id)
                .map_or(Role::Observer, |i| i.role),
            unit_name: unit.map(|u| units.name(u).unwrap_or(u).to_owned()),
            region_name: unit
                .and_then(|u| units.region(u))
                .map(|r| units.name(r).unwrap_or(r).to_owned()),
            stays: vec![span],
        });
    }
    let chairs = attendance
        .iter()
        .filter(|a| matches!(a.role, Role::Moderator | Role::Admin))
        .map(|a| a.name.clone())
        .collect();
    let present_at = |at: u64| {
        attendance
            .iter()
            .filter(|a| {
                a.stays
                    .iter()
                    .any(|(from, to)| *from <= at && to.is_none_or(|t| t > at))
            })
            .count()
    };

    let agenda = event
        .as_ref()
        .map(|e| {
            e.agenda
                .iter()
                .enumerate()
                .map(|(i, title)| AgendaItem {
                    number: i + 1,
                    title: title.clone(),
                    called_at_ms: session
                        .agenda_calls
                        .iter()
                        .filter(|c| c.item == i)
                        .map(|c| c.at_ms)
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();

    let speeches = state
        .queue
        .history()
        .iter()
        .map(|s| SpeechEntry {
            name: name_of(&s.participant_id),
            kind: s.kind,
            started_at_ms: s.started_at_ms,
            duration_ms: s.duration_ms,
            agenda_item: session.item_at(s.started_at_ms).map(|i| i + 1),
        })
        .collect();

    let times = poll_times(store, room)?;
    let time_of = |poll: &str, event: &str| {
        times
            .iter()
            .find(|(p, e, _)| p == poll && e == event)
            .map(|(_, _, at)| *at)
    };
    let mut polls = Vec::new();
    for poll in store.polls(room)? {
        let spec: PollSpec = serde_json::from_str(&poll.spec)
            .map_err(|e| StorageError::Corrupt(format!("poll {}: {e}", poll.id)))?;
        let published = poll.state == PollState::Published;
        let opened_at_ms = time_of(&poll.id, "opened");
        let result = match (&poll.result, published) {
            (Some(json), true) => Some(
                serde_json::from_str::<PollResult>(json)
                    .map_err(|e| StorageError::Corrupt(format!("result of {}: {e}", poll.id)))?,
            ),
            _ => None,
        };
        let roll_call = if published && !spec.secret {
            Some(
                store
                    .named_votes(&poll.id)?
                    .into_iter()
                    .map(|v| RollCall {
                        name: name_of(&v.voter_id),
                        weight: v.weight,
                        choice: serde_json::from_str(&v.choice).unwrap_or(serde_json::Value::Null),
                    })
                    .collect(),
            )
        } else {
            None
        };
        let board_head = if spec.verifiable.is_some() {
            store
                .board(&poll.id)?
                .last()
                .map(|e| serde_json::from_str::<plenum_ballot_crypto::board::ChainedEntry>(e))
                .transpose()
                .map_err(|e| StorageError::Corrupt(format!("board of {}: {e}", poll.id)))?
                .map(|e| hex::encode(e.hash.0))
        } else {
            None
        };
        polls.push(PollEntry {
            board_head,
            voted: store.rights(&poll.id)?.iter().filter(|r| r.voted).count() as u64,
            present_at_opening: opened_at_ms.map_or(0, present_at),
            agenda_item: opened_at_ms
                .and_then(|at| session.item_at(at))
                .map(|i| i + 1),
            opened_at_ms,
            closed_at_ms: time_of(&poll.id, "closed"),
            published_at_ms: time_of(&poll.id, "published"),
            id: poll.id,
            spec,
            state: poll.state,
            eligible_voters: poll.eligible_voters,
            eligible_weight: poll.eligible_weight,
            result,
            roll_call,
        });
    }

    Ok(Some(SessionRecord {
        room: record.id,
        title: record.name,
        kind: event.as_ref().map(|e| e.kind),
        starts_at: event.as_ref().and_then(|e| e.starts_at),
        unit_name: event
            .as_ref()
            .map(|e| units.name(&e.unit).unwrap_or(&e.unit).to_owned()),
        opened_at_ms: session.opened_at_ms,
        closed_at_ms: session.closed_at_ms,
        chairs,
        attendance,
        agenda,
        speeches,
        polls,
    }))
}

//! Rooms' rosters: which members may enter which room, and with what role.
//!
//! Putting a member on a room's roster creates an ordinary invite record for them (their
//! participant id, name and role in that room), so everything that works for invites works
//! for members too: the same access tokens, the same revocation. A signed-in member never
//! sees that invite's link: their browser asks for a short-lived access token
//! ([`member_token`], `POST /api/account/rooms/{room}/token`) when they enter the room from
//! their start page, so no token ever sits in a URL or a mail.

use rand::Rng;

use crate::auth::{Claims, Role, TokenKeys};
use crate::org::{Member, MemberStatus};
use crate::storage::{InviteRecord, RosterEntry, StorageError, Store};

/// How long an access token issued to a signed-in member is valid.
pub const MEMBER_TOKEN_SECS: u64 = 12 * 3600;
/// How long a roster entry's invite record stands (it is revoked, not waited out).
const ROSTER_SECS: u64 = 5 * 365 * 24 * 3600;

/// Why a roster change or token was refused.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// No such room.
    #[error("room {0:?} does not exist")]
    UnknownRoom(String),
    /// No such active member.
    #[error("no active member with number {0}")]
    UnknownMember(String),
    /// Already on the roster.
    #[error("member {0} is on the roster already")]
    AlreadyOnRoster(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(StorageError),
    /// Signing failed.
    #[error("cannot sign the token")]
    Sign,
}

impl From<StorageError> for RosterError {
    fn from(e: StorageError) -> Self {
        RosterError::Storage(e)
    }
}

fn random_id(prefix: &str) -> String {
    let bytes: [u8; 8] = rand::rng().random();
    format!("{prefix}-{}", hex::encode(bytes))
}

/// A new roster entry for `member` in `room` with `role`, and the invite record behind it
/// (not stored yet).
pub fn seat(room: &str, member: &Member, role: Role, now: u64) -> (RosterEntry, InviteRecord) {
    let invite = InviteRecord {
        id: random_id("i"),
        room_id: room.to_owned(),
        participant_id: random_id("p"),
        name: member.display_name(),
        role,
        created_at: now,
        expires_at: now + ROSTER_SECS,
        revoked: false,
    };
    let entry = RosterEntry {
        room_id: room.to_owned(),
        number: member.number.clone(),
        invite_id: invite.id.clone(),
    };
    (entry, invite)
}

/// Put member `number` on `room`'s roster with `role`.
pub fn assign_member(
    store: &dyn Store,
    room: &str,
    number: &str,
    role: Role,
    now: u64,
) -> Result<RosterEntry, RosterError> {
    if store.room(room)?.is_none() {
        return Err(RosterError::UnknownRoom(room.to_owned()));
    }
    let member = store
        .member(number)?
        .filter(|m| m.status == MemberStatus::Active)
        .ok_or_else(|| RosterError::UnknownMember(number.to_owned()))?;
    if store.rosters_of(number)?.iter().any(|e| e.room_id == room) {
        return Err(RosterError::AlreadyOnRoster(number.to_owned()));
    }
    let (entry, invite) = seat(room, &member, role, now);
    store.add_to_roster(&entry, &invite)?;
    Ok(entry)
}

/// A room a member may enter, for their start page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberRoom {
    /// Room id.
    pub id: String,
    /// Room name.
    pub name: String,
    /// The member's role there.
    pub role: Role,
}

/// The rooms a member may enter (on the roster, invite not revoked).
pub fn rooms_of(store: &dyn Store, number: &str) -> Result<Vec<MemberRoom>, StorageError> {
    let mut rooms = Vec::new();
    for entry in store.rosters_of(number)? {
        let (Some(invite), Some(room)) =
            (store.invite(&entry.invite_id)?, store.room(&entry.room_id)?)
        else {
            continue;
        };
        if !invite.revoked {
            rooms.push(MemberRoom {
                id: room.id,
                name: room.name,
                role: invite.role,
            });
        }
    }
    Ok(rooms)
}

/// A fresh access token for member `number` to enter `room`; `None` unless they are on its
/// roster with an unrevoked invite.
pub fn member_token(
    store: &dyn Store,
    keys: &TokenKeys,
    room: &str,
    number: &str,
    now: u64,
) -> Result<Option<String>, RosterError> {
    let Some(entry) = store
        .rosters_of(number)?
        .into_iter()
        .find(|e| e.room_id == room)
    else {
        return Ok(None);
    };
    let Some(invite) = store.invite(&entry.invite_id)?.filter(|i| !i.revoked) else {
        return Ok(None);
    };
    let token = keys
        .issue(&Claims {
            sub: invite.participant_id,
            name: invite.name,
            room: invite.room_id,
            role: invite.role,
            iat: now,
            exp: now + MEMBER_TOKEN_SECS,
            jti: invite.id,
            grants: None,
        })
        .map_err(|_| RosterError::Sign)?;
    Ok(Some(token))
}

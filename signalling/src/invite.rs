//! Invites: a stored record plus a signed token, handed out as a link.

use rand::Rng;

use crate::auth::{Claims, Role, TokenKeys};
use crate::storage::{InviteRecord, RoomRecord, StorageError, Store};

/// Issuing an invite failed.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// No such room.
    #[error("room {0:?} does not exist")]
    UnknownRoom(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Signing failed.
    #[error("cannot sign the token")]
    Sign,
}

/// A freshly issued invite.
#[derive(Debug, Clone)]
pub struct Invite {
    /// The stored record.
    pub record: InviteRecord,
    /// The signed access token.
    pub token: String,
}

impl Invite {
    /// The link a person opens; the token travels in the fragment, never to server logs.
    pub fn link(&self, public_url: &str) -> String {
        format!(
            "{}/join#token={}",
            public_url.trim_end_matches('/'),
            self.token
        )
    }
}

fn random_id(prefix: &str) -> String {
    let bytes: [u8; 8] = rand::rng().random();
    format!("{prefix}-{}", hex::encode(bytes))
}

/// Issue an invite for a new participant of `room`, valid `valid_secs` from `now`.
pub fn issue(
    store: &dyn Store,
    keys: &TokenKeys,
    room: &str,
    name: &str,
    role: Role,
    now: u64,
    valid_secs: u64,
) -> Result<Invite, InviteError> {
    if store.room(room)?.is_none() {
        return Err(InviteError::UnknownRoom(room.to_owned()));
    }
    let record = InviteRecord {
        id: random_id("i"),
        room_id: room.to_owned(),
        participant_id: random_id("p"),
        name: name.to_owned(),
        role,
        created_at: now,
        expires_at: now + valid_secs,
        revoked: false,
    };
    let token = keys
        .issue(&Claims {
            sub: record.participant_id.clone(),
            name: record.name.clone(),
            room: record.room_id.clone(),
            role,
            iat: now,
            exp: record.expires_at,
            jti: record.id.clone(),
            grants: None,
        })
        .map_err(|_| InviteError::Sign)?;
    store.insert_invite(&record)?;
    Ok(Invite { record, token })
}

/// The demo congress's room id.
pub const DEMO_ROOM: &str = "demo";

/// With no rooms at all, create the demo congress and invites for a moderator and two
/// delegates. Returns them, or `None` if the database already had rooms.
pub fn create_demo(
    store: &dyn Store,
    keys: &TokenKeys,
    now: u64,
    valid_secs: u64,
) -> Result<Option<(RoomRecord, Vec<Invite>)>, InviteError> {
    if !store.rooms()?.is_empty() {
        return Ok(None);
    }
    let room = RoomRecord {
        id: DEMO_ROOM.to_owned(),
        name: "Demo-Parteitag".to_owned(),
        created_at: now,
    };
    store.create_room(&room)?;
    store.save_room_state(DEMO_ROOM, &crate::room::CongressState::congress().to_json())?;
    let people = [
        ("Moderation", Role::Moderator),
        ("Delegierte A", Role::Delegate),
        ("Delegierte B", Role::Delegate),
    ];
    let mut invites = Vec::new();
    for (name, role) in people {
        invites.push(issue(store, keys, DEMO_ROOM, name, role, now, valid_secs)?);
    }
    Ok(Some((room, invites)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SqliteStore;

    #[test]
    fn demo_is_created_once_and_its_tokens_verify() {
        let store = SqliteStore::in_memory().unwrap();
        let keys = TokenKeys::new(&[1u8; 32]);
        let (room, invites) = create_demo(&store, &keys, 1000, 3600).unwrap().unwrap();
        assert_eq!(room.id, DEMO_ROOM);
        assert_eq!(invites.len(), 3);
        let claims = keys.verify(&invites[0].token, 1001).unwrap();
        assert_eq!(claims.role, Role::Moderator);
        assert_eq!(
            store.invite(&claims.jti).unwrap().unwrap().participant_id,
            claims.sub
        );
        assert!(create_demo(&store, &keys, 1000, 3600).unwrap().is_none());
        assert!(
            invites[1]
                .link("https://x:1/")
                .starts_with("https://x:1/join#token=ey")
        );
    }

    #[test]
    fn invite_for_unknown_room_is_refused() {
        let store = SqliteStore::in_memory().unwrap();
        let keys = TokenKeys::new(&[1u8; 32]);
        assert!(matches!(
            issue(&store, &keys, "nope", "A", Role::Delegate, 0, 10),
            Err(InviteError::UnknownRoom(_))
        ));
    }
}

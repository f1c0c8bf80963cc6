//! Persistence: one trait per concern, SQLite (embedded, zero setup) as the default backend.
//!
//! Migrations are numbered SQL scripts applied in order (`PRAGMA user_version` tracks the
//! schema version). The same trait will get a PostgreSQL backend and one conformance suite.

mod polls;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

use crate::auth::Role;

pub use polls::{
    AuditEntry, BallotRecord, CastOutcome, PollRecord, PollStore, Right, audit_hash, verify_audit,
};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// Migrating the schema failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// A record with this id exists already.
    #[error("{0} exists already")]
    Duplicate(String),
    /// A stored value is not what this version understands.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// A congress room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// Short id used in tokens and URLs.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// An issued invite (the token's `jti`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    /// Token id.
    pub id: String,
    /// Room.
    pub room_id: String,
    /// Participant id the token carries.
    pub participant_id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// Revoked invites no longer admit anyone.
    pub revoked: bool,
}

/// Key-value data of plugins, per room and namespace.
pub trait PluginStore {
    /// Everything a plugin stored in a room, by key.
    fn plugin_data(&self, room_id: &str, ns: &str) -> Result<Vec<(String, String)>, StorageError>;
    /// Store (`Some`) or delete (`None`) one key; durable when it returns.
    fn put_plugin_data(
        &self,
        room_id: &str,
        ns: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StorageError>;
}

/// Rooms, invites, room state; polls through [`PollStore`], plugin data through
/// [`PluginStore`].
pub trait Store: PollStore + PluginStore + Send + Sync + std::fmt::Debug {
    /// Create a room; `Duplicate` if the id is taken.
    fn create_room(&self, room: &RoomRecord) -> Result<(), StorageError>;
    /// Look a room up.
    fn room(&self, id: &str) -> Result<Option<RoomRecord>, StorageError>;
    /// All rooms, by id.
    fn rooms(&self) -> Result<Vec<RoomRecord>, StorageError>;
    /// Record an issued invite.
    fn insert_invite(&self, invite: &InviteRecord) -> Result<(), StorageError>;
    /// Look an invite up by token id.
    fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StorageError>;
    /// A room's control state (mode, lobby, grants, queue …) as the room stored it, a JSON
    /// document the room module owns.
    fn room_state(&self, room_id: &str) -> Result<Option<String>, StorageError>;
    /// Replace a room's control state; durable when it returns.
    fn save_room_state(&self, room_id: &str, state: &str) -> Result<(), StorageError>;
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE rooms (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE invites (
            id TEXT PRIMARY KEY NOT NULL,
            room_id TEXT NOT NULL REFERENCES rooms(id),
            participant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX invites_room ON invites(room_id);",
        ),
        M::up(
            "CREATE TABLE room_state (
                room_id TEXT PRIMARY KEY NOT NULL REFERENCES rooms(id),
                state TEXT NOT NULL
            );",
        ),
        // Ballots carry no voter (in secret polls), no time and no sequence; see polls.rs.
        M::up(
            "CREATE TABLE polls (
                id TEXT PRIMARY KEY NOT NULL,
                room_id TEXT NOT NULL REFERENCES rooms(id),
                seq INTEGER NOT NULL,
                spec TEXT NOT NULL,
                state TEXT NOT NULL,
                eligible_voters INTEGER NOT NULL,
                eligible_weight INTEGER NOT NULL,
                result TEXT
            );
            CREATE TABLE poll_rights (
                poll_id TEXT NOT NULL REFERENCES polls(id),
                holder_id TEXT NOT NULL,
                proxy_id TEXT,
                weight INTEGER NOT NULL,
                voted INTEGER NOT NULL,
                PRIMARY KEY (poll_id, holder_id)
            ) WITHOUT ROWID;
            CREATE TABLE ballots (
                poll_id TEXT NOT NULL REFERENCES polls(id),
                ballot_id TEXT NOT NULL,
                weight INTEGER NOT NULL,
                choice TEXT NOT NULL,
                voter_id TEXT,
                PRIMARY KEY (poll_id, ballot_id)
            ) WITHOUT ROWID;
            CREATE TABLE audit_log (
                room_id TEXT NOT NULL REFERENCES rooms(id),
                seq INTEGER NOT NULL,
                event TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL,
                PRIMARY KEY (room_id, seq)
            ) WITHOUT ROWID;",
        ),
        M::up(
            "CREATE TABLE plugin_data (
                room_id TEXT NOT NULL REFERENCES rooms(id),
                namespace TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (room_id, namespace, key)
            ) WITHOUT ROWID;",
        ),
    ])
}

/// The SQLite backend. One connection; calls are short and serialized.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Open (or create) the database file and migrate it to the current schema.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::init(Connection::open(path)?)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StorageError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted content is overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        migrations().to_latest(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        // A poisoned lock means a panic mid-call; the connection itself is still consistent
        // (SQLite rolls back unfinished statements), so keep using it.
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }

    /// Run `f` in one transaction, committed (durably) only if it returns `Ok`.
    fn with_tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

/// SQLite integers are signed; unix seconds fit comfortably.
fn to_sql_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn from_sql_time(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

impl Store for SqliteStore {
    fn create_room(&self, room: &RoomRecord) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO rooms (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![room.id, room.name, to_sql_time(room.created_at)],
            )
            .map_err(|e| {
                if is_constraint(&e) {
                    StorageError::Duplicate(format!("room {}", room.id))
                } else {
                    e.into()
                }
            })?;
            Ok(())
        })
    }

    fn room(&self, id: &str) -> Result<Option<RoomRecord>, StorageError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT id, name, created_at FROM rooms WHERE id = ?1",
                params![id],
                |r| {
                    Ok(RoomRecord {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        created_at: from_sql_time(r.get(2)?),
                    })
                },
            )
            .optional()?)
        })
    }

    fn rooms(&self) -> Result<Vec<RoomRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT id, name, created_at FROM rooms ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(RoomRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: from_sql_time(r.get(2)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn insert_invite(&self, invite: &InviteRecord) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO invites (id, room_id, participant_id, name, role, created_at, expires_at, revoked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    invite.id,
                    invite.room_id,
                    invite.participant_id,
                    invite.name,
                    invite.role.as_str(),
                    to_sql_time(invite.created_at),
                    to_sql_time(invite.expires_at),
                    invite.revoked
                ],
            )
            .map_err(|e| {
                if is_constraint(&e) {
                    StorageError::Duplicate(format!("invite {} (or its room is missing)", invite.id))
                } else {
                    e.into()
                }
            })?;
            Ok(())
        })
    }

    fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StorageError> {
        self.with(|c| {
            let row = c
                .query_row(
                    "SELECT id, room_id, participant_id, name, role, created_at, expires_at, revoked
                     FROM invites WHERE id = ?1",
                    params![id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            from_sql_time(r.get(5)?),
                            from_sql_time(r.get(6)?),
                            r.get::<_, bool>(7)?,
                        ))
                    },
                )
                .optional()?;
            row.map(
                |(id, room_id, participant_id, name, role, created_at, expires_at, revoked)| {
                    Ok(InviteRecord {
                        role: role.parse().map_err(StorageError::Corrupt)?,
                        id,
                        room_id,
                        participant_id,
                        name,
                        created_at,
                        expires_at,
                        revoked,
                    })
                },
            )
            .transpose()
        })
    }

    fn room_state(&self, room_id: &str) -> Result<Option<String>, StorageError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT state FROM room_state WHERE room_id = ?1",
                params![room_id],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn save_room_state(&self, room_id: &str, state: &str) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO room_state (room_id, state) VALUES (?1, ?2)
                 ON CONFLICT (room_id) DO UPDATE SET state = excluded.state",
                params![room_id, state],
            )?;
            Ok(())
        })
    }
}

impl PluginStore for SqliteStore {
    fn plugin_data(&self, room_id: &str, ns: &str) -> Result<Vec<(String, String)>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT key, value FROM plugin_data WHERE room_id = ?1 AND namespace = ?2
                 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![room_id, ns], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn put_plugin_data(
        &self,
        room_id: &str,
        ns: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StorageError> {
        self.with(|c| {
            match value {
                Some(v) => c.execute(
                    "INSERT INTO plugin_data (room_id, namespace, key, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (room_id, namespace, key) DO UPDATE SET value = excluded.value",
                    params![room_id, ns, key, v],
                )?,
                None => c.execute(
                    "DELETE FROM plugin_data WHERE room_id = ?1 AND namespace = ?2 AND key = ?3",
                    params![room_id, ns, key],
                )?,
            };
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::PollState;

    /// The conformance suite every backend must pass.
    fn conformance(store: &dyn Store) {
        let room = RoomRecord {
            id: "demo".into(),
            name: "Demo".into(),
            created_at: 1,
        };
        store.create_room(&room).unwrap();
        assert!(matches!(
            store.create_room(&room),
            Err(StorageError::Duplicate(_))
        ));
        assert_eq!(store.room("demo").unwrap(), Some(room.clone()));
        assert_eq!(store.room("nope").unwrap(), None);
        assert_eq!(store.rooms().unwrap(), vec![room]);

        let invite = InviteRecord {
            id: "i-1".into(),
            room_id: "demo".into(),
            participant_id: "p-1".into(),
            name: "Anna".into(),
            role: Role::Moderator,
            created_at: 2,
            expires_at: 3,
            revoked: false,
        };
        store.insert_invite(&invite).unwrap();
        assert_eq!(store.invite("i-1").unwrap(), Some(invite.clone()));
        let orphan = InviteRecord {
            id: "i-2".into(),
            room_id: "missing".into(),
            ..invite
        };
        assert!(store.insert_invite(&orphan).is_err());
        assert_eq!(store.invite("i-2").unwrap(), None);

        assert_eq!(store.room_state("demo").unwrap(), None);
        store.save_room_state("demo", r#"{"a":1}"#).unwrap();
        store.save_room_state("demo", r#"{"a":2}"#).unwrap();
        assert_eq!(
            store.room_state("demo").unwrap().as_deref(),
            Some(r#"{"a":2}"#)
        );
        assert!(store.save_room_state("missing", "{}").is_err());

        polls_conformance(store);

        store
            .put_plugin_data("demo", "chat", "m/2", Some("b"))
            .unwrap();
        store
            .put_plugin_data("demo", "chat", "m/1", Some("a"))
            .unwrap();
        store
            .put_plugin_data("demo", "chat", "m/1", Some("A"))
            .unwrap();
        store
            .put_plugin_data("demo", "other", "m/1", Some("x"))
            .unwrap();
        store.put_plugin_data("demo", "chat", "m/2", None).unwrap();
        assert_eq!(
            store.plugin_data("demo", "chat").unwrap(),
            vec![("m/1".to_owned(), "A".to_owned())]
        );
    }

    fn polls_conformance(store: &dyn Store) {
        let poll = PollRecord {
            id: "poll-1".into(),
            room_id: "demo".into(),
            spec: "{}".into(),
            state: PollState::Draft,
            eligible_voters: 0,
            eligible_weight: 0,
            result: None,
        };
        store.create_poll(&poll, r#"{"e":"created"}"#).unwrap();
        let ballot = |id: &str| BallotRecord {
            ballot_id: id.into(),
            weight: 2,
            choice: r#"{"vote":"yes"}"#.into(),
            voter_id: None,
        };
        assert_eq!(
            store.cast("poll-1", "p-1", &ballot("b0")).unwrap(),
            CastOutcome::NotOpen,
            "a draft takes no votes"
        );
        let right = |h: &str| Right {
            holder_id: h.into(),
            proxy_id: None,
            weight: 2,
            voted: false,
        };
        assert!(
            store
                .open_poll("poll-1", &[right("p-1"), right("p-2")], "{}")
                .unwrap()
        );
        assert!(!store.open_poll("poll-1", &[], "{}").unwrap(), "only once");
        assert_eq!(store.polls("demo").unwrap()[0].eligible_weight, 4);
        assert_eq!(
            store.cast("poll-1", "p-1", &ballot("b1")).unwrap(),
            CastOutcome::Counted
        );
        assert_eq!(
            store.cast("poll-1", "p-1", &ballot("b2")).unwrap(),
            CastOutcome::AlreadyVoted
        );
        assert_eq!(
            store.cast("poll-1", "p-9", &ballot("b3")).unwrap(),
            CastOutcome::NotOpen
        );
        assert_eq!(store.ballots("poll-1").unwrap(), vec![ballot("b1")]);
        let rights = store.rights("poll-1").unwrap();
        assert_eq!(rights.iter().filter(|r| r.voted).count(), 1);
        assert!(
            store
                .set_poll_state(
                    "poll-1",
                    PollState::Open,
                    PollState::Closed,
                    Some("{}"),
                    "{}"
                )
                .unwrap()
        );
        assert!(
            !store
                .set_poll_state("poll-1", PollState::Open, PollState::Closed, None, "{}")
                .unwrap()
        );
        assert_eq!(
            store.cast("poll-1", "p-2", &ballot("b4")).unwrap(),
            CastOutcome::NotOpen
        );
        store.compact().unwrap();
        let chain = store.audit("demo").unwrap();
        assert_eq!(chain.len(), 3, "created, opened, closed");
        assert_eq!(verify_audit(&chain), Ok(()));
        let mut forged = chain.clone();
        forged[1].event = r#"{"e":"forged"}"#.into();
        assert_eq!(verify_audit(&forged), Err(2));
    }

    #[test]
    fn sqlite_in_memory_conforms() {
        conformance(&SqliteStore::in_memory().unwrap());
    }

    #[test]
    fn sqlite_file_conforms_and_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("plenum-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        conformance(&SqliteStore::open(&path).unwrap());
        let reopened = SqliteStore::open(&path).unwrap();
        assert!(reopened.room("demo").unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

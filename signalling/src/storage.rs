//! Persistence: one trait per concern, SQLite (embedded, zero setup) as the default backend
//! and PostgreSQL ([`PgStore`], `[database] url`) as the other; one conformance suite runs
//! against both.
//!
//! Migrations are numbered SQL scripts applied in order (`PRAGMA user_version` tracks the
//! schema version; PostgreSQL has the same steps in its dialect, see `storage/pg.rs`).

mod account;
mod backup;
mod events;
mod org;
mod pg;
mod polls;
mod record;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

use crate::auth::Role;

pub use account::{AccountStore, Failures};
pub use backup::{BackupError, Copied, restore};
pub use events::{EventKind, EventRecord, EventStore};
pub use org::{OrgStore, RosterEntry};
pub use pg::PgStore;
pub use polls::{
    AuditEntry, Cast, CastOutcome, NamedVote, PollRecord, PollStore, Right, audit_hash,
    result_commitment, verify_audit,
};
pub use record::{RecordStore, Stay};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// Migrating the schema failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// PostgreSQL (or the connection to it) reported an error.
    #[error("PostgreSQL: {}", pg::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The PostgreSQL driver's thread could not be started or stopped.
    #[error("PostgreSQL driver: {0}")]
    Driver(std::io::Error),
    /// The database cannot be used by this version: a newer schema, a wrong encoding, a
    /// migration that failed.
    #[error("the database cannot be used: {0}")]
    Unusable(String),
    /// A record with this id exists already.
    #[error("{0} exists already")]
    Duplicate(String),
    /// A stored value is not what this version understands.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The data directory or a database file could not be created or made private.
    #[error("cannot secure {path}: {source}")]
    Files {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
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

/// Key-value data of plugins: per room and namespace, and organisation-wide per namespace
/// (docs/plugins.md, *Storage*).
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
    /// A plugin's organisation-wide data (no room) whose keys start with `prefix`, by key.
    fn org_data(&self, ns: &str, prefix: &str) -> Result<Vec<(String, String)>, StorageError>;
    /// One key of a plugin's organisation-wide data.
    fn org_datum(&self, ns: &str, key: &str) -> Result<Option<String>, StorageError>;
    /// Store (`Some`) or delete (`None`) one organisation-wide key; durable when it returns.
    fn put_org_data(&self, ns: &str, key: &str, value: Option<&str>) -> Result<(), StorageError>;
    /// Store one organisation-wide key only if it is not there yet: `false` (and nothing
    /// written) if it is. Atomic, so two callers racing for one key cannot both win (one
    /// vote per member, one number per resolution); durable when it returns.
    fn insert_org_data(&self, ns: &str, key: &str, value: &str) -> Result<bool, StorageError>;
}

/// Rooms, invites, room state; polls through [`PollStore`], plugin data through
/// [`PluginStore`], the organisation through [`OrgStore`], sign-in through [`AccountStore`],
/// events (congress administration) through [`EventStore`], attendance through
/// [`RecordStore`].
pub trait Store:
    PollStore
    + PluginStore
    + OrgStore
    + AccountStore
    + EventStore
    + RecordStore
    + Send
    + Sync
    + std::fmt::Debug
{
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
    /// A room's invites, oldest first.
    fn invites(&self, room_id: &str) -> Result<Vec<InviteRecord>, StorageError>;
    /// Revoke an invite; `false` if there is none or it was revoked already.
    fn revoke_invite(&self, id: &str) -> Result<bool, StorageError>;
    /// Every revoked invite: (invite id, room id, participant id).
    fn revoked_invites(&self) -> Result<Vec<(String, String, String)>, StorageError>;
    /// A room's control state (mode, lobby, grants, queue …) as the room stored it, a JSON
    /// document the room module owns.
    fn room_state(&self, room_id: &str) -> Result<Option<String>, StorageError>;
    /// Replace a room's control state; durable when it returns.
    fn save_room_state(&self, room_id: &str, state: &str) -> Result<(), StorageError>;
}

fn migrations() -> Migrations<'static> {
    Migrations::new(migration_steps())
}

/// Every schema change, in order (`PRAGMA user_version` counts the applied ones).
fn migration_steps() -> Vec<M<'static>> {
    vec![
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
        // No row per ballot any more: counters per poll, receipts apart, named votes apart
        // (polls.rs). Stored ballots of earlier versions are folded in, then dropped.
        M::up_with_hook(
            "ALTER TABLE polls ADD COLUMN result_nonce TEXT;
            CREATE TABLE poll_tally (
                poll_id TEXT NOT NULL REFERENCES polls(id),
                slot INTEGER NOT NULL,
                value INTEGER NOT NULL,
                PRIMARY KEY (poll_id, slot)
            ) WITHOUT ROWID;
            CREATE TABLE poll_receipts (
                poll_id TEXT NOT NULL REFERENCES polls(id),
                receipt TEXT NOT NULL,
                PRIMARY KEY (poll_id, receipt)
            ) WITHOUT ROWID;
            CREATE TABLE named_votes (
                poll_id TEXT NOT NULL REFERENCES polls(id),
                voter_id TEXT NOT NULL,
                weight INTEGER NOT NULL,
                choice TEXT NOT NULL,
                PRIMARY KEY (poll_id, voter_id)
            ) WITHOUT ROWID;
            INSERT INTO poll_receipts (poll_id, receipt) SELECT poll_id, ballot_id FROM ballots;
            INSERT INTO named_votes (poll_id, voter_id, weight, choice)
                SELECT poll_id, voter_id, weight, choice FROM ballots WHERE voter_id IS NOT NULL;",
            fold_legacy_ballots,
        ),
        // The organisation (org.rs): units as a tree, members, their groups, admin scopes.
        M::up(
            "CREATE TABLE units (
                id TEXT PRIMARY KEY NOT NULL,
                name TEXT NOT NULL,
                parent_id TEXT REFERENCES units(id)
            );
            CREATE TABLE members (
                number TEXT PRIMARY KEY NOT NULL,
                first_name TEXT NOT NULL,
                last_name TEXT NOT NULL,
                unit_id TEXT NOT NULL REFERENCES units(id),
                email TEXT,
                phone TEXT,
                visibility TEXT,
                status TEXT NOT NULL
            );
            CREATE INDEX members_unit ON members(unit_id);
            CREATE INDEX members_email ON members(email);
            CREATE TABLE member_groups (
                number TEXT NOT NULL REFERENCES members(number),
                group_name TEXT NOT NULL,
                PRIMARY KEY (number, group_name)
            ) WITHOUT ROWID;
            CREATE TABLE org_admins (
                number TEXT NOT NULL REFERENCES members(number),
                unit_id TEXT NOT NULL REFERENCES units(id),
                PRIMARY KEY (number, unit_id)
            ) WITHOUT ROWID;",
        ),
        // Member sign-in (account.rs): secrets only as SHA-256 hashes.
        M::up(
            "CREATE TABLE activations (
                hash TEXT PRIMARY KEY NOT NULL,
                number TEXT NOT NULL REFERENCES members(number),
                expires_at INTEGER NOT NULL,
                used INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX activations_member ON activations(number);
            CREATE TABLE credentials (
                number TEXT PRIMARY KEY NOT NULL REFERENCES members(number),
                password TEXT NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE login_failures (
                key TEXT PRIMARY KEY NOT NULL,
                count INTEGER NOT NULL,
                last_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE member_sessions (
                hash TEXT PRIMARY KEY NOT NULL,
                number TEXT NOT NULL REFERENCES members(number),
                expires_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX member_sessions_member ON member_sessions(number);",
        ),
        // Rooms' rosters: which member may enter which room, through which invite.
        M::up(
            "CREATE TABLE room_roster (
                room_id TEXT NOT NULL REFERENCES rooms(id),
                number TEXT NOT NULL REFERENCES members(number),
                invite_id TEXT NOT NULL REFERENCES invites(id),
                PRIMARY KEY (room_id, number)
            ) WITHOUT ROWID;
            CREATE INDEX room_roster_member ON room_roster(number);",
        ),
        // Events (events.rs): a room's kind of meeting, date, organising unit, agenda, quotas.
        M::up(
            "CREATE TABLE events (
                room_id TEXT PRIMARY KEY NOT NULL REFERENCES rooms(id),
                kind TEXT NOT NULL,
                starts_at INTEGER,
                unit_id TEXT NOT NULL REFERENCES units(id),
                agenda TEXT NOT NULL,
                quotas TEXT NOT NULL
            ) WITHOUT ROWID;",
        ),
        // Retention (gdpr.rs): when a member was first seen as left, when an account was last
        // used; every invite a member was ever seated with (a new seat replaces the roster
        // entry, erasure must still find the old invite). Failed sign-ins are now kept under a hash of their key (account.rs); the old
        // plain keys go.
        M::up(
            "ALTER TABLE members ADD COLUMN left_at INTEGER;
            ALTER TABLE credentials ADD COLUMN last_used_at INTEGER;
            DELETE FROM login_failures;
            CREATE TABLE member_invites (
                number TEXT NOT NULL REFERENCES members(number),
                invite_id TEXT NOT NULL REFERENCES invites(id),
                PRIMARY KEY (number, invite_id)
            ) WITHOUT ROWID;
            INSERT INTO member_invites (number, invite_id) SELECT number, invite_id FROM room_roster;",
        ),
        // The session record (record.rs): who was in a room from when to when.
        M::up(
            "CREATE TABLE attendance (
                room_id TEXT NOT NULL REFERENCES rooms(id),
                seq INTEGER NOT NULL,
                participant_id TEXT NOT NULL,
                joined_at_ms INTEGER NOT NULL,
                left_at_ms INTEGER,
                PRIMARY KEY (room_id, seq)
            ) WITHOUT ROWID;
            CREATE INDEX attendance_participant ON attendance(room_id, participant_id);",
        ),
        // Organisation-wide plugin data (circulations, the resolutions register, attachments).
        M::up(
            "CREATE TABLE org_plugin_data (
                namespace TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (namespace, key)
            ) WITHOUT ROWID;",
        ),
        // Verifiable polls (polls.rs): the committee's key generation record and the count of
        // refused ballots per poll, the bulletin board's entries in order. Public data only.
        M::up(
            "CREATE TABLE verifiable_polls (
                poll_id TEXT PRIMARY KEY NOT NULL REFERENCES polls(id),
                dkg TEXT NOT NULL,
                rejected INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID;
            CREATE TABLE board_entries (
                poll_id TEXT NOT NULL REFERENCES polls(id),
                seq INTEGER NOT NULL,
                entry TEXT NOT NULL,
                PRIMARY KEY (poll_id, seq)
            ) WITHOUT ROWID;",
        ),
    ]
}

/// The schema version at which ballots became counters (see [`fold_legacy_ballots`]).
const COUNTERS_VERSION: i64 = 5;

/// Migration 5's hook: sum the ballot rows of earlier versions into each poll's counters,
/// then drop them.
fn fold_legacy_ballots(tx: &rusqlite::Transaction<'_>) -> rusqlite_migration::HookResult {
    use crate::ballot::{Choice, PollSpec, Tally};
    let fail = |m: String| rusqlite_migration::HookError::Hook(m);
    let polls: Vec<(String, String)> = tx
        .prepare("SELECT id, spec FROM polls WHERE state IN ('open', 'closed', 'published')")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, spec) in polls {
        let spec: PollSpec =
            serde_json::from_str(&spec).map_err(|e| fail(format!("poll {id}: {e}")))?;
        let mut tally = Tally::new(&spec);
        let ballots: Vec<(i64, String)> = tx
            .prepare("SELECT weight, choice FROM ballots WHERE poll_id = ?1")?
            .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (weight, choice) in ballots {
            let choice: Choice =
                serde_json::from_str(&choice).map_err(|e| fail(format!("poll {id}: {e}")))?;
            tally.add(u64::try_from(weight).unwrap_or(0), &choice);
        }
        let slots = tally.to_slots();
        polls::create_tally(tx, &id, slots.len()).map_err(|e| fail(e.to_string()))?;
        polls::add_to_tally(tx, &id, &slots).map_err(|e| fail(e.to_string()))?;
    }
    tx.execute_batch("DROP TABLE ballots;")?;
    Ok(())
}

/// Create `dir` if needed and make it owner-only (0700): it holds the database, the token
/// key and the TLS key.
pub fn secure_dir(dir: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |source| StorageError::Files {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)
}

/// The database file and its WAL and shared-memory files: created owner-only (0600), and
/// made so if an earlier version left them readable. SQLite creates the WAL and SHM files
/// with the mode of the database file.
fn secure_db_files(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |p: &Path, source| StorageError::Files {
        path: p.display().to_string(),
        source,
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| failed(path, e))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other.map_err(|e| failed(&p, e))?,
        }
    }
    Ok(())
}

/// The SQLite backend. One connection; calls are short and serialized.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Open (or create) the database file, owner-only, and migrate it to the current schema.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        secure_db_files(path)?;
        Self::init(Connection::open(path)?)
    }

    /// Open an existing database of exactly this version's schema, without migrating it:
    /// for tools that run beside a server (`plenum backup`), which must not change the schema
    /// under a server of another version. `Corrupt` if the versions differ.
    pub fn open_current(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let latest = i64::try_from(migration_steps().len()).unwrap_or(i64::MAX);
        if found != latest {
            return Err(StorageError::Corrupt(format!(
                "the database has schema version {found}, this plenum {latest}: use the plenum \
                 binary of the running server"
            )));
        }
        Self::init(conn)
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
        // Temporary tables and VACUUM's copy of the database stay in memory, not in /tmp.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        migrations().to_latest(&mut conn)?;
        let store = Self {
            conn: Mutex::new(conn),
        };
        if (1..COUNTERS_VERSION).contains(&version) {
            // Ballot rows were just folded into counters: rewrite the file without them.
            store.compact()?;
        } else {
            // A crash may have left WAL frames (e.g. of the last vote): merge and truncate.
            store.with(Self::checkpoint)?;
        }
        Ok(store)
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

impl SqliteStore {
    /// Invites whose `column` (`id` or `room_id`) is `value`, oldest first.
    fn invite_query(&self, column: &str, value: &str) -> Result<Vec<InviteRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT id, room_id, participant_id, name, role, created_at, expires_at, revoked
                 FROM invites WHERE {column} = ?1 ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map(params![value], |r| {
                Ok((
                    (
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ),
                    r.get::<_, String>(4)?,
                    from_sql_time(r.get(5)?),
                    from_sql_time(r.get(6)?),
                    r.get::<_, bool>(7)?,
                ))
            })?;
            rows.map(|row| {
                let ((id, room_id, participant_id, name), role, created_at, expires_at, revoked) =
                    row?;
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
            })
            .collect()
        })
    }
}

/// Store an invite (also inside a caller's transaction).
/// Insert a room; `Duplicate` if the id is taken.
fn insert_room_in(c: &Connection, room: &RoomRecord) -> Result<(), StorageError> {
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
}

fn insert_invite_in(c: &Connection, invite: &InviteRecord) -> Result<(), StorageError> {
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
}

impl Store for SqliteStore {
    fn create_room(&self, room: &RoomRecord) -> Result<(), StorageError> {
        self.with(|c| insert_room_in(c, room))
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
        self.with(|c| insert_invite_in(c, invite))
    }

    fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StorageError> {
        Ok(self.invite_query("id", id)?.pop())
    }

    fn invites(&self, room_id: &str) -> Result<Vec<InviteRecord>, StorageError> {
        self.invite_query("room_id", room_id)
    }

    fn revoke_invite(&self, id: &str) -> Result<bool, StorageError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE invites SET revoked = 1 WHERE id = ?1 AND revoked = 0",
                params![id],
            )? == 1)
        })
    }

    fn revoked_invites(&self) -> Result<Vec<(String, String, String)>, StorageError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT id, room_id, participant_id FROM invites WHERE revoked = 1")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
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

    fn org_data(&self, ns: &str, prefix: &str) -> Result<Vec<(String, String)>, StorageError> {
        self.with(|c| {
            // Keys from `prefix` up to the first key that does not start with it: a range on
            // the primary key, no LIKE (whose `%` and `_` a prefix could contain).
            let mut stmt = c.prepare(
                "SELECT key, value FROM org_plugin_data WHERE namespace = ?1 AND key >= ?2
                 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![ns, prefix], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (key, value) = row?;
                if !key.starts_with(prefix) {
                    break;
                }
                out.push((key, value));
            }
            Ok(out)
        })
    }

    fn org_datum(&self, ns: &str, key: &str) -> Result<Option<String>, StorageError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT value FROM org_plugin_data WHERE namespace = ?1 AND key = ?2",
                params![ns, key],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn put_org_data(&self, ns: &str, key: &str, value: Option<&str>) -> Result<(), StorageError> {
        self.with(|c| {
            match value {
                Some(v) => c.execute(
                    "INSERT INTO org_plugin_data (namespace, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                    params![ns, key, v],
                )?,
                None => c.execute(
                    "DELETE FROM org_plugin_data WHERE namespace = ?1 AND key = ?2",
                    params![ns, key],
                )?,
            };
            Ok(())
        })
    }

    fn insert_org_data(&self, ns: &str, key: &str, value: &str) -> Result<bool, StorageError> {
        self.with(|c| {
            let n = c.execute(
                "INSERT INTO org_plugin_data (namespace, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (namespace, key) DO NOTHING",
                params![ns, key, value],
            )?;
            Ok(n == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::PollState;

    /// The conformance suite every backend must pass.
    pub(super) fn conformance(store: &dyn Store) {
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
        assert_eq!(store.invites("demo").unwrap(), vec![invite.clone()]);
        assert!(store.revoked_invites().unwrap().is_empty());
        assert!(store.revoke_invite("i-1").unwrap());
        assert!(!store.revoke_invite("i-1").unwrap(), "only once");
        assert!(!store.revoke_invite("i-9").unwrap(), "no such invite");
        assert!(store.invite("i-1").unwrap().unwrap().revoked);
        assert_eq!(
            store.revoked_invites().unwrap(),
            vec![("i-1".into(), "demo".into(), "p-1".into())]
        );
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
        verifiable_conformance(store);
        org_conformance(store);
        account_conformance(store);
        retention_conformance(store);
        events_conformance(store);
        attendance_conformance(store);

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

        // Organisation-wide data: by prefix, insert-if-absent, delete.
        assert!(store.insert_org_data("reports", "c/1/v/a", "yes").unwrap());
        assert!(
            !store.insert_org_data("reports", "c/1/v/a", "no").unwrap(),
            "a key is inserted once"
        );
        assert!(store.insert_org_data("reports", "c/1/v/b", "no").unwrap());
        assert!(store.insert_org_data("reports", "c/10", "x").unwrap());
        assert!(store.insert_org_data("other", "c/1/v/c", "x").unwrap());
        store.put_org_data("reports", "c/1", Some("def")).unwrap();
        assert_eq!(
            store.org_data("reports", "c/1/").unwrap(),
            vec![
                ("c/1/v/a".to_owned(), "yes".to_owned()),
                ("c/1/v/b".to_owned(), "no".to_owned())
            ]
        );
        assert_eq!(store.org_data("reports", "c/1").unwrap().len(), 4);
        assert_eq!(
            store.org_datum("reports", "c/1/v/a").unwrap().as_deref(),
            Some("yes")
        );
        store.put_org_data("reports", "c/1/v/a", None).unwrap();
        assert_eq!(store.org_datum("reports", "c/1/v/a").unwrap(), None);
        assert_eq!(store.org_data("reports", "%").unwrap(), vec![]);
    }

    /// A draft poll of room `demo`, as stored before it opens.
    pub(super) fn draft_poll(id: &str) -> PollRecord {
        PollRecord {
            id: id.into(),
            room_id: "demo".into(),
            spec: "{}".into(),
            state: PollState::Draft,
            eligible_voters: 0,
            eligible_weight: 0,
            result: None,
            result_nonce: None,
        }
    }

    pub(super) fn polls_conformance(store: &dyn Store) {
        let poll = draft_poll("poll-1");
        store.create_poll(&poll, r#"{"e":"created"}"#).unwrap();
        // Two counters (ballots, weight) and one question: a vote of weight 2 for "yes".
        let cast = |receipt: &str| Cast {
            receipt: receipt.into(),
            delta: vec![1, 2, 2, 0, 0],
            named: None,
        };
        assert_eq!(
            store.cast("poll-1", "p-1", &cast("b0")).unwrap(),
            CastOutcome::NotOpen,
            "a draft takes no votes"
        );
        assert!(store.tally("poll-1").unwrap().is_empty());
        let right = |h: &str| Right {
            holder_id: h.into(),
            proxy_id: None,
            weight: 2,
            voted: false,
        };
        assert!(
            store
                .open_poll("poll-1", &[right("p-1"), right("p-2")], 5, &[], "{}")
                .unwrap()
        );
        assert!(
            !store.open_poll("poll-1", &[], 5, &[], "{}").unwrap(),
            "only once"
        );
        assert_eq!(store.polls("demo").unwrap()[0].eligible_weight, 4);
        assert_eq!(store.tally("poll-1").unwrap(), vec![0; 5]);
        assert_eq!(
            store.cast("poll-1", "p-1", &cast("b1")).unwrap(),
            CastOutcome::Counted
        );
        assert_eq!(
            store.cast("poll-1", "p-1", &cast("b2")).unwrap(),
            CastOutcome::AlreadyVoted
        );
        assert_eq!(
            store.cast("poll-1", "p-9", &cast("b3")).unwrap(),
            CastOutcome::NotOpen
        );
        let wrong_shape = Cast {
            delta: vec![1; 6],
            ..cast("b5")
        };
        assert!(
            store.cast("poll-1", "p-2", &wrong_shape).is_err(),
            "a delta for counters the poll does not have"
        );
        assert_eq!(store.tally("poll-1").unwrap(), vec![1, 2, 2, 0, 0]);
        assert_eq!(store.receipts("poll-1").unwrap(), vec!["b1".to_owned()]);
        let rights = store.rights("poll-1").unwrap();
        assert_eq!(
            rights.iter().filter(|r| r.voted).count(),
            1,
            "the refused cast changed nothing"
        );
        assert!(
            store
                .set_poll_state(
                    "poll-1",
                    PollState::Open,
                    PollState::Closed,
                    Some(("{}", "00")),
                    &[],
                    "{}"
                )
                .unwrap()
        );
        assert_eq!(
            store.polls("demo").unwrap()[0].result_nonce.as_deref(),
            Some("00")
        );
        assert!(
            !store
                .set_poll_state(
                    "poll-1",
                    PollState::Open,
                    PollState::Closed,
                    None,
                    &[],
                    "{}"
                )
                .unwrap()
        );
        assert_eq!(
            store.cast("poll-1", "p-2", &cast("b4")).unwrap(),
            CastOutcome::NotOpen
        );
        store.compact().unwrap();
        let chain = store.audit("demo").unwrap();
        assert_eq!(chain.len(), 3, "created, opened, closed");
        assert_eq!(verify_audit(&chain), Ok(()));
        let mut forged = chain.clone();
        forged[1].event = r#"{"e":"forged"}"#.into();
        assert_eq!(verify_audit(&forged), Err(2));

        // A named poll keeps who chose what; cancelling forgets rights, counters, receipts
        // and named votes.
        let named = PollRecord {
            id: "poll-2".into(),
            ..poll
        };
        store.create_poll(&named, "{}").unwrap();
        assert!(
            store
                .open_poll("poll-2", &[right("p-1")], 5, &[], "{}")
                .unwrap()
        );
        let vote = NamedVote {
            voter_id: "p-1".into(),
            weight: 2,
            choice: r#"{"vote":"yes"}"#.into(),
        };
        let named_cast = Cast {
            named: Some(vote.clone()),
            ..cast("b6")
        };
        assert_eq!(
            store.cast("poll-2", "p-1", &named_cast).unwrap(),
            CastOutcome::Counted
        );
        assert_eq!(store.named_votes("poll-2").unwrap(), vec![vote]);
        assert!(
            store
                .set_poll_state(
                    "poll-2",
                    PollState::Open,
                    PollState::Cancelled,
                    None,
                    &[],
                    "{}"
                )
                .unwrap()
        );
        assert!(store.tally("poll-2").unwrap().is_empty());
        assert!(store.receipts("poll-2").unwrap().is_empty());
        assert!(store.named_votes("poll-2").unwrap().is_empty());
        assert!(store.rights("poll-2").unwrap().is_empty());
        assert_eq!(
            store.receipts("poll-1").unwrap().len(),
            1,
            "other polls stay"
        );
    }

    /// A verifiable poll's storage: the key generation record, refused ballots, the board
    /// in order, a cast that uses the right and appends in one step, and cancelling.
    pub(super) fn verifiable_conformance(store: &dyn Store) {
        let poll = draft_poll("poll-v");
        store.create_poll(&poll, "{}").unwrap();
        assert_eq!(store.verifiable("poll-v").unwrap(), None);
        store.save_dkg("poll-v", r#"{"round":"keys"}"#).unwrap();
        store.save_dkg("poll-v", r#"{"round":"done"}"#).unwrap();
        assert_eq!(
            store.verifiable("poll-v").unwrap(),
            Some((r#"{"round":"done"}"#.to_owned(), 0))
        );
        let right = |h: &str| Right {
            holder_id: h.into(),
            proxy_id: None,
            weight: 1,
            voted: false,
        };
        assert_eq!(
            store
                .cast_ballot("poll-v", "p-1", &["r".into(), "b".into()])
                .unwrap(),
            CastOutcome::NotOpen
        );
        assert!(
            store
                .open_poll(
                    "poll-v",
                    &[right("p-1"), right("p-2")],
                    0,
                    &["h".into()],
                    "{}"
                )
                .unwrap()
        );
        assert_eq!(store.board("poll-v").unwrap(), vec!["h"]);
        assert_eq!(
            store
                .cast_ballot("poll-v", "p-1", &["r1".into(), "b1".into()])
                .unwrap(),
            CastOutcome::Counted
        );
        assert_eq!(
            store
                .cast_ballot("poll-v", "p-1", &["r2".into(), "b2".into()])
                .unwrap(),
            CastOutcome::AlreadyVoted,
            "nothing appended"
        );
        assert_eq!(
            store
                .cast_ballot("poll-v", "p-9", &["r3".into(), "b3".into()])
                .unwrap(),
            CastOutcome::NotOpen
        );
        store.count_rejected("poll-v").unwrap();
        store.count_rejected("poll-v").unwrap();
        assert_eq!(store.verifiable("poll-v").unwrap().unwrap().1, 2);
        assert!(
            store
                .set_poll_state(
                    "poll-v",
                    PollState::Open,
                    PollState::Closed,
                    None,
                    &["c".into(), "t".into()],
                    "{}"
                )
                .unwrap()
        );
        store.append_board("poll-v", &["p1".into()]).unwrap();
        // Closed → closed sets the result and appends the last entries.
        assert!(
            store
                .set_poll_state(
                    "poll-v",
                    PollState::Closed,
                    PollState::Closed,
                    Some(("{}", "00")),
                    &["p2".into(), "res".into()],
                    "{}"
                )
                .unwrap()
        );
        assert_eq!(
            store.board("poll-v").unwrap(),
            vec!["h", "r1", "b1", "c", "t", "p1", "p2", "res"]
        );
        let polls = store.polls("demo").unwrap();
        let stored = polls.iter().find(|p| p.id == "poll-v").unwrap();
        assert_eq!(
            (stored.state, stored.result.as_deref()),
            (PollState::Closed, Some("{}"))
        );
        assert!(
            store
                .set_poll_state(
                    "poll-v",
                    PollState::Closed,
                    PollState::Cancelled,
                    None,
                    &[],
                    "{}"
                )
                .unwrap()
        );
        assert!(store.board("poll-v").unwrap().is_empty());
        assert_eq!(store.verifiable("poll-v").unwrap(), None);
    }

    pub(super) fn org_conformance(store: &dyn Store) {
        use crate::org::{Member, MemberStatus, Unit, UnitTree, Visibility};
        let unit = |id: &str, parent: Option<&str>| Unit {
            id: id.into(),
            name: format!("Verband {id}"),
            parent: parent.map(Into::into),
        };
        store.put_unit(&unit("bv", None)).unwrap();
        store.put_unit(&unit("lv-by", Some("bv"))).unwrap();
        assert!(
            store.put_unit(&unit("kv-x", Some("missing"))).is_err(),
            "a parent must exist"
        );
        let renamed = Unit {
            name: "Landesverband Bayern".into(),
            ..unit("lv-by", Some("bv"))
        };
        store.put_unit(&renamed).unwrap();
        let units = store.units().unwrap();
        assert_eq!(units, vec![unit("bv", None), renamed]);
        assert!(UnitTree::new(&units).unwrap().covers("bv", "lv-by"));

        let anna = Member {
            number: "1001".into(),
            first_name: "Anna".into(),
            last_name: "Schäfer".into(),
            unit: "lv-by".into(),
            email: Some("anna@example.org".into()),
            phone: None,
            groups: [
                "Bundesvorstand".to_owned(),
                "Delegierte LV Bayern".to_owned(),
            ]
            .into(),
            visibility: Some(Visibility::Unit),
            status: MemberStatus::Active,
        };
        let ben = Member {
            number: "1002".into(),
            first_name: "Ben".into(),
            groups: Default::default(),
            visibility: None,
            ..anna.clone()
        };
        store
            .apply_members(&[anna.clone(), ben.clone()], &[])
            .unwrap();
        assert_eq!(store.members().unwrap(), vec![anna.clone(), ben.clone()]);
        let moved = Member {
            unit: "bv".into(),
            groups: ["Bundesvorstand".to_owned()].into(),
            ..anna.clone()
        };
        store
            .apply_members(std::slice::from_ref(&moved), &["1002".to_owned()])
            .unwrap();
        assert_eq!(store.member("1001").unwrap(), Some(moved.clone()));
        assert_eq!(
            store.member("1002").unwrap().unwrap().status,
            MemberStatus::Left
        );
        assert_eq!(store.member("9999").unwrap(), None);
        // One bad member (unknown unit) and nothing of the batch changes.
        let stray = Member {
            number: "1003".into(),
            unit: "nowhere".into(),
            ..ben.clone()
        };
        let renamed_anna = Member {
            first_name: "Anne".into(),
            ..moved.clone()
        };
        assert!(store.apply_members(&[renamed_anna, stray], &[]).is_err());
        assert_eq!(store.member("1001").unwrap(), Some(moved));
        assert_eq!(store.member("1003").unwrap(), None);

        store.set_admin("1001", "lv-by", true).unwrap();
        store.set_admin("1001", "lv-by", true).unwrap();
        store.set_admin("1001", "bv", true).unwrap();
        assert_eq!(store.admin_scopes("1001").unwrap(), vec!["bv", "lv-by"]);
        store.set_admin("1001", "bv", false).unwrap();
        assert_eq!(store.admin_scopes("1001").unwrap(), vec!["lv-by"]);
        assert!(
            store.set_admin("9999", "bv", true).is_err(),
            "no such member"
        );
    }

    /// After `org_conformance`: member 1001 is active, 1002 has left.
    pub(super) fn account_conformance(store: &dyn Store) {
        // An expired link, a superseded link, a used link, a member who left: refused.
        store.create_activation("h-old", "1001", 100).unwrap();
        assert_eq!(
            store.activate("h-old", 100, "phc", "s0", 999).unwrap(),
            None,
            "expired"
        );
        store.create_activation("h-1", "1001", 1000).unwrap();
        store.create_activation("h-2", "1001", 1000).unwrap();
        assert_eq!(
            store.activate("h-1", 10, "phc", "s0", 999).unwrap(),
            None,
            "superseded"
        );
        assert_eq!(store.password_hash("1001").unwrap(), None);
        store.create_session("s-before", "1001", 999).unwrap();
        assert_eq!(
            store
                .activate("h-2", 10, "phc-1", "s1", 999)
                .unwrap()
                .as_deref(),
            Some("1001")
        );
        assert_eq!(
            store.activate("h-2", 11, "phc-2", "s2", 999).unwrap(),
            None,
            "used"
        );
        assert_eq!(
            store.password_hash("1001").unwrap().as_deref(),
            Some("phc-1")
        );
        assert_eq!(
            store.session("s-before", 10).unwrap(),
            None,
            "activation ends sessions"
        );
        assert_eq!(store.session("s1", 10).unwrap().as_deref(), Some("1001"));
        assert_eq!(store.session("s1", 999).unwrap(), None, "expired session");
        store.create_activation("h-left", "1002", 1000).unwrap();
        assert_eq!(
            store.activate("h-left", 10, "phc", "s3", 999).unwrap(),
            None,
            "left"
        );

        assert_eq!(store.failures("k").unwrap(), Failures::default());
        store.record_failure("k", 5).unwrap();
        store.record_failure("k", 7).unwrap();
        assert_eq!(
            store.failures("k").unwrap(),
            Failures {
                count: 2,
                last_at: 7
            }
        );
        store.clear_failures("k").unwrap();
        assert_eq!(store.failures("k").unwrap().count, 0);

        store.create_session("s4", "1001", 999).unwrap();
        store.delete_session("s4").unwrap();
        assert_eq!(store.session("s4", 10).unwrap(), None);
        store.create_session("s5", "1001", 999).unwrap();
        assert_eq!(store.delete_sessions("1001").unwrap(), 2, "s1 and s5");
        assert_eq!(store.session("s5", 10).unwrap(), None);
    }

    /// After `account_conformance`: 1001 has a password, 1002 has left.
    pub(super) fn retention_conformance(store: &dyn Store) {
        // Who left is marked once, at the first look; a member back again loses the mark.
        assert_eq!(
            store.left_members(50).unwrap(),
            vec![("1002".to_owned(), 50)]
        );
        assert_eq!(
            store.left_members(60).unwrap(),
            vec![("1002".to_owned(), 50)]
        );
        // An account never seen in use counts from the first look.
        assert_eq!(store.idle_accounts(40, 40).unwrap(), Vec::<String>::new());
        assert_eq!(
            store.idle_accounts(41, 90).unwrap(),
            vec!["1001".to_owned()]
        );
        store.touch_credentials("1001", 100).unwrap();
        assert_eq!(store.idle_accounts(100, 200).unwrap(), Vec::<String>::new());
        store.record_failure("old", 10).unwrap();
        store.record_failure("new", 500).unwrap();
        assert_eq!(store.forget_failures(100).unwrap(), 1);
        assert_eq!(store.failures("new").unwrap().count, 1);
        store.create_session("s6", "1001", 999).unwrap();
        store.deactivate("1001").unwrap();
        assert_eq!(store.password_hash("1001").unwrap(), None);
        assert_eq!(store.session("s6", 10).unwrap(), None);
        assert!(store.member("1001").unwrap().is_some(), "the member stays");
    }

    /// Stays: join, leave, join again; a join with a stay still open closes it; a room
    /// starting after a stop closes every open stay.
    pub(super) fn attendance_conformance(store: &dyn Store) {
        store.record_join("demo", "p-a", 10).unwrap();
        store.record_join("demo", "p-b", 11).unwrap();
        store.record_leave("demo", "p-a", 20).unwrap();
        store.record_join("demo", "p-a", 30).unwrap();
        store.record_join("demo", "p-a", 35).unwrap();
        store.close_stays("demo", 40).unwrap();
        let stay = |p: &str, from, to| Stay {
            participant_id: p.into(),
            joined_at_ms: from,
            left_at_ms: to,
        };
        assert_eq!(
            store.stays("demo").unwrap(),
            vec![
                stay("p-a", 10, Some(20)),
                stay("p-b", 11, Some(40)),
                stay("p-a", 30, Some(35)),
                stay("p-a", 35, Some(40)),
            ]
        );
        store.record_leave("demo", "p-a", 50).unwrap();
        assert_eq!(
            store.stays("demo").unwrap().len(),
            4,
            "nothing open to close"
        );
        assert_eq!(store.stays("nope").unwrap(), vec![]);
    }

    /// Events and rosters; then erasure of a seated member.
    pub(super) fn events_conformance(store: &dyn Store) {
        let room = RoomRecord {
            id: "e-1".into(),
            name: "Landesparteitag".into(),
            created_at: 5,
        };
        let mut event = EventRecord {
            room_id: "e-1".into(),
            kind: EventKind::Congress,
            starts_at: Some(1_800_000_000),
            unit: "lv-by".into(),
            agenda: vec!["Eröffnung".into(), "Wahlen".into()],
            quotas: [("lv-by".to_owned(), 3)].into(),
        };
        store.create_event(&room, "{}", &event).unwrap();
        assert!(matches!(
            store.create_event(&room, "{}", &event),
            Err(StorageError::Duplicate(_))
        ));
        assert_eq!(store.room("e-1").unwrap(), Some(room.clone()));
        assert_eq!(store.room_state("e-1").unwrap().as_deref(), Some("{}"));
        assert_eq!(store.event("e-1").unwrap(), Some(event.clone()));
        event.quotas.clear();
        event.kind = EventKind::Board;
        store.put_event(&event).unwrap();
        assert_eq!(store.events().unwrap(), vec![event]);
        assert_eq!(store.event("nope").unwrap(), None);

        let member = store.member("1001").unwrap().unwrap();
        let (entry, invite) = crate::roster::seat("e-1", &member, Role::Delegate, 7);
        store
            .add_many_to_roster(&[(entry.clone(), invite.clone())])
            .unwrap();
        assert_eq!(store.roster("e-1").unwrap(), vec![entry.clone()]);
        // A new seat for the same member replaces the entry (the caller revoked the old one).
        let (again, new_invite) = crate::roster::seat("e-1", &member, Role::Observer, 8);
        store
            .add_many_to_roster(&[(again.clone(), new_invite.clone())])
            .unwrap();
        assert_eq!(store.roster("e-1").unwrap(), vec![again]);

        // Erasure: the invite is renamed and revoked, the member and their rows are gone.
        store.record_failure("key-of-1001", 10).unwrap();
        assert!(
            store
                .erase_member(
                    "1001",
                    "Gelöschtes Mitglied 0a0b",
                    &["key-of-1001".to_owned()]
                )
                .unwrap()
        );
        assert!(!store.erase_member("1001", "x", &[]).unwrap(), "gone");
        assert_eq!(store.member("1001").unwrap(), None);
        assert_eq!(store.roster("e-1").unwrap(), vec![]);
        assert_eq!(store.admin_scopes("1001").unwrap(), Vec::<String>::new());
        assert_eq!(store.failures("key-of-1001").unwrap().count, 0);
        let renamed = store.invite(&new_invite.id).unwrap().unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.revoked),
            ("Gelöschtes Mitglied 0a0b", true)
        );
        assert_eq!(renamed.participant_id, new_invite.participant_id);
        let earlier = store.invite(&invite.id).unwrap().unwrap();
        assert_eq!(
            earlier.name, "Gelöschtes Mitglied 0a0b",
            "the replaced seat too"
        );
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

    fn mode(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("plenum-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn database_files_and_the_data_directory_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("modes");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        secure_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        // A database an earlier version left world-readable is tightened on open.
        let path = data.join("plenum.db");
        drop(SqliteStore::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = SqliteStore::open(&path).unwrap();
        store
            .create_room(&RoomRecord {
                id: "r".into(),
                name: "R".into(),
                created_at: 1,
            })
            .unwrap();
        for f in ["plenum.db", "plenum.db-wal", "plenum.db-shm"] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_vote_leaves_no_wal_frames_and_no_ballot_row() {
        let dir = temp_dir("wal");
        let path = dir.join("plenum.db");
        let wal = dir.join("plenum.db-wal");
        let store = SqliteStore::open(&path).unwrap();
        conformance(&store);
        assert!(
            std::fs::metadata(&wal).unwrap().len() > 0,
            "other writes use the WAL"
        );
        let poll = draft_poll("poll-3");
        store.create_poll(&poll, "{}").unwrap();
        let right = Right {
            holder_id: "p-1".into(),
            proxy_id: None,
            weight: 1,
            voted: false,
        };
        assert!(store.open_poll("poll-3", &[right], 2, &[], "{}").unwrap());
        let cast = Cast {
            receipt: "r".into(),
            delta: vec![1, 1],
            named: None,
        };
        assert_eq!(
            store.cast("poll-3", "p-1", &cast).unwrap(),
            CastOutcome::Counted
        );
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            0,
            "the WAL is truncated before a cast returns"
        );
        // The cancelled named vote of the conformance run was overwritten (secure_delete),
        // not left in a free page.
        let bytes = std::fs::read(&path).unwrap();
        let needle = br#"{"vote":"yes"}"#;
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ballots_of_earlier_versions_are_folded_into_counters_and_dropped() {
        let dir = temp_dir("legacy");
        let path = dir.join("plenum.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            let old: Vec<M<'static>> = migration_steps().into_iter().take(4).collect();
            Migrations::new(old).to_latest(&mut conn).unwrap();
            let spec = r#"{"title":"A1","kind":"motion","secret":true}"#;
            conn.execute_batch(&format!(
                "INSERT INTO rooms VALUES ('demo', 'Demo', 1);
                 INSERT INTO polls VALUES ('poll-1', 'demo', 0, '{spec}', 'open', 3, 5, NULL);
                 INSERT INTO poll_rights VALUES ('poll-1', 'p-1', NULL, 3, 1);
                 INSERT INTO poll_rights VALUES ('poll-1', 'p-2', NULL, 1, 1);
                 INSERT INTO poll_rights VALUES ('poll-1', 'p-3', NULL, 1, 0);
                 INSERT INTO ballots VALUES ('poll-1', 'r-a', 3, '{{\"vote\":\"yes\"}}', NULL);
                 INSERT INTO ballots VALUES ('poll-1', 'r-b', 1, '{{\"vote\":\"abstain\"}}', NULL);"
            ))
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.tally("poll-1").unwrap(), vec![2, 4, 3, 0, 1]);
        assert_eq!(store.receipts("poll-1").unwrap(), vec!["r-a", "r-b"]);
        let tables: Vec<String> = store
            .with(|c| {
                let mut stmt = c.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
                let names = stmt.query_map([], |r| r.get(0))?;
                Ok(names.collect::<Result<Vec<String>, _>>()?)
            })
            .unwrap();
        assert!(!tables.iter().any(|t| t == "ballots"), "{tables:?}");
        drop(store);
        // The file was rewritten: no old ballot (its choice text) survives in any page.
        let bytes = std::fs::read(&path).unwrap();
        let needle = br#"{"vote":"abstain"}"#;
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

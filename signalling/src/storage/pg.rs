//! The PostgreSQL backend (`[database] url`): the traits, tables and semantics of the SQLite
//! backend in PostgreSQL's dialect; the same conformance suite runs against both.
//!
//! **Sync trait, async driver.** [`Store`] is synchronous and is called straight from tokio
//! tasks (room actors, HTTP handlers) and from the CLI without any runtime. The sync
//! `postgres` crate cannot serve that: it runs a runtime of its own and panics inside
//! another. So each store owns a small runtime (one worker thread, `plenum-pg`) that runs
//! only the connection's socket I/O; a call drives the client side of its queries — futures
//! that talk to that task over channels — to completion on the calling thread
//! ([`block_on`]). The caller blocks for the round trips as it blocks on SQLite's file
//! today, and nothing it waits for needs the caller's runtime: no deadlock on a
//! current-thread runtime, no panic on a multi-thread one.
//!
//! **One connection, serialized.** As with SQLite: one connection behind a mutex, short
//! calls in order. Each transaction first takes a transaction-scoped advisory lock, so
//! writers of several processes (the server and `plenum invite`) are serialized as SQLite's
//! write lock serializes them, and counted sequences (poll `seq`, the audit chain,
//! attendance) cannot fork. A broken connection (the database restarted) is opened again
//! on the next call; the call that met the break fails with [`StorageError::Postgres`].
//!
//! **Durability.** A transaction returns after `COMMIT` answered, with `synchronous_commit`
//! never `off` (a server default of `off` is overridden for Plenum's session): the commit is
//! flushed to the WAL on disk before a vote is acknowledged.
//!
//! **Secrecy** (docs/ballot.md, *PostgreSQL*): the same counters-and-receipts design. What
//! SQLite does with `secure_delete`, the WAL truncation and `VACUUM`, PostgreSQL can do only
//! in part: closing a poll rewrites its rights, counters and receipts in one transaction (one
//! `xmin` for all, so row versions no longer order the votes), and [`PollStore::compact`]
//! rewrites the tables (`CLUSTER` the receipts and rights by their random or sorted keys,
//! `VACUUM FULL` the rest) so no dead row version keeps an earlier counter. PostgreSQL's own
//! WAL keeps each vote's transaction until its segments are recycled and overwritten.
//!
//! Text columns are `COLLATE "C"` (byte order, as SQLite compares), whatever the database's
//! locale: ordering and the prefix ranges of [`PluginStore::org_data`] depend on it.

mod account;
mod events;
mod org;
mod polls;
mod record;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, NoTls, Row, Transaction};

use super::{InviteRecord, PluginStore, RoomRecord, StorageError, Store};
use crate::auth::Role;

/// One query parameter.
type Param<'a> = &'a (dyn ToSql + Sync);

/// The advisory lock every transaction takes first (any number unlikely to be used by
/// another application sharing the database; "plenum" in ASCII).
const WRITE_LOCK: i64 = 0x706c_656e_756d;

/// The table that records the schema version (SQLite: `PRAGMA user_version`).
const VERSION_TABLE: &str = "plenum_schema";

/// Every table of the schema, the version table included: what [`PollStore::compact`]
/// rewrites (a test checks the list against the database).
///
/// [`PollStore::compact`]: super::PollStore::compact
const TABLES: &[&str] = &[
    VERSION_TABLE,
    "rooms",
    "invites",
    "room_state",
    "polls",
    "poll_rights",
    "poll_tally",
    "poll_receipts",
    "named_votes",
    "audit_log",
    "plugin_data",
    "org_plugin_data",
    "units",
    "members",
    "member_groups",
    "org_admins",
    "activations",
    "credentials",
    "login_failures",
    "member_sessions",
    "room_roster",
    "member_invites",
    "events",
    "attendance",
    "verifiable_polls",
    "board_entries",
];

/// Wakes the thread waiting in [`block_on`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Run `fut` to completion on this thread, parking it while the future waits. Used only
/// for the client side of queries, which waits on channels that the connection task (on
/// the store's own runtime) fills — never on the caller's runtime.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        // Spurious wake-ups only poll again.
        std::thread::park();
    }
}

/// A connection to PostgreSQL usable from synchronous code, inside a tokio runtime or not
/// (see the module docs).
struct Pg {
    config: tokio_postgres::Config,
    /// Runs the connection task. `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration may hold a password: show where, not how.
        f.debug_struct("Pg")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("user", &self.config.get_user())
            .finish_non_exhaustive()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Dropping the client asks the connection task to say goodbye; the runtime then
        // goes without waiting, which is also allowed inside another runtime.
        drop(self.lock().take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Pg {
    /// Connect once (so a wrong URL or password fails at start, not at the first vote).
    fn connect(mut config: tokio_postgres::Config) -> Result<Self, StorageError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("plenum");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name("plenum-pg")
            .enable_all()
            .build()
            .map_err(StorageError::Driver)?;
        let pg = Self {
            config,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            client: Mutex::new(None),
        };
        pg.with(async |_| Ok(()))?;
        Ok(pg)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Client>> {
        // A poisoned lock means a panic mid-call; a half-used client may be in a
        // transaction, so drop it and connect anew.
        self.client.lock().unwrap_or_else(|e| {
            let mut guard = e.into_inner();
            *guard = None;
            guard
        })
    }

    /// A new connection, its session set up for Plenum.
    fn open_client(&self) -> Result<Client, StorageError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let config = self.config.clone();
        self.handle.spawn(async move {
            let connected = config.connect(NoTls).await.map(|(client, connection)| {
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("the PostgreSQL connection ended: {e}");
                    }
                });
                client
            });
            let _ = tx.send(connected);
        });
        let client = block_on(rx).map_err(|_| {
            StorageError::Driver(std::io::Error::other("the PostgreSQL driver stopped"))
        })??;
        block_on(async {
            // Notices (e.g. "skipping") are not for the operator's log. A lock that does not
            // come within 5 s (SQLite's busy timeout here) fails the call instead of stalling
            // every caller behind it: a `pg_dump` holding its table locks makes a compaction
            // give up (it runs again at the next end of a secret poll), not the server wait.
            client
                .batch_execute("SET client_min_messages = warning; SET lock_timeout = '5s'")
                .await?;
            // Durable before acknowledged: never `off` (`local`, `remote_write`, `on` and
            // `remote_apply` all flush the local WAL before COMMIT returns).
            let sync: String = client
                .query_one("SHOW synchronous_commit", &[])
                .await?
                .try_get(0)?;
            if sync == "off" {
                client.batch_execute("SET synchronous_commit = on").await?;
            }
            Ok::<_, StorageError>(())
        })?;
        Ok(client)
    }

    /// Run `f` with the connection (opened again first if it broke).
    fn with<T>(
        &self,
        f: impl AsyncFnOnce(&Client) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut slot = self.lock();
        let client = self.connected(&mut slot)?;
        let result = block_on(f(client));
        Self::forget_if_closed(&mut slot, &result);
        result
    }

    /// Run `f` in one transaction, committed (durably) only if it returns `Ok`; writers are
    /// serialized by [`WRITE_LOCK`].
    fn with_tx<T>(
        &self,
        f: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut slot = self.lock();
        let client = self.connected(&mut slot)?;
        let result = block_on(async {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .await?;
            let value = f(&tx).await?;
            tx.commit().await?;
            Ok(value)
        });
        Self::forget_if_closed(&mut slot, &result);
        result
    }

    /// A call that met a broken connection — closed, an I/O error, or a FATAL error such as
    /// `terminating connection due to administrator command` — drops the client at once
    /// (its task may not have noticed the end yet), so the next call connects anew. Errors of
    /// a statement (a constraint, say) keep it.
    fn forget_if_closed<T>(slot: &mut Option<Client>, result: &Result<T, StorageError>) {
        if let Err(StorageError::Postgres(e)) = result {
            let statement_error = e
                .as_db_error()
                .is_some_and(|db| !matches!(db.severity(), "FATAL" | "PANIC"));
            if e.is_closed() || !statement_error {
                *slot = None;
            }
        }
    }

    fn connected<'a>(&self, slot: &'a mut Option<Client>) -> Result<&'a mut Client, StorageError> {
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = None;
            *slot = Some(self.open_client()?);
        }
        slot.as_mut()
            .ok_or_else(|| StorageError::Driver(std::io::Error::other("no PostgreSQL connection")))
    }

    /// One statement outside a transaction (it is atomic by itself); rows changed.
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StorageError> {
        self.with(async |c| Ok(c.execute(sql, params).await?))
    }

    fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StorageError> {
        self.with(async |c| Ok(c.query(sql, params).await?))
    }

    fn query_opt(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, StorageError> {
        self.with(async |c| Ok(c.query_opt(sql, params).await?))
    }

    /// A setting of the server, as `SHOW` says it.
    fn setting(&self, name: &str) -> Result<String, StorageError> {
        self.with(async |c| {
            Ok(c.query_one(&format!("SHOW {name}"), &[])
                .await?
                .try_get(0)?)
        })
    }
}

/// What went wrong, for people: the server's message and code for a database error (the
/// driver's own `Display` says only "db error"), the cause for a connection failure.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Unix seconds and milliseconds, weights and counters: BIGINT.
fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A unique, foreign-key or other integrity violation (SQLite's "constraint" errors).
fn is_constraint(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code().starts_with("23"))
}

/// Every column of `rows` mapped by `f`.
fn collect<T>(
    rows: &[Row],
    f: impl FnMut(&Row) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError> {
    rows.iter().map(f).collect()
}

/// Migrations in PostgreSQL's dialect, one per SQLite migration and in the same order, so
/// a schema version means the same tables in both (a test checks the count). PostgreSQL
/// databases start at this version's schema: there are no ballot rows of earlier versions
/// to fold (SQLite's migrations 3 and 5), so the `ballots` table is never created.
fn migration_steps() -> Vec<&'static str> {
    vec![
        r#"CREATE TABLE rooms (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL
        );
        CREATE TABLE invites (
            id TEXT COLLATE "C" PRIMARY KEY,
            room_id TEXT COLLATE "C" NOT NULL REFERENCES rooms(id),
            participant_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            role TEXT COLLATE "C" NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            revoked BOOLEAN NOT NULL DEFAULT false
        );
        CREATE INDEX invites_room ON invites(room_id);"#,
        r#"CREATE TABLE room_state (
            room_id TEXT COLLATE "C" PRIMARY KEY REFERENCES rooms(id),
            state TEXT COLLATE "C" NOT NULL
        );"#,
        // Secret polls store no ballot (storage/polls.rs): no `ballots` table here.
        r#"CREATE TABLE polls (
            id TEXT COLLATE "C" PRIMARY KEY,
            room_id TEXT COLLATE "C" NOT NULL REFERENCES rooms(id),
            seq BIGINT NOT NULL,
            spec TEXT COLLATE "C" NOT NULL,
            state TEXT COLLATE "C" NOT NULL,
            eligible_voters BIGINT NOT NULL,
            eligible_weight BIGINT NOT NULL,
            result TEXT COLLATE "C"
        );
        CREATE INDEX polls_room ON polls(room_id, seq);
        CREATE TABLE poll_rights (
            poll_id TEXT COLLATE "C" NOT NULL REFERENCES polls(id),
            holder_id TEXT COLLATE "C" NOT NULL,
            proxy_id TEXT COLLATE "C",
            weight BIGINT NOT NULL,
            voted BOOLEAN NOT NULL,
            PRIMARY KEY (poll_id, holder_id)
        );
        CREATE TABLE audit_log (
            room_id TEXT COLLATE "C" NOT NULL REFERENCES rooms(id),
            seq BIGINT NOT NULL,
            event TEXT COLLATE "C" NOT NULL,
            prev_hash TEXT COLLATE "C" NOT NULL,
            hash TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (room_id, seq)
        );"#,
        r#"CREATE TABLE plugin_data (
            room_id TEXT COLLATE "C" NOT NULL REFERENCES rooms(id),
            namespace TEXT COLLATE "C" NOT NULL,
            key TEXT COLLATE "C" NOT NULL,
            value TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (room_id, namespace, key)
        );"#,
        r#"ALTER TABLE polls ADD COLUMN result_nonce TEXT COLLATE "C";
        CREATE TABLE poll_tally (
            poll_id TEXT COLLATE "C" NOT NULL REFERENCES polls(id),
            slot BIGINT NOT NULL,
            value BIGINT NOT NULL,
            PRIMARY KEY (poll_id, slot)
        );
        CREATE TABLE poll_receipts (
            poll_id TEXT COLLATE "C" NOT NULL REFERENCES polls(id),
            receipt TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (poll_id, receipt)
        );
        CREATE TABLE named_votes (
            poll_id TEXT COLLATE "C" NOT NULL REFERENCES polls(id),
            voter_id TEXT COLLATE "C" NOT NULL,
            weight BIGINT NOT NULL,
            choice TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (poll_id, voter_id)
        );"#,
        r#"CREATE TABLE units (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL,
            parent_id TEXT COLLATE "C" REFERENCES units(id)
        );
        CREATE TABLE members (
            number TEXT COLLATE "C" PRIMARY KEY,
            first_name TEXT COLLATE "C" NOT NULL,
            last_name TEXT COLLATE "C" NOT NULL,
            unit_id TEXT COLLATE "C" NOT NULL REFERENCES units(id),
            email TEXT COLLATE "C",
            phone TEXT COLLATE "C",
            visibility TEXT COLLATE "C",
            status TEXT COLLATE "C" NOT NULL
        );
        CREATE INDEX members_unit ON members(unit_id);
        CREATE INDEX members_email ON members(email);
        CREATE TABLE member_groups (
            number TEXT COLLATE "C" NOT NULL REFERENCES members(number),
            group_name TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (number, group_name)
        );
        CREATE TABLE org_admins (
            number TEXT COLLATE "C" NOT NULL REFERENCES members(number),
            unit_id TEXT COLLATE "C" NOT NULL REFERENCES units(id),
            PRIMARY KEY (number, unit_id)
        );"#,
        r#"CREATE TABLE activations (
            hash TEXT COLLATE "C" PRIMARY KEY,
            number TEXT COLLATE "C" NOT NULL REFERENCES members(number),
            expires_at BIGINT NOT NULL,
            used BOOLEAN NOT NULL
        );
        CREATE INDEX activations_member ON activations(number);
        CREATE TABLE credentials (
            number TEXT COLLATE "C" PRIMARY KEY REFERENCES members(number),
            password TEXT COLLATE "C" NOT NULL
        );
        CREATE TABLE login_failures (
            key TEXT COLLATE "C" PRIMARY KEY,
            count BIGINT NOT NULL,
            last_at BIGINT NOT NULL
        );
        CREATE TABLE member_sessions (
            hash TEXT COLLATE "C" PRIMARY KEY,
            number TEXT COLLATE "C" NOT NULL REFERENCES members(number),
            expires_at BIGINT NOT NULL
        );
        CREATE INDEX member_sessions_member ON member_sessions(number);"#,
        r#"CREATE TABLE room_roster (
            room_id TEXT COLLATE "C" NOT NULL REFERENCES rooms(id),
            number TEXT COLLATE "C" NOT NULL REFERENCES members(number),
            invite_id TEXT COLLATE "C" NOT NULL REFERENCES invites(id),
            PRIMARY KEY (room_id, number)
        );
        CREATE INDEX room_roster_member ON room_roster(number);"#,
        r#"CREATE TABLE events (
            room_id TEXT COLLATE "C" PRIMARY KEY REFERENCES rooms(id),
            kind TEXT COLLATE "C" NOT NULL,
            starts_at BIGINT,
            unit_id TEXT COLLATE "C" NOT NULL REFERENCES units(id),
            agenda TEXT COLLATE "C" NOT NULL,
            quotas TEXT COLLATE "C" NOT NULL
        );"#,
        r#"ALTER TABLE members ADD COLUMN left_at BIGINT;
        ALTER TABLE credentials ADD COLUMN last_used_at BIGINT;
        DELETE FROM login_failures;
        CREATE TABLE member_invites (
            number TEXT COLLATE "C" NOT NULL REFERENCES members(number),
            invite_id TEXT COLLATE "C" NOT NULL REFERENCES invites(id),
            PRIMARY KEY (number, invite_id)
        );
        INSERT INTO member_invites (number, invite_id) SELECT number, invite_id FROM room_roster;"#,
        r#"CREATE TABLE attendance (
            room_id TEXT COLLATE "C" NOT NULL REFERENCES rooms(id),
            seq BIGINT NOT NULL,
            participant_id TEXT COLLATE "C" NOT NULL,
            joined_at_ms BIGINT NOT NULL,
            left_at_ms BIGINT,
            PRIMARY KEY (room_id, seq)
        );
        CREATE INDEX attendance_participant ON attendance(room_id, participant_id);"#,
        r#"CREATE TABLE org_plugin_data (
            namespace TEXT COLLATE "C" NOT NULL,
            key TEXT COLLATE "C" NOT NULL,
            value TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (namespace, key)
        );"#,
        r#"CREATE TABLE verifiable_polls (
            poll_id TEXT COLLATE "C" PRIMARY KEY REFERENCES polls(id),
            dkg TEXT COLLATE "C" NOT NULL,
            rejected BIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE board_entries (
            poll_id TEXT COLLATE "C" NOT NULL REFERENCES polls(id),
            seq BIGINT NOT NULL,
            entry TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (poll_id, seq)
        );"#,
    ]
}

/// The PostgreSQL backend. One connection; calls are short and serialized (module docs).
#[derive(Debug)]
pub struct PgStore {
    pg: Pg,
}

impl PgStore {
    /// Connect to the database at `url` and migrate it to the current schema (in one
    /// transaction). A schema newer than this version's is refused (`Unusable`), as is a
    /// database whose encoding is not UTF-8. Settings that weaken durability or secrecy
    /// are logged as warnings (docs/operations.md, *PostgreSQL*).
    ///
    /// `url` is a libpq connection URI (`postgres://plenum@localhost/plenum`,
    /// `postgres://plenum@/plenum?host=/run/postgresql` for the Unix socket) or key-value
    /// string (`host=/run/postgresql dbname=plenum user=plenum`). TLS is not built in: use the
    /// Unix socket or loopback (`sslmode=disable` or the default `prefer`).
    pub fn open(url: &str) -> Result<Self, StorageError> {
        Self::open_config(url.parse()?)
    }

    fn open_config(config: tokio_postgres::Config) -> Result<Self, StorageError> {
        let store = Self {
            pg: Pg::connect(config)?,
        };
        let encoding = store.pg.setting("server_encoding")?;
        if encoding != "UTF8" {
            return Err(StorageError::Unusable(format!(
                "the database's encoding is {encoding}; Plenum needs UTF8 \
                 (CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0)"
            )));
        }
        store.migrate()?;
        store.warn_about_settings();
        Ok(store)
    }

    /// The schema version of the database (0: none yet).
    pub fn schema_version(&self) -> Result<i64, StorageError> {
        let exists = self
            .pg
            .query_opt("SELECT to_regclass($1)::text", &[&VERSION_TABLE])?
            .map(|r| r.try_get::<_, Option<String>>(0))
            .transpose()?
            .flatten()
            .is_some();
        if !exists {
            return Ok(0);
        }
        let row = self
            .pg
            .query_opt(&format!("SELECT version FROM {VERSION_TABLE}"), &[])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
    }

    fn migrate(&self) -> Result<(), StorageError> {
        let steps = migration_steps();
        let latest = i64::try_from(steps.len()).unwrap_or(i64::MAX);
        self.pg.with_tx(async |tx| {
            // Under the write lock: two processes starting at once migrate one after the other.
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version BIGINT NOT NULL)"
            ))
            .await?;
            let found: i64 = match tx
                .query_opt(&format!("SELECT version FROM {VERSION_TABLE}"), &[])
                .await?
            {
                Some(row) => row.try_get(0)?,
                None => {
                    tx.execute(
                        &format!("INSERT INTO {VERSION_TABLE} (version) VALUES (0)"),
                        &[],
                    )
                    .await?;
                    0
                }
            };
            if found > latest {
                return Err(StorageError::Unusable(format!(
                    "the database has schema version {found}; this version of Plenum knows up \
                     to {latest}: run a newer plenum"
                )));
            }
            for (i, step) in steps
                .iter()
                .enumerate()
                .skip(usize::try_from(found).unwrap_or(0))
            {
                tx.batch_execute(step).await.map_err(|e| {
                    StorageError::Unusable(format!("migration {} failed: {}", i + 1, describe(&e)))
                })?;
            }
            tx.execute(
                &format!("UPDATE {VERSION_TABLE} SET version = $1"),
                &[&latest],
            )
            .await?;
            Ok(())
        })
    }

    /// Warn about server settings that weaken what docs/ballot.md promises.
    fn warn_about_settings(&self) {
        let setting = |name: &str| self.pg.setting(name).unwrap_or_default();
        if setting("fsync") == "off" {
            tracing::warn!(
                "PostgreSQL runs with fsync = off: a crash of the database server can lose \
                 acknowledged votes"
            );
        }
        if matches!(setting("log_statement").as_str(), "mod" | "all")
            || setting("log_min_duration_statement")
                .parse::<i64>()
                .is_ok_and(|ms| ms >= 0)
        {
            tracing::warn!(
                "PostgreSQL logs Plenum's statements (log_statement / \
                 log_min_duration_statement): its log can link voters to choices; turn it off \
                 for Plenum's role (docs/operations.md)"
            );
        }
        if setting("archive_mode") != "off" {
            tracing::warn!(
                "PostgreSQL archives its WAL: the archive keeps every vote's transaction \
                 (docs/ballot.md, PostgreSQL)"
            );
        }
    }
}

fn room_row(r: &Row) -> Result<RoomRecord, StorageError> {
    Ok(RoomRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: from_sql(r.try_get(2)?),
    })
}

fn invite_row(r: &Row) -> Result<InviteRecord, StorageError> {
    let role: String = r.try_get(4)?;
    Ok(InviteRecord {
        id: r.try_get(0)?,
        room_id: r.try_get(1)?,
        participant_id: r.try_get(2)?,
        name: r.try_get(3)?,
        role: role.parse::<Role>().map_err(StorageError::Corrupt)?,
        created_at: from_sql(r.try_get(5)?),
        expires_at: from_sql(r.try_get(6)?),
        revoked: r.try_get(7)?,
    })
}

/// Insert a room; `Duplicate` if the id is taken.
async fn insert_room_in(c: &impl GenericClient, room: &RoomRecord) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO rooms (id, name, created_at) VALUES ($1, $2, $3)",
        &[&room.id, &room.name, &to_sql(room.created_at)],
    )
    .await
    .map_err(|e| {
        if is_constraint(&e) {
            StorageError::Duplicate(format!("room {}", room.id))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Store an invite (also inside a caller's transaction).
async fn insert_invite_in(
    c: &impl GenericClient,
    invite: &InviteRecord,
) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO invites (id, room_id, participant_id, name, role, created_at, expires_at, revoked)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &invite.id,
            &invite.room_id,
            &invite.participant_id,
            &invite.name,
            &invite.role.as_str(),
            &to_sql(invite.created_at),
            &to_sql(invite.expires_at),
            &invite.revoked,
        ],
    )
    .await
    .map_err(|e| {
        if is_constraint(&e) {
            StorageError::Duplicate(format!("invite {} (or its room is missing)", invite.id))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

const INVITE_COLUMNS: &str =
    "SELECT id, room_id, participant_id, name, role, created_at, expires_at, revoked FROM invites";

impl Store for PgStore {
    fn create_room(&self, room: &RoomRecord) -> Result<(), StorageError> {
        self.pg.with(async |c| insert_room_in(c, room).await)
    }

    fn room(&self, id: &str) -> Result<Option<RoomRecord>, StorageError> {
        self.pg
            .query_opt(
                "SELECT id, name, created_at FROM rooms WHERE id = $1",
                &[&id],
            )?
            .as_ref()
            .map(room_row)
            .transpose()
    }

    fn rooms(&self) -> Result<Vec<RoomRecord>, StorageError> {
        collect(
            &self
                .pg
                .query("SELECT id, name, created_at FROM rooms ORDER BY id", &[])?,
            room_row,
        )
    }

    fn insert_invite(&self, invite: &InviteRecord) -> Result<(), StorageError> {
        self.pg.with(async |c| insert_invite_in(c, invite).await)
    }

    fn invite(&self, id: &str) -> Result<Option<InviteRecord>, StorageError> {
        self.pg
            .query_opt(&format!("{INVITE_COLUMNS} WHERE id = $1"), &[&id])?
            .as_ref()
            .map(invite_row)
            .transpose()
    }

    fn invites(&self, room_id: &str) -> Result<Vec<InviteRecord>, StorageError> {
        collect(
            &self.pg.query(
                &format!("{INVITE_COLUMNS} WHERE room_id = $1 ORDER BY created_at, id"),
                &[&room_id],
            )?,
            invite_row,
        )
    }

    fn revoke_invite(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self.pg.execute(
            "UPDATE invites SET revoked = true WHERE id = $1 AND NOT revoked",
            &[&id],
        )? == 1)
    }

    fn revoked_invites(&self) -> Result<Vec<(String, String, String)>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT id, room_id, participant_id FROM invites WHERE revoked",
                &[],
            )?,
            |r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
        )
    }

    fn room_state(&self, room_id: &str) -> Result<Option<String>, StorageError> {
        self.pg
            .query_opt(
                "SELECT state FROM room_state WHERE room_id = $1",
                &[&room_id],
            )?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(Into::into)
    }

    fn save_room_state(&self, room_id: &str, state: &str) -> Result<(), StorageError> {
        self.pg.execute(
            "INSERT INTO room_state (room_id, state) VALUES ($1, $2)
             ON CONFLICT (room_id) DO UPDATE SET state = excluded.state",
            &[&room_id, &state],
        )?;
        Ok(())
    }
}

impl PluginStore for PgStore {
    fn plugin_data(&self, room_id: &str, ns: &str) -> Result<Vec<(String, String)>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT key, value FROM plugin_data WHERE room_id = $1 AND namespace = $2
                 ORDER BY key",
                &[&room_id, &ns],
            )?,
            |r| Ok((r.try_get(0)?, r.try_get(1)?)),
        )
    }

    fn put_plugin_data(
        &self,
        room_id: &str,
        ns: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StorageError> {
        match value {
            Some(v) => self.pg.execute(
                "INSERT INTO plugin_data (room_id, namespace, key, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (room_id, namespace, key) DO UPDATE SET value = excluded.value",
                &[&room_id, &ns, &key, &v],
            )?,
            None => self.pg.execute(
                "DELETE FROM plugin_data WHERE room_id = $1 AND namespace = $2 AND key = $3",
                &[&room_id, &ns, &key],
            )?,
        };
        Ok(())
    }

    fn org_data(&self, ns: &str, prefix: &str) -> Result<Vec<(String, String)>, StorageError> {
        // As in SQLite: a range on the primary key from `prefix` to the first key that does
        // not start with it (byte order: the columns are COLLATE "C"), no LIKE.
        let rows = self.pg.query(
            "SELECT key, value FROM org_plugin_data WHERE namespace = $1 AND key >= $2
             ORDER BY key",
            &[&ns, &prefix],
        )?;
        let mut out = Vec::new();
        for r in &rows {
            let key: String = r.try_get(0)?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key, r.try_get(1)?));
        }
        Ok(out)
    }

    fn org_datum(&self, ns: &str, key: &str) -> Result<Option<String>, StorageError> {
        self.pg
            .query_opt(
                "SELECT value FROM org_plugin_data WHERE namespace = $1 AND key = $2",
                &[&ns, &key],
            )?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(Into::into)
    }

    fn put_org_data(&self, ns: &str, key: &str, value: Option<&str>) -> Result<(), StorageError> {
        match value {
            Some(v) => self.pg.execute(
                "INSERT INTO org_plugin_data (namespace, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                &[&ns, &key, &v],
            )?,
            None => self.pg.execute(
                "DELETE FROM org_plugin_data WHERE namespace = $1 AND key = $2",
                &[&ns, &key],
            )?,
        };
        Ok(())
    }

    fn insert_org_data(&self, ns: &str, key: &str, value: &str) -> Result<bool, StorageError> {
        Ok(self.pg.execute(
            "INSERT INTO org_plugin_data (namespace, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (namespace, key) DO NOTHING",
            &[&ns, &key, &value],
        )? == 1)
    }
}

/// Fresh databases for tests in a PostgreSQL server named by `PLENUM_TEST_PG_URL`
/// (scripts/pg-test.sh starts one).
#[cfg(test)]
mod testing {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::{Pg, PgStore};

    /// A database of its own for one test, dropped with this value.
    pub(super) struct TestDb {
        admin: Pg,
        pub(super) name: String,
        pub(super) config: tokio_postgres::Config,
    }

    impl TestDb {
        /// A new, empty database with a German ICU collation as its default (the schema's
        /// `COLLATE "C"` must make that irrelevant). `None` — the test is skipped, loudly —
        /// when no server is configured, unless `PLENUM_TEST_PG_REQUIRED` or `CI` is set:
        /// then a missing server fails the test.
        pub(super) fn create(label: &str) -> Option<Self> {
            let Ok(url) = std::env::var("PLENUM_TEST_PG_URL") else {
                assert!(
                    std::env::var_os("PLENUM_TEST_PG_REQUIRED").is_none()
                        && std::env::var_os("CI").is_none(),
                    "PLENUM_TEST_PG_URL is not set but PostgreSQL tests are required \
                     (scripts/test.sh starts a server: scripts/pg-test.sh)"
                );
                eprintln!(
                    "SKIPPED {label}: PLENUM_TEST_PG_URL is not set (scripts/pg-test.sh starts \
                     a PostgreSQL for the tests)"
                );
                return None;
            };
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!(
                "plenum_t_{}_{}_{label}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let admin_config: tokio_postgres::Config = url.parse().unwrap();
            let admin = Pg::connect(admin_config.clone()).unwrap();
            admin
                .with(async |c| {
                    c.batch_execute(&format!(
                        "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' \
                         LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LOCALE 'C.UTF-8'"
                    ))
                    .await?;
                    Ok(())
                })
                .unwrap();
            let mut config = admin_config;
            config.dbname(&name);
            Some(Self {
                admin,
                name,
                config,
            })
        }

        pub(super) fn store(&self) -> PgStore {
            PgStore::open_config(self.config.clone()).unwrap()
        }

        /// A plain connection to the test database (as a superuser: for inspection).
        pub(super) fn inspect(&self) -> Pg {
            Pg::connect(self.config.clone()).unwrap()
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let name = self.name.clone();
            let dropped = self.admin.with(async |c| {
                c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                Ok(())
            });
            if let Err(e) = dropped {
                eprintln!("dropping the test database {name}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::testing::TestDb;
    use super::*;
    use crate::ballot::PollState;
    use crate::storage::tests::{conformance, draft_poll};
    use crate::storage::{Cast, CastOutcome, PollStore, Right, SqliteStore};

    #[test]
    fn every_sqlite_migration_has_its_postgresql_twin() {
        assert_eq!(
            migration_steps().len(),
            super::super::migration_steps().len(),
            "a schema change goes into both backends (storage.rs and storage/pg.rs)"
        );
    }

    #[test]
    fn errors_say_what_the_server_said() {
        let Some(db) = TestDb::create("errors") else {
            return;
        };
        let store = db.store();
        let err = store
            .pg
            .execute("SELECT * FROM no_such_table", &[])
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("no_such_table") && text.contains("42P01"),
            "{text}"
        );
        let mut config = db.config.clone();
        config.dbname("plenum_no_such_database");
        let text = PgStore::open_config(config).unwrap_err().to_string();
        assert!(text.contains("plenum_no_such_database"), "{text}");
    }

    #[test]
    fn postgres_conforms() {
        let Some(db) = TestDb::create("conforms") else {
            return;
        };
        conformance(&db.store());
        // Reopened: the data is there, the migrations are not applied again.
        let again = db.store();
        assert!(again.room("demo").unwrap().is_some());
        assert_eq!(
            again.schema_version().unwrap(),
            migration_steps().len() as i64
        );
    }

    #[test]
    fn the_table_list_is_the_schema() {
        let Some(db) = TestDb::create("tables") else {
            return;
        };
        let store = db.store();
        let mut tables: Vec<String> = collect(
            &store
                .pg
                .query(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
                    &[],
                )
                .unwrap(),
            |r| Ok(r.try_get(0)?),
        )
        .unwrap();
        tables.sort();
        let mut listed: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        listed.sort();
        assert_eq!(tables, listed, "compact() rewrites every table");
        // Every text column sorts by bytes.
        let not_c: Vec<String> = collect(
            &store
                .pg
                .query(
                    "SELECT table_name::text || '.' || column_name::text
                     FROM information_schema.columns
                     WHERE table_schema = current_schema() AND data_type = 'text'
                       AND collation_name IS DISTINCT FROM 'C'",
                    &[],
                )
                .unwrap(),
            |r| Ok(r.try_get(0)?),
        )
        .unwrap();
        assert!(
            not_c.is_empty(),
            "text columns without COLLATE \"C\": {not_c:?}"
        );
    }

    #[test]
    fn text_sorts_by_bytes_as_in_sqlite_whatever_the_locale() {
        let Some(db) = TestDb::create("collation") else {
            return;
        };
        let pg = db.store();
        let lite = SqliteStore::in_memory().unwrap();
        for store in [&pg as &dyn Store, &lite] {
            for id in ["b", "Ä", "a-b", "B", "aa", "a"] {
                store
                    .create_room(&RoomRecord {
                        id: id.into(),
                        name: id.into(),
                        created_at: 1,
                    })
                    .unwrap();
            }
        }
        let ids = |s: &dyn Store| -> Vec<String> {
            s.rooms().unwrap().into_iter().map(|r| r.id).collect()
        };
        assert_eq!(ids(&pg), ids(&lite));
        assert_eq!(ids(&pg), ["B", "a", "a-b", "aa", "b", "Ä"]);
    }

    #[test]
    fn a_newer_schema_is_refused_and_nothing_changes() {
        let Some(db) = TestDb::create("newer") else {
            return;
        };
        let store = db.store();
        store
            .pg
            .execute("UPDATE plenum_schema SET version = version + 1", &[])
            .unwrap();
        drop(store);
        let err = PgStore::open_config(db.config.clone()).unwrap_err();
        assert!(
            matches!(&err, StorageError::Unusable(m) if m.contains(&format!(
                "schema version {}",
                migration_steps().len() + 1
            ))),
            "{err}"
        );
    }

    #[test]
    fn a_database_not_in_utf8_is_refused() {
        let Some(db) = TestDb::create("latin1") else {
            return;
        };
        let name = format!("{}_l1", db.name);
        db.inspect()
            .with(async |c| {
                c.batch_execute(&format!(
                    "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C'"
                ))
                .await?;
                Ok(())
            })
            .unwrap();
        let mut config = db.config.clone();
        config.dbname(&name);
        let err = PgStore::open_config(config).unwrap_err();
        assert!(
            matches!(&err, StorageError::Unusable(m) if m.contains("LATIN1")),
            "{err}"
        );
        db.inspect()
            .with(async |c| {
                c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .await?;
                Ok(())
            })
            .unwrap();
    }

    fn demo_poll(store: &dyn Store, id: &str, holders: &[&str]) {
        if store.room("demo").unwrap().is_none() {
            store
                .create_room(&RoomRecord {
                    id: "demo".into(),
                    name: "Demo".into(),
                    created_at: 1,
                })
                .unwrap();
        }
        let poll = draft_poll(id);
        store.create_poll(&poll, "{}").unwrap();
        let rights: Vec<Right> = holders
            .iter()
            .map(|h| Right {
                holder_id: (*h).into(),
                proxy_id: None,
                weight: 1,
                voted: false,
            })
            .collect();
        // Ballots, weight, yes, no, abstain.
        assert!(store.open_poll(id, &rights, 5, &[], "{}").unwrap());
    }

    fn yes(receipt: &str) -> Cast {
        Cast {
            receipt: receipt.into(),
            delta: vec![1, 1, 1, 0, 0],
            named: None,
        }
    }

    /// The store is called straight from async code, on either kind of runtime.
    #[tokio::test(flavor = "current_thread")]
    async fn calls_from_a_current_thread_runtime() {
        let Some(db) = TestDb::create("current") else {
            return;
        };
        let store = db.store();
        demo_poll(&store, "p", &["a"]);
        assert_eq!(
            store.cast("p", "a", &yes("r")).unwrap(),
            CastOutcome::Counted
        );
        tokio::task::yield_now().await;
        assert_eq!(store.tally("p").unwrap(), vec![1, 1, 1, 0, 0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_from_many_tasks_of_a_multi_thread_runtime() {
        let Some(db) = TestDb::create("multi") else {
            return;
        };
        let store: Arc<dyn Store> = Arc::new(db.store());
        let holders: Vec<String> = (0..40).map(|i| format!("h-{i}")).collect();
        let refs: Vec<&str> = holders.iter().map(String::as_str).collect();
        demo_poll(store.as_ref(), "p", &refs);
        let tasks: Vec<_> = holders
            .iter()
            .map(|h| {
                let (store, h) = (store.clone(), h.clone());
                tokio::spawn(async move { store.cast("p", &h, &yes(&format!("r-{h}"))).unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), CastOutcome::Counted);
        }
        assert_eq!(store.tally("p").unwrap(), vec![40, 40, 40, 0, 0]);
        // Dropped inside the runtime: allowed.
        drop(store);
    }

    /// Two processes (two connections) racing for one right: it counts once.
    #[test]
    fn two_connections_racing_for_one_right_count_it_once() {
        let Some(db) = TestDb::create("race") else {
            return;
        };
        let first = db.store();
        demo_poll(&first, "p", &["a"]);
        let second = db.store();
        for round in 0..20 {
            let barrier = std::sync::Barrier::new(2);
            let outcomes: Vec<CastOutcome> = std::thread::scope(|s| {
                let casts: Vec<_> = [&first, &second]
                    .into_iter()
                    .enumerate()
                    .map(|(i, store)| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            barrier.wait();
                            store
                                .cast("p", "a", &yes(&format!("r-{round}-{i}")))
                                .unwrap()
                        })
                    })
                    .collect();
                casts.into_iter().map(|c| c.join().unwrap()).collect()
            });
            let counted = outcomes
                .iter()
                .filter(|o| **o == CastOutcome::Counted)
                .count();
            assert_eq!(
                counted,
                usize::from(round == 0),
                "round {round}: {outcomes:?}"
            );
        }
        assert_eq!(first.tally("p").unwrap(), vec![1, 1, 1, 0, 0]);
        assert_eq!(first.receipts("p").unwrap().len(), 1);
    }

    #[test]
    fn a_broken_connection_is_opened_again() {
        let Some(db) = TestDb::create("reconnect") else {
            return;
        };
        let store = db.store();
        demo_poll(&store, "p", &["a", "b"]);
        let name = db.name.clone();
        let killed: i64 = db
            .inspect()
            .with(async |c| {
                Ok(c.query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
                .await?
                .try_get(0)?)
            })
            .unwrap();
        assert!(killed >= 1);
        let inspect = db.inspect();
        for _ in 0..100 {
            let left: i64 = inspect
                .with(async |c| {
                    Ok(c.query_one(
                        "SELECT count(*) FROM pg_stat_activity
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&name],
                    )
                    .await?
                    .try_get(0)?)
                })
                .unwrap();
            if left == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The call that meets the break fails (typed); the next one connects anew.
        let mut outcome = store.cast("p", "a", &yes("r-a"));
        if outcome.is_err() {
            outcome = store.cast("p", "a", &yes("r-a"));
        }
        assert_eq!(outcome.unwrap(), CastOutcome::Counted);
        assert_eq!(store.tally("p").unwrap(), vec![1, 1, 1, 0, 0]);
    }

    /// A `pg_dump` (here: a transaction holding a table lock) during a compaction: the
    /// compaction gives up after the lock timeout instead of stalling every call behind it,
    /// and votes go on.
    #[test]
    fn a_compaction_behind_a_table_lock_gives_up_and_votes_go_on() {
        let Some(db) = TestDb::create("locked") else {
            return;
        };
        let store = db.store();
        demo_poll(&store, "p", &["a"]);
        let dump = db.inspect();
        dump.with(async |c| {
            c.batch_execute("BEGIN; LOCK TABLE poll_tally IN ACCESS SHARE MODE")
                .await?;
            Ok(())
        })
        .unwrap();
        let started = std::time::Instant::now();
        let err = store.compact().unwrap_err();
        assert!(err.to_string().contains("lock timeout"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(15));
        assert_eq!(
            store.cast("p", "a", &yes("r")).unwrap(),
            CastOutcome::Counted
        );
        dump.with(async |c| {
            c.batch_execute("ROLLBACK").await?;
            Ok(())
        })
        .unwrap();
        store.compact().unwrap();
    }

    /// What PostgreSQL's files hold of a closed secret poll: no order of the votes in the
    /// rows' transaction ids and no earlier counter in a dead row version.
    #[test]
    fn closing_and_compacting_leave_no_trail_of_single_votes() {
        let Some(db) = TestDb::create("trail") else {
            return;
        };
        let store = db.store();
        demo_poll(&store, "p", &["a", "b", "c"]);
        for (h, delta) in [
            ("a", vec![1, 1, 1, 0, 0]),
            ("b", vec![1, 1, 0, 1, 0]),
            ("c", vec![1, 1, 0, 0, 1]),
        ] {
            let cast = Cast {
                receipt: format!("r-{h}"),
                delta,
                named: None,
            };
            assert_eq!(store.cast("p", h, &cast).unwrap(), CastOutcome::Counted);
        }
        let inspect = db.inspect();
        inspect
            .with(async |c| {
                c.batch_execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
                    .await?;
                Ok(())
            })
            .unwrap();
        let count = |sql: &str| -> i64 {
            inspect
                .with(async |c| Ok(c.query_one(sql, &[]).await?.try_get(0)?))
                .unwrap()
        };
        let distinct_xmin = |table: &str| {
            count(&format!(
                "SELECT count(DISTINCT xmin::text) FROM {table} WHERE poll_id = 'p'"
            ))
        };
        // Row versions in the table's pages, dead or alive.
        let versions = |table: &str| {
            count(&format!(
                "SELECT count(*) FROM generate_series(0, pg_relation_size('{table}') / 8192 - 1) b,
                 heap_page_items(get_raw_page('{table}', b::int)) WHERE lp_len > 0"
            ))
        };
        // While open, each vote's transaction shows in its rows, and the counters' old
        // versions are still in the pages (docs/ballot.md says so).
        assert_eq!(distinct_xmin("poll_rights"), 3);
        assert_eq!(distinct_xmin("poll_receipts"), 3);
        assert!(
            versions("poll_tally") > 5,
            "earlier counters in dead versions"
        );

        assert!(
            store
                .set_poll_state(
                    "p",
                    PollState::Open,
                    PollState::Closed,
                    Some(("{}", "00")),
                    &[],
                    "{}"
                )
                .unwrap()
        );
        // VACUUM FULL and CLUSTER keep a dead version that a running transaction (of any
        // test, any database on this server, or autovacuum) might still see: compact again
        // until none does, within a few seconds.
        let tables = [("poll_tally", 5), ("poll_rights", 3), ("poll_receipts", 3)];
        for _ in 0..100 {
            store.compact().unwrap();
            if tables.iter().all(|(t, live)| versions(t) == *live) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            distinct_xmin("poll_rights"),
            1,
            "the rights no longer order the votes"
        );
        assert_eq!(distinct_xmin("poll_receipts"), 1);
        assert_eq!(distinct_xmin("poll_tally"), 1);
        for (table, live) in tables {
            assert_eq!(versions(table), live, "{table}: only the live rows remain");
        }
        // The receipts lie in key order, not in the order they were written.
        let physical: Vec<String> = inspect
            .with(async |c| {
                let rows = c
                    .query("SELECT receipt FROM poll_receipts ORDER BY ctid", &[])
                    .await?;
                collect(&rows, |r| Ok(r.try_get(0)?))
            })
            .unwrap();
        assert_eq!(physical, store.receipts("p").unwrap());
        assert_eq!(store.tally("p").unwrap(), vec![3, 3, 1, 1, 1]);
    }
}

//! Member sign-in in SQLite: activation links, password hashes, failed attempts, sessions
//! ([`crate::account`]). Activation and session secrets are stored only as SHA-256 hashes,
//! so a copy of the database signs nobody in.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, StorageError};

/// Counted failed sign-ins under one key (a member number, or the login typed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    /// Failures since the last success.
    pub count: u32,
    /// Unix seconds of the last one.
    pub last_at: u64,
}

/// What sign-in needs to keep.
pub trait AccountStore {
    /// A new activation link for a member (its secret's hash), valid until `expires_at`;
    /// earlier unused links of the member stop working.
    fn create_activation(
        &self,
        hash: &str,
        number: &str,
        expires_at: u64,
    ) -> Result<(), StorageError>;
    /// Use an activation link, in one transaction: unless it is unknown, used, expired or
    /// its member is not active (then `None` and nothing changes), mark it used, set the
    /// member's password hash, end all their sessions and open a new one.
    fn activate(
        &self,
        hash: &str,
        now: u64,
        password: &str,
        session: &str,
        session_expires_at: u64,
    ) -> Result<Option<String>, StorageError>;
    /// A member's password hash (PHC string), if they activated.
    fn password_hash(&self, number: &str) -> Result<Option<String>, StorageError>;
    /// Failed sign-ins under `key`.
    fn failures(&self, key: &str) -> Result<Failures, StorageError>;
    /// Count one more failure under `key`.
    fn record_failure(&self, key: &str, now: u64) -> Result<(), StorageError>;
    /// Forget the failures under `key` (after a success).
    fn clear_failures(&self, key: &str) -> Result<(), StorageError>;
    /// Open a session (its secret's hash) for a member.
    fn create_session(&self, hash: &str, number: &str, expires_at: u64)
    -> Result<(), StorageError>;
    /// The member of an unexpired session.
    fn session(&self, hash: &str, now: u64) -> Result<Option<String>, StorageError>;
    /// How many unexpired sessions a member has.
    fn session_count(&self, number: &str, now: u64) -> Result<u64, StorageError>;
    /// End one session.
    fn delete_session(&self, hash: &str) -> Result<(), StorageError>;
    /// End every session of a member (sign-out everywhere); returns how many.
    fn delete_sessions(&self, number: &str) -> Result<usize, StorageError>;
    /// Note that a member signed in (or set a password) at `now`.
    fn touch_credentials(&self, number: &str, now: u64) -> Result<(), StorageError>;
    /// Members with a password who have not signed in since `before` (accounts never seen
    /// in use count from `now`).
    fn idle_accounts(&self, before: u64, now: u64) -> Result<Vec<String>, StorageError>;
    /// End a member's account: password, sessions and activation links go (the member
    /// record stays; a new activation link opens the account again).
    fn deactivate(&self, number: &str) -> Result<(), StorageError>;
    /// Forget failed sign-ins whose last attempt was before `before`.
    fn forget_failures(&self, before: u64) -> Result<usize, StorageError>;
}

impl AccountStore for SqliteStore {
    fn create_activation(
        &self,
        hash: &str,
        number: &str,
        expires_at: u64,
    ) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            tx.execute(
                "UPDATE activations SET used = 1 WHERE number = ?1 AND used = 0",
                params![number],
            )?;
            tx.execute(
                "INSERT INTO activations (hash, number, expires_at, used) VALUES (?1, ?2, ?3, 0)",
                params![hash, number, super::to_sql_time(expires_at)],
            )?;
            Ok(())
        })
    }

    fn activate(
        &self,
        hash: &str,
        now: u64,
        password: &str,
        session: &str,
        session_expires_at: u64,
    ) -> Result<Option<String>, StorageError> {
        self.with_tx(|tx| {
            let number: Option<String> = tx
                .query_row(
                    "UPDATE activations SET used = 1
                     WHERE hash = ?1 AND used = 0 AND expires_at > ?2
                       AND number IN (SELECT number FROM members WHERE status = 'active')
                     RETURNING number",
                    params![hash, super::to_sql_time(now)],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(number) = number else {
                return Ok(None);
            };
            tx.execute(
                "INSERT INTO credentials (number, password) VALUES (?1, ?2)
                 ON CONFLICT (number) DO UPDATE SET password = excluded.password",
                params![number, password],
            )?;
            tx.execute(
                "DELETE FROM member_sessions WHERE number = ?1",
                params![number],
            )?;
            tx.execute(
                "INSERT INTO member_sessions (hash, number, expires_at) VALUES (?1, ?2, ?3)",
                params![session, number, super::to_sql_time(session_expires_at)],
            )?;
            Ok(Some(number))
        })
    }

    fn password_hash(&self, number: &str) -> Result<Option<String>, StorageError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT c.password FROM credentials c JOIN members m ON m.number = c.number
                 WHERE c.number = ?1 AND m.status = 'active'",
                params![number],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn failures(&self, key: &str) -> Result<Failures, StorageError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT count, last_at FROM login_failures WHERE key = ?1",
                params![key],
                |r| {
                    Ok(Failures {
                        count: r.get(0)?,
                        last_at: super::from_sql_time(r.get(1)?),
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
        })
    }

    fn record_failure(&self, key: &str, now: u64) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO login_failures (key, count, last_at) VALUES (?1, 1, ?2)
                 ON CONFLICT (key) DO UPDATE SET count = count + 1, last_at = excluded.last_at",
                params![key, super::to_sql_time(now)],
            )?;
            Ok(())
        })
    }

    fn clear_failures(&self, key: &str) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute("DELETE FROM login_failures WHERE key = ?1", params![key])?;
            Ok(())
        })
    }

    fn create_session(
        &self,
        hash: &str,
        number: &str,
        expires_at: u64,
    ) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO member_sessions (hash, number, expires_at) VALUES (?1, ?2, ?3)",
                params![hash, number, super::to_sql_time(expires_at)],
            )?;
            Ok(())
        })
    }

    fn session(&self, hash: &str, now: u64) -> Result<Option<String>, StorageError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT s.number FROM member_sessions s JOIN members m ON m.number = s.number
                 WHERE s.hash = ?1 AND s.expires_at > ?2 AND m.status = 'active'",
                params![hash, super::to_sql_time(now)],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn session_count(&self, number: &str, now: u64) -> Result<u64, StorageError> {
        self.with(|c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM member_sessions WHERE number = ?1 AND expires_at > ?2",
                params![number, super::to_sql_time(now)],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn delete_session(&self, hash: &str) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute("DELETE FROM member_sessions WHERE hash = ?1", params![hash])?;
            Ok(())
        })
    }

    fn delete_sessions(&self, number: &str) -> Result<usize, StorageError> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM member_sessions WHERE number = ?1",
                params![number],
            )?)
        })
    }

    fn touch_credentials(&self, number: &str, now: u64) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "UPDATE credentials SET last_used_at = ?2 WHERE number = ?1",
                params![number, super::to_sql_time(now)],
            )?;
            Ok(())
        })
    }

    fn idle_accounts(&self, before: u64, now: u64) -> Result<Vec<String>, StorageError> {
        self.with_tx(|tx| {
            tx.execute(
                "UPDATE credentials SET last_used_at = ?1 WHERE last_used_at IS NULL",
                params![super::to_sql_time(now)],
            )?;
            let mut stmt = tx.prepare(
                "SELECT number FROM credentials WHERE last_used_at < ?1 ORDER BY number",
            )?;
            let rows = stmt.query_map(params![super::to_sql_time(before)], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn deactivate(&self, number: &str) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            for table in ["credentials", "member_sessions", "activations"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE number = ?1"),
                    params![number],
                )?;
            }
            Ok(())
        })
    }

    fn forget_failures(&self, before: u64) -> Result<usize, StorageError> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM login_failures WHERE last_at < ?1",
                params![super::to_sql_time(before)],
            )?)
        })
    }
}

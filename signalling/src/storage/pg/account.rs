//! Member sign-in in PostgreSQL; the semantics of `storage/account.rs` (secrets only as
//! SHA-256 hashes).

use super::super::{AccountStore, Failures, StorageError};
use super::{PgStore, collect, from_sql, to_sql};

impl AccountStore for PgStore {
    fn create_activation(
        &self,
        hash: &str,
        number: &str,
        expires_at: u64,
    ) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            tx.execute(
                "UPDATE activations SET used = true WHERE number = $1 AND NOT used",
                &[&number],
            )
            .await?;
            tx.execute(
                "INSERT INTO activations (hash, number, expires_at, used) VALUES ($1, $2, $3, false)",
                &[&hash, &number, &to_sql(expires_at)],
            )
            .await?;
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
        self.pg.with_tx(async |tx| {
            let Some(row) = tx
                .query_opt(
                    "UPDATE activations SET used = true
                     WHERE hash = $1 AND NOT used AND expires_at > $2
                       AND number IN (SELECT number FROM members WHERE status = 'active')
                     RETURNING number",
                    &[&hash, &to_sql(now)],
                )
                .await?
            else {
                return Ok(None);
            };
            let number: String = row.try_get(0)?;
            tx.execute(
                "INSERT INTO credentials (number, password) VALUES ($1, $2)
                 ON CONFLICT (number) DO UPDATE SET password = excluded.password",
                &[&number, &password],
            )
            .await?;
            tx.execute("DELETE FROM member_sessions WHERE number = $1", &[&number])
                .await?;
            tx.execute(
                "INSERT INTO member_sessions (hash, number, expires_at) VALUES ($1, $2, $3)",
                &[&session, &number, &to_sql(session_expires_at)],
            )
            .await?;
            Ok(Some(number))
        })
    }

    fn password_hash(&self, number: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .pg
            .query_opt(
                "SELECT c.password FROM credentials c JOIN members m ON m.number = c.number
                 WHERE c.number = $1 AND m.status = 'active'",
                &[&number],
            )?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    fn failures(&self, key: &str) -> Result<Failures, StorageError> {
        let Some(r) = self.pg.query_opt(
            "SELECT count, last_at FROM login_failures WHERE key = $1",
            &[&key],
        )?
        else {
            return Ok(Failures::default());
        };
        Ok(Failures {
            count: u32::try_from(r.try_get::<_, i64>(0)?).unwrap_or(u32::MAX),
            last_at: from_sql(r.try_get(1)?),
        })
    }

    fn record_failure(&self, key: &str, now: u64) -> Result<(), StorageError> {
        self.pg.execute(
            "INSERT INTO login_failures (key, count, last_at) VALUES ($1, 1, $2)
             ON CONFLICT (key) DO UPDATE SET count = login_failures.count + 1,
                 last_at = excluded.last_at",
            &[&key, &to_sql(now)],
        )?;
        Ok(())
    }

    fn clear_failures(&self, key: &str) -> Result<(), StorageError> {
        self.pg
            .execute("DELETE FROM login_failures WHERE key = $1", &[&key])?;
        Ok(())
    }

    fn create_session(
        &self,
        hash: &str,
        number: &str,
        expires_at: u64,
    ) -> Result<(), StorageError> {
        self.pg.execute(
            "INSERT INTO member_sessions (hash, number, expires_at) VALUES ($1, $2, $3)",
            &[&hash, &number, &to_sql(expires_at)],
        )?;
        Ok(())
    }

    fn session(&self, hash: &str, now: u64) -> Result<Option<String>, StorageError> {
        Ok(self
            .pg
            .query_opt(
                "SELECT s.number FROM member_sessions s JOIN members m ON m.number = s.number
                 WHERE s.hash = $1 AND s.expires_at > $2 AND m.status = 'active'",
                &[&hash, &to_sql(now)],
            )?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    fn session_count(&self, number: &str, now: u64) -> Result<u64, StorageError> {
        let n: i64 = self
            .pg
            .query_opt(
                "SELECT COUNT(*) FROM member_sessions WHERE number = $1 AND expires_at > $2",
                &[&number, &to_sql(now)],
            )?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
        Ok(from_sql(n))
    }

    fn delete_session(&self, hash: &str) -> Result<(), StorageError> {
        self.pg
            .execute("DELETE FROM member_sessions WHERE hash = $1", &[&hash])?;
        Ok(())
    }

    fn delete_sessions(&self, number: &str) -> Result<usize, StorageError> {
        let n = self
            .pg
            .execute("DELETE FROM member_sessions WHERE number = $1", &[&number])?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn touch_credentials(&self, number: &str, now: u64) -> Result<(), StorageError> {
        self.pg.execute(
            "UPDATE credentials SET last_used_at = $2 WHERE number = $1",
            &[&number, &to_sql(now)],
        )?;
        Ok(())
    }

    fn idle_accounts(&self, before: u64, now: u64) -> Result<Vec<String>, StorageError> {
        self.pg.with_tx(async |tx| {
            tx.execute(
                "UPDATE credentials SET last_used_at = $1 WHERE last_used_at IS NULL",
                &[&to_sql(now)],
            )
            .await?;
            let rows = tx
                .query(
                    "SELECT number FROM credentials WHERE last_used_at < $1 ORDER BY number",
                    &[&to_sql(before)],
                )
                .await?;
            collect(&rows, |r| Ok(r.try_get(0)?))
        })
    }

    fn deactivate(&self, number: &str) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            for table in ["credentials", "member_sessions", "activations"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE number = $1"),
                    &[&number],
                )
                .await?;
            }
            Ok(())
        })
    }

    fn forget_failures(&self, before: u64) -> Result<usize, StorageError> {
        let n = self.pg.execute(
            "DELETE FROM login_failures WHERE last_at < $1",
            &[&to_sql(before)],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

//! Polls, rights, counters, receipts and the audit chain in PostgreSQL: the design of
//! `storage/polls.rs` (no ballot rows; a cast is one transaction of the conditional update
//! of the right, every counter and the receipt), with PostgreSQL's steps for secrecy where
//! SQLite truncates its WAL and rewrites its file (module docs of `pg.rs`).

use tokio_postgres::Transaction;

use super::super::polls::POLL_DATA;
use super::super::{
    AuditEntry, Cast, CastOutcome, NamedVote, PollRecord, PollStore, Right, StorageError,
    audit_hash,
};
use super::{PgStore, TABLES, collect, from_sql, to_sql};
use crate::ballot::PollState;

/// Append to the room's chain inside the caller's transaction.
async fn append_audit(
    tx: &Transaction<'_>,
    room_id: &str,
    event: &str,
) -> Result<(), StorageError> {
    let last = tx
        .query_opt(
            "SELECT seq, hash FROM audit_log WHERE room_id = $1 ORDER BY seq DESC LIMIT 1",
            &[&room_id],
        )
        .await?;
    let (seq, prev) = match last {
        Some(r) => (r.try_get::<_, i64>(0)? + 1, r.try_get::<_, String>(1)?),
        None => (1, "0".repeat(64)),
    };
    let hash = audit_hash(&prev, event);
    tx.execute(
        "INSERT INTO audit_log (room_id, seq, event, prev_hash, hash) VALUES ($1, $2, $3, $4, $5)",
        &[&room_id, &seq, &event, &prev, &hash],
    )
    .await?;
    Ok(())
}

async fn room_of(tx: &Transaction<'_>, poll_id: &str) -> Result<Option<String>, StorageError> {
    Ok(tx
        .query_opt("SELECT room_id FROM polls WHERE id = $1", &[&poll_id])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?)
}

/// Mark `holder_id`'s right in an open poll used: `Counted` if it was unused (and is now
/// used), otherwise what stands in the way (nothing changed).
async fn use_right(
    tx: &Transaction<'_>,
    poll_id: &str,
    holder_id: &str,
) -> Result<CastOutcome, StorageError> {
    let open = tx
        .query_opt(
            "SELECT state = 'open' FROM polls WHERE id = $1",
            &[&poll_id],
        )
        .await?
        .map(|r| r.try_get::<_, bool>(0))
        .transpose()?
        .unwrap_or(false);
    if !open {
        return Ok(CastOutcome::NotOpen);
    }
    let used = tx
        .execute(
            "UPDATE poll_rights SET voted = true
             WHERE poll_id = $1 AND holder_id = $2 AND NOT voted",
            &[&poll_id, &holder_id],
        )
        .await?;
    if used == 1 {
        return Ok(CastOutcome::Counted);
    }
    let exists: bool = tx
        .query_one(
            "SELECT COUNT(*) > 0 FROM poll_rights WHERE poll_id = $1 AND holder_id = $2",
            &[&poll_id, &holder_id],
        )
        .await?
        .try_get(0)?;
    Ok(if exists {
        CastOutcome::AlreadyVoted
    } else {
        CastOutcome::NotOpen
    })
}

/// Append to a poll's board after its last entry.
async fn append_entries(
    tx: &Transaction<'_>,
    poll_id: &str,
    entries: &[String],
) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    let next: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(seq) + 1, 0) FROM board_entries WHERE poll_id = $1",
            &[&poll_id],
        )
        .await?
        .try_get(0)?;
    for (i, e) in entries.iter().enumerate() {
        tx.execute(
            "INSERT INTO board_entries (poll_id, seq, entry) VALUES ($1, $2, $3)",
            &[&poll_id, &(next + to_sql(i as u64)), e],
        )
        .await?;
    }
    Ok(())
}

/// Add `delta` to a poll's counters. Every counter is written, also with 0, so each vote
/// changes the same rows.
async fn add_to_tally(
    tx: &Transaction<'_>,
    poll_id: &str,
    delta: &[u64],
) -> Result<(), StorageError> {
    for (slot, v) in delta.iter().enumerate() {
        let changed = tx
            .execute(
                "UPDATE poll_tally SET value = value + $3 WHERE poll_id = $1 AND slot = $2",
                &[&poll_id, &to_sql(slot as u64), &to_sql(*v)],
            )
            .await?;
        if changed != 1 {
            return Err(StorageError::Corrupt(format!(
                "poll {poll_id} has no counter {slot}"
            )));
        }
    }
    Ok(())
}

fn poll_row(r: &tokio_postgres::Row) -> Result<PollRecord, StorageError> {
    let state: String = r.try_get(3)?;
    Ok(PollRecord {
        id: r.try_get(0)?,
        room_id: r.try_get(1)?,
        spec: r.try_get(2)?,
        state: PollState::parse(&state)
            .ok_or_else(|| StorageError::Corrupt(format!("poll state {state:?}")))?,
        eligible_voters: from_sql(r.try_get(4)?),
        eligible_weight: from_sql(r.try_get(5)?),
        result: r.try_get(6)?,
        result_nonce: r.try_get(7)?,
    })
}

impl PollStore for PgStore {
    fn create_poll(&self, poll: &PollRecord, audit: &str) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            tx.execute(
                "INSERT INTO polls (id, room_id, seq, spec, state, eligible_voters, eligible_weight, result, result_nonce)
                 VALUES ($1, $2, (SELECT COUNT(*) FROM polls WHERE room_id = $2), $3, $4, $5, $6, $7, $8)",
                &[
                    &poll.id,
                    &poll.room_id,
                    &poll.spec,
                    &poll.state.as_str(),
                    &to_sql(poll.eligible_voters),
                    &to_sql(poll.eligible_weight),
                    &poll.result,
                    &poll.result_nonce,
                ],
            )
            .await?;
            append_audit(tx, &poll.room_id, audit).await
        })
    }

    fn polls(&self, room_id: &str) -> Result<Vec<PollRecord>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT id, room_id, spec, state, eligible_voters, eligible_weight, result, result_nonce
                 FROM polls WHERE room_id = $1 ORDER BY seq",
                &[&room_id],
            )?,
            poll_row,
        )
    }

    fn open_poll(
        &self,
        poll_id: &str,
        rights: &[Right],
        slots: usize,
        board: &[String],
        audit: &str,
    ) -> Result<bool, StorageError> {
        self.pg.with_tx(async |tx| {
            let weight: u64 = rights.iter().map(|r| r.weight).sum();
            let changed = tx
                .execute(
                    "UPDATE polls SET state = 'open', eligible_voters = $2, eligible_weight = $3
                     WHERE id = $1 AND state = 'draft'",
                    &[&poll_id, &to_sql(rights.len() as u64), &to_sql(weight)],
                )
                .await?;
            if changed == 0 {
                return Ok(false);
            }
            let insert = tx
                .prepare(
                    "INSERT INTO poll_rights (poll_id, holder_id, proxy_id, weight, voted)
                     VALUES ($1, $2, $3, $4, false)",
                )
                .await?;
            for r in rights {
                tx.execute(
                    &insert,
                    &[&poll_id, &r.holder_id, &r.proxy_id, &to_sql(r.weight)],
                )
                .await?;
            }
            for slot in 0..slots {
                tx.execute(
                    "INSERT INTO poll_tally (poll_id, slot, value) VALUES ($1, $2, 0)",
                    &[&poll_id, &to_sql(slot as u64)],
                )
                .await?;
            }
            append_entries(tx, poll_id, board).await?;
            if let Some(room) = room_of(tx, poll_id).await? {
                append_audit(tx, &room, audit).await?;
            }
            Ok(true)
        })
    }

    fn rights(&self, poll_id: &str) -> Result<Vec<Right>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT holder_id, proxy_id, weight, voted FROM poll_rights WHERE poll_id = $1
                 ORDER BY holder_id",
                &[&poll_id],
            )?,
            |r| {
                Ok(Right {
                    holder_id: r.try_get(0)?,
                    proxy_id: r.try_get(1)?,
                    weight: from_sql(r.try_get(2)?),
                    voted: r.try_get(3)?,
                })
            },
        )
    }

    fn cast(
        &self,
        poll_id: &str,
        holder_id: &str,
        cast: &Cast,
    ) -> Result<CastOutcome, StorageError> {
        // One transaction; COMMIT returns once it is flushed (synchronous_commit is never
        // off), so the vote is durable before the voter is answered.
        self.pg.with_tx(async |tx| {
            let outcome = use_right(tx, poll_id, holder_id).await?;
            if outcome != CastOutcome::Counted {
                return Ok(outcome);
            }
            add_to_tally(tx, poll_id, &cast.delta).await?;
            tx.execute(
                "INSERT INTO poll_receipts (poll_id, receipt) VALUES ($1, $2)",
                &[&poll_id, &cast.receipt],
            )
            .await?;
            if let Some(n) = &cast.named {
                tx.execute(
                    "INSERT INTO named_votes (poll_id, voter_id, weight, choice)
                     VALUES ($1, $2, $3, $4)",
                    &[&poll_id, &n.voter_id, &to_sql(n.weight), &n.choice],
                )
                .await?;
            }
            Ok(CastOutcome::Counted)
        })
    }

    fn cast_ballot(
        &self,
        poll_id: &str,
        holder_id: &str,
        entries: &[String],
    ) -> Result<CastOutcome, StorageError> {
        // As `cast`: one transaction, durable at COMMIT.
        self.pg.with_tx(async |tx| {
            let outcome = use_right(tx, poll_id, holder_id).await?;
            if outcome == CastOutcome::Counted {
                append_entries(tx, poll_id, entries).await?;
            }
            Ok(outcome)
        })
    }

    fn verifiable(&self, poll_id: &str) -> Result<Option<(String, u64)>, StorageError> {
        self.pg
            .query_opt(
                "SELECT dkg, rejected FROM verifiable_polls WHERE poll_id = $1",
                &[&poll_id],
            )?
            .map(|r| Ok((r.try_get(0)?, from_sql(r.try_get(1)?))))
            .transpose()
    }

    fn save_dkg(&self, poll_id: &str, dkg: &str) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            tx.execute(
                "INSERT INTO verifiable_polls (poll_id, dkg) VALUES ($1, $2)
                 ON CONFLICT (poll_id) DO UPDATE SET dkg = excluded.dkg",
                &[&poll_id, &dkg],
            )
            .await?;
            Ok(())
        })
    }

    fn count_rejected(&self, poll_id: &str) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            tx.execute(
                "UPDATE verifiable_polls SET rejected = rejected + 1 WHERE poll_id = $1",
                &[&poll_id],
            )
            .await?;
            Ok(())
        })
    }

    fn board(&self, poll_id: &str) -> Result<Vec<String>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT entry FROM board_entries WHERE poll_id = $1 ORDER BY seq",
                &[&poll_id],
            )?,
            |r| Ok(r.try_get(0)?),
        )
    }

    fn append_board(&self, poll_id: &str, entries: &[String]) -> Result<(), StorageError> {
        self.pg
            .with_tx(async |tx| append_entries(tx, poll_id, entries).await)
    }

    fn tally(&self, poll_id: &str) -> Result<Vec<u64>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT value FROM poll_tally WHERE poll_id = $1 ORDER BY slot",
                &[&poll_id],
            )?,
            |r| Ok(from_sql(r.try_get(0)?)),
        )
    }

    fn receipts(&self, poll_id: &str) -> Result<Vec<String>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT receipt FROM poll_receipts WHERE poll_id = $1 ORDER BY receipt",
                &[&poll_id],
            )?,
            |r| Ok(r.try_get(0)?),
        )
    }

    fn named_votes(&self, poll_id: &str) -> Result<Vec<NamedVote>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT voter_id, weight, choice FROM named_votes WHERE poll_id = $1
                 ORDER BY voter_id",
                &[&poll_id],
            )?,
            |r| {
                Ok(NamedVote {
                    voter_id: r.try_get(0)?,
                    weight: from_sql(r.try_get(1)?),
                    choice: r.try_get(2)?,
                })
            },
        )
    }

    fn set_poll_state(
        &self,
        poll_id: &str,
        from: PollState,
        to: PollState,
        result: Option<(&str, &str)>,
        board: &[String],
        audit: &str,
    ) -> Result<bool, StorageError> {
        self.pg.with_tx(async |tx| {
            let (result, nonce) = result.unzip();
            let changed = tx
                .execute(
                    "UPDATE polls SET state = $3, result = COALESCE($4, result),
                     result_nonce = COALESCE($5, result_nonce)
                     WHERE id = $1 AND state = $2",
                    &[&poll_id, &from.as_str(), &to.as_str(), &result, &nonce],
                )
                .await?;
            if changed == 0 {
                return Ok(false);
            }
            match to {
                PollState::Cancelled => {
                    for table in POLL_DATA {
                        tx.execute(
                            &format!("DELETE FROM {table} WHERE poll_id = $1"),
                            &[&poll_id],
                        )
                        .await?;
                    }
                }
                PollState::Closed => {
                    // Each cast's transaction id is in its rows' `xmin`: the used right, the
                    // receipt and (for the last vote) the counters share one. Writing them
                    // all again here gives them the closing transaction's id instead, so the
                    // live rows no longer order or pair the votes; `compact` then drops the
                    // old versions.
                    for (table, column) in [
                        ("poll_rights", "voted"),
                        ("poll_receipts", "receipt"),
                        ("poll_tally", "value"),
                    ] {
                        tx.execute(
                            &format!("UPDATE {table} SET {column} = {column} WHERE poll_id = $1"),
                            &[&poll_id],
                        )
                        .await?;
                    }
                }
                _ => {}
            }
            append_entries(tx, poll_id, board).await?;
            if let Some(room) = room_of(tx, poll_id).await? {
                append_audit(tx, &room, audit).await?;
            }
            Ok(true)
        })
    }

    fn compact(&self) -> Result<(), StorageError> {
        // PostgreSQL's equivalent of SQLite's VACUUM: rewrite the tables into new files so
        // no dead row version (an earlier counter, a deleted row) stays in them. Receipts and
        // rights are rewritten in key order (random receipts, sorted holders), not in the
        // order their rows were written, which was the order of casting. Each statement runs
        // alone: neither CLUSTER nor VACUUM runs inside a transaction.
        self.pg.with(async |c| {
            c.batch_execute("CLUSTER poll_receipts USING poll_receipts_pkey")
                .await?;
            c.batch_execute("CLUSTER poll_rights USING poll_rights_pkey")
                .await?;
            let rest: Vec<&str> = TABLES
                .iter()
                .copied()
                .filter(|t| !["poll_receipts", "poll_rights"].contains(t))
                .collect();
            c.batch_execute(&format!("VACUUM (FULL) {}", rest.join(", ")))
                .await?;
            Ok(())
        })
    }

    fn audit(&self, room_id: &str) -> Result<Vec<AuditEntry>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT seq, event, prev_hash, hash FROM audit_log WHERE room_id = $1 ORDER BY seq",
                &[&room_id],
            )?,
            |r| {
                Ok(AuditEntry {
                    seq: from_sql(r.try_get(0)?),
                    event: r.try_get(1)?,
                    prev_hash: r.try_get(2)?,
                    hash: r.try_get(3)?,
                })
            },
        )
    }
}

//! Polls, voting rights, ballots and the audit chain in SQLite.
//!
//! Unlinkability is a property of the schema: `poll_rights` says *that* a right was used,
//! `ballots` says *what* was chosen, and nothing joins them — no voter column (in secret
//! polls), no time, no sequence. Both are `WITHOUT ROWID` tables keyed by (poll, holder) and
//! (poll, random ballot id), so neither their storage nor their natural order follows the
//! order of casting. A cast is one transaction: the right is marked used (only if unused)
//! and the ballot inserted, durably (`synchronous = FULL`) before the voter is answered.
//! After a secret poll closes, [`PollStore::compact`] checkpoints the WAL and rewrites the
//! file, so no page layout or WAL frame keeps the casting order (docs/ballot.md).

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{SqliteStore, StorageError};
use crate::ballot::PollState;

/// A stored poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRecord {
    /// Poll id.
    pub id: String,
    /// Its room.
    pub room_id: String,
    /// The definition (JSON of `ballot::PollSpec`).
    pub spec: String,
    /// Lifecycle state.
    pub state: PollState,
    /// Voting rights when it opened.
    pub eligible_voters: u64,
    /// Their weight.
    pub eligible_weight: u64,
    /// The evaluated result (JSON of `ballot::PollResult`), once closed.
    pub result: Option<String>,
}

/// A voting right in one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Right {
    /// Whose right.
    pub holder_id: String,
    /// Who casts it (a delegation), if not the holder.
    pub proxy_id: Option<String>,
    /// Its weight.
    pub weight: u64,
    /// Used.
    pub voted: bool,
}

/// One ballot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallotRecord {
    /// Random id; the voter's receipt.
    pub ballot_id: String,
    /// Weight.
    pub weight: u64,
    /// The choice (JSON of `ballot::Choice`).
    pub choice: String,
    /// Named polls only: whose right.
    pub voter_id: Option<String>,
}

/// What became of a cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastOutcome {
    /// Stored.
    Counted,
    /// The right was used already; nothing changed.
    AlreadyVoted,
    /// No such right or the poll is not open; nothing changed.
    NotOpen,
}

/// One link of a room's audit chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Position in the room's chain, from 1.
    pub seq: u64,
    /// The event (JSON).
    pub event: String,
    /// Hash of the previous entry (hex; 64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash`, a newline and `event` (hex).
    pub hash: String,
}

/// The chain's hash of one entry.
pub fn audit_hash(prev_hash: &str, event: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(event.as_bytes());
    hex::encode(h.finalize())
}

/// Check a chain: every entry hashes its predecessor. Returns the first broken `seq`.
pub fn verify_audit(chain: &[AuditEntry]) -> Result<(), u64> {
    let mut prev = "0".repeat(64);
    for (i, e) in chain.iter().enumerate() {
        if e.seq != i as u64 + 1 || e.prev_hash != prev || e.hash != audit_hash(&prev, &e.event) {
            return Err(e.seq);
        }
        prev = e.hash.clone();
    }
    Ok(())
}

/// Polls and their ballots.
pub trait PollStore {
    /// Store a new draft poll, with its audit entry.
    fn create_poll(&self, poll: &PollRecord, audit: &str) -> Result<(), StorageError>;
    /// A room's polls, oldest first.
    fn polls(&self, room_id: &str) -> Result<Vec<PollRecord>, StorageError>;
    /// Draft → open with these rights; `false` (nothing changed) if it was not a draft.
    fn open_poll(&self, poll_id: &str, rights: &[Right], audit: &str)
    -> Result<bool, StorageError>;
    /// A poll's rights.
    fn rights(&self, poll_id: &str) -> Result<Vec<Right>, StorageError>;
    /// Use `holder_id`'s right in an open poll and store the ballot, atomically and durably.
    fn cast(
        &self,
        poll_id: &str,
        holder_id: &str,
        ballot: &BallotRecord,
    ) -> Result<CastOutcome, StorageError>;
    /// A poll's ballots, in ballot-id order (random, unrelated to casting).
    fn ballots(&self, poll_id: &str) -> Result<Vec<BallotRecord>, StorageError>;
    /// Change state `from` → `to` (with the result, when closing); `false` if it was not
    /// in `from`. Cancelling deletes the ballots.
    fn set_poll_state(
        &self,
        poll_id: &str,
        from: PollState,
        to: PollState,
        result: Option<&str>,
        audit: &str,
    ) -> Result<bool, StorageError>;
    /// Rewrite the database so no casting order survives in pages or the WAL.
    fn compact(&self) -> Result<(), StorageError>;
    /// A room's audit chain.
    fn audit(&self, room_id: &str) -> Result<Vec<AuditEntry>, StorageError>;
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Append to the room's chain inside the caller's transaction.
fn append_audit(
    tx: &rusqlite::Transaction<'_>,
    room_id: &str,
    event: &str,
) -> Result<(), StorageError> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log WHERE room_id = ?1 ORDER BY seq DESC LIMIT 1",
            params![room_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = last.map_or((1, "0".repeat(64)), |(s, h)| (s + 1, h));
    let hash = audit_hash(&prev, event);
    tx.execute(
        "INSERT INTO audit_log (room_id, seq, event, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![room_id, seq, event, prev, hash],
    )?;
    Ok(())
}

fn room_of(tx: &rusqlite::Transaction<'_>, poll_id: &str) -> Result<Option<String>, StorageError> {
    Ok(tx
        .query_row(
            "SELECT room_id FROM polls WHERE id = ?1",
            params![poll_id],
            |r| r.get(0),
        )
        .optional()?)
}

impl PollStore for SqliteStore {
    fn create_poll(&self, poll: &PollRecord, audit: &str) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO polls (id, room_id, seq, spec, state, eligible_voters, eligible_weight, result)
                 VALUES (?1, ?2, (SELECT COUNT(*) FROM polls WHERE room_id = ?2), ?3, ?4, ?5, ?6, ?7)",
                params![
                    poll.id,
                    poll.room_id,
                    poll.spec,
                    poll.state.as_str(),
                    to_i64(poll.eligible_voters),
                    to_i64(poll.eligible_weight),
                    poll.result
                ],
            )?;
            append_audit(tx, &poll.room_id, audit)
        })
    }

    fn polls(&self, room_id: &str) -> Result<Vec<PollRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, room_id, spec, state, eligible_voters, eligible_weight, result
                 FROM polls WHERE room_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![room_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })?;
            rows.map(|row| {
                let (id, room_id, spec, state, voters, weight, result) = row?;
                Ok(PollRecord {
                    id,
                    room_id,
                    spec,
                    state: PollState::parse(&state)
                        .ok_or_else(|| StorageError::Corrupt(format!("poll state {state:?}")))?,
                    eligible_voters: to_u64(voters),
                    eligible_weight: to_u64(weight),
                    result,
                })
            })
            .collect()
        })
    }

    fn open_poll(
        &self,
        poll_id: &str,
        rights: &[Right],
        audit: &str,
    ) -> Result<bool, StorageError> {
        self.with_tx(|tx| {
            let weight: u64 = rights.iter().map(|r| r.weight).sum();
            let changed = tx.execute(
                "UPDATE polls SET state = 'open', eligible_voters = ?2, eligible_weight = ?3
                 WHERE id = ?1 AND state = 'draft'",
                params![poll_id, to_i64(rights.len() as u64), to_i64(weight)],
            )?;
            if changed == 0 {
                return Ok(false);
            }
            for r in rights {
                tx.execute(
                    "INSERT INTO poll_rights (poll_id, holder_id, proxy_id, weight, voted)
                     VALUES (?1, ?2, ?3, ?4, 0)",
                    params![poll_id, r.holder_id, r.proxy_id, to_i64(r.weight)],
                )?;
            }
            if let Some(room) = room_of(tx, poll_id)? {
                append_audit(tx, &room, audit)?;
            }
            Ok(true)
        })
    }

    fn rights(&self, poll_id: &str) -> Result<Vec<Right>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT holder_id, proxy_id, weight, voted FROM poll_rights WHERE poll_id = ?1",
            )?;
            let rows = stmt.query_map(params![poll_id], |r| {
                Ok(Right {
                    holder_id: r.get(0)?,
                    proxy_id: r.get(1)?,
                    weight: to_u64(r.get(2)?),
                    voted: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn cast(
        &self,
        poll_id: &str,
        holder_id: &str,
        ballot: &BallotRecord,
    ) -> Result<CastOutcome, StorageError> {
        self.with_tx(|tx| {
            let open: bool = tx
                .query_row(
                    "SELECT state = 'open' FROM polls WHERE id = ?1",
                    params![poll_id],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(false);
            if !open {
                return Ok(CastOutcome::NotOpen);
            }
            let used = tx.execute(
                "UPDATE poll_rights SET voted = 1
                 WHERE poll_id = ?1 AND holder_id = ?2 AND voted = 0",
                params![poll_id, holder_id],
            )?;
            if used == 0 {
                let exists: bool = tx.query_row(
                    "SELECT COUNT(*) > 0 FROM poll_rights WHERE poll_id = ?1 AND holder_id = ?2",
                    params![poll_id, holder_id],
                    |r| r.get(0),
                )?;
                return Ok(if exists {
                    CastOutcome::AlreadyVoted
                } else {
                    CastOutcome::NotOpen
                });
            }
            tx.execute(
                "INSERT INTO ballots (poll_id, ballot_id, weight, choice, voter_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    poll_id,
                    ballot.ballot_id,
                    to_i64(ballot.weight),
                    ballot.choice,
                    ballot.voter_id
                ],
            )?;
            Ok(CastOutcome::Counted)
        })
    }

    fn ballots(&self, poll_id: &str) -> Result<Vec<BallotRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT ballot_id, weight, choice, voter_id FROM ballots
                 WHERE poll_id = ?1 ORDER BY ballot_id",
            )?;
            let rows = stmt.query_map(params![poll_id], |r| {
                Ok(BallotRecord {
                    ballot_id: r.get(0)?,
                    weight: to_u64(r.get(1)?),
                    choice: r.get(2)?,
                    voter_id: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn set_poll_state(
        &self,
        poll_id: &str,
        from: PollState,
        to: PollState,
        result: Option<&str>,
        audit: &str,
    ) -> Result<bool, StorageError> {
        self.with_tx(|tx| {
            let changed = tx.execute(
                "UPDATE polls SET state = ?3, result = COALESCE(?4, result)
                 WHERE id = ?1 AND state = ?2",
                params![poll_id, from.as_str(), to.as_str(), result],
            )?;
            if changed == 0 {
                return Ok(false);
            }
            if to == PollState::Cancelled {
                tx.execute("DELETE FROM ballots WHERE poll_id = ?1", params![poll_id])?;
            }
            if let Some(room) = room_of(tx, poll_id)? {
                append_audit(tx, &room, audit)?;
            }
            Ok(true)
        })
    }

    fn compact(&self) -> Result<(), StorageError> {
        self.with(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            c.execute_batch("VACUUM")?;
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    fn audit(&self, room_id: &str) -> Result<Vec<AuditEntry>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT seq, event, prev_hash, hash FROM audit_log WHERE room_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![room_id], |r| {
                Ok(AuditEntry {
                    seq: to_u64(r.get(0)?),
                    event: r.get(1)?,
                    prev_hash: r.get(2)?,
                    hash: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

//! Polls, voting rights, running tallies, receipts and the audit chain in SQLite.
//!
//! A secret poll stores no ballot. `poll_rights` says *that* a right was used, `poll_tally`
//! holds the poll's counters (ballots, weight, and yes/no/abstain per question, see
//! [`crate::ballot::Tally`]) and `poll_receipts` the random receipts — no row describes a
//! single ballot, so no weight, time or order singles a voter out. A cast is one
//! transaction: the right is marked used (only if unused), every counter gets the vote's
//! share, the receipt is inserted; it is durable (`synchronous = FULL`) and the WAL is then
//! checkpointed and truncated, both before the voter is answered, so a copy of the data
//! directory holds no frame history of earlier votes. Named polls also store who chose what
//! in `named_votes`. Cancelling deletes a poll's rights, counters, receipts and named votes;
//! closing and cancelling a secret poll rewrite the file ([`PollStore::compact`]).
//! docs/ballot.md says exactly what a copy of the data directory still reveals.

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
    /// The random nonce of the result's commitment in the audit chain (hex), once closed;
    /// published with the result.
    pub result_nonce: Option<String>,
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

/// A named poll's record of who chose what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedVote {
    /// Whose right.
    pub voter_id: String,
    /// Its weight.
    pub weight: u64,
    /// The choice (JSON of `ballot::Choice`).
    pub choice: String,
}

/// One vote as the store takes it: no choice, only what it adds to the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cast {
    /// Random id; the voter's receipt.
    pub receipt: String,
    /// What the vote adds to each of the poll's counters, in slot order
    /// (`ballot::Tally::to_slots` of this one ballot).
    pub delta: Vec<u64>,
    /// Named polls only: who chose what.
    pub named: Option<NamedVote>,
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

/// The commitment to a closed poll's result that the audit chain carries until the result is
/// published: SHA-256 over the nonce (hex), a newline and the result JSON (hex). The random
/// nonce keeps anyone from finding the result by hashing every possible count.
pub fn result_commitment(nonce: &str, result: &str) -> String {
    audit_hash(nonce, result)
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

/// Polls, their rights, counters and receipts.
pub trait PollStore {
    /// Store a new draft poll, with its audit entry.
    fn create_poll(&self, poll: &PollRecord, audit: &str) -> Result<(), StorageError>;
    /// A room's polls, oldest first.
    fn polls(&self, room_id: &str) -> Result<Vec<PollRecord>, StorageError>;
    /// Draft → open with these rights, `slots` zeroed counters and, for a verifiable poll,
    /// the board's first entries (`board`: JSON of `ChainedEntry`, the header); `false`
    /// (nothing changed) if it was not a draft.
    fn open_poll(
        &self,
        poll_id: &str,
        rights: &[Right],
        slots: usize,
        board: &[String],
        audit: &str,
    ) -> Result<bool, StorageError>;
    /// A poll's rights.
    fn rights(&self, poll_id: &str) -> Result<Vec<Right>, StorageError>;
    /// Use `holder_id`'s right in an open poll, add the vote to the counters and store its
    /// receipt, atomically and durably; SQLite's WAL is truncated before this returns
    /// (PostgreSQL: `storage/pg.rs`).
    fn cast(
        &self,
        poll_id: &str,
        holder_id: &str,
        cast: &Cast,
    ) -> Result<CastOutcome, StorageError>;
    /// A poll's counters in slot order (empty for drafts and cancelled polls).
    fn tally(&self, poll_id: &str) -> Result<Vec<u64>, StorageError>;
    /// A poll's receipts, sorted (random, unrelated to casting).
    fn receipts(&self, poll_id: &str) -> Result<Vec<String>, StorageError>;
    /// A named poll's votes, by voter id.
    fn named_votes(&self, poll_id: &str) -> Result<Vec<NamedVote>, StorageError>;
    /// Change state `from` → `to` (with the result and its commitment nonce, when
    /// closing; `from` = `to` only sets them) and append `board` entries to a verifiable
    /// poll's board, in one transaction; `false` if it was not in `from`. Cancelling deletes
    /// the poll's rights, counters, receipts, named votes, key generation and board.
    fn set_poll_state(
        &self,
        poll_id: &str,
        from: PollState,
        to: PollState,
        result: Option<(&str, &str)>,
        board: &[String],
        audit: &str,
    ) -> Result<bool, StorageError>;
    /// A verifiable poll's key generation record (JSON of `verifiable::Dkg`) and how many
    /// ballots were refused so far; `None` for other polls.
    fn verifiable(&self, poll_id: &str) -> Result<Option<(String, u64)>, StorageError>;
    /// Store a verifiable poll's key generation record (replacing the last); durable when it
    /// returns.
    fn save_dkg(&self, poll_id: &str, dkg: &str) -> Result<(), StorageError>;
    /// Count a refused ballot.
    fn count_rejected(&self, poll_id: &str) -> Result<(), StorageError>;
    /// A verifiable poll's board entries (JSON of `ChainedEntry`), in order.
    fn board(&self, poll_id: &str) -> Result<Vec<String>, StorageError>;
    /// Append entries to a verifiable poll's board.
    fn append_board(&self, poll_id: &str, entries: &[String]) -> Result<(), StorageError>;
    /// Use `holder_id`'s right in an open verifiable poll and append its registration and
    /// ballot to the board, atomically and durably (as [`PollStore::cast`]); which
    /// credential the right registered is not stored.
    fn cast_ballot(
        &self,
        poll_id: &str,
        holder_id: &str,
        entries: &[String],
    ) -> Result<CastOutcome, StorageError>;
    /// Checkpoint and truncate the WAL and rewrite the database file, so no freed page or WAL
    /// frame keeps an earlier state (PostgreSQL: rewrite every table, so no dead row version
    /// does; `storage/pg.rs`).
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

/// Zeroed counters for a poll, inside the caller's transaction.
pub(super) fn create_tally(
    tx: &rusqlite::Transaction<'_>,
    poll_id: &str,
    slots: usize,
) -> Result<(), StorageError> {
    for slot in 0..slots {
        tx.execute(
            "INSERT INTO poll_tally (poll_id, slot, value) VALUES (?1, ?2, 0)",
            params![poll_id, to_i64(slot as u64)],
        )?;
    }
    Ok(())
}

/// Add `delta` to a poll's counters, inside the caller's transaction. Every counter is
/// written, also with 0, so each vote changes the same rows.
pub(super) fn add_to_tally(
    tx: &rusqlite::Transaction<'_>,
    poll_id: &str,
    delta: &[u64],
) -> Result<(), StorageError> {
    for (slot, v) in delta.iter().enumerate() {
        let changed = tx.execute(
            "UPDATE poll_tally SET value = value + ?3 WHERE poll_id = ?1 AND slot = ?2",
            params![poll_id, to_i64(slot as u64), to_i64(*v)],
        )?;
        if changed != 1 {
            return Err(StorageError::Corrupt(format!(
                "poll {poll_id} has no counter {slot}"
            )));
        }
    }
    Ok(())
}

/// Mark `holder_id`'s right in an open poll used, inside the caller's transaction: `Counted`
/// if it was unused (and is now used), otherwise what stands in the way (nothing changed).
fn use_right(
    tx: &rusqlite::Transaction<'_>,
    poll_id: &str,
    holder_id: &str,
) -> Result<CastOutcome, StorageError> {
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
    if used == 1 {
        return Ok(CastOutcome::Counted);
    }
    let exists: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM poll_rights WHERE poll_id = ?1 AND holder_id = ?2",
        params![poll_id, holder_id],
        |r| r.get(0),
    )?;
    Ok(if exists {
        CastOutcome::AlreadyVoted
    } else {
        CastOutcome::NotOpen
    })
}

/// Append to a poll's board inside the caller's transaction, after its last entry.
fn append_entries(
    tx: &rusqlite::Transaction<'_>,
    poll_id: &str,
    entries: &[String],
) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    let next: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq) + 1, 0) FROM board_entries WHERE poll_id = ?1",
        params![poll_id],
        |r| r.get(0),
    )?;
    for (i, e) in entries.iter().enumerate() {
        tx.execute(
            "INSERT INTO board_entries (poll_id, seq, entry) VALUES (?1, ?2, ?3)",
            params![poll_id, next + to_i64(i as u64), e],
        )?;
    }
    Ok(())
}

/// The tables a cancelled poll is removed from (the poll's row stays).
pub(super) const POLL_DATA: [&str; 6] = [
    "poll_tally",
    "poll_receipts",
    "named_votes",
    "poll_rights",
    "board_entries",
    "verifiable_polls",
];

impl SqliteStore {
    /// Run a cast's transaction; once it counted, merge and truncate the WAL before
    /// returning (before the voter is answered): the commit is durable, but the WAL would
    /// still hold this vote's frames next to the previous state. A failure of that step
    /// loses nothing: the vote is counted.
    fn durable_cast(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<CastOutcome, StorageError>,
    ) -> Result<CastOutcome, StorageError> {
        let outcome = self.with_tx(f)?;
        if outcome == CastOutcome::Counted
            && let Err(e) = self.with(Self::checkpoint)
        {
            tracing::warn!("checkpoint after a vote failed: {e}");
        }
        Ok(outcome)
    }

    /// Merge the WAL into the database file and truncate it to zero bytes.
    pub(super) fn checkpoint(c: &rusqlite::Connection) -> Result<(), StorageError> {
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

impl PollStore for SqliteStore {
    fn create_poll(&self, poll: &PollRecord, audit: &str) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO polls (id, room_id, seq, spec, state, eligible_voters, eligible_weight, result, result_nonce)
                 VALUES (?1, ?2, (SELECT COUNT(*) FROM polls WHERE room_id = ?2), ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    poll.id,
                    poll.room_id,
                    poll.spec,
                    poll.state.as_str(),
                    to_i64(poll.eligible_voters),
                    to_i64(poll.eligible_weight),
                    poll.result,
                    poll.result_nonce
                ],
            )?;
            append_audit(tx, &poll.room_id, audit)
        })
    }

    fn polls(&self, room_id: &str) -> Result<Vec<PollRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, room_id, spec, state, eligible_voters, eligible_weight, result, result_nonce
                 FROM polls WHERE room_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![room_id], |r| {
                Ok((
                    (
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ),
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })?;
            rows.map(|row| {
                let ((id, room_id, spec, state), voters, weight, result, result_nonce) = row?;
                Ok(PollRecord {
                    id,
                    room_id,
                    spec,
                    state: PollState::parse(&state)
                        .ok_or_else(|| StorageError::Corrupt(format!("poll state {state:?}")))?,
                    eligible_voters: to_u64(voters),
                    eligible_weight: to_u64(weight),
                    result,
                    result_nonce,
                })
            })
            .collect()
        })
    }

    fn open_poll(
        &self,
        poll_id: &str,
        rights: &[Right],
        slots: usize,
        board: &[String],
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
            create_tally(tx, poll_id, slots)?;
            append_entries(tx, poll_id, board)?;
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
        cast: &Cast,
    ) -> Result<CastOutcome, StorageError> {
        self.durable_cast(|tx| {
            let outcome = use_right(tx, poll_id, holder_id)?;
            if outcome != CastOutcome::Counted {
                return Ok(outcome);
            }
            add_to_tally(tx, poll_id, &cast.delta)?;
            tx.execute(
                "INSERT INTO poll_receipts (poll_id, receipt) VALUES (?1, ?2)",
                params![poll_id, cast.receipt],
            )?;
            if let Some(n) = &cast.named {
                tx.execute(
                    "INSERT INTO named_votes (poll_id, voter_id, weight, choice)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![poll_id, n.voter_id, to_i64(n.weight), n.choice],
                )?;
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
        self.durable_cast(|tx| {
            let outcome = use_right(tx, poll_id, holder_id)?;
            if outcome == CastOutcome::Counted {
                append_entries(tx, poll_id, entries)?;
            }
            Ok(outcome)
        })
    }

    fn verifiable(&self, poll_id: &str) -> Result<Option<(String, u64)>, StorageError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT dkg, rejected FROM verifiable_polls WHERE poll_id = ?1",
                params![poll_id],
                |r| Ok((r.get(0)?, to_u64(r.get(1)?))),
            )
            .optional()?)
        })
    }

    fn save_dkg(&self, poll_id: &str, dkg: &str) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO verifiable_polls (poll_id, dkg) VALUES (?1, ?2)
                 ON CONFLICT (poll_id) DO UPDATE SET dkg = excluded.dkg",
                params![poll_id, dkg],
            )?;
            Ok(())
        })
    }

    fn count_rejected(&self, poll_id: &str) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            tx.execute(
                "UPDATE verifiable_polls SET rejected = rejected + 1 WHERE poll_id = ?1",
                params![poll_id],
            )?;
            Ok(())
        })
    }

    fn board(&self, poll_id: &str) -> Result<Vec<String>, StorageError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT entry FROM board_entries WHERE poll_id = ?1 ORDER BY seq")?;
            let rows = stmt.query_map(params![poll_id], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn append_board(&self, poll_id: &str, entries: &[String]) -> Result<(), StorageError> {
        self.with_tx(|tx| append_entries(tx, poll_id, entries))
    }

    fn tally(&self, poll_id: &str) -> Result<Vec<u64>, StorageError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT value FROM poll_tally WHERE poll_id = ?1 ORDER BY slot")?;
            let rows = stmt.query_map(params![poll_id], |r| Ok(to_u64(r.get(0)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn receipts(&self, poll_id: &str) -> Result<Vec<String>, StorageError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT receipt FROM poll_receipts WHERE poll_id = ?1 ORDER BY receipt")?;
            let rows = stmt.query_map(params![poll_id], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn named_votes(&self, poll_id: &str) -> Result<Vec<NamedVote>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT voter_id, weight, choice FROM named_votes WHERE poll_id = ?1
                 ORDER BY voter_id",
            )?;
            let rows = stmt.query_map(params![poll_id], |r| {
                Ok(NamedVote {
                    voter_id: r.get(0)?,
                    weight: to_u64(r.get(1)?),
                    choice: r.get(2)?,
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
        result: Option<(&str, &str)>,
        board: &[String],
        audit: &str,
    ) -> Result<bool, StorageError> {
        self.with_tx(|tx| {
            let (result, nonce) = result.unzip();
            let changed = tx.execute(
                "UPDATE polls SET state = ?3, result = COALESCE(?4, result),
                 result_nonce = COALESCE(?5, result_nonce)
                 WHERE id = ?1 AND state = ?2",
                params![poll_id, from.as_str(), to.as_str(), result, nonce],
            )?;
            if changed == 0 {
                return Ok(false);
            }
            if to == PollState::Cancelled {
                for table in POLL_DATA {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE poll_id = ?1"),
                        params![poll_id],
                    )?;
                }
            }
            append_entries(tx, poll_id, board)?;
            if let Some(room) = room_of(tx, poll_id)? {
                append_audit(tx, &room, audit)?;
            }
            Ok(true)
        })
    }

    fn compact(&self) -> Result<(), StorageError> {
        self.with(|c| {
            Self::checkpoint(c)?;
            c.execute_batch("VACUUM")?;
            Self::checkpoint(c)
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

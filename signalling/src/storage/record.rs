//! The session record's raw facts that no other table keeps (`crate::record`): who was in a
//! room from when to when. One row per stay, by participant id only (the name comes from the
//! invite record, so an erased member's stays carry the pseudonym).

use rusqlite::params;

use super::{SqliteStore, StorageError};

/// One stay of a participant in a room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stay {
    /// Who (the invite's participant id).
    pub participant_id: String,
    /// Entered (unix milliseconds).
    pub joined_at_ms: u64,
    /// Left; `None` while they are still there.
    pub left_at_ms: Option<u64>,
}

/// Attendance.
pub trait RecordStore {
    /// `participant` entered `room` (a stay of theirs still open is closed first).
    fn record_join(&self, room: &str, participant: &str, at_ms: u64) -> Result<(), StorageError>;
    /// `participant` left `room`.
    fn record_leave(&self, room: &str, participant: &str, at_ms: u64) -> Result<(), StorageError>;
    /// Close every open stay in `room` at `at_ms` (a room starting after the server stopped).
    fn close_stays(&self, room: &str, at_ms: u64) -> Result<(), StorageError>;
    /// Every stay in `room`, in the order they began.
    fn stays(&self, room: &str) -> Result<Vec<Stay>, StorageError>;
}

impl RecordStore for SqliteStore {
    fn record_join(&self, room: &str, participant: &str, at_ms: u64) -> Result<(), StorageError> {
        let at = super::to_sql_time(at_ms);
        self.with_tx(|tx| {
            tx.execute(
                "UPDATE attendance SET left_at_ms = ?3
                 WHERE room_id = ?1 AND participant_id = ?2 AND left_at_ms IS NULL",
                params![room, participant, at],
            )?;
            tx.execute(
                "INSERT INTO attendance (room_id, seq, participant_id, joined_at_ms)
                 VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM attendance WHERE room_id = ?1),
                         ?2, ?3)",
                params![room, participant, at],
            )?;
            Ok(())
        })
    }

    fn record_leave(&self, room: &str, participant: &str, at_ms: u64) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "UPDATE attendance SET left_at_ms = ?3
                 WHERE room_id = ?1 AND participant_id = ?2 AND left_at_ms IS NULL",
                params![room, participant, super::to_sql_time(at_ms)],
            )?;
            Ok(())
        })
    }

    fn close_stays(&self, room: &str, at_ms: u64) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "UPDATE attendance SET left_at_ms = ?2 WHERE room_id = ?1 AND left_at_ms IS NULL",
                params![room, super::to_sql_time(at_ms)],
            )?;
            Ok(())
        })
    }

    fn stays(&self, room: &str) -> Result<Vec<Stay>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT participant_id, joined_at_ms, left_at_ms FROM attendance
                 WHERE room_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![room], |r| {
                Ok(Stay {
                    participant_id: r.get(0)?,
                    joined_at_ms: super::from_sql_time(r.get(1)?),
                    left_at_ms: r.get::<_, Option<i64>>(2)?.map(super::from_sql_time),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

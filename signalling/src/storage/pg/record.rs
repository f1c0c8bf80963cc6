//! Attendance (the session record's stays) in PostgreSQL; the semantics of
//! `storage/record.rs`.

use super::super::{RecordStore, Stay, StorageError};
use super::{PgStore, collect, from_sql, to_sql};

impl RecordStore for PgStore {
    fn record_join(&self, room: &str, participant: &str, at_ms: u64) -> Result<(), StorageError> {
        let at = to_sql(at_ms);
        self.pg.with_tx(async |tx| {
            tx.execute(
                "UPDATE attendance SET left_at_ms = $3
                 WHERE room_id = $1 AND participant_id = $2 AND left_at_ms IS NULL",
                &[&room, &participant, &at],
            )
            .await?;
            // `seq` counts under the write lock (pg.rs), so two joins cannot take one number.
            tx.execute(
                "INSERT INTO attendance (room_id, seq, participant_id, joined_at_ms)
                 VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM attendance WHERE room_id = $1),
                         $2, $3)",
                &[&room, &participant, &at],
            )
            .await?;
            Ok(())
        })
    }

    fn record_leave(&self, room: &str, participant: &str, at_ms: u64) -> Result<(), StorageError> {
        self.pg.execute(
            "UPDATE attendance SET left_at_ms = $3
             WHERE room_id = $1 AND participant_id = $2 AND left_at_ms IS NULL",
            &[&room, &participant, &to_sql(at_ms)],
        )?;
        Ok(())
    }

    fn close_stays(&self, room: &str, at_ms: u64) -> Result<(), StorageError> {
        self.pg.execute(
            "UPDATE attendance SET left_at_ms = $2 WHERE room_id = $1 AND left_at_ms IS NULL",
            &[&room, &to_sql(at_ms)],
        )?;
        Ok(())
    }

    fn stays(&self, room: &str) -> Result<Vec<Stay>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT participant_id, joined_at_ms, left_at_ms FROM attendance
                 WHERE room_id = $1 ORDER BY seq",
                &[&room],
            )?,
            |r| {
                Ok(Stay {
                    participant_id: r.try_get(0)?,
                    joined_at_ms: from_sql(r.try_get(1)?),
                    left_at_ms: r.try_get::<_, Option<i64>>(2)?.map(from_sql),
                })
            },
        )
    }
}

//! Events and their rosters in PostgreSQL; the semantics of `storage/events.rs`.

use tokio_postgres::{GenericClient, Row};

use super::super::events::{EVENT_COLUMNS, finish, to_json};
use super::super::{EventRecord, EventStore, InviteRecord, RoomRecord, RosterEntry, StorageError};
use super::{PgStore, collect, insert_invite_in, insert_room_in, to_sql};

fn event_row(r: &Row) -> Result<EventRecord, StorageError> {
    finish((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
    ))
}

async fn put_event_in(c: &impl GenericClient, e: &EventRecord) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO events (room_id, kind, starts_at, unit_id, agenda, quotas)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (room_id) DO UPDATE SET kind = excluded.kind, starts_at = excluded.starts_at,
             unit_id = excluded.unit_id, agenda = excluded.agenda, quotas = excluded.quotas",
        &[
            &e.room_id,
            &e.kind.as_str(),
            &e.starts_at.map(to_sql),
            &e.unit,
            &to_json(&e.agenda),
            &to_json(&e.quotas),
        ],
    )
    .await?;
    Ok(())
}

impl EventStore for PgStore {
    fn create_event(
        &self,
        room: &RoomRecord,
        state: &str,
        event: &EventRecord,
    ) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            insert_room_in(tx, room).await?;
            tx.execute(
                "INSERT INTO room_state (room_id, state) VALUES ($1, $2)",
                &[&room.id, &state],
            )
            .await?;
            put_event_in(tx, event).await
        })
    }

    fn put_event(&self, event: &EventRecord) -> Result<(), StorageError> {
        self.pg.with(async |c| put_event_in(c, event).await)
    }

    fn event(&self, room_id: &str) -> Result<Option<EventRecord>, StorageError> {
        self.pg
            .query_opt(&format!("{EVENT_COLUMNS} WHERE room_id = $1"), &[&room_id])?
            .as_ref()
            .map(event_row)
            .transpose()
    }

    fn events(&self) -> Result<Vec<EventRecord>, StorageError> {
        collect(
            &self
                .pg
                .query(&format!("{EVENT_COLUMNS} ORDER BY room_id"), &[])?,
            event_row,
        )
    }

    fn add_many_to_roster(
        &self,
        entries: &[(RosterEntry, InviteRecord)],
    ) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            for (entry, invite) in entries {
                insert_invite_in(tx, invite).await?;
                tx.execute(
                    "INSERT INTO member_invites (number, invite_id) VALUES ($1, $2)",
                    &[&entry.number, &entry.invite_id],
                )
                .await?;
                tx.execute(
                    "INSERT INTO room_roster (room_id, number, invite_id) VALUES ($1, $2, $3)
                     ON CONFLICT (room_id, number) DO UPDATE SET invite_id = excluded.invite_id",
                    &[&entry.room_id, &entry.number, &entry.invite_id],
                )
                .await?;
            }
            Ok(())
        })
    }
}

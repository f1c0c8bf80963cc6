//! Events (rooms set up by congress administration, [`crate::events`]) in SQLite: what kind
//! of meeting a room is, when, which unit organises it, its agenda and seat quotas.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use super::{InviteRecord, RoomRecord, RosterEntry, SqliteStore, StorageError};

/// What kind of meeting a room holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A party congress (Parteitag): delegates, quotas per unit.
    Congress,
    /// A board meeting (Vorstandssitzung).
    Board,
    /// An open meeting (Mitgliederversammlung, Fachforum).
    Open,
    /// A conversation of two members opened from the directory ("write", "call").
    Direct,
}

impl EventKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Congress => "congress",
            EventKind::Board => "board",
            EventKind::Open => "open",
            EventKind::Direct => "direct",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            EventKind::Congress,
            EventKind::Board,
            EventKind::Open,
            EventKind::Direct,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A room's event data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The room.
    pub room_id: String,
    /// The kind of meeting.
    pub kind: EventKind,
    /// When it starts (unix seconds), if set.
    pub starts_at: Option<u64>,
    /// The organising unit: its admins (and those above) administer the event.
    pub unit: String,
    /// Agenda items, in order.
    pub agenda: Vec<String>,
    /// Delegate seats per unit (the unit and everything below it).
    pub quotas: BTreeMap<String, u32>,
}

/// Events and their rosters.
pub trait EventStore {
    /// In one transaction: create the room, its initial control state and its event.
    fn create_event(
        &self,
        room: &RoomRecord,
        state: &str,
        event: &EventRecord,
    ) -> Result<(), StorageError>;
    /// Create or replace the event data of an existing room.
    fn put_event(&self, event: &EventRecord) -> Result<(), StorageError>;
    /// One room's event data.
    fn event(&self, room_id: &str) -> Result<Option<EventRecord>, StorageError>;
    /// Every event, by room id.
    fn events(&self) -> Result<Vec<EventRecord>, StorageError>;
    /// In one transaction: put members on rosters with their new invites; an entry for a
    /// member already on that room's roster replaces it (the caller replaces only entries
    /// whose invite is revoked).
    fn add_many_to_roster(
        &self,
        entries: &[(RosterEntry, InviteRecord)],
    ) -> Result<(), StorageError>;
}

fn event_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, Option<i64>, String, String, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

pub(super) fn finish(
    (room_id, kind, starts_at, unit, agenda, quotas): (
        String,
        String,
        Option<i64>,
        String,
        String,
        String,
    ),
) -> Result<EventRecord, StorageError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StorageError::Corrupt(format!("event {room_id}: {what}: {e}"))
    };
    Ok(EventRecord {
        kind: EventKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        starts_at: starts_at.map(super::from_sql_time),
        unit,
        agenda: serde_json::from_str(&agenda).map_err(|e| corrupt("agenda", &e))?,
        quotas: serde_json::from_str(&quotas).map_err(|e| corrupt("quotas", &e))?,
        room_id,
    })
}

const PUT_EVENT: &str = "INSERT INTO events (room_id, kind, starts_at, unit_id, agenda, quotas)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (room_id) DO UPDATE SET kind = excluded.kind, starts_at = excluded.starts_at,
         unit_id = excluded.unit_id, agenda = excluded.agenda, quotas = excluded.quotas";

/// JSON of a value built here (strings, numbers and maps: cannot fail).
pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn put_event_in(c: &rusqlite::Connection, e: &EventRecord) -> Result<(), StorageError> {
    c.execute(
        PUT_EVENT,
        params![
            e.room_id,
            e.kind.as_str(),
            e.starts_at.map(super::to_sql_time),
            e.unit,
            to_json(&e.agenda),
            to_json(&e.quotas),
        ],
    )?;
    Ok(())
}

pub(super) const EVENT_COLUMNS: &str =
    "SELECT room_id, kind, starts_at, unit_id, agenda, quotas FROM events";

impl EventStore for SqliteStore {
    fn create_event(
        &self,
        room: &RoomRecord,
        state: &str,
        event: &EventRecord,
    ) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            super::insert_room_in(tx, room)?;
            tx.execute(
                "INSERT INTO room_state (room_id, state) VALUES (?1, ?2)",
                params![room.id, state],
            )?;
            put_event_in(tx, event)
        })
    }

    fn put_event(&self, event: &EventRecord) -> Result<(), StorageError> {
        self.with(|c| put_event_in(c, event))
    }

    fn event(&self, room_id: &str) -> Result<Option<EventRecord>, StorageError> {
        let row = self.with(|c| {
            Ok(c.query_row(
                &format!("{EVENT_COLUMNS} WHERE room_id = ?1"),
                params![room_id],
                event_row,
            )
            .optional()?)
        })?;
        row.map(finish).transpose()
    }

    fn events(&self) -> Result<Vec<EventRecord>, StorageError> {
        let rows = self.with(|c| {
            let mut stmt = c.prepare(&format!("{EVENT_COLUMNS} ORDER BY room_id"))?;
            let rows = stmt.query_map([], event_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter().map(finish).collect()
    }

    fn add_many_to_roster(
        &self,
        entries: &[(RosterEntry, InviteRecord)],
    ) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            for (entry, invite) in entries {
                super::insert_invite_in(tx, invite)?;
                tx.execute(
                    "INSERT INTO member_invites (number, invite_id) VALUES (?1, ?2)",
                    params![entry.number, entry.invite_id],
                )?;
                tx.execute(
                    "INSERT INTO room_roster (room_id, number, invite_id) VALUES (?1, ?2, ?3)
                     ON CONFLICT (room_id, number) DO UPDATE SET invite_id = excluded.invite_id",
                    params![entry.room_id, entry.number, entry.invite_id],
                )?;
            }
            Ok(())
        })
    }
}

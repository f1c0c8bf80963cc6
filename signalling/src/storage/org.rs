//! The organisation (units, members, groups, admin scopes; [`crate::org`]) in SQLite.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, StorageError};
use crate::org::{Member, MemberStatus, Unit, Visibility};

/// A member's place in a room (the roster): their role there and the invite that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The room.
    pub room_id: String,
    /// The member.
    pub number: String,
    /// The invite record (token id) behind the member's access tokens to this room.
    pub invite_id: String,
}

/// Units, members, admins and rooms' rosters.
pub trait OrgStore {
    /// Every unit, by id.
    fn units(&self) -> Result<Vec<Unit>, StorageError>;
    /// Create or rename/move a unit (the caller checks the tree stays a tree).
    fn put_unit(&self, unit: &Unit) -> Result<(), StorageError>;
    /// Every member with their groups, by member number.
    fn members(&self) -> Result<Vec<Member>, StorageError>;
    /// One member.
    fn member(&self, number: &str) -> Result<Option<Member>, StorageError>;
    /// The member with this e-mail address (stored lower case), if exactly one has it.
    fn member_by_email(&self, email: &str) -> Result<Option<Member>, StorageError>;
    /// In one transaction: create or replace `upserts` (with their groups), and mark the
    /// members numbered in `left` as left. Nothing changes if any statement fails.
    fn apply_members(&self, upserts: &[Member], left: &[String]) -> Result<(), StorageError>;
    /// The units a member administers (each with everything below it).
    fn admin_scopes(&self, number: &str) -> Result<Vec<String>, StorageError>;
    /// Every admin scope: (member number, unit), by number.
    fn admins(&self) -> Result<Vec<(String, String)>, StorageError>;
    /// Grant or withdraw a member's admin scope over `unit`.
    fn set_admin(&self, number: &str, unit: &str, admin: bool) -> Result<(), StorageError>;
    /// Put a member on a room's roster with its invite (stored with it, one transaction);
    /// `Duplicate` if they are on it already.
    fn add_to_roster(
        &self,
        entry: &RosterEntry,
        invite: &super::InviteRecord,
    ) -> Result<(), StorageError>;
    /// The rooms a member is on the roster of.
    fn rosters_of(&self, number: &str) -> Result<Vec<RosterEntry>, StorageError>;
    /// A room's roster.
    fn roster(&self, room_id: &str) -> Result<Vec<RosterEntry>, StorageError>;
    /// Erase a member, in one transaction (docs/privacy.md, *Erasure*): their invites are
    /// revoked and renamed `pseudonym`; their roster entries, groups, admin scopes,
    /// activation links, password, sessions, the failed sign-ins under `failure_keys`, and
    /// their record go. `false` if there is no such member.
    fn erase_member(
        &self,
        number: &str,
        pseudonym: &str,
        failure_keys: &[String],
    ) -> Result<bool, StorageError>;
    /// The members who left, each with when they were first seen as left (members seen as
    /// left for the first time get `now`; members active again lose their mark).
    fn left_members(&self, now: u64) -> Result<Vec<(String, u64)>, StorageError>;
}

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Member, String, Option<String>)> {
    Ok((
        Member {
            number: r.get(0)?,
            first_name: r.get(1)?,
            last_name: r.get(2)?,
            unit: r.get(3)?,
            email: r.get(4)?,
            phone: r.get(5)?,
            groups: BTreeSet::new(),
            visibility: None,
            status: MemberStatus::Active,
        },
        r.get(7)?,
        r.get(6)?,
    ))
}

pub(super) fn finish(
    (mut m, status, visibility): (Member, String, Option<String>),
) -> Result<Member, StorageError> {
    m.status = MemberStatus::parse(&status)
        .ok_or_else(|| StorageError::Corrupt(format!("member status {status:?}")))?;
    m.visibility = match visibility {
        None => None,
        Some(v) => Some(
            Visibility::parse(&v)
                .ok_or_else(|| StorageError::Corrupt(format!("visibility {v:?}")))?,
        ),
    };
    Ok(m)
}

pub(super) const MEMBER_COLUMNS: &str =
    "number, first_name, last_name, unit_id, email, phone, visibility, status";

impl OrgStore for SqliteStore {
    fn units(&self) -> Result<Vec<Unit>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT id, name, parent_id FROM units ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(Unit {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    parent: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn put_unit(&self, unit: &Unit) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO units (id, name, parent_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id",
                params![unit.id, unit.name, unit.parent],
            )?;
            Ok(())
        })
    }

    fn members(&self) -> Result<Vec<Member>, StorageError> {
        self.with(|c| {
            let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let mut stmt = c.prepare("SELECT number, group_name FROM member_groups")?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
                let (number, group) = row?;
                groups.entry(number).or_default().insert(group);
            }
            let mut stmt = c.prepare(&format!(
                "SELECT {MEMBER_COLUMNS} FROM members ORDER BY number"
            ))?;
            let rows = stmt.query_map([], member_row)?;
            rows.map(|row| {
                let mut m = finish(row?)?;
                m.groups = groups.remove(&m.number).unwrap_or_default();
                Ok(m)
            })
            .collect()
        })
    }

    fn member(&self, number: &str) -> Result<Option<Member>, StorageError> {
        self.with(|c| {
            let row = c
                .query_row(
                    &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE number = ?1"),
                    params![number],
                    member_row,
                )
                .optional()?;
            let Some(row) = row else {
                return Ok(None);
            };
            let mut m = finish(row)?;
            let mut stmt = c.prepare("SELECT group_name FROM member_groups WHERE number = ?1")?;
            m.groups = stmt
                .query_map(params![number], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(Some(m))
        })
    }

    fn member_by_email(&self, email: &str) -> Result<Option<Member>, StorageError> {
        let numbers: Vec<String> = self.with(|c| {
            let mut stmt = c.prepare("SELECT number FROM members WHERE email = ?1 LIMIT 2")?;
            let rows = stmt.query_map(params![email], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        match numbers.as_slice() {
            [one] => self.member(one),
            _ => Ok(None),
        }
    }

    fn apply_members(&self, upserts: &[Member], left: &[String]) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            for m in upserts {
                tx.execute(
                    &format!(
                        "INSERT INTO members ({MEMBER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT (number) DO UPDATE SET first_name = excluded.first_name,
                         last_name = excluded.last_name, unit_id = excluded.unit_id,
                         email = excluded.email, phone = excluded.phone,
                         visibility = excluded.visibility, status = excluded.status"
                    ),
                    params![
                        m.number,
                        m.first_name,
                        m.last_name,
                        m.unit,
                        m.email,
                        m.phone,
                        m.visibility.map(Visibility::as_str),
                        m.status.as_str()
                    ],
                )?;
                tx.execute(
                    "DELETE FROM member_groups WHERE number = ?1",
                    params![m.number],
                )?;
                for g in &m.groups {
                    tx.execute(
                        "INSERT INTO member_groups (number, group_name) VALUES (?1, ?2)",
                        params![m.number, g],
                    )?;
                }
            }
            for number in left {
                tx.execute(
                    "UPDATE members SET status = 'left' WHERE number = ?1",
                    params![number],
                )?;
            }
            Ok(())
        })
    }

    fn admin_scopes(&self, number: &str) -> Result<Vec<String>, StorageError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT unit_id FROM org_admins WHERE number = ?1 ORDER BY unit_id")?;
            let rows = stmt.query_map(params![number], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn admins(&self) -> Result<Vec<(String, String)>, StorageError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT number, unit_id FROM org_admins ORDER BY number, unit_id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn set_admin(&self, number: &str, unit: &str, admin: bool) -> Result<(), StorageError> {
        self.with(|c| {
            if admin {
                c.execute(
                    "INSERT OR IGNORE INTO org_admins (number, unit_id) VALUES (?1, ?2)",
                    params![number, unit],
                )?;
            } else {
                c.execute(
                    "DELETE FROM org_admins WHERE number = ?1 AND unit_id = ?2",
                    params![number, unit],
                )?;
            }
            Ok(())
        })
    }

    fn add_to_roster(
        &self,
        entry: &RosterEntry,
        invite: &super::InviteRecord,
    ) -> Result<(), StorageError> {
        self.with_tx(|tx| {
            super::insert_invite_in(tx, invite)?;
            tx.execute(
                "INSERT INTO member_invites (number, invite_id) VALUES (?1, ?2)",
                params![entry.number, entry.invite_id],
            )?;
            tx.execute(
                "INSERT INTO room_roster (room_id, number, invite_id) VALUES (?1, ?2, ?3)",
                params![entry.room_id, entry.number, entry.invite_id],
            )
            .map_err(|e| {
                if super::is_constraint(&e) {
                    StorageError::Duplicate(format!(
                        "member {} on the roster of {} (or either is missing)",
                        entry.number, entry.room_id
                    ))
                } else {
                    e.into()
                }
            })?;
            Ok(())
        })
    }

    fn rosters_of(&self, number: &str) -> Result<Vec<RosterEntry>, StorageError> {
        self.roster_query("number", number)
    }

    fn roster(&self, room_id: &str) -> Result<Vec<RosterEntry>, StorageError> {
        self.roster_query("room_id", room_id)
    }

    fn erase_member(
        &self,
        number: &str,
        pseudonym: &str,
        failure_keys: &[String],
    ) -> Result<bool, StorageError> {
        self.with_tx(|tx| {
            let exists: Option<String> = tx
                .query_row(
                    "SELECT number FROM members WHERE number = ?1",
                    params![number],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                return Ok(false);
            }
            tx.execute(
                "UPDATE invites SET name = ?2, revoked = 1
                 WHERE id IN (SELECT invite_id FROM member_invites WHERE number = ?1)
                    OR id IN (SELECT invite_id FROM room_roster WHERE number = ?1)",
                params![number, pseudonym],
            )?;
            for table in [
                "member_invites",
                "room_roster",
                "member_groups",
                "org_admins",
                "activations",
                "credentials",
                "member_sessions",
                "members",
            ] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE number = ?1"),
                    params![number],
                )?;
            }
            for key in failure_keys {
                tx.execute("DELETE FROM login_failures WHERE key = ?1", params![key])?;
            }
            Ok(true)
        })
    }

    fn left_members(&self, now: u64) -> Result<Vec<(String, u64)>, StorageError> {
        self.with_tx(|tx| {
            tx.execute(
                "UPDATE members SET left_at = NULL WHERE status <> 'left' AND left_at IS NOT NULL",
                [],
            )?;
            tx.execute(
                "UPDATE members SET left_at = ?1 WHERE status = 'left' AND left_at IS NULL",
                params![super::to_sql_time(now)],
            )?;
            let mut stmt = tx.prepare(
                "SELECT number, left_at FROM members WHERE status = 'left' ORDER BY number",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, super::from_sql_time(r.get(1)?)))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

impl SqliteStore {
    fn roster_query(&self, column: &str, value: &str) -> Result<Vec<RosterEntry>, StorageError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT room_id, number, invite_id FROM room_roster WHERE {column} = ?1
                 ORDER BY room_id, number"
            ))?;
            let rows = stmt.query_map(params![value], |r| {
                Ok(RosterEntry {
                    room_id: r.get(0)?,
                    number: r.get(1)?,
                    invite_id: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

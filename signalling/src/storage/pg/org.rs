//! The organisation (units, members, groups, admin scopes, rosters) in PostgreSQL; the
//! semantics of `storage/org.rs`.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Row;

use super::super::org::{MEMBER_COLUMNS, finish};
use super::super::{InviteRecord, OrgStore, RosterEntry, StorageError};
use super::{PgStore, collect, from_sql, insert_invite_in, is_constraint, to_sql};
use crate::org::{Member, MemberStatus, Unit, Visibility};

fn member_row(r: &Row) -> Result<Member, StorageError> {
    finish((
        Member {
            number: r.try_get(0)?,
            first_name: r.try_get(1)?,
            last_name: r.try_get(2)?,
            unit: r.try_get(3)?,
            email: r.try_get(4)?,
            phone: r.try_get(5)?,
            groups: BTreeSet::new(),
            visibility: None,
            status: MemberStatus::Active,
        },
        r.try_get(7)?,
        r.try_get(6)?,
    ))
}

fn roster_row(r: &Row) -> Result<RosterEntry, StorageError> {
    Ok(RosterEntry {
        room_id: r.try_get(0)?,
        number: r.try_get(1)?,
        invite_id: r.try_get(2)?,
    })
}

impl PgStore {
    fn roster_query(&self, column: &str, value: &str) -> Result<Vec<RosterEntry>, StorageError> {
        collect(
            &self.pg.query(
                &format!(
                    "SELECT room_id, number, invite_id FROM room_roster WHERE {column} = $1
                     ORDER BY room_id, number"
                ),
                &[&value],
            )?,
            roster_row,
        )
    }
}

impl OrgStore for PgStore {
    fn units(&self) -> Result<Vec<Unit>, StorageError> {
        collect(
            &self
                .pg
                .query("SELECT id, name, parent_id FROM units ORDER BY id", &[])?,
            |r| {
                Ok(Unit {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    parent: r.try_get(2)?,
                })
            },
        )
    }

    fn put_unit(&self, unit: &Unit) -> Result<(), StorageError> {
        self.pg.execute(
            "INSERT INTO units (id, name, parent_id) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id",
            &[&unit.id, &unit.name, &unit.parent],
        )?;
        Ok(())
    }

    fn members(&self) -> Result<Vec<Member>, StorageError> {
        self.pg.with(async |tx| {
            let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for r in tx
                .query("SELECT number, group_name FROM member_groups", &[])
                .await?
            {
                groups
                    .entry(r.try_get(0)?)
                    .or_default()
                    .insert(r.try_get(1)?);
            }
            let rows = tx
                .query(
                    &format!("SELECT {MEMBER_COLUMNS} FROM members ORDER BY number"),
                    &[],
                )
                .await?;
            collect(&rows, |r| {
                let mut m = member_row(r)?;
                m.groups = groups.remove(&m.number).unwrap_or_default();
                Ok(m)
            })
        })
    }

    fn member(&self, number: &str) -> Result<Option<Member>, StorageError> {
        self.pg.with(async |c| {
            let Some(row) = c
                .query_opt(
                    &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE number = $1"),
                    &[&number],
                )
                .await?
            else {
                return Ok(None);
            };
            let mut m = member_row(&row)?;
            for r in c
                .query(
                    "SELECT group_name FROM member_groups WHERE number = $1",
                    &[&number],
                )
                .await?
            {
                m.groups.insert(r.try_get(0)?);
            }
            Ok(Some(m))
        })
    }

    fn member_by_email(&self, email: &str) -> Result<Option<Member>, StorageError> {
        let numbers: Vec<String> = collect(
            &self.pg.query(
                "SELECT number FROM members WHERE email = $1 LIMIT 2",
                &[&email],
            )?,
            |r| Ok(r.try_get(0)?),
        )?;
        match numbers.as_slice() {
            [one] => self.member(one),
            _ => Ok(None),
        }
    }

    fn apply_members(&self, upserts: &[Member], left: &[String]) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            let upsert = tx
                .prepare(&format!(
                    "INSERT INTO members ({MEMBER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (number) DO UPDATE SET first_name = excluded.first_name,
                     last_name = excluded.last_name, unit_id = excluded.unit_id,
                     email = excluded.email, phone = excluded.phone,
                     visibility = excluded.visibility, status = excluded.status"
                ))
                .await?;
            let clear = tx
                .prepare("DELETE FROM member_groups WHERE number = $1")
                .await?;
            let group = tx
                .prepare("INSERT INTO member_groups (number, group_name) VALUES ($1, $2)")
                .await?;
            for m in upserts {
                tx.execute(
                    &upsert,
                    &[
                        &m.number,
                        &m.first_name,
                        &m.last_name,
                        &m.unit,
                        &m.email,
                        &m.phone,
                        &m.visibility.map(Visibility::as_str),
                        &m.status.as_str(),
                    ],
                )
                .await?;
                tx.execute(&clear, &[&m.number]).await?;
                for g in &m.groups {
                    tx.execute(&group, &[&m.number, g]).await?;
                }
            }
            for number in left {
                tx.execute(
                    "UPDATE members SET status = 'left' WHERE number = $1",
                    &[number],
                )
                .await?;
            }
            Ok(())
        })
    }

    fn admin_scopes(&self, number: &str) -> Result<Vec<String>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT unit_id FROM org_admins WHERE number = $1 ORDER BY unit_id",
                &[&number],
            )?,
            |r| Ok(r.try_get(0)?),
        )
    }

    fn admins(&self) -> Result<Vec<(String, String)>, StorageError> {
        collect(
            &self.pg.query(
                "SELECT number, unit_id FROM org_admins ORDER BY number, unit_id",
                &[],
            )?,
            |r| Ok((r.try_get(0)?, r.try_get(1)?)),
        )
    }

    fn set_admin(&self, number: &str, unit: &str, admin: bool) -> Result<(), StorageError> {
        if admin {
            self.pg.execute(
                "INSERT INTO org_admins (number, unit_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&number, &unit],
            )?;
        } else {
            self.pg.execute(
                "DELETE FROM org_admins WHERE number = $1 AND unit_id = $2",
                &[&number, &unit],
            )?;
        }
        Ok(())
    }

    fn add_to_roster(
        &self,
        entry: &RosterEntry,
        invite: &InviteRecord,
    ) -> Result<(), StorageError> {
        self.pg.with_tx(async |tx| {
            insert_invite_in(tx, invite).await?;
            tx.execute(
                "INSERT INTO member_invites (number, invite_id) VALUES ($1, $2)",
                &[&entry.number, &entry.invite_id],
            )
            .await?;
            tx.execute(
                "INSERT INTO room_roster (room_id, number, invite_id) VALUES ($1, $2, $3)",
                &[&entry.room_id, &entry.number, &entry.invite_id],
            )
            .await
            .map_err(|e| {
                if is_constraint(&e) {
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
        self.pg.with_tx(async |tx| {
            let exists = tx
                .query_opt("SELECT number FROM members WHERE number = $1", &[&number])
                .await?
                .is_some();
            if !exists {
                return Ok(false);
            }
            tx.execute(
                "UPDATE invites SET name = $2, revoked = true
                 WHERE id IN (SELECT invite_id FROM member_invites WHERE number = $1)
                    OR id IN (SELECT invite_id FROM room_roster WHERE number = $1)",
                &[&number, &pseudonym],
            )
            .await?;
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
                    &format!("DELETE FROM {table} WHERE number = $1"),
                    &[&number],
                )
                .await?;
            }
            for key in failure_keys {
                tx.execute("DELETE FROM login_failures WHERE key = $1", &[key])
                    .await?;
            }
            Ok(true)
        })
    }

    fn left_members(&self, now: u64) -> Result<Vec<(String, u64)>, StorageError> {
        self.pg.with_tx(async |tx| {
            tx.execute(
                "UPDATE members SET left_at = NULL WHERE status <> 'left' AND left_at IS NOT NULL",
                &[],
            )
            .await?;
            tx.execute(
                "UPDATE members SET left_at = $1 WHERE status = 'left' AND left_at IS NULL",
                &[&to_sql(now)],
            )
            .await?;
            let rows = tx
                .query(
                    "SELECT number, left_at FROM members WHERE status = 'left' ORDER BY number",
                    &[],
                )
                .await?;
            collect(&rows, |r| Ok((r.try_get(0)?, from_sql(r.try_get(1)?))))
        })
    }
}

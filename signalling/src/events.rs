//! Congress administration: setting up events (a congress, a board meeting, an open meeting)
//! and their rosters from the member directory, for admins, as the organisation-wide
//! commands of namespace `events` (`POST /api/org/events`, docs/events.md).
//!
//! It lives in the core rather than a plugin crate because everything it touches is core:
//! rooms, their control state, invites and access tokens, rosters, live presence. It sits on
//! the same host and the same authorization table as the plugins' organisation-wide commands
//! ([`crate::org_plugin`]): every command needs an admin, and every command narrows that to
//! the caller's scope — the event's organising unit, and the unit of every member it touches.
//!
//! Every refused command changes nothing: all checks run before the one write, and a command
//! that writes several rows writes them in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::account;
use crate::auth::{Role, TokenKeys};
use crate::invite;
use crate::mail;
use crate::org::{Member, MemberStatus, validate_group, validate_id, validate_text};
use crate::org_plugin::{OrgContext, OrgNeed, OrgPlugin, PluginError};
use crate::protocol::RoomMode;
use crate::room::{CongressState, Presence};
use crate::roster;
use crate::storage::{EventKind, EventRecord, InviteRecord, RoomRecord, RosterEntry, Store};

/// Most agenda items of one event.
pub const MAX_AGENDA: usize = 100;

/// The commands (`POST /api/org/events`, JSON with `action`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventCommand {
    /// Create an event and its room.
    Create {
        /// Title (the room's name).
        title: String,
        /// Congress, board meeting or open meeting.
        kind: EventKind,
        /// Start (unix seconds).
        #[serde(default)]
        starts_at: Option<u64>,
        /// Who is heard; default: congress mode, open mode for open meetings.
        #[serde(default)]
        mode: Option<RoomMode>,
        /// Organising unit; default: the caller's only admin scope.
        #[serde(default)]
        unit: Option<String>,
        /// Agenda items.
        #[serde(default)]
        agenda: Vec<String>,
        /// Room id (`[a-z0-9-]`); default: a random one.
        #[serde(default)]
        id: Option<String>,
    },
    /// The events the caller administers, with counts.
    List,
    /// One event: its data, roster (activated, present) and attendance by unit.
    Get {
        /// The room.
        room: String,
    },
    /// Delegate seats per unit (replaces the quotas; a unit's seats cover everything below it).
    SetQuotas {
        /// The room.
        room: String,
        /// Seats by unit id.
        quotas: BTreeMap<String, u32>,
    },
    /// Put members on the roster with a role: one by one (`numbers`), a group, a unit's
    /// members, or a group within a unit.
    Assign {
        /// The room.
        room: String,
        /// Their role in the room.
        role: Role,
        /// Member numbers.
        #[serde(default)]
        numbers: Vec<String>,
        /// Every active member of this group …
        #[serde(default)]
        group: Option<String>,
        /// … (or of this unit and below; both: the group's members in the unit).
        #[serde(default)]
        unit: Option<String>,
    },
    /// Take a member off the roster: their invite is revoked, a live session ends.
    Revoke {
        /// The room.
        room: String,
        /// Member number.
        number: String,
    },
    /// Invitations for everyone on the roster: a fresh activation link for members without
    /// a password (it supersedes earlier ones), the sign-in page for the others; as a list
    /// and as CSV (mail merge, printing); with `send`, also mailed.
    Invitations {
        /// The room.
        room: String,
        /// Also mail each invitation to the member's address (needs `[mail]`).
        #[serde(default)]
        send: bool,
    },
    /// An invite link for a non-member (guest speaker, press as observer).
    Guest {
        /// The room.
        room: String,
        /// Their name as shown in the room.
        name: String,
        /// `guest_speaker` or `observer`.
        role: Role,
    },
}

/// Congress administration (namespace `events`).
#[derive(Debug, Clone)]
pub struct Events {
    keys: TokenKeys,
    presence: Presence,
    guest_valid_secs: u64,
}

impl Events {
    /// Congress administration issuing guest links with `keys`, valid `guest_valid_secs`,
    /// reading attendance from `presence`.
    pub fn new(keys: TokenKeys, presence: Presence, guest_valid_secs: u64) -> Self {
        Self {
            keys,
            presence,
            guest_valid_secs,
        }
    }
}

fn refuse(reason: &'static str, message: impl Into<String>) -> PluginError {
    PluginError::new(reason, message)
}

fn storage(e: crate::storage::StorageError) -> PluginError {
    PluginError::new("storage", e.to_string())
}

/// A fresh room id: `prefix`, a dash, 12 random hex digits.
pub fn random_room_id(prefix: &str) -> String {
    let bytes: [u8; 6] = rand::rng().random();
    format!("{prefix}-{}", hex::encode(bytes))
}

/// The event of `room`, if the caller administers it.
fn administered(
    ctx: &OrgContext<'_>,
    room: &str,
) -> Result<(RoomRecord, EventRecord), PluginError> {
    let store = ctx.store();
    let unknown = || refuse("unknown_event", format!("no event {room:?}"));
    let record = store.room(room).map_err(storage)?.ok_or_else(unknown)?;
    let event = store.event(room).map_err(storage)?.ok_or_else(unknown)?;
    if !ctx.administers(&event.unit) {
        // The same answer as for no event: an admin of another unit learns nothing.
        return Err(unknown());
    }
    Ok((record, event))
}

/// A roster member's state.
struct Seat {
    member: Member,
    invite: InviteRecord,
}

/// The roster of `room` with each member and invite (entries whose member or invite is
/// gone are skipped).
fn seats(store: &dyn Store, room: &str) -> Result<Vec<Seat>, PluginError> {
    let mut seats = Vec::new();
    for entry in store.roster(room).map_err(storage)? {
        let (Some(member), Some(invite)) = (
            store.member(&entry.number).map_err(storage)?,
            store.invite(&entry.invite_id).map_err(storage)?,
        ) else {
            continue;
        };
        seats.push(Seat { member, invite });
    }
    Ok(seats)
}

/// The unit whose seats a delegate of `unit` takes: the nearest one with a quota.
fn quota_unit<'a>(
    ctx: &OrgContext<'_>,
    quotas: &'a BTreeMap<String, u32>,
    unit: &str,
) -> Option<&'a str> {
    ctx.units()
        .ancestors(unit)
        .find_map(|u| quotas.get_key_value(u).map(|(k, _)| k.as_str()))
}

/// The id of a unit named by id or by its exact name (as people type it).
fn unit_id(ctx: &OrgContext<'_>, id_or_name: &str) -> Result<String, PluginError> {
    ctx.units()
        .resolve(id_or_name.trim())
        .map(str::to_owned)
        .ok_or_else(|| refuse("invalid", format!("no unit {id_or_name:?}")))
}

/// Unrevoked delegate seats taken, by the quota unit whose seats they take.
fn delegates_by_quota<'a>(
    ctx: &OrgContext<'_>,
    quotas: &'a BTreeMap<String, u32>,
    seats: impl IntoIterator<Item = &'a Seat>,
) -> BTreeMap<&'a str, u32> {
    let mut taken = BTreeMap::new();
    for seat in seats
        .into_iter()
        .filter(|s| !s.invite.revoked && s.invite.role == Role::Delegate)
    {
        if let Some(q) = quota_unit(ctx, quotas, &seat.member.unit) {
            *taken.entry(q).or_default() += 1;
        }
    }
    taken
}

fn unit_name(ctx: &OrgContext<'_>, unit: &str) -> String {
    ctx.units().name(unit).unwrap_or(unit).to_owned()
}

impl Events {
    fn create(&self, ctx: &OrgContext<'_>, command: EventCommand) -> Result<Value, PluginError> {
        let EventCommand::Create {
            title,
            kind,
            starts_at,
            mode,
            unit,
            agenda,
            id,
        } = command
        else {
            return Err(refuse("bad_request", "not a create command"));
        };
        let invalid = |e: crate::org::OrgError| refuse("invalid", e.to_string());
        validate_text("title", &title).map_err(invalid)?;
        if kind == EventKind::Direct {
            return Err(refuse(
                "invalid",
                "direct conversations are opened from the directory",
            ));
        }
        if agenda.len() > MAX_AGENDA {
            return Err(refuse(
                "invalid",
                format!("at most {MAX_AGENDA} agenda items"),
            ));
        }
        for item in &agenda {
            validate_text("agenda item", item).map_err(invalid)?;
        }
        let unit = ctx.admin_scope(unit.as_deref())?;
        let id = match id {
            Some(id) => {
                validate_id("room id", &id).map_err(invalid)?;
                id
            }
            None => random_room_id("e"),
        };
        let state = CongressState {
            mode: mode.unwrap_or(match kind {
                EventKind::Open | EventKind::Direct => RoomMode::Open,
                EventKind::Congress | EventKind::Board => RoomMode::Congress,
            }),
            ..CongressState::default()
        };
        let event = EventRecord {
            room_id: id.clone(),
            kind,
            starts_at,
            unit,
            agenda,
            quotas: BTreeMap::new(),
        };
        let room = RoomRecord {
            id: id.clone(),
            name: title,
            created_at: ctx.now(),
        };
        ctx.store()
            .create_event(&room, &state.to_json(), &event)
            .map_err(|e| match e {
                crate::storage::StorageError::Duplicate(_) => {
                    refuse("duplicate", format!("room {id:?} exists already"))
                }
                e => storage(e),
            })?;
        Ok(json!({ "room": id }))
    }

    fn list(&self, ctx: &OrgContext<'_>) -> Result<Value, PluginError> {
        let store = ctx.store();
        let mut events = Vec::new();
        for event in store.events().map_err(storage)? {
            if event.kind == EventKind::Direct || !ctx.administers(&event.unit) {
                continue;
            }
            let Some(room) = store.room(&event.room_id).map_err(storage)? else {
                continue;
            };
            let present = self.presence.of(&room.id);
            let seats = seats(store, &room.id)?;
            let assigned = seats.iter().filter(|s| !s.invite.revoked).count();
            events.push(json!({
                "room": room.id,
                "title": room.name,
                "kind": event.kind,
                "starts_at": event.starts_at,
                "unit": event.unit,
                "unit_name": unit_name(ctx, &event.unit),
                "assigned": assigned,
                "present": present.len(),
            }));
        }
        Ok(json!({ "events": events }))
    }

    fn get(&self, ctx: &OrgContext<'_>, room: &str) -> Result<Value, PluginError> {
        let (record, event) = administered(ctx, room)?;
        let store = ctx.store();
        let present = self.presence.of(room);
        let mut roster = Vec::new();
        // Attendance by Landesverband: assigned, activated, present (revoked seats excluded).
        let mut by_region: BTreeMap<String, [u32; 3]> = BTreeMap::new();
        let mut roster_participants = BTreeSet::new();
        let all_seats = seats(store, room)?;
        let taken = delegates_by_quota(ctx, &event.quotas, &all_seats);
        for seat in &all_seats {
            let activated = store
                .password_hash(&seat.member.number)
                .map_err(storage)?
                .is_some();
            let here = present.contains(&seat.invite.participant_id);
            roster_participants.insert(seat.invite.participant_id.clone());
            if !seat.invite.revoked {
                let counts = by_region
                    .entry(
                        ctx.units()
                            .region(&seat.member.unit)
                            .unwrap_or(&seat.member.unit)
                            .to_owned(),
                    )
                    .or_default();
                counts[0] += 1;
                counts[1] += u32::from(activated);
                counts[2] += u32::from(here);
            }
            roster.push(json!({
                "number": seat.member.number,
                "name": seat.member.display_name(),
                "unit": seat.member.unit,
                "unit_name": unit_name(ctx, &seat.member.unit),
                "role": seat.invite.role,
                "activated": activated,
                "present": here,
                "revoked": seat.invite.revoked,
                "left": seat.member.status != MemberStatus::Active,
            }));
        }
        let attendance: Vec<Value> = by_region
            .iter()
            .map(|(unit, [assigned, activated, here])| {
                json!({
                    "unit": unit,
                    "unit_name": unit_name(ctx, unit),
                    "assigned": assigned,
                    "activated": activated,
                    "present": here,
                })
            })
            .collect();
        let quotas: Vec<Value> = event
            .quotas
            .iter()
            .map(|(unit, seats)| {
                let taken = taken.get(unit.as_str()).copied().unwrap_or(0);
                json!({ "unit": unit, "unit_name": unit_name(ctx, unit), "seats": seats, "taken": taken })
            })
            .collect();
        Ok(json!({
            "room": record.id,
            "title": record.name,
            "kind": event.kind,
            "starts_at": event.starts_at,
            "unit": event.unit,
            "unit_name": unit_name(ctx, &event.unit),
            "agenda": event.agenda,
            "quotas": quotas,
            "roster": roster,
            "attendance": attendance,
            "present": present.len(),
            "guests_present": present.difference(&roster_participants).count(),
        }))
    }

    fn set_quotas(
        &self,
        ctx: &OrgContext<'_>,
        room: &str,
        quotas: BTreeMap<String, u32>,
    ) -> Result<Value, PluginError> {
        let (_, mut event) = administered(ctx, room)?;
        let quotas = quotas
            .into_iter()
            .map(|(unit, seats)| Ok((unit_id(ctx, &unit)?, seats)))
            .collect::<Result<BTreeMap<_, _>, PluginError>>()?;
        for unit in quotas.keys() {
            if !ctx.units().covers(&event.unit, unit) {
                return Err(refuse(
                    "invalid",
                    format!("unit {unit:?} is not part of the organising unit"),
                ));
            }
        }
        event.quotas = quotas;
        let all_seats = seats(ctx.store(), room)?;
        let taken_by = delegates_by_quota(ctx, &event.quotas, &all_seats);
        for (unit, seats) in &event.quotas {
            let taken = taken_by.get(unit.as_str()).copied().unwrap_or(0);
            if taken > *seats {
                return Err(refuse(
                    "quota_full",
                    format!(
                        "{} has {taken} delegates already, more than {seats} seats",
                        unit_name(ctx, unit)
                    ),
                ));
            }
        }
        ctx.store().put_event(&event).map_err(storage)?;
        Ok(json!({ "room": room, "quotas": event.quotas }))
    }

    fn assign(
        &self,
        ctx: &OrgContext<'_>,
        room: &str,
        role: Role,
        numbers: Vec<String>,
        group: Option<String>,
        unit: Option<String>,
    ) -> Result<Value, PluginError> {
        let (_, event) = administered(ctx, room)?;
        let store = ctx.store();
        if let Some(g) = &group {
            validate_group(g).map_err(|e| refuse("invalid", e.to_string()))?;
        }
        let unit = match unit {
            Some(u) => Some(unit_id(ctx, &u)?),
            None => None,
        };
        // Select: the numbers one by one, plus everyone matching group/unit.
        let mut chosen: BTreeMap<String, Member> = BTreeMap::new();
        let mut unknown = Vec::new();
        for number in &numbers {
            match store.member(number).map_err(storage)? {
                Some(m) if m.status == MemberStatus::Active && ctx.administers(&m.unit) => {
                    chosen.insert(m.number.clone(), m);
                }
                // Unknown, left, and outside the caller's scope look alike.
                _ => unknown.push(number.clone()),
            }
        }
        if !unknown.is_empty() {
            return Err(refuse(
                "unknown_member",
                format!(
                    "no active member in your scope with number {}",
                    unknown.join(", ")
                ),
            ));
        }
        if group.is_some() || unit.is_some() {
            let mut outside = 0;
            for m in store.members().map_err(storage)? {
                let matches = m.status == MemberStatus::Active
                    && group.as_ref().is_none_or(|g| m.groups.contains(g))
                    && unit.as_ref().is_none_or(|u| ctx.units().covers(u, &m.unit));
                if !matches {
                    continue;
                }
                if ctx.administers(&m.unit) {
                    chosen.insert(m.number.clone(), m);
                } else {
                    outside += 1;
                }
            }
            if outside > 0 {
                return Err(refuse(
                    "outside_scope",
                    format!(
                        "{outside} of the selected members are outside the units you administer"
                    ),
                ));
            }
        }
        if chosen.is_empty() {
            return Err(refuse("nothing_selected", "no member matches"));
        }
        // Already seated (unrevoked) members are skipped; a revoked seat is given anew.
        let seated: BTreeMap<String, Seat> = seats(store, room)?
            .into_iter()
            .map(|s| (s.member.number.clone(), s))
            .collect();
        let mut already = Vec::new();
        chosen.retain(|number, _| {
            let on = seated.get(number).is_some_and(|s| !s.invite.revoked);
            if on {
                already.push(number.clone());
            }
            !on
        });
        if role == Role::Delegate && !event.quotas.is_empty() {
            let mut taken = delegates_by_quota(ctx, &event.quotas, seated.values());
            for m in chosen.values() {
                let Some(q) = quota_unit(ctx, &event.quotas, &m.unit) else {
                    return Err(refuse(
                        "no_quota",
                        format!(
                            "{} has no delegate seats at this event",
                            unit_name(ctx, ctx.units().region(&m.unit).unwrap_or(&m.unit))
                        ),
                    ));
                };
                let n = taken.entry(q).or_default();
                *n += 1;
                if *n > event.quotas[q] {
                    return Err(refuse(
                        "quota_full",
                        format!(
                            "{} has {} delegate seats",
                            unit_name(ctx, q),
                            event.quotas[q]
                        ),
                    ));
                }
            }
        }
        let now = ctx.now();
        let entries: Vec<(RosterEntry, InviteRecord)> = chosen
            .values()
            .map(|m| roster::seat(room, m, role, now))
            .collect();
        store.add_many_to_roster(&entries).map_err(storage)?;
        Ok(json!({ "added": entries.len(), "already": already }))
    }

    fn revoke(&self, ctx: &OrgContext<'_>, room: &str, number: &str) -> Result<Value, PluginError> {
        administered(ctx, room)?;
        let seat = seats(ctx.store(), room)?
            .into_iter()
            .find(|s| {
                s.member.number == number && !s.invite.revoked && ctx.administers(&s.member.unit)
            })
            .ok_or_else(|| {
                refuse(
                    "not_on_roster",
                    format!("member {number} is not on the roster"),
                )
            })?;
        ctx.store()
            .revoke_invite(&seat.invite.id)
            .map_err(storage)?;
        Ok(json!({ "revoked": number }))
    }

    fn invitations(
        &self,
        ctx: &OrgContext<'_>,
        room: &str,
        send: bool,
    ) -> Result<Value, PluginError> {
        let (record, _) = administered(ctx, room)?;
        let mailer = match (send, ctx.mailer()) {
            (false, _) => None,
            (true, Some(m)) => Some(m),
            (true, None) => {
                return Err(refuse(
                    "no_mail",
                    "no mail server is configured: download the invitations instead",
                ));
            }
        };
        let (mut sent, mut failed, mut without_email) = (0u32, 0u32, 0u32);
        let store = ctx.store();
        let base = ctx.public_url().trim_end_matches('/');
        let mut list = Vec::new();
        let csv_error = |e: csv::Error| refuse("csv", e.to_string());
        let mut csv = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_writer(Vec::new());
        csv.write_record(["number", "name", "unit", "role", "email", "kind", "link"])
            .map_err(csv_error)?;
        for seat in seats(store, room)? {
            if seat.invite.revoked || seat.member.status != MemberStatus::Active {
                continue;
            }
            let has_password = store
                .password_hash(&seat.member.number)
                .map_err(storage)?
                .is_some();
            let (kind, link) = if has_password {
                ("sign_in", format!("{base}/"))
            } else {
                let secret = account::issue_activation(store, &seat.member.number, ctx.now())
                    .map_err(storage)?
                    .ok_or_else(|| refuse("unknown_member", "member left meanwhile"))?;
                ("activation", account::activation_link(base, &secret))
            };
            let unit = unit_name(ctx, &seat.member.unit);
            let email = seat.member.email.clone().unwrap_or_default();
            let name = seat.member.display_name();
            let fields = [
                seat.member.number.as_str(),
                name.as_str(),
                unit.as_str(),
                seat.invite.role.as_str(),
                email.as_str(),
                kind,
                link.as_str(),
            ];
            csv.write_record(fields.map(|f| defused(f).into_owned()))
                .map_err(csv_error)?;
            let mailed = match (mailer, seat.member.email.as_deref()) {
                (Some(m), Some(address)) => {
                    let (subject, text) =
                        mail::invitation(&record.name, &name, &link, kind == "activation");
                    let ok = m.send(address, &subject, &text).is_ok();
                    if ok {
                        sent += 1;
                    } else {
                        failed += 1;
                    }
                    ok
                }
                (Some(_), None) => {
                    without_email += 1;
                    false
                }
                (None, _) => false,
            };
            list.push(json!({
                "number": seat.member.number,
                "name": name,
                "unit_name": unit,
                "role": seat.invite.role,
                "email": seat.member.email,
                "kind": kind,
                "link": link,
                "mailed": mailed,
            }));
        }
        let csv = csv.into_inner().map_err(|e| refuse("csv", e.to_string()))?;
        Ok(json!({
            "room": record.id,
            "title": record.name,
            "invitations": list,
            "csv": String::from_utf8_lossy(&csv),
            "sent": sent,
            "failed": failed,
            "without_email": without_email,
        }))
    }

    fn guest(
        &self,
        ctx: &OrgContext<'_>,
        room: &str,
        name: &str,
        role: Role,
    ) -> Result<Value, PluginError> {
        administered(ctx, room)?;
        validate_text("name", name).map_err(|e| refuse("invalid", e.to_string()))?;
        if !matches!(role, Role::GuestSpeaker | Role::Observer) {
            return Err(refuse(
                "invalid",
                "a guest is a guest_speaker or an observer; put members on the roster",
            ));
        }
        let issued = invite::issue(
            ctx.store(),
            &self.keys,
            room,
            name,
            role,
            ctx.now(),
            self.guest_valid_secs,
        )
        .map_err(|e| refuse("storage", e.to_string()))?;
        Ok(json!({
            "invite_id": issued.record.id,
            "link": issued.link(ctx.public_url()),
            "expires_at": issued.record.expires_at,
        }))
    }
}

/// A CSV field that a spreadsheet will not run as a formula: a leading `=`, `+`, `-` or `@`
/// gets a `'` in front (names and e-mail addresses come from an imported file; the reports
/// plugin's register export uses it too).
pub fn defused(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

impl OrgPlugin for Events {
    type Command = EventCommand;

    fn namespace(&self) -> &'static str {
        "events"
    }

    /// The authorization table: every command is an admin's, narrowed to the caller's scope
    /// inside (the event's unit; each member's unit).
    fn need(&self, command: &EventCommand) -> OrgNeed {
        match command {
            EventCommand::Create { .. }
            | EventCommand::List
            | EventCommand::Get { .. }
            | EventCommand::SetQuotas { .. }
            | EventCommand::Assign { .. }
            | EventCommand::Revoke { .. }
            | EventCommand::Invitations { .. }
            | EventCommand::Guest { .. } => OrgNeed::Admin,
        }
    }

    fn command(&self, ctx: &OrgContext<'_>, command: EventCommand) -> Result<Value, PluginError> {
        match command {
            c @ EventCommand::Create { .. } => self.create(ctx, c),
            EventCommand::List => self.list(ctx),
            EventCommand::Get { room } => self.get(ctx, &room),
            EventCommand::SetQuotas { room, quotas } => self.set_quotas(ctx, &room, quotas),
            EventCommand::Assign {
                room,
                role,
                numbers,
                group,
                unit,
            } => self.assign(ctx, &room, role, numbers, group, unit),
            EventCommand::Revoke { room, number } => self.revoke(ctx, &room, &number),
            EventCommand::Invitations { room, send } => self.invitations(ctx, &room, send),
            EventCommand::Guest { room, name, role } => self.guest(ctx, &room, &name, role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::defused;

    #[test]
    fn formulas_in_csv_fields_are_defused() {
        assert_eq!(defused("Müller"), "Müller");
        assert_eq!(defused("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(defused("@SUM(A1)"), "'@SUM(A1)");
    }
}

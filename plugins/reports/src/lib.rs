//! Reports: the minutes of a session, from the room's session record
//! (`plenum_signalling::record`), as JSON, HTML and PDF (docs/reports.md). An
//! organisation-wide plugin (namespace `reports`): admins over the event's organising unit
//! read a room's record and download its minutes.
//!
//! The room half ([`notes`]) takes the minute-taker's notes during the session. An admin
//! approves the minutes: the record and the notes are frozen as one JSON document, its
//! SHA-256 printed in the PDF; a correction is a new version that names the one it replaces;
//! members on the room's roster download approved versions.
//!
//! The chair (a member seated as moderator) or an admin over the event's unit approves;
//! approving enters the session's adopted motions in the resolutions register
//! ([`register`]). Boards decide between meetings by [`circulation`]; agenda items carry
//! PDF [`attachments`].

pub mod attachments;
pub mod circulation;
pub mod doc;
pub mod html;
pub mod notes;
pub mod pdf;
pub mod register;
pub mod text;

use std::collections::HashMap;

use plenum_signalling::auth::Role;
use plenum_signalling::org_plugin::{Download, OrgContext, OrgNeed, OrgPlugin, PluginError};
use plenum_signalling::record::{SessionRecord, session_record};
use plenum_signalling::serde::{Deserialize, Serialize};
use plenum_signalling::serde_json::{self, Value, json};

pub use text::Lang;

/// Settings (config section `[reports]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde", deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// The time zone the minutes give times in (IANA name).
    pub time_zone: String,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            time_zone: "Europe/Berlin".to_owned(),
        }
    }
}

/// The commands (`POST /api/org/reports`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    crate = "plenum_signalling::serde",
    tag = "action",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ReportsCommand {
    /// The session record of a room (JSON).
    Record {
        /// The room.
        room: String,
    },
    /// Approve the minutes as they are now: a new version (the first, or a correction that
    /// replaces the latest). Approved versions never change. The adopted motions are
    /// entered in the register under `body` (default: the event's kind and unit, `PT-BV`).
    Approve {
        /// The room.
        room: String,
        /// The register's body for this session's resolutions.
        #[serde(default)]
        body: Option<String>,
    },
    /// The approved versions of a room's minutes.
    Versions {
        /// The room.
        room: String,
    },
    /// Members: the approved minutes of the rooms they are on the roster of.
    Published,
    /// The minutes as HTML.
    Minutes {
        /// The room.
        room: String,
        /// `de` (default) or `en`.
        #[serde(default)]
        lang: Lang,
    },
    /// Admins: put a motion to a group by circulation.
    Circulate(circulation::Proposal),
    /// The circulations of the caller's groups, and those of the units they administer.
    Circulations,
    /// Vote on a circulation.
    CirculationVote {
        /// The circulation.
        id: String,
        /// yes, no, abstain or object.
        vote: circulation::Vote,
    },
    /// Admins: withdraw a running circulation.
    WithdrawCirculation {
        /// The circulation.
        id: String,
    },
    /// The resolutions register, searched.
    Register(register::Query),
    /// The attachments of a room's agenda.
    Attachments {
        /// The room.
        room: String,
    },
    /// The chair or an admin deletes an attachment.
    DeleteAttachment {
        /// The room.
        room: String,
        /// The attachment.
        id: String,
    },
}

/// The reports plugin.
#[derive(Debug, Clone)]
pub struct Reports {
    clock: text::Clock,
    /// Held by every command that writes circulations or the register: a vote and the
    /// settling of its circulation, and the numbers of the register, happen one at a time.
    writes: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Reports {
    /// Reports with these settings.
    pub fn new(config: &ReportsConfig) -> Self {
        Self {
            clock: text::Clock::new(&config.time_zone),
            writes: std::sync::Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(crate) fn storage(e: plenum_signalling::storage::StorageError) -> PluginError {
    PluginError::new("storage", e.to_string())
}

/// The unit `room` belongs to: its event's organising unit, the root for a room that is no
/// event; `None` if there is no such room.
fn room_unit(ctx: &OrgContext<'_>, room: &str) -> Result<Option<String>, PluginError> {
    if let Some(e) = ctx.store().event(room).map_err(storage)? {
        return Ok(Some(e.unit));
    }
    Ok(match ctx.store().room(room).map_err(storage)? {
        Some(_) => root(ctx),
        None => None,
    })
}

/// Does the caller administer `room` (the unit it belongs to, or one above)? A cheap check:
/// nothing of the room's record is read.
fn administers_room(ctx: &OrgContext<'_>, room: &str) -> Result<bool, PluginError> {
    Ok(room_unit(ctx, room)?.is_some_and(|unit| ctx.administers(&unit)))
}

fn unknown_event(room: &str) -> PluginError {
    PluginError::new("unknown_event", format!("no event {room:?}"))
}

/// The record of `room`, if the caller administers it ([`administers_room`]).
fn readable(ctx: &OrgContext<'_>, room: &str) -> Result<SessionRecord, PluginError> {
    if !administers_room(ctx, room)? {
        return Err(unknown_event(room));
    }
    session_record(ctx.store(), room)
        .map_err(storage)?
        .ok_or_else(|| unknown_event(room))
}

/// The caller may approve the minutes of `room`: an admin over the event's unit, or a member
/// seated in the room as moderator or admin (the chair).
fn chair_or_admin(ctx: &OrgContext<'_>, room: &str) -> Result<(), PluginError> {
    if administers_room(ctx, room)? {
        return Ok(());
    }
    let store = ctx.store();
    for entry in store
        .rosters_of(&ctx.caller().member.number)
        .map_err(storage)?
    {
        if entry.room_id != room {
            continue;
        }
        let chair = store
            .invite(&entry.invite_id)
            .map_err(storage)?
            .is_some_and(|i| !i.revoked && matches!(i.role, Role::Moderator | Role::Admin));
        if chair {
            return Ok(());
        }
        return Err(PluginError::new(
            "not_chair",
            "only the chair (a moderator of the room) or an admin approves the minutes",
        ));
    }
    Err(unknown_event(room))
}

/// Unix milliseconds of the request.
fn now_ms(ctx: &OrgContext<'_>) -> u64 {
    ctx.now().saturating_mul(1000)
}

/// The register's default body for a room: the event's kind and unit (`PT-BV` for a
/// congress of unit `bv`; `VS-…` board, `MV-…` open meeting, `GS-…` conversation).
fn default_body(ctx: &OrgContext<'_>, room: &str) -> Result<String, PluginError> {
    use plenum_signalling::storage::EventKind;
    let Some(event) = ctx.store().event(room).map_err(storage)? else {
        return Ok(format!("S-{}", room.to_uppercase()));
    };
    let kind = match event.kind {
        EventKind::Congress => "PT",
        EventKind::Board => "VS",
        EventKind::Open => "MV",
        EventKind::Direct => "GS",
    };
    Ok(format!("{kind}-{}", event.unit.to_uppercase()))
}

/// The agenda's length (0 for a room that is no event).
fn agenda_len(ctx: &OrgContext<'_>, room: &str) -> Result<usize, PluginError> {
    Ok(ctx
        .store()
        .event(room)
        .map_err(storage)?
        .map_or(0, |e| e.agenda.len()))
}

/// The caller reads a room's approved minutes and attachments: an admin over the room
/// ([`administers_room`]), or a member on the room's roster.
fn on_roster_or_admin(ctx: &OrgContext<'_>, room: &str) -> Result<(), PluginError> {
    if administers_room(ctx, room)? {
        return Ok(());
    }
    let seated = ctx
        .store()
        .rosters_of(&ctx.caller().member.number)
        .map_err(storage)?
        .iter()
        .any(|e| e.room_id == room);
    if seated {
        Ok(())
    } else {
        Err(unknown_event(room))
    }
}

/// The root unit.
fn root(ctx: &OrgContext<'_>) -> Option<String> {
    ctx.store()
        .units()
        .ok()?
        .into_iter()
        .find(|u| u.parent.is_none())
        .map(|u| u.id)
}

/// An approved version as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Frozen {
    /// 1, 2, …
    pub version: u32,
    /// The version this one corrects.
    pub supersedes: Option<u32>,
    /// When (unix milliseconds).
    pub approved_at_ms: u64,
    /// By whom.
    pub approved_by: String,
    /// The session record then.
    pub record: SessionRecord,
    /// The notes then.
    pub notes: Vec<notes::Note>,
    /// The attachments then, each with its SHA-256 (none in versions from before they
    /// existed).
    #[serde(default)]
    pub attachments: Vec<attachments::Attachment>,
}

/// A stored version: the JSON exactly as hashed, its hash, and what it says.
struct StoredVersion {
    json: String,
    sha256: String,
    minutes: Frozen,
}

fn version_key(version: u32) -> String {
    format!("minutes/v{version:04}")
}

/// SHA-256 of `text` as lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The notes of `room`, oldest first.
fn room_notes(ctx: &OrgContext<'_>, room: &str) -> Result<Vec<notes::Note>, PluginError> {
    let data = ctx
        .store()
        .plugin_data(room, notes::NAMESPACE)
        .map_err(storage)?;
    Ok(notes::stored_notes(&data))
}

/// The approved versions of `room`, oldest first (each checked against its hash).
fn versions(ctx: &OrgContext<'_>, room: &str) -> Result<Vec<StoredVersion>, PluginError> {
    let data = ctx
        .store()
        .plugin_data(room, notes::NAMESPACE)
        .map_err(storage)?;
    let mut out = Vec::new();
    for (key, value) in data {
        if !key.starts_with("minutes/v") {
            continue;
        }
        let corrupt =
            || PluginError::new("corrupt", format!("stored minutes {key} are unreadable"));
        let stored: Value = serde_json::from_str(&value).map_err(|_| corrupt())?;
        let (Some(json), Some(sha256)) = (stored["json"].as_str(), stored["sha256"].as_str())
        else {
            return Err(corrupt());
        };
        if sha256_hex(json) != sha256 {
            return Err(PluginError::new(
                "corrupt",
                format!("stored minutes {key} do not match their hash"),
            ));
        }
        out.push(StoredVersion {
            minutes: serde_json::from_str(json).map_err(|_| corrupt())?,
            json: json.to_owned(),
            sha256: sha256.to_owned(),
        });
    }
    Ok(out)
}

/// The URL parameter `name` as a number, if given (empty counts as not given). Refusal:
/// `invalid`.
pub(crate) fn number_param<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, PluginError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| PluginError::new("invalid", format!("{name} is a number"))),
        None => Ok(None),
    }
}

fn room_param(params: &HashMap<String, String>) -> Result<&String, PluginError> {
    params
        .get("room")
        .ok_or_else(|| PluginError::new("invalid", "which room? (?room=…)"))
}

impl Reports {
    /// Enter the adopted motions of an approved session in the register under `body`
    /// (those entered from an earlier version keep their numbers). The caller holds the
    /// write lock. The numbers, in the order of the polls.
    fn enter_session(
        &self,
        ctx: &OrgContext<'_>,
        room: &str,
        body: &str,
        version: u32,
        record: &SessionRecord,
    ) -> Result<Vec<String>, PluginError> {
        let unit = room_unit(ctx, room)?.unwrap_or_default();
        let mut numbers = Vec::new();
        for poll in &record.polls {
            let Some(result) = poll.result.as_ref().filter(|r| r.accepted == Some(true)) else {
                continue;
            };
            let counts = result
                .questions
                .first()
                .map(|q| q.counts)
                .unwrap_or_default();
            let entry = register::enter(
                ctx.store(),
                &self.clock,
                register::Resolution {
                    body: body.to_owned(),
                    date_ms: poll
                        .closed_at_ms
                        .or(poll.published_at_ms)
                        .unwrap_or_else(|| now_ms(ctx)),
                    title: poll.spec.title.clone(),
                    text: String::new(),
                    yes: counts.yes,
                    no: counts.no,
                    abstain: counts.abstain,
                    unit: unit.clone(),
                    source: register::Source::Session {
                        room: room.to_owned(),
                        poll: poll.id.clone(),
                        minutes_version: version,
                    },
                },
            )?;
            numbers.push(entry.number);
        }
        Ok(numbers)
    }

    /// Settle every circulation that is due now (so a register read is complete): every
    /// circulation, oldest first, with its register number if it was adopted.
    #[allow(clippy::type_complexity)]
    fn settle_due(
        &self,
        ctx: &OrgContext<'_>,
    ) -> Result<Vec<(circulation::Loaded, Option<String>)>, PluginError> {
        let _writes = self.lock();
        let mut numbers: HashMap<String, String> = register::entries(ctx.store())?
            .into_iter()
            .filter_map(|e| match e.resolution.source {
                register::Source::Circulation { id } => Some((id, e.number)),
                register::Source::Session { .. } => None,
            })
            .collect();
        let mut all = Vec::new();
        for mut l in circulation::load_all(ctx.store())? {
            // Settled and, if adopted, entered: nothing to do.
            let done = l.outcome.as_ref().is_some_and(|o| {
                o.state != circulation::State::Adopted || numbers.contains_key(&l.circulation.id)
            });
            if !done
                && let Some(n) = circulation::settle(ctx.store(), &self.clock, &mut l, now_ms(ctx))?
            {
                numbers.insert(l.circulation.id.clone(), n);
            }
            let number = numbers.get(&l.circulation.id).cloned();
            all.push((l, number));
        }
        Ok(all)
    }
}

fn lang_of(params: &HashMap<String, String>) -> Lang {
    match params.get("lang").map(String::as_str) {
        Some("en") => Lang::En,
        _ => Lang::De,
    }
}

impl OrgPlugin for Reports {
    type Command = ReportsCommand;

    fn namespace(&self) -> &'static str {
        "reports"
    }

    /// The authorization table: admins, narrowed to the event's unit.
    fn need(&self, command: &ReportsCommand) -> OrgNeed {
        match command {
            ReportsCommand::Record { .. }
            | ReportsCommand::Versions { .. }
            | ReportsCommand::Minutes { .. } => OrgNeed::Admin,
            ReportsCommand::Circulate(_) | ReportsCommand::WithdrawCirculation { .. } => {
                OrgNeed::Admin
            }
            // The room's chair too (checked in `chair_or_admin`); members of a group, of a
            // unit, of a room's roster (checked in the command).
            ReportsCommand::Approve { .. }
            | ReportsCommand::Published
            | ReportsCommand::Circulations
            | ReportsCommand::CirculationVote { .. }
            | ReportsCommand::Register(_)
            | ReportsCommand::Attachments { .. }
            | ReportsCommand::DeleteAttachment { .. } => OrgNeed::Member,
        }
    }

    fn command(&self, ctx: &OrgContext<'_>, command: ReportsCommand) -> Result<Value, PluginError> {
        match command {
            ReportsCommand::Record { room } => {
                let record = readable(ctx, &room)?;
                Ok(json!({ "record": serde_json::to_value(&record).unwrap_or_default() }))
            }
            ReportsCommand::Minutes { room, lang } => {
                let record = readable(ctx, &room)?;
                let notes = room_notes(ctx, &room)?;
                let files = attachments::list(ctx.store(), &room)?;
                let doc = doc::minutes(&record, &notes, &files, None, lang, &self.clock);
                Ok(json!({ "html": html::render(&doc) }))
            }
            ReportsCommand::Approve { room, body } => {
                chair_or_admin(ctx, &room)?;
                let body = match body {
                    Some(b) => b.trim().to_owned(),
                    None => default_body(ctx, &room)?,
                };
                register::valid_body(&body)?;
                let _writes = self.lock();
                let record = session_record(ctx.store(), &room)
                    .map_err(storage)?
                    .ok_or_else(|| unknown_event(&room))?;
                let notes = room_notes(ctx, &room)?;
                let versions = versions(ctx, &room)?;
                let version = versions.last().map_or(1, |v| v.minutes.version + 1);
                let frozen = Frozen {
                    version,
                    supersedes: versions.last().map(|v| v.minutes.version),
                    approved_at_ms: ctx.now().saturating_mul(1000),
                    approved_by: ctx.caller().member.display_name(),
                    record,
                    notes,
                    attachments: attachments::list(ctx.store(), &room)?,
                };
                let json = serde_json::to_string(&frozen)
                    .map_err(|e| PluginError::new("invalid", e.to_string()))?;
                let sha256 = sha256_hex(&json);
                let stored = json!({ "sha256": sha256, "json": json }).to_string();
                ctx.store()
                    .put_plugin_data(
                        &room,
                        notes::NAMESPACE,
                        &version_key(version),
                        Some(&stored),
                    )
                    .map_err(storage)?;
                let entered = self.enter_session(ctx, &room, &body, version, &frozen.record)?;
                Ok(json!({
                    "version": version,
                    "sha256": sha256,
                    "supersedes": frozen.supersedes,
                    "register": entered,
                }))
            }
            ReportsCommand::Circulate(proposal) => {
                let _writes = self.lock();
                let c = circulation::create(ctx, proposal, now_ms(ctx))?;
                let loaded = circulation::Loaded {
                    circulation: c,
                    votes: std::collections::BTreeMap::new(),
                    outcome: None,
                };
                Ok(json!({ "circulation": circulation::view(ctx, &loaded, None) }))
            }
            ReportsCommand::Circulations => {
                let list: Vec<Value> = self
                    .settle_due(ctx)?
                    .iter()
                    .rev()
                    .filter(|(l, _)| circulation::visible(ctx, &l.circulation))
                    .map(|(l, number)| circulation::view(ctx, l, number.as_deref()))
                    .collect();
                Ok(json!({ "circulations": list }))
            }
            ReportsCommand::CirculationVote { id, vote } => {
                let _writes = self.lock();
                let (l, number) = circulation::vote(ctx, &self.clock, &id, vote, now_ms(ctx))?;
                Ok(json!({ "circulation": circulation::view(ctx, &l, number.as_deref()) }))
            }
            ReportsCommand::WithdrawCirculation { id } => {
                let _writes = self.lock();
                let l = circulation::withdraw(ctx, &self.clock, &id, now_ms(ctx))?;
                Ok(json!({ "circulation": circulation::view(ctx, &l, None) }))
            }
            ReportsCommand::Register(query) => {
                // Settle what is due first, so the register is complete at this moment.
                self.settle_due(ctx)?;
                let entries = register::search(ctx, &query)?;
                Ok(json!({ "entries": entries }))
            }
            ReportsCommand::Attachments { room } => {
                on_roster_or_admin(ctx, &room)?;
                let agenda = ctx
                    .store()
                    .event(&room)
                    .map_err(storage)?
                    .map(|e| e.agenda)
                    .unwrap_or_default();
                Ok(json!({
                    "attachments": attachments::list(ctx.store(), &room)?,
                    "agenda": agenda,
                    "may_edit": chair_or_admin(ctx, &room).is_ok(),
                }))
            }
            ReportsCommand::DeleteAttachment { room, id } => {
                chair_or_admin(ctx, &room)?;
                attachments::delete(ctx.store(), &room, &id)?;
                Ok(json!({ "deleted": id }))
            }
            ReportsCommand::Published => {
                let mut rooms = Vec::new();
                for entry in ctx
                    .store()
                    .rosters_of(&ctx.caller().member.number)
                    .map_err(storage)?
                {
                    let list: Vec<Value> = versions(ctx, &entry.room_id)?
                        .iter()
                        .map(|v| json!({ "version": v.minutes.version, "approved_at_ms": v.minutes.approved_at_ms, "sha256": v.sha256 }))
                        .collect();
                    if !list.is_empty() {
                        rooms.push(json!({ "room": entry.room_id, "versions": list }));
                    }
                }
                Ok(json!({ "rooms": rooms }))
            }
            ReportsCommand::Versions { room } => {
                if !administers_room(ctx, &room)? {
                    return Err(unknown_event(&room));
                }
                let list: Vec<Value> = versions(ctx, &room)?
                    .iter()
                    .map(|v| {
                        json!({
                            "version": v.minutes.version,
                            "supersedes": v.minutes.supersedes,
                            "approved_at_ms": v.minutes.approved_at_ms,
                            "approved_by": v.minutes.approved_by,
                            "sha256": v.sha256,
                        })
                    })
                    .collect();
                Ok(json!({ "versions": list }))
            }
        }
    }

    /// Circulations and attachments name the erased member by the pseudonym from now on (the
    /// notes are the room half's, approved minutes stay as approved: docs/privacy.md).
    fn erased(
        &self,
        store: &dyn plenum_signalling::storage::Store,
        number: &str,
        pseudonym: &str,
    ) -> Result<(), PluginError> {
        let _writes = self.lock();
        circulation::erase_member(store, number, pseudonym)?;
        attachments::erase_member(store, number, pseudonym)
    }

    fn export(&self, store: &dyn plenum_signalling::storage::Store, number: &str) -> Value {
        let circulations = circulation::export_member(store, number)
            .unwrap_or_else(|e| json!({ "error": e.message }));
        let uploads: Vec<Value> = attachments::export_member(store, number)
            .unwrap_or_default()
            .into_iter()
            .map(|(room, id, name)| json!({ "room": room, "id": id, "name": name }))
            .collect();
        if circulations.is_null() && uploads.is_empty() {
            return Value::Null;
        }
        json!({ "circulations": circulations, "attachments_uploaded": uploads })
    }

    /// Members too: approved versions of the rooms they are on the roster of (checked in
    /// `download`); drafts and records need an admin over the event's unit.
    fn download_need(&self, action: &str) -> Option<OrgNeed> {
        matches!(
            action,
            "minutes.pdf"
                | "minutes.html"
                | "record.json"
                | "register.pdf"
                | "register.csv"
                | "attachment.pdf"
        )
        .then_some(OrgNeed::Member)
    }

    /// `POST /api/org/reports/upload/attachment?room=…&item=2&name=Kassenbericht.pdf` with
    /// the PDF as the body: the chair or an admin over the event's unit.
    fn upload_need(&self, action: &str) -> Option<OrgNeed> {
        (action == "attachment").then_some(OrgNeed::Member)
    }

    fn upload(
        &self,
        ctx: &OrgContext<'_>,
        _action: &str,
        params: &HashMap<String, String>,
        body: &[u8],
    ) -> Result<Value, PluginError> {
        let room = room_param(params)?;
        chair_or_admin(ctx, room)?;
        let item = number_param(params, "item")?;
        let name = params.get("name").map_or("Anlage.pdf", String::as_str);
        let attachment = attachments::add(
            ctx.store(),
            room,
            item,
            agenda_len(ctx, room)?,
            name,
            body,
            &ctx.caller().member,
            now_ms(ctx),
        )?;
        Ok(json!({ "attachment": attachment }))
    }

    /// `GET /api/org/reports/download/minutes.pdf?room=…&lang=de` (also `minutes.html`,
    /// `record.json`).
    fn download(
        &self,
        ctx: &OrgContext<'_>,
        action: &str,
        params: &HashMap<String, String>,
    ) -> Result<Download, PluginError> {
        let lang = lang_of(params);
        match action {
            "register.csv" | "register.pdf" => {
                self.settle_due(ctx)?;
                let entries = register::search(ctx, &register::Query::from_params(params)?)?;
                let stem = lang.t("register").to_lowercase();
                return Ok(if action == "register.csv" {
                    Download {
                        content_type: "text/csv; charset=utf-8",
                        filename: format!("{stem}.csv"),
                        bytes: register::csv(&entries, &self.clock, lang).into_bytes(),
                    }
                } else {
                    let doc = register::document(&entries, &self.clock, lang, now_ms(ctx));
                    Download {
                        content_type: "application/pdf",
                        filename: format!("{stem}.pdf"),
                        bytes: pdf::render(&doc)
                            .map_err(|e| PluginError::new("pdf", e.to_string()))?,
                    }
                });
            }
            "attachment.pdf" => {
                let room = room_param(params)?;
                on_roster_or_admin(ctx, room)?;
                let id = params
                    .get("id")
                    .ok_or_else(|| PluginError::new("invalid", "which attachment? (?id=…)"))?;
                let (meta, bytes) = attachments::file(ctx.store(), room, id)?;
                return Ok(Download {
                    content_type: "application/pdf",
                    filename: meta.name,
                    bytes,
                });
            }
            _ => {}
        }
        let room = room_param(params)?;
        let (record, notes, files, approval, json) = match params.get("version") {
            None => {
                let record = readable(ctx, room)?;
                let notes = room_notes(ctx, room)?;
                let files = attachments::list(ctx.store(), room)?;
                let json = serde_json::to_string_pretty(&record).unwrap_or_default();
                (record, notes, files, None, json)
            }
            Some(v) => {
                let wanted: u32 = v
                    .parse()
                    .map_err(|_| PluginError::new("invalid", "version is a number"))?;
                on_roster_or_admin(ctx, room)?;
                let found = versions(ctx, room)?
                    .into_iter()
                    .find(|s| s.minutes.version == wanted)
                    .ok_or_else(|| {
                        PluginError::new("not_found", format!("no approved version {wanted}"))
                    })?;
                let approval = doc::Approval {
                    version: found.minutes.version,
                    approved_at_ms: found.minutes.approved_at_ms,
                    approved_by: found.minutes.approved_by.clone(),
                    sha256: found.sha256.clone(),
                };
                (
                    found.minutes.record,
                    found.minutes.notes,
                    found.minutes.attachments,
                    Some(approval),
                    found.json,
                )
            }
        };
        let doc = doc::minutes(
            &record,
            &notes,
            &files,
            approval.as_ref(),
            lang,
            &self.clock,
        );
        let version = approval
            .as_ref()
            .map_or_else(String::new, |a| format!("-v{}", a.version));
        let stem = format!(
            "{}-{}{version}",
            lang.t("minutes").to_lowercase(),
            record.room
        );
        Ok(match action {
            "minutes.pdf" => Download {
                content_type: "application/pdf",
                filename: format!("{stem}.pdf"),
                bytes: pdf::render(&doc).map_err(|e| PluginError::new("pdf", e.to_string()))?,
            },
            "minutes.html" => Download {
                content_type: "text/html; charset=utf-8",
                filename: format!("{stem}.html"),
                bytes: html::render(&doc).into_bytes(),
            },
            // A draft: the record; an approved version: exactly the JSON its hash covers.
            _ => Download {
                content_type: "application/json",
                filename: format!("record-{}{version}.json", record.room),
                bytes: json.into_bytes(),
            },
        })
    }
}

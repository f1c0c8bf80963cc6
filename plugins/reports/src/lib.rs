//! Reports: the minutes of a session, from the room's session record
//! (`plenum_signalling::record`), as JSON, HTML and PDF (docs/reports.md). An
//! organisation-wide plugin (namespace `reports`): admins over the event's organising unit
//! read a room's record and download its minutes.
//!
//! Not yet here (issue 14 continues): the minute-taker's notes and the chair's approval with
//! the SHA-256 printed in the PDF, published minutes for members, board resolutions by
//! circulation, the resolutions register and attachments.

pub mod doc;
pub mod html;
pub mod pdf;
pub mod text;

use std::collections::HashMap;

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
    /// The minutes as HTML.
    Minutes {
        /// The room.
        room: String,
        /// `de` (default) or `en`.
        #[serde(default)]
        lang: Lang,
    },
}

/// The reports plugin.
#[derive(Debug, Clone)]
pub struct Reports {
    clock: text::Clock,
}

impl Reports {
    /// Reports with these settings.
    pub fn new(config: &ReportsConfig) -> Self {
        Self {
            clock: text::Clock::new(&config.time_zone),
        }
    }
}

fn storage(e: plenum_signalling::storage::StorageError) -> PluginError {
    PluginError::new("storage", e.to_string())
}

/// The record of `room`, if the caller administers the event's unit (rooms that are no
/// event: admins of the root).
fn readable(ctx: &OrgContext<'_>, room: &str) -> Result<SessionRecord, PluginError> {
    let unknown = || PluginError::new("unknown_event", format!("no event {room:?}"));
    let unit = match ctx.store().event(room).map_err(storage)? {
        Some(e) => e.unit,
        None => root(ctx).ok_or_else(unknown)?,
    };
    if !ctx.administers(&unit) {
        return Err(unknown());
    }
    session_record(ctx.store(), room)
        .map_err(storage)?
        .ok_or_else(unknown)
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
            ReportsCommand::Record { .. } | ReportsCommand::Minutes { .. } => OrgNeed::Admin,
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
                let doc = doc::minutes(&record, lang, &self.clock);
                Ok(json!({ "html": html::render(&doc) }))
            }
        }
    }

    fn download_need(&self, action: &str) -> Option<OrgNeed> {
        matches!(action, "minutes.pdf" | "minutes.html" | "record.json").then_some(OrgNeed::Admin)
    }

    /// `GET /api/org/reports/download/minutes.pdf?room=…&lang=de` (also `minutes.html`,
    /// `record.json`).
    fn download(
        &self,
        ctx: &OrgContext<'_>,
        action: &str,
        params: &HashMap<String, String>,
    ) -> Result<Download, PluginError> {
        let room = params
            .get("room")
            .ok_or_else(|| PluginError::new("invalid", "which room? (?room=…)"))?;
        let record = readable(ctx, room)?;
        let lang = lang_of(params);
        let doc = doc::minutes(&record, lang, &self.clock);
        let stem = format!("{}-{}", lang.t("minutes").to_lowercase(), record.room);
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
            _ => Download {
                content_type: "application/json",
                filename: format!("record-{}.json", record.room),
                bytes: serde_json::to_vec_pretty(&record).unwrap_or_default(),
            },
        })
    }
}

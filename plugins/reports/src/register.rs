//! The resolutions register (Beschlussbuch): every adopted motion, from a congress's approved
//! minutes or a board's circulation, numbered per body and year (`BuVo-2027-014`). Entries
//! live in the plugin's organisation-wide data under `reg/{body}/{year}/{seq}`; each names
//! its source, so entering the same resolution twice finds the first entry instead
//! (docs/reports.md, *Resolutions register*).

use plenum_signalling::org_plugin::{OrgContext, PluginError};
use plenum_signalling::serde::{Deserialize, Serialize};
use plenum_signalling::serde_json;
use plenum_signalling::storage::Store;

use crate::doc::{Block, Doc};
use crate::notes::NAMESPACE;
use crate::storage;
use crate::text::{Clock, Lang};

/// Where register entries are stored.
pub const PREFIX: &str = "reg/";
/// Longest body name (characters).
pub const MAX_BODY: usize = 16;

/// Where a resolution was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    crate = "plenum_signalling::serde",
    tag = "kind",
    rename_all = "snake_case"
)]
pub enum Source {
    /// A vote in a session: its room, its poll, the approved minutes that entered it.
    Session {
        /// The room.
        room: String,
        /// The poll.
        poll: String,
        /// The approved version of the minutes it was entered from.
        minutes_version: u32,
    },
    /// A circulation.
    Circulation {
        /// Its id.
        id: String,
    },
}

impl Source {
    /// The same resolution (a later version of the minutes names the same poll).
    fn same(&self, other: &Source) -> bool {
        match (self, other) {
            (
                Source::Session { room, poll, .. },
                Source::Session {
                    room: r2, poll: p2, ..
                },
            ) => room == r2 && poll == p2,
            (Source::Circulation { id }, Source::Circulation { id: i2 }) => id == i2,
            _ => false,
        }
    }
}

/// A resolution, as entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Resolution {
    /// The body (`BuVo`, `PT-BV`).
    pub body: String,
    /// When it was taken (unix milliseconds).
    pub date_ms: u64,
    /// What was resolved (the motion's title).
    pub title: String,
    /// The motion's text, if it has one beyond the title.
    pub text: String,
    /// Yes votes (weight).
    pub yes: u64,
    /// No votes.
    pub no: u64,
    /// Abstentions.
    pub abstain: u64,
    /// The organising unit: its members and admins read the entry.
    pub unit: String,
    /// Where it was taken.
    pub source: Source,
}

/// One entry: a resolution with its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Entry {
    /// `BuVo-2027-014`.
    pub number: String,
    /// The year of the resolution.
    pub year: i32,
    /// Its place in the body's year, from 1.
    pub seq: u32,
    /// The resolution (its fields sit beside the number in the JSON).
    #[serde(flatten)]
    pub resolution: Resolution,
}

/// A body name is 1–16 letters, digits or `-` (it becomes part of the number).
pub fn valid_body(body: &str) -> Result<(), PluginError> {
    let ok = !body.is_empty()
        && body.chars().count() <= MAX_BODY
        && body.chars().all(|c| c.is_alphanumeric() || c == '-')
        && !body.starts_with('-')
        && !body.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(PluginError::new(
            "invalid_body",
            format!("a body is 1–{MAX_BODY} letters, digits or inner '-', like BuVo"),
        ))
    }
}

/// Every entry, by body, year and number.
pub fn entries(store: &dyn Store) -> Result<Vec<Entry>, PluginError> {
    store
        .org_data(NAMESPACE, PREFIX)
        .map_err(storage)?
        .into_iter()
        .map(|(key, value)| {
            serde_json::from_str(&value)
                .map_err(|_| PluginError::new("corrupt", format!("register entry {key}")))
        })
        .collect()
}

/// Enter `new` unless its source is entered already; the entry either way. The caller holds
/// the plugin's write lock, so two entries cannot take one number; the number's key is
/// inserted only if absent all the same.
pub fn enter(store: &dyn Store, clock: &Clock, new: Resolution) -> Result<Entry, PluginError> {
    valid_body(&new.body)?;
    let all = entries(store)?;
    if let Some(found) = all.iter().find(|e| e.resolution.source.same(&new.source)) {
        return Ok(found.clone());
    }
    let year = clock.year(new.date_ms);
    let mut seq = all
        .iter()
        .filter(|e| e.resolution.body == new.body && e.year == year)
        .map(|e| e.seq)
        .max()
        .unwrap_or(0);
    loop {
        seq += 1;
        let entry = Entry {
            number: format!("{}-{year}-{seq:03}", new.body),
            year,
            seq,
            resolution: new.clone(),
        };
        let key = format!("{PREFIX}{}/{year}/{seq:06}", new.body);
        let json = serde_json::to_string(&entry)
            .map_err(|e| PluginError::new("invalid", e.to_string()))?;
        if store
            .insert_org_data(NAMESPACE, &key, &json)
            .map_err(storage)?
        {
            return Ok(entry);
        }
    }
}

/// What a search asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(crate = "plenum_signalling::serde", deny_unknown_fields)]
pub struct Query {
    /// Words that must all occur (case-insensitive) in number, title or text.
    #[serde(default)]
    pub q: Option<String>,
    /// Only this body.
    #[serde(default)]
    pub body: Option<String>,
    /// Only this year.
    #[serde(default)]
    pub year: Option<i32>,
}

impl Query {
    /// From URL parameters (`?q=…&body=…&year=…`).
    pub fn from_params(
        params: &std::collections::HashMap<String, String>,
    ) -> Result<Self, PluginError> {
        let year = crate::number_param(params, "year")?;
        Ok(Self {
            q: params.get("q").cloned(),
            body: params.get("body").cloned().filter(|b| !b.is_empty()),
            year,
        })
    }

    fn matches(&self, e: &Entry) -> bool {
        let r = &e.resolution;
        if self.body.as_ref().is_some_and(|b| *b != r.body)
            || self.year.is_some_and(|y| y != e.year)
        {
            return false;
        }
        let hay = format!("{} {} {}", e.number, r.title, r.text).to_lowercase();
        self.q
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .all(|w| hay.contains(&w.to_lowercase()))
    }
}

/// The entries the caller may read that match `query`: those of units the caller belongs to
/// (a Landesverband's members read its resolutions, everyone the federal ones) or administers.
pub fn search(ctx: &OrgContext<'_>, query: &Query) -> Result<Vec<Entry>, PluginError> {
    let own = &ctx.caller().member.unit;
    Ok(entries(ctx.store())?
        .into_iter()
        .filter(|e| {
            let unit = &e.resolution.unit;
            ctx.units().covers(unit, own) || ctx.administers(unit)
        })
        .filter(|e| query.matches(e))
        .collect())
}

/// The entries as CSV (semicolon-separated, as German spreadsheets expect; cells a
/// spreadsheet would run as formulas are defused).
pub fn csv(entries: &[Entry], clock: &Clock, lang: Lang) -> String {
    use plenum_signalling::events::defused;
    let cell = |s: &str| format!("\"{}\"", defused(s).replace('"', "\"\""));
    let mut out = [
        "reg.number",
        "reg.date",
        "reg.body",
        "reg.title",
        "reg.text",
        "reg.result",
        "reg.source",
    ]
    .map(|k| cell(lang.t(k)))
    .join(";");
    out.push_str("\r\n");
    for e in entries {
        let r = &e.resolution;
        let row = [
            e.number.clone(),
            clock.date(r.date_ms),
            r.body.clone(),
            r.title.clone(),
            r.text.clone(),
            result_text(r, lang),
            source_text(&r.source, lang),
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(";"));
        out.push_str("\r\n");
    }
    out
}

/// "angenommen (Ja 5, Nein 1, Enthaltung 0)".
pub fn result_text(e: &Resolution, lang: Lang) -> String {
    format!(
        "{} ({} {}, {} {}, {} {})",
        lang.t("poll.accepted"),
        lang.t("col.yes"),
        e.yes,
        lang.t("col.no"),
        e.no,
        lang.t("col.abstain"),
        e.abstain
    )
}

/// "Protokoll demo, Fassung 1" / "Umlaufverfahren U-0003".
pub fn source_text(source: &Source, lang: Lang) -> String {
    match source {
        Source::Session {
            room,
            minutes_version,
            ..
        } => format!(
            "{} {room}, {} {minutes_version}",
            lang.t("minutes"),
            lang.t("version")
        ),
        Source::Circulation { id } => format!("{} {id}", lang.t("circulation")),
    }
}

/// The register as a document (for the PDF).
pub fn document(entries: &[Entry], clock: &Clock, lang: Lang, stand_ms: u64) -> Doc {
    let mut blocks = vec![Block::Facts(vec![
        (lang.t("status").to_owned(), clock.date_time(stand_ms)),
        (lang.t("reg.count").to_owned(), entries.len().to_string()),
    ])];
    if entries.is_empty() {
        blocks.push(Block::Paragraph(lang.t("none").to_owned()));
    } else {
        blocks.push(Block::Table {
            columns: vec![
                (lang.t("reg.number").to_owned(), 0.2),
                (lang.t("reg.date").to_owned(), 0.13),
                (lang.t("reg.title").to_owned(), 0.37),
                (lang.t("reg.result").to_owned(), 0.3),
            ],
            rows: entries
                .iter()
                .map(|e| {
                    let r = &e.resolution;
                    let what = if r.text.is_empty() {
                        r.title.clone()
                    } else {
                        format!("{}: {}", r.title, r.text)
                    };
                    vec![
                        e.number.clone(),
                        clock.date(r.date_ms),
                        what,
                        format!("{}; {}", result_text(r, lang), source_text(&r.source, lang)),
                    ]
                })
                .collect(),
        });
    }
    Doc {
        title: lang.t("register").to_owned(),
        lang,
        blocks,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use plenum_signalling::storage::SqliteStore;

    fn new(body: &str, ms: u64, source: Source) -> Resolution {
        Resolution {
            body: body.into(),
            date_ms: ms,
            title: "Haushalt 2028".into(),
            text: String::new(),
            yes: 5,
            no: 1,
            abstain: 0,
            unit: "bv".into(),
            source,
        }
    }

    #[test]
    fn numbers_count_per_body_and_year_and_a_source_is_entered_once() {
        let store = SqliteStore::in_memory().unwrap();
        let clock = Clock::new("Europe/Berlin");
        let c = |id: &str| Source::Circulation { id: id.into() };
        // 2027-05-08 and New Year's Eve 2027 23:30 UTC (2028 in Berlin).
        let may = 1_809_763_200_000;
        let eve = 1_830_295_800_000;
        assert_eq!(
            enter(&store, &clock, new("BuVo", may, c("U-1")))
                .unwrap()
                .number,
            "BuVo-2027-001"
        );
        assert_eq!(
            enter(&store, &clock, new("BuVo", may, c("U-2")))
                .unwrap()
                .number,
            "BuVo-2027-002"
        );
        assert_eq!(
            enter(&store, &clock, new("LaVo", may, c("U-3")))
                .unwrap()
                .number,
            "LaVo-2027-001"
        );
        assert_eq!(
            enter(&store, &clock, new("BuVo", eve, c("U-4")))
                .unwrap()
                .number,
            "BuVo-2028-001"
        );
        // Entered again (a restart settling the same circulation): the same entry.
        assert_eq!(
            enter(&store, &clock, new("BuVo", eve, c("U-2")))
                .unwrap()
                .number,
            "BuVo-2027-002"
        );
        let session = |v| Source::Session {
            room: "bpt".into(),
            poll: "p-1".into(),
            minutes_version: v,
        };
        let first = enter(&store, &clock, new("PT-BV", may, session(1))).unwrap();
        let again = enter(&store, &clock, new("PT-BV", may, session(2))).unwrap();
        assert_eq!(first, again, "a corrected version keeps the number");
        assert_eq!(entries(&store).unwrap().len(), 5);
        assert_eq!(
            enter(&store, &clock, new("Bu Vo", may, c("U-9")))
                .unwrap_err()
                .reason,
            "invalid_body"
        );
        assert_eq!(
            entries(&store).unwrap().len(),
            5,
            "a refusal enters nothing"
        );
    }

    #[test]
    fn a_search_needs_every_word_and_the_csv_defuses_formulas() {
        let store = SqliteStore::in_memory().unwrap();
        let clock = Clock::new("Europe/Berlin");
        let mut e = new(
            "BuVo",
            1_809_763_200_000,
            Source::Circulation { id: "U-1".into() },
        );
        e.title = "=HYPERLINK(\"x\") Satzung".into();
        let entry = enter(&store, &clock, e).unwrap();
        let q = |q: &str| Query {
            q: Some(q.into()),
            ..Query::default()
        };
        assert!(q("satzung buvo-2027").matches(&entry));
        assert!(!q("satzung haushalt").matches(&entry));
        let year = Query {
            year: Some(2026),
            ..Query::default()
        };
        assert!(!year.matches(&entry));
        let csv = csv(&[entry], &clock, Lang::De);
        assert!(csv.starts_with("\"Nummer\";\"Datum\""), "{csv}");
        assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\") Satzung\""), "{csv}");
        assert!(csv.contains("\"BuVo-2027-001\";\"08.05.2027\""), "{csv}");
    }
}

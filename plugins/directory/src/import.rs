//! Importing the member list as German party offices export it: UTF-8 (with or without a
//! byte-order mark) or Windows-1252, `;` or `,` between fields, a header row, quoted fields
//! (also with line breaks inside). Pure: [`parse`] reads a file into members, [`plan`] says
//! what an import would change (new, changed, left, unchanged) against the stored members;
//! the caller applies a plan only when it has no errors, in one transaction
//! (`OrgStore::apply_members`), so an import with errors changes nothing. Re-importing the
//! same file is idempotent: the member number is the key.

use std::collections::{BTreeSet, HashMap};

use plenum_signalling::org::{Member, MemberStatus, UnitTree};
use plenum_signalling::serde::Serialize;

/// Largest accepted file.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Most rows in one file.
pub const MAX_ROWS: usize = 50_000;

/// A refused row (or, with line 1, the file or its header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct RowError {
    /// The line in the file where the row starts (1: the header).
    pub line: u64,
    /// What is wrong, in English.
    pub reason: String,
}

/// How the file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(crate = "plenum_signalling::serde", rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8.
    Utf8,
    /// Windows-1252 (what spreadsheet programs on German Windows save as "CSV").
    Windows1252,
}

/// A member read from the file, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Line of the file.
    pub line: u64,
    /// The member as the file describes them.
    pub member: Member,
    /// Whether the file has a groups column (otherwise the stored groups stay).
    pub has_groups: bool,
}

/// What a file holds: its rows and every error found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Encoding detected.
    pub encoding: Encoding,
    /// Field separator detected.
    pub delimiter: char,
    /// Good rows.
    pub rows: Vec<Row>,
    /// Bad rows, by line.
    pub errors: Vec<RowError>,
    /// Every member number the file names, also in bad rows (so a dry run does not
    /// call them left).
    pub listed: BTreeSet<String>,
}

/// A column of the member list and the header names it goes by (lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Number,
    FirstName,
    LastName,
    Unit,
    Email,
    Phone,
    Groups,
}

const HEADERS: [(Column, &[&str]); 7] = [
    (
        Column::Number,
        &[
            "mitgliedsnummer",
            "mitglieds-nr",
            "mitglieds-nr.",
            "mitgliedsnr",
            "mitgliedsnr.",
            "member number",
            "member_number",
            "number",
        ],
    ),
    (Column::FirstName, &["vorname", "first name", "first_name"]),
    (
        Column::LastName,
        &["nachname", "familienname", "name", "last name", "last_name"],
    ),
    (
        Column::Unit,
        &["gliederung", "verband", "unit", "gebietsverband"],
    ),
    (
        Column::Email,
        &["e-mail", "email", "e-mail-adresse", "mail"],
    ),
    (
        Column::Phone,
        &["telefon", "telefonnummer", "mobil", "phone"],
    ),
    (Column::Groups, &["gruppen", "gruppe", "groups"]),
];

const REQUIRED: [Column; 4] = [
    Column::Number,
    Column::FirstName,
    Column::LastName,
    Column::Unit,
];

/// Decode the file: UTF-8 if it is valid UTF-8 (a byte-order mark is dropped), otherwise
/// Windows-1252.
pub fn decode(bytes: &[u8]) -> (String, Encoding) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), Encoding::Utf8),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            (text.into_owned(), Encoding::Windows1252)
        }
    }
}

/// `;` or `,`: whichever occurs more often outside quotes in the header line.
fn delimiter(text: &str) -> u8 {
    let (mut semicolons, mut commas, mut quoted) = (0, 0, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            ';' if !quoted => semicolons += 1,
            ',' if !quoted => commas += 1,
            _ => {}
        }
    }
    if commas > semicolons { b',' } else { b';' }
}

fn column_of(header: &str) -> Option<Column> {
    let h = header.trim().to_lowercase();
    HEADERS
        .iter()
        .find(|(_, names)| names.contains(&h.as_str()))
        .map(|(c, _)| *c)
}

/// Read a member list. Units are named by id or by their exact name; groups are separated
/// by `|` (or `,` in a `;`-separated file).
pub fn parse(bytes: &[u8], units: &UnitTree) -> Parsed {
    let (text, encoding) = decode(bytes);
    // One kind of line end: with CRLF endings the reader's line numbers were one short
    // (tests/import.rs).
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let delim = delimiter(&text);
    let mut parsed = Parsed {
        encoding,
        delimiter: char::from(delim),
        rows: Vec::new(),
        errors: Vec::new(),
        listed: BTreeSet::new(),
    };
    let fail = |line: u64, reason: String| RowError { line, reason };
    if bytes.len() > MAX_BYTES {
        parsed.errors.push(fail(
            1,
            format!("the file is larger than {} MiB", MAX_BYTES >> 20),
        ));
        return parsed;
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            parsed
                .errors
                .push(fail(1, format!("unreadable header: {e}")));
            return parsed;
        }
        None => {
            parsed.errors.push(fail(1, "the file is empty".into()));
            return parsed;
        }
    };
    let mut index: HashMap<Column, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if let Some(c) = column_of(h)
            && index.insert(c, i).is_some()
        {
            parsed
                .errors
                .push(fail(1, format!("the column {:?} appears twice", h.trim())));
        }
    }
    for c in REQUIRED {
        if !index.contains_key(&c) {
            let names = HEADERS
                .iter()
                .find(|(col, _)| *col == c)
                .map(|(_, n)| n[0])
                .unwrap_or_default();
            parsed
                .errors
                .push(fail(1, format!("the header lacks the column {names:?}")));
        }
    }
    if !parsed.errors.is_empty() {
        return parsed;
    }
    let group_separators: &[char] = if delim == b';' { &['|', ','] } else { &['|'] };
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                parsed
                    .errors
                    .push(fail(line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // spreadsheet programs append empty rows
        }
        if parsed.rows.len() + parsed.errors.len() >= MAX_ROWS {
            parsed
                .errors
                .push(fail(line, format!("more than {MAX_ROWS} rows")));
            break;
        }
        if record.len() != header.len() {
            parsed.errors.push(fail(
                line,
                format!("{} fields, the header has {}", record.len(), header.len()),
            ));
            continue;
        }
        // Line breaks and runs of spaces inside a quoted field become one space.
        let get = |c: Column| {
            index
                .get(&c)
                .and_then(|&i| record.get(i))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|v| !v.is_empty())
        };
        if let Some(n) = get(Column::Number) {
            parsed.listed.insert(n);
        }
        let unit_field = get(Column::Unit).unwrap_or_default();
        let Some(unit) = units.resolve(&unit_field) else {
            parsed.errors.push(fail(
                line,
                format!("unknown unit {unit_field:?} (give its id or its exact name)"),
            ));
            continue;
        };
        let member = Member {
            number: get(Column::Number).unwrap_or_default(),
            first_name: get(Column::FirstName).unwrap_or_default(),
            last_name: get(Column::LastName).unwrap_or_default(),
            unit: unit.to_owned(),
            email: get(Column::Email).map(|e| e.to_lowercase()),
            phone: get(Column::Phone),
            groups: get(Column::Groups)
                .map(|g| {
                    g.split(group_separators)
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            visibility: None,
            status: MemberStatus::Active,
        };
        if let Err(e) = member.validate() {
            parsed.errors.push(fail(line, e.to_string()));
            continue;
        }
        if let Some(first) = seen.insert(member.number.clone(), line) {
            parsed.errors.push(fail(
                line,
                format!(
                    "member number {} appears already in line {first}",
                    member.number
                ),
            ));
            continue;
        }
        parsed.rows.push(Row {
            line,
            member,
            has_groups: index.contains_key(&Column::Groups),
        });
    }
    parsed
}

/// One member whose stored record the import would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Line of the file.
    pub line: u64,
    /// As stored now.
    pub before: Member,
    /// As it would be stored.
    pub after: Member,
    /// Which fields differ (`first_name`, `unit`, `groups`, `status`, …).
    pub fields: Vec<&'static str>,
}

/// What an import would do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Members the file adds.
    pub new: Vec<Member>,
    /// Members the file changes.
    pub changed: Vec<Change>,
    /// Active members within the importer's scope that the file no longer lists: they would
    /// be marked as left (not deleted; erasure is a separate, deliberate act).
    pub left: Vec<Member>,
    /// Rows that match the stored record.
    pub unchanged: usize,
    /// Every error of the file; a plan with errors is not applied.
    pub errors: Vec<RowError>,
}

impl Plan {
    /// The members to store (new and changed) and the numbers to mark as left.
    pub fn to_apply(&self) -> (Vec<Member>, Vec<String>) {
        let upserts = self
            .new
            .iter()
            .cloned()
            .chain(self.changed.iter().map(|c| c.after.clone()))
            .collect();
        let left = self.left.iter().map(|m| m.number.clone()).collect();
        (upserts, left)
    }
}

fn differences(before: &Member, after: &Member) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut differs = |name: &'static str, d: bool| {
        if d {
            fields.push(name);
        }
    };
    differs("first_name", before.first_name != after.first_name);
    differs("last_name", before.last_name != after.last_name);
    differs("unit", before.unit != after.unit);
    differs("email", before.email != after.email);
    differs("phone", before.phone != after.phone);
    differs("groups", before.groups != after.groups);
    differs("status", before.status != after.status);
    fields
}

/// Compare a parsed file with the stored members. Only members whose unit lies within
/// `scope` (a unit and what is below it) may be added, changed or marked as left: rows for
/// other units are errors, stored members outside the scope are left alone.
pub fn plan(parsed: &Parsed, stored: &[Member], units: &UnitTree, scope: &str) -> Plan {
    let mut plan = Plan {
        errors: parsed.errors.clone(),
        ..Plan::default()
    };
    let by_number: HashMap<&str, &Member> = stored.iter().map(|m| (m.number.as_str(), m)).collect();
    for row in &parsed.rows {
        let mut after = row.member.clone();
        let before = by_number.get(after.number.as_str());
        let outside = |unit: &str| !units.covers(scope, unit);
        if outside(&after.unit) || before.is_some_and(|b| outside(&b.unit)) {
            plan.errors.push(RowError {
                line: row.line,
                reason: format!(
                    "member {} belongs to a unit outside your scope",
                    after.number
                ),
            });
            continue;
        }
        match before {
            None => plan.new.push(after),
            Some(before) => {
                // What the file does not say stays as stored: the member's own directory
                // setting, and the groups when the file has no groups column.
                after.visibility = before.visibility;
                if !row.has_groups {
                    after.groups = before.groups.clone();
                }
                let fields = differences(before, &after);
                if fields.is_empty() {
                    plan.unchanged += 1;
                } else {
                    plan.changed.push(Change {
                        line: row.line,
                        before: (*before).clone(),
                        after,
                        fields,
                    });
                }
            }
        }
    }
    plan.left = stored
        .iter()
        .filter(|m| {
            m.status == MemberStatus::Active
                && units.covers(scope, &m.unit)
                && !parsed.listed.contains(&m.number)
        })
        .cloned()
        .collect();
    plan.errors.sort_by_key(|e| e.line);
    plan
}

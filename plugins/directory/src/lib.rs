//! The member directory on the organisation model of `plenum_signalling::org`: importing
//! the member list ([`import`]), search and profiles under each member's privacy setting
//! ([`search`]), as the organisation-wide plugin [`Directory`] (`/api/org/directory`,
//! docs/directory.md).
//!
//! [`import_members`] is the one entry point for an import: parse, compare with the stored
//! members, and apply in one transaction unless it is a dry run or the file has errors.

pub mod import;

use plenum_signalling::org::UnitTree;
use plenum_signalling::storage::{StorageError, Store};

pub use import::{Plan, RowError};

/// An import that could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The stored units are not a tree (see `UnitTree::new`).
    #[error("the organisation's units are inconsistent: {0}")]
    Units(String),
}

/// Import a member list into `store` for an admin of `scope`. With `dry_run`, or when the
/// file has any error, nothing changes; the returned plan says what would (or did) change.
pub fn import_members(
    store: &dyn Store,
    bytes: &[u8],
    scope: &str,
    dry_run: bool,
) -> Result<Plan, ImportError> {
    let units = UnitTree::new(&store.units()?).map_err(|e| ImportError::Units(e.to_string()))?;
    let parsed = import::parse(bytes, &units);
    let plan = import::plan(&parsed, &store.members()?, &units, scope);
    if !dry_run && plan.errors.is_empty() {
        let (upserts, left) = plan.to_apply();
        store.apply_members(&upserts, &left)?;
    }
    Ok(plan)
}

pub mod search;

use std::collections::BTreeSet;

use plenum_signalling::auth::Role;
use plenum_signalling::org::{Member, MemberStatus, PutUnitError, Unit, Visibility};
use plenum_signalling::org_plugin::{OrgContext, OrgNeed, OrgPlugin, PluginError};
use plenum_signalling::protocol::RoomMode;
use plenum_signalling::room::CongressState;
use plenum_signalling::roster;
use plenum_signalling::serde::{Deserialize, Serialize};
use plenum_signalling::serde_json::{self, Value, json};
use plenum_signalling::storage::{EventKind, EventRecord, RoomRecord};

/// Settings (config section `[directory]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde", deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Who finds a member who chose nothing: `members`, `unit` or `admins`.
    pub default_visibility: Visibility,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            default_visibility: Visibility::Unit,
        }
    }
}

/// The directory's organisation-wide commands (`POST /api/org/directory`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    crate = "plenum_signalling::serde",
    tag = "action",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum DirectoryCommand {
    /// Find members: words of the name (or a member number), a unit, a group.
    Search {
        /// Words or a number.
        #[serde(default)]
        query: String,
        /// A unit id (and below).
        #[serde(default)]
        unit: Option<String>,
        /// A group.
        #[serde(default)]
        group: Option<String>,
    },
    /// One member's profile.
    Profile {
        /// Member number.
        number: String,
    },
    /// The caller's own visibility (`null`: the party's default).
    SetVisibility {
        /// The setting.
        visibility: Option<Visibility>,
    },
    /// The organisation's units (id, name, parent), for choosing one.
    Units,
    /// Admins: create a unit below one they administer, or rename/move one they administer
    /// (to a place they administer).
    PutUnit {
        /// Unit id (`[A-Za-z0-9._-]`).
        id: String,
        /// Its name.
        name: String,
        /// The unit above it.
        parent: String,
    },
    /// Admins: who administers what within the caller's units.
    Admins,
    /// Admins: grant (or with `admin: false` withdraw) a member's admin scope over a unit the
    /// caller administers. Nobody withdraws their own scope (another admin does).
    SetAdmin {
        /// Member number.
        number: String,
        /// The unit (id or exact name).
        unit: String,
        /// Grant or withdraw.
        admin: bool,
    },
    /// "Write" or "call": the caller's conversation room with a member they can see
    /// (opened on first use, the same room afterwards; both are on its roster). The answer
    /// names the room; the caller enters it from the start page like any other.
    Contact {
        /// Member number.
        number: String,
    },
    /// Admins: fresh activation links for the active members of a unit (and below) who
    /// have no password yet (`all`: every active member, e.g. for a password reset), as a
    /// list and as CSV for printing or a mail merge when no mail server is configured.
    /// Each link supersedes the member's earlier ones.
    ActivationLinks {
        /// The unit; default: the caller's only admin scope.
        #[serde(default)]
        scope: Option<String>,
        /// Also members who have a password.
        #[serde(default)]
        all: bool,
        /// Also mail each link to the member's address (needs `[mail]`).
        #[serde(default)]
        send: bool,
    },
}

/// The member directory (organisation-wide half).
#[derive(Debug, Clone, Copy, Default)]
pub struct Directory {
    config: DirectoryConfig,
}

impl Directory {
    /// The directory with these settings.
    pub fn new(config: DirectoryConfig) -> Self {
        Self { config }
    }
}

fn storage(e: plenum_signalling::storage::StorageError) -> PluginError {
    PluginError::new("storage", e.to_string())
}

fn not_found(number: &str) -> PluginError {
    // The same answer for "no such member" and "hidden from you".
    PluginError::new("not_found", format!("no member {number} in your directory"))
}

impl OrgPlugin for Directory {
    type Command = DirectoryCommand;

    fn namespace(&self) -> &'static str {
        "directory"
    }

    fn need(&self, command: &DirectoryCommand) -> OrgNeed {
        match command {
            DirectoryCommand::ActivationLinks { .. }
            | DirectoryCommand::PutUnit { .. }
            | DirectoryCommand::Admins
            | DirectoryCommand::SetAdmin { .. } => OrgNeed::Admin,
            DirectoryCommand::Search { .. }
            | DirectoryCommand::Profile { .. }
            | DirectoryCommand::SetVisibility { .. }
            | DirectoryCommand::Contact { .. }
            | DirectoryCommand::Units => OrgNeed::Member,
        }
    }

    fn command(
        &self,
        ctx: &OrgContext<'_>,
        command: DirectoryCommand,
    ) -> Result<Value, PluginError> {
        let caller = ctx.caller();
        let units = ctx.units();
        let sight = |m| {
            search::sight(
                units,
                self.config.default_visibility,
                &caller.member,
                &caller.admin_of,
                m,
            )
        };
        match command {
            DirectoryCommand::Search { query, unit, group } => {
                let q = search::Query { query, unit, group };
                let members = ctx.store().members().map_err(storage)?;
                let found: Vec<search::Entry> = members
                    .iter()
                    .filter(|m| q.matches(units, m))
                    .filter_map(|m| search::entry(units, m, sight(m)))
                    .take(search::MAX_RESULTS + 1)
                    .collect();
                let more = found.len() > search::MAX_RESULTS;
                let found: Vec<_> = found.into_iter().take(search::MAX_RESULTS).collect();
                Ok(json!({ "members": found, "more": more }))
            }
            DirectoryCommand::Profile { number } => {
                let member = ctx
                    .store()
                    .member(&number)
                    .map_err(storage)?
                    .ok_or_else(|| not_found(&number))?;
                let entry = search::entry(units, &member, sight(&member))
                    .ok_or_else(|| not_found(&number))?;
                Ok(json!({ "member": entry }))
            }
            DirectoryCommand::Units => {
                let units = ctx.store().units().map_err(storage)?;
                Ok(json!({ "units": units }))
            }
            DirectoryCommand::PutUnit { id, name, parent } => {
                let parent = ctx.admin_scope(Some(&parent))?;
                let existing = units.contains(&id);
                if existing && !ctx.administers(&id) {
                    return Err(PluginError::new(
                        "outside_scope",
                        format!("you do not administer {id}"),
                    ));
                }
                let unit = Unit {
                    id,
                    name,
                    parent: Some(parent),
                };
                plenum_signalling::org::put_unit(ctx.store(), &unit).map_err(|e| match e {
                    PutUnitError::Invalid(e) => PluginError::new("invalid", e.to_string()),
                    PutUnitError::Storage(e) => storage(e),
                })?;
                Ok(json!({ "unit": unit, "created": !existing }))
            }
            DirectoryCommand::Admins => {
                let mut admins = Vec::new();
                for (number, unit) in ctx.store().admins().map_err(storage)? {
                    if !ctx.administers(&unit) {
                        continue;
                    }
                    let name = ctx
                        .store()
                        .member(&number)
                        .map_err(storage)?
                        .map(|m| m.display_name())
                        .unwrap_or_default();
                    let unit_name = units.name(&unit).unwrap_or(&unit).to_owned();
                    admins.push(json!({ "number": number, "name": name, "unit": unit, "unit_name": unit_name }));
                }
                Ok(json!({ "admins": admins }))
            }
            DirectoryCommand::SetAdmin {
                number,
                unit,
                admin,
            } => {
                let unit = ctx.admin_scope(Some(&unit))?;
                if !admin && number == caller.member.number {
                    return Err(PluginError::new(
                        "self",
                        "another admin withdraws your own scope",
                    ));
                }
                let member = ctx
                    .store()
                    .member(&number)
                    .map_err(storage)?
                    .filter(|m| m.status == MemberStatus::Active && ctx.administers(&m.unit))
                    .ok_or_else(|| not_found(&number))?;
                ctx.store()
                    .set_admin(&member.number, &unit, admin)
                    .map_err(storage)?;
                Ok(json!({ "number": member.number, "unit": unit, "admin": admin }))
            }
            DirectoryCommand::Contact { number } => {
                let member = ctx
                    .store()
                    .member(&number)
                    .map_err(storage)?
                    .filter(|m| m.status == MemberStatus::Active)
                    .ok_or_else(|| not_found(&number))?;
                if sight(&member) == search::Sight::Hidden {
                    return Err(not_found(&number));
                }
                contact(ctx, &member)
            }
            DirectoryCommand::ActivationLinks { scope, all, send } => {
                let scope = ctx.admin_scope(scope.as_deref())?;
                if send && ctx.mailer().is_none() {
                    return Err(PluginError::new(
                        "no_mail",
                        "no mail server is configured: download the links instead",
                    ));
                }
                activation_links(ctx, &scope, all, send)
            }
            DirectoryCommand::SetVisibility { visibility } => {
                let mut me = caller.member.clone();
                me.visibility = visibility;
                ctx.store().apply_members(&[me], &[]).map_err(storage)?;
                Ok(json!({ "visibility": visibility }))
            }
        }
    }

    fn upload_need(&self, action: &str) -> Option<OrgNeed> {
        (action == "import").then_some(OrgNeed::Admin)
    }

    /// `POST /api/org/directory/upload/import?scope=UNIT&dry_run=true`: the member list.
    fn upload(
        &self,
        ctx: &OrgContext<'_>,
        _action: &str,
        params: &std::collections::HashMap<String, String>,
        body: &[u8],
    ) -> Result<Value, PluginError> {
        let scope = ctx.admin_scope(params.get("scope").map(String::as_str))?;
        let dry_run = params
            .get("dry_run")
            .is_some_and(|v| v == "true" || v == "1");
        let plan = import_members(ctx.store(), body, &scope, dry_run).map_err(|e| match e {
            ImportError::Storage(e) => storage(e),
            ImportError::Units(m) => PluginError::new("units", m),
        })?;
        let applied = !dry_run && plan.errors.is_empty();
        Ok(json!({
            "applied": applied,
            "new": plan.new.iter().map(|m| json!({ "number": m.number, "name": m.display_name(), "unit": m.unit })).collect::<Vec<_>>(),
            "changed": plan.changed.iter().map(|c| json!({ "number": c.after.number, "name": c.after.display_name(), "fields": c.fields })).collect::<Vec<_>>(),
            "left": plan.left.iter().map(|m| json!({ "number": m.number, "name": m.display_name() })).collect::<Vec<_>>(),
            "unchanged": plan.unchanged,
            "errors": serde_json::to_value(&plan.errors).unwrap_or_default(),
        }))
    }
}

/// The conversation room of the caller and `other`: the direct event whose roster is the
/// two of them, or a new one.
fn contact(ctx: &OrgContext<'_>, other: &Member) -> Result<Value, PluginError> {
    let store = ctx.store();
    let me = &ctx.caller().member;
    if me.number == other.number {
        return Err(PluginError::new("invalid", "that is you"));
    }
    let pair: BTreeSet<&str> = [me.number.as_str(), other.number.as_str()].into();
    for entry in store.rosters_of(&me.number).map_err(storage)? {
        let Some(event) = store.event(&entry.room_id).map_err(storage)? else {
            continue;
        };
        if event.kind != EventKind::Direct {
            continue;
        }
        let roster = store.roster(&entry.room_id).map_err(storage)?;
        let numbers: BTreeSet<&str> = roster.iter().map(|e| e.number.as_str()).collect();
        if numbers == pair {
            return Ok(json!({ "room": entry.room_id, "created": false }));
        }
    }
    let id = plenum_signalling::events::random_room_id("d");
    let room = RoomRecord {
        id: id.clone(),
        name: format!("{} · {}", me.display_name(), other.display_name()),
        created_at: ctx.now(),
    };
    let state = CongressState {
        mode: RoomMode::Open,
        ..CongressState::default()
    };
    let event = EventRecord {
        room_id: id.clone(),
        kind: EventKind::Direct,
        starts_at: None,
        unit: me.unit.clone(),
        agenda: Vec::new(),
        quotas: Default::default(),
    };
    store
        .create_event(&room, &state.to_json(), &event)
        .map_err(storage)?;
    let seats = [me, other].map(|m| roster::seat(&id, m, Role::Delegate, ctx.now()));
    store.add_many_to_roster(&seats).map_err(storage)?;
    Ok(json!({ "room": id, "created": true }))
}

/// Fresh activation links for the members within `scope` (see
/// [`DirectoryCommand::ActivationLinks`]).
fn activation_links(
    ctx: &OrgContext<'_>,
    scope: &str,
    all: bool,
    send: bool,
) -> Result<Value, PluginError> {
    use plenum_signalling::{account, mail};
    let store = ctx.store();
    let mut links = Vec::new();
    let mut sent = 0u32;
    let mut failed = 0u32;
    let mut csv = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    let header = [
        "Mitgliedsnummer",
        "Vorname",
        "Nachname",
        "Gliederung",
        "E-Mail",
        "Aktivierungslink",
    ];
    csv.write_record(header)
        .map_err(|e| PluginError::new("csv", e.to_string()))?;
    for m in store.members().map_err(storage)? {
        if m.status != MemberStatus::Active || !ctx.units().covers(scope, &m.unit) {
            continue;
        }
        if !all && store.password_hash(&m.number).map_err(storage)?.is_some() {
            continue;
        }
        let Some(secret) =
            account::issue_activation(store, &m.number, ctx.now()).map_err(storage)?
        else {
            continue;
        };
        let link = account::activation_link(ctx.public_url(), &secret);
        let unit = ctx.units().name(&m.unit).unwrap_or(&m.unit).to_owned();
        csv.write_record([
            m.number.as_str(),
            &m.first_name,
            &m.last_name,
            &unit,
            m.email.as_deref().unwrap_or(""),
            &link,
        ])
        .map_err(|e| PluginError::new("csv", e.to_string()))?;
        let mailed = match (send.then(|| ctx.mailer()).flatten(), m.email.as_deref()) {
            (Some(mailer), Some(address)) => {
                let (subject, text) = mail::activation(&m.display_name(), &link);
                let ok = mailer.send(address, &subject, &text).is_ok();
                if ok {
                    sent += 1;
                } else {
                    failed += 1;
                }
                ok
            }
            _ => false,
        };
        links.push(json!({ "number": m.number, "name": m.display_name(), "unit": unit, "email": m.email, "link": link, "mailed": mailed }));
    }
    let csv = csv
        .into_inner()
        .map_err(|e| PluginError::new("csv", e.to_string()))?;
    Ok(
        json!({ "links": links, "csv": String::from_utf8_lossy(&csv), "sent": sent, "failed": failed }),
    )
}

//! Board resolutions by circulation (Umlaufbeschluss): an admin puts a motion to a group of
//! members (the Bundesvorstand, say) with a deadline; each member of the group votes yes, no
//! or abstain — or objects to the procedure — once, from their start page. The circulation
//! is settled when everyone has voted, when an objection ends it (if the rules say one
//! does), or at the deadline, whichever comes first; an adopted motion is entered in the
//! register ([`crate::register`]). docs/reports.md, *Circulations*.
//!
//! Stored in the plugin's organisation-wide data: the definition under `circ/{id}`, each
//! vote under `circ/{id}/v/{member}` (inserted only if absent: one vote per member, durable
//! before the answer), the outcome under `circ/{id}/outcome` (written once). Nothing is
//! held in memory, so a restart loses nothing; settling is done when a circulation is next
//! read or voted on, with the time of that request.

use std::collections::BTreeMap;

use plenum_signalling::ballot::{
    Counts, Majority, PollKind, PollSpec, Quorum, QuorumBase, evaluate,
};
use plenum_signalling::org::MemberStatus;
use plenum_signalling::org_plugin::{OrgContext, PluginError};
use plenum_signalling::serde::{self, Deserialize, Serialize};
use plenum_signalling::serde_json::{self, Value, json};
use plenum_signalling::storage::Store;

use crate::notes::NAMESPACE;
use crate::register::{self, Resolution, Source};
use crate::storage;
use crate::text::{Clock, Lang};

/// Where circulations are stored.
pub const PREFIX: &str = "circ/";
/// Longest title (characters).
pub const MAX_TITLE: usize = 200;
/// Longest motion text (characters).
pub const MAX_TEXT: usize = 20_000;
/// Longest time a circulation may run.
pub const MAX_RUN_MS: u64 = 90 * 24 * 3600 * 1000;

/// One member of the group a motion is put to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Voter {
    /// Member number.
    pub number: String,
    /// Their name when the circulation began.
    pub name: String,
}

/// A circulation as it was put.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Circulation {
    /// `U-0001`, …
    pub id: String,
    /// The motion's title.
    pub title: String,
    /// Its text.
    pub text: String,
    /// The unit whose group decides (its admins put and withdraw circulations).
    pub unit: String,
    /// The group (as in the member list).
    pub group: String,
    /// The body for the register number (`BuVo`).
    pub body: String,
    /// The group's active members in the unit when the circulation began: the electorate.
    pub voters: Vec<Voter>,
    /// Title, quorum and majority, judged like a named motion (`plenum_signalling::ballot`).
    pub spec: PollSpec,
    /// One objection to the procedure makes the circulation fail.
    pub objection: bool,
    /// When it began (unix milliseconds).
    pub created_at_ms: u64,
    /// Who put it.
    pub created_by: String,
    /// Their member number (empty once they are erased).
    #[serde(default)]
    pub created_by_number: String,
    /// Votes are taken until then (unix milliseconds).
    pub deadline_ms: u64,
}

/// One member's vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde", rename_all = "snake_case")]
pub enum Vote {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Abstain.
    Abstain,
    /// Objection to deciding by circulation.
    Object,
}

/// A stored vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Cast {
    /// The vote.
    pub vote: Vote,
    /// When (unix milliseconds).
    pub at_ms: u64,
}

/// How a circulation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde", rename_all = "snake_case")]
pub enum State {
    /// Quorum reached, majority met: entered in the register.
    Adopted,
    /// Quorum reached, majority not met.
    Rejected,
    /// Too few took part.
    NoQuorum,
    /// A member objected to the procedure.
    Objected,
    /// Withdrawn by an admin before it ended.
    Withdrawn,
}

/// Why it ended when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde", rename_all = "snake_case")]
pub enum Why {
    /// The deadline passed.
    Deadline,
    /// Every member of the group had voted.
    AllVoted,
    /// An objection.
    Objection,
    /// An admin withdrew it.
    Withdrawn,
}

/// The outcome, written once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Outcome {
    /// How it ended.
    pub state: State,
    /// Why then.
    pub why: Why,
    /// When (unix milliseconds).
    pub settled_at_ms: u64,
    /// Members who voted (an objection included).
    pub voted: u64,
    /// Yes.
    pub yes: u64,
    /// No.
    pub no: u64,
    /// Abstain.
    pub abstain: u64,
    /// Objections.
    pub objections: u64,
    /// Enough members took part.
    pub quorum_reached: bool,
}

/// The votes counted: yes, no, abstain, and objections.
fn count(votes: &BTreeMap<String, Cast>) -> (Counts, u64) {
    let n = |v: Vote| votes.values().filter(|c| c.vote == v).count() as u64;
    (
        Counts {
            yes: n(Vote::Yes),
            no: n(Vote::No),
            abstain: n(Vote::Abstain),
        },
        n(Vote::Object),
    )
}

/// The outcome due at `now_ms`, if the circulation is over: an objection (with the
/// objection rule), every member voted, or the deadline passed.
pub fn judge(c: &Circulation, votes: &BTreeMap<String, Cast>, now_ms: u64) -> Option<Outcome> {
    let (counts, objections) = count(votes);
    let why = if c.objection && objections > 0 {
        Why::Objection
    } else if votes.len() >= c.voters.len() {
        Why::AllVoted
    } else if now_ms >= c.deadline_ms {
        Why::Deadline
    } else {
        return None;
    };
    let n = c.voters.len() as u64;
    let voted = votes.len() as u64;
    let result = evaluate(&c.spec, n, n, voted, voted, std::slice::from_ref(&counts));
    let state = if why == Why::Objection {
        State::Objected
    } else if !result.quorum_reached {
        State::NoQuorum
    } else if result.accepted == Some(true) {
        State::Adopted
    } else {
        State::Rejected
    };
    Some(Outcome {
        state,
        why,
        settled_at_ms: now_ms,
        voted,
        yes: counts.yes,
        no: counts.no,
        abstain: counts.abstain,
        objections,
        quorum_reached: result.quorum_reached,
    })
}

/// A circulation with its votes and outcome as stored.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The definition.
    pub circulation: Circulation,
    /// Votes by member number.
    pub votes: BTreeMap<String, Cast>,
    /// The outcome, once settled.
    pub outcome: Option<Outcome>,
}

fn corrupt(key: &str) -> PluginError {
    PluginError::new(
        "corrupt",
        format!("stored circulation data {key} is unreadable"),
    )
}

fn parse<T: serde::de::DeserializeOwned>(key: &str, value: &str) -> Result<T, PluginError> {
    serde_json::from_str(value).map_err(|_| corrupt(key))
}

/// Every circulation, oldest first.
pub fn load_all(store: &dyn Store) -> Result<Vec<Loaded>, PluginError> {
    assemble(store.org_data(NAMESPACE, PREFIX).map_err(storage)?)
}

/// Circulations from their stored rows in key order: `circ/U-0001`, `circ/U-0001/outcome`,
/// `circ/U-0001/v/…`, then the next.
fn assemble(rows: Vec<(String, String)>) -> Result<Vec<Loaded>, PluginError> {
    let mut out: Vec<Loaded> = Vec::new();
    for (key, value) in rows {
        let rest = key.strip_prefix(PREFIX).ok_or_else(|| corrupt(&key))?;
        match rest.split_once('/') {
            None => out.push(Loaded {
                circulation: parse(&key, &value)?,
                votes: BTreeMap::new(),
                outcome: None,
            }),
            Some((id, tail)) => {
                let Some(last) = out.last_mut().filter(|l| l.circulation.id == id) else {
                    return Err(corrupt(&key));
                };
                if tail == "outcome" {
                    last.outcome = Some(parse(&key, &value)?);
                } else if let Some(number) = tail.strip_prefix("v/") {
                    last.votes.insert(number.to_owned(), parse(&key, &value)?);
                }
            }
        }
    }
    Ok(out)
}

/// One circulation.
pub fn load(store: &dyn Store, id: &str) -> Result<Option<Loaded>, PluginError> {
    let key = format!("{PREFIX}{id}");
    let Some(def) = store.org_datum(NAMESPACE, &key).map_err(storage)? else {
        return Ok(None);
    };
    let mut rows = vec![(key.clone(), def)];
    rows.extend(
        store
            .org_data(NAMESPACE, &format!("{key}/"))
            .map_err(storage)?,
    );
    Ok(assemble(rows)?.pop())
}

/// What an admin puts to a group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(crate = "plenum_signalling::serde", deny_unknown_fields)]
pub struct Proposal {
    /// The motion's title.
    pub title: String,
    /// Its text.
    #[serde(default)]
    pub text: String,
    /// The unit (id or name); the caller's only admin scope if omitted.
    #[serde(default)]
    pub unit: Option<String>,
    /// The group of the unit's members who decide.
    pub group: String,
    /// The body for the register; the group's name without spaces if omitted.
    #[serde(default)]
    pub body: Option<String>,
    /// Votes are taken until then (unix milliseconds).
    pub deadline_ms: u64,
    /// Share of the group that must take part, in percent (default 50).
    #[serde(default)]
    pub quorum_percent: Option<u32>,
    /// The majority (default: simple, abstentions not counted).
    #[serde(default)]
    pub majority: Majority,
    /// One objection ends the procedure (default true).
    #[serde(default)]
    pub objection: Option<bool>,
}

fn invalid(message: impl Into<String>) -> PluginError {
    PluginError::new("invalid", message)
}

/// Put `p` to its group: checked in full, then stored as one record. Refusals:
/// `outside_scope`, `invalid`, `invalid_body`, `bad_deadline`, `empty_group`.
pub fn create(ctx: &OrgContext<'_>, p: Proposal, now_ms: u64) -> Result<Circulation, PluginError> {
    let unit = ctx.admin_scope(p.unit.as_deref())?;
    let title = p.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(invalid(format!("a title is 1–{MAX_TITLE} characters")));
    }
    if p.text.chars().count() > MAX_TEXT {
        return Err(invalid(format!("a text is at most {MAX_TEXT} characters")));
    }
    let group = p.group.trim().to_owned();
    let body = p
        .body
        .map(|b| b.trim().to_owned())
        .unwrap_or_else(|| group.split_whitespace().collect());
    register::valid_body(&body)?;
    if p.deadline_ms <= now_ms || p.deadline_ms > now_ms + MAX_RUN_MS {
        return Err(PluginError::new(
            "bad_deadline",
            "the deadline lies in the future, at most 90 days ahead",
        ));
    }
    let percent = p.quorum_percent.unwrap_or(50);
    if percent > 100 {
        return Err(invalid("quorum_percent is 0–100"));
    }
    let mut voters: Vec<Voter> = ctx
        .store()
        .members()
        .map_err(storage)?
        .into_iter()
        .filter(|m| {
            m.status == MemberStatus::Active
                && m.groups.contains(&group)
                && ctx.units().covers(&unit, &m.unit)
        })
        .map(|m| Voter {
            name: m.display_name(),
            number: m.number,
        })
        .collect();
    voters.sort_by(|a, b| a.name.cmp(&b.name));
    if voters.is_empty() {
        return Err(PluginError::new(
            "empty_group",
            format!("no active member of {unit} is in the group {group:?}"),
        ));
    }
    let spec = PollSpec {
        title: title.clone(),
        kind: PollKind::Motion,
        secret: false,
        quorum: (percent > 0).then_some(Quorum {
            of: QuorumBase::Voters,
            percent,
        }),
        majority: p.majority,
        verifiable: None,
    };
    spec.validate().map_err(|e| invalid(e.to_string()))?;
    let mut n = load_all(ctx.store())?.len();
    loop {
        n += 1;
        let c = Circulation {
            id: format!("U-{n:04}"),
            title: title.clone(),
            text: p.text.trim().to_owned(),
            unit: unit.clone(),
            group: group.clone(),
            body: body.clone(),
            voters: voters.clone(),
            spec: spec.clone(),
            objection: p.objection.unwrap_or(true),
            created_at_ms: now_ms,
            created_by: ctx.caller().member.display_name(),
            created_by_number: ctx.caller().member.number.clone(),
            deadline_ms: p.deadline_ms,
        };
        let json = serde_json::to_string(&c).map_err(|e| invalid(e.to_string()))?;
        if ctx
            .store()
            .insert_org_data(NAMESPACE, &format!("{PREFIX}{}", c.id), &json)
            .map_err(storage)?
        {
            return Ok(c);
        }
    }
}

/// Settle `l` if it is due at `now_ms` (writing the outcome once), and enter an adopted
/// motion in the register (again after a crash between the two: entering is idempotent).
/// The caller holds the plugin's write lock.
pub fn settle(
    store: &dyn Store,
    clock: &Clock,
    l: &mut Loaded,
    now_ms: u64,
) -> Result<Option<String>, PluginError> {
    if l.outcome.is_none()
        && let Some(outcome) = judge(&l.circulation, &l.votes, now_ms)
    {
        write_outcome(store, &l.circulation.id, &outcome)?;
        l.outcome = Some(outcome);
    }
    let Some(outcome) = l.outcome.as_ref().filter(|o| o.state == State::Adopted) else {
        return Ok(None);
    };
    let c = &l.circulation;
    let entry = register::enter(
        store,
        clock,
        Resolution {
            body: c.body.clone(),
            date_ms: outcome.settled_at_ms,
            title: c.title.clone(),
            text: c.text.clone(),
            yes: outcome.yes,
            no: outcome.no,
            abstain: outcome.abstain,
            unit: c.unit.clone(),
            source: Source::Circulation { id: c.id.clone() },
        },
    )?;
    Ok(Some(entry.number))
}

fn write_outcome(store: &dyn Store, id: &str, outcome: &Outcome) -> Result<(), PluginError> {
    let json = serde_json::to_string(outcome).map_err(|e| invalid(e.to_string()))?;
    store
        .insert_org_data(NAMESPACE, &format!("{PREFIX}{id}/outcome"), &json)
        .map_err(storage)?;
    Ok(())
}

fn unknown(id: &str) -> PluginError {
    PluginError::new("unknown_circulation", format!("no circulation {id:?}"))
}

/// May the caller see `c`: a member of its group, or an admin over its unit.
pub fn visible(ctx: &OrgContext<'_>, c: &Circulation) -> bool {
    let me = &ctx.caller().member.number;
    c.voters.iter().any(|v| v.number == *me) || ctx.administers(&c.unit)
}

/// The caller votes `vote` on circulation `id` at `now_ms`; durable when it returns.
/// Refusals: `unknown_circulation` (also to those outside the group), `closed` (settled or
/// past the deadline — a late vote settles it), `already_voted`, `no_objection` (objecting
/// is not part of this circulation's rules). The caller holds the plugin's write lock.
/// The circulation after the vote, with its register number if the vote adopted it.
pub fn vote(
    ctx: &OrgContext<'_>,
    clock: &Clock,
    id: &str,
    vote: Vote,
    now_ms: u64,
) -> Result<(Loaded, Option<String>), PluginError> {
    let mut l = load(ctx.store(), id)?.ok_or_else(|| unknown(id))?;
    let me = ctx.caller().member.number.clone();
    if !l.circulation.voters.iter().any(|v| v.number == me) {
        return Err(unknown(id));
    }
    settle(ctx.store(), clock, &mut l, now_ms)?;
    if l.outcome.is_some() {
        return Err(PluginError::new(
            "closed",
            "this circulation is over: no more votes",
        ));
    }
    if vote == Vote::Object && !l.circulation.objection {
        return Err(PluginError::new(
            "no_objection",
            "this circulation's rules have no objection to the procedure",
        ));
    }
    let cast = Cast {
        vote,
        at_ms: now_ms,
    };
    let json = serde_json::to_string(&cast).map_err(|e| invalid(e.to_string()))?;
    let key = format!("{PREFIX}{id}/v/{me}");
    if !ctx
        .store()
        .insert_org_data(NAMESPACE, &key, &json)
        .map_err(storage)?
    {
        return Err(PluginError::new(
            "already_voted",
            "you have voted on this circulation",
        ));
    }
    l.votes.insert(me, cast);
    let number = settle(ctx.store(), clock, &mut l, now_ms)?;
    Ok((l, number))
}

/// An admin over its unit withdraws a running circulation. Refusals: `unknown_circulation`,
/// `closed`.
pub fn withdraw(
    ctx: &OrgContext<'_>,
    clock: &Clock,
    id: &str,
    now_ms: u64,
) -> Result<Loaded, PluginError> {
    let mut l = load(ctx.store(), id)?.ok_or_else(|| unknown(id))?;
    if !ctx.administers(&l.circulation.unit) {
        return Err(unknown(id));
    }
    settle(ctx.store(), clock, &mut l, now_ms)?;
    if l.outcome.is_some() {
        return Err(PluginError::new("closed", "this circulation is over"));
    }
    let (counts, objections) = count(&l.votes);
    let outcome = Outcome {
        state: State::Withdrawn,
        why: Why::Withdrawn,
        settled_at_ms: now_ms,
        voted: l.votes.len() as u64,
        yes: counts.yes,
        no: counts.no,
        abstain: counts.abstain,
        objections,
        quorum_reached: false,
    };
    write_outcome(ctx.store(), id, &outcome)?;
    l.outcome = Some(outcome);
    Ok(l)
}

/// A circulation as the caller sees it: who has voted (what, only once it is over), their
/// own vote, the outcome and register number.
pub fn view(ctx: &OrgContext<'_>, l: &Loaded, number: Option<&str>) -> Value {
    let c = &l.circulation;
    let over = l.outcome.is_some();
    let voters: Vec<Value> = c
        .voters
        .iter()
        .map(|v| {
            let cast = l.votes.get(&v.number);
            let mut row = json!({ "number": v.number, "name": v.name, "voted": cast.is_some() });
            if over {
                row["vote"] = json!(cast.map(|c| c.vote));
            }
            row
        })
        .collect();
    json!({
        "id": c.id,
        "title": c.title,
        "text": c.text,
        "unit": c.unit,
        "group": c.group,
        "body": c.body,
        "deadline_ms": c.deadline_ms,
        "created_at_ms": c.created_at_ms,
        "created_by": c.created_by,
        "objection": c.objection,
        "quorum_percent": c.spec.quorum.map_or(0, |q| q.percent),
        "majority": c.spec.majority,
        "rule": {
            "de": crate::doc::rule_text(&c.spec, Lang::De),
            "en": crate::doc::rule_text(&c.spec, Lang::En),
        },
        "voters": voters,
        "voted": l.votes.len(),
        "mine": l.votes.get(&ctx.caller().member.number).map(|c| c.vote),
        "eligible": c.voters.iter().any(|v| v.number == ctx.caller().member.number),
        "administers": ctx.administers(&c.unit),
        "outcome": l.outcome,
        "number": number,
    })
}

/// Member `number` is erased: in every circulation they voted in or put, their name becomes
/// `pseudonym` and their number a placeholder (`~` and the pseudonym), their vote is moved to
/// that key — the counts and the named record stay, nothing names them. The caller holds the
/// plugin's write lock.
pub fn erase_member(store: &dyn Store, number: &str, pseudonym: &str) -> Result<(), PluginError> {
    let placeholder = format!("~{pseudonym}");
    for l in load_all(store)? {
        let mut c = l.circulation;
        let mut changed = false;
        for v in c.voters.iter_mut().filter(|v| v.number == number) {
            v.number.clone_from(&placeholder);
            v.name = pseudonym.to_owned();
            changed = true;
        }
        if c.created_by_number == number {
            c.created_by = pseudonym.to_owned();
            c.created_by_number.clear();
            changed = true;
        }
        if let Some(cast) = l.votes.get(number) {
            let json = serde_json::to_string(cast).map_err(|e| invalid(e.to_string()))?;
            let base = format!("{PREFIX}{}/v/", c.id);
            store
                .put_org_data(NAMESPACE, &format!("{base}{placeholder}"), Some(&json))
                .map_err(storage)?;
            store
                .put_org_data(NAMESPACE, &format!("{base}{number}"), None)
                .map_err(storage)?;
        }
        if changed {
            let json = serde_json::to_string(&c).map_err(|e| invalid(e.to_string()))?;
            store
                .put_org_data(NAMESPACE, &format!("{PREFIX}{}", c.id), Some(&json))
                .map_err(storage)?;
        }
    }
    Ok(())
}

/// What the circulations hold about member `number` (GDPR Art. 15): each circulation of
/// theirs with their vote, and those they put.
pub fn export_member(store: &dyn Store, number: &str) -> Result<Value, PluginError> {
    let mut out = Vec::new();
    for l in load_all(store)? {
        let c = &l.circulation;
        let voter = c.voters.iter().any(|v| v.number == number);
        if voter || c.created_by_number == number {
            out.push(json!({
                "id": c.id,
                "title": c.title,
                "group": c.group,
                "put_by_you": c.created_by_number == number,
                "your_vote": l.votes.get(number),
            }));
        }
    }
    Ok(if out.is_empty() {
        Value::Null
    } else {
        json!(out)
    })
}

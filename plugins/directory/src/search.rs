//! Who may see whom, and what: the directory's privacy rules, pure.
//!
//! A member's visibility is their own setting, or the party's default
//! (`[directory] default_visibility`):
//! - `members`: every signed-in member finds them;
//! - `unit`: members of the same *Landesverband* find them (the unit just below the root
//!   that both belong to; a member of the root unit counts as their own Landesverband);
//! - `admins`: only admins whose scope covers the member's unit.
//!
//! The member themself and admins whose scope covers them always see them. E-mail address and
//! phone number are shown only to those two; everyone else who may see a member sees name,
//! unit and groups — "write" and "call" go through Plenum, not through the address.
//! Members who left are found by admins only.

use plenum_signalling::org::{Member, MemberStatus, UnitTree, Visibility};
use plenum_signalling::serde::{Deserialize, Serialize};

/// What the viewer is to the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// Not found at all.
    Hidden,
    /// Name, unit, groups.
    Listed,
    /// Everything (the member themself, or an admin over them).
    Full,
}

/// What `viewer` (with admin scopes `admin_of`) may see of `member`.
pub fn sight(
    units: &UnitTree,
    default: Visibility,
    viewer: &Member,
    admin_of: &[String],
    member: &Member,
) -> Sight {
    let admin = admin_of.iter().any(|s| units.covers(s, &member.unit));
    if viewer.number == member.number || admin {
        return Sight::Full;
    }
    if member.status != MemberStatus::Active || viewer.status != MemberStatus::Active {
        return Sight::Hidden;
    }
    let visible = match member.visibility.unwrap_or(default) {
        Visibility::Members => true,
        Visibility::Unit => {
            units.region(&member.unit).is_some()
                && units.region(&member.unit) == units.region(&viewer.unit)
        }
        Visibility::Admins => false,
    };
    if visible {
        Sight::Listed
    } else {
        Sight::Hidden
    }
}

/// A member as a search result or profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Entry {
    /// Member number.
    pub number: String,
    /// "First Last".
    pub name: String,
    /// Unit id.
    pub unit: String,
    /// Unit name.
    pub unit_name: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Only with full sight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Only with full sight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Only with full sight: the member's own setting (`null`: the party's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Option<Visibility>>,
    /// Only with full sight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<MemberStatus>,
}

/// The entry `sight` allows, or `None`.
pub fn entry(units: &UnitTree, member: &Member, sight: Sight) -> Option<Entry> {
    if sight == Sight::Hidden {
        return None;
    }
    let full = sight == Sight::Full;
    Some(Entry {
        number: member.number.clone(),
        name: member.display_name(),
        unit: member.unit.clone(),
        unit_name: units.name(&member.unit).unwrap_or_default().to_owned(),
        groups: member.groups.iter().cloned().collect(),
        email: full.then(|| member.email.clone()).flatten(),
        phone: full.then(|| member.phone.clone()).flatten(),
        visibility: full.then_some(member.visibility),
        status: full.then_some(member.status),
    })
}

/// Case-insensitive, accent-tolerant matching text (ä = ae, ß = ss …).
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('ß', "ss")
}

/// A search: every word of `query` in the name (or the member number), within `unit` (and
/// below), in `group`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(crate = "plenum_signalling::serde", deny_unknown_fields)]
pub struct Query {
    /// Words of the name, or a member number.
    #[serde(default)]
    pub query: String,
    /// A unit id: members of it and below.
    #[serde(default)]
    pub unit: Option<String>,
    /// A group name (exact).
    #[serde(default)]
    pub group: Option<String>,
}

/// Most results of one search.
pub const MAX_RESULTS: usize = 100;

impl Query {
    /// Does `member` match (privacy aside)?
    pub fn matches(&self, units: &UnitTree, member: &Member) -> bool {
        let name = fold(&member.display_name());
        let words_match = self
            .query
            .split_whitespace()
            .all(|w| name.contains(&fold(w)) || member.number == w);
        let unit_match = self
            .unit
            .as_deref()
            .is_none_or(|u| units.covers(u, &member.unit));
        let group_match = self
            .group
            .as_deref()
            .is_none_or(|g| member.groups.contains(g));
        words_match && unit_match && group_match
    }
}

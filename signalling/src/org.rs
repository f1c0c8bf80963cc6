//! The organisation beside the rooms: units as a tree (Bundesverband → Landesverbände →
//! Kreisverbände), members with their unit and free groups ("Bundesvorstand",
//! "Delegierte LV Bayern"), and admins whose scope is one unit and everything below it
//! (the root unit's admins administer the whole party).
//!
//! It lives in the core, not in the directory plugin, because sign-in, the rooms a member may
//! enter, congress set-up by unit quota, and the reports (groups that decide by circulation)
//! all need it; plugins read it through the plugin host. Everything here is pure: the store
//! keeps it ([`crate::storage::OrgStore`]).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// Longest member number or unit id.
pub const MAX_ID: usize = 32;
/// Longest name or e-mail address.
pub const MAX_TEXT: usize = 200;
/// Longest group name ("Delegierte LV Mecklenburg-Vorpommern").
pub const MAX_GROUP: usize = 64;

/// A unit of the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Short id, e.g. `bv`, `lv-by`, `kv-muenchen`.
    pub id: String,
    /// Display name, e.g. "Landesverband Bayern".
    pub name: String,
    /// The unit above; `None` only for the root.
    pub parent: Option<String>,
}

/// Who may find a member in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Every signed-in member.
    Members,
    /// Members of the same unit (and admins whose scope covers it).
    Unit,
    /// Only admins whose scope covers the member's unit.
    Admins,
}

impl Visibility {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Members => "members",
            Visibility::Unit => "unit",
            Visibility::Admins => "admins",
        }
    }

    /// Parse the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [Visibility::Members, Visibility::Unit, Visibility::Admins]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Whether someone is (still) a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// In the member list.
    Active,
    /// No longer in the member list (left, or missing from the last import); cannot sign in.
    Left,
}

impl MemberStatus {
    /// The storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Left => "left",
        }
    }

    /// Parse the storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [MemberStatus::Active, MemberStatus::Left]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A member of the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member number (Mitgliedsnummer): the key, stable across imports.
    pub number: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The unit the member belongs to.
    pub unit: String,
    /// E-mail address (for activation links), if known.
    pub email: Option<String>,
    /// Phone number, if given.
    pub phone: Option<String>,
    /// Free groups.
    pub groups: BTreeSet<String>,
    /// The member's own directory setting; `None`: the party's default.
    pub visibility: Option<Visibility>,
    /// Active or left.
    pub status: MemberStatus,
}

impl Member {
    /// "First Last".
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// Why a unit or member is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    /// A field is empty, too long or malformed.
    #[error("{field}: {reason}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A unit that does not exist.
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    /// The tree would not be a tree (second root, cycle).
    #[error("{0}")]
    NotATree(String),
}

fn field(field: &'static str, reason: impl Into<String>) -> OrgError {
    OrgError::Field {
        field,
        reason: reason.into(),
    }
}

/// Member numbers and unit ids: 1–32 characters, letters, digits, `-`, `_`, `.`.
pub fn validate_id(name: &'static str, id: &str) -> Result<(), OrgError> {
    if id.is_empty() || id.chars().count() > MAX_ID {
        return Err(field(name, format!("must have 1–{MAX_ID} characters")));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(field(
            name,
            "may hold only letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

/// A name or free text field: trimmed, 1–200 characters, no control characters.
pub fn validate_text(name: &'static str, text: &str) -> Result<(), OrgError> {
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT {
        return Err(field(name, format!("must have 1–{MAX_TEXT} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(field(name, "must not hold control characters"));
    }
    Ok(())
}

/// A group name: 1–64 printable characters.
pub fn validate_group(group: &str) -> Result<(), OrgError> {
    if group.trim().is_empty() || group.chars().count() > MAX_GROUP {
        return Err(field(
            "group",
            format!("must have 1–{MAX_GROUP} characters"),
        ));
    }
    if group.chars().any(char::is_control) {
        return Err(field("group", "must not hold control characters"));
    }
    Ok(())
}

/// A plausible e-mail address: one `@` between non-empty parts, a dot in the domain, no
/// spaces. (Whether it reaches anyone only the activation mail tells.)
pub fn validate_email(email: &str) -> Result<(), OrgError> {
    validate_text("email", email)?;
    let bad = || field("email", format!("{email:?} is not an e-mail address"));
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || email.chars().any(char::is_whitespace)
    {
        return Err(bad());
    }
    Ok(())
}

/// A phone number: digits, spaces and `+ - / ( )`, 3–32 characters.
pub fn validate_phone(phone: &str) -> Result<(), OrgError> {
    let ok = (3..=MAX_ID).contains(&phone.chars().count())
        && phone.chars().any(|c| c.is_ascii_digit())
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-/()".contains(c));
    if ok {
        Ok(())
    } else {
        Err(field("phone", format!("{phone:?} is not a phone number")))
    }
}

impl Member {
    /// Check every field (not the unit's existence: see [`UnitTree::contains`]).
    pub fn validate(&self) -> Result<(), OrgError> {
        validate_id("member number", &self.number)?;
        validate_text("first name", &self.first_name)?;
        validate_text("last name", &self.last_name)?;
        validate_id("unit", &self.unit)?;
        if let Some(e) = &self.email {
            validate_email(e)?;
        }
        if let Some(p) = &self.phone {
            validate_phone(p)?;
        }
        for g in &self.groups {
            validate_group(g)?;
        }
        Ok(())
    }
}

/// Why a unit was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutUnitError {
    /// The unit is malformed or would break the tree.
    #[error(transparent)]
    Invalid(#[from] OrgError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// Create or rename/move a unit, after checking its fields and that the units stay one tree.
pub fn put_unit(store: &dyn crate::storage::Store, unit: &Unit) -> Result<(), PutUnitError> {
    validate_id("unit", &unit.id)?;
    validate_text("name", &unit.name)?;
    let mut units: Vec<Unit> = store
        .units()?
        .into_iter()
        .filter(|u| u.id != unit.id)
        .collect();
    units.push(unit.clone());
    UnitTree::new(&units)?;
    store.put_unit(unit)?;
    Ok(())
}

/// The units as a tree, for scope checks.
#[derive(Debug, Clone, Default)]
pub struct UnitTree {
    parent: HashMap<String, Option<String>>,
    names: HashMap<String, String>,
}

impl UnitTree {
    /// Build the tree; fails unless there is exactly one root, every parent exists and
    /// there is no cycle.
    pub fn new(units: &[Unit]) -> Result<Self, OrgError> {
        let tree = Self {
            parent: units
                .iter()
                .map(|u| (u.id.clone(), u.parent.clone()))
                .collect(),
            names: units
                .iter()
                .map(|u| (u.id.clone(), u.name.clone()))
                .collect(),
        };
        let roots = units.iter().filter(|u| u.parent.is_none()).count();
        if !units.is_empty() && roots != 1 {
            return Err(OrgError::NotATree(format!(
                "the units need exactly one root, found {roots}"
            )));
        }
        for u in units {
            if let Some(p) = &u.parent
                && !tree.parent.contains_key(p)
            {
                return Err(OrgError::UnknownUnit(p.clone()));
            }
            if tree.ancestors(&u.id).count() > units.len() {
                return Err(OrgError::NotATree(format!(
                    "unit {} is its own ancestor",
                    u.id
                )));
            }
        }
        Ok(tree)
    }

    /// Is there such a unit?
    pub fn contains(&self, unit: &str) -> bool {
        self.parent.contains_key(unit)
    }

    /// A unit's display name.
    pub fn name(&self, unit: &str) -> Option<&str> {
        self.names.get(unit).map(String::as_str)
    }

    /// Find a unit by id or by its exact display name (as member lists name them).
    pub fn resolve(&self, id_or_name: &str) -> Option<&str> {
        if let Some((id, _)) = self.parent.get_key_value(id_or_name) {
            return Some(id);
        }
        self.names
            .iter()
            .find(|(_, n)| n.as_str() == id_or_name)
            .map(|(id, _)| id.as_str())
    }

    /// The unit itself, then its parent, up to the root (bounded, also for broken trees).
    pub fn ancestors<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let limit = self.parent.len() + 2;
        let mut next = self.parent.get_key_value(unit).map(|(k, _)| k.as_str());
        std::iter::from_fn(move || {
            let current = next?;
            next = self
                .parent
                .get(current)
                .and_then(|p| p.as_deref())
                .and_then(|p| self.parent.get_key_value(p).map(|(k, _)| k.as_str()));
            Some(current)
        })
        .take(limit)
    }

    /// The unit just below the root that `unit` lies in (its Landesverband), or the root
    /// itself; `None` for an unknown unit.
    pub fn region<'a>(&'a self, unit: &'a str) -> Option<&'a str> {
        let chain: Vec<&str> = self.ancestors(unit).collect();
        match chain.len() {
            0 => None,
            1 => chain.first().copied(),
            n => chain.get(n - 2).copied(),
        }
    }

    /// Does an admin of `scope` administer `unit` (the unit itself or one below it)?
    pub fn covers(&self, scope: &str, unit: &str) -> bool {
        self.ancestors(unit).any(|a| a == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, parent: Option<&str>) -> Unit {
        Unit {
            id: id.into(),
            name: format!("Verband {id}"),
            parent: parent.map(Into::into),
        }
    }

    fn tree() -> UnitTree {
        UnitTree::new(&[
            unit("bv", None),
            unit("lv-by", Some("bv")),
            unit("lv-be", Some("bv")),
            unit("kv-m", Some("lv-by")),
        ])
        .unwrap()
    }

    #[test]
    fn scopes_cover_their_unit_and_what_lies_below() {
        let t = tree();
        assert!(t.covers("bv", "kv-m"));
        assert!(t.covers("lv-by", "kv-m"));
        assert!(t.covers("kv-m", "kv-m"));
        assert!(!t.covers("lv-be", "kv-m"));
        assert!(!t.covers("kv-m", "lv-by"), "not upwards");
        assert!(!t.covers("bv", "nowhere"));
        assert_eq!(
            t.ancestors("kv-m").collect::<Vec<_>>(),
            ["kv-m", "lv-by", "bv"]
        );
        assert_eq!(t.resolve("Verband lv-be"), Some("lv-be"));
        assert_eq!(t.resolve("lv-be"), Some("lv-be"));
        assert_eq!(t.resolve("Bayern"), None);
    }

    #[test]
    fn a_tree_has_one_root_known_parents_and_no_cycle() {
        assert!(matches!(
            UnitTree::new(&[unit("a", None), unit("b", None)]),
            Err(OrgError::NotATree(_))
        ));
        assert_eq!(
            UnitTree::new(&[unit("a", None), unit("b", Some("x"))]).unwrap_err(),
            OrgError::UnknownUnit("x".into())
        );
        assert!(matches!(
            UnitTree::new(&[unit("r", None), unit("a", Some("b")), unit("b", Some("a"))]),
            Err(OrgError::NotATree(_))
        ));
    }

    #[test]
    fn member_fields_are_checked() {
        let m = Member {
            number: "10023".into(),
            first_name: "Jürgen".into(),
            last_name: "Müller-Lüdenscheidt".into(),
            unit: "kv-m".into(),
            email: Some("j.mueller@example.org".into()),
            phone: Some("+49 89 123456".into()),
            groups: ["Bundesvorstand".to_owned()].into(),
            visibility: None,
            status: MemberStatus::Active,
        };
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.display_name(), "Jürgen Müller-Lüdenscheidt");
        for email in ["x", "a@b", "a @b.de", "@b.de", "a@b@c.de", "a@.de"] {
            let bad = Member {
                email: Some(email.into()),
                ..m.clone()
            };
            assert!(bad.validate().is_err(), "{email}");
        }
        let bad = Member {
            number: "10 023".into(),
            ..m.clone()
        };
        assert!(bad.validate().is_err());
        let bad = Member {
            phone: Some("call me".into()),
            ..m.clone()
        };
        assert!(bad.validate().is_err());
        let bad = Member {
            first_name: "  ".into(),
            ..m
        };
        assert!(bad.validate().is_err());
    }
}

//! The demo organisation: a fictional party with a Bundesverband, the 16 Landesverbände and
//! a few Kreisverbände, 64 members with German names (a Bundesvorstand among them, two who
//! hide from the directory), and the demo congress's roster built from it. Created once, on
//! the first start with an empty data directory, next to the demo invites
//! ([`crate::invite::create_demo`]). Deterministic: the same names every time.

use std::collections::BTreeSet;

use crate::account;
use crate::auth::Role;
use crate::org::{Member, MemberStatus, Unit, Visibility};
use crate::roster;
use crate::storage::{EventKind, EventRecord, StorageError, Store};

/// The Landesverbände: id suffix and name.
const LAENDER: [(&str, &str); 16] = [
    ("bw", "Baden-Württemberg"),
    ("by", "Bayern"),
    ("be", "Berlin"),
    ("bb", "Brandenburg"),
    ("hb", "Bremen"),
    ("hh", "Hamburg"),
    ("he", "Hessen"),
    ("mv", "Mecklenburg-Vorpommern"),
    ("ni", "Niedersachsen"),
    ("nw", "Nordrhein-Westfalen"),
    ("rp", "Rheinland-Pfalz"),
    ("sl", "Saarland"),
    ("sn", "Sachsen"),
    ("st", "Sachsen-Anhalt"),
    ("sh", "Schleswig-Holstein"),
    ("th", "Thüringen"),
];

/// Kreisverbände: id, name, Landesverband.
const KREISE: [(&str, &str, &str); 4] = [
    ("kv-muenchen", "Kreisverband München", "lv-by"),
    ("kv-koeln", "Kreisverband Köln", "lv-nw"),
    ("kv-leipzig", "Kreisverband Leipzig", "lv-sn"),
    ("kv-freiburg", "Kreisverband Freiburg", "lv-bw"),
];

const FIRST: [&str; 16] = [
    "Anna",
    "Jürgen",
    "Özlem",
    "Lukas",
    "Marie",
    "Hans-Peter",
    "Fatma",
    "Jonas",
    "Sophie",
    "Björn",
    "Elif",
    "Klaus",
    "Lea",
    "Mehmet",
    "Greta",
    "Tobias",
];
const LAST: [&str; 16] = [
    "Müller", "Schmidt", "Weiß", "Schäfer", "Becker", "Hoffmann", "Yılmaz", "Krüger", "Wagner",
    "Große", "Schulz", "Öztürk", "Köhler", "Fuchs", "Lehmann", "Brandt",
];

/// How many members the demo has.
pub const MEMBERS: usize = 64;
/// The group of the board.
pub const BOARD: &str = "Bundesvorstand";

/// A demo member who gets an activation link printed at first start.
#[derive(Debug, Clone)]
pub struct DemoSignIn {
    /// What they are in the demo (e.g. "admin", "delegate").
    pub role: &'static str,
    /// Member number.
    pub number: String,
    /// Display name.
    pub name: String,
    /// The activation link's secret.
    pub secret: String,
}

fn ascii_mail(name: &str) -> String {
    name.to_lowercase()
        .replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('ß', "ss")
        .replace('ı', "i")
        .replace(' ', "")
}

/// The demo's members, deterministic: member `i` lives in Landesverband `i % 16` (the
/// first four of some in a Kreisverband), numbers 10001…
pub fn members() -> Vec<Member> {
    (0..MEMBERS)
        .map(|i| {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i * 7 + i / FIRST.len()) % LAST.len()];
            let (lv_id, lv_name) = LAENDER[i % LAENDER.len()];
            let kreis = KREISE
                .iter()
                .find(|(_, _, lv)| *lv == format!("lv-{lv_id}") && i % 3 == 0);
            let unit = kreis.map_or(format!("lv-{lv_id}"), |(id, _, _)| (*id).to_owned());
            let mut groups = BTreeSet::new();
            if i < 7 {
                groups.insert(BOARD.to_owned());
            }
            if (7..39).contains(&i) {
                groups.insert(format!("Delegierte LV {lv_name}"));
            }
            Member {
                number: format!("{}", 10_001 + i),
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                unit,
                email: Some(format!(
                    "{}.{}@example.org",
                    ascii_mail(first),
                    ascii_mail(last)
                )),
                phone: (i % 4 == 0).then(|| format!("+49 30 {:07}", 1_000_000 + i * 4711)),
                groups,
                // Two members keep to themselves; the rest follow the party's default.
                visibility: match i {
                    40 => Some(Visibility::Admins),
                    41 => Some(Visibility::Unit),
                    _ => None,
                },
                status: MemberStatus::Active,
            }
        })
        .collect()
}

/// The demo's units: the Bundesverband, 16 Landesverbände, a few Kreisverbände.
pub fn units() -> Vec<Unit> {
    let mut units = vec![Unit {
        id: "bv".into(),
        name: "Bundesverband".into(),
        parent: None,
    }];
    units.extend(LAENDER.iter().map(|(id, name)| Unit {
        id: format!("lv-{id}"),
        name: format!("Landesverband {name}"),
        parent: Some("bv".into()),
    }));
    units.extend(KREISE.iter().map(|(id, name, lv)| Unit {
        id: (*id).into(),
        name: (*name).into(),
        parent: Some((*lv).into()),
    }));
    units
}

/// The demo congress's agenda.
pub const AGENDA: [&str; 7] = [
    "Eröffnung und Begrüßung",
    "Wahl der Versammlungsleitung",
    "Beschluss der Tagesordnung",
    "Bericht des Bundesvorstands",
    "Anträge",
    "Wahlen",
    "Verschiedenes",
];

/// Create the demo organisation and put it on `room`'s roster: member 10001 (board) as the
/// party's admin and the room's moderator, the 32 delegates (two per Landesverband) as
/// delegates, the rest of the board as guest speakers. Returns activation links for the
/// admin and two delegates. Call it only on an empty data directory.
pub fn seed(store: &dyn Store, room: &str, now: u64) -> Result<Vec<DemoSignIn>, DemoError> {
    for u in units() {
        store.put_unit(&u)?;
    }
    let members = members();
    store.apply_members(&members, &[])?;
    store.set_admin(&members[0].number, "bv", true)?;
    store.put_event(&EventRecord {
        room_id: room.to_owned(),
        kind: EventKind::Congress,
        starts_at: Some(now),
        unit: "bv".to_owned(),
        agenda: AGENDA.iter().map(|s| (*s).to_owned()).collect(),
        quotas: Default::default(),
    })?;
    for (i, m) in members.iter().enumerate() {
        let role = match i {
            0 => Role::Moderator,
            1..7 => Role::GuestSpeaker,
            7..39 => Role::Delegate,
            _ => continue,
        };
        roster::assign_member(store, room, &m.number, role, now)?;
    }
    let mut links = Vec::new();
    for (role, i) in [("admin", 0), ("delegate", 7), ("delegate", 8)] {
        let m = &members[i];
        let secret = account::issue_activation(store, &m.number, now)?
            .ok_or_else(|| DemoError::Missing(m.number.clone()))?;
        links.push(DemoSignIn {
            role,
            number: m.number.clone(),
            name: m.display_name(),
            secret,
        });
    }
    Ok(links)
}

/// Seeding the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The roster refused.
    #[error(transparent)]
    Roster(#[from] roster::RosterError),
    /// A demo member was not stored.
    #[error("demo member {0} is missing")]
    Missing(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::UnitTree;
    use crate::storage::{OrgStore, SqliteStore};

    #[test]
    fn the_demo_organisation_is_a_valid_tree_of_valid_members_and_builds_the_roster() {
        let tree = UnitTree::new(&units()).unwrap();
        let members = members();
        assert_eq!(members.len(), MEMBERS);
        let numbers: BTreeSet<&str> = members.iter().map(|m| m.number.as_str()).collect();
        assert_eq!(numbers.len(), MEMBERS, "unique numbers");
        for m in &members {
            m.validate().unwrap();
            assert!(tree.contains(&m.unit), "{}", m.unit);
        }
        assert_eq!(
            members.iter().filter(|m| m.groups.contains(BOARD)).count(),
            7
        );
        let lvs: BTreeSet<&str> = members
            .iter()
            .filter_map(|m| tree.ancestors(&m.unit).find(|u| u.starts_with("lv-")))
            .collect();
        assert_eq!(lvs.len(), 16, "every Landesverband has members");

        let store = SqliteStore::in_memory().unwrap();
        crate::invite::create_demo(&store, &crate::auth::TokenKeys::new(&[1; 32]), 1, 3600)
            .unwrap();
        let links = seed(&store, crate::invite::DEMO_ROOM, 1).unwrap();
        assert_eq!(links.len(), 3);
        assert_eq!(store.roster(crate::invite::DEMO_ROOM).unwrap().len(), 39);
        assert_eq!(store.admin_scopes("10001").unwrap(), vec!["bv"]);
        let rooms = roster::rooms_of(&store, "10008").unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].role, Role::Delegate);
    }
}

//! Member-list import against real files and a real (in-memory) SQLite store.
#![allow(clippy::unwrap_used)]

use plenum_directory::import::{self, Encoding};
use plenum_directory::import_members;
use plenum_signalling::org::{Member, MemberStatus, Unit, UnitTree};
use plenum_signalling::storage::{OrgStore, SqliteStore};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn store() -> SqliteStore {
    let store = SqliteStore::in_memory().unwrap();
    for (id, name, parent) in [
        ("bv", "Bundesverband", None),
        ("lv-bayern", "Landesverband Bayern", Some("bv")),
        ("kv-muenchen", "Kreisverband München", Some("lv-bayern")),
        ("lv-berlin", "Landesverband Berlin", Some("bv")),
    ] {
        store
            .put_unit(&Unit {
                id: id.into(),
                name: name.into(),
                parent: parent.map(Into::into),
            })
            .unwrap();
    }
    store
}

fn member(store: &SqliteStore, number: &str) -> Member {
    store.member(number).unwrap().unwrap()
}

#[test]
fn a_windows_1252_file_with_semicolons_umlauts_and_quoted_line_breaks() {
    let store = store();
    let units = UnitTree::new(&store.units().unwrap()).unwrap();
    let parsed = import::parse(&data("members-cp1252.csv"), &units);
    assert_eq!(parsed.encoding, Encoding::Windows1252);
    assert_eq!(parsed.delimiter, ';');
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(parsed.rows.len(), 4);
    assert_eq!(
        parsed.rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 3, 4, 6],
        "the quoted line break makes row 3 two lines long"
    );

    let plan = import_members(&store, &data("members-cp1252.csv"), "bv", false).unwrap();
    assert_eq!(plan.new.len(), 4);
    let j = member(&store, "10001");
    assert_eq!(j.display_name(), "Jürgen Müller");
    assert_eq!(j.unit, "kv-muenchen", "the unit by its name");
    assert_eq!(j.phone.as_deref(), Some("+49 89 1234567"));
    assert_eq!(
        j.groups.iter().collect::<Vec<_>>(),
        ["Bundesvorstand", "Delegierte LV Bayern"]
    );
    let a = member(&store, "10002");
    assert_eq!(a.display_name(), "Änne Weiß");
    assert_eq!(a.email.as_deref(), Some("aenne.weiss@example.org"));
    let h = member(&store, "10003");
    assert_eq!(h.first_name, "Hans; genannt „Hansi“");
    assert_eq!(
        h.last_name, "Groß Kleinschmidt",
        "the line break became a space"
    );
    assert_eq!(member(&store, "10004").email, None);
}

#[test]
fn every_bad_row_gets_its_line_and_an_import_with_errors_changes_nothing() {
    let store = store();
    let plan = import_members(&store, &data("members-errors.csv"), "bv", false).unwrap();
    let lines: Vec<(u64, &str)> = plan
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[0].0, 3);
    assert!(
        lines[0]
            .1
            .contains("unknown unit \"Landesverband Atlantis\"")
    );
    assert_eq!(lines[1].0, 4);
    assert!(lines[1].1.contains("appears already in line 2"));
    assert_eq!(lines[2].0, 5);
    assert!(lines[2].1.contains("last name"));
    assert_eq!(lines[3].0, 6);
    assert!(lines[3].1.contains("e-mail"));
    assert_eq!(lines[4].0, 7);
    assert!(lines[4].1.contains("4 fields, the header has 5"));
    assert!(store.members().unwrap().is_empty(), "nothing was imported");
}

#[test]
fn a_header_without_the_required_columns_is_refused() {
    let store = store();
    let plan = import_members(&store, b"Nummer;Vorname\n1;Anna\n", "bv", false).unwrap();
    assert_eq!(plan.errors.len(), 3);
    assert!(plan.errors.iter().all(|e| e.line == 1));
    assert!(plan.errors[0].reason.contains("mitgliedsnummer"));
    let plan = import_members(&store, b"", "bv", true).unwrap();
    assert_eq!(plan.errors[0].reason, "the file is empty");
}

#[test]
fn a_dry_run_shows_new_changed_and_left_and_re_import_is_idempotent() {
    let store = store();
    let first = b"Mitgliedsnummer,Vorname,Nachname,Gliederung,E-Mail\n\
        1,Anna,Schmidt,lv-berlin,anna@example.org\n\
        2,Ben,Meyer,lv-berlin,ben@example.org\n\
        3,Cem,Kaya,lv-bayern,cem@example.org\n";
    let dry = import_members(&store, first, "bv", true).unwrap();
    assert_eq!(dry.new.len(), 3);
    assert!(
        store.members().unwrap().is_empty(),
        "a dry run changes nothing"
    );
    import_members(&store, first, "bv", false).unwrap();
    let again = import_members(&store, first, "bv", false).unwrap();
    assert_eq!(
        (
            again.new.len(),
            again.changed.len(),
            again.left.len(),
            again.unchanged
        ),
        (0, 0, 0, 3),
        "the same file again changes nothing"
    );

    let second = b"Mitgliedsnummer,Vorname,Nachname,Gliederung,E-Mail\n\
        1,Anna,Schmidt-Weber,lv-berlin,anna@example.org\n\
        3,Cem,Kaya,lv-bayern,cem@example.org\n\
        4,Dana,Roth,kv-muenchen,\n";
    let dry = import_members(&store, second, "bv", true).unwrap();
    assert_eq!(
        dry.new
            .iter()
            .map(|m| m.number.as_str())
            .collect::<Vec<_>>(),
        ["4"]
    );
    assert_eq!(dry.changed.len(), 1);
    assert_eq!(dry.changed[0].fields, ["last_name"]);
    assert_eq!(
        dry.left
            .iter()
            .map(|m| m.number.as_str())
            .collect::<Vec<_>>(),
        ["2"]
    );
    import_members(&store, second, "bv", false).unwrap();
    assert_eq!(member(&store, "2").status, MemberStatus::Left);
    assert_eq!(member(&store, "1").last_name, "Schmidt-Weber");
}

#[test]
fn a_unit_admin_imports_only_within_their_unit() {
    let store = store();
    let all = b"Mitgliedsnummer;Vorname;Nachname;Gliederung\n\
        1;Anna;Schmidt;lv-berlin\n\
        3;Cem;Kaya;kv-muenchen\n";
    import_members(&store, all, "bv", false).unwrap();
    // The Bavarian admin's file lists a Berliner: refused, nothing changes.
    let foreign = b"Mitgliedsnummer;Vorname;Nachname;Gliederung\n\
        1;Anna;Umbenannt;lv-berlin\n\
        3;Cem;Kaya;kv-muenchen\n";
    let plan = import_members(&store, foreign, "lv-bayern", false).unwrap();
    assert_eq!(plan.errors.len(), 1);
    assert!(plan.errors[0].reason.contains("outside your scope"));
    assert_eq!(member(&store, "1").last_name, "Schmidt");
    // Their own list without the Berliner: she is not "left" — she is not theirs.
    let own = b"Mitgliedsnummer;Vorname;Nachname;Gliederung\n3;Cem;Kaya;kv-muenchen\n";
    let plan = import_members(&store, own, "lv-bayern", false).unwrap();
    assert!(plan.left.is_empty());
    assert_eq!(member(&store, "1").status, MemberStatus::Active);
}

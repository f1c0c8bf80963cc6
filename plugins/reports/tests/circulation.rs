//! Board resolutions by circulation against a real SQLite file, with injected time: the
//! deadline, a late vote, the objection rule, a restart mid-circulation, a double vote, and
//! the register entry of an adopted motion. Commands go through the host's registry, so the
//! authorization table and the JSON wire format are exercised too.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use plenum_reports::{Reports, ReportsConfig};
use plenum_signalling::org::{Member, MemberStatus, Unit};
use plenum_signalling::org_plugin::{Caller, OrgContext, OrgFailure, OrgRegistry};
use plenum_signalling::serde_json::{Value, json};
use plenum_signalling::storage::{OrgStore, PluginStore, SqliteStore, Store};

/// 2027-05-08 10:00 in Berlin.
const T0: u64 = 1_809_763_200;
const HOUR: u64 = 3600;

struct Org {
    path: PathBuf,
    store: SqliteStore,
    registry: OrgRegistry,
}

fn member(number: &str, first: &str, unit: &str, groups: &[&str]) -> Member {
    Member {
        number: number.into(),
        first_name: first.into(),
        last_name: "Vorstand".into(),
        unit: unit.into(),
        email: None,
        phone: None,
        groups: groups
            .iter()
            .map(|g| (*g).to_owned())
            .collect::<BTreeSet<_>>(),
        visibility: None,
        status: MemberStatus::Active,
    }
}

fn registry() -> OrgRegistry {
    OrgRegistry::new().with(Reports::new(&ReportsConfig::default()))
}

impl Org {
    /// The Bundesvorstand (Anna, Ben, Cem; Dora has left), a Landesvorstand member and a
    /// plain member; Anna is the party's admin.
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "plenum-circulation-{}-{name}.db",
            std::process::id()
        ));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let store = SqliteStore::open(&path).unwrap();
        for (id, parent) in [("bv", None), ("lv-be", Some("bv"))] {
            store
                .put_unit(&Unit {
                    id: id.into(),
                    name: id.to_uppercase(),
                    parent: parent.map(Into::into),
                })
                .unwrap();
        }
        let mut dora = member("104", "Dora", "bv", &["Bundesvorstand"]);
        dora.status = MemberStatus::Left;
        store
            .apply_members(
                &[
                    member("101", "Anna", "bv", &["Bundesvorstand"]),
                    member("102", "Ben", "lv-be", &["Bundesvorstand"]),
                    member("103", "Cem", "bv", &["Bundesvorstand", "Kasse"]),
                    dora,
                    member("201", "Lea", "lv-be", &["Landesvorstand"]),
                    member("301", "Max", "lv-be", &[]),
                ],
                &[],
            )
            .unwrap();
        store.set_admin("101", "bv", true).unwrap();
        Self {
            path,
            store,
            registry: registry(),
        }
    }

    /// Stop and start again: a new store on the same file, a new plugin instance.
    fn restart(&mut self) {
        self.store = SqliteStore::open(&self.path).unwrap();
        self.registry = registry();
    }

    /// Run `body` as member `number` at unix second `now`.
    fn run(&self, number: &str, now: u64, body: Value) -> Result<Value, OrgFailure> {
        let caller = Caller {
            member: self.store.member(number).unwrap().unwrap(),
            admin_of: self.store.admin_scopes(number).unwrap(),
        };
        let ctx = OrgContext::new(
            &caller,
            &self.store as &dyn Store,
            now,
            "https://plenum.test",
        )
        .unwrap();
        self.registry.command(&ctx, "reports", body)
    }

    fn ok(&self, number: &str, now: u64, body: Value) -> Value {
        self.run(number, now, body.clone())
            .unwrap_or_else(|e| panic!("{body}: {e:?}"))
    }

    /// The reason a command was refused with.
    fn refused(&self, number: &str, now: u64, body: Value) -> String {
        match self.run(number, now, body) {
            Err(OrgFailure::Plugin(e)) => e.reason.to_owned(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Put a motion to the Bundesvorstand at `T0`, deadline `T0 + 48 h`.
    fn circulate(&self, title: &str, extra: Value) -> String {
        let mut body = json!({
            "action": "circulate",
            "title": title,
            "text": "Der Bundesvorstand beschließt …",
            "group": "Bundesvorstand",
            "body": "BuVo",
            "deadline_ms": (T0 + 48 * HOUR) * 1000,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.ok("101", T0, body)["circulation"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn vote(&self, number: &str, now: u64, id: &str, vote: &str) -> Result<Value, OrgFailure> {
        self.run(
            number,
            now,
            json!({ "action": "circulation_vote", "id": id, "vote": vote }),
        )
    }

    /// Circulation `id` as `number` sees it at `now`.
    fn view(&self, number: &str, now: u64, id: &str) -> Value {
        self.ok(number, now, json!({ "action": "circulations" }))["circulations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn register(&self, number: &str, now: u64) -> Vec<Value> {
        self.ok(number, now, json!({ "action": "register" }))["entries"]
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Org {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

#[test]
fn the_group_is_fixed_at_the_start_and_only_admins_put_motions() {
    let org = Org::new("start");
    let id = org.circulate("Haushalt 2028", json!({}));
    assert_eq!(id, "U-0001");
    let c = org.view("102", T0, &id);
    let voters: Vec<&str> = c["voters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_str().unwrap())
        .collect();
    assert_eq!(voters, ["101", "102", "103"], "active members of the group");
    assert_eq!(c["voted"], 0);
    assert_eq!(c["outcome"], Value::Null);
    assert!(!c["rule"]["de"].as_str().unwrap().is_empty());
    // Outside the group nobody sees it, or votes.
    assert_eq!(org.view("201", T0, &id), Value::Null);
    for outsider in ["201", "301"] {
        assert_eq!(
            org.refused(
                outsider,
                T0,
                json!({ "action": "circulation_vote", "id": id, "vote": "yes" })
            ),
            "unknown_circulation",
            "the same answer as for a circulation that does not exist"
        );
    }
    assert_eq!(
        org.refused(
            "101",
            T0,
            json!({ "action": "circulation_vote", "id": "U-0099", "vote": "yes" })
        ),
        "unknown_circulation"
    );
    // A member is no admin; bad input is refused and creates nothing.
    assert!(matches!(
        org.run(
            "102",
            T0,
            json!({ "action": "circulate", "title": "x", "group": "Bundesvorstand", "deadline_ms": (T0 + HOUR) * 1000 })
        ),
        Err(OrgFailure::Forbidden)
    ));
    let bad = |extra: Value| {
        let mut body = json!({
            "action": "circulate", "title": "Satzung", "group": "Bundesvorstand",
            "deadline_ms": (T0 + HOUR) * 1000,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        org.refused("101", T0, body)
    };
    assert_eq!(bad(json!({ "deadline_ms": T0 * 1000 })), "bad_deadline");
    assert_eq!(
        bad(json!({ "deadline_ms": (T0 + 91 * 24 * HOUR) * 1000 })),
        "bad_deadline"
    );
    assert_eq!(bad(json!({ "group": "Niemand" })), "empty_group");
    assert_eq!(bad(json!({ "title": " " })), "invalid");
    assert_eq!(bad(json!({ "body": "Bu/Vo" })), "invalid_body");
    assert_eq!(bad(json!({ "quorum_percent": 101 })), "invalid");
    assert_eq!(
        bad(json!({ "unit": "lv-be", "group": "Kasse" })),
        "empty_group"
    );
    let all = org.ok("101", T0, json!({ "action": "circulations" }));
    assert_eq!(all["circulations"].as_array().unwrap().len(), 1);
}

#[test]
fn at_the_deadline_it_is_settled_and_a_late_vote_is_refused() {
    let org = Org::new("deadline");
    let id = org.circulate("Haushalt 2028", json!({}));
    org.vote("101", T0 + HOUR, &id, "yes").unwrap();
    org.vote("102", T0 + 2 * HOUR, &id, "yes").unwrap();
    // Still open a second before the deadline; Cem has not voted.
    let before = org.view("101", T0 + 48 * HOUR - 1, &id);
    assert_eq!(before["outcome"], Value::Null);
    assert_eq!(before["voted"], 2);
    assert_eq!(before["mine"], "yes");
    assert_eq!(
        before["voters"][0].get("vote"),
        None,
        "no choices before the end"
    );
    assert!(org.register("101", T0 + 48 * HOUR - 1).is_empty());
    // At the deadline: a late vote is refused, and settles it.
    let late = T0 + 48 * HOUR;
    assert_eq!(
        org.refused(
            "103",
            late,
            json!({ "action": "circulation_vote", "id": id, "vote": "no" })
        ),
        "closed"
    );
    let after = org.view("103", late + 10, &id);
    let outcome = &after["outcome"];
    assert_eq!(outcome["state"], "adopted");
    assert_eq!(outcome["why"], "deadline");
    assert_eq!(
        outcome["settled_at_ms"],
        late * 1000,
        "settled by the late vote"
    );
    assert_eq!(
        (outcome["yes"].clone(), outcome["no"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(outcome["voted"], 2);
    assert_eq!(
        after["voters"][0]["vote"], "yes",
        "a named vote, shown once over"
    );
    assert_eq!(after["voters"][2]["vote"], Value::Null);
    assert_eq!(after["number"], "BuVo-2027-001");
    let register = org.register("301", late + 20);
    assert_eq!(
        register.len(),
        1,
        "federal resolutions are read by every member"
    );
    assert_eq!(register[0]["number"], "BuVo-2027-001");
    assert_eq!(
        register[0]["source"],
        json!({ "kind": "circulation", "id": id })
    );
    assert_eq!(register[0]["title"], "Haushalt 2028");

    // Too few by the deadline: no quorum, not entered.
    let id2 = org.circulate("Satzungsänderung", json!({ "quorum_percent": 67 }));
    org.vote("101", T0 + HOUR, &id2, "yes").unwrap();
    org.vote("102", T0 + HOUR, &id2, "yes").unwrap();
    let c = org.view("101", T0 + 49 * HOUR, &id2);
    assert_eq!(c["outcome"]["state"], "no_quorum");
    assert_eq!(c["number"], Value::Null);
    assert_eq!(org.register("101", T0 + 49 * HOUR).len(), 1);
}

#[test]
fn when_all_have_voted_it_ends_at_once_by_the_majority_rule() {
    let org = Org::new("all");
    let two_thirds = json!({ "majority": { "rule": "two_thirds" } });
    let id = org.circulate("Kooperation", two_thirds);
    org.vote("101", T0 + 1, &id, "yes").unwrap();
    org.vote("102", T0 + 2, &id, "no").unwrap();
    let last = org.vote("103", T0 + 3, &id, "abstain").unwrap();
    let outcome = &last["circulation"]["outcome"];
    assert_eq!(outcome["why"], "all_voted");
    assert_eq!(
        outcome["state"], "rejected",
        "1 of 2 valid votes is not two thirds"
    );
    assert_eq!(outcome["abstain"], 1);
    assert!(org.register("101", T0 + 4).is_empty());
}

#[test]
fn one_objection_ends_the_procedure_if_the_rules_say_so() {
    let org = Org::new("objection");
    let id = org.circulate("Eilantrag", json!({}));
    org.vote("101", T0 + 1, &id, "yes").unwrap();
    let objected = org.vote("102", T0 + 2, &id, "object").unwrap();
    let outcome = &objected["circulation"]["outcome"];
    assert_eq!(outcome["state"], "objected");
    assert_eq!(outcome["why"], "objection");
    assert_eq!(outcome["objections"], 1);
    assert_eq!(
        org.refused(
            "103",
            T0 + 3,
            json!({ "action": "circulation_vote", "id": id, "vote": "yes" })
        ),
        "closed"
    );
    assert!(org.register("101", T0 + 4).is_empty());

    // Without the rule, an objection is no vote this circulation takes.
    let id2 = org.circulate("Eilantrag 2", json!({ "objection": false }));
    assert_eq!(
        org.refused(
            "102",
            T0 + 5,
            json!({ "action": "circulation_vote", "id": id2, "vote": "object" })
        ),
        "no_objection"
    );
    assert_eq!(
        org.view("102", T0 + 6, &id2)["voted"],
        0,
        "the refusal stored nothing"
    );
}

#[test]
fn a_restart_mid_circulation_loses_no_vote_and_a_second_vote_is_refused() {
    let mut org = Org::new("restart");
    let id = org.circulate("Mitgliedsbeitrag", json!({}));
    org.vote("101", T0 + 10, &id, "yes").unwrap();
    org.vote("102", T0 + 20, &id, "no").unwrap();
    assert_eq!(
        org.refused(
            "102",
            T0 + 30,
            json!({ "action": "circulation_vote", "id": id, "vote": "yes" })
        ),
        "already_voted"
    );
    org.restart();
    let c = org.view("102", T0 + 40, &id);
    assert_eq!(c["voted"], 2, "both votes survived the restart");
    assert_eq!(c["mine"], "no", "the first vote stands");
    assert_eq!(
        org.refused(
            "101",
            T0 + 50,
            json!({ "action": "circulation_vote", "id": id, "vote": "no" })
        ),
        "already_voted"
    );
    let last = org.vote("103", T0 + 60, &id, "yes").unwrap();
    let outcome = &last["circulation"]["outcome"];
    assert_eq!(
        (outcome["yes"].clone(), outcome["no"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(outcome["state"], "adopted");
    org.restart();
    assert_eq!(org.register("101", T0 + 70)[0]["number"], "BuVo-2027-001");
    assert_eq!(org.register("101", T0 + 80).len(), 1, "entered once");
}

#[test]
fn an_admin_withdraws_a_running_circulation_and_lv_resolutions_stay_in_the_lv() {
    let org = Org::new("withdraw");
    let id = org.circulate("Zurückgezogen", json!({}));
    org.vote("101", T0 + 1, &id, "yes").unwrap();
    assert!(
        matches!(
            org.run(
                "102",
                T0 + 2,
                json!({ "action": "withdraw_circulation", "id": id })
            ),
            Err(OrgFailure::Forbidden)
        ),
        "a member is no admin"
    );
    org.store.set_admin("201", "lv-be", true).unwrap();
    assert_eq!(
        org.refused(
            "201",
            T0 + 2,
            json!({ "action": "withdraw_circulation", "id": id })
        ),
        "unknown_circulation",
        "an admin of another unit"
    );
    let w = org.ok(
        "101",
        T0 + 3,
        json!({ "action": "withdraw_circulation", "id": id }),
    );
    assert_eq!(w["circulation"]["outcome"]["state"], "withdrawn");
    assert_eq!(
        org.refused(
            "101",
            T0 + 4,
            json!({ "action": "withdraw_circulation", "id": id })
        ),
        "closed"
    );
    assert_eq!(
        org.refused(
            "102",
            T0 + 5,
            json!({ "action": "circulation_vote", "id": id, "vote": "yes" })
        ),
        "closed"
    );

    // A Landesvorstand resolution: Lea's unit reads it, a member elsewhere does not.
    let lv = org.ok(
        "201",
        T0,
        json!({
            "action": "circulate", "title": "Landesparteitag einberufen",
            "group": "Landesvorstand", "body": "LaVo-BE", "deadline_ms": (T0 + HOUR) * 1000,
        }),
    )["circulation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = org.vote("201", T0 + 10, &lv, "yes").unwrap();
    assert_eq!(done["circulation"]["number"], "LaVo-BE-2027-001");
    assert_eq!(org.register("301", T0 + 20).len(), 1, "Max is in lv-be");
    assert!(
        org.register("103", T0 + 20).is_empty(),
        "Cem (bv) does not belong to lv-be"
    );
    assert_eq!(
        org.register("101", T0 + 20).len(),
        1,
        "the party admin reads all"
    );
    let found = org.ok(
        "301",
        T0 + 30,
        json!({ "action": "register", "q": "landesparteitag", "year": 2027 }),
    );
    assert_eq!(found["entries"].as_array().unwrap().len(), 1);
    let none = org.ok(
        "301",
        T0 + 30,
        json!({ "action": "register", "body": "BuVo" }),
    );
    assert!(none["entries"].as_array().unwrap().is_empty());
}

#[test]
fn an_erased_member_is_named_by_the_pseudonym_and_their_vote_still_counts() {
    let org = Org::new("erase");
    let id = org.circulate("Datenschutz", json!({}));
    org.vote("102", T0 + 1, &id, "no").unwrap();
    // Their export lists the vote first.
    let export = org.registry.export(&org.store, "102");
    assert_eq!(
        export["reports"]["circulations"][0]["your_vote"]["vote"],
        "no"
    );
    org.registry
        .erased(&org.store, "102", "Gelöschtes Mitglied 0a1b")
        .unwrap();
    let c = org.view("101", T0 + 2, &id);
    assert_eq!(c["voted"], 1, "the vote still counts");
    let names: Vec<&str> = c["voters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Gelöschtes Mitglied 0a1b"), "{names:?}");
    // Nothing the plugin stores names Ben or his number any more.
    let dump: Vec<(String, String)> = org.store.org_data("reports", "").unwrap();
    assert!(!dump.is_empty());
    for (key, value) in &dump {
        assert!(
            !key.contains("102") && !value.contains("\"102\"") && !value.contains("Ben"),
            "{key}: {value}"
        );
    }
    assert_eq!(org.registry.export(&org.store, "102").len(), 0);
    // The others finish it; his "no" is in the result.
    org.vote("101", T0 + 3, &id, "yes").unwrap();
    let last = org.vote("103", T0 + 4, &id, "yes").unwrap();
    assert_eq!(last["circulation"]["outcome"]["no"], 1);
}

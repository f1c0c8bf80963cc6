//! The member directory over real HTTPS (`/api/org/directory`): the authorization matrix of
//! every directory command for a member, a unit admin (own and other unit), a party admin and
//! someone not signed in; privacy per member (a hidden member is found by nobody but admins
//! over them, not by search, not by profile); the import upload within an admin's scope.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use common::org::{self, post, setup};
use serde_json::{Value, json};

async fn directory(server: &TestServer, cookie: Option<&str>, command: Value) -> (u16, Value) {
    org::command(server, cookie, "directory", command).await
}

async fn names(server: &TestServer, cookie: &str) -> Vec<(String, bool)> {
    let (status, body) = directory(server, Some(cookie), json!({ "action": "search" })).await;
    assert_eq!(status, 200, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m.get("email").is_some(),
            )
        })
        .collect()
}

fn has(list: &[(String, bool)], name: &str) -> Option<bool> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, email)| *email)
}

#[tokio::test]
async fn who_finds_whom_in_the_directory() {
    let server = TestServer::start();
    let p = setup(&server).await;

    // Bea hides from everyone but admins over her.
    let (status, body) = directory(
        &server,
        Some(&p.bea),
        json!({ "action": "set_visibility", "visibility": "admins" }),
    )
    .await;
    assert_eq!((status, &body["visibility"]), (200, &json!("admins")));

    // Berta (member, Berlin; the party's default is "unit"): herself in full, Bernd without
    // contact details, nobody from Bavaria or the Bundesverband.
    let seen = names(&server, &p.berta).await;
    assert_eq!(has(&seen, "Berta Berlin"), Some(true));
    assert_eq!(has(&seen, "Bernd Berlin"), Some(false));
    assert_eq!(has(&seen, "Bea Bayer"), None, "hidden");
    assert_eq!(has(&seen, "Uwe Unterholz"), None, "another Landesverband");
    assert_eq!(has(&seen, "Petra Partei"), None);

    // Uwe (admin of Bavaria): Bavaria in full, Bea included; not Berlin.
    let seen = names(&server, &p.uwe).await;
    assert_eq!(has(&seen, "Bea Bayer"), Some(true));
    assert_eq!(has(&seen, "Uwe Unterholz"), Some(true));
    assert_eq!(has(&seen, "Berta Berlin"), None);

    // Petra (party admin): everyone (also the demo's members), in full.
    let seen = names(&server, &p.petra).await;
    assert_eq!(seen.len(), 64 + 5);
    assert!(seen.iter().all(|(_, email)| *email));

    // A hidden member's profile is "not found", exactly like a number nobody has.
    let (s1, hidden) = directory(
        &server,
        Some(&p.berta),
        json!({ "action": "profile", "number": "3001" }),
    )
    .await;
    let (s2, nobody) = directory(
        &server,
        Some(&p.berta),
        json!({ "action": "profile", "number": "9999" }),
    )
    .await;
    assert_eq!((s1, s2), (422, 422));
    assert_eq!(hidden["error"]["reason"], "not_found");
    assert_eq!(
        hidden["error"]["message"]
            .as_str()
            .unwrap()
            .replace("3001", "N"),
        nobody["error"]["message"]
            .as_str()
            .unwrap()
            .replace("9999", "N")
    );
    let (_, bea) = directory(
        &server,
        Some(&p.uwe),
        json!({ "action": "profile", "number": "3001" }),
    )
    .await;
    assert_eq!(bea["member"]["email"], "bea@example.org");
    assert_eq!(bea["member"]["unit_name"], "Kreisverband Giesing");
    let (_, berta_q) = directory(
        &server,
        Some(&p.berta),
        json!({ "action": "search", "query": "bay" }),
    )
    .await;
    assert_eq!(
        berta_q["members"],
        json!([]),
        "search finds no hidden member either"
    );

    // Search by words, unit and group.
    let (_, by_group) = directory(
        &server,
        Some(&p.petra),
        json!({ "action": "search", "group": "Testvorstand" }),
    )
    .await;
    assert_eq!(by_group["members"].as_array().unwrap().len(), 1);
    let (_, by_unit) = directory(
        &server,
        Some(&p.petra),
        json!({ "action": "search", "unit": "x-by" }),
    )
    .await;
    assert_eq!(
        by_unit["members"].as_array().unwrap().len(),
        2,
        "Bavaria and below"
    );
    let (_, by_words) = directory(
        &server,
        Some(&p.petra),
        json!({ "action": "search", "query": "bernd BERLIN" }),
    )
    .await;
    assert_eq!(by_words["members"][0]["number"], "2002");

    // Opening up: Berta chooses "members"; now Uwe finds her.
    directory(
        &server,
        Some(&p.berta),
        json!({ "action": "set_visibility", "visibility": "members" }),
    )
    .await;
    assert!(has(&names(&server, &p.uwe).await, "Berta Berlin").is_some());

    // Not signed in, malformed, unknown namespace.
    let (status, body) = directory(&server, None, json!({ "action": "search" })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("not_signed_in"))
    );
    let (status, body) = directory(
        &server,
        Some(&p.berta),
        json!({ "action": "delete_everyone" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let r = post(
        &server,
        "/api/org/nope",
        Some(&p.berta),
        "application/json",
        b"{}",
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn importing_needs_an_admin_and_stays_within_their_scope() {
    let server = TestServer::start();
    let p = setup(&server).await;
    let bavarian = "Mitgliedsnummer;Vorname;Nachname;Gliederung\n3003;Xaver;Huber;x-m\n".as_bytes();
    let with_berlin =
        "Mitgliedsnummer;Vorname;Nachname;Gliederung\n3003;Xaver;Huber;x-m\n2003;Mia;Spree;x-be\n"
            .as_bytes();
    let import = |cookie: String, query: &'static str, body: &'static [u8]| {
        let server = &server;
        async move {
            let r = post(
                server,
                &format!("/api/org/directory/upload/import{query}"),
                Some(&cookie),
                "text/csv",
                body,
            )
            .await;
            (r.status, serde_json::from_slice::<Value>(&r.body).unwrap())
        }
    };
    // A member who administers nothing: forbidden.
    let (status, body) = import(p.berta.clone(), "", bavarian).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    // The Bavarian admin: not for Berlin, neither by scope nor by a row.
    let (status, body) = import(p.uwe.clone(), "?scope=x-be", bavarian).await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("outside_scope"))
    );
    let (status, body) = import(p.uwe.clone(), "", with_berlin).await;
    assert_eq!(status, 200);
    assert_eq!(body["applied"], false);
    assert!(
        body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("outside your scope")
    );
    // A dry run, then the import; Bavaria's members not in the file are "left", Berlin's not.
    let (_, dry) = import(p.uwe.clone(), "?dry_run=true", bavarian).await;
    assert_eq!(
        (
            dry["applied"].as_bool(),
            dry["new"].as_array().unwrap().len()
        ),
        (Some(false), 1)
    );
    let left: Vec<&str> = dry["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["number"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["3001", "3002"]);
    let (_, done) = import(p.petra.clone(), "?scope=x-by", "Mitgliedsnummer;Vorname;Nachname;Gliederung\n3001;Bea;Bayer;x-m\n3002;Uwe;Unterholz;x-by\n3003;Xaver;Huber;x-m\n".as_bytes()).await;
    assert_eq!(done["applied"], true);
    let (_, found) = directory(
        &server,
        Some(&p.petra),
        json!({ "action": "profile", "number": "3003" }),
    )
    .await;
    assert_eq!(found["member"]["name"], "Xaver Huber");
}

#[tokio::test]
async fn admins_get_activation_links_for_their_units_only() {
    let server = TestServer::start();
    let p = setup(&server).await;
    // A member administers nothing.
    let (status, body) = directory(
        &server,
        Some(&p.berta),
        json!({ "action": "activation_links" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    // The Bavarian admin: not for Berlin.
    let (status, body) = directory(
        &server,
        Some(&p.uwe),
        json!({ "action": "activation_links", "scope": "x-be" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("outside_scope"))
    );
    // Everyone in Bavaria has a password already; `all` hands out reset links.
    let (_, none) = directory(
        &server,
        Some(&p.uwe),
        json!({ "action": "activation_links" }),
    )
    .await;
    assert_eq!(none["links"], json!([]));
    let (_, reset) = directory(
        &server,
        Some(&p.uwe),
        json!({ "action": "activation_links", "all": true }),
    )
    .await;
    let numbers: Vec<&str> = reset["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["3001", "3002"]);
    // The party admin for Berlin: only Bernd has not activated; the CSV is ready to print.
    let (_, berlin) = directory(
        &server,
        Some(&p.petra),
        json!({ "action": "activation_links", "scope": "x-be" }),
    )
    .await;
    let links = berlin["links"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["name"], "Bernd Berlin");
    let csv = berlin["csv"].as_str().unwrap();
    assert!(
        csv.starts_with("Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail;Aktivierungslink\n")
    );
    assert!(csv.contains("2002;Bernd;Berlin;Landesverband Spree;bernd@example.org;"));
    // The link works, once.
    let link = links[0]["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/activate#token=", server.url)),
        "{link}"
    );
    let token = link.split("#token=").nth(1).unwrap();
    let body = json!({ "token": token, "password": "Passwort-5678" }).to_string();
    let r = post(
        &server,
        "/api/account/activate",
        None,
        "application/json",
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    let again = post(
        &server,
        "/api/account/activate",
        None,
        "application/json",
        body.as_bytes(),
    )
    .await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn units_and_admin_scopes_are_managed_within_the_callers_units() {
    let server = TestServer::start();
    let p = setup(&server).await;
    let put = |id: &'static str, parent: &'static str| json!({ "action": "put_unit", "id": id, "name": format!("Kreisverband {id}"), "parent": parent });
    // Everyone signed in may list the units; only admins change them.
    let (status, body) = directory(&server, Some(&p.berta), json!({ "action": "units" })).await;
    assert_eq!(status, 200);
    assert!(
        body["units"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == "x-m")
    );
    for command in [
        put("x-new", "x-by"),
        json!({ "action": "admins" }),
        json!({ "action": "set_admin", "number": "2002", "unit": "x-be", "admin": true }),
    ] {
        let (status, body) = directory(&server, Some(&p.berta), command.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{command}"
        );
    }
    // The Bavarian admin: a Kreisverband below Bavaria, not below Berlin, not Bavaria itself.
    let (status, body) = directory(&server, Some(&p.uwe), put("x-dachau", "x-by")).await;
    assert_eq!(
        (status, body["created"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, body) = directory(&server, Some(&p.uwe), put("x-mitte", "x-be")).await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("outside_scope"))
    );
    let (status, body) = directory(
        &server,
        Some(&p.uwe),
        json!({ "action": "put_unit", "id": "x-by", "name": "Isar", "parent": "bv" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("outside_scope"))
    );
    // A cycle is refused (moving Bavaria below its own Kreisverband), and changes nothing.
    let (status, body) = directory(
        &server,
        Some(&p.petra),
        json!({ "action": "put_unit", "id": "x-by", "name": "LV Isar", "parent": "x-m" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("invalid")),
        "{body}"
    );
    let (_, units) = directory(&server, Some(&p.petra), json!({ "action": "units" })).await;
    let bavaria = units["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "x-by")
        .unwrap()
        .clone();
    assert_eq!(
        (bavaria["name"].as_str(), bavaria["parent"].as_str()),
        (Some("Landesverband Isar"), Some("bv"))
    );

    // Admin scopes: Uwe makes Bea admin of Giesing (by its name); not Berta (Berlin).
    let (status, body) = directory(&server, Some(&p.uwe), json!({ "action": "set_admin", "number": "3001", "unit": "Kreisverband Giesing", "admin": true })).await;
    assert_eq!(
        (status, body["unit"].as_str()),
        (200, Some("x-m")),
        "{body}"
    );
    let (status, body) = directory(
        &server,
        Some(&p.uwe),
        json!({ "action": "set_admin", "number": "2001", "unit": "x-by", "admin": true }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("not_found"))
    );
    let (status, body) = directory(
        &server,
        Some(&p.uwe),
        json!({ "action": "set_admin", "number": "3002", "unit": "x-by", "admin": false }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("self"))
    );
    // Uwe sees the admins within Bavaria; Petra sees everyone's.
    let (_, admins) = directory(&server, Some(&p.uwe), json!({ "action": "admins" })).await;
    let listed: Vec<(&str, &str)> = admins["admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["number"].as_str().unwrap(), a["unit"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("3001", "x-m"), ("3002", "x-by")]);
    let (_, admins) = directory(&server, Some(&p.petra), json!({ "action": "admins" })).await;
    assert!(
        admins["admins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["number"] == "1001" && a["unit"] == "bv")
    );
    // Bea now administers Giesing: she sees its members in full.
    let (_, bea) = directory(
        &server,
        Some(&p.bea),
        json!({ "action": "profile", "number": "3001" }),
    )
    .await;
    assert_eq!(bea["member"]["email"], "bea@example.org");
    // Withdrawn again by Uwe.
    let (status, _) = directory(
        &server,
        Some(&p.uwe),
        json!({ "action": "set_admin", "number": "3001", "unit": "x-m", "admin": false }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = directory(&server, Some(&p.bea), json!({ "action": "admins" })).await;
    assert_eq!(status, 403);
}

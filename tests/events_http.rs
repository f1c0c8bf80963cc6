//! Congress administration over real HTTPS and WebSockets (`/api/org/events`): the
//! authorization matrix of every command for a member, a unit admin (own and other unit), a
//! party admin and someone not signed in; quotas per Landesverband; assigning by group, by
//! unit and one by one; invitations; revoking; a delegate who signs in, joins over the
//! WebSocket and shows as present in the attendance by unit; guests by link; and the
//! directory's "write"/"call" room.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use common::org::{self, People, member_token, setup};
use serde_json::{Value, json};

async fn events(server: &TestServer, cookie: Option<&str>, command: Value) -> (u16, Value) {
    org::command(server, cookie, "events", command).await
}

/// The answer of a command that must succeed.
async fn ok(server: &TestServer, cookie: &str, command: Value) -> Value {
    let (status, body) = events(server, Some(cookie), command).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The reason of a command that must be refused by the command itself.
async fn refused(server: &TestServer, cookie: &str, command: Value) -> String {
    let (status, body) = events(server, Some(cookie), command).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body["error"]["reason"].as_str().unwrap().to_owned()
}

/// A Bundesparteitag by the party admin, with an agenda.
async fn congress(server: &TestServer, p: &People) -> String {
    let created = ok(
        server,
        &p.petra,
        json!({
            "action": "create", "title": "Testparteitag", "kind": "congress",
            "unit": "bv", "starts_at": 1_800_000_000u64,
            "agenda": ["Eröffnung", "Anträge", "Wahlen"],
        }),
    )
    .await;
    created["room"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_events_command_by_every_kind_of_caller() {
    let server = TestServer::start();
    let p = setup(&server).await;
    let room = congress(&server, &p).await;
    // A Bavarian event of the Bavarian admin.
    let bavarian = ok(
        &server,
        &p.uwe,
        json!({ "action": "create", "title": "Landesparteitag", "kind": "congress" }),
    )
    .await["room"]
        .as_str()
        .unwrap()
        .to_owned();

    let commands = |room: &str| {
        [
            json!({ "action": "create", "title": "X", "kind": "board", "unit": "x-be" }),
            json!({ "action": "list" }),
            json!({ "action": "get", "room": room }),
            json!({ "action": "set_quotas", "room": room, "quotas": {} }),
            json!({ "action": "assign", "room": room, "role": "observer", "numbers": ["2002"] }),
            json!({ "action": "revoke", "room": room, "number": "2002" }),
            json!({ "action": "invitations", "room": room }),
            json!({ "action": "guest", "room": room, "name": "Presse", "role": "observer" }),
        ]
    };
    // Not signed in: 401; a member (Berta, Bea): 403, whatever the command.
    for command in commands(&room) {
        let (status, body) = events(&server, None, command.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("not_signed_in"))
        );
        for member in [&p.berta, &p.bea] {
            let (status, body) = events(&server, Some(member), command.clone()).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{command}"
            );
        }
    }
    // The Bavarian admin and the party's event: as if it did not exist; Berlin is outside.
    for command in commands(&room).into_iter().skip(2) {
        let reason = refused(&server, &p.uwe, command.clone()).await;
        assert_eq!(reason, "unknown_event", "{command}");
    }
    let reason = refused(&server, &p.uwe, commands(&room)[0].clone()).await;
    assert_eq!(reason, "outside_scope");
    let listed = ok(&server, &p.uwe, json!({ "action": "list" })).await;
    let rooms: Vec<&str> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["room"].as_str().unwrap())
        .collect();
    assert_eq!(rooms, [bavarian.as_str()]);
    // Within his own event, not beyond Bavaria's members.
    let reason = refused(
        &server,
        &p.uwe,
        json!({ "action": "assign", "room": bavarian, "role": "delegate", "numbers": ["2002"] }),
    )
    .await;
    assert_eq!(
        reason, "unknown_member",
        "Berlin's Bernd is not his to seat"
    );
    let done = ok(
        &server,
        &p.uwe,
        json!({ "action": "assign", "room": bavarian, "role": "delegate", "unit": "x-by" }),
    )
    .await;
    assert_eq!(done["added"], 2);
    // The party admin: every command on both events.
    for room in [&room, &bavarian] {
        for command in commands(room) {
            let (status, body) = events(&server, Some(&p.petra), command.clone()).await;
            assert_eq!(status, 200, "{command}: {body}");
        }
    }
    // Malformed: typed 400, nothing created.
    let (status, body) = events(
        &server,
        Some(&p.petra),
        json!({ "action": "create", "title": "Y" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    let reason = refused(
        &server,
        &p.petra,
        json!({ "action": "create", "title": "\u{7}", "kind": "open", "unit": "bv" }),
    )
    .await;
    assert_eq!(reason, "invalid");
    let listed = ok(&server, &p.petra, json!({ "action": "list" })).await;
    // The demo congress, ours, the Bavarian one, and the two board meetings of the matrix.
    assert_eq!(listed["events"].as_array().unwrap().len(), 5, "{listed}");
}

#[tokio::test]
async fn a_congress_is_set_up_by_quota_and_group_and_its_delegates_attend() {
    let server = TestServer::start();
    let p = setup(&server).await;
    let room = congress(&server, &p).await;
    let get = |room: String| {
        let server = &server;
        let petra = p.petra.clone();
        async move { ok(server, &petra, json!({ "action": "get", "room": room })).await }
    };
    let event = get(room.clone()).await;
    assert_eq!(event["kind"], "congress");
    assert_eq!(event["agenda"], json!(["Eröffnung", "Anträge", "Wahlen"]));

    // Seats: Spree (x-be) 1, Isar (x-by, with Giesing below) 1.
    ok(
        &server,
        &p.petra,
        json!({ "action": "set_quotas", "room": room, "quotas": { "x-be": 1, "x-by": 1 } }),
    )
    .await;
    // Two Berliners as delegates exceed Spree's one seat: refused, nobody seated.
    let reason = refused(
        &server,
        &p.petra,
        json!({ "action": "assign", "room": room, "role": "delegate", "numbers": ["2001", "2002"] }),
    )
    .await;
    assert_eq!(reason, "quota_full");
    assert_eq!(get(room.clone()).await["roster"], json!([]));
    // A delegate from outside any quota: refused.
    let reason = refused(
        &server,
        &p.petra,
        json!({ "action": "assign", "room": room, "role": "delegate", "numbers": ["1001"] }),
    )
    .await;
    assert_eq!(reason, "no_quota");
    // One each from two Landesverbände; the second Berliner as an observer (no seat needed).
    ok(&server, &p.petra, json!({ "action": "assign", "room": room, "role": "delegate", "numbers": ["2001", "3001"] })).await;
    ok(
        &server,
        &p.petra,
        json!({ "action": "assign", "room": room, "role": "observer", "numbers": ["2002"] }),
    )
    .await;
    // The board group as moderators; re-assigning is a no-op that says so.
    let done = ok(
        &server,
        &p.petra,
        json!({ "action": "assign", "room": room, "role": "moderator", "group": "Testvorstand" }),
    )
    .await;
    assert_eq!(done["added"], 1);
    let again = ok(
        &server,
        &p.petra,
        json!({ "action": "assign", "room": room, "role": "moderator", "group": "Testvorstand" }),
    )
    .await;
    assert_eq!(
        (again["added"].clone(), again["already"].clone()),
        (json!(0), json!(["1001"]))
    );
    // Lowering a quota below its seated delegates is refused.
    let reason = refused(
        &server,
        &p.petra,
        json!({ "action": "set_quotas", "room": room, "quotas": { "x-be": 0, "x-by": 1 } }),
    )
    .await;
    assert_eq!(reason, "quota_full");

    let event = get(room.clone()).await;
    let roster: Vec<(String, String, bool)> = event["roster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["number"].as_str().unwrap().to_owned(),
                s["role"].as_str().unwrap().to_owned(),
                s["activated"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        roster,
        [
            ("1001".into(), "moderator".into(), true),
            ("2001".into(), "delegate".into(), true),
            ("2002".into(), "observer".into(), false),
            ("3001".into(), "delegate".into(), true),
        ]
    );
    assert_eq!(
        event["quotas"],
        json!([
            { "unit": "x-be", "unit_name": "Landesverband Spree", "seats": 1, "taken": 1 },
            { "unit": "x-by", "unit_name": "Landesverband Isar", "seats": 1, "taken": 1 },
        ])
    );

    // Invitations: Bernd has no password: an activation link; the others: the sign-in page.
    let inv = ok(
        &server,
        &p.petra,
        json!({ "action": "invitations", "room": room }),
    )
    .await;
    let kinds: Vec<(&str, &str)> = inv["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["number"].as_str().unwrap(), i["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("1001", "sign_in"),
            ("2001", "sign_in"),
            ("2002", "activation"),
            ("3001", "sign_in")
        ]
    );
    let csv = inv["csv"].as_str().unwrap();
    assert!(
        csv.starts_with("number;name;unit;role;email;kind;link\n"),
        "{csv}"
    );
    assert!(
        csv.contains(
            "2002;Bernd Berlin;Landesverband Spree;observer;bernd@example.org;activation;https://"
        ),
        "{csv}"
    );

    // Bernd activates with his link and finds the congress on his start page.
    let link = inv["invitations"][2]["link"].as_str().unwrap();
    let secret = link.split("#token=").nth(1).unwrap();
    let r = org::activate(&server, secret, "Passwort-5678").await;
    assert_eq!(r.status, 200);
    let me: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(me["member"]["rooms"][0]["id"], room);

    // Berta joins over the WebSocket with a token from her session: present, by unit.
    let (status, token) = member_token(&server, &p.berta, &room).await;
    assert_eq!(status, 200);
    let (mut client, joined) = common::join(&server, token["token"].as_str().unwrap()).await;
    assert_eq!(joined["participant"]["role"], "delegate", "{joined}");
    let event = get(room.clone()).await;
    let present: Vec<&str> = event["roster"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["present"] == true)
        .map(|s| s["number"].as_str().unwrap())
        .collect();
    assert_eq!(present, ["2001"]);
    let attendance: Vec<(&str, u64, u64, u64)> = event["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["unit"].as_str().unwrap(),
                a["assigned"].as_u64().unwrap(),
                a["activated"].as_u64().unwrap(),
                a["present"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attendance,
        [("bv", 1, 1, 0), ("x-be", 2, 2, 1), ("x-by", 1, 1, 0)]
    );
    let listed = ok(&server, &p.petra, json!({ "action": "list" })).await;
    let ours = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["room"] == room.as_str())
        .unwrap();
    assert_eq!(
        (ours["assigned"].as_u64(), ours["present"].as_u64()),
        (Some(4), Some(1))
    );

    // Revoking Berta ends her session and takes the room off her start page.
    ok(
        &server,
        &p.petra,
        json!({ "action": "revoke", "room": room, "number": "2001" }),
    )
    .await;
    let closing = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.next_event("closing"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(closing["reason"], "revoked");
    let (status, _) = member_token(&server, &p.berta, &room).await;
    assert_eq!(status, 403);
    let reason = refused(
        &server,
        &p.petra,
        json!({ "action": "revoke", "room": room, "number": "2001" }),
    )
    .await;
    assert_eq!(reason, "not_on_roster");
    let event = get(room.clone()).await;
    assert_eq!(
        (
            event["present"].as_u64(),
            event["quotas"][0]["taken"].as_u64()
        ),
        (Some(0), Some(0))
    );
    // Her seat is free again: she can be seated anew.
    ok(
        &server,
        &p.petra,
        json!({ "action": "assign", "room": room, "role": "delegate", "numbers": ["2001"] }),
    )
    .await;
    assert_eq!(member_token(&server, &p.berta, &room).await.0, 200);

    // A guest by link (not a member): joins as an observer, counted apart from the roster.
    let guest = ok(
        &server,
        &p.petra,
        json!({ "action": "guest", "room": room, "name": "Presse", "role": "observer" }),
    )
    .await;
    let token = guest["link"]
        .as_str()
        .unwrap()
        .split("#token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let (_guest, joined) = common::join(&server, &token).await;
    assert_eq!(joined["participant"]["role"], "observer");
    assert_eq!(get(room.clone()).await["guests_present"], 1);
    let reason = refused(
        &server,
        &p.petra,
        json!({ "action": "guest", "room": room, "name": "X", "role": "delegate" }),
    )
    .await;
    assert_eq!(reason, "invalid");
}

#[tokio::test]
async fn write_and_call_open_one_room_of_two_members_who_can_see_each_other() {
    let server = TestServer::start();
    let p = setup(&server).await;
    let contact = |cookie: String, number: &'static str| {
        let server = &server;
        async move {
            org::command(
                server,
                Some(&cookie),
                "directory",
                json!({ "action": "contact", "number": number }),
            )
            .await
        }
    };
    // Berta and Bernd (both Spree): a room for the two of them, the same one again later.
    let (status, first) = contact(p.berta.clone(), "2002").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["created"], true);
    let (_, second) = contact(p.berta.clone(), "2002").await;
    assert_eq!(
        (second["room"].clone(), second["created"].clone()),
        (first["room"].clone(), json!(false))
    );
    let room = first["room"].as_str().unwrap();
    let (status, token) = member_token(&server, &p.berta, room).await;
    assert_eq!(status, 200);
    let (_c, joined) = common::join(&server, token["token"].as_str().unwrap()).await;
    assert_eq!(joined["room"]["name"], "Berta Berlin · Bernd Berlin");
    // It is no event an admin manages.
    let listed = ok(&server, &p.petra, json!({ "action": "list" })).await;
    assert!(
        listed["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["room"] != room)
    );
    // Uwe (Isar) cannot reach Berta (Spree, visible to her unit only), nor anyone himself.
    let (status, body) = contact(p.uwe.clone(), "2001").await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("not_found"))
    );
    let (_, body) = contact(p.uwe.clone(), "3002").await;
    assert_eq!(body["error"]["reason"], "invalid");
}

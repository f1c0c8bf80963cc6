//! GDPR erasure and retention against a real server, real SQLite and real sockets. A member
//! signs in (and fails once), is seated in a congress, joins it, chats, asks for the floor,
//! speaks and votes by name; then an admin erases them. Afterwards a dump of every table of
//! the database, the raw database files and the server's debug log hold no trace of their
//! name, e-mail address or member number (docs/privacy.md, *Erasure*, lists what remains:
//! pseudonymised entries only), while the speech, the chat message and the named vote
//! remain under the pseudonym. Retention: a member an import marked as left is erased by the
//! sweep, an account nobody uses is ended.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestServer;
use common::org::{self, post, setup, sign_in};
use serde_json::{Value, json};

/// The erased member: a name, address and number found nowhere else by chance.
const NUMBER: &str = "9876543210";
const FIRST: &str = "Gundula";
const LAST: &str = "Glasbrenner-Ypsilon";
const EMAIL: &str = "gundula.ypsilon@example.org";

fn import_gundula(server: &TestServer) {
    let csv = server.data_dir.join("gundula.csv");
    std::fs::write(
        &csv,
        // Berlin's whole list (an import within a unit replaces its list).
        format!(
            "Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail\n\
             2001;Berta;Berlin;x-be;berta@example.org\n\
             2002;Bernd;Berlin;x-be;bernd@example.org\n\
             {NUMBER};{FIRST};{LAST};x-be;{EMAIL}\n"
        ),
    )
    .unwrap();
    server.cli(&["member", "import", "--scope", "x-be", csv.to_str().unwrap()]);
}

async fn erase(server: &TestServer, cookie: &str, number: &str) -> (u16, Value) {
    let r = post(
        server,
        "/api/admin/erase",
        Some(cookie),
        "application/json",
        json!({ "number": number }).to_string().as_bytes(),
    )
    .await;
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

/// Every value of every table, one line per row (`table|value|value…`).
fn dump(db: &std::path::Path) -> String {
    let mut out = String::new();
    for (table, _, rows) in common::polls::dump_database(db) {
        for row in rows {
            out.push_str(&format!("{table}|{}\n", row.join("|")));
        }
    }
    out
}

fn traces(haystack: &str) -> Vec<&'static str> {
    let lower = haystack.to_lowercase();
    [FIRST, LAST, "glasbrenner", "ypsilon", EMAIL, NUMBER]
        .into_iter()
        .filter(|needle| lower.contains(&needle.to_lowercase()))
        .collect()
}

#[tokio::test]
async fn after_erasure_the_database_and_the_log_hold_no_trace_of_the_member() {
    let mut server = TestServer::start_logged();
    let p = setup(&server).await;
    import_gundula(&server);
    // A failed sign-in with her address, then her activation.
    let r = post(
        &server,
        "/api/account/login",
        None,
        "application/json",
        json!({ "login": EMAIL, "password": "falsch-falsch" })
            .to_string()
            .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 401);
    let gundula = sign_in(&server, NUMBER).await;

    // A congress with her as a delegate and Petra as the moderator.
    let (_, created) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({ "action": "create", "title": "Parteitag", "kind": "congress", "unit": "bv" }),
    )
    .await;
    let room = created["room"].as_str().unwrap().to_owned();
    for (number, role) in [(NUMBER, "delegate"), ("1001", "moderator")] {
        let (status, body) = org::command(
            &server,
            Some(&p.petra),
            "events",
            json!({ "action": "assign", "room": room, "role": role, "numbers": [number] }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (moderator, _) = org::enter(&server, &p.petra, &room).await;
    let (mut member, joined) = org::enter(&server, &gundula, &room).await;
    let me = joined["participant"]["id"].as_str().unwrap().to_owned();

    // She chats, speaks (the speech goes into the minutes' history) and votes by name.
    member.request("plugin", json!({ "ns": "chat", "body": { "action": "send", "text": "Guten Morgen allerseits" } })).await.unwrap();
    member.request("request_floor", json!({})).await.unwrap();
    moderator
        .request("queue_give_floor", json!({ "participant_id": me }))
        .await
        .unwrap();
    moderator
        .request("queue_end_floor", json!({}))
        .await
        .unwrap();
    let poll = common::polls::create(&moderator, common::polls::motion(false)).await;
    moderator
        .request("poll_open", json!({ "poll_id": poll }))
        .await
        .unwrap();
    common::polls::vote(&member, &poll, json!({ "vote": "yes" })).await;
    moderator
        .request("poll_close", json!({ "poll_id": poll }))
        .await
        .unwrap();

    // Her data export (Art. 15) has her speech and her chat message in that room.
    let cookie = format!("plenum_session={gundula}");
    let r = plenum_loadtest::server::https_request(
        &server.url,
        &server.ca_pem(),
        "GET",
        "/api/account/export",
        &[("Cookie", cookie.as_str())],
        b"",
    )
    .await
    .unwrap();
    let export: Value = serde_json::from_slice(&r.body).unwrap();
    let seat = export["rosters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room_id"] == room.as_str())
        .unwrap()
        .clone();
    assert_eq!(seat["speeches"].as_array().unwrap().len(), 1, "{seat}");
    assert_eq!(
        seat["plugins"]["chat"]["messages"][0]["text"], "Guten Morgen allerseits",
        "{seat}"
    );

    // Bad requests change nothing: a member cannot erase, an admin not outside their units,
    // nobody themself.
    let (status, _) = erase(&server, &p.berta, NUMBER).await;
    assert_eq!(status, 403);
    let (status, body) = erase(&server, &p.uwe, NUMBER).await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("not_found"))
    );
    let (status, body) = erase(&server, &p.petra, "1001").await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("self"))
    );

    // Petra erases her: her session ends at once.
    let (status, body) = erase(&server, &p.petra, NUMBER).await;
    assert_eq!(status, 200, "{body}");
    let pseudonym = body["pseudonym"].as_str().unwrap().to_owned();
    assert!(pseudonym.starts_with("Gelöschtes Mitglied "), "{pseudonym}");
    let closing = tokio::time::timeout(Duration::from_secs(10), member.next_event("closing"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closing["reason"], "revoked");
    let (status, _) = erase(&server, &p.petra, NUMBER).await;
    assert_eq!(status, 422, "gone");
    // Her session cookie signs nobody in any more.
    let r = common::org::post(
        &server,
        "/api/org/directory",
        Some(&gundula),
        "application/json",
        br#"{"action":"search"}"#,
    )
    .await;
    assert_eq!(r.status, 401);

    // The room keeps what the minutes need, under the pseudonym.
    let history = moderator.request("queue_history", json!({})).await.unwrap();
    let speakers: Vec<&str> = history["speeches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(speakers, [pseudonym.as_str()], "{history}");
    let chat = moderator
        .request(
            "plugin",
            json!({ "ns": "chat", "body": { "action": "history" } }),
        )
        .await
        .unwrap();
    let from: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from_name"].as_str().unwrap())
        .collect();
    assert_eq!(from, [pseudonym.as_str()], "{chat}");

    drop(moderator);
    server.terminate();
    let db = server.data_dir.join("plenum.db");
    let dumped = dump(&db);
    assert!(
        dumped.contains(&pseudonym),
        "the pseudonym stands in her place"
    );
    assert!(!dumped.contains(&format!("members|Text(\"{NUMBER}\")")));
    assert_eq!(traces(&dumped), Vec::<&str>::new(), "table dump:\n{dumped}");
    // The raw files: no freed page, no WAL frame still holds the old rows.
    for file in ["plenum.db", "plenum.db-wal"] {
        if let Ok(bytes) = std::fs::read(server.data_dir.join(file)) {
            assert_eq!(
                traces(&String::from_utf8_lossy(&bytes)),
                Vec::<&str>::new(),
                "{file}"
            );
        }
    }
    assert_eq!(traces(&server.log()), Vec::<&str>::new(), "the debug log");
    assert!(
        dumped
            .lines()
            .any(|l| l.starts_with("named_votes|") && l.contains(&me)),
        "the roll call keeps her vote under her participant id, which names the pseudonym"
    );
    assert!(
        dumped
            .lines()
            .any(|l| l.starts_with("invites|") && l.contains(&me) && l.contains(&pseudonym)),
        "{dumped}"
    );
}

#[tokio::test]
async fn the_retention_sweep_erases_members_who_left() {
    // Erase at the first sweep after leaving.
    let server = TestServer::restarted(
        false,
        &[
            ("PLENUM_RETENTION__LEFT_DAYS", "0"),
            ("PLENUM_RETENTION__INACTIVE_DAYS", "100000"),
            ("PLENUM_RETENTION__SWEEP_SECS", "1"),
        ],
    );
    let p = setup(&server).await;
    import_gundula(&server);
    let gundula = sign_in(&server, NUMBER).await;
    // Berlin's list without her: she left.
    let csv = server.data_dir.join("berlin.csv");
    std::fs::write(&csv, "Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail\n2001;Berta;Berlin;x-be;berta@example.org\n2002;Bernd;Berlin;x-be;bernd@example.org\n").unwrap();
    server.cli(&["member", "import", "--scope", "x-be", csv.to_str().unwrap()]);
    let profile = |cookie: String| {
        let server = &server;
        async move {
            org::command(
                server,
                Some(&cookie),
                "directory",
                json!({ "action": "profile", "number": NUMBER }),
            )
            .await
        }
    };
    let mut erased = false;
    for _ in 0..50 {
        let (_, body) = profile(p.petra.clone()).await;
        if body["error"]["reason"] == "not_found" {
            erased = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(erased, "the sweep erased the member who left");
    let r = post(
        &server,
        "/api/org/directory",
        Some(&gundula),
        "application/json",
        br#"{"action":"search"}"#,
    )
    .await;
    assert_eq!(r.status, 401);
    let dumped = dump(&server.data_dir.join("plenum.db"));
    assert_eq!(traces(&dumped), Vec::<&str>::new());
    // Berta is still there, and still signed in (her account is in use).
    let (status, _) = org::command(
        &server,
        Some(&p.berta),
        "directory",
        json!({ "action": "search" }),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_retention_sweep_ends_accounts_nobody_used_for_the_configured_days() {
    // Zero days: every account not used in this very second is ended at the next sweep.
    let server = TestServer::restarted(
        false,
        &[
            ("PLENUM_RETENTION__INACTIVE_DAYS", "0"),
            ("PLENUM_RETENTION__SWEEP_SECS", "1"),
        ],
    );
    let p = setup(&server).await;
    let mut ended = false;
    for _ in 0..50 {
        let (status, _) = org::command(
            &server,
            Some(&p.berta),
            "directory",
            json!({ "action": "search" }),
        )
        .await;
        if status == 401 {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ended, "her session ended with her account");
    let r = post(
        &server,
        "/api/account/login",
        None,
        "application/json",
        json!({ "login": "2001", "password": "Passwort-1234" })
            .to_string()
            .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 401, "the password is gone");
    // The member record stays: a new activation link opens the account again.
    let again = sign_in(&server, "2001").await;
    assert!(!again.is_empty());
}

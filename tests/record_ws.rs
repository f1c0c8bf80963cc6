//! The session record over real sockets: a whole session scripted over WebSockets — members
//! join (one leaves and comes back), the chair opens, calls agenda items, gives the floor to
//! three speakers and a point of order, runs a secret motion, a named election and a motion
//! that misses its quorum, and closes. The record read back from the database
//! (`record::session_record`, what the minutes are made of) says exactly that, and the secret
//! motion's section carries counts only.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestServer;
use common::org::{self, setup};
use common::polls::{create, vote};
use plenum_loadtest::SignalClient;
use serde_json::{Value, json};

async fn enter(server: &TestServer, cookie: &str, room: &str) -> (SignalClient, String) {
    let (client, joined) = org::enter(server, cookie, room).await;
    let id = joined["participant"]["id"].as_str().unwrap().to_owned();
    (client, id)
}

/// `speaker` asks for the floor with `kind`; the chair gives it to that entry and ends it.
async fn speak(chair: &SignalClient, speaker: &SignalClient, kind: &str) {
    let asked = speaker
        .request("request_floor", json!({ "kind": kind }))
        .await
        .unwrap();
    let entry = asked["entry"]["id"].as_u64().unwrap();
    chair
        .request("queue_give_floor", json!({ "entry_id": entry }))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    chair.request("queue_end_floor", json!({})).await.unwrap();
}

#[tokio::test]
async fn a_whole_session_is_in_the_record() {
    let mut server = TestServer::start();
    let p = setup(&server).await;
    let (_, created) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({
            "action": "create", "title": "Parteitag Nord", "kind": "congress", "unit": "bv",
            "agenda": ["Eröffnung", "Antrag A1", "Wahl der Schatzmeisterin"],
        }),
    )
    .await;
    let room = created["room"].as_str().unwrap().to_owned();
    for (numbers, role) in [
        (vec!["1001"], "moderator"),
        (vec!["2001", "2002", "3001", "3002"], "delegate"),
    ] {
        let (status, body) = org::command(
            &server,
            Some(&p.petra),
            "events",
            json!({ "action": "assign", "room": room, "role": role, "numbers": numbers }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let bernd = common::org::sign_in(&server, "2002").await;
    let (chair, _) = enter(&server, &p.petra, &room).await;
    let (berta, berta_id) = enter(&server, &p.berta, &room).await;
    let (bernd_c, _) = enter(&server, &bernd, &room).await;
    let (bea, bea_id) = enter(&server, &p.bea, &room).await;
    let (uwe, uwe_id) = enter(&server, &p.uwe, &room).await;
    // Bernd leaves and comes back.
    bernd_c.request("leave", json!({})).await.unwrap();
    drop(bernd_c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (bernd_c, _) = enter(&server, &bernd, &room).await;

    // Bad input first: nothing is recorded for it.
    common::expect_error(&chair, "agenda_call", json!({ "item": 0 }), "bad_request").await;
    common::expect_error(&berta, "session_open", json!({}), "forbidden").await;
    chair.request("session_open", json!({})).await.unwrap();
    common::expect_error(&chair, "session_open", json!({}), "bad_request").await;
    common::expect_error(&chair, "agenda_call", json!({ "item": 3 }), "not_found").await;

    chair
        .request("agenda_call", json!({ "item": 0 }))
        .await
        .unwrap();
    speak(&chair, &berta, "contribution").await;
    chair
        .request("agenda_call", json!({ "item": 1 }))
        .await
        .unwrap();
    // Bea takes the minutes (the grant from the chair); Berta may not.
    chair
        .request(
            "set_grants",
            json!({ "participant_id": bea_id, "minutes": true }),
        )
        .await
        .unwrap();
    let note = |text: &str, item: Option<u64>| json!({ "ns": "reports", "body": { "action": "note", "item": item, "text": text } });
    bea.request(
        "plugin",
        note(
            "Antrag A1 wird eingebracht; Aussprache mit „Für“ und „Gegen“.",
            Some(2),
        ),
    )
    .await
    .unwrap();
    common::expect_error(&berta, "plugin", note("Ich auch", None), "forbidden").await;
    chair
        .request("plugin", note("Die Versammlung ist beschlussfähig.", None))
        .await
        .unwrap();
    speak(&chair, &uwe, "point_of_order").await;
    speak(&chair, &bea, "pro").await;
    speak(&chair, &berta, "contra").await;

    // A secret motion: 3 yes, 1 no.
    let motion = create(
        &chair,
        json!({ "title": "Antrag A1: Mehr Bänke", "kind": "motion", "secret": true }),
    )
    .await;
    chair
        .request("poll_open", json!({ "poll_id": motion }))
        .await
        .unwrap();
    for (c, v) in [
        (&berta, "yes"),
        (&bernd_c, "yes"),
        (&bea, "yes"),
        (&uwe, "no"),
    ] {
        vote(c, &motion, json!({ "vote": v })).await;
    }
    chair
        .request("poll_close", json!({ "poll_id": motion }))
        .await
        .unwrap();
    chair
        .request("poll_publish", json!({ "poll_id": motion }))
        .await
        .unwrap();

    // A named election.
    chair
        .request("agenda_call", json!({ "item": 2 }))
        .await
        .unwrap();
    let election = create(
        &chair,
        json!({
            "title": "Wahl der Schatzmeisterin", "kind": "election", "secret": false,
            "candidates": ["Bea Bayer", "Berta Berlin"], "method": { "type": "choose", "k": 1 },
        }),
    )
    .await;
    chair
        .request("poll_open", json!({ "poll_id": election }))
        .await
        .unwrap();
    for (c, pick) in [(&berta, 1), (&bernd_c, 0), (&bea, 0), (&uwe, 0)] {
        vote(c, &election, json!({ "select": [pick] })).await;
    }
    chair
        .request("poll_close", json!({ "poll_id": election }))
        .await
        .unwrap();
    chair
        .request("poll_publish", json!({ "poll_id": election }))
        .await
        .unwrap();

    // A motion that misses its quorum (75 % of the voters; only 2 of 4 vote).
    let missed = create(&chair, json!({ "title": "Antrag A2", "kind": "motion", "secret": true, "quorum": { "of": "voters", "percent": 75 } })).await;
    chair
        .request("poll_open", json!({ "poll_id": missed }))
        .await
        .unwrap();
    vote(&berta, &missed, json!({ "vote": "yes" })).await;
    vote(&uwe, &missed, json!({ "vote": "yes" })).await;
    chair
        .request("poll_close", json!({ "poll_id": missed }))
        .await
        .unwrap();
    chair
        .request("poll_publish", json!({ "poll_id": missed }))
        .await
        .unwrap();
    chair.request("session_close", json!({})).await.unwrap();
    for c in [&berta, &bernd_c, &bea, &uwe, &chair] {
        c.request("leave", json!({})).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The minutes: only for admins over the event's unit.
    let get = |cookie: String, path: String| {
        let server = &server;
        async move {
            let c = format!("plenum_session={cookie}");
            plenum_loadtest::server::https_request(
                &server.url,
                &server.ca_pem(),
                "GET",
                &path,
                &[("Cookie", c.as_str())],
                b"",
            )
            .await
            .unwrap()
        }
    };
    let pdf_path = format!("/api/org/reports/download/minutes.pdf?room={room}");
    assert_eq!(
        get(p.bea.clone(), pdf_path.clone()).await.status,
        422,
        "a member: no draft"
    );
    let other = get(p.uwe.clone(), pdf_path.clone()).await;
    assert_eq!(other.status, 422, "an admin of another unit");
    let pdf = get(p.petra.clone(), pdf_path.clone()).await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    assert!(pdf.body.starts_with(b"%PDF-"));
    // Kept beside the test run for a look (target/…/minutes-record-ws.pdf).
    let text = common::pdf_text(&pdf.body, "minutes-record-ws.pdf", true);
    for needle in [
        "Protokoll: Parteitag Nord",
        "Seite 1 von",
        "Versammlungsleitung",
        "Petra Partei",
        "Bernd Berlin",
        "Landesverband Spree",
        "Eröffnung",
        "Wahl der Schatzmeisterin",
        "Geschäftsordnungsantrag",
        "Antrag „Antrag A1: Mehr Bänke“",
        "angenommen",
        "gewählt: Bea Bayer",
        "Beschlussfähigkeit nicht erreicht",
        "Namentliche Stimmabgabe",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} is not in the PDF:\n{text}"
        );
    }
    assert!(
        text.contains("Entwurf, nicht genehmigt") && text.contains("Antrag A1 wird eingebracht"),
        "{text}"
    );

    // Approval freezes the minutes; members on the roster download that version, not drafts.
    let (status, v1) = org::command(
        &server,
        Some(&p.petra),
        "reports",
        json!({ "action": "approve", "room": room }),
    )
    .await;
    assert_eq!(status, 200, "{v1}");
    assert_eq!(
        (v1["version"].as_u64(), v1["supersedes"].clone()),
        (Some(1), Value::Null)
    );
    let sha = v1["sha256"].as_str().unwrap().to_owned();
    // The adopted motion (A1; the other missed its quorum, the election is no motion) is in
    // the register, numbered for the congress of unit bv.
    let numbers = v1["register"].as_array().unwrap().clone();
    assert_eq!(numbers.len(), 1, "{v1}");
    let number = numbers[0].as_str().unwrap().to_owned();
    assert!(
        number.starts_with("PT-BV-") && number.ends_with("-001"),
        "{number}"
    );
    let frozen = get(
        p.berta.clone(),
        format!("/api/org/reports/download/record.json?room={room}&version=1"),
    )
    .await;
    assert_eq!(frozen.status, 200);
    assert_eq!(
        plenum_reports::sha256_hex(std::str::from_utf8(&frozen.body).unwrap()),
        sha,
        "the hash covers exactly that JSON"
    );
    let approved = get(p.berta.clone(), format!("{pdf_path}&version=1")).await;
    assert_eq!(approved.status, 200);
    let approved_text =
        common::pdf_text(&approved.body, "minutes-record-ws.pdf", false).replace('\n', " ");
    assert!(
        approved_text.contains("Fassung 1") && approved_text.contains(&sha),
        "{approved_text}"
    );
    // A correction is a new version naming the one it replaces; version 1 stays as it was.
    let (_, v2) = org::command(
        &server,
        Some(&p.petra),
        "reports",
        json!({ "action": "approve", "room": room }),
    )
    .await;
    assert_eq!(
        (v2["version"].as_u64(), v2["supersedes"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        v2["register"],
        json!([number]),
        "a correction keeps the number"
    );
    let (status, register) = org::command(
        &server,
        Some(&p.berta),
        "reports",
        json!({ "action": "register", "q": "bänke" }),
    )
    .await;
    assert_eq!(status, 200, "{register}");
    let entry = &register["entries"][0];
    assert_eq!(entry["number"], number.as_str());
    assert_eq!(entry["title"], "Antrag A1: Mehr Bänke");
    assert_eq!(
        entry["source"],
        json!({ "kind": "session", "room": room, "poll": entry["source"]["poll"], "minutes_version": 1 })
    );
    assert_eq!(register["entries"].as_array().unwrap().len(), 1);
    let (_, versions) = org::command(
        &server,
        Some(&p.petra),
        "reports",
        json!({ "action": "versions", "room": room }),
    )
    .await;
    assert_eq!(versions["versions"][0]["sha256"], sha.as_str());
    let again = get(
        p.berta.clone(),
        format!("/api/org/reports/download/record.json?room={room}&version=1"),
    )
    .await;
    assert_eq!(again.body, frozen.body);
    let (status, body) = org::command(
        &server,
        Some(&p.uwe),
        "reports",
        json!({ "action": "approve", "room": room }),
    )
    .await;
    // Uwe administers another unit and is a delegate here: not the chair.
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("not_chair"))
    );

    let html = get(
        p.petra.clone(),
        format!("/api/org/reports/download/minutes.html?room={room}&lang=en"),
    )
    .await;
    let html = String::from_utf8(html.body).unwrap();
    assert!(
        html.contains("<html lang=\"en\">")
            && html.contains("Minutes: Parteitag Nord")
            && html.contains("Point of order"),
        "{html}"
    );
    server.terminate();

    let store =
        plenum_signalling::storage::SqliteStore::open(&server.data_dir.join("plenum.db")).unwrap();
    let record = plenum_signalling::record::session_record(&store, &room)
        .unwrap()
        .unwrap();
    let r = serde_json::to_value(&record).unwrap();

    assert_eq!(
        (
            r["title"].as_str(),
            r["kind"].as_str(),
            r["unit_name"].as_str()
        ),
        (
            Some("Parteitag Nord"),
            Some("congress"),
            Some("Bundesverband")
        )
    );
    let opened = r["opened_at_ms"].as_u64().unwrap();
    let closed = r["closed_at_ms"].as_u64().unwrap();
    assert!(opened < closed);
    assert_eq!(r["chairs"], json!(["Petra Partei"]));
    // Attendance: everyone with role and Landesverband; Bernd twice.
    let attendance: Vec<(&str, &str, &str, usize)> = r["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap(),
                a["role"].as_str().unwrap(),
                a["region_name"].as_str().unwrap(),
                a["stays"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        attendance,
        [
            ("Petra Partei", "moderator", "Bundesverband", 1),
            ("Berta Berlin", "delegate", "Landesverband Spree", 1),
            ("Bernd Berlin", "delegate", "Landesverband Spree", 2),
            ("Bea Bayer", "delegate", "Landesverband Isar", 1),
            ("Uwe Unterholz", "delegate", "Landesverband Isar", 1),
        ]
    );
    for a in r["attendance"].as_array().unwrap() {
        for stay in a["stays"].as_array().unwrap() {
            assert!(
                stay[1].as_u64().unwrap() >= stay[0].as_u64().unwrap(),
                "every stay ended: {a}"
            );
        }
    }
    let bernd_stays = &r["attendance"][2]["stays"];
    assert!(
        bernd_stays[0][1].as_u64() <= bernd_stays[1][0].as_u64(),
        "left, then back"
    );
    // Agenda: each item called once, in order, within the session.
    let calls: Vec<(u64, &str, u64)> = r["agenda"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["number"].as_u64().unwrap(),
                i["title"].as_str().unwrap(),
                i["called_at_ms"][0].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        [
            (1, "Eröffnung"),
            (2, "Antrag A1"),
            (3, "Wahl der Schatzmeisterin")
        ]
    );
    assert!(
        opened <= calls[0].2
            && calls[0].2 <= calls[1].2
            && calls[1].2 <= calls[2].2
            && calls[2].2 <= closed
    );
    // Speeches with kind and agenda item.
    let speeches: Vec<(&str, &str, u64)> = r["speeches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["kind"].as_str().unwrap(),
                s["agenda_item"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        speeches,
        [
            ("Berta Berlin", "contribution", 1),
            ("Uwe Unterholz", "point_of_order", 2),
            ("Bea Bayer", "pro", 2),
            ("Berta Berlin", "contra", 2),
        ]
    );
    assert!(
        r["speeches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["duration_ms"].as_u64().unwrap() >= 20)
    );
    // Polls.
    let polls = r["polls"].as_array().unwrap();
    assert_eq!(polls.len(), 3);
    let secret = &polls[0];
    assert_eq!(
        (
            secret["spec"]["title"].as_str(),
            secret["state"].as_str(),
            secret["agenda_item"].as_u64()
        ),
        (Some("Antrag A1: Mehr Bänke"), Some("published"), Some(2))
    );
    assert_eq!(
        (
            secret["present_at_opening"].as_u64(),
            secret["eligible_voters"].as_u64(),
            secret["voted"].as_u64()
        ),
        (Some(5), Some(4), Some(4))
    );
    assert_eq!(
        secret["result"]["questions"][0]["counts"],
        json!({ "yes": 3, "no": 1, "abstain": 0 })
    );
    assert_eq!(secret["result"]["accepted"], true);
    assert_eq!(
        secret["roll_call"],
        Value::Null,
        "a secret poll has no roll call"
    );
    let text = serde_json::to_string(secret).unwrap();
    for id in [&berta_id, &bea_id, &uwe_id] {
        assert!(
            !text.contains(id.as_str()),
            "no voter in a secret poll's section"
        );
    }
    let named = &polls[1];
    assert_eq!(named["agenda_item"], 3);
    assert_eq!(named["result"]["elected"], json!([0]), "Bea Bayer");
    let mut roll: Vec<(String, Value)> = named["roll_call"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v["choice"].clone()))
        .collect();
    roll.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        roll,
        [
            ("Bea Bayer".to_owned(), json!({ "select": [0] })),
            ("Bernd Berlin".to_owned(), json!({ "select": [0] })),
            ("Berta Berlin".to_owned(), json!({ "select": [1] })),
            ("Uwe Unterholz".to_owned(), json!({ "select": [0] })),
        ]
    );
    let missed = &polls[2];
    assert_eq!(
        (
            missed["result"]["quorum_reached"].as_bool(),
            missed["result"]["accepted"].as_bool()
        ),
        (Some(false), Some(false))
    );
    assert_eq!(
        (missed["voted"].as_u64(), missed["eligible_voters"].as_u64()),
        (Some(2), Some(4))
    );
    assert!(closed >= missed["published_at_ms"].as_u64().unwrap());
}

#[tokio::test]
async fn the_chair_approves_a_delegate_does_not() {
    let server = TestServer::start();
    let p = setup(&server).await;
    let (_, created) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({ "action": "create", "title": "Vorstandssitzung Spree", "kind": "board", "unit": "x-be" }),
    )
    .await;
    let room = created["room"].as_str().unwrap().to_owned();
    for (number, role) in [("2001", "moderator"), ("2002", "delegate")] {
        org::command(
            &server,
            Some(&p.petra),
            "events",
            json!({ "action": "assign", "room": room, "role": role, "numbers": [number] }),
        )
        .await;
    }
    let bernd = common::org::sign_in(&server, "2002").await;
    // Berta chairs the room (no admin scope): she approves.
    let (status, body) = org::command(
        &server,
        Some(&p.berta),
        "reports",
        json!({ "action": "approve", "room": room }),
    )
    .await;
    assert_eq!((status, body["version"].as_u64()), (200, Some(1)), "{body}");
    // Bernd is a delegate there: refused; Bea is not seated at all: no such event for her.
    let (status, body) = org::command(
        &server,
        Some(&bernd),
        "reports",
        json!({ "action": "approve", "room": room }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("not_chair"))
    );
    let (status, body) = org::command(
        &server,
        Some(&p.bea),
        "reports",
        json!({ "action": "approve", "room": room }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("unknown_event"))
    );
    // Both find the approved version among the published minutes of their rooms.
    let (_, published) = org::command(
        &server,
        Some(&bernd),
        "reports",
        json!({ "action": "published" }),
    )
    .await;
    assert_eq!(published["rooms"][0]["room"], room.as_str());
    assert_eq!(published["rooms"][0]["versions"][0]["version"], 1);
}

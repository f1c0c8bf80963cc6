//! Circulations, the resolutions register and attachments over the server's real REST
//! routes: a vote survives a SIGKILL of the server and is not taken twice, the adopted motion
//! is in the register's CSV and PDF; a forged or oversize upload is refused, an attachment is
//! served only to the room's roster, byte for byte.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use common::org::{self, setup};
use plenum_loadtest::server::{HttpResponse, https_request};
use serde_json::{Value, json};

async fn get(server: &TestServer, cookie: Option<&str>, path: &str) -> HttpResponse {
    let c = cookie.map(|c| format!("plenum_session={c}"));
    let headers: Vec<(&str, &str)> = c.iter().map(|c| ("Cookie", c.as_str())).collect();
    https_request(&server.url, &server.ca_pem(), "GET", path, &headers, b"")
        .await
        .unwrap()
}

async fn vote(server: &TestServer, cookie: &str, id: &str, vote: &str) -> (u16, Value) {
    org::command(
        server,
        Some(cookie),
        "reports",
        json!({ "action": "circulation_vote", "id": id, "vote": vote }),
    )
    .await
}

fn reason(body: &Value) -> &str {
    body["error"]["reason"].as_str().unwrap_or("")
}

/// `pdftotext` of `bytes`, lines joined.
fn pdf_text(bytes: &[u8], name: &str) -> String {
    common::pdf_text(bytes, name, false).replace('\n', " ")
}

#[tokio::test]
async fn a_circulation_vote_survives_a_kill_and_the_adopted_motion_is_in_the_register() {
    let mut server = TestServer::start();
    let p = setup(&server).await;
    // Petra and Berta form the Testvorstand (a full import: everyone else unchanged).
    let csv = server.data_dir.join("board.csv");
    std::fs::write(
        &csv,
        "Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail;Gruppen\n\
         1001;Petra;Partei;bv;petra@example.org;Testvorstand\n\
         2001;Berta;Berlin;x-be;berta@example.org;Testvorstand\n\
         2002;Bernd;Berlin;x-be;bernd@example.org;\n\
         3001;Bea;Bayer;x-m;bea@example.org;\n\
         3002;Uwe;Unterholz;x-by;uwe@example.org;\n",
    )
    .unwrap();
    server.cli(&["member", "import", csv.to_str().unwrap()]);
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let circulate = json!({
        "action": "circulate", "title": "Haushalt „2028“ beschließen", "text": "Der Haushalt wird wie vorgelegt beschlossen.",
        "group": "Testvorstand", "body": "TeVo", "deadline_ms": now_ms + 3_600_000,
    });
    // Berta is no admin.
    let (status, _) = org::command(&server, Some(&p.berta), "reports", circulate.clone()).await;
    assert_eq!(status, 403);
    let (status, created) = org::command(&server, Some(&p.petra), "reports", circulate).await;
    assert_eq!(status, 200, "{created}");
    let id = created["circulation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["circulation"]["voters"].as_array().unwrap().len(),
        2
    );

    let (status, body) = vote(&server, &p.berta, &id, "yes").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["circulation"]["mine"], "yes");
    // Bea is not in the group: the circulation does not exist for her.
    let (status, body) = vote(&server, &p.bea, &id, "no").await;
    assert_eq!((status, reason(&body)), (422, "unknown_circulation"));

    // The vote was durable before its answer: SIGKILL, start again, it is there.
    server.restart();
    let (status, body) = vote(&server, &p.berta, &id, "no").await;
    assert_eq!((status, reason(&body)), (422, "already_voted"));
    let (_, list) = org::command(
        &server,
        Some(&p.petra),
        "reports",
        json!({ "action": "circulations" }),
    )
    .await;
    let c = &list["circulations"][0];
    assert_eq!(
        (c["voted"].clone(), c["outcome"].clone()),
        (json!(1), Value::Null)
    );
    let (status, body) = vote(&server, &p.petra, &id, "yes").await;
    assert_eq!(status, 200, "{body}");
    let outcome = &body["circulation"]["outcome"];
    assert_eq!(
        (outcome["state"].as_str(), outcome["why"].as_str()),
        (Some("adopted"), Some("all_voted"))
    );
    let number = body["circulation"]["number"].as_str().unwrap().to_owned();
    assert!(
        number.starts_with("TeVo-") && number.ends_with("-001"),
        "{number}"
    );

    // The register: searched, as CSV and as PDF.
    let (_, found) = org::command(
        &server,
        Some(&p.bea),
        "reports",
        json!({ "action": "register", "q": "haushalt 2028", "body": "TeVo" }),
    )
    .await;
    assert_eq!(found["entries"][0]["number"], number.as_str());
    let csv = get(
        &server,
        Some(&p.bea),
        "/api/org/reports/download/register.csv?q=haushalt",
    )
    .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv = String::from_utf8(csv.body).unwrap();
    assert!(
        csv.starts_with("\"Nummer\";\"Datum\";\"Gremium\"")
            && csv.contains(&format!("\"{number}\""))
            && csv.contains("\"Haushalt „2028“ beschließen\"")
            && csv.contains("Ja 2, Nein 0, Enthaltung 0"),
        "{csv}"
    );
    let none = get(
        &server,
        Some(&p.bea),
        "/api/org/reports/download/register.csv?q=satzung",
    )
    .await;
    assert_eq!(String::from_utf8(none.body).unwrap().lines().count(), 1);
    let pdf = get(
        &server,
        Some(&p.bea),
        "/api/org/reports/download/register.pdf?lang=en",
    )
    .await;
    assert_eq!(pdf.status, 200);
    let text = pdf_text(&pdf.body, "register.pdf");
    assert!(
        text.contains("Resolutions register")
            && text.contains(&number)
            && text.contains("beschließen")
            && text.contains("Page 1 of 1"),
        "{text}"
    );
    let anonymous = get(&server, None, "/api/org/reports/download/register.csv").await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn attachments_are_pdf_by_content_within_the_limit_and_only_for_the_roster() {
    let server = TestServer::start();
    let p = setup(&server).await;
    let (_, created) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({
            "action": "create", "title": "Bundesparteitag", "kind": "congress", "unit": "bv",
            "agenda": ["Bericht des Vorstands", "Kassenbericht"],
        }),
    )
    .await;
    let room = created["room"].as_str().unwrap().to_owned();
    let (status, _) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({ "action": "assign", "room": room, "role": "delegate", "numbers": ["2001"] }),
    )
    .await;
    assert_eq!(status, 200);

    let upload = |cookie: String, query: String, body: Vec<u8>| {
        let server = &server;
        let room = room.clone();
        async move {
            let r = org::post(
                server,
                &format!("/api/org/reports/upload/attachment?room={room}&{query}"),
                Some(&cookie),
                "application/pdf",
                &body,
            )
            .await;
            let answer: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (r.status, answer)
        }
    };
    // A real PDF (the reports plugin's own writer), the treasurer's report.
    let report = plenum_reports::pdf::render(&plenum_reports::doc::Doc {
        title: "Kassenbericht 2027".into(),
        lang: plenum_reports::Lang::De,
        blocks: vec![plenum_reports::doc::Block::Paragraph(
            "Einnahmen und Ausgaben des Bundesverbands.".into(),
        )],
    })
    .unwrap();

    // Forged: an HTML page with a .pdf name and a PDF content type.
    let (status, body) = upload(
        p.petra.clone(),
        "item=2&name=kassenbericht.pdf".into(),
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await;
    assert_eq!((status, reason(&body)), (422, "not_pdf"));
    // Oversize: over the plugin's 10 MiB, and over the host's 16 MiB.
    let mut big = report.clone();
    big.splice(
        report.len() - 6..report.len() - 6,
        vec![b' '; 10 * 1024 * 1024],
    );
    let (status, body) = upload(p.petra.clone(), "item=2&name=gross.pdf".into(), big).await;
    assert_eq!((status, reason(&body)), (422, "too_large"));
    // The host answers 413 from the Content-Length and closes without reading the body, so
    // the client either reads the 413 or finds the connection closed while still writing.
    let cookie = format!("plenum_session={}", p.petra);
    let huge = https_request(
        &server.url,
        &server.ca_pem(),
        "POST",
        &format!("/api/org/reports/upload/attachment?room={room}&name=riesig.pdf"),
        &[("Content-Type", "application/pdf"), ("Cookie", &cookie)],
        &vec![b'%'; 17 * 1024 * 1024],
    )
    .await;
    match huge {
        Ok(r) => assert_eq!(r.status, 413),
        Err(e) => assert!(
            e.contains("Broken pipe") || e.contains("reset"),
            "refused by closing: {e}"
        ),
    }
    let (status, body) = upload(p.petra.clone(), "item=3&name=x.pdf".into(), report.clone()).await;
    assert_eq!((status, reason(&body)), (422, "unknown_item"));
    // A delegate is not the chair.
    let (status, body) = upload(p.berta.clone(), "item=2&name=x.pdf".into(), report.clone()).await;
    assert_eq!((status, reason(&body)), (422, "not_chair"));
    let list = |cookie: String| {
        let server = &server;
        let room = room.clone();
        async move {
            org::command(
                server,
                Some(&cookie),
                "reports",
                json!({ "action": "attachments", "room": room }),
            )
            .await
        }
    };
    let (_, before) = list(p.petra.clone()).await;
    assert_eq!(
        before["attachments"],
        json!([]),
        "refused uploads stored nothing"
    );

    let (status, body) = upload(
        p.petra.clone(),
        "item=2&name=Kassenbericht%202027.pdf".into(),
        report.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let att = &body["attachment"];
    assert_eq!(
        (att["name"].as_str(), att["item"].as_u64()),
        (Some("Kassenbericht 2027.pdf"), Some(2))
    );
    let id = att["id"].as_str().unwrap().to_owned();

    // Berta is on the roster: she lists and downloads it, byte for byte.
    let (status, listed) = list(p.berta.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(listed["attachments"][0]["id"], id.as_str());
    assert_eq!(listed["agenda"][1], "Kassenbericht");
    assert_eq!(listed["may_edit"], false);
    let path = format!("/api/org/reports/download/attachment.pdf?room={room}&id={id}");
    let file = get(&server, Some(&p.berta), &path).await;
    assert_eq!(file.status, 200);
    assert_eq!(file.header("content-type"), Some("application/pdf"));
    assert!(
        file.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "{:?}",
        file.header("content-disposition")
    );
    assert_eq!(file.body, report);
    assert!(pdf_text(&file.body, "attachment.pdf").contains("Einnahmen und Ausgaben"));
    // Bea is not on the roster, Uwe administers another unit; nobody without a session.
    for cookie in [&p.bea, &p.uwe] {
        let r = get(&server, Some(cookie), &path).await;
        assert_eq!(r.status, 422);
        let (status, body) = list(cookie.clone()).await;
        assert_eq!((status, reason(&body)), (422, "unknown_event"));
    }
    assert_eq!(get(&server, None, &path).await.status, 401);

    // The minutes list it with its hash; approving freezes that list.
    let minutes = get(
        &server,
        Some(&p.petra),
        &format!("/api/org/reports/download/minutes.pdf?room={room}"),
    )
    .await;
    let text = pdf_text(&minutes.body, "minutes-attachments.pdf");
    let sha = att["sha256"].as_str().unwrap();
    assert!(
        text.contains("Anlagen")
            && text.contains("TOP 2 (Kassenbericht): Kassenbericht 2027.pdf")
            && text.contains(sha),
        "{text}"
    );
    let (status, approved) = org::command(
        &server,
        Some(&p.petra),
        "reports",
        json!({ "action": "approve", "room": room }),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    let frozen = get(
        &server,
        Some(&p.berta),
        &format!("/api/org/reports/download/record.json?room={room}&version=1"),
    )
    .await;
    let frozen: Value = serde_json::from_slice(&frozen.body).unwrap();
    assert_eq!(frozen["attachments"][0]["sha256"], sha);

    // Deleting: not by a delegate; by the admin, and then it is gone.
    let delete = |cookie: String| {
        let server = &server;
        let room = room.clone();
        let id = id.clone();
        async move {
            org::command(
                server,
                Some(&cookie),
                "reports",
                json!({ "action": "delete_attachment", "room": room, "id": id }),
            )
            .await
        }
    };
    let (status, body) = delete(p.berta.clone()).await;
    assert_eq!((status, reason(&body)), (422, "not_chair"));
    let (status, _) = delete(p.petra.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(get(&server, Some(&p.berta), &path).await.status, 422);
}

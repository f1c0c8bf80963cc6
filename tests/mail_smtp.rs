//! Mail over real SMTP on loopback: the server (`[mail] url = smtp://127.0.0.1:PORT`) mails
//! an event's invitations — an activation link to a member without a password, the sign-in
//! page to one with — and, on "forgot the password", a new activation link; the mailed links
//! work. The receiving end is a minimal SMTP server in this test, which records envelope and
//! message. A reset for nobody answers the same and mails nothing; a flood of resets is cut.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestServer;
use common::org::{self, post, setup};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// A mail as received: the envelope recipients and the message (headers and body).
#[derive(Debug)]
struct Received {
    to: Vec<String>,
    message: String,
}

/// An SMTP server on 127.0.0.1 that accepts every mail; its port and the mails it got.
async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut message = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            message.push_str(l.strip_prefix('.').unwrap_or(&l));
                            message.push('\n');
                        }
                        let _ = tx.send(Received {
                            to: std::mem::take(&mut to),
                            message: decoded(&message),
                        });
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// The message with a quoted-printable body decoded (as a mail program shows it).
fn decoded(message: &str) -> String {
    let Some((head, body)) = message.split_once("\n\n") else {
        return message.to_owned();
    };
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return message.to_owned();
    }
    let body = quoted_printable::decode(
        body.replace('\n', "\r\n"),
        quoted_printable::ParseMode::Strict,
    )
    .unwrap();
    format!("{head}\n\n{}", String::from_utf8(body).unwrap())
}

async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a mail within 10 s")
        .unwrap()
}

fn link_in(message: &str) -> String {
    message
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap()
        .to_owned()
}

async fn reset(server: &TestServer, login: &str) -> (u16, Value) {
    let r = post(
        server,
        "/api/account/reset",
        None,
        "application/json",
        json!({ "login": login }).to_string().as_bytes(),
    )
    .await;
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

#[tokio::test]
async fn invitations_and_password_resets_are_mailed_and_their_links_work() {
    let (port, mut mails) = smtp_sink().await;
    let url = format!("smtp://127.0.0.1:{port}");
    let server = TestServer::restarted(
        false,
        &[
            ("PLENUM_MAIL__URL", url.as_str()),
            ("PLENUM_MAIL__FROM", "Plenum <plenum@example.org>"),
        ],
    );
    let p = setup(&server).await;
    let (_, created) = org::command(&server, Some(&p.petra), "events", json!({ "action": "create", "title": "Landesparteitag Spree", "kind": "congress", "unit": "x-be" })).await;
    let room = created["room"].as_str().unwrap().to_owned();
    org::command(&server, Some(&p.petra), "events", json!({ "action": "assign", "room": room, "role": "delegate", "numbers": ["2001", "2002"] })).await;

    let (status, sent) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({ "action": "invitations", "room": room, "send": true }),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        (sent["sent"].as_u64(), sent["failed"].as_u64()),
        (Some(2), Some(0)),
        "{sent}"
    );
    let mut got = vec![next_mail(&mut mails).await, next_mail(&mut mails).await];
    // Berta first, then Bernd.
    got.sort_by_key(|m| m.to != ["berta@example.org"]);
    assert_eq!(got[0].to, ["berta@example.org"]);
    assert_eq!(got[1].to, ["bernd@example.org"]);
    for m in &got {
        assert!(
            m.message
                .contains("Subject: Einladung: Landesparteitag Spree"),
            "{}",
            m.message
        );
        assert!(
            m.message.contains("From: Plenum <plenum@example.org>"),
            "{}",
            m.message
        );
    }
    // Berta has a password: the sign-in page. Bernd has none: an activation link that works.
    assert!(
        got[0].message.contains("Hallo Berta Berlin"),
        "{}",
        got[0].message
    );
    assert!(!link_in(&got[0].message).contains("/activate"));
    let link = link_in(&got[1].message);
    let secret = link.split("#token=").nth(1).unwrap();
    let r = org::activate(&server, secret, "Bernds-Passwort-1").await;
    assert_eq!(r.status, 200);
    let me: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(me["member"]["rooms"][0]["id"], room.as_str());

    // Forgot the password: a new link by mail; it sets a new password.
    let (status, body) = reset(&server, "BERTA@example.org").await;
    assert_eq!((status, body.clone()), (200, json!({ "requested": true })));
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.to, ["berta@example.org"]);
    assert!(
        mail.message.contains("Subject: Ihr Zugang zu Plenum"),
        "{}",
        mail.message
    );
    let secret = link_in(&mail.message)
        .split("#token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let r = org::activate(&server, &secret, "Neues-Passwort-2").await;
    assert_eq!(r.status, 200);
    let (status, _) = org::command(
        &server,
        Some(&p.berta),
        "directory",
        json!({ "action": "search" }),
    )
    .await;
    assert_eq!(status, 401, "the reset ended her other sessions");

    // A login nobody has: the same answer, no mail.
    assert_eq!(
        reset(&server, "niemand@example.org").await,
        (200, json!({ "requested": true }))
    );
    // Three resets for Bernd are mailed; a fourth within the hour is not.
    for _ in 0..4 {
        assert_eq!(reset(&server, "2002").await.0, 200);
    }
    for _ in 0..3 {
        assert_eq!(next_mail(&mut mails).await.to, ["bernd@example.org"]);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        mails.try_recv().is_err(),
        "no mail for nobody, none beyond the third reset"
    );
}

#[tokio::test]
async fn without_a_mail_server_sending_is_refused_and_the_download_still_works() {
    let server = TestServer::start();
    let p = setup(&server).await;
    let (_, created) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({ "action": "create", "title": "Vorstand", "kind": "board", "unit": "bv" }),
    )
    .await;
    let room = created["room"].as_str().unwrap().to_owned();
    let (status, body) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({ "action": "invitations", "room": room, "send": true }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("no_mail"))
    );
    let (status, _) = org::command(
        &server,
        Some(&p.petra),
        "events",
        json!({ "action": "invitations", "room": room }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = org::command(
        &server,
        Some(&p.petra),
        "directory",
        json!({ "action": "activation_links", "send": true }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("no_mail"))
    );
    let (status, body) = reset(&server, "2001").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("no_mail"))
    );
}

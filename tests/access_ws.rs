//! Access over real sockets against a running `plenum` (issue 12, items 8, 16, 17, 18):
//! revoking invites (moderator command and CLI) ends the live session and refuses the
//! token; moderators hear when a session is taken over; the first start's links go to an
//! owner-only file when stdout is no terminal; security headers, HSTS for public names, and
//! `/metrics` behind its token; CLI links use the running server's URL.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestServer, expect_error, join};
use plenum_loadtest::SignalClient;
use plenum_loadtest::server::https_request;
use serde_json::{Value, json};

async fn closing_reason(c: &mut SignalClient) -> Value {
    tokio::time::timeout(Duration::from_secs(8), c.next_event("closing"))
        .await
        .expect("closed in time")
        .expect("a closing event")["reason"]
        .clone()
}

async fn join_error(server: &TestServer, token: &str) -> String {
    let c = SignalClient::connect(&server.url, &server.url, Some(&server.ca_pem()))
        .await
        .unwrap();
    let answer = c
        .request_raw("join", json!({ "protocol": 1, "token": token }))
        .await
        .unwrap();
    answer["error"]["code"].as_str().unwrap_or("ok").to_owned()
}

#[tokio::test]
async fn a_revoked_invite_ends_its_session_and_admits_nobody() {
    let server = TestServer::start();
    let (mut m, _) = join(&server, &server.token(0)).await;
    let (a, _) = join(&server, &server.token(1)).await;
    let (mut b, b_joined) = join(&server, &server.token(2)).await;
    let b_id = b_joined["participant"]["id"].as_str().unwrap().to_owned();
    let co_chair = server.invite("Zweite Moderation", "moderator", &[]);
    let (_co, co_joined) = join(&server, &co_chair).await;

    // Only moderators see and revoke invites; a moderator's invite needs an admin.
    expect_error(&a, "invite_list", json!({}), "forbidden").await;
    expect_error(
        &a,
        "invite_revoke",
        json!({ "participant_id": b_id }),
        "forbidden",
    )
    .await;
    let co_id = co_joined["participant"]["id"].clone();
    expect_error(
        &m,
        "invite_revoke",
        json!({ "participant_id": co_id }),
        "forbidden",
    )
    .await;
    expect_error(
        &m,
        "invite_revoke",
        json!({ "invite_id": "i-nope" }),
        "not_found",
    )
    .await;
    let list = m.request("invite_list", json!({})).await.unwrap();
    let entry = list["invites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["participant_id"] == b_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        (entry["present"].as_bool(), entry["revoked"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(entry.get("token").is_none(), "no tokens in the list");

    // A second device takes the session over: the moderators hear of it.
    let (_b2, _) = join(&server, &server.token(2)).await;
    assert_eq!(closing_reason(&mut b).await, "replaced");
    let ev = tokio::time::timeout(Duration::from_secs(5), m.next_event("session_replaced"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev["participant_id"], b_id.as_str());

    // Revoked by the moderator: the session ends, the token admits nobody.
    let (mut b3, _) = join(&server, &server.token(2)).await;
    m.request("invite_revoke", json!({ "participant_id": b_id }))
        .await
        .unwrap();
    assert_eq!(closing_reason(&mut b3).await, "revoked");
    assert_eq!(join_error(&server, &server.token(2)).await, "invalid_token");
    expect_error(
        &m,
        "invite_revoke",
        json!({ "invite_id": entry["invite_id"] }),
        "bad_request",
    )
    .await;

    // Revoked with the CLI: the running server ends the session within seconds.
    let c_token = server.invite("Delegierte C", "delegate", &[]);
    let (mut c, _) = join(&server, &c_token).await;
    let listed = server.cli(&["invite", "list", "--room", "demo"]);
    let id = listed
        .lines()
        .find(|l| l.ends_with("Delegierte C"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_owned();
    assert!(!listed.contains("eyJ"), "no tokens listed");
    assert!(
        server
            .cli(&["invite", "revoke", "--id", &id])
            .contains("revoked")
    );
    assert_eq!(closing_reason(&mut c).await, "revoked");
    assert_eq!(join_error(&server, &c_token).await, "invalid_token");
    drop(a);
}

#[test]
fn without_a_terminal_the_first_start_writes_its_links_to_an_owner_only_file() {
    let dir = std::env::temp_dir().join(format!("plenum-links-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_plenum"))
        .args([
            "serve",
            "--http-bind",
            "127.0.0.1:0",
            "--media-bind",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&dir)
        .env("PLENUM_LOG__FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.starts_with("plenum: demo links");
        printed.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // What the server said on stderr (warnings and errors only), for a failure's message.
    let mut said = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut said);
    }
    let out = printed.join("\n");
    assert!(!out.contains("#token="), "no token on stdout: {out}");
    let file = dir.join("demo-links.txt");
    assert!(
        out.contains(&file.display().to_string()),
        "stdout: {out}\nstderr: {said}"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let links = std::fs::read_to_string(&file).unwrap();
    assert_eq!(links.matches("/join#token=").count(), 3);
    assert_eq!(links.matches("/activate#token=").count(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn headers_hsts_and_metrics_behind_a_token() {
    let local = TestServer::start();
    let get = |server: &TestServer, path: &'static str, auth: Option<String>| {
        let url = server.url.clone();
        let ca = server.ca_pem();
        async move {
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| ("Authorization", a))
                .into_iter()
                .collect();
            https_request(&url, &ca, "GET", path, &headers, b"")
                .await
                .unwrap()
        }
    };
    let page = get(&local, "/", None).await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert!(
        page.header("strict-transport-security").is_none(),
        "no HSTS for localhost"
    );

    // /metrics: nothing without the token, the counters with it.
    assert_eq!(get(&local, "/metrics", None).await.status, 401);
    assert_eq!(
        get(&local, "/metrics", Some("Bearer wrong".into()))
            .await
            .status,
        401
    );
    let ok = get(
        &local,
        "/metrics",
        Some(format!("Bearer {}", local.metrics_token())),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("plenum_"));

    // Served under a public name: HSTS on every answer.
    let public =
        TestServer::start_with_env(&[("PLENUM_HTTP__PUBLIC_URL", "https://parteitag.example.org")]);
    let page = get(&public, "/healthz", None).await;
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000")
    );
}

#[test]
fn cli_links_use_the_running_servers_url_and_the_help_names_every_role() {
    let server = TestServer::start();
    let link = server.cli(&["invite", "--name", "Gast", "--role", "guest_speaker"]);
    assert!(
        link.starts_with(&format!("{}/join#token=", server.url)),
        "{link}"
    );
    let help = server.cli(&["invite", "--help"]);
    for role in [
        "admin",
        "moderator",
        "delegate",
        "guest_speaker",
        "observer",
    ] {
        assert!(help.contains(role), "{role} missing in: {help}");
    }
}

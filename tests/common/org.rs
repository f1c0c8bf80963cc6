//! The organisation of the HTTP tests: signed-in members with admin scopes, over the
//! server's real REST routes.

use plenum_loadtest::server::{HttpResponse, https_request};
use serde_json::Value;

use super::TestServer;

/// POST `body` to `path`, with the session cookie if given.
pub async fn post(
    server: &TestServer,
    path: &str,
    cookie: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> HttpResponse {
    let cookie = cookie.map(|c| format!("plenum_session={c}"));
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(c) = &cookie {
        headers.push(("Cookie", c.as_str()));
    }
    https_request(&server.url, &server.ca_pem(), "POST", path, &headers, body)
        .await
        .unwrap()
}

/// An organisation-wide command of namespace `ns`: (status, answer).
pub async fn command(
    server: &TestServer,
    cookie: Option<&str>,
    ns: &str,
    command: Value,
) -> (u16, Value) {
    let r = post(
        server,
        &format!("/api/org/{ns}"),
        cookie,
        "application/json",
        command.to_string().as_bytes(),
    )
    .await;
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

/// Set a password with an activation link's `secret` (`POST /api/account/activate`).
pub async fn activate(server: &TestServer, secret: &str, password: &str) -> HttpResponse {
    let body = serde_json::json!({ "token": secret, "password": password }).to_string();
    post(
        server,
        "/api/account/activate",
        None,
        "application/json",
        body.as_bytes(),
    )
    .await
}

/// A member's access token to `room`, fetched with their session: (status, answer).
pub async fn member_token(server: &TestServer, cookie: &str, room: &str) -> (u16, Value) {
    let r = post(
        server,
        &format!("/api/account/rooms/{room}/token"),
        Some(cookie),
        "application/json",
        b"{}",
    )
    .await;
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

/// A member enters `room` over the WebSocket: the client and its join result.
pub async fn enter(
    server: &TestServer,
    cookie: &str,
    room: &str,
) -> (plenum_loadtest::SignalClient, Value) {
    let (status, token) = member_token(server, cookie, room).await;
    assert_eq!(status, 200, "{token}");
    super::join(server, token["token"].as_str().unwrap()).await
}

/// A signed-in member's session secret.
pub async fn sign_in(server: &TestServer, number: &str) -> String {
    let link = server.cli(&["member", "activation", "--number", number]);
    let token = link.trim().split("#token=").nth(1).unwrap().to_owned();
    let r = activate(server, &token, "Passwort-1234").await;
    assert_eq!(r.status, 200);
    let set = r.header("set-cookie").unwrap();
    set.split(';')
        .next()
        .unwrap()
        .trim_start_matches("plenum_session=")
        .to_owned()
}

/// Members of the test organisation (session secrets): Berta (member, x-be), Uwe (admin of
/// x-by), Petra (party admin), Bea (member, x-m below x-by).
pub struct People {
    pub berta: String,
    pub uwe: String,
    pub petra: String,
    pub bea: String,
}

/// Units x-be, x-by and x-m (below x-by) beside the demo's, five members, two admins.
pub async fn setup(server: &TestServer) -> People {
    for args in [
        // Beside the demo organisation's units (the first start created them), under its root.
        vec![
            "unit",
            "put",
            "--id",
            "x-be",
            "--name",
            "Landesverband Spree",
            "--parent",
            "bv",
        ],
        vec![
            "unit",
            "put",
            "--id",
            "x-by",
            "--name",
            "Landesverband Isar",
            "--parent",
            "bv",
        ],
        vec![
            "unit",
            "put",
            "--id",
            "x-m",
            "--name",
            "Kreisverband Giesing",
            "--parent",
            "x-by",
        ],
    ] {
        server.cli(&args);
    }
    let csv = server.data_dir.join("m.csv");
    std::fs::write(
        &csv,
        "Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail;Gruppen\n\
         1001;Petra;Partei;bv;petra@example.org;Testvorstand\n\
         2001;Berta;Berlin;x-be;berta@example.org;\n\
         2002;Bernd;Berlin;x-be;bernd@example.org;\n\
         3001;Bea;Bayer;x-m;bea@example.org;\n\
         3002;Uwe;Unterholz;x-by;uwe@example.org;\n",
    )
    .unwrap();
    server.cli(&["member", "import", csv.to_str().unwrap()]);
    server.cli(&["member", "admin", "--number", "1001", "--unit", "bv"]);
    server.cli(&["member", "admin", "--number", "3002", "--unit", "x-by"]);
    People {
        berta: sign_in(server, "2001").await,
        uwe: sign_in(server, "3002").await,
        petra: sign_in(server, "1001").await,
        bea: sign_in(server, "3001").await,
    }
}

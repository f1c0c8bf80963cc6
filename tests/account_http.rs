//! Member sign-in over real HTTPS against a running `plenum`: units and members created with
//! the CLI from a CSV file, activation links (single use), session cookies and their flags,
//! the slow-down after failed attempts, rotation on sign-in, sign-out everywhere, and typed
//! refusals. The log names no login and no e-mail address.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use plenum_loadtest::server::{HttpResponse, https_request};
use serde_json::{Value, json};

/// Units, two members, and an activation link for each: their secrets.
fn organisation(server: &TestServer) -> (String, String) {
    server.cli(&["unit", "put", "--id", "bv", "--name", "Bundesverband"]);
    server.cli(&[
        "unit",
        "put",
        "--id",
        "lv-be",
        "--name",
        "Landesverband Berlin",
        "--parent",
        "bv",
    ]);
    let csv = server.data_dir.join("mitglieder.csv");
    std::fs::write(
        &csv,
        "Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail\n\
         1001;Erika;Mustermann;lv-be;erika@example.org\n\
         1002;Max;Mustermann;Landesverband Berlin;max@example.org\n",
    )
    .unwrap();
    let out = server.cli(&["member", "import", csv.to_str().unwrap()]);
    assert!(out.contains("2 new"), "{out}");
    let link = |n: &str| {
        let out = server.cli(&["member", "activation", "--number", n]);
        assert!(out.contains("/activate#token="), "{out}");
        out.trim().split("#token=").nth(1).unwrap().to_owned()
    };
    (link("1001"), link("1002"))
}

async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> HttpResponse {
    let cookie_header = cookie.map(|c| format!("plenum_session={c}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(c) = &cookie_header {
        headers.push(("Cookie", c.as_str()));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    https_request(
        &server.url,
        &server.ca_pem(),
        method,
        path,
        &headers,
        body.as_bytes(),
    )
    .await
    .unwrap()
}

fn json_of(resp: &HttpResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap()
}

fn code_of(resp: &HttpResponse) -> String {
    json_of(resp)["error"]["code"].as_str().unwrap().to_owned()
}

/// The session secret a response sets.
fn cookie_of(resp: &HttpResponse) -> String {
    let set = resp.header("set-cookie").unwrap();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    set.split(';')
        .next()
        .unwrap()
        .strip_prefix("plenum_session=")
        .unwrap()
        .to_owned()
}

async fn login(server: &TestServer, login: &str, password: &str) -> HttpResponse {
    call(
        server,
        "POST",
        "/api/account/login",
        None,
        Some(json!({ "login": login, "password": password })),
    )
    .await
}

#[tokio::test]
async fn a_member_activates_signs_in_and_signs_out_everywhere() {
    let server = TestServer::start_logged();
    let (erika_link, max_link) = organisation(&server);

    // Activation: the password rule, then one use only.
    let activate = |token: &str, password: &str| {
        call(
            &server,
            "POST",
            "/api/account/activate",
            None,
            Some(json!({ "token": token, "password": password })),
        )
    };
    let short = activate(&erika_link, "kurz").await;
    assert_eq!(
        (short.status, code_of(&short)),
        (400, "weak_password".into())
    );
    let ok = activate(&erika_link, "Sonnenblume-2027").await;
    assert_eq!(ok.status, 200);
    assert_eq!(json_of(&ok)["member"]["number"], "1001");
    let first = cookie_of(&ok);
    let again = activate(&erika_link, "Sonnenblume-2028").await;
    assert_eq!(
        (again.status, code_of(&again)),
        (400, "activation_invalid".into()),
        "a used link is refused"
    );
    let forged = activate(&"0".repeat(64), "Sonnenblume-2027").await;
    assert_eq!(code_of(&forged), "activation_invalid");

    // The session works; without a cookie nobody is signed in.
    let me = call(&server, "GET", "/api/account/me", Some(&first), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(json_of(&me)["member"]["name"], "Erika Mustermann");
    assert_eq!(me.header("cache-control"), Some("no-store"));
    let anon = call(&server, "GET", "/api/account/me", None, None).await;
    assert_eq!((anon.status, code_of(&anon)), (401, "not_signed_in".into()));

    // Sign-in by number and by e-mail (any case) opens further sessions.
    let by_number = login(&server, "1001", "Sonnenblume-2027").await;
    assert_eq!(by_number.status, 200);
    let second = cookie_of(&by_number);
    let by_mail = login(&server, "Erika@Example.org", "Sonnenblume-2027").await;
    assert_eq!(by_mail.status, 200);
    let third = cookie_of(&by_mail);
    assert!(first != second && second != third);

    // Rotation: signing in with a session cookie ends that session.
    let rotated = call(
        &server,
        "POST",
        "/api/account/login",
        Some(&third),
        Some(json!({ "login": "1001", "password": "Sonnenblume-2027" })),
    )
    .await;
    let fourth = cookie_of(&rotated);
    let old = call(&server, "GET", "/api/account/me", Some(&third), None).await;
    assert_eq!(old.status, 401, "the rotated session ended");

    // Sign-out everywhere ends every session, on every device.
    let out = call(
        &server,
        "POST",
        "/api/account/logout_all",
        Some(&second),
        Some(json!({})),
    )
    .await;
    assert_eq!(out.status, 200);
    assert_eq!(json_of(&out)["sessions_ended"], 3);
    for c in [&first, &second, &fourth] {
        let me = call(&server, "GET", "/api/account/me", Some(c), None).await;
        assert_eq!(me.status, 401);
    }

    // Another member is unaffected by all that; their sign-out ends only their session.
    let max = activate(&max_link, "Pusteblume-2027").await;
    let max_cookie = cookie_of(&max);
    let out = call(
        &server,
        "POST",
        "/api/account/logout",
        Some(&max_cookie),
        Some(json!({})),
    )
    .await;
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let me = call(&server, "GET", "/api/account/me", Some(&max_cookie), None).await;
    assert_eq!(me.status, 401);

    let log = server.log();
    for secret in [
        "erika@example.org",
        "Erika@Example.org",
        "Sonnenblume",
        &first,
    ] {
        assert!(
            !log.to_lowercase().contains(&secret.to_lowercase()),
            "the log holds {secret}"
        );
    }
}

#[tokio::test]
async fn repeated_failures_slow_sign_in_down_and_refusals_are_typed() {
    let server = TestServer::start();
    let (erika_link, _) = organisation(&server);
    let ok = call(
        &server,
        "POST",
        "/api/account/activate",
        None,
        Some(json!({ "token": erika_link, "password": "Sonnenblume-2027" })),
    )
    .await;
    assert_eq!(ok.status, 200);

    for _ in 0..5 {
        let wrong = login(&server, "1001", "falsch-falsch").await;
        assert_eq!(
            (wrong.status, code_of(&wrong)),
            (401, "wrong_credentials".into())
        );
    }
    // Now even the right password waits.
    let locked = login(&server, "1001", "Sonnenblume-2027").await;
    assert_eq!(
        (locked.status, code_of(&locked)),
        (429, "rate_limited".into())
    );
    let wait = json_of(&locked)["error"]["retry_after_ms"]
        .as_u64()
        .unwrap();
    assert!((1..=30_000).contains(&wait), "{wait}");
    assert!(locked.header("retry-after").is_some());
    // A login that names nobody gets the same answer as a wrong password.
    let unknown = login(&server, "9999", "Sonnenblume-2027").await;
    let wrong_mail = login(&server, "nobody@example.org", "x").await;
    assert_eq!(json_of(&unknown)["error"], json_of(&wrong_mail)["error"]);
    assert_eq!(code_of(&unknown), "wrong_credentials");

    // Malformed and foreign requests change nothing.
    let not_json = https_request(
        &server.url,
        &server.ca_pem(),
        "POST",
        "/api/account/login",
        &[("Content-Type", "text/plain")],
        b"login=1001",
    )
    .await
    .unwrap();
    assert_eq!(
        (not_json.status, code_of(&not_json)),
        (400, "bad_request".into())
    );
    let foreign = https_request(
        &server.url,
        &server.ca_pem(),
        "POST",
        "/api/account/login",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "https://evil.example"),
        ],
        br#"{"login":"1001","password":"Sonnenblume-2027"}"#,
    )
    .await
    .unwrap();
    assert_eq!(
        (foreign.status, code_of(&foreign)),
        (403, "forbidden_origin".into())
    );
    let extra = login(&server, "", "").await;
    assert_eq!(extra.status, 401);
}

#[tokio::test]
async fn a_signed_in_member_enters_the_rooms_on_their_roster_without_a_link() {
    let server = TestServer::start();
    let (erika_link, _) = organisation(&server);
    server.cli(&["room", "create", "--id", "bpt", "--name", "Bundesparteitag"]);
    server.cli(&[
        "room", "assign", "--room", "demo", "--number", "1001", "--role", "delegate",
    ]);
    let ok = call(
        &server,
        "POST",
        "/api/account/activate",
        None,
        Some(json!({ "token": erika_link, "password": "Sonnenblume-2027" })),
    )
    .await;
    let cookie = cookie_of(&ok);
    let rooms = &json_of(&ok)["member"]["rooms"];
    assert_eq!(
        rooms,
        &json!([{ "id": "demo", "name": "Demo-Parteitag", "role": "delegate" }])
    );

    let token = call(
        &server,
        "POST",
        "/api/account/rooms/demo/token",
        Some(&cookie),
        Some(json!({})),
    )
    .await;
    assert_eq!(token.status, 200);
    let token = json_of(&token)["token"].as_str().unwrap().to_owned();
    // Everything held on the member, as a download.
    let export = call(&server, "GET", "/api/account/export", Some(&cookie), None).await;
    assert_eq!(export.status, 200);
    assert!(
        export
            .header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    let data = json_of(&export);
    assert_eq!(data["member"]["number"], "1001");
    assert_eq!(data["member"]["email"], "erika@example.org");
    assert_eq!(data["rosters"][0]["room_id"], "demo");
    assert_eq!(data["rosters"][0]["role"], "delegate");
    assert_eq!(
        (data["sessions"].as_u64(), data["password_set"].as_bool()),
        (Some(1), Some(true))
    );
    let anon = call(&server, "GET", "/api/account/export", None, None).await;
    assert_eq!(anon.status, 401);
    let (_c, joined) = common::join(&server, &token).await;
    assert_eq!(joined["participant"]["name"], "Erika Mustermann");
    assert_eq!(joined["participant"]["role"], "delegate");

    // Not on that roster, or not signed in: no token.
    let other = call(
        &server,
        "POST",
        "/api/account/rooms/bpt/token",
        Some(&cookie),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (other.status, code_of(&other)),
        (403, "not_on_roster".into())
    );
    let anon = call(
        &server,
        "POST",
        "/api/account/rooms/demo/token",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!((anon.status, code_of(&anon)), (401, "not_signed_in".into()));
}

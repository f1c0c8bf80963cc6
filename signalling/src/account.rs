//! Member sign-in: activation links, passwords (argon2id), session cookies, and a slow-down
//! on repeated failures. REST routes under `/api/account` (docs/protocol.md, *Member
//! sign-in*).
//!
//! - An admin issues an **activation link** (`/activate#token=…`, single use, valid
//!   [`ACTIVATION_SECS`]); the member sets a password with it and is signed in. A new link
//!   is also the password reset: it ends the older links, and using it ends every session.
//! - **Sign-in** with member number or e-mail address and password opens a session: a random
//!   secret in the cookie `plenum_session` (`Secure; HttpOnly; SameSite=Strict`), stored only
//!   as its SHA-256. Every sign-in opens a new session (the request's old one ends: rotation).
//! - **Slow-down**: after [`FREE_FAILURES`] failed attempts under one key (the member, or the
//!   login typed when it names nobody) each further attempt waits [`lockout_secs`] after the
//!   last failure, doubling up to an hour; attempts during the wait are refused unchecked.
//! - Nothing here logs a login, an e-mail address or an IP address.

use std::sync::{Arc, OnceLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::AppState;
use crate::org::Member;
use crate::storage::{StorageError, Store};

/// How long an activation link works.
pub const ACTIVATION_SECS: u64 = 7 * 24 * 3600;
/// How long a session lasts (from sign-in).
pub const SESSION_SECS: u64 = 14 * 24 * 3600;
/// Failed attempts before the slow-down starts.
pub const FREE_FAILURES: u32 = 5;
/// Shortest and longest wait of the slow-down.
pub const LOCKOUT_SECS: (u64, u64) = (30, 3600);
/// Password length bounds (characters).
pub const PASSWORD_CHARS: (usize, usize) = (10, 1024);
/// The session cookie's name.
pub const COOKIE: &str = "plenum_session";
/// Largest accepted request body.
const MAX_BODY: usize = 8 * 1024;

/// How long to wait after the last of `failures` failed attempts: none up to
/// [`FREE_FAILURES`], then 30 s, doubling per further failure, at most an hour.
pub fn lockout_secs(failures: u32) -> u64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    (LOCKOUT_SECS.0 << doublings).min(LOCKOUT_SECS.1)
}

/// A fresh secret for a link or cookie (64 hex digits) and the hash the store keeps.
pub fn new_secret() -> (String, String) {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    let secret = hex::encode(b);
    let hash = secret_hash(&secret);
    (secret, hash)
}

/// What the store keeps of a secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Failed sign-ins are counted under a hash of the member (or of the login typed, when it
/// names nobody): the table holds no member number and no mistyped e-mail address.
pub fn member_failure_key(number: &str) -> String {
    secret_hash(&format!("member:{number}"))
}

/// See [`member_failure_key`].
pub fn login_failure_key(login: &str) -> String {
    secret_hash(&format!("login:{}", login.trim().to_lowercase()))
}

/// argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane) with a random 16-byte salt, as a
/// PHC string.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Ok(Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)?
        .to_string())
}

/// Does `password` match the PHC string? (A malformed hash matches nothing.)
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A hash no password matches, verified when a login names nobody, so that such a
/// refusal takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let (secret, _) = new_secret();
        hash_password(&secret).unwrap_or_default()
    })
}

/// Issue an activation link's secret for a member; `None` if there is no such active member.
pub fn issue_activation(
    store: &dyn Store,
    number: &str,
    now: u64,
) -> Result<Option<String>, StorageError> {
    match store.member(number)? {
        Some(m) if m.status == crate::org::MemberStatus::Active => {
            let (secret, hash) = new_secret();
            store.create_activation(&hash, number, now + ACTIVATION_SECS)?;
            Ok(Some(secret))
        }
        _ => Ok(None),
    }
}

/// The activation link a member opens (the secret in the fragment, never in a server log).
pub fn activation_link(public_url: &str, secret: &str) -> String {
    format!(
        "{}/activate#token={secret}",
        public_url.trim_end_matches('/')
    )
}

/// Error codes of the account API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountErrorCode {
    /// Malformed request (not JSON, a field missing, not `application/json`).
    BadRequest,
    /// The request came from another origin.
    ForbiddenOrigin,
    /// The activation link is unknown, used or expired, or its member left.
    ActivationInvalid,
    /// The password is too short or too long.
    WeakPassword,
    /// Login and password do not match (the same answer whether the login exists or not).
    WrongCredentials,
    /// Too many failed attempts: wait `retry_after_ms`.
    RateLimited,
    /// No valid session cookie.
    NotSignedIn,
    /// The member is not on the room's roster (or their place was revoked).
    NotOnRoster,
    /// No mail server is configured (a reset link comes from an admin then).
    NoMail,
    /// Anything else; details only in the server log.
    Internal,
}

struct AccountError {
    status: StatusCode,
    code: AccountErrorCode,
    message: String,
    retry_after_ms: Option<u64>,
}

impl AccountError {
    fn new(status: StatusCode, code: AccountErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

impl From<StorageError> for AccountError {
    fn from(e: StorageError) -> Self {
        warn!("account storage failed: {e}");
        AccountError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            AccountErrorCode::Internal,
            "storage unavailable",
        )
    }
}

impl IntoResponse for AccountError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(ms) = self.retry_after_ms {
            error["retry_after_ms"] = json!(ms);
        }
        let mut resp = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(ms) = self.retry_after_ms
            && let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

type Answer = Result<Response, AccountError>;

/// The routes under `/api/account`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/account/activate", post(activate))
        .route("/api/account/login", post(login))
        .route("/api/account/reset", post(reset))
        .route("/api/account/logout", post(logout))
        .route("/api/account/logout_all", post(logout_all))
        .route("/api/account/me", get(me))
        .route("/api/account/rooms/{room}/token", post(room_token))
        .route("/api/account/export", get(export))
}

/// The value of the session cookie in a request's `Cookie` headers.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The signed-in member of a request, if its session cookie is valid.
pub fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<Member>, StorageError> {
    let Some(secret) = session_cookie(headers) else {
        return Ok(None);
    };
    match state.store.session(&secret_hash(secret), (state.clock)())? {
        Some(number) => state.store.member(&number),
        None => Ok(None),
    }
}

fn set_cookie(secret: &str, max_age: u64) -> HeaderValue {
    let value =
        format!("{COOKIE}={secret}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict");
    // Hex secrets and fixed attributes are always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn with_cookie(mut resp: Response, cookie: HeaderValue) -> Response {
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A request without `Origin`, or from one of ours. (Browsers send `Origin` on every
/// cross-site POST; with `SameSite=Strict` cookies such a request carries no session anyway.)
pub fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    headers.get(header::ORIGIN).is_none_or(|o| {
        o.to_str()
            .is_ok_and(|origin| state.allowed_origins.iter().any(|a| a == origin))
    })
}

/// POSTs must be JSON from our own origin (with `SameSite=Strict` this keeps other sites
/// from acting with a member's cookie).
fn json_body<T: for<'de> Deserialize<'de>>(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, AccountError> {
    if !origin_allowed(state, headers) {
        return Err(AccountError::new(
            StatusCode::FORBIDDEN,
            AccountErrorCode::ForbiddenOrigin,
            "origin not allowed",
        ));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bad =
        |m: String| AccountError::new(StatusCode::BAD_REQUEST, AccountErrorCode::BadRequest, m);
    if !is_json {
        return Err(bad("the body must be application/json".into()));
    }
    if body.len() > MAX_BODY {
        return Err(bad(format!("the body is larger than {MAX_BODY} bytes")));
    }
    serde_json::from_slice(body).map_err(|e| bad(e.to_string()))
}

fn member_json(store: &dyn Store, m: &Member) -> Result<serde_json::Value, StorageError> {
    Ok(json!({
        "number": m.number,
        "name": m.display_name(),
        "first_name": m.first_name,
        "last_name": m.last_name,
        "unit": m.unit,
        "email": m.email,
        "groups": m.groups,
        "admin_of": store.admin_scopes(&m.number)?,
        "rooms": crate::roster::rooms_of(store, &m.number)?,
    }))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        AccountError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            AccountErrorCode::Internal,
            "the password check failed",
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    token: String,
    password: String,
}

async fn activate(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Answer {
    let req: ActivateBody = json_body(&state, &headers, &body)?;
    let chars = req.password.chars().count();
    if !(PASSWORD_CHARS.0..=PASSWORD_CHARS.1).contains(&chars) {
        return Err(AccountError::new(
            StatusCode::BAD_REQUEST,
            AccountErrorCode::WeakPassword,
            format!(
                "the password needs {}–{} characters",
                PASSWORD_CHARS.0, PASSWORD_CHARS.1
            ),
        ));
    }
    let password = req.password;
    let phc = blocking(move || hash_password(&password))
        .await?
        .map_err(|e| {
            warn!("hashing a password failed: {e}");
            AccountError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                AccountErrorCode::Internal,
                "the password could not be stored",
            )
        })?;
    let now = (state.clock)();
    let (session, session_hash) = new_secret();
    let Some(number) = state.store.activate(
        &secret_hash(&req.token),
        now,
        &phc,
        &session_hash,
        now + SESSION_SECS,
    )?
    else {
        return Err(AccountError::new(
            StatusCode::BAD_REQUEST,
            AccountErrorCode::ActivationInvalid,
            "this activation link is unknown, used or expired",
        ));
    };
    state.store.touch_credentials(&number, now)?;
    let member = state.store.member(&number)?;
    let body = match member {
        Some(m) => member_json(state.store.as_ref(), &m)?,
        None => json!(null),
    };
    Ok(with_cookie(
        axum::Json(json!({ "member": body })).into_response(),
        set_cookie(&session, SESSION_SECS),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    /// Member number or e-mail address.
    login: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    /// Member number or e-mail address.
    login: String,
}

/// Resets asked for under one login before further ones are ignored while they keep coming
/// less than [`RESET_PAUSE_SECS`] apart (so a stranger cannot flood a member's mailbox).
const FREE_RESETS: u32 = 3;
/// See [`FREE_RESETS`].
const RESET_PAUSE_SECS: u64 = 3600;

/// "Forgot the password": mail a new activation link to the member's address. The answer is
/// the same whether the login names anyone, has an address, or is being slowed down; the mail
/// goes out in the background, so its time tells nothing either.
async fn reset(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Answer {
    let req: ResetBody = json_body(&state, &headers, &body)?;
    let Some(mailer) = state.mailer.clone() else {
        return Err(AccountError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            AccountErrorCode::NoMail,
            "no mail server is configured: ask an admin for a new activation link",
        ));
    };
    let login = req.login.trim().to_lowercase();
    let now = (state.clock)();
    let key = secret_hash(&format!("reset:{login}"));
    let asked = state.store.failures(&key)?;
    state.store.record_failure(&key, now)?;
    let slowed = asked.count >= FREE_RESETS && now < asked.last_at + RESET_PAUSE_SECS;
    let member = if login.contains('@') {
        state.store.member_by_email(&login)?
    } else {
        state.store.member(&login)?
    };
    if let Some(m) = member.filter(|m| m.status == crate::org::MemberStatus::Active && !slowed)
        && let Some(address) = m.email.clone()
        && let Some(secret) = issue_activation(state.store.as_ref(), &m.number, now)?
    {
        let link = activation_link(&state.public_url, &secret);
        let (subject, text) = crate::mail::activation(&m.display_name(), &link);
        tokio::task::spawn_blocking(move || {
            let _ = mailer.send(&address, &subject, &text);
        });
    }
    Ok(axum::Json(json!({ "requested": true })).into_response())
}

async fn login(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Answer {
    let req: LoginBody = json_body(&state, &headers, &body)?;
    let login = req.login.trim();
    let member = if login.contains('@') {
        state.store.member_by_email(&login.to_lowercase())?
    } else {
        state.store.member(login)?
    };
    let key = match &member {
        Some(m) => member_failure_key(&m.number),
        None => login_failure_key(login),
    };
    let now = (state.clock)();
    let failures = state.store.failures(&key)?;
    let wait_until = failures.last_at + lockout_secs(failures.count);
    if failures.count >= FREE_FAILURES && now < wait_until {
        return Err(AccountError {
            retry_after_ms: Some((wait_until - now) * 1000),
            ..AccountError::new(
                StatusCode::TOO_MANY_REQUESTS,
                AccountErrorCode::RateLimited,
                "too many failed attempts: wait before trying again",
            )
        });
    }
    let phc = match &member {
        Some(m) => state.store.password_hash(&m.number)?,
        None => None,
    };
    let password = req.password;
    let matches = blocking(move || match phc {
        Some(phc) => verify_password(&password, &phc),
        None => {
            let _ = verify_password(&password, dummy_hash());
            false
        }
    })
    .await?;
    let Some(member) = member.filter(|_| matches) else {
        state.store.record_failure(&key, now)?;
        return Err(AccountError::new(
            StatusCode::UNAUTHORIZED,
            AccountErrorCode::WrongCredentials,
            "member number, e-mail address or password is wrong",
        ));
    };
    state.store.clear_failures(&key)?;
    state.store.touch_credentials(&member.number, now)?;
    // Rotation: the session the browser came with (if any) ends; a new one begins.
    if let Some(old) = session_cookie(&headers) {
        state.store.delete_session(&secret_hash(old))?;
    }
    let (session, hash) = new_secret();
    state
        .store
        .create_session(&hash, &member.number, now + SESSION_SECS)?;
    Ok(with_cookie(
        axum::Json(json!({ "member": member_json(state.store.as_ref(), &member)? }))
            .into_response(),
        set_cookie(&session, SESSION_SECS),
    ))
}

fn not_signed_in() -> AccountError {
    AccountError::new(
        StatusCode::UNAUTHORIZED,
        AccountErrorCode::NotSignedIn,
        "not signed in",
    )
}

async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Answer {
    let _: serde_json::Value = json_body(&state, &headers, &body)?;
    if let Some(secret) = session_cookie(&headers) {
        state.store.delete_session(&secret_hash(secret))?;
    }
    Ok(with_cookie(
        axum::Json(json!({})).into_response(),
        set_cookie("", 0),
    ))
}

async fn logout_all(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Answer {
    let _: serde_json::Value = json_body(&state, &headers, &body)?;
    let member = signed_in(&state, &headers)?.ok_or_else(not_signed_in)?;
    let ended = state.store.delete_sessions(&member.number)?;
    Ok(with_cookie(
        axum::Json(json!({ "sessions_ended": ended })).into_response(),
        set_cookie("", 0),
    ))
}

async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer {
    let member = signed_in(&state, &headers)?.ok_or_else(not_signed_in)?;
    let mut resp = axum::Json(json!({ "member": member_json(state.store.as_ref(), &member)? }))
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Everything the server holds on the signed-in member (GDPR art. 15), as JSON: the member
/// record with groups, visibility and status, admin scopes, the rosters with each room's
/// invite (participant id, role, state), and the sessions and activation links that exist
/// (counts and expiry only: their secrets are not stored).
/// A room's speeches by `participant` and its plugins' data about them.
fn room_data(
    state: &AppState,
    room: &str,
    participant: &str,
) -> Result<
    (
        Vec<crate::queue::Speech>,
        serde_json::Map<String, serde_json::Value>,
    ),
    StorageError,
> {
    let store = state.store.as_ref();
    let speeches = match store.room_state(room)? {
        Some(json) => crate::room::CongressState::from_json(&json)
            .map_err(|e| StorageError::Corrupt(format!("room state of {room}: {e}")))?
            .queue
            .history()
            .iter()
            .filter(|s| s.participant_id == participant)
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let plugins = state
        .rooms
        .plugins()
        .export(
            |ns| {
                store.plugin_data(room, ns).unwrap_or_else(|e| {
                    warn!("reading plugin data for an export failed: {e}");
                    Vec::new()
                })
            },
            participant,
        )
        .into_iter()
        .map(|(ns, v)| (ns.to_owned(), v))
        .collect();
    Ok((speeches, plugins))
}

async fn export(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer {
    let member = signed_in(&state, &headers)?.ok_or_else(not_signed_in)?;
    let store = state.store.as_ref();
    let mut rosters = Vec::new();
    for entry in store.rosters_of(&member.number)? {
        let invite = store.invite(&entry.invite_id)?;
        // What the room holds about them: speeches in its history, the plugins' data.
        let (speeches, plugins) = match &invite {
            Some(i) => room_data(&state, &entry.room_id, &i.participant_id)?,
            None => (Vec::new(), serde_json::Map::new()),
        };
        rosters.push(json!({
            "room_id": entry.room_id,
            "participant_id": invite.as_ref().map(|i| i.participant_id.clone()),
            "name_in_room": invite.as_ref().map(|i| i.name.clone()),
            "role": invite.as_ref().map(|i| i.role),
            "revoked": invite.as_ref().map(|i| i.revoked),
            "speeches": speeches,
            "plugins": plugins,
        }));
    }
    let body = json!({
        "member": member,
        "admin_of": store.admin_scopes(&member.number)?,
        "rosters": rosters,
        "sessions": store.session_count(&member.number, (state.clock)())?,
        "password_set": store.password_hash(&member.number)?.is_some(),
        // The organisation-wide plugins' data about them (circulation votes, say).
        "plugins": state.org_plugins.export(store, &member.number),
    });
    let mut resp = axum::Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"plenum-meine-daten.json\""),
    );
    Ok(resp)
}

/// A short-lived access token for a room on the member's roster: the start page's "enter".
async fn room_token(
    State(state): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let _: serde_json::Value = json_body(&state, &headers, &body)?;
    let member = signed_in(&state, &headers)?.ok_or_else(not_signed_in)?;
    let token = crate::roster::member_token(
        state.store.as_ref(),
        &state.keys,
        &room,
        &member.number,
        (state.clock)(),
    )
    .map_err(|e| {
        warn!("issuing a member's access token failed: {e}");
        AccountError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            AccountErrorCode::Internal,
            "the access token could not be issued",
        )
    })?
    .ok_or_else(|| {
        AccountError::new(
            StatusCode::FORBIDDEN,
            AccountErrorCode::NotOnRoster,
            "you are not invited to this room",
        )
    })?;
    let mut resp = axum::Json(json!({ "token": token })).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slow_down_starts_after_five_failures_and_doubles_up_to_an_hour() {
        assert_eq!(
            (0..=13).map(lockout_secs).collect::<Vec<_>>(),
            [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
        );
        assert_eq!(lockout_secs(u32::MAX), 3600);
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("Sonnenblume-2027").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("Sonnenblume-2027", &phc));
        assert!(!verify_password("sonnenblume-2027", &phc));
        assert!(!verify_password("Sonnenblume-2027", "not a hash"));
        assert_ne!(phc, hash_password("Sonnenblume-2027").unwrap(), "salted");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; plenum_session=abc"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("plenum_session_x=1"),
        );
        assert_eq!(session_cookie(&h), None);
        let cookie = set_cookie("abc", 60);
        let cookie = cookie.to_str().unwrap();
        for attr in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(attr), "{cookie}");
        }
    }
}

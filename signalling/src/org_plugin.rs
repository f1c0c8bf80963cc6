//! Organisation-wide plugins: the second half of the plugin API (the first, room-scoped half
//! is [`crate::plugin`]). The member directory and the reports need commands that no room
//! carries — search the members, import the member list, download a register — so a plugin
//! may also register an [`OrgPlugin`]: typed commands sent by signed-in members over REST,
//! authorized by one table per plugin ([`OrgPlugin::need`] → [`OrgNeed`], checked by the host
//! before the plugin runs), acting through an [`OrgContext`] that exposes the organisation
//! and the caller's scopes. docs/plugins.md, *Organisation-wide commands*, walks through it.
//!
//! Routes (the host's, not the plugin's): `POST /api/org/{ns}` with a JSON command, and
//! `POST /api/org/{ns}/upload/{action}` with a raw body (a CSV file, say) for commands that
//! take one. Both need a member session (`plenum_session`, see [`crate::account`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::warn;

use crate::AppState;
use crate::org::{Member, UnitTree};
pub use crate::plugin::PluginError;
use crate::storage::{StorageError, Store};

/// Largest upload.
pub const MAX_UPLOAD: usize = 16 * 1024 * 1024;

/// Who may send an organisation-wide command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgNeed {
    /// Any signed-in, active member.
    Member,
    /// An admin of at least one unit (the plugin narrows it to the caller's scope with
    /// [`OrgContext::administers`]).
    Admin,
}

/// The signed-in member behind a command, with the units they administer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The member.
    pub member: Member,
    /// The units they administer (each with everything below).
    pub admin_of: Vec<String>,
}

/// What an organisation-wide command may read and do: the caller, the organisation's units,
/// the store (for the organisation's tables), the time.
pub struct OrgContext<'a> {
    caller: &'a Caller,
    units: UnitTree,
    store: &'a dyn Store,
    now: u64,
    public_url: &'a str,
    mailer: Option<&'a crate::mail::Mailer>,
}

impl std::fmt::Debug for OrgContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgContext")
            .field("caller", &self.caller.member.number)
            .field("now", &self.now)
            .finish()
    }
}

impl<'a> OrgContext<'a> {
    /// A context for `caller` (tests and the host).
    pub fn new(
        caller: &'a Caller,
        store: &'a dyn Store,
        now: u64,
        public_url: &'a str,
    ) -> Result<Self, StorageError> {
        let units = UnitTree::new(&store.units()?)
            .map_err(|e| StorageError::Corrupt(format!("units: {e}")))?;
        Ok(Self {
            caller,
            units,
            store,
            now,
            public_url,
            mailer: None,
        })
    }

    /// The same context, able to send mail through `mailer` (the host's, if configured).
    pub fn with_mailer(mut self, mailer: Option<&'a crate::mail::Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// The mail server, if one is configured (`[mail]`): plugins mail members through it.
    pub fn mailer(&self) -> Option<&crate::mail::Mailer> {
        self.mailer
    }

    /// The URL people open (for links the plugin hands out).
    pub fn public_url(&self) -> &str {
        self.public_url
    }

    /// Who sent the command.
    pub fn caller(&self) -> &Caller {
        self.caller
    }

    /// Unix seconds (injected in tests).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The organisation's units.
    pub fn units(&self) -> &UnitTree {
        &self.units
    }

    /// The organisation's store. Plugins read members and units through it and write the
    /// organisation's tables only after checking the caller's scope
    /// ([`OrgContext::administers`]).
    pub fn store(&self) -> &dyn Store {
        self.store
    }

    /// The unit an admin command acts on: `named` (by id or exact name), if the caller
    /// administers it, or else the caller's only admin scope. Refusals: `scope_required` (several scopes, none named),
    /// `outside_scope`.
    pub fn admin_scope(&self, named: Option<&str>) -> Result<String, PluginError> {
        let scope = match named.map(str::trim) {
            Some(s) => self.units.resolve(s).unwrap_or(s).to_owned(),
            None => match self.caller.admin_of.as_slice() {
                [one] => one.clone(),
                _ => {
                    return Err(PluginError::new(
                        "scope_required",
                        "you administer several units: name one as the scope",
                    ));
                }
            },
        };
        if !self.units.contains(&scope) || !self.administers(&scope) {
            return Err(PluginError::new(
                "outside_scope",
                format!("you do not administer {scope}"),
            ));
        }
        Ok(scope)
    }

    /// Does the caller administer `unit` (it, or a unit above it, is one of their scopes)?
    pub fn administers(&self, unit: &str) -> bool {
        self.caller
            .admin_of
            .iter()
            .any(|scope| self.units.covers(scope, unit))
    }
}

/// A file a plugin hands out (`GET /api/org/{ns}/download/{action}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Its media type, e.g. `application/pdf`.
    pub content_type: &'static str,
    /// The name offered for saving it.
    pub filename: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// An organisation-wide feature of a plugin crate. One instance per server.
pub trait OrgPlugin: Send + Sync + 'static {
    /// The commands, as JSON bodies of `POST /api/org/{ns}`.
    type Command: DeserializeOwned;

    /// The namespace (unique; `[a-z_]+`; the same as the plugin's room half, if any).
    fn namespace(&self) -> &'static str;
    /// Which callers a command admits: the authorization table's row for it.
    fn need(&self, command: &Self::Command) -> OrgNeed;
    /// Run an authorized command; `Ok` is the answer's body.
    fn command(
        &self,
        ctx: &OrgContext<'_>,
        command: Self::Command,
    ) -> Result<serde_json::Value, PluginError>;
    /// Which callers an upload action admits; `None`: no such action.
    fn upload_need(&self, _action: &str) -> Option<OrgNeed> {
        None
    }
    /// Run an authorized upload (`params` are the URL's query parameters).
    fn upload(
        &self,
        _ctx: &OrgContext<'_>,
        action: &str,
        _params: &std::collections::HashMap<String, String>,
        _body: &[u8],
    ) -> Result<serde_json::Value, PluginError> {
        Err(PluginError::new(
            "unknown_action",
            format!("no upload {action:?}"),
        ))
    }
    /// Which callers a download admits; `None`: no such download.
    fn download_need(&self, _action: &str) -> Option<OrgNeed> {
        None
    }
    /// Run an authorized download (`params` are the URL's query parameters).
    fn download(
        &self,
        _ctx: &OrgContext<'_>,
        action: &str,
        _params: &std::collections::HashMap<String, String>,
    ) -> Result<Download, PluginError> {
        Err(PluginError::new(
            "unknown_action",
            format!("no download {action:?}"),
        ))
    }
    /// A member was erased (GDPR, docs/privacy.md): whatever the plugin keeps about member
    /// `number` in its organisation-wide data must from now on name them `pseudonym`; other
    /// personal data of theirs it deletes. Called before the member record goes; an error
    /// stops the erasure (it can be retried).
    fn erased(
        &self,
        _store: &dyn Store,
        _number: &str,
        _pseudonym: &str,
    ) -> Result<(), PluginError> {
        Ok(())
    }
    /// What the plugin holds about member `number` in its organisation-wide data, for the
    /// member's data export (GDPR Art. 15). `Null`: nothing.
    fn export(&self, _store: &dyn Store, _number: &str) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// The object-safe face of an [`OrgPlugin`].
trait AnyOrgPlugin: Send + Sync {
    fn namespace(&self) -> &'static str;
    fn erased(&self, store: &dyn Store, number: &str, pseudonym: &str) -> Result<(), PluginError>;
    fn export(&self, store: &dyn Store, number: &str) -> serde_json::Value;
    fn run(
        &self,
        ctx: &OrgContext<'_>,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, OrgFailure>;
    fn upload(
        &self,
        ctx: &OrgContext<'_>,
        action: &str,
        params: &std::collections::HashMap<String, String>,
        body: &[u8],
    ) -> Result<serde_json::Value, OrgFailure>;
    fn download(
        &self,
        ctx: &OrgContext<'_>,
        action: &str,
        params: &std::collections::HashMap<String, String>,
    ) -> Result<Download, OrgFailure>;
}

/// Why the host or the plugin refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgFailure {
    /// The body is not one of the plugin's commands.
    BadRequest(String),
    /// The caller's grants do not allow it.
    Forbidden,
    /// The plugin refused (its own reason).
    Plugin(PluginError),
}

fn allowed(caller: &Caller, need: OrgNeed) -> bool {
    match need {
        OrgNeed::Member => true,
        OrgNeed::Admin => !caller.admin_of.is_empty(),
    }
}

impl<P: OrgPlugin> AnyOrgPlugin for P {
    fn namespace(&self) -> &'static str {
        OrgPlugin::namespace(self)
    }

    fn erased(&self, store: &dyn Store, number: &str, pseudonym: &str) -> Result<(), PluginError> {
        OrgPlugin::erased(self, store, number, pseudonym)
    }

    fn export(&self, store: &dyn Store, number: &str) -> serde_json::Value {
        OrgPlugin::export(self, store, number)
    }

    fn run(
        &self,
        ctx: &OrgContext<'_>,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, OrgFailure> {
        let command: P::Command = serde_json::from_value(body)
            .map_err(|e| OrgFailure::BadRequest(format!("{}: {e}", self.namespace())))?;
        if !allowed(ctx.caller, self.need(&command)) {
            return Err(OrgFailure::Forbidden);
        }
        self.command(ctx, command).map_err(OrgFailure::Plugin)
    }

    fn upload(
        &self,
        ctx: &OrgContext<'_>,
        action: &str,
        params: &std::collections::HashMap<String, String>,
        body: &[u8],
    ) -> Result<serde_json::Value, OrgFailure> {
        let need = self
            .upload_need(action)
            .ok_or_else(|| OrgFailure::BadRequest(format!("no upload {action:?}")))?;
        if !allowed(ctx.caller, need) {
            return Err(OrgFailure::Forbidden);
        }
        OrgPlugin::upload(self, ctx, action, params, body).map_err(OrgFailure::Plugin)
    }

    fn download(
        &self,
        ctx: &OrgContext<'_>,
        action: &str,
        params: &std::collections::HashMap<String, String>,
    ) -> Result<Download, OrgFailure> {
        let need = self
            .download_need(action)
            .ok_or_else(|| OrgFailure::BadRequest(format!("no download {action:?}")))?;
        if !allowed(ctx.caller, need) {
            return Err(OrgFailure::Forbidden);
        }
        OrgPlugin::download(self, ctx, action, params).map_err(OrgFailure::Plugin)
    }
}

/// The organisation-wide plugins of this server, registered in one place (`main`).
#[derive(Clone, Default)]
pub struct OrgRegistry {
    plugins: Vec<Arc<dyn AnyOrgPlugin>>,
}

impl std::fmt::Debug for OrgRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.plugins.iter().map(|p| p.namespace()))
            .finish()
    }
}

impl OrgRegistry {
    /// No plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one.
    pub fn with(mut self, plugin: impl OrgPlugin) -> Self {
        self.plugins.push(Arc::new(plugin));
        self
    }

    fn find(&self, ns: &str) -> Option<&Arc<dyn AnyOrgPlugin>> {
        self.plugins.iter().find(|p| p.namespace() == ns)
    }

    /// Run a JSON command of `caller` for namespace `ns` (the host's path; also for tests).
    pub fn command(
        &self,
        ctx: &OrgContext<'_>,
        ns: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, OrgFailure> {
        let plugin = self
            .find(ns)
            .ok_or_else(|| OrgFailure::BadRequest(format!("no plugin {ns:?} on this server")))?;
        plugin.run(ctx, body)
    }

    /// Tell every plugin that member `number` is erased (see [`OrgPlugin::erased`]); the
    /// first refusal, with its namespace, stops it.
    pub fn erased(
        &self,
        store: &dyn Store,
        number: &str,
        pseudonym: &str,
    ) -> Result<(), (&'static str, PluginError)> {
        for p in &self.plugins {
            p.erased(store, number, pseudonym)
                .map_err(|e| (p.namespace(), e))?;
        }
        Ok(())
    }

    /// Every plugin's data about member `number` (see [`OrgPlugin::export`]), by namespace;
    /// plugins with nothing are left out.
    pub fn export(
        &self,
        store: &dyn Store,
        number: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
        self.plugins
            .iter()
            .map(|p| (p.namespace().to_owned(), p.export(store, number)))
            .filter(|(_, v)| !v.is_null())
            .collect()
    }

    /// Run a download of `caller` for namespace `ns`.
    pub fn download(
        &self,
        ctx: &OrgContext<'_>,
        ns: &str,
        action: &str,
        params: &std::collections::HashMap<String, String>,
    ) -> Result<Download, OrgFailure> {
        let plugin = self
            .find(ns)
            .ok_or_else(|| OrgFailure::BadRequest(format!("no plugin {ns:?} on this server")))?;
        plugin.download(ctx, action, params)
    }

    /// Run an upload of `caller` for namespace `ns`.
    pub fn upload(
        &self,
        ctx: &OrgContext<'_>,
        ns: &str,
        action: &str,
        params: &std::collections::HashMap<String, String>,
        body: &[u8],
    ) -> Result<serde_json::Value, OrgFailure> {
        let plugin = self
            .find(ns)
            .ok_or_else(|| OrgFailure::BadRequest(format!("no plugin {ns:?} on this server")))?;
        plugin.upload(ctx, action, params, body)
    }
}

/// The host's routes under `/api/org`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/org/{ns}", post(command))
        .route(
            "/api/org/{ns}/upload/{action}",
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route(
            "/api/org/{ns}/download/{action}",
            axum::routing::get(download),
        )
}

pub(crate) fn refusal(
    status: StatusCode,
    code: &str,
    message: &str,
    reason: Option<&str>,
) -> Response {
    let mut error = json!({ "code": code, "message": message });
    if let Some(r) = reason {
        error["reason"] = json!(r);
    }
    let mut resp = (status, axum::Json(json!({ "error": error }))).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn failure(f: OrgFailure) -> Response {
    match f {
        OrgFailure::BadRequest(m) => refusal(StatusCode::BAD_REQUEST, "bad_request", &m, None),
        OrgFailure::Forbidden => refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role does not allow this command",
            None,
        ),
        OrgFailure::Plugin(e) => refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "plugin_error",
            &e.message,
            Some(e.reason),
        ),
    }
}

pub(crate) fn storage_failure(e: StorageError) -> Response {
    warn!("organisation command failed: {e}");
    refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "storage unavailable",
        None,
    )
}

/// `Content-Disposition` for a download named `name` (the plugin's suggestion): always
/// `attachment` (a served file is never shown inline from our origin), an ASCII `filename`
/// with anything but letters, digits, `.`, `-` and `_` as `_`, and the full name as
/// `filename*=UTF-8''…` (RFC 6266, RFC 8187), which browsers prefer — "Bericht des
/// Vorstands (Entwurf).pdf" keeps its spaces and umlauts.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        // RFC 8187 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~".
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The caller of a request: a signed-in member, or the refusal to send.
pub(crate) fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    if !crate::account::origin_allowed(state, headers) {
        return Err(Box::new(refusal(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "origin not allowed",
            None,
        )));
    }
    let failed = |e| Box::new(storage_failure(e));
    let member = crate::account::signed_in(state, headers)
        .map_err(failed)?
        .ok_or_else(|| {
            Box::new(refusal(
                StatusCode::UNAUTHORIZED,
                "not_signed_in",
                "not signed in",
                None,
            ))
        })?;
    let admin_of = state.store.admin_scopes(&member.number).map_err(failed)?;
    Ok(Caller { member, admin_of })
}

pub(crate) fn answer(result: Result<serde_json::Value, OrgFailure>) -> Response {
    match result {
        Ok(v) => {
            let mut resp = axum::Json(v).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(f) => failure(f),
    }
}

/// The body of a JSON request (`Content-Type: application/json`) as `T`, or the
/// `400 bad_request` to send.
pub(crate) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Box<Response>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(Box::new(failure(OrgFailure::BadRequest(
            "the body must be application/json".into(),
        ))));
    }
    serde_json::from_slice(body)
        .map_err(|e| Box::new(failure(OrgFailure::BadRequest(e.to_string()))))
}

async fn command(
    State(state): State<Arc<AppState>>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let body: serde_json::Value = match json_body(&headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    run(state, caller, move |ctx, plugins| {
        plugins.command(ctx, &ns, body)
    })
    .await
}

/// Run a plugin's work for `caller` off the async threads (it reads and writes the store),
/// and answer.
async fn run(
    state: Arc<AppState>,
    caller: Caller,
    work: impl FnOnce(&OrgContext<'_>, &OrgRegistry) -> Result<serde_json::Value, OrgFailure>
    + Send
    + 'static,
) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        let ctx = org_context(&state, &caller)?;
        Ok::<_, StorageError>(work(&ctx, &state.org_plugins))
    })
    .await;
    match result {
        Ok(Ok(r)) => answer(r),
        Ok(Err(e)) => storage_failure(e),
        Err(_) => storage_failure(StorageError::Corrupt("the command did not finish".into())),
    }
}

async fn upload(
    State(state): State<Arc<AppState>>,
    Path((ns, action)): Path<(String, String)>,
    Query(params): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    run(state, caller, move |ctx, plugins| {
        plugins.upload(ctx, &ns, &action, &params, &body)
    })
    .await
}

/// The context of a request of `caller`.
fn org_context<'a>(
    state: &'a AppState,
    caller: &'a Caller,
) -> Result<OrgContext<'a>, StorageError> {
    Ok(OrgContext::new(
        caller,
        state.store.as_ref(),
        (state.clock)(),
        &state.public_url,
    )?
    .with_mailer(state.mailer.as_deref()))
}

async fn download(
    State(state): State<Arc<AppState>>,
    Path((ns, action)): Path<(String, String)>,
    Query(params): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let caller = match caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let result = tokio::task::spawn_blocking(move || {
        let ctx = org_context(&state, &caller)?;
        Ok::<_, StorageError>(state.org_plugins.download(&ctx, &ns, &action, &params))
    })
    .await;
    match result {
        Ok(Ok(Ok(file))) => {
            let disposition = content_disposition(&file.filename);
            let mut resp = file.bytes.into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            resp
        }
        Ok(Ok(Err(f))) => failure(f),
        Ok(Err(e)) => storage_failure(e),
        Err(_) => storage_failure(StorageError::Corrupt("the download did not finish".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn a_download_name_keeps_its_umlauts_for_browsers_and_is_safe_ascii_for_the_rest() {
        assert_eq!(
            content_disposition("Kassenbericht Müller \"2027\".pdf"),
            "attachment; filename=\"Kassenbericht_M_ller__2027_.pdf\"; \
             filename*=UTF-8''Kassenbericht%20M%C3%BCller%20%222027%22.pdf"
        );
        assert_eq!(
            content_disposition("protokoll-e-1a.pdf"),
            "attachment; filename=\"protokoll-e-1a.pdf\"; filename*=UTF-8''protokoll-e-1a.pdf"
        );
    }
}

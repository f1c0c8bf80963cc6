//! Plenum's control plane: HTTPS, the WebSocket signalling protocol, auth, rooms, storage.
//!
//! Modules:
//! - [`protocol`] — wire types of protocol version 1 (docs/protocol.md);
//! - [`account`] — member sign-in: activation links, argon2id passwords, session cookies;
//! - [`auth`] — signed access tokens and roles;
//! - [`invite`] — invites (stored record + token + link) and the demo congress;
//! - [`mail`] — invitations and activation links by SMTP (`[mail]`);
//! - [`limits`] — join timeout, pending-connection cap, command budget per connection;
//! - [`offer`] — the shape of SDP offers, checked before the media plane parses them;
//! - [`org`] — the organisation: units, members, groups, admin scopes;
//! - [`demo`] — the demo organisation and the demo congress's roster;
//! - [`gdpr`] — erasing a member, retention rules;
//! - [`events`] — congress administration: events, rosters by quota and group, invitations,
//!   attendance (`/api/org/events`);
//! - [`org_plugin`] — organisation-wide plugin commands and uploads (`/api/org/{ns}`);
//! - [`record`] — the session record of a room (the facts of its minutes);
//! - [`roster`] — which members may enter which room (invites behind member sign-in);
//! - [`room`] — one actor task per active room; drives the media plane through
//!   [`plenum_sfu::SfuHandle`] and turns its events into protocol events;
//! - `ws` — one WebSocket connection: parse, check, ask the room, answer;
//! - [`storage`] — the `Store` trait and its SQLite backend with migrations;
//! - [`ballot`] — polls as pure logic: definitions, choices, counting, majority rules;
//! - [`verifiable`] — verifiable polls as pure logic: the tally committee's key generation
//!   in rounds, what a poll view shows of it (the cryptography is `plenum-ballot-crypto`);
//! - [`cluster`] — origin and edge nodes: relays to edges over QUIC (`plenum-cluster`),
//!   placement, WHEP viewers at an edge (docs/cluster.md);
//! - [`tls`] — certificate files, self-signed on first start;
//! - `web` — the embedded browser client.
//!
//! [`app`] builds the axum router (tested with real sockets); [`serve`] runs it over HTTPS.

/// Re-exported for plugin crates, which depend on `plenum-signalling` only.
pub use serde;
/// Re-exported for plugin crates.
pub use serde_json;

pub mod account;
pub mod auth;
pub mod authz;
pub mod ballot;
pub mod cluster;
pub mod demo;
pub mod events;
pub mod gdpr;
pub mod invite;
pub mod limits;
pub mod mail;
pub mod offer;
pub mod org;
pub mod org_plugin;
pub mod plugin;
pub mod protocol;
pub mod queue;
pub mod record;
pub mod room;
pub mod roster;
pub mod storage;
pub mod tls;
pub mod turn;
pub mod verifiable;
mod web;
pub mod whip;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::TokenKeys;
use crate::room::Rooms;
use crate::storage::Store;

/// Unix time in seconds; injected so token expiry is testable.
pub type Clock = fn() -> u64;

/// The wall clock as unix seconds.
pub fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The wall clock as unix milliseconds (speaking times, queue).
pub fn system_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Shared state of all HTTP handlers.
#[derive(Debug)]
pub struct AppState {
    /// Token keys.
    pub keys: TokenKeys,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Active rooms.
    pub rooms: Arc<Rooms>,
    /// Origins allowed to open the WebSocket (scheme://host[:port]).
    pub allowed_origins: Vec<String>,
    /// The Prometheus renderer, if metrics are installed.
    pub metrics: Option<PrometheusHandle>,
    /// Unix time.
    pub clock: Clock,
    /// Running WHIP/WHEP sessions.
    pub whip: whip::Sessions,
    /// TURN server and credentials for clients.
    pub turn: turn::TurnConfig,
    /// Organisation-wide plugins (`/api/org/{ns}`).
    pub org_plugins: org_plugin::OrgRegistry,
    /// What one client may cost.
    pub limits: limits::Limits,
    /// `/metrics` answers only with `Authorization: Bearer` of this token.
    pub metrics_token: String,
    /// Send `Strict-Transport-Security` (served over TLS at a public name).
    pub hsts: bool,
    /// The URL people open (links handed out by plugins).
    pub public_url: String,
    /// The mail server, if configured (`[mail]`).
    pub mailer: Option<Arc<mail::Mailer>>,
    /// This server's part in a cluster of nodes (`[cluster]`), if any.
    pub cluster: Option<cluster::Node>,
    /// WHEP sessions of viewers, when this server is an edge node.
    pub edge_sessions: cluster::EdgeSessions,
}

/// The HTTP routes.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/join", get(web::index))
        .route("/activate", get(web::index))
        .route("/login", get(web::index))
        .route("/assets/{*path}", get(web::asset))
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .merge(whip::routes())
        .merge(cluster::routes())
        .merge(account::routes())
        .merge(org_plugin::routes())
        .merge(gdpr::routes())
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// Whether `public_url` names this machine only (then HSTS would pin a name nobody else uses).
pub fn is_local_url(public_url: &str) -> bool {
    let host = public_url
        .split("://")
        .nth(1)
        .unwrap_or(public_url)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn security_headers(State(state): State<Arc<AppState>>, mut resp: Response) -> Response {
    let h = resp.headers_mut();
    if state.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    // An origin's pages may also talk to its edges (the watch page's WHEP there).
    let edges = match &state.cluster {
        Some(cluster::Node::Origin(o)) => o.edge_origins(),
        _ => Vec::new(),
    };
    let connect = std::iter::once("'self'")
        .chain(edges.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: blob:; media-src 'self' blob:; connect-src {connect}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Prometheus text, for whoever has the metrics token (`Authorization: Bearer …`; the token
/// is `[metrics] token` or `<data_dir>/metrics.token`).
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    use sha2::{Digest, Sha256};
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compared as digests: equal length, no early exit on the secret's bytes.
    if state.metrics_token.is_empty()
        || Sha256::digest(given.as_bytes()) != Sha256::digest(state.metrics_token.as_bytes())
    {
        let mut resp = (StatusCode::UNAUTHORIZED, "a metrics token is required").into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    match &state.metrics {
        Some(h) => h.render().into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are disabled").into_response(),
    }
}

async fn ws_upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if matches!(state.cluster, Some(cluster::Node::Edge(_))) {
        // An edge only relays (docs/cluster.md): rooms live at the origin.
        return (
            StatusCode::NOT_FOUND,
            "this is an edge node: join at the origin",
        )
            .into_response();
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .unwrap_or("");
    if !state.allowed_origins.iter().any(|a| a == origin) {
        metrics::counter!("plenum_ws_rejected_origin_total").increment(1);
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    if state.limits.pending() >= state.limits.max_pending {
        metrics::counter!("plenum_ws_rejected_pending_total").increment(1);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections are waiting to join; try again shortly",
        )
            .into_response();
    }
    upgrade
        .max_message_size(protocol::MAX_FRAME_BYTES)
        .max_frame_size(protocol::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| ws::serve(socket, state))
}

/// How to terminate TLS.
#[derive(Debug, Clone)]
pub enum TlsSetup {
    /// HTTPS with these PEM files.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// Plain HTTP (only behind a TLS-terminating reverse proxy).
    Off,
}

/// Errors starting the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the port failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Loading the certificate failed.
    #[error("cannot load TLS certificate: {0}")]
    Tls(std::io::Error),
}

/// A running HTTP server.
#[derive(Debug)]
pub struct Running {
    /// The bound address (port 0 resolved).
    pub addr: SocketAddr,
    /// Graceful shutdown trigger.
    pub handle: axum_server::Handle<SocketAddr>,
    /// Ends when the server has stopped.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serve `app` on a bound listener over HTTPS (or HTTP with [`TlsSetup::Off`]).
pub async fn serve(
    listener: std::net::TcpListener,
    tls: TlsSetup,
    app: Router,
) -> Result<Running, ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let handle = axum_server::Handle::new();
    let service = app.into_make_service();
    let task = match tls {
        TlsSetup::Files { cert, key } => {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(ServeError::Tls)?;
            let server = axum_server::from_tcp_rustls(listener, config)
                .map_err(|source| ServeError::Bind { addr, source })?
                .handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
        TlsSetup::Off => {
            let server = axum_server::from_tcp(listener)
                .map_err(|source| ServeError::Bind { addr, source })?
                .handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
    };
    Ok(Running {
        addr: bound,
        handle,
        task,
    })
}

impl Running {
    /// Stop accepting, let open requests finish for up to `grace`, then wait for the end.
    pub async fn shutdown(self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::is_local_url;

    #[test]
    fn local_urls_are_recognised() {
        for url in [
            "https://localhost:8443",
            "https://127.0.0.1:8443",
            "https://[::1]:8443",
            "https://app.localhost",
        ] {
            assert!(is_local_url(url), "{url}");
        }
        for url in ["https://parteitag.example.org", "https://203.0.113.7:443"] {
            assert!(!is_local_url(url), "{url}");
        }
    }
}

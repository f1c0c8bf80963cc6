//! The root configuration: one TOML file, `PLENUM_*` environment overrides, command-line
//! flags — in that order of precedence, lowest first. Every key is documented in
//! `deploy/plenum.sample.toml`; unknown keys are rejected with their name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `plenum serve` needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, token key and certificate live.
    pub data_dir: PathBuf,
    /// The database: embedded SQLite in `data_dir`, or PostgreSQL.
    pub database: DatabaseConfig,
    /// HTTPS and WebSocket.
    pub http: HttpConfig,
    /// The media plane.
    pub media: MediaSection,
    /// Invite links.
    pub invites: InviteConfig,
    /// Logging.
    pub log: LogConfig,
    /// The chat plugin.
    pub chat: plenum_chat::ChatConfig,
    /// The member directory.
    pub directory: plenum_directory::DirectoryConfig,
    /// Retention rules (GDPR).
    pub retention: plenum_signalling::gdpr::RetentionConfig,
    /// Mail to members (SMTP).
    pub mail: plenum_signalling::mail::MailConfig,
    /// Reports (minutes).
    pub reports: plenum_reports::ReportsConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// TURN for clients behind restrictive networks.
    pub turn: plenum_signalling::turn::TurnConfig,
    /// Origin and edge nodes (docs/cluster.md).
    pub cluster: ClusterConfig,
}

/// A node's part in a cluster.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClusterRole {
    /// A single server (default).
    #[default]
    None,
    /// Hosts the rooms; accepts edges on `cluster.listen`.
    Origin,
    /// Relays an origin's rooms to viewers (WHEP).
    Edge,
}

/// `[cluster]` (docs/cluster.md)
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `none`, `origin` or `edge`.
    pub role: ClusterRole,
    /// This node's name: the name in its certificate, in logs and placement answers.
    pub node: String,
    /// Origin: the UDP address edges connect to (QUIC).
    pub listen: SocketAddr,
    /// Edge: the origin's cluster address, `host:port` (a name is resolved at start).
    pub origin: Option<String>,
    /// Edge: the name in the origin's certificate.
    pub origin_name: String,
    /// The cluster CA's certificate (PEM): only nodes with a certificate it signed connect.
    pub ca: Option<PathBuf>,
    /// This node's certificate (PEM), signed by the cluster CA.
    pub cert: Option<PathBuf>,
    /// This node's private key (PEM).
    pub key: Option<PathBuf>,
    /// Edge: the origin's token key (a copy of its `<data_dir>/token.key`), so that the
    /// origin's access tokens work here; default: this node's own `<data_dir>/token.key`.
    pub token_key: Option<PathBuf>,
    /// Edge: viewers it accepts (0: no limit); placement sends no more.
    pub capacity: u32,
    /// Origin: the edges' public URLs viewers may be sent to; empty: whatever a connected
    /// edge announces (docs/cluster.md, *Trust model*).
    pub edge_urls: Vec<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            role: ClusterRole::None,
            node: "origin".into(),
            listen: SocketAddr::from(([0, 0, 0, 0], 7443)),
            origin: None,
            origin_name: "origin".into(),
            ca: None,
            cert: None,
            key: None,
            token_key: None,
            capacity: 0,
            edge_urls: Vec::new(),
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL (`postgres://user@host/db`, or `host=… dbname=…`); absent
    /// or empty: the embedded SQLite database `<data_dir>/plenum.db`.
    pub url: Option<String>,
}

impl DatabaseConfig {
    /// The PostgreSQL URL, if one is configured.
    pub fn postgres_url(&self) -> Option<&str> {
        self.url.as_deref().map(str::trim).filter(|u| !u.is_empty())
    }
}

/// `[metrics]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The bearer token `/metrics` requires; default: `<data_dir>/metrics.token`, created
    /// once (random, owner-only).
    pub token: Option<String>,
}

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// The URL people open (scheme://host[:port]); default: derived from `bind`.
    pub public_url: Option<String>,
    /// Serve HTTPS (false only behind a TLS-terminating reverse proxy).
    pub tls: bool,
    /// Certificate chain (PEM); default `<data_dir>/tls/cert.pem`, self-signed if missing.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM); default `<data_dir>/tls/key.pem`, created with the certificate.
    pub tls_key: Option<PathBuf>,
    /// Further origins allowed to open the WebSocket.
    pub allowed_origins: Vec<String>,
    /// A WebSocket that has not joined within this many seconds is closed.
    pub join_timeout_secs: u64,
    /// WebSocket connections that have not joined yet, server-wide; more get HTTP 503.
    pub max_pending_connections: usize,
    /// Commands one connection may send at once …
    pub command_burst: u32,
    /// … and per second after that (`rate_limited` beyond).
    pub commands_per_sec: u32,
    /// Participants per room (the lobby included); more get `room_full`. Moderators and
    /// admins are admitted beyond it.
    pub max_room_participants: usize,
}

/// `[media]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// The one UDP port for all media.
    pub bind: SocketAddr,
    /// Addresses announced to browsers as ICE candidates (port 0 = the bound port).
    pub public_addresses: Vec<SocketAddr>,
    /// Media worker threads (0: one per core).
    pub workers: usize,
    /// ICE-TCP on the same port number.
    pub ice_tcp: bool,
    /// Bandwidth estimation (TWCC) per subscriber drives the layer choice.
    pub bandwidth_estimation: bool,
    /// UDP segmentation offload on sends (GSO) and coalescing on receives (GRO).
    pub udp_offload: bool,
    /// Milliseconds forwarded packets may wait to reach each connection in one flush.
    pub flush_coalesce_ms: u64,
    /// The bandwidth estimate (kbit/s) each new connection starts from, 100 ..= 100 000.
    pub start_estimate_kbps: u64,
    /// Stage video slots per subscriber (0 or 1).
    pub stage_slots: u8,
    /// Tile video slots per subscriber.
    pub tile_slots: u8,
    /// Audio slots per subscriber.
    pub audio_slots: u8,
}

/// `[invites]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InviteConfig {
    /// How long an invite link stays valid.
    pub valid_hours: u64,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// tracing filter, e.g. `info` or `plenum_sfu=debug,info`.
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            media: MediaSection::default(),
            invites: InviteConfig::default(),
            log: LogConfig::default(),
            chat: plenum_chat::ChatConfig::default(),
            directory: plenum_directory::DirectoryConfig::default(),
            retention: plenum_signalling::gdpr::RetentionConfig::default(),
            mail: plenum_signalling::mail::MailConfig::default(),
            reports: plenum_reports::ReportsConfig::default(),
            metrics: MetricsConfig::default(),
            cluster: ClusterConfig::default(),
            turn: plenum_signalling::turn::TurnConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: None,
            tls: true,
            tls_cert: None,
            tls_key: None,
            allowed_origins: Vec::new(),
            join_timeout_secs: 10,
            max_pending_connections: 200,
            command_burst: 30,
            commands_per_sec: 10,
            max_room_participants: 500,
        }
    }
}

impl Default for MediaSection {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 50000)),
            public_addresses: Vec::new(),
            workers: 0,
            ice_tcp: true,
            bandwidth_estimation: true,
            udp_offload: true,
            flush_coalesce_ms: 2,
            start_estimate_kbps: plenum_sfu::shard::DEFAULT_START_ESTIMATE / 1000,
            stage_slots: 1,
            tile_slots: 8,
            audio_slots: 3,
        }
    }
}

impl Default for InviteConfig {
    fn default() -> Self {
        Self { valid_hours: 72 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
        }
    }
}

/// Top-level names the environment may set (`PLENUM_HTTP__BIND`, `PLENUM_DATA_DIR`, …).
/// Other `PLENUM_*` variables belong to other tools and are ignored; unknown keys inside a
/// section are rejected like in the file.
const ENV_ROOTS: &[&str] = &[
    "data_dir",
    "database",
    "http",
    "media",
    "invites",
    "log",
    "chat",
    "directory",
    "retention",
    "mail",
    "reports",
    "metrics",
    "turn",
    "cluster",
];

/// Command-line values that override file and environment.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--data-dir`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--http-bind`, `--public-url`
    #[serde(skip_serializing_if = "serde_json_like_empty")]
    pub http: HttpOverrides,
    /// `--media-bind`
    #[serde(skip_serializing_if = "media_empty")]
    pub media: MediaOverrides,
}

/// `[http]` flags.
#[derive(Debug, Default, Serialize)]
pub struct HttpOverrides {
    /// `--http-bind`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    /// `--public-url`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// `[media]` flags.
#[derive(Debug, Default, Serialize)]
pub struct MediaOverrides {
    /// `--media-bind`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
}

fn serde_json_like_empty(h: &HttpOverrides) -> bool {
    h.bind.is_none() && h.public_url.is_none()
}

fn media_empty(m: &MediaOverrides) -> bool {
    m.bind.is_none()
}

/// Load the configuration: defaults, then `file` (if given), then the environment, then
/// `overrides`.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, Box<figment::Error>> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(Box::new(figment::Error::from(format!(
                "config file {} does not exist",
                path.display()
            ))));
        }
        fig = fig.merge(Toml::file(path));
    }
    fig = fig
        .merge(Env::prefixed("PLENUM_").split("__").filter(|k| {
            // The filter runs after `__` became `.`.
            let root = k.as_str().split('.').next().unwrap_or_default();
            ENV_ROOTS.iter().any(|r| root.eq_ignore_ascii_case(r))
        }))
        .merge(Serialized::defaults(overrides));
    fig.extract().map_err(Box::new)
}

impl Config {
    /// The URL people open: configured, or derived from the bound address.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.http.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let scheme = if self.http.tls { "https" } else { "http" };
        let host = if bound.ip().is_unspecified() {
            "localhost".to_owned()
        } else {
            match bound {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            }
        };
        format!("{scheme}://{host}:{}", bound.port())
    }

    /// Origins allowed to open the WebSocket: the public URL's, its localhost/127.0.0.1
    /// twin, and the configured extra ones.
    pub fn allowed_origins(&self, public_url: &str) -> Vec<String> {
        let mut origins = vec![public_url.to_owned()];
        for (a, b) in [
            ("://127.0.0.1:", "://localhost:"),
            ("://localhost:", "://127.0.0.1:"),
        ] {
            if public_url.contains(a) {
                origins.push(public_url.replace(a, b));
            }
        }
        origins.extend(self.http.allowed_origins.iter().cloned());
        origins
    }

    /// Certificate and key paths.
    pub fn tls_paths(&self) -> (PathBuf, PathBuf) {
        let dir = self.data_dir.join("tls");
        (
            self.http
                .tls_cert
                .clone()
                .unwrap_or_else(|| dir.join("cert.pem")),
            self.http
                .tls_key
                .clone()
                .unwrap_or_else(|| dir.join("key.pem")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_can_be_set_from_the_environment() {
        let value = serde_json::to_value(Config::default()).unwrap();
        let mut sections: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut roots = ENV_ROOTS.to_vec();
        sections.sort_unstable();
        roots.sort_unstable();
        assert_eq!(sections, roots, "ENV_ROOTS lists every top-level key");
    }

    #[test]
    fn sample_file_is_complete_and_valid() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/plenum.sample.toml");
        let cfg = load(Some(&sample), &Overrides::default()).unwrap();
        assert_eq!(cfg, Config::default(), "the sample documents the defaults");
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let dir = std::env::temp_dir().join(format!("plenum-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "[http]\nbindd = \"127.0.0.1:1\"\n").unwrap();
        let err = load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bindd"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_database_url_is_read_and_empty_means_sqlite() {
        assert_eq!(Config::default().database.postgres_url(), None, "SQLite");
        let dir = std::env::temp_dir().join(format!("plenum-cfg-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("db.toml");
        std::fs::write(&file, "[database]\nurl = \"postgres://plenum@/plenum\"\n").unwrap();
        let cfg = load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(
            cfg.database.postgres_url(),
            Some("postgres://plenum@/plenum")
        );
        std::fs::write(&file, "[database]\nurl = \" \"\n").unwrap();
        let cfg = load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(cfg.database.postgres_url(), None, "empty: SQLite");
        std::fs::write(&file, "[database]\nuri = \"postgres://x\"\n").unwrap();
        let err = load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("uri"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_override_file() {
        let o = Overrides {
            data_dir: Some("/tmp/x".into()),
            http: HttpOverrides {
                bind: Some("127.0.0.1:0".parse().unwrap()),
                public_url: None,
            },
            media: MediaOverrides::default(),
        };
        let cfg = load(None, &o).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.http.bind.port(), 0);
        assert_eq!(cfg.media, MediaSection::default());
    }

    #[test]
    fn public_url_and_origins() {
        let cfg = Config::default();
        let url = cfg.public_url("127.0.0.1:8443".parse().unwrap());
        assert_eq!(url, "https://127.0.0.1:8443");
        assert_eq!(
            cfg.allowed_origins(&url),
            vec!["https://127.0.0.1:8443", "https://localhost:8443"]
        );
        assert_eq!(
            cfg.public_url("0.0.0.0:1".parse().unwrap()),
            "https://localhost:1"
        );
    }
}

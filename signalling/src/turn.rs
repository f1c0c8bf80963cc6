//! Short-lived TURN credentials for coturn's shared-secret scheme (`use-auth-secret`, the
//! "TURN REST API"): username `<expiry unix seconds>:<participant id>`, password
//! base64(HMAC-SHA1(secret, username)). coturn checks them with the same secret; nothing is
//! stored, and they expire on their own. A sample coturn configuration is in `deploy/`.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

/// `[turn]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// TURN/TURNS URLs handed to browsers, e.g. `turn:turn.example.org:3478?transport=udp`,
    /// `turns:turn.example.org:5349?transport=tcp`. Empty: no TURN server.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long credentials stay valid.
    pub ttl_secs: u64,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            secret: String::new(),
            ttl_secs: 3600,
        }
    }
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    /// The URLs.
    pub urls: Vec<String>,
    /// `<expiry>:<participant>`.
    pub username: String,
    /// The derived password.
    pub credential: String,
}

impl TurnConfig {
    /// Credentials for `participant` at `now_unix`, or none when TURN is not configured.
    pub fn ice_servers(&self, participant: &str, now_unix: u64) -> Vec<IceServer> {
        if self.urls.is_empty() || self.secret.is_empty() {
            return Vec::new();
        }
        let username = format!("{}:{participant}", now_unix.saturating_add(self.ttl_secs));
        vec![IceServer {
            urls: self.urls.clone(),
            credential: credential(&self.secret, &username),
            username,
        }]
    }
}

/// base64(HMAC-SHA1(secret, username)), as coturn computes it.
pub fn credential(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_cotturns_shared_secret_scheme() {
        // Reference: python3 -c "import hmac,hashlib,base64;
        //   print(base64.b64encode(hmac.new(b'north', b'1700003600:p-1', hashlib.sha1).digest()))"
        let turn = TurnConfig {
            urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
            secret: "north".into(),
            ttl_secs: 3600,
        };
        let servers = turn.ice_servers("p-1", 1_700_000_000);
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].username, "1700003600:p-1");
        assert_eq!(servers[0].credential, "+TLOT+gklalCRiy/oNb+9AYUlAs=");
    }

    #[test]
    fn nothing_without_urls_or_secret() {
        assert!(TurnConfig::default().ice_servers("p", 1).is_empty());
        let no_secret = TurnConfig {
            urls: vec!["turn:x".into()],
            ..TurnConfig::default()
        };
        assert!(no_secret.ice_servers("p", 1).is_empty());
    }
}

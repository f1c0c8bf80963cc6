//! Signed access tokens (JWT, HS256) carried by invite links.
//!
//! Claims: `sub` participant id, `name`, `room`, `role`, `iat`, `exp`, `jti`. Expiry is
//! checked against a time the caller passes in (no clock reads here), so tests are exact.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// A participant's role; its default grants are in [`crate::authz::Grants::for_role`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform's rooms: a moderator who may also appoint moderators.
    Admin,
    /// Runs the room (Versammlungsleitung).
    Moderator,
    /// Takes part and votes.
    Delegate,
    /// May speak, may not vote.
    GuestSpeaker,
    /// Watches and listens only.
    Observer,
}

impl Role {
    /// Every role, for tables and tests.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Moderator,
        Role::Delegate,
        Role::GuestSpeaker,
        Role::Observer,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Moderator => "moderator",
            Role::Delegate => "delegate",
            Role::GuestSpeaker => "guest_speaker",
            Role::Observer => "observer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?} (expected admin, moderator, delegate, guest_speaker or observer)"
                )
            })
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Participant id.
    pub sub: String,
    /// Display name.
    pub name: String,
    /// Room id.
    pub room: String,
    /// Role.
    pub role: Role,
    /// Issued at (unix seconds).
    pub iat: u64,
    /// Expires at (unix seconds).
    pub exp: u64,
    /// Token id (the invite's id in storage).
    pub jti: String,
    /// Overrides of the role's grants for this participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<crate::authz::GrantOverrides>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Malformed, wrongly signed, or with missing claims.
    #[error("the access token is not valid")]
    Invalid,
    /// Past its `exp`.
    #[error("the access token has expired")]
    Expired,
}

/// Issues and verifies tokens with one HMAC secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    /// Keys from a secret (at least 32 random bytes).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Sign claims into a token.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// Verify a token's signature and expiry at `now_unix` (seconds).
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the injected time, without leeway.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now_unix {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "p-1".into(),
            name: "Anna".into(),
            room: "demo".into(),
            role: Role::Delegate,
            iat: 100,
            exp,
            jti: "i-1".into(),
            grants: None,
        }
    }

    #[test]
    fn roundtrip() {
        let keys = TokenKeys::new(&[7u8; 32]);
        let token = keys.issue(&claims(1000)).unwrap();
        assert_eq!(keys.verify(&token, 999).unwrap(), claims(1000));
    }

    #[test]
    fn expired_token_is_refused() {
        let keys = TokenKeys::new(&[7u8; 32]);
        let token = keys.issue(&claims(1000)).unwrap();
        assert_eq!(keys.verify(&token, 1000), Err(TokenError::Expired));
    }

    #[test]
    fn foreign_signature_and_garbage_are_invalid() {
        let keys = TokenKeys::new(&[7u8; 32]);
        let other = TokenKeys::new(&[8u8; 32]);
        let token = other.issue(&claims(1000)).unwrap();
        assert_eq!(keys.verify(&token, 1), Err(TokenError::Invalid));
        assert_eq!(keys.verify("abc.def.ghi", 1), Err(TokenError::Invalid));
        assert_eq!(keys.verify("", 1), Err(TokenError::Invalid));
    }
}

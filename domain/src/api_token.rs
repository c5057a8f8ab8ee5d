//! API tokens (SPEC §4): opaque, high-entropy, prefixed `rst_`, stored only as a SHA-256 hash,
//! shown once at creation. A token acts with its owner's current roles.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const PREFIX: &str = "rst_";
/// Characters of the secret kept for display (`rst_` plus four), so a person can tell tokens apart.
const DISPLAY_CHARS: usize = 8;
const SECRET_BYTES: usize = 32;

/// The secret itself: `rst_` + 256 random bits in base64url. `Debug` shows only the display prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiTokenSecret(String);

impl fmt::Debug for ApiTokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiTokenSecret({}…)", self.display_prefix())
    }
}

impl ApiTokenSecret {
    pub fn from_random(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Whether a bearer credential has the shape of an API token (as opposed to a JWT).
    pub fn looks_like(s: &str) -> bool {
        s.starts_with(PREFIX)
    }

    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix(PREFIX)?;
        let decoded = URL_SAFE_NO_PAD.decode(body).ok()?;
        (decoded.len() == SECRET_BYTES).then(|| Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form: SHA-256, hex. A high-entropy secret needs no salt or slow hash.
    pub fn hash(&self) -> String {
        format!("{:x}", Sha256::digest(self.0.as_bytes()))
    }

    pub fn display_prefix(&self) -> &str {
        &self.0[..DISPLAY_CHARS.min(self.0.len())]
    }
}

/// A token as listed: everything but the secret.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub display_prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    pub const MAX_NAME_CHARS: usize = 100;
}

/// What authenticating with an API token reads of it: which token it is (to record its use),
/// when it expires and when its use was last recorded.
#[derive(Debug, Clone)]
pub struct ApiTokenUse {
    pub id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hashes() {
        let t = ApiTokenSecret::from_random([7; 32]);
        assert!(t.expose().starts_with("rst_"));
        assert_eq!(t.expose().len(), 4 + 43);
        assert_eq!(ApiTokenSecret::parse(t.expose()), Some(t.clone()));
        // Stored hashes must never change form: sha256sum of the token's text, lower-case hex.
        assert_eq!(
            t.hash(),
            "ac242543db9e6c0c99229d43b7ea962a5afeafbb3c0f13a358e3cfadac0debef"
        );
        assert_ne!(t.hash(), ApiTokenSecret::from_random([8; 32]).hash());
        assert!(!format!("{t:?}").contains(&t.expose()[8..]));
    }

    #[test]
    fn refuses_malformed_tokens() {
        assert_eq!(ApiTokenSecret::parse("rst_short"), None);
        assert_eq!(ApiTokenSecret::parse("xyz_AAAA"), None);
    }
}

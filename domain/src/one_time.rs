//! One-time tokens (SPEC §5): the secrets in activation, invitation and password-reset links.
//!
//! A token is sealed, not stored. It carries the account it is for, its purpose, when it expires and
//! 128 random bits, sealed with an HMAC-SHA256 under a key derived from the server's secret
//! ([`TokenKey`]). The seal also covers the account's **stamp**: what about the account the token
//! was issued for and must still hold when it is used ([`stamp`]):
//! - that it has no password yet (activation, invitation), or its password hash as it was (reset),
//!   so that using the token (which sets a password) spends it: **single use**;
//! - the account's token generation for the purpose, which re-issuing or revoking raises: every
//!   token issued before is then **revoked**.
//!
//! So a token is checked ([`TokenKey::open`]) against the account as it is now, without being
//! consumed (`POST /auth/tokens/inspect`), and a used, revoked, expired, forged or unknown token
//! fails alike ([`Invalid`]). Nothing of a token is at rest: the database holds no token, hashed or
//! not, and a copy of it yields none (the key is not in it). Why sealed rather than a stored hash:
//! a stored token is one more row and index entry in the transaction of every create of an account
//! without a password (`bench/ab --scenarios create` creates such accounts), and one more again
//! to use or revoke it; a sealed one costs a create nothing, and an email can be rendered with a
//! fresh token when it is sent. What it costs: changing the server's secret voids every
//! outstanding link (they are re-issued), and the account's generation must be read to check one.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, TimeZone, Utc};
use hmac::{digest::KeyInit, Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The prefix of every one-time token's text, so a person (or a secret scanner) can tell it.
const PREFIX: &str = "rot_";
/// The layout's version, the first byte sealed.
const VERSION: u8 = 1;
/// Random bytes in a token (128 bits).
pub const NONCE_BYTES: usize = 16;
/// Bytes sealed before the tag: version, purpose, account id, expiry (Unix seconds), nonce.
const BODY: usize = 1 + 1 + 16 + 8 + NONCE_BYTES;
const TAG: usize = 32;

/// What a token is for (how long it lasts: `settings::TokenLifetimes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Activation,
    Invitation,
    Reset,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [Purpose::Activation, Purpose::Invitation, Purpose::Reset];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Activation => "activation",
            Purpose::Invitation => "invitation",
            Purpose::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The purpose whose generation a token of this one is bound to: an invitation's is the
    /// activation's, so re-issuing or revoking an account's activation link voids its invitation
    /// links too (both set the first password).
    pub fn generation_purpose(self) -> Purpose {
        match self {
            Purpose::Invitation => Purpose::Activation,
            other => other,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Purpose::Activation => 1,
            Purpose::Invitation => 2,
            Purpose::Reset => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.byte() == b)
    }
}

/// What a token says about itself, once its seal is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub account: Uuid,
    pub purpose: Purpose,
    /// Whole seconds.
    pub expires_at: DateTime<Utc>,
}

/// A one-time token's text. `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeToken(String);

impl fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeToken(<redacted>)")
    }
}

impl OneTimeToken {
    /// The token as a client sent it (surrounding spaces ignored); any text is accepted here, and
    /// judged by [`TokenKey::open`].
    pub fn from_client(s: &str) -> Self {
        Self(s.trim().to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Why a token was refused: deliberately one reason, whatever it was (used, revoked, expired,
/// forged, unknown, for another purpose), so the answer tells a guesser nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// What about an account a token is bound to (see the module's documentation): its token
/// generation for the purpose and, for a reset, its password hash; for activation and invitation,
/// that it has none. `None` where the purpose cannot apply (an activation for an account that has
/// a password already).
pub fn stamp(purpose: Purpose, generation: i64, password_hash: Option<&str>) -> Option<Vec<u8>> {
    let mut s = generation.to_be_bytes().to_vec();
    match (purpose, password_hash) {
        (Purpose::Activation | Purpose::Invitation, None) => {}
        (Purpose::Activation | Purpose::Invitation, Some(_)) => return None,
        (Purpose::Reset, hash) => s.extend(Sha256::digest(hash.unwrap_or("").as_bytes())),
    }
    Some(s)
}

/// The key that seals one-time tokens: derived from the server's secret for this use alone (the
/// secret also signs access tokens).
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl TokenKey {
    pub fn derive(server_secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"roster one-time tokens v1\0");
        h.update(server_secret);
        Self(h.finalize().into())
    }

    fn mac(&self, body: &[u8], stamp: &[u8]) -> Hmac<Sha256> {
        // HMAC pads a key shorter than SHA-256's block with zeros: this is HMAC under `self.0`.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
        mac.update(body);
        mac.update(stamp);
        mac
    }

    /// Seals a token for `claims`, bound to the account's `stamp`, with `nonce` as its randomness.
    pub fn seal(&self, claims: Claims, stamp: &[u8], nonce: [u8; NONCE_BYTES]) -> OneTimeToken {
        let mut bytes = Vec::with_capacity(BODY + TAG);
        bytes.push(VERSION);
        bytes.push(claims.purpose.byte());
        bytes.extend(claims.account.as_bytes());
        bytes.extend(claims.expires_at.timestamp().to_be_bytes());
        bytes.extend(nonce);
        let tag = self.mac(&bytes, stamp).finalize().into_bytes();
        bytes.extend(tag);
        OneTimeToken(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// What the token claims, read before its seal can be checked (the seal needs the account's
    /// stamp, and the claims say which account); refused when it cannot be a token or has expired
    /// at `now`. Follow with [`TokenKey::verify`].
    pub fn open(&self, token: &OneTimeToken, now: DateTime<Utc>) -> Result<Claims, Invalid> {
        let bytes = decode(token)?;
        let claims = Claims {
            purpose: Purpose::from_byte(bytes[1]).ok_or(Invalid)?,
            account: Uuid::from_slice(&bytes[2..18]).map_err(|_| Invalid)?,
            expires_at: Utc
                .timestamp_opt(
                    i64::from_be_bytes(bytes[18..26].try_into().map_err(|_| Invalid)?),
                    0,
                )
                .single()
                .ok_or(Invalid)?,
        };
        if claims.expires_at <= now {
            return Err(Invalid);
        }
        Ok(claims)
    }

    /// Whether the token's seal holds for the account's `stamp` now (`None`: the purpose no longer
    /// applies to the account). Compared in constant time.
    pub fn verify(&self, token: &OneTimeToken, stamp: Option<&[u8]>) -> Result<(), Invalid> {
        let bytes = decode(token)?;
        let stamp = stamp.ok_or(Invalid)?;
        self.mac(&bytes[..BODY], stamp)
            .verify_slice(&bytes[BODY..])
            .map_err(|_| Invalid)
    }
}

fn decode(token: &OneTimeToken) -> Result<Vec<u8>, Invalid> {
    let body = token.0.strip_prefix(PREFIX).ok_or(Invalid)?;
    let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| Invalid)?;
    if bytes.len() != BODY + TAG || bytes[0] != VERSION {
        return Err(Invalid);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use chrono::Duration;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).single().unwrap()
    }

    fn claims(purpose: Purpose) -> Claims {
        Claims {
            account: Uuid::from_u128(0x0193_a5f2_0000_7000_8000_0000_0000_0001),
            purpose,
            expires_at: at(1_800_000_000),
        }
    }

    fn key() -> TokenKey {
        TokenKey::derive(b"a server secret of at least thirty-two characters")
    }

    #[test]
    fn a_sealed_token_opens_to_its_claims_and_verifies_against_its_stamp() {
        let stamp = stamp(Purpose::Activation, 0, None).unwrap();
        let token = key().seal(claims(Purpose::Activation), &stamp, [7; NONCE_BYTES]);
        assert!(token.expose().starts_with("rot_"));
        assert_eq!(
            key().open(&token, at(1_700_000_000)),
            Ok(claims(Purpose::Activation))
        );
        assert_eq!(key().verify(&token, Some(&stamp)), Ok(()));
        assert_eq!(format!("{token:?}"), "OneTimeToken(<redacted>)");
    }

    #[test]
    fn used_revoked_expired_and_foreign_tokens_fail_alike() {
        let unused = stamp(Purpose::Activation, 0, None).unwrap();
        let token = key().seal(claims(Purpose::Activation), &unused, [7; NONCE_BYTES]);
        // Used: the account has a password now, so an activation no longer applies to it.
        assert_eq!(stamp(Purpose::Activation, 0, Some("$argon2id$…")), None);
        assert_eq!(key().verify(&token, None), Err(Invalid));
        // Revoked: the generation was raised.
        let revoked = stamp(Purpose::Activation, 1, None).unwrap();
        assert_eq!(key().verify(&token, Some(&revoked)), Err(Invalid));
        // Expired, at its expiry and after.
        assert_eq!(key().open(&token, at(1_800_000_000)), Err(Invalid));
        // Sealed under another server secret.
        let other = TokenKey::derive(b"another server secret, also long enough to use");
        assert_eq!(other.verify(&token, Some(&unused)), Err(Invalid));
        // Not a token at all.
        for text in ["", "rot_", "rsr_abc", "rot_!!!!", &token.expose()[..20]] {
            assert_eq!(
                key().open(&OneTimeToken::from_client(text), at(0)),
                Err(Invalid),
                "{text}"
            );
        }
    }

    #[test]
    fn a_reset_token_is_spent_when_the_password_changes() {
        let before = stamp(Purpose::Reset, 0, Some("$argon2id$old")).unwrap();
        let token = key().seal(claims(Purpose::Reset), &before, [1; NONCE_BYTES]);
        assert_eq!(key().verify(&token, Some(&before)), Ok(()));
        let after = stamp(Purpose::Reset, 0, Some("$argon2id$new")).unwrap();
        assert_eq!(key().verify(&token, Some(&after)), Err(Invalid));
    }

    #[test]
    fn the_seal_is_hmac_sha256_under_the_derived_key() {
        let k = key();
        let standard = <Hmac<Sha256> as Mac>::new_from_slice(&k.0)
            .unwrap()
            .chain_update(b"body")
            .chain_update(b"stamp")
            .finalize()
            .into_bytes();
        assert_eq!(k.mac(b"body", b"stamp").finalize().into_bytes(), standard);
    }

    #[test]
    fn purposes_and_their_lifetimes() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
            assert_eq!(Purpose::from_byte(p.byte()), Some(p));
        }
        let lifetimes = crate::settings::TokenLifetimes::default();
        assert_eq!(lifetimes.of(Purpose::Activation), Duration::days(7));
        assert_eq!(lifetimes.of(Purpose::Invitation), Duration::days(7));
        assert_eq!(lifetimes.of(Purpose::Reset), Duration::hours(1));
    }

    proptest! {
        /// Changing any one byte of a token (its claims, its randomness or its seal) breaks it.
        #[test]
        fn any_changed_byte_breaks_the_seal(index in 0..BODY + TAG, flip in 1u8..=255, nonce in any::<[u8; NONCE_BYTES]>()) {
            let stamp = stamp(Purpose::Invitation, 3, None).unwrap();
            let token = key().seal(claims(Purpose::Invitation), &stamp, nonce);
            let mut bytes = URL_SAFE_NO_PAD.decode(&token.expose()[PREFIX.len()..]).unwrap();
            bytes[index] ^= flip;
            let changed = OneTimeToken::from_client(&format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)));
            prop_assert_eq!(key().verify(&changed, Some(&stamp)), Err(Invalid));
        }

        /// Two tokens sealed with different randomness differ, and each verifies.
        #[test]
        fn tokens_differ_by_their_randomness(a in any::<[u8; NONCE_BYTES]>(), b in any::<[u8; NONCE_BYTES]>()) {
            prop_assume!(a != b);
            let stamp = stamp(Purpose::Activation, 0, None).unwrap();
            let (ta, tb) = (key().seal(claims(Purpose::Activation), &stamp, a), key().seal(claims(Purpose::Activation), &stamp, b));
            prop_assert_ne!(ta.expose(), tb.expose());
            prop_assert_eq!(key().verify(&ta, Some(&stamp)), Ok(()));
            prop_assert_eq!(key().verify(&tb, Some(&stamp)), Ok(()));
        }
    }
}

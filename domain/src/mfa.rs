//! Two-factor sign-in (SPEC §6): RFC 6238 time-based codes (SHA-1, 6 digits, 30 s steps, one step
//! either side accepted), their secrets sealed at rest, and single-use recovery codes.
//!
//! Each code is accepted once per account: a factor records the last step a code was accepted for,
//! and only a code of a later step is accepted after it (RFC 6238 §5.2). The record lives in the
//! database with the factor, so a replay is refused on every replica.
//!
//! A factor's secret is sealed with XChaCha20-Poly1305 under a key derived from the server's
//! secret ([`MfaKey`]): a copy of the database alone yields no secret. Recovery codes have 80 bits
//! of randomness each, so a SHA-256 of each is what is stored (no slow hash is needed for them).

use std::fmt;

use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};

use crate::seal::SealKey;
pub use crate::seal::Unreadable;

/// RFC 6238 step.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Random bytes of a secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Random bytes sealing a secret takes.
pub const SEAL_NONCE_BYTES: usize = crate::seal::NONCE_BYTES;
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Random bytes of a recovery code (80 bits).
pub const RECOVERY_CODE_BYTES: usize = 10;
/// The issuer authenticator apps show.
pub const ISSUER: &str = "Roster";

/// A factor's secret, in the clear. `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn new(random: [u8; SECRET_BYTES]) -> Self {
        Self(random.to_vec())
    }

    fn totp(&self, account_name: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            0,
            STEP_SECONDS,
            self.0.clone(),
            Some(ISSUER.into()),
            account_name.into(),
        )
    }

    /// A secret as an authenticator app holds it (base32, as [`TotpSecret::base32`] gives it).
    pub fn from_base32(text: &str) -> Option<Self> {
        totp_rs::Secret::Encoded(text.to_owned())
            .to_bytes()
            .ok()
            .map(Self)
    }

    /// The secret as authenticator apps take it when typed in (base32).
    pub fn base32(&self) -> String {
        self.totp("").get_secret_base32()
    }

    /// `otpauth://totp/Roster:<account>?secret=…&issuer=Roster…`, for a QR code.
    pub fn uri(&self, account_name: &str) -> String {
        // A ':' would end the label early; usernames cannot hold one, but be sure.
        self.totp(&account_name.replace(':', "_")).get_url()
    }

    /// The code for the step holding `at`.
    pub fn code_at(&self, at: DateTime<Utc>) -> String {
        self.totp("").generate(unix(at))
    }

    /// The step a `code` is valid for at `now` — this step or one either side — if it is one.
    pub fn matching_step(&self, code: &str, now: DateTime<Utc>) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let step = unix(now) / STEP_SECONDS;
        let totp = self.totp("");
        // Each candidate compared in full, in constant time, whichever matches.
        let mut found = None;
        for candidate in [step.saturating_sub(1), step, step + 1] {
            let expected = totp.generate(candidate * STEP_SECONDS);
            if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
                found = Some(candidate);
            }
        }
        found
    }
}

fn unix(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp()).unwrap_or(0)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Seals and opens factor secrets ([`crate::seal`]).
#[derive(Clone)]
pub struct MfaKey(SealKey);

impl MfaKey {
    pub fn derive(server_secret: &[u8]) -> Self {
        Self(SealKey::derive(
            b"roster totp secret sealing key v1\0",
            server_secret,
        ))
    }

    /// The secret sealed for the account `aad` names (bound to it: a sealed secret copied to
    /// another account's row does not open there), as `base64(nonce ‖ ciphertext)`.
    pub fn seal(&self, secret: &TotpSecret, aad: &[u8], nonce: [u8; SEAL_NONCE_BYTES]) -> String {
        STANDARD_NO_PAD.encode(self.0.seal(&secret.0, aad, nonce))
    }

    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<TotpSecret, Unreadable> {
        let bytes = STANDARD_NO_PAD.decode(sealed).map_err(|_| Unreadable)?;
        self.0.open(&bytes, aad).map(TotpSecret)
    }
}

/// A recovery code, in the clear: `xxxx-xxxx-xxxx-xxxx` of 32 unambiguous characters (80 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    pub fn new(random: [u8; RECOVERY_CODE_BYTES]) -> Self {
        const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
        // 80 bits as 16 characters of 5 bits each.
        let mut bits: u128 = 0;
        for byte in random {
            bits = (bits << 8) | u128::from(byte);
        }
        let mut out = String::with_capacity(19);
        for i in 0..16 {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            let index = ((bits >> (75 - 5 * i)) & 31) as usize;
            out.push(char::from(ALPHABET[index]));
        }
        Self(out)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored of a code as someone typed it: case, spaces and dashes do not matter.
    pub fn hash_of(typed: &str) -> String {
        let normal: String = typed
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        hex(&Sha256::digest(normal.as_bytes()))
    }

    pub fn hash(&self) -> String {
        Self::hash_of(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A factor as stored: its sealed secret, whether enrolment was confirmed, and the last step a code
/// was accepted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub user_id: uuid::Uuid,
    pub sealed_secret: String,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_used_step: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl TotpFactor {
    /// Whether a code of `step` may still be accepted: later than the last one accepted.
    pub fn fresh(&self, step: u64) -> bool {
        self.last_used_step
            .is_none_or(|last| i64::try_from(step).is_ok_and(|s| s > last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn secret() -> TotpSecret {
        // RFC 6238 appendix B's SHA-1 secret.
        TotpSecret(b"12345678901234567890".to_vec())
    }

    #[test]
    fn codes_follow_rfc_6238() {
        let at = |t: i64| Utc.timestamp_opt(t, 0).single().expect("a time");
        // RFC 6238 appendix B, 8-digit values cut to their last 6 digits.
        assert_eq!(secret().code_at(at(59)), "287082");
        assert_eq!(secret().code_at(at(1_111_111_109)), "081804");
        assert_eq!(secret().code_at(at(1_234_567_890)), "005924");
    }

    #[test]
    fn one_step_either_side_is_accepted_two_are_not() {
        let now = Utc
            .timestamp_opt(1_700_000_015, 0)
            .single()
            .expect("a time");
        let s = secret();
        let step = 1_700_000_015 / 30;
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = s.code_at(now + chrono::Duration::seconds(30 * offset));
            let expected = accepted.then_some((step as i64 + offset) as u64);
            assert_eq!(s.matching_step(&code, now), expected, "offset {offset}");
        }
        assert_eq!(s.matching_step("12345", now), None);
        assert_eq!(s.matching_step("abcdef", now), None);
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_account() {
        let key = MfaKey::derive(b"server secret");
        let sealed = key.seal(&secret(), b"account-a", [7; SEAL_NONCE_BYTES]);
        assert!(!sealed.contains("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"));
        assert_eq!(key.open(&sealed, b"account-a"), Ok(secret()));
        assert_eq!(key.open(&sealed, b"account-b"), Err(Unreadable));
        assert_eq!(
            MfaKey::derive(b"another secret").open(&sealed, b"account-a"),
            Err(Unreadable)
        );
        assert_eq!(key.open("garbage", b"account-a"), Err(Unreadable));
    }

    #[test]
    fn recovery_codes_are_typed_loosely() {
        let code = RecoveryCode::new([0xA5; RECOVERY_CODE_BYTES]);
        assert_eq!(code.expose().len(), 19);
        let shouted = code.expose().to_uppercase().replace('-', " ");
        assert_eq!(RecoveryCode::hash_of(&shouted), code.hash());
        assert_ne!(
            RecoveryCode::new([0x5A; RECOVERY_CODE_BYTES]).hash(),
            code.hash()
        );
    }

    #[test]
    fn a_step_is_accepted_once() {
        let mut factor = TotpFactor {
            user_id: uuid::Uuid::nil(),
            sealed_secret: String::new(),
            confirmed_at: None,
            last_used_step: None,
            created_at: Utc::now(),
        };
        assert!(factor.fresh(100));
        factor.last_used_step = Some(100);
        assert!(!factor.fresh(100));
        assert!(!factor.fresh(99));
        assert!(factor.fresh(101));
    }
}

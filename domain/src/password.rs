//! Passwords (SPEC §4): a candidate checked against the policy, its argon2id hash, and the port
//! that hashes and verifies off the request threads.

use std::fmt;

use crate::{values::Invalid, Error, FieldError};

/// The longest password accepted, in characters (SPEC §4).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// The default minimum: 15, as NIST SP 800-63B-4 requires for single-factor passwords.
pub const DEFAULT_MIN_LENGTH: u32 = 15;
/// The lowest minimum configuration may set.
pub const LOWEST_MIN_LENGTH: u32 = 8;
/// The lowest zxcvbn score accepted: 3, "safely unguessable: moderate protection from offline
/// slow-hash scenario" (over 10^8 guesses).
pub const MIN_STRENGTH: u8 = 3;
/// Characters of a password that the strength estimate reads.
const STRENGTH_CHARS: usize = 64;

/// `s` ending with a full stop.
fn sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with('.') {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

/// A plaintext password that passed the policy. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Checks a new password against the policy (SPEC §4): `min_length`..=256 characters, no
    /// composition rules, never equal (case-insensitively) to the account's username or email
    /// (the first two `identifiers`), and not too weak or common: zxcvbn's estimate must be at
    /// least [`MIN_STRENGTH`] (over 10^8 guesses), with the account's identifiers counted as
    /// known words. The refusal says why, in words a person can act on.
    pub fn new(raw: &str, min_length: u32, identifiers: &[&str]) -> Result<Self, Invalid> {
        let count = raw.chars().count();
        if count < min_length as usize {
            return Err(Invalid::new(
                "password_too_short",
                format!("use at least {min_length} characters; a few unrelated words make a long password that is easy to remember"),
            ));
        }
        if count > MAX_PASSWORD_CHARS {
            return Err(Invalid::new(
                "password_too_long",
                format!("use at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        let folded = raw.to_lowercase();
        if identifiers
            .iter()
            .take(2)
            .any(|id| !id.is_empty() && id.to_lowercase() == folded)
        {
            return Err(Invalid::new(
                "password_is_identifier",
                "the password must not be the username or email address",
            ));
        }
        // zxcvbn's matching grows quickly with length; what decides weakness is in the first
        // characters (a weak password does not become strong by repeating itself).
        let head: String = raw.chars().take(STRENGTH_CHARS).collect();
        let estimate = zxcvbn::zxcvbn(&head, identifiers);
        if (estimate.score() as u8) < MIN_STRENGTH {
            let why = estimate
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| w.to_string())
                .unwrap_or_else(|| "this password is easy to guess".into());
            let how = estimate
                .feedback()
                .and_then(|f| f.suggestions().first().map(|s| s.to_string()))
                .unwrap_or_else(|| "Add another word or two; uncommon words are better.".into());
            return Err(Invalid::new(
                "password_too_weak",
                format!("{} {how}", sentence(&why)),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A temporary password an admin hands over (SPEC §5), made from 20 random bytes: 20
    /// characters of 32 that are hard to confuse (no `l`, `o`, `0`, `1`), 100 bits, in groups of
    /// five (`k7pqa-3mzre-…`), 23 characters in all: longer than any `min_length` allows.
    pub fn temporary(random: [u8; 20]) -> Self {
        const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let mut out = String::with_capacity(23);
        for (i, byte) in random.iter().enumerate() {
            if i > 0 && i % 5 == 0 {
                out.push('-');
            }
            out.push(char::from(ALPHABET[usize::from(byte & 31)]));
        }
        Self(out)
    }

    /// A password offered at sign-in: not checked against the policy (the hash decides), only
    /// bounded so an enormous body cannot make hashing expensive.
    pub fn offered(raw: &str) -> Result<Self, Error> {
        if raw.chars().count() > MAX_PASSWORD_CHARS {
            return Err(Error::InvalidCredentials);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A PHC-format argon2id hash. `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    pub fn from_phc(s: String) -> Self {
        Self(s)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

/// Hashes and verifies passwords (argon2id, SPEC §4). Implementations are CPU-bound; callers run
/// them off the request threads with bounded concurrency.
pub trait PasswordHasher: Send + Sync {
    fn hash(&self, password: &Password) -> Result<PasswordHash, Error>;
    /// Verifies `password` against `hash`; with no hash, spends the same time on a dummy hash
    /// and answers false, so timing does not reveal whether an account exists.
    fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool;
}

/// Checks a new password and names the field on failure.
pub fn check_new(
    field: &str,
    raw: &str,
    min_length: u32,
    identifiers: &[&str],
) -> Result<Password, FieldError> {
    Password::new(raw, min_length, identifiers).map_err(|e| e.at(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_length_bounds() {
        assert_eq!(
            Password::new("short", 15, &[]).unwrap_err().code,
            "password_too_short"
        );
        assert!(Password::new("correct horse battery", 15, &[]).is_ok());
        assert_eq!(
            Password::new(&"x".repeat(257), 15, &[]).unwrap_err().code,
            "password_too_long"
        );
        let longest = format!("violet tractor hums at noon {}", "x".repeat(228));
        assert_eq!(longest.chars().count(), 256);
        assert!(Password::new(&longest, 15, &[]).is_ok());
    }

    #[test]
    fn refuses_weak_and_common_passwords_saying_why() {
        for weak in [
            "passwordpassword",
            "aaaaaaaaaaaaaaa",
            "123456789012345",
            "               ",
            "qwertyuiopasdfgh",
        ] {
            let err = Password::new(weak, 15, &["ana.lima", "ana@example.org", "Ana", "Lima"])
                .expect_err(weak);
            assert_eq!(err.code, "password_too_weak", "{weak:?}");
            assert!(err.message.len() > 20, "{weak:?}: {}", err.message);
        }
        assert!(Password::new("correct horse battery staple", 15, &[]).is_ok());
        assert!(Password::new("violet tractor hums at noon", 15, &[]).is_ok());
    }

    #[test]
    fn refuses_the_username_or_email() {
        let err = Password::new("Ana@Example.org", 8, &["ana", "ana@example.org"]).unwrap_err();
        assert_eq!(err.code, "password_is_identifier");
    }

    #[test]
    fn debug_redacts_secrets() {
        let p = Password::new("correct horse battery", 15, &[]).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        assert!(
            !format!("{:?}", PasswordHash::from_phc("$argon2id$secret".into())).contains("secret")
        );
    }
}

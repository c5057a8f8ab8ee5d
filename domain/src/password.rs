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

/// A plaintext password that passed the policy. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Checks a new password against the policy: `min_length`..=256 characters, no composition
    /// rules, and never equal (case-insensitively) to the account's username or email.
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
            .any(|id| !id.is_empty() && id.to_lowercase() == folded)
        {
            return Err(Invalid::new(
                "password_is_identifier",
                "the password must not be the username or email address",
            ));
        }
        Ok(Self(raw.to_owned()))
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
        assert!(Password::new(&"x".repeat(256), 15, &[]).is_ok());
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

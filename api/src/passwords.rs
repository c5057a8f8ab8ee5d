//! argon2id hashing (m = 19456 KiB, t = 2, p = 1, SPEC §4). A dummy hash made at start-up is
//! verified for unknown logins, so their timing matches a wrong password.

use argon2::{
    password_hash::{
        rand_core::OsRng, PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _,
        SaltString,
    },
    Algorithm, Argon2, Params, Version,
};
use domain::{
    password::{Password, PasswordHash, PasswordHasher},
    Error,
};

pub struct Argon2Hasher {
    params: Params,
    dummy: String,
}

impl Argon2Hasher {
    pub fn new() -> Result<Self, String> {
        let params = Params::new(19_456, 2, 1, None).map_err(|e| e.to_string())?;
        let mut hasher = Self {
            params,
            dummy: String::new(),
        };
        let salt = SaltString::generate(&mut OsRng);
        hasher.dummy = hasher
            .argon2()
            .hash_password(b"roster-dummy-password", &salt)
            .map_err(|e| e.to_string())?
            .to_string();
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &Password) -> Result<PasswordHash, Error> {
        let salt = SaltString::generate(&mut OsRng);
        let phc = self
            .argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map_err(|e| Error::Internal(format!("hashing failed: {e}")))?;
        Ok(PasswordHash::from_phc(phc.to_string()))
    }

    fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        let (phc, real) = match hash {
            Some(h) => (h.as_phc(), true),
            None => (self.dummy.as_str(), false),
        };
        let Ok(parsed) = Phc::new(phc) else {
            return false;
        };
        let ok = self
            .argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        ok && real
    }
}

//! argon2id hashing (m = 19456 KiB, t = 2, p = 1, SPEC §4). A dummy hash made at start-up is
//! verified for unknown logins, so their timing matches a wrong password.
//!
//! Each hash needs 19 MiB of working memory. Allocated per hash (as `Argon2::hash_password`
//! does), glibc kept what a storm of sign-ins had allocated: 200 concurrent sign-ins left the
//! server at 760–820 MB. Here every hashing thread hashes into one buffer of its own, allocated at
//! its first hash and reused for every later one, so memory is bounded by the hashing threads
//! (one per core) whatever the number of sign-ins. When a hashing thread has had nothing to do
//! for a second, it hands its buffer's pages back to the kernel ([`release_memory`]), so the
//! server's memory falls back after a storm of sign-ins.

use std::cell::RefCell;

use argon2::{
    password_hash::{
        rand_core::OsRng, Output, ParamsString, PasswordHash as Phc, Salt, SaltString,
    },
    Algorithm, Argon2, Block, Params, Version,
};
use domain::{
    password::{Password, PasswordHash, PasswordHasher},
    Error,
};

thread_local! {
    /// This thread's argon2 working memory, reused by every hash it computes.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

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
        hasher.dummy = hasher
            .hash_phc(b"roster-dummy-password")
            .map_err(|e| e.to_string())?;
        // Made on whatever thread builds the hasher, which hashes nothing else.
        release_memory();
        Ok(hasher)
    }

    /// A PHC string of `password` under a fresh salt.
    fn hash_phc(&self, password: &[u8]) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        let salt = salt.as_salt();
        let output = compute(&self.params, password, salt)?;
        let phc = Phc {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)?,
            salt: Some(salt),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `phc` (argon2id, or argon2i/d with the
    /// parameters it names).
    fn matches(phc: &str, password: &[u8]) -> bool {
        let Ok(parsed) = Phc::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return false;
        }
        // `Output`'s equality is constant-time.
        compute(&params, password, salt).is_ok_and(|computed| computed == expected)
    }
}

/// Hands the pages of this thread's argon2 memory back to the kernel (`MADV_DONTNEED`): the
/// resident memory falls by 19 MiB, the buffer stays allocated, and its next use reads zeroed
/// pages (argon2 writes every block before it reads it). For a hashing thread that is idle.
pub fn release_memory() {
    BLOCKS.with(|cell| {
        let Ok(blocks) = cell.try_borrow() else {
            return;
        };
        let page = 4096usize;
        let start = blocks.as_ptr() as usize;
        let end = start + std::mem::size_of_val(blocks.as_slice());
        let (first, last) = ((start + page - 1) & !(page - 1), end & !(page - 1));
        if last > first {
            // SAFETY: [first, last) lies inside the live allocation of `blocks`, which this thread
            // owns and nothing reads while it is borrowed here; after MADV_DONTNEED the pages of a
            // private anonymous mapping read as zeros, a valid value of `Block` (plain u64s).
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_DONTNEED,
                );
            }
        }
    });
}

/// argon2id of `password` and `salt` under `params`, computed in this thread's reused memory.
fn compute(
    params: &Params,
    password: &[u8],
    salt: Salt<'_>,
) -> Result<Output, argon2::password_hash::Error> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        let needed = params.block_count();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        Output::init_with(length, |out| {
            argon2
                .hash_password_into_with_memory(password, salt_bytes, out, &mut blocks[..needed])
                .map_err(Into::into)
        })
    })
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &Password) -> Result<PasswordHash, Error> {
        self.hash_phc(password.expose().as_bytes())
            .map(PasswordHash::from_phc)
            .map_err(|e| Error::Internal(format!("hashing failed: {e}")))
    }

    fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        let (phc, real) = match hash {
            Some(h) => (h.as_phc(), true),
            None => (self.dummy.as_str(), false),
        };
        Self::matches(phc, password.expose().as_bytes()) && real
    }
}

/// The median time of `count` hashes one after another on this thread, whose memory the hasher's
/// own first hash (the dummy) has already allocated.
pub fn median_hash_time(count: u32) -> Result<std::time::Duration, String> {
    let hasher = Argon2Hasher::new()?;
    let password = Password::offered("violet tractor hums at noon").map_err(|e| e.to_string())?;
    let mut times: Vec<std::time::Duration> = (0..count)
        .map(|_| {
            let started = std::time::Instant::now();
            hasher.hash(&password).map(|_| started.elapsed())
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    times.sort();
    Ok(times[times.len() / 2])
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn password(s: &str) -> Password {
        Password::offered(s).unwrap()
    }

    #[test]
    fn hashes_in_reused_memory_match_the_crates_own() {
        let hasher = Argon2Hasher::new().unwrap();
        let ours = hasher
            .hash(&password("violet tractor hums at noon"))
            .unwrap();
        assert!(ours.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        // The crate's own verifier accepts our hash…
        let parsed = Phc::new(ours.as_phc()).unwrap();
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, hasher.params.clone());
        assert!(reference
            .verify_password(b"violet tractor hums at noon", &parsed)
            .is_ok());
        // …and we accept the crate's.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = reference
            .hash_password(b"correct horse battery staple", &salt)
            .unwrap()
            .to_string();
        let theirs = PasswordHash::from_phc(theirs);
        assert!(hasher.verify(&password("correct horse battery staple"), Some(&theirs)));
        assert!(!hasher.verify(&password("correct horse battery stapler"), Some(&theirs)));
        assert!(hasher.verify(&password("violet tractor hums at noon"), Some(&ours)));
        // After the memory's pages went back to the kernel, hashing still agrees.
        release_memory();
        assert!(hasher.verify(&password("violet tractor hums at noon"), Some(&ours)));
        assert!(!hasher.verify(&password("violet tractor hums at noon"), None));
        assert!(!hasher.verify(
            &password("x"),
            Some(&PasswordHash::from_phc("garbage".into()))
        ));
    }
}

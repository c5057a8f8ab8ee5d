//! Sealing at rest: XChaCha20-Poly1305 under a key derived from the server's secret and a label
//! naming what it seals, so that a copy of the database alone reveals nothing sealed, and a sealed
//! value bound to its row (`aad`) does not open in another. Two-factor secrets ([`crate::mfa`])
//! and the responses kept for idempotent retries ([`crate::idempotency`]) are sealed this way.

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use sha2::{Digest, Sha256};

/// Random bytes sealing a value takes.
pub const NONCE_BYTES: usize = 24;

/// A sealed value did not open: the server's secret changed, or the row was altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

#[derive(Clone)]
pub struct SealKey(XChaCha20Poly1305);

impl SealKey {
    /// The key for `label` (one per kind of value sealed).
    pub fn derive(label: &[u8], server_secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(label);
        h.update(server_secret);
        Self(XChaCha20Poly1305::new(&h.finalize()))
    }

    /// `nonce ‖ ciphertext` of `msg`, bound to `aad`.
    pub fn seal(&self, msg: &[u8], aad: &[u8], nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
        // Encryption with a fresh nonce fails only past 256 GiB a message.
        let sealed = self
            .0
            .encrypt(&XNonce::from(nonce), Payload { msg, aad })
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Unreadable> {
        if sealed.len() <= NONCE_BYTES {
            return Err(Unreadable);
        }
        let (nonce, msg) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| Unreadable)?;
        self.0
            .decrypt(&XNonce::from(nonce), Payload { msg, aad })
            .map_err(|_| Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_binding() {
        let key = SealKey::derive(b"test\0", b"secret");
        let sealed = key.seal(b"hello", b"row 1", [9; NONCE_BYTES]);
        assert_eq!(key.open(&sealed, b"row 1").as_deref(), Ok(&b"hello"[..]));
        assert_eq!(key.open(&sealed, b"row 2"), Err(Unreadable));
        let other = SealKey::derive(b"other\0", b"secret");
        assert_eq!(other.open(&sealed, b"row 1"), Err(Unreadable));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&altered, b"row 1"), Err(Unreadable));
        assert_eq!(key.open(&sealed[..NONCE_BYTES], b"row 1"), Err(Unreadable));
    }
}

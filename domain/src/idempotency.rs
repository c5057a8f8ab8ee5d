//! Idempotent retries (SPEC §10): a POST sent with an `Idempotency-Key` runs once; a retry with
//! the same key and the same request gets the first response again.
//!
//! - A key is kept per *scope* (the caller: the account of an access token, the API token itself,
//!   or, without credentials, the client's address), method and path: another caller's identical
//!   key is another key.
//! - The request is identified by a SHA-256 *fingerprint* of its method, path, query, content
//!   type and body. The same key with another fingerprint is refused (422
//!   `idempotency_key_reused`), and a retry while the first is still running is refused (409
//!   `request_in_progress`).
//! - The response kept is the status, `Content-Type`, `Location` and body; the body is sealed
//!   with a key derived from the server's secret ([`crate::seal`]), since a response may carry a
//!   one-time secret (an API token's, a sign-in's tokens) that is revealed once more, to the same
//!   caller, on a retry.
//! - Kept for [`KEEP_HOURS`]; after that the key is new again. A key whose first request never
//!   finished (its process stopped) is free again after [`LEASE_SECONDS`].

use chrono::{DateTime, Duration, Utc};

/// How long a response is replayed.
pub const KEEP_HOURS: i64 = 24;
/// How long a key stays "in progress" without an answer before a retry may run it again: the
/// process that took it stopped. Longer than any request may run.
pub const LEASE_SECONDS: i64 = 300;
/// Characters of a key at most.
pub const MAX_KEY_CHARS: usize = 255;
/// The largest response body kept: a larger one is answered but not kept (a retry runs again).
pub const MAX_KEPT_BODY: usize = 1 << 20;

/// A client's `Idempotency-Key`: 1–255 visible ASCII characters. The quotes of the header's
/// structured-field form (`"…"`, draft-ietf-httpapi-idempotency-key-header) are taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Option<Self> {
        let key = raw
            .strip_prefix('"')
            .and_then(|k| k.strip_suffix('"'))
            .unwrap_or(raw);
        let valid = !key.is_empty()
            && key.len() <= MAX_KEY_CHARS
            && key.bytes().all(|b| b.is_ascii_graphic());
        valid.then(|| Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request sent with a key: where it is kept, and what a retry must match.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    pub scope: String,
    pub method: String,
    pub path: String,
    pub key: IdempotencyKey,
    /// Hex SHA-256 of the request (see the module's description).
    pub fingerprint: String,
}

impl KeyedRequest {
    /// What a sealed response is bound to: it opens for this key alone.
    pub fn binding(&self) -> Vec<u8> {
        [
            self.scope.as_str(),
            &self.method,
            &self.path,
            self.key.as_str(),
        ]
        .join("\n")
        .into_bytes()
    }
}

/// A response, as answered and as replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// A key's record as stored: the body of its response sealed.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    /// Set while the first request runs.
    pub lease_until: Option<DateTime<Utc>>,
    /// Set once it answered.
    pub response: Option<KeptResponse>,
}

/// What to do with a request sent with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Run it: the key is held for it until it answers.
    Run,
    Replay(KeptResponse),
    InProgress,
    /// The key was used with another request.
    Mismatch,
}

/// What an existing record means for a request with `fingerprint` at `now`: `None` when the
/// record no longer counts (expired, or its run abandoned), so the request takes the key over.
pub fn decide(record: &KeyRecord, fingerprint: &str, now: DateTime<Utc>) -> Option<Begin> {
    if record.created_at + Duration::hours(KEEP_HOURS) <= now {
        return None;
    }
    if record.fingerprint != fingerprint {
        return Some(Begin::Mismatch);
    }
    match (&record.response, record.lease_until) {
        (Some(response), _) => Some(Begin::Replay(response.clone())),
        (None, Some(until)) if until > now => Some(Begin::InProgress),
        (None, _) => None,
    }
}

/// Whether a response is kept for retries: what the request did. Not kept, so that a retry runs
/// again: a server error or unavailable database (5xx), missing or bad credentials (401), a
/// timeout (408), a rate limit (429).
pub fn keeps(status: u16) -> bool {
    status < 500 && !matches!(status, 401 | 408 | 429)
}

/// Until when a key taken at `now` stays in progress.
pub fn lease_from(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::seconds(LEASE_SECONDS)
}

/// Records created before this are expired at `now`.
pub fn expired_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::hours(KEEP_HOURS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        fingerprint: &str,
        age_minutes: i64,
        lease: Option<i64>,
        answered: bool,
    ) -> (KeyRecord, DateTime<Utc>) {
        let now = Utc::now();
        let record = KeyRecord {
            fingerprint: fingerprint.into(),
            created_at: now - Duration::minutes(age_minutes),
            lease_until: lease.map(|m| now + Duration::minutes(m)),
            response: answered.then(|| KeptResponse {
                status: 201,
                content_type: Some("application/json".into()),
                location: None,
                body: b"{}".to_vec(),
            }),
        };
        (record, now)
    }

    #[test]
    fn a_key_is_visible_ascii_of_at_most_255_characters_quotes_taken_off() {
        assert_eq!(
            IdempotencyKey::parse("abc-123").map(|k| k.0),
            Some("abc-123".into())
        );
        assert_eq!(
            IdempotencyKey::parse("\"abc\"").map(|k| k.0),
            Some("abc".into())
        );
        assert_eq!(
            IdempotencyKey::parse(&"a".repeat(255)).map(|k| k.0.len()),
            Some(255)
        );
        for bad in ["", "\"\"", "a b", "é", "a\tb", &"a".repeat(256)] {
            assert_eq!(IdempotencyKey::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_record_replays_refuses_or_lets_the_request_take_the_key_over() {
        let (r, now) = record("f", 1, None, true);
        assert!(matches!(decide(&r, "f", now), Some(Begin::Replay(_))));
        assert_eq!(decide(&r, "g", now), Some(Begin::Mismatch));
        let (r, now) = record("f", 1, Some(4), false);
        assert_eq!(decide(&r, "f", now), Some(Begin::InProgress));
        assert_eq!(decide(&r, "g", now), Some(Begin::Mismatch));
        // Its run abandoned (the lease ran out), or expired: the key is free again.
        let (r, now) = record("f", 10, Some(-1), false);
        assert_eq!(decide(&r, "f", now), None);
        let (r, now) = record("f", 24 * 60, None, true);
        assert_eq!(decide(&r, "g", now), None);
    }

    #[test]
    fn what_the_request_did_is_kept_and_what_a_retry_may_change_is_not() {
        for kept in [200, 201, 204, 400, 403, 404, 409, 412, 422] {
            assert!(keeps(kept), "{kept}");
        }
        for not in [401, 408, 429, 500, 503] {
            assert!(!keeps(not), "{not}");
        }
    }
}

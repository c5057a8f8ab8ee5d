//! The audit trail's hash chain (SPEC §9): tampering with a recorded event is detectable, and
//! the personal values of events can still be erased (a right-to-erasure request) without
//! breaking it.
//!
//! - Each event gets a place in the chain (`seq`, 1, 2, …), the hash of the event before it and
//!   its own hash ([`link_hash`]): SHA-256 of its place, the previous hash and its *body*
//!   ([`seal`]), itself SHA-256 of its time, actor id, action, category, target, its details
//!   with the personal values blanked and a *digest* of those personal values.
//! - The personal values: the actor's username snapshot, a user target's label, the client
//!   address and user agent, and every value under a personal key of the details
//!   ([`PERSONAL_KEYS`]: usernames, emails, names, …) wherever it is nested. The digest is
//!   SHA-256 of them with a random salt kept beside the event.
//! - Erasing an event's personal values sets them to null and drops the salt, and keeps the
//!   digest: the chain still verifies, and what is left cannot be tested against a guess (the
//!   salt is gone). Changing a personal value without erasing it breaks the digest; changing
//!   anything else breaks the event's hash.
//! - Events are linked shortly after their transaction commits, by one linker at a time
//!   ([`Services::link_audit_events`](crate::services::Services::link_audit_events)), not by
//!   the transaction that writes them: a chain head locked by every writer would make all writes
//!   wait for one another.

use chrono::SecondsFormat;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::RecordedEvent;

/// The hash before the first event: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Keys of an event's details whose values name or identify a person, at any depth (a change's
/// `{"email": {"before": …, "after": …}}` included).
pub const PERSONAL_KEYS: [&str; 9] = [
    "username",
    "email",
    "first_name",
    "last_name",
    "location",
    "erp_id",
    "external_key",
    "login",
    "recipient",
];

/// A salt for an event's personal digest.
pub type Salt = [u8; 16];

/// Where the chain ends, and where it starts after a retention sweep removed older events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The last linked event's place (0: none yet).
    pub seq: i64,
    pub hash: String,
    /// The last event removed by retention (0: none): the chain starts after it.
    pub checkpoint_seq: i64,
    pub checkpoint_hash: String,
    /// Where the linker stands, as the store keeps it (PostgreSQL: the last linked event's
    /// transaction and id).
    pub mark: String,
}

/// What linking an event writes beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: Uuid,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub salt: Option<String>,
    pub digest: String,
}

/// A linked event as stored.
#[derive(Debug, Clone)]
pub struct ChainedEvent {
    /// The event; `None` when it is no longer there (removed).
    pub event: Option<RecordedEvent>,
    pub event_id: Uuid,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    /// `None` once the personal values are erased.
    pub salt: Option<String>,
    pub digest: String,
}

/// Why verification stopped at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// An event that should be at this place is not there (removed).
    Missing,
    /// The stored hash of the previous event is not the previous event's hash.
    PreviousHashChanged,
    /// A personal value no longer matches its digest (changed, not erased).
    PersonalValuesChanged,
    /// Something else in the event, or its stored hash, changed.
    EventChanged,
    /// The retention checkpoint is not the one the last `audit.events_removed` event recorded.
    CheckpointChanged,
    /// An event in the trail was never queued to be linked (written behind Roster's back).
    NotInChain,
}

impl Break {
    pub fn as_str(self) -> &'static str {
        match self {
            Break::Missing => "missing",
            Break::PreviousHashChanged => "previous_hash_changed",
            Break::PersonalValuesChanged => "personal_values_changed",
            Break::EventChanged => "event_changed",
            Break::CheckpointChanged => "checkpoint_changed",
            Break::NotInChain => "not_in_chain",
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// SHA-256 of a value's JSON text, written straight into the hasher.
fn sha256_json(value: &impl serde::Serialize) -> String {
    struct Hasher(Sha256);
    impl std::io::Write for Hasher {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = Hasher(Sha256::new());
    // Writing JSON into a hasher cannot fail: the values are plain data.
    let _ = serde_json::to_writer(&mut hasher, value);
    hex(&hasher.0.finalize())
}

pub fn salt_text(salt: &Salt) -> String {
    hex(salt)
}

fn is_personal_label(event: &RecordedEvent) -> bool {
    event.target_type == "user"
}

/// The details with every personal value set to null, and those values, with their paths.
pub fn redact(details: &Value) -> (Value, Vec<(String, Value)>) {
    fn walk(value: &mut Value, path: &str, found: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if PERSONAL_KEYS.contains(&key.as_str()) {
                        if !v.is_null() {
                            found.push((format!("{path}/{key}"), v.take()));
                        }
                    } else if v.is_object() || v.is_array() {
                        walk(v, &format!("{path}/{key}"), found);
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    walk(v, &format!("{path}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let mut redacted = details.clone();
    let mut found = Vec::new();
    walk(&mut redacted, "", &mut found);
    (redacted, found)
}

/// The event's personal values, in a fixed order, given its details' ([`redact`]).
fn personal_values(event: &RecordedEvent, in_details: Vec<(String, Value)>) -> Value {
    let label = is_personal_label(event).then_some(&event.target_label);
    json!([
        event.actor_username,
        label,
        event.address,
        event.user_agent,
        in_details
            .into_iter()
            .map(|(p, v)| json!([p, v]))
            .collect::<Vec<_>>(),
    ])
}

/// Whether the event has no personal value left (erased, or never had one).
pub fn is_erased(event: &RecordedEvent) -> bool {
    personal_values(event, redact(&event.details).1) == json!([null, null, null, null, []])
}

/// The event with its personal values erased.
pub fn erased(event: &RecordedEvent) -> RecordedEvent {
    let mut e = event.clone();
    e.actor_username = None;
    if is_personal_label(&e) {
        e.target_label = None;
    }
    e.address = None;
    e.user_agent = None;
    e.details = redact(&e.details).0;
    e
}

/// What an event contributes to the chain wherever it is placed: the SHA-256 of a JSON array of
/// its fields with the personal values blanked, and the `digest` that covers those (one JSON
/// text for a given value: serde_json writes object keys sorted and escapes strings one way).
/// Computed by a linker before it holds the chain's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub salt: Option<String>,
    /// SHA-256 of the salt and the personal values.
    pub digest: String,
    /// SHA-256 of everything else, and the digest.
    pub body: String,
}

/// Seals an event: `salt` for a new link; for a stored one, its salt (`None` once erased) and
/// its stored digest, which an erased event's personal values can no longer give.
pub fn seal(event: &RecordedEvent, salt: Option<String>, stored_digest: Option<&str>) -> Sealed {
    let (redacted, personal) = redact(&event.details);
    let digest = match (&salt, stored_digest) {
        (None, Some(stored)) => stored.to_owned(),
        _ => sha256_json(&json!([salt, personal_values(event, personal)])),
    };
    let label = (!is_personal_label(event)).then_some(&event.target_label);
    let body = sha256_json(&json!([
        1,
        event.id,
        event.at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        event.actor_id,
        event.action,
        event.category,
        event.target_type,
        event.target_id,
        label,
        redacted,
        digest,
    ]));
    Sealed { salt, digest, body }
}

/// The hash of the event sealed as `body` at place `seq` after `prev_hash`.
pub fn link_hash(seq: i64, prev_hash: &str, body: &str) -> String {
    sha256_json(&json!([seq, prev_hash, body]))
}

/// Links sealed events (in this order) after `head`: cheap, done while the head is held.
pub fn link(head: &ChainHead, events: &[(Uuid, Sealed)]) -> Vec<Link> {
    let mut prev = head.hash.clone();
    let mut seq = head.seq;
    events
        .iter()
        .map(|(id, sealed)| {
            seq += 1;
            let hash = link_hash(seq, &prev, &sealed.body);
            Link {
                id: *id,
                seq,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
                salt: sealed.salt.clone(),
                digest: sealed.digest.clone(),
            }
        })
        .collect()
}

/// Seals new events, each with a fresh salt.
pub fn seal_new(events: &[RecordedEvent], mut salt: impl FnMut() -> Salt) -> Vec<(Uuid, Sealed)> {
    events
        .iter()
        .map(|e| (e.id, seal(e, Some(salt_text(&salt())), None)))
        .collect()
}

/// Checks one linked event at place `seq` after `prev_hash`; the first thing wrong with it.
pub fn check(seq: i64, prev_hash: &str, linked: &ChainedEvent) -> Option<Break> {
    let Some(event) = linked.event.as_ref().filter(|_| linked.seq == seq) else {
        return Some(Break::Missing);
    };
    if linked.prev_hash != prev_hash {
        return Some(Break::PreviousHashChanged);
    }
    let sealed = seal(event, linked.salt.clone(), Some(&linked.digest));
    let personal_ok = match linked.salt {
        Some(_) => sealed.digest == linked.digest,
        None => is_erased(event),
    };
    if !personal_ok {
        return Some(Break::PersonalValuesChanged);
    }
    (link_hash(seq, prev_hash, &sealed.body) != linked.hash).then_some(Break::EventChanged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u8) -> RecordedEvent {
        RecordedEvent {
            id: Uuid::now_v7(),
            at: crate::now(),
            actor_id: Some(Uuid::now_v7()),
            actor_username: Some("admin".into()),
            action: "user.updated".into(),
            category: "user_management".into(),
            target_type: "user".into(),
            target_id: Some(Uuid::now_v7()),
            target_label: Some("ana".into()),
            address: Some("192.0.2.1".into()),
            user_agent: Some("curl/8".into()),
            details: json!({"email": {"before": "a@example.org", "after": "b@example.org"}, "locale": {"before": "en", "after": format!("de-{n}")}}),
        }
    }

    fn chained(events: &[RecordedEvent]) -> Vec<ChainedEvent> {
        let head = ChainHead {
            seq: 0,
            hash: GENESIS.into(),
            checkpoint_seq: 0,
            checkpoint_hash: GENESIS.into(),
            mark: String::new(),
        };
        let mut n = 0u8;
        let sealed = seal_new(events, || {
            n += 1;
            [n; 16]
        });
        link(&head, &sealed)
            .into_iter()
            .zip(events)
            .map(|(l, e)| ChainedEvent {
                event: Some(e.clone()),
                event_id: e.id,
                seq: l.seq,
                prev_hash: l.prev_hash,
                hash: l.hash,
                salt: l.salt,
                digest: l.digest,
            })
            .collect()
    }

    fn first_break(chain: &[ChainedEvent]) -> Option<(i64, Break)> {
        let (mut seq, mut prev) = (0, GENESIS.to_owned());
        for linked in chain {
            seq += 1;
            if let Some(b) = check(seq, &prev, linked) {
                return Some((seq, b));
            }
            prev = linked.hash.clone();
        }
        None
    }

    #[test]
    fn a_chain_verifies_until_something_in_it_changes() {
        let chain = chained(&[event(1), event(2), event(3)]);
        assert_eq!(first_break(&chain), None);

        let mut changed = chain.clone();
        changed[1].event.as_mut().unwrap().details["locale"]["after"] = json!("fr");
        assert_eq!(first_break(&changed), Some((2, Break::EventChanged)));

        let mut changed = chain.clone();
        changed[1].event.as_mut().unwrap().action = "user.created".into();
        assert_eq!(first_break(&changed), Some((2, Break::EventChanged)));

        let mut changed = chain.clone();
        changed[2].event.as_mut().unwrap().address = Some("198.51.100.7".into());
        assert_eq!(
            first_break(&changed),
            Some((3, Break::PersonalValuesChanged))
        );

        let mut changed = chain.clone();
        changed[0].event.as_mut().unwrap().details["email"]["after"] = json!("c@example.org");
        assert_eq!(
            first_break(&changed),
            Some((1, Break::PersonalValuesChanged))
        );

        let mut removed = chain.clone();
        removed.remove(1);
        assert_eq!(first_break(&removed), Some((2, Break::Missing)));
        let mut gone = chain.clone();
        gone[1].event = None;
        assert_eq!(first_break(&gone), Some((2, Break::Missing)));

        let mut rehashed = chain.clone();
        rehashed[1].prev_hash = GENESIS.into();
        assert_eq!(
            first_break(&rehashed),
            Some((2, Break::PreviousHashChanged))
        );
    }

    #[test]
    fn erasing_personal_values_keeps_the_chain_and_nothing_else_does() {
        let mut chain = chained(&[event(1), event(2)]);
        chain[0].event = chain[0].event.as_ref().map(erased);
        chain[0].salt = None;
        assert_eq!(first_break(&chain), None);
        let e = chain[0].event.as_ref().unwrap();
        assert_eq!(
            (
                e.actor_username.as_deref(),
                e.target_label.as_deref(),
                e.address.as_deref()
            ),
            (None, None, None)
        );
        assert_eq!(e.details["email"], Value::Null);
        assert_eq!(
            e.details["locale"]["after"], "de-1",
            "what names nobody stays"
        );

        // An erased event's values cannot come back, nor its other fields change.
        let mut back = chain.clone();
        back[0].event.as_mut().unwrap().actor_username = Some("mallory".into());
        assert_eq!(first_break(&back), Some((1, Break::PersonalValuesChanged)));
        let mut other = chain.clone();
        other[0].event.as_mut().unwrap().target_id = None;
        assert_eq!(first_break(&other), Some((1, Break::EventChanged)));
    }

    #[test]
    fn personal_values_are_found_at_any_depth_and_only_there() {
        let (redacted, found) = redact(
            &json!({"rows": [{"username": "ana", "line": 2}], "name": "Ops", "login": "ana@example.org"}),
        );
        assert_eq!(
            redacted,
            json!({"rows": [{"username": null, "line": 2}], "name": "Ops", "login": null})
        );
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/login", "/rows/0/username"]);
    }
}

//! The JSON of accounts, written straight into the response's buffer: byte for byte what
//! serde_json writes for [`UserResponse`] and [`UserPage`] (the tests below compare the two on
//! accounts with every field set and unset, and with strings that need escaping).
//!
//! Through serde, every one of an account's 25 keys and ~12 string values went through
//! serde_json's escaping loop, a byte at a time, with a call per key and per value: a fifth of
//! Roster's CPU on a `list_deep` page on PostgreSQL, two thirds of it in that loop (profile,
//! 100,000 accounts). Here the keys are constants, and a value is checked for the few bytes JSON
//! escapes in one pass the compiler vectorises; only a value that has one goes to serde_json.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::users::{UserPage, UserResponse};
use crate::timestamp;

/// Appends `page` as serde_json writes it.
pub(crate) fn write_page(out: &mut Vec<u8>, page: &UserPage<'_>) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"items\":[");
    for (i, account) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_account(out, account)?;
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    optional(out, page.next_cursor.as_deref(), string)?;
    out.push(b'}');
    Ok(())
}

/// Appends `a` as serde_json writes it: the fields in the struct's order.
pub(crate) fn write_account(out: &mut Vec<u8>, a: &UserResponse<'_>) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"id\":");
    uuid(out, a.id)?;
    out.extend_from_slice(b",\"username\":");
    string(out, a.username)?;
    out.extend_from_slice(b",\"email\":");
    string(out, a.email)?;
    out.extend_from_slice(b",\"first_name\":");
    string(out, a.first_name)?;
    out.extend_from_slice(b",\"last_name\":");
    string(out, a.last_name)?;
    out.extend_from_slice(b",\"origin\":");
    string(out, a.origin)?;
    out.extend_from_slice(b",\"location\":");
    optional(out, a.location, string)?;
    out.extend_from_slice(b",\"erp_id\":");
    optional(out, a.erp_id, string)?;
    out.extend_from_slice(b",\"external_key\":");
    optional(out, a.external_key, string)?;
    out.extend_from_slice(b",\"locale\":");
    string(out, a.locale)?;
    out.extend_from_slice(b",\"roles\":[");
    for (i, role) in a.roles.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, role)?;
    }
    out.extend_from_slice(b"],\"active\":");
    boolean(out, a.active);
    out.extend_from_slice(b",\"mfa_required\":");
    boolean(out, a.mfa_required);
    out.extend_from_slice(b",\"expires_at\":");
    optional(out, a.expires_at, time)?;
    out.extend_from_slice(b",\"email_notifications\":");
    boolean(out, a.email_notifications);
    out.extend_from_slice(b",\"status\":");
    serde_json::to_writer(&mut *out, &a.status)?;
    out.extend_from_slice(b",\"created_at\":");
    time(out, a.created_at)?;
    out.extend_from_slice(b",\"updated_at\":");
    time(out, a.updated_at)?;
    out.extend_from_slice(b",\"created_by\":");
    optional(out, a.created_by, uuid)?;
    out.extend_from_slice(b",\"updated_by\":");
    optional(out, a.updated_by, uuid)?;
    out.extend_from_slice(b",\"activated_at\":");
    optional(out, a.activated_at, time)?;
    out.extend_from_slice(b",\"last_active_at\":");
    optional(out, a.last_active_at, time)?;
    out.extend_from_slice(b",\"locked_at\":");
    optional(out, a.locked_at, time)?;
    out.extend_from_slice(b",\"locked_until\":");
    optional(out, a.locked_until, time)?;
    out.extend_from_slice(b",\"mfa_enabled\":");
    boolean(out, a.mfa_enabled);
    out.extend_from_slice(b",\"version\":");
    serde_json::to_writer(&mut *out, &a.version)?;
    out.push(b'}');
    Ok(())
}

/// A JSON string. serde_json escapes `"`, `\` and the control characters below U+0020, and
/// nothing else; a string without any is copied between quotes as it is.
fn string(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    // A fold without an early exit, so that it compiles to a vector loop.
    let escaped = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if escaped {
        return serde_json::to_writer(out, s);
    }
    quoted(out, s);
    Ok(())
}

/// `s` between quotes, as it is: for strings known to need no escaping.
fn quoted(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn optional<T>(
    out: &mut Vec<u8>,
    value: Option<T>,
    write: impl FnOnce(&mut Vec<u8>, T) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    match value {
        Some(value) => write(out, value),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

fn uuid(out: &mut Vec<u8>, id: Uuid) -> serde_json::Result<()> {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    quoted(out, id.hyphenated().encode_lower(&mut buf));
    Ok(())
}

fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// A timestamp has nothing to escape; one `timestamp` cannot format is written as chrono writes it.
fn time(out: &mut Vec<u8>, at: DateTime<Utc>) -> serde_json::Result<()> {
    let mut buf = timestamp::Buffer::default();
    match timestamp::format(&at, &mut buf) {
        Some(text) => {
            quoted(out, text);
            Ok(())
        }
        None => serde_json::to_writer(out, &at),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::{account::Account, values::PersonName};

    use super::*;

    /// A plain account; one with every optional field set and strings JSON must escape; one
    /// without roles and with a timestamp serde_json writes through chrono's own.
    fn accounts() -> Vec<Account> {
        let at = |secs, nanos| Utc.timestamp_opt(secs, nanos).unwrap();
        let mut full = Account::sample("bo.berg");
        full.first_name = PersonName::from_trusted("Zoë \"Bo\"".into());
        full.last_name = PersonName::from_trusted("Bërg\\ 🦀 \u{1}\t\n".into());
        full.location = Some("Porto \u{7f}\u{1f}".into());
        full.erp_id = Some("E-1".into());
        full.external_key = Some(String::new());
        full.roles = vec!["admin".into(), "user\"x".into()];
        full.active = false;
        full.mfa_required = true;
        full.mfa_enabled = true;
        full.email_notifications = false;
        full.expires_at = Some(at(1_790_000_000, 123_456_789));
        full.activated_at = Some(at(1_780_000_000, 5_000));
        full.last_active_at = Some(at(1_785_000_000, 7_000_000));
        full.locked_at = Some(at(1_786_000_000, 0));
        full.locked_until = Some(at(1_786_000_900, 0));
        full.created_by = Some(Uuid::now_v7());
        full.updated_by = Some(Uuid::max());
        full.version = i64::MAX;
        let mut odd = Account::sample("cy.cole");
        odd.roles = Vec::new();
        odd.version = -1;
        odd.created_at = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
        vec![Account::sample("ana.lima"), full, odd]
    }

    #[test]
    fn an_account_is_what_serde_json_writes() {
        for account in accounts() {
            let response = UserResponse::from(&account);
            let mut ours = Vec::new();
            write_account(&mut ours, &response).expect("writes");
            let serde = serde_json::to_vec(&response).expect("serialises");
            assert_eq!(String::from_utf8(ours), String::from_utf8(serde));
        }
    }

    #[test]
    fn a_page_is_what_serde_json_writes() {
        let accounts = accounts();
        for (items, next_cursor) in [
            (&accounts[..], Some("eyJzIjoidXNlcm5hbWUifQ".to_owned())),
            (&accounts[..1], None),
            (&accounts[..0], None),
        ] {
            let page = UserPage {
                items: items.iter().map(UserResponse::from).collect(),
                next_cursor,
            };
            let mut ours = Vec::new();
            write_page(&mut ours, &page).expect("writes");
            let serde = serde_json::to_vec(&page).expect("serialises");
            assert_eq!(String::from_utf8(ours), String::from_utf8(serde));
        }
    }
}

//! Parsing of account fields shared by setup, create and update (SPEC §1).

use chrono::{DateTime, Duration, Utc};

use crate::{
    roles::{RoleCatalog, GUEST},
    validate::Checks,
    values::{BoundedText, Invalid},
    FieldError,
};

pub const ORIGIN_MAX: usize = 100;
pub const LOCATION_MAX: usize = 100;
pub const ERP_ID_MAX: usize = 64;
pub const EXTERNAL_KEY_MAX: usize = 255;

/// Role names, sorted and deduplicated; each must be in the catalog and an exclusive role
/// (`guest`) stands alone.
pub fn roles(catalog: &RoleCatalog, names: &[String]) -> Result<Vec<String>, FieldError> {
    let mut roles: Vec<String> = names.iter().map(|r| r.trim().to_owned()).collect();
    roles.sort();
    roles.dedup();
    if let Some(unknown) = roles.iter().find(|r| catalog.get(r).is_none()) {
        return Err(FieldError::new(
            "roles",
            "unknown_role",
            format!("no role named {unknown:?} in the catalog (GET /api/v1/roles)"),
        ));
    }
    let exclusive = roles
        .iter()
        .filter_map(|r| catalog.get(r))
        .find(|r| r.exclusive);
    if let (Some(role), true) = (exclusive, roles.len() > 1) {
        return Err(FieldError::new(
            "roles",
            "exclusive_role",
            format!("{} cannot be combined with other roles", role.name),
        ));
    }
    Ok(roles)
}

/// An optional bounded text field, recorded in `checks` when invalid.
pub fn text(checks: &mut Checks, field: &str, raw: Option<&str>, max: usize) -> Option<String> {
    raw.and_then(|s| checks.take(field, BoundedText::parse(s, max)).flatten())
}

/// A guest is time-limited: without an explicit expiry it expires `guest_days` from now.
pub fn guest_expiry(
    roles: &[String],
    given: Option<DateTime<Utc>>,
    guest_days: u32,
) -> Option<DateTime<Utc>> {
    match given {
        Some(at) => Some(at),
        None if roles.iter().any(|r| r == GUEST) => {
            Some(crate::now() + Duration::days(i64::from(guest_days)))
        }
        None => None,
    }
}

pub fn not_in_past(at: DateTime<Utc>) -> Result<DateTime<Utc>, Invalid> {
    if at <= crate::now() {
        Err(Invalid {
            code: "in_the_past",
            message: "must be in the future".into(),
        })
    } else {
        Ok(at)
    }
}

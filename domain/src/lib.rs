//! Roster's rules: value types, account state, role catalog, policies and the use-case services,
//! written against the storage ports in [`ports`]. No database, HTTP or other I/O here.

pub mod account;
pub mod api_token;
pub mod assignments;
pub mod audit;
pub mod chain;
pub mod effects;
pub mod error;
pub mod filter;
pub mod idempotency;
pub mod import;
pub mod mfa;
pub mod one_time;
pub mod outbox;
pub mod paging;
pub mod password;
pub mod policy;
pub mod ports;
pub mod reports;
pub mod roles;
pub mod runtime;
pub mod seal;
pub mod seats;
pub mod services;
pub mod session;
pub mod settings;
pub mod spreadsheet;
pub mod telemetry;
pub mod validate;
pub mod values;

pub use error::{Error, FieldError, Result};

/// The current time at the precision both databases keep (microseconds), so what a write
/// returns equals what a later read returns.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

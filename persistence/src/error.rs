//! Database failures mapped on purpose: a unique violation names the rule it broke, an outage is
//! `Unavailable` (503), anything else is `Internal` (500, logged once by the API).

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::Error;

pub(crate) fn map(e: DieselError) -> Error {
    match &e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            let constraint = info.constraint_name().unwrap_or_default();
            let message = info.message();
            // A search prefix row is keyed by its account's username key: one that already
            // exists means the username is taken (SQLite's message names the column).
            let username = ["username_key", "user_prefixes_pkey"];
            if username
                .iter()
                .any(|name| constraint.contains(name) || message.contains(name))
            {
                Error::UsernameTaken
            } else if constraint.contains("email_key") || message.contains("email_key") {
                Error::EmailTaken
            } else {
                Error::Internal(e.to_string())
            }
        }
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::SerializationFailure,
            _,
        ) => Error::Unavailable,
        DieselError::DatabaseError(_, info) if is_transient(info.message()) => Error::Unavailable,
        _ => Error::Internal(e.to_string()),
    }
}

/// SQLite's busy/locked and PostgreSQL's shutdown/connection messages: worth a retry later.
fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 6] = [
        "database is locked",
        "database table is locked",
        "terminating connection",
        "server closed the connection",
        "the database system is",
        "deadlock detected",
    ];
    TRANSIENT.iter().any(|t| message.contains(t))
}

pub(crate) fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

//! Database failures mapped on purpose: a broken constraint means what its backend's constraint
//! table says (`constraints`), a collision between concurrent transactions is `Contention`
//! (retried by the store), an outage is `Unavailable` (503), anything else is `Internal` (500,
//! logged once by the API).

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
use domain::Error;

use crate::{conn::Backend, constraints};

pub(crate) fn map(e: DieselError) -> Error {
    match &e {
        DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation,
            info,
        ) => violated(info.as_ref()),
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => Error::Contention,
        DieselError::DatabaseError(_, info) if info.message().contains("deadlock detected") => {
            Error::Contention
        }
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => Error::Unavailable,
        DieselError::DatabaseError(_, info) if is_transient(info.message()) => Error::Unavailable,
        _ => Error::Internal(e.to_string()),
    }
}

/// PostgreSQL names the constraint; SQLite names the columns in its message (`UNIQUE constraint
/// failed: users.email_key`) and nothing at all for a foreign key.
fn violated(info: &(dyn DatabaseErrorInformation + Send + Sync)) -> Error {
    match info.constraint_name() {
        Some(name) => constraints::violated(Backend::Postgres, name),
        None => {
            let message = info.message();
            let columns = message
                .strip_prefix("UNIQUE constraint failed: ")
                .unwrap_or(message);
            constraints::violated(Backend::Sqlite, columns)
        }
    }
}

/// SQLite's busy/locked and PostgreSQL's shutdown, connection and timeout messages: worth a retry
/// later.
fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 7] = [
        "database is locked",
        "database table is locked",
        "terminating connection",
        "server closed the connection",
        "the database system is",
        "canceling statement due to statement timeout",
        "could not receive data from server",
    ];
    TRANSIENT.iter().any(|t| message.contains(t))
}

pub(crate) fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

//! What a broken constraint means, by its exact name: one table per backend, kept next to the
//! migrations that create the constraints (`migrations/<backend>/constraints.txt`).

use domain::Error;

use crate::conn::Backend;

const POSTGRES: &str = include_str!("../../migrations/postgres/constraints.txt");
const SQLITE: &str = include_str!("../../migrations/sqlite/constraints.txt");

/// The table's entries: (code, constraint).
fn entries(table: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(code, name)| (code, name.trim()))
}

fn table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => POSTGRES,
        Backend::Sqlite => SQLITE,
    }
}

/// Every constraint the table names, for the test that holds it to the migrated schema.
pub(crate) fn listed(backend: Backend) -> Vec<&'static str> {
    entries(table(backend)).map(|(_, name)| name).collect()
}

/// The error a violation of `constraint` means. One the table does not list answers `Conflict`
/// (409), logged here with its name so the table can be completed.
pub(crate) fn violated(backend: Backend, constraint: &str) -> Error {
    let code = entries(table(backend)).find(|(_, name)| *name == constraint);
    match code.map(|(code, _)| code) {
        Some("username_taken") => Error::UsernameTaken,
        Some("email_taken") => Error::EmailTaken,
        Some("user_not_found") => Error::UserNotFound,
        Some("name_taken") => Error::NameTaken,
        Some("application_not_found") => Error::ApplicationNotFound,
        Some("group_not_found") => Error::GroupNotFound,
        Some("conflict") => Error::Conflict,
        Some(other) => {
            tracing::error!(
                constraint,
                code = other,
                "the constraint table names an unknown code"
            );
            Error::Conflict
        }
        None => {
            tracing::warn!(
                constraint,
                "a constraint that is not in the constraint table was violated: answered 409 conflict"
            );
            Error::Conflict
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_names_a_known_code() {
        for backend in [Backend::Postgres, Backend::Sqlite] {
            for (code, name) in entries(table(backend)) {
                assert!(
                    [
                        "username_taken",
                        "email_taken",
                        "user_not_found",
                        "name_taken",
                        "application_not_found",
                        "group_not_found",
                        "conflict"
                    ]
                    .contains(&code),
                    "{name}: {code}"
                );
            }
        }
        assert!(matches!(
            violated(Backend::Postgres, "users_email_key"),
            Error::EmailTaken
        ));
        assert!(matches!(
            violated(
                Backend::Sqlite,
                "user_prefixes.prefix, user_prefixes.username_key"
            ),
            Error::UsernameTaken
        ));
        assert!(matches!(
            violated(Backend::Postgres, "somebody_elses_index"),
            Error::Conflict
        ));
    }
}

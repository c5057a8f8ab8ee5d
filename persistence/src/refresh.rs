//! Derived data recomputed when Roster's rules for it change. The rules that derive the key
//! columns, the username skeleton and the search prefixes from an account's row have a version
//! ([`DERIVED_VERSION`]); a database last refreshed under an older one has every account's
//! derived data recomputed at start-up, through the account writer, before Roster serves it.
//!
//! Accounts made under older rules can collide under newer ones (two spellings of one email that
//! were two accounts; two usernames a person would confuse). Such a row keeps what it had (its old
//! keys, or no skeleton), the refresh logs it, and an admin can resolve it.

use diesel::prelude::*;
use domain::{account::Account, Error};

use crate::{
    conn::DbConn,
    models::AccountRow,
    schema::{instance_state, users},
    stores::{on_backend, writer},
};

/// Version of the rules deriving data from account rows: 1, lower-cased keys; 2, NFKC-folded keys
/// and the username skeleton (UTS #39). Raise it with any change to those rules.
pub(crate) const DERIVED_VERSION: &str = "2";

const BATCH: i64 = 1_000;

/// Recomputes every account's derived data if the database was last refreshed under older rules;
/// returns how many accounts were looked at.
pub(crate) fn refresh_if_needed(conn: &mut DbConn) -> Result<usize, String> {
    let stored: Option<String> = on(conn, |c| {
        instance_state::table
            .find("derived_version")
            .select(instance_state::value)
            .first(c)
            .optional()
    })?;
    if stored.as_deref() == Some(DERIVED_VERSION) {
        return Ok(0);
    }
    let mut after = String::new();
    let mut seen = 0;
    loop {
        type Keys = (String, String, String, String);
        let rows: Vec<(AccountRow, Keys)> = on_backend!(conn, c => users::table
            .filter(users::id.gt(&after))
            .order(users::id)
            .limit(BATCH)
            .select((
                AccountRow::as_select(),
                (users::username_key, users::email_key, users::first_name_key, users::last_name_key),
            ))
            .load(c))
        .map_err(|e| format!("recomputing derived data: {e}"))?;
        let Some(last) = rows.last() else { break };
        after = last.0.id.clone();
        seen += rows.len();
        // A transaction per batch (one per account made an upgrade of a million accounts take
        // many minutes), a savepoint per account.
        crate::conn::in_transaction(conn, domain::ports::TxMode::Write, |unit| {
            for (row, (username, email, first_name, last_name)) in &rows {
                let account = row.clone().into_account()?;
                let old_keys = [
                    username.clone(),
                    email.clone(),
                    first_name.clone(),
                    last_name.clone(),
                ];
                refresh_one(unit.conn, &account, &old_keys)?;
            }
            Ok(())
        })
        .map_err(|e| format!("recomputing derived data: {e}"))?;
    }
    on(conn, |c| {
        diesel::delete(instance_state::table.find("derived_version")).execute(c)?;
        diesel::insert_into(instance_state::table)
            .values((
                instance_state::name.eq("derived_version"),
                instance_state::value.eq(DERIVED_VERSION),
            ))
            .execute(c)
    })?;
    if seen > 0 {
        tracing::info!(
            accounts = seen,
            version = DERIVED_VERSION,
            "recomputed derived data"
        );
    }
    Ok(seen)
}

/// One account, in a savepoint of its own; a collision keeps the row as it was (or without a
/// skeleton) and is logged.
fn refresh_one(conn: &mut DbConn, account: &Account, old_keys: &[String; 4]) -> domain::Result<()> {
    for with_skeleton in [true, false] {
        match savepoint(conn, |c| {
            writer::refresh(c, account, old_keys, with_skeleton)
        }) {
            Ok(()) => {
                if !with_skeleton {
                    tracing::warn!(account = %account.id, username = account.username.as_str(),
                        "another account has a username a person would confuse with this one's; this one keeps its name without the confusable check");
                }
                return Ok(());
            }
            Err(Error::UsernameTaken) if with_skeleton => continue,
            Err(Error::UsernameTaken | Error::EmailTaken) => {
                tracing::warn!(account = %account.id, username = account.username.as_str(),
                    "under the current rules this account's username or email is another account's; it keeps its old keys");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs `work` inside a savepoint of the current transaction, rolled back to if it fails.
fn savepoint(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> domain::Result<()>,
) -> domain::Result<()> {
    use diesel::connection::TransactionManager;
    type Manager = <DbConn as Connection>::TransactionManager;
    Manager::begin_transaction(conn).map_err(crate::error::map)?;
    match work(conn) {
        Ok(()) => Manager::commit_transaction(conn).map_err(crate::error::map),
        Err(e) => {
            Manager::rollback_transaction(conn).map_err(crate::error::map)?;
            Err(e)
        }
    }
}

fn on<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> QueryResult<T>) -> Result<T, String> {
    f(conn).map_err(|e| format!("recomputing derived data: {e}"))
}

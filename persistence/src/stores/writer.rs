//! The one writer of account rows and of what is derived from them: the `roles` column and the
//! `user_roles` rows, the case-folded key columns, and the `user_prefixes` rows. Every path that
//! writes an account (create, bulk create, change, delete, a sign-in's time; import, bulk edit,
//! SCIM and sweeps next) goes through these functions, so derived data cannot drift from the rows:
//! the end-to-end harness recomputes it from the rows after every test, on both databases.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{
    account::{Account, SignInRecord},
    effects::Effects,
    Result,
};
use uuid::Uuid;

use super::{
    on_backend, seats,
    statements::{
        insert_batched, insert_few, Event, NewAccount, NoEvent, UpdateChanged, UpdateUser,
    },
    Db,
};
use crate::{
    conn::DbConn,
    models::{naive, AuditRow, ChangedRow, PrefixRow, RoleRow, UserRow},
    schema::{audit_events, user_prefixes, user_roles, users},
};

/// Inserts new accounts and everything derived from them. On PostgreSQL a single new account's
/// statement also writes the one audit event its unit of work has recorded so far, taken from
/// `effects` (one round trip fewer: `bench/ab --scenarios create`, +16 %).
pub(crate) fn create(conn: &mut DbConn, effects: &mut Effects, accounts: &[Account]) -> Result<()> {
    match accounts {
        [] => Ok(()),
        [one] => create_one(conn, effects, one),
        many => {
            let rows: Vec<UserRow> = many.iter().map(UserRow::from_account).collect();
            insert_batched!(conn, users::table, rows, 1000);
            let roles = RoleRow::all_of(many);
            insert_batched!(conn, user_roles::table, roles, 5000);
            insert_prefixes(conn, &PrefixRow::all_of(many))?;
            let writes: Vec<_> = many.iter().map(|a| (None, Some(a))).collect();
            seats::apply(conn, &writes)
        }
    }
}

fn create_one(conn: &mut DbConn, effects: &mut Effects, account: &Account) -> Result<()> {
    let row = UserRow::from_account(account);
    // PostgreSQL: one statement, one round trip, seats and audit event included (see
    // `NewAccount`); a guest's email takes its guest seat as well, in the general way.
    if let (DbConn::Pg(c), false) = (&mut *conn, account.is_guest()) {
        let taken: Vec<String> = domain::seats::changes(None, Some(account))
            .into_keys()
            .collect();
        let prefixes = PrefixRow::prefixes(account);
        let insert = diesel::insert_into(users::table).values(&row);
        let event = match effects.audit_events() {
            [one] => Some([AuditRow::new(one)]),
            _ => None,
        };
        macro_rules! new_account {
            ($take:literal, $event:expr) => {
                NewAccount::<_, _, $take> {
                    id: &row.account.id,
                    roles: &account.roles,
                    prefixes,
                    username_key: &row.username_key,
                    seats: &taken,
                    shards: seats::PG_SHARDS,
                    user: insert,
                    event: $event,
                }
                .get_result::<Option<String>>(c)
                .db()?
            };
        }
        let answer = match (seats::limits_seen() && !seats::general_next(), &event) {
            (true, Some(e)) => {
                new_account!(
                    true,
                    Event(diesel::insert_into(audit_events::table).values(e))
                )
            }
            (false, Some(e)) => {
                new_account!(
                    false,
                    Event(diesel::insert_into(audit_events::table).values(e))
                )
            }
            (true, None) => new_account!(true, NoEvent),
            (false, None) => new_account!(false, NoEvent),
        };
        if event.is_some() {
            effects.take_audit_events();
        }
        return seats::after_create(conn, account, &taken, answer.as_deref());
    }
    // In-process SQLite: a statement each costs no round trip.
    on_backend!(conn, c => diesel::insert_into(users::table).values(&row).execute(c)).db()?;
    insert_roles(conn, account)?;
    insert_prefixes(conn, &PrefixRow::of(account))?;
    seats::apply(conn, &[(None, Some(account))])
}

/// Writes every column of `after`, and the derived rows that differ from `before`'s.
pub(crate) fn update(conn: &mut DbConn, before: &Account, after: &Account) -> Result<()> {
    if before.username != after.username {
        return Err(domain::Error::UsernameImmutable);
    }
    let row = ChangedRow::from_account(after);
    on_backend!(conn, c => UpdateChanged::new(&row).execute(c)).db()?;
    if before.roles != after.roles {
        on_backend!(conn, c => diesel::delete(user_roles::table.filter(user_roles::user_id.eq(&row.account.id))).execute(c))
            .db()?;
        insert_roles(conn, after)?;
    }
    let (old, new) = (PrefixRow::of(before), PrefixRow::of(after));
    if old != new {
        let gone: Vec<PrefixRow> = old.iter().filter(|r| !new.contains(r)).cloned().collect();
        let added: Vec<PrefixRow> = new.iter().filter(|r| !old.contains(r)).cloned().collect();
        delete_prefixes(conn, &gone)?;
        insert_prefixes(conn, &added)?;
    }
    seats::apply(conn, &[(Some(before), Some(after))])
}

/// Rewrites the row's derived columns by the current rules, and its search prefixes, which were
/// stored from `old_keys` (username, email, first and last name keys as stored; see `refresh`).
/// `with_skeleton: false` leaves the skeleton unset (an older account whose username another
/// account's resembles).
pub(crate) fn refresh(
    conn: &mut DbConn,
    account: &Account,
    old_keys: &[String; 4],
    with_skeleton: bool,
) -> Result<()> {
    let mut row = UserRow::from_account(account);
    if !with_skeleton {
        row.username_skeleton = None;
    }
    on_backend!(conn, c => UpdateUser::new(&row).execute(c)).db()?;
    let old: Vec<PrefixRow> = PrefixRow::prefixes_of_keys(old_keys)
        .into_iter()
        .map(|prefix| PrefixRow {
            prefix,
            username_key: old_keys[0].clone(),
        })
        .collect();
    let new = PrefixRow::of(account);
    if old != new {
        delete_prefixes(conn, &old)?;
        insert_prefixes(conn, &new)?;
    }
    Ok(())
}

/// Removes the account; its role rows and tokens go with it (foreign keys), its prefixes and seats
/// here (a guest seat stays taken: it is bound to the email).
pub(crate) fn delete(conn: &mut DbConn, account: &Account) -> Result<()> {
    on_backend!(conn, c => diesel::delete(users::table.find(account.id.to_string())).execute(c))
        .db()?;
    delete_prefixes(conn, &PrefixRow::of(account))?;
    seats::apply(conn, &[(Some(account), None)])
}

/// A sign-in's outcome: the consecutive-failure count, the lock, the last use and the version —
/// columns nothing is derived from (no key, prefix, role or seat moves), in one small update.
pub(crate) fn record_sign_in(conn: &mut DbConn, id: Uuid, record: &SignInRecord) -> Result<()> {
    on_backend!(conn, c => diesel::update(users::table.find(id.to_string()))
        .set((
            users::failed_logins.eq(i32::try_from(record.failed_logins).unwrap_or(i32::MAX)),
            users::locked_at.eq(record.locked_at.map(naive)),
            users::locked_until.eq(record.locked_until.map(naive)),
            users::last_active_at.eq(record.last_active_at.map(naive)),
            users::version.eq(record.version),
        ))
        .execute(c))
    .db()?;
    Ok(())
}

/// A sign-in's time: a column nothing is derived from, written without a version bump.
pub(crate) fn touch_last_active(conn: &mut DbConn, id: Uuid, at: DateTime<Utc>) -> Result<()> {
    on_backend!(conn, c => diesel::update(users::table.find(id.to_string()))
        .set(users::last_active_at.eq(Some(naive(at))))
        .execute(c))
    .db()?;
    Ok(())
}

fn insert_roles(conn: &mut DbConn, account: &Account) -> Result<()> {
    let rows = RoleRow::all_of(std::slice::from_ref(account));
    insert_few!(conn, user_roles::table, rows.as_slice());
    Ok(())
}

fn insert_prefixes(conn: &mut DbConn, rows: &[PrefixRow]) -> Result<()> {
    insert_few!(conn, user_prefixes::table, rows);
    Ok(())
}

fn delete_prefixes(conn: &mut DbConn, rows: &[PrefixRow]) -> Result<()> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    // All rows of one account: one username key.
    let prefixes: Vec<&str> = rows.iter().map(|r| r.prefix.as_str()).collect();
    on_backend!(conn, c => diesel::delete(
        user_prefixes::table
            .filter(user_prefixes::username_key.eq(&first.username_key))
            .filter(user_prefixes::prefix.eq_any(&prefixes)),
    )
    .execute(c))
    .db()?;
    Ok(())
}

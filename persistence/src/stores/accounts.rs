//! The `Accounts` port: reads here, writes through the one account writer (`writer`), lists in
//! `list`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::{dsl::exists, prelude::*};
use domain::{
    account::{Account, SignInRecord},
    audit::action::SIGN_IN_PREFIX,
    paging::UserQuery,
    ports::Accounts,
    roles::ADMIN,
    seats::SeatUsage,
    Result,
};
use uuid::Uuid;

use super::{list, on_backend, seats, statements::Kept, writer, Db, Unit};
use crate::{
    conn::DbConn,
    models::AccountRow,
    schema::{audit_events, user_roles, users},
};

/// Serialises last-admin checks on PostgreSQL (SQLite write transactions are already serial).
const ADMIN_SET_LOCK: i64 = 0x526f_7374_6572_0001;

/// An account, roles included, in one statement.
fn find_by_id(conn: &mut DbConn, id: &str) -> Result<Option<Account>> {
    on_backend!(conn, c => Kept(users::table
        .filter(users::id.eq(id))
        .select(AccountRow::as_select()))
        .get_result::<AccountRow>(c)
        .optional())
    .db()?
    .map(AccountRow::into_account)
    .transpose()
}

impl Accounts for Unit<'_> {
    fn count_accounts(&mut self) -> Result<i64> {
        on_backend!(self.conn, c => users::table.count().get_result(c)).db()
    }

    fn insert_account(&mut self, account: &Account) -> Result<()> {
        writer::create(self.conn, &mut self.effects, std::slice::from_ref(account))
    }

    fn insert_accounts(&mut self, accounts: &[Account]) -> Result<()> {
        writer::create(self.conn, &mut self.effects, accounts)
    }

    fn find_account(&mut self, id: Uuid) -> Result<Option<Account>> {
        find_by_id(self.conn, &id.to_string())
    }

    fn find_account_for_update(&mut self, id: Uuid) -> Result<Option<Account>> {
        let id = id.to_string();
        match self.conn {
            // Reads the account and locks its row in one statement.
            DbConn::Pg(pg) => users::table
                .filter(users::id.eq(&id))
                .select(AccountRow::as_select())
                .for_update()
                .first::<AccountRow>(pg)
                .optional()
                .db()?
                .map(AccountRow::into_account)
                .transpose(),
            // SQLite's write transaction already holds its only write lock.
            DbConn::Sqlite(_) => find_by_id(self.conn, &id),
        }
    }

    fn find_account_by_login(&mut self, login_key: &str) -> Result<Option<Account>> {
        // A username match wins over another account's email match.
        on_backend!(self.conn, c => users::table
            .filter(users::username_key.eq(login_key).or(users::email_key.eq(login_key)))
            .select(AccountRow::as_select())
            .order((users::username_key.ne(login_key), users::id))
            .first::<AccountRow>(c)
            .optional())
        .db()?
        .map(AccountRow::into_account)
        .transpose()
    }

    fn update_account(&mut self, before: &Account, after: &Account) -> Result<()> {
        writer::update(self.conn, before, after)
    }

    fn delete_account(&mut self, account: &Account) -> Result<()> {
        writer::delete(self.conn, account)
    }

    fn record_sign_in(&mut self, id: Uuid, record: &SignInRecord) -> Result<()> {
        writer::record_sign_in(self.conn, id, record)
    }

    fn touch_last_active(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        writer::touch_last_active(self.conn, id, at)
    }

    fn list_accounts(&mut self, query: &UserQuery, now: DateTime<Utc>) -> Result<Vec<Account>> {
        list::list_accounts(self.conn, query, now)
    }

    fn seat_usage(&mut self, roles: &[String]) -> Result<Vec<SeatUsage>> {
        seats::usage(self.conn, roles)
    }

    fn holds_guest_seat(&mut self, email_key: &str) -> Result<bool> {
        let found: Option<String> = on_backend!(self.conn, c => crate::schema::guest_seats::table
            .find(email_key)
            .select(crate::schema::guest_seats::email_key)
            .first(c)
            .optional())
        .db()?;
        Ok(found.is_some())
    }

    fn lock_admin_set(&mut self) -> Result<()> {
        if let DbConn::Pg(pg) = self.conn {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({ADMIN_SET_LOCK})"))
                .execute(pg)
                .db()?;
        }
        Ok(())
    }

    fn count_active_admins(&mut self) -> Result<i64> {
        on_backend!(self.conn, c => users::table
            .inner_join(user_roles::table)
            .filter(user_roles::role.eq(ADMIN))
            .filter(users::active.eq(true))
            .count()
            .get_result(c))
        .db()
    }

    fn taken_logins(
        &mut self,
        username_keys: &[String],
        email_keys: &[String],
    ) -> Result<(HashSet<String>, HashSet<String>)> {
        // Keys a statement: well under SQLite's and PostgreSQL's bound-parameter limits.
        const PER_STATEMENT: usize = 1000;
        macro_rules! held {
            ($column:expr, $keys:expr) => {{
                let mut held = HashSet::new();
                for keys in $keys.chunks(PER_STATEMENT) {
                    let found: Vec<String> = on_backend!(self.conn, c => users::table
                        .filter($column.eq_any(keys))
                        .select($column)
                        .load(c))
                    .db()?;
                    held.extend(found);
                }
                held
            }};
        }
        let usernames = held!(users::username_key, username_keys);
        let emails = held!(users::email_key, email_keys);
        Ok((usernames, emails))
    }

    fn has_authored_changes(&mut self, id: Uuid) -> Result<bool> {
        let actor = id.to_string();
        let pattern = format!("{SIGN_IN_PREFIX}%");
        on_backend!(self.conn, c => diesel::select(exists(
            audit_events::table.filter(audit_events::actor_id.eq(&actor)).filter(audit_events::action.not_like(&pattern)),
        ))
        .get_result(c))
        .db()
    }
}

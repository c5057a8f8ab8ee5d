use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::{dsl::exists, prelude::*};
use domain::{
    account::{Account, Status},
    audit::action::SIGN_IN_PREFIX,
    paging::{SortField, UserQuery},
    ports::Accounts,
    roles::ADMIN,
    Result,
};
use uuid::Uuid;

use super::{Db, Unit};
use crate::{
    conn::DbConn,
    models::{naive, RoleRow, UserRow},
    schema::{audit_events, user_roles, users},
};

/// Serialises last-admin checks on PostgreSQL (SQLite write transactions are already serial).
const ADMIN_SET_LOCK: i64 = 0x526f_7374_6572_0001;

/// The upper bound of a prefix range: every string starting with `prefix` sorts below it.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

fn load_roles(conn: &mut DbConn, ids: &[String]) -> Result<HashMap<String, Vec<String>>> {
    let pairs: Vec<(String, String)> = user_roles::table
        .filter(user_roles::user_id.eq_any(ids))
        .select((user_roles::user_id, user_roles::role))
        .order((user_roles::user_id, user_roles::role))
        .load(conn)
        .db()?;
    let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
    for (user, role) in pairs {
        by_user.entry(user).or_default().push(role);
    }
    Ok(by_user)
}

/// Attaches roles to rows, keeping the rows' order.
pub(crate) fn with_roles(conn: &mut DbConn, rows: Vec<UserRow>) -> Result<Vec<Account>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut roles = if ids.is_empty() {
        HashMap::new()
    } else {
        load_roles(conn, &ids)?
    };
    rows.into_iter()
        .map(|row| {
            let r = roles.remove(&row.id).unwrap_or_default();
            row.into_account(r)
        })
        .collect()
}

fn one(conn: &mut DbConn, row: Option<UserRow>) -> Result<Option<Account>> {
    Ok(with_roles(conn, row.into_iter().collect())?.pop())
}

fn write_roles(conn: &mut DbConn, account: &Account) -> Result<()> {
    let id = account.id.to_string();
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(&id)))
        .execute(conn)
        .db()?;
    // One statement per role: accounts hold few roles, and multi-row inserts are not portable
    // across the two backends of one connection type.
    for role in &account.roles {
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(&id), user_roles::role.eq(role)))
            .execute(conn)
            .db()?;
    }
    Ok(())
}

impl Accounts for Unit<'_> {
    fn count_accounts(&mut self) -> Result<i64> {
        users::table.count().get_result(self.conn).db()
    }

    fn insert_account(&mut self, account: &Account) -> Result<()> {
        diesel::insert_into(users::table)
            .values(UserRow::from_account(account))
            .execute(self.conn)
            .db()?;
        write_roles(self.conn, account)
    }

    fn insert_accounts(&mut self, accounts: &[Account]) -> Result<()> {
        let rows: Vec<UserRow> = accounts.iter().map(UserRow::from_account).collect();
        super::insert_batched!(self.conn, users::table, rows, 1000);
        let roles = RoleRow::all_of(accounts);
        super::insert_batched!(self.conn, user_roles::table, roles, 5000);
        Ok(())
    }

    fn find_account(&mut self, id: Uuid) -> Result<Option<Account>> {
        let row = users::table
            .find(id.to_string())
            .select(UserRow::as_select())
            .first(self.conn)
            .optional()
            .db()?;
        one(self.conn, row)
    }

    fn find_account_for_update(&mut self, id: Uuid) -> Result<Option<Account>> {
        let DbConn::Pg(pg) = self.conn else {
            // SQLite: the write transaction already holds the database's only write lock.
            return self.find_account(id);
        };
        let row = users::table
            .find(id.to_string())
            .select(UserRow::as_select())
            .for_update()
            .first(pg)
            .optional()
            .db()?;
        one(self.conn, row)
    }

    fn find_account_by_login(&mut self, login_key: &str) -> Result<Option<Account>> {
        let row = users::table
            .filter(
                users::username_key
                    .eq(login_key)
                    .or(users::email_key.eq(login_key)),
            )
            .select(UserRow::as_select())
            .order(users::username_key.ne(login_key))
            .first(self.conn)
            .optional()
            .db()?;
        one(self.conn, row)
    }

    fn update_account(&mut self, account: &Account) -> Result<()> {
        let row = UserRow::from_account(account);
        diesel::update(users::table.find(&row.id))
            .set(&row)
            .execute(self.conn)
            .db()?;
        write_roles(self.conn, account)
    }

    fn delete_account(&mut self, id: Uuid) -> Result<()> {
        diesel::delete(users::table.find(id.to_string()))
            .execute(self.conn)
            .db()?;
        Ok(())
    }

    fn touch_last_active(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        diesel::update(users::table.find(id.to_string()))
            .set(users::last_active_at.eq(Some(naive(at))))
            .execute(self.conn)
            .db()?;
        Ok(())
    }

    fn list_accounts(&mut self, query: &UserQuery, now: DateTime<Utc>) -> Result<Vec<Account>> {
        let mut q = users::table.select(UserRow::as_select()).into_boxed();
        if let Some(prefix) = &query.q {
            let end = prefix_end(prefix);
            q = q.filter(
                users::username_key
                    .ge(prefix.clone())
                    .and(users::username_key.lt(end.clone()))
                    .or(users::email_key
                        .ge(prefix.clone())
                        .and(users::email_key.lt(end.clone())))
                    .or(users::first_name_key
                        .ge(prefix.clone())
                        .and(users::first_name_key.lt(end.clone())))
                    .or(users::last_name_key
                        .ge(prefix.clone())
                        .and(users::last_name_key.lt(end))),
            );
        }
        if let Some(role) = &query.role {
            let holders = user_roles::table
                .filter(user_roles::role.eq(role.clone()))
                .select(user_roles::user_id);
            q = q.filter(users::id.eq_any(holders));
        }
        if let Some(status) = query.status {
            let now = naive(now);
            let usable = users::active.eq(true).and(users::locked_at.is_null());
            let unexpired = users::expires_at.is_null().or(users::expires_at.gt(now));
            let never_used = users::activated_at
                .is_null()
                .and(users::last_active_at.is_null());
            q = match status {
                Status::Inactive => q.filter(users::active.eq(false)),
                Status::Locked => {
                    q.filter(users::active.eq(true).and(users::locked_at.is_not_null()))
                }
                Status::Expired => q.filter(usable.and(users::expires_at.le(now))),
                Status::Invited => q.filter(usable.and(unexpired).and(never_used)),
                Status::Active => q.filter(usable.and(unexpired).and(never_used.eq(false))),
            };
        }
        macro_rules! page_by {
            ($col:expr) => {{
                if let Some(after) = &query.after {
                    let (key, id) = (after.key.clone(), after.id.to_string());
                    q = if query.sort.descending {
                        q.filter($col.lt(key.clone()).or($col.eq(key).and(users::id.lt(id))))
                    } else {
                        q.filter($col.gt(key.clone()).or($col.eq(key).and(users::id.gt(id))))
                    };
                }
                q = if query.sort.descending {
                    q.order(($col.desc(), users::id.desc()))
                } else {
                    q.order(($col.asc(), users::id.asc()))
                };
            }};
        }
        match query.sort.field {
            SortField::Username => page_by!(users::username_key),
            SortField::Email => page_by!(users::email_key),
            SortField::LastName => page_by!(users::last_name_key),
            SortField::CreatedAt => {
                if let Some(after) = &query.after {
                    let id = after.id.to_string();
                    q = if query.sort.descending {
                        q.filter(users::id.lt(id))
                    } else {
                        q.filter(users::id.gt(id))
                    };
                }
                q = if query.sort.descending {
                    q.order(users::id.desc())
                } else {
                    q.order(users::id.asc())
                };
            }
        }
        let rows = q.limit(i64::from(query.limit) + 1).load(self.conn).db()?;
        with_roles(self.conn, rows)
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
        users::table
            .inner_join(user_roles::table)
            .filter(user_roles::role.eq(ADMIN))
            .filter(users::active.eq(true))
            .count()
            .get_result(self.conn)
            .db()
    }

    fn has_authored_changes(&mut self, id: Uuid) -> Result<bool> {
        let authored = audit_events::table
            .filter(audit_events::actor_id.eq(id.to_string()))
            .filter(audit_events::action.not_like(format!("{SIGN_IN_PREFIX}%")));
        diesel::select(exists(authored)).get_result(self.conn).db()
    }
}

use chrono::{DateTime, Utc};
use diesel::{
    backend::Backend,
    connection::DefaultLoadingMode,
    dsl::exists,
    expression::{is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping},
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{Array, Bool, Text},
};
use domain::{
    account::{Account, Status},
    audit::{action::SIGN_IN_PREFIX, AuditEvent},
    paging::{SortField, UserQuery},
    policy::CallerAccount,
    ports::{Accounts, AuditLog},
    roles::ADMIN,
    Result,
};
use uuid::Uuid;

use super::{insert_batched, insert_few, on_backend, Db, Kept, Unit, Unplanned};
use crate::{
    conn::DbConn,
    models::{
        naive, AccountRow, AuditRow, CallerRow, PrefixRow, RoleRow, UserRow, INDEXED_PREFIX_CHARS,
    },
    schema::{audit_events, user_prefixes, user_roles, users},
};

/// Serialises last-admin checks on PostgreSQL (SQLite write transactions are already serial).
const ADMIN_SET_LOCK: i64 = 0x526f_7374_6572_0001;

/// The upper bound of a prefix range: every string starting with `prefix` sorts below it.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// `UPDATE users SET <every column but id> WHERE id = …`. Diesel never keeps an `UpdateStatement`
/// prepared (its `SET` list may vary); a `UserRow`'s never does (see its `treat_none_as_null`),
/// so this one is kept: on PostgreSQL, not parsed and planned again at every write.
struct UpdateUser<'a> {
    id: &'a str,
    set: <&'a UserRow as AsChangeset>::Changeset,
}

impl<'a> UpdateUser<'a> {
    fn new(row: &'a UserRow) -> Self {
        Self {
            id: &row.account.id,
            set: row.as_changeset(),
        }
    }
}

impl QueryId for UpdateUser<'_> {
    type QueryId = UpdateUser<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for UpdateUser<'_>
where
    DB: diesel::backend::Backend,
    for<'b> <&'b UserRow as AsChangeset>::Changeset: QueryFragment<DB>,
    str: diesel::serialize::ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE users SET ");
        self.set.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, str>(self.id)
    }
}

impl<Conn> RunQueryDsl<Conn> for UpdateUser<'_> {}

/// `<query> LIMIT <n>`, with `n` (a page's size plus one, so the caller can tell whether more
/// follow) written into the statement rather than bound. PostgreSQL plans a bound `LIMIT $n` as if
/// it could be a tenth of the table, so for a page query it keeps planning with the value at
/// every execution (a fifth of `list`'s CPU went to the planner); with the number in the text the
/// generic plan is as good, and PostgreSQL keeps it. Each page size is a statement of its own,
/// kept by its text.
struct LimitedTo<Q> {
    query: Q,
    rows: i64,
}

impl<Q> LimitedTo<Q> {
    fn rows(query: Q, page: u32) -> Self {
        Self {
            query,
            rows: i64::from(page) + 1,
        }
    }
}

impl<Q: Query> Query for LimitedTo<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> QueryId for LimitedTo<Q> {
    type QueryId = ();
    // The text differs with `rows`: diesel must key the prepared statement by its text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: diesel::backend::Backend, Q: QueryFragment<DB>> QueryFragment<DB> for LimitedTo<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {}", self.rows));
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for LimitedTo<Q> {}

/// A new account as one PostgreSQL statement: its row, its roles, its search prefixes and the
/// audit event of its creation.
///
/// ```sql
/// WITH roles AS (INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2)),
///   prefixes AS (INSERT INTO user_prefixes (prefix, username_key) SELECT unnest($3), $4),
///   event AS (INSERT INTO audit_events (…) VALUES (…))
/// INSERT INTO users (…) VALUES (…)
/// ```
///
/// Each statement is a round trip, and a round trip (the system calls on both sides, the sleep
/// and wake-up of each process) costs PostgreSQL more than these inserts' own work: pgbench, 4
/// clients, 100,000 accounts, the four inserts as four statements 2,337 transactions/s, as this
/// one 3,276/s. Roles and prefixes, however many, are bound as arrays, so the text never varies
/// and diesel keeps the statement prepared.
///
/// `users` is the main statement, so a taken username or email is reported by `users`' own unique
/// indexes. PostgreSQL calls the order of a statement's parts unpredictable (it runs the main one
/// first today), so a prefix row that already exists, which can only mean a taken username, is
/// read as one too ([`crate::error::map`]). The roles' foreign key is checked at the end of the
/// statement, after the account row is in.
struct NewAccount<'a, U, E> {
    id: &'a str,
    roles: &'a [String],
    prefixes: Vec<String>,
    username_key: &'a str,
    event: E,
    user: U,
}

impl<U: QueryId, E: QueryId> QueryId for NewAccount<'_, U, E> {
    type QueryId = NewAccount<'static, U::QueryId, E::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = U::HAS_STATIC_QUERY_ID && E::HAS_STATIC_QUERY_ID;
}

impl<U: QueryFragment<Pg>, E: QueryFragment<Pg>> QueryFragment<Pg> for NewAccount<'_, U, E> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH roles AS (INSERT INTO user_roles (user_id, role) SELECT ");
        out.push_bind_param::<Text, str>(self.id)?;
        out.push_sql(", unnest(");
        out.push_bind_param::<Array<Text>, [String]>(self.roles)?;
        out.push_sql(
            ")), prefixes AS (INSERT INTO user_prefixes (prefix, username_key) SELECT unnest(",
        );
        out.push_bind_param::<Array<Text>, [String]>(&self.prefixes)?;
        out.push_sql("), ");
        out.push_bind_param::<Text, str>(self.username_key)?;
        out.push_sql("), event AS (");
        self.event.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.user.walk_ast(out.reborrow())
    }

    fn is_safe_to_cache_prepared(&self, backend: &Pg) -> QueryResult<bool> {
        Ok(self.event.is_safe_to_cache_prepared(backend)?
            && self.user.is_safe_to_cache_prepared(backend)?)
    }
}

impl<U, E> RunQueryDsl<PgConnection> for NewAccount<'_, U, E> {}

/// `WITH event AS (<insert of an audit event>) <statement>`: a write and the audit event recording
/// it as one PostgreSQL statement, one round trip (see [`NewAccount`] for what a round trip costs).
struct WithEvent<E, Q> {
    event: E,
    then: Q,
}

impl<E: QueryId, Q: QueryId> QueryId for WithEvent<E, Q> {
    type QueryId = WithEvent<E::QueryId, Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = E::HAS_STATIC_QUERY_ID && Q::HAS_STATIC_QUERY_ID;
}

impl<E: QueryFragment<Pg>, Q: QueryFragment<Pg>> QueryFragment<Pg> for WithEvent<E, Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH event AS (");
        self.event.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.then.walk_ast(out.reborrow())
    }

    fn is_safe_to_cache_prepared(&self, backend: &Pg) -> QueryResult<bool> {
        Ok(self.event.is_safe_to_cache_prepared(backend)?
            && self.then.is_safe_to_cache_prepared(backend)?)
    }
}

impl<E, Q> RunQueryDsl<PgConnection> for WithEvent<E, Q> {}

/// An account and its roles in one statement.
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

/// Applies a list's `role` and `status` filters to a boxed query over `users` (alone or joined).
macro_rules! filter_by_role_and_status {
    ($q:ident, $query:expr, $now:expr) => {
        if let Some(role) = &$query.role {
            let holders = user_roles::table
                .filter(user_roles::role.eq(role.clone()))
                .select(user_roles::user_id);
            $q = $q.filter(users::id.eq_any(holders));
        }
        if let Some(status) = $query.status {
            let now = naive($now);
            let usable = users::active.eq(true).and(users::locked_at.is_null());
            let unexpired = users::expires_at.is_null().or(users::expires_at.gt(now));
            let never_used = users::activated_at
                .is_null()
                .and(users::last_active_at.is_null());
            $q = match status {
                Status::Inactive => $q.filter(users::active.eq(false)),
                Status::Locked => {
                    $q.filter(users::active.eq(true).and(users::locked_at.is_not_null()))
                }
                Status::Expired => $q.filter(usable.and(users::expires_at.le(now))),
                Status::Invited => $q.filter(usable.and(unexpired).and(never_used)),
                Status::Active => $q.filter(usable.and(unexpired).and(never_used.eq(false))),
            };
        }
    };
}

/// Whether `q` is answered by walking `user_prefixes` (short prefixes, the default sort order).
fn answered_by_prefix_table(query: &UserQuery, prefix: &str) -> bool {
    query.sort.field == SortField::Username && prefix.chars().count() <= INDEXED_PREFIX_CHARS
}

/// A page's rows (`limit` and one more, to tell whether another page follows) as accounts, each
/// converted as it is read into a vector of the page's size: no vector of rows in between, and no
/// growing by doubling, each step of which moved every row read so far (a page of 51 rows moved
/// ~80 KB, in blocks large enough that freeing them made glibc consolidate its free lists).
fn page_of<R>(rows: QueryResult<R>, limit: u32) -> Result<Vec<Account>>
where
    R: Iterator<Item = QueryResult<AccountRow>>,
{
    let mut page = Vec::with_capacity(limit as usize + 1);
    for row in rows.db()? {
        page.push(row.db()?.into_account()?);
    }
    Ok(page)
}

/// `(key, id) > (k, i)`, or `<` for a descending page: the rows after a cursor in an order by a
/// key that accounts can share (a last name), ties broken by id. Written as a row comparison,
/// PostgreSQL and SQLite both start the `(key, id)` index range at the cursor itself. Spelled out
/// (`key >= k AND (key > k OR id > i)`) the range started at the first account with the key `k`
/// and every tie before the cursor was read and filtered out: at 100,000 accounts, a page in the
/// middle of one last name's 3,000 accounts took 3.5 ms on PostgreSQL instead of 0.2 ms.
#[derive(Debug, Clone)]
struct PastCursor<K> {
    key_column: K,
    key: Unplanned,
    id: Unplanned,
    descending: bool,
}

impl<K> Expression for PastCursor<K> {
    type SqlType = Bool;
}

impl<K: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for PastCursor<K> {}

impl<K: SelectableExpression<QS>, QS> SelectableExpression<QS> for PastCursor<K> {}

impl<K, G> ValidGrouping<G> for PastCursor<K> {
    type IsAggregate = is_aggregate::Never;
}

impl<K> QueryId for PastCursor<K> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB, K> QueryFragment<DB> for PastCursor<K>
where
    DB: Backend,
    K: QueryFragment<DB>,
    users::id: QueryFragment<DB>,
    Unplanned: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.key_column.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        users::id.walk_ast(out.reborrow())?;
        out.push_sql(if self.descending { ") < (" } else { ") > (" });
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.id.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// Any list: matches of `q` are collected through the four key indexes and sorted (cost in
/// proportion to the matches), or, without `q`, the sort index is walked from the cursor.
fn list_through_key_indexes(
    conn: &mut DbConn,
    query: &UserQuery,
    now: DateTime<Utc>,
) -> Result<Vec<Account>> {
    on_backend!(conn, c => {
            let mut q = users::table.select(AccountRow::as_select()).into_boxed();
            if let Some(prefix) = &query.q {
                let end = prefix_end(prefix);
                macro_rules! in_range {
                    ($col:expr) => {
                        $col.ge(prefix.clone()).and($col.lt(end.clone()))
                    };
                }
                q = q.filter(
                    in_range!(users::username_key)
                        .or(in_range!(users::email_key))
                        .or(in_range!(users::first_name_key))
                        .or(in_range!(users::last_name_key)),
                );
            }
            filter_by_role_and_status!(q, query, now);
            macro_rules! page_by {
                // Usernames and emails are unique: the key alone is a position and an order, so
                // PostgreSQL walks the index without sorting ties by id (an incremental sort that
                // cost `list_deep` ~6 % of the CPU).
                (unique $col:expr) => {{
                    if let Some(after) = &query.after {
                        let key = Unplanned(after.key.clone());
                        q = if query.sort.descending { q.filter($col.lt(key)) } else { q.filter($col.gt(key)) };
                    }
                    q = match (query.sort.descending, query.q.is_some()) {
                        (false, false) => q.order($col.asc()),
                        (true, false) => q.order($col.desc()),
                        (false, true) => q.order($col.concat("").asc()),
                        (true, true) => q.order($col.concat("").desc()),
                    };
                }};
                ($col:expr) => {{
                    if let Some(after) = &query.after {
                        q = q.filter(PastCursor {
                            key_column: $col,
                            key: Unplanned(after.key.clone()),
                            id: Unplanned(after.id.to_string()),
                            descending: query.sort.descending,
                        });
                    }
                    // With `q`, order by `key || ''` (same order): no index can then supply the
                    // order, so the planner collects matches through the key indexes and sorts
                    // them, instead of walking the sort index in the belief that matches are
                    // spread evenly along it (a username prefix is one contiguous block of it).
                    q = match (query.sort.descending, query.q.is_some()) {
                        (false, false) => q.order(($col.asc(), users::id.asc())),
                        (true, false) => q.order(($col.desc(), users::id.desc())),
                        (false, true) => q.order(($col.concat("").asc(), users::id.asc())),
                        (true, true) => q.order(($col.concat("").desc(), users::id.desc())),
                    };
                }};
            }
            match query.sort.field {
                SortField::Username => page_by!(unique users::username_key),
                SortField::Email => page_by!(unique users::email_key),
                SortField::LastName => page_by!(users::last_name_key),
                SortField::CreatedAt => {
                    if let Some(after) = &query.after {
                        let id = Unplanned(after.id.to_string());
                        q = if query.sort.descending { q.filter(users::id.lt(id)) } else { q.filter(users::id.gt(id)) };
                    }
                    q = match (query.sort.descending, query.q.is_some()) {
                        (false, false) => q.order(users::id.asc()),
                        (true, false) => q.order(users::id.desc()),
                        (false, true) => q.order(users::id.concat("").asc()),
                        (true, true) => q.order(users::id.concat("").desc()),
                    };
                }
            }
            page_of(LimitedTo::rows(q, query.limit).load_iter::<AccountRow, DefaultLoadingMode>(c), query.limit)
    })
}

impl Accounts for Unit<'_> {
    fn count_accounts(&mut self) -> Result<i64> {
        on_backend!(self.conn, c => users::table.count().get_result(c)).db()
    }

    fn insert_account(&mut self, account: &Account, event: &AuditEvent) -> Result<()> {
        let row = UserRow::from_account(account);
        match &mut *self.conn {
            DbConn::Pg(c) => {
                let audit = AuditRow::new(event);
                let statement = NewAccount {
                    id: &row.account.id,
                    roles: &account.roles,
                    prefixes: PrefixRow::prefixes(account),
                    username_key: &row.username_key,
                    event: diesel::insert_into(audit_events::table).values(&audit),
                    user: diesel::insert_into(users::table).values(&row),
                };
                return statement.execute(c).map(drop).db();
            }
            // In-process: a statement each costs no round trip.
            DbConn::Sqlite(c) => diesel::insert_into(users::table)
                .values(&row)
                .execute(c)
                .db()?,
        };
        insert_roles(self.conn, account)?;
        insert_prefixes(self.conn, &PrefixRow::of(account))?;
        self.append_audit(event)
    }

    fn insert_accounts(&mut self, accounts: &[Account]) -> Result<()> {
        let rows: Vec<UserRow> = accounts.iter().map(UserRow::from_account).collect();
        insert_batched!(self.conn, users::table, rows, 1000);
        let roles = RoleRow::all_of(accounts);
        insert_batched!(self.conn, user_roles::table, roles, 5000);
        insert_prefixes(self.conn, &PrefixRow::all_of(accounts))
    }

    fn find_account(&mut self, id: Uuid) -> Result<Option<Account>> {
        find_by_id(self.conn, &id.to_string())
    }

    fn find_caller(&mut self, id: Uuid) -> Result<Option<CallerAccount>> {
        let id = id.to_string();
        on_backend!(self.conn, c => Kept(users::table
            .filter(users::id.eq(&id))
            .select(CallerRow::as_select()))
            .get_result::<CallerRow>(c)
            .optional())
        .db()?
        .map(CallerRow::into_caller)
        .transpose()
    }

    fn find_caller_and_account(
        &mut self,
        id: Uuid,
        target: Uuid,
    ) -> Result<Option<(CallerAccount, Option<Account>)>> {
        let (id, target_id) = (id.to_string(), target.to_string());
        let target = diesel::alias!(users as target);
        let row: Option<(CallerRow, Option<AccountRow>)> =
            on_backend!(self.conn, c => Kept(users::table
            .left_join(target.on(target.field(users::id).eq(&target_id)))
            .filter(users::id.eq(&id))
            .select((
                CallerRow::as_select(),
                target.fields(AccountRow::columns()).nullable(),
            )))
            .get_result(c)
            .optional())
            .db()?;
        row.map(|(caller, target)| {
            Ok((
                caller.into_caller()?,
                target.map(AccountRow::into_account).transpose()?,
            ))
        })
        .transpose()
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

    fn update_account(
        &mut self,
        before: &Account,
        after: &Account,
        event: &AuditEvent,
    ) -> Result<()> {
        let row = UserRow::from_account(after);
        match &mut *self.conn {
            DbConn::Pg(c) => {
                let audit = AuditRow::new(event);
                WithEvent {
                    event: diesel::insert_into(audit_events::table).values(&audit),
                    then: UpdateUser::new(&row),
                }
                .execute(c)
                .db()?;
            }
            // In-process: a statement each costs no round trip.
            DbConn::Sqlite(c) => {
                UpdateUser::new(&row).execute(c).db()?;
                self.append_audit(event)?;
            }
        }
        if before.roles != after.roles {
            on_backend!(self.conn, c => diesel::delete(user_roles::table.filter(user_roles::user_id.eq(&row.account.id))).execute(c))
                .db()?;
            insert_roles(self.conn, after)?;
        }
        let (old, new) = (PrefixRow::of(before), PrefixRow::of(after));
        if old != new {
            let gone: Vec<PrefixRow> = old.iter().filter(|r| !new.contains(r)).cloned().collect();
            let added: Vec<PrefixRow> = new.iter().filter(|r| !old.contains(r)).cloned().collect();
            delete_prefixes(self.conn, &gone)?;
            insert_prefixes(self.conn, &added)?;
        }
        Ok(())
    }

    fn delete_account(&mut self, account: &Account) -> Result<()> {
        on_backend!(self.conn, c => diesel::delete(users::table.find(account.id.to_string())).execute(c))
            .db()?;
        delete_prefixes(self.conn, &PrefixRow::of(account))
    }

    fn touch_last_active(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        on_backend!(self.conn, c => diesel::update(users::table.find(id.to_string()))
            .set(users::last_active_at.eq(Some(naive(at))))
            .execute(c))
        .db()?;
        Ok(())
    }

    fn list_accounts(&mut self, query: &UserQuery, now: DateTime<Utc>) -> Result<Vec<Account>> {
        match &query.q {
            Some(prefix) if answered_by_prefix_table(query, prefix) => {
                on_backend!(self.conn, c => {
                    // Walks `user_prefixes`' primary key from the cursor: rows come in username
                    // order, so the limit stops the walk however many accounts match.
                    let mut q = user_prefixes::table
                        .inner_join(users::table.on(users::username_key.eq(user_prefixes::username_key)))
                        .filter(user_prefixes::prefix.eq(Unplanned(prefix.clone())))
                        .select(AccountRow::as_select())
                        .into_boxed();
                    filter_by_role_and_status!(q, query, now);
                    // Usernames are unique, so the key alone is a position.
                    let key = user_prefixes::username_key;
                    q = match (&query.after, query.sort.descending) {
                        (Some(after), false) => q.filter(key.gt(Unplanned(after.key.clone()))).order(key.asc()),
                        (Some(after), true) => q.filter(key.lt(Unplanned(after.key.clone()))).order(key.desc()),
                        (None, false) => q.order(key.asc()),
                        (None, true) => q.order(key.desc()),
                    };
                    page_of(LimitedTo::rows(q, query.limit).load_iter::<AccountRow, DefaultLoadingMode>(c), query.limit)
                })
            }
            _ => list_through_key_indexes(self.conn, query, now),
        }
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

#[cfg(test)]
mod tests {
    use diesel::{backend::Backend, pg::Pg, query_builder::QueryFragment, sqlite::Sqlite};

    use super::*;
    use crate::{models::AuditRow, schema::audit_events};

    /// Whether diesel keeps `query` prepared: one it does not keep is parsed and planned again at
    /// every execution (on PostgreSQL, about a fifth of a create's database time).
    fn kept<DB: Backend + Default, Q: QueryFragment<DB>>(query: &Q) -> bool {
        query
            .is_safe_to_cache_prepared(&DB::default())
            .unwrap_or(false)
    }

    /// Whether diesel finds `query`'s prepared statement by its type, without building its text.
    fn by_type<Q: QueryId>(_: &Q) -> bool {
        Q::HAS_STATIC_QUERY_ID
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a Kept query must be safe to keep prepared")]
    fn kept_refuses_in_debug_builds_a_query_that_is_not_safe_to_keep() {
        let ids = ["a", "b"];
        let some = users::table
            .filter(users::id.eq_any(&ids[..]))
            .select(users::id);
        let _ = Kept(some).is_safe_to_cache_prepared(&Sqlite);
    }

    #[test]
    fn the_statements_of_a_single_write_are_kept_prepared() {
        let row = UserRow::default();
        let insert = diesel::insert_into(users::table).values(&row);
        assert!(
            kept::<Pg, _>(&insert) && kept::<Sqlite, _>(&insert),
            "insert account"
        );
        let update = UpdateUser::new(&row);
        assert!(
            kept::<Pg, _>(&update) && kept::<Sqlite, _>(&update),
            "update account"
        );
        let audit = AuditRow::default();
        let append = diesel::insert_into(audit_events::table).values(&audit);
        assert!(
            kept::<Pg, _>(&append) && kept::<Sqlite, _>(&append),
            "audit event"
        );
        let roles = vec!["admin".to_owned(), "user".to_owned()];
        let new_account = NewAccount {
            id: "0b9e",
            roles: &roles,
            prefixes: vec!["a".into(), "an".into()],
            username_key: "ana",
            event: diesel::insert_into(audit_events::table).values(&audit),
            user: diesel::insert_into(users::table).values(&row),
        };
        assert!(
            kept::<Pg, _>(&new_account) && by_type(&new_account),
            "new account on PostgreSQL"
        );
        let update_with_event = WithEvent {
            event: diesel::insert_into(audit_events::table).values(&audit),
            then: UpdateUser::new(&row),
        };
        assert!(
            kept::<Pg, _>(&update_with_event) && by_type(&update_with_event),
            "account update with its event on PostgreSQL"
        );
        assert!(
            diesel::debug_query::<Pg, _>(&update_with_event)
                .to_string()
                .starts_with("WITH event AS (INSERT INTO \"audit_events\" (\"id\", "),
            "{}",
            diesel::debug_query::<Pg, _>(&update_with_event)
        );
        let sql = diesel::debug_query::<Pg, _>(&new_account).to_string();
        assert!(
            sql.starts_with(
                "WITH roles AS (INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2)), \
                 prefixes AS (INSERT INTO user_prefixes (prefix, username_key) SELECT unnest($3), $4), \
                 event AS (INSERT INTO \"audit_events\" (\"id\", "
            ) && sql.contains(") INSERT INTO \"users\" (\"id\", "),
            "{sql}"
        );
        // Multi-row statements (SQLite's are prepared afresh anyway, without a round trip).
        let roles = [RoleRow::default(), RoleRow::default()];
        assert!(kept::<Pg, _>(
            &diesel::insert_into(user_roles::table).values(&roles)
        ));
        let prefixes: [PrefixRow; 8] = Default::default();
        assert!(kept::<Pg, _>(
            &diesel::insert_into(user_prefixes::table).values(&prefixes)
        ));
        // What `insert_few`'s fixed arities avoid: a statement built from a slice is never kept.
        assert!(!kept::<Pg, _>(
            &diesel::insert_into(user_prefixes::table).values(&prefixes[..])
        ));
    }

    #[test]
    fn a_cursor_among_ties_is_one_row_comparison_which_starts_the_index_range() {
        let past = |descending| PastCursor {
            key_column: users::last_name_key,
            key: Unplanned("lima".into()),
            id: Unplanned("0b9e".into()),
            descending,
        };
        let on_pg = users::table
            .select(users::id)
            .filter(past(false))
            .into_boxed::<Pg>();
        assert_eq!(
            diesel::debug_query::<Pg, _>(&on_pg).to_string(),
            r#"SELECT "users"."id" FROM "users" WHERE ("users"."last_name_key", "users"."id") > ((SELECT $1), (SELECT $2)) -- binds: ["lima", "0b9e"]"#
        );
        let on_sqlite = users::table
            .select(users::id)
            .filter(past(true))
            .into_boxed::<Sqlite>();
        assert_eq!(
            diesel::debug_query::<Sqlite, _>(&on_sqlite).to_string(),
            r#"SELECT `users`.`id` FROM `users` WHERE (`users`.`last_name_key`, `users`.`id`) < (?, ?) -- binds: ["lima", "0b9e"]"#
        );
        assert!(kept::<Pg, _>(&on_pg) && kept::<Sqlite, _>(&on_sqlite));
    }

    #[test]
    fn a_cursor_is_out_of_the_postgresql_planners_sight_and_the_page_still_kept() {
        let after = users::table
            .select(users::id)
            .filter(users::username_key.gt(Unplanned("ann".into())))
            .into_boxed::<Pg>();
        let page = LimitedTo::rows(after, 50);
        assert_eq!(
            diesel::debug_query::<Pg, _>(&page).to_string(),
            r#"SELECT "users"."id" FROM "users" WHERE ("users"."username_key" > (SELECT $1)) LIMIT 51 -- binds: ["ann"]"#
        );
        assert!(kept::<Pg, _>(&page));
        let after = users::table
            .select(users::id)
            .filter(users::username_key.gt(Unplanned("ann".into())))
            .into_boxed::<Sqlite>();
        assert_eq!(
            diesel::debug_query::<Sqlite, _>(&after).to_string(),
            r#"SELECT `users`.`id` FROM `users` WHERE (`users`.`username_key` > ?) -- binds: ["ann"]"#
        );
    }
}

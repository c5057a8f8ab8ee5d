//! Statement types that exist because `bench/` measured them on a hot path (see the crate's
//! module doc for where they may be used). Each says which scenario and figure justify it.

use diesel::{
    backend::Backend,
    expression::{is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping},
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{Array, Bool, Integer, Text},
    sqlite::Sqlite,
};

use crate::{
    models::{ChangedRow, UserRow},
    schema::users,
};

/// Inserts `rows` into `table` with multi-row statements of `per_statement` rows, on the
/// concrete backend (multi-row inserts are not available through the two-backend connection).
/// Sizes keep under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
macro_rules! insert_batched {
    ($conn:expr, $table:expr, $rows:expr, $per_statement:expr) => {{
        use diesel::RunQueryDsl as _;
        use $crate::stores::Db as _;
        for chunk in $rows.chunks($per_statement) {
            $crate::stores::on_backend!($conn, c => diesel::insert_into($table).values(chunk).execute(c)).db()?;
        }
    }};
}
pub(crate) use insert_batched;

/// Inserts the few rows of one account (its roles; its prefixes, at most eight) with one statement
/// of fixed arity, which diesel keeps prepared (it never keeps one built from a slice of any
/// length); more rows go through [`insert_batched`]. SQLite creates (`create`, bench/README.md).
macro_rules! insert_few {
    ($conn:expr, $table:expr, $rows:expr) => {
        $crate::stores::statements::insert_few!(@arities $conn, $table, $rows, 1 2 3 4 5 6 7 8)
    };
    (@arities $conn:expr, $table:expr, $rows:expr, $($n:literal)*) => {{
        use diesel::RunQueryDsl as _;
        use $crate::stores::Db as _;
        let rows = $rows;
        match rows.len() {
            0 => {}
            $($n => {
                let fixed: &[_; $n] = rows
                    .try_into()
                    .map_err(|_| domain::Error::Internal("row count changed".into()))?;
                $crate::stores::on_backend!($conn, c => diesel::insert_into($table).values(fixed).execute(c)).db()?;
            })*
            _ => $crate::stores::statements::insert_batched!($conn, $table, rows, 5000),
        }
    }};
}
pub(crate) use insert_few;

/// A query known to be safe to keep prepared, for the hottest reads (the caller's token, an
/// account by id). Diesel otherwise walks the whole query (every selected column) before each
/// execution only to ask whether it may keep it: ~3 % of a `read`'s CPU for the two lookups.
/// Debug builds (every test) still ask, and fail where the answer is no.
///
/// These reads match at most one row by a unique key and carry no `LIMIT 1`: on PostgreSQL that
/// is a plan node and a bound parameter fewer at every execution (pgbench of the token-and-account
/// read alone: 25,300–26,600 against 28,000–28,300 statements/s).
pub(crate) struct Kept<Q>(pub Q);

impl<Q: Query> Query for Kept<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryId> QueryId for Kept<Q> {
    type QueryId = Q::QueryId;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Kept<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, backend: &DB) -> QueryResult<bool> {
        debug_assert!(
            self.0.is_safe_to_cache_prepared(backend)?,
            "a Kept query must be safe to keep prepared"
        );
        Ok(true)
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for Kept<Q> {}

/// A bound text value that PostgreSQL's planner does not look at: `(SELECT $n)`, which it runs
/// once per execution (an `InitPlan`) and still uses as an index bound.
///
/// For a page's cursor (and a `q` prefix looked up in `user_prefixes`), the best plan is the same
/// whatever the value: walk one index from it. But once `ANALYZE` has run, PostgreSQL estimates a
/// visible value from the column's histogram, finds that plan a little cheaper with the value than
/// without, and so plans the prepared statement again at every execution instead of keeping the
/// generic plan: at 1,000,000 accounts that was as many plans as executions, ~100 µs of
/// PostgreSQL's CPU for a `list_deep` page and ~240 µs for a `list` page (`pg_stat_statements`).
/// With the value out of sight the two estimates are equal, and after its first five executions
/// PostgreSQL keeps the generic plan.
///
/// Not for values whose plan should differ with the value (a role, which few or most accounts
/// hold): those stay visible. SQLite is given the plain parameter.
#[derive(Debug, Clone)]
pub(crate) struct Unplanned(pub String);

impl Expression for Unplanned {
    type SqlType = Text;
}

impl<QS> AppearsOnTable<QS> for Unplanned {}

impl<QS> SelectableExpression<QS> for Unplanned {}

impl<G> ValidGrouping<G> for Unplanned {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Unplanned {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for Unplanned {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(SELECT ");
        out.push_bind_param::<Text, str>(&self.0)?;
        out.push_sql(")");
        Ok(())
    }
}

impl QueryFragment<Sqlite> for Unplanned {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_bind_param::<Text, str>(&self.0)
    }
}

/// `UPDATE users SET <every column of a row type but id> WHERE id = …`, as a type of its own. Diesel
/// never keeps an `UpdateStatement` prepared (its `SET` list may vary); a row type's never does
/// (see `treat_none_as_null`), so these are kept: on PostgreSQL, not parsed and planned again at
/// every write (`patch`).
macro_rules! update_statement {
    ($(#[$doc:meta])* $name:ident, $row:ty) => {
        $(#[$doc])*
        pub(crate) struct $name<'a> {
            id: &'a str,
            set: <&'a $row as AsChangeset>::Changeset,
        }

        impl<'a> $name<'a> {
            pub fn new(row: &'a $row) -> Self {
                Self {
                    id: &row.account.id,
                    set: row.as_changeset(),
                }
            }
        }

        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<DB> QueryFragment<DB> for $name<'_>
        where
            DB: Backend,
            for<'b> <&'b $row as AsChangeset>::Changeset: QueryFragment<DB>,
            str: diesel::serialize::ToSql<Text, DB>,
        {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
                out.push_sql("UPDATE users SET ");
                self.set.walk_ast(out.reborrow())?;
                out.push_sql(" WHERE id = ");
                out.push_bind_param::<Text, str>(self.id)
            }
        }

        impl<Conn> RunQueryDsl<Conn> for $name<'_> {}
    };
}

update_statement!(
    /// Every column, the username's key and skeleton included: for recomputing derived data.
    UpdateUser,
    UserRow
);
update_statement!(
    /// Every column but the username's key and skeleton, which a change never alters (the
    /// username is immutable, SPEC §1): their unique indexes are not written at every change.
    UpdateChanged,
    ChangedRow
);

/// `<query> LIMIT <n>`, with `n` (a page's size plus one, so the caller can tell whether more
/// follow) written into the statement rather than bound. PostgreSQL plans a bound `LIMIT $n` as if
/// it could be a tenth of the table, so for a page query it keeps planning with the value at
/// every execution (a fifth of `list`'s CPU went to the planner); with the number in the text the
/// generic plan is as good, and PostgreSQL keeps it. Each page size is a statement of its own,
/// kept by its text.
pub(crate) struct LimitedTo<Q> {
    query: Q,
    rows: i64,
}

impl<Q> LimitedTo<Q> {
    pub fn rows(query: Q, page: u32) -> Self {
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

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for LimitedTo<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {}", self.rows));
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for LimitedTo<Q> {}

/// A new account as one PostgreSQL statement: its row, its roles and its search prefixes.
///
/// ```sql
/// WITH roles AS (INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2)),
///   prefixes AS (INSERT INTO user_prefixes (prefix, username_key) SELECT unnest($3), $4)
/// INSERT INTO users (…) VALUES (…)
/// ```
///
/// Each statement is a round trip, and a round trip (the system calls on both sides, the sleep
/// and wake-up of each process) costs PostgreSQL more than these inserts' own work: pgbench, 4
/// clients, 100,000 accounts, the inserts as separate statements 2,337 transactions/s, as one
/// 3,276/s (`create`, bench/README.md). Roles and prefixes, however many, are bound as arrays, so
/// the text never varies and diesel keeps the statement prepared.
///
/// `users` is the main statement, so a taken username or email is reported by `users`' own unique
/// indexes. PostgreSQL calls the order of a statement's parts unpredictable (it runs the main one
/// first today), so a prefix row that already exists, which can only mean a taken username, is
/// read as one too (the constraint table). The roles' foreign key is checked at the end of the
/// statement, after the account row is in.
///
/// Seats (see `stores::seats`): the statement answers the keys of the limited seats, read from the
/// settings row as of the statement, which began after any limit being set let go of `users`.
/// With `TAKE` (chosen when the last create saw limits), a fourth part takes one of each of
/// `seats` that is limited from the connection's own shard of it (`seats::OWN_SHARD_SQL`),
/// if it has room, and the answer adds, after a `|`, the seats it took. The writer takes any
/// limited seat not taken so in the general way: the seat check costs a create no round trip of
/// its own. Measured with `bench/ab --scenarios create`: the seat parts in every create, with
/// nothing to take, cost 5 %; left out when no seat is limited, nothing. (An earlier form chose a
/// random free shard with `FOR UPDATE SKIP LOCKED`; locking the row before updating it cost twice
/// the writes.)
pub(crate) struct NewAccount<'a, U, E, const TAKE: bool> {
    pub id: &'a str,
    pub roles: &'a [String],
    pub prefixes: Vec<String>,
    pub username_key: &'a str,
    pub seats: &'a [String],
    /// How many shards each limited seat has (`stores::seats`).
    pub shards: i32,
    pub user: U,
    /// The insert of the create's audit event, or [`NoEvent`].
    pub event: E,
}

/// The part of a new account's statement that writes its audit event: [`NoEvent`] or an
/// [`Event`].
pub(crate) trait EventPart: QueryFragment<Pg> + QueryId {
    const PRESENT: bool;
}

/// A new account's statement without an audit event in it.
#[derive(Debug, Clone, Copy, QueryId)]
pub(crate) struct NoEvent;

impl QueryFragment<Pg> for NoEvent {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        Ok(())
    }
}

impl EventPart for NoEvent {
    const PRESENT: bool = false;
}

/// The insert of a new account's audit event, as a part of its statement.
pub(crate) struct Event<Q>(pub Q);

impl<Q: QueryId> QueryId for Event<Q> {
    type QueryId = Event<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Event<Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }

    fn is_safe_to_cache_prepared(&self, backend: &Pg) -> QueryResult<bool> {
        self.0.is_safe_to_cache_prepared(backend)
    }
}

impl<Q: QueryFragment<Pg> + QueryId> EventPart for Event<Q> {
    const PRESENT: bool = true;
}

impl<U, E, const TAKE: bool> Query for NewAccount<'_, U, E, TAKE> {
    type SqlType = diesel::sql_types::Nullable<Text>;
}

impl<U: QueryId, E: QueryId, const TAKE: bool> QueryId for NewAccount<'_, U, E, TAKE> {
    type QueryId = NewAccount<'static, U::QueryId, E::QueryId, TAKE>;
    const HAS_STATIC_QUERY_ID: bool = U::HAS_STATIC_QUERY_ID && E::HAS_STATIC_QUERY_ID;
}

impl<U: QueryFragment<Pg>, E: EventPart, const TAKE: bool> QueryFragment<Pg>
    for NewAccount<'_, U, E, TAKE>
{
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
        if TAKE {
            out.push_sql("), seats AS (UPDATE seat_counts SET free = free - 1 WHERE seat = ANY(");
            out.push_bind_param::<Array<Text>, [String]>(self.seats)?;
            out.push_sql(") AND shard = ");
            out.push_sql(super::seats::OWN_SHARD_SQL[0]);
            out.push_bind_param::<Integer, i32>(&self.shards)?;
            out.push_sql(super::seats::OWN_SHARD_SQL[1]);
            out.push_sql(" AND free >= 1 RETURNING seat");
        }
        if E::PRESENT {
            out.push_sql("), event AS (");
            self.event.walk_ast(out.reborrow())?;
        }
        out.push_sql(") ");
        self.user.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING (SELECT seat_limits FROM settings WHERE id = 1)");
        if TAKE {
            out.push_sql(" || '|' || (SELECT coalesce(string_agg(seat, ','), '') FROM seats)");
        }
        Ok(())
    }

    fn is_safe_to_cache_prepared(&self, backend: &Pg) -> QueryResult<bool> {
        Ok(self.user.is_safe_to_cache_prepared(backend)?
            && self.event.is_safe_to_cache_prepared(backend)?)
    }
}

impl<U, E, const TAKE: bool> RunQueryDsl<PgConnection> for NewAccount<'_, U, E, TAKE> {}

/// `(key, id) > (k, i)`, or `<` for a descending page: the rows after a cursor in an order by a
/// key that accounts can share (a last name), ties broken by id. Written as a row comparison,
/// PostgreSQL and SQLite both start the `(key, id)` index range at the cursor itself. Spelled out
/// (`key >= k AND (key > k OR id > i)`) the range started at the first account with the key `k`
/// and every tie before the cursor was read and filtered out: at 100,000 accounts, a page in the
/// middle of one last name's 3,000 accounts took 3.5 ms on PostgreSQL instead of 0.2 ms.
#[derive(Debug, Clone)]
pub(crate) struct PastCursor<K> {
    pub key_column: K,
    pub key: Unplanned,
    pub id: Unplanned,
    pub descending: bool,
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

#[cfg(test)]
mod tests {
    use diesel::{backend::Backend, pg::Pg, query_builder::QueryFragment, sqlite::Sqlite};

    use super::*;
    use crate::{
        models::{AuditRow, PrefixRow, RoleRow},
        schema::{audit_events, user_prefixes, user_roles},
    };

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
        let changed = ChangedRow::from_account(&domain::account::Account::sample("ana"));
        let change = UpdateChanged::new(&changed);
        assert!(
            kept::<Pg, _>(&change) && kept::<Sqlite, _>(&change),
            "change account"
        );
        let sql = diesel::debug_query::<Pg, _>(&change).to_string();
        assert!(
            !sql.contains("username_key") && !sql.contains("username_skeleton"),
            "a change leaves the username's columns alone: {sql}"
        );
        let audit = AuditRow::default();
        let append = diesel::insert_into(audit_events::table).values(&audit);
        assert!(
            kept::<Pg, _>(&append) && kept::<Sqlite, _>(&append),
            "one audit event"
        );
        let events = [AuditRow::default()];
        assert!(
            kept::<Pg, _>(&diesel::insert_into(audit_events::table).values(&events)),
            "a unit of work's audit events, as `insert_few` writes them"
        );
        let roles = vec!["admin".to_owned(), "user".to_owned()];
        macro_rules! new_account {
            ($take:literal) => {
                new_account!($take, NoEvent)
            };
            ($take:literal, $event:expr) => {
                NewAccount::<_, _, $take> {
                    id: "0b9e",
                    roles: &roles,
                    prefixes: vec!["a".into(), "an".into()],
                    username_key: "ana",
                    seats: &[],
                    shards: 32,
                    user: diesel::insert_into(users::table).values(&row),
                    event: $event,
                }
            };
        }
        // Kept prepared (by its type), and its SQL.
        macro_rules! kept_sql {
            ($query:expr, $what:literal) => {{
                let query = $query;
                assert!(kept::<Pg, _>(&query) && by_type(&query), $what);
                diesel::debug_query::<Pg, _>(&query).to_string()
            }};
        }
        let sql = kept_sql!(new_account!(true), "new account on PostgreSQL");
        assert!(
            sql.starts_with(
                "WITH roles AS (INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2)), \
                 prefixes AS (INSERT INTO user_prefixes (prefix, username_key) SELECT unnest($3), $4), \
                 seats AS (UPDATE seat_counts SET free = free - 1 WHERE seat = ANY($5) \
                 AND shard = (SELECT coalesce(nullif(current_setting('roster.seat_shard', true), '')::int, \
                 pg_backend_pid() % $6)) AND free >= 1 RETURNING seat) \
                 INSERT INTO \"users\" (\"id\", "
            ),
            "{sql}"
        );
        assert!(
            sql.contains(" RETURNING (SELECT seat_limits FROM settings WHERE id = 1) || '|' || "),
            "{sql}"
        );
        let sql = kept_sql!(new_account!(false), "new account without seats");
        assert!(
            sql.starts_with(
                "WITH roles AS (INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2)), \
                 prefixes AS (INSERT INTO user_prefixes (prefix, username_key) SELECT unnest($3), $4) \
                 INSERT INTO \"users\" (\"id\", "
            ) && sql.contains(" RETURNING (SELECT seat_limits FROM settings WHERE id = 1) -- binds"),
            "{sql}"
        );
        assert_ne!(
            std::any::TypeId::of::<<NewAccount<'static, (), NoEvent, true> as QueryId>::QueryId>(),
            std::any::TypeId::of::<<NewAccount<'static, (), NoEvent, false> as QueryId>::QueryId>(),
            "the two forms are kept apart in diesel's statement cache"
        );
        let event = [AuditRow::default()];
        let sql = kept_sql!(
            new_account!(
                false,
                Event(diesel::insert_into(audit_events::table).values(&event))
            ),
            "with its audit event"
        );
        assert!(
            sql.contains(
                "SELECT unnest($3), $4), event AS (INSERT INTO \"audit_events\" (\"id\", "
            ),
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

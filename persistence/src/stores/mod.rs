//! The domain's storage ports, implemented over one connection inside one transaction.

mod accounts;
mod records;

use diesel::{
    backend::Backend,
    expression::{is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping},
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    result::QueryResult,
    sql_types::Text,
    sqlite::Sqlite,
    RunQueryDsl,
};

use crate::{conn::DbConn, error};

/// One unit of work: every port, over the connection of the current transaction.
pub(crate) struct Unit<'a> {
    pub conn: &'a mut DbConn,
}

/// Maps a diesel result into the domain's, naming the rule a constraint enforces.
pub(crate) trait Db<T> {
    fn db(self) -> domain::Result<T>;
}

impl<T> Db<T> for QueryResult<T> {
    fn db(self) -> domain::Result<T> {
        self.map_err(error::map)
    }
}

/// Runs `$body` with `$c` bound to the concrete backend connection. Each arm type-checks the
/// query for its own backend, so diesel caches the prepared statement by type without building
/// SQL text per execution (which the two-backend connection type does).
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::conn::DbConn::Pg($c) => $body,
            $crate::conn::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

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
/// length); more rows go through [`insert_batched`].
macro_rules! insert_few {
    ($conn:expr, $table:expr, $rows:expr) => {
        $crate::stores::insert_few!(@arities $conn, $table, $rows, 1 2 3 4 5 6 7 8)
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
            _ => $crate::stores::insert_batched!($conn, $table, rows, 5000),
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

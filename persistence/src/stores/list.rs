//! Lists of accounts: a `domain::filter::Filter` compiled to SQL in one place ([`Condition`]),
//! and keyset paging in one of two ways. A short search (`q` of one or two characters) in
//! username order walks `user_prefixes` (the broadest searches: a page costs the same however
//! many accounts match); anything else goes through the indexes of the four key columns.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{
    backend::Backend,
    connection::DefaultLoadingMode,
    expression::{is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping},
    prelude::*,
    query_builder::{AstPass, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{Bool, HasSqlType, Text, Timestamp},
};
use domain::{
    account::Account,
    filter::{search_fields, Compare, Filter, FlagField, OptionalField, TextField, TimeField},
    paging::{SortField, UserQuery},
    Result,
};

use super::{
    on_backend,
    statements::{LimitedTo, PastCursor, Unplanned},
    Db,
};
use crate::{
    conn::DbConn,
    models::{naive, AccountRow, INDEXED_PREFIX_CHARS},
    schema::{user_memberships, user_prefixes, users},
};

/// A search and a membership together, in username order, on SQLite (PostgreSQL merges the two:
/// [`through_prefix_and_membership`]): one's rows are walked and the other looked up for each, both keyed by username (index only: `users` is read for what passes). The
/// search's rows are walked when it has fewer than this many, or when the membership has at least
/// [`MANY_MEMBERS`]: matches of a membership that large come often enough along the search's rows.
/// Otherwise the membership's rows are walked: at most that many lookups.
/// At a million accounts a random two-letter search matches nothing or tens of thousands, and
/// when `q` starts usernames its matches lie together, somewhere along the membership's rows.
const FEW_PREFIX_ROWS: i64 = 500;
const MANY_MEMBERS: i64 = 8_000;

pub(crate) fn list_accounts(
    conn: &mut DbConn,
    query: &UserQuery,
    now: DateTime<Utc>,
) -> Result<Vec<Account>> {
    if query.sort.field != SortField::Username {
        return through_key_indexes(conn, query, now);
    }
    let short = |prefix: &str| prefix.chars().count() <= INDEXED_PREFIX_CHARS;
    match (query.filter.split_search(), query.filter.split_membership()) {
        (Some((prefix, rest)), Some(_)) if short(prefix) => {
            let Some((member, rest)) = rest.split_membership() else {
                return through_prefix_table(conn, query, prefix, None, &rest, now);
            };
            let member = member_of(member);
            if matches!(conn, DbConn::Pg(_)) {
                return through_prefix_and_membership(conn, query, prefix, &member, &rest, now);
            }
            if has_fewer_than(conn, Keyed::Prefix, prefix, FEW_PREFIX_ROWS)?
                || !has_fewer_than(conn, Keyed::Member, &member, MANY_MEMBERS)?
            {
                through_prefix_table(conn, query, prefix, Some(&member), &rest, now)
            } else {
                through_memberships(conn, query, &member, Some(prefix), &rest, now)
            }
        }
        (Some((prefix, rest)), None) if short(prefix) => {
            through_prefix_table(conn, query, prefix, None, &rest, now)
        }
        (None, Some((member, rest))) => {
            through_memberships(conn, query, &member_of(member), None, &rest, now)
        }
        _ => through_key_indexes(conn, query, now),
    }
}

/// The two tables keyed by (a value, username key).
#[derive(Debug, Clone, Copy)]
enum Keyed {
    /// `user_prefixes`: by search prefix.
    Prefix,
    /// `user_memberships`: by `member_of`.
    Member,
}

impl Keyed {
    fn table(self) -> &'static str {
        match self {
            Keyed::Prefix => "user_prefixes",
            Keyed::Member => "user_memberships",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Keyed::Prefix => "user_prefixes.prefix",
            Keyed::Member => "user_memberships.member_of",
        }
    }
}

/// Whether `keyed` has fewer than `limit` rows for `value`: whether the index holds none at offset
/// `limit - 1` (its entries skipped, not read out).
fn has_fewer_than(conn: &mut DbConn, keyed: Keyed, value: &str, limit: i64) -> Result<bool> {
    let value = Unplanned(value.to_owned());
    let last: Vec<String> = match keyed {
        Keyed::Prefix => {
            let q = user_prefixes::table
                .filter(user_prefixes::prefix.eq(value))
                .select(user_prefixes::username_key)
                .offset(limit - 1)
                .limit(1);
            on_backend!(conn, c => q.load(c))
        }
        Keyed::Member => {
            let q = user_memberships::table
                .filter(user_memberships::member_of.eq(value))
                .select(user_memberships::username_key)
                .offset(limit - 1)
                .limit(1);
            on_backend!(conn, c => q.load(c))
        }
    }
    .db()?;
    Ok(last.is_empty())
}

/// The `user_memberships` key of a membership condition.
fn member_of(filter: &Filter) -> String {
    match filter {
        Filter::Group(id) => format!("g:{id}"),
        Filter::Application(id) => format!("a:{id}"),
        Filter::Instance(id) => format!("i:{id}"),
        _ => String::new(),
    }
}

/// Walks a table keyed by (`$value_col`, username key) from the cursor, joined to `users`: rows
/// come in username order, so the limit stops the walk however many accounts match.
macro_rules! walk_in_username_order {
    ($conn:expr, $query:expr, $table:ident, $value:expr, $probe:expr, $rest:expr, $now:expr) => {
        walk_in_username_order!($conn, $query, $table, $table::table, $value, $probe, $rest, $now)
    };
    ($conn:expr, $query:expr, $table:ident, $from:expr, $value:expr, $probe:expr, $rest:expr, $now:expr) => {{
        let condition = Condition::of($rest, $now).and($probe);
        on_backend!($conn, c => {
            let mut q = $from
                .inner_join(users::table.on(users::username_key.eq($table::username_key)))
                .filter($value)
                .select(AccountRow::as_select())
                .into_boxed();
            if !condition.is_all() {
                q = q.filter(condition);
            }
            // Usernames are unique, so the key alone is a position.
            let key = $table::username_key;
            q = match (&$query.after, $query.sort.descending) {
                (Some(after), false) => q.filter(key.gt(Unplanned(after.key.clone()))).order(key.asc()),
                (Some(after), true) => q.filter(key.lt(Unplanned(after.key.clone()))).order(key.desc()),
                (None, false) => q.order(key.asc()),
                (None, true) => q.order(key.desc()),
            };
            page_of(LimitedTo::rows(q, $query.limit).load_iter::<AccountRow, DefaultLoadingMode>(c), $query.limit)
        })
    }};
}

/// `user_prefixes` for a short search; a membership, if given, looked up for each row.
fn through_prefix_table(
    conn: &mut DbConn,
    query: &UserQuery,
    prefix: &str,
    member_of: Option<&str>,
    rest: &Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Account>> {
    let value = user_prefixes::prefix.eq(Unplanned(prefix.to_owned()));
    let probe = member_of.map(|m| Node::Probe(Keyed::Member, m.to_owned(), Keyed::Prefix));
    walk_in_username_order!(conn, query, user_prefixes, value, probe, rest, now)
}

/// `user_prefixes` and `user_memberships` joined on the username key: PostgreSQL merges the two
/// index scans (both in username order) until the page is full, whichever side is larger. A
/// lookup per row instead made it hash the whole other side first.
fn through_prefix_and_membership(
    conn: &mut DbConn,
    query: &UserQuery,
    prefix: &str,
    member_of: &str,
    rest: &Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Account>> {
    let from = user_prefixes::table.inner_join(
        user_memberships::table.on(user_memberships::username_key
            .eq(user_prefixes::username_key)
            .and(user_memberships::member_of.eq(Unplanned(member_of.to_owned())))),
    );
    let value = user_prefixes::prefix.eq(Unplanned(prefix.to_owned()));
    walk_in_username_order!(conn, query, user_prefixes, from, value, None, rest, now)
}

/// `user_memberships` for a group, application or instance; a short search, if given, looked up
/// for each row.
fn through_memberships(
    conn: &mut DbConn,
    query: &UserQuery,
    member_of: &str,
    prefix: Option<&str>,
    rest: &Filter,
    now: DateTime<Utc>,
) -> Result<Vec<Account>> {
    let value = user_memberships::member_of.eq(Unplanned(member_of.to_owned()));
    let probe = prefix.map(|p| Node::Probe(Keyed::Prefix, p.to_owned(), Keyed::Member));
    walk_in_username_order!(conn, query, user_memberships, value, probe, rest, now)
}

/// Any list: matches of a search are collected through the four key indexes and sorted (cost in
/// proportion to the matches), or, without one, the sort index is walked from the cursor.
fn through_key_indexes(
    conn: &mut DbConn,
    query: &UserQuery,
    now: DateTime<Utc>,
) -> Result<Vec<Account>> {
    let condition = Condition::of(&query.filter, now);
    // With a search, order by `key || ''` (same order): no index can then supply the order, so
    // the planner collects matches through the key indexes and sorts them, instead of walking the
    // sort index in the belief that matches are spread evenly along it (a username prefix is one
    // contiguous block of it).
    let searching = query.filter.has_search();
    on_backend!(conn, c => {
        let mut q = users::table.select(AccountRow::as_select()).into_boxed();
        if !condition.is_all() {
            q = q.filter(condition);
        }
        macro_rules! page_by {
            // Usernames and emails are unique: the key alone is a position and an order, so
            // PostgreSQL walks the index without sorting ties by id (an incremental sort that
            // cost `list_deep` ~6 % of the CPU).
            (unique $col:expr) => {{
                if let Some(after) = &query.after {
                    let key = Unplanned(after.key.clone());
                    q = if query.sort.descending { q.filter($col.lt(key)) } else { q.filter($col.gt(key)) };
                }
                q = match (query.sort.descending, searching) {
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
                q = match (query.sort.descending, searching) {
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
                q = match (query.sort.descending, searching) {
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

/// A filter as a SQL condition on `users` (alone or joined), with the values it binds: the one
/// translation of [`Filter`] into SQL, for both backends. Built once per query, then written by
/// diesel as part of the statement.
///
/// A condition on a column that can be NULL is written `col IS NOT NULL AND …`, so it is false,
/// never unknown, where the column is NULL, and its negation true: what [`Filter::matches`] says.
/// The statement's text depends only on the filter's shape, never on its values, so diesel keeps
/// one prepared statement per shape.
#[derive(Debug, Clone)]
pub(crate) struct Condition(Node);

#[derive(Debug, Clone)]
enum Node {
    All,
    Nothing,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    NotNull(&'static str),
    Compare(&'static str, &'static str, Value),
    /// `users.id IN (SELECT … = value)`: the text up to the value, which is bound.
    In(&'static str, String),
    /// A row of `user_memberships` (by its `member_of`) for the account.
    Member(String),
    /// A row of the first table for the value and the username key of the second (the table a
    /// list walks): looked up without reading `users`.
    Probe(Keyed, String, Keyed),
}

#[derive(Debug, Clone)]
enum Value {
    Text(String),
    Flag(bool),
    Time(NaiveDateTime),
}

/// The upper bound of a prefix range: every string starting with `prefix` sorts below it.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

fn text_column(field: TextField) -> (&'static str, bool) {
    match field {
        TextField::Username => ("users.username_key", false),
        TextField::Email => ("users.email_key", false),
        TextField::FirstName => ("users.first_name_key", false),
        TextField::LastName => ("users.last_name_key", false),
        TextField::Origin => ("users.origin", false),
        TextField::Location => ("users.location", true),
        TextField::ErpId => ("users.erp_id", true),
        TextField::ExternalKey => ("users.external_key", true),
        TextField::Locale => ("users.locale", false),
    }
}

fn time_column(field: TimeField) -> (&'static str, bool) {
    match field {
        TimeField::CreatedAt => ("users.created_at", false),
        TimeField::UpdatedAt => ("users.updated_at", false),
        TimeField::ActivatedAt => ("users.activated_at", true),
        TimeField::LastActiveAt => ("users.last_active_at", true),
        TimeField::LockedAt => ("users.locked_at", true),
        TimeField::LockedUntil => ("users.locked_until", true),
        TimeField::ExpiresAt => ("users.expires_at", true),
    }
}

fn flag_column(field: FlagField) -> &'static str {
    match field {
        FlagField::Active => "users.active",
        FlagField::MfaRequired => "users.mfa_required",
        FlagField::MfaEnabled => "users.mfa_enabled",
        FlagField::EmailNotifications => "users.email_notifications",
    }
}

/// `compare`, guarded by `column IS NOT NULL` where the column can be NULL.
fn guarded(column: &'static str, nullable: bool, compare: Node) -> Node {
    if nullable {
        Node::And(vec![Node::NotNull(column), compare])
    } else {
        compare
    }
}

fn prefix(column: &'static str, nullable: bool, prefix: &str) -> Node {
    guarded(
        column,
        nullable,
        Node::And(vec![
            Node::Compare(column, ">=", Value::Text(prefix.to_owned())),
            Node::Compare(column, "<", Value::Text(prefix_end(prefix))),
        ]),
    )
}

impl Condition {
    pub fn of(filter: &Filter, now: DateTime<Utc>) -> Self {
        Self(Self::node(filter, now))
    }

    fn node(filter: &Filter, now: DateTime<Utc>) -> Node {
        match filter {
            Filter::And(parts) if parts.is_empty() => Node::All,
            Filter::And(parts) => Node::And(parts.iter().map(|p| Self::node(p, now)).collect()),
            Filter::Or(parts) if parts.is_empty() => Node::Nothing,
            Filter::Or(parts) => Node::Or(parts.iter().map(|p| Self::node(p, now)).collect()),
            Filter::Not(inner) => Node::Not(Box::new(Self::node(inner, now))),
            Filter::TextEquals(field, value) => {
                let (column, nullable) = text_column(*field);
                guarded(
                    column,
                    nullable,
                    Node::Compare(column, "=", Value::Text(value.clone())),
                )
            }
            Filter::TextPrefix(field, value) => {
                let (column, nullable) = text_column(*field);
                prefix(column, nullable, value)
            }
            Filter::IsSet(OptionalField::Text(field)) => Node::NotNull(text_column(*field).0),
            Filter::IsSet(OptionalField::Time(field)) => Node::NotNull(time_column(*field).0),
            Filter::Flag(field, value) => {
                Node::Compare(flag_column(*field), "=", Value::Flag(*value))
            }
            Filter::Time(field, compare, at) => {
                let (column, nullable) = time_column(*field);
                let op = match compare {
                    Compare::Before => "<",
                    Compare::AtOrBefore => "<=",
                    Compare::After => ">",
                    Compare::AtOrAfter => ">=",
                };
                guarded(
                    column,
                    nullable,
                    Node::Compare(column, op, Value::Time(naive(*at))),
                )
            }
            Filter::Search(value) => Node::Or(
                search_fields()
                    .into_iter()
                    .map(|field| prefix(text_column(field).0, false, value))
                    .collect(),
            ),
            Filter::Status(status) => Self::node(&status.condition(now), now),
            Filter::Role(role) => Node::In(
                "users.id IN (SELECT user_roles.user_id FROM user_roles WHERE user_roles.role = ",
                role.clone(),
            ),
            Filter::Group(_) | Filter::Application(_) | Filter::Instance(_) => {
                Node::Member(member_of(filter))
            }
        }
    }

    /// This condition and the node, if any.
    fn and(self, node: Option<Node>) -> Self {
        match (self.0, node) {
            (condition, None) => Self(condition),
            (Node::All, Some(node)) => Self(node),
            (condition, Some(node)) => Self(Node::And(vec![condition, node])),
        }
    }

    /// Holds for every row: no `WHERE` needed.
    pub fn is_all(&self) -> bool {
        matches!(self.0, Node::All)
    }
}

fn walk<'b, DB>(node: &'b Node, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Bool> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    bool: ToSql<Bool, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    let join = |parts: &'b [Node], with: &str, out: &mut AstPass<'_, 'b, DB>| -> QueryResult<()> {
        out.push_sql("(");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                out.push_sql(with);
            }
            walk(part, out)?;
        }
        out.push_sql(")");
        Ok(())
    };
    match node {
        Node::All => out.push_sql("1 = 1"),
        Node::Nothing => out.push_sql("1 = 0"),
        Node::And(parts) => join(parts, " AND ", out)?,
        Node::Or(parts) => join(parts, " OR ", out)?,
        Node::Not(inner) => {
            out.push_sql("NOT (");
            walk(inner, out)?;
            out.push_sql(")");
        }
        Node::NotNull(column) => {
            out.push_sql(column);
            out.push_sql(" IS NOT NULL");
        }
        Node::Compare(column, op, value) => {
            out.push_sql("(");
            out.push_sql(column);
            out.push_sql(" ");
            out.push_sql(op);
            out.push_sql(" ");
            match value {
                Value::Text(text) => out.push_bind_param::<Text, str>(text)?,
                Value::Flag(flag) => out.push_bind_param::<Bool, bool>(flag)?,
                Value::Time(at) => out.push_bind_param::<Timestamp, NaiveDateTime>(at)?,
            }
            out.push_sql(")");
        }
        Node::Member(member_of) => {
            out.push_sql(
                "EXISTS (SELECT 1 FROM user_memberships WHERE user_memberships.member_of = ",
            );
            out.push_bind_param::<Text, str>(member_of)?;
            out.push_sql(" AND user_memberships.username_key = users.username_key)");
        }
        Node::Probe(probed, value, walked) => {
            out.push_sql("EXISTS (SELECT 1 FROM ");
            out.push_sql(probed.table());
            out.push_sql(" WHERE ");
            out.push_sql(probed.column());
            out.push_sql(" = ");
            out.push_bind_param::<Text, str>(value)?;
            out.push_sql(" AND ");
            out.push_sql(probed.table());
            out.push_sql(".username_key = ");
            out.push_sql(walked.table());
            // `IS TRUE`: SQLite would turn a bare EXISTS into a join after `users`, reading the
            // account of every row walked instead of only those that pass.
            out.push_sql(".username_key) IS TRUE");
        }
        Node::In(subquery, value) => {
            out.push_sql(subquery);
            out.push_bind_param::<Text, str>(value)?;
            out.push_sql(")");
        }
    }
    Ok(())
}

impl Expression for Condition {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for Condition {}

impl<QS> SelectableExpression<QS> for Condition {}

impl<G> ValidGrouping<G> for Condition {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Condition {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for Condition
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Bool> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    bool: ToSql<Bool, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        walk(&self.0, &mut out)
    }
}

#[cfg(test)]
mod tests {
    use diesel::{pg::Pg, sqlite::Sqlite};
    use domain::account::Status;

    use super::*;

    fn pg(filter: &Filter) -> String {
        let condition = Condition::of(filter, Utc::now());
        let query = users::table
            .select(users::id)
            .filter(condition)
            .into_boxed::<Pg>();
        diesel::debug_query::<Pg, _>(&query).to_string()
    }

    fn sqlite(filter: &Filter) -> String {
        let condition = Condition::of(filter, Utc::now());
        let query = users::table
            .select(users::id)
            .filter(condition)
            .into_boxed::<Sqlite>();
        diesel::debug_query::<Sqlite, _>(&query).to_string()
    }

    #[test]
    fn a_filter_becomes_one_condition_whose_text_depends_only_on_its_shape() {
        let filter = Filter::Search("an".into())
            .and(Filter::Role("admin".into()))
            .and(Filter::Not(Box::new(Filter::text_equals(
                TextField::Location,
                "Porto",
            ))));
        let written = pg(&filter);
        assert!(
            written.starts_with(
                "SELECT \"users\".\"id\" FROM \"users\" WHERE ((((users.username_key >= $1) AND (users.username_key < $2)) OR \
                 ((users.email_key >= $3) AND (users.email_key < $4)) OR ((users.first_name_key >= $5) AND (users.first_name_key < $6)) OR \
                 ((users.last_name_key >= $7) AND (users.last_name_key < $8))) AND \
                 users.id IN (SELECT user_roles.user_id FROM user_roles WHERE user_roles.role = $9) AND \
                 NOT ((users.location IS NOT NULL AND (users.location = $10))))"
            ),
            "{written}"
        );
        let other_values = Filter::Search("zed".into())
            .and(Filter::Role("user".into()))
            .and(Filter::Not(Box::new(Filter::text_equals(
                TextField::Location,
                "Oslo",
            ))));
        let text = |s: String| s.split(" -- binds").next().map(str::to_owned);
        assert_eq!(text(pg(&other_values)), text(written));
        assert!(sqlite(&filter).contains("(users.username_key >= ?)"));
    }

    #[test]
    fn a_status_is_written_from_the_domains_rule() {
        let active = pg(&Filter::Status(Status::Active));
        assert!(
            active.contains(
                "NOT ((users.active = $1)) AND NOT ((users.locked_at IS NOT NULL AND \
                 (NOT (users.locked_until IS NOT NULL) OR (users.locked_until IS NOT NULL AND \
                 (users.locked_until > $2))))) AND \
                 NOT ((users.expires_at IS NOT NULL AND (users.expires_at <= $3))) AND \
                 NOT ((NOT (users.activated_at IS NOT NULL) AND NOT (users.last_active_at IS NOT NULL)))"
            ),
            "{active}"
        );
    }

    #[test]
    fn empty_conjunctions_and_disjunctions_hold_always_and_never() {
        assert!(Condition::of(&Filter::all(), Utc::now()).is_all());
        assert!(sqlite(&Filter::Not(Box::new(Filter::Or(vec![])))).contains("NOT (1 = 0)"));
    }
}

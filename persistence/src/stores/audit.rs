//! The `AuditTrail` port: the audit trail read newest first, by any of its filters. The id is a
//! UUID v7, so id order is time order: a time window is a range of the primary key, and actor,
//! target and action each have an index ending in the id (migration
//! `2026-12-02-000001_audit_query`), so a page is one index range read from its start. A category
//! (a large share of all events) reads the primary key newest first and skips the others.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{
    audit::{AuditQuery, RecordedEvent},
    chain::{self, ChainHead, ChainedEvent, Link},
    ports::AuditTrail,
    reports::Window,
    Error, Result,
};
use uuid::Uuid;

use super::{on_backend, statements::insert_batched, Db, Unit};
use crate::{
    conn::DbConn,
    models::naive,
    schema::{audit_chain, audit_events, audit_links},
};

/// PostgreSQL's events still to link, after the linker's mark (`$1` the transaction, `$2` the
/// id), in (transaction, id) order: only those of transactions older than every one still
/// running, so that an event committed late is never passed over.
const PG_UNLINKED: &str =
    "SELECT id, at, actor_id, actor_username, action, category, target_type, \
     target_id, target_label, address, user_agent, details, xact FROM audit_events \
     WHERE xact >= $1 AND (xact > $1 OR id > $2) \
     AND xact < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
     ORDER BY xact, id LIMIT $3";

/// PostgreSQL's links written, one array a column.
const PG_LINKS: &str = "INSERT INTO audit_links (seq, event_id, prev_hash, hash, salt, digest) \
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])";

#[derive(QueryableByName)]
struct PgUnlinked {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    at: chrono::NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    actor_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    actor_username: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    category: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    target_type: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    target_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    target_label: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    address: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    user_agent: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    details: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    xact: i64,
}

impl PgUnlinked {
    fn into_event(self) -> Result<RecordedEvent> {
        recorded((
            self.id,
            self.at,
            self.actor_id,
            self.actor_username,
            self.action,
            self.category,
            self.target_type,
            self.target_id,
            self.target_label,
            self.address,
            self.user_agent,
            self.details,
        ))
    }
}

/// PostgreSQL's linker mark, `xact:id`.
fn pg_mark(mark: &str) -> Result<(i64, String)> {
    mark.split_once(':')
        .and_then(|(x, id)| Some((x.parse().ok()?, id.to_owned())))
        .ok_or_else(|| Error::Internal(format!("the audit chain's mark {mark:?}")))
}

/// SQLite's linker position: the rowid of the newest linked event still in the trail (0: none);
/// the events after it are those to link. SQLite writes one transaction at a time and gives each
/// new row the rowid after the last, so rowid order is commit order and an event committed later
/// is never passed over. VACUUM may renumber rowids but keeps their order, so the position is
/// found again from the links on each pass rather than remembered; a writer adds nothing (a queue
/// filled by a trigger cost every write a B-tree page: `bench/README.md`).
fn sqlite_position(c: &mut diesel::SqliteConnection) -> QueryResult<i64> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "coalesce((SELECT e.rowid FROM audit_links l JOIN audit_events e ON e.id = l.event_id \
         ORDER BY l.seq DESC LIMIT 1), 0)",
    ))
    .get_result(c)
}

/// The events after SQLite's linker position.
macro_rules! after_sqlite_position {
    ($position:expr) => {
        diesel::dsl::sql::<diesel::sql_types::Bool>("audit_events.rowid > ")
            .bind::<diesel::sql_types::BigInt, _>($position)
    };
}

/// A link as stored.
#[derive(Insertable)]
#[diesel(table_name = audit_links)]
#[diesel(treat_none_as_default_value = false)]
struct LinkRow {
    seq: i64,
    event_id: String,
    prev_hash: String,
    hash: String,
    salt: Option<String>,
    digest: String,
}

impl LinkRow {
    fn new(l: &Link) -> Self {
        Self {
            seq: l.seq,
            event_id: l.id.to_string(),
            prev_hash: l.prev_hash.clone(),
            hash: l.hash.clone(),
            salt: l.salt.clone(),
            digest: l.digest.clone(),
        }
    }
}

/// The columns of [`Row`].
macro_rules! event_columns {
    () => {
        (
            audit_events::id,
            audit_events::at,
            audit_events::actor_id,
            audit_events::actor_username,
            audit_events::action,
            audit_events::category,
            audit_events::target_type,
            audit_events::target_id,
            audit_events::target_label,
            audit_events::address,
            audit_events::user_agent,
            audit_events::details,
        )
    };
}

fn recorded(r: Row) -> Result<RecordedEvent> {
    Ok(RecordedEvent {
        id: uuid(&r.0)?,
        at: r.1.and_utc(),
        actor_id: r.2.as_deref().map(uuid).transpose()?,
        actor_username: r.3,
        action: r.4,
        category: r.5,
        target_type: r.6,
        target_id: r.7.as_deref().map(uuid).transpose()?,
        target_label: r.8,
        address: r.9,
        user_agent: r.10,
        // Text that is not JSON (changed behind Roster's back) reads as a string: verification
        // then names the event rather than failing.
        details: serde_json::from_str(&r.11).unwrap_or(serde_json::Value::String(r.11)),
    })
}

type Row = (
    String,
    chrono::NaiveDateTime,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// The smallest id a UUID v7 made at `at` can have: the time range as an id range, so that the
/// primary key serves it (the `at` condition then holds it exact).
fn first_id_at(at: DateTime<Utc>) -> String {
    let ms = at.timestamp_millis().max(0) as u64;
    let bytes = ((ms as u128) << 80).to_be_bytes();
    Uuid::from_bytes(bytes).to_string()
}

fn uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| Error::Internal(format!("an audit event's id: {e}")))
}

impl AuditTrail for Unit<'_> {
    fn list_audit_events(&mut self, q: &AuditQuery) -> Result<Vec<RecordedEvent>> {
        macro_rules! page {
            ($c:expr, $db:ty) => {{
                let mut query = audit_events::table
                    .select(event_columns!())
                    .order(audit_events::id.desc())
                    .limit(i64::from(q.limit) + 1)
                    .into_boxed::<$db>();
                if let Some(action) = &q.action {
                    query = query.filter(audit_events::action.eq(action.clone()));
                }
                if let Some(category) = q.category {
                    query = query.filter(audit_events::category.eq(category.as_str()));
                }
                if let Some(actor) = q.actor {
                    query = query.filter(audit_events::actor_id.eq(actor.to_string()));
                }
                if let Some(target) = q.target {
                    query = query.filter(audit_events::target_id.eq(target.to_string()));
                }
                if let Some(from) = q.from {
                    // One millisecond early: an event's id and time are two readings of the clock.
                    let slack = from - chrono::Duration::milliseconds(1);
                    query = query
                        .filter(audit_events::id.ge(first_id_at(slack)))
                        .filter(audit_events::at.ge(naive(from)));
                }
                if let Some(to) = q.to {
                    let slack = to + chrono::Duration::milliseconds(2);
                    query = query
                        .filter(audit_events::id.lt(first_id_at(slack)))
                        .filter(audit_events::at.lt(naive(to)));
                }
                if let Some(before) = q.before {
                    query = query.filter(audit_events::id.lt(before.to_string()));
                }
                query.load::<Row>($c)
            }};
        }
        let rows = match self.conn {
            crate::conn::DbConn::Pg(c) => page!(c, diesel::pg::Pg),
            crate::conn::DbConn::Sqlite(c) => page!(c, diesel::sqlite::Sqlite),
        }
        .db()?;
        rows.into_iter().map(recorded).collect()
    }

    fn report_events(
        &mut self,
        actions: &[&str],
        window: Window,
        after: Option<Uuid>,
        skip: u32,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>> {
        let actions: Vec<String> = actions.iter().map(|a| (*a).to_owned()).collect();
        let from = first_id_at(window.from - chrono::Duration::milliseconds(1));
        let to = first_id_at(window.to + chrono::Duration::milliseconds(2));
        macro_rules! page {
            ($c:expr, $db:ty) => {{
                let mut query = audit_events::table
                    .select(event_columns!())
                    .filter(audit_events::action.eq_any(&actions))
                    .filter(audit_events::id.ge(&from))
                    .filter(audit_events::id.lt(&to))
                    .filter(audit_events::at.ge(naive(window.from)))
                    .filter(audit_events::at.lt(naive(window.to)))
                    .order(audit_events::id)
                    .offset(i64::from(skip))
                    .limit(i64::from(limit))
                    .into_boxed::<$db>();
                if let Some(after) = after {
                    query = query.filter(audit_events::id.gt(after.to_string()));
                }
                query.load::<Row>($c)
            }};
        }
        let rows = match self.conn {
            DbConn::Pg(c) => page!(c, diesel::pg::Pg),
            DbConn::Sqlite(c) => page!(c, diesel::sqlite::Sqlite),
        }
        .db()?;
        rows.into_iter().map(recorded).collect()
    }

    fn chain_head(&mut self, hold: bool) -> Result<ChainHead> {
        let columns = (
            audit_chain::seq,
            audit_chain::hash,
            audit_chain::checkpoint_seq,
            audit_chain::checkpoint_hash,
            audit_chain::mark,
        );
        let head = audit_chain::table
            .filter(audit_chain::id.eq(1))
            .select(columns);
        type Head = (i64, String, i64, String, String);
        let (seq, hash, checkpoint_seq, checkpoint_hash, mark) = match self.conn {
            DbConn::Pg(c) if hold => head.for_update().first::<Head>(c),
            DbConn::Pg(c) => head.first(c),
            // A write transaction holds SQLite's only write lock already.
            DbConn::Sqlite(c) => head.first(c),
        }
        .db()?;
        Ok(ChainHead {
            seq,
            hash,
            checkpoint_seq,
            checkpoint_hash,
            mark,
        })
    }

    fn unlinked_events(
        &mut self,
        head: &ChainHead,
        limit: u32,
    ) -> Result<(Vec<RecordedEvent>, String)> {
        match self.conn {
            DbConn::Pg(c) => {
                let (xact, id) = pg_mark(&head.mark)?;
                let rows: Vec<PgUnlinked> = diesel::sql_query(PG_UNLINKED)
                    .bind::<diesel::sql_types::BigInt, _>(xact)
                    .bind::<diesel::sql_types::Text, _>(id)
                    .bind::<diesel::sql_types::BigInt, _>(i64::from(limit))
                    .load(c)
                    .db()?;
                let mark = rows
                    .last()
                    .map_or_else(|| head.mark.clone(), |r| format!("{}:{}", r.xact, r.id));
                let events = rows
                    .into_iter()
                    .map(PgUnlinked::into_event)
                    .collect::<Result<_>>()?;
                Ok((events, mark))
            }
            DbConn::Sqlite(c) => {
                let position = sqlite_position(c).db()?;
                let rows: Vec<Row> = audit_events::table
                    .select(event_columns!())
                    .filter(after_sqlite_position!(position))
                    .order(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                        "audit_events.rowid",
                    ))
                    .limit(i64::from(limit))
                    .load(c)
                    .db()?;
                let events = rows.into_iter().map(recorded).collect::<Result<_>>()?;
                Ok((events, String::new()))
            }
        }
    }

    fn count_unlinked(&mut self, head: &ChainHead) -> Result<u64> {
        let n: i64 = match self.conn {
            DbConn::Pg(c) => {
                let (xact, id) = pg_mark(&head.mark)?;
                audit_events::table
                    .filter(
                        diesel::dsl::sql::<diesel::sql_types::Bool>("(xact, id) > (")
                            .bind::<diesel::sql_types::BigInt, _>(xact)
                            .sql(", ")
                            .bind::<diesel::sql_types::Text, _>(id)
                            .sql(")"),
                    )
                    .count()
                    .get_result(c)
            }
            DbConn::Sqlite(c) => sqlite_position(c).and_then(|position| {
                audit_events::table
                    .filter(after_sqlite_position!(position))
                    .count()
                    .get_result(c)
            }),
        }
        .db()?;
        Ok(n.max(0) as u64)
    }

    fn event_outside_chain(&mut self) -> Result<Option<RecordedEvent>> {
        let mark = self.chain_head(false)?.mark;
        let row: Option<Row> = match self.conn {
            DbConn::Pg(c) => {
                // Events up to the linker's mark that have no link: an anti-join (a hash of the
                // links, not a lookup per event), run only when the counts disagree.
                let (xact, id) = pg_mark(&mark)?;
                let up_to_mark = || {
                    audit_events::table.filter(
                        diesel::dsl::sql::<diesel::sql_types::Bool>("(xact, id) <= (")
                            .bind::<diesel::sql_types::BigInt, _>(xact)
                            .sql(", ")
                            .bind::<diesel::sql_types::Text, _>(id.clone())
                            .sql(")"),
                    )
                };
                let events: i64 = up_to_mark().count().get_result(c).db()?;
                let links: i64 = audit_links::table.count().get_result(c).db()?;
                if events <= links {
                    return Ok(None);
                }
                up_to_mark()
                    .select(event_columns!())
                    .filter(diesel::dsl::not(diesel::dsl::exists(
                        audit_links::table.filter(audit_links::event_id.eq(audit_events::id)),
                    )))
                    .first(c)
                    .optional()
            }
            DbConn::Sqlite(c) => {
                let position = sqlite_position(c).db()?;
                let up_to_position = || {
                    audit_events::table.filter(diesel::dsl::not(after_sqlite_position!(position)))
                };
                let events: i64 = up_to_position().count().get_result(c).db()?;
                let links: i64 = audit_links::table.count().get_result(c).db()?;
                if events <= links {
                    return Ok(None);
                }
                // `NOT IN` a subquery: SQLite reads it once into a temporary index.
                up_to_position()
                    .select(event_columns!())
                    .filter(diesel::dsl::not(
                        audit_events::id.eq_any(audit_links::table.select(audit_links::event_id)),
                    ))
                    .first(c)
                    .optional()
            }
        }
        .db()?;
        row.map(recorded).transpose()
    }

    fn write_links(&mut self, links: &[Link], mark: &str) -> Result<()> {
        let Some(last) = links.last() else {
            return Ok(());
        };
        match self.conn {
            // Six arrays, one value each: a multi-row insert of a thousand links (six thousand
            // binds) cost more to build than the linking itself (`bench/README.md`).
            DbConn::Pg(c) => {
                use diesel::sql_types::{Array, BigInt, Nullable, Text};
                let column = |f: fn(&Link) -> String| links.iter().map(f).collect::<Vec<_>>();
                diesel::sql_query(PG_LINKS)
                    .bind::<Array<BigInt>, _>(links.iter().map(|l| l.seq).collect::<Vec<_>>())
                    .bind::<Array<Text>, _>(column(|l| l.id.to_string()))
                    .bind::<Array<Text>, _>(column(|l| l.prev_hash.clone()))
                    .bind::<Array<Text>, _>(column(|l| l.hash.clone()))
                    .bind::<Array<Nullable<Text>>, _>(
                        links.iter().map(|l| l.salt.clone()).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Text>, _>(column(|l| l.digest.clone()))
                    .execute(c)
                    .db()?;
            }
            DbConn::Sqlite(_) => {
                let rows: Vec<LinkRow> = links.iter().map(LinkRow::new).collect();
                // 6 values a row.
                insert_batched!(self.conn, audit_links::table, rows, 5000);
            }
        }
        let head = (
            audit_chain::seq.eq(last.seq),
            audit_chain::hash.eq(&last.hash),
            audit_chain::mark.eq(mark),
        );
        on_backend!(self.conn, c => diesel::update(audit_chain::table).set(head).execute(c))
            .db()?;
        Ok(())
    }

    fn chained_events(&mut self, from: i64, limit: u32) -> Result<Vec<ChainedEvent>> {
        // The links in order, each with its event if it is still there.
        type Linked = (i64, String, String, String, Option<String>, String);
        let links: Vec<Linked> = on_backend!(self.conn, c => audit_links::table
            .select((
                audit_links::seq,
                audit_links::event_id,
                audit_links::prev_hash,
                audit_links::hash,
                audit_links::salt,
                audit_links::digest,
            ))
            .filter(audit_links::seq.ge(from))
            .order(audit_links::seq)
            .limit(i64::from(limit))
            .load(c))
        .db()?;
        let ids: Vec<&str> = links.iter().map(|l| l.1.as_str()).collect();
        let mut events = std::collections::HashMap::new();
        for chunk in ids.chunks(1000) {
            let rows: Vec<Row> = on_backend!(self.conn, c => audit_events::table
                .select(event_columns!())
                .filter(audit_events::id.eq_any(chunk))
                .load(c))
            .db()?;
            for row in rows {
                events.insert(row.0.clone(), recorded(row)?);
            }
        }
        links
            .into_iter()
            .map(|(seq, event_id, prev_hash, hash, salt, digest)| {
                Ok(ChainedEvent {
                    // An event removed behind Roster's back: verification names its place.
                    event: events.remove(&event_id),
                    event_id: uuid(&event_id)?,
                    seq,
                    prev_hash,
                    hash,
                    salt,
                    digest,
                })
            })
            .collect()
    }

    fn erase_personal_values(&mut self, account: Uuid) -> Result<u64> {
        let id = account.to_string();
        let naming = audit_events::actor_id
            .eq(id.clone())
            .or(audit_events::target_id.eq(id));
        let rows: Vec<Row> = on_backend!(self.conn, c => audit_events::table
            .select(event_columns!())
            .filter(naming.clone())
            .load(c))
        .db()?;
        let mut erased = 0;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let event = recorded(row)?;
            let key = event.id.to_string();
            if !chain::is_erased(&event) {
                let e = chain::erased(&event);
                let changes = (
                    audit_events::actor_username.eq(e.actor_username),
                    audit_events::target_label.eq(e.target_label),
                    audit_events::address.eq(e.address),
                    audit_events::user_agent.eq(e.user_agent),
                    audit_events::details.eq(e.details.to_string()),
                );
                let target = audit_events::table.filter(audit_events::id.eq(&key));
                on_backend!(self.conn, c => diesel::update(target).set(changes.clone()).execute(c))
                    .db()?;
                erased += 1;
            }
            keys.push(key);
        }
        // The salts go too: what is left cannot be tested against a guess. Links have no index
        // by event (linking stays cheap), so each statement reads them once for 5,000 events.
        for chunk in keys.chunks(5000) {
            let links = audit_links::table.filter(audit_links::event_id.eq_any(chunk));
            on_backend!(self.conn, c => diesel::update(links).set(audit_links::salt.eq(None::<String>)).execute(c))
                .db()?;
        }
        Ok(erased)
    }

    fn remove_chain_prefix(&mut self, through: i64, hash: &str) -> Result<u64> {
        let old = audit_links::table
            .filter(audit_links::seq.le(through))
            .select(audit_links::event_id);
        let events = audit_events::table.filter(audit_events::id.eq_any(old));
        let removed = on_backend!(self.conn, c => diesel::delete(events).execute(c)).db()?;
        let links = audit_links::table.filter(audit_links::seq.le(through));
        on_backend!(self.conn, c => diesel::delete(links).execute(c)).db()?;
        let checkpoint = (
            audit_chain::checkpoint_seq.eq(through),
            audit_chain::checkpoint_hash.eq(hash),
        );
        on_backend!(self.conn, c => diesel::update(audit_chain::table).set(checkpoint).execute(c))
            .db()?;
        Ok(removed as u64)
    }
}

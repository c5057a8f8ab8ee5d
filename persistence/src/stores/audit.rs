//! The `AuditTrail` port: the audit trail read newest first, by any of its filters. The id is a
//! UUID v7, so id order is time order: a time window is a range of the primary key, and actor,
//! target and action each have an index ending in the id (migration
//! `2026-12-02-000001_audit_query`), so a page is one index range read from its start. A category
//! (a large share of all events) reads the primary key newest first and skips the others.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{
    audit::{AuditQuery, RecordedEvent},
    ports::AuditTrail,
    Error, Result,
};
use uuid::Uuid;

use super::{Db, Unit};
use crate::{models::naive, schema::audit_events};

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
                    .select((
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
                    ))
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
        rows.into_iter()
            .map(|r| {
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
                    details: serde_json::from_str(&r.11).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}

//! The outbox's messages (`domain::outbox`): taken by the delivery worker, finished, listed for
//! admins. New ones are written with a unit of work's effects (`effects`).

use chrono::{DateTime, Utc};
use diesel::{dsl::sql, prelude::*, sql_types::Bool};
use domain::{
    outbox::{Message, MessageState},
    ports::Outbox,
    Result,
};
use uuid::Uuid;

use super::{on_backend, Db, Unit};
use crate::{
    conn::DbConn,
    models::{naive, MessageRow},
    schema::outbox,
};

/// The messages a worker may take (a `sending` one only once its hold has ended), written as the
/// partial index `outbox_due` is: a planner uses that index only for a query that states its
/// condition the same way, with literals (SQLite never matches a bound parameter, PostgreSQL not
/// in a generic plan). Without it every take read the whole outbox.
const DUE_SQL: &str = "state IN ('pending', 'sending')";

impl Outbox for Unit<'_> {
    fn take_due_messages(
        &mut self,
        now: DateTime<Utc>,
        into: MessageState,
        hold_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let due = outbox::table
            .filter(sql::<Bool>(DUE_SQL))
            .filter(outbox::next_attempt_at.le(naive(now)))
            .order(outbox::next_attempt_at.asc())
            .select(outbox::id)
            .limit(i64::from(limit));
        // The rows stay locked until this transaction commits: a worker on another replica skips
        // them instead of waiting, and finds them `sending` once it may look. SQLite has one
        // writer at a time, which is the same guarantee.
        let ids: Vec<String> = match &mut *self.conn {
            DbConn::Pg(c) => due.for_update().skip_locked().load(c),
            DbConn::Sqlite(c) => due.load(c),
        }
        .db()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<MessageRow> = on_backend!(self.conn, c => diesel::update(
            outbox::table.filter(outbox::id.eq_any(&ids)),
        )
        .set((
            outbox::state.eq(into.as_str()),
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::next_attempt_at.eq(naive(hold_until)),
            outbox::finished_at.eq((into != MessageState::Sending).then(|| naive(now))),
        ))
        .returning(MessageRow::as_returning())
        .get_results(c))
        .db()?;
        let mut messages = rows
            .into_iter()
            .map(MessageRow::into_message)
            .collect::<Result<Vec<_>>>()?;
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }

    fn update_message(
        &mut self,
        message: &Message,
        state: MessageState,
        attempts: u32,
    ) -> Result<bool> {
        let row = MessageRow::new(message);
        let n = on_backend!(self.conn, c => diesel::update(
            outbox::table
                .filter(outbox::id.eq(&row.id))
                .filter(outbox::state.eq(state.as_str()))
                .filter(outbox::attempts.eq(i32::try_from(attempts).unwrap_or(i32::MAX))),
        )
        .set((
            outbox::state.eq(&row.state),
            outbox::attempts.eq(row.attempts),
            outbox::next_attempt_at.eq(&row.next_attempt_at),
            outbox::last_error.eq(&row.last_error),
            outbox::finished_at.eq(&row.finished_at),
        ))
        .execute(c))
        .db()?;
        Ok(n == 1)
    }

    fn find_message(&mut self, id: Uuid) -> Result<Option<Message>> {
        let row: Option<MessageRow> = on_backend!(self.conn, c => outbox::table
            .find(id.to_string())
            .select(MessageRow::as_select())
            .first(c)
            .optional())
        .db()?;
        row.map(MessageRow::into_message).transpose()
    }

    fn list_messages(
        &mut self,
        state: Option<MessageState>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        // A boxed query is bound to its backend: built in each arm.
        let rows: Vec<MessageRow> = on_backend!(self.conn, c => {
            let mut query = outbox::table
                .select(MessageRow::as_select())
                .order(outbox::id.desc())
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(state) = state {
                query = query.filter(outbox::state.eq(state.as_str()));
            }
            if let Some(after) = after {
                query = query.filter(outbox::id.lt(after.to_string()));
            }
            query.load(c)
        })
        .db()?;
        rows.into_iter().map(MessageRow::into_message).collect()
    }

    fn delete_finished_messages(&mut self, before: DateTime<Utc>) -> Result<u64> {
        let n = on_backend!(self.conn, c => diesel::delete(
            outbox::table.filter(outbox::finished_at.lt(naive(before))),
        )
        .execute(c))
        .db()?;
        Ok(n as u64)
    }

    fn count_messages(&mut self) -> Result<Vec<(MessageState, i64)>> {
        let rows: Vec<(String, i64)> = on_backend!(self.conn, c => outbox::table
            .group_by(outbox::state)
            .select((outbox::state, diesel::dsl::count_star()))
            .load(c))
        .db()?;
        rows.into_iter()
            .map(|(state, n)| {
                MessageState::parse(&state)
                    .map(|state| (state, n))
                    .ok_or_else(|| {
                        domain::Error::Internal(format!("unknown outbox state {state:?}"))
                    })
            })
            .collect()
    }
}

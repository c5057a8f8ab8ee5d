//! The records of idempotent retries (`domain::idempotency`), keyed by scope, method, path and key.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::{
    idempotency::{KeptResponse, KeyRecord, KeyedRequest},
    ports::IdempotencyKeys,
    Result,
};

use super::{on_backend, Db, Unit};
use crate::{conn::DbConn, models::naive, schema::idempotency_keys as keys};

/// The record's key columns equal to `request`'s.
macro_rules! of {
    ($request:expr) => {
        keys::table.find((
            $request.scope.as_str(),
            $request.method.as_str(),
            $request.path.as_str(),
            $request.key.as_str(),
        ))
    };
}

type Row = (
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
);

impl IdempotencyKeys for Unit<'_> {
    fn insert_idempotency_key(
        &mut self,
        request: &KeyedRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        let row = (
            keys::scope.eq(&request.scope),
            keys::method.eq(&request.method),
            keys::path.eq(&request.path),
            keys::key.eq(request.key.as_str()),
            keys::fingerprint.eq(&request.fingerprint),
            keys::created_at.eq(naive(now)),
            keys::lease_until.eq(Some(naive(lease_until))),
        );
        let inserted = on_backend!(self.conn, c => diesel::insert_into(keys::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))
        .db()?;
        Ok(inserted == 1)
    }

    fn find_idempotency_key(&mut self, request: &KeyedRequest) -> Result<Option<KeyRecord>> {
        let columns = (
            keys::fingerprint,
            keys::created_at,
            keys::lease_until,
            keys::status,
            keys::content_type,
            keys::location,
            keys::sealed_body,
        );
        let row: Option<Row> = match self.conn {
            DbConn::Pg(c) => of!(request)
                .select(columns)
                .for_update()
                .first(c)
                .optional(),
            // A write transaction holds SQLite's only write lock already.
            DbConn::Sqlite(c) => of!(request).select(columns).first(c).optional(),
        }
        .db()?;
        Ok(row.map(
            |(fingerprint, created_at, lease_until, status, content_type, location, body)| {
                KeyRecord {
                    fingerprint,
                    created_at: created_at.and_utc(),
                    lease_until: lease_until.map(|t| t.and_utc()),
                    response: status.zip(body).map(|(status, body)| KeptResponse {
                        status: u16::try_from(status).unwrap_or(500),
                        content_type,
                        location,
                        body,
                    }),
                }
            },
        ))
    }

    fn restart_idempotency_key(
        &mut self,
        request: &KeyedRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<()> {
        let fresh = (
            keys::fingerprint.eq(&request.fingerprint),
            keys::created_at.eq(naive(now)),
            keys::lease_until.eq(Some(naive(lease_until))),
            keys::status.eq(None::<i32>),
            keys::content_type.eq(None::<String>),
            keys::location.eq(None::<String>),
            keys::sealed_body.eq(None::<Vec<u8>>),
        );
        on_backend!(self.conn, c => diesel::update(of!(request)).set(fresh).execute(c)).db()?;
        Ok(())
    }

    fn complete_idempotency_key(
        &mut self,
        request: &KeyedRequest,
        response: &KeptResponse,
    ) -> Result<()> {
        let kept = (
            keys::lease_until.eq(None::<NaiveDateTime>),
            keys::status.eq(Some(i32::from(response.status))),
            keys::content_type.eq(response.content_type.as_deref()),
            keys::location.eq(response.location.as_deref()),
            keys::sealed_body.eq(Some(response.body.as_slice())),
        );
        on_backend!(self.conn, c => diesel::update(of!(request)).set(kept).execute(c)).db()?;
        Ok(())
    }

    fn release_idempotency_key(&mut self, request: &KeyedRequest) -> Result<()> {
        on_backend!(self.conn, c => diesel::delete(of!(request)).execute(c)).db()?;
        Ok(())
    }

    fn delete_expired_idempotency_keys(&mut self, before: DateTime<Utc>) -> Result<u64> {
        let expired = keys::table.filter(keys::created_at.lt(naive(before)));
        let n = on_backend!(self.conn, c => diesel::delete(expired).execute(c)).db()?;
        Ok(n as u64)
    }
}

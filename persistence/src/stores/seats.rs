//! Seat counts (SPEC §2), kept by the account writer in the transaction of every write of an
//! account. Each seat that moves is one upsert that adds to its count and returns the count and
//! the limit; a seat taken past its limit fails the write (`SeatLimitReached`), which rolls back.
//! The update holds the seat's row until the transaction ends, so of concurrent writers taking the
//! last seat exactly one sees room (PostgreSQL re-reads the row once the holder commits; SQLite
//! runs one writer at a time). Seats are updated in key order, so two writers never wait on each
//! other in opposite orders.

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::{prelude::*, upsert::excluded};
use domain::{account::Account, seats, Error, Result};

use super::{on_backend, Db};
use crate::{
    conn::DbConn,
    models::naive,
    schema::{guest_seats, seat_usage},
};

/// Moves the seat counts for writes from `before` to `after` (`None`: not there), as many at once.
pub(crate) fn apply(
    conn: &mut DbConn,
    writes: &[(Option<&Account>, Option<&Account>)],
) -> Result<()> {
    let mut moves: BTreeMap<String, i64> = BTreeMap::new();
    for (before, after) in writes {
        for (seat, n) in seats::changes(*before, *after) {
            *moves.entry(seat).or_default() += n;
        }
        if let (true, Some(guest)) = (seats::claims_guest_seat(*before, *after), after) {
            if claim_guest_seat(conn, &guest.email.key())? {
                *moves.entry(seats::GUEST_SEATS.to_owned()).or_default() += 1;
            }
        }
    }
    for (seat, n) in moves.into_iter().filter(|(_, n)| *n != 0) {
        let (used, limit) = add(conn, &seat, n)?;
        if let Some(limit) = limit.filter(|limit| n > 0 && used > *limit) {
            return Err(Error::SeatLimitReached {
                seat: seats::seat_name(&seat).to_owned(),
                limit,
                used: used - n,
                requested: n,
            });
        }
    }
    Ok(())
}

/// `true` when the email had no guest seat yet and now has one.
fn claim_guest_seat(conn: &mut DbConn, email_key: &str) -> Result<bool> {
    let now = naive(Utc::now());
    let n = on_backend!(conn, c => diesel::insert_into(guest_seats::table)
        .values((guest_seats::email_key.eq(email_key), guest_seats::taken_at.eq(now)))
        .on_conflict_do_nothing()
        .execute(c))
    .db()?;
    Ok(n == 1)
}

/// Adds `n` to the seat's count; its count and limit after.
fn add(conn: &mut DbConn, seat: &str, n: i64) -> Result<(i64, Option<i64>)> {
    on_backend!(conn, c => diesel::insert_into(seat_usage::table)
        .values((seat_usage::seat.eq(seat), seat_usage::used.eq(n), seat_usage::seat_limit.eq(None::<i64>)))
        .on_conflict(seat_usage::seat)
        .do_update()
        .set(seat_usage::used.eq(seat_usage::used + excluded(seat_usage::used)))
        .returning((seat_usage::used, seat_usage::seat_limit))
        .get_result::<(i64, Option<i64>)>(c))
    .db()
}

/// Sets a seat's limit (`None`: unlimited), creating its row if need be.
pub(crate) fn set_limit(conn: &mut DbConn, seat: &str, limit: Option<i64>) -> Result<()> {
    on_backend!(conn, c => diesel::insert_into(seat_usage::table)
        .values((seat_usage::seat.eq(seat), seat_usage::used.eq(0), seat_usage::seat_limit.eq(limit)))
        .on_conflict(seat_usage::seat)
        .do_update()
        .set(seat_usage::seat_limit.eq(excluded(seat_usage::seat_limit)))
        .execute(c))
    .db()?;
    Ok(())
}

/// Every seat's count and limit, by key.
pub(crate) fn usage(conn: &mut DbConn) -> Result<Vec<(String, i64, Option<i64>)>> {
    on_backend!(conn, c => seat_usage::table
        .order(seat_usage::seat.asc())
        .select((seat_usage::seat, seat_usage::used, seat_usage::seat_limit))
        .load::<(String, i64, Option<i64>)>(c))
    .db()
}

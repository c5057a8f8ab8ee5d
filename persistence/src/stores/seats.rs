//! Seat limits (SPEC §2), enforced by the account writer in the transaction of every write of an
//! account.
//!
//! Only a seat with a limit has a count kept (`seat_usage`). Every write that moves seats reads
//! which seats are limited (none, in most deployments: then that read is all it costs) and adds to
//! each limited one, then reads its count; a seat taken past its limit fails the write
//! (`SeatLimitReached`), which rolls back. A create on PostgreSQL does it all inside its one
//! statement (`statements::NewAccount`). The update holds the seats' rows until the
//! transaction ends, so of concurrent writers taking the last seat exactly one sees room
//! (PostgreSQL re-reads a row once its holder commits; SQLite runs one writer at a time). Rows are
//! locked in key order (an index scan), so two writers never wait on each other in opposite
//! orders.
//!
//! Why this device, and not a count at each write (`SELECT count(*)` under a lock) or SERIALIZABLE:
//! counting a million accounts per create costs milliseconds, and SERIALIZABLE would fail and
//! retry every concurrent writer of `users`, limited or not. Why only limited seats: a kept count
//! is a row every writer of that seat holds to its commit, so writers of a limited seat queue
//! there (on PostgreSQL, about a commit's time each); seats without a limit cost nothing, and
//! `GET /users/count` counts their holders from the rows.
//!
//! A limit set later starts its count from the rows, taken while writers of accounts wait
//! ([`set_limit`]); a writer reads which seats are limited only after its own write of `users`,
//! which waited for that, so none is missed.

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::prelude::*;
use domain::{account::Account, seats, seats::SeatUsage, Error, Result};

use super::{on_backend, Db};
use crate::{
    conn::DbConn,
    models::naive,
    schema::{guest_seats, seat_usage, user_roles, users},
};

/// Moves the limited seats' counts for writes from `before` to `after` (`None`: not there), as
/// many at once, and takes guest seats for emails that become guests.
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
    moves.retain(|_, n| *n != 0);
    if moves.is_empty() {
        return Ok(());
    }
    // Which seats are limited: one read (none, in most deployments, and the write is done).
    let limited: Vec<String> = on_backend!(conn, c => seat_usage::table
        .filter(seat_usage::seat_limit.is_not_null())
        .select(seat_usage::seat)
        .load(c))
    .db()?;
    // Seat by seat in key order: an update, then the count it left (two statements diesel keeps
    // prepared; on SQLite an `UPDATE … RETURNING` costs ~20 µs more, prepared afresh each time).
    for (seat, n) in moves.into_iter().filter(|(seat, _)| limited.contains(seat)) {
        on_backend!(conn, c => diesel::update(seat_usage::table.find(&seat))
            .set(seat_usage::used.eq(seat_usage::used + n))
            .execute(c))
        .db()?;
        let (used, limit): (i64, Option<i64>) = on_backend!(conn, c => seat_usage::table
            .find(&seat)
            .select((seat_usage::used, seat_usage::seat_limit))
            .first(c))
        .db()?;
        if let Some(limit) = limit {
            check(&seat, used, limit, n)?;
        }
    }
    Ok(())
}

/// A seat's count `used` after taking `n` more must stay within `limit`.
fn check(seat: &str, used: i64, limit: i64, n: i64) -> Result<()> {
    if n > 0 && used > limit {
        return Err(Error::SeatLimitReached {
            seat: seats::seat_name(seat).to_owned(),
            limit,
            used: used - n,
            requested: n,
        });
    }
    Ok(())
}

/// Checks what a statement that took `n` of each of its seats answered: `seat:used:limit` for each
/// limited seat, joined by commas (see `statements::NewAccount`).
pub(crate) fn check_taken(answer: &str, n: i64) -> Result<()> {
    for part in answer.split(',').filter(|p| !p.is_empty()) {
        let mut fields = part.rsplitn(3, ':');
        let (Some(limit), Some(used), Some(seat)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(Error::Internal(format!("unreadable seat count {part:?}")));
        };
        let parse = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| Error::Internal(format!("unreadable seat count {part:?}")))
        };
        check(seat, parse(used)?, parse(limit)?, n)?;
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

/// Sets a seat's limit (`None`: unlimited, and its count no longer kept). A limit on a seat that
/// had none starts its count from the rows, while writers of accounts wait (PostgreSQL: `users`
/// and `guest_seats` locked against writes until the transaction ends; SQLite: the write lock).
pub(crate) fn set_limit(conn: &mut DbConn, seat: &str, limit: Option<i64>) -> Result<()> {
    let stored: Option<Option<i64>> = on_backend!(conn, c => seat_usage::table
        .find(seat)
        .select(seat_usage::seat_limit)
        .first(c)
        .optional())
    .db()?;
    if stored.is_some_and(|s| s.is_some()) || limit.is_none() {
        // A count already kept stays right; an unlimited seat needs none.
        on_backend!(conn, c => diesel::update(seat_usage::table.find(seat))
            .set(seat_usage::seat_limit.eq(limit))
            .execute(c))
        .db()?;
        return Ok(());
    }
    if let DbConn::Pg(c) = conn {
        diesel::sql_query("LOCK TABLE users, guest_seats IN SHARE ROW EXCLUSIVE MODE")
            .execute(c)
            .db()?;
    }
    let used = count(conn, seat)?;
    on_backend!(conn, c => diesel::insert_into(seat_usage::table)
        .values((seat_usage::seat.eq(seat), seat_usage::used.eq(used), seat_usage::seat_limit.eq(limit)))
        .on_conflict(seat_usage::seat)
        .do_update()
        .set((seat_usage::used.eq(used), seat_usage::seat_limit.eq(limit)))
        .execute(c))
    .db()?;
    Ok(())
}

/// How many hold the seat, counted from the rows.
fn count(conn: &mut DbConn, seat: &str) -> Result<i64> {
    if seat == seats::GUEST_SEATS {
        return on_backend!(conn, c => guest_seats::table.count().get_result::<i64>(c)).db();
    }
    if seat == seats::ACTIVE_USERS {
        return on_backend!(conn, c => users::table
            .filter(users::active.eq(true))
            .filter(users::roles.ne(domain::roles::GUEST))
            .count()
            .get_result::<i64>(c))
        .db();
    }
    let role = seat.strip_prefix("role:").unwrap_or(seat);
    on_backend!(conn, c => user_roles::table
        .inner_join(users::table)
        .filter(users::active.eq(true))
        .filter(user_roles::role.eq(role))
        .count()
        .get_result::<i64>(c))
    .db()
}

/// Every seat's holders, counted from the rows, and its limit: `active_users`, `role:<name>` for
/// each of `roles`, and `guest_seats`.
pub(crate) fn usage(conn: &mut DbConn, roles: &[String]) -> Result<Vec<SeatUsage>> {
    let limits: Vec<(String, Option<i64>)> = on_backend!(conn, c => seat_usage::table
        .select((seat_usage::seat, seat_usage::seat_limit))
        .load(c))
    .db()?;
    let mut keys = vec![seats::ACTIVE_USERS.to_owned()];
    keys.extend(roles.iter().map(|r| seats::role_seat(r)));
    keys.push(seats::GUEST_SEATS.to_owned());
    keys.into_iter()
        .map(|key| {
            let used = count(conn, &key)?;
            let limit = limits.iter().find(|(k, _)| *k == key).and_then(|(_, l)| *l);
            Ok(SeatUsage { key, used, limit })
        })
        .collect()
}

/// The keys of the seats that have a limit.
pub(crate) fn limited(conn: &mut DbConn) -> Result<Vec<(String, Option<i64>)>> {
    on_backend!(conn, c => seat_usage::table
        .filter(seat_usage::seat_limit.is_not_null())
        .select((seat_usage::seat, seat_usage::seat_limit))
        .load(c))
    .db()
}

//! Seat limits (SPEC §2), enforced by the account writer in the transaction of every write of an
//! account.
//!
//! Only a seat with a limit keeps a count, and it keeps it as room left: escrow. The room (the
//! limit minus the seat's holders) is split over the seat's rows of `seat_counts` ("shards",
//! `free` each): 32 on PostgreSQL, one on SQLite. A write that takes a seat takes it from one
//! shard with room, holding only that row until it commits; a write that gives one back adds it
//! to one shard. On PostgreSQL each connection uses its own shard ([`connection_shard`]), so
//! concurrent creates under a limit do not queue on one row; a create does this inside its one
//! statement (`statements::NewAccount`). Only when its shard lacks the room does a writer hold
//! every shard of the seat, in shard order, and count the room whole: it then takes its seats and
//! spreads what is left evenly again, or fails the write with `SeatLimitReached` (which rolls
//! back). That count waits for every writer holding a shard, so of concurrent writers taking the
//! last seat exactly one finds it, and one whose transaction rolls back leaves its seat to the
//! next. SQLite runs one writer at a time, so its one row needs no more.
//!
//! Why this device: the simpler one, a single count row per seat that every writer updates and
//! holds to its commit, made PostgreSQL creates under a limit queue on that row, one commit after
//! another: `bench/ab --scenarios create --active-user-limit 10000000` fell from 3,260 to 1,610
//! creates/s. A count at each write (`SELECT count(*)` under a lock) costs milliseconds at a
//! million accounts, and SERIALIZABLE would fail and retry every concurrent writer of `users`,
//! limited or not. Seats without a limit cost writers nothing, and `GET /users/count` counts
//! holders from the rows.
//!
//! A limit lowered below the seat's holders leaves every shard at 0 and the excess as `debt` in
//! `seat_usage`; a seat given back pays the debt before any shard gains room. A writer giving a
//! seat back holds a shard before it reads the debt, and changing a limit holds every shard, so a
//! debt written by a limit change is never missed.
//!
//! A limit set where there was none starts from a count of the rows, taken while writers of
//! accounts wait ([`set_limit`]); a writer reads which seats are limited only after its own write
//! of `users`, which waited for that, so none is missed.
//!
//! Seats are taken in key order, and a writer never waits for every shard of a seat while it holds
//! a shard of another: one that would (it took a seat from its own shard, and the next seat's own
//! shard lacks the room) gives up its transaction at once as contention, and the run that retries
//! it takes every limited seat the general way, each seat's shards whole, in key order
//! ([`GENERAL_NEXT`]). So all writers lock shards in one order, (seat, shard), and cannot wait on
//! each other in a circle. (The first form let such a writer wait, holding its own shard of one
//! seat for every shard of the other; two of them, near the limits of two seats at once,
//! deadlocked, and PostgreSQL broke each deadlock only after `deadlock_timeout`, one second: 30
//! creates racing for the last seats of two limits ran past the request deadline.)

use std::{
    cell::Cell,
    collections::BTreeMap,
    hash::{BuildHasher, Hasher},
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        LazyLock,
    },
};

use chrono::Utc;
use diesel::prelude::*;
use domain::{account::Account, seats, seats::SeatUsage, Error, Result};

use super::{on_backend, Db};
use crate::{
    conn::DbConn,
    models::naive,
    schema::{guest_seats, seat_counts, seat_usage, settings, user_roles, users},
};

/// How many shards a limited seat's room is split over on PostgreSQL: more than the connections
/// that usually write at once (the pool is 2 per core + 1), so connections seldom share one.
/// SQLite: one.
pub(crate) const PG_SHARDS: i32 = 32;

/// The SQL of the connection's own shard of a limited seat on PostgreSQL, before and after the
/// bound [`PG_SHARDS`]: the shard Roster gave the connection when it opened it (the setting
/// `roster.seat_shard`, see [`connection_shard`]), or, on a connection opened otherwise, one
/// from its backend's process id. A subquery, so PostgreSQL works it out once per statement
/// (an `InitPlan`) rather than once per shard row it scans: the seats part of a create ran in
/// 31 µs with it per row, 10–20 µs with it once (`EXPLAIN ANALYZE` of the generic plan).
pub(crate) const OWN_SHARD_SQL: [&str; 2] = [
    "(SELECT coalesce(nullif(current_setting('roster.seat_shard', true), '')::int, pg_backend_pid() % ",
    "))",
];

/// The connection's own shard of a limited seat on PostgreSQL ([`OWN_SHARD_SQL`]).
macro_rules! own_shard {
    () => {
        diesel::dsl::sql::<diesel::sql_types::Integer>(OWN_SHARD_SQL[0])
            .bind::<diesel::sql_types::Integer, _>(PG_SHARDS)
            .sql(OWN_SHARD_SQL[1])
    };
}

/// The shard a new PostgreSQL connection of this process takes its seats from: the next in turn,
/// from a random start (replicas start apart), so a process's connections share no shard until it
/// has more than 32. The first form, `pg_backend_pid() % 32`, let two of the pool's five
/// connections share one in about one start in four (1 − 31·30·29·28 / 32⁴), and two connections
/// on one shard take their seats one after the other, each waiting for the other's commit.
pub(crate) fn connection_shard() -> i32 {
    static NEXT: LazyLock<AtomicU32> = LazyLock::new(|| {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        AtomicU32::new(random as u32)
    });
    (NEXT.fetch_add(1, Ordering::Relaxed) % PG_SHARDS as u32) as i32
}

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
        .select(seat_usage::seat)
        .load(c))
    .db()?;
    let moves: Vec<(String, i64)> = moves
        .into_iter()
        .filter(|(seat, _)| limited.contains(seat))
        .collect();
    move_seats(conn, &moves, false)
}

thread_local! {
    /// Set when a writer gave up its transaction rather than wait for every shard of a seat while
    /// holding a shard of another: the retry, on the same database thread, takes its seats the
    /// general way from the start (see the module's doc).
    static GENERAL_NEXT: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread's next write takes its seats the general way (a retry, see
/// [`GENERAL_NEXT`]); a PostgreSQL create then takes none in its statement.
pub(crate) fn general_next() -> bool {
    GENERAL_NEXT.get()
}

/// Takes (`n` > 0) or gives back (`n` < 0) each of `moves`, in key order: from or to the
/// connection's own shard when it has the room, else from every shard of the seat counted whole,
/// but never while holding another seat's shard (`held`: the write holds one already) — the
/// transaction then ends as contention, to be retried the general way.
fn move_seats(conn: &mut DbConn, moves: &[(String, i64)], mut held: bool) -> Result<()> {
    let general = GENERAL_NEXT.replace(false);
    for (seat, n) in moves {
        if *n < 0 {
            give_back(conn, seat, -n)?;
        } else if general || !take_own(conn, seat, *n)? {
            if held && !general && matches!(conn, DbConn::Pg(_)) {
                GENERAL_NEXT.set(true);
                return Err(Error::Contention);
            }
            take_from_all(conn, seat, *n)?;
        }
        held = true;
    }
    Ok(())
}

/// Takes `n` of a limited seat from the connection's own shard, if it has the room; whether it
/// did.
fn take_own(conn: &mut DbConn, seat: &str, n: i64) -> Result<bool> {
    let room = seat_counts::table
        .filter(seat_counts::seat.eq(seat))
        .filter(seat_counts::free.ge(n));
    let taken = match conn {
        DbConn::Pg(c) => diesel::update(room.filter(seat_counts::shard.eq(own_shard!())))
            .set(seat_counts::free.eq(seat_counts::free - n))
            .execute(c),
        DbConn::Sqlite(c) => diesel::update(room)
            .set(seat_counts::free.eq(seat_counts::free - n))
            .execute(c),
    }
    .db()?;
    Ok(taken == 1)
}

/// Holds every shard of the seat, counts its room, and takes `n` from it, spreading the rest over
/// the shards again; or refuses with the seat's figures.
fn take_from_all(conn: &mut DbConn, seat: &str, n: i64) -> Result<()> {
    let shards = hold_shards(conn, seat)?;
    let Some((limit, debt)) = limit_and_debt(conn, seat)? else {
        return Ok(()); // the limit is gone
    };
    let room = shards.iter().map(|(_, free)| free).sum::<i64>() - debt;
    if room < n {
        return Err(Error::SeatLimitReached {
            seat: seats::seat_name(seat).to_owned(),
            limit,
            used: limit - room,
            requested: n,
        });
    }
    spread(conn, seat, &shards, debt, room - n)
}

/// Gives `n` of a limited seat back: to a shard, then, if a limit was lowered below the seat's
/// holders, from that shard to the debt.
fn give_back(conn: &mut DbConn, seat: &str, n: i64) -> Result<()> {
    // Holding a shard first means a limit change (which holds every shard) has either committed
    // its debt, read below, or waits for this transaction.
    let seat_rows = seat_counts::table.filter(seat_counts::seat.eq(seat));
    let shard: i32 = match conn {
        DbConn::Pg(c) => diesel::update(seat_rows.filter(seat_counts::shard.eq(own_shard!())))
            .set(seat_counts::free.eq(seat_counts::free + n))
            .returning(seat_counts::shard)
            .get_result(c),
        DbConn::Sqlite(c) => diesel::update(seat_rows)
            .set(seat_counts::free.eq(seat_counts::free + n))
            .execute(c)
            .map(|_| 0),
    }
    .db()?;
    let debt = seat_usage::table.find(seat).select(seat_usage::debt);
    let debt: i64 = match conn {
        DbConn::Pg(c) => {
            if debt.first::<i64>(c).db()? == 0 {
                return Ok(());
            }
            // Held to the commit, so seats given back at once pay a debt once.
            debt.for_update().first(c)
        }
        DbConn::Sqlite(c) => debt.first(c),
    }
    .db()?;
    if debt == 0 {
        return Ok(());
    }
    let paid = debt.min(n);
    on_backend!(conn, c => diesel::update(seat_usage::table.find(seat))
        .set(seat_usage::debt.eq(seat_usage::debt - paid))
        .execute(c))
    .db()?;
    on_backend!(conn, c => diesel::update(seat_counts::table.find((seat, shard)))
        .set(seat_counts::free.eq(seat_counts::free - paid))
        .execute(c))
    .db()?;
    Ok(())
}

/// Every shard of the seat and its room, held until the transaction ends, in shard order.
fn hold_shards(conn: &mut DbConn, seat: &str) -> Result<Vec<(i32, i64)>> {
    let shards = seat_counts::table
        .filter(seat_counts::seat.eq(seat))
        .order(seat_counts::shard)
        .select((seat_counts::shard, seat_counts::free));
    match conn {
        DbConn::Pg(c) => shards.for_update().load(c),
        DbConn::Sqlite(c) => shards.load(c),
    }
    .db()
}

/// The seat's limit and debt; `None` when it has no limit (any more: a limit removed since the
/// caller's statement began).
fn limit_and_debt(conn: &mut DbConn, seat: &str) -> Result<Option<(i64, i64)>> {
    let found: Option<(Option<i64>, i64)> = on_backend!(conn, c => seat_usage::table
        .find(seat)
        .select((seat_usage::seat_limit, seat_usage::debt))
        .first(c)
        .optional())
    .db()?;
    Ok(found.and_then(|(limit, debt)| Some((limit?, debt))))
}

/// Writes `room` (the limit minus the holders) over held `shards` evenly, or, when it is below 0,
/// every shard at 0 and the excess as debt.
fn spread(
    conn: &mut DbConn,
    seat: &str,
    shards: &[(i32, i64)],
    debt_before: i64,
    room: i64,
) -> Result<()> {
    let count = i64::try_from(shards.len()).unwrap_or(i64::MAX);
    if count == 0 {
        return Err(Error::Internal(format!("the seat {seat} has no shards")));
    }
    let (debt, room) = if room < 0 { (-room, 0) } else { (0, room) };
    for (i, (shard, free)) in (0..).zip(shards) {
        let share = room / count + i64::from(i < room % count);
        if share != *free {
            on_backend!(conn, c => diesel::update(seat_counts::table.find((seat, shard)))
                .set(seat_counts::free.eq(share))
                .execute(c))
            .db()?;
        }
    }
    if debt != debt_before {
        on_backend!(conn, c => diesel::update(seat_usage::table.find(seat))
            .set(seat_usage::debt.eq(debt))
            .execute(c))
        .db()?;
    }
    Ok(())
}

/// Whether the last create on PostgreSQL found seat limits: the next one then takes its seats
/// inside its statement (see `statements::NewAccount`). A hint only: a create that guessed wrong
/// takes its seats in the general way, or took none because none was limited.
static LIMITS_SEEN: AtomicBool = AtomicBool::new(false);

pub(crate) fn limits_seen() -> bool {
    LIMITS_SEEN.load(Ordering::Relaxed)
}

/// Completes a PostgreSQL create from its statement's answer: the limited seats' keys, then, if it
/// took seats itself, `|` and those it took. A limited seat of the account's not taken so is
/// taken in the general way. `None` (no settings row) takes every seat in the general way.
pub(crate) fn after_create(
    conn: &mut DbConn,
    account: &Account,
    taken: &[String],
    answer: Option<&str>,
) -> Result<()> {
    let Some(answer) = answer else {
        return apply(conn, &[(None, Some(account))]);
    };
    let (limited, took) = answer.split_once('|').unwrap_or((answer, ""));
    LIMITS_SEEN.store(!limited.is_empty(), Ordering::Relaxed);
    let limited: Vec<&str> = limited.split(',').filter(|s| !s.is_empty()).collect();
    let took: Vec<&str> = took.split(',').filter(|s| !s.is_empty()).collect();
    let left: Vec<(String, i64)> = taken
        .iter()
        .filter(|seat| limited.contains(&seat.as_str()) && !took.contains(&seat.as_str()))
        .map(|seat| (seat.clone(), 1))
        .collect();
    move_seats(conn, &left, !took.is_empty())
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
/// had none starts from a count of the rows, while writers of accounts wait (PostgreSQL: `users`
/// and `guest_seats` locked against writes until the transaction ends; SQLite: the write lock); a
/// changed limit holds every shard and spreads the new room.
pub(crate) fn set_limit(conn: &mut DbConn, seat: &str, limit: Option<i64>) -> Result<()> {
    let read = |conn: &mut DbConn| {
        on_backend!(conn, c => seat_usage::table
            .find(seat)
            .select(seat_usage::seat_limit)
            .first::<Option<i64>>(c)
            .optional())
        .db()
        .map(Option::flatten)
    };
    let mut stored = read(conn)?;
    if let (None, Some(_), DbConn::Pg(c)) = (stored, limit, &mut *conn) {
        diesel::sql_query("LOCK TABLE users, guest_seats IN SHARE ROW EXCLUSIVE MODE")
            .execute(c)
            .db()?;
        stored = read(conn)?; // another replica may have set it meanwhile
    }
    match (stored, limit) {
        (None, None) => return Ok(()),
        (Some(old), Some(new)) if old == new => return Ok(()),
        (Some(_), None) => {
            on_backend!(conn, c => diesel::delete(seat_counts::table.filter(seat_counts::seat.eq(seat))).execute(c))
                .db()?;
            on_backend!(conn, c => diesel::delete(seat_usage::table.find(seat)).execute(c)).db()?;
        }
        (Some(old), Some(new)) => {
            let shards = hold_shards(conn, seat)?;
            let (_, debt) = limit_and_debt(conn, seat)?
                .ok_or_else(|| Error::Internal(format!("the seat {seat} lost its limit")))?;
            let used = old - shards.iter().map(|(_, free)| free).sum::<i64>() + debt;
            on_backend!(conn, c => diesel::update(seat_usage::table.find(seat))
                .set(seat_usage::seat_limit.eq(new))
                .execute(c))
            .db()?;
            spread(conn, seat, &shards, debt, new - used)?;
        }
        (None, Some(new)) => {
            let used = count(conn, seat)?;
            on_backend!(conn, c => diesel::insert_into(seat_usage::table)
                .values((seat_usage::seat.eq(seat), seat_usage::seat_limit.eq(new), seat_usage::debt.eq(0)))
                .execute(c))
            .db()?;
            let n = match conn {
                DbConn::Pg(_) => PG_SHARDS,
                DbConn::Sqlite(_) => 1,
            };
            let shards: Vec<(i32, i64)> = (0..n).map(|shard| (shard, 0)).collect();
            let rows: Vec<_> = shards
                .iter()
                .map(|(shard, free)| {
                    (
                        seat_counts::seat.eq(seat),
                        seat_counts::shard.eq(*shard),
                        seat_counts::free.eq(*free),
                    )
                })
                .collect();
            on_backend!(conn, c => diesel::insert_into(seat_counts::table).values(&rows).execute(c))
                .db()?;
            spread(conn, seat, &shards, 0, new - used)?;
        }
    }
    // The keys where a create reads them (`statements::NewAccount`).
    let keys: Vec<String> = on_backend!(conn, c => seat_usage::table
        .select(seat_usage::seat)
        .order(seat_usage::seat)
        .load(c))
    .db()?;
    on_backend!(conn, c => diesel::update(settings::table.find(1))
        .set(settings::seat_limits.eq(keys.join(",")))
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

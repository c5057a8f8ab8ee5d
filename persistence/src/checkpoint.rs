//! SQLite WAL checkpoints on a thread of their own. By default the writer whose commit takes the
//! WAL past 1,000 pages copies them into the database file and fsyncs it, inside its turn: every
//! writer queued behind it waits (a tenth of a create's time, measured). Roster turns that off
//! (`wal_autocheckpoint = 0` on its connections) and checkpoints here instead, PASSIVE, while
//! writers and readers carry on. The WAL only starts over from its beginning when a writer begins
//! while every frame is already copied back, so once it is long enough the thread copies the last
//! few frames again holding Roster's writer lock: the next writer then restarts it.

use std::{
    sync::{Arc, Mutex, Weak},
    thread,
    time::Duration,
};

use diesel::{sql_query, sql_types::BigInt, QueryableByName, RunQueryDsl, SqliteConnection};

use crate::conn::{DbConn, Manager};

/// How often the WAL is copied back (the WAL holds at most this long's writes, plus whatever
/// readers still use).
const INTERVAL: Duration = Duration::from_millis(250);
/// A WAL this long (4 KiB pages) is restarted.
const RESTART_PAGES: i64 = 2_000;

#[derive(QueryableByName)]
struct Checkpoint {
    #[diesel(sql_type = BigInt)]
    log: i64,
}

/// Starts the checkpointer, connecting as the pool does (`manager`, a SQLite one); it stops once
/// `alive` is dropped. `writer` is the lock Roster's writers take before `BEGIN IMMEDIATE` (it holds their
/// connection).
pub(crate) fn start<W: Send + 'static>(manager: Manager, alive: &Arc<()>, writer: Arc<Mutex<W>>) {
    let alive: Weak<()> = Arc::downgrade(alive);
    let spawned = thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&manager, &alive, &writer));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no checkpoint thread; the WAL grows until restart");
    }
}

fn run<W>(manager: &Manager, alive: &Weak<()>, writer: &Mutex<W>) {
    let mut conn: Option<SqliteConnection> = None;
    while alive.strong_count() > 0 {
        thread::sleep(INTERVAL);
        if conn.is_none() {
            conn = match manager.open() {
                Ok(DbConn::Sqlite(c)) => Some(c),
                Ok(DbConn::Pg(_)) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "checkpoint: cannot open the database");
                    None
                }
            };
        }
        let Some(c) = conn.as_mut() else { continue };
        // With nothing new in the WAL this is cheap; PASSIVE never waits for readers or writers.
        // Each pass copies what the previous one left behind (frames written meanwhile), so the
        // pass under the writer lock is short.
        let done = checkpoint(c).and_then(|pages| {
            if pages < RESTART_PAGES {
                return Ok(pages);
            }
            checkpoint(c)?;
            let _turn = writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            checkpoint(c)
        });
        match done {
            Ok(pages) => tracing::trace!(pages, "checkpoint"),
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint failed");
                conn = None;
            }
        }
    }
}

/// A PASSIVE checkpoint; returns the WAL's length in pages.
fn checkpoint(c: &mut SqliteConnection) -> diesel::QueryResult<i64> {
    Ok(sql_query("PRAGMA wal_checkpoint(PASSIVE)")
        .get_result::<Checkpoint>(c)?
        .log)
}

//! An unreachable database costs a request at most its deadline, however many requests there are
//! (SPEC §10), and Roster starts while the database is down:
//! - the thread running a request's database step knows the step's deadline
//!   ([`within_deadline`]): waiting for a pooled connection stops then;
//! - once every connection is lost and connecting fails (a stopped or unreachable database), steps
//!   fail at once instead of each waiting for a connection that will not come
//!   ([`Health::lost`]);
//! - until the database has been reached once, migrated and its secret key checked, every step
//!   fails at once ([`Health::ready`]); a thread keeps trying in the background.

use std::{
    cell::Cell,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex, PoisonError,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `work` with `deadline` as the time by which this thread's database work must be done:
/// waiting for a connection stops then, and the request answers 503.
pub fn within_deadline<T>(deadline: Instant, work: impl FnOnce() -> T) -> T {
    let outer = DEADLINE.with(|d| d.replace(Some(deadline)));
    let out = work();
    DEADLINE.with(|d| d.set(outer));
    out
}

/// How long this thread may still wait for a connection: until its deadline, if it has one, and
/// no longer than `limit`.
pub(crate) fn wait_allowed(limit: Duration) -> Duration {
    DEADLINE.with(Cell::get).map_or(limit, |d| {
        d.saturating_duration_since(Instant::now()).min(limit)
    })
}

/// Failures within this long of each other count as the database being lost.
const RECENT: Duration = Duration::from_secs(2);

/// What the pool knows of the database's health, shared by its clones.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Migrated and checked: requests may use it.
    ready: AtomicBool,
    /// When connecting last failed, in milliseconds since the epoch (0: never).
    last_failure_ms: AtomicU64,
    /// Why bring-up gave up for good, if it did.
    fatal: Mutex<Option<String>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Health {
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Records a failed attempt to connect (or a pooled connection found dead). Logs the first of
    /// a run of failures, not every retry.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        let now = now_ms();
        let before = self.last_failure_ms.swap(now, Ordering::Relaxed);
        if now.saturating_sub(before) > 10 * RECENT.as_millis() as u64 {
            tracing::warn!(%error, "cannot reach the database; requests answer 503 until it answers");
        }
    }

    /// Whether connecting failed recently: with no connection left in the pool, there is no point
    /// in waiting for one.
    pub fn failing(&self) -> bool {
        now_ms().saturating_sub(self.last_failure_ms.load(Ordering::Relaxed))
            < RECENT.as_millis() as u64
    }

    pub fn set_fatal(&self, why: String) {
        *self.fatal.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
    }

    pub fn fatal(&self) -> Option<String> {
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Why bringing the database up did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BringUpError {
    /// It cannot be reached now; try again later.
    Unreachable(String),
    /// It was reached, and something is wrong that waiting will not mend (a migration failed; the
    /// secret key differs from the one it was first used with).
    Fatal(String),
}

impl std::fmt::Display for BringUpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BringUpError::Unreachable(why) | BringUpError::Fatal(why) => f.write_str(why),
        }
    }
}

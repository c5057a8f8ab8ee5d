//! The runtime the use cases' steps run on ([`domain::runtime::Runtime`]): database steps on the
//! database threads under the request's deadline, password hashing on the hashing threads, each
//! queue bounded (SPEC §4, §10).

use std::{future::ready, time::Duration};

use actix_web::rt::time::timeout;
use domain::{
    runtime::{Job, Pending, Runtime},
    Error,
};

use crate::blocking::{Full, Outcome, Pool, PoolUse};

/// The database and hashing threads.
pub struct Threads {
    database: Pool,
    hashing: Pool,
    /// How long a database step may take from the moment it is queued: past it the request
    /// answers 503, whether the step waited for a thread, for a connection, or on a database
    /// that stopped answering (`ROSTER_DATABASE_TIMEOUT_SECS`).
    deadline: Duration,
}

/// What the two pools are doing, for monitoring.
#[derive(Debug, Clone, Copy)]
pub struct ThreadsUse {
    pub database: PoolUse,
    pub hashing: PoolUse,
}

impl Threads {
    /// A database step that must be done `allowed` after it is queued.
    fn database_within(&self, job: Job, allowed: Duration) -> Pending {
        let deadline = std::time::Instant::now() + allowed;
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            span.in_scope(|| persistence::within_deadline(deadline, job));
        });
        match self.database.submit(job, Some(deadline)) {
            Err(Full) => Box::pin(ready(Err(Error::Overloaded))),
            // The deadline holds even if the step is stuck on a database that stopped answering:
            // the request answers 503 then, and the step's thread is freed when it answers.
            Ok(done) => Box::pin(async move {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                answer(timeout(left, done).await)
            }),
        }
    }

    pub fn new(database: Pool, hashing: Pool, deadline: Duration) -> Self {
        Self {
            database,
            hashing,
            deadline,
        }
    }

    pub fn usage(&self) -> ThreadsUse {
        ThreadsUse {
            database: self.database.usage(),
            hashing: self.hashing.usage(),
        }
    }
}

fn answer(outcome: Result<Result<Outcome, impl Sized>, impl Sized>) -> domain::Result<()> {
    match outcome {
        Ok(Ok(Outcome::Ran)) => Ok(()),
        Ok(Ok(Outcome::Expired)) | Err(_) => Err(Error::Unavailable),
        Ok(Err(_)) => Err(Error::Internal(
            "a step ended without an answer (it panicked)".into(),
        )),
    }
}

impl Runtime for Threads {
    fn database(&self, job: Job) -> Pending {
        self.database_within(job, self.deadline)
    }

    fn long_database(&self, job: Job, allowed: Duration) -> Pending {
        self.database_within(job, allowed)
    }

    fn hashing(&self, job: Job) -> Pending {
        let span = tracing::Span::current();
        let job: Job = Box::new(move || span.in_scope(job));
        match self.hashing.submit(job, None) {
            Err(Full) => Box::pin(ready(Err(Error::TooManyRequests))),
            Ok(done) => Box::pin(async move { answer(Ok::<_, ()>(done.await)) }),
        }
    }
}

/// Asks background work (the outbox worker) to finish what it is doing and stop: set once the
/// server has stopped taking requests ([`crate::app`], graceful shutdown).
#[derive(Clone, Default)]
pub struct Stopping(std::sync::Arc<(std::sync::atomic::AtomicBool, tokio::sync::Notify)>);

impl Stopping {
    pub fn set(&self) {
        self.0 .0.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.0 .0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits `pause`, or less if stopping is set meanwhile.
    pub async fn wait_at_most(&self, pause: Duration) {
        let notified = self.0 .1.notified();
        if self.is_set() {
            return;
        }
        drop(timeout(pause, notified).await);
    }
}

//! Where a use case's steps run. A use case says itself which of its steps hash a password and
//! which use the database; the runtime (the API's thread pools) runs each kind on threads of its
//! own, so a storm of sign-ins queues for hashing without holding up anyone's database work
//! (SPEC §4), and neither waits without bound (SPEC §10).

use std::{future::Future, pin::Pin, time::Duration};

use crate::Result;

/// One step of a use case, run to completion on a runtime's thread.
pub type Job = Box<dyn FnOnce() + Send>;

/// Resolves once a job has run, or with the reason it will not run.
pub type Pending = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// Runs the steps of use cases. Both queues are bounded:
/// - [`Runtime::database`]: a job that does not fit the queue is refused at once
///   (`Error::Overloaded`, 503); one not finished by the request's deadline is answered
///   `Error::Unavailable` (503) when the deadline passes, and is not run if it has not started.
/// - [`Runtime::hashing`]: a job that does not fit the queue is refused at once
///   (`Error::TooManyRequests`, 429).
pub trait Runtime: Send + Sync {
    fn database(&self, job: Job) -> Pending;
    /// [`Runtime::database`] for a step allowed `allowed` rather than a request's deadline (an
    /// import of a large file).
    fn long_database(&self, job: Job, allowed: Duration) -> Pending;
    fn hashing(&self, job: Job) -> Pending;
}

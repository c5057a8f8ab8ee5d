//! Runs synchronous work (diesel, argon2) off the request threads, inside the caller's span, so no
//! request thread ever waits on the database or on a password hash.
//!
//! Database work runs on actix's blocking pool (sized in `app`). Work that hashes a password runs
//! on [`HashingPool`], threads of its own: a storm of sign-ins then queues there and never holds
//! the threads every other request's database work needs.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{mpsc, Arc, Mutex},
    thread,
};

use actix_web::web;
use tracing::Instrument as _;

use crate::error::{ApiError, ErrorCode};

fn failed(what: &str) -> ApiError {
    tracing::error!("{what}");
    ApiError::new(ErrorCode::InternalError, "the error has been logged")
}

pub async fn run<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> domain::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    web::block(move || span.in_scope(work))
        .in_current_span()
        .await
        .map_err(|e| failed(&format!("blocking task failed: {e}")))?
        .map_err(ApiError::from)
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads (one per core) for work that hashes passwords: argon2 takes tens of
/// milliseconds of CPU and 19 MiB per hash, so no more hashes run at once than there are cores, and
/// the rest wait their turn in the queue.
pub struct HashingPool {
    jobs: mpsc::Sender<Job>,
}

impl HashingPool {
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("roster-hash-{i}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job, not while running it.
                    let next = queue.lock().map(|q| q.recv());
                    let Ok(Ok(job)) = next else { return };
                    // A panicking job loses its answer (the caller gets a 500), not the thread.
                    let _ = catch_unwind(AssertUnwindSafe(job));
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on one of the pool's threads, once one is free.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> domain::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let span = tracing::Span::current();
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(span.in_scope(work));
        });
        self.jobs
            .send(job)
            .map_err(|_| failed("the hashing threads have stopped"))?;
        answered
            .await
            .map_err(|_| failed("a hashing job ended without an answer"))?
            .map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn runs_work_and_survives_a_panicking_job() {
        let pool = HashingPool::new(1).unwrap();
        assert_eq!(pool.run(|| Ok(41 + 1)).await.unwrap(), 42);
        let panicked = pool.run(|| -> domain::Result<u8> { panic!("boom") }).await;
        assert!(panicked.is_err());
        assert_eq!(pool.run(|| Ok("still here")).await.unwrap(), "still here");
    }

    #[actix_web::test]
    async fn runs_no_more_jobs_at_once_than_it_has_threads() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let pool = Arc::new(HashingPool::new(2).unwrap());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                let pool = pool.clone();
                actix_web::rt::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, SeqCst);
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        for job in jobs {
            assert!(job.await.unwrap().is_ok());
        }
        assert_eq!(most.load(SeqCst), 2);
    }
}

//! Runs synchronous work (diesel, argon2) off the request threads, inside the caller's span, so no
//! request thread ever waits on the database or on a password hash.
//!
//! Each kind of work has a [`Pool`] of its own threads (sized in `app`). Database work: one queue
//! shared by every HTTP worker, served in order. Work that hashes a password: a storm of sign-ins
//! queues there and never holds the threads every other request's database work needs.

use std::{
    collections::VecDeque,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{Arc, Condvar, Mutex, PoisonError},
    thread,
};

use crate::error::{ApiError, ErrorCode};

fn failed(what: &str) -> ApiError {
    tracing::error!("{what}");
    ApiError::new(ErrorCode::InternalError, "the error has been logged")
}

type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    /// Signalled once per job queued: wakes one idle thread, if any.
    queued: Condvar,
}

/// A fixed set of threads taking jobs from one queue, first come first served.
///
/// For database work this replaced actix's blocking pool, which is one per HTTP worker: with two
/// queues of two threads each, a job could wait behind its own worker's while the other worker's
/// threads sat idle. One queue for the same four threads: PostgreSQL `read` p99 10.0 → 6.8 ms and
/// `list` p99 12.0 → 8.8 ms at about the same throughput; SQLite `read` 19,933 → 24,688/s (p99
/// 4.5 → 3.1 ms); `list_deep` within the noise on both, 4–8 % lower on SQLite (`bench/ab`,
/// 100,000 accounts; bench/README.md).
pub struct Pool {
    queue: Arc<Queue>,
    name: &'static str,
}

impl Pool {
    /// Starts `threads` threads (at least one) named `roster-<name>-<i>`.
    pub fn new(name: &'static str, threads: usize) -> std::io::Result<Self> {
        let queue = Arc::new(Queue {
            jobs: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
        });
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("roster-{name}-{i}"))
                .spawn(move || loop {
                    // The lock is held only while taking the next job, never while running it.
                    let job = {
                        let mut jobs = queue.jobs.lock().unwrap_or_else(PoisonError::into_inner);
                        loop {
                            match jobs.pop_front() {
                                Some(job) => break job,
                                None => {
                                    jobs = queue
                                        .queued
                                        .wait(jobs)
                                        .unwrap_or_else(PoisonError::into_inner)
                                }
                            }
                        }
                    };
                    // A panicking job loses its answer (the caller gets a 500), not the thread.
                    let _ = catch_unwind(AssertUnwindSafe(job));
                })?;
        }
        Ok(Self { queue, name })
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
        self.queue
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(job);
        self.queue.queued.notify_one();
        answered
            .await
            .map_err(|_| failed(&format!("a {} job ended without an answer", self.name)))?
            .map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn runs_work_and_survives_a_panicking_job() {
        let pool = Pool::new("test", 1).unwrap();
        assert_eq!(pool.run(|| Ok(41 + 1)).await.unwrap(), 42);
        let panicked = pool.run(|| -> domain::Result<u8> { panic!("boom") }).await;
        assert!(panicked.is_err());
        assert_eq!(pool.run(|| Ok("still here")).await.unwrap(), "still here");
    }

    #[actix_web::test]
    async fn runs_no_more_jobs_at_once_than_it_has_threads() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let pool = Arc::new(Pool::new("test", 2).unwrap());
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

//! Bounded thread pools for synchronous work (diesel, argon2), so no request thread ever waits on
//! the database or on a password hash, and nothing waits without bound.
//!
//! Each kind of work has a [`Pool`] of its own threads (sized in `app`). Database work: one queue
//! shared by every HTTP worker, served in order. Password hashing: a storm of sign-ins queues there
//! and never holds the threads every other request's database work needs. A queue holds at most
//! its capacity: past it, a job is refused at once (the request answers 503 or 429, not a wait).

use std::{
    collections::VecDeque,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Condvar, Mutex, PoisonError,
    },
    thread,
    time::Instant,
};

use tokio::sync::oneshot;

/// A job's work.
pub type Job = Box<dyn FnOnce() + Send>;

/// How a queued job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ran,
    /// Its deadline passed while it waited in the queue: it was not run.
    Expired,
}

/// The queue was full: the job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// How long a thread of [`Pool::with_idle`] waits without a job before it counts as idle.
pub const IDLE: std::time::Duration = std::time::Duration::from_secs(1);

struct Queued {
    job: Job,
    deadline: Option<Instant>,
    done: oneshot::Sender<Outcome>,
}

struct Queue {
    jobs: Mutex<VecDeque<Queued>>,
    /// Signalled once per job queued: wakes one idle thread, if any.
    queued: Condvar,
    running: AtomicUsize,
}

/// A fixed set of threads taking jobs from one bounded queue, first come first served.
///
/// For database work this replaced actix's blocking pool, which is one per HTTP worker: with two
/// queues of two threads each, a job could wait behind its own worker's while the other worker's
/// threads sat idle. One queue for the same four threads: PostgreSQL `read` p99 10.0 → 6.8 ms and
/// `list` p99 12.0 → 8.8 ms at about the same throughput; SQLite `read` 19,933 → 24,688/s (p99
/// 4.5 → 3.1 ms); `list_deep` within the noise on both, 4–8 % lower on SQLite (`bench/ab`,
/// 100,000 accounts; bench/README.md).
pub struct Pool {
    queue: Arc<Queue>,
    threads: usize,
    capacity: usize,
}

/// What a pool is doing, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub threads: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs waiting for a thread.
    pub waiting: usize,
    /// The most jobs that may wait.
    pub capacity: usize,
}

impl Pool {
    /// Starts `threads` threads (at least one) named `roster-<name>-<i>`, taking jobs from a queue
    /// of at most `capacity` waiting jobs (at least one).
    pub fn new(name: &str, threads: usize, capacity: usize) -> std::io::Result<Self> {
        Self::with_idle(name, threads, capacity, None)
    }

    /// As [`Pool::new`], and each thread runs `on_idle` once when it has waited [`IDLE`] for a job
    /// after its last one (the hashing threads hand their memory back then).
    pub fn with_idle(
        name: &str,
        threads: usize,
        capacity: usize,
        on_idle: Option<fn()>,
    ) -> std::io::Result<Self> {
        let queue = Arc::new(Queue {
            jobs: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
            running: AtomicUsize::new(0),
        });
        let threads = threads.max(1);
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("roster-{name}-{i}"))
                .spawn(move || {
                    let mut rested = true;
                    loop {
                        // The lock is held only while taking the next job, never while running it.
                        let next = {
                            let mut jobs =
                                queue.jobs.lock().unwrap_or_else(PoisonError::into_inner);
                            loop {
                                match jobs.pop_front() {
                                    Some(next) => break next,
                                    None => match on_idle.filter(|_| !rested) {
                                        Some(idle) => {
                                            let (waited, timeout) = queue
                                                .queued
                                                .wait_timeout(jobs, IDLE)
                                                .unwrap_or_else(PoisonError::into_inner);
                                            jobs = waited;
                                            if timeout.timed_out() && jobs.is_empty() {
                                                idle();
                                                rested = true;
                                            }
                                        }
                                        None => {
                                            jobs = queue
                                                .queued
                                                .wait(jobs)
                                                .unwrap_or_else(PoisonError::into_inner)
                                        }
                                    },
                                }
                            }
                        };
                        rested = false;
                        if next.deadline.is_some_and(|d| Instant::now() >= d) {
                            let _ = next.done.send(Outcome::Expired);
                            continue;
                        }
                        queue.running.fetch_add(1, Ordering::Relaxed);
                        // A panicking job loses its answer (the caller gets a 500), not the thread.
                        let ran = catch_unwind(AssertUnwindSafe(next.job));
                        queue.running.fetch_sub(1, Ordering::Relaxed);
                        if ran.is_ok() {
                            let _ = next.done.send(Outcome::Ran);
                        }
                    }
                })?;
        }
        Ok(Self {
            queue,
            threads,
            capacity: capacity.max(1),
        })
    }

    /// Queues `job` to run on one of the pool's threads, unless `deadline` has passed by then.
    /// The receiver answers how it ended; it is dropped unanswered if the job panicked.
    pub fn submit(
        &self,
        job: Job,
        deadline: Option<Instant>,
    ) -> Result<oneshot::Receiver<Outcome>, Full> {
        let (done, answered) = oneshot::channel();
        {
            let mut jobs = self
                .queue
                .jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if jobs.len() >= self.capacity {
                return Err(Full);
            }
            jobs.push_back(Queued {
                job,
                deadline,
                done,
            });
        }
        self.queue.queued.notify_one();
        Ok(answered)
    }

    pub fn usage(&self) -> PoolUse {
        PoolUse {
            threads: self.threads,
            running: self.queue.running.load(Ordering::Relaxed),
            waiting: self
                .queue
                .jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::mpsc, time::Duration};

    use super::*;

    #[actix_web::test]
    async fn an_idle_thread_runs_its_idle_work_once_per_rest() {
        static IDLED: AtomicUsize = AtomicUsize::new(0);
        fn idle() {
            IDLED.fetch_add(1, Ordering::SeqCst);
        }
        let pool = Pool::with_idle("test", 1, 8, Some(idle)).unwrap();
        actix_web::rt::time::sleep(IDLE * 2).await;
        assert_eq!(
            IDLED.load(Ordering::SeqCst),
            0,
            "nothing to release before any job"
        );
        let ran = pool.submit(Box::new(|| {}), None).unwrap();
        assert_eq!(ran.await, Ok(Outcome::Ran));
        actix_web::rt::time::sleep(IDLE / 2).await;
        assert_eq!(IDLED.load(Ordering::SeqCst), 0, "not idle yet");
        actix_web::rt::time::sleep(IDLE * 2).await;
        assert_eq!(IDLED.load(Ordering::SeqCst), 1, "once after the job");
    }

    #[actix_web::test]
    async fn runs_work_and_survives_a_panicking_job() {
        let pool = Pool::new("test", 1, 8).unwrap();
        let (tx, rx) = mpsc::channel();
        let outcome = pool
            .submit(Box::new(move || tx.send(42).unwrap()), None)
            .unwrap();
        assert_eq!(outcome.await, Ok(Outcome::Ran));
        assert_eq!(rx.recv().unwrap(), 42);
        let panicked = pool.submit(Box::new(|| panic!("boom")), None).unwrap();
        assert!(
            panicked.await.is_err(),
            "no answer from a job that panicked"
        );
        let after = pool.submit(Box::new(|| {}), None).unwrap();
        assert_eq!(after.await, Ok(Outcome::Ran), "the thread survived");
    }

    #[actix_web::test]
    async fn runs_no_more_jobs_at_once_than_it_has_threads() {
        use std::sync::atomic::AtomicUsize;
        let pool = Pool::new("test", 2, 16).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let outcomes: Vec<_> = (0..8)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                pool.submit(
                    Box::new(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    }),
                    None,
                )
                .unwrap()
            })
            .collect();
        for outcome in outcomes {
            assert_eq!(outcome.await, Ok(Outcome::Ran));
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[actix_web::test]
    async fn a_full_queue_refuses_at_once_and_a_late_job_is_not_run() {
        let pool = Pool::new("test", 1, 2).unwrap();
        let (release, hold) = mpsc::channel::<()>();
        let (started, has_started) = mpsc::channel::<()>();
        let blocker = pool
            .submit(
                Box::new(move || {
                    started.send(()).unwrap();
                    hold.recv().unwrap();
                }),
                None,
            )
            .unwrap();
        has_started.recv().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let late = pool
            .submit(
                Box::new(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                }),
                Some(Instant::now() + Duration::from_millis(10)),
            )
            .unwrap();
        let waiting = pool.submit(Box::new(|| {}), None).unwrap();
        assert_eq!(
            pool.usage(),
            PoolUse {
                threads: 1,
                running: 1,
                waiting: 2,
                capacity: 2
            }
        );
        assert_eq!(pool.submit(Box::new(|| {}), None).err(), Some(Full));
        thread::sleep(Duration::from_millis(20));
        release.send(()).unwrap();
        assert_eq!(blocker.await, Ok(Outcome::Ran));
        assert_eq!(late.await, Ok(Outcome::Expired));
        assert_eq!(waiting.await, Ok(Outcome::Ran));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the late job was not run");
    }
}

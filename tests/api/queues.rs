//! The database and hashing queues are bounded (SPEC §4, §10): past the bound a request is
//! answered at once, 503 `overloaded` (database) or 429 `too_many_requests` (hashing), with
//! `Retry-After`, never an unbounded wait or unbounded memory.

use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{Db, TestApp, PASSWORD};

both! {
    async fn a_full_hashing_queue_answers_429_at_once(app: TestApp) {
        // This app's own, with room for one waiting hash.
        let app = TestApp::spawn_with(app.db, |c| c.hashing_queue = 1).await;
        app.admin().await;
        let replies = join_all((0..30).map(|_| app.login("admin", PASSWORD))).await;
        let refused: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
        assert!(!refused.is_empty(), "30 sign-ins at once, room for a few: some are refused");
        for r in &refused {
            r.problem(429, "too_many_requests");
            assert!(r.headers.contains_key("retry-after"), "{r:?}");
        }
        assert!(replies.iter().all(|r| r.status == 200 || r.status == 429), "{replies:?}");
        app.login("admin", PASSWORD).await.ok(200);
    }

    async fn a_full_database_queue_answers_503_at_once(app: TestApp) {
        // One HTTP worker (two SQLite database threads, or the pool's five for PostgreSQL) and
        // room for one waiting step.
        let app = TestApp::spawn_with(app.db, |c| {
            c.workers = Some(1);
            c.database_queue = 1;
        })
        .await;
        let (admin, id) = app.admin().await;
        let path = format!("/api/v1/users/{id}");
        // Hold what every change of an account needs: SQLite's write lock, PostgreSQL's lock on
        // `users`; the changes queue behind it.
        let url = app.config.database_url();
        let hold = |sql: &'static str| {
            let url = url.clone();
            let db = app.db;
            std::thread::spawn(move || {
                let hold_for = Duration::from_millis(2_500);
                match db {
                    Db::Sqlite => {
                        let path = url.strip_prefix("sqlite://").expect("a SQLite URL").to_owned();
                        let mut conn = diesel::SqliteConnection::establish(&path).expect("open");
                        diesel::sql_query(sql).execute(&mut conn).expect("lock");
                        std::thread::sleep(hold_for);
                        diesel::sql_query("COMMIT").execute(&mut conn).expect("unlock");
                    }
                    Db::Postgres => {
                        let mut conn = diesel::PgConnection::establish(&url).expect("connect");
                        diesel::sql_query("BEGIN").execute(&mut conn).expect("begin");
                        diesel::sql_query(sql).execute(&mut conn).expect("lock");
                        std::thread::sleep(hold_for);
                        diesel::sql_query("COMMIT").execute(&mut conn).expect("unlock");
                    }
                }
            })
        };
        let holder = hold(match app.db {
            Db::Sqlite => "BEGIN IMMEDIATE",
            Db::Postgres => "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let one = |i: usize| {
            let (path, admin) = (path.clone(), admin.clone());
            let app = &app;
            async move {
                let started = Instant::now();
                let r = app.patch(&path, &admin, json!({"location": format!("L{i}")})).await;
                (r, started.elapsed())
            }
        };
        let replies = join_all((0..20).map(one)).await;
        holder.join().expect("the lock holder");
        // What a metrics endpoint reads: the queue's bound and the pool's connections.
        let usage = app.state.threads.usage();
        assert_eq!(usage.database.capacity, 1);
        let pool = app.state.database.pool_use();
        assert!(pool.connections >= 1 && pool.connections <= pool.max, "{pool:?}");
        let overloaded: Vec<_> = replies.iter().filter(|(r, _)| r.body["code"] == "overloaded").collect();
        assert!(!overloaded.is_empty(), "{replies:?}");
        for (r, took) in &overloaded {
            r.problem(503, "overloaded");
            assert!(r.headers.contains_key("retry-after"), "{r:?}");
            assert!(*took < Duration::from_millis(1_000), "refused at once, not after {took:?}");
        }
        for (r, _) in &replies {
            assert!(r.status == 200 || r.status == 503, "{r:?}");
        }
        app.patch(&path, &admin, json!({"location": "after"})).await.ok(200);
    }
}

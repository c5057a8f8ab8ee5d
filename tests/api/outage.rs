//! An unreachable database costs a client at most a few seconds, however many clients there are
//! (SPEC §10): with PostgreSQL stopped, and frozen (its processes stopped with SIGSTOP, as a hung
//! host or a network partition looks), every one of 50 concurrent requests answers 503
//! problem+json with `Retry-After` within 3 s of arriving, and once PostgreSQL is back requests
//! succeed without a restart. Roster also starts while PostgreSQL is down, answering 503 (readiness
//! too) until it can reach it, then migrates and serves.
//!
//! The test runs a PostgreSQL cluster of its own, which it stops, freezes and brings back; the
//! server's programs come from `ROSTER_TEST_POSTGRES_BIN` (set by `scripts/with-postgres`) or the
//! newest `/usr/lib/postgresql/*/bin`.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Db, TestApp, PASSWORD};

/// The deadline of a request's database work (the default `ROSTER_DATABASE_TIMEOUT_SECS`), and a
/// little for the answer to travel back over loopback on a busy machine.
const WITHIN: Duration = Duration::from_millis(3_400);

struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// Runs `command` as the `postgres` user (initdb refuses root).
fn as_postgres(command: &str) {
    let out = run("su", &["postgres", "-c", command]);
    assert!(
        out.status.success(),
        "{command}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// A new cluster on a free port, not started.
    fn init() -> Self {
        let bin = std::env::var("ROSTER_TEST_POSTGRES_BIN")
            .ok()
            .filter(|b| !b.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .collect();
                versions.sort();
                versions.pop()
            })
            .expect("PostgreSQL's programs: set ROSTER_TEST_POSTGRES_BIN");
        let dir = std::env::temp_dir().join(format!("roster-outage-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        assert!(run("chown", &["postgres", dir.to_str().expect("path")])
            .status
            .success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        as_postgres(&format!(
            "{}/initdb -D {}/data -A trust -U postgres --no-sync",
            bin.display(),
            dir.display()
        ));
        Self { bin, dir, port }
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn start(&self) {
        as_postgres(&format!(
            "{}/pg_ctl -D {dir}/data -o '-p {} -k {dir} -h 127.0.0.1 -c fsync=off' -l {dir}/log -w start",
            self.bin.display(),
            self.port,
            dir = self.dir.display()
        ));
    }

    /// Stopped as an operator or a crash stops it: every connection is closed.
    fn stop(&self) {
        as_postgres(&format!(
            "{}/pg_ctl -D {}/data -m fast -w stop",
            self.bin.display(),
            self.dir.display()
        ));
    }

    /// The postmaster and every process it started.
    fn processes(&self) -> Vec<String> {
        let pid_file = self.dir.join("data/postmaster.pid");
        let text = std::fs::read_to_string(pid_file).expect("postmaster.pid");
        let postmaster = text.lines().next().expect("a pid").trim().to_owned();
        let children = run("pgrep", &["-P", &postmaster]);
        let mut pids = vec![postmaster];
        pids.extend(
            String::from_utf8_lossy(&children.stdout)
                .split_whitespace()
                .map(str::to_owned),
        );
        pids
    }

    /// Every process stops running but keeps its sockets: connections stay open and nothing
    /// answers, as with a hung host.
    fn freeze(&self) {
        // The postmaster first, then its children as they are once it is stopped: a backend it
        // forked after a list read earlier (a pool's new connection, the audit linker's) would
        // otherwise go on answering.
        let postmaster = self.processes().swap_remove(0);
        run("kill", &["-STOP", &postmaster]);
        for pid in self.processes() {
            run("kill", &["-STOP", &pid]);
        }
    }

    fn thaw(&self) {
        for pid in self.processes() {
            run("kill", &["-CONT", &pid]);
        }
    }

    fn create_database(&self, name: &str) {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::PgConnection::establish(&self.url("postgres")).expect("connect");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create database");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.dir.join("data/postmaster.pid").exists() {
            self.thaw();
            let _ = run(
                "su",
                &[
                    "postgres",
                    "-c",
                    &format!(
                        "{}/pg_ctl -D {}/data -m immediate stop",
                        self.bin.display(),
                        self.dir.display()
                    ),
                ],
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 50 concurrent requests for a list: each must answer 503 problem+json with `Retry-After`
/// within [`WITHIN`] of being sent.
async fn fifty_answer_503_in_time(app: &TestApp, token: &str, what: &str) {
    let one = || async {
        let started = Instant::now();
        let reply = app.get("/api/v1/users", token).await;
        (reply, started.elapsed())
    };
    let replies = join_all((0..50).map(|_| one())).await;
    for (reply, took) in &replies {
        reply.problem(503, "database_unavailable");
        assert!(
            reply.headers.contains_key("retry-after"),
            "{what}: {reply:?}"
        );
        assert!(*took < WITHIN, "{what}: answered after {took:?}");
    }
    let slowest = replies.iter().map(|(_, t)| *t).max().unwrap_or_default();
    eprintln!("{what}: 50 concurrent requests answered 503, the slowest in {slowest:?}");
}

/// Retries `GET path` until it answers 200, for at most 20 s; returns how long that took.
async fn until_ok(app: &TestApp, path: &str, token: Option<&str>, what: &str) -> Duration {
    let started = Instant::now();
    loop {
        let reply = app.call(Method::GET, path, token, None, &[]).await;
        if reply.status == 200 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: still {reply:?} after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(roster_postgres),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn postgres_down_at_start_stopped_and_frozen_costs_each_client_at_most_three_seconds() {
    let cluster = Cluster::init();
    let url = cluster.url("roster");
    let app = TestApp::spawn_with(Db::Postgres, |c| c.database_url = Some(url)).await;

    // Started while PostgreSQL is down: 503 at once, readiness too.
    let started = Instant::now();
    let ready = app.call(Method::GET, "/readyz", None, None, &[]).await;
    ready.problem(503, "database_unavailable");
    let setup = app
        .call(Method::POST, "/api/v1/setup", None, Some(json!({"email": "a@example.org", "first_name": "A", "last_name": "B", "password": PASSWORD})), &[])
        .await;
    setup.problem(503, "database_unavailable");
    assert!(setup.headers.contains_key("retry-after"));
    assert!(started.elapsed() < WITHIN, "{:?}", started.elapsed());

    // Brought up: Roster reaches it, migrates and serves, without a restart.
    cluster.start();
    cluster.create_database("roster");
    let took = until_ok(&app, "/readyz", None, "after start-up").await;
    eprintln!("ready {took:?} after PostgreSQL came up");
    let (admin, _) = app.admin().await;
    let token = app.api_token(&admin).await;
    app.get("/api/v1/users", &token).await.ok(200);

    // Stopped.
    cluster.stop();
    fifty_answer_503_in_time(&app, &token, "stopped").await;
    cluster.start();
    let took = until_ok(&app, "/api/v1/users", Some(&token), "after the stop").await;
    eprintln!("served again {took:?} after PostgreSQL restarted");

    // Frozen: connections stay open and nothing answers.
    cluster.freeze();
    fifty_answer_503_in_time(&app, &token, "frozen").await;
    cluster.thaw();
    let took = until_ok(&app, "/api/v1/users", Some(&token), "after the freeze").await;
    eprintln!("served again {took:?} after PostgreSQL resumed");
    app.get("/api/v1/users", &token).await.ok(200);
}

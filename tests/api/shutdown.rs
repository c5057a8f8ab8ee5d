//! Graceful shutdown: on SIGTERM or SIGINT the `roster` process stops taking connections, lets the
//! requests in flight finish (a running import among them), and exits 0; every write it
//! acknowledged is in the database. The real binary, as a process of its own, beside the test's
//! in-process server on the same database.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;

use crate::{database::count, helpers::TestApp};

/// `target/debug/roster`, built if it is not (the tests are another package's).
fn roster_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", "roster"])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "cargo build --bin roster");
    let exe = std::env::current_exe().expect("the test's path");
    // target/debug/deps/api-… → target/debug/roster
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug")
        .join("roster")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The binary serving `app`'s database on a port of its own.
async fn spawn_process(app: &TestApp) -> (Child, String) {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("roster-shutdown-{port}"));
    std::fs::create_dir_all(&dir).expect("a data dir");
    let secret = app
        .config
        .resolve_secret(app.db == crate::helpers::Db::Postgres)
        .expect("the app's secret");
    let child = Command::new(roster_binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
        .env("ROSTER_DATA_DIR", &dir)
        .env("ROSTER_DATABASE_URL", app.config.database_url())
        .env("ROSTER_SECRET_KEY", secret)
        .env("ROSTER_AUTH_RATE_LIMIT", "0")
        .env("ROSTER_LOG", "warn")
        .env("ROSTER_SHUTDOWN_TIMEOUT_SECS", "20")
        .stdout(Stdio::null())
        .spawn()
        .expect("roster starts");
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while !app
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the process never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

/// Waits for the process to end: its exit status.
async fn exited(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("its status") {
            return status;
        }
        if started.elapsed() > within {
            let _ = child.kill();
            panic!("the process did not stop within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both! {
    async fn a_stop_under_load_loses_no_acknowledged_write_and_exits_cleanly(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (mut child, base) = spawn_process(app).await;
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let writers = (0..8).map(|w| {
            let (client, base, admin, acknowledged) = (app.client.clone(), base.clone(), admin.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let username = format!("w{w}n{i}");
                    let body = json!({"username": username, "email": format!("{username}@example.org"), "first_name": "W", "last_name": "N"});
                    let sent = client.post(format!("{base}/api/v1/users")).bearer_auth(&admin).json(&body).send().await;
                    match sent {
                        Ok(r) if r.status() == 201 => acknowledged.lock().expect("lock").push(username),
                        Ok(r) => assert!(r.status().is_server_error(), "{w}/{i}: {}", r.status()),
                        // Refused or cut: the server has stopped taking connections.
                        Err(_) => return i,
                    }
                }
                unreachable!()
            })
        });
        let writers: Vec<_> = writers.collect();
        tokio::time::sleep(Duration::from_millis(700)).await;
        signal(&child, "TERM");
        let status = exited(&mut child, Duration::from_secs(30)).await;
        assert!(status.success(), "exit status {status}");
        for w in writers {
            w.await.expect("a writer");
        }
        let acknowledged = acknowledged.lock().expect("lock").clone();
        assert!(acknowledged.len() >= 8, "the load ran: {} writes", acknowledged.len());
        let stored = count(app, &format!(
            "SELECT count(*) AS n FROM users WHERE username IN ({})",
            acknowledged.iter().map(|u| format!("'{u}'")).collect::<Vec<_>>().join(", ")
        ));
        assert_eq!(stored, acknowledged.len() as i64, "every acknowledged account is stored");
    }

    async fn a_request_in_flight_when_stopped_by_sigint_is_answered(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (mut child, base) = spawn_process(app).await;
        let mut file = String::from("first_name,last_name,email\r\n");
        for i in 0..3000 {
            file.push_str(&format!("Ann,Lee{i},ann{i:05}@example.org\r\n"));
        }
        let import = {
            let (client, admin) = (app.client.clone(), admin.clone());
            let url = format!("{base}/api/v1/users/import");
            tokio::spawn(async move {
                // The key is taken as the request begins: it shows the import is in flight.
                client.post(url).bearer_auth(&admin).header("content-type", "text/csv").header("idempotency-key", "import-1").body(file).send().await
            })
        };
        // Once the import is running, stop the process.
        let started = Instant::now();
        while count(app, "SELECT count(*) AS n FROM idempotency_keys WHERE key = 'import-1' AND lease_until IS NOT NULL") == 0 {
            assert!(started.elapsed() < Duration::from_secs(20), "the import never began");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        signal(&child, "INT");
        let answered = import.await.expect("joined").expect("the import is answered, not cut");
        assert_eq!(answered.status(), 200);
        let report: serde_json::Value = answered.json().await.expect("its report");
        assert_eq!(report["uploaded"], 3000, "{report}");
        let status = exited(&mut child, Duration::from_secs(30)).await;
        assert!(status.success(), "exit status {status}");
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE email LIKE 'ann%'"), 3000);
    }
}

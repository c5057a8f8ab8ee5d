//! SQLite specifics that only show in the database file.

use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use serde_json::json;

use crate::helpers::{Db, TestApp};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Writers leave checkpoints to Roster's checkpoint thread (`wal_autocheckpoint = 0`): committed
/// accounts reach the database file itself, not only the WAL, with no further write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_writes_reach_the_database_file() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let (admin, _) = app.admin().await;
    for i in 0..20 {
        let body = json!({"username": format!("ckpt{i}"), "email": format!("ckpt{i}@example.org"), "first_name": "C", "last_name": "P"});
        app.post("/api/v1/users", &admin, body).await.ok(201);
    }
    let url = app.config.database_url();
    let path = url
        .strip_prefix("sqlite://")
        .expect("a SQLite URL")
        .to_owned();
    // `immutable=1` reads the main file alone, ignoring the WAL.
    let file_only = format!("file:{path}?immutable=1");
    let started = Instant::now();
    let in_file = loop {
        let mut conn = SqliteConnection::establish(&file_only).expect("open the file");
        let n = diesel::sql_query("SELECT count(*) AS n FROM users WHERE username LIKE 'ckpt%'")
            .get_result::<Count>(&mut conn)
            .map_or(0, |c| c.n);
        if n == 20 || started.elapsed() > Duration::from_secs(5) {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        in_file, 20,
        "the WAL was not copied back into the database file"
    );
}

//! `roster import` killed with SIGKILL part way through a large file leaves none of its rows, on
//! SQLite and on PostgreSQL: a dry run of the same file afterwards would upload every row, and the
//! database takes the next import. Here, not in `tests/`, because it runs the `roster` binary
//! (Cargo builds it for this package's tests). PostgreSQL: `ROSTER_TEST_POSTGRES_URL` (set by
//! `scripts/with-postgres`); under `CI=true` its absence fails the test.

// A test: its helpers fail by panicking with the reason.
#![allow(clippy::expect_used)]

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const ROWS: usize = 60_000;

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn roster(data_dir: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ROSTER_DATA_DIR", data_dir)
        .env("ROSTER_DATABASE_URL", database_url)
        .env(
            "ROSTER_SECRET_KEY",
            "import-killed-test-secret-key-0123456789abcdef",
        )
        .env("ROSTER_LOG", "warn,api::import=debug");
    command
}

fn write_file(path: &Path, rows: usize, prefix: &str) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create the file"));
    write!(file, "\u{feff}First Name,Last Name,Email,Role,Active\r\n").expect("write");
    for i in 0..rows {
        write!(file, "Ann,Lee{i},{prefix}{i}@example.org,User,true\r\n").expect("write");
    }
    file.flush().expect("flush");
}

fn run_to_end(command: &mut Command) -> String {
    let out = command.output().expect("roster runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn killed_import_leaves_nothing(database_url: &str) {
    let dir = std::env::temp_dir().join(format!("roster-import-killed-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let _scratch = Scratch(dir.clone());
    let data = dir.join("data");
    let file = dir.join("people.csv");
    write_file(&file, ROWS, "ann");
    run_to_end(roster(&data, database_url).arg("migrate"));

    let mut child = roster(&data, database_url)
        .arg("import")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster import starts");
    // Killed once it has written rows in its transaction: after its first chunk.
    let stderr = child.stderr.take().expect("stderr");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("a log line");
        let part_way = line.contains("rows read");
        seen.push(line);
        if part_way || Instant::now() > deadline {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains("rows read")),
        "no progress before the deadline: {seen:?}"
    );
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reaped");
    assert!(!status.success(), "it was killed before it finished");

    // None of its rows: a dry run would upload every one.
    let dry = run_to_end(
        roster(&data, database_url)
            .arg("import")
            .arg(&file)
            .arg("--dry-run"),
    );
    assert!(
        dry.contains(&format!(": {ROWS} uploaded, 0 ignored, 0 rejected")),
        "{dry}"
    );
    // And the database takes the next import.
    let small = dir.join("small.csv");
    write_file(&small, 3, "bo");
    let done = run_to_end(roster(&data, database_url).arg("import").arg(&small));
    assert!(
        done.contains(": 3 uploaded, 0 ignored, 0 rejected"),
        "{done}"
    );
}

#[test]
fn a_killed_import_leaves_none_of_its_rows_on_sqlite() {
    let dir =
        std::env::temp_dir().join(format!("roster-import-killed-db-{}", uuid::Uuid::now_v7()));
    let _scratch = Scratch(dir.clone());
    killed_import_leaves_nothing(&format!("sqlite://{}/roster.db", dir.display()));
}

#[test]
#[cfg_attr(
    not(roster_postgres),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
fn a_killed_import_leaves_none_of_its_rows_on_postgres() {
    let admin = std::env::var("ROSTER_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .expect("ROSTER_TEST_POSTGRES_URL: run under scripts/with-postgres");
    let name = format!("roster_killed_{}", uuid::Uuid::now_v7().simple());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([admin.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!("CREATE DATABASE {name}"));
    let (base, _) = admin.rsplit_once('/').expect("a database URL with a path");
    let url = format!("{base}/{name}");
    let result = std::panic::catch_unwind(|| killed_import_leaves_nothing(&url));
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

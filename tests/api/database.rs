//! The tests' own access to a database, beside Roster: PostgreSQL test databases made from a
//! migrated template and dropped afterwards, queries run directly on an app's database, and the
//! check, after every end-to-end test, that what Roster derives from account rows equals a
//! recomputation from those rows.

use std::{
    hash::{Hash, Hasher},
    path::Path,
    sync::OnceLock,
};

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use uuid::Uuid;

use crate::helpers::{Db, TestApp};

/// The server the PostgreSQL half of the tests runs on. Its absence fails the test: the test was
/// built to run (see `build.rs`), so skipping it silently would report a pass.
pub fn postgres_url() -> String {
    match std::env::var("ROSTER_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "ROSTER_TEST_POSTGRES_URL is not set, but this build runs the PostgreSQL half of the \
             tests (CI=true, or it was set when they were built): run them under scripts/with-postgres"
        ),
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a database URL with a path");
    format!("{base}/{name}")
}

/// A migrated database to copy each test's from: made once per migration set (its name carries a
/// hash of the migration files), under an advisory lock so concurrent test processes make it once.
fn template(admin_url: &str) -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = format!("roster_template_{:016x}", migrations_hash());
        let mut conn = PgConnection::establish(admin_url).expect("connect to ROSTER_TEST_POSTGRES_URL");
        diesel::sql_query("SELECT pg_advisory_lock(7247746552)")
            .execute(&mut conn)
            .expect("lock");
        #[derive(QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let exists = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}' AND datistemplate) AS exists"
        ))
        .get_result::<Exists>(&mut conn)
        .expect("look for the template")
        .exists;
        if !exists {
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut conn)
                .expect("drop a half-made template");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .expect("create the template");
            let url = with_database(admin_url, &name);
            let db = persistence::Database::open(&persistence::DatabaseConfig {
                url: persistence::DatabaseUrl::parse(&url).expect("URL"),
                pool_size: 1,
                timeout: std::time::Duration::from_secs(10),
                seat_limits: Vec::new(),
            })
            .expect("open the template");
            db.migrate().expect("migrate the template");
            drop(db);
            diesel::sql_query(format!("ALTER DATABASE {name} IS_TEMPLATE true"))
                .execute(&mut conn)
                .expect("mark the template");
        }
        diesel::sql_query("SELECT pg_advisory_unlock(7247746552)")
            .execute(&mut conn)
            .expect("unlock");
        name
    })
}

fn migrations_hash() -> u64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file)
            .expect("read a migration")
            .hash(&mut hasher);
    }
    hasher.finish()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the migrations") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A new database for one test, copied from the migrated template; its URL.
pub fn fresh_postgres_database() -> String {
    let admin = postgres_url();
    let template = template(&admin);
    let name = format!("roster_t_{}", Uuid::now_v7().simple());
    let mut conn = PgConnection::establish(&admin).expect("connect to ROSTER_TEST_POSTGRES_URL");
    diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .execute(&mut conn)
        .expect("create a test database");
    with_database(&admin, &name)
}

/// Drops a test's database, ending the connections Roster still holds to it.
pub fn drop_postgres_database(url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(mut conn) = PgConnection::establish(&postgres_url()) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn);
    }
}

/// A connection of the test's own to the app's SQLite file, waiting its turn for the write lock
/// as Roster's do (the audit linker writes beside every test).
fn sqlite(path: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(path).expect("open SQLite");
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .expect("busy timeout");
    conn
}

/// Runs `sql` directly on the app's own database; the rows, sorted.
pub fn lines<T>(app: &TestApp, sql: &str) -> Vec<T>
where
    T: Ord + QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
{
    let url = app.config.database_url();
    let mut lines: Vec<T> = match app.db {
        Db::Sqlite => {
            let path = url.strip_prefix("sqlite://").expect("a SQLite URL");
            let mut conn = sqlite(path);
            diesel::sql_query(sql).load(&mut conn).expect("query")
        }
        Db::Postgres => {
            let mut conn = PgConnection::establish(&url).expect("connect");
            diesel::sql_query(sql).load(&mut conn).expect("query")
        }
    };
    lines.sort();
    lines
}

/// Runs a statement that returns nothing directly on the app's own database.
pub fn execute(app: &TestApp, sql: &str) {
    let url = app.config.database_url();
    match app.db {
        Db::Sqlite => {
            let path = url.strip_prefix("sqlite://").expect("a SQLite URL");
            let mut conn = sqlite(path);
            diesel::sql_query(sql)
                .execute(&mut conn)
                .expect("statement");
        }
        Db::Postgres => {
            let mut conn = PgConnection::establish(&url).expect("connect");
            diesel::sql_query(sql)
                .execute(&mut conn)
                .expect("statement");
        }
    }
}

/// Runs several statements in one transaction directly on the app's own database.
pub fn execute_together(app: &TestApp, statements: &[&str]) {
    use diesel::connection::SimpleConnection as _;
    let sql = format!("BEGIN; {}; COMMIT;", statements.join("; "));
    let url = app.config.database_url();
    match app.db {
        Db::Sqlite => {
            let path = url.strip_prefix("sqlite://").expect("a SQLite URL");
            sqlite(path).batch_execute(&sql).expect("statements");
        }
        Db::Postgres => {
            let mut conn = PgConnection::establish(&url).expect("connect");
            conn.batch_execute(&sql).expect("statements");
        }
    }
}

/// The app's database through Roster's own store, beside the running server.
pub fn store(app: &TestApp) -> persistence::Database {
    let db = persistence::Database::open(&persistence::DatabaseConfig {
        url: persistence::DatabaseUrl::parse(&app.config.database_url()).expect("URL"),
        pool_size: 2,
        timeout: std::time::Duration::from_secs(10),
        seat_limits: Vec::new(),
    })
    .expect("open the database");
    let secret = app
        .config
        .resolve_secret(app.db == Db::Postgres)
        .expect("the app's secret");
    db.bring_up(&api::auth::fingerprint(&secret))
        .expect("the app's database, migrated, with its key");
    db
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `SELECT count(*) AS n …` on the app's database.
pub fn count(app: &TestApp, sql: &str) -> i64 {
    lines::<Count>(app, sql).first().expect("a count").n
}

/// A migration's SQL, for the backend of `app`.
pub fn migration(app: &TestApp, name: &str) -> String {
    let backend = match app.db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend)
        .join(name)
        .join("up.sql");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `user_prefixes` backfill of its migration, as a query of `(p, username_key)`.
pub fn prefixes_backfill(app: &TestApp) -> String {
    let migration = migration(app, "2026-11-23-000001_user_prefixes");
    let (_, select) = migration
        .split_once("INSERT INTO user_prefixes (prefix, username_key)")
        .expect("the backfill");
    select.trim().trim_end_matches(';').to_owned()
}

/// The `users.roles` backfill of its migration: an expression over `users` computing the column
/// from `user_roles`.
pub fn roles_backfill(app: &TestApp) -> String {
    let migration = migration(app, "2026-11-23-000002_users_roles_column");
    let (_, computed) = migration
        .split_once("UPDATE users SET roles = ")
        .expect("the backfill");
    computed.trim().trim_end_matches(';').to_owned()
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrefixLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub p: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub username_key: String,
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RolesLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub username: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub roles: String,
}

/// An account row's stored values and the keys Roster derived from them.
#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct KeysLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    username: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    username_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    email_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    first_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    first_name_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    last_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    last_name_key: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    username_skeleton: Option<String>,
}

impl KeysLine {
    /// The same line with every key recomputed by the domain's rules from the stored values.
    fn recomputed(&self) -> Self {
        use domain::values::{Email, PersonName, Username};
        Self {
            username_key: Username::from_trusted(self.username.clone()).key(),
            email_key: Email::from_trusted(self.email.clone()).key(),
            first_name_key: PersonName::from_trusted(self.first_name.clone()).key(),
            last_name_key: PersonName::from_trusted(self.last_name.clone()).key(),
            username_skeleton: Some(Username::from_trusted(self.username.clone()).skeleton()),
            ..self.clone()
        }
    }
}

impl TestApp {
    /// Asserts that the data Roster derives from account rows equals a recomputation from the rows:
    /// the key columns and the username skeleton (by the domain's rules), `user_prefixes` (by its migration's
    /// backfill) and the `roles` column (by its migration's backfill from `user_roles`). Run after
    /// every end-to-end test, so a write path that forgets any of them fails at once.
    #[track_caller]
    pub fn check_derived_data(&self) {
        let keys: Vec<KeysLine> = lines(
            self,
            "SELECT username, username_key, email, email_key, first_name, first_name_key, \
             last_name, last_name_key, username_skeleton FROM users",
        );
        for line in &keys {
            let mut expected = line.recomputed();
            // Only an account made under older rules lacks its skeleton, and only because another
            // account has it (see persistence's `refresh`).
            if line.username_skeleton.is_none()
                && keys
                    .iter()
                    .any(|other| other.username_skeleton == expected.username_skeleton)
            {
                expected.username_skeleton = None;
            }
            assert_eq!(*line, expected, "the derived columns of an account row");
        }
        let maintained: Vec<PrefixLine> =
            lines(self, "SELECT prefix AS p, username_key FROM user_prefixes");
        let computed: Vec<PrefixLine> = lines(self, &prefixes_backfill(self));
        assert_eq!(maintained, computed, "user_prefixes");
        let written: Vec<RolesLine> = lines(self, "SELECT username, roles FROM users");
        let from_user_roles: Vec<RolesLine> = lines(
            self,
            &format!(
                "SELECT username, {} AS roles FROM users",
                roles_backfill(self)
            ),
        );
        assert_eq!(written, from_user_roles, "the roles column");
        // The counts kept for limited seats: a recount from the rows.
        // The room left is kept (escrow, spread over shards); a debt only while no shard has room.
        let kept: Vec<SeatLine> = lines(
            self,
            "SELECT u.seat, CAST(u.seat_limit + u.debt - sum(c.free) AS BIGINT) AS used FROM seat_usage u \
             JOIN seat_counts c ON c.seat = u.seat GROUP BY u.seat, u.seat_limit, u.debt",
        );
        let shards = if self.db == Db::Postgres { 32 } else { 1 };
        let odd: i64 = count(
            self,
            &format!(
                "SELECT count(*) AS n FROM seat_usage u WHERE u.seat_limit IS NULL OR u.debt < 0 \
                 OR (SELECT count(*) FROM seat_counts c WHERE c.seat = u.seat) <> {shards} \
                 OR EXISTS (SELECT 1 FROM seat_counts c WHERE c.seat = u.seat AND (c.free < 0 OR (u.debt > 0 AND c.free > 0)))"
            ),
        );
        assert_eq!(
            odd, 0,
            "limited seats have {shards} shards, none below 0, and no room while in debt"
        );
        let orphans: i64 = count(
            self,
            "SELECT count(*) AS n FROM seat_counts WHERE seat NOT IN (SELECT seat FROM seat_usage)",
        );
        assert_eq!(orphans, 0, "shards of a seat without a limit");
        let keys: Vec<SeatLine> = lines(
            self,
            "SELECT seat_limits AS seat, CAST(0 AS BIGINT) AS used FROM settings",
        );
        let limited: Vec<SeatLine> = lines(
            self,
            "SELECT seat, CAST(0 AS BIGINT) AS used FROM seat_usage ORDER BY seat",
        );
        let limited: Vec<&str> = limited.iter().map(|l| l.seat.as_str()).collect();
        assert_eq!(
            keys.first().map(|k| k.seat.as_str()),
            Some(limited.join(",").as_str()),
            "the limited seats' keys in the settings row"
        );
        let truth = if self.db == Db::Postgres { "TRUE" } else { "1" };
        let recounted: Vec<SeatLine> = lines(
            self,
            &format!(
                "SELECT 'active_users' AS seat, count(*) AS used FROM users WHERE active = {truth} AND roles <> 'guest' HAVING count(*) > 0 \
                 UNION ALL SELECT 'guest_seats', count(*) FROM guest_seats HAVING count(*) > 0 \
                 UNION ALL SELECT 'role:' || user_roles.role, count(*) FROM user_roles \
                 JOIN users ON users.id = user_roles.user_id WHERE users.active = {truth} GROUP BY user_roles.role"
            ),
        );
        for line in &kept {
            let truth = recounted
                .iter()
                .find(|r| r.seat == line.seat)
                .map_or(0, |r| r.used);
            assert_eq!(line.used, truth, "the kept count of the seat {}", line.seat);
        }
        let guests: i64 = count(self, "SELECT count(*) AS n FROM users WHERE roles = 'guest' AND email_key NOT IN (SELECT email_key FROM guest_seats)");
        assert_eq!(guests, 0, "every guest's email holds a guest seat");
    }
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SeatLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    seat: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    used: i64,
}

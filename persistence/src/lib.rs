//! Storage for Roster: diesel + r2d2 implementations of `domain::ports` over SQLite (embedded,
//! the default) and PostgreSQL, with embedded migrations for each.
//!
//! # Plain diesel, and where it is not
//! The rule is the diesel DSL, one statement per step, derived models. The special devices — the
//! statement types of `stores::statements` (`Kept`, `Unplanned`, `LimitedTo`, `UpdateUser`,
//! `NewAccount`, `PastCursor`), the fixed-arity and batched insert macros, per-backend statements
//! through `on_backend!`, the session's prepared `BEGIN`/`COMMIT` and the `Stamp` timestamp
//! reader — are allowed only on the hot paths `bench/` measures (`read`, `list`, `list_deep`,
//! `create`, `patch`), each with a comment naming the scenario and the figure that justify it.
//! A new capability starts plain and earns a device only with a measurement.
//!
//! Every write of an account goes through `stores::writer`; every side effect of a unit of work
//! (audit events, and the outbox and hash chain next) is written by `stores::effects`, in the
//! unit's transaction, before it commits. What a broken constraint means is read from a table next
//! to the migrations (`constraints`).

mod checkpoint;
mod conn;
mod constraints;
mod error;
mod health;
mod models;
mod refresh;
mod schema;
mod session;
mod stamp;
mod stores;

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use diesel::{prelude::*, r2d2::Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use domain::{
    ports::{Store, Tx, TxMode},
    Error, Result,
};

use conn::{in_transaction, DbConn, Manager};
pub use conn::{Backend, DatabaseUrl};
use health::Health;
pub use health::{within_deadline, BringUpError};
use schema::instance_state;
use stores::Db;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
/// Held while migrating PostgreSQL, so replicas starting together migrate once, in turn.
const MIGRATION_LOCK: i64 = 0x526f_7374_6572_0000;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub pool_size: u32,
    /// The most a request's database work waits: for a pooled connection, to connect, for a
    /// statement (PostgreSQL's `statement_timeout`), for SQLite's write lock. Past it, 503.
    pub timeout: Duration,
    /// The seat limits that come from configuration (the role catalog's `seats`), by seat key
    /// (`role:<name>`, `guest_seats`; SPEC §2): written into `seat_usage` when the database is
    /// brought up, where the account writer checks them. Roles not listed are unlimited.
    pub seat_limits: Vec<(String, Option<i64>)>,
}

/// A pooled database; implements [`Store`].
#[derive(Clone)]
pub struct Database {
    pool: Pool<Manager>,
    backend: Backend,
    manager: Manager,
    timeout: Duration,
    health: Arc<Health>,
    /// SQLite's writer: one connection for every write transaction, opened at the first. SQLite
    /// admits one writer at a time, and a writer that finds the lock taken sleeps in SQLite's busy
    /// handler with growing back-off (up to 100 ms a wait); Roster's own writers queue on this
    /// mutex instead, so the lock passes straight to the next one (the busy timeout still covers
    /// other processes: `roster seed`, `roster migrate`). Writing on one connection keeps its page
    /// cache: a SQLite connection drops its whole cache when it finds that another connection wrote
    /// since its last transaction, and with writes spread over the pool every write read back
    /// every page it touched (`bench/ab --scenarios create`, +13 %; bench/README.md). The pool's
    /// connections serve reads (`ROSTER_DATABASE_POOL_SIZE` of them; this one comes on top).
    sqlite_writer: Arc<Mutex<Option<DbConn>>>,
    /// Dropped with the last clone, which stops the SQLite checkpoint and bring-up threads.
    alive: Arc<()>,
    seat_limits: Arc<Vec<(String, Option<i64>)>>,
}

/// What a database's connection pool holds (for the metrics endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open, in use or idle.
    pub connections: u32,
    pub idle: u32,
    /// The most it opens (`ROSTER_DATABASE_POOL_SIZE`).
    pub max: u32,
}

/// Tells [`Health`] of every failed connection attempt the pool makes.
#[derive(Debug)]
struct RecordFailures(Arc<Health>);

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for RecordFailures {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        self.0.failed(&error);
    }
}

impl Database {
    /// Builds the pool without connecting (but for a SQLite file, which is made), so Roster starts
    /// even while the database is down. It serves nothing until [`Database::bring_up`] succeeds.
    pub fn open(config: &DatabaseConfig) -> Result<Self, String> {
        if let Some(path) = config.url.sqlite_path() {
            if let Some(dir) = std::path::Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
        }
        let manager = Manager::new(config.url.clone(), config.timeout);
        let alive = Arc::new(());
        let sqlite_writer = Arc::new(Mutex::new(None));
        if let Some(path) = config.url.sqlite_path() {
            // The file, in WAL mode, before any other connection: connections that switch a new
            // file to WAL at the same moment get "database is locked" without waiting.
            manager
                .open_for_migrations()
                .map_err(|e| format!("cannot open {path}: {e}"))?;
            checkpoint::start(manager.clone(), &alive, sqlite_writer.clone());
        }
        let health = Arc::new(Health::default());
        let pool = Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(1))
            .connection_timeout(config.timeout)
            // A PostgreSQL connection that sat idle is checked before use (see `conn::Pooled`).
            .test_on_check_out(config.url.backend == Backend::Postgres)
            .error_handler(Box::new(RecordFailures(health.clone())))
            .build_unchecked(manager.clone());
        Ok(Self {
            pool,
            backend: config.url.backend,
            manager,
            timeout: config.timeout,
            health,
            sqlite_writer,
            alive,
            seat_limits: Arc::new(config.seat_limits.clone()),
        })
    }

    /// The pool's connections now, for monitoring.
    pub fn pool_use(&self) -> PoolUse {
        let state = self.pool.state();
        PoolUse {
            connections: state.connections,
            idle: state.idle_connections,
            max: self.pool.max_size(),
        }
    }

    /// Runs a write transaction on SQLite's writer connection (see `sqlite_writer`), waiting for
    /// its turn; a connection that fails as a lost one fails, or is left in a transaction, is
    /// closed, and the next write opens another.
    fn write_on_sqlite(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        if !self.health.ready() {
            return Err(Error::Unavailable);
        }
        let mut writer = self
            .sqlite_writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let conn = match &mut *writer {
            Some(conn) => conn,
            None => writer.insert(self.manager.open().map_err(|e| {
                self.health.failed(&e);
                Error::Unavailable
            })?),
        };
        let done = in_transaction(conn, TxMode::Write, |unit| work(unit));
        if matches!(done, Err(Error::Unavailable)) || conn::is_broken(conn) {
            *writer = None;
        }
        done
    }

    /// A pooled connection for a request's work: none before bring-up.
    fn conn(&self) -> Result<diesel::r2d2::PooledConnection<Manager>> {
        if !self.health.ready() {
            return Err(Error::Unavailable);
        }
        self.checkout()
    }

    /// A pooled connection, waiting at most until this thread's deadline (and the configured
    /// timeout). With PostgreSQL, when no connection is left and connecting fails, at once: a
    /// stopped or unreachable database answers every request 503 straight away rather than after a
    /// wait each.
    fn checkout(&self) -> Result<diesel::r2d2::PooledConnection<Manager>> {
        let wait = health::wait_allowed(self.timeout);
        let lost = self.backend == Backend::Postgres
            && self.health.failing()
            && self.pool.state().connections == 0;
        if wait.is_zero() || lost {
            return Err(Error::Unavailable);
        }
        self.pool.get_timeout(wait).map_err(|e| {
            tracing::debug!(error = %e, "no database connection in time");
            Error::Unavailable
        })
    }

    /// Whether [`Database::bring_up`] has succeeded: requests may use the database.
    pub fn is_ready(&self) -> bool {
        self.health.ready()
    }

    /// Why bringing the database up failed for good, if it did (see [`Database::keep_bringing_up`]).
    pub fn fatal(&self) -> Option<String> {
        self.health.fatal()
    }

    /// Makes the database ready to serve: applies pending migrations (on PostgreSQL under an
    /// advisory lock, so replicas starting together migrate once) and checks the secret key's
    /// fingerprint against the one stored at first start (SPEC §12). Returns the migrations applied.
    pub fn bring_up(&self, fingerprint: &str) -> Result<Vec<String>, BringUpError> {
        let applied = self.migrate()?;
        self.check_secret_fingerprint(fingerprint)?;
        self.write_seat_limits()?;
        self.health.set_ready();
        Ok(applied)
    }

    /// Keeps trying [`Database::bring_up`] once a second on a thread of its own, until it succeeds
    /// or fails for good; then calls `on_fatal` with the reason (and [`Database::fatal`] tells it).
    /// The thread ends when every other clone of this database is dropped.
    pub fn keep_bringing_up(
        &self,
        fingerprint: String,
        on_fatal: impl FnOnce(String) + Send + 'static,
    ) {
        let others = Arc::downgrade(&self.alive);
        // A clone that does not count as alive: it keeps no other thread of this database going.
        let db = Database {
            alive: Arc::new(()),
            ..self.clone()
        };
        let spawned = std::thread::Builder::new()
            .name("roster-bring-up".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                if others.strong_count() == 0 {
                    return;
                }
                match db.bring_up(&fingerprint) {
                    Ok(applied) => {
                        tracing::info!(migrations = ?applied, "the database answers: migrated, serving");
                        return;
                    }
                    Err(BringUpError::Unreachable(_)) => continue,
                    Err(BringUpError::Fatal(why)) => {
                        tracing::error!(%why, "cannot serve this database");
                        db.health.set_fatal(why.clone());
                        on_fatal(why);
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the bring-up thread");
        }
    }

    /// Applies pending migrations, then recomputes derived data if its rules changed
    /// (`refresh`), on a connection of its own (no statement timeout: either may take long on a
    /// large table); on PostgreSQL under an advisory lock, so replicas do it once.
    pub fn migrate(&self) -> Result<Vec<String>, BringUpError> {
        let unreachable = |e: diesel::r2d2::Error| BringUpError::Unreachable(e.to_string());
        let fatal = |e: String| BringUpError::Fatal(format!("migrating the database: {e}"));
        let mut conn = self.manager.open_for_migrations().map_err(unreachable)?;
        if let DbConn::Pg(c) = &mut conn {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(c)
                .map_err(|e| BringUpError::Unreachable(e.to_string()))?;
        }
        let result = match &mut conn {
            DbConn::Sqlite(c) => run(c, SQLITE_MIGRATIONS),
            DbConn::Pg(c) => run(c, POSTGRES_MIGRATIONS),
        }
        .and_then(|applied| refresh::refresh_if_needed(&mut conn).map(|_| applied));
        if let DbConn::Pg(c) = &mut conn {
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(c);
        }
        result.map_err(fatal)
    }

    /// The unique indexes and foreign keys of the migrated schema that the backend's constraint
    /// table (`migrations/<backend>/constraints.txt`) does not list: none, or a violation of one
    /// would answer a generic 409 `conflict`. A test holds it empty on both databases.
    pub fn unlisted_constraints(&self) -> Result<Vec<String>, String> {
        #[derive(diesel::QueryableByName)]
        struct Named {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let mut conn = self
            .checkout()
            .map_err(|_| "cannot connect to the database".to_string())?;
        let present: Vec<String> = match &mut **conn {
            DbConn::Pg(c) => diesel::sql_query(
                "SELECT conname::text AS name FROM pg_constraint JOIN pg_namespace n ON n.oid = connamespace \
                 WHERE n.nspname = current_schema() AND contype IN ('u', 'p', 'f') \
                 UNION SELECT indexname::text FROM pg_indexes \
                 WHERE schemaname = current_schema() AND indexdef LIKE 'CREATE UNIQUE INDEX%'",
            )
            .load::<Named>(c)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|n| n.name)
            .collect(),
            DbConn::Sqlite(c) => diesel::sql_query(
                "SELECT group_concat(col, ', ') AS name FROM (SELECT il.name AS idx, m.name || '.' || ii.name AS col \
                 FROM sqlite_master m JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii \
                 WHERE m.type = 'table' AND il.\"unique\" = 1 ORDER BY il.name, ii.seqno) GROUP BY idx \
                 UNION SELECT m.name || '.' || ti.name FROM sqlite_master m JOIN pragma_table_info(m.name) ti \
                 WHERE m.type = 'table' AND ti.pk = 1 AND upper(ti.type) = 'INTEGER'",
            )
            .load::<Named>(c)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|n| n.name)
            .collect(),
        };
        let listed = constraints::listed(self.backend);
        Ok(present
            .into_iter()
            .filter(|name| !name.contains("__diesel_schema_migrations"))
            .filter(|name| !listed.contains(&name.as_str()))
            .collect())
    }

    /// Records the secret key's fingerprint on first start; afterwards refuses a different key,
    /// so replicas cannot disagree about token signatures (SPEC §12).
    /// Writes the configured seat limits (see [`DatabaseConfig::seat_limits`]); a role seat whose
    /// limit is no longer configured becomes unlimited. Every replica must be given the same role
    /// catalog: the last one to start decides.
    fn write_seat_limits(&self) -> Result<(), BringUpError> {
        let limits = self.seat_limits.clone();
        let mut conn = self
            .checkout()
            .map_err(|e| BringUpError::Unreachable(e.to_string()))?;
        conn::in_transaction(&mut conn, TxMode::Write, |unit| {
            for (key, limit) in stores::seats::limited(unit.conn)? {
                let from_catalog = key.starts_with("role:") || key == domain::seats::GUEST_SEATS;
                let configured = limits.iter().find(|(k, _)| *k == key).and_then(|(_, l)| *l);
                if from_catalog && limit != configured {
                    stores::seats::set_limit(unit.conn, &key, configured)?;
                }
            }
            for (key, limit) in limits.iter() {
                stores::seats::set_limit(unit.conn, key, *limit)?;
            }
            Ok(())
        })
        .map_err(|e| BringUpError::Unreachable(e.to_string()))
    }

    fn check_secret_fingerprint(&self, fingerprint: &str) -> Result<(), BringUpError> {
        let unreachable = |e: String| BringUpError::Unreachable(e);
        let mut conn = self
            .checkout()
            .map_err(|_| unreachable("cannot connect to the database".into()))?;
        let stored: Option<String> = instance_state::table
            .find("secret_fingerprint")
            .select(instance_state::value)
            .first(&mut **conn)
            .optional()
            .map_err(|e| unreachable(e.to_string()))?;
        match stored {
            Some(s) if s == fingerprint => Ok(()),
            Some(_) => Err(BringUpError::Fatal(
                "ROSTER_SECRET_KEY differs from the key this database was first used with; \
                 every replica must use the same key (tokens signed by one must verify on all)"
                    .into(),
            )),
            None => diesel::insert_into(instance_state::table)
                .values((
                    instance_state::name.eq("secret_fingerprint"),
                    instance_state::value.eq(fingerprint),
                ))
                .execute(&mut **conn)
                .map(|_| ())
                .map_err(|e| unreachable(e.to_string())),
        }
    }
}

fn run<DB: diesel::backend::Backend>(
    c: &mut impl MigrationHarness<DB>,
    m: EmbeddedMigrations,
) -> Result<Vec<String>, String> {
    c.run_pending_migrations(m)
        .map(|v| v.iter().map(|m| m.to_string()).collect())
        .map_err(|e| e.to_string())
}

/// How many times a transaction is run when it collides with concurrent ones (a PostgreSQL
/// serialization failure or deadlock): the database decides races (SPEC §12), and losing one is
/// not the client's fault. After the last, the request answers 503 with `Retry-After`.
const ATTEMPTS: u32 = 4;

/// Runs `attempt` again while it fails with `Contention`, up to [`ATTEMPTS`] times, waiting a few
/// milliseconds (growing, with jitter) in between so the colliding transactions fall out of step.
pub(crate) fn retrying(mut attempt: impl FnMut() -> Result<()>) -> Result<()> {
    let mut n = 1;
    loop {
        match attempt() {
            Err(Error::Contention) if n < ATTEMPTS => {
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos() % 4_000_000);
                let wait = Duration::from_millis(2 << n) + Duration::from_nanos(u64::from(jitter));
                tracing::debug!(attempt = n, ?wait, "transaction collided; running it again");
                std::thread::sleep(wait);
                n += 1;
            }
            other => return other,
        }
    }
}

impl Store for Database {
    fn transaction(
        &self,
        mode: TxMode,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>,
    ) -> Result<()> {
        retrying(|| {
            if mode == TxMode::Write && self.backend == Backend::Sqlite {
                return self.write_on_sqlite(work);
            }
            let mut conn = self.conn()?;
            let done = in_transaction(&mut conn, mode, |unit| work(unit));
            conn.discard_if_lost(&done);
            done
        })
    }

    fn ping(&self) -> Result<()> {
        let mut conn = self.conn()?;
        let done = diesel::sql_query("SELECT 1")
            .execute(&mut **conn)
            .db()
            .map(|_| ());
        conn.discard_if_lost(&done);
        done
    }

    fn session(&self) -> Result<Box<dyn Store>> {
        Ok(Box::new(session::Session::new(self)?))
    }
}

//! One connection type over SQLite and PostgreSQL, chosen by the URL scheme; SQLite pragmas set
//! on every new connection; transactions that take SQLite's write lock up front.

use std::{
    ops::{Deref, DerefMut},
    time::{Duration, Instant},
};

use diesel::{
    connection::{AnsiTransactionManager, SimpleConnection, TransactionManager},
    pg::PgConnection,
    r2d2::{self, ManageConnection, R2D2Connection},
    sqlite::SqliteConnection,
    Connection,
};
use domain::ports::TxMode;

use crate::stores::{effects, Unit};

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the database is: `sqlite://PATH` or `postgres://…` (also `postgresql://…`).
#[derive(Debug, Clone)]
pub struct DatabaseUrl {
    pub backend: Backend,
    target: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://./data/roster.db".into());
            }
            Ok(Self {
                backend: Backend::Sqlite,
                target: path.to_owned(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self {
                backend: Backend::Postgres,
                target: url.to_owned(),
            })
        } else {
            Err("the database URL must start with sqlite:// or postgres://".into())
        }
    }

    /// The SQLite file path, for creating its directory.
    pub fn sqlite_path(&self) -> Option<&str> {
        (self.backend == Backend::Sqlite).then_some(self.target.as_str())
    }
}

/// Opens connections for r2d2: SQLite ones get WAL, a busy timeout and foreign keys, and leave
/// checkpoints to the checkpoint thread; PostgreSQL ones a connect timeout, TCP keepalives and a
/// user timeout (a host that vanished breaks the connection instead of hanging it) and a
/// `statement_timeout`, all from the configured timeout unless the URL sets them.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
    timeout: Duration,
}

impl Manager {
    pub fn new(url: DatabaseUrl, timeout: Duration) -> Self {
        Self { url, timeout }
    }

    /// The PostgreSQL URL with the timeouts libpq applies itself added, where the URL does not set
    /// them (they apply to TCP; libpq ignores the TCP ones on a Unix socket).
    fn postgres_target(&self) -> String {
        let secs = self.timeout.as_secs().max(2);
        let params = [
            ("connect_timeout", secs.to_string()),
            ("keepalives", "1".into()),
            ("keepalives_idle", "5".into()),
            ("keepalives_interval", "2".into()),
            ("keepalives_count", "3".into()),
            ("tcp_user_timeout", (secs * 1000).to_string()),
        ];
        let mut target = self.url.target.clone();
        for (name, value) in params {
            if !target.contains(&format!("{name}=")) {
                target.push(if target.contains('?') { '&' } else { '?' });
                target.push_str(&format!("{name}={value}"));
            }
        }
        target
    }
}

/// A connection idle this long is checked (`SELECT 1`) before it is handed out.
const CHECK_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// A pooled connection and when it was last handed back. Checking every connection at every
/// checkout costs PostgreSQL a round trip per request (a third of a read's); a connection in
/// steady use is not checked, one that sat idle (across a database restart, say) is. A connection
/// that fails in use is discarded on return (`has_broken`), and that request answers 503.
pub struct Pooled {
    conn: DbConn,
    returned: Instant,
    /// Its work failed as only a lost connection (or a database that stopped answering) fails.
    lost: bool,
}

impl Pooled {
    /// Marks the connection to be discarded when it goes back to the pool if `done` failed with
    /// `Unavailable`. Diesel counts a PostgreSQL connection broken only when a transaction on it
    /// broke: one whose server went away between transactions would otherwise go back into the
    /// pool, be handed out at once (a connection in steady use is not checked) and fail every
    /// request that gets it.
    pub(crate) fn discard_if_lost<T>(&mut self, done: &domain::Result<T>) {
        if matches!(done, Err(domain::Error::Unavailable)) {
            self.lost = true;
        }
    }
}

impl Deref for Pooled {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = self.open()?;
        Ok(Pooled {
            conn,
            returned: Instant::now(),
            lost: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        if pooled.returned.elapsed() < CHECK_WHEN_IDLE_FOR {
            return Ok(());
        }
        pooled
            .conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.returned = Instant::now();
        pooled.lost || is_broken(&mut pooled.conn)
    }
}

/// Diesel's own check (a lost PostgreSQL connection, a broken transaction), plus: a transaction
/// still open.
pub(crate) fn is_broken(conn: &mut DbConn) -> bool {
    let (broken, status) = match conn {
        DbConn::Pg(c) => (
            R2D2Connection::is_broken(c),
            AnsiTransactionManager::transaction_manager_status_mut(c),
        ),
        DbConn::Sqlite(c) => (
            R2D2Connection::is_broken(c),
            AnsiTransactionManager::transaction_manager_status_mut(c),
        ),
    };
    broken || !matches!(status.transaction_depth(), Ok(None))
}

impl Manager {
    /// A new connection, set up as the pool's are.
    pub(crate) fn open(&self) -> Result<DbConn, r2d2::Error> {
        let mut conn = self.open_for_migrations()?;
        if let DbConn::Pg(c) = &mut conn {
            let ms = self.timeout.as_millis();
            let shard = crate::stores::seats::connection_shard();
            c.batch_execute(&format!(
                "SET statement_timeout = {ms}; SET roster.seat_shard = {shard}"
            ))
            .map_err(r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    /// A new connection without a statement timeout, for migrations.
    pub(crate) fn open_for_migrations(&self) -> Result<DbConn, r2d2::Error> {
        match self.url.backend {
            Backend::Postgres => PgConnection::establish(&self.postgres_target())
                .map(DbConn::Pg)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(&self.url.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                let pragmas = format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA wal_autocheckpoint = 0;",
                    self.timeout.as_millis()
                );
                c.batch_execute(&pragmas).map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(c))
            }
        }
    }
}

/// Runs `work` in one unit of work ([`Unit`]): one transaction, whose side effects (what the work
/// recorded on the unit) are written just before it commits. A write transaction on SQLite starts
/// with `BEGIN IMMEDIATE` so it queues for the write lock (busy timeout) instead of failing when it
/// later writes. Read units run statement by statement, or inside the read transaction of a
/// session (`session`), and may not record side effects.
pub(crate) fn in_transaction<T>(
    conn: &mut DbConn,
    mode: TxMode,
    work: impl FnOnce(&mut Unit<'_>) -> domain::Result<T>,
) -> domain::Result<T> {
    if mode == TxMode::Read {
        // Reads run statement by statement (autocommit): PostgreSQL's READ COMMITTED gives each
        // statement its own snapshot even inside a transaction, and every rule that needs several
        // statements to agree runs in a write transaction. Saves BEGIN/COMMIT on every request.
        let mut unit = Unit::new(conn);
        let value = work(&mut unit)?;
        if !unit.effects.is_empty() {
            return Err(domain::Error::Internal(
                "a read unit of work recorded side effects".into(),
            ));
        }
        return Ok(value);
    }
    let begun = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c),
    };
    begun.map_err(crate::error::map)?;
    let done = {
        let mut unit = Unit::new(conn);
        work(&mut unit).and_then(|value| {
            effects::write(unit.conn, &unit.effects)?;
            Ok(value)
        })
    };
    match done {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)
                .map_err(crate::error::map)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) =
                <DbConn as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

//! One request's connection ([`Store::session`]): the caller's lookup and the work that follows
//! share one pooled connection, and on SQLite consecutive reads share one read transaction.
//!
//! A SQLite statement run on its own takes and drops WAL read locks (`fcntl`) and re-checks the
//! pager's cache, a quarter of a `read`'s database time for its two lookups; inside one
//! transaction that happens once. Its `BEGIN` and `COMMIT` are statements diesel keeps prepared
//! (its transaction manager sends them as text, parsed every time).

use std::sync::{Mutex, PoisonError};

use diesel::{
    connection::{AnsiTransactionManager, TransactionManager as _},
    query_builder::{AstPass, QueryFragment, QueryId},
    r2d2::PooledConnection,
    sqlite::Sqlite,
    QueryResult, RunQueryDsl, SqliteConnection,
};
use domain::{
    ports::{Store, Tx, TxMode},
    Result,
};

use crate::{
    conn::{in_transaction, DbConn, Manager},
    stores::Db,
    Database,
};

/// A [`Database`] through one connection, held until dropped.
pub(crate) struct Session {
    db: Database,
    held: Mutex<Held>,
}

struct Held {
    conn: PooledConnection<Manager>,
    /// A SQLite read transaction is open on `conn`.
    reading: bool,
}

impl Session {
    pub(crate) fn new(db: &Database) -> Result<Self> {
        Ok(Self {
            db: db.clone(),
            held: Mutex::new(Held {
                conn: db.conn()?,
                reading: false,
            }),
        })
    }
}

impl Held {
    fn sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match &mut **self.conn {
            DbConn::Sqlite(c) => Some(c),
            DbConn::Pg(_) => None,
        }
    }

    fn begin_read(&mut self) -> Result<()> {
        if let (false, Some(c)) = (self.reading, self.sqlite()) {
            Begin.execute(c).db()?;
            self.reading = true;
        }
        Ok(())
    }

    /// Ends the read transaction, if one is open. A connection whose transaction cannot be ended
    /// is marked broken, so the pool discards it instead of handing it out mid-transaction.
    fn end_read(&mut self) -> Result<()> {
        if !self.reading {
            return Ok(());
        }
        self.reading = false;
        let Some(c) = self.sqlite() else {
            return Ok(());
        };
        if let Err(e) = Commit.execute(c) {
            AnsiTransactionManager::transaction_manager_status_mut(c).set_in_error();
            return Err(crate::error::map(e));
        }
        Ok(())
    }
}

impl Store for Session {
    fn transaction(
        &self,
        mode: TxMode,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>,
    ) -> Result<()> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        crate::retrying(|| {
            match mode {
                TxMode::Read => held.begin_read()?,
                TxMode::Write => held.end_read()?,
            }
            if mode == TxMode::Write && held.sqlite().is_some() {
                return self.db.write_on_sqlite(work);
            }
            let done = in_transaction(&mut held.conn, mode, |unit| work(unit));
            held.conn.discard_if_lost(&done);
            done
        })
    }

    fn ping(&self) -> Result<()> {
        self.db.ping()
    }

    fn session(&self) -> Result<Box<dyn Store>> {
        self.db.session()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let held = self.held.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = held.end_read() {
            tracing::warn!(error = %e, "cannot end a read transaction; the connection is dropped");
        }
    }
}

/// `BEGIN` and `COMMIT`, each a type of its own, so diesel keeps them prepared and finds them by
/// type (a statement keyed by its text is rebuilt and hashed at every use).
macro_rules! fixed_statement {
    ($($name:ident => $sql:literal),*) => {$(
        #[derive(Clone, Copy, QueryId)]
        struct $name;

        impl QueryFragment<Sqlite> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl RunQueryDsl<SqliteConnection> for $name {}
    )*};
}

fixed_statement!(Begin => "BEGIN", Commit => "COMMIT");

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use domain::settings::Settings;

    use super::*;
    use crate::{DatabaseConfig, DatabaseUrl};

    /// A migrated SQLite file of its own, through a pool of one connection: whatever a session
    /// leaves on its connection, the next unit of work meets.
    fn database(path: &std::path::Path) -> Database {
        let db = Database::open(&DatabaseConfig {
            url: DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap(),
            pool_size: 1,
            timeout: Duration::from_secs(5),
            seat_limits: Vec::new(),
        })
        .unwrap();
        db.bring_up("test-key-fingerprint").unwrap();
        db
    }

    fn locale(store: &(dyn Store + 'static)) -> String {
        store.read(|tx| tx.load_settings()).unwrap().locale
    }

    fn set_locale(store: &(dyn Store + 'static), locale: &str) {
        let settings = Settings {
            locale: locale.into(),
            ..Settings::default()
        };
        store.write(|tx| tx.save_settings(&settings)).unwrap();
    }

    #[test]
    fn a_sessions_reads_share_a_snapshot_until_it_writes_and_leave_no_transaction_behind() {
        let dir = std::env::temp_dir().join(format!("roster-session-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("session.db");
        let db = database(&path);
        // Another process's view of the same file.
        let other = database(&path);
        set_locale(&db, "en");

        let session = db.session().unwrap();
        assert_eq!(locale(&*session), "en");
        set_locale(&other, "de");
        assert_eq!(locale(&*session), "en", "reads share one snapshot");
        set_locale(&*session, "fr");
        assert_eq!(locale(&*session), "fr", "a write ends the snapshot");
        assert_eq!(locale(&*session), "fr");
        drop(session);

        // The pool's only connection came back without an open transaction: a write can begin.
        set_locale(&db, "nl");
        assert_eq!(locale(&other), "nl");
        drop((db, other));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The domain's storage ports, implemented over one connection inside one transaction (a
//! [`Unit`]), one module per concern: `accounts` (reads), `writer` (every write of an account and
//! what is derived from it), `list` (filters and paging), `callers` (authenticating a request),
//! `records` (setup, API tokens, settings), `sessions` (sessions, refresh tokens, sign-in
//! challenges), `effects` (what a unit of work causes, written before
//! it commits), `statements` (the measured special statement types).

mod accounts;
mod applications;
mod assignments;
mod audit;
mod callers;
pub(crate) mod effects;
mod generations;
mod groups;
mod idempotency;
mod list;
mod mfa;
mod outbox;
mod records;
pub(crate) mod seats;
mod sessions;
pub(crate) mod statements;
pub(crate) mod writer;

use diesel::result::QueryResult;
use domain::{effects::Effects, ports::UnitOfWork};

use crate::{conn::DbConn, error};

/// One unit of work: every port, over the connection of the current transaction, and the side
/// effects its work records (written by `conn::in_transaction` before the commit).
pub(crate) struct Unit<'a> {
    pub conn: &'a mut DbConn,
    pub effects: Effects,
}

impl<'a> Unit<'a> {
    pub fn new(conn: &'a mut DbConn) -> Self {
        Self {
            conn,
            effects: Effects::default(),
        }
    }
}

impl UnitOfWork for Unit<'_> {
    fn effects(&mut self) -> &mut Effects {
        &mut self.effects
    }

    fn flush_effects(&mut self) -> domain::Result<()> {
        effects::write(self.conn, &self.effects)?;
        self.effects = Effects::default();
        Ok(())
    }
}

/// Maps a diesel result into the domain's, naming the rule a constraint enforces.
pub(crate) trait Db<T> {
    fn db(self) -> domain::Result<T>;
}

impl<T> Db<T> for QueryResult<T> {
    fn db(self) -> domain::Result<T> {
        self.map_err(error::map)
    }
}

/// Runs `$body` with `$c` bound to the concrete backend connection. Each arm type-checks the
/// query for its own backend, so diesel caches the prepared statement by type without building
/// SQL text per execution (which the two-backend connection type does).
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::conn::DbConn::Pg($c) => $body,
            $crate::conn::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

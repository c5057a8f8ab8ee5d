//! The domain's storage ports, implemented over one connection inside one transaction.

mod accounts;
mod records;

use diesel::result::QueryResult;

use crate::{conn::DbConn, error};

/// One unit of work: every port, over the connection of the current transaction.
pub(crate) struct Unit<'a> {
    pub conn: &'a mut DbConn,
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

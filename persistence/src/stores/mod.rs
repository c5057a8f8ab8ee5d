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

/// Inserts `rows` into `table` with multi-row statements of `per_statement` rows, on the
/// concrete backend (multi-row inserts are not available through the two-backend connection).
/// Sizes keep under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
macro_rules! insert_batched {
    ($conn:expr, $table:expr, $rows:expr, $per_statement:expr) => {{
        use diesel::RunQueryDsl as _;
        use $crate::stores::Db as _;
        match $conn {
            $crate::conn::DbConn::Pg(c) => {
                for chunk in $rows.chunks($per_statement) {
                    diesel::insert_into($table).values(chunk).execute(c).db()?;
                }
            }
            $crate::conn::DbConn::Sqlite(c) => {
                for chunk in $rows.chunks($per_statement) {
                    diesel::insert_into($table).values(chunk).execute(c).db()?;
                }
            }
        }
    }};
}
pub(crate) use insert_batched;

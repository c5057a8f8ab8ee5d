//! The one place a unit of work's side effects ([`Effects`]) are written: inside its transaction,
//! after its work and just before the commit (see `conn::in_transaction`): audit events and outbox
//! messages; hash-chain links join them here. One exception: on PostgreSQL a new account's
//! statement takes the one audit event recorded before it and writes it itself (`writer`), which
//! saves a create a round trip.

use domain::{effects::Effects, Result};

use super::statements::{insert_batched, insert_few};
use crate::{
    conn::DbConn,
    models::{AuditRow, MessageRow},
    schema::{audit_events, outbox},
};

pub(crate) fn write(conn: &mut DbConn, effects: &Effects) -> Result<()> {
    let rows: Vec<AuditRow> = effects.audit_events().iter().map(AuditRow::new).collect();
    if rows.len() <= 8 {
        // A request's one or few events: a statement of fixed arity, kept prepared.
        insert_few!(conn, audit_events::table, rows.as_slice());
    } else {
        // A bulk creation's: 2,500 rows of 11 values keep under SQLite's 32,766 parameters.
        insert_batched!(conn, audit_events::table, rows, 2500);
    }
    let messages: Vec<MessageRow> = effects.messages().iter().map(MessageRow::new).collect();
    // 13 values a row.
    insert_batched!(conn, outbox::table, messages, 2000);
    Ok(())
}

//! What `GET /metrics` reads from the database at each scrape: seats, the outbox's backlog and
//! the audit events waiting for their link. Counters (requests, sign-ins) live in the process.

use super::{Credential, Services};
use crate::{outbox::MessageState, roles::Permission, seats::SeatUsage, Result};

/// The database's side of the metrics, read in one transaction.
#[derive(Debug, Clone)]
pub struct Gauges {
    /// Every seat's holders and limit, as `GET /seats` lists them.
    pub seats: Vec<SeatUsage>,
    /// How many outbox messages are in each state (states without any are left out).
    pub outbox: Vec<(MessageState, i64)>,
    /// Audit events committed and not yet linked to the hash chain.
    pub audit_unlinked: u64,
}

impl Services {
    /// The gauges of `GET /metrics` (`metrics:read`).
    pub async fn gauges(&self, credential: Credential) -> Result<Gauges> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::MetricsRead)?;
            let roles: Vec<String> = s.catalog.roles().iter().map(|r| r.name.clone()).collect();
            s.store.read(|tx| {
                let head = tx.chain_head(false)?;
                Ok(Gauges {
                    seats: tx.seat_usage(&roles)?,
                    outbox: tx.count_messages()?,
                    audit_unlinked: tx.count_unlinked(&head)?,
                })
            })
        })
        .await
    }
}

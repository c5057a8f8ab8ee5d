//! Reading the audit trail (SPEC §9): `audit:read`, a page at a time, newest first.

use super::{Credential, Services};
use crate::{
    audit::{AuditQuery, RecordedEvent},
    roles::Permission,
    Result,
};

impl Services {
    /// One page of events matching `query`, and whether another follows.
    pub async fn audit_events(
        &self,
        credential: Credential,
        query: AuditQuery,
    ) -> Result<(Vec<RecordedEvent>, bool)> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::AuditRead)?;
            let mut rows = s.store.read(|tx| tx.list_audit_events(&query))?;
            let more = rows.len() > query.limit as usize;
            rows.truncate(query.limit as usize);
            Ok((rows, more))
        })
        .await
    }
}

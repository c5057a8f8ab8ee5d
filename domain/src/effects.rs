//! What a change causes besides itself: audit events now; outbox messages and hash-chain links
//! next. A use case records them on its unit of work ([`crate::ports::UnitOfWork::effects`]);
//! persistence writes them in one place, inside the same transaction, just before it commits. So
//! nothing is recorded for a change that rolled back, and nothing is lost for one that committed
//! (STYLE 13; SPEC §5 outbox, §9 audit).

use crate::audit::AuditEvent;

/// The side effects of one unit of work, in the order they were recorded.
#[derive(Debug, Default)]
pub struct Effects {
    audit: Vec<AuditEvent>,
}

impl Effects {
    /// Records an audit event (SPEC §9) of this unit of work.
    pub fn audit(&mut self, event: AuditEvent) {
        self.audit.push(event);
    }

    /// The audit events recorded, oldest first.
    pub fn audit_events(&self) -> &[AuditEvent] {
        &self.audit
    }

    /// Takes the audit events recorded so far, for a store that writes them inside a statement of
    /// its own (a new account's on PostgreSQL); those recorded later are written as usual.
    pub fn take_audit_events(&mut self) -> Vec<AuditEvent> {
        std::mem::take(&mut self.audit)
    }

    pub fn is_empty(&self) -> bool {
        self.audit.is_empty()
    }
}

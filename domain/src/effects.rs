//! What a change causes besides itself: audit events and outbox messages now; hash-chain links
//! next. A use case records them on its unit of work ([`crate::ports::UnitOfWork::effects`]);
//! persistence writes them in one place, inside the same transaction, just before it commits. So
//! nothing is recorded for a change that rolled back, and nothing is lost for one that committed
//! (STYLE 13; SPEC §5 outbox, §9 audit).

use crate::{
    account::Account,
    audit::AuditEvent,
    outbox::{Message, MessageKind},
};

/// The side effects of one unit of work, in the order they were recorded.
#[derive(Debug, Default)]
pub struct Effects {
    audit: Vec<AuditEvent>,
    messages: Vec<Message>,
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

    /// Queues an email of `kind` to `account` (SPEC §5 outbox), unless the account asked for none
    /// (`email_notifications: false`): the one place that rule is kept. `generation`: the account's
    /// token generation for the link the message carries.
    pub fn notify(&mut self, account: &Account, kind: MessageKind, generation: Option<i64>) {
        if account.email_notifications {
            self.messages
                .push(Message::about(account, kind, generation));
        }
    }

    /// The outbox messages recorded, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.messages.is_empty()
    }
}

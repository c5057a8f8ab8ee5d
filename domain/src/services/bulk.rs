//! Creating many accounts in one transaction: every row is validated as a single create would
//! be, and each account gets its own `user.created` audit event in the same transaction.
//! `roster seed` uses it; the CSV import builds on it.

use super::{accounts::NewAccount, Services};
use crate::{
    account::Account,
    audit::{action, Actor, AuditEvent, Origin},
    Error, FieldError, Result,
};

impl Services {
    /// Validates every input (the first invalid row fails the whole batch, naming the row),
    /// then inserts all of them, with their audit events, in one transaction. Accounts created
    /// this way have no password (they are `invited`); uniqueness is decided by the database.
    pub async fn bulk_create_accounts(
        &self,
        actor: Actor,
        inputs: Vec<NewAccount>,
        channel: &'static str,
        origin: Origin,
    ) -> Result<Vec<Account>> {
        self.database(move |s| s.insert_many(actor, inputs, channel, &origin))
            .await
    }

    fn insert_many(
        &self,
        actor: Actor,
        inputs: Vec<NewAccount>,
        channel: &str,
        origin: &Origin,
    ) -> Result<Vec<Account>> {
        let settings = self.store.read(|tx| tx.load_settings())?;
        let mut accounts = Vec::with_capacity(inputs.len());
        for (row, mut input) in inputs.into_iter().enumerate() {
            input.password = None;
            let (account, _) = self
                .parse_new(input, &settings, channel)
                .map_err(|e| match e {
                    Error::Validation(errors) => Error::Validation(
                        errors
                            .into_iter()
                            .map(|f| {
                                FieldError::new(format!("[{row}].{}", f.field), f.code, f.message)
                            })
                            .collect(),
                    ),
                    other => other,
                })?;
            accounts.push(account);
        }
        let events: Vec<AuditEvent> = accounts
            .iter()
            .map(|a| AuditEvent::new(actor.clone(), action::USER_CREATED, origin).on_account(a))
            .collect();
        self.store.write(|tx| {
            tx.insert_accounts(&accounts)?;
            for event in &events {
                tx.effects().audit(event.clone());
            }
            Ok(accounts.clone())
        })
    }
}

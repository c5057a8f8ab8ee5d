//! First-run setup (SPEC §1): the first account, an admin, created only while no account exists.
//! Of many concurrent calls exactly one wins; the database decides.

use super::{accounts::NewAccount, Services};
use crate::{
    account::Account,
    audit::{action, Actor, AuditEvent, Origin},
    roles::ADMIN,
    Error, Result,
};

#[derive(Debug, Clone, Default)]
pub struct SetupInput {
    pub username: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    pub locale: Option<String>,
}

impl Services {
    pub async fn needs_setup(&self) -> Result<bool> {
        self.database(|s| Ok(s.store.read(|tx| tx.count_accounts())? == 0))
            .await
    }

    /// Creates the first admin, makes it the primary contact, and closes setup for good: the
    /// check, the password's hash (on the hashing threads), then the claim and the insert.
    pub async fn setup(&self, input: SetupInput, origin: Origin) -> Result<Account> {
        let (mut account, password) = self
            .database(move |s| {
                let settings = s.store.read(|tx| {
                    if tx.count_accounts()? > 0 {
                        return Err(Error::SetupAlreadyDone);
                    }
                    tx.load_settings()
                })?;
                let new = NewAccount {
                    username: input.username,
                    email: input.email,
                    first_name: input.first_name,
                    last_name: input.last_name,
                    password: Some(input.password),
                    locale: input.locale,
                    roles: Some(vec![ADMIN.to_owned()]),
                    ..NewAccount::default()
                };
                let (account, password) = s.parse_new(new, &settings, "setup")?;
                let password =
                    password.ok_or_else(|| Error::Internal("setup without a password".into()))?;
                Ok((account, password))
            })
            .await?;
        account.password_hash = Some(self.hashing(move |h| h.hash(&password)).await?);
        account.activated_at = Some(account.created_at);
        self.database(move |s| {
            s.store.write(|tx| {
                if !tx.claim_setup()? || tx.count_accounts()? > 0 {
                    return Err(Error::SetupAlreadyDone);
                }
                tx.insert_account(&account)?;
                let mut settings = tx.load_settings()?;
                settings.primary_contact = Some(account.id);
                tx.save_settings(&settings)?;
                tx.effects().audit(
                    AuditEvent::new(Actor::anonymous(), action::SETUP_COMPLETED, &origin)
                        .on_account(&account),
                );
                Ok(account.clone())
            })
        })
        .await
    }
}

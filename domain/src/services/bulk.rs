//! Work on many accounts at once (SPEC §7): creating many in one transaction (every row validated
//! as a single create would be, each with its own `user.created` audit event; `roster seed` uses
//! it), the bulk edit (all or nothing), and the bulk delete, unlock and password reset (each
//! account its own result). Each account's change goes through the rules and audit of a single
//! request's, in the same transaction as the change.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{
    accounts::{AccountPatch, DeleteOutcome, NewAccount},
    Credential, Services,
};
use crate::{
    account::Account,
    audit::{action, Actor, AuditEvent, Origin},
    one_time::{OneTimeToken, NONCE_BYTES},
    roles::Permission,
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

/// The most accounts one bulk edit changes.
pub const MAX_BULK_EDIT: usize = 1000;
/// The most accounts one bulk delete, unlock or password reset acts on.
pub const MAX_BULK_ACTION: usize = 500;
/// Accounts acted on per database step of a bulk action (each in a transaction of its own), so a
/// long list stays within a step's deadline.
const PER_STEP: usize = 25;

/// What a bulk edit (`PATCH /users`) may change: never a unique field (username, email), nor
/// anything that tells one person from another.
#[derive(Debug, Clone, Default)]
pub struct BulkChanges {
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
    pub locale: Option<String>,
    pub mfa_required: Option<bool>,
}

/// Which accounts a bulk edit changed, and which it left as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkEdit {
    pub updated: Vec<Uuid>,
    pub unchanged: Vec<Uuid>,
}

/// A bulk action done to each account (each account's own result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Delete,
    Unlock,
    PasswordReset,
}

impl BulkAction {
    pub fn name(self) -> &'static str {
        match self {
            BulkAction::Delete => "delete",
            BulkAction::Unlock => "unlock",
            BulkAction::PasswordReset => "password_reset",
        }
    }
}

/// What a bulk action did to one account.
#[derive(Debug)]
pub enum BulkOutcome {
    Deleted(DeleteOutcome),
    /// `true`: it was locked (or had failures) and is not now.
    Unlocked(bool),
    ResetLink(OneTimeToken, DateTime<Utc>),
    /// Nothing, for this rule (the account's own error, as a single request would answer it).
    Failed(Error),
}

/// The ids, each once, in the order given: at least one, at most `max`.
fn distinct(ids: Vec<Uuid>, max: usize) -> Result<Vec<Uuid>> {
    if ids.is_empty() {
        return Err(Error::invalid(
            "ids",
            "required",
            "name at least one account",
        ));
    }
    let mut seen = HashSet::new();
    let ids: Vec<Uuid> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
    if ids.len() > max {
        return Err(Error::invalid(
            "ids",
            "too_many",
            format!("name at most {max} accounts at once"),
        ));
    }
    Ok(ids)
}

impl Services {
    /// Applies `changes` to every account of `ids` in one transaction, each by the rules of a
    /// single change (seats, the last admin, the primary contact, own roles) and audited on its
    /// own: all of them, or (one breaking a rule) none. Consequences to confirm are gathered over
    /// every account first; unknown ids are named together.
    pub async fn bulk_update_accounts(
        &self,
        credential: Credential,
        ids: Vec<Uuid>,
        changes: BulkChanges,
        confirm: bool,
        origin: Origin,
    ) -> Result<BulkEdit> {
        let ids = distinct(ids, MAX_BULK_EDIT)?;
        if changes.roles.is_none()
            && changes.active.is_none()
            && changes.locale.is_none()
            && changes.mfa_required.is_none()
        {
            return Err(Error::invalid(
                "changes",
                "required",
                "give at least one of roles, active, locale, mfa_required",
            ));
        }
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            if changes.active.is_some() && ids.contains(&caller.id) {
                return Err(Error::OwnActive);
            }
            let patch = AccountPatch {
                roles: changes.roles.clone(),
                active: changes.active,
                locale: changes.locale.clone(),
                mfa_required: changes.mfa_required,
                confirm,
                ..AccountPatch::default()
            };
            s.store.write(|tx| {
                let mut edit = BulkEdit::default();
                let mut unknown = Vec::new();
                let mut consequences = BTreeSet::new();
                for &id in &ids {
                    match s.change_in(tx, &caller, id, patch.clone(), None, &origin) {
                        Ok((_, true)) => edit.updated.push(id),
                        Ok((_, false)) => edit.unchanged.push(id),
                        Err(Error::UserNotFound) => unknown.push(id.to_string()),
                        Err(Error::ConfirmationRequired(found)) => consequences.extend(found),
                        Err(other) => return Err(other),
                    }
                }
                if !unknown.is_empty() {
                    return Err(Error::invalid(
                        "ids",
                        "unknown_account",
                        format!("no such account: {}", unknown.join(", ")),
                    ));
                }
                if !consequences.is_empty() {
                    return Err(Error::ConfirmationRequired(
                        consequences.into_iter().collect(),
                    ));
                }
                if !edit.updated.is_empty() {
                    tx.effects().audit(
                        AuditEvent::new(
                            Actor::caller(&caller),
                            action::USERS_BULK_UPDATED,
                            &origin,
                        )
                        .details(json!({
                            "requested": ids.len(),
                            "updated": edit.updated.len(),
                            "unchanged": edit.unchanged.len(),
                            "changes": {
                                "roles": changes.roles,
                                "active": changes.active,
                                "locale": changes.locale,
                                "mfa_required": changes.mfa_required,
                            },
                        })),
                    );
                }
                Ok(edit)
            })
        })
        .await
    }

    /// `action` on each account of `ids`, each in a transaction of its own and audited as a
    /// single request's would be, each with its own result. `nonces`: one per id, to seal a
    /// reset link. Fails as a whole only when the caller may not act at all.
    pub async fn bulk_act(
        &self,
        credential: Credential,
        action: BulkAction,
        ids: Vec<Uuid>,
        nonces: Vec<[u8; NONCE_BYTES]>,
        origin: Origin,
    ) -> Result<Vec<(Uuid, BulkOutcome)>> {
        let ids = distinct(ids, MAX_BULK_ACTION)?;
        let mut nonces = nonces.into_iter();
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PER_STEP) {
            let items: Vec<(Uuid, [u8; NONCE_BYTES])> = chunk
                .iter()
                .map(|&id| (id, nonces.next().unwrap_or_default()))
                .collect();
            let credential = credential.clone();
            let origin = origin.clone();
            let done = self
                .database(move |s| {
                    let caller = s.authenticate(&credential)?;
                    caller.require(&s.catalog, Permission::UsersWrite)?;
                    Ok(items
                        .into_iter()
                        .map(|(id, nonce)| {
                            let outcome = match action {
                                BulkAction::Delete => s
                                    .remove_account(&caller, id, &origin)
                                    .map(BulkOutcome::Deleted),
                                BulkAction::Unlock => s
                                    .unlock(&caller, id, &origin)
                                    .map(|(_, lifted)| BulkOutcome::Unlocked(lifted)),
                                BulkAction::PasswordReset => s
                                    .reset_link(&caller, id, &origin, nonce)
                                    .map(|(token, until)| BulkOutcome::ResetLink(token, until)),
                            };
                            (id, outcome.unwrap_or_else(BulkOutcome::Failed))
                        })
                        .collect::<Vec<_>>())
                })
                .await?;
            results.extend(done);
        }
        // One event for the request as a whole (each account has its own already).
        let failed = results
            .iter()
            .filter(|(_, o)| matches!(o, BulkOutcome::Failed(_)))
            .count();
        let summary =
            json!({"action": action.name(), "requested": results.len(), "failed": failed});
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            s.store.write(|tx| {
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::USERS_BULK_ACTION, &origin)
                        .details(summary.clone()),
                );
                Ok(())
            })
        })
        .await?;
        Ok(results)
    }
}

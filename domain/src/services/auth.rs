//! Sign-in and authentication of requests (SPEC §4). Every failure answers the same
//! `InvalidCredentials`; the true reason goes to the audit log.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Services;
use crate::{
    account::Account,
    api_token::{ApiTokenSecret, ApiTokenUse},
    audit::{action, Actor, AuditEvent, Origin},
    password::Password,
    policy::{Caller, CallerAccount},
    values::fold,
    Error, Result,
};

/// `last_used_at` of an API token is written at most this often, not on every request.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// A successful sign-in.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account: Account,
}

impl Services {
    /// Checks a login (username or email) and password. Unknown logins still spend one hash
    /// verification, so response time does not reveal which accounts exist.
    pub fn login(&self, login: &str, password: &str, origin: &Origin) -> Result<Authenticated> {
        let key = fold(login.trim());
        let found = if key.is_empty() {
            None
        } else {
            self.store.read(|tx| tx.find_account_by_login(&key))?
        };
        let offered = Password::offered(password);
        let verified = match &offered {
            Ok(p) => self
                .hasher
                .verify(p, found.as_ref().and_then(|a| a.password_hash.as_ref())),
            Err(_) => false,
        };
        let now = crate::now();
        let failure = match &found {
            None => Some("unknown_login"),
            Some(a) if a.password_hash.is_none() => Some("no_password"),
            Some(_) if !verified => Some("wrong_password"),
            Some(a) if !a.active => Some("inactive"),
            Some(a) if a.locked_at.is_some() => Some("locked"),
            Some(a) if !a.may_authenticate(now) => Some("expired"),
            Some(_) => None,
        };
        match (failure, found) {
            (None, Some(account)) => self.store.write(|tx| {
                tx.touch_last_active(account.id, now)?;
                let event =
                    AuditEvent::new(Actor::account(&account), action::LOGIN_SUCCEEDED, origin)
                        .on_account(&account);
                tx.append_audit(&event)?;
                Ok(Authenticated { account })
            }),
            (reason, found) => {
                let reason = reason.unwrap_or("unknown_login");
                let mut event = AuditEvent::new(Actor::anonymous(), action::LOGIN_FAILED, origin)
                    .details(json!({"reason": reason, "login": login.chars().take(254).collect::<String>()}));
                if let Some(account) = &found {
                    event = event.on_account(account);
                }
                self.store.write(|tx| tx.append_audit(&event))?;
                Err(Error::InvalidCredentials)
            }
        }
    }

    /// The caller behind an access token's subject, with its current roles; `Unauthenticated`
    /// when the account is gone, inactive, locked or expired.
    pub fn caller_by_id(&self, id: Uuid) -> Result<Caller> {
        let account = self.store.read(|tx| tx.find_caller(id))?;
        admit_account(account.ok_or(Error::Unauthenticated)?)
    }

    /// Reads account `id` for the caller behind an access token's subject: the caller and the
    /// account in one statement, the caller admitted as by [`Services::caller_by_id`], then
    /// the read rule (`reveal_account`).
    pub fn get_account_by_caller_id(&self, caller: Uuid, id: Uuid) -> Result<Account> {
        let found = self
            .store
            .read(|tx| tx.find_caller_and_account(caller, id))?;
        let (caller, account) = found.ok_or(Error::Unauthenticated)?;
        self.reveal_account(&admit_account(caller)?, id, account)
    }

    /// The caller behind an API token, with its owner's current roles.
    pub fn caller_by_api_token(&self, secret: &ApiTokenSecret) -> Result<Caller> {
        let found = self.store.read(|tx| tx.find_api_token(&secret.hash()))?;
        let (token, owner) = found.ok_or(Error::Unauthenticated)?;
        self.admit_api_token(&token, owner)
    }

    /// Reads account `id` for the caller behind an API token: the token, its owner and the account
    /// in one statement, the caller admitted as by [`Services::caller_by_api_token`] (an unusable
    /// token is refused before anything about `id` is said), then
    /// the read rule (`reveal_account`).
    pub fn get_account_by_api_token(&self, secret: &ApiTokenSecret, id: Uuid) -> Result<Account> {
        let found = self
            .store
            .read(|tx| tx.find_api_token_and_account(&secret.hash(), id))?;
        let (token, owner, account) = found.ok_or(Error::Unauthenticated)?;
        self.reveal_account(&self.admit_api_token(&token, owner)?, id, account)
    }

    /// The caller an API token stands for, if the token has not expired and its owner may sign in
    /// now; records its use at most once a minute.
    fn admit_api_token(&self, token: &ApiTokenUse, owner: CallerAccount) -> Result<Caller> {
        let now = crate::now();
        if token.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Unauthenticated);
        }
        let caller = admit_account(owner)?;
        if stale(token.last_used_at, now) {
            self.store.write(|tx| tx.touch_api_token(token.id, now))?;
        }
        Ok(caller)
    }
}

/// The caller an account stands for, if it may sign in now (active, not locked, not expired).
fn admit_account(account: CallerAccount) -> Result<Caller> {
    account.admit(crate::now()).ok_or(Error::Unauthenticated)
}

fn stale(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|at| now - at >= TOUCH_INTERVAL)
}

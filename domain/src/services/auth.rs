//! Sign-in and authentication of requests (SPEC §4). Every failure answers the same
//! `InvalidCredentials`; the true reason goes to the audit log.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Services;
use crate::{
    account::Account,
    api_token::ApiTokenSecret,
    audit::{action, Actor, AuditEvent, Origin},
    password::Password,
    policy::Caller,
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
        let account = self
            .store
            .read(|tx| tx.find_account(id))?
            .ok_or(Error::Unauthenticated)?;
        if !account.may_authenticate(crate::now()) {
            return Err(Error::Unauthenticated);
        }
        Ok(Caller { account })
    }

    /// The caller behind an API token, with its owner's current roles.
    pub fn caller_by_api_token(&self, secret: &ApiTokenSecret) -> Result<Caller> {
        let hash = secret.hash();
        let now = crate::now();
        let (token, account) = self
            .store
            .read(|tx| tx.find_api_token(&hash))?
            .ok_or(Error::Unauthenticated)?;
        if token.expires_at.is_some_and(|at| at <= now) || !account.may_authenticate(now) {
            return Err(Error::Unauthenticated);
        }
        if stale(token.last_used_at, now) {
            self.store.write(|tx| tx.touch_api_token(token.id, now))?;
        }
        Ok(Caller { account })
    }
}

fn stale(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|at| now - at >= TOUCH_INTERVAL)
}

//! Sign-in and authentication of requests (SPEC §4). Every sign-in failure answers the same
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
    policy::Caller,
    ports::{CallerLookup, CredentialKey},
    roles::Permission,
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

/// A request's credential whose form (and, for an access token, signature and times) checked
/// out, and the permission its route requires; the database has not been asked yet. Use cases
/// authenticate it in their first database step.
#[derive(Debug, Clone)]
pub struct Credential {
    kind: Kind,
    required: Option<Permission>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A valid access token's subject.
    Access(Uuid),
    ApiToken(ApiTokenSecret),
}

impl Credential {
    /// A valid access token naming account `id`.
    pub fn access(id: Uuid) -> Self {
        Self {
            kind: Kind::Access(id),
            required: None,
        }
    }

    pub fn api_token(secret: ApiTokenSecret) -> Self {
        Self {
            kind: Kind::ApiToken(secret),
            required: None,
        }
    }

    /// The same credential, admitted only if its holder has `permission` (a route's requirement).
    pub fn requiring(self, permission: Permission) -> Self {
        Self {
            required: Some(permission),
            ..self
        }
    }
}

impl Services {
    /// Checks a login (username or email) and password, in three steps: the account is read, the
    /// password verified on the hashing threads, and the outcome recorded. Unknown logins still
    /// spend one hash verification, so response time does not reveal which accounts exist.
    pub async fn login(
        &self,
        login: String,
        password: String,
        origin: Origin,
    ) -> Result<Authenticated> {
        let key = fold(login.trim());
        let found = if key.is_empty() {
            None
        } else {
            self.database(move |s| s.store.read(|tx| tx.find_account_by_login(&key)))
                .await?
        };
        let hash = found.as_ref().and_then(|a| a.password_hash.clone());
        let verified = self
            .hashing(move |hasher| {
                Ok(Password::offered(&password).is_ok_and(|p| hasher.verify(&p, hash.as_ref())))
            })
            .await?;
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
            (None, Some(account)) => {
                let event =
                    AuditEvent::new(Actor::account(&account), action::LOGIN_SUCCEEDED, &origin)
                        .on_account(&account);
                let id = account.id;
                self.database(move |s| {
                    s.store.write(|tx| {
                        tx.touch_last_active(id, now)?;
                        tx.effects().audit(event.clone());
                        Ok(())
                    })
                })
                .await?;
                Ok(Authenticated { account })
            }
            (reason, found) => {
                let reason = reason.unwrap_or("unknown_login");
                let mut event = AuditEvent::new(Actor::anonymous(), action::LOGIN_FAILED, &origin)
                    .details(json!({"reason": reason, "login": login.chars().take(254).collect::<String>()}));
                if let Some(account) = &found {
                    event = event.on_account(account);
                }
                self.database(move |s| {
                    s.store.write(|tx| {
                        tx.effects().audit(event.clone());
                        Ok(())
                    })
                })
                .await?;
                Err(Error::InvalidCredentials)
            }
        }
    }

    /// The caller behind `credential`, with its current roles; `Unauthenticated` when the
    /// credential is unknown or expired, or its account is gone, inactive, locked or expired;
    /// `Forbidden` when it lacks the permission the credential's route requires. For a database
    /// step.
    pub(crate) fn authenticate(&self, credential: &Credential) -> Result<Caller> {
        self.look_up(credential, None).map(|(caller, _)| caller)
    }

    /// Reads account `id` for the caller behind `credential`: the caller and the account in one
    /// statement, the caller admitted as by [`Services::authenticate`] (an unusable credential is
    /// refused before anything about `id` is said), then the read rule (`reveal_account`).
    pub async fn get_account(&self, credential: Credential, id: Uuid) -> Result<Account> {
        self.database(move |s| {
            let (caller, found) = s.look_up(&credential, Some(id))?;
            s.reveal_account(&caller, id, found)
        })
        .await
    }

    fn look_up(
        &self,
        credential: &Credential,
        target: Option<Uuid>,
    ) -> Result<(Caller, Option<Account>)> {
        let hash;
        let key = match &credential.kind {
            Kind::Access(id) => CredentialKey::Account(*id),
            Kind::ApiToken(secret) => {
                hash = secret.hash();
                CredentialKey::ApiToken(&hash)
            }
        };
        let found = self.store.read(|tx| tx.find_caller(key, target))?;
        let CallerLookup {
            caller,
            api_token,
            target,
        } = found.ok_or(Error::Unauthenticated)?;
        let now = crate::now();
        if api_token.as_ref().is_some_and(|t| expired(t, now)) {
            return Err(Error::Unauthenticated);
        }
        let caller = caller.admit(now).ok_or(Error::Unauthenticated)?;
        if let Some(token) = api_token.filter(|t| stale(t.last_used_at, now)) {
            self.store.write(|tx| tx.touch_api_token(token.id, now))?;
        }
        if let Some(permission) = credential.required {
            caller.require(&self.catalog, permission)?;
        }
        Ok((caller, target))
    }
}

fn expired(token: &ApiTokenUse, now: DateTime<Utc>) -> bool {
    token.expires_at.is_some_and(|at| at <= now)
}

/// Whether a token's use should be recorded now (at most once a minute).
fn stale(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|at| now - at >= TOUCH_INTERVAL)
}

//! API tokens (SPEC §4): a user manages their own; a holder of `api_tokens:manage` manages
//! anyone's. The secret is shown once, at creation, and only its hash is stored.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{fields, Credential, Services};
use crate::{
    api_token::{ApiToken, ApiTokenSecret},
    audit::{action, Actor, AuditEvent, Origin},
    policy::Caller,
    roles::Permission,
    validate::Checks,
    values::BoundedText,
    Error, Result,
};

impl Services {
    fn require_token_owner_access(&self, caller: &Caller, owner: Uuid) -> Result<()> {
        if caller.is(owner) {
            Ok(())
        } else {
            caller.require(&self.catalog, Permission::ApiTokensManage)
        }
    }

    /// A new API token of `owner` (`None`: the caller's own) with `secret`, which only the caller
    /// sees, once.
    pub async fn create_api_token(
        &self,
        credential: Credential,
        owner: Option<Uuid>,
        name: String,
        expires_at: Option<DateTime<Utc>>,
        secret: ApiTokenSecret,
        origin: Origin,
    ) -> Result<ApiToken> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            if caller.is_guest() {
                return Err(Error::GuestReadOnly);
            }
            let owner = owner.unwrap_or(caller.id);
            s.require_token_owner_access(&caller, owner)?;
            let mut checks = Checks::default();
            let name = checks.take("name", BoundedText::parse(&name, ApiToken::MAX_NAME_CHARS));
            let expires_at =
                expires_at.and_then(|at| checks.take("expires_at", fields::not_in_past(at)));
            checks.finish()?;
            let Some(name) = name.flatten() else {
                return Err(Error::invalid(
                    "name",
                    "required",
                    "a name is required, so you can tell tokens apart",
                ));
            };
            let token = ApiToken {
                id: Uuid::now_v7(),
                user_id: owner,
                name,
                display_prefix: secret.display_prefix().to_owned(),
                created_at: crate::now(),
                expires_at,
                last_used_at: None,
            };
            let hash = secret.hash();
            s.store.write(|tx| {
                let owner = tx.find_account(owner)?.ok_or(Error::UserNotFound)?;
                tx.insert_api_token(&token, &hash)?;
                let details = json!({"token_id": token.id, "name": token.name, "expires_at": token.expires_at});
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::API_TOKEN_CREATED, &origin)
                        .on_account(&owner)
                        .details(details),
                );
                Ok(token.clone())
            })
        })
        .await
    }

    /// The API tokens of `owner` (`None`: the caller's own).
    pub async fn list_api_tokens(
        &self,
        credential: Credential,
        owner: Option<Uuid>,
    ) -> Result<Vec<ApiToken>> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            let owner = owner.unwrap_or(caller.id);
            s.require_token_owner_access(&caller, owner)?;
            s.store.read(|tx| {
                tx.find_account(owner)?.ok_or(Error::UserNotFound)?;
                tx.list_api_tokens(owner)
            })
        })
        .await
    }

    /// Revokes API token `id` of `owner` (`None`: the caller's own).
    pub async fn revoke_api_token(
        &self,
        credential: Credential,
        owner: Option<Uuid>,
        id: Uuid,
        origin: Origin,
    ) -> Result<()> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            let owner = owner.unwrap_or(caller.id);
            s.require_token_owner_access(&caller, owner)?;
            s.store.write(|tx| {
                let owner = tx.find_account(owner)?.ok_or(Error::UserNotFound)?;
                if !tx.delete_api_token(owner.id, id)? {
                    return Err(Error::ApiTokenNotFound);
                }
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::API_TOKEN_REVOKED, &origin)
                        .on_account(&owner)
                        .details(json!({"token_id": id})),
                );
                Ok(())
            })
        })
        .await
    }
}

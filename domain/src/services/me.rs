//! Self-service (SPEC §1, §4): one's own account, one's password, one's sessions. Any
//! authenticated caller may use these; a guest may read and change their password, nothing else.

use serde_json::json;
use uuid::Uuid;

use super::{
    accounts::{check_version, diff, save_change},
    AccountPatch, Credential, Services,
};
use crate::{
    account::Account,
    audit::{action, Actor, AuditEvent, Origin},
    outbox::MessageKind,
    password::{self, Password},
    policy::Caller,
    roles::Permission,
    session::{RequiredAction, Session},
    Error, FieldError, Result,
};

impl Services {
    /// The caller's own account.
    pub async fn own_account(&self, credential: Credential) -> Result<Account> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            s.store
                .read(|tx| tx.find_account(caller.id))?
                .ok_or(Error::Unauthenticated)
        })
        .await
    }

    /// Changes the caller's own account. `patch` is the whole change a client sent: a field the
    /// holder does not manage is refused with the rule it breaks (`own_email`, `own_roles`, …)
    /// unless it repeats the current value, so a console may send back what it read.
    pub async fn update_own_account(
        &self,
        credential: Credential,
        patch: AccountPatch,
        if_match: Option<i64>,
        origin: Origin,
    ) -> Result<Account> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            s.store.write(|tx| {
                let before = tx
                    .find_account_for_update(caller.id)?
                    .ok_or(Error::Unauthenticated)?;
                check_version(if_match, &before)?;
                let allowed = own_fields(&before, &patch)?;
                let after = s.apply_patch(&caller, &before, allowed, 0)?;
                let changes = diff(&before, &after);
                if changes.is_empty() {
                    return Ok(before);
                }
                if before.is_guest() {
                    return Err(Error::GuestReadOnly);
                }
                save_change(tx, &caller, &before, after, changes, &origin)
            })
        })
        .await
    }

    /// Changes the caller's own password: the current one is required (a wrong one counts toward
    /// lockout like a failed sign-in), the new one must meet the policy and differ from it. Every
    /// other session of the account ends; the caller's own goes on.
    pub async fn change_own_password(
        &self,
        credential: Credential,
        current: String,
        new: String,
        origin: Origin,
    ) -> Result<()> {
        let keep = credential.session();
        let (account, min_length) = self
            .database(move |s| {
                let caller = s.authenticate(&credential)?;
                s.store.read(|tx| {
                    let account = tx.find_account(caller.id)?.ok_or(Error::Unauthenticated)?;
                    Ok((account, tx.load_settings()?.password_policy.min_length))
                })
            })
            .await?;
        let checked = password::check_new("new_password", &new, min_length, &account.identifiers());
        let old = account.password_hash.clone();
        let verdict = self
            .hashing(move |h| {
                let current_ok = match &old {
                    None => true,
                    Some(hash) => {
                        Password::offered(&current).is_ok_and(|p| h.verify(&p, Some(hash)))
                    }
                };
                if !current_ok {
                    return Ok(Err(()));
                }
                let new = checked.map_err(|e| Error::Validation(vec![e]))?;
                if h.verify(&new, old.as_ref()) {
                    return Err(Error::invalid(
                        "new_password",
                        "password_unchanged",
                        "the new password must differ from the current one",
                    ));
                }
                h.hash(&new).map(Ok)
            })
            .await?;
        let id = account.id;
        self.database(move |s| {
            s.store.write(|tx| {
                let now = crate::now();
                let before = tx.find_account_for_update(id)?.ok_or(Error::Unauthenticated)?;
                let mut after = before.clone();
                let Ok(hash) = &verdict else {
                    let settings = tx.load_settings()?;
                    let locked = after.record_failure(&settings.lockout, now);
                    tx.record_sign_in(after.id, &after.sign_in_record())?;
                    tx.effects().audit(
                        AuditEvent::new(Actor::account(&after), action::LOGIN_FAILED, &origin)
                            .on_account(&after)
                            .details(json!({"reason": "wrong_current_password", "failed_logins": after.failed_logins, "locked": locked})),
                    );
                    return Ok(Err(locked));
                };
                after.password_hash = Some(hash.clone());
                after.activated_at = after.activated_at.or(Some(now));
                after.version += 1;
                after.updated_at = now;
                after.updated_by = Some(id);
                tx.update_account(&before, &after)?;
                tx.clear_required_actions(id, &RequiredAction::PASSWORD)?;
                let ended = tx.delete_sessions_of(id, keep)?;
                tx.effects().audit(
                    AuditEvent::new(Actor::account(&after), action::PASSWORD_CHANGED, &origin)
                        .on_account(&after)
                        .details(json!({"by": "self", "other_sessions_ended": ended})),
                );
                tx.effects()
                    .notify(&after, MessageKind::PasswordChanged, None);
                Ok(Ok(()))
            })
        })
        .await?
        .map_err(|locked| {
            self.report_lockout(locked);
            Error::Validation(vec![FieldError::new(
                "current_password",
                "wrong_password",
                "the current password is not right",
            )])
        })
    }

    /// The sessions of account `id` (the caller's own, or anyone's with `users:read`), newest
    /// first, and the caller's current session.
    pub async fn sessions(
        &self,
        credential: Credential,
        id: Option<Uuid>,
    ) -> Result<(Vec<Session>, Option<Uuid>)> {
        let current = credential.session();
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            let id = s.session_owner(&caller, id, Permission::UsersRead)?;
            let now = crate::now();
            let sessions = s.store.read(|tx| tx.list_sessions(id))?;
            let live = sessions
                .into_iter()
                .filter(|session| session.use_of().alive(now))
                .collect();
            Ok((live, current))
        })
        .await
    }

    /// Ends sessions of account `id` (the caller's own, or anyone's with `users:write`): the one
    /// named, or every one but the caller's current session. How many ended.
    pub async fn revoke_sessions(
        &self,
        credential: Credential,
        id: Option<Uuid>,
        session: Option<Uuid>,
        origin: Origin,
    ) -> Result<u64> {
        let current = credential.session();
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            let owner = s.session_owner(&caller, id, Permission::UsersWrite)?;
            s.store.write(|tx| {
                let ended = match session {
                    Some(sid) => {
                        if !tx.delete_session(owner, sid)? {
                            return Err(Error::SessionNotFound);
                        }
                        1
                    }
                    None => tx.delete_sessions_of(owner, current.filter(|_| owner == caller.id))?,
                };
                let own = owner == caller.id;
                let action = if own {
                    action::OWN_SESSION_REVOKED
                } else {
                    action::SESSIONS_REVOKED
                };
                let target = tx.find_account(owner)?;
                let mut event = AuditEvent::new(Actor::caller(&caller), action, &origin)
                    .details(json!({"session_id": session, "ended": ended}));
                if let Some(target) = &target {
                    event = event.on_account(target);
                }
                tx.effects().audit(event);
                Ok(ended)
            })
        })
        .await
    }

    /// Whose sessions: the caller's own (`None`, or its own id), or another account's when the
    /// caller holds `permission`; that account must exist.
    fn session_owner(
        &self,
        caller: &Caller,
        id: Option<Uuid>,
        permission: Permission,
    ) -> Result<Uuid> {
        match id {
            None => Ok(caller.id),
            Some(id) if caller.is(id) => Ok(id),
            Some(id) => {
                caller.require(&self.catalog, permission)?;
                self.store
                    .read(|tx| tx.find_account(id))?
                    .map(|a| a.id)
                    .ok_or(Error::UserNotFound)
            }
        }
    }
}

/// The holder's own fields of `patch` (names, locale, email notifications); any other field that
/// would change is refused with its rule.
fn own_fields(before: &Account, patch: &AccountPatch) -> Result<AccountPatch> {
    let differs = |new: Option<&str>, old: &str| new.is_some_and(|n| n.trim() != old);
    if differs(patch.username.as_deref(), before.username.as_str()) {
        return Err(Error::OwnUsername);
    }
    if differs(patch.email.as_deref(), before.email.as_str()) {
        return Err(Error::OwnEmail);
    }
    if patch.roles.as_ref().is_some_and(|roles| {
        let mut roles = roles.clone();
        roles.sort();
        roles.dedup();
        roles != before.roles
    }) {
        return Err(Error::OwnRoles);
    }
    if patch.active.is_some_and(|a| a != before.active) {
        return Err(Error::OwnActive);
    }
    let admin_managed = [
        ("origin", differs(patch.origin.as_deref(), &before.origin)),
        (
            "location",
            patch
                .location
                .as_ref()
                .is_some_and(|v| *v != before.location),
        ),
        (
            "erp_id",
            patch.erp_id.as_ref().is_some_and(|v| *v != before.erp_id),
        ),
        (
            "external_key",
            patch
                .external_key
                .as_ref()
                .is_some_and(|v| *v != before.external_key),
        ),
        (
            "mfa_required",
            patch.mfa_required.is_some_and(|v| v != before.mfa_required),
        ),
        (
            "expires_at",
            patch.expires_at.is_some_and(|v| v != before.expires_at),
        ),
    ];
    if let Some((field, _)) = admin_managed.iter().find(|(_, changed)| *changed) {
        return Err(Error::AdminManagedField(field));
    }
    Ok(AccountPatch {
        first_name: patch.first_name.clone(),
        last_name: patch.last_name.clone(),
        locale: patch.locale.clone(),
        email_notifications: patch.email_notifications,
        ..AccountPatch::default()
    })
}

//! Activation by link (SPEC §5): the one-time token an invited account gets when it is created
//! without a password, checking a token without using it, and setting the first password with it.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{Credential, Services};
use crate::{
    account::Account,
    audit::{action, Actor, AuditEvent, Origin},
    error::{Error, Result},
    one_time::{self, Claims, OneTimeToken, Purpose, NONCE_BYTES},
    outbox::MessageKind,
    password::{self, Password, PasswordHash},
    policy::{self, Caller},
    ports::Tx,
    roles::Permission,
    session::{RequiredAction, TEMPORARY_PASSWORD_HOURS},
    settings::TokenLifetimes,
    values::fold,
};

/// What a valid token is, for a frontend to show before asking for a password.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub purpose: Purpose,
    pub account_id: Uuid,
    pub username: String,
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

/// Tokens that set a first password.
const FIRST_PASSWORD: &[Purpose] = &[Purpose::Activation, Purpose::Invitation];
/// Tokens that replace a password.
const RESET: &[Purpose] = &[Purpose::Reset];

impl Services {
    /// Queues the email that carries `account`'s link (`kind`, of the account's `generation` of
    /// such links), if a mail server can deliver it. Without one, nothing is queued: the link
    /// travels in the API response alone, and a log line could not show it (it is a secret).
    pub(crate) fn email_link(
        &self,
        tx: &mut dyn Tx,
        account: &Account,
        kind: MessageKind,
        generation: i64,
    ) {
        if self.email_links {
            tx.effects().notify(account, kind, Some(generation));
        }
    }

    /// A token of `purpose` for the account, bound to its `generation` of them and to its password
    /// as it is now (see [`one_time::stamp`]), lasting the purpose's lifetime (SPEC §5, settings)
    /// from `issued_at`, and when it expires; `None` when the purpose cannot apply (an activation
    /// for an account with a password).
    pub(crate) fn seal_for(
        &self,
        account: &Account,
        purpose: Purpose,
        generation: i64,
        (issued_at, lifetimes): (DateTime<Utc>, &TokenLifetimes),
        nonce: [u8; NONCE_BYTES],
    ) -> Option<(OneTimeToken, DateTime<Utc>)> {
        let stamp = one_time::stamp(
            purpose,
            generation,
            account.password_hash.as_ref().map(PasswordHash::as_phc),
        )?;
        let expires_at = (issued_at + lifetimes.of(purpose)).trunc_subsecs(0);
        let claims = Claims {
            account: account.id,
            purpose,
            expires_at,
        };
        Some((self.token_key.seal(claims, &stamp, nonce), expires_at))
    }

    /// [`Services::seal_for`] issued now, for the lifetime the settings give the purpose.
    fn issue_link(
        &self,
        tx: &mut dyn Tx,
        account: &Account,
        (purpose, generation): (Purpose, i64),
        nonce: [u8; NONCE_BYTES],
    ) -> Result<Option<(OneTimeToken, DateTime<Utc>)>> {
        let lifetimes = tx.load_settings()?.token_lifetimes;
        Ok(self.seal_for(
            account,
            purpose,
            generation,
            (crate::now(), &lifetimes),
            nonce,
        ))
    }

    /// A new activation link's token for an invited account, voiding the ones issued before
    /// (`POST /users/{id}/activation`).
    pub async fn reissue_activation(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
        nonce: [u8; NONCE_BYTES],
    ) -> Result<OneTimeToken> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            s.store.write(|tx| {
                let (account, generation) =
                    s.withdraw_activation(tx, &caller, id, &origin, "reissued")?;
                s.email_link(tx, &account, MessageKind::Activation, generation);
                s.issue_link(tx, &account, (Purpose::Activation, generation), nonce)?
                    .map(|(token, _)| token)
                    .ok_or(Error::NotInvited)
            })
        })
        .await
    }

    /// Voids every activation link of an invited account (`DELETE /users/{id}/activation`).
    pub async fn revoke_activation(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
    ) -> Result<()> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            s.store.write(|tx| {
                s.withdraw_activation(tx, &caller, id, &origin, "revoked")
                    .map(|_| ())
            })
        })
        .await
    }

    /// Raises the invited account's activation generation, voiding its links, and records why;
    /// answers the account and its new generation.
    fn withdraw_activation(
        &self,
        tx: &mut dyn Tx,
        caller: &Caller,
        id: Uuid,
        origin: &Origin,
        why: &str,
    ) -> Result<(Account, i64)> {
        let account = ways_into(tx, caller, id)?;
        if account.password_hash.is_some() {
            return Err(Error::NotInvited);
        }
        let generation = withdraw(tx, caller, &account, Purpose::Activation, origin, why)?;
        Ok((account, generation))
    }

    /// A password reset link's token for an active account that has a password (the admin's
    /// `mode: link`), voiding the reset links before it; the account's sessions end.
    pub async fn issue_reset_link(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
        nonce: [u8; NONCE_BYTES],
    ) -> Result<(OneTimeToken, DateTime<Utc>)> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            s.reset_link(&caller, id, &origin, nonce)
        })
        .await
    }

    /// [`Services::issue_reset_link`]'s work, in a transaction of its own.
    pub(super) fn reset_link(
        &self,
        caller: &Caller,
        id: Uuid,
        origin: &Origin,
        nonce: [u8; NONCE_BYTES],
    ) -> Result<(OneTimeToken, DateTime<Utc>)> {
        self.store.write(|tx| {
            let account = self.resettable(tx, caller, id)?;
            let generation = withdraw(tx, caller, &account, Purpose::Reset, origin, "issued")?;
            tx.delete_sessions_of(id, None)?;
            self.email_link(tx, &account, MessageKind::ResetLink, generation);
            // `resettable` saw a password, so a reset applies.
            self.issue_link(tx, &account, (Purpose::Reset, generation), nonce)?
                .ok_or(Error::AccountInvited)
        })
    }

    /// Voids the account's password reset links (`DELETE /users/{id}/password-reset`).
    pub async fn revoke_reset_links(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
    ) -> Result<()> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            s.store.write(|tx| {
                let account = ways_into(tx, &caller, id)?;
                withdraw(tx, &caller, &account, Purpose::Reset, &origin, "revoked").map(|_| ())
            })
        })
        .await
    }

    /// Sets a new password with a reset link's `token`, which that spends (the password hash it is
    /// bound to changes). Lifts a lock, and ends the account's sessions. The password policy
    /// applies.
    pub async fn reset_password(
        &self,
        token: OneTimeToken,
        new_password: String,
        origin: Origin,
    ) -> Result<()> {
        let hash = self
            .hash_for_token(&token, RESET, "new_password", new_password)
            .await?;
        self.database(move |s| {
            s.store.write(|tx| {
                // Again, holding the account: of two uses at once, the second finds the new hash.
                let (_, before) = s.check_for(tx, &token, RESET, true)?;
                let (after, ended) = reset_to(tx, &before, &hash, None)?;
                tx.effects().audit(
                    AuditEvent::new(Actor::account(&after), action::PASSWORD_RESET, &origin)
                        .on_account(&after)
                        .details(json!({"mode": "link", "sessions_ended": ended})),
                );
                tx.effects()
                    .notify(&after, MessageKind::PasswordReset, None);
                Ok(())
            })
        })
        .await
    }

    /// Self-service "forgot password" (`POST /auth/password/forgot`): emails the account named by
    /// `login` (username or email) a reset link, if there is such an account, active, with a
    /// password and email notifications on, and a mail server to send through. Says nothing of
    /// which: the API answers 202 before this runs. Unlike an admin's reset it voids no link and
    /// ends no session — whoever asks need not be the holder, and must not be able to sign them
    /// out or spoil a link already on its way. Recorded in the audit trail either way.
    pub async fn forgot_password(&self, login: String, origin: Origin) -> Result<()> {
        let key = fold(login.trim());
        let login: String = login.chars().take(254).collect();
        self.database(move |s| {
            s.store.write(|tx| {
                let found = if key.is_empty() {
                    None
                } else {
                    tx.find_account_by_login(&key)?
                };
                let mut event =
                    AuditEvent::new(Actor::anonymous(), action::PASSWORD_FORGOTTEN, &origin);
                let outcome = match &found {
                    None => "unknown_login",
                    Some(a) if !a.active || a.expires_at.is_some_and(|at| at <= crate::now()) => {
                        "inactive"
                    }
                    Some(a) if a.password_hash.is_none() => "invited",
                    Some(a) if !a.email_notifications => "email_notifications_off",
                    Some(_) if !s.email_links => "no_mail_server",
                    Some(a) => {
                        let generation = tx.token_generation(a.id, Purpose::Reset)?;
                        s.email_link(tx, a, MessageKind::ResetLink, generation);
                        "emailed"
                    }
                };
                if let Some(account) = &found {
                    event = event.on_account(account);
                }
                tx.effects()
                    .audit(event.details(json!({"login": login, "outcome": outcome})));
                Ok(())
            })
        })
        .await
    }

    /// Gives an active account with a password the temporary password `password` (the admin's
    /// `mode: temporary_password`): it signs in once, within 24 hours, and then the holder must
    /// choose a password (the `set_password` challenge). Lifts a lock and ends the account's
    /// sessions; voids reset links (the password they were bound to is gone). Answers when the
    /// temporary password stops working.
    pub async fn issue_temporary_password(
        &self,
        credential: Credential,
        id: Uuid,
        password: Password,
        origin: Origin,
    ) -> Result<DateTime<Utc>> {
        // Checked before the hash is spent, and again, holding the account, after it.
        let caller = self
            .database(move |s| {
                let caller = s.authenticate(&credential)?;
                caller.require(&s.catalog, Permission::UsersWrite)?;
                s.store.read(|tx| {
                    let account = tx.find_account(id)?.ok_or(Error::UserNotFound)?;
                    check_resettable(&caller, &account)
                })?;
                Ok(caller)
            })
            .await?;
        let hash = self.hashing(move |h| h.hash(&password)).await?;
        self.database(move |s| {
            s.store.write(|tx| {
                let before = s.resettable(tx, &caller, id)?;
                let (after, ended) = reset_to(tx, &before, &hash, Some(caller.id))?;
                let now = after.updated_at;
                tx.require_action(id, RequiredAction::SetPassword, now)?;
                tx.require_action(id, RequiredAction::TemporaryPassword, now)?;
                let expires_at = now + Duration::hours(TEMPORARY_PASSWORD_HOURS);
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::PASSWORD_RESET, &origin)
                        .on_account(&after)
                        .details(json!({
                            "mode": "temporary_password",
                            "sessions_ended": ended,
                            "expires_at": expires_at,
                        })),
                );
                tx.effects()
                    .notify(&after, MessageKind::PasswordReset, None);
                Ok(expires_at)
            })
        })
        .await
    }

    /// The account an admin may reset: found, theirs to reset, active, with a password.
    fn resettable(&self, tx: &mut dyn Tx, caller: &Caller, id: Uuid) -> Result<Account> {
        let account = tx.find_account_for_update(id)?.ok_or(Error::UserNotFound)?;
        check_resettable(caller, &account)?;
        Ok(account)
    }

    /// What `token` is for and whom, if it is valid now; uses nothing up.
    pub async fn inspect_token(&self, token: OneTimeToken) -> Result<TokenInfo> {
        self.database(move |s| {
            s.store.read(|tx| {
                let (claims, account) = s.check_token(tx, &token, false)?;
                Ok(TokenInfo {
                    purpose: claims.purpose,
                    account_id: account.id,
                    username: account.username.as_str().to_owned(),
                    email: account.email.as_str().to_owned(),
                    expires_at: claims.expires_at,
                })
            })
        })
        .await
    }

    /// Sets the first password of an invited account with its activation link's `token`, which
    /// that spends (the account now has a password), and so activates the account. The password
    /// policy applies.
    pub async fn activate(
        &self,
        token: OneTimeToken,
        new_password: String,
        origin: Origin,
    ) -> Result<()> {
        let hash = self
            .hash_for_token(&token, FIRST_PASSWORD, "password", new_password)
            .await?;
        self.database(move |s| {
            s.store.write(|tx| {
                // Again, holding the account: of two uses at once, the second finds a password.
                let (claims, before) = s.check_for(tx, &token, FIRST_PASSWORD, true)?;
                let now = crate::now();
                let mut after = before.clone();
                after.password_hash = Some(hash.clone());
                after.activated_at = Some(now);
                after.version += 1;
                after.updated_at = now;
                tx.update_account(&before, &after)?;
                tx.effects().audit(
                    AuditEvent::new(Actor::account(&after), action::USER_ACTIVATED, &origin)
                        .on_account(&after)
                        .details(json!({"purpose": claims.purpose.as_str()})),
                );
                Ok(())
            })
        })
        .await
    }

    /// The new password for the account of `token` (one of `purposes`), checked against the
    /// password policy (errors name `field`) and hashed; uses nothing up.
    async fn hash_for_token(
        &self,
        token: &OneTimeToken,
        purposes: &'static [Purpose],
        field: &'static str,
        new_password: String,
    ) -> Result<PasswordHash> {
        let check = token.clone();
        let (account, settings) = self
            .database(move |s| {
                s.store.read(|tx| {
                    let (_, account) = s.check_for(tx, &check, purposes, false)?;
                    Ok((account, tx.load_settings()?))
                })
            })
            .await?;
        let password = password::check_new(
            field,
            &new_password,
            settings.password_policy.min_length,
            &account.identifiers(),
        )
        .map_err(|e| Error::Validation(vec![e]))?;
        self.hashing(move |h| h.hash(&password)).await
    }

    /// [`Services::check_token`] for a token of one of `purposes`.
    fn check_for(
        &self,
        tx: &mut dyn Tx,
        token: &OneTimeToken,
        purposes: &[Purpose],
        for_update: bool,
    ) -> Result<(Claims, Account)> {
        let (claims, account) = self.check_token(tx, token, for_update)?;
        if !purposes.contains(&claims.purpose) {
            return Err(Error::InvalidToken);
        }
        Ok((claims, account))
    }

    /// The token's claims and its account, if its seal holds for the account as it is now and the
    /// account may still use it (active, not expired); else `InvalidToken`, whatever the reason.
    fn check_token(
        &self,
        tx: &mut dyn Tx,
        token: &OneTimeToken,
        for_update: bool,
    ) -> Result<(Claims, Account)> {
        let now = crate::now();
        let claims = self
            .token_key
            .open(token, now)
            .map_err(|_| Error::InvalidToken)?;
        let account = if for_update {
            tx.find_account_for_update(claims.account)?
        } else {
            tx.find_account(claims.account)?
        }
        .ok_or(Error::InvalidToken)?;
        let generation = tx.token_generation(account.id, claims.purpose)?;
        let stamp = one_time::stamp(
            claims.purpose,
            generation,
            account.password_hash.as_ref().map(PasswordHash::as_phc),
        );
        self.token_key
            .verify(token, stamp.as_deref())
            .map_err(|_| Error::InvalidToken)?;
        if !account.active || account.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::InvalidToken);
        }
        Ok((claims, account))
    }
}

/// Replaces `before`'s password with `hash` (by `by`, or by the holder), lifts a lock, ends the
/// password's required actions and the account's sessions; answers the account as it is now and
/// how many sessions ended.
fn reset_to(
    tx: &mut dyn Tx,
    before: &Account,
    hash: &PasswordHash,
    by: Option<Uuid>,
) -> Result<(Account, u64)> {
    let mut after = before.clone();
    after.password_hash = Some(hash.clone());
    after.unlock();
    after.version += 1;
    after.updated_at = crate::now();
    if by.is_some() {
        after.updated_by = by;
    }
    tx.update_account(before, &after)?;
    tx.clear_required_actions(after.id, &RequiredAction::PASSWORD)?;
    let ended = tx.delete_sessions_of(after.id, None)?;
    Ok((after, ended))
}

/// Whether `caller` may reset `account`'s password: theirs to reset (an admin's is an admin's),
/// active, with a password.
fn check_resettable(caller: &Caller, account: &Account) -> Result<()> {
    policy::check_initial_roles(caller, &account.roles)?;
    if !account.active {
        return Err(Error::AccountInactive);
    }
    if account.password_hash.is_none() {
        return Err(Error::AccountInvited);
    }
    Ok(())
}

/// Account `id`, held, for a caller about to issue or void a way into it (a link, a one-time
/// password, its second factor): a way into an account that holds `admin` is an admin's to hand
/// out (as granting `admin` is).
pub(super) fn ways_into(tx: &mut dyn Tx, caller: &Caller, id: Uuid) -> Result<Account> {
    let account = tx.find_account_for_update(id)?.ok_or(Error::UserNotFound)?;
    policy::check_initial_roles(caller, &account.roles)?;
    Ok(account)
}

/// Raises the account's token generation for `purpose`, voiding its tokens of that purpose, and
/// records it (`outcome`: `issued`, `reissued`, `revoked`); answers the new generation.
fn withdraw(
    tx: &mut dyn Tx,
    caller: &Caller,
    account: &Account,
    purpose: Purpose,
    origin: &Origin,
    outcome: &str,
) -> Result<i64> {
    let generation = tx.raise_token_generation(account.id, purpose)?;
    let what = match purpose {
        Purpose::Reset => action::RESET_LINKS_WITHDRAWN,
        Purpose::Activation | Purpose::Invitation => action::ACTIVATION_WITHDRAWN,
    };
    tx.effects().audit(
        AuditEvent::new(Actor::caller(caller), what, origin)
            .on_account(account)
            .details(json!({"purpose": purpose.as_str(), "outcome": outcome})),
    );
    Ok(generation)
}

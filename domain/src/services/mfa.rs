//! Two-factor sign-in (SPEC §6): enrolling one's own TOTP factor, the `mfa` sign-in challenge
//! (a code, or a recovery code), removing the factor and regenerating recovery codes. Every step
//! that changes the factor needs the current password; a wrong one counts toward lockout.

use serde_json::json;
use uuid::Uuid;

use super::{auth::Failed, one_time::ways_into, Credential, Services, SignIn, SignInSecrets};
use crate::{
    account::Account,
    audit::{action, Actor, AuditEvent, Origin},
    error::{Error, Result},
    mfa::{RecoveryCode, TotpFactor, TotpSecret, SEAL_NONCE_BYTES},
    outbox::MessageKind,
    password::Password,
    policy::Caller,
    ports::Tx,
    roles::Permission,
    session::{ChallengeKind, SecretToken},
    telemetry::SignInStep,
    FieldError,
};

/// The audit trail's (and the metrics') reason for a wrong second-factor code.
const WRONG_MFA_CODE: &str = "wrong_mfa_code";

/// A factor being enrolled: what the holder's authenticator app needs.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    pub secret: TotpSecret,
    /// `otpauth://…`.
    pub uri: String,
}

/// How long an admin's one-time password lasts (SPEC §6).
pub const ONE_TIME_PASSWORD_HOURS: i64 = 24;

fn wrong_code() -> Error {
    Error::invalid(
        "code",
        "invalid_code",
        "the code is not right, or was used already; enter the one your app shows now",
    )
}

impl Services {
    /// Checks the caller's own current `password` (a wrong one counts toward lockout, and answers
    /// 422 `wrong_password` on `password`); answers the caller's account.
    async fn own_account_with_password(
        &self,
        credential: Credential,
        password: String,
        origin: &Origin,
    ) -> Result<Account> {
        let account = self
            .database(move |s| {
                let caller = s.authenticate(&credential)?;
                s.store
                    .read(|tx| tx.find_account(caller.id)?.ok_or(Error::Unauthenticated))
            })
            .await?;
        let hash = account.password_hash.clone();
        let right = self
            .hashing(move |h| {
                Ok(Password::offered(&password).is_ok_and(|p| h.verify(&p, hash.as_ref())))
            })
            .await?;
        if right {
            return Ok(account);
        }
        let id = account.id;
        let origin = origin.clone();
        self.database(move |s| {
            s.store.write(|tx| {
                let settings = tx.load_settings()?;
                let mut after = tx.find_account_for_update(id)?.ok_or(Error::Unauthenticated)?;
                let locked = after.record_failure(&settings.lockout, crate::now());
                tx.record_sign_in(id, &after.sign_in_record())?;
                tx.effects().audit(
                    AuditEvent::new(Actor::account(&after), action::LOGIN_FAILED, &origin)
                        .on_account(&after)
                        .details(json!({"reason": "wrong_current_password", "failed_logins": after.failed_logins, "locked": locked})),
                );
                Ok(locked)
            })
        })
        .await
        .map(|locked| self.report_lockout(locked))?;
        Err(Error::Validation(vec![FieldError::new(
            "password",
            "wrong_password",
            "the current password is not right",
        )]))
    }

    /// Starts enrolling the caller's TOTP factor (`POST /me/mfa/totp`): a new secret, sealed at
    /// rest until a code confirms it; starting again replaces one not yet confirmed.
    pub async fn start_totp_enrollment(
        &self,
        credential: Credential,
        password: String,
        secret: TotpSecret,
        nonce: [u8; SEAL_NONCE_BYTES],
        origin: Origin,
    ) -> Result<TotpEnrollment> {
        let account = self
            .own_account_with_password(credential, password, &origin)
            .await?;
        self.database(move |s| {
            s.store.write(|tx| {
                let account = tx
                    .find_account_for_update(account.id)?
                    .ok_or(Error::Unauthenticated)?;
                if account.mfa_enabled {
                    return Err(Error::MfaAlreadyEnabled);
                }
                s.begin_enrollment(tx, &account, (&secret, nonce), &origin, "me")
            })
        })
        .await
    }

    /// Confirms the caller's factor with a `code` from it (`POST /me/mfa/totp/confirm`): two-factor
    /// sign-in is on, and `recovery` are its recovery codes (stored hashed; shown this once).
    pub async fn confirm_totp_enrollment(
        &self,
        credential: Credential,
        code: String,
        recovery: Vec<RecoveryCode>,
        origin: Origin,
    ) -> Result<Vec<RecoveryCode>> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            s.store.write(|tx| {
                let before = tx
                    .find_account_for_update(caller.id)?
                    .ok_or(Error::Unauthenticated)?;
                if before.mfa_enabled {
                    return Err(Error::MfaAlreadyEnabled);
                }
                s.finish_enrollment(tx, &before, &code, &recovery, &origin, "me")?;
                Ok(recovery.clone())
            })
        })
        .await
    }

    /// Removes the caller's factor (`DELETE /me/mfa/totp`), with the current password and a
    /// current code; refused while the account is required to use two factors (`mfa_required`, or
    /// an admin under `mfa.required_for_admins`).
    pub async fn remove_own_totp(
        &self,
        credential: Credential,
        password: String,
        code: String,
        origin: Origin,
    ) -> Result<()> {
        let account = self
            .own_account_with_password(credential, password, &origin)
            .await?;
        self.database(move |s| {
            s.store.write(|tx| {
                let before = tx
                    .find_account_for_update(account.id)?
                    .ok_or(Error::Unauthenticated)?;
                if !before.mfa_enabled {
                    return Err(Error::MfaNotEnabled);
                }
                if tx.load_settings()?.mfa.demands(&before) {
                    return Err(Error::MfaRequired);
                }
                let factor = tx
                    .find_totp_factor(before.id)?
                    .ok_or(Error::MfaNotEnabled)?;
                let secret = s.open_secret(&factor)?;
                let now = crate::now();
                secret
                    .matching_step(&code, now)
                    .filter(|step| factor.fresh(*step))
                    .ok_or_else(wrong_code)?;
                let after = remove_factor(tx, Actor::account(&before), &before, "self", &origin)?;
                tx.effects().notify(&after, MessageKind::MfaRemoved, None);
                Ok(())
            })
        })
        .await
    }

    /// New recovery codes for the caller's factor, voiding the old ones
    /// (`POST /me/mfa/recovery-codes`, with the current password).
    pub async fn regenerate_recovery_codes(
        &self,
        credential: Credential,
        password: String,
        recovery: Vec<RecoveryCode>,
        origin: Origin,
    ) -> Result<Vec<RecoveryCode>> {
        let account = self
            .own_account_with_password(credential, password, &origin)
            .await?;
        self.database(move |s| {
            s.store.write(|tx| {
                let account = tx
                    .find_account_for_update(account.id)?
                    .ok_or(Error::Unauthenticated)?;
                if !account.mfa_enabled {
                    return Err(Error::MfaNotEnabled);
                }
                let hashes: Vec<String> = recovery.iter().map(RecoveryCode::hash).collect();
                tx.replace_recovery_codes(account.id, &hashes)?;
                tx.effects().audit(
                    AuditEvent::new(
                        Actor::account(&account),
                        action::RECOVERY_CODES_REGENERATED,
                        &origin,
                    )
                    .on_account(&account)
                    .details(json!({"recovery_codes": hashes.len()})),
                );
                Ok(recovery.clone())
            })
        })
        .await
    }

    /// Removes an account's factor for its holder (`DELETE /users/{id}/mfa`, `users:write`; an
    /// admin's is an admin's to remove). The holder is emailed.
    pub async fn remove_mfa_of(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
    ) -> Result<()> {
        self.database(move |s| {
            let caller = s.factor_admin(&credential, id)?;
            s.store.write(|tx| {
                let before = factor_of(tx, &caller, id)?;
                let after = remove_factor(tx, Actor::caller(&caller), &before, "admin", &origin)?;
                tx.effects().notify(&after, MessageKind::MfaRemoved, None);
                Ok(())
            })
        })
        .await
    }

    /// Gives an account with a factor a one-time password (`POST /users/{id}/mfa/one-time-password`)
    /// for a holder who lost their authenticator: it meets one `mfa` challenge within 24 hours,
    /// once, and removes the factor so the holder enrols again. Answers when it expires.
    pub async fn issue_mfa_one_time_password(
        &self,
        credential: Credential,
        id: Uuid,
        code: RecoveryCode,
        origin: Origin,
    ) -> Result<chrono::DateTime<chrono::Utc>> {
        self.database(move |s| {
            let caller = s.factor_admin(&credential, id)?;
            s.store.write(|tx| {
                let account = factor_of(tx, &caller, id)?;
                let expires_at = crate::now() + chrono::Duration::hours(ONE_TIME_PASSWORD_HOURS);
                tx.set_mfa_one_time_password(id, &code.hash(), expires_at)?;
                tx.effects().audit(
                    AuditEvent::new(
                        Actor::caller(&caller),
                        action::MFA_ONE_TIME_PASSWORD_ISSUED,
                        &origin,
                    )
                    .on_account(&account)
                    .details(json!({"expires_at": expires_at})),
                );
                Ok(expires_at)
            })
        })
        .await
    }

    /// Starts enrolling a factor at sign-in (`mfa_enrollment` challenge): as
    /// [`Services::start_totp_enrollment`], with the challenge standing for the password.
    pub async fn start_challenge_enrollment(
        &self,
        token: SecretToken,
        secret: TotpSecret,
        nonce: [u8; SEAL_NONCE_BYTES],
        origin: Origin,
    ) -> Result<TotpEnrollment> {
        let hash = token.hash();
        self.database(move |s| {
            s.store.write(|tx| {
                let account = enrolling(tx, &hash)?;
                s.begin_enrollment(tx, &account, (&secret, nonce), &origin, "mfa_enrollment")
            })
        })
        .await
    }

    /// Meets the `mfa_enrollment` challenge with a code from the factor just started: two-factor
    /// sign-in is on, `recovery` are its recovery codes, and the sign-in goes on (the code met its
    /// second factor).
    pub async fn confirm_challenge_enrollment(
        &self,
        token: SecretToken,
        code: String,
        recovery: Vec<RecoveryCode>,
        origin: Origin,
        secrets: SignInSecrets,
    ) -> Result<(Vec<RecoveryCode>, SignIn)> {
        let hash = token.hash();
        self.database(move |s| {
            s.store.write(|tx| {
                let before = enrolling(tx, &hash)?;
                let after =
                    s.finish_enrollment(tx, &before, &code, &recovery, &origin, "mfa_enrollment")?;
                tx.take_challenge(&hash)?.ok_or(Error::InvalidChallenge)?;
                let now = after.updated_at;
                let settings = tx.load_settings()?;
                let actions = tx.required_actions(after.id)?;
                let signed_in = s.next_step(
                    tx, &after, &actions, &settings, "totp", &origin, &secrets, now,
                )?;
                Ok((recovery.clone(), signed_in))
            })
        })
        .await
    }

    /// Meets an `mfa` sign-in challenge with a code from the factor or a recovery code. A wrong one
    /// counts toward the account's lockout like a wrong password, and the challenge stays (until
    /// it expires, or the account locks); the right one ends it and the sign-in goes on.
    pub async fn complete_mfa(
        &self,
        token: SecretToken,
        code: String,
        origin: Origin,
        secrets: SignInSecrets,
    ) -> Result<SignIn> {
        let concluded = self.check_mfa(token, code, origin, secrets).await;
        self.report_sign_in(SignInStep::Mfa, &concluded);
        concluded?.map_err(|failed| match failed.reason {
            WRONG_MFA_CODE => wrong_code(),
            _ => Error::InvalidChallenge,
        })
    }

    /// [`Services::complete_mfa`]'s work: the sign-in goes on, or why it was refused.
    async fn check_mfa(
        &self,
        token: SecretToken,
        code: String,
        origin: Origin,
        secrets: SignInSecrets,
    ) -> Result<std::result::Result<SignIn, Failed>> {
        let hash = token.hash();
        self.database(move |s| {
            s.store.write(|tx| {
                let now = crate::now();
                let challenge = tx
                    .find_challenge(&hash)?
                    .filter(|c| c.kind == ChallengeKind::Mfa && c.expires_at > now)
                    .ok_or(Error::InvalidChallenge)?;
                let mut account = tx
                    .find_account_for_update(challenge.user_id)?
                    .ok_or(Error::InvalidChallenge)?;
                if !account.may_authenticate(now) {
                    return Ok(Err(Failed::new("may_not_authenticate")));
                }
                let settings = tx.load_settings()?;
                let method = s.check_second_factor(tx, &account, &code, now)?;
                let Some(method) = method else {
                    let locked = account.record_failure(&settings.lockout, now);
                    tx.record_sign_in(account.id, &account.sign_in_record())?;
                    tx.effects().audit(
                        AuditEvent::new(Actor::anonymous(), action::LOGIN_FAILED, &origin)
                            .on_account(&account)
                            .details(json!({"reason": WRONG_MFA_CODE, "failed_logins": account.failed_logins, "locked": locked})),
                    );
                    return Ok(Err(Failed::new(WRONG_MFA_CODE).locking(locked)));
                };
                if tx.take_challenge(&hash)?.is_none() {
                    return Ok(Err(Failed::new("invalid_challenge")));
                }
                if method == "one_time_password" {
                    // It stands in for a lost authenticator: the holder enrols again.
                    let actor = Actor::account(&account);
                    account =
                        remove_factor(tx, actor, &account, "one_time_password", &origin)?;
                    tx.effects()
                        .notify(&account, MessageKind::MfaOneTimePasswordUsed, None);
                }
                let before = account.clone();
                account.record_success(now);
                if account != before {
                    tx.record_sign_in(account.id, &account.sign_in_record())?;
                }
                tx.effects().audit(
                    AuditEvent::new(Actor::account(&account), action::MFA_VERIFIED, &origin)
                        .on_account(&account)
                        .details(json!({"method": method})),
                );
                let actions = tx.required_actions(account.id)?;
                s.next_step(tx, &account, &actions, &settings, method, &origin, &secrets, now)
                    .map(Ok)
            })
        })
        .await
    }

    /// Which second factor `code` is — `totp` (its step recorded: never accepted again) or
    /// `recovery_code` (used up) — or `None`.
    fn check_second_factor(
        &self,
        tx: &mut dyn Tx,
        account: &Account,
        code: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<&'static str>> {
        let Some(mut factor) = tx
            .find_totp_factor(account.id)?
            .filter(|f| f.confirmed_at.is_some())
        else {
            return Ok(None);
        };
        let secret = self.open_secret(&factor)?;
        if let Some(step) = secret
            .matching_step(code, now)
            .filter(|step| factor.fresh(*step))
        {
            factor.last_used_step = i64::try_from(step).ok();
            tx.save_totp_factor(&factor)?;
            return Ok(Some("totp"));
        }
        if code.chars().filter(char::is_ascii_alphanumeric).count() != 16 {
            return Ok(None);
        }
        let hash = RecoveryCode::hash_of(code);
        if tx.use_recovery_code(account.id, &hash)? {
            return Ok(Some("recovery_code"));
        }
        if tx.use_mfa_one_time_password(account.id, &hash, now)? {
            return Ok(Some("one_time_password"));
        }
        Ok(None)
    }

    /// Stores `account`'s new factor, not yet confirmed (`via`: `me`, or the sign-in's
    /// `mfa_enrollment` challenge), and answers what its authenticator app needs.
    fn begin_enrollment(
        &self,
        tx: &mut dyn Tx,
        account: &Account,
        (secret, nonce): (&TotpSecret, [u8; SEAL_NONCE_BYTES]),
        origin: &Origin,
        via: &str,
    ) -> Result<TotpEnrollment> {
        tx.save_totp_factor(&TotpFactor {
            user_id: account.id,
            sealed_secret: self.mfa_key.seal(secret, account.id.as_bytes(), nonce),
            confirmed_at: None,
            last_used_step: None,
            created_at: crate::now(),
        })?;
        tx.effects().audit(
            AuditEvent::new(
                Actor::account(account),
                action::MFA_ENROLLMENT_STARTED,
                origin,
            )
            .on_account(account)
            .details(json!({"factor": "totp", "via": via})),
        );
        Ok(TotpEnrollment {
            uri: secret.uri(account.username.as_str()),
            secret: secret.clone(),
        })
    }

    /// Confirms `before`'s factor with a `code` from it: two-factor sign-in is on, with `recovery`
    /// as its recovery codes. Answers the account as it is now.
    fn finish_enrollment(
        &self,
        tx: &mut dyn Tx,
        before: &Account,
        code: &str,
        recovery: &[RecoveryCode],
        origin: &Origin,
        via: &str,
    ) -> Result<Account> {
        let mut factor = tx
            .find_totp_factor(before.id)?
            .ok_or(Error::MfaNotStarted)?;
        let now = crate::now();
        let step = self
            .open_secret(&factor)?
            .matching_step(code, now)
            .ok_or_else(wrong_code)?;
        factor.confirmed_at = Some(now);
        factor.last_used_step = i64::try_from(step).ok();
        tx.save_totp_factor(&factor)?;
        let hashes: Vec<String> = recovery.iter().map(RecoveryCode::hash).collect();
        tx.replace_recovery_codes(before.id, &hashes)?;
        let after = switch_mfa(tx, before, true, now)?;
        tx.effects().audit(
            AuditEvent::new(Actor::account(&after), action::MFA_ENROLLED, origin)
                .on_account(&after)
                .details(json!({"factor": "totp", "recovery_codes": hashes.len(), "via": via})),
        );
        Ok(after)
    }

    /// The caller behind `credential`, if it may act on account `id`'s factor: `users:write`,
    /// and not its own (that is `/me/mfa`, which asks for the password and a code).
    fn factor_admin(&self, credential: &Credential, id: Uuid) -> Result<Caller> {
        let caller = self.authenticate(credential)?;
        caller.require(&self.catalog, Permission::UsersWrite)?;
        if caller.is(id) {
            return Err(Error::OwnMfa);
        }
        Ok(caller)
    }

    fn open_secret(&self, factor: &TotpFactor) -> Result<TotpSecret> {
        self.mfa_key
            .open(&factor.sealed_secret, factor.user_id.as_bytes())
            .map_err(|_| {
                Error::Internal(
                    "a stored TOTP secret does not open: was ROSTER_SECRET_KEY changed?".into(),
                )
            })
    }
}

/// Deletes `before`'s factor (its recovery codes and one-time password with it) and turns
/// two-factor sign-in off, audited with who removed it (`by`); answers the account as written.
fn remove_factor(
    tx: &mut dyn Tx,
    actor: Actor,
    before: &Account,
    by: &'static str,
    origin: &Origin,
) -> Result<Account> {
    tx.delete_totp_factor(before.id)?;
    let after = switch_mfa(tx, before, false, crate::now())?;
    tx.effects().audit(
        AuditEvent::new(actor, action::MFA_REMOVED, origin)
            .on_account(&after)
            .details(json!({"factor": "totp", "by": by})),
    );
    Ok(after)
}

/// Account `id`, held, for an admin acting on its factor: a way into it ([`ways_into`]) that has
/// a factor on.
fn factor_of(tx: &mut dyn Tx, caller: &Caller, id: Uuid) -> Result<Account> {
    let account = ways_into(tx, caller, id)?;
    if !account.mfa_enabled {
        return Err(Error::MfaNotEnabled);
    }
    Ok(account)
}

/// `before` with two-factor sign-in turned `on` or off, written.
fn switch_mfa(
    tx: &mut dyn Tx,
    before: &Account,
    on: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Account> {
    let mut after = before.clone();
    after.mfa_enabled = on;
    after.version += 1;
    after.updated_at = now;
    tx.update_account(before, &after)?;
    Ok(after)
}

/// The account of a live `mfa_enrollment` challenge (by its token's hash), held: one that may
/// still sign in and has no factor on.
fn enrolling(tx: &mut dyn Tx, hash: &str) -> Result<Account> {
    let now = crate::now();
    let challenge = tx
        .find_challenge(hash)?
        .filter(|c| c.kind == ChallengeKind::MfaEnrollment && c.expires_at > now)
        .ok_or(Error::InvalidChallenge)?;
    let account = tx
        .find_account_for_update(challenge.user_id)?
        .ok_or(Error::InvalidChallenge)?;
    if !account.may_authenticate(now) || account.mfa_enabled {
        return Err(Error::InvalidChallenge);
    }
    Ok(account)
}

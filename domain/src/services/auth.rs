//! Sign-in and authentication of requests (SPEC §4). Every sign-in failure answers the same
//! `InvalidCredentials`; the true reason goes to the audit log.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::Services;
use crate::{
    account::{Account, SignInRecord},
    api_token::{ApiTokenSecret, ApiTokenUse},
    audit::{action, Actor, AuditEvent, Origin},
    outbox::MessageKind,
    password::{self, Password},
    policy::Caller,
    ports::{AlsoRead, CallerLookup, CredentialKey, Tx},
    roles::Permission,
    session::{
        temporary_password_refusal, use_due, Challenge, ChallengeKind, RequiredAction, SecretToken,
        Session,
    },
    settings::Settings,
    telemetry::SignInStep,
    values::fold,
    Error, Result,
};

/// A successful sign-in's tokens: the session it started and that session's first refresh
/// token (the API signs the access token, which names the account and the session).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub account_id: Uuid,
    pub session_id: Uuid,
    pub refresh_token: SecretToken,
}

/// What a sign-in (or a met challenge) answers: tokens, or a challenge to meet first.
#[derive(Debug, Clone)]
pub enum SignIn {
    Tokens(SignedIn),
    Challenge {
        kind: ChallengeKind,
        token: SecretToken,
        expires_at: DateTime<Utc>,
    },
}

/// Fresh random tokens for what a sign-in may hand out; the API draws them, so the rules need no
/// source of randomness.
#[derive(Debug, Clone)]
pub struct SignInSecrets {
    pub refresh: SecretToken,
    pub challenge: SecretToken,
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
    /// A valid access token: its subject and its session.
    Access {
        account: Uuid,
        session: Uuid,
    },
    ApiToken(ApiTokenSecret),
}

impl Credential {
    /// A valid access token naming account `id` and its session `sid`.
    pub fn access(id: Uuid, sid: Uuid) -> Self {
        Self {
            kind: Kind::Access {
                account: id,
                session: sid,
            },
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

    /// The session an access token names; `None` for an API token.
    pub fn session(&self) -> Option<Uuid> {
        match self.kind {
            Kind::Access { session, .. } => Some(session),
            Kind::ApiToken(_) => None,
        }
    }
}

/// Why a sign-in failed, for the audit trail only: the client always gets `invalid_credentials`.
type Refusal = &'static str;

/// A sign-in step refused and recorded: why, and whether this failure locked the account.
#[derive(Debug, Clone, Copy)]
pub(super) struct Failed {
    pub reason: Refusal,
    pub locked: bool,
}

impl Failed {
    pub fn new(reason: Refusal) -> Self {
        Self {
            reason,
            locked: false,
        }
    }

    pub fn locking(self, locked: bool) -> Self {
        Self { locked, ..self }
    }
}

impl SignIn {
    /// The outcome's name in metrics ([`crate::telemetry`]).
    fn outcome(&self) -> &'static str {
        match self {
            SignIn::Tokens(_) => "succeeded",
            SignIn::Challenge { .. } => "challenged",
        }
    }
}

impl Services {
    /// Checks a login (username or email) and password, in three steps: the account is read, the
    /// password verified on the hashing threads, and the outcome decided and recorded with the
    /// account held against concurrent sign-ins (so lockout counts exactly, and no sign-in passes
    /// once the account is locked). Unknown logins still spend one hash verification, so response
    /// time does not reveal which accounts exist. An empty `password` signs in an account without
    /// one while `require_passwords` is off (never an admin).
    pub async fn login(
        &self,
        login: String,
        password: String,
        origin: Origin,
        secrets: SignInSecrets,
    ) -> Result<SignIn> {
        let concluded = self.check_login(login, password, origin, secrets).await;
        self.report_sign_in(SignInStep::Password, &concluded);
        concluded?.map_err(|_| Error::InvalidCredentials)
    }

    /// Reports how a sign-in step ended ([`crate::telemetry`]), once it is recorded.
    pub(super) fn report_sign_in(
        &self,
        step: SignInStep,
        concluded: &Result<std::result::Result<SignIn, Failed>>,
    ) {
        let outcome = match concluded {
            Ok(Ok(signed_in)) => signed_in.outcome(),
            Ok(Err(failed)) => {
                if failed.locked {
                    self.telemetry.locked_out();
                }
                failed.reason
            }
            Err(Error::InvalidChallenge) => "invalid_challenge",
            Err(_) => "error",
        };
        self.telemetry.sign_in(step, outcome);
    }

    /// Reports a lockout a wrong password (outside a sign-in) caused, once it is recorded.
    pub(super) fn report_lockout(&self, locked: bool) {
        if locked {
            self.telemetry.locked_out();
        }
    }

    /// [`Services::login`]'s work: the sign-in, or why it was refused.
    async fn check_login(
        &self,
        login: String,
        password: String,
        origin: Origin,
        secrets: SignInSecrets,
    ) -> Result<std::result::Result<SignIn, Failed>> {
        let key = fold(login.trim());
        let found = if key.is_empty() {
            None
        } else {
            self.database(move |s| s.store.read(|tx| tx.find_account_by_login(&key)))
                .await?
        };
        let hash = found.as_ref().and_then(|a| a.password_hash.clone());
        let passwordless = password.is_empty();
        let verified = self
            .hashing(move |hasher| {
                Ok(Password::offered(&password).is_ok_and(|p| hasher.verify(&p, hash.as_ref())))
            })
            .await?;
        let id = found.map(|a| a.id);
        let login: String = login.chars().take(254).collect();
        self.database(move |s| {
            s.store.write(|tx| {
                s.conclude_sign_in(tx, id, verified, passwordless, &login, &origin, &secrets)
            })
        })
        .await
    }

    /// Decides a sign-in whose password was checked, and records it: a failure (counted toward
    /// lockout when the password was wrong) or a success (a session, or a challenge first).
    /// `Ok(Err(reason))` commits the failure's record; the caller answers `InvalidCredentials`.
    #[allow(clippy::too_many_arguments)]
    fn conclude_sign_in(
        &self,
        tx: &mut dyn Tx,
        id: Option<Uuid>,
        verified: bool,
        passwordless: bool,
        login: &str,
        origin: &Origin,
        secrets: &SignInSecrets,
    ) -> Result<std::result::Result<SignIn, Failed>> {
        let now = crate::now();
        let settings = tx.load_settings()?;
        // An unknown login spends what a wrong password does in this step too: the account's
        // read and the write of its failure count, on no row (as the dummy hash in the step
        // before), so response times say nothing about which accounts exist.
        let account = tx
            .find_account_for_update(id.unwrap_or(Uuid::nil()))?
            .filter(|_| id.is_some());
        if account.is_none() {
            tx.record_sign_in(Uuid::nil(), &SignInRecord::default())?;
        }
        let refuse = |tx: &mut dyn Tx, account: Option<&Account>, reason: Refusal, extra: Value| {
            let mut details = json!({"reason": reason, "login": login});
            if let (Value::Object(d), Value::Object(e)) = (&mut details, extra) {
                d.extend(e);
            }
            let mut event =
                AuditEvent::new(Actor::anonymous(), action::LOGIN_FAILED, origin).details(details);
            if let Some(account) = account {
                event = event.on_account(account);
            }
            tx.effects().audit(event);
            Ok(Err(Failed::new(reason)))
        };
        let Some(mut account) = account else {
            return refuse(tx, None, "unknown_login", json!({}));
        };
        let before = account.clone();
        let method = match (&account.password_hash, verified) {
            (Some(_), true) => "password",
            (Some(_), false) => {
                let locked_now = account.record_failure(&settings.lockout, now);
                tx.record_sign_in(account.id, &account.sign_in_record())?;
                if locked_now {
                    tx.effects().audit(
                        AuditEvent::new(Actor::system(), action::USER_LOCKED, origin)
                            .on_account(&account)
                            .details(json!({
                                "failed_logins": account.failed_logins,
                                "locked_until": account.locked_until,
                            })),
                    );
                }
                let extra = json!({"failed_logins": account.failed_logins, "locked": locked_now});
                let refused = refuse(tx, Some(&account), "wrong_password", extra)?;
                return Ok(refused.map_err(|failed| failed.locking(locked_now)));
            }
            (None, _) if passwordless && !settings.require_passwords && !account.is_admin() => {
                "username_only"
            }
            (None, _) => return refuse(tx, Some(&account), "no_password", json!({})),
        };
        let state_refusal = if !account.active {
            Some("inactive")
        } else if account.is_locked(now) {
            Some("locked")
        } else if !account.may_authenticate(now) {
            Some("expired")
        } else {
            None
        };
        if let Some(reason) = state_refusal {
            return refuse(tx, Some(&account), reason, json!({}));
        }
        // A temporary password signs in once, within its 24 hours (SPEC §5).
        let actions = tx.required_actions(account.id)?;
        if let Some(reason) = temporary_password_refusal(&actions, now) {
            return refuse(tx, Some(&account), reason, json!({}));
        }
        if actions
            .iter()
            .any(|(a, _)| *a == RequiredAction::TemporaryPassword)
        {
            tx.clear_required_actions(account.id, &[RequiredAction::TemporaryPassword])?;
            tx.require_action(account.id, RequiredAction::TemporaryPasswordUsed, now)?;
        }
        account.record_success(now);
        // Nothing to write for an account that was in use a moment ago without failures.
        if account != before {
            tx.record_sign_in(account.id, &account.sign_in_record())?;
        }
        // The actions as read above: the temporary password's mark is no challenge.
        self.next_step(
            tx, &account, &actions, &settings, method, origin, secrets, now,
        )
        .map(Ok)
    }

    /// After a first factor (or a challenge) is met: the next challenge, or a new session.
    /// `actions`: the account's required actions, as the caller read (or left) them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn next_step(
        &self,
        tx: &mut dyn Tx,
        account: &Account,
        actions: &[(RequiredAction, DateTime<Utc>)],
        settings: &Settings,
        method: &'static str,
        origin: &Origin,
        secrets: &SignInSecrets,
        now: DateTime<Utc>,
    ) -> Result<SignIn> {
        if let Some(kind) = next_challenge(account, actions, settings, method) {
            let challenge = Challenge::new(account.id, kind, origin, now);
            tx.insert_challenge(&challenge, &secrets.challenge.hash())?;
            tx.effects().audit(
                AuditEvent::new(Actor::account(account), action::CHALLENGE_ISSUED, origin)
                    .on_account(account)
                    .details(json!({"challenge": kind.as_str(), "method": method})),
            );
            return Ok(SignIn::Challenge {
                kind,
                token: secrets.challenge.clone(),
                expires_at: challenge.expires_at,
            });
        }
        let session = Session::start(account.id, &settings.sessions, origin, now);
        tx.insert_session(&session)?;
        tx.insert_refresh_token(session.id, &secrets.refresh.hash(), now)?;
        tx.effects().audit(
            AuditEvent::new(Actor::account(account), action::LOGIN_SUCCEEDED, origin)
                .on_account(account)
                .details(json!({"method": method, "session_id": session.id})),
        );
        Ok(SignIn::Tokens(SignedIn {
            account_id: account.id,
            session_id: session.id,
            refresh_token: secrets.refresh.clone(),
        }))
    }

    /// Meets a `set_password` challenge: `new_password` replaces the one someone else gave, under
    /// the password policy and different from it; then the sign-in goes on (tokens, or the next
    /// challenge). The challenge token is used up only when the password is set.
    pub async fn complete_set_password(
        &self,
        token: SecretToken,
        new_password: String,
        origin: Origin,
        secrets: SignInSecrets,
    ) -> Result<SignIn> {
        let hash = token.hash();
        let key = hash.clone();
        let (account, settings) = self
            .database(move |s| {
                s.store.read(|tx| {
                    let now = crate::now();
                    let challenge = tx
                        .find_challenge(&key)?
                        .filter(|c| c.kind == ChallengeKind::SetPassword && c.expires_at > now)
                        .ok_or(Error::InvalidChallenge)?;
                    let account = tx
                        .find_account(challenge.user_id)?
                        .ok_or(Error::InvalidChallenge)?;
                    Ok((account, tx.load_settings()?))
                })
            })
            .await?;
        let password = password::check_new(
            "new_password",
            &new_password,
            settings.password_policy.min_length,
            &account.identifiers(),
        )
        .map_err(|e| Error::Validation(vec![e]))?;
        let old = account.password_hash.clone();
        let new_hash = self
            .hashing(move |h| {
                if h.verify(&password, old.as_ref()) {
                    return Err(Error::invalid(
                        "new_password",
                        "password_unchanged",
                        "choose a new password, not the one you were given",
                    ));
                }
                h.hash(&password)
            })
            .await?;
        self.database(move |s| {
            s.store.write(|tx| {
                let now = crate::now();
                let challenge = tx
                    .take_challenge(&hash)?
                    .filter(|c| c.kind == ChallengeKind::SetPassword && c.expires_at > now)
                    .ok_or(Error::InvalidChallenge)?;
                let before = tx
                    .find_account_for_update(challenge.user_id)?
                    .ok_or(Error::InvalidChallenge)?;
                if !before.may_authenticate(now) {
                    return Err(Error::InvalidChallenge);
                }
                let mut after = before.clone();
                after.password_hash = Some(new_hash.clone());
                tx.clear_required_actions(after.id, &RequiredAction::PASSWORD)?;
                after.activated_at = after.activated_at.or(Some(now));
                after.version += 1;
                after.updated_at = now;
                tx.update_account(&before, &after)?;
                tx.effects().audit(
                    AuditEvent::new(
                        Actor::account(&after),
                        action::CHALLENGE_PASSWORD_SET,
                        &origin,
                    )
                    .on_account(&after)
                    .details(json!({"challenge": "set_password"})),
                );
                tx.effects()
                    .notify(&after, MessageKind::PasswordChanged, None);
                // Its required actions were cleared just now.
                s.next_step(
                    tx,
                    &after,
                    &[],
                    &settings,
                    "password",
                    &origin,
                    &secrets,
                    now,
                )
            })
        })
        .await
    }

    /// Exchanges a refresh token for a new one (rotation) and keeps its session going. A token
    /// used before ends its whole session (SPEC §4): whoever presents it again, the thief or the
    /// holder, the session cannot be trusted.
    pub async fn refresh(
        &self,
        token: SecretToken,
        next: SecretToken,
        origin: Origin,
    ) -> Result<SignedIn> {
        let outcome = self
            .database(move |s| {
                s.store.write(|tx| {
                    let now = crate::now();
                    let hash = token.hash();
                    let Some(found) = tx.find_refresh_token(&hash)? else {
                        return Ok(None);
                    };
                    let session = found.session;
                    let account = tx.find_account(session.user_id)?;
                    if found.used_at.is_some() || !tx.use_refresh_token(&hash, now)? {
                        tx.delete_session(session.user_id, session.id)?;
                        let mut event = AuditEvent::new(
                            Actor::anonymous(),
                            action::REFRESH_TOKEN_REUSED,
                            &origin,
                        )
                        .details(json!({"session_id": session.id}));
                        if let Some(account) = &account {
                            event = event.on_account(account);
                        }
                        tx.effects().audit(event);
                        return Ok(None);
                    }
                    let usage = session.use_of();
                    let Some(account) = account.filter(|a| a.may_authenticate(now)) else {
                        return Err(Error::InvalidRefreshToken);
                    };
                    if !usage.alive(now) {
                        tx.delete_session(session.user_id, session.id)?;
                        return Ok(None);
                    }
                    tx.insert_refresh_token(session.id, &next.hash(), now)?;
                    tx.touch_session(session.id, now, usage.idle_end_after(now))?;
                    if use_due(account.last_active_at, now) {
                        tx.touch_last_active(account.id, now)?;
                    }
                    Ok(Some(SignedIn {
                        account_id: account.id,
                        session_id: session.id,
                        refresh_token: next.clone(),
                    }))
                })
            })
            .await?;
        outcome.ok_or(Error::InvalidRefreshToken)
    }

    /// Ends the session of the caller's access token.
    pub async fn logout(&self, credential: Credential, origin: Origin) -> Result<()> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            let session = credential.session().ok_or(Error::NoSession)?;
            s.store.write(|tx| {
                tx.delete_session(caller.id, session)?;
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::SIGNED_OUT, &origin)
                        .on(
                            "user",
                            Some(caller.id),
                            Some(caller.username.as_str().to_owned()),
                        )
                        .details(json!({"session_id": session})),
                );
                Ok(())
            })
        })
        .await
    }

    /// The caller behind `credential`, with its current roles; `Unauthenticated` when the
    /// credential is unknown or expired, or its account is gone, inactive, locked or expired;
    /// `Forbidden` when it lacks the permission the credential's route requires. For a database
    /// step.
    /// Whether `credential` admits its caller with the permission its route requires: for a
    /// route that must refuse a caller before it reads the request (a file to import, an action
    /// it does not know).
    pub async fn authorize(&self, credential: Credential) -> Result<()> {
        self.database(move |s| s.authenticate(&credential).map(drop))
            .await
    }

    pub(crate) fn authenticate(&self, credential: &Credential) -> Result<Caller> {
        self.look_up(credential, AlsoRead::Nothing)
            .map(|(caller, _)| caller)
    }

    /// [`Services::authenticate`], and the settings read by the same statement: for a write that
    /// needs them before it begins (a create), one round trip to PostgreSQL fewer (`bench/ab
    /// --scenarios create`, +6 %).
    pub(crate) fn authenticate_with_settings(
        &self,
        credential: &Credential,
    ) -> Result<(Caller, Settings)> {
        let (caller, found) = self.look_up(credential, AlsoRead::Settings)?;
        Ok((caller, found.settings.unwrap_or_default()))
    }

    /// Reads account `id` for the caller behind `credential`: the caller and the account in one
    /// statement, the caller admitted as by [`Services::authenticate`] (an unusable credential is
    /// refused before anything about `id` is said), then the read rule (`reveal_account`).
    pub async fn get_account(&self, credential: Credential, id: Uuid) -> Result<Account> {
        self.database(move |s| {
            let (caller, found) = s.look_up(&credential, AlsoRead::Account(id))?;
            s.reveal_account(&caller, id, found.target)
        })
        .await
    }

    /// Admits the caller behind `credential` (see [`Services::authenticate`]); answers it and what
    /// its lookup read as well (`also`).
    fn look_up(&self, credential: &Credential, also: AlsoRead) -> Result<(Caller, AlsoFound)> {
        let hash;
        let key = match &credential.kind {
            Kind::Access { account, session } => CredentialKey::Session {
                account: *account,
                session: *session,
            },
            Kind::ApiToken(secret) => {
                hash = secret.hash();
                CredentialKey::ApiToken(&hash)
            }
        };
        let found = self.store.read(|tx| tx.find_caller(key, also))?;
        let CallerLookup {
            caller,
            api_token,
            session,
            target,
            settings,
        } = found.ok_or(Error::Unauthenticated)?;
        let now = crate::now();
        if api_token.as_ref().is_some_and(|t| expired(t, now))
            || session.as_ref().is_some_and(|s| !s.alive(now))
        {
            return Err(Error::Unauthenticated);
        }
        let last_active = caller.last_active_at;
        let mfa_enabled = caller.mfa_enabled;
        let mut caller = caller.admit(now).ok_or(Error::Unauthenticated)?;
        if caller.is_admin() && !mfa_enabled {
            caller.must_enrol_mfa = match &settings {
                Some(settings) => settings.mfa.required_for_admins,
                None => self.admins_need_mfa()?,
            };
        }
        // Uses are recorded at most once a minute each: the token's, the session's, the account's.
        let token = api_token.filter(|t| use_due(t.last_used_at, now));
        let session = session.filter(|s| s.stale(now));
        let account = use_due(last_active, now).then_some(caller.id);
        if token.is_some() || session.is_some() || account.is_some() {
            self.store.write(|tx| {
                if let Some(token) = &token {
                    tx.touch_api_token(token.id, now)?;
                }
                if let Some(session) = &session {
                    tx.touch_session(session.id, now, session.idle_end_after(now))?;
                }
                if let Some(id) = account {
                    tx.touch_last_active(id, now)?;
                }
                Ok(())
            })?;
        }
        if let Some(permission) = credential.required {
            caller.require(&self.catalog, permission)?;
        }
        Ok((caller, AlsoFound { target, settings }))
    }
}

impl Services {
    /// `mfa.required_for_admins`, for the lookup of an admin without a second factor (the one
    /// caller whose permissions depend on a setting), read when needed: in a statement of the
    /// lookup's own it would cost every request's lookup on PostgreSQL (the settings relation
    /// opened at each execution: `read` 9 % slower, `bench/ab`), and read after the lookup at
    /// each request it cost such an admin's requests 4–7 % on SQLite. An answer "off" is kept for
    /// one second, so an admin who chose to go without a factor pays one read a second; turning
    /// the setting on holds such admins on this process at once (`change_settings`) and on other
    /// replicas within that second. An answer "on" is never kept: the admin is held, and each of
    /// its requests reads again.
    pub(crate) fn admins_need_mfa(&self) -> Result<bool> {
        let now = crate::now().timestamp_millis();
        if now < self.admin_mfa_off_until.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let on = self
            .store
            .read(|tx| tx.load_settings())?
            .mfa
            .required_for_admins;
        if !on {
            self.admin_mfa_off_until
                .store(now + 1_000, Ordering::Relaxed);
        }
        Ok(on)
    }

    /// Forgets a kept "off" of `mfa.required_for_admins` ([`Services::admins_need_mfa`]).
    pub(crate) fn forget_admin_mfa_policy(&self) {
        self.admin_mfa_off_until.store(0, Ordering::Relaxed);
    }
}

/// What a caller's lookup read besides the caller ([`AlsoRead`]).
struct AlsoFound {
    target: Option<Account>,
    settings: Option<Settings>,
}

/// The challenge an account must meet before it gets tokens, if any: its required actions first,
/// then its second factor (unless `method`, how the sign-in got here, was that factor), or, for an
/// account required to use two factors that has none (`mfa_required`, or an admin under
/// `mfa.required_for_admins`), enrolling one.
fn next_challenge(
    account: &Account,
    actions: &[(RequiredAction, DateTime<Utc>)],
    settings: &Settings,
    method: &str,
) -> Option<ChallengeKind> {
    let required = actions.iter().find_map(|(action, _)| match action {
        RequiredAction::SetPassword => Some(ChallengeKind::SetPassword),
        RequiredAction::TemporaryPassword | RequiredAction::TemporaryPasswordUsed => None,
    });
    let second_factor_met = matches!(method, "totp" | "recovery_code" | "one_time_password");
    let second_factor = if second_factor_met {
        None
    } else if account.mfa_enabled {
        Some(ChallengeKind::Mfa)
    } else if settings.mfa.demands(account) {
        Some(ChallengeKind::MfaEnrollment)
    } else {
        None
    };
    required.or(second_factor)
}

fn expired(token: &ApiTokenUse, now: DateTime<Utc>) -> bool {
    token.expires_at.is_some_and(|at| at <= now)
}

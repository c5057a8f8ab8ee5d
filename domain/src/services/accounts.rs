//! Creating, reading, listing, changing and deleting accounts (SPEC §1).

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{fields, Credential, Services};
use crate::{
    account::Account,
    audit::{action, changed_fields, Actor, AuditEvent, Origin},
    one_time::{OneTimeToken, Purpose, NONCE_BYTES},
    outbox::MessageKind,
    paging::UserQuery,
    password::{self, Password},
    policy::{self, Caller},
    ports::Tx,
    roles::Permission,
    seats::{self, SeatUsage},
    session::RequiredAction,
    settings::Settings,
    validate::Checks,
    values::{Email, Locale, PersonName, Username},
    Error, Result,
};

/// A new account as a client sent it; validated by the service.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// Defaults to the email.
    pub username: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// Pre-assigned password; without one the account is `invited`.
    pub password: Option<String>,
    pub origin: Option<String>,
    pub location: Option<String>,
    pub erp_id: Option<String>,
    pub external_key: Option<String>,
    pub locale: Option<String>,
    /// Defaults to `[settings.default_role]`.
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
    pub mfa_required: Option<bool>,
    pub expires_at: Option<DateTime<Utc>>,
    pub email_notifications: Option<bool>,
}

/// A partial change. `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub origin: Option<String>,
    pub location: Option<Option<String>>,
    pub erp_id: Option<Option<String>>,
    pub external_key: Option<Option<String>>,
    pub locale: Option<String>,
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
    pub mfa_required: Option<bool>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub email_notifications: Option<bool>,
    /// The caller saw the change's consequences (a role change to or from `guest` or `admin`)
    /// and confirms it (SPEC §2).
    pub confirm: bool,
}

/// What `DELETE /users/{id}` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// The account authored changes, so it was deactivated to keep history intact.
    Deactivated,
}

impl Services {
    /// Account `id`, read along with its caller (`found`), if the caller may see it: anyone may
    /// read their own account, others need `users:read`. The permission is asked first, so a
    /// caller without it learns nothing about which ids exist.
    pub(crate) fn reveal_account(
        &self,
        caller: &Caller,
        id: Uuid,
        found: Option<Account>,
    ) -> Result<Account> {
        if !caller.is(id) {
            caller.require(&self.catalog, Permission::UsersRead)?;
        }
        found.ok_or(Error::UserNotFound)
    }

    /// One page of accounts and whether another follows.
    pub async fn list_accounts(
        &self,
        credential: Credential,
        query: UserQuery,
    ) -> Result<(Vec<Account>, bool)> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersRead)?;
            let mut rows = s.store.read(|tx| tx.list_accounts(&query, crate::now()))?;
            let more = rows.len() > query.limit as usize;
            rows.truncate(query.limit as usize);
            Ok((rows, more))
        })
        .await
    }

    /// Creates an account. With a pre-assigned password, in three steps (the check, the hash on
    /// the hashing threads, the insert); without one, in one.
    /// Creates an account; one created without a password is `invited`, and comes back with its
    /// activation token (sealed with `nonce`, see [`crate::one_time`]).
    pub async fn create_account(
        &self,
        credential: Credential,
        input: NewAccount,
        origin: Origin,
        nonce: [u8; NONCE_BYTES],
    ) -> Result<(Account, Option<OneTimeToken>)> {
        let first = origin.clone();
        let checked = self
            .database(move |s| {
                let (caller, settings) = s.authenticate_with_settings(&credential)?;
                caller.require(&s.catalog, Permission::UsersWrite)?;
                let (mut account, password) = s.parse_new(input, &settings, "manual")?;
                policy::check_initial_roles(&caller, &account.roles)?;
                account.created_by = Some(caller.id);
                account.updated_by = Some(caller.id);
                match password {
                    Some(password) => Ok(Err(Box::new((caller, account, password)))),
                    None => s
                        .store
                        .write(|tx| {
                            let created = s.insert_new(tx, &caller, account.clone(), &first)?;
                            // A new account's tokens are of generation 0.
                            s.email_link(tx, &created, MessageKind::Activation, 0);
                            Ok(created)
                        })
                        .map(|created| Ok((created, settings.token_lifetimes))),
                }
            })
            .await?;
        let (caller, mut account, password) = match checked {
            Ok((created, lifetimes)) => {
                let issued = (created.created_at, &lifetimes);
                let token = self
                    .seal_for(&created, Purpose::Activation, 0, issued, nonce)
                    .map(|(token, _)| token);
                return Ok((created, token));
            }
            Err(to_hash) => *to_hash,
        };
        account.password_hash = Some(self.hashing(move |h| h.hash(&password)).await?);
        account.activated_at = Some(account.created_at);
        self.database(move |s| {
            s.store.write(|tx| {
                let created = s.insert_new(tx, &caller, account.clone(), &origin)?;
                // Someone else chose it: the holder replaces it at their first sign-in (SPEC §4).
                tx.require_action(created.id, RequiredAction::SetPassword, created.created_at)?;
                Ok((created, None))
            })
        })
        .await
    }

    /// Inserts a checked new account and records its creation.
    pub(super) fn insert_new(
        &self,
        tx: &mut dyn Tx,
        caller: &Caller,
        account: Account,
        origin: &Origin,
    ) -> Result<Account> {
        let event = AuditEvent::new(Actor::caller(caller), action::USER_CREATED, origin)
            .on_account(&account)
            .details(snapshot(&account));
        // Recorded first: a store may write it in the account's own statement.
        tx.effects().audit(event);
        tx.insert_account(&account)?;
        Ok(account)
    }

    pub async fn update_account(
        &self,
        credential: Credential,
        id: Uuid,
        patch: AccountPatch,
        if_match: Option<i64>,
        origin: Origin,
    ) -> Result<Account> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            s.change_account(&caller, id, patch, if_match, &origin)
        })
        .await
    }

    fn change_account(
        &self,
        caller: &Caller,
        id: Uuid,
        patch: AccountPatch,
        if_match: Option<i64>,
        origin: &Origin,
    ) -> Result<Account> {
        caller.require(&self.catalog, Permission::UsersWrite)?;
        self.store
            .write(|tx| self.change_in(tx, caller, id, patch.clone(), if_match, origin))
            .map(|(account, _)| account)
    }

    /// Changes account `id` in the transaction `tx`: [`Services::update_account`]'s work, and
    /// each account's of a bulk edit. With whether anything changed.
    pub(super) fn change_in(
        &self,
        tx: &mut dyn Tx,
        caller: &Caller,
        id: Uuid,
        patch: AccountPatch,
        if_match: Option<i64>,
        origin: &Origin,
    ) -> Result<(Account, bool)> {
        if patch.roles.is_some() || patch.active == Some(false) {
            tx.lock_admin_set()?;
        }
        let before = tx.find_account_for_update(id)?.ok_or(Error::UserNotFound)?;
        check_version(if_match, &before)?;
        // Settings matter only to a role change (a new guest's expiry): read them then.
        let guest_days = if patch.roles.is_some() {
            tx.load_settings()?.guest_days
        } else {
            0
        };
        let after = self.apply_patch(caller, &before, patch.clone(), guest_days)?;
        let changes = diff(&before, &after);
        if changes.is_empty() {
            return Ok((before, false));
        }
        let crosses_guest = before.is_guest() != after.is_guest();
        let holds_guest_seat = after.is_guest() && tx.holds_guest_seat(&after.email.key())?;
        // A new guest loses its assignments and groups (SPEC §8): looked for only then.
        let becomes_guest = crosses_guest && after.is_guest();
        let assigned = becomes_guest
            && (!tx.assignments_of(id)?.is_empty() || !tx.all_instance_grants_of(id)?.is_empty());
        let grouped = becomes_guest && !tx.groups_of(id)?.is_empty();
        let consequences =
            seats::consequences(&before, &after, holds_guest_seat, (assigned, grouped));
        if !consequences.is_empty() && !patch.confirm {
            return Err(Error::ConfirmationRequired(consequences));
        }
        let loses_admin = before.is_admin() && before.active && !(after.is_admin() && after.active);
        if loses_admin && policy::would_remove_last_admin(&before, tx.count_active_admins()?) {
            return Err(Error::LastAdmin);
        }
        if before.active && !after.active && tx.load_settings()?.primary_contact == Some(id) {
            return Err(Error::PrimaryContact);
        }
        let after = save_change(tx, caller, &before, after, changes, origin)?;
        if before.email != after.email {
            // To the old address: its holder learns of it even if someone else took over.
            tx.effects()
                .notify(&before, MessageKind::EmailChanged, None);
        }
        if (before.active && !after.active) || crosses_guest {
            end_access(tx, id)?;
        }
        if assigned {
            remove_assignments(tx, caller, &after, origin)?;
        }
        if grouped {
            for group in tx.leave_groups(id)? {
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(caller), action::GROUP_MEMBER_REMOVED, origin)
                        .on_account(&after)
                        .details(json!({"group_id": group, "reason": "became_guest"})),
                );
            }
        }
        Ok((after, true))
    }

    /// Every seat's count and limit (SPEC §2): `active_users`, then each catalog role (its
    /// active holders), then the guest ledger.
    pub async fn seat_counts(&self, credential: Credential) -> Result<Vec<SeatUsage>> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::UsersRead)?;
            let roles: Vec<String> = s.catalog.roles().iter().map(|r| r.name.clone()).collect();
            let counts = s.store.read(|tx| tx.seat_usage(&roles))?;
            Ok(counts)
        })
        .await
    }

    /// Lifts a lock (SPEC §4): no lock, and the consecutive-failure count starts again. An
    /// account that is not locked and has no failures is returned unchanged.
    pub async fn unlock_account(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
    ) -> Result<Account> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            s.unlock(&caller, id, &origin).map(|(account, _)| account)
        })
        .await
    }

    /// [`Services::unlock_account`]'s work, in a transaction of its own.
    /// With whether there was a lock or failures to lift.
    pub(super) fn unlock(
        &self,
        caller: &Caller,
        id: Uuid,
        origin: &Origin,
    ) -> Result<(Account, bool)> {
        self.store.write(|tx| {
            let before = tx.find_account_for_update(id)?.ok_or(Error::UserNotFound)?;
            if before.locked_at.is_none() && before.failed_logins == 0 {
                return Ok((before, false));
            }
            let mut after = before.clone();
            after.unlock();
            after.version = before.version + 1;
            after.updated_at = crate::now();
            after.updated_by = Some(caller.id);
            tx.update_account(&before, &after)?;
            tx.effects().audit(
                AuditEvent::new(Actor::caller(caller), action::USER_UNLOCKED, origin)
                    .on_account(&after)
                    .details(json!({
                        "locked_at": before.locked_at,
                        "failed_logins": before.failed_logins,
                    })),
            );
            Ok((after, true))
        })
    }

    /// Removes an account, or deactivates it when it has authored changes (SPEC §1).
    pub async fn delete_account(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
    ) -> Result<DeleteOutcome> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            s.remove_account(&caller, id, &origin)
        })
        .await
    }

    pub(super) fn remove_account(
        &self,
        caller: &Caller,
        id: Uuid,
        origin: &Origin,
    ) -> Result<DeleteOutcome> {
        caller.require(&self.catalog, Permission::UsersWrite)?;
        if caller.is(id) {
            return Err(Error::SelfDelete);
        }
        self.store.write(|tx| {
            tx.lock_admin_set()?;
            let account = tx.find_account_for_update(id)?.ok_or(Error::UserNotFound)?;
            if tx.load_settings()?.primary_contact == Some(id) {
                return Err(Error::PrimaryContact);
            }
            if policy::would_remove_last_admin(&account, tx.count_active_admins()?) {
                return Err(Error::LastAdmin);
            }
            if tx.has_authored_changes(id)? {
                deactivate_instead(tx, caller, account, origin)?;
                return Ok(DeleteOutcome::Deactivated);
            }
            tx.delete_account(&account)?;
            tx.effects().audit(
                AuditEvent::new(Actor::caller(caller), action::USER_DELETED, origin)
                    .on_account(&account)
                    .details(snapshot(&account)),
            );
            Ok(DeleteOutcome::Deleted)
        })
    }

    /// Validates a new account; returns it (not yet stored) and its password, if one was given.
    pub(super) fn parse_new(
        &self,
        input: NewAccount,
        settings: &Settings,
        channel: &str,
    ) -> Result<(Account, Option<Password>)> {
        let mut checks = Checks::default();
        let email = checks.take("email", Email::parse(&input.email));
        // Defaults to the email as normalised (SPEC §1).
        let username_raw = input.username.unwrap_or_else(|| match &email {
            Some(email) => email.as_str().to_owned(),
            None => input.email.trim().to_owned(),
        });
        let username = checks.take("username", Username::parse(&username_raw));
        let first_name = checks.take("first_name", PersonName::parse(&input.first_name));
        let last_name = checks.take("last_name", PersonName::parse(&input.last_name));
        let origin = fields::text(
            &mut checks,
            "origin",
            input.origin.as_deref(),
            fields::ORIGIN_MAX,
        );
        let location = fields::text(
            &mut checks,
            "location",
            input.location.as_deref(),
            fields::LOCATION_MAX,
        );
        let erp_id = fields::text(
            &mut checks,
            "erp_id",
            input.erp_id.as_deref(),
            fields::ERP_ID_MAX,
        );
        let external_key = fields::text(
            &mut checks,
            "external_key",
            input.external_key.as_deref(),
            fields::EXTERNAL_KEY_MAX,
        );
        let locale = match &input.locale {
            Some(raw) => checks.take("locale", Locale::parse(raw)),
            None => Some(Locale::parse(&settings.locale).unwrap_or_default()),
        };
        let requested = input
            .roles
            .unwrap_or_else(|| vec![settings.default_role.clone()]);
        let roles = fields::roles(&self.catalog, &requested)
            .map_err(|e| checks.push(e))
            .ok();
        let expires_at = input
            .expires_at
            .and_then(|at| checks.take("expires_at", fields::not_in_past(at)));
        let password = match (&input.password, &username, &email) {
            (Some(raw), Some(u), Some(e)) => password::check_new(
                "password",
                raw,
                settings.password_policy.min_length,
                &[u.as_str(), e.as_str()],
            )
            .map_err(|e| checks.push(e))
            .ok(),
            _ => None,
        };
        checks.finish()?;
        let (
            Some(username),
            Some(email),
            Some(first_name),
            Some(last_name),
            Some(locale),
            Some(roles),
        ) = (username, email, first_name, last_name, locale, roles)
        else {
            return Err(Error::Internal(
                "validation passed with a missing field".into(),
            ));
        };
        let now = crate::now();
        let expires_at = fields::guest_expiry(&roles, expires_at, settings.guest_days);
        let account = Account {
            id: Uuid::now_v7(),
            username,
            email,
            first_name,
            last_name,
            origin: origin.unwrap_or_else(|| channel.to_owned()),
            location,
            erp_id,
            external_key,
            locale,
            roles,
            active: input.active.unwrap_or(true),
            mfa_required: input.mfa_required.unwrap_or(false),
            mfa_enabled: false,
            expires_at,
            email_notifications: input.email_notifications.unwrap_or(true),
            password_hash: None,
            created_at: now,
            updated_at: now,
            created_by: None,
            updated_by: None,
            activated_at: None,
            last_active_at: None,
            failed_logins: 0,
            locked_at: None,
            locked_until: None,
            version: 1,
        };
        Ok((account, password))
    }

    /// The account as it would be after `patch`, with every rule on who may change what checked.
    pub(super) fn apply_patch(
        &self,
        caller: &Caller,
        before: &Account,
        patch: AccountPatch,
        guest_days: u32,
    ) -> Result<Account> {
        let mut after = before.clone();
        let mut checks = Checks::default();
        if let Some(raw) = patch.username {
            if raw != before.username.as_str() {
                return Err(Error::UsernameImmutable);
            }
        }
        if let Some(raw) = patch.email {
            if let Some(email) = checks.take("email", Email::parse(&raw)) {
                if email != before.email && !caller.is_admin() {
                    return Err(Error::EmailChangeRequiresAdmin);
                }
                after.email = email;
            }
        }
        if let Some(raw) = patch.first_name {
            after.first_name = checks
                .take("first_name", PersonName::parse(&raw))
                .unwrap_or(after.first_name);
        }
        if let Some(raw) = patch.last_name {
            after.last_name = checks
                .take("last_name", PersonName::parse(&raw))
                .unwrap_or(after.last_name);
        }
        if let Some(raw) = patch.origin {
            let origin = fields::text(&mut checks, "origin", Some(&raw), fields::ORIGIN_MAX);
            after.origin = origin.unwrap_or_else(|| before.origin.clone());
        }
        if let Some(raw) = patch.location {
            after.location = fields::text(
                &mut checks,
                "location",
                raw.as_deref(),
                fields::LOCATION_MAX,
            );
        }
        if let Some(raw) = patch.erp_id {
            after.erp_id = fields::text(&mut checks, "erp_id", raw.as_deref(), fields::ERP_ID_MAX);
        }
        if let Some(raw) = patch.external_key {
            after.external_key = fields::text(
                &mut checks,
                "external_key",
                raw.as_deref(),
                fields::EXTERNAL_KEY_MAX,
            );
        }
        if let Some(raw) = patch.locale {
            after.locale = checks
                .take("locale", Locale::parse(&raw))
                .unwrap_or(after.locale);
        }
        if let Some(at) = patch.expires_at {
            after.expires_at = match at {
                Some(at) if Some(at) != before.expires_at => {
                    checks.take("expires_at", fields::not_in_past(at))
                }
                other => other,
            };
        }
        if let Some(requested) = patch.roles {
            match fields::roles(&self.catalog, &requested) {
                Ok(roles) => {
                    policy::check_role_change(caller, before, &roles)?;
                    if !before.is_guest() && after.expires_at.is_none() {
                        after.expires_at = fields::guest_expiry(&roles, None, guest_days);
                    }
                    after.roles = roles;
                }
                Err(e) => checks.push(e),
            }
        }
        checks.finish()?;
        if let Some(active) = patch.active {
            after.active = active;
            if active {
                after.unlock();
            }
        }
        if let Some(v) = patch.mfa_required {
            after.mfa_required = v;
        }
        if let Some(v) = patch.email_notifications {
            after.email_notifications = v;
        }
        Ok(after)
    }
}

fn deactivate_instead(
    tx: &mut dyn Tx,
    caller: &Caller,
    account: Account,
    origin: &Origin,
) -> Result<()> {
    if !account.active {
        return Ok(());
    }
    let mut after = account.clone();
    after.active = false;
    after.version += 1;
    after.updated_at = crate::now();
    after.updated_by = Some(caller.id);
    let details =
        json!({"reason": "has_authored_changes", "active": {"before": true, "after": false}});
    tx.update_account(&account, &after)?;
    end_access(tx, after.id)?;
    tx.effects().audit(
        AuditEvent::new(Actor::caller(caller), action::USER_DEACTIVATED, origin)
            .on_account(&after)
            .details(details),
    );
    Ok(())
}

/// `If-Match` against the account's version (SPEC §1): a stale one is refused.
pub(super) fn check_version(if_match: Option<i64>, account: &Account) -> Result<()> {
    match if_match {
        Some(expected) if expected != account.version => Err(Error::VersionMismatch {
            current: account.version,
        }),
        _ => Ok(()),
    }
}

/// Writes `after`, a change of `before` by `caller` with these `changes`, as a new version, and
/// records it.
pub(super) fn save_change(
    tx: &mut dyn Tx,
    caller: &Caller,
    before: &Account,
    mut after: Account,
    changes: Map<String, Value>,
    origin: &Origin,
) -> Result<Account> {
    after.version = before.version + 1;
    after.updated_at = crate::now();
    after.updated_by = Some(caller.id);
    tx.update_account(before, &after)?;
    // The changes an auditor asks about by name have an event of their own besides.
    let mut specific = Vec::new();
    for (field, what) in [
        ("email", action::USER_EMAIL_CHANGED),
        ("roles", action::USER_ROLES_CHANGED),
    ] {
        if let Some(change) = changes.get(field) {
            specific.push((what, json!({ field: change })));
        }
    }
    if let Some(change) = changes.get("active") {
        let what = if after.active {
            action::USER_REACTIVATED
        } else {
            action::USER_DEACTIVATED
        };
        specific.push((what, json!({"active": change, "reason": "changed"})));
    }
    let actor = Actor::caller(caller);
    tx.effects().audit(
        AuditEvent::new(actor.clone(), action::USER_UPDATED, origin)
            .on_account(&after)
            .details(Value::Object(changes)),
    );
    for (what, details) in specific {
        tx.effects().audit(
            AuditEvent::new(actor.clone(), what, origin)
                .on_account(&after)
                .details(details),
        );
    }
    Ok(after)
}

/// Ends every way the account signs in or acts (SPEC §1: deactivation ends every session and API
/// token at once): its API tokens, sessions and pending sign-in challenges.
pub(super) fn end_access(tx: &mut dyn Tx, id: Uuid) -> Result<()> {
    tx.delete_api_tokens_of(id)?;
    tx.delete_sessions_of(id, None)?;
    tx.delete_challenges_of(id)?;
    Ok(())
}

/// The visible fields of an account, for audit details. Never includes the password hash.
fn fields_of(a: &Account) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("username".into(), json!(a.username.as_str()));
    m.insert("email".into(), json!(a.email.as_str()));
    m.insert("first_name".into(), json!(a.first_name.as_str()));
    m.insert("last_name".into(), json!(a.last_name.as_str()));
    m.insert("origin".into(), json!(a.origin));
    m.insert("location".into(), json!(a.location));
    m.insert("erp_id".into(), json!(a.erp_id));
    m.insert("external_key".into(), json!(a.external_key));
    m.insert("locale".into(), json!(a.locale.as_str()));
    m.insert("roles".into(), json!(a.roles));
    m.insert("active".into(), json!(a.active));
    m.insert("mfa_required".into(), json!(a.mfa_required));
    m.insert("expires_at".into(), json!(a.expires_at));
    m.insert("email_notifications".into(), json!(a.email_notifications));
    m.insert("locked".into(), json!(a.locked_at.is_some()));
    m
}

pub(super) fn snapshot(a: &Account) -> Value {
    Value::Object(fields_of(a))
}

pub(super) fn diff(before: &Account, after: &Account) -> Map<String, Value> {
    changed_fields(fields_of(before), &fields_of(after))
}

/// Deletes every assignment and "access to all" grant of `account` (become a guest), each
/// audited as unassigned.
fn remove_assignments(
    tx: &mut dyn Tx,
    caller: &Caller,
    account: &Account,
    origin: &Origin,
) -> Result<()> {
    let (assignments, grants) = tx.delete_assignments_of(account.id)?;
    let details = assignments
        .iter()
        .map(|a| json!({"application_id": a.application_id, "instance_id": a.instance_id}))
        .chain(
            grants
                .iter()
                .map(|g| json!({"application_id": g, "all_instances": true})),
        );
    for mut details in details.collect::<Vec<_>>() {
        details["reason"] = json!("became_guest");
        tx.effects().audit(
            AuditEvent::new(Actor::caller(caller), action::ASSIGNMENT_UNASSIGNED, origin)
                .on_account(account)
                .details(details),
        );
    }
    Ok(())
}

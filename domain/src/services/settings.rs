//! Reading and changing settings (SPEC §10).

use serde_json::{json, Value};
use uuid::Uuid;

use super::{Credential, Services};
use crate::{
    audit::{action, changed_fields, Actor, AuditEvent, Origin},
    password::{LOWEST_MIN_LENGTH, MAX_PASSWORD_CHARS},
    policy::Caller,
    roles::{Permission, Role, ADMIN},
    settings::{Settings, PERMANENT_LOCK_FAILURES},
    validate::Checks,
    values::Locale,
    Error, FieldError, Result,
};

#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub default_role: Option<String>,
    /// `Some(None)` (an explicit `null`) is refused: the contact is moved, never cleared.
    pub primary_contact: Option<Option<Uuid>>,
    pub locale: Option<String>,
    pub guest_days: Option<u32>,
    pub password_policy: Option<PasswordPolicyPatch>,
    pub require_passwords: Option<bool>,
    pub lockout: Option<LockoutPatch>,
    pub sessions: Option<SessionPolicyPatch>,
    /// `Some(None)`: unlimited.
    pub active_user_limit: Option<Option<u32>>,
    /// `Some(None)`: off.
    pub deactivate_after_days_inactive: Option<Option<u32>>,
    /// `Some(None)`: kept for ever.
    pub audit_retention_days: Option<Option<u32>>,
    pub token_lifetimes: Option<TokenLifetimesPatch>,
    pub mfa: Option<MfaPolicyPatch>,
}

#[derive(Debug, Clone, Default)]
pub struct MfaPolicyPatch {
    pub required_for_admins: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct TokenLifetimesPatch {
    pub activation_hours: Option<u32>,
    pub invitation_hours: Option<u32>,
    pub reset_minutes: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct PasswordPolicyPatch {
    pub min_length: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct LockoutPatch {
    pub threshold: Option<u32>,
    /// `Some(None)`: locks end only when an admin unlocks.
    pub minutes: Option<Option<u32>>,
}

#[derive(Debug, Clone, Default)]
pub struct SessionPolicyPatch {
    pub idle_minutes: Option<u32>,
    pub absolute_hours: Option<u32>,
}

/// Puts `value` into `slot` when it lies in `range`, else records why not.
fn bounded(
    checks: &mut Checks,
    field: &str,
    value: Option<u32>,
    range: std::ops::RangeInclusive<u32>,
    slot: &mut u32,
) {
    let Some(v) = value else { return };
    if range.contains(&v) {
        *slot = v;
    } else {
        checks.push(FieldError::new(
            field,
            "out_of_range",
            format!("between {} and {}", range.start(), range.end()),
        ));
    }
}

/// A setting that may be turned off (`null`): `Some(None)` turns it off, `Some(Some(v))` sets `v`
/// within `range`, `None` leaves it as it is.
fn bounded_or_off(
    checks: &mut Checks,
    field: &str,
    value: Option<Option<u32>>,
    range: std::ops::RangeInclusive<u32>,
    slot: &mut Option<u32>,
) {
    match value {
        None => {}
        Some(None) => *slot = None,
        Some(Some(v)) => {
            let mut set = 0;
            bounded(checks, field, Some(v), range, &mut set);
            if set > 0 {
                *slot = Some(set);
            }
        }
    }
}

impl Services {
    /// The role catalog (SPEC §3), to any authenticated caller.
    pub async fn roles(&self, credential: Credential) -> Result<Vec<Role>> {
        self.database(move |s| {
            s.authenticate(&credential)?;
            Ok(s.catalog.roles().to_vec())
        })
        .await
    }

    pub async fn settings(&self, credential: Credential) -> Result<Settings> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::SettingsRead)?;
            s.store.read(|tx| tx.load_settings())
        })
        .await
    }

    pub async fn update_settings(
        &self,
        credential: Credential,
        patch: SettingsPatch,
        origin: Origin,
    ) -> Result<Settings> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            s.change_settings(&caller, patch, &origin)
        })
        .await
    }

    fn change_settings(
        &self,
        caller: &Caller,
        patch: SettingsPatch,
        origin: &Origin,
    ) -> Result<Settings> {
        caller.require(&self.catalog, Permission::SettingsWrite)?;
        self.store.write(|tx| {
            let before = tx.load_settings()?;
            let mut after = before.clone();
            let mut checks = Checks::default();
            if let Some(role) = patch.default_role.clone() {
                match self.catalog.get(&role) {
                    Some(r) if r.name != ADMIN => after.default_role = role,
                    Some(_) => checks.push(FieldError::new(
                        "default_role",
                        "admin_not_default",
                        "admin cannot be the default role",
                    )),
                    None => checks.push(FieldError::new(
                        "default_role",
                        "unknown_role",
                        format!("no role named {role:?}"),
                    )),
                }
            }
            // The primary contact moves to another active account; it is never cleared (SPEC §1).
            match patch.primary_contact {
                None => {}
                Some(None) => checks.push(FieldError::new(
                    "primary_contact",
                    "required",
                    "the primary contact can be moved to another active account, not removed",
                )),
                Some(Some(id)) => match tx.find_account(id)? {
                    None => checks.push(FieldError::new(
                        "primary_contact",
                        "unknown_account",
                        "no account with this id",
                    )),
                    Some(account) if !account.active => checks.push(FieldError::new(
                        "primary_contact",
                        "inactive_account",
                        "the primary contact must be an active account",
                    )),
                    Some(_) => after.primary_contact = Some(id),
                },
            }
            if let Some(raw) = &patch.locale {
                if let Some(l) = checks.take("locale", Locale::parse(raw)) {
                    after.locale = l.as_str().to_owned();
                }
            }
            bounded(
                &mut checks,
                "guest_days",
                patch.guest_days,
                1..=3650,
                &mut after.guest_days,
            );
            bounded(
                &mut checks,
                "password_policy.min_length",
                patch.password_policy.as_ref().and_then(|p| p.min_length),
                LOWEST_MIN_LENGTH..=MAX_PASSWORD_CHARS as u32,
                &mut after.password_policy.min_length,
            );
            if let Some(v) = patch.require_passwords {
                after.require_passwords = v;
            }
            if let Some(lockout) = &patch.lockout {
                bounded(
                    &mut checks,
                    "lockout.threshold",
                    lockout.threshold,
                    1..=PERMANENT_LOCK_FAILURES,
                    &mut after.lockout.threshold,
                );
                bounded_or_off(
                    &mut checks,
                    "lockout.minutes",
                    lockout.minutes,
                    1..=10_080,
                    &mut after.lockout.minutes,
                );
            }
            if let Some(limit) = patch.active_user_limit {
                after.active_user_limit = limit;
            }
            bounded_or_off(
                &mut checks,
                "deactivate_after_days_inactive",
                patch.deactivate_after_days_inactive,
                1..=3650,
                &mut after.deactivate_after_days_inactive,
            );
            bounded_or_off(
                &mut checks,
                "audit_retention_days",
                patch.audit_retention_days,
                1..=36_500,
                &mut after.audit_retention_days,
            );
            if let Some(sessions) = &patch.sessions {
                bounded(
                    &mut checks,
                    "sessions.idle_minutes",
                    sessions.idle_minutes,
                    5..=43_200,
                    &mut after.sessions.idle_minutes,
                );
                bounded(
                    &mut checks,
                    "sessions.absolute_hours",
                    sessions.absolute_hours,
                    1..=8_760,
                    &mut after.sessions.absolute_hours,
                );
            }
            if let Some(lifetimes) = &patch.token_lifetimes {
                let slot = &mut after.token_lifetimes;
                bounded(
                    &mut checks,
                    "token_lifetimes.activation_hours",
                    lifetimes.activation_hours,
                    1..=8_760,
                    &mut slot.activation_hours,
                );
                bounded(
                    &mut checks,
                    "token_lifetimes.invitation_hours",
                    lifetimes.invitation_hours,
                    1..=8_760,
                    &mut slot.invitation_hours,
                );
                bounded(
                    &mut checks,
                    "token_lifetimes.reset_minutes",
                    lifetimes.reset_minutes,
                    5..=10_080,
                    &mut slot.reset_minutes,
                );
            }
            if let Some(v) = patch.mfa.as_ref().and_then(|m| m.required_for_admins) {
                after.mfa.required_for_admins = v;
            }
            checks.finish()?;
            if after == before {
                return Ok(after);
            }
            tx.save_settings(&after)?;
            if after.mfa.required_for_admins {
                self.forget_admin_mfa_policy();
            }
            let details = changes(&before, &after)?;
            tx.effects().audit(
                AuditEvent::new(Actor::caller(caller), action::SETTINGS_UPDATED, origin)
                    .on("settings", None, None)
                    .details(details),
            );
            if let (true, Some(contact)) = (
                after.primary_contact != before.primary_contact,
                after.primary_contact,
            ) {
                let label = tx.find_account(contact)?.map(|a| a.username.as_str().to_owned());
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(caller), action::PRIMARY_CONTACT_CHANGED, origin)
                        .on("user", Some(contact), label)
                        .details(json!({"primary_contact": {"before": before.primary_contact, "after": contact}})),
                );
            }
            Ok(after)
        })
    }
}

fn changes(before: &Settings, after: &Settings) -> Result<Value> {
    let to_map = |s: &Settings| match serde_json::to_value(s) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::Internal(
            "settings did not serialise to an object".into(),
        )),
    };
    Ok(Value::Object(changed_fields(
        to_map(before)?,
        &to_map(after)?,
    )))
}

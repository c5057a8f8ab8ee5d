//! Audit events (SPEC §9): every write appends one in the same transaction as the change.
//! Details carry before/after values of changed fields and never a secret.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{account::Account, policy::Caller};

/// Where a request came from, recorded with every event it causes.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// Who did it: an account, or nobody (an unknown login, the setup call).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub username: Option<String>,
}

impl Actor {
    pub fn account(account: &Account) -> Self {
        Self {
            id: Some(account.id),
            username: Some(account.username.as_str().to_owned()),
        }
    }

    /// The caller of a request.
    pub fn caller(caller: &Caller) -> Self {
        Self {
            id: Some(caller.id),
            username: Some(caller.username.as_str().to_owned()),
        }
    }

    pub fn anonymous() -> Self {
        Self {
            id: None,
            username: None,
        }
    }

    /// Roster itself, acting for an operator at the command line.
    pub fn system() -> Self {
        Self {
            id: None,
            username: Some("roster".into()),
        }
    }
}

/// Actions recorded. Sign-in events start with `auth.`: they are not "authored changes" for the
/// delete rule of SPEC §1.
pub mod action {
    pub const SETUP_COMPLETED: &str = "setup.completed";
    pub const USER_CREATED: &str = "user.created";
    pub const USER_UPDATED: &str = "user.updated";
    /// An account deactivated: by a change (`reason: changed`), by a delete request because it
    /// had authored changes (`has_authored_changes`), or by the dormant-account sweep.
    pub const USER_DEACTIVATED: &str = "user.deactivated";
    /// An inactive account made active again.
    pub const USER_REACTIVATED: &str = "user.reactivated";
    /// Besides the change's `user.updated`: the email's before and after.
    pub const USER_EMAIL_CHANGED: &str = "user.email_changed";
    /// Besides the change's `user.updated`: the roles before and after.
    pub const USER_ROLES_CHANGED: &str = "user.roles_changed";
    /// A bulk edit (`PATCH /users`): its counts and changes (each account has its own events).
    pub const USERS_BULK_UPDATED: &str = "users.bulk_updated";
    /// A bulk action (delete, unlock, password reset): its counts (each account has its own).
    pub const USERS_BULK_ACTION: &str = "users.bulk_action";
    pub const USER_DELETED: &str = "user.deleted";
    /// An import's summary: its counts and options (each account has its `user.created`).
    pub const USERS_IMPORTED: &str = "users.imported";
    pub const API_TOKEN_CREATED: &str = "api_token.created";
    pub const API_TOKEN_REVOKED: &str = "api_token.revoked";
    pub const SETTINGS_UPDATED: &str = "settings.updated";
    /// Besides `settings.updated`: the primary contact moved (the target is the new one).
    pub const PRIMARY_CONTACT_CHANGED: &str = "settings.primary_contact_changed";
    pub const LOGIN_SUCCEEDED: &str = "auth.login_succeeded";
    pub const LOGIN_FAILED: &str = "auth.login_failed";
    pub const CHALLENGE_ISSUED: &str = "auth.challenge_issued";
    /// A password given by someone else replaced while signing in (the `set_password`
    /// challenge): part of the sign-in, not an authored change.
    pub const CHALLENGE_PASSWORD_SET: &str = "auth.password_set";
    pub const SIGNED_OUT: &str = "auth.signed_out";
    /// One of the caller's own sessions ended by the caller.
    pub const OWN_SESSION_REVOKED: &str = "auth.session_revoked";
    pub const REFRESH_TOKEN_REUSED: &str = "auth.refresh_token_reused";
    /// Sessions of an account ended by someone else (an admin).
    pub const SESSIONS_REVOKED: &str = "session.revoked";
    pub const USER_LOCKED: &str = "user.locked";
    pub const USER_UNLOCKED: &str = "user.unlocked";
    pub const PASSWORD_CHANGED: &str = "user.password_changed";
    /// An invited account set its first password through its activation link.
    pub const USER_ACTIVATED: &str = "user.activated";
    /// An invited account's activation links were voided: re-issued (`outcome: reissued`, a new
    /// one handed out) or revoked.
    pub const ACTIVATION_WITHDRAWN: &str = "user.activation_withdrawn";
    /// An admin issued a password reset link (`outcome: issued`: the ones before are void) or
    /// revoked the account's reset links.
    pub const RESET_LINKS_WITHDRAWN: &str = "user.reset_links_withdrawn";
    /// A password set with a reset link.
    pub const PASSWORD_RESET: &str = "user.password_reset";
    /// Someone asked for a reset link by login (`outcome`: `emailed`, or why not).
    pub const PASSWORD_FORGOTTEN: &str = "auth.password_forgotten";
    /// Two-factor (SPEC §6): enrolment started, confirmed (`mfa.enrolled`), the factor removed,
    /// recovery codes replaced, and a sign-in's second factor met (`method`: `totp`,
    /// `recovery_code`).
    pub const APPLICATION_CREATED: &str = "application.created";
    pub const APPLICATION_RENAMED: &str = "application.renamed";
    pub const APPLICATION_DELETED: &str = "application.deleted";
    pub const INSTANCE_CREATED: &str = "instance.created";
    pub const INSTANCE_RENAMED: &str = "instance.renamed";
    pub const INSTANCE_DELETED: &str = "instance.deleted";
    pub const ASSIGNMENT_ASSIGNED: &str = "assignment.assigned";
    pub const ASSIGNMENT_UNASSIGNED: &str = "assignment.unassigned";
    pub const ASSIGNMENT_ENABLED: &str = "assignment.enabled";
    pub const ASSIGNMENT_DISABLED: &str = "assignment.disabled";
    pub const GROUP_CREATED: &str = "group.created";
    pub const GROUP_RENAMED: &str = "group.renamed";
    pub const GROUP_DELETED: &str = "group.deleted";
    pub const GROUP_MEMBER_ADDED: &str = "group.member_added";
    pub const GROUP_MEMBER_REMOVED: &str = "group.member_removed";
    pub const MFA_ENROLLMENT_STARTED: &str = "mfa.enrollment_started";
    pub const MFA_ENROLLED: &str = "mfa.enrolled";
    pub const MFA_REMOVED: &str = "mfa.removed";
    pub const RECOVERY_CODES_REGENERATED: &str = "mfa.recovery_codes_regenerated";
    pub const MFA_VERIFIED: &str = "auth.mfa_verified";
    pub const MFA_ONE_TIME_PASSWORD_ISSUED: &str = "mfa.one_time_password_issued";
    /// An admin queued a failed outbox message again.
    pub const MESSAGE_RETRIED: &str = "outbox.message_retried";
    /// A retention sweep removed events up to a place in the chain, which became its checkpoint
    /// (`through_seq`, `hash`).
    pub const AUDIT_EVENTS_REMOVED: &str = "audit.events_removed";
    /// The personal values of the events naming an account were erased.
    pub const AUDIT_PERSONAL_VALUES_ERASED: &str = "audit.personal_values_erased";
    /// The prefix shared by sign-in events.
    pub const SIGN_IN_PREFIX: &str = "auth.";
}

/// What an event is about, for the audit trail's filters and reports (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Accounts, roles, assignments, groups, applications, imports: what admins do to accounts.
    UserManagement,
    /// Sign-ins, sign-outs, sessions, locks.
    Authentication,
    /// Passwords, second factors, API tokens, settings.
    SecuritySettings,
    /// An account's holder changing its own details.
    AccountInformation,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::UserManagement,
        Category::Authentication,
        Category::SecuritySettings,
        Category::AccountInformation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::UserManagement => "user_management",
            Category::Authentication => "authentication",
            Category::SecuritySettings => "security_settings",
            Category::AccountInformation => "account_information",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// An event's category, from its action (and, for a change of an account, whether the account
/// changed itself). The migration `2026-12-02-000001_audit_query` applies the same rule to the
/// events written before it.
pub fn category(event: &AuditEvent) -> Category {
    use action::*;
    let a = event.action;
    if a.starts_with("auth.")
        || a.starts_with("session.")
        || [USER_LOCKED, USER_UNLOCKED].contains(&a)
    {
        Category::Authentication
    } else if a.starts_with("mfa.")
        || a.starts_with("api_token.")
        || a.starts_with("audit.")
        || [
            SETTINGS_UPDATED,
            PASSWORD_CHANGED,
            PASSWORD_RESET,
            RESET_LINKS_WITHDRAWN,
        ]
        .contains(&a)
    {
        Category::SecuritySettings
    } else if a == USER_UPDATED && event.actor.id.is_some() && event.actor.id == event.target_id {
        Category::AccountInformation
    } else {
        Category::UserManagement
    }
}

/// An event as the trail keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_username: Option<String>,
    pub action: String,
    pub category: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub target_label: Option<String>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

/// Which events, newest first: every filter given must hold; `before` (the last id of the
/// previous page) continues a list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub category: Option<Category>,
    pub actor: Option<Uuid>,
    pub target: Option<Uuid>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (exclusive).
    pub to: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<Uuid>,
    /// A snapshot of the target's name (a username), kept after the target is deleted.
    pub target_label: Option<String>,
    pub origin: Origin,
    pub details: Value,
}

impl AuditEvent {
    pub fn new(actor: Actor, action: &'static str, origin: &Origin) -> Self {
        Self {
            id: Uuid::now_v7(),
            at: crate::now(),
            actor,
            action,
            target_type: "none",
            target_id: None,
            target_label: None,
            origin: origin.clone(),
            details: Value::Object(Default::default()),
        }
    }

    pub fn on_account(mut self, account: &Account) -> Self {
        self.target_type = "user";
        self.target_id = Some(account.id);
        self.target_label = Some(account.username.as_str().to_owned());
        self
    }

    pub fn on(
        mut self,
        target_type: &'static str,
        id: Option<Uuid>,
        label: Option<String>,
    ) -> Self {
        self.target_type = target_type;
        self.target_id = id;
        self.target_label = label;
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// `{field: {"before": …, "after": …}}` for every field whose value differs.
pub fn changed_fields(
    before: serde_json::Map<String, Value>,
    after: &serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    before
        .into_iter()
        .filter_map(|(k, old)| {
            let new = after.get(&k)?;
            (old != *new).then(|| (k, serde_json::json!({"before": old, "after": new})))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_falls_in_its_category() {
        let origin = Origin::default();
        let someone = Actor {
            id: Some(Uuid::now_v7()),
            username: Some("ana".into()),
        };
        let of =
            |action: &'static str| category(&AuditEvent::new(someone.clone(), action, &origin));
        assert_eq!(of(action::LOGIN_FAILED), Category::Authentication);
        assert_eq!(of(action::USER_LOCKED), Category::Authentication);
        assert_eq!(of(action::SESSIONS_REVOKED), Category::Authentication);
        assert_eq!(of(action::MFA_ENROLLED), Category::SecuritySettings);
        assert_eq!(of(action::PASSWORD_RESET), Category::SecuritySettings);
        assert_eq!(of(action::SETTINGS_UPDATED), Category::SecuritySettings);
        assert_eq!(of(action::ASSIGNMENT_ASSIGNED), Category::UserManagement);
        assert_eq!(of(action::USERS_IMPORTED), Category::UserManagement);
        // A change of an account: its own holder's, or an admin's.
        let own = AuditEvent::new(someone.clone(), action::USER_UPDATED, &origin)
            .on("user", someone.id, None);
        assert_eq!(category(&own), Category::AccountInformation);
        let other = own.clone().on("user", Some(Uuid::now_v7()), None);
        assert_eq!(category(&other), Category::UserManagement);
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
    }
}

//! Organisation-wide settings (SPEC §10), stored as one document so later capabilities add
//! fields without a migration. Unknown stored fields are ignored; missing ones take defaults.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use chrono::Duration;

use crate::{one_time::Purpose, password::DEFAULT_MIN_LENGTH};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The role given to accounts created without roles (never `admin`).
    pub default_role: String,
    /// The organisation's primary contact: an account that cannot be deleted (SPEC §1).
    pub primary_contact: Option<Uuid>,
    /// The default locale of new accounts.
    pub locale: String,
    /// Days a guest account lasts before `expires_at` (SPEC §3).
    pub guest_days: u32,
    pub password_policy: PasswordPolicy,
    /// When false, an account with no password signs in with its username alone (SPEC §4);
    /// never an account holding `admin`.
    pub require_passwords: bool,
    pub lockout: LockoutPolicy,
    pub sessions: SessionPolicy,
    /// The most active accounts that are not guests (SPEC §2); `None`: unlimited.
    pub active_user_limit: Option<u32>,
    /// Accounts unused for this many days are deactivated by a background sweep (SPEC §2);
    /// `None`: never.
    pub deactivate_after_days_inactive: Option<u32>,
    /// Audit events older than this many days are removed by a background sweep, which keeps
    /// the chain verifiable from a checkpoint (SPEC §9, [`crate::chain`]); `None`: kept for ever.
    pub audit_retention_days: Option<u32>,
    pub token_lifetimes: TokenLifetimes,
    pub mfa: MfaPolicy,
}

/// Who must use two-factor sign-in besides accounts with `mfa_required` (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MfaPolicy {
    /// Every holder of `admin` enrols a second factor at their next sign-in, and until they have
    /// one their tokens (sessions and API tokens alike) carry no permission: only their own
    /// account, enrolment and sign-out answer. Default true.
    pub required_for_admins: bool,
}

impl MfaPolicy {
    /// Whether `account` must use two-factor sign-in: its own `mfa_required`, or this policy.
    pub fn demands(&self, account: &crate::account::Account) -> bool {
        account.mfa_required || (self.required_for_admins && account.is_admin())
    }
}

impl Default for MfaPolicy {
    fn default() -> Self {
        Self {
            required_for_admins: true,
        }
    }
}

/// How long one-time links last (SPEC §5). A link's end is sealed into it when it is issued (or,
/// for an emailed link, counted from when its email was queued): a change applies to links issued
/// afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenLifetimes {
    pub activation_hours: u32,
    pub invitation_hours: u32,
    pub reset_minutes: u32,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            activation_hours: 7 * 24,
            invitation_hours: 7 * 24,
            reset_minutes: 60,
        }
    }
}

impl TokenLifetimes {
    pub fn of(&self, purpose: Purpose) -> Duration {
        match purpose {
            Purpose::Activation => Duration::hours(i64::from(self.activation_hours)),
            Purpose::Invitation => Duration::hours(i64::from(self.invitation_hours)),
            Purpose::Reset => Duration::minutes(i64::from(self.reset_minutes)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    pub min_length: u32,
}

/// Lockout after consecutive failed sign-ins (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account (1–100).
    pub threshold: u32,
    /// Minutes after which a lock ends by itself; `None`: only an admin unlocks. Whatever this
    /// says, [`PERMANENT_LOCK_FAILURES`] consecutive failures lock until an admin unlocks.
    pub minutes: Option<u32>,
}

/// Consecutive failures after which a lock never ends by itself (NIST SP 800-63B-4 §3.2.2).
pub const PERMANENT_LOCK_FAILURES: u32 = 100;

/// How long a session lasts (SPEC §4): it ends `idle_minutes` after its last use, and
/// `absolute_hours` after sign-in whatever its use. Changes apply to sessions started after them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionPolicy {
    pub idle_minutes: u32,
    pub absolute_hours: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 10,
            minutes: None,
        }
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_minutes: 30,
            absolute_hours: 12,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_role: crate::roles::USER.into(),
            primary_contact: None,
            locale: "en".into(),
            guest_days: 30,
            password_policy: PasswordPolicy::default(),
            require_passwords: true,
            lockout: LockoutPolicy::default(),
            sessions: SessionPolicy::default(),
            active_user_limit: None,
            deactivate_after_days_inactive: None,
            audit_retention_days: None,
            token_lifetimes: TokenLifetimes::default(),
            mfa: MfaPolicy::default(),
        }
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: DEFAULT_MIN_LENGTH,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;

    #[test]
    fn two_factor_is_demanded_by_the_account_or_of_admins_by_the_policy() {
        let policy = MfaPolicy::default();
        let mut ana = Account::sample("ana");
        ana.roles = vec!["user".into()];
        assert!(!policy.demands(&ana));
        ana.mfa_required = true;
        assert!(policy.demands(&ana));
        let mut root = Account::sample("root");
        root.roles = vec!["admin".into()];
        assert!(policy.demands(&root));
        let off = MfaPolicy {
            required_for_admins: false,
        };
        assert!(!off.demands(&root));
    }
}

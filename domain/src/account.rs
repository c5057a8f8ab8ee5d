//! Account state (SPEC §1): the stored fields and the derived `status`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    password::PasswordHash,
    roles::{ADMIN, GUEST},
    settings::{LockoutPolicy, PERMANENT_LOCK_FAILURES},
    values::{Email, Locale, PersonName, Username},
};

/// Derived status, in this order of precedence: inactive, locked, expired, invited, active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Inactive,
    Locked,
    Expired,
    Invited,
    Active,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "inactive" => Status::Inactive,
            "locked" => Status::Locked,
            "expired" => Status::Expired,
            "invited" => Status::Invited,
            "active" => Status::Active,
            _ => return None,
        })
    }
}

/// One account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub username: Username,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub origin: String,
    pub location: Option<String>,
    pub erp_id: Option<String>,
    pub external_key: Option<String>,
    pub locale: Locale,
    /// Role names, sorted and unique.
    pub roles: Vec<String>,
    pub active: bool,
    pub mfa_required: bool,
    pub mfa_enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub email_notifications: bool,
    pub password_hash: Option<PasswordHash>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
    /// Set when the account first had a password (given at creation, or chosen by the holder).
    /// `None` means "invited".
    pub activated_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
    /// Consecutive failed sign-ins; a success or an admin's unlock resets it, a timed unlock
    /// does not (SPEC §4).
    pub failed_logins: u32,
    /// When the account was locked after too many failed sign-ins (SPEC §4).
    pub locked_at: Option<DateTime<Utc>>,
    /// When a timed lock ends by itself (`lockout.minutes`); `None` with `locked_at` set: locked
    /// until an admin unlocks it.
    pub locked_until: Option<DateTime<Utc>>,
    /// Starts at 1 and grows by one with every change; the HTTP ETag.
    pub version: i64,
}

impl Account {
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if !self.active {
            Status::Inactive
        } else if is_locked(self.locked_at, self.locked_until, now) {
            Status::Locked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            Status::Expired
        } else if self.activated_at.is_none() && self.last_active_at.is_none() {
            Status::Invited
        } else {
            Status::Active
        }
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(ADMIN)
    }

    pub fn is_guest(&self) -> bool {
        self.has_role(GUEST)
    }

    /// An account that may authenticate right now: active, not locked, not expired.
    pub fn may_authenticate(&self, now: DateTime<Utc>) -> bool {
        may_authenticate(
            self.active,
            self.locked_at,
            self.locked_until,
            self.expires_at,
            now,
        )
    }

    /// What a password must not be, or build on: username and email first, then the names.
    pub fn identifiers(&self) -> [&str; 4] {
        [
            self.username.as_str(),
            self.email.as_str(),
            self.first_name.as_str(),
            self.last_name.as_str(),
        ]
    }

    /// Locked at `now`: locked, and the lock has no end or has not reached it.
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        is_locked(self.locked_at, self.locked_until, now)
    }

    /// A failed sign-in at `now` under `policy` (SPEC §4): one more consecutive failure; at
    /// `threshold` failures an account not locked at `now` is locked (until `minutes` from now
    /// if set); from [`PERMANENT_LOCK_FAILURES`] on, a lock never ends by itself. `true` when
    /// this failure locked it. A new lock is a change (a new version).
    pub fn record_failure(&mut self, policy: &LockoutPolicy, now: DateTime<Utc>) -> bool {
        self.failed_logins = self.failed_logins.saturating_add(1);
        let permanent = self.failed_logins >= PERMANENT_LOCK_FAILURES;
        let until = policy
            .minutes
            .filter(|_| !permanent)
            .map(|m| now + chrono::Duration::minutes(i64::from(m)));
        if self.is_locked(now) {
            if permanent && self.locked_until.is_some() {
                self.locked_until = None;
                self.version += 1;
            }
            return false;
        }
        if self.failed_logins < policy.threshold {
            return false;
        }
        self.locked_at = Some(now);
        self.locked_until = until;
        self.version += 1;
        true
    }

    /// A successful sign-in at `now`: the count starts again, a lock that ended by itself is
    /// cleared, and the use is recorded (at most once a minute, like every use).
    pub fn record_success(&mut self, now: DateTime<Utc>) {
        self.failed_logins = 0;
        if self.locked_at.is_some() && !self.is_locked(now) {
            self.locked_at = None;
            self.locked_until = None;
            self.version += 1;
        }
        if crate::session::use_due(self.last_active_at, now) {
            self.last_active_at = Some(now);
        }
    }

    /// What a sign-in's outcome writes of the account.
    pub fn sign_in_record(&self) -> SignInRecord {
        SignInRecord {
            failed_logins: self.failed_logins,
            locked_at: self.locked_at,
            locked_until: self.locked_until,
            last_active_at: self.last_active_at,
            version: self.version,
        }
    }

    /// An admin's unlock: no lock, and the count starts again.
    pub fn unlock(&mut self) {
        self.failed_logins = 0;
        self.locked_at = None;
        self.locked_until = None;
    }
}

/// The columns a sign-in's outcome writes ([`crate::ports::Accounts::record_sign_in`]): none
/// that anything is derived from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInRecord {
    pub failed_logins: u32,
    pub locked_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// The lockout rule of SPEC §4 for a read that holds only these fields.
pub(crate) fn is_locked(
    locked_at: Option<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    locked_at.is_some() && locked_until.is_none_or(|end| end > now)
}

/// The rule of [`Account::may_authenticate`], for reads that hold only these fields
/// ([`crate::policy::CallerAccount`]).
pub(crate) fn may_authenticate(
    active: bool,
    locked_at: Option<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    active && !is_locked(locked_at, locked_until, now) && expires_at.is_none_or(|at| at > now)
}

#[cfg(any(test, feature = "testing"))]
impl Account {
    /// An active account with the role `user`, for tests here and in the crates that enable the
    /// feature `testing`.
    pub fn sample(username: &str) -> Account {
        let now = Utc::now();
        Account {
            id: Uuid::now_v7(),
            username: Username::from_trusted(username.to_owned()),
            email: Email::from_trusted(format!("{username}@example.org")),
            first_name: PersonName::from_trusted("Ana".to_owned()),
            last_name: PersonName::from_trusted("Lima".to_owned()),
            origin: "manual".into(),
            location: None,
            erp_id: None,
            external_key: None,
            locale: Locale::default(),
            roles: vec!["user".into()],
            active: true,
            mfa_required: false,
            mfa_enabled: false,
            expires_at: None,
            email_notifications: true,
            password_hash: None,
            created_at: now,
            updated_at: now,
            created_by: None,
            updated_by: None,
            activated_at: Some(now),
            last_active_at: None,
            failed_logins: 0,
            locked_at: None,
            locked_until: None,
            version: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn status_follows_the_order_of_precedence() {
        let now = Utc::now();
        let mut a = Account::sample("ana");
        assert_eq!(a.status(now), Status::Active);
        a.activated_at = None;
        assert_eq!(a.status(now), Status::Invited);
        a.expires_at = Some(now - Duration::seconds(1));
        assert_eq!(a.status(now), Status::Expired);
        a.locked_at = Some(now);
        assert_eq!(a.status(now), Status::Locked);
        a.active = false;
        assert_eq!(a.status(now), Status::Inactive);
    }

    #[test]
    fn failures_lock_at_the_threshold_and_a_timed_lock_keeps_the_count() {
        let now = Utc::now();
        let policy = LockoutPolicy {
            threshold: 3,
            minutes: Some(5),
        };
        let mut a = Account::sample("ana");
        assert!(!a.record_failure(&policy, now));
        assert!(!a.record_failure(&policy, now));
        assert!(a.record_failure(&policy, now), "the third failure locks");
        assert_eq!(a.status(now), Status::Locked);
        assert_eq!(a.locked_until, Some(now + chrono::Duration::minutes(5)));
        assert!(!a.record_failure(&policy, now), "already locked");
        let later = now + chrono::Duration::minutes(6);
        assert_eq!(a.status(later), Status::Active, "the lock ended by itself");
        assert_eq!(a.failed_logins, 4, "a timed unlock keeps the count");
        assert!(
            a.record_failure(&policy, later),
            "the next failure locks again"
        );
    }

    #[test]
    fn a_hundred_consecutive_failures_end_in_a_lock_only_an_admin_lifts() {
        let mut now = Utc::now();
        let policy = LockoutPolicy {
            threshold: 10,
            minutes: Some(1),
        };
        let mut a = Account::sample("ana");
        for _ in 0..100 {
            a.record_failure(&policy, now);
            now += chrono::Duration::minutes(2);
        }
        assert_eq!(a.failed_logins, 100);
        assert!(a.locked_at.is_some() && a.locked_until.is_none());
        assert_eq!(a.status(now + chrono::Duration::days(365)), Status::Locked);
        a.unlock();
        assert_eq!(a.status(now), Status::Active);
        assert_eq!(a.failed_logins, 0);
    }

    #[test]
    fn a_success_resets_the_count_and_clears_an_ended_lock() {
        let now = Utc::now();
        let policy = LockoutPolicy {
            threshold: 1,
            minutes: Some(1),
        };
        let mut a = Account::sample("ana");
        a.record_failure(&policy, now);
        let later = now + chrono::Duration::minutes(2);
        a.record_success(later);
        assert_eq!((a.failed_logins, a.locked_at), (0, None));
        assert_eq!(a.last_active_at, Some(later));
    }
}

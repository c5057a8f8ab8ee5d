//! Account state (SPEC §1): the stored fields and the derived `status`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    password::PasswordHash,
    roles::{ADMIN, GUEST},
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
#[derive(Debug, Clone)]
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
    pub locked_at: Option<DateTime<Utc>>,
    /// Starts at 1 and grows by one with every change; the HTTP ETag.
    pub version: i64,
}

impl Account {
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        if !self.active {
            Status::Inactive
        } else if self.locked_at.is_some() {
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
        may_authenticate(self.active, self.locked_at, self.expires_at, now)
    }
}

/// The rule of [`Account::may_authenticate`], for reads that hold only these fields
/// ([`crate::policy::CallerAccount`]).
pub(crate) fn may_authenticate(
    active: bool,
    locked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    active && locked_at.is_none() && expires_at.is_none_or(|at| at > now)
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
            locked_at: None,
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
}

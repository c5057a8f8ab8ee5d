//! Organisation-wide settings (SPEC §10), stored as one document so later capabilities add
//! fields without a migration. Unknown stored fields are ignored; missing ones take defaults.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::password::DEFAULT_MIN_LENGTH;

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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    pub min_length: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_role: crate::roles::USER.into(),
            primary_contact: None,
            locale: "en".into(),
            guest_days: 30,
            password_policy: PasswordPolicy::default(),
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

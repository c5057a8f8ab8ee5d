//! The transactional outbox (SPEC §5): every email Roster sends is first a row written in the same
//! transaction as the change that caused it ([`crate::effects::Effects::notify`]), then delivered by a
//! background worker with retries. So an email is never sent for a change that rolled back, and
//! never lost for one that committed.
//!
//! A message holds no secret. A link's token is not in it: the worker seals a fresh one when it
//! takes the message ([`crate::services::Outgoing`]), bound to the account's token generation as
//! the message recorded it and expiring when a token issued with the message would have. A link
//! withdrawn meanwhile (its generation raised) or spent (an activation whose account has a
//! password now) is not sent: the message is `cancelled`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::{account::Account, one_time::Purpose};

/// What an email says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// An activation link for an account created without a password.
    Activation,
    /// An invitation, with a welcome, and its link.
    Invitation,
    /// A password reset link.
    ResetLink,
    /// Notice: the account's password was changed.
    PasswordChanged,
    /// Notice: the account's password was reset (by link, or to a temporary one by an admin).
    PasswordReset,
    /// Notice to the old address: the account's email was changed.
    EmailChanged,
    /// Notice: the account's second factor was removed (by its holder or an admin).
    MfaRemoved,
    /// Notice: an admin's one-time password stood in for the second factor.
    MfaOneTimePasswordUsed,
}

impl MessageKind {
    pub const ALL: [MessageKind; 8] = [
        MessageKind::Activation,
        MessageKind::Invitation,
        MessageKind::ResetLink,
        MessageKind::PasswordChanged,
        MessageKind::PasswordReset,
        MessageKind::EmailChanged,
        MessageKind::MfaRemoved,
        MessageKind::MfaOneTimePasswordUsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Activation => "activation",
            MessageKind::Invitation => "invitation",
            MessageKind::ResetLink => "reset_link",
            MessageKind::PasswordChanged => "password_changed",
            MessageKind::PasswordReset => "password_reset",
            MessageKind::EmailChanged => "email_changed",
            MessageKind::MfaRemoved => "mfa_removed",
            MessageKind::MfaOneTimePasswordUsed => "mfa_one_time_password_used",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The one-time link the message carries, if any.
    pub fn link(self) -> Option<Purpose> {
        match self {
            MessageKind::Activation => Some(Purpose::Activation),
            MessageKind::Invitation => Some(Purpose::Invitation),
            MessageKind::ResetLink => Some(Purpose::Reset),
            MessageKind::PasswordChanged
            | MessageKind::PasswordReset
            | MessageKind::EmailChanged
            | MessageKind::MfaRemoved
            | MessageKind::MfaOneTimePasswordUsed => None,
        }
    }
}

/// Where a message is on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting for its (next) attempt at `next_attempt_at`.
    Pending,
    /// Taken by a worker, until `next_attempt_at`; taken again after that if the worker is gone.
    Sending,
    /// Accepted by the SMTP server.
    Sent,
    /// No SMTP server configured: written to the log (without its link) instead.
    Logged,
    /// Every attempt failed; an admin may retry it.
    Failed,
    /// Not sent: its link was withdrawn or used before it went out, or its account is gone.
    Cancelled,
}

impl MessageState {
    pub const ALL: [MessageState; 6] = [
        MessageState::Pending,
        MessageState::Sending,
        MessageState::Sent,
        MessageState::Logged,
        MessageState::Failed,
        MessageState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Sending => "sending",
            MessageState::Sent => "sent",
            MessageState::Logged => "logged",
            MessageState::Failed => "failed",
            MessageState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An email to send, as its row holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: Uuid,
    pub account_id: Uuid,
    pub kind: MessageKind,
    /// The address it goes to, as it was when the message was written (an email change's notice
    /// goes to the old one).
    pub recipient: String,
    /// The account's locale then: the language it is written in, where a translation exists.
    pub locale: String,
    /// The account's token generation for the link's purpose, when it carries a link.
    pub generation: Option<i64>,
    /// What the text names: the account's username and names as they were. Never a secret.
    pub details: Value,
    pub state: MessageState,
    /// Attempts begun so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was sent, logged, cancelled or given up.
    pub finished_at: Option<DateTime<Utc>>,
}

impl Message {
    /// A new message about `account`, to its current address, due now.
    pub fn about(account: &Account, kind: MessageKind, generation: Option<i64>) -> Self {
        let now = crate::now();
        Self {
            id: Uuid::now_v7(),
            account_id: account.id,
            kind,
            recipient: account.email.as_str().to_owned(),
            locale: account.locale.as_str().to_owned(),
            generation,
            details: serde_json::json!({
                "username": account.username.as_str(),
                "first_name": account.first_name.as_str(),
                "last_name": account.last_name.as_str(),
            }),
            state: MessageState::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            finished_at: None,
        }
    }
}

/// How often and how soon the worker tries a message again (configurable; see the API's
/// `ROSTER_OUTBOX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a message is `failed`.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each further one.
    pub first_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
    /// How long a worker holds a message it took before another may take it (a worker that died
    /// while sending).
    pub lease: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            first_delay: Duration::seconds(30),
            max_delay: Duration::hours(1),
            lease: Duration::minutes(2),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts (at least 1): `first_delay · 2^(attempts−1)`,
    /// at most `max_delay`.
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let delay = self
            .first_delay
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }
}

/// What became of one attempt at a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The attempt failed, with why (no secret in it).
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::parse(kind.as_str()), Some(kind));
        }
        for state in MessageState::ALL {
            assert_eq!(MessageState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            first_delay: Duration::seconds(30),
            max_delay: Duration::minutes(5),
            lease: Duration::minutes(2),
        };
        let delays: Vec<i64> = (1..=6)
            .map(|n| policy.delay_after(n).num_seconds())
            .collect();
        assert_eq!(delays, [30, 60, 120, 240, 300, 300]);
    }

    proptest! {
        #[test]
        fn delays_never_shrink_nor_pass_the_cap(attempts in 1u32..10_000, first in 1i64..100_000) {
            let policy = RetryPolicy {
                first_delay: Duration::milliseconds(first),
                ..RetryPolicy::default()
            };
            let now = policy.delay_after(attempts);
            prop_assert!(now <= policy.max_delay);
            prop_assert!(now >= policy.delay_after(attempts.saturating_sub(1).max(1)));
        }
    }
}

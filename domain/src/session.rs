//! Sessions and sign-in challenges (SPEC §4). A sign-in creates a session; the access token names
//! it (`sid`), so revoking the session (deleting it) ends the access token at its next request. A
//! session is renewed through an opaque refresh token that rotates on every use; presenting one
//! that was already used revokes the session. A sign-in that must first meet a challenge gets a
//! single-use challenge token instead.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{audit::Origin, settings::SessionPolicy};

/// Bytes of randomness in a refresh or challenge token (256 bits).
pub const SECRET_BYTES: usize = 32;
/// A session's or account's use is recorded at most this often, not on every request.
pub const TOUCH_INTERVAL: Duration = Duration::seconds(60);
/// How long a challenge token lasts (SPEC §4: `expires_in: 300`).
pub const CHALLENGE_SECONDS: i64 = 300;

/// Whether a use at `now` should be recorded, the last having been at `last` (`None`: never):
/// uses of accounts, sessions and API tokens are written at most once a minute.
pub fn use_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|at| now - at >= TOUCH_INTERVAL)
}

/// What a secret token is for; its text starts with the kind's prefix, so a person (or a secret
/// scanner) can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Refresh,
    Challenge,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::Refresh => "rsr_",
            SecretKind::Challenge => "rsc_",
        }
    }
}

/// A refresh or challenge token: its prefix and 256 random bits in base64url. Stored only as a
/// SHA-256 hash. `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

impl SecretToken {
    pub fn from_random(kind: SecretKind, bytes: [u8; SECRET_BYTES]) -> Self {
        Self(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// A token of `kind` as a client sent it; `None` when it cannot be one.
    pub fn parse(kind: SecretKind, s: &str) -> Option<Self> {
        let body = s.trim().strip_prefix(kind.prefix())?;
        let decoded = URL_SAFE_NO_PAD.decode(body).ok()?;
        (decoded.len() == SECRET_BYTES).then(|| Self(s.trim().to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form: SHA-256, hex. A 256-bit random secret needs no salt or slow hash.
    pub fn hash(&self) -> String {
        format!("{:x}", Sha256::digest(self.0.as_bytes()))
    }
}

/// A signed-in client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// The absolute end, fixed at sign-in.
    pub expires_at: DateTime<Utc>,
    /// The idle end: the last recorded use plus `idle_seconds`.
    pub idle_expires_at: DateTime<Utc>,
    pub idle_seconds: i64,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl Session {
    /// A session of `user_id` starting at `now`, lasting as `policy` says.
    pub fn start(
        user_id: Uuid,
        policy: &SessionPolicy,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Self {
        let idle_seconds = i64::from(policy.idle_minutes) * 60;
        let absolute = now + Duration::hours(i64::from(policy.absolute_hours));
        Self {
            id: Uuid::now_v7(),
            user_id,
            created_at: now,
            last_used_at: now,
            expires_at: absolute,
            idle_expires_at: (now + Duration::seconds(idle_seconds)).min(absolute),
            idle_seconds,
            address: origin.address.clone(),
            user_agent: origin.user_agent.clone(),
        }
    }

    pub fn use_of(&self) -> SessionUse {
        SessionUse {
            id: self.id,
            expires_at: self.expires_at,
            idle_expires_at: self.idle_expires_at,
            last_used_at: self.last_used_at,
            idle_seconds: self.idle_seconds,
        }
    }
}

/// What authenticating with an access token reads of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionUse {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub idle_seconds: i64,
}

impl SessionUse {
    /// Whether the session still lasts at `now`: before both its absolute and its idle end.
    pub fn alive(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at && now < self.idle_expires_at
    }

    /// Whether a use at `now` should be recorded (at most once a minute).
    pub fn stale(&self, now: DateTime<Utc>) -> bool {
        use_due(Some(self.last_used_at), now)
    }

    /// The idle end after a use at `now`, never past the absolute end.
    pub fn idle_end_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        (now + Duration::seconds(self.idle_seconds)).min(self.expires_at)
    }
}

/// A refresh token as its exchange reads it: its session, and whether it was already used.
#[derive(Debug, Clone)]
pub struct RefreshTokenUse {
    pub session: Session,
    pub used_at: Option<DateTime<Utc>>,
}

/// What must happen before a sign-in gets tokens. `set_password` now; the two-factor issue adds
/// `mfa` and `mfa_enrollment` here and in [`crate::services`]' `next_challenge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// The password was given by someone else and must be replaced.
    SetPassword,
    /// A second factor: a TOTP code or a recovery code (SPEC §6).
    Mfa,
    /// The account must use two factors and has none: it enrols one first.
    MfaEnrollment,
}

impl ChallengeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::SetPassword => "set_password",
            ChallengeKind::Mfa => "mfa",
            ChallengeKind::MfaEnrollment => "mfa_enrollment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "set_password" => Some(ChallengeKind::SetPassword),
            "mfa" => Some(ChallengeKind::Mfa),
            "mfa_enrollment" => Some(ChallengeKind::MfaEnrollment),
            _ => None,
        }
    }
}

/// What an account must do at its next sign-in before it gets tokens, met through the challenge
/// of the same name, and the marks of a temporary password. Kept apart from the account row: only
/// sign-in reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredAction {
    /// The password was given by someone else (at create, or a temporary one) and must be
    /// replaced.
    SetPassword,
    /// The password is a temporary one an admin was given (SPEC §5): it signs in once, within
    /// [`TEMPORARY_PASSWORD_HOURS`] of being issued.
    TemporaryPassword,
    /// The temporary password signed in once: it signs in no more.
    TemporaryPasswordUsed,
}

/// How long a temporary password signs in (SPEC §5).
pub const TEMPORARY_PASSWORD_HOURS: i64 = 24;

impl RequiredAction {
    /// The actions that end when the holder chooses a password.
    pub const PASSWORD: [RequiredAction; 3] = [
        RequiredAction::SetPassword,
        RequiredAction::TemporaryPassword,
        RequiredAction::TemporaryPasswordUsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequiredAction::SetPassword => "set_password",
            RequiredAction::TemporaryPassword => "temporary_password",
            RequiredAction::TemporaryPasswordUsed => "temporary_password_used",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::PASSWORD.into_iter().find(|a| a.as_str() == s)
    }
}

/// Why a correct password may not sign in, from the account's required actions (each with when it
/// was required): a temporary password used before, or issued too long ago.
pub fn temporary_password_refusal(
    actions: &[(RequiredAction, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Option<&'static str> {
    actions.iter().find_map(|(action, at)| match action {
        RequiredAction::TemporaryPasswordUsed => Some("temporary_password_used"),
        RequiredAction::TemporaryPassword
            if *at + Duration::hours(TEMPORARY_PASSWORD_HOURS) <= now =>
        {
            Some("temporary_password_expired")
        }
        _ => None,
    })
}

/// A sign-in waiting for its challenge; its token is stored only as a hash.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub user_id: Uuid,
    pub kind: ChallengeKind,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl Challenge {
    pub fn new(user_id: Uuid, kind: ChallengeKind, origin: &Origin, now: DateTime<Utc>) -> Self {
        Self {
            user_id,
            kind,
            created_at: now,
            expires_at: now + Duration::seconds(CHALLENGE_SECONDS),
            address: origin.address.clone(),
            user_agent: origin.user_agent.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_only_as_their_own_kind() {
        let t = SecretToken::from_random(SecretKind::Refresh, [9; 32]);
        assert!(t.expose().starts_with("rsr_"));
        assert_eq!(
            SecretToken::parse(SecretKind::Refresh, t.expose()),
            Some(t.clone())
        );
        assert_eq!(SecretToken::parse(SecretKind::Challenge, t.expose()), None);
        assert_eq!(SecretToken::parse(SecretKind::Refresh, "rsr_short"), None);
        assert_eq!(t.hash().len(), 64);
        assert!(!format!("{t:?}").contains(&t.expose()[4..]));
    }

    #[test]
    fn a_session_ends_at_its_idle_or_absolute_end_whichever_comes_first() {
        let now = Utc::now();
        let policy = SessionPolicy {
            idle_minutes: 30,
            absolute_hours: 1,
        };
        let s = Session::start(Uuid::now_v7(), &policy, &Origin::default(), now).use_of();
        assert!(s.alive(now + Duration::minutes(29)));
        assert!(!s.alive(now + Duration::minutes(30)));
        assert!(!s.stale(now + Duration::seconds(59)));
        assert!(s.stale(now + Duration::seconds(60)));
        let later = now + Duration::minutes(50);
        assert_eq!(
            s.idle_end_after(later),
            s.expires_at,
            "never past the absolute end"
        );
        let short = SessionPolicy {
            idle_minutes: 120,
            absolute_hours: 1,
        };
        let s = Session::start(Uuid::now_v7(), &short, &Origin::default(), now).use_of();
        assert_eq!(s.idle_expires_at, s.expires_at);
    }
}

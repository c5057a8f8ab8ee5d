//! Rows and their conversion to and from domain values. Nothing here is public outside the crate.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::{
    account::Account,
    api_token::{ApiToken, ApiTokenUse},
    audit::AuditEvent,
    outbox::{Message, MessageKind, MessageState},
    password::PasswordHash,
    policy::{Caller, CallerAccount},
    session::{Challenge, ChallengeKind, Session, SessionUse},
    values::{Email, Locale, PersonName, Username},
    Error, Result,
};
use uuid::Uuid;

use crate::{
    schema::{
        api_tokens, audit_events, outbox, sessions, sign_in_challenges, user_prefixes, user_roles,
        users,
    },
    stamp::Stamp,
};

pub(crate) fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub(crate) fn parse_id(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| Error::Internal(format!("stored id {s:?} is not a UUID")))
}

/// An account as reads select it: every column but the case-folded keys, which only the
/// database's lookups and uniqueness use (`UserRow` writes them). Reading them would cost every
/// account read four strings, and PostgreSQL a tenth of a `read`'s work.
///
/// Every column is always written: `None` as NULL, both in inserts (`treat_none_as_default_value`)
/// and in updates (`treat_none_as_null`), so the statements' text never varies and diesel keeps them
/// prepared.
#[derive(Queryable, Selectable, Insertable, AsChangeset, Clone)]
#[cfg_attr(test, derive(Default))]
#[diesel(table_name = users)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct AccountRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub origin: String,
    pub location: Option<String>,
    pub erp_id: Option<String>,
    pub external_key: Option<String>,
    pub locale: String,
    pub active: bool,
    pub mfa_required: bool,
    pub mfa_enabled: bool,
    pub expires_at: Option<Stamp>,
    pub email_notifications: bool,
    pub password_hash: Option<String>,
    pub created_at: Stamp,
    pub updated_at: Stamp,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub activated_at: Option<Stamp>,
    pub last_active_at: Option<Stamp>,
    pub failed_logins: i32,
    pub locked_at: Option<Stamp>,
    pub locked_until: Option<Stamp>,
    pub version: i64,
    /// The account's roles, sorted and comma-separated: `user_roles` repeated, so that reading an
    /// account is one row (see the migration `users_roles_column`).
    pub roles: String,
}

/// What authenticating a request reads of its caller's account (`CallerAccount`): nine columns of
/// the account's twenty-five.
#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct CallerRow {
    pub id: String,
    pub username: String,
    pub roles: String,
    pub active: bool,
    pub locked_at: Option<Stamp>,
    pub locked_until: Option<Stamp>,
    pub expires_at: Option<Stamp>,
    pub last_active_at: Option<Stamp>,
    pub mfa_enabled: bool,
}

impl CallerRow {
    pub fn into_caller(self) -> Result<CallerAccount> {
        Ok(CallerAccount {
            caller: Caller {
                id: parse_id(&self.id)?,
                username: Username::from_trusted(self.username),
                roles: parse_roles(&self.roles),
                must_enrol_mfa: false,
            },
            active: self.active,
            locked_at: self.locked_at.map(Into::into),
            locked_until: self.locked_until.map(Into::into),
            expires_at: self.expires_at.map(Into::into),
            last_active_at: self.last_active_at.map(Into::into),
            mfa_enabled: self.mfa_enabled,
        })
    }
}

/// `users.roles` (sorted, comma-separated) as a list.
pub(crate) fn parse_roles(roles: &str) -> Vec<String> {
    roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An account as writes store it: [`AccountRow`] and the case-folded keys.
#[derive(Insertable, AsChangeset, Clone)]
#[cfg_attr(test, derive(Default))]
#[diesel(table_name = users)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct UserRow {
    #[diesel(embed)]
    pub account: AccountRow,
    pub username_key: String,
    pub email_key: String,
    pub first_name_key: String,
    pub last_name_key: String,
    /// The UTS #39 skeleton of the username's key, unique (SPEC §1). `None` only for an account
    /// made before the column existed whose skeleton another account already has.
    pub username_skeleton: Option<String>,
}

/// What a change of an account writes: [`UserRow`] but the username's key and skeleton, which never
/// change (the username is immutable, SPEC §1).
#[derive(AsChangeset)]
#[diesel(table_name = users)]
#[diesel(treat_none_as_null = true)]
pub(crate) struct ChangedRow {
    #[diesel(embed)]
    pub account: AccountRow,
    pub email_key: String,
    pub first_name_key: String,
    pub last_name_key: String,
}

impl ChangedRow {
    pub fn from_account(a: &Account) -> Self {
        Self {
            account: AccountRow::of(a),
            email_key: a.email.key(),
            first_name_key: a.first_name.key(),
            last_name_key: a.last_name.key(),
        }
    }
}

impl UserRow {
    pub fn from_account(a: &Account) -> Self {
        Self {
            account: AccountRow::of(a),
            username_key: a.username.key(),
            email_key: a.email.key(),
            first_name_key: a.first_name.key(),
            last_name_key: a.last_name.key(),
            username_skeleton: Some(a.username.skeleton()),
        }
    }
}

impl AccountRow {
    /// The row's stored columns (not the derived keys).
    pub fn of(a: &Account) -> Self {
        Self {
            id: a.id.to_string(),
            username: a.username.as_str().to_owned(),
            email: a.email.as_str().to_owned(),
            first_name: a.first_name.as_str().to_owned(),
            last_name: a.last_name.as_str().to_owned(),
            origin: a.origin.clone(),
            location: a.location.clone(),
            erp_id: a.erp_id.clone(),
            external_key: a.external_key.clone(),
            locale: a.locale.as_str().to_owned(),
            active: a.active,
            mfa_required: a.mfa_required,
            mfa_enabled: a.mfa_enabled,
            expires_at: a.expires_at.map(Stamp::from),
            email_notifications: a.email_notifications,
            password_hash: a.password_hash.as_ref().map(|h| h.as_phc().to_owned()),
            created_at: a.created_at.into(),
            updated_at: a.updated_at.into(),
            created_by: a.created_by.map(|id| id.to_string()),
            updated_by: a.updated_by.map(|id| id.to_string()),
            activated_at: a.activated_at.map(Stamp::from),
            last_active_at: a.last_active_at.map(Stamp::from),
            failed_logins: i32::try_from(a.failed_logins).unwrap_or(i32::MAX),
            locked_at: a.locked_at.map(Stamp::from),
            locked_until: a.locked_until.map(Stamp::from),
            version: a.version,
            roles: {
                let mut roles: Vec<&str> = a.roles.iter().map(String::as_str).collect();
                roles.sort_unstable();
                roles.dedup();
                roles.join(",")
            },
        }
    }
}

impl AccountRow {
    /// The columns `as_select` reads, in its order, as a plain tuple (an alias of `users` maps
    /// these, not a `SelectBy`). The same for every backend.
    pub fn columns() -> <Self as Selectable<diesel::sqlite::Sqlite>>::SelectExpression {
        <Self as Selectable<diesel::sqlite::Sqlite>>::construct_selection()
    }

    pub fn into_account(self) -> Result<Account> {
        let roles = parse_roles(&self.roles);
        Ok(Account {
            id: parse_id(&self.id)?,
            username: Username::from_trusted(self.username),
            email: Email::from_trusted(self.email),
            first_name: PersonName::from_trusted(self.first_name),
            last_name: PersonName::from_trusted(self.last_name),
            origin: self.origin,
            location: self.location,
            erp_id: self.erp_id,
            external_key: self.external_key,
            locale: Locale::from_trusted(self.locale),
            roles,
            active: self.active,
            mfa_required: self.mfa_required,
            mfa_enabled: self.mfa_enabled,
            expires_at: self.expires_at.map(Into::into),
            email_notifications: self.email_notifications,
            password_hash: self.password_hash.map(PasswordHash::from_phc),
            created_at: self.created_at.into(),
            updated_at: self.updated_at.into(),
            created_by: self.created_by.as_deref().map(parse_id).transpose()?,
            updated_by: self.updated_by.as_deref().map(parse_id).transpose()?,
            activated_at: self.activated_at.map(Into::into),
            last_active_at: self.last_active_at.map(Into::into),
            failed_logins: u32::try_from(self.failed_logins).unwrap_or(0),
            locked_at: self.locked_at.map(Into::into),
            locked_until: self.locked_until.map(Into::into),
            version: self.version,
        })
    }
}

/// `treat_none_as_default_value = false` here too: without it diesel wraps every value as one that
/// could be `DEFAULT`, and never keeps the statement prepared.
#[derive(Insertable)]
#[cfg_attr(test, derive(Default))]
#[diesel(table_name = user_roles)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct RoleRow {
    pub user_id: String,
    pub role: String,
}

impl RoleRow {
    pub fn all_of(accounts: &[Account]) -> Vec<Self> {
        accounts
            .iter()
            .flat_map(|a| {
                a.roles.iter().map(move |r| Self {
                    user_id: a.id.to_string(),
                    role: r.clone(),
                })
            })
            .collect()
    }
}

/// The longest `q` answered from `user_prefixes` (see its migration); longer ones go through
/// the four key indexes.
pub(crate) const INDEXED_PREFIX_CHARS: usize = 2;

/// One row of `user_prefixes`: an account (by its unique username key) under one prefix.
#[derive(Insertable, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(test, derive(Default))]
#[diesel(table_name = user_prefixes)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct PrefixRow {
    pub prefix: String,
    pub username_key: String,
}

impl PrefixRow {
    /// The account's rows: one per prefix of [`PrefixRow::prefixes`].
    pub fn of(a: &Account) -> Vec<Self> {
        let username_key = a.username.key();
        Self::prefixes(a)
            .into_iter()
            .map(|prefix| Self {
                prefix,
                username_key: username_key.clone(),
            })
            .collect()
    }

    /// The distinct 1- and 2-character prefixes of an account's four search keys, sorted, as the
    /// migration's backfill computes them (`substr` counts characters on both databases).
    pub fn prefixes(a: &Account) -> Vec<String> {
        Self::prefixes_of_keys(&[
            a.username.key(),
            a.email.key(),
            a.first_name.key(),
            a.last_name.key(),
        ])
    }

    /// The distinct 1- and 2-character prefixes of these keys, sorted.
    pub fn prefixes_of_keys(keys: &[String; 4]) -> Vec<String> {
        let mut prefixes: Vec<String> = keys
            .iter()
            .flat_map(|key| {
                (1..=INDEXED_PREFIX_CHARS).filter_map(move |n| {
                    let end = key.char_indices().nth(n).map_or(key.len(), |(i, _)| i);
                    (end > 0).then(|| key[..end].to_owned())
                })
            })
            .collect();
        prefixes.sort();
        prefixes.dedup();
        prefixes
    }

    pub fn all_of(accounts: &[Account]) -> Vec<Self> {
        accounts.iter().flat_map(Self::of).collect()
    }
}

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = api_tokens)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ApiTokenRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub token_hash: String,
    pub display_prefix: String,
    pub created_at: Stamp,
    pub expires_at: Option<Stamp>,
    pub last_used_at: Option<Stamp>,
}

impl ApiTokenRow {
    pub fn new(t: &ApiToken, hash: &str) -> Self {
        Self {
            id: t.id.to_string(),
            user_id: t.user_id.to_string(),
            name: t.name.clone(),
            token_hash: hash.to_owned(),
            display_prefix: t.display_prefix.clone(),
            created_at: t.created_at.into(),
            expires_at: t.expires_at.map(Stamp::from),
            last_used_at: t.last_used_at.map(Stamp::from),
        }
    }

    pub fn into_token(self) -> Result<ApiToken> {
        Ok(ApiToken {
            id: parse_id(&self.id)?,
            user_id: parse_id(&self.user_id)?,
            name: self.name,
            display_prefix: self.display_prefix,
            created_at: self.created_at.into(),
            expires_at: self.expires_at.map(Into::into),
            last_used_at: self.last_used_at.map(Into::into),
        })
    }
}

/// What authenticating with an API token reads of it (`ApiTokenUse`).
#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub(crate) struct ApiTokenUseRow {
    pub id: String,
    pub expires_at: Option<Stamp>,
    pub last_used_at: Option<Stamp>,
}

impl ApiTokenUseRow {
    pub fn into_use(self) -> Result<ApiTokenUse> {
        Ok(ApiTokenUse {
            id: parse_id(&self.id)?,
            expires_at: self.expires_at.map(Into::into),
            last_used_at: self.last_used_at.map(Into::into),
        })
    }
}

#[derive(Insertable)]
#[cfg_attr(test, derive(Default))]
#[diesel(table_name = audit_events)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct AuditRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub actor_username: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub target_label: Option<String>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub category: &'static str,
}

impl AuditRow {
    pub fn new(e: &AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            at: naive(e.at),
            actor_id: e.actor.id.map(|id| id.to_string()),
            actor_username: e.actor.username.clone(),
            action: e.action.to_owned(),
            target_type: e.target_type.to_owned(),
            target_id: e.target_id.map(|id| id.to_string()),
            target_label: e.target_label.clone(),
            address: e.origin.address.clone(),
            user_agent: e.origin.user_agent.clone(),
            details: e.details.to_string(),
            category: domain::audit::category(e).as_str(),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct MessageRow {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub recipient: String,
    pub locale: String,
    pub generation: Option<i64>,
    pub details: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Stamp,
    pub last_error: Option<String>,
    pub created_at: Stamp,
    pub finished_at: Option<Stamp>,
}

impl MessageRow {
    pub fn new(m: &Message) -> Self {
        Self {
            id: m.id.to_string(),
            account_id: m.account_id.to_string(),
            kind: m.kind.as_str().to_owned(),
            recipient: m.recipient.clone(),
            locale: m.locale.clone(),
            generation: m.generation,
            details: m.details.to_string(),
            state: m.state.as_str().to_owned(),
            attempts: i32::try_from(m.attempts).unwrap_or(i32::MAX),
            next_attempt_at: m.next_attempt_at.into(),
            last_error: m.last_error.clone(),
            created_at: m.created_at.into(),
            finished_at: m.finished_at.map(Into::into),
        }
    }

    pub fn into_message(self) -> Result<Message> {
        let unknown = |what: &str, value: &str| {
            Error::Internal(format!("stored outbox {what} {value:?} is unknown"))
        };
        Ok(Message {
            id: parse_id(&self.id)?,
            account_id: parse_id(&self.account_id)?,
            kind: MessageKind::parse(&self.kind).ok_or_else(|| unknown("kind", &self.kind))?,
            recipient: self.recipient,
            locale: self.locale,
            generation: self.generation,
            details: serde_json::from_str(&self.details)
                .map_err(|e| Error::Internal(format!("stored outbox details: {e}")))?,
            state: MessageState::parse(&self.state).ok_or_else(|| unknown("state", &self.state))?,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            next_attempt_at: self.next_attempt_at.into(),
            last_error: self.last_error,
            created_at: self.created_at.into(),
            finished_at: self.finished_at.map(Into::into),
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: Stamp,
    pub last_used_at: Stamp,
    pub expires_at: Stamp,
    pub idle_expires_at: Stamp,
    pub idle_seconds: i64,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionRow {
    pub fn new(s: &Session) -> Self {
        Self {
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
            created_at: s.created_at.into(),
            last_used_at: s.last_used_at.into(),
            expires_at: s.expires_at.into(),
            idle_expires_at: s.idle_expires_at.into(),
            idle_seconds: s.idle_seconds,
            address: s.address.clone(),
            user_agent: s.user_agent.clone(),
        }
    }

    pub fn into_session(self) -> Result<Session> {
        Ok(Session {
            id: parse_id(&self.id)?,
            user_id: parse_id(&self.user_id)?,
            created_at: self.created_at.into(),
            last_used_at: self.last_used_at.into(),
            expires_at: self.expires_at.into(),
            idle_expires_at: self.idle_expires_at.into(),
            idle_seconds: self.idle_seconds,
            address: self.address,
            user_agent: self.user_agent,
        })
    }
}

/// What authenticating with an access token reads of its session (`SessionUse`).
#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionUseRow {
    pub id: String,
    pub expires_at: Stamp,
    pub idle_expires_at: Stamp,
    pub last_used_at: Stamp,
    pub idle_seconds: i64,
}

impl SessionUseRow {
    pub fn into_use(self) -> Result<SessionUse> {
        Ok(SessionUse {
            id: parse_id(&self.id)?,
            expires_at: self.expires_at.into(),
            idle_expires_at: self.idle_expires_at.into(),
            last_used_at: self.last_used_at.into(),
            idle_seconds: self.idle_seconds,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sign_in_challenges)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ChallengeRow {
    pub token_hash: String,
    pub user_id: String,
    pub kind: String,
    pub created_at: Stamp,
    pub expires_at: Stamp,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl ChallengeRow {
    pub fn new(c: &Challenge, hash: &str) -> Self {
        Self {
            token_hash: hash.to_owned(),
            user_id: c.user_id.to_string(),
            kind: c.kind.as_str().to_owned(),
            created_at: c.created_at.into(),
            expires_at: c.expires_at.into(),
            address: c.address.clone(),
            user_agent: c.user_agent.clone(),
        }
    }

    pub fn into_challenge(self) -> Result<Challenge> {
        Ok(Challenge {
            user_id: parse_id(&self.user_id)?,
            kind: ChallengeKind::parse(&self.kind).ok_or_else(|| {
                Error::Internal(format!("stored challenge kind {:?} is unknown", self.kind))
            })?,
            created_at: self.created_at.into(),
            expires_at: self.expires_at.into(),
            address: self.address,
            user_agent: self.user_agent,
        })
    }
}

//! What the rules need from storage. Implemented by `persistence` for SQLite and PostgreSQL;
//! chosen only in the binary's wiring. Calls are synchronous: the API runs them on the blocking
//! pool, one unit of work (a transaction) at a time.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    account::Account,
    api_token::{ApiToken, ApiTokenUse},
    audit::AuditEvent,
    paging::UserQuery,
    policy::CallerAccount,
    settings::Settings,
    Error, Result,
};

/// Accounts. Uniqueness of username and email (case-insensitive) is decided by the database:
/// `insert_account`/`update_account` fail with `UsernameTaken`/`EmailTaken`.
pub trait Accounts {
    fn count_accounts(&mut self) -> Result<i64>;
    /// A new account and, in the same transaction, `event`, the audit event recording its
    /// creation: one statement where the database allows (PostgreSQL), since every statement is a
    /// round trip.
    fn insert_account(&mut self, account: &Account, event: &AuditEvent) -> Result<()>;
    /// Many at once (multi-row statements), for bulk creation.
    fn insert_accounts(&mut self, accounts: &[Account]) -> Result<()>;
    fn find_account(&mut self, id: Uuid) -> Result<Option<Account>>;
    /// What authenticating a request reads of account `id`, its caller.
    fn find_caller(&mut self, id: Uuid) -> Result<Option<CallerAccount>>;
    /// `find_caller` and, in the same statement, the account `target` (`None`: no such
    /// account): a request's caller and the account it is about, in one round trip.
    fn find_caller_and_account(
        &mut self,
        id: Uuid,
        target: Uuid,
    ) -> Result<Option<(CallerAccount, Option<Account>)>>;
    /// Reads the account and holds it against concurrent writers until the transaction ends.
    fn find_account_for_update(&mut self, id: Uuid) -> Result<Option<Account>>;
    /// By case-folded username or email.
    fn find_account_by_login(&mut self, login_key: &str) -> Result<Option<Account>>;
    /// Writes every field of `after` (the caller has bumped `version`), roles only where they
    /// differ from `before`, and `event`, the audit event recording the change: with the row, in
    /// one statement where the database allows (PostgreSQL).
    fn update_account(
        &mut self,
        before: &Account,
        after: &Account,
        event: &AuditEvent,
    ) -> Result<()>;
    fn delete_account(&mut self, account: &Account) -> Result<()>;
    /// Records a sign-in time without counting as a change (no version bump).
    fn touch_last_active(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// One page, `limit + 1` rows at most so the caller can tell whether more follow.
    fn list_accounts(&mut self, query: &UserQuery, now: DateTime<Utc>) -> Result<Vec<Account>>;
    /// Serialises changes to the set of active admins (last-admin rule) across connections.
    fn lock_admin_set(&mut self) -> Result<()>;
    fn count_active_admins(&mut self) -> Result<i64>;
    /// Whether the account is the actor of any recorded write other than its sign-in events.
    fn has_authored_changes(&mut self, id: Uuid) -> Result<bool>;
}

/// Setup happens once: the first claim wins, decided by the database.
pub trait SetupClaim {
    /// `true` for the one caller that claimed setup; `false` when it was already claimed.
    fn claim_setup(&mut self) -> Result<bool>;
}

pub trait ApiTokens {
    fn insert_api_token(&mut self, token: &ApiToken, hash: &str) -> Result<()>;
    fn list_api_tokens(&mut self, user_id: Uuid) -> Result<Vec<ApiToken>>;
    /// `true` when a token of that user with that id existed.
    fn delete_api_token(&mut self, user_id: Uuid, id: Uuid) -> Result<bool>;
    fn delete_api_tokens_of(&mut self, user_id: Uuid) -> Result<u64>;
    /// The token with this hash and its owner, as authenticating a request reads them, in one
    /// statement.
    fn find_api_token(&mut self, hash: &str) -> Result<Option<(ApiTokenUse, CallerAccount)>>;
    /// `find_api_token` and, in the same statement, the account `target` (the one a request is
    /// about): one round trip where there would be two.
    fn find_api_token_and_account(
        &mut self,
        hash: &str,
        target: Uuid,
    ) -> Result<Option<TokenAndAccount>>;
    fn touch_api_token(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
}

/// An API token and its owner as authenticating a request reads them, and another account read
/// with them (`None`: no such account).
pub type TokenAndAccount = (ApiTokenUse, CallerAccount, Option<Account>);

pub trait SettingsStore {
    fn load_settings(&mut self) -> Result<Settings>;
    fn save_settings(&mut self, settings: &Settings) -> Result<()>;
}

pub trait AuditLog {
    fn append_audit(&mut self, event: &AuditEvent) -> Result<()>;
    fn append_audits(&mut self, events: &[AuditEvent]) -> Result<()>;
}

/// One unit of work over every port.
pub trait Tx: Accounts + SetupClaim + ApiTokens + SettingsStore + AuditLog {}
impl<T: Accounts + SetupClaim + ApiTokens + SettingsStore + AuditLog> Tx for T {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    Read,
    /// Takes the write lock up front (SQLite `BEGIN IMMEDIATE`), so writers queue instead of
    /// failing on a lock upgrade.
    Write,
}

/// A database. `transaction` runs `work` in one transaction, committing on `Ok`.
pub trait Store: Send + Sync {
    fn transaction(
        &self,
        mode: TxMode,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>,
    ) -> Result<()>;
    /// Whether the database answers.
    fn ping(&self) -> Result<()>;
    /// This database through one connection, held until the returned store is dropped: for one
    /// request's few short units of work (the caller's lookup, then the work). Consecutive reads
    /// share one read snapshot on SQLite, until a write or the end. Not for work that waits on
    /// anything else (a password hash): the connection stays out of the pool meanwhile.
    fn session(&self) -> Result<Box<dyn Store>>;
}

impl dyn Store {
    pub fn read<T>(&self, work: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.run(TxMode::Read, work)
    }

    pub fn write<T>(&self, work: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.run(TxMode::Write, work)
    }

    fn run<T>(&self, mode: TxMode, work: impl FnOnce(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let mut work = Some(work);
        let mut out = None;
        self.transaction(mode, &mut |tx| {
            if let Some(work) = work.take() {
                out = Some(work(tx)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| Error::Internal("transaction ran no work".into()))
    }
}

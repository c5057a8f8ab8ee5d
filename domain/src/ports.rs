//! What the rules need from storage. Implemented by `persistence` for SQLite and PostgreSQL;
//! chosen only in the binary's wiring. Calls are synchronous: the API runs them on its database
//! threads, one unit of work (a transaction) at a time.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    account::{Account, SignInRecord},
    api_token::{ApiToken, ApiTokenUse},
    assignments::{AllInstances, Application, Assignment, Group, Instance},
    audit::{AuditQuery, RecordedEvent},
    chain::{ChainHead, ChainedEvent, Link},
    effects::Effects,
    idempotency::{KeptResponse, KeyRecord, KeyedRequest},
    mfa::TotpFactor,
    one_time::Purpose,
    outbox::{Message, MessageState},
    paging::UserQuery,
    policy::CallerAccount,
    reports::Window,
    seats::SeatUsage,
    session::{Challenge, RefreshTokenUse, RequiredAction, Session, SessionUse},
    settings::Settings,
    Error, Result,
};

/// Accounts. Every write of an account goes through these methods, which write the row and all
/// that is derived from it (role rows, case-folded keys, search prefixes) together. Uniqueness of
/// username and email is decided by the database: a write fails with `UsernameTaken`/`EmailTaken`.
pub trait Accounts {
    fn count_accounts(&mut self) -> Result<i64>;
    fn insert_account(&mut self, account: &Account) -> Result<()>;
    /// Many at once (multi-row statements), for bulk creation.
    fn insert_accounts(&mut self, accounts: &[Account]) -> Result<()>;
    fn find_account(&mut self, id: Uuid) -> Result<Option<Account>>;
    /// Reads the account and holds it against concurrent writers until the transaction ends.
    fn find_account_for_update(&mut self, id: Uuid) -> Result<Option<Account>>;
    /// By case-folded username or email; a username match wins over another account's email.
    fn find_account_by_login(&mut self, login_key: &str) -> Result<Option<Account>>;
    /// Writes every field of `after` (the caller has bumped `version`) and what is derived from
    /// the fields that differ from `before`.
    fn update_account(&mut self, before: &Account, after: &Account) -> Result<()>;
    fn delete_account(&mut self, account: &Account) -> Result<()>;
    /// Writes a sign-in's outcome for account `id` as `Account::record_failure`/`record_success`
    /// left it: the failure count, the lock, the last use and the version, nothing else.
    fn record_sign_in(&mut self, id: Uuid, record: &SignInRecord) -> Result<()>;
    /// Records a use of the account at `at` without counting as a change (no version bump).
    fn touch_last_active(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// One page, `limit + 1` rows at most so the caller can tell whether more follow.
    fn list_accounts(&mut self, query: &UserQuery, now: DateTime<Utc>) -> Result<Vec<Account>>;
    /// Serialises changes to the set of active admins (last-admin rule) across connections.
    fn lock_admin_set(&mut self) -> Result<()>;
    fn count_active_admins(&mut self) -> Result<i64>;
    /// Every seat's holders and limit (SPEC §2): `active_users`, each of `roles`, the guest
    /// ledger, in that order.
    fn seat_usage(&mut self, roles: &[String]) -> Result<Vec<SeatUsage>>;
    /// Whether the email (by its key) holds a guest seat.
    fn holds_guest_seat(&mut self, email_key: &str) -> Result<bool>;
    /// Of `username_keys` and `email_keys`, those an account holds (as its username's key, as its
    /// email's key).
    fn taken_logins(
        &mut self,
        username_keys: &[String],
        email_keys: &[String],
    ) -> Result<(HashSet<String>, HashSet<String>)>;
    /// Whether the account is the actor of any recorded write other than its sign-in events.
    fn has_authored_changes(&mut self, id: Uuid) -> Result<bool>;
}

/// A credential, by what the database knows it by. The one lookup of a request's caller
/// ([`Callers::find_caller`]) takes every kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKey<'a> {
    /// An access token: its subject and the session it names.
    Session { account: Uuid, session: Uuid },
    /// An API token, by the hash of its secret.
    ApiToken(&'a str),
}

/// What a caller's lookup reads besides the caller, in the same statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlsoRead {
    Nothing,
    /// The account the request is about.
    Account(Uuid),
    /// The settings, which a create needs before it writes.
    Settings,
}

/// What authenticating a request reads: the caller's account as far as admission needs it, the
/// API token or session it used, and what the lookup was asked to read too ([`AlsoRead`]): the
/// account the request is about (if that account exists), or the settings.
#[derive(Debug, Clone)]
pub struct CallerLookup {
    pub caller: CallerAccount,
    pub api_token: Option<ApiTokenUse>,
    pub session: Option<SessionUse>,
    pub target: Option<Account>,
    pub settings: Option<Settings>,
}

pub trait Callers {
    /// The caller behind `credential` and what `also` names, in one statement (one round trip to
    /// PostgreSQL). `None`: no such credential.
    fn find_caller(
        &mut self,
        credential: CredentialKey<'_>,
        also: AlsoRead,
    ) -> Result<Option<CallerLookup>>;
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
    fn touch_api_token(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
}

/// Sessions and their refresh tokens (SPEC §4). Revoking a session deletes it with its refresh
/// tokens.
pub trait Sessions {
    fn insert_session(&mut self, session: &Session) -> Result<()>;
    fn insert_refresh_token(&mut self, session: Uuid, hash: &str, at: DateTime<Utc>) -> Result<()>;
    /// The refresh token with this hash and its session, read for an exchange (held against a
    /// concurrent exchange until the transaction ends).
    fn find_refresh_token(&mut self, hash: &str) -> Result<Option<RefreshTokenUse>>;
    /// Marks the token used at `at`; `false` when it already was (a concurrent exchange won).
    fn use_refresh_token(&mut self, hash: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Records a use: `last_used_at` and the idle end.
    fn touch_session(&mut self, id: Uuid, at: DateTime<Utc>, idle_end: DateTime<Utc>)
        -> Result<()>;
    /// The account's sessions, newest first.
    fn list_sessions(&mut self, user_id: Uuid) -> Result<Vec<Session>>;
    /// `true` when a session of that account with that id existed.
    fn delete_session(&mut self, user_id: Uuid, id: Uuid) -> Result<bool>;
    /// Every session of the account but `except`; how many there were.
    fn delete_sessions_of(&mut self, user_id: Uuid, except: Option<Uuid>) -> Result<u64>;
    /// Sessions past their idle or absolute end at `now`, with their refresh tokens; how many.
    fn delete_ended_sessions(&mut self, now: DateTime<Utc>) -> Result<u64>;
}

/// Sign-ins waiting for a challenge, by the hash of their single-use token, and the actions an
/// account must take at its next sign-in.
pub trait Challenges {
    fn insert_challenge(&mut self, challenge: &Challenge, hash: &str) -> Result<()>;
    /// The challenge, without using it up.
    fn find_challenge(&mut self, hash: &str) -> Result<Option<Challenge>>;
    /// Uses the challenge up: `None` when there is none (never was, or already used).
    fn take_challenge(&mut self, hash: &str) -> Result<Option<Challenge>>;
    /// Every pending challenge of the account.
    fn delete_challenges_of(&mut self, user_id: Uuid) -> Result<u64>;
    /// Challenges expired at `now`; how many.
    fn delete_expired_challenges(&mut self, now: DateTime<Utc>) -> Result<u64>;
    /// What the account must do at its next sign-in, in the order it is asked, each with when it
    /// was required.
    fn required_actions(&mut self, user_id: Uuid) -> Result<Vec<(RequiredAction, DateTime<Utc>)>>;
    /// Adds a required action (nothing when the account has it already).
    fn require_action(
        &mut self,
        user_id: Uuid,
        action: RequiredAction,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Removes the account's `actions`.
    fn clear_required_actions(&mut self, user_id: Uuid, actions: &[RequiredAction]) -> Result<()>;
}

/// The generation of an account's one-time tokens of a purpose ([`crate::one_time`]): raising it
/// voids every token issued before.
pub trait TokenGenerations {
    /// 0 when never raised.
    fn token_generation(&mut self, user_id: Uuid, purpose: Purpose) -> Result<i64>;
    /// Raises it by one; answers the new generation.
    fn raise_token_generation(&mut self, user_id: Uuid, purpose: Purpose) -> Result<i64>;
}

/// The outbox's messages ([`crate::outbox`]). New ones are written with a unit of work's effects.
pub trait Outbox {
    /// Takes up to `limit` messages due at `now` (pending, or sending past a worker's hold),
    /// earliest due first, one more attempt counted: each becomes `sending` until `hold_until`,
    /// or (`into` another state) finishes in it at `now`. A message is never taken by two workers
    /// at once, on any replica (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one writer).
    fn take_due_messages(
        &mut self,
        now: DateTime<Utc>,
        into: MessageState,
        hold_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// Writes `message`'s state, attempts, due time, error and end, if the stored one is still in
    /// `state` after `attempts` attempts (nobody else took it meanwhile); whether it was.
    fn update_message(
        &mut self,
        message: &Message,
        state: MessageState,
        attempts: u32,
    ) -> Result<bool>;
    fn find_message(&mut self, id: Uuid) -> Result<Option<Message>>;
    /// Messages newest first, in `state` if given, after (older than) the message `after`.
    fn list_messages(
        &mut self,
        state: Option<MessageState>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// Deletes messages that finished (sent, logged, failed, cancelled) before `before`; how many.
    fn delete_finished_messages(&mut self, before: DateTime<Utc>) -> Result<u64>;
    /// How many messages are in each state; states without any are left out.
    fn count_messages(&mut self) -> Result<Vec<(MessageState, i64)>>;
}

/// Accounts' second factors and recovery codes ([`crate::mfa`]).
pub trait MfaFactors {
    fn find_totp_factor(&mut self, user_id: Uuid) -> Result<Option<TotpFactor>>;
    /// Writes the account's factor, replacing any it had.
    fn save_totp_factor(&mut self, factor: &TotpFactor) -> Result<()>;
    /// Removes the account's factor, its recovery codes and any one-time password for it.
    fn delete_totp_factor(&mut self, user_id: Uuid) -> Result<()>;
    /// Replaces the account's recovery codes with these (their hashes).
    fn replace_recovery_codes(&mut self, user_id: Uuid, hashes: &[String]) -> Result<()>;
    /// Uses up the recovery code with this hash; whether it was there to use.
    fn use_recovery_code(&mut self, user_id: Uuid, hash: &str) -> Result<bool>;
    fn count_recovery_codes(&mut self, user_id: Uuid) -> Result<i64>;
    /// Sets the account's one-time password (its hash), replacing any it had.
    fn set_mfa_one_time_password(
        &mut self,
        user_id: Uuid,
        hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Uses up the account's one-time password if it has this hash and has not expired at `now`;
    /// whether it did.
    fn use_mfa_one_time_password(
        &mut self,
        user_id: Uuid,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// Applications and their instances (SPEC §8). Names are unique by their key (a write that
/// breaks it fails with `NameTaken`); lists are in the order of the names' keys.
pub trait Applications {
    fn list_applications(&mut self) -> Result<Vec<Application>>;
    fn find_application(&mut self, id: Uuid) -> Result<Option<Application>>;
    fn insert_application(&mut self, application: &Application, name_key: &str) -> Result<()>;
    /// `false`: no such application.
    fn rename_application(&mut self, application: &Application, name_key: &str) -> Result<bool>;
    /// Deletes the application and its instances; `false`: no such application.
    fn delete_application(&mut self, id: Uuid) -> Result<bool>;
    fn list_instances(&mut self, application_id: Uuid) -> Result<Vec<Instance>>;
    /// Instance `id` of application `application_id` (none of another application).
    fn find_instance(&mut self, application_id: Uuid, id: Uuid) -> Result<Option<Instance>>;
    fn insert_instance(&mut self, instance: &Instance, name_key: &str) -> Result<()>;
    fn rename_instance(&mut self, instance: &Instance, name_key: &str) -> Result<bool>;
    fn delete_instance(&mut self, application_id: Uuid, id: Uuid) -> Result<bool>;
}

/// Assignments of accounts to instances, and "access to all" grants (SPEC §8).
pub trait Assignments {
    /// Holds instance `id` for the rest of the transaction (PostgreSQL: its row locked), so that
    /// whether it has an admin is decided by one writer at a time.
    fn lock_instance(&mut self, id: Uuid) -> Result<()>;
    fn instance_assignments(&mut self, instance_id: Uuid) -> Result<Vec<Assignment>>;
    fn insert_assignments(&mut self, assignments: &[Assignment]) -> Result<()>;
    /// Deletes the assignments of `users` to the instance; answers the accounts whose assignment
    /// was deleted.
    fn delete_assignments(&mut self, instance_id: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>>;
    /// Enables or disables the assignments of `users` to the instance that are not so already;
    /// answers the accounts whose assignment changed.
    fn set_assignments_enabled(
        &mut self,
        instance_id: Uuid,
        users: &[Uuid],
        enabled: bool,
    ) -> Result<Vec<Uuid>>;
    /// The account's assignments, with their application's and instance's names.
    fn assignments_of(&mut self, user_id: Uuid) -> Result<Vec<(Assignment, String, String)>>;
    /// The application's "access to all" grants of `users` that exist.
    fn all_instance_grants(
        &mut self,
        application_id: Uuid,
        users: &[Uuid],
    ) -> Result<Vec<AllInstances>>;
    fn insert_all_instance_grants(&mut self, grants: &[AllInstances]) -> Result<()>;
    fn delete_all_instance_grants(
        &mut self,
        application_id: Uuid,
        users: &[Uuid],
    ) -> Result<Vec<Uuid>>;
    fn set_all_instance_grants_enabled(
        &mut self,
        application_id: Uuid,
        users: &[Uuid],
        enabled: bool,
    ) -> Result<Vec<Uuid>>;
    /// Deletes every "access to all" grant of the application; answers their accounts.
    fn clear_all_instance_grants(&mut self, application_id: Uuid) -> Result<Vec<Uuid>>;
    /// The account's grants, with their application's name.
    fn all_instance_grants_of(&mut self, user_id: Uuid) -> Result<Vec<(AllInstances, String)>>;
    /// How many assignments (and, for a whole application, "access to all" grants) the
    /// application has, or its instance `instance_id`.
    fn count_assignments(&mut self, application_id: Uuid, instance_id: Option<Uuid>)
        -> Result<i64>;
    /// Deletes every assignment and "access to all" grant of the account; answers the deleted
    /// assignments and the applications of the deleted grants.
    fn delete_assignments_of(&mut self, user_id: Uuid) -> Result<(Vec<Assignment>, Vec<Uuid>)>;
    /// The applications each of `users` is assigned to (an instance of it, or all of them): each
    /// account and application name once.
    fn applications_of(&mut self, users: &[Uuid]) -> Result<Vec<(Uuid, String)>>;
    /// Of `ids`, the accounts that exist: id, username, roles.
    fn accounts_roles(&mut self, ids: &[Uuid]) -> Result<Vec<(Uuid, String, Vec<String>)>>;
}

/// Groups of accounts and their members (SPEC §8). Names are unique by their key (`NameTaken`).
pub trait Groups {
    fn list_groups(&mut self) -> Result<Vec<Group>>;
    fn find_group(&mut self, id: Uuid) -> Result<Option<Group>>;
    fn insert_group(&mut self, group: &Group, name_key: &str) -> Result<()>;
    fn rename_group(&mut self, group: &Group, name_key: &str) -> Result<bool>;
    /// Deletes the group and its memberships; `false`: no such group.
    fn delete_group(&mut self, id: Uuid) -> Result<bool>;
    /// Adds the accounts of `users` that are not members yet; answers those added.
    fn add_members(
        &mut self,
        group_id: Uuid,
        users: &[Uuid],
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>>;
    /// Removes the accounts of `users` that are members; answers those removed.
    fn remove_members(&mut self, group_id: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>>;
    /// Up to `limit` members by username key, after the key `after`.
    fn list_members(
        &mut self,
        group_id: Uuid,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Account>>;
    /// Removes every member of the group; answers them.
    fn clear_members(&mut self, group_id: Uuid) -> Result<Vec<Uuid>>;
    /// The account's groups, by name.
    fn groups_of(&mut self, user_id: Uuid) -> Result<Vec<Group>>;
    /// Removes the account from every group; answers the groups it left.
    fn leave_groups(&mut self, user_id: Uuid) -> Result<Vec<Uuid>>;
}

/// The audit trail, read (events are written with a unit of work's effects).
pub trait AuditTrail {
    /// Up to `query.limit + 1` events matching `query`, newest first (by id: UUID v7).
    fn list_audit_events(&mut self, query: &AuditQuery) -> Result<Vec<RecordedEvent>>;
    /// Events of `actions` in `window`, oldest first: after event `after`, the first `skip`
    /// left out, up to `limit`.
    fn report_events(
        &mut self,
        actions: &[&str],
        window: Window,
        after: Option<Uuid>,
        skip: u32,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>>;
    /// The chain's head; with `hold`, held until the (write) transaction ends: one linker at a
    /// time ([`crate::chain`]).
    fn chain_head(&mut self, hold: bool) -> Result<ChainHead>;
    /// Up to `limit` events not linked after `head`, in the order to link them, and the mark
    /// that stands after the last.
    fn unlinked_events(
        &mut self,
        head: &ChainHead,
        limit: u32,
    ) -> Result<(Vec<RecordedEvent>, String)>;
    /// An event neither linked nor queued to be (written behind Roster's back), if any.
    fn event_outside_chain(&mut self) -> Result<Option<RecordedEvent>>;
    /// How many committed events are not linked after `head` (on PostgreSQL, some may wait for
    /// an older transaction still running).
    fn count_unlinked(&mut self, head: &ChainHead) -> Result<u64>;
    /// Writes `links` and moves the head to the last one, at `mark`.
    fn write_links(&mut self, links: &[Link], mark: &str) -> Result<()>;
    /// Up to `limit` linked events from place `from` on, in chain order.
    fn chained_events(&mut self, from: i64, limit: u32) -> Result<Vec<ChainedEvent>>;
    /// Erases the personal values ([`crate::chain::erased`]) of every event naming the account
    /// as actor or target, and drops their salts; how many events changed.
    fn erase_personal_values(&mut self, account: Uuid) -> Result<u64>;
    /// Removes the linked events up to place `through` and records it, with its hash, as the
    /// chain's checkpoint; how many were removed.
    fn remove_chain_prefix(&mut self, through: i64, hash: &str) -> Result<u64>;
}

pub trait SettingsStore {
    fn load_settings(&mut self) -> Result<Settings>;
    fn save_settings(&mut self, settings: &Settings) -> Result<()>;
}

/// The unit of work itself: what its change causes besides itself is recorded here and written
/// by persistence just before the transaction commits ([`Effects`]).
pub trait UnitOfWork {
    fn effects(&mut self) -> &mut Effects;
    /// Writes the effects recorded so far now, in the transaction (a long unit of work, such as a
    /// large import, need not hold them all to its end).
    fn flush_effects(&mut self) -> Result<()>;
}

/// Keys of idempotent retries ([`crate::idempotency`]), one record per scope, method, path and key.
pub trait IdempotencyKeys {
    /// Takes the key for `request`, in progress until `lease_until`, unless it has a record
    /// already: whether it took it.
    fn insert_idempotency_key(
        &mut self,
        request: &KeyedRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool>;
    /// The key's record, held until the transaction ends.
    fn find_idempotency_key(&mut self, request: &KeyedRequest) -> Result<Option<KeyRecord>>;
    /// Takes the key over for `request`: its record no longer counted.
    fn restart_idempotency_key(
        &mut self,
        request: &KeyedRequest,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<()>;
    /// Keeps the response (its body sealed) and ends the run.
    fn complete_idempotency_key(
        &mut self,
        request: &KeyedRequest,
        response: &KeptResponse,
    ) -> Result<()>;
    /// Lets the key go: its response is not kept, so a retry runs again.
    fn release_idempotency_key(&mut self, request: &KeyedRequest) -> Result<()>;
    fn delete_expired_idempotency_keys(&mut self, before: DateTime<Utc>) -> Result<u64>;
}

/// One unit of work over every port.
pub trait Tx:
    Accounts
    + Callers
    + SetupClaim
    + ApiTokens
    + Sessions
    + Challenges
    + TokenGenerations
    + Outbox
    + MfaFactors
    + Applications
    + Assignments
    + Groups
    + AuditTrail
    + IdempotencyKeys
    + SettingsStore
    + UnitOfWork
{
}
impl<
        T: Accounts
            + Callers
            + SetupClaim
            + ApiTokens
            + Sessions
            + Challenges
            + TokenGenerations
            + Outbox
            + MfaFactors
            + Applications
            + Assignments
            + Groups
            + AuditTrail
            + IdempotencyKeys
            + SettingsStore
            + UnitOfWork,
    > Tx for T
{
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Reads only; records no side effects.
    Read,
    /// Takes the write lock up front (SQLite `BEGIN IMMEDIATE`), so writers queue instead of
    /// failing on a lock upgrade.
    Write,
}

/// A database. `transaction` runs `work` in one transaction, committing on `Ok`. A transaction
/// that collides with a concurrent one (a PostgreSQL serialization failure or deadlock) is run
/// again, a bounded number of times, so `work` may run more than once: it must not keep state
/// between runs.
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
    pub fn read<T>(&self, work: impl FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.run(TxMode::Read, work)
    }

    pub fn write<T>(&self, work: impl FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
        self.run(TxMode::Write, work)
    }

    /// Runs `work` in a write transaction and rolls it back: what it would do, found by doing it
    /// (a dry run), every check of the database included.
    pub fn rehearse<T>(&self, mut work: impl FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let mut out = None;
        let done = self.transaction(TxMode::Write, &mut |tx| {
            out = Some(work(tx)?);
            Err(Error::Rehearsed)
        });
        match (done, out) {
            (Err(Error::Rehearsed), Some(value)) => Ok(value),
            (Err(e), _) => Err(e),
            (Ok(()), _) => Err(Error::Internal("a rehearsal committed".into())),
        }
    }

    fn run<T>(&self, mode: TxMode, mut work: impl FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let mut out = None;
        self.transaction(mode, &mut |tx| {
            out = Some(work(tx)?);
            Ok(())
        })?;
        out.ok_or_else(|| Error::Internal("transaction ran no work".into()))
    }
}

//! Use cases, written against the storage ports. Each public method is one request's worth of
//! work. They are `async` because their steps run on the [`Runtime`]'s threads: a database step
//! ([`Services::database`]) on the database threads, over one connection, in one or a few short
//! transactions; a password's hashing ([`Services::hashing`]) on the hashing threads. A use case
//! that hashes says so in its own body; nobody else chooses for it.

mod accounts;
mod applications;
mod assignments;
mod audit;
mod auth;
mod bulk;
mod fields;
mod gauges;
mod groups;
mod idempotency;
mod import;
mod invitations;
mod me;
mod mfa;
mod one_time;
mod outbox;
mod reports;
mod settings;
mod setup;
mod sweep;
mod tokens;

use std::{
    sync::{atomic::AtomicI64, Arc, Mutex, PoisonError},
    time::Duration,
};

pub use accounts::{AccountPatch, DeleteOutcome, NewAccount};
pub use assignments::{
    AccountAssignments, AssignmentChange, AssignmentRequest, MAX_ASSIGNMENT_ACCOUNTS,
    MAX_ASSIGNMENT_INSTANCES,
};
pub use audit::{BrokenLink, Verification};
pub use auth::{Credential, SignIn, SignInSecrets, SignedIn};
pub use bulk::{BulkAction, BulkChanges, BulkEdit, BulkOutcome, MAX_BULK_ACTION, MAX_BULK_EDIT};
pub use gauges::Gauges;
pub use groups::MAX_GROUP_CHANGE;
pub use import::{ImportOptions, ImportReport, ImportSource, ImportedRow, Progress, RowOutcome};
pub use invitations::{split_addresses, Invitation, MAX_INVITATIONS};
pub use mfa::TotpEnrollment;
pub use one_time::TokenInfo;
pub use outbox::{Outgoing, Taken, KEEP_FINISHED_DAYS};
pub use reports::{ReportCursor, ReportPage};
pub use settings::{
    LockoutPatch, MfaPolicyPatch, PasswordPolicyPatch, SessionPolicyPatch, SettingsPatch,
    TokenLifetimesPatch,
};
pub use setup::SetupInput;
pub use sweep::dormant;

use crate::{
    mfa::MfaKey,
    one_time::TokenKey,
    password::PasswordHasher,
    ports::Store,
    roles::RoleCatalog,
    runtime::Runtime,
    seal::SealKey,
    telemetry::{Telemetry, Unobserved},
    Error, Result,
};

/// The services and what they stand on: a store, the role catalog, a password hasher and the
/// runtime their steps run on.
#[derive(Clone)]
pub struct Services {
    store: Arc<dyn Store>,
    catalog: Arc<RoleCatalog>,
    hasher: Arc<dyn PasswordHasher>,
    runtime: Arc<dyn Runtime>,
    /// Seals and opens one-time tokens ([`crate::one_time`]).
    token_key: Arc<TokenKey>,
    /// Seals and opens TOTP secrets ([`crate::mfa`]).
    mfa_key: Arc<MfaKey>,
    /// Seals the responses kept for idempotent retries ([`crate::idempotency`]).
    response_key: Arc<SealKey>,
    /// Whether emails with links are queued: only when a mail server is configured
    /// ([`Services::email_link`]).
    email_links: bool,
    /// Where sign-in outcomes and lockouts are reported ([`Services::observed_by`]).
    telemetry: Arc<dyn Telemetry>,
    /// Until when (ms since the epoch) this process takes `mfa.required_for_admins` to be off
    /// without reading it ([`Services::admins_need_mfa`]); shared by the clones.
    admin_mfa_off_until: Arc<AtomicI64>,
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<RoleCatalog>,
        hasher: Arc<dyn PasswordHasher>,
        runtime: Arc<dyn Runtime>,
        (token_key, mfa_key, response_key): (TokenKey, MfaKey, SealKey),
        email_links: bool,
    ) -> Self {
        Self {
            store,
            catalog,
            hasher,
            runtime,
            token_key: Arc::new(token_key),
            mfa_key: Arc::new(mfa_key),
            response_key: Arc::new(response_key),
            email_links,
            telemetry: Arc::new(Unobserved),
            admin_mfa_off_until: Arc::new(AtomicI64::new(0)),
        }
    }

    /// These services, reporting sign-in outcomes and lockouts to `telemetry`.
    pub fn observed_by(self, telemetry: Arc<dyn Telemetry>) -> Self {
        Self { telemetry, ..self }
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ping(&self) -> Result<()> {
        self.database(|s| s.store.ping()).await
    }

    /// Runs `work` on the database threads, with these services over one connection (a
    /// [`Store::session`]) held for the step: the caller's lookup and the work share it.
    async fn database<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Services) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.database_on(|runtime, job| runtime.database(job), work)
            .await
    }

    /// [`Services::database`] for a step allowed `allowed` rather than a request's deadline: an
    /// import.
    async fn long_database<T, F>(&self, allowed: Duration, work: F) -> Result<T>
    where
        F: FnOnce(&Services) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.database_on(
            move |runtime, job| runtime.long_database(job, allowed),
            work,
        )
        .await
    }

    async fn database_on<T, F>(
        &self,
        submit: impl FnOnce(&dyn Runtime, crate::runtime::Job) -> crate::runtime::Pending,
        work: F,
    ) -> Result<T>
    where
        F: FnOnce(&Services) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let services = self.clone();
        self.run(submit, move || {
            let session = Services {
                store: Arc::from(services.store.session()?),
                ..services
            };
            work(&session)
        })
        .await
    }

    /// Runs `work` (a password's hashing or verification) on the hashing threads.
    async fn hashing<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&dyn PasswordHasher) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let hasher = self.hasher.clone();
        self.run(
            |runtime, job| runtime.hashing(job),
            move || work(hasher.as_ref()),
        )
        .await
    }

    async fn run<T, F>(
        &self,
        submit: impl FnOnce(&dyn Runtime, crate::runtime::Job) -> crate::runtime::Pending,
        work: F,
    ) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let answer: Arc<Mutex<Option<Result<T>>>> = Arc::new(Mutex::new(None));
        let slot = answer.clone();
        submit(
            self.runtime.as_ref(),
            Box::new(move || {
                let result = work();
                *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
            }),
        )
        .await?;
        let result = answer.lock().unwrap_or_else(PoisonError::into_inner).take();
        result.unwrap_or_else(|| Err(Error::Internal("a step ended without an answer".into())))
    }
}

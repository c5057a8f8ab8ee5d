//! Use cases, written against the storage ports. Each public method is one request's worth of
//! work: checks, then one write transaction that also appends the audit event.

mod accounts;
mod auth;
mod bulk;
mod fields;
mod settings;
mod setup;
mod tokens;

use std::sync::Arc;

pub use accounts::{AccountPatch, DeleteOutcome, NewAccount};
pub use auth::{Authenticated, Credential};
pub use settings::{PasswordPolicyPatch, SettingsPatch};
pub use setup::SetupInput;

use crate::{password::PasswordHasher, ports::Store, roles::RoleCatalog};

/// The services and what they stand on: a store, the role catalog and a password hasher.
#[derive(Clone)]
pub struct Services {
    store: Arc<dyn Store>,
    catalog: Arc<RoleCatalog>,
    hasher: Arc<dyn PasswordHasher>,
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<RoleCatalog>,
        hasher: Arc<dyn PasswordHasher>,
    ) -> Self {
        Self {
            store,
            catalog,
            hasher,
        }
    }

    pub fn catalog(&self) -> &RoleCatalog {
        &self.catalog
    }

    /// These services over one [`Store::session`], for one request's work.
    pub fn session(&self) -> crate::Result<Self> {
        Ok(Self {
            store: Arc::from(self.store.session()?),
            ..self.clone()
        })
    }

    /// Whether the database answers (`/readyz`).
    pub fn ping(&self) -> crate::Result<()> {
        self.store.ping()
    }
}

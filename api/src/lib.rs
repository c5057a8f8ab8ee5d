//! Roster's HTTP API: actix-web routes, extractors, problem+json errors and the OpenAPI document.

pub mod app;
pub mod auth;
mod blocking;
pub mod browser;
pub mod client;
pub mod config;
pub mod error;
mod fallback;
#[doc(hidden)]
pub mod fuzzing;
mod idempotency;
pub mod import;
mod limits;
pub mod links;
mod mail;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod outbox;
pub mod passwords;
mod routes;
pub mod runtime;
pub mod seed;
mod timestamp;

pub use app::{openapi_document, Application};
pub use config::Config;

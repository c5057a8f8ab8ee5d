//! End-to-end tests: the real server on a free port, called over HTTP. Every test runs on SQLite
//! and on PostgreSQL. The PostgreSQL half runs where `ROSTER_TEST_POSTGRES_URL` was set when the
//! tests were built (`scripts/with-postgres cargo test`) or `CI=true`, and fails without a server;
//! elsewhere it is reported as ignored, never as passed (`build.rs`).

#[macro_use]
mod helpers;

mod access;
mod activation;
mod api_tokens;
mod applications;
mod assignments;
mod audit;
mod browser;
mod bulk;
mod chain;
mod contract;
mod database;
mod email;
mod errors;
mod filters;
mod groups;
mod idempotency;
mod import;
mod invitations;
mod limits;
mod mailbox;
mod me;
mod metrics;
mod mfa;
mod outage;
mod paging;
mod plans;
mod queues;
mod reports;
mod seats;
mod setup;
mod shutdown;
mod sign_in;
mod sqlite;
mod users;
mod writes;

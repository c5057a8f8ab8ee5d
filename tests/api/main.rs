//! End-to-end tests: the real server on a free port, called over HTTP. Every test runs on SQLite
//! and, when `ROSTER_TEST_POSTGRES_URL` is set, on PostgreSQL too (under `CI=true` a missing
//! PostgreSQL fails the test instead of skipping it).

#[macro_use]
mod helpers;

mod api_tokens;
mod contract;
mod errors;
mod paging;
mod plans;
mod setup;
mod sqlite;
mod users;
mod writes;

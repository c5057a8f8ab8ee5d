//! Runs synchronous work (diesel, argon2) on the blocking pool, inside the caller's span, so no
//! request thread ever waits on the database.

use actix_web::web;
use tracing::Instrument as _;

use crate::error::{ApiError, ErrorCode};

pub async fn run<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> domain::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    web::block(move || span.in_scope(work))
        .in_current_span()
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "blocking task failed");
            ApiError::new(ErrorCode::InternalError, "the error has been logged")
        })?
        .map_err(ApiError::from)
}

/// Like [`run`], for work that hashes passwords: it first takes one of a few permits (one per
/// core), so a storm of sign-ins queues here instead of exhausting memory or the blocking pool.
pub async fn run_hashing<T, F>(permits: &tokio::sync::Semaphore, work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> domain::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let _permit = permits
        .acquire()
        .await
        .map_err(|_| ApiError::new(ErrorCode::InternalError, "the hashing queue is closed"))?;
    run(work).await
}

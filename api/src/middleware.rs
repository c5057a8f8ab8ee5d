//! Request ids, one log line per request, and problem+json for errors the framework makes
//! itself (wrong method, and the like).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        OnceLock,
    },
    time::{Instant, SystemTime},
};

use actix_web::{
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        header::{self, HeaderName, HeaderValue},
        StatusCode,
    },
    middleware::{ErrorHandlerResponse, Next},
    web, ResponseError,
};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{
    app::AppState,
    error::{ApiError, ErrorCode},
};

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Takes the caller's `X-Request-Id` when it is short and printable, else makes one; runs the
/// request inside a span carrying it, returns it, secures the response's headers, counts the
/// request in the metrics and logs the outcome.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| new_request_id().to_string());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let docs = req.path().starts_with("/docs");
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    crate::browser::secure(docs, res.headers_mut());
    let elapsed = started.elapsed();
    let request = res.request();
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        state
            .metrics
            .observe_request(request, res.status(), elapsed.as_secs_f64());
    }
    let status = res.status().as_u16();
    let elapsed_us = elapsed.as_micros() as u64;
    span.in_scope(|| tracing::info!(status, elapsed_us, "request"));
    Ok(res)
}

/// A UUID v7 (time-ordered, as the rest of Roster's ids) whose other 74 bits are a random start
/// drawn once per process plus a counter: unique within the process, unlikely to repeat across
/// processes, and free of the system call a random draw costs on every request (~1 % of a
/// `read`). Request ids label log lines; they are not secrets.
fn new_request_id() -> Uuid {
    static START: OnceLock<(u16, u64)> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (high, low) = *START.get_or_init(|| {
        let random = Uuid::now_v7().as_u128();
        ((random >> 64) as u16, random as u64)
    });
    let mut bits = [0u8; 10];
    bits[..2].copy_from_slice(&high.to_be_bytes());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    bits[2..].copy_from_slice(&low.wrapping_add(n).to_be_bytes());
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid()
}

/// Turns a framework-made error response (no problem body) into problem+json.
pub fn problem_for_bare_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let refused_origin = res
        .response()
        .error()
        .and_then(|e| e.as_error::<actix_cors::CorsError>())
        .is_some();
    let code = match status {
        _ if refused_origin => ErrorCode::OriginNotAllowed,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::DatabaseUnavailable,
        s if s.is_client_error() => ErrorCode::MalformedJson,
        _ => ErrorCode::InternalError,
    };
    let detail = match code {
        ErrorCode::MethodNotAllowed => format!(
            "{} is not allowed on {}",
            res.request().method(),
            res.request().path()
        ),
        ErrorCode::InternalError => "the error has been logged".to_owned(),
        ErrorCode::OriginNotAllowed => format!(
            "the origin {} may not call Roster from a browser (ROSTER_CORS_ORIGINS)",
            res.request()
                .headers()
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
        ),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let (req, _) = res.into_parts();
    let response: actix_web::HttpResponse<BoxBody> = ApiError::new(code, detail).error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_time_ordered_uuids() {
        let ids: Vec<Uuid> = (0..1000).map(|_| new_request_id()).collect();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(ids
            .iter()
            .all(|id| id.get_version() == Some(uuid::Version::SortRand)));
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (secs, _) = ids[0].get_timestamp().unwrap().to_unix();
        assert!(now.abs_diff(secs) <= 1, "stamped with the current time");
    }
}

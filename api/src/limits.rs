//! Limits on what a request may send, checked before anything reads it ([`admit`]):
//! - its target and headers, at most `ROSTER_MAX_HEADER_BYTES` (431 `headers_too_large`);
//! - its body's deadline (`ROSTER_REQUEST_BODY_TIMEOUT_SECS`). actix-http times only the head
//!   (`ROSTER_REQUEST_HEADER_TIMEOUT_SECS`), so a client that sends its headers and then its body a
//!   byte at a time, or never, would hold its connection and its handler for good. The body must
//!   arrive whole within the deadline of the head's arrival; past it, reading it fails and the
//!   request answers 408 `request_timeout`.
//!
//! Checked by the innermost middleware (`crate::idempotency::KeyedPosts`), whose response type
//! already carries Roster's own answers: there a refusal costs the other requests nothing, and
//! the outer layers (CORS, problem bodies, security headers, metrics, the log) see it as any.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    dev::{Payload, ServiceRequest},
    error::PayloadError,
    http::header,
    rt::time::{sleep, Sleep},
    web::Bytes,
    HttpMessage as _,
};
use futures_util::Stream;

use crate::{
    app::AppState,
    error::{ApiError, ErrorCode},
};

/// Refuses a request whose target and headers are too large; puts the deadline on its body.
pub fn admit(req: &mut ServiceRequest) -> Result<(), ApiError> {
    let Some(state) = req.app_data::<actix_web::web::Data<AppState>>() else {
        return Ok(());
    };
    let (max, within) = (state.max_header_bytes, state.request_body_timeout);
    if head_size(req) > max {
        return Err(ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!("the request line and headers may take at most {max} bytes"),
        ));
    }
    limit_body(req, within);
    Ok(())
}

/// The bytes of a request's target and headers, as sent (each header's `: ` and line end
/// included): what `ROSTER_MAX_HEADER_BYTES` limits. actix-http itself refuses a head over 128 KiB
/// or with more than 96 headers (431, plain), before Roster sees it.
fn head_size(req: &ServiceRequest) -> usize {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    req.headers().iter().fold(target, |sum, (name, value)| {
        sum + name.as_str().len() + value.len() + 4
    })
}

/// Puts the deadline on `req`'s body, if it has one.
fn limit_body(req: &mut ServiceRequest, within: Duration) {
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !has_body {
        return;
    }
    let inner = req.take_payload();
    let timed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Timed {
        inner,
        deadline: Box::pin(sleep(within)),
        within,
        expired: false,
    });
    req.set_payload(Payload::from(timed));
}

struct Timed {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    within: Duration,
    expired: bool,
}

impl Stream for Timed {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let why = format!(
                "the body did not arrive within {} seconds",
                self.within.as_secs()
            );
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                why,
            )))));
        }
        Poll::Pending
    }
}

/// The problem for a body that could not be read: 408 `request_timeout` past the deadline, else
/// 400 `malformed_json` (the connection broke, or its framing was wrong).
pub fn unreadable(e: &PayloadError) -> ApiError {
    match e {
        PayloadError::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
            ApiError::new(ErrorCode::RequestTimeout, io.to_string())
        }
        other => ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body could not be read: {other}"),
        ),
    }
}

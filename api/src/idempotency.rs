//! `Idempotency-Key` on every POST (SPEC §10; the rules are `domain::idempotency`'s): a POST sent
//! with a key takes it before its handler runs, and its response is kept for 24 hours; a retry
//! with the same key and request gets that response again, marked `Idempotent-Replayed: true`.
//!
//! The caller's scope is read here without I/O: the account of a valid access token, the SHA-256
//! of an API token (each token its own scope: looking up its account would cost every keyed
//! request a read), or, without credentials, the client's address. A request whose access token
//! does not verify is passed on untouched (its handler answers 401).

use std::rc::Rc;

use actix_web::{
    body::{to_bytes, BoxBody, EitherBody, MessageBody},
    dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform},
    http::{
        header::{self, HeaderName, HeaderValue},
        Method, StatusCode,
    },
    web, HttpMessage as _, HttpResponse, ResponseError,
};
use domain::{
    api_token::ApiTokenSecret,
    idempotency::{keeps, Begin, IdempotencyKey, KeptResponse, KeyedRequest, MAX_KEPT_BODY},
};
use futures_util::{
    future::{Either, LocalBoxFuture, MapOk},
    StreamExt as _, TryFutureExt as _,
};
use sha2::{Digest, Sha256};

use crate::{
    app::AppState,
    auth::bearer_credential,
    error::{ApiError, ErrorCode},
};

pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub(crate) const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The middleware: `App::wrap(KeyedPosts)`. It first applies `crate::limits::admit` (headers'
/// size, the body's deadline): the innermost layer's response type already carries Roster's own
/// answers, so a refusal there costs other requests nothing. A request without a key then passes
/// straight through, its future and body unboxed (every GET and most POSTs: the hot path,
/// `bench/ab --scenarios read`).
pub struct KeyedPosts;

impl<S, B> Transform<S, ServiceRequest> for KeyedPosts
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = KeyedPostsService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(KeyedPostsService {
            inner: Rc::new(service),
        }))
    }
}

pub struct KeyedPostsService<S> {
    inner: Rc<S>,
}

type Unkeyed<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B, BoxBody>>;

impl<S, B> Service<ServiceRequest> for KeyedPostsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = Either<
        MapOk<S::Future, Unkeyed<B>>,
        LocalBoxFuture<'static, Result<Self::Response, Self::Error>>,
    >;

    forward_ready!(inner);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        if let Err(refusal) = crate::limits::admit(&mut req) {
            let refused = req.into_response(refusal.error_response());
            return Either::Right(Box::pin(std::future::ready(Ok(
                refused.map_into_right_body()
            ))));
        }
        match req.headers().get(&IDEMPOTENCY_KEY) {
            Some(key) if req.method() == Method::POST => {
                let key = key.clone();
                Either::Right(Box::pin(keyed(req, key, Rc::clone(&self.inner))))
            }
            _ => Either::Left(
                self.inner
                    .call(req)
                    .map_ok(ServiceResponse::map_into_left_body as Unkeyed<B>),
            ),
        }
    }
}

/// A POST sent with a key.
async fn keyed<S, B>(
    req: ServiceRequest,
    raw_key: HeaderValue,
    service: Rc<S>,
) -> Result<ServiceResponse<EitherBody<B, BoxBody>>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let Some(key) = raw_key.to_str().ok().and_then(IdempotencyKey::parse) else {
        let e = ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        );
        return Ok(req.into_response(e.error_response()).map_into_right_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return service
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let Some(scope) = scope(&req, &state) else {
        return service
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let (req, body) = match read_body(req, &state).await {
        Ok(read) => read,
        Err(answered) => return Ok(answered.map_into_right_body()),
    };
    let request = KeyedRequest {
        scope,
        method: req.method().to_string(),
        path: req.path().to_owned(),
        key,
        fingerprint: fingerprint(&req, &body),
    };
    let begin = match state.services.begin_idempotent(request.clone()).await {
        Ok(begin) => begin,
        Err(e) => {
            let response = ApiError::from(e).error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    };
    match begin {
        Begin::Run => {}
        Begin::Replay(kept) => return Ok(req.into_response(replay(kept)).map_into_right_body()),
        Begin::Mismatch => {
            let e = ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with another request (method, path or body); use a new key",
            );
            return Ok(req.into_response(e.error_response()).map_into_right_body());
        }
        Begin::InProgress => {
            let e = ApiError::new(
                ErrorCode::RequestInProgress,
                "the first request with this Idempotency-Key is still running",
            )
            .retry_after(1);
            return Ok(req.into_response(e.error_response()).map_into_right_body());
        }
    }
    let res = service.call(req).await?;
    let (http_req, response) = res.into_parts();
    let status = response.status();
    let (head, body) = response.into_parts();
    // POST responses are whole JSON documents, none streamed.
    let bytes = to_bytes(body).await.map_err(Into::into)?;
    // One too large to keep is answered, and its key let go so that a retry runs again.
    let kept = (keeps(status.as_u16()) && bytes.len() <= MAX_KEPT_BODY).then(|| KeptResponse {
        status: status.as_u16(),
        content_type: header_text(head.headers(), &header::CONTENT_TYPE),
        location: header_text(head.headers(), &header::LOCATION),
        body: bytes.to_vec(),
    });
    if let Err(e) = state
        .services
        .finish_idempotent(request, kept, rand::random())
        .await
    {
        // The key stays taken until its lease ends (`domain::idempotency::LEASE_SECONDS`).
        tracing::warn!(error = %e, "keeping a response for idempotent retries failed");
    }
    Ok(ServiceResponse::new(
        http_req,
        head.set_body(EitherBody::right(BoxBody::new(bytes))),
    ))
}

/// Whose key it is (see the module's description); `None`: not one this middleware can tell.
fn scope(req: &ServiceRequest, state: &AppState) -> Option<String> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_credential);
    match bearer {
        // The hash the token is stored under; one that does not parse is passed on, and its
        // handler answers 401.
        Some(token) if ApiTokenSecret::looks_like(token) => {
            ApiTokenSecret::parse(token).map(|t| format!("api_token:{}", t.hash()))
        }
        Some(token) => state
            .tokens
            .verify(token)
            .map(|(account, _)| format!("account:{account}")),
        None => {
            let address = state
                .proxies
                .client_of(req.request())
                .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
            Some(format!("address:{address}"))
        }
    }
}

/// The body, read whole (up to the largest any route takes) and put back for the handler.
async fn read_body(
    mut req: ServiceRequest,
    state: &AppState,
) -> Result<(ServiceRequest, web::Bytes), ServiceResponse<BoxBody>> {
    let limit = state.import_max_bytes.max(state.max_body_bytes);
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                let e = crate::limits::unreadable(&e);
                return Err(req.into_response(e.error_response()));
            }
        };
        if body.len() + chunk.len() > limit {
            let e = ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {limit} bytes"),
            );
            return Err(req.into_response(e.error_response()));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    req.set_payload(Payload::from(body.clone()));
    Ok((req, body))
}

/// Hex SHA-256 of what makes the request this request: method, path, query, content type, body.
fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map_or(&b""[..], HeaderValue::as_bytes);
    let mut h = Sha256::new();
    for part in [
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        req.query_string().as_bytes(),
        content_type,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(body);
    format!("{:x}", h.finalize())
}

fn header_text(headers: &header::HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The first response again, marked as replayed.
fn replay(kept: KeptResponse) -> HttpResponse {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in [
        (header::CONTENT_TYPE, kept.content_type),
        (header::LOCATION, kept.location),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((REPLAYED, HeaderValue::from_static("true")));
    response.body(kept.body)
}

//! The email outbox (SPEC §5) for admins: `/api/v1/outbox` lists messages and their state;
//! a failed one can be queued again. No message holds a token: a link's is sealed when it is sent.

use actix_web::{get, post, web};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use domain::{
    outbox::{Message, MessageKind, MessageState},
    paging::{DEFAULT_LIMIT, MAX_LIMIT},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{Authorized, RequestOrigin, WriteSettings},
    error::{ApiError, ApiResult, ErrorCode},
};

/// One email, as the outbox holds it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e09", "account_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "kind": "activation", "recipient": "ada@example.org", "locale": "en", "state": "failed", "attempts": 10, "next_attempt_at": "2026-11-22T11:00:00Z", "last_error": "Connection error: Connection refused (os error 111)", "created_at": "2026-11-22T10:00:00Z", "finished_at": "2026-11-22T11:00:00Z"}))]
pub struct MessageResponse {
    pub id: Uuid,
    /// The account it is about.
    pub account_id: Uuid,
    /// `activation`, `invitation`, `reset_link`, `password_changed`, `password_reset`,
    /// `email_changed`, `mfa_removed` or `mfa_one_time_password_used`.
    #[schema(value_type = String)]
    pub kind: MessageKind,
    pub recipient: String,
    /// The language it is written in, where a translation exists (else English).
    pub locale: String,
    /// `pending` (due at `next_attempt_at`), `sending`, `sent`, `logged` (no SMTP server
    /// configured), `failed` (every attempt failed; retry it), `cancelled` (its link was
    /// withdrawn, used or expired before it went out).
    #[schema(value_type = String)]
    pub state: MessageState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed, or why it was cancelled.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Message> for MessageResponse {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            account_id: m.account_id,
            kind: m.kind,
            recipient: m.recipient,
            locale: m.locale,
            state: m.state,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
            created_at: m.created_at,
            finished_at: m.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// Newest first.
    pub items: Vec<MessageResponse>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only messages in this state: `pending`, `sending`, `sent`, `logged`, `failed`,
    /// `cancelled`.
    pub state: Option<String>,
}

/// List outbox messages
///
/// **Permission:** `settings:write` (admins). Every email Roster sends, newest first, with its
/// state; finished messages are kept for 30 days. No message shows a token: links are sealed
/// when the message is sent.
#[utoipa::path(
    tag = "outbox", operation_id = "list_outbox", params(OutboxParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of messages.", body = MessagePage),
        (status = 400, description = "`invalid_query`, `invalid_cursor`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `settings:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/outbox")]
pub async fn list_outbox(
    state: web::Data<AppState>,
    auth: Authorized<WriteSettings>,
    params: web::Query<OutboxParams>,
) -> ApiResult<web::Json<MessagePage>> {
    let params = params.into_inner();
    let bad = |detail: &str| ApiError::new(ErrorCode::InvalidQuery, detail.to_owned());
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad("limit must be between 1 and 200"));
    }
    let wanted = match params.state.as_deref() {
        None => None,
        Some(s) => Some(MessageState::parse(s).ok_or_else(|| {
            bad("state must be pending, sending, sent, logged, failed or cancelled")
        })?),
    };
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut messages = state
        .services
        .list_messages(auth.credential(), wanted, after, limit)
        .await?;
    let more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            messages
                .last()
                .map(|m| URL_SAFE_NO_PAD.encode(m.id.as_bytes()))
        })
        .flatten();
    Ok(web::Json(MessagePage {
        items: messages.into_iter().map(MessageResponse::from).collect(),
        next_cursor,
    }))
}

fn decode_cursor(cursor: &str) -> ApiResult<Uuid> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidCursor,
                "use the next_cursor of a previous page",
            )
        })
}

/// Retry a failed message
///
/// **Permission:** `settings:write` (admins). Queues a `failed` message again, due now, with its
/// attempts counted from zero; a link in it is sealed afresh when it is sent (and the message is
/// `cancelled` instead if the link was withdrawn, used or expired meanwhile).
#[utoipa::path(
    tag = "outbox", operation_id = "retry_outbox_message", params(("id" = Uuid, Path, description = "Message id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The message, pending again.", body = MessageResponse),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `settings:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`message_not_found`."),
        (status = 409, description = "`message_not_failed`."),
    )
)]
#[post("/outbox/{id}/retry")]
pub async fn retry_outbox_message(
    state: web::Data<AppState>,
    auth: Authorized<WriteSettings>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<MessageResponse>> {
    let message = state
        .services
        .retry_message(auth.credential(), id.into_inner(), origin.0)
        .await?;
    Ok(web::Json(message.into()))
}

//! Self-service under `/api/v1/me` (SPEC §1, §4), and the sessions of any account under
//! `/api/v1/users/{id}/sessions`.

use actix_web::{delete, get, http::StatusCode, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::session::Session;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::{account_response, if_match, UpdateUserRequest, UserResponse};
use crate::{
    app::AppState,
    auth::{Authenticated, RequestOrigin},
    error::ApiResult,
    timestamp,
};

/// Read one's own account
///
/// **Permission:** any authenticated caller, guests included.
#[utoipa::path(
    tag = "me", operation_id = "get_me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account.", body = UserResponse, headers(("ETag" = String, description = "The version, quoted."))),
        (status = 401, description = "`unauthenticated`."),
    )
)]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, auth: Authenticated) -> ApiResult<HttpResponse> {
    let account = state.services.own_account(auth.credential()).await?;
    Ok(account_response(StatusCode::OK, &account))
}

/// Change one's own account
///
/// **Permission:** any authenticated caller but a guest. The holder manages `first_name`,
/// `last_name`, `locale` and `email_notifications`. Any other field that would change is refused
/// with the rule it breaks: `own_email`, `own_username`, `own_roles`, `own_active`, or
/// `admin_managed_field` (naming the field); sending a field's current value is no change. Send
/// `If-Match` with the `ETag` you read.
#[utoipa::path(
    tag = "me", operation_id = "update_me", request_body = UpdateUserRequest, security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header, nullable = false, description = "The ETag last read, e.g. \"3\"")),
    responses(
        (status = 200, description = "The changed account.", body = UserResponse, headers(("ETag" = String, description = "The new version."))),
        (status = 400, description = "`malformed_json`, `invalid_if_match`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`own_email`, `own_username`, `own_roles`, `own_active`, `admin_managed_field`, `guest_read_only`."),
        (status = 412, description = "`precondition_failed`: the account changed since it was read."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[patch("/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    req: HttpRequest,
    body: web::Json<UpdateUserRequest>,
) -> ApiResult<HttpResponse> {
    let expected = if_match(&req)?;
    let account = state
        .services
        .update_own_account(
            auth.credential(),
            body.into_inner().into(),
            expected,
            origin.0,
        )
        .await?;
    Ok(account_response(StatusCode::OK, &account))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "violet tractor hums at noon"}))]
pub struct ChangePasswordRequest {
    /// Required when the account has a password. A wrong one counts toward lockout.
    #[serde(default)]
    pub current_password: String,
    /// Meets the password policy and differs from the current one.
    pub new_password: String,
}

/// Change one's own password
///
/// **Permission:** any authenticated caller, guests included. Needs the current password (a wrong
/// one counts toward the account's lockout like a failed sign-in). Every other session of the
/// account ends; the caller's own goes on.
#[utoipa::path(
    tag = "me", operation_id = "change_my_password", request_body = ChangePasswordRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; the account's other sessions ended."),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `current_password` is wrong (`wrong_password`), or the new one breaks the policy (`password_too_short`, `password_too_weak`, `password_is_identifier`, `password_unchanged`)."),
        (status = 429, description = "`too_many_requests`: too many password checks are waiting; retry after `Retry-After` seconds."),
    )
)]
#[post("/me/password")]
pub async fn change_my_password(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    body: web::Json<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    state
        .services
        .change_own_password(auth.credential(), current_password, new_password, origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A signed-in session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "created_at": "2026-11-28T08:00:00Z",
    "last_used_at": "2026-11-28T09:12:00Z", "expires_at": "2026-11-28T20:00:00Z",
    "idle_expires_at": "2026-11-28T09:42:00Z", "address": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "current": true
}))]
pub struct SessionResponse {
    pub id: Uuid,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    #[serde(serialize_with = "timestamp::serialize")]
    pub last_used_at: DateTime<Utc>,
    /// The absolute end.
    #[serde(serialize_with = "timestamp::serialize")]
    pub expires_at: DateTime<Utc>,
    /// Ends here unless used before.
    #[serde(serialize_with = "timestamp::serialize")]
    pub idle_expires_at: DateTime<Utc>,
    /// The client address at sign-in.
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// The session of the access token that asked.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Newest first.
    pub items: Vec<SessionResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"ended": 2}))]
pub struct SessionsEnded {
    /// How many sessions ended.
    pub ended: u64,
}

fn session_list(sessions: Vec<Session>, current: Option<Uuid>) -> SessionList {
    SessionList {
        items: sessions
            .into_iter()
            .map(|s| SessionResponse {
                current: Some(s.id) == current,
                id: s.id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                idle_expires_at: s.idle_expires_at,
                address: s.address,
                user_agent: s.user_agent,
            })
            .collect(),
    }
}

/// List one's own sessions
///
/// **Permission:** any authenticated caller.
#[utoipa::path(
    tag = "me", operation_id = "list_my_sessions", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's live sessions, newest first.", body = SessionList),
        (status = 401, description = "`unauthenticated`."),
    )
)]
#[get("/me/sessions")]
pub async fn list_my_sessions(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> ApiResult<web::Json<SessionList>> {
    let (sessions, current) = state.services.sessions(auth.credential(), None).await?;
    Ok(web::Json(session_list(sessions, current)))
}

/// End one's other sessions
///
/// **Permission:** any authenticated caller. Ends every session of the caller but the current one
/// ("sign out everywhere else"); with an API token, every session.
#[utoipa::path(
    tag = "me", operation_id = "revoke_my_sessions", security(("bearer" = [])),
    responses(
        (status = 200, description = "How many sessions ended.", body = SessionsEnded),
        (status = 401, description = "`unauthenticated`."),
    )
)]
#[delete("/me/sessions")]
pub async fn revoke_my_sessions(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
) -> ApiResult<web::Json<SessionsEnded>> {
    let ended = state
        .services
        .revoke_sessions(auth.credential(), None, None, origin.0)
        .await?;
    Ok(web::Json(SessionsEnded { ended }))
}

/// End one of one's sessions
///
/// **Permission:** any authenticated caller. Its access token fails at its next request; ending
/// the current session signs out.
#[utoipa::path(
    tag = "me", operation_id = "revoke_my_session", params(("id" = Uuid, Path, description = "Session id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended."),
        (status = 401, description = "`unauthenticated`."),
        (status = 404, description = "`session_not_found`."),
    )
)]
#[delete("/me/sessions/{id}")]
pub async fn revoke_my_session(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .services
        .revoke_sessions(auth.credential(), None, Some(id.into_inner()), origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List an account's sessions
///
/// **Permission:** `users:read` (or the account's own holder).
#[utoipa::path(
    tag = "users", operation_id = "list_user_sessions", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The account's live sessions, newest first.", body = SessionList),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
    )
)]
#[get("/users/{id}/sessions")]
pub async fn list_user_sessions(
    state: web::Data<AppState>,
    auth: Authenticated,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SessionList>> {
    let (sessions, current) = state
        .services
        .sessions(auth.credential(), Some(id.into_inner()))
        .await?;
    Ok(web::Json(session_list(sessions, current)))
}

/// End an account's sessions
///
/// **Permission:** `users:write` (or the account's own holder, whose current session stays). Every
/// session's access token fails at its next request; API tokens are not affected.
#[utoipa::path(
    tag = "users", operation_id = "revoke_user_sessions", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "How many sessions ended.", body = SessionsEnded),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
    )
)]
#[delete("/users/{id}/sessions")]
pub async fn revoke_user_sessions(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SessionsEnded>> {
    let ended = state
        .services
        .revoke_sessions(auth.credential(), Some(id.into_inner()), None, origin.0)
        .await?;
    Ok(web::Json(SessionsEnded { ended }))
}

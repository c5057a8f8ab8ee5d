//! `/api/v1/auth/login` (SPEC §4).

use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{app::AppState, auth::RequestOrigin, error::ApiResult};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"login": "admin", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    /// Username or email address, case-insensitive.
    pub login: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiJ9…", "token_type": "Bearer", "expires_in": 900}))]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Sign in
///
/// **Permission:** none. `login` is a username or an email, compared as Roster folds them (case,
/// compatibility forms). Every failure (unknown login, wrong password, an account that may not sign
/// in) answers the same 401 `invalid_credentials`; the true reason goes to the audit trail. The
/// access token is valid for `expires_in` seconds; send it as `Authorization: Bearer <token>`.
#[utoipa::path(
    tag = "auth", operation_id = "login", request_body = LoginRequest, security(()),
    responses(
        (status = 200, description = "Signed in.", body = TokenResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`invalid_credentials`: unknown login, wrong password, or an account that may not sign in."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
        (status = 429, description = "`too_many_requests`: too many sign-ins are waiting for their password check; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<LoginRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    let LoginRequest { login, password } = body.into_inner();
    let signed_in = state.services.login(login, password, origin.0).await?;
    let access_token = state.tokens.issue(signed_in.account.id)?;
    Ok(web::Json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl().as_secs(),
    }))
}

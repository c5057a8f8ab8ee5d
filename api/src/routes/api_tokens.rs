//! API tokens (SPEC §4): `/api/v1/me/api-tokens` for one's own, `/api/v1/users/{id}/api-tokens`
//! for anyone's (needs `api_tokens:manage`, or being that user).

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use domain::{
    api_token::{ApiToken, ApiTokenSecret},
    audit::Origin,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{Authenticated, RequestOrigin},
    error::ApiResult,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "nightly sync", "expires_at": "2027-06-30T00:00:00Z"}))]
pub struct CreateApiTokenRequest {
    /// 1–100 characters, to tell tokens apart.
    pub name: String,
    /// Optional; in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed. The secret is never shown again after creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenResponse {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the secret, e.g. `rst_Ab3x`, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&ApiToken> for ApiTokenResponse {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            prefix: t.display_prefix.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A new token, with its secret: shown this once, store it now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e09", "name": "nightly sync", "prefix": "rst_Ab3x", "token": "rst_Ab3x…", "created_at": "2026-11-22T10:00:00Z", "expires_at": null, "last_used_at": null}))]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub token: ApiTokenResponse,
    /// The secret: send as `Authorization: Bearer <token>`.
    #[serde(rename = "token")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenList {
    pub items: Vec<ApiTokenResponse>,
}

/// Whose tokens: `None` for the caller's own (`/me`), else the named account's.
type Owner = Option<Uuid>;

async fn create(
    state: web::Data<AppState>,
    auth: Authenticated,
    owner: Owner,
    body: CreateApiTokenRequest,
    origin: Origin,
) -> ApiResult<HttpResponse> {
    let secret = ApiTokenSecret::from_random(rand::random());
    let shown = secret.expose().to_owned();
    let token = state
        .services
        .create_api_token(
            auth.credential(),
            owner,
            body.name,
            body.expires_at,
            secret,
            origin,
        )
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiToken {
        token: ApiTokenResponse::from(&token),
        secret: shown,
    }))
}

async fn list(
    state: web::Data<AppState>,
    auth: Authenticated,
    owner: Owner,
) -> ApiResult<web::Json<ApiTokenList>> {
    let tokens = state
        .services
        .list_api_tokens(auth.credential(), owner)
        .await?;
    Ok(web::Json(ApiTokenList {
        items: tokens.iter().map(ApiTokenResponse::from).collect(),
    }))
}

async fn revoke(
    state: web::Data<AppState>,
    auth: Authenticated,
    owner: Owner,
    id: Uuid,
    origin: Origin,
) -> ApiResult<HttpResponse> {
    state
        .services
        .revoke_api_token(auth.credential(), owner, id, origin)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List your API tokens
///
/// **Permission:** any authenticated caller, for their own tokens. Secrets are never shown again:
/// each token is listed with its `prefix`, to recognise it.
#[utoipa::path(tag = "api-tokens", operation_id = "list_my_api_tokens", security(("bearer" = [])), responses((status = 200, description = "Your tokens.", body = ApiTokenList)))]
#[get("/me/api-tokens")]
pub async fn list_my_api_tokens(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> ApiResult<web::Json<ApiTokenList>> {
    list(state, auth, None).await
}

/// Create an API token for yourself
///
/// **Permission:** any authenticated caller but a guest, for themselves. The response shows the
/// secret (`token`) this once: store it now. The token acts with your current roles.
#[utoipa::path(
    tag = "api-tokens", operation_id = "create_my_api_token", request_body = CreateApiTokenRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `token` is the secret.", body = CreatedApiToken),
        (status = 400, description = "`malformed_json`."),
        (status = 403, description = "`guest_read_only`: guests make no API tokens."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[post("/me/api-tokens")]
pub async fn create_my_api_token(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    body: web::Json<CreateApiTokenRequest>,
) -> ApiResult<HttpResponse> {
    create(state, auth, None, body.into_inner(), origin.0).await
}

/// Revoke one of your API tokens
///
/// **Permission:** any authenticated caller, for their own tokens. The token stops working at once.
#[utoipa::path(
    tag = "api-tokens", operation_id = "revoke_my_api_token", params(("token_id" = Uuid, Path, description = "Token id")), security(("bearer" = [])),
    responses((status = 204, description = "Revoked."), (status = 404, description = "`api_token_not_found`."))
)]
#[delete("/me/api-tokens/{token_id}")]
pub async fn revoke_my_api_token(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    revoke(state, auth, None, path.into_inner(), origin.0).await
}

/// List a user's API tokens
///
/// **Permission:** `api_tokens:manage`, or being that user.
#[utoipa::path(
    tag = "api-tokens", operation_id = "list_user_api_tokens", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses((status = 200, description = "The user's tokens.", body = ApiTokenList), (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."), (status = 404, description = "`user_not_found`."))
)]
#[get("/users/{id}/api-tokens")]
pub async fn list_user_api_tokens(
    state: web::Data<AppState>,
    auth: Authenticated,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<ApiTokenList>> {
    list(state, auth, Some(path.into_inner())).await
}

/// Create an API token for a user
///
/// **Permission:** `api_tokens:manage`, or being that user. The response shows the secret
/// (`token`) this once. The token acts with its owner's current roles.
#[utoipa::path(
    tag = "api-tokens", operation_id = "create_user_api_token", request_body = CreateApiTokenRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 201, description = "Created; `token` is the secret.", body = CreatedApiToken),
        (status = 400, description = "`malformed_json`."),
        (status = 403, description = "`forbidden`, `guest_read_only` (guests make no API tokens). `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[post("/users/{id}/api-tokens")]
pub async fn create_user_api_token(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    path: web::Path<Uuid>,
    body: web::Json<CreateApiTokenRequest>,
) -> ApiResult<HttpResponse> {
    create(
        state,
        auth,
        Some(path.into_inner()),
        body.into_inner(),
        origin.0,
    )
    .await
}

/// Revoke a user's API token
///
/// **Permission:** `api_tokens:manage`, or being that user. The token stops working at once.
#[utoipa::path(
    tag = "api-tokens", operation_id = "revoke_user_api_token", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id"), ("token_id" = Uuid, Path, description = "Token id")),
    responses((status = 204, description = "Revoked."), (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."), (status = 404, description = "`user_not_found`, `api_token_not_found`."))
)]
#[delete("/users/{id}/api-tokens/{token_id}")]
pub async fn revoke_user_api_token(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (owner, id) = path.into_inner();
    revoke(state, auth, Some(owner), id, origin.0).await
}

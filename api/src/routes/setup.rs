//! `/api/v1/setup`: the first admin (SPEC §1).

use actix_web::{get, http::StatusCode, post, web, HttpResponse};
use domain::services::SetupInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::{account_response, UserResponse};
use crate::{app::AppState, auth::RequestOrigin, error::ApiResult};

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupStatus {
    /// True until the first account exists.
    pub needs_setup: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "admin", "email": "admin@example.org", "first_name": "Ada", "last_name": "Admin", "password": "correct horse battery staple"}))]
pub struct SetupRequest {
    /// Defaults to the email address.
    pub username: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// At least 15 characters by default; no composition rules.
    pub password: String,
    pub locale: Option<String>,
}

/// Read the setup state
///
/// **Permission:** none. `needs_setup` is true until the first account exists.
#[utoipa::path(tag = "setup", operation_id = "get_setup", security(()), responses((status = 200, description = "Setup state.", body = SetupStatus)))]
#[get("/setup")]
pub async fn get_setup(state: web::Data<AppState>) -> ApiResult<web::Json<SetupStatus>> {
    let needs_setup = state.services.needs_setup().await?;
    Ok(web::Json(SetupStatus { needs_setup }))
}

/// Create the first admin
///
/// **Permission:** none, while no account exists. Makes the first account, an admin and the
/// organisation's primary contact; of concurrent calls exactly one succeeds, the others answer 409.
#[utoipa::path(
    tag = "setup", operation_id = "run_setup", request_body = SetupRequest, security(()),
    responses(
        (status = 201, description = "The first admin.", body = UserResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 409, description = "`setup_already_done`."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
        (status = 429, description = "`too_many_requests`: too many password hashes are waiting; retry after `Retry-After` seconds."),
    )
)]
#[post("/setup")]
pub async fn run_setup(
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<SetupRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let input = SetupInput {
        username: b.username,
        email: b.email,
        first_name: b.first_name,
        last_name: b.last_name,
        password: b.password,
        locale: b.locale,
    };
    let account = state.services.setup(input, origin.0).await?;
    Ok(account_response(StatusCode::CREATED, &account))
}

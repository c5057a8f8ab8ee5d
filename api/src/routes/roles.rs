//! `/api/v1/roles`: the catalog (SPEC §3).

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{app::AppState, auth::Authenticated, error::ApiResult};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "user", "description": "Signs in and manages their own account only.", "permissions": [], "seats": null, "builtin": true, "exclusive": false}))]
pub struct RoleResponse {
    pub name: String,
    pub description: String,
    /// Of `users:read`, `users:write`, `api_tokens:manage`, `settings:read`, `settings:write`, `audit:read`, `applications:write`, `metrics:read`.
    pub permissions: Vec<String>,
    /// How many active accounts may hold it at once; `null` is unlimited.
    pub seats: Option<u32>,
    pub builtin: bool,
    /// Cannot be combined with other roles.
    pub exclusive: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<RoleResponse>,
}

/// List the role catalog
///
/// **Permission:** any authenticated caller. Built-in roles first, then roles from configuration.
#[utoipa::path(tag = "roles", operation_id = "list_roles", security(("bearer" = [])), responses((status = 200, description = "The catalog.", body = RoleList)))]
#[get("/roles")]
pub async fn list_roles(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> ApiResult<web::Json<RoleList>> {
    let roles = state.services.roles(auth.credential()).await?;
    let items = roles
        .into_iter()
        .map(|r| RoleResponse {
            permissions: r.permissions.iter().map(|p| p.name().to_owned()).collect(),
            name: r.name,
            description: r.description,
            seats: r.seats,
            builtin: r.builtin,
            exclusive: r.exclusive,
        })
        .collect();
    Ok(web::Json(RoleList { items }))
}

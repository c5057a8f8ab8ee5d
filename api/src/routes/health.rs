//! `/healthz` (alive) and `/readyz` (database reachable).

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{app::AppState, error::ApiResult};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "health", operation_id = "healthz", security(()), responses((status = 200, description = "Alive.", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(
    tag = "health", operation_id = "readyz", security(()),
    responses((status = 200, description = "Ready.", body = Health), (status = 503, description = "`database_unavailable`."))
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<web::Json<Health>> {
    state.services.ping().await?;
    Ok(web::Json(Health { status: "ready" }))
}

//! `/` (where to start), `/healthz` (alive) and `/readyz` (database reachable).

use actix_web::{get, http::header, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{app::AppState, error::ApiResult};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Where to start: the documentation and the contract.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "Roster", "version": "0.1.0", "docs": "/docs/", "openapi": "/api/v1/openapi.json"}))]
pub struct Root {
    pub name: &'static str,
    pub version: &'static str,
    /// Swagger UI.
    pub docs: &'static str,
    /// The OpenAPI document this server serves.
    pub openapi: &'static str,
}

/// Where to start
///
/// **Permission:** none. Points at Swagger UI (`docs`, also in the `Link` header as
/// `service-doc`, RFC 8631) and at the OpenAPI document.
#[utoipa::path(tag = "health", operation_id = "get_root", security(()), responses((status = 200, description = "Links to the documentation and the contract.", body = Root)))]
#[get("/")]
pub async fn root() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::LINK,
            "</docs/>; rel=\"service-doc\", </api/v1/openapi.json>; rel=\"service-desc\"",
        ))
        .json(Root {
            name: "Roster",
            version: env!("CARGO_PKG_VERSION"),
            docs: "/docs/",
            openapi: "/api/v1/openapi.json",
        })
}

/// Liveness
///
/// **Permission:** none. 200 while the process runs.
#[utoipa::path(tag = "health", operation_id = "healthz", security(()), responses((status = 200, description = "Alive.", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness
///
/// **Permission:** none. 200 when the database answers and has been migrated; 503 otherwise (also
/// while Roster started before its database and waits for it).
#[utoipa::path(
    tag = "health", operation_id = "readyz", security(()),
    responses((status = 200, description = "Ready.", body = Health), (status = 503, description = "`database_unavailable`."))
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<web::Json<Health>> {
    state.services.ping().await?;
    Ok(web::Json(Health { status: "ready" }))
}

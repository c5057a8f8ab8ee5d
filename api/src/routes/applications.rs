//! `/api/v1/applications` and their instances (SPEC §8): what accounts are assigned to. Read with
//! `users:read`; created, renamed and deleted with `applications:write`.

use actix_web::{delete, get, http::StatusCode, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use domain::assignments::{Application, Instance};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{Authorized, ReadUsers, RequestOrigin, WriteApplications},
    error::ApiResult,
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e20", "name": "Scheduling", "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"}))]
pub struct ApplicationResponse {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Application> for ApplicationResponse {
    fn from(a: Application) -> Self {
        Self {
            id: a.id,
            name: a.name,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e21", "application_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e20", "name": "Production", "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"}))]
pub struct InstanceResponse {
    pub id: Uuid,
    pub application_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Instance> for InstanceResponse {
    fn from(i: Instance) -> Self {
        Self {
            id: i.id,
            application_id: i.application_id,
            name: i.name,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationList {
    /// Every application, by name.
    pub items: Vec<ApplicationResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceList {
    /// Every instance of the application, by name.
    pub items: Vec<InstanceResponse>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Delete even while accounts are assigned, deleting their assignments too.
    pub force: Option<bool>,
}

/// A name for an application or an instance.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Production"}))]
pub struct NameRequest {
    /// 1–100 characters, trimmed. Unique among applications, or among the instances of one
    /// application, whatever its case (`Production` and `PRODUCTION` are one name).
    pub name: String,
}

/// List applications
///
/// **Permission:** `users:read`. Every application, by name (an organisation has a few).
#[utoipa::path(
    tag = "applications", operation_id = "list_applications", security(("bearer" = [])),
    responses(
        (status = 200, description = "The applications.", body = ApplicationList),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/applications")]
pub async fn list_applications(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
) -> ApiResult<web::Json<ApplicationList>> {
    let items = state.services.list_applications(auth.credential()).await?;
    Ok(web::Json(ApplicationList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Create an application
///
/// **Permission:** `applications:write`.
#[utoipa::path(
    tag = "applications", operation_id = "create_application", request_body = NameRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The application.", body = ApplicationResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `applications:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 409, description = "`name_taken`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `name` empty, too long, or with control characters."),
    )
)]
#[post("/applications")]
pub async fn create_application(
    state: web::Data<AppState>,
    auth: Authorized<WriteApplications>,
    origin: RequestOrigin,
    body: web::Json<NameRequest>,
) -> ApiResult<HttpResponse> {
    let application = state
        .services
        .create_application(auth.credential(), body.into_inner().name, origin.0)
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(ApplicationResponse::from(application)))
}

/// Read an application
///
/// **Permission:** `users:read`.
#[utoipa::path(
    tag = "applications", operation_id = "get_application", params(("id" = Uuid, Path, description = "Application id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The application.", body = ApplicationResponse),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`application_not_found`."),
    )
)]
#[get("/applications/{id}")]
pub async fn get_application(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ApplicationResponse>> {
    let application = state
        .services
        .application(auth.credential(), id.into_inner())
        .await?;
    Ok(web::Json(application.into()))
}

/// Rename an application
///
/// **Permission:** `applications:write`.
#[utoipa::path(
    tag = "applications", operation_id = "rename_application", request_body = NameRequest, params(("id" = Uuid, Path, description = "Application id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The renamed application.", body = ApplicationResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `applications:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`application_not_found`."),
        (status = 409, description = "`name_taken`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[patch("/applications/{id}")]
pub async fn rename_application(
    state: web::Data<AppState>,
    auth: Authorized<WriteApplications>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
    body: web::Json<NameRequest>,
) -> ApiResult<web::Json<ApplicationResponse>> {
    let application = state
        .services
        .rename_application(
            auth.credential(),
            id.into_inner(),
            body.into_inner().name,
            origin.0,
        )
        .await?;
    Ok(web::Json(application.into()))
}

/// Delete an application
///
/// **Permission:** `applications:write`. Deletes its instances with it. Refused while accounts
/// are assigned to it (or hold its "access to all") unless `force=true`, which deletes those
/// assignments too.
#[utoipa::path(
    tag = "applications", operation_id = "delete_application", params(("id" = Uuid, Path, description = "Application id"), DeleteParams), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted, with its instances."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `applications:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 400, description = "`invalid_query`."),
        (status = 404, description = "`application_not_found`."),
        (status = 409, description = "`assignments_exist`: accounts are assigned to it; repeat with `force=true` to delete their assignments too."),
    )
)]
#[delete("/applications/{id}")]
pub async fn delete_application(
    state: web::Data<AppState>,
    auth: Authorized<WriteApplications>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
    params: web::Query<DeleteParams>,
) -> ApiResult<HttpResponse> {
    let force = params.force.unwrap_or(false);
    state
        .services
        .delete_application(auth.credential(), id.into_inner(), force, origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List an application's instances
///
/// **Permission:** `users:read`. Every instance of the application, by name.
#[utoipa::path(
    tag = "applications", operation_id = "list_instances", params(("id" = Uuid, Path, description = "Application id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The instances.", body = InstanceList),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`application_not_found`."),
    )
)]
#[get("/applications/{id}/instances")]
pub async fn list_instances(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<InstanceList>> {
    let items = state
        .services
        .list_instances(auth.credential(), id.into_inner())
        .await?;
    Ok(web::Json(InstanceList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Create an instance
///
/// **Permission:** `applications:write`.
#[utoipa::path(
    tag = "applications", operation_id = "create_instance", request_body = NameRequest, params(("id" = Uuid, Path, description = "Application id")), security(("bearer" = [])),
    responses(
        (status = 201, description = "The instance.", body = InstanceResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `applications:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`application_not_found`."),
        (status = 409, description = "`name_taken`: the application has an instance of this name."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[post("/applications/{id}/instances")]
pub async fn create_instance(
    state: web::Data<AppState>,
    auth: Authorized<WriteApplications>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
    body: web::Json<NameRequest>,
) -> ApiResult<HttpResponse> {
    let instance = state
        .services
        .create_instance(
            auth.credential(),
            id.into_inner(),
            body.into_inner().name,
            origin.0,
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(InstanceResponse::from(instance)))
}

/// Read an instance
///
/// **Permission:** `users:read`.
#[utoipa::path(
    tag = "applications", operation_id = "get_instance", params(("id" = Uuid, Path, description = "Application id"), ("instance_id" = Uuid, Path, description = "Instance id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The instance.", body = InstanceResponse),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`application_not_found`, `instance_not_found`."),
    )
)]
#[get("/applications/{id}/instances/{instance_id}")]
pub async fn get_instance(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<InstanceResponse>> {
    let (application, instance) = path.into_inner();
    let instance = state
        .services
        .instance(auth.credential(), application, instance)
        .await?;
    Ok(web::Json(instance.into()))
}

/// Rename an instance
///
/// **Permission:** `applications:write`.
#[utoipa::path(
    tag = "applications", operation_id = "rename_instance", request_body = NameRequest, params(("id" = Uuid, Path, description = "Application id"), ("instance_id" = Uuid, Path, description = "Instance id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The renamed instance.", body = InstanceResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `applications:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`application_not_found`, `instance_not_found`."),
        (status = 409, description = "`name_taken`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[patch("/applications/{id}/instances/{instance_id}")]
pub async fn rename_instance(
    state: web::Data<AppState>,
    auth: Authorized<WriteApplications>,
    origin: RequestOrigin,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<NameRequest>,
) -> ApiResult<web::Json<InstanceResponse>> {
    let (application, instance) = path.into_inner();
    let instance = state
        .services
        .rename_instance(
            auth.credential(),
            application,
            instance,
            body.into_inner().name,
            origin.0,
        )
        .await?;
    Ok(web::Json(instance.into()))
}

/// Delete an instance
///
/// **Permission:** `applications:write`. Refused while accounts are assigned to it unless
/// `force=true`, which deletes their assignments too.
#[utoipa::path(
    tag = "applications", operation_id = "delete_instance", params(("id" = Uuid, Path, description = "Application id"), ("instance_id" = Uuid, Path, description = "Instance id"), DeleteParams), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `applications:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 400, description = "`invalid_query`."),
        (status = 404, description = "`application_not_found`, `instance_not_found`."),
        (status = 409, description = "`assignments_exist`: accounts are assigned to it; repeat with `force=true` to delete their assignments too."),
    )
)]
#[delete("/applications/{id}/instances/{instance_id}")]
pub async fn delete_instance(
    state: web::Data<AppState>,
    auth: Authorized<WriteApplications>,
    origin: RequestOrigin,
    path: web::Path<(Uuid, Uuid)>,
    params: web::Query<DeleteParams>,
) -> ApiResult<HttpResponse> {
    let (application, instance) = path.into_inner();
    let force = params.force.unwrap_or(false);
    state
        .services
        .delete_instance(auth.credential(), application, instance, force, origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

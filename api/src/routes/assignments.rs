//! Assignments of accounts to applications' instances (SPEC §8): `POST /api/v1/assignments/{assign,
//! unassign,enable,disable}` for many accounts at once, one application at a time, all or
//! nothing; an account's assignments under `/api/v1/users/{id}/assignments`.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use domain::services::{AccountAssignments, AssignmentChange, AssignmentRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{Authenticated, Authorized, RequestOrigin, WriteUsers},
    error::ApiResult,
};

/// Which assignments to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_ids": ["0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01"], "application_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e20", "instance_ids": ["0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e21"]}))]
pub struct AssignmentsRequest {
    /// 1–1000 accounts (a repeated id counts once).
    pub user_ids: Vec<Uuid>,
    pub application_id: Uuid,
    /// Up to 200 of the application's instances.
    #[serde(default)]
    pub instance_ids: Vec<Uuid>,
    /// Also the "access to all" grant: every instance of the application, present and future.
    #[serde(default)]
    pub all_instances: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"changed": 2}))]
pub struct AssignmentsChanged {
    /// Assignments (and grants) made, deleted, enabled or disabled; those already so are not
    /// counted.
    pub changed: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentResponse {
    pub application_id: Uuid,
    pub application: String,
    pub instance_id: Uuid,
    pub instance: String,
    /// False while suspended (until enabled again).
    pub enabled: bool,
    /// `admin` or `member`.
    pub instance_role: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllInstancesResponse {
    pub application_id: Uuid,
    pub application: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"application_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e20", "application": "Scheduling", "instance_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e21", "instance": "Production", "enabled": true, "instance_role": "admin", "created_at": "2026-11-22T10:00:00Z"}], "all_instances": []}))]
pub struct AccountAssignmentsResponse {
    /// By application, then instance name.
    pub items: Vec<AssignmentResponse>,
    /// "Access to all" grants: each covers every instance of its application, present and
    /// future.
    pub all_instances: Vec<AllInstancesResponse>,
}

impl From<AccountAssignments> for AccountAssignmentsResponse {
    fn from(a: AccountAssignments) -> Self {
        Self {
            items: a
                .instances
                .into_iter()
                .map(|(a, application, instance)| AssignmentResponse {
                    application_id: a.application_id,
                    application,
                    instance_id: a.instance_id,
                    instance,
                    enabled: a.enabled,
                    instance_role: a.role.as_str().to_owned(),
                    created_at: a.created_at,
                })
                .collect(),
            all_instances: a
                .all_instances
                .into_iter()
                .map(|(g, application)| AllInstancesResponse {
                    application_id: g.application_id,
                    application,
                    enabled: g.enabled,
                    created_at: g.created_at,
                })
                .collect(),
        }
    }
}

async fn change(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    body: web::Json<AssignmentsRequest>,
    change: AssignmentChange,
) -> ApiResult<web::Json<AssignmentsChanged>> {
    let b = body.into_inner();
    let request = AssignmentRequest {
        user_ids: b.user_ids,
        application_id: b.application_id,
        instance_ids: b.instance_ids,
        all_instances: b.all_instances,
    };
    let changed = state
        .services
        .change_assignments(auth.credential(), change, request, origin.0)
        .await?;
    Ok(web::Json(AssignmentsChanged { changed }))
}

/// The four changes share their request, answer and errors; each is an operation of its own.
macro_rules! assignment_change {
    ($(#[doc = $doc:literal])* $name:ident, $path:literal, $operation:literal, $change:expr, $answer:literal) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            tag = "assignments", operation_id = $operation, request_body = AssignmentsRequest, security(("bearer" = [])),
            responses(
                (status = 200, description = $answer, body = AssignmentsChanged),
                (status = 400, description = "`malformed_json`."),
                (status = 401, description = "`unauthenticated`."),
                (status = 403, description = "`forbidden`: needs `users:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
                (status = 404, description = "`application_not_found`."),
                (status = 415, description = "`unsupported_media_type`."),
                (status = 422, description = "`validation_failed`: `user_ids` (`out_of_range`, `unknown_account`, `guest_account` when assigning), `instance_ids` (`out_of_range`, `unknown_instance`, `required`)."),
            )
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            auth: Authorized<WriteUsers>,
            origin: RequestOrigin,
            body: web::Json<AssignmentsRequest>,
        ) -> ApiResult<web::Json<AssignmentsChanged>> {
            change(state, auth, origin, body, $change).await
        }
    };
}

assignment_change! {
    /// Assign accounts to instances
    ///
    /// **Permission:** `users:write`. All or nothing. An existing assignment changes nothing;
    /// each new one is enabled, and the first account assigned to an instance without an admin
    /// becomes its `admin` (the others `member`). `all_instances: true` also grants every
    /// instance of the application, present and future. Guests are not assigned.
    assign, "/assignments/assign", "assign", AssignmentChange::Assign, "How many were made."
}

assignment_change! {
    /// Unassign accounts from instances
    ///
    /// **Permission:** `users:write`. All or nothing: deletes the named accounts' assignments to
    /// the named instances (and their "access to all" grant with `all_instances: true`). An
    /// instance left without an admin makes the next account assigned to it its admin.
    unassign, "/assignments/unassign", "unassign", AssignmentChange::Unassign, "How many were deleted."
}

assignment_change! {
    /// Enable assignments
    ///
    /// **Permission:** `users:write`. All or nothing: ends the suspension of the named accounts'
    /// assignments to the named instances (and of their "access to all" grant with
    /// `all_instances: true`).
    enable_assignments, "/assignments/enable", "enable_assignments", AssignmentChange::Enable, "How many were enabled."
}

assignment_change! {
    /// Disable assignments
    ///
    /// **Permission:** `users:write`. All or nothing: suspends the named accounts' assignments to
    /// the named instances (and their "access to all" grant with `all_instances: true`) until
    /// enabled again; a disabled admin stays the instance's admin.
    disable_assignments, "/assignments/disable", "disable_assignments", AssignmentChange::Disable, "How many were disabled."
}

/// List an account's assignments
///
/// **Permission:** `users:read` (or the account's own holder).
#[utoipa::path(
    tag = "assignments", operation_id = "list_user_assignments", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The account's assignments and grants.", body = AccountAssignmentsResponse),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
    )
)]
#[get("/users/{id}/assignments")]
pub async fn list_user_assignments(
    state: web::Data<AppState>,
    auth: Authenticated,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<AccountAssignmentsResponse>> {
    let found = state
        .services
        .assignments_of(auth.credential(), id.into_inner())
        .await?;
    Ok(web::Json(found.into()))
}

/// Remove one assignment
///
/// **Permission:** `users:write`. Deletes the account's assignment to the instance.
#[utoipa::path(
    tag = "assignments", operation_id = "remove_user_assignment", params(("id" = Uuid, Path, description = "Account id"), ("instance_id" = Uuid, Path, description = "Instance id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`, `assignment_not_found`."),
    )
)]
#[delete("/users/{id}/assignments/{instance_id}")]
pub async fn remove_user_assignment(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, instance) = path.into_inner();
    state
        .services
        .remove_assignment(auth.credential(), id, instance, origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

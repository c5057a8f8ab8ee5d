//! `/api/v1/groups` (SPEC §8): groups of accounts and their members. Read with `users:read`;
//! created, renamed, deleted and their members changed (in bulk) with `users:write`.

use actix_web::{delete, get, http::StatusCode, patch, post, web, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use domain::{
    assignments::Group,
    paging::{DEFAULT_LIMIT, MAX_LIMIT},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    applications::NameRequest,
    users::{UserPage, UserResponse},
};
use crate::{
    app::AppState,
    auth::{Authenticated, Authorized, ReadUsers, RequestOrigin, WriteUsers},
    error::{ApiError, ApiResult, ErrorCode},
};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e30", "name": "Night shift", "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z"}))]
pub struct GroupResponse {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Group> for GroupResponse {
    fn from(g: Group) -> Self {
        Self {
            id: g.id,
            name: g.name,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    /// By name.
    pub items: Vec<GroupResponse>,
}

/// Accounts to add to or remove from a group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_ids": ["0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01"]}))]
pub struct MembersRequest {
    /// 1–1000 accounts (a repeated id counts once).
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"changed": 1}))]
pub struct MembersChanged {
    /// Accounts added (or removed); those already so are not counted.
    pub changed: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MembersParams {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// List groups
///
/// **Permission:** `users:read`. Every group, by name.
#[utoipa::path(
    tag = "groups", operation_id = "list_groups", security(("bearer" = [])),
    responses(
        (status = 200, description = "The groups.", body = GroupList),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/groups")]
pub async fn list_groups(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
) -> ApiResult<web::Json<GroupList>> {
    let items = state.services.list_groups(auth.credential()).await?;
    Ok(web::Json(GroupList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Create a group
///
/// **Permission:** `users:write`. Names are unique whatever their case.
#[utoipa::path(
    tag = "groups", operation_id = "create_group", request_body = NameRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The group.", body = GroupResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 409, description = "`name_taken`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[post("/groups")]
pub async fn create_group(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    body: web::Json<NameRequest>,
) -> ApiResult<HttpResponse> {
    let group = state
        .services
        .create_group(auth.credential(), body.into_inner().name, origin.0)
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(GroupResponse::from(group)))
}

/// Read a group
///
/// **Permission:** `users:read`.
#[utoipa::path(
    tag = "groups", operation_id = "get_group", params(("id" = Uuid, Path, description = "Group id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The group.", body = GroupResponse),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`group_not_found`."),
    )
)]
#[get("/groups/{id}")]
pub async fn get_group(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<GroupResponse>> {
    let group = state
        .services
        .group(auth.credential(), id.into_inner())
        .await?;
    Ok(web::Json(group.into()))
}

/// Rename a group
///
/// **Permission:** `users:write`.
#[utoipa::path(
    tag = "groups", operation_id = "rename_group", request_body = NameRequest, params(("id" = Uuid, Path, description = "Group id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The renamed group.", body = GroupResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`group_not_found`."),
        (status = 409, description = "`name_taken`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[patch("/groups/{id}")]
pub async fn rename_group(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
    body: web::Json<NameRequest>,
) -> ApiResult<web::Json<GroupResponse>> {
    let group = state
        .services
        .rename_group(
            auth.credential(),
            id.into_inner(),
            body.into_inner().name,
            origin.0,
        )
        .await?;
    Ok(web::Json(group.into()))
}

/// Delete a group
///
/// **Permission:** `users:write`. Its members stay, without it.
#[utoipa::path(
    tag = "groups", operation_id = "delete_group", params(("id" = Uuid, Path, description = "Group id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`group_not_found`."),
    )
)]
#[delete("/groups/{id}")]
pub async fn delete_group(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .services
        .delete_group(auth.credential(), id.into_inner(), origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The two member changes share their request, answer and errors.
macro_rules! members_change {
    ($(#[doc = $doc:literal])* $name:ident, $path:literal, $operation:literal, $add:expr, $answer:literal) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            tag = "groups", operation_id = $operation, request_body = MembersRequest, params(("id" = Uuid, Path, description = "Group id")), security(("bearer" = [])),
            responses(
                (status = 200, description = $answer, body = MembersChanged),
                (status = 400, description = "`malformed_json`."),
                (status = 401, description = "`unauthenticated`."),
                (status = 403, description = "`forbidden`: needs `users:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
                (status = 404, description = "`group_not_found`."),
                (status = 415, description = "`unsupported_media_type`."),
                (status = 422, description = "`validation_failed`: `user_ids` (`out_of_range`, `unknown_account`, `guest_account` when adding)."),
            )
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            auth: Authorized<WriteUsers>,
            origin: RequestOrigin,
            id: web::Path<Uuid>,
            body: web::Json<MembersRequest>,
        ) -> ApiResult<web::Json<MembersChanged>> {
            let changed = state
                .services
                .change_members(auth.credential(), id.into_inner(), body.into_inner().user_ids, $add, origin.0)
                .await?;
            Ok(web::Json(MembersChanged { changed }))
        }
    };
}

members_change! {
    /// Add members
    ///
    /// **Permission:** `users:write`. All or nothing: every account must exist, and guests are
    /// not put in groups. An account already a member changes nothing.
    add_group_members, "/groups/{id}/members/add", "add_group_members", true, "How many were added."
}

members_change! {
    /// Remove members
    ///
    /// **Permission:** `users:write`. All or nothing: every account must exist. An account that
    /// is not a member changes nothing.
    remove_group_members, "/groups/{id}/members/remove", "remove_group_members", false, "How many were removed."
}

/// List a group's members
///
/// **Permission:** `users:read`. Accounts, by username, a page at a time.
#[utoipa::path(
    tag = "groups", operation_id = "list_group_members", params(("id" = Uuid, Path, description = "Group id"), MembersParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of members.", body = UserPage),
        (status = 400, description = "`invalid_query`, `invalid_cursor`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`group_not_found`."),
    )
)]
#[get("/groups/{id}/members")]
pub async fn list_group_members(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
    id: web::Path<Uuid>,
    params: web::Query<MembersParams>,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "limit must be between 1 and 200".to_owned(),
        ));
    }
    let after = params
        .cursor
        .as_deref()
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidCursor,
                        "use the next_cursor of a previous page".to_owned(),
                    )
                })
        })
        .transpose()?;
    let mut members = state
        .services
        .group_members(auth.credential(), id.into_inner(), after, limit + 1)
        .await?;
    let more = members.len() > limit as usize;
    members.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            members
                .last()
                .map(|a| URL_SAFE_NO_PAD.encode(a.username.key()))
        })
        .flatten();
    Ok(HttpResponse::Ok().json(UserPage {
        items: members.iter().map(UserResponse::from).collect(),
        next_cursor,
    }))
}

/// List an account's groups
///
/// **Permission:** `users:read` (or the account's own holder).
#[utoipa::path(
    tag = "groups", operation_id = "list_user_groups", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The account's groups, by name.", body = GroupList),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
    )
)]
#[get("/users/{id}/groups")]
pub async fn list_user_groups(
    state: web::Data<AppState>,
    auth: Authenticated,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<GroupList>> {
    let items = state
        .services
        .groups_of(auth.credential(), id.into_inner())
        .await?;
    Ok(web::Json(GroupList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

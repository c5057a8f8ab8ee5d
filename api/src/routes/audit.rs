//! `/api/v1/audit-events`: the audit trail (SPEC §9).

use actix_web::{get, web, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use domain::{
    audit::{AuditQuery, Category, RecordedEvent},
    paging::{DEFAULT_LIMIT, MAX_LIMIT},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{Authorized, ReadAudit},
    error::{ApiError, ApiResult, ErrorCode},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// An action, e.g. `user.created`, `auth.login_failed`.
    pub action: Option<String>,
    /// `user_management`, `authentication`, `security_settings` or `account_information`.
    pub category: Option<String>,
    /// The id of the account that acted.
    pub actor: Option<Uuid>,
    /// The id of what the event is about (an account, a group, an application…).
    pub target: Option<Uuid>,
    /// From this time on (RFC 3339, inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339, exclusive).
    pub to: Option<DateTime<Utc>>,
}

/// Who acted: an account (its username as it was then), or nobody (an unknown login, `roster`
/// at the command line).
#[derive(Serialize, ToSchema)]
pub struct AuditActor {
    pub id: Option<Uuid>,
    pub username: Option<String>,
}

/// What the event is about.
#[derive(Serialize, ToSchema)]
pub struct AuditTarget {
    /// `user`, `group`, `application`, `instance`, `settings`, `none`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<Uuid>,
    /// Its name when the event happened (kept after it is deleted).
    pub label: Option<String>,
}

/// One event. Never carries a secret.
#[derive(Serialize, ToSchema)]
pub struct AuditEventResponse {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    pub action: String,
    /// `user_management`, `authentication`, `security_settings` or `account_information`.
    pub category: String,
    pub target: AuditTarget,
    /// The client's address, as Roster saw it (`ROSTER_TRUSTED_PROXIES`).
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// What changed (`{field: {before, after}}`) or what the action needs said (a sign-in
    /// failure's reason, an import's counts).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<RecordedEvent> for AuditEventResponse {
    fn from(e: RecordedEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: AuditActor {
                id: e.actor_id,
                username: e.actor_username,
            },
            action: e.action,
            category: e.category,
            target: AuditTarget {
                kind: e.target_type,
                id: e.target_id,
                label: e.target_label,
            },
            address: e.address,
            user_agent: e.user_agent,
            details: e.details,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"items": [{
    "id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e09", "at": "2026-11-28T10:00:00.123456Z",
    "actor": {"id": "0193a5f2-0000-7000-8000-000000000001", "username": "admin"},
    "action": "user.updated", "category": "user_management",
    "target": {"type": "user", "id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "label": "ana.lima"},
    "address": "203.0.113.7", "user_agent": "Mozilla/5.0",
    "details": {"locale": {"before": "en", "after": "de-AT"}}
}], "next_cursor": null}))]
pub struct AuditPage {
    pub items: Vec<AuditEventResponse>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn query(p: AuditParams) -> ApiResult<AuditQuery> {
    let bad = |detail: &str| ApiError::new(ErrorCode::InvalidQuery, detail);
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad("limit must be between 1 and 200"));
    }
    let category = p
        .category
        .as_deref()
        .map(|c| {
            Category::parse(c).ok_or_else(|| {
                bad("category must be user_management, authentication, security_settings or account_information")
            })
        })
        .transpose()?;
    if let (Some(from), Some(to)) = (p.from, p.to) {
        if from > to {
            return Err(bad("from must not be after to"));
        }
    }
    let before = p
        .cursor
        .as_deref()
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| Uuid::from_slice(&b).ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidCursor,
                        "use the next_cursor of a previous page",
                    )
                })
        })
        .transpose()?;
    Ok(AuditQuery {
        action: p.action.filter(|a| !a.is_empty()),
        category,
        actor: p.actor,
        target: p.target,
        from: p.from,
        to: p.to,
        before,
        limit,
    })
}

/// List audit events
///
/// **Permission:** `audit:read`. Newest first, a page at a time: follow `next_cursor` (null on
/// the last page). Every filter given must hold: `action`, `category`, `actor` (who acted),
/// `target` (what it is about), `from` (inclusive) and `to` (exclusive). Each filter is one index
/// range, so a page costs about the same however many events there are.
#[utoipa::path(
    tag = "audit", operation_id = "list_audit_events", params(AuditParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of events.", body = AuditPage),
        (status = 400, description = "`invalid_query` (a bad `limit`, `category`, id or time, or `from` after `to`), `invalid_cursor`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `audit:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    auth: Authorized<ReadAudit>,
    params: web::Query<AuditParams>,
) -> ApiResult<HttpResponse> {
    let (events, more) = state
        .services
        .audit_events(auth.credential(), query(params.into_inner())?)
        .await?;
    let next_cursor = match (more, events.last()) {
        (true, Some(last)) => Some(URL_SAFE_NO_PAD.encode(last.id.as_bytes())),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(AuditPage {
        items: events.into_iter().map(AuditEventResponse::from).collect(),
        next_cursor,
    }))
}

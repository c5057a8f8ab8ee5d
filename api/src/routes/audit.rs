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

/// Where verification found the chain broken.
#[derive(Serialize, ToSchema)]
pub struct BrokenLinkResponse {
    /// The place in the chain; `null` for an event outside it (`not_in_chain`).
    pub seq: Option<i64>,
    /// `event_changed` (a field or the stored hash differs), `personal_values_changed` (a
    /// personal value no longer matches its digest and was not erased), `previous_hash_changed`,
    /// `missing` (no event at this place: removed), `checkpoint_changed` (the retention
    /// checkpoint is not the one the last `audit.events_removed` event recorded), `not_in_chain`
    /// (an event in the trail that was never queued to be linked: written behind Roster's back).
    pub problem: String,
    /// The event found at that place, as stored now; `null` when it is missing.
    pub event: Option<AuditEventResponse>,
}

/// The outcome of recomputing the chain.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "valid": true, "checked": 18234, "linked_now": 3, "pending": 0,
    "checkpoint": {"seq": 0, "hash": "0000000000000000000000000000000000000000000000000000000000000000"},
    "head": {"seq": 18234, "hash": "9f2c4e1a7b3d5f60e8a1c2b4d6f8091a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3b"},
    "broken": null
}))]
pub struct VerificationResponse {
    /// Whether every event from the checkpoint to the head is as it was linked.
    pub valid: bool,
    /// Events checked.
    pub checked: u64,
    /// Events linked by this request first (written since the linker's last pass).
    pub linked_now: u64,
    /// Events written but not in the chain yet, so not checked: on PostgreSQL an event is linked
    /// once every transaction older than it has ended, and verification waits only a few
    /// seconds for them.
    pub pending: u64,
    /// Where the chain starts: after the last event retention removed (`seq` 0: none removed).
    pub checkpoint: ChainPoint,
    /// The last event checked.
    pub head: ChainPoint,
    /// The first broken link; `null` when `valid`.
    pub broken: Option<BrokenLinkResponse>,
}

#[derive(Serialize, ToSchema)]
pub struct ChainPoint {
    pub seq: i64,
    /// SHA-256, hex.
    pub hash: String,
}

/// Verify the audit trail's hash chain
///
/// **Permission:** `audit:read`. Links the events not linked yet (the background linker links
/// each within about a second of its commit), then recomputes every event's hash from the
/// retention checkpoint to the head and names the first broken link: an event changed,
/// removed or reordered behind Roster's back. Erased personal values do not break it. Answers
/// 200 whether or not the chain is whole; it reads the whole trail, so it takes time in
/// proportion to it.
#[utoipa::path(
    tag = "audit", operation_id = "verify_audit_chain", security(("bearer" = [])),
    responses(
        (status = 200, description = "The chain's state, with its first broken link if any.", body = VerificationResponse),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `audit:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/audit-events/verify")]
pub async fn verify_audit_chain(
    state: web::Data<AppState>,
    auth: Authorized<ReadAudit>,
) -> ApiResult<web::Json<VerificationResponse>> {
    let v = state
        .services
        .verify_audit_chain(auth.credential(), rand::random)
        .await?;
    Ok(web::Json(VerificationResponse {
        valid: v.broken.is_none(),
        checked: v.checked,
        linked_now: v.linked_now,
        pending: v.pending,
        checkpoint: ChainPoint {
            seq: v.checkpoint_seq,
            hash: v.checkpoint_hash,
        },
        head: ChainPoint {
            seq: v.head_seq,
            hash: v.head_hash,
        },
        broken: v.broken.map(|b| BrokenLinkResponse {
            seq: b.seq,
            problem: b.problem.to_owned(),
            event: b.event.map(AuditEventResponse::from),
        }),
    }))
}

//! `/api/v1/settings` (SPEC §10).

use actix_web::{get, patch, web};
use domain::{
    services::{PasswordPolicyPatch, SettingsPatch},
    settings::Settings,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{Authorized, ReadSettings, RequestOrigin, WriteSettings},
    error::ApiResult,
};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicyBody {
    /// Minimum length, 8–256; default 15 (NIST SP 800-63B-4).
    pub min_length: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"default_role": "user", "primary_contact": "0193a5f2-0000-7000-8000-000000000001", "locale": "en", "guest_days": 30, "password_policy": {"min_length": 15}}))]
pub struct SettingsResponse {
    /// Role of accounts created without roles.
    pub default_role: String,
    /// The account that cannot be deleted; the first admin unless changed.
    pub primary_contact: Option<Uuid>,
    /// Locale of new accounts.
    pub locale: String,
    /// Days a guest account lasts.
    pub guest_days: u32,
    pub password_policy: PasswordPolicyBody,
}

impl From<Settings> for SettingsResponse {
    fn from(s: Settings) -> Self {
        Self {
            default_role: s.default_role,
            primary_contact: s.primary_contact,
            locale: s.locale,
            guest_days: s.guest_days,
            password_policy: PasswordPolicyBody {
                min_length: Some(s.password_policy.min_length),
            },
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"default_role": "user", "guest_days": 14}))]
pub struct UpdateSettingsRequest {
    pub default_role: Option<String>,
    /// Another active account. It cannot be cleared: `null` is refused (422).
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<Uuid>, nullable = false)]
    pub primary_contact: Option<Option<Uuid>>,
    pub locale: Option<String>,
    pub guest_days: Option<u32>,
    pub password_policy: Option<PasswordPolicyBody>,
}

/// Read the settings
///
/// **Permission:** `settings:read`.
#[utoipa::path(
    tag = "settings", operation_id = "get_settings", security(("bearer" = [])),
    responses((status = 200, description = "The settings.", body = SettingsResponse), (status = 403, description = "`forbidden`."))
)]
#[get("/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    auth: Authorized<ReadSettings>,
) -> ApiResult<web::Json<SettingsResponse>> {
    let settings = state.services.settings(auth.credential()).await?;
    Ok(web::Json(settings.into()))
}

/// Change settings
///
/// **Permission:** `settings:write`. Only the fields sent change. `primary_contact` moves to
/// another active account; it cannot be cleared.
#[utoipa::path(
    tag = "settings", operation_id = "update_settings", request_body = UpdateSettingsRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed settings.", body = SettingsResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 403, description = "`forbidden`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
#[patch("/settings")]
pub async fn update_settings(
    state: web::Data<AppState>,
    auth: Authorized<WriteSettings>,
    origin: RequestOrigin,
    body: web::Json<UpdateSettingsRequest>,
) -> ApiResult<web::Json<SettingsResponse>> {
    let b = body.into_inner();
    let patch = SettingsPatch {
        default_role: b.default_role,
        primary_contact: b.primary_contact,
        locale: b.locale,
        guest_days: b.guest_days,
        password_policy: b.password_policy.map(|p| PasswordPolicyPatch {
            min_length: p.min_length,
        }),
    };
    let settings = state
        .services
        .update_settings(auth.credential(), patch, origin.0)
        .await?;
    Ok(web::Json(settings.into()))
}

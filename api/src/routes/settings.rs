//! `/api/v1/settings` (SPEC §10).

use actix_web::{get, patch, web};
use domain::{
    services::{
        LockoutPatch, MfaPolicyPatch, PasswordPolicyPatch, SessionPolicyPatch, SettingsPatch,
        TokenLifetimesPatch,
    },
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

/// Lockout after consecutive failed sign-ins (SPEC §4).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockoutBody {
    /// Consecutive failed sign-ins that lock the account, 1–100; default 10.
    #[schema(minimum = 1, maximum = 100)]
    pub threshold: Option<u32>,
    /// Minutes after which a lock ends by itself (1–10080); `null` (the default): only an admin
    /// unlocks. Whatever this says, 100 consecutive failures lock until an admin unlocks.
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<u32>, nullable, minimum = 1, maximum = 10080)]
    pub minutes: Option<Option<u32>>,
}

/// How long sessions last (applies to sessions started afterwards).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsBody {
    /// A session ends this many minutes after its last use (5–43200); default 30.
    #[schema(minimum = 5, maximum = 43200)]
    pub idle_minutes: Option<u32>,
    /// …and this many hours after sign-in, whatever its use (1–8760); default 12.
    #[schema(minimum = 1, maximum = 8760)]
    pub absolute_hours: Option<u32>,
}

/// How long one-time links last. A link's end is fixed when it is issued: changes apply to links
/// issued afterwards.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenLifetimesBody {
    /// Activation links (1–8760 hours); default 168 (7 days).
    #[schema(minimum = 1, maximum = 8760)]
    pub activation_hours: Option<u32>,
    /// Invitation links (1–8760 hours); default 168 (7 days).
    #[schema(minimum = 1, maximum = 8760)]
    pub invitation_hours: Option<u32>,
    /// Password reset links (5–10080 minutes); default 60.
    #[schema(minimum = 5, maximum = 10080)]
    pub reset_minutes: Option<u32>,
}

/// Who must use two-factor sign-in besides accounts with `mfa_required`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicyBody {
    /// Every admin enrols a second factor at their next sign-in; until then an admin's tokens
    /// carry no permission (403 `mfa_enrollment_required`) and reach only their own account.
    /// Default true.
    pub required_for_admins: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"default_role": "user", "primary_contact": "0193a5f2-0000-7000-8000-000000000001", "locale": "en", "guest_days": 30, "password_policy": {"min_length": 15}, "require_passwords": true, "active_user_limit": null, "deactivate_after_days_inactive": null, "audit_retention_days": null, "lockout": {"threshold": 10, "minutes": null}, "sessions": {"idle_minutes": 30, "absolute_hours": 12}, "token_lifetimes": {"activation_hours": 168, "invitation_hours": 168, "reset_minutes": 60}, "mfa": {"required_for_admins": true}}))]
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
    /// When false, an account without a password signs in with its username alone (never an
    /// admin; each such sign-in is audited with the client address).
    pub require_passwords: bool,
    /// The most active accounts that are not guests; `null`: unlimited.
    pub active_user_limit: Option<u32>,
    /// Accounts unused for this many days are deactivated; `null`: never.
    pub deactivate_after_days_inactive: Option<u32>,
    /// Audit events older than this many days are removed (the chain stays verifiable from a
    /// checkpoint); `null`: kept for ever.
    pub audit_retention_days: Option<u32>,
    pub lockout: LockoutBody,
    pub sessions: SessionsBody,
    pub token_lifetimes: TokenLifetimesBody,
    pub mfa: MfaPolicyBody,
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
            require_passwords: s.require_passwords,
            active_user_limit: s.active_user_limit,
            deactivate_after_days_inactive: s.deactivate_after_days_inactive,
            audit_retention_days: s.audit_retention_days,
            lockout: LockoutBody {
                threshold: Some(s.lockout.threshold),
                minutes: Some(s.lockout.minutes),
            },
            sessions: SessionsBody {
                idle_minutes: Some(s.sessions.idle_minutes),
                absolute_hours: Some(s.sessions.absolute_hours),
            },
            token_lifetimes: TokenLifetimesBody {
                activation_hours: Some(s.token_lifetimes.activation_hours),
                invitation_hours: Some(s.token_lifetimes.invitation_hours),
                reset_minutes: Some(s.token_lifetimes.reset_minutes),
            },
            mfa: MfaPolicyBody {
                required_for_admins: Some(s.mfa.required_for_admins),
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
    pub require_passwords: Option<bool>,
    /// The most active accounts that are not guests; `null`: unlimited. Lowering it below the
    /// count refuses new seats until enough are freed; nobody is deactivated.
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<u32>, nullable, minimum = 0)]
    pub active_user_limit: Option<Option<u32>>,
    /// Accounts unused for this many days (1–3650) are deactivated, freeing their seats (admins
    /// and the primary contact exempt); `null`: never.
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<u32>, nullable, minimum = 1, maximum = 3650)]
    pub deactivate_after_days_inactive: Option<Option<u32>>,
    /// Audit events older than this many days (1–36500) are removed by a background sweep, which
    /// records the last removed event's hash as the chain's checkpoint; `null`: kept for ever.
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<u32>, nullable, minimum = 1, maximum = 36500)]
    pub audit_retention_days: Option<Option<u32>>,
    pub lockout: Option<LockoutBody>,
    pub sessions: Option<SessionsBody>,
    pub token_lifetimes: Option<TokenLifetimesBody>,
    pub mfa: Option<MfaPolicyBody>,
}

/// Read the settings
///
/// **Permission:** `settings:read`.
#[utoipa::path(
    tag = "settings", operation_id = "get_settings", security(("bearer" = [])),
    responses((status = 200, description = "The settings.", body = SettingsResponse), (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."))
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
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
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
        require_passwords: b.require_passwords,
        active_user_limit: b.active_user_limit,
        deactivate_after_days_inactive: b.deactivate_after_days_inactive,
        audit_retention_days: b.audit_retention_days,
        lockout: b.lockout.map(|l| LockoutPatch {
            threshold: l.threshold,
            minutes: l.minutes,
        }),
        sessions: b.sessions.map(|s| SessionPolicyPatch {
            idle_minutes: s.idle_minutes,
            absolute_hours: s.absolute_hours,
        }),
        token_lifetimes: b.token_lifetimes.map(|t| TokenLifetimesPatch {
            activation_hours: t.activation_hours,
            invitation_hours: t.invitation_hours,
            reset_minutes: t.reset_minutes,
        }),
        mfa: b.mfa.map(|m| MfaPolicyPatch {
            required_for_admins: m.required_for_admins,
        }),
    };
    let settings = state
        .services
        .update_settings(auth.credential(), patch, origin.0)
        .await?;
    Ok(web::Json(settings.into()))
}

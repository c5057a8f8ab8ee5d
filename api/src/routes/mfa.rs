//! One's own second factor (SPEC §6): `/api/v1/me/mfa/…`. Every change needs the current
//! password; secrets and recovery codes are shown once, with `Cache-Control: no-store`.

use actix_web::{delete, post, web, HttpResponse};
use domain::{
    mfa::{RecoveryCode, TotpSecret, RECOVERY_CODES},
    services::TotpEnrollment,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::secret_response;
use crate::{
    app::AppState,
    auth::{Authenticated, Authorized, RequestOrigin, WriteUsers},
    error::ApiResult,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct PasswordRequest {
    /// The account's current password.
    pub password: String,
}

/// A factor being enrolled: add it to an authenticator app, then confirm it with a code.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "otpauth_uri": "otpauth://totp/Roster:ana.lima?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Roster", "qr_png_base64": "iVBORw0KGgo…"}))]
pub struct TotpEnrollmentResponse {
    /// Base32, for typing into the app. Shown only now.
    pub secret: String,
    /// The `otpauth://` URI the QR code holds.
    pub otpauth_uri: String,
    /// A PNG of the QR code, base64-encoded (`<img src="data:image/png;base64,…">`).
    pub qr_png_base64: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct ConfirmTotpRequest {
    /// The 6-digit code the app shows now.
    pub code: String,
}

/// Recovery codes: shown this once; each signs in once in place of a code.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"recovery_codes": ["k7pq-a3mz-rex8-bndq", "…"]}))]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple", "code": "492039"}))]
pub struct RemoveTotpRequest {
    /// The account's current password.
    pub password: String,
    /// A current code from the app.
    pub code: String,
}

pub(super) fn recovery_codes() -> Vec<RecoveryCode> {
    (0..RECOVERY_CODES)
        .map(|_| RecoveryCode::new(rand::random()))
        .collect()
}

fn shown(codes: Vec<RecoveryCode>) -> RecoveryCodesResponse {
    RecoveryCodesResponse {
        recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    }
}

/// Start enrolling a TOTP factor
///
/// **Permission:** any signed-in account, for itself; needs the current password (a wrong one
/// counts toward lockout). Answers a new secret, its `otpauth://` URI and a QR code of it; two-factor
/// sign-in is on only once `POST /api/v1/me/mfa/totp/confirm` gets a code from it. Starting again
/// replaces an enrolment not yet confirmed.
#[utoipa::path(
    tag = "me", operation_id = "start_totp_enrollment", request_body = PasswordRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The secret to add to an authenticator app.", body = TotpEnrollmentResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 409, description = "`mfa_already_enabled`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `wrong_password` on `password`."),
        (status = 429, description = "`too_many_requests`: too many password checks are waiting."),
    )
)]
#[post("/me/mfa/totp")]
pub async fn start_totp_enrollment(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    body: web::Json<PasswordRequest>,
) -> ApiResult<HttpResponse> {
    let enrollment = state
        .services
        .start_totp_enrollment(
            auth.credential(),
            body.into_inner().password,
            TotpSecret::new(rand::random()),
            rand::random(),
            origin.0,
        )
        .await?;
    Ok(enrollment_response(enrollment))
}

/// 201 with what an authenticator app needs, never cached.
pub(super) fn enrollment_response(enrollment: TotpEnrollment) -> HttpResponse {
    let qr = totp_rs::TOTP::from_url_unchecked(&enrollment.uri)
        .ok()
        .and_then(|t| t.get_qr_base64().ok())
        .unwrap_or_default();
    let mut response = secret_response(TotpEnrollmentResponse {
        secret: enrollment.secret.base32(),
        otpauth_uri: enrollment.uri,
        qr_png_base64: qr,
    });
    *response.status_mut() = actix_web::http::StatusCode::CREATED;
    response
}

/// Confirm a TOTP enrolment
///
/// **Permission:** any signed-in account, for itself. A code from the new factor turns two-factor
/// sign-in on; the answer holds 10 recovery codes, shown this once (stored hashed).
#[utoipa::path(
    tag = "me", operation_id = "confirm_totp_enrollment", request_body = ConfirmTotpRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Two-factor sign-in is on; the recovery codes.", body = RecoveryCodesResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 409, description = "`mfa_already_enabled`, `mfa_not_started`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `invalid_code` on `code`."),
    )
)]
#[post("/me/mfa/totp/confirm")]
pub async fn confirm_totp_enrollment(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    body: web::Json<ConfirmTotpRequest>,
) -> ApiResult<HttpResponse> {
    let codes = state
        .services
        .confirm_totp_enrollment(
            auth.credential(),
            body.into_inner().code,
            recovery_codes(),
            origin.0,
        )
        .await?;
    Ok(secret_response(shown(codes)))
}

/// Remove the TOTP factor
///
/// **Permission:** any signed-in account, for itself; needs the current password and a current
/// code. Refused (409 `mfa_required`) while the account is required to use two factors.
#[utoipa::path(
    tag = "me", operation_id = "remove_totp", request_body = RemoveTotpRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed: sign-in asks for the password alone."),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 409, description = "`mfa_not_enabled`, `mfa_required`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `wrong_password` on `password`, `invalid_code` on `code`."),
        (status = 429, description = "`too_many_requests`: too many password checks are waiting."),
    )
)]
#[delete("/me/mfa/totp")]
pub async fn remove_totp(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    body: web::Json<RemoveTotpRequest>,
) -> ApiResult<HttpResponse> {
    let RemoveTotpRequest { password, code } = body.into_inner();
    state
        .services
        .remove_own_totp(auth.credential(), password, code, origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Regenerate recovery codes
///
/// **Permission:** any signed-in account with two-factor sign-in on, for itself; needs the current
/// password. Answers 10 new recovery codes, shown this once; the old ones stop working.
#[utoipa::path(
    tag = "me", operation_id = "regenerate_recovery_codes", request_body = PasswordRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The new recovery codes.", body = RecoveryCodesResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 409, description = "`mfa_not_enabled`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `wrong_password` on `password`."),
        (status = 429, description = "`too_many_requests`: too many password checks are waiting."),
    )
)]
#[post("/me/mfa/recovery-codes")]
pub async fn regenerate_recovery_codes(
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
    body: web::Json<PasswordRequest>,
) -> ApiResult<HttpResponse> {
    let codes = state
        .services
        .regenerate_recovery_codes(
            auth.credential(),
            body.into_inner().password,
            recovery_codes(),
            origin.0,
        )
        .await?;
    Ok(secret_response(shown(codes)))
}

/// A one-time password standing in for a lost authenticator: shown this once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"one_time_password": "k7pq-a3mz-rex8-bndq", "expires_at": "2026-11-23T10:00:00Z"}))]
pub struct OneTimePasswordResponse {
    /// Meets one `mfa` sign-in challenge, once, in place of a code; the factor is then removed
    /// and the holder enrols again.
    pub one_time_password: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Issue a one-time password for a lost authenticator
///
/// **Permission:** `users:write`; for an account holding `admin`, `admin`. For an account with
/// two-factor sign-in on whose holder lost their authenticator: the answer's password meets one
/// `mfa` challenge within 24 hours, once, and removes the factor (the holder enrols again and is
/// emailed). Issuing another replaces it.
#[utoipa::path(
    tag = "users", operation_id = "issue_mfa_one_time_password", params(("id" = uuid::Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The one-time password.", body = OneTimePasswordResponse),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required` (the account holds `admin`), `own_mfa` (your own factor: use `/me/mfa`). `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
        (status = 409, description = "`mfa_not_enabled`."),
    )
)]
#[post("/users/{id}/mfa/one-time-password")]
pub async fn issue_mfa_one_time_password(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    let code = RecoveryCode::new(rand::random());
    let shown = code.expose().to_owned();
    let expires_at = state
        .services
        .issue_mfa_one_time_password(auth.credential(), id.into_inner(), code, origin.0)
        .await?;
    Ok(secret_response(OneTimePasswordResponse {
        one_time_password: shown,
        expires_at,
    }))
}

/// Remove an account's second factor
///
/// **Permission:** `users:write`; for an account holding `admin`, `admin`. Signing in then asks
/// for the password alone until the holder enrols again; the holder is emailed.
#[utoipa::path(
    tag = "users", operation_id = "remove_user_mfa", params(("id" = uuid::Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required` (the account holds `admin`), `own_mfa` (your own factor: use `/me/mfa`). `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
        (status = 409, description = "`mfa_not_enabled`."),
    )
)]
#[delete("/users/{id}/mfa")]
pub async fn remove_user_mfa(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .services
        .remove_mfa_of(auth.credential(), id.into_inner(), origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

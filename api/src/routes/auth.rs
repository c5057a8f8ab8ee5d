//! `/api/v1/auth/*` (SPEC §4, §5): sign-in, its challenges, refresh and sign-out; activation links.

use actix_web::{post, web, HttpResponse};
use domain::{
    one_time::OneTimeToken,
    services::{SignIn, SignInSecrets, SignedIn},
    session::{SecretKind, SecretToken},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{Authenticated, RequestOrigin},
    client::AuthRateLimit,
    error::{ApiError, ApiResult, ErrorCode},
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"login": "admin", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    /// Username or email address, case-insensitive.
    pub login: String,
    /// Left out (or empty) only for an account without a password while the setting
    /// `require_passwords` is off.
    #[serde(default)]
    pub password: String,
}

/// Tokens of a session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiJ9…", "token_type": "Bearer", "expires_in": 900,
    "refresh_token": "rsr_q3X9…", "session_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01"
}))]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer <access_token>`; it names its session (`sid`).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; exchange it at `POST /api/v1/auth/refresh` for new tokens. Each refresh token works
    /// once: presenting a used one again ends the session.
    pub refresh_token: String,
    pub session_id: Uuid,
}

/// A challenge to meet before tokens are issued.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"challenge": "set_password", "challenge_token": "rsc_Yb2…", "expires_in": 300}))]
pub struct ChallengeResponse {
    /// `set_password`: choose a new password at `POST /api/v1/auth/challenge/set-password`.
    /// (`mfa` and `mfa_enrollment` come with two-factor sign-in.)
    pub challenge: String,
    /// Single use; good for this challenge only.
    pub challenge_token: String,
    /// Seconds until the challenge token expires.
    pub expires_in: i64,
}

/// What a sign-in answers: tokens, or a challenge.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignInResponse {
    Tokens(TokenResponse),
    Challenge(ChallengeResponse),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "rsr_q3X9…"}))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"challenge_token": "rsc_Yb2…", "new_password": "violet tractor hums at noon"}))]
pub struct SetPasswordRequest {
    pub challenge_token: String,
    /// Meets the password policy and differs from the password given.
    pub new_password: String,
}

/// A challenge token as sent; a malformed one is refused as an unknown one is.
fn challenge(text: &str) -> ApiResult<SecretToken> {
    SecretToken::parse(SecretKind::Challenge, text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidChallenge,
            "the challenge token is not valid",
        )
    })
}

fn secrets() -> SignInSecrets {
    SignInSecrets {
        refresh: SecretToken::from_random(SecretKind::Refresh, rand::random()),
        challenge: SecretToken::from_random(SecretKind::Challenge, rand::random()),
    }
}

fn tokens(state: &AppState, signed_in: SignedIn) -> ApiResult<TokenResponse> {
    Ok(TokenResponse {
        access_token: state
            .tokens
            .issue(signed_in.account_id, signed_in.session_id)?,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token: signed_in.refresh_token.expose().to_owned(),
        session_id: signed_in.session_id,
    })
}

fn sign_in_response(state: &AppState, outcome: SignIn) -> ApiResult<HttpResponse> {
    Ok(no_store(HttpResponse::Ok()).json(sign_in_body(state, outcome)?))
}

fn sign_in_body(state: &AppState, outcome: SignIn) -> ApiResult<SignInResponse> {
    Ok(match outcome {
        SignIn::Tokens(signed_in) => SignInResponse::Tokens(tokens(state, signed_in)?),
        SignIn::Challenge {
            kind,
            token,
            expires_at,
        } => SignInResponse::Challenge(ChallengeResponse {
            challenge: kind.as_str().to_owned(),
            challenge_token: token.expose().to_owned(),
            // Rounded up: a challenge just issued lasts the whole 300 seconds.
            expires_in: ((expires_at - domain::now()).num_milliseconds().max(0) + 999) / 1000,
        }),
    })
}

/// Responses that carry a secret are never cached.
fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    builder
}

/// Sign in
///
/// **Permission:** none. `login` is a username or an email, compared as Roster folds them (case,
/// compatibility forms). Every failure (unknown login, wrong password, an account that is inactive,
/// locked or expired) answers the same 401 `invalid_credentials` in about the same time; the true
/// reason goes to the audit trail. Wrong passwords count toward the account's lockout
/// (`lockout.threshold` consecutive failures). On success the answer is either a session's tokens,
/// or a `challenge` to meet first (`set_password` when the password was given by someone else).
#[utoipa::path(
    tag = "auth", operation_id = "login", request_body = LoginRequest, security(()),
    responses(
        (status = 200, description = "Signed in: tokens, or a challenge to meet first.", body = SignInResponse,
            examples(
                ("tokens" = (value = json!({"access_token": "eyJhbGciOiJIUzI1NiJ9…", "token_type": "Bearer", "expires_in": 900, "refresh_token": "rsr_q3X9…", "session_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01"}))),
                ("challenge" = (value = json!({"challenge": "set_password", "challenge_token": "rsc_Yb2…", "expires_in": 300}))),
            )),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`invalid_credentials`: unknown login, wrong password, or an account that may not sign in."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
        (status = 429, description = "`rate_limited`: too many sign-in requests from this address; `too_many_requests`: too many sign-ins are waiting for their password check. Retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/login")]
pub async fn login(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let LoginRequest { login, password } = body.into_inner();
    let outcome = state
        .services
        .login(login, password, origin.0, secrets())
        .await?;
    sign_in_response(&state, outcome)
}

/// Meet the set_password challenge
///
/// **Permission:** none (the challenge token). Sets a new password in place of one given by
/// someone else, under the password policy; then signs in (tokens, or the next challenge). The
/// challenge token works once and for 300 seconds.
#[utoipa::path(
    tag = "auth", operation_id = "complete_set_password_challenge", request_body = SetPasswordRequest, security(()),
    responses(
        (status = 200, description = "The password is set: tokens, or the next challenge.", body = SignInResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`invalid_challenge`: the challenge token is not valid, was used, or expired."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: the new password breaks the policy (`password_too_short`, `password_too_weak`, `password_is_identifier`, `password_unchanged`)."),
        (status = 429, description = "`rate_limited` or `too_many_requests`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/challenge/set-password")]
pub async fn complete_set_password(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<SetPasswordRequest>,
) -> ApiResult<HttpResponse> {
    let SetPasswordRequest {
        challenge_token,
        new_password,
    } = body.into_inner();
    let token = challenge(&challenge_token)?;
    let outcome = state
        .services
        .complete_set_password(token, new_password, origin.0, secrets())
        .await?;
    sign_in_response(&state, outcome)
}

/// Refresh a session's tokens
///
/// **Permission:** none (the refresh token). Exchanges a refresh token for a new access token and a
/// new refresh token; the one sent is used up. Sending a used refresh token again ends the whole
/// session (it may have been stolen): sign in again. A session ends `sessions.idle_minutes` after
/// its last use and `sessions.absolute_hours` after sign-in.
#[utoipa::path(
    tag = "auth", operation_id = "refresh", request_body = RefreshRequest, security(()),
    responses(
        (status = 200, description = "New tokens of the same session.", body = TokenResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`invalid_refresh_token`: unknown, used before (the session is now ended), or its session ended."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
        (status = 429, description = "`rate_limited`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let token = SecretToken::parse(SecretKind::Refresh, &body.refresh_token).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRefreshToken,
            "the refresh token is not valid",
        )
    })?;
    let next = SecretToken::from_random(SecretKind::Refresh, rand::random());
    let signed_in = state.services.refresh(token, next, origin.0).await?;
    Ok(no_store(HttpResponse::Ok()).json(tokens(&state, signed_in)?))
}

/// Sign out
///
/// **Permission:** any access token. Ends the access token's session: the access token fails at
/// its next request and the session's refresh tokens no longer work. API tokens have no session
/// (revoke them under `/api/v1/me/api-tokens`).
#[utoipa::path(
    tag = "auth", operation_id = "logout", security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out."),
        (status = 400, description = "`no_session`: the credential is an API token."),
        (status = 401, description = "`unauthenticated`."),
        (status = 429, description = "`rate_limited`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/logout")]
pub async fn logout(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    auth: Authenticated,
    origin: RequestOrigin,
) -> ApiResult<HttpResponse> {
    state.services.logout(auth.credential(), origin.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "rot_AQGTpfJ8HnszqfAAK2ocnU5f…"}))]
pub struct InspectTokenRequest {
    /// The token of an activation, invitation or reset link (after `#token=`).
    pub token: String,
}

/// What a valid one-time token is for, and whom.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "purpose": "activation", "user_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e5f",
    "username": "ana.lima", "email": "ana.lima@example.org", "expires_at": "2026-11-29T10:00:00Z"
}))]
pub struct TokenInfoResponse {
    /// `activation`, `invitation` or `reset`.
    pub purpose: String,
    pub user_id: Uuid,
    pub username: String,
    pub email: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Check a link's token
///
/// **Permission:** none (the token). Tells a frontend whether the token of an activation,
/// invitation or reset link is valid now, what it is for and whose it is, without using it up; the
/// token travels in the body, never in a URL. A token that was used, revoked or replaced, has
/// expired, belongs to an account that is inactive or expired, or never existed answers the same
/// 400 `invalid_token`.
#[utoipa::path(
    tag = "auth", operation_id = "inspect_token", request_body = InspectTokenRequest, security(()),
    responses(
        (status = 200, description = "The token is valid.", body = TokenInfoResponse),
        (status = 400, description = "`invalid_token`; `malformed_json`."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
        (status = 429, description = "`rate_limited`: too many requests to `/api/v1/auth/*` from this address; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/tokens/inspect")]
pub async fn inspect_token(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    body: web::Json<InspectTokenRequest>,
) -> ApiResult<HttpResponse> {
    let token = OneTimeToken::from_client(&body.into_inner().token);
    let info = state.services.inspect_token(token).await?;
    Ok(no_store(HttpResponse::Ok()).json(TokenInfoResponse {
        purpose: info.purpose.as_str().to_owned(),
        user_id: info.account_id,
        username: info.username,
        email: info.email,
        expires_at: info.expires_at,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "rot_AQGTpfJ8HnszqfAAK2ocnU5f…", "password": "violet tractor hums at noon"}))]
pub struct ActivateRequest {
    /// The token of the account's activation (or invitation) link.
    pub token: String,
    /// The first password; the password policy applies.
    pub password: String,
}

/// Activate an account
///
/// **Permission:** none (the token). Sets the first password of an invited account with the token
/// of its activation link, and so activates it: the token is used up, and the account signs in
/// with `POST /api/v1/auth/login`. Of several uses of one token, at once or one after another,
/// exactly one succeeds; the others, and every token that is not valid, answer 400
/// `invalid_token`.
#[utoipa::path(
    tag = "auth", operation_id = "activate", request_body = ActivateRequest, security(()),
    responses(
        (status = 204, description = "Activated: the account has its password."),
        (status = 400, description = "`invalid_token`; `malformed_json`."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: the password breaks the policy (`password_too_short`, `password_too_weak`, `password_is_identifier`)."),
        (status = 429, description = "`rate_limited` or `too_many_requests`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/activate")]
pub async fn activate(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<ActivateRequest>,
) -> ApiResult<HttpResponse> {
    let ActivateRequest { token, password } = body.into_inner();
    state
        .services
        .activate(OneTimeToken::from_client(&token), password, origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "rot_AQOTpfJ8HnszqfAAK2ocnU5f…", "new_password": "violet tractor hums at noon"}))]
pub struct ResetPasswordRequest {
    /// The token of the account's password reset link.
    pub token: String,
    /// The new password; the password policy applies.
    pub new_password: String,
}

/// Set a new password with a reset link
///
/// **Permission:** none (the token). Sets the account's password with the token of its reset
/// link, which that uses up; lifts a lock, and ends the account's sessions. Every token that is not
/// valid (used, revoked, expired, for an inactive account, never issued) answers 400
/// `invalid_token`.
#[utoipa::path(
    tag = "auth", operation_id = "reset_password_with_link", request_body = ResetPasswordRequest, security(()),
    responses(
        (status = 204, description = "The password is set."),
        (status = 400, description = "`invalid_token`; `malformed_json`."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: the password breaks the policy (`password_too_short`, `password_too_weak`, `password_is_identifier`)."),
        (status = 429, description = "`rate_limited` or `too_many_requests`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/password/reset")]
pub async fn reset_password(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<ResetPasswordRequest>,
) -> ApiResult<HttpResponse> {
    let ResetPasswordRequest {
        token,
        new_password,
    } = body.into_inner();
    state
        .services
        .reset_password(OneTimeToken::from_client(&token), new_password, origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"login": "ana.lima@example.org"}))]
pub struct ForgotPasswordRequest {
    /// The username or email address of the account.
    pub login: String,
}

/// Ask for a password reset link
///
/// **Permission:** none. Emails a reset link (1 hour, single use) to the account named by `login`
/// (username or email), if it exists, is active, has a password and email notifications on, and a
/// mail server is configured. Always answers 202, at once and alike, whatever the case: the work
/// happens after the answer, so neither the answer nor its timing tells whether an account exists.
/// It voids no earlier link and ends no session (whoever asks need not be the holder). Rate-limited
/// per client address like every `/auth` route.
#[utoipa::path(
    tag = "auth", operation_id = "forgot_password", request_body = ForgotPasswordRequest, security(()),
    responses(
        (status = 202, description = "Accepted: if the account can get a reset link, it is emailed."),
        (status = 400, description = "`malformed_json`."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `login` missing or not a string."),
        (status = 429, description = "`rate_limited`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/password/forgot")]
pub async fn forgot_password(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<ForgotPasswordRequest>,
) -> HttpResponse {
    let named = body.into_inner().login;
    let services = state.services.clone();
    // After the answer: its time says nothing about the account.
    actix_web::rt::spawn(async move {
        if let Err(e) = services.forgot_password(named, origin.0).await {
            tracing::warn!(error = %e, "a forgotten-password request could not be handled");
        }
    });
    HttpResponse::Accepted().finish()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"challenge_token": "rsc_Yb2…", "code": "492039"}))]
pub struct MfaChallengeRequest {
    pub challenge_token: String,
    /// The 6-digit code the authenticator app shows now, or one of the recovery codes
    /// (`xxxx-xxxx-xxxx-xxxx`; case, spaces and dashes do not matter).
    pub code: String,
}

/// Meet the mfa challenge
///
/// **Permission:** none (the challenge token). A code from the account's authenticator app (this
/// 30-second step or one either side; each code works once) or one of its recovery codes (each
/// works once); then signs in (tokens, or the next challenge). A wrong code answers 422
/// `validation_failed` (`invalid_code` on `code`) and counts toward the account's lockout like a
/// wrong password; the challenge stays usable until it expires (300 s) or the account locks.
#[utoipa::path(
    tag = "auth", operation_id = "complete_mfa_challenge", request_body = MfaChallengeRequest, security(()),
    responses(
        (status = 200, description = "The second factor is met: tokens, or the next challenge.", body = SignInResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`invalid_challenge`: the challenge token is not valid, was used, or expired, or the account locked."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `invalid_code` (wrong, or used already)."),
        (status = 429, description = "`rate_limited`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/challenge/mfa")]
pub async fn complete_mfa_challenge(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<MfaChallengeRequest>,
) -> ApiResult<HttpResponse> {
    let MfaChallengeRequest {
        challenge_token,
        code,
    } = body.into_inner();
    let token = challenge(&challenge_token)?;
    let outcome = state
        .services
        .complete_mfa(token, code, origin.0, secrets())
        .await?;
    sign_in_response(&state, outcome)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"challenge_token": "rsc_Yb2…"}))]
pub struct ChallengeTokenRequest {
    pub challenge_token: String,
}

/// Start enrolling a factor at sign-in
///
/// **Permission:** none (the `mfa_enrollment` challenge token: the account must use two factors and
/// has none). Answers a new secret, its `otpauth://` URI and a QR code, as
/// `POST /api/v1/me/mfa/totp` does; confirm with a code at
/// `POST /api/v1/auth/challenge/mfa-enrollment/confirm`. Starting again replaces the secret.
#[utoipa::path(
    tag = "auth", operation_id = "start_challenge_enrollment", request_body = ChallengeTokenRequest, security(()),
    responses(
        (status = 201, description = "The secret to add to an authenticator app.", body = super::mfa::TotpEnrollmentResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`invalid_challenge`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
        (status = 429, description = "`rate_limited`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/challenge/mfa-enrollment")]
pub async fn start_challenge_enrollment(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<ChallengeTokenRequest>,
) -> ApiResult<HttpResponse> {
    let token = challenge(&body.into_inner().challenge_token)?;
    let enrollment = state
        .services
        .start_challenge_enrollment(
            token,
            domain::mfa::TotpSecret::new(rand::random()),
            rand::random(),
            origin.0,
        )
        .await?;
    Ok(super::mfa::enrollment_response(enrollment))
}

/// Enrolled at sign-in: the recovery codes (shown this once) and the sign-in's answer.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"recovery_codes": ["k7pq-a3mz-rex8-bndq", "…"], "sign_in": {"access_token": "eyJhbGciOiJIUzI1NiJ9…", "token_type": "Bearer", "expires_in": 900, "refresh_token": "rsr_q3X9…", "session_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01"}}))]
pub struct ChallengeEnrollmentResponse {
    pub recovery_codes: Vec<String>,
    /// Tokens, or the next challenge.
    pub sign_in: SignInResponse,
}

/// Confirm a factor enrolled at sign-in
///
/// **Permission:** none (the `mfa_enrollment` challenge token). A code from the new factor turns
/// two-factor sign-in on and meets the sign-in's second factor: the answer holds 10 recovery codes
/// (shown this once) and `sign_in` (tokens, or the next challenge).
#[utoipa::path(
    tag = "auth", operation_id = "confirm_challenge_enrollment", request_body = MfaChallengeRequest, security(()),
    responses(
        (status = 200, description = "Enrolled and signed in.", body = ChallengeEnrollmentResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`invalid_challenge`."),
        (status = 409, description = "`mfa_not_started`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `invalid_code` on `code`."),
        (status = 429, description = "`rate_limited`; retry after `Retry-After` seconds."),
    )
)]
#[post("/auth/challenge/mfa-enrollment/confirm")]
pub async fn confirm_challenge_enrollment(
    _limit: AuthRateLimit,
    state: web::Data<AppState>,
    origin: RequestOrigin,
    body: web::Json<MfaChallengeRequest>,
) -> ApiResult<HttpResponse> {
    let MfaChallengeRequest {
        challenge_token,
        code,
    } = body.into_inner();
    let token = challenge(&challenge_token)?;
    let (codes, outcome) = state
        .services
        .confirm_challenge_enrollment(
            token,
            code,
            super::mfa::recovery_codes(),
            origin.0,
            secrets(),
        )
        .await?;
    Ok(
        no_store(HttpResponse::Ok()).json(ChallengeEnrollmentResponse {
            recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
            sign_in: sign_in_body(&state, outcome)?,
        }),
    )
}

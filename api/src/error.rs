//! Every error leaves as RFC 9457 `application/problem+json` with a stable `code`. The code
//! table decides each status once; there is no catch-all arm, so a new case forces a decision,
//! and nothing a client sent becomes a 500.

use actix_web::{
    http::{header, StatusCode},
    HttpResponse, ResponseError,
};
use domain::{Error, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

/// The table of Roster's error codes: one line per code with its status, its title, and what a
/// client should do about it. The enum, the `ErrorCode` schema, the code table of the OpenAPI
/// document and the README, and the examples of every error response all come from here.
macro_rules! error_codes {
    ($($variant:ident => ($status:ident, $title:literal, $advice:literal),)*) => {
        /// The stable machine codes of Roster's errors (`code` in every problem document).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// Status and title.
            pub fn describe(self) -> (StatusCode, &'static str) {
                match self {
                    $(ErrorCode::$variant => (StatusCode::$status, $title),)*
                }
            }

            /// What a client should do about it.
            pub fn advice(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $advice,)*
                }
            }
        }
    };
}

error_codes! {
    ValidationFailed => (UNPROCESSABLE_ENTITY, "The request is not valid", "Show each entry of `errors` beside its field; correct and send again."),
    MalformedJson => (BAD_REQUEST, "The body is not well-formed JSON", "Fix the client: the body must be one JSON object."),
    InvalidQuery => (BAD_REQUEST, "A query parameter is not valid", "Fix the parameter named in `detail`."),
    InvalidCursor => (BAD_REQUEST, "The cursor is not valid for this list", "Start again from the first page: pass only a `next_cursor` from the same list and sort."),
    InvalidIdempotencyKey => (BAD_REQUEST, "Idempotency-Key must be 1 to 255 visible ASCII characters", "Send a fresh random key (a UUID) per operation, and the same key when repeating it."),
    IdempotencyKeyReused => (UNPROCESSABLE_ENTITY, "This Idempotency-Key was used with another request", "Use a new key for a new request: a key repeats only the same method, path and body."),
    RequestInProgress => (CONFLICT, "The first request with this Idempotency-Key is still running", "Wait `Retry-After` seconds, then repeat with the same key to get its response."),
    InvalidIfMatch => (BAD_REQUEST, "If-Match must be a quoted version, as in the ETag", "Send the `ETag` you read, unchanged (e.g. `\"3\"`)."),
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "The body is not of a media type this operation takes", "Send JSON with `Content-Type: application/json`; an import takes `text/csv`, or a `multipart/form-data` form with the file."),
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "The body is too large", "Send less: the limit is in `detail`."),
    RequestTimeout => (REQUEST_TIMEOUT, "The request's body did not arrive in time", "Send the whole body at once, promptly; on a slow link send less (`roster import` takes files of any size)."),
    HeadersTooLarge => (REQUEST_HEADER_FIELDS_TOO_LARGE, "The request's headers are too large", "Send fewer or shorter headers (cookies, a long query string): the limit is in `detail`."),
    OriginNotAllowed => (FORBIDDEN, "This origin may not call Roster from a browser", "Call from the same origin, or have the operator add the web app's origin to `ROSTER_CORS_ORIGINS`."),
    NotFound => (NOT_FOUND, "No such resource", "Check the path; ids are UUIDs."),
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "This method is not allowed here", "Use one of the methods in the `Allow` header."),
    Unauthenticated => (UNAUTHORIZED, "Authentication is required", "Sign in again (or use a valid API token) and repeat the request."),
    InvalidCredentials => (UNAUTHORIZED, "The login or password is wrong", "Ask the person to check their login and password; never say which was wrong."),
    Forbidden => (FORBIDDEN, "The caller lacks a permission", "Hide or disable the action for this user; an admin can grant a role that has the permission."),
    AdminRoleRequired => (FORBIDDEN, "Only admins grant or remove the admin role", "Ask an admin to make this change."),
    OwnRoles => (FORBIDDEN, "Nobody edits their own roles", "Ask another user manager or admin to change this account's roles."),
    EmailChangeRequiresAdmin => (FORBIDDEN, "Only an admin can change an email address", "Ask an admin to change the email."),
    OwnEmail => (FORBIDDEN, "Nobody changes their own email address", "Ask an admin to change it."),
    OwnUsername => (FORBIDDEN, "Nobody changes their own username", "Leave `username` out of the change; usernames never change."),
    OwnMfa => (FORBIDDEN, "Nobody removes their own second factor or issues themselves a one-time password", "Use `/api/v1/me/mfa` (it asks for the password and a code), or ask another admin."),
    OwnActive => (FORBIDDEN, "Nobody activates or deactivates their own account", "Ask an admin."),
    AdminManagedField => (FORBIDDEN, "This field is managed by admins, not by the account's holder", "Leave the field named in `detail` out of the change, or ask an admin."),
    GuestReadOnly => (FORBIDDEN, "A guest may read their account and change their password, nothing else", "Hide editing for guests."),
    InvalidRefreshToken => (UNAUTHORIZED, "The refresh token is not valid, was used already, or its session ended", "Forget the tokens you hold and sign in again."),
    InvalidChallenge => (UNAUTHORIZED, "The challenge token is not valid, was used already, or expired", "Sign in again to get a new challenge."),
    InvalidToken => (BAD_REQUEST, "The link's token is not valid: it was used, revoked or replaced, or it expired", "Tell the person the link no longer works; an admin can send a new one."),
    SessionNotFound => (NOT_FOUND, "No such session", "Refresh the list of sessions: it ended or never existed."),
    NoSession => (BAD_REQUEST, "Only an access token's session can be signed out", "Sign out with the access token of the session; revoke API tokens under `/api/v1/me/api-tokens`."),
    UsernameImmutable => (UNPROCESSABLE_ENTITY, "The username cannot be changed", "Leave `username` out of the change (or send its current value)."),
    UserNotFound => (NOT_FOUND, "No such account", "Refresh the list: the account was deleted or never existed."),
    ApiTokenNotFound => (NOT_FOUND, "No such API token", "Refresh the list of tokens: it was revoked or never existed."),
    ApplicationNotFound => (NOT_FOUND, "No such application", "Refresh the list of applications: it was deleted or never existed."),
    InstanceNotFound => (NOT_FOUND, "No such instance of this application", "Refresh the application's instances: it was deleted, never existed, or belongs to another application."),
    AssignmentNotFound => (NOT_FOUND, "The account is not assigned to this instance", "Refresh the account's assignments: it was removed or never made."),
    GroupNotFound => (NOT_FOUND, "No such group", "Refresh the list of groups: it was deleted or never existed."),
    MessageNotFound => (NOT_FOUND, "No such outbox message", "Refresh the outbox: finished messages are deleted after 30 days."),
    UsernameTaken => (CONFLICT, "The username is taken", "Ask for another username; a case or look-alike variant of a taken one is taken too."),
    AssignmentsExist => (CONFLICT, "Accounts are assigned to it", "Show how many (in `detail`); unassign them, or delete it with `force=true`, which deletes their assignments too."),
    NameTaken => (CONFLICT, "The name is taken", "Choose another name: names are unique within their parent (applications and groups among themselves, instances within their application), whatever their case."),
    EmailTaken => (CONFLICT, "The email address is taken", "Ask for another email address, or find the existing account."),
    LastAdmin => (CONFLICT, "The last active admin must stay an active admin", "Make another account an active admin first."),
    PrimaryContact => (CONFLICT, "The primary contact cannot be deleted or deactivated", "Make another active account the primary contact (settings) first."),
    SelfDelete => (CONFLICT, "Nobody deletes their own account", "Ask another admin to delete it."),
    SetupAlreadyDone => (CONFLICT, "Setup has already been completed", "Sign in instead; the first admin exists."),
    AccountInactive => (CONFLICT, "The account is inactive", "Activate the account first, or leave it as it is."),
    AccountInvited => (CONFLICT, "The account has no password yet", "Hand over its activation link instead (`POST /api/v1/users/{id}/activation`)."),
    MfaAlreadyEnabled => (CONFLICT, "Two-factor sign-in is on already", "Remove the factor (DELETE /api/v1/me/mfa/totp) before enrolling another."),
    MfaNotStarted => (CONFLICT, "No two-factor enrolment was started", "Start one with POST /api/v1/me/mfa/totp, then confirm it with a code."),
    MfaNotEnabled => (CONFLICT, "Two-factor sign-in is not on", "Enrol a factor first (POST /api/v1/me/mfa/totp)."),
    MfaEnrollmentRequired => (FORBIDDEN, "An admin must enrol a second factor first", "Enrol a factor (POST /api/v1/me/mfa/totp, then /confirm) or sign in again to meet the `mfa_enrollment` challenge; until then only the caller's own account answers."),
    MfaRequired => (CONFLICT, "This account must use two-factor sign-in", "Keep the factor; an admin can lift the requirement (the account's `mfa_required`, or the setting `mfa.required_for_admins` for admins)."),
    MessageNotFailed => (CONFLICT, "Only a failed message can be retried", "Offer retry only for messages in state `failed`; the others are still on their way, or finished."),
    NotInvited => (CONFLICT, "The account is not invited: it has a password", "Hide activation links for accounts that are not `invited`; reset the password instead."),
    PreconditionFailed => (PRECONDITION_FAILED, "The resource changed since it was read", "Read it again, show the person what changed, and send the change with the new `ETag`."),
    ConfirmationRequired => (CONFLICT, "The change has consequences to confirm", "Show each of `consequences` to the person; if they agree, send the same change with `\"confirm\": true`."),
    SeatLimitReached => (CONFLICT, "A seat limit would be passed", "Show `seat`, `limit`, `used` and `requested`; free seats (deactivate accounts, remove roles) or raise the limit, then repeat."),
    Conflict => (CONFLICT, "The change conflicts with data already stored", "Read the resource again; the change clashes with a uniqueness rule of this deployment."),
    TooManyRequests => (TOO_MANY_REQUESTS, "Too many sign-ins and password changes are waiting; retry shortly", "Wait `Retry-After` seconds, then repeat."),
    RateLimited => (TOO_MANY_REQUESTS, "Too many sign-in requests from this address", "Wait `Retry-After` seconds before the next attempt; tell the person to wait rather than retrying in a loop."),
    DatabaseUnavailable => (SERVICE_UNAVAILABLE, "The database is unavailable; retry shortly", "Wait `Retry-After` seconds, then repeat; a write may or may not have happened, so read before repeating one."),
    DatabaseBusy => (SERVICE_UNAVAILABLE, "The database is busy with concurrent changes; retry shortly", "Wait `Retry-After` seconds, then repeat."),
    Overloaded => (SERVICE_UNAVAILABLE, "Too many requests are waiting for the database; retry shortly", "Wait `Retry-After` seconds, then repeat; slow down if it persists."),
    InternalError => (INTERNAL_SERVER_ERROR, "Something went wrong on our side", "Report it with the `X-Request-Id` of the response; the cause is in Roster's log."),
}

impl ErrorCode {
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The table of every code as Markdown: code, status, meaning, what to do (for the OpenAPI
    /// document and the README).
    pub fn markdown_table() -> String {
        let mut out = String::from(
            "| code | status | meaning | what the client should do |\n|---|---|---|---|\n",
        );
        for code in Self::ALL {
            let (status, title) = code.describe();
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                code.as_str(),
                status.as_u16(),
                title,
                code.advice()
            ));
        }
        out
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:roster:problem:username_taken",
    "title": "The username is taken",
    "status": 409,
    "detail": "an account with this username already exists",
    "code": "username_taken"
}))]
pub struct Problem {
    /// `urn:roster:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    /// Every field that failed validation (422 `validation_failed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<ProblemFieldError>)]
    pub errors: Vec<FieldError>,
    /// The seat whose limit would be passed (409 `seat_limit_reached`): `active_users`, a role's
    /// name, or `guest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    /// The seat's limit (`seat_limit_reached`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// How many of the seat were taken before this request (`seat_limit_reached`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    /// How many this request would take (`seat_limit_reached`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<i64>,
    /// What the change would do (409 `confirmation_required`): `user_seat_released`,
    /// `user_seat_taken`, `guest_seat_taken`, `guest_seat_kept`, `expires_at_set`,
    /// `access_reset` (its sessions and API tokens end), `assignments_removed` and `groups_left`
    /// (a new guest loses its assignments and groups), `admin_permissions_granted`,
    /// `admin_permissions_removed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consequences: Vec<&'static str>,
}

/// What `seat_limit_reached` says about the seat.
#[derive(Debug, Clone)]
pub struct SeatProblem {
    pub seat: String,
    pub limit: i64,
    /// Taken before this request.
    pub used: i64,
    /// What this request would take.
    pub requested: i64,
}

/// One field that failed validation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemFieldError {
    /// The field, e.g. `email` or `password_policy.min_length`.
    pub field: String,
    /// A stable code, e.g. `too_long`, `invalid_email`, `unknown_role`.
    pub code: String,
    pub message: String,
}

/// The API's error: a code, a human detail, and field errors for validation.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub seat: Option<Box<SeatProblem>>,
    pub consequences: Vec<&'static str>,
    /// Seconds for `Retry-After`, where the error knows better than the default of 2.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            seat: None,
            consequences: Vec::new(),
            retry_after: None,
        }
    }

    pub fn retry_after(self, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..self
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, title) = self.code.describe();
        Problem {
            kind: format!("urn:roster:problem:{}", self.code.as_str()),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            errors: self.errors.clone(),
            seat: self.seat.as_ref().map(|s| s.seat.clone()),
            limit: self.seat.as_ref().map(|s| s.limit),
            used: self.seat.as_ref().map(|s| s.used),
            requested: self.seat.as_ref().map(|s| s.requested),
            consequences: self.consequences.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.describe().0
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if matches!(
            self.code,
            ErrorCode::DatabaseUnavailable
                | ErrorCode::DatabaseBusy
                | ErrorCode::Overloaded
                | ErrorCode::TooManyRequests
                | ErrorCode::RateLimited
                | ErrorCode::RequestInProgress
        ) {
            let seconds = self.retry_after.unwrap_or(2).to_string();
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if matches!(self.code, ErrorCode::Unauthenticated) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        let code = match e {
            Error::Validation(errors) => {
                return Self {
                    code: ErrorCode::ValidationFailed,
                    detail: "see `errors` for each field".into(),
                    errors,
                    seat: None,
                    consequences: Vec::new(),
                    retry_after: None,
                }
            }
            Error::InvalidCredentials => ErrorCode::InvalidCredentials,
            Error::Unauthenticated => ErrorCode::Unauthenticated,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::AdminRoleRequired => ErrorCode::AdminRoleRequired,
            Error::OwnRoles => ErrorCode::OwnRoles,
            Error::EmailChangeRequiresAdmin => ErrorCode::EmailChangeRequiresAdmin,
            Error::UsernameImmutable => ErrorCode::UsernameImmutable,
            Error::OwnEmail => ErrorCode::OwnEmail,
            Error::OwnUsername => ErrorCode::OwnUsername,
            Error::OwnActive => ErrorCode::OwnActive,
            Error::AdminManagedField(_) => ErrorCode::AdminManagedField,
            Error::GuestReadOnly => ErrorCode::GuestReadOnly,
            Error::InvalidRefreshToken => ErrorCode::InvalidRefreshToken,
            Error::InvalidChallenge => ErrorCode::InvalidChallenge,
            Error::InvalidToken => ErrorCode::InvalidToken,
            Error::SessionNotFound => ErrorCode::SessionNotFound,
            Error::NoSession => ErrorCode::NoSession,
            Error::UserNotFound => ErrorCode::UserNotFound,
            Error::ApiTokenNotFound => ErrorCode::ApiTokenNotFound,
            Error::MessageNotFound => ErrorCode::MessageNotFound,
            Error::ApplicationNotFound => ErrorCode::ApplicationNotFound,
            Error::InstanceNotFound => ErrorCode::InstanceNotFound,
            Error::AssignmentNotFound => ErrorCode::AssignmentNotFound,
            Error::GroupNotFound => ErrorCode::GroupNotFound,
            Error::NameTaken => ErrorCode::NameTaken,
            Error::AssignmentsExist(_) => ErrorCode::AssignmentsExist,
            Error::MessageNotFailed => ErrorCode::MessageNotFailed,
            Error::MfaAlreadyEnabled => ErrorCode::MfaAlreadyEnabled,
            Error::MfaNotStarted => ErrorCode::MfaNotStarted,
            Error::MfaNotEnabled => ErrorCode::MfaNotEnabled,
            Error::MfaRequired => ErrorCode::MfaRequired,
            Error::MfaEnrollmentRequired => ErrorCode::MfaEnrollmentRequired,
            Error::OwnMfa => ErrorCode::OwnMfa,
            Error::UsernameTaken => ErrorCode::UsernameTaken,
            Error::EmailTaken => ErrorCode::EmailTaken,
            Error::LastAdmin => ErrorCode::LastAdmin,
            Error::PrimaryContact => ErrorCode::PrimaryContact,
            Error::SelfDelete => ErrorCode::SelfDelete,
            Error::SetupAlreadyDone => ErrorCode::SetupAlreadyDone,
            Error::NotInvited => ErrorCode::NotInvited,
            Error::AccountInactive => ErrorCode::AccountInactive,
            Error::AccountInvited => ErrorCode::AccountInvited,
            Error::VersionMismatch { .. } => ErrorCode::PreconditionFailed,
            Error::SeatLimitReached {
                seat,
                limit,
                used,
                requested,
            } => {
                return Self {
                    seat: Some(Box::new(SeatProblem {
                        seat,
                        limit,
                        used,
                        requested,
                    })),
                    ..Self::new(ErrorCode::SeatLimitReached, detail)
                }
            }
            Error::ConfirmationRequired(consequences) => {
                return Self {
                    consequences,
                    ..Self::new(ErrorCode::ConfirmationRequired, detail)
                }
            }
            Error::Conflict => ErrorCode::Conflict,
            Error::Unavailable => ErrorCode::DatabaseUnavailable,
            Error::Contention => ErrorCode::DatabaseBusy,
            Error::Overloaded => ErrorCode::Overloaded,
            Error::TooManyRequests => ErrorCode::TooManyRequests,
            Error::Rehearsed => {
                tracing::error!("a rehearsal's rollback escaped its store");
                return Self::new(ErrorCode::InternalError, "the error has been logged");
            }
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                return Self::new(ErrorCode::InternalError, "the error has been logged");
            }
        };
        Self::new(code, detail)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

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

/// The stable machine codes of Roster's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationFailed,
    MalformedJson,
    InvalidQuery,
    InvalidCursor,
    InvalidIfMatch,
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    Unauthenticated,
    InvalidCredentials,
    Forbidden,
    AdminRoleRequired,
    OwnRoles,
    EmailChangeRequiresAdmin,
    UsernameImmutable,
    UserNotFound,
    ApiTokenNotFound,
    UsernameTaken,
    EmailTaken,
    LastAdmin,
    PrimaryContact,
    SelfDelete,
    SetupAlreadyDone,
    PreconditionFailed,
    Conflict,
    DatabaseUnavailable,
    DatabaseBusy,
    Overloaded,
    TooManyRequests,
    InternalError,
}

impl ErrorCode {
    /// Status and title, one line per code.
    pub fn describe(self) -> (StatusCode, &'static str) {
        use ErrorCode::*;
        match self {
            ValidationFailed => (StatusCode::UNPROCESSABLE_ENTITY, "The request is not valid"),
            MalformedJson => (StatusCode::BAD_REQUEST, "The body is not well-formed JSON"),
            InvalidQuery => (StatusCode::BAD_REQUEST, "A query parameter is not valid"),
            InvalidCursor => (
                StatusCode::BAD_REQUEST,
                "The cursor is not valid for this list",
            ),
            InvalidIfMatch => (
                StatusCode::BAD_REQUEST,
                "If-Match must be a quoted version, as in the ETag",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The body must be application/json",
            ),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "The body is too large"),
            NotFound => (StatusCode::NOT_FOUND, "No such resource"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "This method is not allowed here",
            ),
            Unauthenticated => (StatusCode::UNAUTHORIZED, "Authentication is required"),
            InvalidCredentials => (StatusCode::UNAUTHORIZED, "The login or password is wrong"),
            Forbidden => (StatusCode::FORBIDDEN, "The caller lacks a permission"),
            AdminRoleRequired => (
                StatusCode::FORBIDDEN,
                "Only admins grant or remove the admin role",
            ),
            OwnRoles => (StatusCode::FORBIDDEN, "Nobody edits their own roles"),
            EmailChangeRequiresAdmin => (
                StatusCode::FORBIDDEN,
                "Only an admin can change an email address",
            ),
            UsernameImmutable => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "The username cannot be changed",
            ),
            UserNotFound => (StatusCode::NOT_FOUND, "No such account"),
            ApiTokenNotFound => (StatusCode::NOT_FOUND, "No such API token"),
            UsernameTaken => (StatusCode::CONFLICT, "The username is taken"),
            EmailTaken => (StatusCode::CONFLICT, "The email address is taken"),
            LastAdmin => (
                StatusCode::CONFLICT,
                "The last active admin must stay an active admin",
            ),
            PrimaryContact => (
                StatusCode::CONFLICT,
                "The primary contact cannot be deleted",
            ),
            SelfDelete => (StatusCode::CONFLICT, "Nobody deletes their own account"),
            SetupAlreadyDone => (StatusCode::CONFLICT, "Setup has already been completed"),
            PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                "The resource changed since it was read",
            ),
            Conflict => (
                StatusCode::CONFLICT,
                "The change conflicts with data already stored",
            ),
            DatabaseUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable; retry shortly",
            ),
            DatabaseBusy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is busy with concurrent changes; retry shortly",
            ),
            Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many requests are waiting for the database; retry shortly",
            ),
            TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ins and password changes are waiting; retry shortly",
            ),
            InternalError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side",
            ),
        }
    }

    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
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
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
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
        ) {
            response.insert_header((header::RETRY_AFTER, "2"));
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
                }
            }
            Error::InvalidCredentials => ErrorCode::InvalidCredentials,
            Error::Unauthenticated => ErrorCode::Unauthenticated,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::AdminRoleRequired => ErrorCode::AdminRoleRequired,
            Error::OwnRoles => ErrorCode::OwnRoles,
            Error::EmailChangeRequiresAdmin => ErrorCode::EmailChangeRequiresAdmin,
            Error::UsernameImmutable => ErrorCode::UsernameImmutable,
            Error::UserNotFound => ErrorCode::UserNotFound,
            Error::ApiTokenNotFound => ErrorCode::ApiTokenNotFound,
            Error::UsernameTaken => ErrorCode::UsernameTaken,
            Error::EmailTaken => ErrorCode::EmailTaken,
            Error::LastAdmin => ErrorCode::LastAdmin,
            Error::PrimaryContact => ErrorCode::PrimaryContact,
            Error::SelfDelete => ErrorCode::SelfDelete,
            Error::SetupAlreadyDone => ErrorCode::SetupAlreadyDone,
            Error::VersionMismatch { .. } => ErrorCode::PreconditionFailed,
            Error::Conflict => ErrorCode::Conflict,
            Error::Unavailable => ErrorCode::DatabaseUnavailable,
            Error::Contention => ErrorCode::DatabaseBusy,
            Error::Overloaded => ErrorCode::Overloaded,
            Error::TooManyRequests => ErrorCode::TooManyRequests,
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                return Self::new(ErrorCode::InternalError, "the error has been logged");
            }
        };
        Self::new(code, detail)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

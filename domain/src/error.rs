//! The one error type of the rules. Each variant is a rule a request can break (SPEC §1–§4, §10),
//! or an infrastructure failure the API maps on purpose (unavailable → 503, internal → 500).

use serde::Serialize;

/// A field that failed validation, reported in the `errors` list of a 422 (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("the login or password is wrong")]
    InvalidCredentials,
    #[error("authentication is required")]
    Unauthenticated,
    #[error("the caller lacks the permission `{0}`")]
    Forbidden(&'static str),
    #[error("only holders of the admin role may grant or remove it")]
    AdminRoleRequired,
    #[error("nobody edits their own roles")]
    OwnRoles,
    #[error("only an admin can change an email address")]
    EmailChangeRequiresAdmin,
    #[error("nobody changes their own email address; an admin can")]
    OwnEmail,
    #[error("nobody changes their own username")]
    OwnUsername,
    #[error("nobody activates or deactivates their own account")]
    OwnActive,
    #[error("`{0}` is managed by admins, not by the account's holder")]
    AdminManagedField(&'static str),
    #[error("a guest may read their account and change their password, nothing else")]
    GuestReadOnly,
    #[error("the refresh token is not valid, was used already, or its session ended")]
    InvalidRefreshToken,
    #[error("the challenge token is not valid, was used already, or expired")]
    InvalidChallenge,
    #[error("the link's token is not valid: it was used, revoked or replaced, or it expired")]
    InvalidToken,
    #[error("no such session")]
    SessionNotFound,
    #[error("only a signed-in session (an access token) can be signed out; revoke API tokens under /api/v1/me/api-tokens")]
    NoSession,
    #[error("the username cannot be changed once set")]
    UsernameImmutable,
    #[error("no such account")]
    UserNotFound,
    #[error("no such API token")]
    ApiTokenNotFound,
    #[error("an account with this username already exists")]
    UsernameTaken,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the last active admin cannot lose the admin role, be deactivated or be deleted")]
    LastAdmin,
    #[error("the primary contact cannot be deleted or deactivated; make another active account the primary contact first")]
    PrimaryContact,
    #[error("nobody deletes their own account")]
    SelfDelete,
    #[error("setup has already been completed")]
    SetupAlreadyDone,
    #[error("the account is not invited: it has a password, so it has no activation link")]
    NotInvited,
    #[error("the account is inactive; activate it before resetting its password")]
    AccountInactive,
    #[error("the account is invited and has no password yet; send its activation link instead")]
    AccountInvited,
    #[error("two-factor sign-in is on already; remove the factor first to enrol another")]
    MfaAlreadyEnabled,
    #[error("no enrolment was started; start one with POST /api/v1/me/mfa/totp")]
    MfaNotStarted,
    #[error("two-factor sign-in is not on for this account")]
    MfaNotEnabled,
    #[error("this account must use two-factor sign-in (mfa_required, or mfa.required_for_admins for an admin)")]
    MfaRequired,
    #[error("an admin must enrol a second factor before using any permission (mfa.required_for_admins); enrol with POST /api/v1/me/mfa/totp")]
    MfaEnrollmentRequired,
    #[error("nobody removes their own second factor or gives themselves a one-time password here; use /api/v1/me/mfa")]
    OwnMfa,
    #[error("no such outbox message")]
    MessageNotFound,
    #[error("no such application")]
    ApplicationNotFound,
    #[error("no such instance of this application")]
    InstanceNotFound,
    #[error("the account is not assigned to this instance")]
    AssignmentNotFound,
    #[error("no such group")]
    GroupNotFound,
    #[error("the name is taken")]
    NameTaken,
    #[error("{0} accounts are assigned to it; unassign them first, or delete with force=true")]
    AssignmentsExist(i64),
    #[error("only a failed message can be retried; this one is not failed")]
    MessageNotFailed,
    #[error("the account changed since it was read (version {current})")]
    VersionMismatch { current: i64 },
    #[error("the change would pass the limit of the seat `{seat}`: {used} of {limit} are taken and it needs {requested} more")]
    SeatLimitReached {
        /// `active_users`, a role's name, or `guest`.
        seat: String,
        limit: i64,
        used: i64,
        requested: i64,
    },
    #[error(
        "this role change has consequences; show them and send it again with \"confirm\": true"
    )]
    ConfirmationRequired(Vec<&'static str>),
    #[error("the change conflicts with data already stored")]
    Conflict,
    #[error("the database is unavailable")]
    Unavailable,
    #[error("the database could not order this change with concurrent ones; retry shortly")]
    Contention,
    #[error("too many requests are waiting for the database; retry shortly")]
    Overloaded,
    #[error("too many sign-ins and password changes are waiting; retry shortly")]
    TooManyRequests,
    /// What [`crate::ports::Store::rehearse`] returns inside to roll its work back; never outside.
    #[error("the work was rehearsed and rolled back")]
    Rehearsed,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single-field validation error.
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Error::Validation(vec![FieldError::new(field, code, message)])
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! `/api/v1/users`: accounts (SPEC §1, §10).

use actix_web::{
    delete, get,
    http::{header, StatusCode},
    patch, post, web, HttpRequest, HttpResponse,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use domain::{
    account::{Account, Status},
    filter::Filter,
    one_time::Purpose,
    paging::{Position, Sort, SortField, UserQuery, DEFAULT_LIMIT, MAX_LIMIT},
    password::Password,
    services::{AccountPatch, DeleteOutcome, NewAccount},
    values::fold,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::account_json;
use crate::{
    app::AppState,
    auth::{Authenticated, Authorized, ReadUsers, RequestOrigin, WriteUsers},
    error::{ApiError, ApiResult, ErrorCode},
    timestamp,
};

// Responses are written by `account_json`; this derived `Serialize` is what its tests hold it to,
// so a field added here fails them until it is written there too.
/// An account as the API shows it. Never includes a password or its hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "username": "ana.lima", "email": "ana.lima@example.org",
    "first_name": "Ana", "last_name": "Lima", "origin": "manual", "location": "Porto", "erp_id": null,
    "external_key": null, "locale": "en", "roles": ["user"], "active": true, "mfa_required": false,
    "expires_at": null, "email_notifications": true, "status": "active",
    "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z",
    "created_by": "0193a5f2-0000-7000-8000-000000000001", "updated_by": "0193a5f2-0000-7000-8000-000000000001",
    "activated_at": "2026-11-22T10:00:00Z", "last_active_at": null, "locked_at": null, "locked_until": null, "mfa_enabled": false, "version": 1
}))]
pub struct UserResponse<'a> {
    pub id: Uuid,
    pub username: &'a str,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub origin: &'a str,
    pub location: Option<&'a str>,
    pub erp_id: Option<&'a str>,
    pub external_key: Option<&'a str>,
    pub locale: &'a str,
    pub roles: &'a [String],
    pub active: bool,
    pub mfa_required: bool,
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub expires_at: Option<DateTime<Utc>>,
    pub email_notifications: bool,
    /// Derived: `inactive`, `locked`, `expired`, `invited` or `active`, in that precedence.
    #[schema(value_type = String, example = "active")]
    pub status: Status,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub activated_at: Option<DateTime<Utc>>,
    /// `null` means the account never signed in.
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub last_active_at: Option<DateTime<Utc>>,
    /// Set while the account is locked after failed sign-ins (or was, until it signs in again).
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub locked_at: Option<DateTime<Utc>>,
    /// When the lock ends by itself (`lockout.minutes`); `null` while locked: an admin unlocks it.
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub locked_until: Option<DateTime<Utc>>,
    pub mfa_enabled: bool,
    /// Grows with every change; sent as the `ETag`.
    pub version: i64,
}

/// Borrows from the account: a page of fifty is serialised without copying its strings first.
impl<'a> From<&'a Account> for UserResponse<'a> {
    fn from(a: &'a Account) -> Self {
        Self {
            id: a.id,
            username: a.username.as_str(),
            email: a.email.as_str(),
            first_name: a.first_name.as_str(),
            last_name: a.last_name.as_str(),
            origin: &a.origin,
            location: a.location.as_deref(),
            erp_id: a.erp_id.as_deref(),
            external_key: a.external_key.as_deref(),
            locale: a.locale.as_str(),
            roles: &a.roles,
            active: a.active,
            mfa_required: a.mfa_required,
            expires_at: a.expires_at,
            email_notifications: a.email_notifications,
            status: a.status(Utc::now()),
            created_at: a.created_at,
            updated_at: a.updated_at,
            created_by: a.created_by,
            updated_by: a.updated_by,
            activated_at: a.activated_at,
            last_active_at: a.last_active_at,
            locked_at: a.locked_at,
            locked_until: a.locked_until,
            mfa_enabled: a.mfa_enabled,
            version: a.version,
        }
    }
}

/// One account with its `ETag`.
pub(crate) fn account_response(
    status: actix_web::http::StatusCode,
    account: &Account,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::ETAG, format!("\"{}\"", account.version)));
    json_body(response, BYTES_PER_ACCOUNT, |out| {
        account_json::write_account(out, &UserResponse::from(account))
    })
}

/// About the JSON of one account (~620 bytes for a typical one), for sizing a response's buffer.
const BYTES_PER_ACCOUNT: usize = 640;

/// The JSON body `write` writes (see `account_json`), into a buffer of `capacity` bytes: grown by
/// doubling from empty instead, a 50-account page (~31 KB) was a dozen copies, each a large
/// allocation that made glibc consolidate its free lists, and a single account crossed 1 KB on
/// the way.
fn json_body(
    mut response: actix_web::HttpResponseBuilder,
    capacity: usize,
    write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> HttpResponse {
    let mut body = Vec::with_capacity(capacity);
    match write(&mut body) {
        Ok(()) => response
            .content_type(header::ContentType::json())
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            actix_web::ResponseError::error_response(&ApiError::new(
                ErrorCode::InternalError,
                "the error has been logged",
            ))
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana.lima@example.org", "first_name": "Ana", "last_name": "Lima", "roles": ["user"]}))]
pub struct CreateUserRequest {
    /// Defaults to the email address. 1–64 letters, digits, `.`, `_`, `-` or `@` (Unicode letters
    /// by RFC 8265; compatibility forms are mapped, e.g. fullwidth letters to plain ones). Unique,
    /// ignoring case and look-alike characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r#"^[^\x00-\x20!-,/:-?\[-^`{-\x7f]+$"#
    )]
    pub username: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// A pre-assigned password (policy: at least `password_policy.min_length` characters). Without
    /// one, the account is `invited`.
    pub password: Option<String>,
    /// Defaults to `manual`.
    pub origin: Option<String>,
    pub location: Option<String>,
    pub erp_id: Option<String>,
    pub external_key: Option<String>,
    /// BCP 47; defaults to the settings' locale.
    pub locale: Option<String>,
    /// Defaults to the settings' `default_role`.
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
    pub mfa_required: Option<bool>,
    pub expires_at: Option<DateTime<Utc>>,
    pub email_notifications: Option<bool>,
}

/// Only the fields sent change; `null` clears a nullable field. `username` may be sent only
/// with its current value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"roles": ["user"], "location": "Lyon"}))]
pub struct UpdateUserRequest {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub origin: Option<String>,
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(nullable)]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(nullable)]
    pub erp_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(nullable)]
    pub external_key: Option<Option<String>>,
    pub locale: Option<String>,
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
    pub mfa_required: Option<bool>,
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(nullable)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub email_notifications: Option<bool>,
    /// Confirms a role change to or from `guest` or `admin` after showing its `consequences`
    /// (409 `confirmation_required` without it). Not stored.
    pub confirm: Option<bool>,
}

impl From<CreateUserRequest> for NewAccount {
    fn from(b: CreateUserRequest) -> Self {
        Self {
            username: b.username,
            email: b.email,
            first_name: b.first_name,
            last_name: b.last_name,
            password: b.password,
            origin: b.origin,
            location: b.location,
            erp_id: b.erp_id,
            external_key: b.external_key,
            locale: b.locale,
            roles: b.roles,
            active: b.active,
            mfa_required: b.mfa_required,
            expires_at: b.expires_at,
            email_notifications: b.email_notifications,
        }
    }
}

impl From<UpdateUserRequest> for AccountPatch {
    fn from(b: UpdateUserRequest) -> Self {
        Self {
            username: b.username,
            email: b.email,
            first_name: b.first_name,
            last_name: b.last_name,
            origin: b.origin,
            location: b.location,
            erp_id: b.erp_id,
            external_key: b.external_key,
            locale: b.locale,
            roles: b.roles,
            active: b.active,
            mfa_required: b.mfa_required,
            expires_at: b.expires_at,
            email_notifications: b.email_notifications,
            confirm: b.confirm.unwrap_or(false),
        }
    }
}

/// Which page of the list, of which accounts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Read from the same query string in one pass (two extractors cost `list` 4 %: bench/ab);
    /// documented as [`Selection`]'s own parameters.
    #[serde(flatten)]
    #[param(ignore)]
    pub selection: Selection,
}

/// Which accounts, in which order: the list's and the export's.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Selection {
    /// Case-insensitive prefix of username, email, first or last name.
    pub q: Option<String>,
    /// `inactive`, `locked`, `expired`, `invited` or `active`.
    pub status: Option<String>,
    /// A role name.
    pub role: Option<String>,
    /// A group's id: its members.
    pub group: Option<Uuid>,
    /// An application's id: accounts assigned to any of its instances or granted all of them,
    /// disabled assignments included.
    pub application: Option<Uuid>,
    /// An instance's id: accounts assigned to it or granted every instance of its application,
    /// disabled assignments included.
    pub instance: Option<Uuid>,
    /// `username` (default), `email`, `last_name` or `created_at`; prefix `-` for descending.
    pub sort: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage<'a> {
    pub items: Vec<UserResponse<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CursorData {
    s: String,
    k: String,
    i: Uuid,
}

fn sort_key(account: &Account, field: SortField) -> String {
    match field {
        SortField::Username => account.username.key(),
        SortField::Email => account.email.key(),
        SortField::LastName => account.last_name.key(),
        SortField::CreatedAt => String::new(),
    }
}

/// Where the page after one ending with `account` starts.
pub(super) fn position_after(sort: Sort, account: &Account) -> Position {
    Position {
        key: sort_key(account, sort.field),
        id: account.id,
    }
}

fn encode_cursor(sort: Sort, account: &Account) -> String {
    encode_position(sort, &position_after(sort, account))
}

/// The cursor of the page starting after `position`: base64url of `{"s": sort, "k": key, "i": id}`.
pub(crate) fn encode_position(sort: Sort, position: &Position) -> String {
    let data = CursorData {
        s: sort.name(),
        k: position.key.clone(),
        i: position.id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap_or_default())
}

pub(crate) fn decode_cursor(raw: &str, sort: Sort) -> ApiResult<Position> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidCursor,
            "use the next_cursor of a previous page, with the same sort",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if data.s != sort.name() {
        return Err(invalid());
    }
    Ok(Position {
        key: data.k,
        id: data.i,
    })
}

pub(crate) fn parse_list(params: ListParams) -> ApiResult<UserQuery> {
    let selection = params.selection;
    let bad = |detail: String| ApiError::new(ErrorCode::InvalidQuery, detail);
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let sort = match selection.sort.as_deref() {
        Some(s) => Sort::parse(s).ok_or_else(|| bad("sort must be username, email, last_name or created_at, optionally with a leading -".into()))?,
        None => Sort::default(),
    };
    let status = match selection.status.as_deref() {
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            bad("status must be inactive, locked, expired, invited or active".into())
        })?),
        None => None,
    };
    let after = params
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, sort))
        .transpose()?;
    let q = selection
        .q
        .map(|q| fold(q.trim()))
        .filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 254) {
        return Err(bad("q may be at most 254 characters".into()));
    }
    let mut filter = Filter::all();
    if let Some(q) = q {
        filter = filter.and(Filter::Search(q));
    }
    if let Some(status) = status {
        filter = filter.and(Filter::Status(status));
    }
    if let Some(role) = selection.role {
        filter = filter.and(Filter::Role(role));
    }
    if let Some(group) = selection.group {
        filter = filter.and(Filter::Group(group));
    }
    if let Some(application) = selection.application {
        filter = filter.and(Filter::Application(application));
    }
    if let Some(instance) = selection.instance {
        filter = filter.and(Filter::Instance(instance));
    }
    Ok(UserQuery {
        filter,
        sort,
        after,
        limit,
    })
}

/// `If-Match: "<version>"` (or `*`); `None` when absent or `*`.
pub(crate) fn if_match(req: &HttpRequest) -> ApiResult<Option<i64>> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or_default().trim();
    if raw == "*" {
        return Ok(None);
    }
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    raw.trim_matches('"').parse::<i64>().map(Some).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidIfMatch,
            "If-Match must be the ETag of the account, e.g. \"3\"",
        )
    })
}

/// List accounts
///
/// **Permission:** `users:read`. A page at a time: follow `next_cursor` (null on the last page)
/// with the same `sort`. `q` matches the start of the username, email, first or last name, case
/// and compatibility forms folded. Every filter given must hold (`status`, `role`, `group`,
/// `application`, `instance`, `q`); an id that names nothing selects nobody.
#[utoipa::path(
    tag = "users", operation_id = "list_users", params(ListParams, Selection), security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of accounts.", body = UserPage),
        (status = 400, description = "`invalid_query`, `invalid_cursor`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
    params: web::Query<ListParams>,
) -> ApiResult<HttpResponse> {
    let query = parse_list(params.into_inner())?;
    let sort = query.sort;
    let (accounts, more) = state
        .services
        .list_accounts(auth.credential(), query)
        .await?;
    let next_cursor = if more {
        accounts.last().map(|a| encode_cursor(sort, a))
    } else {
        None
    };
    let page = UserPage {
        items: accounts.iter().map(UserResponse::from).collect(),
        next_cursor,
    };
    Ok(json_body(
        HttpResponse::Ok(),
        BYTES_PER_ACCOUNT * (accounts.len() + 1),
        |out| account_json::write_page(out, &page),
    ))
}

/// Create an account
///
/// **Permission:** `users:write`; granting `admin` needs `admin`. Without `password` the account is
/// `invited`, and the response adds `activation_url`: the link (on `ROSTER_PUBLIC_URL`, never the
/// request's host) where its holder sets a first password, for the admin to hand over. The response
/// carries the new account and its `ETag`.
#[utoipa::path(
    tag = "users", operation_id = "create_user", request_body = CreateUserRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; an account without a password comes with its `activation_url`.", body = CreatedUserResponse, headers(("ETag" = String, description = "The version, quoted."))),
        (status = 400, description = "`malformed_json`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 409, description = "`username_taken`, `email_taken`, `seat_limit_reached` (the body names the `seat`, its `limit`, how many are `used` and `requested`), `conflict`."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`, with `errors` per field."),
        (status = 429, description = "`too_many_requests`: with a `password`, too many password hashes are waiting; retry after `Retry-After` seconds."),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    body: web::Json<CreateUserRequest>,
) -> ApiResult<HttpResponse> {
    let (account, activation) = state
        .services
        .create_account(
            auth.credential(),
            body.into_inner().into(),
            origin.0,
            rand::random(),
        )
        .await?;
    let Some(token) = activation else {
        return Ok(account_response(StatusCode::CREATED, &account));
    };
    // The account's JSON with `activation_url` added as its last member.
    let url = state.links.url(Purpose::Activation, &token);
    let mut response = HttpResponse::build(StatusCode::CREATED);
    response.insert_header((header::ETAG, format!("\"{}\"", account.version)));
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(json_body(response, BYTES_PER_ACCOUNT + 128, |out| {
        account_json::write_account(out, &UserResponse::from(&account))?;
        out.pop(); // the closing brace
        out.extend_from_slice(b",\"activation_url\":");
        serde_json::to_writer(&mut *out, &url)?;
        out.push(b'}');
        Ok(())
    }))
}

/// A new account, and for one created without a password (`invited`) the link that sets its
/// first password.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // documents the JSON `create_user` writes
#[schema(example = json!({
    "id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e5f", "username": "ana.lima", "email": "ana.lima@example.org",
    "first_name": "Ana", "last_name": "Lima", "origin": "manual", "location": null, "erp_id": null,
    "external_key": null, "locale": "en", "roles": ["user"], "active": true, "mfa_required": false,
    "expires_at": null, "email_notifications": true, "status": "invited",
    "created_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:00:00Z",
    "created_by": "0193a5f2-0000-7000-8000-000000000001", "updated_by": "0193a5f2-0000-7000-8000-000000000001",
    "activated_at": null, "last_active_at": null, "locked_at": null, "locked_until": null, "mfa_enabled": false, "version": 1,
    "activation_url": "https://console.example.org/activation#token=rot_AQGTpfJ8HnszqfAAK2ocnU5f…"
}))]
pub struct CreatedUserResponse<'a> {
    #[serde(flatten)]
    pub account: UserResponse<'a>,
    /// Only for an account created without a password: the link, on `ROSTER_PUBLIC_URL`, where
    /// its holder sets a first password (`POST /api/v1/auth/activate`). Single use; lasts 7 days.
    pub activation_url: Option<String>,
}

/// Read an account
///
/// **Permission:** any authenticated caller for their own account; `users:read` for others'. The
/// `ETag` is the account's version, for a later `If-Match`.
#[utoipa::path(
    tag = "users", operation_id = "get_user", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The account.", body = UserResponse, headers(("ETag" = String, description = "The version, quoted."))),
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    auth: Authenticated,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let account = state
        .services
        .get_account(auth.credential(), id.into_inner())
        .await?;
    Ok(account_response(actix_web::http::StatusCode::OK, &account))
}

/// Change an account
///
/// **Permission:** `users:write`; granting or removing `admin` and changing an email need `admin`;
/// nobody changes their own roles. Only the fields sent change; `null` clears a nullable field.
/// Send `If-Match` with the `ETag` you read: a change made by someone else meanwhile answers 412
/// instead of being overwritten.
#[utoipa::path(
    tag = "users", operation_id = "update_user", request_body = UpdateUserRequest, security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag last read, e.g. \"3\""),
    ),
    responses(
        (status = 200, description = "The changed account.", body = UserResponse, headers(("ETag" = String, description = "The new version."))),
        (status = 400, description = "`malformed_json`, `invalid_if_match`."),
        (status = 403, description = "`forbidden`, `own_roles`, `admin_role_required`, `email_change_requires_admin`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
        (status = 409, description = "`confirmation_required` (a role change to or from `guest` or `admin` without `\"confirm\": true`; the body lists its `consequences`), `email_taken`, `last_admin`, `primary_contact` (deactivating it), `seat_limit_reached` (activating it or giving it a role whose seats are taken; the body names the `seat`), `conflict`."),
        (status = 412, description = "`precondition_failed`: the account changed since it was read."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`, `username_immutable`."),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<UpdateUserRequest>,
) -> ApiResult<HttpResponse> {
    let expected = if_match(&req)?;
    let account = state
        .services
        .update_account(
            auth.credential(),
            id.into_inner(),
            body.into_inner().into(),
            expected,
            origin.0,
        )
        .await?;
    Ok(account_response(actix_web::http::StatusCode::OK, &account))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"outcome": "deactivated", "reason": "has_authored_changes"}))]
pub struct DeleteResult {
    /// Always `deactivated`: a deleted account answers 204 instead.
    pub outcome: String,
    pub reason: String,
}

/// Delete an account
///
/// **Permission:** `users:write`. An account that authored changes is deactivated instead, keeping
/// history (200 with the outcome); otherwise it is removed with its tokens (204).
#[utoipa::path(
    tag = "users", operation_id = "delete_user", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Deactivated instead of deleted, because the account authored changes.", body = DeleteResult),
        (status = 204, description = "Deleted, with its tokens and role assignments."),
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
        (status = 409, description = "`self_delete`, `primary_contact`, `last_admin`."),
    )
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let outcome = state
        .services
        .delete_account(auth.credential(), id.into_inner(), origin.0)
        .await?;
    Ok(match outcome {
        DeleteOutcome::Deleted => HttpResponse::NoContent().finish(),
        DeleteOutcome::Deactivated => HttpResponse::Ok().json(DeleteResult {
            outcome: "deactivated".into(),
            reason: "has_authored_changes".into(),
        }),
    })
}

/// Seat counts and limits.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "active_users": {"used": 42, "limit": 50},
    "roles": [
        {"role": "admin", "used": 2, "seats": null},
        {"role": "user", "used": 40, "seats": null},
        {"role": "guest", "used": 3, "seats": null},
        {"role": "production_manager", "used": 5, "seats": 5}
    ],
    "guest_seats": {"used": 7, "limit": 10}
}))]
pub struct SeatCounts {
    /// Active accounts that are not guests, and `active_user_limit` (`null`: unlimited).
    pub active_users: SeatCount,
    /// Per catalog role: its active holders, and its `seats` (`null`: unlimited).
    pub roles: Vec<RoleSeats>,
    /// Guest seats taken for good (one per email that ever held `guest`), and the guest role's
    /// seats.
    pub guest_seats: SeatCount,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatCount {
    pub used: i64,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleSeats {
    pub role: String,
    pub used: i64,
    pub seats: Option<i64>,
}

/// Count seats
///
/// **Permission:** `users:read`. How many seats are taken and what the limits are (SPEC §2): the
/// active-user limit, each role's seats (active holders), and the guest seats, which an email
/// keeps for good once it held `guest`.
#[utoipa::path(
    tag = "users", operation_id = "count_users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The counts.", body = SeatCounts),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/users/count")]
pub async fn count_users(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
) -> ApiResult<web::Json<SeatCounts>> {
    let counts = state.services.seat_counts(auth.credential()).await?;
    let count = |u: &domain::seats::SeatUsage| SeatCount {
        used: u.used,
        limit: u.limit,
    };
    let (first, rest) = counts
        .split_first()
        .ok_or_else(|| ApiError::new(ErrorCode::InternalError, "no seat counts"))?;
    let (last, roles) = rest
        .split_last()
        .ok_or_else(|| ApiError::new(ErrorCode::InternalError, "no seat counts"))?;
    Ok(web::Json(SeatCounts {
        active_users: count(first),
        roles: roles
            .iter()
            .map(|u| RoleSeats {
                role: domain::seats::seat_name(&u.key).to_owned(),
                used: u.used,
                seats: u.limit,
            })
            .collect(),
        guest_seats: count(last),
    }))
}

/// Unlock an account
///
/// **Permission:** `users:write`. Lifts a lock made by failed sign-ins and starts the
/// consecutive-failure count again (`PATCH` with `"active": true` does the same). An account that
/// is not locked is returned unchanged.
#[utoipa::path(
    tag = "users", operation_id = "unlock_user", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The account, unlocked.", body = UserResponse, headers(("ETag" = String, description = "The version, quoted."))),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
    )
)]
#[post("/users/{id}/unlock")]
pub async fn unlock_user(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let account = state
        .services
        .unlock_account(auth.credential(), id.into_inner(), origin.0)
        .await?;
    Ok(account_response(actix_web::http::StatusCode::OK, &account))
}

/// 200 with a body that carries a secret (a link's token): never cached.
pub(super) fn secret_response(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// A new activation link.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"activation_url": "https://console.example.org/activation#token=rot_AQGTpfJ8HnszqfAAK2ocnU5f…"}))]
pub struct ActivationResponse {
    /// The link, on `ROSTER_PUBLIC_URL`, where the account's holder sets a first password. Single
    /// use; lasts 7 days. Every link issued before no longer works.
    pub activation_url: String,
}

/// Re-issue an activation link
///
/// **Permission:** `users:write`; for an account holding `admin`, `admin`. For an `invited`
/// account (no password yet): a new activation link, which voids every link issued before (a lost
/// or expired one, say). An account with a password answers 409 `not_invited`.
#[utoipa::path(
    tag = "users", operation_id = "reissue_activation", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The new link.", body = ActivationResponse),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required` (the account holds `admin`). `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
        (status = 409, description = "`not_invited`: the account has a password."),
    )
)]
#[post("/users/{id}/activation")]
pub async fn reissue_activation(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let token = state
        .services
        .reissue_activation(auth.credential(), id.into_inner(), origin.0, rand::random())
        .await?;
    Ok(secret_response(ActivationResponse {
        activation_url: state.links.url(Purpose::Activation, &token),
    }))
}

/// Revoke activation links
///
/// **Permission:** `users:write`; for an account holding `admin`, `admin`. Voids every activation
/// link of an `invited` account (one handed to the wrong person, say); `POST` issues a new one. An
/// account with a password answers 409 `not_invited`.
#[utoipa::path(
    tag = "users", operation_id = "revoke_activation", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required` (the account holds `admin`). `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
        (status = 409, description = "`not_invited`: the account has a password."),
    )
)]
#[delete("/users/{id}/activation")]
pub async fn revoke_activation(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .services
        .revoke_activation(auth.credential(), id.into_inner(), origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How an admin resets a password.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetMode {
    /// A reset link: returned, and emailed when a mail server is configured.
    Link,
    /// A temporary password, returned this once: it signs in once within 24 hours, and then the
    /// holder must choose a password (the `set_password` challenge).
    TemporaryPassword,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mode": "link"}))]
pub struct PasswordResetRequest {
    pub mode: ResetMode,
}

/// A password reset: its link, or the temporary password (shown this once: hand it over now).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"mode": "link", "reset_url": "https://console.example.org/reset#token=rot_AQOTpfJ8HnszqfAAK2ocnU5f…", "expires_at": "2026-11-22T11:00:00Z"}))]
pub struct PasswordResetResponse {
    pub mode: ResetMode,
    /// `mode: link`: the link, on `ROSTER_PUBLIC_URL`, where the account's holder sets a new
    /// password (`POST /api/v1/auth/password/reset`). Single use. Reset links issued before no
    /// longer work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_url: Option<String>,
    /// `mode: temporary_password`: the password, e.g. `k7pqa-3mzre-…` (23 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_password: Option<String>,
    /// When the link or the temporary password stops working (1 hour; 24 hours).
    pub expires_at: DateTime<Utc>,
}

/// Reset a password
///
/// **Permission:** `users:write`; for an account holding `admin`, `admin`. For an active account
/// with a password: `mode: link` answers a reset link (emailed too, when a mail server is
/// configured) and voids the reset links before it; its password works until the link is used.
/// `mode: temporary_password` replaces the password with a temporary one, shown in this response
/// only, which signs in once within 24 hours and then asks for a new password (the `set_password`
/// challenge); it lifts a lock. Either way the account's sessions end at once. An inactive account
/// answers 409 `account_inactive`, an invited one (no password yet) 409 `account_invited`.
#[utoipa::path(
    tag = "users", operation_id = "reset_password", params(("id" = Uuid, Path, description = "Account id")), request_body = PasswordResetRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The reset link, or the temporary password.", body = PasswordResetResponse,
            examples(
                ("link" = (value = json!({"mode": "link", "reset_url": "https://console.example.org/reset#token=rot_AQOTpfJ8HnszqfAAK2ocnU5f…", "expires_at": "2026-11-22T11:00:00Z"}))),
                ("temporary_password" = (value = json!({"mode": "temporary_password", "temporary_password": "k7pqa-3mzre-x8bnd-qw2hc", "expires_at": "2026-11-23T10:00:00Z"}))),
            )),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required` (the account holds `admin`). `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
        (status = 409, description = "`account_inactive`, `account_invited`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`."),
        (status = 429, description = "`too_many_requests`: too many password hashes are waiting."),
    )
)]
#[post("/users/{id}/password-reset")]
pub async fn reset_password(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
    body: web::Json<PasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    let mode = body.into_inner().mode;
    let id = id.into_inner();
    let response = match mode {
        ResetMode::Link => {
            let (token, expires_at) = state
                .services
                .issue_reset_link(auth.credential(), id, origin.0, rand::random())
                .await?;
            PasswordResetResponse {
                mode,
                reset_url: Some(state.links.url(Purpose::Reset, &token)),
                temporary_password: None,
                expires_at,
            }
        }
        ResetMode::TemporaryPassword => {
            let password = Password::temporary(rand::random());
            let shown = password.expose().to_owned();
            let expires_at = state
                .services
                .issue_temporary_password(auth.credential(), id, password, origin.0)
                .await?;
            PasswordResetResponse {
                mode,
                reset_url: None,
                temporary_password: Some(shown),
                expires_at,
            }
        }
    };
    Ok(secret_response(response))
}

/// Revoke password reset links
///
/// **Permission:** `users:write`; for an account holding `admin`, `admin`. Voids every reset link
/// of the account.
#[utoipa::path(
    tag = "users", operation_id = "revoke_password_reset", params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required` (the account holds `admin`). `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`user_not_found`."),
    )
)]
#[delete("/users/{id}/password-reset")]
pub async fn revoke_password_reset(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .services
        .revoke_reset_links(auth.credential(), id.into_inner(), origin.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

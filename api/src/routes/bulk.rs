//! Bulk work on accounts (SPEC §7): the import template, the CSV import and export, the bulk
//! edit, and bulk delete, unlock and password reset.

use actix_web::{
    get,
    http::header::{self, HeaderMap},
    patch, post, web, HttpRequest, HttpResponse,
};
use chrono::{DateTime, Utc};
use domain::{
    account::Account,
    import,
    one_time::Purpose,
    paging::UserQuery,
    services::{
        BulkAction, BulkChanges, BulkOutcome, DeleteOutcome, ImportOptions, ImportReport,
        RowOutcome,
    },
    spreadsheet::CsvWriter,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::users::{parse_list, position_after, secret_response, ListParams, Selection};
use crate::{
    app::AppState,
    auth::{Authorized, ReadUsers, RequestOrigin, WriteUsers},
    error::{ApiError, ApiResult, ErrorCode},
};

/// Accounts read from the database per chunk of an export.
const EXPORT_PAGE: u32 = 1000;

pub(super) fn csv_response(filename: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ));
    response
}

/// Download the import template
///
/// **Permission:** none: a header line, no data, so a console can offer it as a plain link. The
/// columns an import reads, in the order an export writes them: `first_name`, `last_name`, `email`
/// (required), `role`, `active`, `username`, `locale`, `location`, `erp_id`. UTF-8 with a
/// byte-order mark (Excel then reads accents right), CRLF line ends.
#[utoipa::path(
    tag = "users", operation_id = "import_template", security(()),
    responses(
        (status = 200, description = "The header line.", content_type = "text/csv",
         body = String, example = "first_name,last_name,email,role,active,username,locale,location,erp_id\r\n"),
    )
)]
#[get("/users/import/template")]
pub async fn import_template() -> ApiResult<HttpResponse> {
    let mut csv = CsvWriter::new();
    csv.row(import::header())?;
    Ok(csv_response("roster-import.csv").body(csv.take()?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check everything (validation, existing accounts, seat limits) and answer what the import
    /// would do, writing nothing.
    pub dry_run: Option<bool>,
    /// Email each new account its invitation link (through the outbox; needs a mail server).
    /// Without it the accounts are `invited` quietly: send links later one by one
    /// (`POST /api/v1/users/{id}/activation`).
    pub send_invitations: Option<bool>,
    /// An application's id: assign every new account to `instances` of it.
    pub application: Option<Uuid>,
    /// The application's instance ids, separated by commas.
    pub instances: Option<String>,
}

/// A form with the file, as a browser's file input sends it.
#[derive(ToSchema)]
#[allow(dead_code)] // Only describes the form; `read_file` reads it.
pub struct ImportForm {
    /// The CSV file.
    #[schema(value_type = String, format = Binary, content_media_type = "text/csv")]
    file: Vec<u8>,
}

/// A problem with a rejected row.
#[derive(Serialize, ToSchema)]
pub struct RowProblem {
    pub line: u64,
    /// The column (`email`, `first_name`, `role`, …), or `row` for the row as a whole.
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// What became of one row.
#[derive(Serialize, ToSchema)]
pub struct ImportRowResult {
    /// The row's number as a spreadsheet shows it: the header is 1, the first account 2.
    pub line: u64,
    /// `uploaded`, `ignored` or `rejected`.
    pub status: &'static str,
    /// `uploaded`: the new account (none in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `ignored`: the column whose value an account (or an earlier row) has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// `ignored`: `username_taken`, `email_taken` or `duplicate_in_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// `rejected`: every problem of the row.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RowProblem>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "uploaded": 1, "ignored": 1, "rejected": 1, "dry_run": false, "ignored_columns": ["Notes"],
    "rows": [
        {"line": 2, "status": "uploaded", "id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "username": "ana.lima@example.org"},
        {"line": 3, "status": "ignored", "field": "email", "code": "email_taken"},
        {"line": 4, "status": "rejected", "errors": [{"line": 4, "field": "email", "code": "invalid_email", "message": "enter an email address like name@example.org"}]}
    ]
}))]
pub struct ImportResponse {
    /// Accounts created (in a dry run: that would be).
    pub uploaded: u64,
    /// Rows whose username or email exists (or an earlier row of the file has).
    pub ignored: u64,
    /// Rows that cannot be an account, with why.
    pub rejected: u64,
    pub dry_run: bool,
    /// Header columns Roster does not know; their cells were skipped.
    pub ignored_columns: Vec<String>,
    /// One per row, in the file's order (rows of empty cells are skipped).
    pub rows: Vec<ImportRowResult>,
}

impl From<ImportReport> for ImportResponse {
    fn from(report: ImportReport) -> Self {
        let rows = report
            .rows
            .into_iter()
            .map(|row| {
                let mut out = ImportRowResult {
                    line: row.line,
                    status: "",
                    id: None,
                    username: None,
                    field: None,
                    code: None,
                    errors: Vec::new(),
                };
                match row.outcome {
                    RowOutcome::Uploaded { id, username } => {
                        out.status = "uploaded";
                        out.id = id;
                        out.username = Some(username);
                    }
                    RowOutcome::Ignored { field, code } => {
                        out.status = "ignored";
                        out.field = Some(field);
                        out.code = Some(code);
                    }
                    RowOutcome::Rejected(errors) => {
                        out.status = "rejected";
                        out.errors = errors
                            .into_iter()
                            .map(|e| RowProblem {
                                line: row.line,
                                field: e.field,
                                code: e.code,
                                message: e.message,
                            })
                            .collect();
                    }
                }
                out
            })
            .collect();
        Self {
            uploaded: report.uploaded,
            ignored: report.ignored,
            rejected: report.rejected,
            dry_run: report.dry_run,
            ignored_columns: report.ignored_columns,
            rows,
        }
    }
}

/// Import accounts from a CSV file
///
/// **Permission:** `users:write`; rows giving the `admin` role need `admin` (else they are
/// rejected). The file is the body (`Content-Type: text/csv`), or the file field of a
/// `multipart/form-data` form (as a browser's file input sends it), at most `import.max_bytes`
/// (default 100 KB, about 1,000 rows; `roster import` takes larger files). UTF-8, with or
/// without a byte-order mark; CRLF or LF; quoted cells; `;`-separated when the header has no
/// comma (Excel in many languages writes so).
///
/// Columns, matched by header case-, space-, `_`- and `-`-insensitively (`First Name` =
/// `first_name`), in any order: `first_name`, `last_name`, `email` (required), `role`
/// (`Administrator` = `admin`, `User` = `user`, or any catalog role in any case; several separated
/// by `;`; default: the settings' `default_role`), `active` (`true/false`, `yes/no`, `1/0`;
/// default true), `username` (default: the email), `locale`, `location`, `erp_id`. Other names
/// other products use are understood too (`Portal Role`, `E-mail`, `Surname`, `Employee ID`, …);
/// unknown columns are skipped and listed in `ignored_columns`.
///
/// Each row is **uploaded** (a new `invited` account, audited as `user.created`), **ignored** (an
/// account has its username or email, or an earlier row of the file does), or **rejected** (with
/// each problem's line, field, code and message). The uploaded rows are created in one
/// transaction: if the new active accounts would pass a seat limit, nothing is written (409).
/// `dry_run=true` answers the same without writing. `application` and `instances` assign every
/// new account (guests are rejected then); `send_invitations=true` emails each its invitation.
#[utoipa::path(
    tag = "users", operation_id = "import_users", params(ImportParams), security(("bearer" = [])),
    request_body(description = "The CSV file: the body, or the `file` field of a form.", content(
        (String = "text/csv", example = json!("First Name,Last Name,Email,Portal Role,Active\r\nAna,Lima,ana.lima@example.org,User,TRUE\r\n\"Chen, Bo\",Berg,bo.berg@example.org,Administrator,no\r\n")),
        (ImportForm = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "What became of each row.", body = ImportResponse),
        (status = 400, description = "`invalid_query`: a bad `instances` id, or `dry_run`/`send_invitations` not true or false."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 404, description = "`application_not_found`."),
        (status = 409, description = "`seat_limit_reached`: the new active accounts would pass a seat's limit (`seat`, `limit`, `used`, `requested`); nothing was written."),
        (status = 413, description = "`payload_too_large`: the file is over `import.max_bytes` (the limit is in `detail`); nothing was written."),
        (status = 415, description = "`unsupported_media_type`: neither `text/csv` nor a `multipart/form-data` form with a file."),
        (status = 422, description = "`validation_failed`, nothing written: the file as a whole (`file`: `empty_file`, `missing_columns`, `duplicate_column`, `not_utf8`, `unreadable_csv`), `instances` without `application` or the reverse (`required`), an instance of another application (`unknown_instance`)."),
    )
)]
#[post("/users/import")]
pub async fn import_users(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    params: web::Query<ImportParams>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let instances = match params.instances.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|id| id.trim().parse::<Uuid>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    "instances must be instance ids separated by commas",
                )
            })?,
    };
    let credential = auth.credential();
    // The caller's permission before the file: one who may not sends no more.
    state.services.authorize(credential.clone()).await?;
    let file = read_file(req.headers(), payload, state.import_max_bytes).await?;
    let options = ImportOptions {
        dry_run: params.dry_run.unwrap_or(false),
        send_invitations: params.send_invitations.unwrap_or(false),
        application: params.application,
        instances,
        list_uploaded: true,
    };
    let report = state
        .services
        .import_accounts(credential, file, options, origin.0)
        .await?;
    Ok(HttpResponse::Ok().json(ImportResponse::from(report)))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "the file may be at most {limit} bytes (import.max_bytes); import larger files with `roster import FILE.csv`"
        ),
    )
}

/// The file of an import request: the body, or a form's file field; 413 past `limit` bytes, read
/// no further.
async fn read_file(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: usize,
) -> ApiResult<Vec<u8>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media == "multipart/form-data" {
        // The form's envelope may add a little to the file.
        if declared.is_some_and(|n| n > limit + 16 * 1024) {
            return Err(too_large(limit));
        }
        let mut form = actix_multipart::Multipart::new(headers, payload);
        while let Some(field) = form.next().await {
            let mut field = field.map_err(bad_form)?;
            let is_file = field
                .content_disposition()
                .is_some_and(|d| d.get_filename().is_some() || d.get_name() == Some("file"));
            let mut bytes = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(bad_form)?;
                if is_file {
                    if bytes.len() + chunk.len() > limit {
                        return Err(too_large(limit));
                    }
                    bytes.extend_from_slice(&chunk);
                }
            }
            if is_file {
                return Ok(bytes);
            }
        }
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the form has no file: send the CSV file in a field named `file`",
        ));
    }
    const CSV_TYPES: [&str; 5] = [
        "text/csv",
        "application/csv",
        "text/plain",
        // What browsers on Windows call a .csv file.
        "application/vnd.ms-excel",
        "text/comma-separated-values",
    ];
    if !CSV_TYPES.contains(&media) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the CSV file as the body with Content-Type: text/csv, or as the file of a multipart/form-data form",
        ));
    }
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| crate::limits::unreadable(&e))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn bad_form(e: actix_multipart::MultipartError) -> ApiError {
    if let actix_multipart::MultipartError::Payload(e) = &e {
        return crate::limits::unreadable(e);
    }
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("the multipart/form-data body cannot be read: {e}"),
    )
}

/// Export accounts as CSV
///
/// **Permission:** `users:read`. The accounts the list would show for the same `q`, filters and
/// `sort` (every page of it), as a CSV file with the import's columns, so the file imports again
/// (each of its rows is then `ignored`, the accounts existing). Streamed as it is read, in
/// chunks of 1,000 accounts: any size takes the server the same memory. UTF-8 with a
/// byte-order mark, CRLF line ends; roles separated by `;`; a cell a spreadsheet would run as a
/// formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a
/// leading `'`, which spreadsheets show as text and an import takes off again.
#[utoipa::path(
    tag = "users", operation_id = "export_users", params(Selection), security(("bearer" = [])),
    responses(
        (status = 200, description = "The CSV file.", content_type = "text/csv", body = String,
         example = "first_name,last_name,email,role,active,username,locale,location,erp_id\r\nAna,Lima,ana.lima@example.org,user,true,ana.lima,en,Porto,\r\n"),
        (status = 400, description = "`invalid_query`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `users:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/users/export")]
pub async fn export_users(
    state: web::Data<AppState>,
    auth: Authorized<ReadUsers>,
    selection: web::Query<Selection>,
) -> ApiResult<HttpResponse> {
    let mut query = parse_list(ListParams {
        limit: None,
        cursor: None,
        selection: selection.into_inner(),
    })?;
    query.limit = EXPORT_PAGE;
    let credential = auth.credential();
    let services = state.services.clone();
    // The first page before the response starts: a refusal is still a problem+json answer.
    let first = services
        .list_accounts(credential.clone(), query.clone())
        .await?;
    let mut csv = CsvWriter::new();
    csv.row(import::header())?;
    let page = move |query: UserQuery, (accounts, more): (Vec<Account>, bool)| {
        let rows = accounts
            .iter()
            .map(|a| import::cells(a).iter().map(|c| c.to_string()).collect())
            .collect();
        let next = match (more, accounts.last()) {
            (true, Some(last)) => Some(UserQuery {
                after: Some(position_after(query.sort, last)),
                ..query
            }),
            _ => None,
        };
        (rows, next)
    };
    let first = page(query, first);
    let body = csv_pages(csv, first, move |query: UserQuery| {
        let (services, credential) = (services.clone(), credential.clone());
        async move {
            let read = services.list_accounts(credential, query.clone()).await?;
            Ok(page(query, read))
        }
    });
    let filename = format!("roster-users-{}.csv", chrono::Utc::now().format("%Y-%m-%d"));
    Ok(csv_response(&filename).streaming(body))
}

/// One page of a CSV file's rows, and where the next starts (`None`: the last).
pub(super) type CsvPage<C> = (Vec<Vec<String>>, Option<C>);

/// A CSV body streamed a page at a time (an export, a report): `first`, already read (so that a
/// refusal was still a problem+json answer), then each page `next` reads, through `csv`, so
/// any size takes the server the memory of one page. A failure part way (the database gone)
/// ends the body early, which the client sees as a broken transfer.
pub(super) fn csv_pages<C, F, Fut>(
    csv: CsvWriter,
    first: CsvPage<C>,
    next: F,
) -> impl futures_util::Stream<Item = std::io::Result<web::Bytes>> + 'static
where
    C: 'static,
    F: FnMut(C) -> Fut + 'static,
    Fut: std::future::Future<Output = domain::Result<CsvPage<C>>> + 'static,
{
    enum Step<C> {
        Page(CsvPage<C>),
        Next(C),
        Done,
    }
    futures_util::stream::unfold(
        (csv, Step::Page(first), next),
        |(mut csv, step, mut next)| async move {
            let page = match step {
                Step::Done => return None,
                Step::Page(page) => Ok(page),
                Step::Next(cursor) => next(cursor).await,
            };
            let chunk = page.and_then(|(rows, cursor)| {
                for row in &rows {
                    csv.row(row.iter().map(String::as_str))?;
                }
                Ok((csv.take()?, cursor))
            });
            Some(match chunk {
                Ok((bytes, cursor)) => (
                    Ok(web::Bytes::from(bytes)),
                    (csv, cursor.map_or(Step::Done, Step::Next), next),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "a CSV download stopped part way");
                    (Err(std::io::Error::other(e)), (csv, Step::Done, next))
                }
            })
        },
    )
}

/// What a bulk edit changes: fields many accounts share, never a unique one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkEditChanges {
    /// The accounts' roles, replacing theirs (catalog names).
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
    /// A BCP 47 language tag, e.g. `de-AT`.
    pub locale: Option<String>,
    pub mfa_required: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ids": ["0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e02"], "changes": {"locale": "de-AT", "roles": ["user"]}, "confirm": false}))]
pub struct BulkEditRequest {
    /// 1–1,000 account ids.
    pub ids: Vec<Uuid>,
    pub changes: BulkEditChanges,
    /// The caller saw the consequences (`confirmation_required`) and confirms them for every
    /// account.
    pub confirm: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"updated": ["0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01"], "unchanged": ["0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e02"]}))]
pub struct BulkEditResponse {
    /// Accounts changed, each audited as `user.updated`.
    pub updated: Vec<Uuid>,
    /// Accounts that had these values already.
    pub unchanged: Vec<Uuid>,
}

/// Change many accounts at once
///
/// **Permission:** `users:write`; granting or removing `admin` needs `admin`. `changes` sets
/// `roles`, `active`, `locale` and `mfa_required` (never a unique field: any other field is 422)
/// on every account of `ids`, each by the rules of a single change, in one transaction: all of
/// them, or none. Role changes with consequences (to or from `guest` or `admin`) answer 409
/// `confirmation_required` with the consequences over every account; send again with
/// `confirm: true`. The last active admin, the primary contact, seat limits and one's own roles
/// or active flag refuse the whole change.
#[utoipa::path(
    tag = "users", operation_id = "bulk_update_users", request_body = BulkEditRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Which accounts changed.", body = BulkEditResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required`, `own_roles`, `own_active`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 409, description = "`confirmation_required` (with `consequences`), `last_admin`, `primary_contact`, `seat_limit_reached`; nothing was written."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `ids` empty (`required`), over 1,000 (`too_many`) or naming no account (`unknown_account`); `changes` empty (`required`) or an invalid value (`roles`: `unknown_role`, `exclusive_role`; `locale`); an unknown field (`email`, `username`, …)."),
    )
)]
#[patch("/users")]
pub async fn bulk_update_users(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    body: web::Json<BulkEditRequest>,
) -> ApiResult<HttpResponse> {
    let BulkEditRequest {
        ids,
        changes,
        confirm,
    } = body.into_inner();
    let changes = BulkChanges {
        roles: changes.roles,
        active: changes.active,
        locale: changes.locale,
        mfa_required: changes.mfa_required,
    };
    let edit = state
        .services
        .bulk_update_accounts(
            auth.credential(),
            ids,
            changes,
            confirm.unwrap_or(false),
            origin.0,
        )
        .await?;
    Ok(HttpResponse::Ok().json(BulkEditResponse {
        updated: edit.updated,
        unchanged: edit.unchanged,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ids": ["0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e02"]}))]
pub struct BulkIdsRequest {
    /// 1–500 account ids.
    pub ids: Vec<Uuid>,
}

/// What became of one account.
#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    pub id: Uuid,
    /// `deleted`, `deactivated` (a delete of an account that authored changes), `unlocked`,
    /// `unchanged` (an unlock of an account without a lock or failures), `reset_link_issued`,
    /// or `failed`.
    pub result: &'static str,
    /// `failed`: the error code a single request would have answered (`user_not_found`,
    /// `last_admin`, `self_delete`, `primary_contact`, `account_inactive`, `account_invited`,
    /// `admin_role_required`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `reset_link_issued`: the link (emailed too, when a mail server is configured); single use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"results": [
    {"id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "result": "deleted"},
    {"id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e02", "result": "failed", "code": "last_admin", "detail": "the last active admin cannot lose the admin role, be deactivated or be deleted"}
]}))]
pub struct BulkResponse {
    /// One per account, in the order of `ids` (each id once).
    pub results: Vec<BulkResult>,
}

async fn bulk(
    state: &AppState,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    action: BulkAction,
    ids: Vec<Uuid>,
) -> ApiResult<HttpResponse> {
    let nonces = match action {
        BulkAction::PasswordReset => ids.iter().map(|_| rand::random()).collect(),
        BulkAction::Delete | BulkAction::Unlock => Vec::new(),
    };
    let outcomes = state
        .services
        .bulk_act(auth.credential(), action, ids, nonces, origin.0)
        .await?;
    let results = outcomes
        .into_iter()
        .map(|(id, outcome)| {
            let mut result = BulkResult {
                id,
                result: "",
                code: None,
                detail: None,
                reset_url: None,
                expires_at: None,
            };
            match outcome {
                BulkOutcome::Deleted(DeleteOutcome::Deleted) => result.result = "deleted",
                BulkOutcome::Deleted(DeleteOutcome::Deactivated) => result.result = "deactivated",
                BulkOutcome::Unlocked(true) => result.result = "unlocked",
                BulkOutcome::Unlocked(false) => result.result = "unchanged",
                BulkOutcome::ResetLink(token, until) => {
                    result.result = "reset_link_issued";
                    result.reset_url = Some(state.links.url(Purpose::Reset, &token));
                    result.expires_at = Some(until);
                }
                BulkOutcome::Failed(error) => {
                    let error = ApiError::from(error);
                    result.result = "failed";
                    result.code = Some(error.code.as_str());
                    result.detail = Some(error.detail);
                }
            }
            result
        })
        .collect();
    Ok(secret_response(BulkResponse { results }))
}

macro_rules! bulk_route {
    ($(#[doc = $doc:literal])* $name:ident, $path:literal, $operation:literal, $action:expr) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            tag = "users", operation_id = $operation, request_body = BulkIdsRequest, security(("bearer" = [])),
            responses(
                (status = 200, description = "One result per account, in the order of `ids`.", body = BulkResponse),
                (status = 400, description = "`malformed_json`."),
                (status = 401, description = "`unauthenticated`."),
                (status = 403, description = "`forbidden`: needs `users:write`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
                (status = 413, description = "`payload_too_large`."),
                (status = 415, description = "`unsupported_media_type`."),
                (status = 422, description = "`validation_failed`: `ids` empty (`required`) or over 500 (`too_many`)."),
            )
        )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            auth: Authorized<WriteUsers>,
            origin: RequestOrigin,
            body: web::Json<BulkIdsRequest>,
        ) -> ApiResult<HttpResponse> {
            bulk(&state, auth, origin, $action, body.into_inner().ids).await
        }
    };
}

bulk_route!(
    /// Delete many accounts
    ///
    /// **Permission:** `users:write`. Each account of `ids` (1–500) as `DELETE /api/v1/users/{id}`
    /// would: `deleted`, or `deactivated` when it authored changes; each in its own transaction,
    /// audited, with its own result, so a refusal (`last_admin`, `self_delete`, `primary_contact`,
    /// `user_not_found`) stops only its own.
    bulk_delete_users, "/users/bulk/delete", "bulk_delete_users", BulkAction::Delete
);

bulk_route!(
    /// Unlock many accounts
    ///
    /// **Permission:** `users:write`. Each account of `ids` (1–500) as
    /// `POST /api/v1/users/{id}/unlock` would: `unlocked` (its lock lifted and its failure count
    /// reset, audited as `user.unlocked`), or `unchanged` when it had neither; each with its own
    /// result (`user_not_found` for an unknown id).
    bulk_unlock_users, "/users/bulk/unlock", "bulk_unlock_users", BulkAction::Unlock
);

bulk_route!(
    /// Send many accounts a password reset link
    ///
    /// **Permission:** `users:write`; for an account holding `admin`, `admin`. Each account of
    /// `ids` (1–500) as `POST /api/v1/users/{id}/password-reset` with `mode: link` would:
    /// `reset_link_issued` with the link (emailed too when a mail server is configured; single
    /// use), the links before it void, its sessions ended; each with its own result
    /// (`account_inactive`, `account_invited`, `admin_role_required`, `user_not_found` fail only
    /// their own). Temporary passwords are one at a time.
    bulk_reset_passwords, "/users/bulk/password-reset", "bulk_reset_passwords", BulkAction::PasswordReset
);

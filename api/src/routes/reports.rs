//! `/api/v1/reports/*.csv`: CSV reports drawn from the audit trail and the accounts (SPEC §9,
//! `domain::reports`), streamed a thousand records at a time through the export's CSV writer.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use domain::{
    reports::{self, Report},
    services::ReportCursor,
    spreadsheet::CsvWriter,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::bulk::{csv_pages, csv_response};
use crate::{
    app::AppState,
    auth::{Authorized, ReadAudit},
    error::ApiResult,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// From this time on (RFC 3339, inclusive); at most 180 days ago. Default: 180 days ago.
    pub from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339, exclusive). Default: now.
    pub to: Option<DateTime<Utc>>,
}

async fn report(
    state: web::Data<AppState>,
    auth: Authorized<ReadAudit>,
    params: ReportParams,
    report: Report,
) -> ApiResult<HttpResponse> {
    let window = reports::window(params.from, params.to, domain::now())?;
    let credential = auth.credential();
    let services = state.services.clone();
    // The first page before the response starts: a refusal is still a problem+json answer.
    let first = services
        .report_page(credential.clone(), report, window, None)
        .await?;
    let mut csv = CsvWriter::new();
    if let Some(line) = &first.cut {
        csv.row([line.as_str()])?;
    }
    csv.row(report.columns().iter().copied())?;
    let body = csv_pages(
        csv,
        (first.rows, first.next),
        move |cursor: ReportCursor| {
            let (services, credential) = (services.clone(), credential.clone());
            async move {
                let page = services
                    .report_page(credential, report, window, Some(cursor))
                    .await?;
                Ok((page.rows, page.next))
            }
        },
    );
    let filename = format!(
        "roster-{}-{}.csv",
        report.name(),
        Utc::now().format("%Y-%m-%d")
    );
    Ok(csv_response(&filename)
        .insert_header(("Cache-Control", "no-store"))
        .streaming(body))
}

/// Report: assignment changes
///
/// **Permission:** `audit:read`. Every assignment change in the window, oldest first:
/// `at, action (assigned|unassigned|enabled|disabled), user_id, username, application_id,
/// application, instance_id, instance, all_instances, instance_role, reason, actor_id, actor`.
/// Names of applications and instances are today's (empty for one since deleted); the username
/// is the one the account had then. At most the first 10,000 records: a report cut there starts
/// with a line `# Cut at the first 10000 records; the rest of the window starts at …` naming the
/// `from` that lists the rest. UTF-8 with a byte-order mark, CRLF line ends; a cell a
/// spreadsheet would run as a formula is written with a leading `'`.
#[utoipa::path(
    tag = "audit", operation_id = "report_assignments", params(ReportParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "The CSV file.", content_type = "text/csv", body = String,
         example = "at,action,user_id,username,application_id,application,instance_id,instance,all_instances,instance_role,reason,actor_id,actor\r\n2026-11-20T09:15:02.114Z,assigned,0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01,ana.lima,0193a5f2-0000-7000-8000-00000000a001,Payroll,0193a5f2-0000-7000-8000-00000000b001,Payroll EU,,user,,0193a5f2-0000-7000-8000-000000000001,admin\r\n"),
        (status = 400, description = "`invalid_query` (a time that is not RFC 3339)."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `audit:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 422, description = "`validation_failed`: `from` more than 180 days ago (`outside_report_window`), or `to` not after `from` (`window_ends_before_it_starts`)."),
    )
)]
#[get("/reports/assignments.csv")]
pub async fn report_assignments(
    state: web::Data<AppState>,
    auth: Authorized<ReadAudit>,
    params: web::Query<ReportParams>,
) -> ApiResult<HttpResponse> {
    report(state, auth, params.into_inner(), Report::Assignments).await
}

/// Report: deleted accounts
///
/// **Permission:** `audit:read`. Every account deleted in the window, oldest first, as it was:
/// `at, user_id, username, email, first_name, last_name, roles, actor_id, actor`. (A delete that
/// deactivated the account instead, because it had authored changes, is not a deletion: the
/// account is in the `users` report.) The window, the 10,000-record cut and the file's form are
/// those of the assignments report.
#[utoipa::path(
    tag = "audit", operation_id = "report_deletions", params(ReportParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "The CSV file.", content_type = "text/csv", body = String,
         example = "at,user_id,username,email,first_name,last_name,roles,actor_id,actor\r\n2026-11-21T16:40:00.002Z,0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e07,bo.berg,bo.berg@example.org,Bo,Berg,user,0193a5f2-0000-7000-8000-000000000001,admin\r\n"),
        (status = 400, description = "`invalid_query` (a time that is not RFC 3339)."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `audit:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 422, description = "`validation_failed`: `from` more than 180 days ago (`outside_report_window`), or `to` not after `from` (`window_ends_before_it_starts`)."),
    )
)]
#[get("/reports/deletions.csv")]
pub async fn report_deletions(
    state: web::Data<AppState>,
    auth: Authorized<ReadAudit>,
    params: web::Query<ReportParams>,
) -> ApiResult<HttpResponse> {
    report(state, auth, params.into_inner(), Report::Deletions).await
}

/// Report: sign-ins
///
/// **Permission:** `audit:read`. Every sign-in in the window, oldest first, succeeded or
/// failed with its true reason: `at, outcome (succeeded|failed), reason, user_id, username,
/// login (as typed, for a failure), address, user_agent`. The window, the 10,000-record cut
/// and the file's form are those of the assignments report.
#[utoipa::path(
    tag = "audit", operation_id = "report_logins", params(ReportParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "The CSV file.", content_type = "text/csv", body = String,
         example = "at,outcome,reason,user_id,username,login,address,user_agent\r\n2026-11-22T08:01:13.530Z,failed,wrong_password,0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01,ana.lima,ana.lima,203.0.113.7,Mozilla/5.0\r\n"),
        (status = 400, description = "`invalid_query` (a time that is not RFC 3339)."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `audit:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 422, description = "`validation_failed`: `from` more than 180 days ago (`outside_report_window`), or `to` not after `from` (`window_ends_before_it_starts`)."),
    )
)]
#[get("/reports/logins.csv")]
pub async fn report_logins(
    state: web::Data<AppState>,
    auth: Authorized<ReadAudit>,
    params: web::Query<ReportParams>,
) -> ApiResult<HttpResponse> {
    report(state, auth, params.into_inner(), Report::Logins).await
}

/// Report: accounts
///
/// **Permission:** `audit:read`. The accounts as they are now, oldest first (`from` and `to`
/// do not apply): `id, username, email, first_name, last_name, roles, status, created_at,
/// updated_at (last modified), last_active_at, applications` (the names of the applications it
/// is assigned to, separated by `;`). At most the first 10,000: a report cut there starts with
/// a line `# Cut at the first 10000 of … accounts` (`GET /api/v1/users/export` lists them
/// all). The file's form is that of the assignments report.
#[utoipa::path(
    tag = "audit", operation_id = "report_users", params(ReportParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "The CSV file.", content_type = "text/csv", body = String,
         example = "id,username,email,first_name,last_name,roles,status,created_at,updated_at,last_active_at,applications\r\n0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01,ana.lima,ana.lima@example.org,Ana,Lima,user,active,2026-06-02T10:00:00.000Z,2026-11-20T09:15:02.114Z,2026-11-27T07:59:41.020Z,Payroll;Wiki\r\n"),
        (status = 400, description = "`invalid_query` (a time that is not RFC 3339)."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `audit:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
    )
)]
#[get("/reports/users.csv")]
pub async fn report_users(
    state: web::Data<AppState>,
    auth: Authorized<ReadAudit>,
    params: web::Query<ReportParams>,
) -> ApiResult<HttpResponse> {
    // The window does not apply; a bad time is still a bad query (400), as everywhere.
    let _ = params.into_inner();
    let now = domain::now();
    let all = ReportParams {
        from: Some(now - chrono::Duration::days(reports::WINDOW_DAYS)),
        to: Some(now),
    };
    report(state, auth, all, Report::Users).await
}

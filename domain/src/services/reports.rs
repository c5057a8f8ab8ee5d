//! CSV reports (SPEC §9, [`crate::reports`]): read a page at a time, so a report is streamed as
//! it is read. `audit:read`, like the trail they are drawn from.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Credential, Services};
use crate::{
    filter::Filter,
    paging::{Position, Sort, SortField, UserQuery},
    reports::{self, Names, Report, Window, MAX_RECORDS},
    roles::Permission,
    Result,
};

/// Records read per database step.
const REPORT_PAGE: usize = 1_000;

/// Where the next page of a report starts.
#[derive(Debug, Clone, Default)]
pub struct ReportCursor {
    /// The last event listed (an event report).
    pub after_event: Option<Uuid>,
    /// The last account listed (the users report, oldest first).
    pub after_account: Option<Uuid>,
    /// Records listed so far.
    pub listed: usize,
}

/// One page of a report's rows.
#[derive(Debug, Clone)]
pub struct ReportPage {
    /// On the first page of a report cut at [`MAX_RECORDS`]: the line that says so.
    pub cut: Option<String>,
    pub rows: Vec<Vec<String>>,
    /// `None` after the last page.
    pub next: Option<ReportCursor>,
}

impl Services {
    /// The page of `report` after `cursor` (`None`: its first page, which also tells whether
    /// the report is cut).
    pub async fn report_page(
        &self,
        credential: Credential,
        report: Report,
        window: Window,
        cursor: Option<ReportCursor>,
    ) -> Result<ReportPage> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::AuditRead)?;
            let first = cursor.is_none();
            let cursor = cursor.unwrap_or_default();
            let room = REPORT_PAGE.min(MAX_RECORDS - cursor.listed.min(MAX_RECORDS));
            s.store.read(|tx| {
                let now = crate::now();
                let (cut, rows, more, last_event, last_account) = if report == Report::Users {
                    let total = tx.count_accounts()?;
                    let query = UserQuery {
                        filter: Filter::all(),
                        sort: Sort {
                            field: SortField::CreatedAt,
                            descending: false,
                        },
                        after: cursor.after_account.map(|id| Position {
                            key: String::new(),
                            id,
                        }),
                        limit: room as u32,
                    };
                    // `limit + 1` at most: whether more follow.
                    let mut accounts = tx.list_accounts(&query, now)?;
                    let more = accounts.len() > room;
                    accounts.truncate(room);
                    let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
                    let mut applications: HashMap<Uuid, Vec<String>> = HashMap::new();
                    for (user, name) in tx.applications_of(&ids)? {
                        applications.entry(user).or_default().push(name);
                    }
                    let rows = accounts
                        .iter()
                        .map(|a| {
                            let names = applications.get(&a.id).map(Vec::as_slice).unwrap_or(&[]);
                            reports::user_row(a, names, now)
                        })
                        .collect::<Vec<_>>();
                    let cut = (first && total > MAX_RECORDS as i64)
                        .then(|| reports::users_cut_line(total));
                    (cut, rows, more, None, accounts.last().map(|a| a.id))
                } else {
                    let actions = report.actions();
                    let cut = if first {
                        tx.report_events(actions, window, None, MAX_RECORDS as u32, 1)?
                            .first()
                            .map(|next| reports::events_cut_line(next.at))
                    } else {
                        None
                    };
                    let mut events =
                        tx.report_events(actions, window, cursor.after_event, 0, room as u32 + 1)?;
                    let more = events.len() > room;
                    events.truncate(room);
                    let names = if report == Report::Assignments {
                        application_names(tx)?
                    } else {
                        Names::default()
                    };
                    let rows = events
                        .iter()
                        .map(|e| reports::event_row(report, e, &names))
                        .collect::<Vec<_>>();
                    (cut, rows, more, events.last().map(|e| e.id), None)
                };
                let listed = cursor.listed + rows.len();
                let more = more && listed < MAX_RECORDS;
                Ok(ReportPage {
                    cut,
                    next: more.then_some(ReportCursor {
                        after_event: last_event,
                        after_account: last_account,
                        listed,
                    }),
                    rows,
                })
            })
        })
        .await
    }
}

/// Every application's and instance's name, by id.
fn application_names(tx: &mut dyn crate::ports::Tx) -> Result<Names> {
    let mut names = HashMap::new();
    for application in tx.list_applications()? {
        for instance in tx.list_instances(application.id)? {
            names.insert(instance.id, instance.name);
        }
        names.insert(application.id, application.name);
    }
    Ok(Names(names))
}

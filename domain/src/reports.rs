//! CSV reports (SPEC §9): what each lists, its columns, and the window it may cover.
//!
//! - `assignments`: every assignment change (assigned, unassigned, enabled, disabled) in the
//!   window, oldest first.
//! - `deletions`: every account deleted in the window, with what it was (a delete request that
//!   deactivated the account instead, SPEC §1, is `user.deactivated`: the account is still in
//!   the `users` report).
//! - `logins`: every sign-in, succeeded or failed (with the true reason), in the window.
//! - `users`: the accounts as they are now (the window does not apply), with when each was
//!   created and last changed and the applications it is assigned to.
//!
//! Each lists at most [`MAX_RECORDS`]; a report cut there starts with a line saying so and where
//! the rest begins.

use std::collections::HashMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    account::Account,
    audit::{action, RecordedEvent},
    Error, Result,
};

/// The most records a report lists.
pub const MAX_RECORDS: usize = 10_000;
/// How far back a report's window may start.
pub const WINDOW_DAYS: i64 = 180;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Assignments,
    Deletions,
    Users,
    Logins,
}

impl Report {
    pub fn name(self) -> &'static str {
        match self {
            Report::Assignments => "assignments",
            Report::Deletions => "deletions",
            Report::Users => "users",
            Report::Logins => "logins",
        }
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Report::Assignments => &[
                "at",
                "action",
                "user_id",
                "username",
                "application_id",
                "application",
                "instance_id",
                "instance",
                "all_instances",
                "instance_role",
                "reason",
                "actor_id",
                "actor",
            ],
            Report::Deletions => &[
                "at",
                "user_id",
                "username",
                "email",
                "first_name",
                "last_name",
                "roles",
                "actor_id",
                "actor",
            ],
            Report::Users => &[
                "id",
                "username",
                "email",
                "first_name",
                "last_name",
                "roles",
                "status",
                "created_at",
                "updated_at",
                "last_active_at",
                "applications",
            ],
            Report::Logins => &[
                "at",
                "outcome",
                "reason",
                "user_id",
                "username",
                "login",
                "address",
                "user_agent",
            ],
        }
    }

    /// The actions an event report lists (none for `users`).
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Report::Assignments => &[
                action::ASSIGNMENT_ASSIGNED,
                action::ASSIGNMENT_UNASSIGNED,
                action::ASSIGNMENT_ENABLED,
                action::ASSIGNMENT_DISABLED,
            ],
            Report::Deletions => &[action::USER_DELETED],
            Report::Logins => &[action::LOGIN_SUCCEEDED, action::LOGIN_FAILED],
            Report::Users => &[],
        }
    }
}

/// A report's time window: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The window asked for, by default the whole of the last [`WINDOW_DAYS`] days. One that starts
/// earlier (a minute of grace for a client's "180 days ago"), or ends before it starts, is
/// refused.
pub fn window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Window> {
    let earliest = now - Duration::days(WINDOW_DAYS);
    let from = from.unwrap_or(earliest);
    let to = to.unwrap_or(now);
    if from < earliest - Duration::minutes(1) {
        return Err(Error::invalid(
            "from",
            "outside_report_window",
            format!("a report covers at most the last {WINDOW_DAYS} days: from must be {} or later (older events: GET /api/v1/audit-events)", stamp(earliest)),
        ));
    }
    if to <= from {
        return Err(Error::invalid(
            "to",
            "window_ends_before_it_starts",
            "to must be after from",
        ));
    }
    Ok(Window { from, to })
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The line an event report cut at [`MAX_RECORDS`] starts with: where the rest begins.
pub fn events_cut_line(next: DateTime<Utc>) -> String {
    // To the microsecond, as events are timed: `from` then starts exactly at the first left out.
    let at = next.to_rfc3339_opts(SecondsFormat::Micros, true);
    format!(
        "# Cut at the first {MAX_RECORDS} records; the rest of the window starts at {at}: ask again with from={at} for it."
    )
}

/// The line the users report starts with when there are more accounts than it lists.
pub fn users_cut_line(total: i64) -> String {
    format!(
        "# Cut at the first {MAX_RECORDS} of {total} accounts (oldest first); GET /api/v1/users/export lists them all."
    )
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(";"),
        other => other.to_string(),
    }
}

fn id(v: Option<Uuid>) -> String {
    v.map(|id| id.to_string()).unwrap_or_default()
}

/// Application and instance names by id, for the assignments report (as they are now; a
/// deleted one's name is empty).
#[derive(Debug, Default)]
pub struct Names(pub HashMap<Uuid, String>);

impl Names {
    fn of(&self, v: &Value) -> String {
        v.as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .and_then(|id| self.0.get(&id).cloned())
            .unwrap_or_default()
    }
}

/// An event's row in its report.
pub fn event_row(report: Report, e: &RecordedEvent, names: &Names) -> Vec<String> {
    let d = &e.details;
    let at = stamp(e.at);
    let user = id(e.target_id);
    let label = e.target_label.clone().unwrap_or_default();
    let actor = e.actor_username.clone().unwrap_or_default();
    match report {
        Report::Assignments => vec![
            at,
            e.action.trim_start_matches("assignment.").to_owned(),
            user,
            label,
            text(&d["application_id"]),
            names.of(&d["application_id"]),
            text(&d["instance_id"]),
            names.of(&d["instance_id"]),
            text(&d["all_instances"]),
            text(&d["instance_role"]),
            text(&d["reason"]),
            id(e.actor_id),
            actor,
        ],
        Report::Deletions => vec![
            at,
            user,
            label,
            text(&d["email"]),
            text(&d["first_name"]),
            text(&d["last_name"]),
            text(&d["roles"]),
            id(e.actor_id),
            actor,
        ],
        Report::Logins => vec![
            at,
            if e.action == action::LOGIN_SUCCEEDED {
                "succeeded"
            } else {
                "failed"
            }
            .to_owned(),
            text(&d["reason"]),
            user,
            label,
            text(&d["login"]),
            e.address.clone().unwrap_or_default(),
            e.user_agent.clone().unwrap_or_default(),
        ],
        Report::Users => Vec::new(),
    }
}

/// An account's row in the users report; `applications`: the names of the applications it is
/// assigned to.
pub fn user_row(a: &Account, applications: &[String], now: DateTime<Utc>) -> Vec<String> {
    let time = |t: Option<DateTime<Utc>>| t.map(stamp).unwrap_or_default();
    vec![
        a.id.to_string(),
        a.username.as_str().to_owned(),
        a.email.as_str().to_owned(),
        a.first_name.as_str().to_owned(),
        a.last_name.as_str().to_owned(),
        a.roles.join(";"),
        text(&serde_json::to_value(a.status(now)).unwrap_or_default()),
        stamp(a.created_at),
        stamp(a.updated_at),
        time(a.last_active_at),
        applications.join(";"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_lies_within_the_last_180_days() {
        let now = crate::now();
        let w = window(None, None, now).expect("the default");
        assert_eq!((w.from, w.to), (now - Duration::days(180), now));
        let week = window(Some(now - Duration::days(7)), None, now).expect("a week");
        assert_eq!(week.from, now - Duration::days(7));
        assert!(window(Some(now - Duration::days(181)), None, now).is_err());
        assert!(window(
            Some(now - Duration::days(2)),
            Some(now - Duration::days(3)),
            now
        )
        .is_err());
        // A client's "180 days ago" computed a moment before the server's.
        assert!(window(
            Some(now - Duration::days(180) - Duration::seconds(5)),
            None,
            now
        )
        .is_ok());
    }
}

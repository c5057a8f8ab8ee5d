//! CSV reports (SPEC §9): each report's columns and rows after a scripted sequence of actions;
//! the 180-day window; the cut at 10,000 records and where the rest starts.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::json;
use uuid::{NoContext, Timestamp, Uuid};

use domain::{
    account::Account,
    ports::Store,
    values::{Email, Username},
};

use crate::{
    database::{execute, store},
    helpers::TestApp,
};

/// The report's lines without the byte-order mark, each split into cells (no cell here holds a
/// comma).
async fn report(app: &TestApp, token: &str, path: &str) -> Vec<Vec<String>> {
    let (status, headers, text) = app.get_text(path, token).await;
    assert_eq!(status, 200, "{path}: {text}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    assert!(text.starts_with('\u{feff}'), "a byte-order mark");
    text.trim_start_matches('\u{feff}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn column<'a>(lines: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let at = lines[0]
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("{name} in {:?}", lines[0]));
    lines[1..].iter().map(|l| l[at].as_str()).collect()
}

fn stamp(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

both! {
    async fn each_report_lists_what_happened_in_its_columns(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let bo = app.user(&admin, "bo", &["user"]).await;
        let application = app.post("/api/v1/applications", &admin, json!({"name": "Payroll"})).await.ok(201).id();
        let eu = app.post(&format!("/api/v1/applications/{application}/instances"), &admin, json!({"name": "EU"})).await.ok(201).id();
        let body = json!({"user_ids": [ana], "application_id": application, "instance_ids": [eu]});
        for what in ["assign", "disable", "enable", "unassign", "assign"] {
            app.post(&format!("/api/v1/assignments/{what}"), &admin, body.clone()).await.ok(200);
        }
        app.delete(&format!("/api/v1/users/{bo}"), &admin).await.ok(204);
        app.login("ana", "not her password").await.problem(401, "invalid_credentials");
        app.token_for("ana").await;
        app.login("nobody", "whatever").await.problem(401, "invalid_credentials");

        let assignments = report(app, &admin, "/api/v1/reports/assignments.csv").await;
        assert_eq!(assignments[0], ["at", "action", "user_id", "username", "application_id", "application", "instance_id", "instance", "all_instances", "instance_role", "reason", "actor_id", "actor"]);
        assert_eq!(column(&assignments, "action"), ["assigned", "disabled", "enabled", "unassigned", "assigned"], "oldest first");
        for (name, value) in [("user_id", ana.as_str()), ("username", "ana"), ("application", "Payroll"), ("instance", "EU"), ("instance_id", eu.as_str()), ("actor", "admin")] {
            assert!(column(&assignments, name).iter().all(|v| *v == value), "{name}: {assignments:?}");
        }

        let deletions = report(app, &admin, "/api/v1/reports/deletions.csv").await;
        assert_eq!(deletions[0], ["at", "user_id", "username", "email", "first_name", "last_name", "roles", "actor_id", "actor"]);
        assert_eq!(deletions.len(), 2, "{deletions:?}");
        assert_eq!(&deletions[1][1..7], [bo.as_str(), "bo", "bo@example.org", "Test", "bo", "user"], "as it was: {deletions:?}");
        assert_eq!(column(&deletions, "actor"), ["admin"]);

        let logins = report(app, &admin, "/api/v1/reports/logins.csv").await;
        assert_eq!(logins[0], ["at", "outcome", "reason", "user_id", "username", "login", "address", "user_agent"]);
        let rows: Vec<(&str, &str, &str, &str)> = logins[1..].iter().map(|l| (l[1].as_str(), l[2].as_str(), l[4].as_str(), l[5].as_str())).collect();
        assert!(rows.contains(&("failed", "wrong_password", "ana", "ana")), "{rows:?}");
        assert!(rows.contains(&("failed", "unknown_login", "", "nobody")), "the true reason: {rows:?}");
        assert!(rows.iter().any(|r| r.0 == "succeeded" && r.2 == "ana"), "{rows:?}");
        assert!(column(&logins, "address").iter().all(|a| a.starts_with("127.")));

        let users = report(app, &admin, "/api/v1/reports/users.csv").await;
        assert_eq!(users[0], ["id", "username", "email", "first_name", "last_name", "roles", "status", "created_at", "updated_at", "last_active_at", "applications"]);
        assert_eq!(column(&users, "username"), ["admin", "ana"], "current accounts, oldest first");
        assert_eq!(column(&users, "applications"), ["", "Payroll"]);
        assert_eq!(column(&users, "status"), ["active", "active"]);
        assert!(column(&users, "created_at").iter().all(|t| t.ends_with('Z')));
        // The window does not apply to it.
        report(app, &admin, "/api/v1/reports/users.csv?from=2001-01-01T00:00:00Z").await;

        // A window: an empty one lists nothing; more than 180 days back, or backwards, is refused.
        let (hour_ago, two_hours_ago) = (stamp(Utc::now() - Duration::hours(1)), stamp(Utc::now() - Duration::hours(2)));
        assert_eq!(report(app, &admin, &format!("/api/v1/reports/logins.csv?from={two_hours_ago}&to={hour_ago}")).await.len(), 1, "the header alone");
        let old = stamp(Utc::now() - Duration::days(181));
        let refused = app.get(&format!("/api/v1/reports/logins.csv?from={old}"), &admin).await;
        refused.problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["code"], "outside_report_window", "{}", refused.body);
        let backwards = format!("/api/v1/reports/assignments.csv?from={}&to={}", stamp(Utc::now() - Duration::days(1)), stamp(Utc::now() - Duration::days(2)));
        app.get(&backwards, &admin).await.problem(422, "validation_failed");
        app.get("/api/v1/reports/deletions.csv?from=yesterday", &admin).await.problem(400, "invalid_query");
        let ana_token = app.token_for("ana").await;
        app.get("/api/v1/reports/users.csv", &ana_token).await.problem(403, "forbidden");
    }

    async fn a_report_lists_the_first_ten_thousand_records_and_says_where_the_rest_starts(app: TestApp) {
        let (admin, _) = app.admin().await;
        // 10,005 failed sign-ins, a millisecond apart, from a day ago.
        let start = Utc::now() - Duration::days(1);
        let rows: Vec<String> = (0..10_005)
            .map(|i| {
                let at = start + Duration::milliseconds(i);
                let id = Uuid::new_v7(Timestamp::from_unix(NoContext, at.timestamp() as u64, at.timestamp_subsec_nanos()));
                format!("('{id}', '{}', 'auth.login_failed', 'authentication', 'none', '{{\"reason\": \"unknown_login\", \"login\": \"=HYPERLINK(1)\"}}')", at.format("%Y-%m-%d %H:%M:%S%.6f"))
            })
            .collect();
        for chunk in rows.chunks(2_000) {
            execute(app, &format!("INSERT INTO audit_events (id, at, action, category, target_type, details) VALUES {}", chunk.join(", ")));
        }
        let lines = report(app, &admin, "/api/v1/reports/logins.csv").await;
        let rest_at = (start + Duration::milliseconds(10_000)).to_rfc3339_opts(SecondsFormat::Micros, true);
        assert_eq!(lines[0].join(","), format!("# Cut at the first 10000 records; the rest of the window starts at {rest_at}: ask again with from={rest_at} for it."));
        assert_eq!(lines[1][0], "at");
        assert_eq!(lines.len(), 2 + 10_000);
        assert_eq!(lines[2][0], stamp(start), "the first records, oldest first");
        assert!(column(&lines[1..], "login").iter().all(|l| *l == "'=HYPERLINK(1)"), "a formula is written as text");
        // The rest, from where the line says: the other five and the admin's own sign-ins.
        let rest = report(app, &admin, &format!("/api/v1/reports/logins.csv?from={rest_at}")).await;
        assert_eq!(rest[0][0], "at", "not cut");
        let failed = rest[1..].iter().filter(|l| l[1] == "failed").count();
        assert_eq!(failed, 5, "{rest:?}");
    }
    async fn the_users_report_lists_the_first_ten_thousand_accounts_and_says_how_many_there_are(app: TestApp) {
        let (admin, _) = app.admin().await;
        let accounts: Vec<Account> = (0..10_000)
            .map(|i| {
                let name = format!("u{i:05}");
                let mut a = Account::sample(&name);
                a.username = Username::from_trusted(name.clone());
                a.email = Email::from_trusted(format!("{name}@example.org"));
                a
            })
            .collect();
        let database = store(app);
        let store: &(dyn Store + 'static) = &database;
        store.write(|tx| tx.insert_accounts(&accounts)).expect("insert");
        let lines = report(app, &admin, "/api/v1/reports/users.csv").await;
        assert_eq!(lines[0].join(","), "# Cut at the first 10000 of 10001 accounts (oldest first); GET /api/v1/users/export lists them all.");
        assert_eq!(lines[1][0], "id");
        assert_eq!(lines.len(), 2 + 10_000);
        assert_eq!(column(&lines[1..], "username")[..2], ["admin", "u00000"], "oldest first");
        assert_eq!(column(&lines[1..], "username").last(), Some(&"u09998"), "the newest account is left out");
    }
}

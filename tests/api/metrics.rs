//! `GET /metrics`: after a scripted run (sign-ins right and wrong, a lockout, a second factor's
//! wrong code, email sent and failing, seats taken, a path no route matches), the scrape, read by
//! a Prometheus text-format parser, shows each series with the counts the run caused. Only
//! `metrics:read` may scrape: a monitoring role's API token can, a plain user cannot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use openmetrics_parser::{prometheus::parse_prometheus, PrometheusValue};
use reqwest::Method;
use serde_json::json;

use crate::{
    helpers::{TestApp, PASSWORD},
    mailbox::Mailbox,
};
use domain::roles::{Permission, Role};

fn role(name: &str, permissions: &[Permission], seats: Option<u32>) -> Role {
    Role {
        name: name.into(),
        description: String::new(),
        permissions: permissions.iter().copied().collect(),
        seats,
        builtin: false,
        exclusive: false,
    }
}

/// One series of a scrape: a histogram's value is its count.
#[derive(Debug)]
struct Series {
    metric: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// A scrape, read by a Prometheus text-format parser.
struct Scrape {
    series: Vec<Series>,
}

/// Scrapes with `token` and parses the answer as Prometheus does.
async fn scrape(app: &TestApp, token: &str) -> Scrape {
    let res = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = res.text().await.expect("a body");
    let exposition = parse_prometheus(&text).expect("Prometheus's text format");
    let mut series = Vec::new();
    for (name, family) in exposition.families {
        let names = family.get_label_names().to_vec();
        for sample in family.iter_samples() {
            let set = sample.get_labelset().expect("labels");
            let labels = names
                .iter()
                .filter_map(|n| set.get_label_value(n).map(|v| (n.clone(), v.to_owned())))
                .collect();
            let value = match &sample.value {
                PrometheusValue::Unknown(n) | PrometheusValue::Gauge(n) => n.as_f64(),
                PrometheusValue::Counter(c) => c.value.as_f64(),
                PrometheusValue::Histogram(h) => h.count.expect("a histogram's count") as f64,
                PrometheusValue::Summary(_) => f64::NAN,
            };
            series.push(Series {
                metric: name.clone(),
                labels,
                value,
            });
        }
    }
    Scrape { series }
}

/// The value of the series `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .series
        .iter()
        .find(|s| {
            s.metric == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[track_caller]
fn expect(scrape: &Scrape, name: &str, labels: &[(&str, &str)], expected: f64) {
    let found: Vec<&Series> = scrape.series.iter().filter(|s| s.metric == name).collect();
    assert_eq!(
        value(scrape, name, labels),
        Some(expected),
        "{name}{labels:?} among {found:#?}"
    );
}

/// Scrapes until `done` holds for a scrape (at most 20 s): the outbox works beside the requests.
async fn scrape_until(app: &TestApp, token: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let start = Instant::now();
    loop {
        let scrape = scrape(app, token).await;
        if done(&scrape) || start.elapsed() > Duration::from_secs(20) {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both! {
    async fn a_scrape_shows_what_a_scripted_run_did(app: TestApp) {
        let mailbox = Mailbox::start();
        let url = mailbox.url();
        let app = TestApp::spawn_with(app.db, move |c| {
            c.roles.push(role("monitor", &[Permission::MetricsRead], None));
            c.roles.push(role("support", &[], Some(3)));
            c.smtp_url = Some(url);
            c.email_from = "roster@example.org".into();
            c.outbox_poll = Duration::from_millis(50);
            c.outbox_retry.first_delay = chrono::Duration::seconds(3600);
        })
        .await;
        // The admin keeps its second factor: its sign-ins meet an `mfa` challenge.
        let (enrolled, _) = app.admin_enrolled().await;
        let admin = enrolled.access_token.clone();
        app.patch("/api/v1/settings", &admin, json!({"lockout": {"threshold": 3}}))
            .await
            .ok(200);

        // Who may scrape.
        let plain = app.user(&admin, "plain", &["user"]).await;
        let plain_token = app.token_for("plain").await;
        let refused = app.call(Method::GET, "/metrics", Some(&plain_token), None, &[]).await;
        refused.problem(403, "forbidden");
        app.call(Method::GET, "/metrics", None, None, &[]).await.problem(401, "unauthenticated");
        app.user(&admin, "prometheus", &["monitor"]).await;
        let monitor = app.api_token(&app.token_for("prometheus").await).await;
        scrape(&app, &monitor).await;

        // Seats: one of three `support` seats.
        app.user(&admin, "helper", &["support"]).await;
        // Sign-ins: wrong passwords lock `victim` at the third; an unknown login; a success.
        app.user(&admin, "victim", &["user"]).await;
        let before = scrape(&app, &monitor).await;
        let count = |s: &Scrape, outcome: &str| {
            value(s, "roster_sign_ins_total", &[("step", "password"), ("outcome", outcome)])
                .unwrap_or(0.0)
        };
        for _ in 0..3 {
            app.login("victim", "not the password at all").await.problem(401, "invalid_credentials");
        }
        app.login("victim", PASSWORD).await.problem(401, "invalid_credentials");
        app.login("nobody", PASSWORD).await.problem(401, "invalid_credentials");
        app.login("plain", PASSWORD).await.ok(200);
        // A second factor's wrong code: one no step near now gives.
        let challenge = app.login("admin", PASSWORD).await;
        assert_eq!(challenge.body["challenge"], "mfa", "{}", challenge.body);
        let now = chrono::Utc::now();
        let near: Vec<String> = [-60, -30, 0, 30, 60]
            .iter()
            .map(|s| enrolled.secret.code_at(now + chrono::Duration::seconds(*s)))
            .collect();
        let code = ["000000", "111111", "222222", "333333", "444444", "555555"]
            .into_iter()
            .find(|c| !near.iter().any(|n| n == c))
            .expect("a wrong code");
        let wrong = json!({"challenge_token": challenge.body["challenge_token"], "code": code});
        app.call(Method::POST, "/api/v1/auth/challenge/mfa", None, Some(wrong), &[])
            .await
            .problem(422, "validation_failed");
        // A path no route matches, and a user read by id.
        app.call(Method::GET, "/no/such/path", None, None, &[]).await.problem(404, "not_found");
        // 50 reads at once, across the server's worker threads: each counted once.
        let path = format!("/api/v1/users/{plain}");
        let reads = (0..50).map(|_| app.get(&path, &admin));
        for read in futures_util::future::join_all(reads).await {
            read.ok(200);
        }
        // Email: an activation sent; then, the server away, one that fails and waits to retry.
        let invite = |name: &str| json!({"username": name, "email": format!("{name}@example.org"), "first_name": name, "last_name": "Mail"});
        app.post("/api/v1/users", &admin, invite("mailed")).await.ok(201);
        let backlog = |s: &Scrape| {
            ["pending", "sending"]
                .iter()
                .map(|state| value(s, "roster_outbox_messages", &[("state", state)]).unwrap_or(0.0))
                .sum::<f64>()
        };
        assert_eq!(backlog(&scrape_until(&app, &monitor, |s| backlog(s) == 0.0).await), 0.0);
        let mut mailbox = mailbox;
        mailbox.stop();
        let delivered = mailbox.received().len() as f64;
        assert!(delivered >= 1.0, "the activation was sent");
        app.post("/api/v1/users", &admin, invite("unmailed")).await.ok(201);

        // The failure is counted as the attempt ends, and recorded (`pending` again) just after.
        let after = scrape_until(&app, &monitor, |s| {
            value(s, "roster_outbox_deliveries_total", &[("result", "failed")]).unwrap_or(0.0) >= 1.0
                && value(s, "roster_outbox_messages", &[("state", "pending")]).unwrap_or(0.0) >= 1.0
        })
        .await;
        // Sign-in outcomes and the lockout.
        assert_eq!(count(&after, "wrong_password") - count(&before, "wrong_password"), 3.0);
        assert_eq!(count(&after, "locked") - count(&before, "locked"), 1.0);
        assert_eq!(count(&after, "unknown_login") - count(&before, "unknown_login"), 1.0);
        assert!(count(&after, "succeeded") - count(&before, "succeeded") >= 1.0);
        expect(&after, "roster_lockouts_total", &[], 1.0);
        expect(&after, "roster_sign_ins_total", &[("step", "mfa"), ("outcome", "wrong_mfa_code")], 1.0);
        // Requests by route template and status, with latencies.
        let logins = [("method", "POST"), ("route", "/api/v1/auth/login"), ("status", "401")];
        assert!(value(&after, "roster_http_requests_total", &logins).unwrap_or(0.0) >= 5.0);
        let by_id = [("method", "GET"), ("route", "/api/v1/users/{id}"), ("status", "200")];
        expect(&after, "roster_http_requests_total", &by_id, 50.0);
        let latency = [("method", "GET"), ("route", "/api/v1/users/{id}")];
        expect(&after, "roster_http_request_duration_seconds", &latency, 50.0);
        let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
        expect(&after, "roster_http_requests_total", &unmatched, 1.0);
        assert!(
            !after.series.iter().any(|s| s.labels.get("route").is_some_and(|r| r.contains(&plain))),
            "no route label carries an id"
        );
        // The outbox: what the mail server received, sent; then one failed and waiting (its retry
        // an hour away).
        expect(&after, "roster_outbox_deliveries_total", &[("result", "sent")], delivered);
        expect(&after, "roster_outbox_messages", &[("state", "sent")], delivered);
        expect(&after, "roster_outbox_deliveries_total", &[("result", "failed")], 1.0);
        expect(&after, "roster_outbox_messages", &[("state", "pending")], 1.0);
        // Seats, as `GET /users/count` counts them: one `support` of three.
        expect(&after, "roster_seats_used", &[("seat", "role:support")], 1.0);
        expect(&after, "roster_seats_limit", &[("seat", "role:support")], 3.0);
        let counts = app.get("/api/v1/users/count", &admin).await;
        counts.ok(200);
        let active = counts.body["active_users"]["used"].as_f64().expect("active_users");
        assert!(active >= 5.0, "{}", counts.body);
        expect(&after, "roster_seats_used", &[("seat", "active_users")], active);
        assert_eq!(value(&after, "roster_seats_limit", &[("seat", "active_users")]), None);
        // Queues and the pool.
        for queue in ["database", "hashing"] {
            assert!(value(&after, "roster_queue_threads", &[("queue", queue)]).unwrap_or(0.0) >= 1.0);
            assert!(value(&after, "roster_queue_capacity_jobs", &[("queue", queue)]).unwrap_or(0.0) >= 1.0);
            assert!(value(&after, "roster_queue_waiting_jobs", &[("queue", queue)]).is_some());
        }
        assert!(value(&after, "roster_database_connections", &[("state", "open")]).unwrap_or(0.0) >= 1.0);
        assert!(value(&after, "roster_database_connections_max", &[]).unwrap_or(0.0) >= 1.0);
        assert!(value(&after, "roster_audit_unlinked_events", &[]).is_some());
        let backend = if app.db == crate::helpers::Db::Sqlite { "sqlite" } else { "postgres" };
        expect(&after, "roster_build_info", &[("backend", backend)], 1.0);
    }
}

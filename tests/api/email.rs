//! Email through the transactional outbox (SPEC §5), received by a real SMTP server on loopback
//! ([`Mailbox`]): the activation link read from the message completes activation; security
//! notices; none for `email_notifications: false`; a server that goes away delays delivery but
//! loses nothing and sends nothing twice; a failed message is retried by an admin; a link
//! withdrawn before it went out is not sent.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{TestApp, PASSWORD},
    mailbox::Mailbox,
};

const WAIT: Duration = Duration::from_secs(20);

/// A Roster that sends to `mailbox`, looking for due messages every 50 ms and retrying every
/// 100 ms (doubling up to an hour: tests below keep attempts few).
async fn sending_to(app: &TestApp, mailbox: &Mailbox, max_attempts: u32) -> TestApp {
    let url = mailbox.url();
    TestApp::spawn_with(app.db, move |c| {
        c.smtp_url = Some(url);
        c.email_from = "roster@example.org".into();
        c.outbox_poll = Duration::from_millis(50);
        c.outbox_retry.first_delay = chrono::Duration::milliseconds(100);
        c.outbox_retry.max_delay = chrono::Duration::milliseconds(400);
        c.outbox_retry.max_attempts = max_attempts;
    })
    .await
}

async fn invite(app: &TestApp, admin: &str, name: &str, extra: Value) -> String {
    let mut body = json!({"username": name, "email": format!("{name}@example.org"), "first_name": name, "last_name": "Mail"});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let created = app.post("/api/v1/users", admin, body).await;
    created.ok(201);
    created.id()
}

/// The outbox's messages, newest first.
async fn outbox(app: &TestApp, admin: &str) -> Vec<Value> {
    let page = app.get("/api/v1/outbox?limit=200", admin).await;
    page.ok(200);
    page.body["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until every message of the outbox satisfies `done` (at most [`WAIT`]).
async fn outbox_until(app: &TestApp, admin: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let end = std::time::Instant::now() + WAIT;
    loop {
        let items = outbox(app, admin).await;
        if done(&items) || std::time::Instant::now() > end {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn states(items: &[Value]) -> Vec<&str> {
    items.iter().filter_map(|m| m["state"].as_str()).collect()
}

both! {
    #[cfg_attr(not(roster_smtp), ignore = "needs Python's aiosmtpd (pip install aiosmtpd)")]
    async fn an_import_sends_invitations_when_asked_and_a_dry_run_none(app: TestApp) {
        let mailbox = Mailbox::start();
        let app = sending_to(app, &mailbox, 5).await;
        let (admin, _) = app.admin().await;
        let import = |query: &'static str, emails: &[&str]| {
            let mut file = String::from("first_name,last_name,email\r\n");
            for email in emails {
                file.push_str(&format!("Ann,Lee,{email}\r\n"));
            }
            let (app, admin) = (&app, admin.clone());
            async move { app.send_bytes(&format!("/api/v1/users/import{query}"), &admin, "text/csv", file).await }
        };
        import("", &["quiet@example.org"]).await.ok(200);
        import("?send_invitations=true&dry_run=true", &["rehearsed@example.org"]).await.ok(200);
        let sent = import("?send_invitations=true", &["ann@example.org", "bo@example.org"]).await;
        assert_eq!(sent.body["uploaded"], 2, "{}", sent.body);
        let mail = mailbox.wait_for(2, WAIT).await;
        let items = outbox_until(&app, &admin, |m| m.len() == 2 && states(m).iter().all(|s| *s == "sent")).await;
        assert_eq!(items.iter().map(|m| m["kind"].as_str()).collect::<Vec<_>>(), [Some("invitation"); 2], "{items:?}");
        let mut to: Vec<&str> = mail.iter().flat_map(|m| m.to.iter().map(String::as_str)).collect();
        to.sort();
        assert_eq!(to, ["ann@example.org", "bo@example.org"]);
        // The emailed link lets the person choose a password and sign in.
        let token = mail[0].token().expect("a link in the message");
        app.call(Method::POST, "/api/v1/auth/activate", None, Some(json!({"token": token, "password": PASSWORD})), &[]).await.ok(204);
        app.login(&mail[0].to[0], PASSWORD).await.ok(200);
    }

    #[cfg_attr(not(roster_smtp), ignore = "needs Python's aiosmtpd (pip install aiosmtpd)")]
    async fn the_activation_link_from_the_email_activates_the_account(app: TestApp) {
        let mailbox = Mailbox::start();
        let app = sending_to(app, &mailbox, 5).await;
        let (admin, _) = app.admin().await;
        invite(&app, &admin, "greta", json!({"locale": "de-AT"})).await;
        let mail = mailbox.wait_for(1, WAIT).await;
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert_eq!(mail[0].to, ["greta@example.org"]);
        // In the account's language, as text and HTML, with the link in both.
        assert_eq!(mail[0].subject, "Aktivieren Sie Ihr Konto");
        assert!(mail[0].text.starts_with("Hallo greta,"), "{}", mail[0].text);
        let token = mail[0].token().expect("a link in the message");
        assert!(mail[0].html.contains(&token));
        assert!(mail[0].text.contains(&format!("{}/activation#token=", app.base)));

        let activate = app.call(Method::POST, "/api/v1/auth/activate", None, Some(json!({"token": token, "password": PASSWORD})), &[]).await;
        activate.ok(204);
        app.login("greta", PASSWORD).await.ok(200);
        // Used: the same link again is refused.
        app.call(Method::POST, "/api/v1/auth/activate", None, Some(json!({"token": token, "password": PASSWORD})), &[]).await.problem(400, "invalid_token");

        // The outbox shows it sent, and never a token.
        let items = outbox_until(&app, &admin, |m| states(m) == ["sent"]).await;
        assert_eq!(states(&items), ["sent"], "{items:?}");
        assert_eq!((items[0]["kind"].as_str(), items[0]["recipient"].as_str(), items[0]["locale"].as_str(), items[0]["attempts"].as_u64()),
                   (Some("activation"), Some("greta@example.org"), Some("de-AT"), Some(1)));
        assert!(!items[0].to_string().contains("rot_"), "{}", items[0]);
    }

    #[cfg_attr(not(roster_smtp), ignore = "needs Python's aiosmtpd (pip install aiosmtpd)")]
    async fn each_invitation_is_emailed_with_a_welcome_and_its_link(app: TestApp) {
        let mailbox = Mailbox::start();
        let app = sending_to(app, &mailbox, 5).await;
        let (admin, _) = app.admin().await;
        let reply = app.post("/api/v1/invitations", &admin, json!({"emails": "ina@example.org, jo@example.org, broken@"})).await;
        reply.ok(200);
        mailbox.wait_for(2, WAIT).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut mail = mailbox.received();
        assert_eq!(mail.len(), 2, "{mail:?}");
        mail.sort_by(|a, b| a.to.cmp(&b.to));
        assert_eq!(mail.iter().map(|m| (m.to[0].as_str(), m.subject.as_str())).collect::<Vec<_>>(),
                   [("ina@example.org", "You are invited"), ("jo@example.org", "You are invited")]);
        assert!(mail[0].text.contains("Welcome!"), "{}", mail[0].text);
        let token = mail[0].token().expect("a link");
        assert!(mail[0].text.contains(&format!("{}/invitation#token=", app.base)));
        app.call(Method::POST, "/api/v1/auth/activate", None, Some(json!({"token": token, "password": PASSWORD})), &[]).await.ok(204);
        app.login("ina@example.org", PASSWORD).await.ok(200);
    }

    #[cfg_attr(not(roster_smtp), ignore = "needs Python's aiosmtpd (pip install aiosmtpd)")]
    async fn security_notices_go_out_and_none_to_who_asked_for_none(app: TestApp) {
        let mailbox = Mailbox::start();
        let app = sending_to(app, &mailbox, 5).await;
        let (admin, _) = app.admin().await;
        // No email at all for an account that asked for none: not even its activation link.
        let quiet = invite(&app, &admin, "quiet", json!({"email_notifications": false})).await;
        let loud = invite(&app, &admin, "loud", json!({})).await;
        let mail = mailbox.wait_for(1, WAIT).await;
        assert_eq!(mail.iter().map(|m| m.to[0].as_str()).collect::<Vec<_>>(), ["loud@example.org"]);
        // An email change: the notice goes to the old address.
        app.patch(&format!("/api/v1/users/{loud}"), &admin, json!({"email": "loud.new@example.org"})).await.ok(200);
        let mail = mailbox.wait_for(2, WAIT).await;
        assert_eq!(mail.len(), 2, "{mail:?}");
        assert_eq!((mail[1].to[0].as_str(), mail[1].subject.as_str()), ("loud@example.org", "Your email address was changed"));
        app.patch(&format!("/api/v1/users/{quiet}"), &admin, json!({"email": "quiet.new@example.org"})).await.ok(200);
        // A reset link: the link goes out, and the reset's notice after it is used.
        let token = {
            let url = {
                let given = app.post("/api/v1/users", &admin, json!({"username": "rhea", "email": "rhea@example.org", "first_name": "Rhea", "last_name": "Mail", "password": "a password the admin typed in"})).await;
                given.ok(201);
                let reset = app.post(&format!("/api/v1/users/{}/password-reset", given.id()), &admin, json!({"mode": "link"})).await;
                reset.ok(200);
                reset.body["reset_url"].as_str().expect("reset_url").to_owned()
            };
            let mail = mailbox.wait_for(3, WAIT).await;
            assert_eq!((mail[2].to[0].as_str(), mail[2].subject.as_str()), ("rhea@example.org", "Reset your password"));
            // The emailed link works as well as the returned one; the first used spends both.
            assert_ne!(mail[2].token(), url.split("#token=").nth(1).map(str::to_owned));
            mail[2].token().expect("a link")
        };
        app.call(Method::POST, "/api/v1/auth/password/reset", None, Some(json!({"token": token, "new_password": PASSWORD})), &[]).await.ok(204);
        let mail = mailbox.wait_for(4, WAIT).await;
        assert_eq!((mail[3].to[0].as_str(), mail[3].subject.as_str()), ("rhea@example.org", "Your password was reset"));
        // A password changed by its holder.
        let rhea = app.token_for("rhea").await;
        app.post("/api/v1/me/password", &rhea, json!({"current_password": PASSWORD, "new_password": "a brand new passphrase for rhea"})).await.ok(204);
        let mail = mailbox.wait_for(5, WAIT).await;
        assert_eq!((mail[4].to[0].as_str(), mail[4].subject.as_str()), ("rhea@example.org", "Your password was changed"));
        // Nothing else, and nothing to the quiet account.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mail = mailbox.received();
        assert_eq!(mail.len(), 5, "{mail:?}");
        assert!(mail.iter().all(|m| !m.to[0].starts_with("quiet")));
    }

    #[cfg_attr(not(roster_smtp), ignore = "needs Python's aiosmtpd (pip install aiosmtpd)")]
    async fn a_mail_server_that_goes_away_delays_delivery_and_loses_nothing(app: TestApp) {
        let mut mailbox = Mailbox::start();
        let app = sending_to(app, &mailbox, 1000).await;
        let (admin, _) = app.admin().await;
        for n in 0..3 {
            invite(&app, &admin, &format!("early{n}"), json!({})).await;
        }
        assert_eq!(mailbox.wait_for(3, WAIT).await.len(), 3);
        // The server goes away in the middle of the work.
        mailbox.stop();
        for n in 0..5 {
            invite(&app, &admin, &format!("late{n}"), json!({})).await;
        }
        // Attempts fail and are retried; nothing is given up.
        let items = outbox_until(&app, &admin, |m| {
            m.iter().filter(|x| x["state"] == "pending" && x["attempts"].as_u64() >= Some(2)).count() == 5
        }).await;
        let waiting: Vec<&Value> = items.iter().filter(|m| m["state"] == "pending").collect();
        assert_eq!(waiting.len(), 5, "{items:?}");
        assert!(waiting.iter().all(|m| m["last_error"].is_string()), "{waiting:?}");
        mailbox.resume();
        let mail = mailbox.wait_for(8, WAIT).await;
        // Every message once: wait a while longer for any second copy.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let mut to: Vec<String> = mailbox.received().iter().map(|m| m.to[0].clone()).collect();
        to.sort();
        let mut expected: Vec<String> = (0..3).map(|n| format!("early{n}@example.org")).chain((0..5).map(|n| format!("late{n}@example.org"))).collect();
        expected.sort();
        assert_eq!(to, expected, "{mail:?}");
        let items = outbox_until(&app, &admin, |m| states(m).iter().all(|s| *s == "sent")).await;
        assert_eq!(states(&items), ["sent"; 8]);
    }

    #[cfg_attr(not(roster_smtp), ignore = "needs Python's aiosmtpd (pip install aiosmtpd)")]
    async fn a_failed_message_is_retried_and_a_withdrawn_link_is_not_sent(app: TestApp) {
        let mut mailbox = Mailbox::start();
        mailbox.stop();
        let app = sending_to(app, &mailbox, 2).await;
        let (admin, _) = app.admin().await;
        invite(&app, &admin, "fay", json!({})).await;
        let items = outbox_until(&app, &admin, |m| states(m) == ["failed"]).await;
        assert_eq!(states(&items), ["failed"], "{items:?}");
        assert_eq!(items[0]["attempts"], 2);
        let id = items[0]["id"].as_str().expect("id").to_owned();
        // A link withdrawn before its message goes out is not sent.
        let wes = invite(&app, &admin, "wes", json!({})).await;
        app.delete(&format!("/api/v1/users/{wes}/activation"), &admin).await.ok(204);

        mailbox.resume();
        let retried = app.post(&format!("/api/v1/outbox/{id}/retry"), &admin, json!({})).await;
        retried.ok(200);
        assert_eq!((retried.body["state"].as_str(), retried.body["attempts"].as_u64()), (Some("pending"), Some(0)));
        let mail = mailbox.wait_for(1, WAIT).await;
        assert_eq!(mail.iter().map(|m| m.to[0].as_str()).collect::<Vec<_>>(), ["fay@example.org"]);
        let items = outbox_until(&app, &admin, |m| !states(m).contains(&"pending") && !states(m).contains(&"sending")).await;
        let by_kind: Vec<(&str, &str)> = items.iter().map(|m| (m["recipient"].as_str().unwrap_or_default(), m["state"].as_str().unwrap_or_default())).collect();
        assert_eq!(by_kind, [("wes@example.org", "cancelled"), ("fay@example.org", "sent")]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(mailbox.received().len(), 1);

        app.post(&format!("/api/v1/outbox/{id}/retry"), &admin, json!({})).await.problem(409, "message_not_failed");
        app.post("/api/v1/outbox/0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e09/retry", &admin, json!({})).await.problem(404, "message_not_found");
        app.get("/api/v1/outbox?state=bogus", &admin).await.problem(400, "invalid_query");
        app.get("/api/v1/outbox?cursor=bogus", &admin).await.problem(400, "invalid_cursor");
        let page = app.get("/api/v1/outbox?limit=1&state=sent", &admin).await;
        page.ok(200);
        assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1));
    }

    #[cfg_attr(not(roster_smtp), ignore = "needs Python's aiosmtpd (pip install aiosmtpd)")]
    async fn a_forgotten_password_is_reset_by_the_emailed_link_and_strangers_learn_nothing(app: TestApp) {
        let mailbox = Mailbox::start();
        let app = sending_to(app, &mailbox, 5).await;
        let (admin, _) = app.admin().await;
        let fred = app.user(&admin, "fred", &["user"]).await;
        let quiet = app.user(&admin, "quinn", &["user"]).await;
        app.patch(&format!("/api/v1/users/{quiet}"), &admin, json!({"email_notifications": false})).await.ok(200);
        let session = app.token_for("fred").await;
        invite(&app, &admin, "ivan", json!({"email_notifications": false})).await;
        let forgot = |login: &'static str| app.call(Method::POST, "/api/v1/auth/password/forgot", None, Some(json!({"login": login})), &[]);
        // Every case answers alike; only fred, by username or email, gets a link.
        for login in ["nobody.here", "ivan", "quinn", "fred", "FRED@example.org"] {
            let answer = forgot(login).await;
            answer.ok(202);
            assert_eq!(answer.body, Value::Null);
        }
        app.call(Method::POST, "/api/v1/auth/password/forgot", None, Some(json!({"email": "fred@example.org"})), &[]).await.problem(422, "validation_failed");
        // Two reset links and the password-changed notices of the set_password challenges.
        let before = mailbox.wait_for(4, WAIT).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let links: Vec<_> = mailbox.received().into_iter().filter(|m| m.subject == "Reset your password").collect();
        assert_eq!(links.len(), 2, "{before:?}");
        assert!(links.iter().all(|m| m.to == ["fred@example.org"]));
        // Asking ends no session and voids no link: both links work until one is used.
        app.get("/api/v1/me", &session).await.ok(200);
        let (first, second) = (links[0].token().expect("a link"), links[1].token().expect("a link"));
        app.call(Method::POST, "/api/v1/auth/tokens/inspect", None, Some(json!({"token": first})), &[]).await.ok(200);
        app.call(Method::POST, "/api/v1/auth/password/reset", None, Some(json!({"token": second, "new_password": "fred remembers this one now"})), &[]).await.ok(204);
        app.call(Method::POST, "/api/v1/auth/password/reset", None, Some(json!({"token": first, "new_password": "fred remembers another one"})), &[]).await.problem(400, "invalid_token");
        app.login("fred", "fred remembers this one now").await.ok(200);
        // The audit trail records each request and its true outcome.
        let outcome = |o: &str| crate::database::count(&app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'auth.password_forgotten' AND details LIKE '%\"outcome\":\"{o}\"%'"));
        assert_eq!(["unknown_login", "invited", "email_notifications_off", "emailed"].map(outcome), [1, 1, 1, 2]);
        assert_eq!(crate::database::count(&app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'auth.password_forgotten' AND target_id = '{fred}'")), 2);
    }

    async fn without_a_mail_server_messages_are_logged_and_the_outbox_is_for_admins(app: TestApp) {
        let app = TestApp::spawn_with(app.db, |c| c.outbox_poll = Duration::from_millis(50)).await;
        let (admin, _) = app.admin().await;
        // A link is not queued: it travels in the response alone (a log could not show it).
        let lou = invite(&app, &admin, "lou", json!({})).await;
        // A notice is logged.
        app.patch(&format!("/api/v1/users/{lou}"), &admin, json!({"email": "lou.new@example.org"})).await.ok(200);
        let items = outbox_until(&app, &admin, |m| states(m) == ["logged"]).await;
        assert_eq!(states(&items), ["logged"], "{items:?}");
        assert_eq!((items[0]["kind"].as_str(), items[0]["recipient"].as_str()), (Some("email_changed"), Some("lou@example.org")));
        app.user(&admin, "ursula", &["user"]).await;
        let token = app.token_for("ursula").await;
        app.get("/api/v1/outbox", &token).await.problem(403, "forbidden");
    }
}

/// Three replicas on one PostgreSQL deliver one outbox: every message arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(roster_postgres),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
#[cfg_attr(
    not(roster_smtp),
    ignore = "needs Python's aiosmtpd (pip install aiosmtpd)"
)]
async fn replicas_on_one_postgresql_send_each_message_once() {
    let mailbox = Mailbox::start();
    let first = TestApp::spawn(crate::helpers::Db::Postgres).await;
    let app = sending_to(&first, &mailbox, 5).await;
    let url = app.config.database_url();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let (smtp, url) = (mailbox.url(), url.clone());
        replicas.push(
            TestApp::spawn_with(crate::helpers::Db::Postgres, move |c| {
                c.database_url = Some(url);
                c.smtp_url = Some(smtp);
                c.outbox_poll = Duration::from_millis(10);
            })
            .await,
        );
    }
    let (admin, _) = app.admin().await;
    let emails: Vec<String> = (0..40).map(|n| format!("rep{n}@example.org")).collect();
    app.post("/api/v1/invitations", &admin, json!({"emails": emails}))
        .await
        .ok(200);
    mailbox.wait_for(40, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut to: Vec<String> = mailbox.received().iter().map(|m| m.to[0].clone()).collect();
    to.sort();
    let mut expected = emails.clone();
    expected.sort();
    assert_eq!(to, expected);
    let items = outbox_until(&app, &admin, |m| states(m).iter().all(|s| *s == "sent")).await;
    assert!(items.iter().all(|m| m["attempts"] == 1), "{items:?}");
}

//! Secrets stay secret (SPEC §4–§6, §9): passwords, session and API tokens, TOTP secrets, recovery
//! codes, one-time passwords, temporary passwords and link tokens appear in no log line, no column
//! of any audit event, no outbox row, and no response after the one that reveals them (the audit
//! trail's own listing included). A test binary of its own: it captures every log line the
//! servers write (at `debug`, in the JSON form production uses) for the whole binary.

#[macro_use]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/database.rs"]
mod database;

use std::{
    io::Write,
    sync::{Mutex, OnceLock},
};

use chrono::Utc;
use domain::mfa::TotpSecret;
use reqwest::Method;
use serde_json::{json, Value};

/// Every log line written so far.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().map_or(Ok(buf.len()), |mut log| {
            log.extend_from_slice(buf);
            Ok(buf.len())
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(|| Capture)
            .init();
    });
}

fn logged() -> String {
    LOG.lock()
        .map(|log| String::from_utf8_lossy(&log).into_owned())
        .unwrap_or_default()
}

/// Every text the database holds where a secret could leak: audit events, their links in the
/// hash chain, and outbox messages.
fn stored(app: &helpers::TestApp) -> String {
    #[derive(diesel::QueryableByName, PartialEq, Eq, PartialOrd, Ord)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut all = String::new();
    for sql in [
        // Every column of every event.
        "SELECT id || ' ' || coalesce(actor_id, '') || ' ' || coalesce(actor_username, '') || ' ' || action || ' ' || category || ' ' \
         || target_type || ' ' || coalesce(target_id, '') || ' ' || coalesce(target_label, '') || ' ' || coalesce(address, '') || ' ' \
         || coalesce(user_agent, '') || ' ' || details AS line FROM audit_events",
        // The hash chain beside them.
        "SELECT event_id || ' ' || prev_hash || ' ' || hash || ' ' || coalesce(salt, '') || ' ' || digest AS line FROM audit_links",
        "SELECT recipient || ' ' || details || ' ' || coalesce(last_error, '') AS line FROM outbox",
        "SELECT scope || ' ' || key || ' ' || fingerprint || ' ' || coalesce(content_type, '') || ' ' \
         || coalesce(location, '') AS line FROM idempotency_keys",
    ] {
        for l in database::lines::<Line>(app, sql) {
            all.push_str(&l.line);
            all.push('\n');
        }
    }
    // The responses kept for idempotent retries, as bytes (sealed: no secret in the clear).
    #[derive(diesel::QueryableByName, PartialEq, Eq, PartialOrd, Ord)]
    struct Kept {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        sealed_body: Vec<u8>,
    }
    for k in database::lines::<Kept>(
        app,
        "SELECT sealed_body FROM idempotency_keys WHERE sealed_body IS NOT NULL",
    ) {
        all.push_str(&String::from_utf8_lossy(&k.sealed_body));
        all.push('\n');
    }
    all
}

fn code(secret: &TotpSecret) -> String {
    secret.code_at(Utc::now())
}

async fn steady() {
    while !(1..=24).contains(&Utc::now().timestamp().rem_euclid(30)) {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

both! {
    async fn no_secret_reaches_a_log_line_an_audit_event_or_a_later_response(app: TestApp) {
        capture_logs();
        // The first admin enrols at sign-in (`mfa.required_for_admins`): its secret and recovery
        // codes are secrets too.
        let (enrolled, _) = app.admin_enrolled().await;
        let admin = enrolled.access_token.clone();
        let mut secrets: Vec<String> = vec![enrolled.secret.base32()];
        secrets.extend(enrolled.recovery_codes.iter().cloned());
        let id = app.user(&admin, "sid", &["user"]).await;
        let sid = app.token_for("sid").await;

        // Enrolment: the secret and the recovery codes are shown once.
        let started = app.post("/api/v1/me/mfa/totp", &sid, json!({"password": helpers::PASSWORD})).await;
        started.ok(201);
        let text = started.body["secret"].as_str().expect("secret").to_owned();
        let secret = TotpSecret::from_base32(&text).expect("base32");
        secrets.push(text);
        steady().await;
        let confirmed = app.post("/api/v1/me/mfa/totp/confirm", &sid, json!({"code": code(&secret)})).await;
        confirmed.ok(200);
        let recovery: Vec<String> = confirmed.body["recovery_codes"].as_array().expect("codes").iter().map(|c| c.as_str().expect("a code").to_owned()).collect();
        secrets.extend(recovery.iter().cloned());
        // A recovery code used to sign in, and an admin's one-time password.
        let challenge = app.login("sid", helpers::PASSWORD).await;
        let token = challenge.body["challenge_token"].as_str().expect("challenge").to_owned();
        let signed_in = app.call(Method::POST, "/api/v1/auth/challenge/mfa", None, Some(json!({"challenge_token": token, "code": recovery[0]})), &[]).await;
        signed_in.ok(200);
        // The session's tokens, an API token, the passwords given and changed.
        for name in ["access_token", "refresh_token"] {
            secrets.push(signed_in.body[name].as_str().expect("a session token").to_owned());
        }
        secrets.push(app.api_token(&sid).await);
        secrets.extend([helpers::PASSWORD.to_owned(), helpers::GIVEN_PASSWORD.to_owned()]);
        let changed = "a password sid chose for himself";
        app.post("/api/v1/me/password", &sid, json!({"current_password": helpers::PASSWORD, "new_password": changed})).await.ok(204);
        secrets.push(changed.to_owned());
        // Sent with `Idempotency-Key`: their responses are kept (sealed) for retries.
        let keyed = |n: &'static str| [("idempotency-key", n)];
        let otp = app.call(Method::POST, &format!("/api/v1/users/{id}/mfa/one-time-password"), Some(&admin), Some(json!({})), &keyed("otp")).await;
        secrets.push(otp.body["one_time_password"].as_str().expect("otp").to_owned());
        // A temporary password, a reset link, an activation link.
        let temporary = app.call(Method::POST, &format!("/api/v1/users/{id}/password-reset"), Some(&admin), Some(json!({"mode": "temporary_password"})), &keyed("temporary")).await;
        secrets.push(temporary.body["temporary_password"].as_str().expect("temporary").to_owned());
        let other = app.user(&admin, "rex", &["user"]).await;
        let link = app.call(Method::POST, &format!("/api/v1/users/{other}/password-reset"), Some(&admin), Some(json!({"mode": "link"})), &keyed("link")).await;
        secrets.push(link.body["reset_url"].as_str().and_then(|u| u.split("#token=").nth(1)).expect("a token").to_owned());
        let invited = app.post("/api/v1/users", &admin, json!({"username": "ivy", "email": "ivy@example.org", "first_name": "I", "last_name": "Vy"})).await;
        secrets.push(invited.body["activation_url"].as_str().and_then(|u| u.split("#token=").nth(1)).expect("a token").to_owned());
        // An invitation link, and reset links issued in bulk.
        let invitation = app.post("/api/v1/invitations", &admin, json!({"emails": ["ina@example.org"]})).await;
        secrets.push(invitation.body["results"][0]["invitation_url"].as_str().and_then(|u| u.split("#token=").nth(1)).expect("a token").to_owned());
        let bulk = app.post("/api/v1/users/bulk/password-reset", &admin, json!({"ids": [&other]})).await;
        secrets.push(bulk.body["results"][0]["reset_url"].as_str().and_then(|u| u.split("#token=").nth(1)).expect("a token").to_owned());

        // Later responses about the account show none of them.
        let later: Vec<Value> = vec![
            app.get("/api/v1/me", &sid).await.body,
            app.get(&format!("/api/v1/users/{id}"), &admin).await.body,
            app.get("/api/v1/users?limit=200", &admin).await.body,
            app.get("/api/v1/outbox?limit=200", &admin).await.body,
            app.get("/api/v1/audit-events?limit=200", &admin).await.body,
            // Links every event into the hash chain first, so the links are searched too.
            app.get("/api/v1/audit-events/verify", &admin).await.body,
            app.get_text("/api/v1/reports/logins.csv", &admin).await.2.into(),
        ];
        let logged = logged();
        assert!(logged.contains("\"level\""), "the log was captured");
        let stored = stored(app);
        assert!(stored.contains("mfa.enrolled"), "the audit trail was read");
        assert_eq!(later[5]["valid"], true, "{}", later[5]);
        assert!(database::count(app, "SELECT count(*) AS n FROM audit_links") > 0, "the chain's links were read");
        assert_eq!(database::count(app, "SELECT count(*) AS n FROM idempotency_keys WHERE sealed_body IS NOT NULL"), 3, "the kept responses were read");
        for secret in &secrets {
            // Recovery codes are compared without their dashes too.
            let bare = secret.replace('-', "");
            for (place, text) in [("the log", logged.as_str()), ("the database", stored.as_str())] {
                assert!(!text.contains(secret.as_str()) && !text.contains(bare.as_str()), "a secret in {place}");
            }
            for body in &later {
                assert!(!body.to_string().contains(secret.as_str()), "a secret in a later response: {body}");
            }
        }
    }
}

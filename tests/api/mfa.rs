//! Two-factor sign-in (SPEC §6) with real RFC 6238 codes computed from the enrolment's secret:
//! enrolment, the `mfa` challenge, codes one step either side accepted and two refused, each code
//! once, recovery codes once, wrong codes counting toward lockout, removal.

use std::time::Duration;

use chrono::Utc;
use domain::mfa::TotpSecret;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    database::{count, execute, migration},
    helpers::{Reply, TestApp, PASSWORD},
};

/// Waits until the current 30-second step has at least 5 seconds left, so a code computed now is
/// still of this step when the server checks it.
async fn steady() {
    loop {
        let into = Utc::now().timestamp().rem_euclid(30);
        if (1..=24).contains(&into) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn code(secret: &TotpSecret, steps_from_now: i64) -> String {
    secret.code_at(Utc::now() + chrono::Duration::seconds(30 * steps_from_now))
}

async fn challenge(app: &TestApp, login: &str) -> String {
    let r = app.login(login, PASSWORD).await;
    r.ok(200);
    assert_eq!(r.body["challenge"], "mfa", "{}", r.body);
    r.body["challenge_token"]
        .as_str()
        .expect("challenge_token")
        .to_owned()
}

/// Calls every operation of the OpenAPI document that needs a permission (its description names
/// one, as in ``**Permission:** `users:read` ``) with `token`, each path parameter set to `other`
/// (an account that is not the caller) and the request body's example; answers each
/// `(method path, status, code)`.
async fn every_permission_route(
    app: &TestApp,
    token: &str,
    other: &str,
) -> Vec<(String, u16, String)> {
    let doc = serde_json::to_value(api::openapi_document()).expect("JSON");
    let mut answers = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let description = op["description"].as_str().unwrap_or_default();
            if !description.contains("**Permission:** `") {
                continue;
            }
            let mut path = template.clone();
            while let Some(start) = path.find('{') {
                let end = path[start..].find('}').expect("a closing brace") + start;
                path.replace_range(start..=end, other);
            }
            let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .map(|schema| doc["components"]["schemas"][schema]["example"].clone());
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let reply = app
                .call(method.clone(), &path, Some(token), body, &[])
                .await;
            let code = reply.body["code"].as_str().unwrap_or_default().to_owned();
            answers.push((format!("{method} {path}"), reply.status.as_u16(), code));
        }
    }
    answers
}

async fn answer(app: &TestApp, challenge: &str, code: &str) -> Reply {
    app.call(
        Method::POST,
        "/api/v1/auth/challenge/mfa",
        None,
        Some(json!({"challenge_token": challenge, "code": code})),
        &[],
    )
    .await
}

both! {
    async fn a_totp_factor_is_enrolled_and_asked_for_at_every_sign_in(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "mia", &["user"]).await;
        let mia = app.token_for("mia").await;
        app.post("/api/v1/me/mfa/totp", &mia, json!({"password": "not her password"})).await.problem(422, "validation_failed");
        app.post("/api/v1/me/mfa/totp/confirm", &mia, json!({"code": "123456"})).await.problem(409, "mfa_not_started");
        let started = app.post("/api/v1/me/mfa/totp", &mia, json!({"password": PASSWORD})).await;
        started.ok(201);
        assert_eq!(started.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
        let secret_text = started.body["secret"].as_str().expect("secret").to_owned();
        let secret = TotpSecret::from_base32(&secret_text).expect("a base32 secret");
        let uri = started.body["otpauth_uri"].as_str().expect("otpauth_uri");
        assert!(uri.starts_with("otpauth://totp/Roster:mia?") && uri.contains(&format!("secret={secret_text}")), "{uri}");
        assert!(started.body["qr_png_base64"].as_str().is_some_and(|q| q.starts_with("iVBORw0KGgo")), "a PNG");
        // Two steps off either way is refused; one step back is accepted.
        steady().await;
        for off in [-2, 2] {
            app.post("/api/v1/me/mfa/totp/confirm", &mia, json!({"code": code(&secret, off)})).await.problem(422, "validation_failed");
        }
        let confirmed = app.post("/api/v1/me/mfa/totp/confirm", &mia, json!({"code": code(&secret, -1)})).await;
        confirmed.ok(200);
        let recovery: Vec<String> = confirmed.body["recovery_codes"].as_array().expect("recovery_codes").iter().filter_map(|c| c.as_str().map(str::to_owned)).collect();
        assert_eq!(recovery.len(), 10);
        assert_eq!(app.get("/api/v1/me", &mia).await.body["mfa_enabled"], true);
        app.post("/api/v1/me/mfa/totp", &mia, json!({"password": PASSWORD})).await.problem(409, "mfa_already_enabled");

        // Sign-in: no tokens until the second factor; one step ahead is accepted.
        let pending = challenge(app, "mia").await;
        steady().await;
        let ahead = code(&secret, 1);
        let signed_in = answer(app, &pending, &ahead).await;
        signed_in.ok(200);
        assert!(signed_in.body["access_token"].is_string(), "{}", signed_in.body);
        // The same code again is refused: each code works once, per account.
        let again = challenge(app, "mia").await;
        answer(app, &again, &ahead).await.problem(422, "validation_failed");
        // A recovery code works once (any case, spaces for dashes).
        let typed = recovery[0].to_uppercase().replace('-', " ");
        answer(app, &again, &typed).await.ok(200);
        let third = challenge(app, "mia").await;
        answer(app, &third, &recovery[0]).await.problem(422, "validation_failed");
        answer(app, &third, &recovery[1]).await.ok(200);
        // A used challenge is spent.
        answer(app, &third, &recovery[2]).await.problem(401, "invalid_challenge");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM recovery_codes WHERE user_id = '{id}'")), 8);

        // Regenerating recovery codes needs the password and voids the old ones.
        app.post("/api/v1/me/mfa/recovery-codes", &mia, json!({"password": "wrong"})).await.problem(422, "validation_failed");
        let fresh = app.post("/api/v1/me/mfa/recovery-codes", &mia, json!({"password": PASSWORD})).await;
        fresh.ok(200);
        let fourth = challenge(app, "mia").await;
        answer(app, &fourth, &recovery[2]).await.problem(422, "validation_failed");
        answer(app, &fourth, fresh.body["recovery_codes"][0].as_str().expect("a code")).await.ok(200);

        // Removing needs the password and a current code; the code used last (a step ahead)
        // leaves none before it usable, as RFC 6238 §5.2 wants.
        app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&mia), Some(json!({"password": PASSWORD, "code": ahead})), &[]).await.problem(422, "validation_failed");
        app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&mia), Some(json!({"password": "wrong", "code": "000000"})), &[]).await.problem(422, "validation_failed");
        // The secret is sealed at rest: the stored row does not hold it.
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM mfa_factors WHERE sealed_secret LIKE '%{secret_text}%'")), 0);
    }

    async fn wrong_codes_count_toward_lockout_and_a_guesser_cannot_remove_the_factor(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "gus", &["user"]).await;
        let gus = app.token_for("gus").await;
        let started = app.post("/api/v1/me/mfa/totp", &gus, json!({"password": PASSWORD})).await;
        let secret = TotpSecret::from_base32(started.body["secret"].as_str().expect("secret")).expect("base32");
        steady().await;
        app.post("/api/v1/me/mfa/totp/confirm", &gus, json!({"code": code(&secret, 0)})).await.ok(200);
        app.patch("/api/v1/settings", &admin, json!({"lockout": {"threshold": 3}})).await.ok(200);
        // A guesser who knows the password: three wrong codes lock the account.
        let pending = challenge(app, "gus").await;
        for guess in ["111111", "222222", "333333"] {
            answer(app, &pending, guess).await.problem(422, "validation_failed");
        }
        let account: Value = app.get(&format!("/api/v1/users/{id}"), &admin).await.body;
        assert_eq!(account["status"], "locked", "{account}");
        steady().await;
        answer(app, &pending, &code(&secret, 0)).await.problem(401, "invalid_challenge");
        app.login("gus", PASSWORD).await.problem(401, "invalid_credentials");
        // The factor is still there, and the audit trail says why sign-ins failed.
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM mfa_factors WHERE user_id = '{id}' AND confirmed_at IS NOT NULL")), 1);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_failed' AND target_id = '{id}' AND details LIKE '%wrong_mfa_code%'")), 3);
        // Required to use two factors: it cannot be removed.
        app.post(&format!("/api/v1/users/{id}/unlock"), &admin, json!({})).await.ok(200);
        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"mfa_required": true})).await.ok(200);
        steady().await;
        let next = code(&secret, 1);
        app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&gus), Some(json!({"password": PASSWORD, "code": next})), &[]).await.problem(409, "mfa_required");
        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"mfa_required": false})).await.ok(200);
        app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&gus), Some(json!({"password": PASSWORD, "code": next})), &[]).await.ok(204);
        assert_eq!(app.get("/api/v1/me", &gus).await.body["mfa_enabled"], false);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM mfa_factors WHERE user_id = '{id}'")), 0);
        app.login("gus", PASSWORD).await.ok(200);
    }

    async fn of_six_sign_ins_racing_with_one_code_one_gets_in(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.user(&admin, "rae", &["user"]).await;
        let rae = app.token_for("rae").await;
        let started = app.post("/api/v1/me/mfa/totp", &rae, json!({"password": PASSWORD})).await;
        let secret = TotpSecret::from_base32(started.body["secret"].as_str().expect("secret")).expect("base32");
        steady().await;
        app.post("/api/v1/me/mfa/totp/confirm", &rae, json!({"code": code(&secret, -1)})).await.ok(200);
        let mut pending = Vec::new();
        for _ in 0..6 {
            pending.push(challenge(app, "rae").await);
        }
        steady().await;
        let now = code(&secret, 0);
        let replies = futures_util::future::join_all(pending.iter().map(|p| answer(app, p, &now))).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 5, "{statuses:?}");
    }

    async fn an_admin_one_time_password_works_once_and_makes_the_holder_enrol_again(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "lou", &["user"]).await;
        let lou = app.token_for("lou").await;
        let otp_path = format!("/api/v1/users/{id}/mfa/one-time-password");
        app.post(&otp_path, &admin, json!({})).await.problem(409, "mfa_not_enabled");
        let started = app.post("/api/v1/me/mfa/totp", &lou, json!({"password": PASSWORD})).await;
        let secret = TotpSecret::from_base32(started.body["secret"].as_str().expect("secret")).expect("base32");
        steady().await;
        app.post("/api/v1/me/mfa/totp/confirm", &lou, json!({"code": code(&secret, 0)})).await.ok(200);
        // Only users:write, and an admin's factor only by an admin.
        app.user(&admin, "rolf", &["user"]).await;
        let rolf = app.token_for("rolf").await;
        app.post(&otp_path, &rolf, json!({})).await.problem(403, "forbidden");
        let issued = app.post(&otp_path, &admin, json!({})).await;
        issued.ok(200);
        assert_eq!(issued.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
        let otp = issued.body["one_time_password"].as_str().expect("one_time_password").to_owned();
        // It stands in for a code once, and the factor is gone: the holder enrols again.
        let pending = challenge(app, "lou").await;
        let signed_in = answer(app, &pending, &otp).await;
        signed_in.ok(200);
        assert!(signed_in.body["access_token"].is_string(), "{}", signed_in.body);
        let me = app.get(&format!("/api/v1/users/{id}"), &admin).await;
        assert_eq!(me.body["mfa_enabled"], false);
        app.login("lou", PASSWORD).await.ok(200);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM mfa_one_time_passwords WHERE user_id = '{id}'")), 0);
        // Enrolled again, the used one-time password is no code.
        let again = app.post("/api/v1/me/mfa/totp", &lou, json!({"password": PASSWORD})).await;
        let secret = TotpSecret::from_base32(again.body["secret"].as_str().expect("secret")).expect("base32");
        steady().await;
        app.post("/api/v1/me/mfa/totp/confirm", &lou, json!({"code": code(&secret, 0)})).await.ok(200);
        let pending = challenge(app, "lou").await;
        answer(app, &pending, &otp).await.problem(422, "validation_failed");
        // An admin removes the factor, and with it a one-time password not used yet: it cannot
        // stand in for a factor enrolled later.
        let unused = app.post(&otp_path, &admin, json!({})).await;
        let unused = unused.body["one_time_password"].as_str().expect("one_time_password").to_owned();
        app.delete(&format!("/api/v1/users/{id}/mfa"), &rolf).await.problem(403, "forbidden");
        app.delete(&format!("/api/v1/users/{id}/mfa"), &admin).await.ok(204);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM mfa_one_time_passwords WHERE user_id = '{id}'")), 0);
        let third = app.post("/api/v1/me/mfa/totp", &lou, json!({"password": PASSWORD})).await;
        let secret = TotpSecret::from_base32(third.body["secret"].as_str().expect("secret")).expect("base32");
        steady().await;
        app.post("/api/v1/me/mfa/totp/confirm", &lou, json!({"code": code(&secret, 0)})).await.ok(200);
        let pending = challenge(app, "lou").await;
        answer(app, &pending, &unused).await.problem(422, "validation_failed");
        app.delete(&format!("/api/v1/users/{id}/mfa"), &admin).await.ok(204);
        app.delete(&format!("/api/v1/users/{id}/mfa"), &admin).await.problem(409, "mfa_not_enabled");
        app.login("lou", PASSWORD).await.ok(200);
        // All audited; no secret, code or password in the details.
        for action in ["mfa.enrolled", "mfa.one_time_password_issued", "mfa.removed", "auth.mfa_verified"] {
            assert!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = '{action}' AND target_id = '{id}'")) >= 1, "{action}");
        }
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE details LIKE '%{}%'", &otp[..9])), 0);
    }

    async fn an_account_required_to_use_two_factors_enrols_before_it_gets_a_token(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "ada2", &["admin"]).await;
        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"mfa_required": true})).await.ok(200);
        let first = app.login("ada2", PASSWORD).await;
        first.ok(200);
        assert_eq!(first.body["challenge"], "mfa_enrollment", "{}", first.body);
        assert!(first.body.get("access_token").is_none());
        let token = first.body["challenge_token"].as_str().expect("challenge_token").to_owned();
        // The challenge token is no bearer token: no admin route before enrolling.
        app.get("/api/v1/users", &token).await.problem(401, "unauthenticated");
        let enrol = |path: &'static str, body: Value| app.call(Method::POST, path, None, Some(body), &[]);
        enrol("/api/v1/auth/challenge/mfa-enrollment/confirm", json!({"challenge_token": token, "code": "123456"})).await.problem(409, "mfa_not_started");
        let started = enrol("/api/v1/auth/challenge/mfa-enrollment", json!({"challenge_token": token})).await;
        started.ok(201);
        let secret = TotpSecret::from_base32(started.body["secret"].as_str().expect("secret")).expect("base32");
        steady().await;
        enrol("/api/v1/auth/challenge/mfa-enrollment/confirm", json!({"challenge_token": token, "code": "000000"})).await.problem(422, "validation_failed");
        let done = enrol("/api/v1/auth/challenge/mfa-enrollment/confirm", json!({"challenge_token": token, "code": code(&secret, 0)})).await;
        done.ok(200);
        assert_eq!(done.body["recovery_codes"].as_array().map(Vec::len), Some(10));
        let access = done.body["sign_in"]["access_token"].as_str().expect("tokens after enrolling").to_owned();
        app.get("/api/v1/users", &access).await.ok(200);
        // Spent; and the next sign-in asks for a code.
        enrol("/api/v1/auth/challenge/mfa-enrollment", json!({"challenge_token": token})).await.problem(401, "invalid_challenge");
        let next = app.login("ada2", PASSWORD).await;
        assert_eq!(next.body["challenge"], "mfa", "{}", next.body);
    }

    async fn an_admin_reaches_no_admin_route_until_it_enrols(app: TestApp) {
        let root_id = app.setup("admin").await.ok(201).id();
        // `mfa.required_for_admins` is on by default: the first admin's sign-in answers the
        // `mfa_enrollment` challenge, whose token is no bearer token.
        let first = app.login("admin", PASSWORD).await;
        first.ok(200);
        assert_eq!(first.body["challenge"], "mfa_enrollment", "{}", first.body);
        assert!(first.body.get("access_token").is_none());
        let challenge_token = first.body["challenge_token"].as_str().expect("challenge_token");
        app.get("/api/v1/users", challenge_token).await.problem(401, "unauthenticated");
        let root = app.enrol_at_sign_in("admin").await;
        let settings = app.get("/api/v1/settings", &root.access_token).await;
        assert_eq!(settings.body["mfa"], json!({"required_for_admins": true}));
        // The policy holds the factor: its holder cannot remove it, nor can another admin's
        // route be turned on oneself.
        let removal = json!({"password": PASSWORD, "code": root.next_code()});
        app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&root.access_token), Some(removal), &[]).await.problem(409, "mfa_required");
        app.delete(&format!("/api/v1/users/{root_id}/mfa"), &root.access_token).await.problem(403, "own_mfa");

        // Tokens from before the admin role: a session and an API token of a user made admin.
        let ben = app.user(&root.access_token, "ben", &["user"]).await;
        let session = app.token_for("ben").await;
        let api_token = app.api_token(&session).await;
        app.patch(&format!("/api/v1/users/{ben}"), &root.access_token, json!({"roles": ["admin"], "confirm": true})).await.ok(200);
        for token in [&session, &api_token] {
            let answers = every_permission_route(app, token, &root_id).await;
            assert!(answers.len() >= 20, "{} operations", answers.len());
            for (operation, status, code) in &answers {
                assert_eq!((*status, code.as_str()), (403, "mfa_enrollment_required"), "{operation}");
            }
            app.get("/api/v1/me", token).await.ok(200);
        }
        // Nothing was written: the example bodies created, changed and deleted nobody.
        assert_eq!(count(app, "SELECT count(*) AS n FROM users"), 2);
        // Signing in again asks ben to enrol; enrolling under /me lifts the hold from the tokens
        // ben already holds.
        assert_eq!(app.login("ben", PASSWORD).await.body["challenge"], "mfa_enrollment");
        let started = app.post("/api/v1/me/mfa/totp", &session, json!({"password": PASSWORD})).await;
        started.ok(201);
        let secret = TotpSecret::from_base32(started.body["secret"].as_str().expect("secret")).expect("base32");
        steady().await;
        app.post("/api/v1/me/mfa/totp/confirm", &session, json!({"code": code(&secret, 0)})).await.ok(200);
        for token in [&session, &api_token] {
            app.get("/api/v1/users", token).await.ok(200);
        }
        assert_eq!(app.login("ben", PASSWORD).await.body["challenge"], "mfa");

        // Turned off, the policy holds no admin without a factor (an admin removes ben's).
        app.delete(&format!("/api/v1/users/{ben}/mfa"), &root.access_token).await.ok(204);
        app.get("/api/v1/users", &session).await.problem(403, "mfa_enrollment_required");
        app.patch("/api/v1/settings", &root.access_token, json!({"mfa": {"required_for_admins": false}})).await.ok(200);
        app.get("/api/v1/users", &session).await.ok(200);
        assert!(app.login("ben", PASSWORD).await.body["access_token"].is_string());
        // Turned on again, it holds ben at once.
        app.patch("/api/v1/settings", &root.access_token, json!({"mfa": {"required_for_admins": true}})).await.ok(200);
        app.get("/api/v1/users", &api_token).await.problem(403, "mfa_enrollment_required");
    }

    async fn an_upgraded_deployment_records_the_admin_policy_off_and_a_new_one_keeps_the_default(app: TestApp) {
        let upgrade = migration(app, "2026-11-30-000003_admin_mfa_policy");
        let recorded = "SELECT count(*) AS n FROM settings WHERE document LIKE '%required_for_admins%'";
        // A new deployment (no account yet): the upgrade records nothing, the default applies.
        execute(app, &upgrade);
        assert_eq!(count(app, recorded), 0);
        // A deployment set up before the setting existed: its document does not name it.
        let (admin, id) = app.admin().await;
        execute(app, &format!("UPDATE settings SET document = '{{\"primary_contact\": \"{id}\"}}'"));
        execute(app, &upgrade);
        let settings = app.get("/api/v1/settings", &admin).await;
        settings.ok(200);
        assert_eq!(settings.body["mfa"], json!({"required_for_admins": false}));
        assert_eq!(settings.body["primary_contact"], json!(id), "the rest of the document is kept");
        app.get("/api/v1/users", &admin).await.ok(200);
    }
}

//! Sign-in that holds up (SPEC §4): sessions and refresh-token rotation, sign-out, lockout,
//! uniform failures, the `set_password` challenge, `require_passwords`, and last use.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    database::{count, execute},
    helpers::{Reply, TestApp, GIVEN_PASSWORD, PASSWORD},
};

fn field<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply.body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {}", reply.body))
}

async fn refresh(app: &TestApp, token: &str) -> Reply {
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": token})),
        &[],
    )
    .await
}

async fn logout(app: &TestApp, token: &str) -> Reply {
    app.call(Method::POST, "/api/v1/auth/logout", Some(token), None, &[])
        .await
}

async fn forwarded_login(app: &TestApp, client: &str) -> Reply {
    let body = json!({"login": "admin", "password": "a wrong password"});
    app.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(body),
        &[("x-forwarded-for", client)],
    )
    .await
}

async fn set_lockout(app: &TestApp, admin: &str, lockout: Value) {
    app.patch("/api/v1/settings", admin, json!({"lockout": lockout}))
        .await
        .ok(200);
}

both! {
    async fn a_refresh_token_rotates_and_a_replayed_one_ends_the_session(app: TestApp) {
        app.admin().await;
        let first = app.login("admin", PASSWORD).await;
        first.ok(200);
        assert_eq!(first.headers["cache-control"], "no-store");
        let (access, refresh_token) = (field(&first, "access_token"), field(&first, "refresh_token"));
        assert!(refresh_token.starts_with("rsr_"));
        app.get("/api/v1/me", access).await.ok(200);

        let second = refresh(app, refresh_token).await;
        second.ok(200);
        assert_eq!(second.body["session_id"], first.body["session_id"], "the same session");
        let (access2, refresh2) = (field(&second, "access_token"), field(&second, "refresh_token"));
        assert_ne!(refresh2, refresh_token, "a new refresh token every time");
        app.get("/api/v1/me", access2).await.ok(200);

        // The first refresh token again: someone holds a copy, so the session ends.
        refresh(app, refresh_token).await.problem(401, "invalid_refresh_token");
        app.get("/api/v1/me", access2).await.problem(401, "unauthenticated");
        app.get("/api/v1/me", access).await.problem(401, "unauthenticated");
        refresh(app, refresh2).await.problem(401, "invalid_refresh_token");
        let session = field(&first, "session_id");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM sessions WHERE id = '{session}'")), 0);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'auth.refresh_token_reused'"), 1);

        refresh(app, "rsr_not-a-token").await.problem(401, "invalid_refresh_token");
        refresh(app, access2).await.problem(401, "invalid_refresh_token");
    }

    async fn concurrent_exchanges_of_one_refresh_token_never_yield_two_sessions(app: TestApp) {
        app.admin().await;
        let first = app.login("admin", PASSWORD).await;
        let token = field(&first, "refresh_token").to_owned();
        let replies = futures_util::future::join_all((0..8).map(|_| refresh(app, &token))).await;
        let won: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
        assert!(won.len() <= 1, "at most one exchange wins: {}", won.len());
        for r in replies.iter().filter(|r| r.status != 200) {
            r.problem(401, "invalid_refresh_token");
        }
        // The replays ended the session, the winner's new tokens with it.
        for r in won {
            refresh(app, field(r, "refresh_token")).await.problem(401, "invalid_refresh_token");
            app.get("/api/v1/me", field(r, "access_token")).await.problem(401, "unauthenticated");
        }
        let session = field(&first, "session_id");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM sessions WHERE id = '{session}'")), 0);
    }

    async fn sessions_are_listed_and_a_revoked_one_fails_at_once(app: TestApp) {
        app.admin().await;
        let phone = app
            .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": "admin", "password": PASSWORD})), &[("user-agent", "Phone/1.0")])
            .await;
        let laptop = app.login("admin", PASSWORD).await;
        let third = app.login("admin", PASSWORD).await;
        let (phone_token, laptop_token, third_token) =
            (field(&phone, "access_token"), field(&laptop, "access_token"), field(&third, "access_token"));
        let list = app.get("/api/v1/me/sessions", laptop_token).await;
        list.ok(200);
        let items = list.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 4, "these three and the helper's sign-in");
        let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["id"], laptop.body["session_id"]);
        let on_phone = items.iter().find(|s| s["id"] == phone.body["session_id"]).expect("phone");
        assert_eq!(on_phone["user_agent"], "Phone/1.0");
        assert_eq!(on_phone["address"], "127.0.0.1");

        let phone_path = format!("/api/v1/me/sessions/{}", field(&phone, "session_id"));
        app.delete(&phone_path, laptop_token).await.ok(204);
        app.get("/api/v1/me", phone_token).await.problem(401, "unauthenticated");
        app.delete(&phone_path, laptop_token).await.problem(404, "session_not_found");
        refresh(app, field(&phone, "refresh_token")).await.problem(401, "invalid_refresh_token");

        let ended = app.delete("/api/v1/me/sessions", laptop_token).await;
        ended.ok(200);
        assert_eq!(ended.body["ended"], 2, "every session but the current one");
        app.get("/api/v1/me", third_token).await.problem(401, "unauthenticated");
        app.get("/api/v1/me", laptop_token).await.ok(200);

        let api_token = app.api_token(laptop_token).await;
        logout(app, &api_token).await.problem(400, "no_session");
        logout(app, laptop_token).await.ok(204);
        app.get("/api/v1/me", laptop_token).await.problem(401, "unauthenticated");
        refresh(app, field(&laptop, "refresh_token")).await.problem(401, "invalid_refresh_token");
        app.get("/api/v1/me", &api_token).await.ok(200);
    }

    async fn admins_see_and_end_an_accounts_sessions(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let bo = app.user(&admin, "bo", &["user"]).await;
        let ana_token = app.token_for("ana").await;
        let path = format!("/api/v1/users/{ana}/sessions");
        let list = app.get(&path, &admin).await;
        list.ok(200);
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(2), "the challenge's sign-in and this one");
        assert!(list.body["items"].as_array().into_iter().flatten().all(|s| s["current"] == false));
        let bo_token = app.token_for("bo").await;
        app.get(&path, &bo_token).await.problem(403, "forbidden");
        app.delete(&path, &bo_token).await.problem(403, "forbidden");
        app.get(&format!("/api/v1/users/{bo}/sessions"), &bo_token).await.ok(200);
        app.get(&format!("/api/v1/users/{}/sessions", uuid::Uuid::now_v7()), &admin).await.problem(404, "user_not_found");

        let ended = app.delete(&path, &admin).await;
        ended.ok(200);
        assert_eq!(ended.body["ended"], 2);
        app.get("/api/v1/me", &ana_token).await.problem(401, "unauthenticated");
        app.get("/api/v1/me", &bo_token).await.ok(200);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'session.revoked'"), 1);
    }

    async fn a_session_ends_when_idle_or_past_its_absolute_end(app: TestApp) {
        app.admin().await;
        let idle = app.login("admin", PASSWORD).await;
        let old = app.login("admin", PASSWORD).await;
        let past = "2000-01-01 00:00:00";
        execute(app, &format!("UPDATE sessions SET idle_expires_at = '{past}' WHERE id = '{}'", field(&idle, "session_id")));
        execute(app, &format!("UPDATE sessions SET expires_at = '{past}' WHERE id = '{}'", field(&old, "session_id")));
        for r in [&idle, &old] {
            app.get("/api/v1/me", field(r, "access_token")).await.problem(401, "unauthenticated");
            refresh(app, field(r, "refresh_token")).await.problem(401, "invalid_refresh_token");
        }
        let settings = app.patch("/api/v1/settings", field(&app.login("admin", PASSWORD).await, "access_token"), json!({"sessions": {"idle_minutes": 60, "absolute_hours": 2}})).await;
        settings.ok(200);
        assert_eq!(settings.body["sessions"], json!({"idle_minutes": 60, "absolute_hours": 2}));
        let fresh = app.login("admin", PASSWORD).await;
        let mine = app.get("/api/v1/me/sessions", field(&fresh, "access_token")).await;
        let current = mine.body["items"].as_array().into_iter().flatten().find(|s| s["current"] == true).expect("current").clone();
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(current[k].as_str().expect(k)).expect(k);
        assert_eq!((at("expires_at") - at("created_at")).num_minutes(), 120);
        assert_eq!((at("idle_expires_at") - at("created_at")).num_minutes(), 60);
    }

    async fn ended_sessions_and_expired_challenges_are_cleaned_up(app: TestApp) {
        let (admin, _) = app.admin().await;
        let body = json!({"username": "ana", "email": "ana@example.org", "first_name": "A", "last_name": "L", "password": GIVEN_PASSWORD});
        app.post("/api/v1/users", &admin, body).await.ok(201);
        app.login("ana", GIVEN_PASSWORD).await.ok(200);
        let ended = app.login("admin", PASSWORD).await;
        execute(app, &format!("UPDATE sessions SET idle_expires_at = '2000-01-01 00:00:00' WHERE id = '{}'", field(&ended, "session_id")));
        execute(app, "UPDATE sign_in_challenges SET expires_at = '2000-01-01 00:00:00'");
        let sessions = count(app, "SELECT count(*) AS n FROM sessions");
        assert_eq!(app.state.services.clean_up().await.expect("clean-up"), (1, 1, 0, 0));
        assert_eq!(count(app, "SELECT count(*) AS n FROM sessions"), sessions - 1);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM refresh_tokens WHERE session_id = '{}'", field(&ended, "session_id"))), 0);
        app.get("/api/v1/me", &admin).await.ok(200);
    }

    async fn consecutive_failures_lock_exactly_under_concurrency(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "ana", &["user"]).await;
        set_lockout(app, &admin, json!({"threshold": 5})).await;
        let guesses = futures_util::future::join_all((0..20).map(|i| app.login("ana", if i % 2 == 0 { "wrong guess number one" } else { "another wrong guess" }))).await;
        for r in &guesses {
            r.problem(401, "invalid_credentials");
        }
        let failed = count(app, &format!("SELECT CAST(failed_logins AS BIGINT) AS n FROM users WHERE id = '{id}'"));
        assert_eq!(failed, 20, "every failure counted, none lost to a race");
        let account = app.get(&format!("/api/v1/users/{id}"), &admin).await;
        assert_eq!(account.body["status"], "locked");
        assert!(account.body["locked_until"].is_null(), "no lockout.minutes: locked until an admin unlocks");
        app.login("ana", PASSWORD).await.problem(401, "invalid_credentials");
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'user.locked'"), 1);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_failed' AND details LIKE '%\"reason\":\"locked\"%'"), 1);

        let unlocked = app.post(&format!("/api/v1/users/{id}/unlock"), &admin, json!({})).await;
        unlocked.ok(200);
        assert_eq!(unlocked.body["status"], "active");
        app.login("ana", PASSWORD).await.ok(200);
        assert_eq!(count(app, &format!("SELECT CAST(failed_logins AS BIGINT) AS n FROM users WHERE id = '{id}'")), 0);
        let plain = app.token_for("ana").await;
        app.post(&format!("/api/v1/users/{id}/unlock"), &plain, json!({})).await.problem(403, "forbidden");
    }

    async fn a_timed_lock_ends_by_itself_and_keeps_the_count(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "ana", &["user"]).await;
        set_lockout(app, &admin, json!({"threshold": 3, "minutes": 15})).await;
        for _ in 0..3 {
            app.login("ana", "not the password at all").await.problem(401, "invalid_credentials");
        }
        let locked = app.get(&format!("/api/v1/users/{id}"), &admin).await;
        assert_eq!(locked.body["status"], "locked");
        assert!(locked.body["locked_until"].is_string());
        // The lock's end passes.
        execute(app, &format!("UPDATE users SET locked_until = '2000-01-01 00:00:00' WHERE id = '{id}'"));
        assert_eq!(app.get(&format!("/api/v1/users/{id}"), &admin).await.body["status"], "active");
        let listed = app.get("/api/v1/users?status=locked", &admin).await;
        assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(0));
        // The count was kept: the next failure locks again at once.
        app.login("ana", "not the password at all").await.problem(401, "invalid_credentials");
        assert_eq!(app.get(&format!("/api/v1/users/{id}"), &admin).await.body["status"], "locked");
        // A hundred consecutive failures: the lock never ends by itself.
        execute(app, &format!("UPDATE users SET failed_logins = 99, locked_until = '2000-01-01 00:00:00' WHERE id = '{id}'"));
        app.login("ana", "not the password at all").await.problem(401, "invalid_credentials");
        let for_good = app.get(&format!("/api/v1/users/{id}"), &admin).await;
        assert_eq!(for_good.body["status"], "locked");
        assert!(for_good.body["locked_until"].is_null(), "{}", for_good.body);
        // PATCH active: true unlocks too.
        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"active": true, "location": "Porto"})).await.ok(200);
        app.login("ana", PASSWORD).await.ok(200);
    }

    async fn every_failure_answers_alike_and_the_audit_says_why(app: TestApp) {
        let (admin, _) = app.admin().await;
        let inactive = app.user(&admin, "inactive", &["user"]).await;
        let expired = app.user(&admin, "expired", &["user"]).await;
        let locked = app.user(&admin, "locked", &["user"]).await;
        app.patch(&format!("/api/v1/users/{inactive}"), &admin, json!({"active": false})).await.ok(200);
        execute(app, &format!("UPDATE users SET expires_at = '2000-01-01 00:00:00' WHERE id = '{expired}'"));
        execute(app, &format!("UPDATE users SET locked_at = '2000-01-01 00:00:00' WHERE id = '{locked}'"));
        let answers = [
            app.login("nobody", PASSWORD).await,
            app.login("admin", "a wrong password").await,
            app.login("inactive", PASSWORD).await,
            app.login("expired", PASSWORD).await,
            app.login("locked", PASSWORD).await,
        ];
        for a in &answers {
            a.problem(401, "invalid_credentials");
            assert_eq!(a.body, answers[0].body, "the same body for every failure");
        }
        for reason in ["unknown_login", "wrong_password", "inactive", "expired", "locked"] {
            let n = count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_failed' AND details LIKE '%\"reason\":\"{reason}\"%' AND address = '127.0.0.1'"));
            assert_eq!(n, 1, "{reason}");
        }
    }

    async fn a_given_password_is_replaced_before_any_token(app: TestApp) {
        let (admin, _) = app.admin().await;
        let body = json!({"username": "ana", "email": "ana@example.org", "first_name": "Ana", "last_name": "Lima", "password": GIVEN_PASSWORD});
        let id = app.post("/api/v1/users", &admin, body).await.ok(201).id();
        let challenge = app.login("ana", GIVEN_PASSWORD).await;
        challenge.ok(200);
        assert_eq!(challenge.body["challenge"], "set_password");
        assert_eq!(challenge.body["expires_in"], 300);
        assert!(challenge.body.get("access_token").is_none(), "no token before the challenge");
        let token = field(&challenge, "challenge_token").to_owned();
        assert!(token.starts_with("rsc_"));
        app.get("/api/v1/me", &token).await.problem(401, "unauthenticated");
        refresh(app, &token).await.problem(401, "invalid_refresh_token");

        for (weak, code) in [("passwordpassword", "password_too_weak"), ("short", "password_too_short"), ("ana@example.org", "password_is_identifier"), (GIVEN_PASSWORD, "password_unchanged")] {
            let r = app.set_password(&challenge, weak).await;
            r.problem(422, "validation_failed");
            assert_eq!(r.body["errors"][0]["code"], code, "{weak}: {}", r.body);
            assert_eq!(r.body["errors"][0]["field"], "new_password");
        }
        let done = app.set_password(&challenge, PASSWORD).await;
        done.ok(200);
        app.get("/api/v1/me", field(&done, "access_token")).await.ok(200);
        app.set_password(&challenge, "violet tractor hums at noon").await.problem(401, "invalid_challenge");
        app.login("ana", GIVEN_PASSWORD).await.problem(401, "invalid_credentials");
        let direct = app.login("ana", PASSWORD).await;
        assert!(direct.body["access_token"].is_string(), "no challenge any more: {}", direct.body);

        // An expired challenge is refused.
        let body = json!({"username": "bo", "email": "bo@example.org", "first_name": "Bo", "last_name": "Berg", "password": GIVEN_PASSWORD});
        app.post("/api/v1/users", &admin, body).await.ok(201);
        let late = app.login("bo", GIVEN_PASSWORD).await;
        execute(app, "UPDATE sign_in_challenges SET expires_at = '2000-01-01 00:00:00'");
        app.set_password(&late, PASSWORD).await.problem(401, "invalid_challenge");
        let _ = id;
    }

    async fn without_required_passwords_an_account_without_one_signs_in_by_username(app: TestApp) {
        let (admin, _) = app.admin().await;
        let body = json!({"username": "floor1", "email": "floor1@example.org", "first_name": "F", "last_name": "L"});
        app.post("/api/v1/users", &admin, body).await.ok(201);
        let boss = json!({"username": "boss", "email": "boss@example.org", "first_name": "B", "last_name": "S", "roles": ["admin"]});
        app.post("/api/v1/users", &admin, boss).await.ok(201);
        let bare = |login: &'static str| app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": login})), &[]);
        bare("floor1").await.problem(401, "invalid_credentials");
        app.patch("/api/v1/settings", &admin, json!({"require_passwords": false})).await.ok(200);
        let signed_in = bare("floor1").await;
        signed_in.ok(200);
        app.get("/api/v1/me", field(&signed_in, "access_token")).await.ok(200);
        bare("boss").await.problem(401, "invalid_credentials");
        bare("admin").await.problem(401, "invalid_credentials");
        app.login("floor1", "any password").await.problem(401, "invalid_credentials");
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_succeeded' AND details LIKE '%username_only%' AND address = '127.0.0.1'"), 1);
    }

    async fn last_use_is_recorded_at_most_once_a_minute(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.post("/api/v1/users", &admin, json!({"username": "ana", "email": "ana@example.org", "first_name": "A", "last_name": "L"})).await.ok(201).id();
        let path = format!("/api/v1/users/{id}");
        assert!(app.get(&path, &admin).await.body["last_active_at"].is_null(), "Never");
        let me = app.get("/api/v1/me", &admin).await;
        let first = me.body["last_active_at"].clone();
        assert!(first.is_string());
        for _ in 0..3 {
            app.get("/api/v1/me", &admin).await.ok(200);
        }
        assert_eq!(app.get("/api/v1/me", &admin).await.body["last_active_at"], first, "no write per request");
        execute(app, "UPDATE users SET last_active_at = '2000-01-01 00:00:00' WHERE username = 'admin'");
        app.get("/api/v1/roles", &admin).await.ok(200);
        let later = app.get("/api/v1/me", &admin).await.body["last_active_at"].clone();
        assert_ne!(later, json!("2000-01-01T00:00:00Z"), "a use after a minute is recorded");
    }

    async fn an_access_token_longer_lived_than_the_server_issues_is_refused(app: TestApp) {
        app.admin().await;
        let signed_in = app.login("admin", PASSWORD).await;
        let account = uuid::Uuid::parse_str(app.get("/api/v1/me", field(&signed_in, "access_token")).await.body["id"].as_str().expect("id")).expect("uuid");
        let session = uuid::Uuid::parse_str(field(&signed_in, "session_id")).expect("uuid");
        let secret = app.config.resolve_secret(app.db == crate::helpers::Db::Postgres).expect("secret");
        let keys = |ttl| api::auth::TokenKeys::new(&secret, Duration::from_secs(ttl));
        let as_issued = keys(900).issue(account, session).expect("token");
        app.get("/api/v1/me", &as_issued).await.ok(200);
        let day_long = keys(86_400).issue(account, session).expect("token");
        app.get("/api/v1/me", &day_long).await.problem(401, "unauthenticated");
        let other_session = keys(900).issue(account, uuid::Uuid::now_v7()).expect("token");
        app.get("/api/v1/me", &other_session).await.problem(401, "unauthenticated");
    }

    async fn the_bearer_scheme_is_case_insensitive(app: TestApp) {
        let (admin, _) = app.admin().await;
        for scheme in ["bearer", "Bearer", "BEARER"] {
            let r = app.call(Method::GET, "/api/v1/me", None, None, &[("authorization", &format!("{scheme} {admin}"))]).await;
            r.ok(200);
        }
    }
}

both! {
    async fn sign_in_requests_are_limited_per_address(app: TestApp) {
        let limited = TestApp::spawn_with(app.db, |c| {
            c.auth_rate_limit = 3;
        })
        .await;
        limited.setup("admin").await.ok(201);
        for _ in 0..3 {
            limited.login("admin", "a wrong password").await.problem(401, "invalid_credentials");
        }
        let refused = limited.login("admin", PASSWORD).await;
        refused.problem(429, "rate_limited");
        assert_eq!(refused.headers["retry-after"], "20", "one request every 20 s at 3 a minute");
        refresh(&limited, "rsr_x").await.problem(429, "rate_limited");
        assert_eq!(count(&limited, "SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_failed'"), 3, "a refused request does nothing");
        // X-Forwarded-For is not believed from an untrusted peer.
        let forged = limited.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"login": "admin", "password": PASSWORD})), &[("x-forwarded-for", "198.51.100.7")]).await;
        forged.problem(429, "rate_limited");
    }

    async fn a_trusted_proxy_names_the_client(app: TestApp) {
        let proxied = TestApp::spawn_with(app.db, |c| {
            c.auth_rate_limit = 2;
            c.trusted_proxies = api::client::TrustedProxies::parse("127.0.0.0/8").expect("list");
        })
        .await;
        proxied.setup("admin").await.ok(201);
        let from = forwarded_login;
        from(&proxied, "203.0.113.5").await.problem(401, "invalid_credentials");
        from(&proxied, "203.0.113.5").await.problem(401, "invalid_credentials");
        from(&proxied, "203.0.113.5").await.problem(429, "rate_limited");
        from(&proxied, "203.0.113.6").await.problem(401, "invalid_credentials");
        // A client cannot hide behind an address it writes itself: the nearest untrusted hop counts.
        from(&proxied, "198.51.100.1, 203.0.113.5").await.problem(429, "rate_limited");
        let recorded = count(&proxied, "SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_failed' AND address = '203.0.113.6'");
        assert_eq!(recorded, 1, "the audit trail records the client, not the proxy");
    }
}

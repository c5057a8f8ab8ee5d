//! Activation by link (SPEC §5): an account created without a password gets an activation link;
//! its token is checked without being used, sets the first password once, and every token that is
//! not valid is refused alike.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    database::count,
    helpers::{TestApp, PASSWORD},
};

/// Creates an account without a password; answers its id and its activation link's token.
async fn invited(app: &TestApp, admin: &str, name: &str) -> (String, String) {
    let created = app
        .post("/api/v1/users", admin, json!({"username": name, "email": format!("{name}@example.org"), "first_name": "In", "last_name": "Vited"}))
        .await;
    created.ok(201);
    assert_eq!(created.body["status"], "invited");
    assert_eq!(
        created
            .headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let url = created.body["activation_url"]
        .as_str()
        .expect("an activation_url")
        .to_owned();
    let prefix = format!("{}/activation#token=", app.base);
    assert!(
        url.starts_with(&prefix),
        "{url} is on the server's own address"
    );
    (created.id(), url[prefix.len()..].to_owned())
}

async fn anonymous(app: &TestApp, path: &str, body: Value) -> crate::helpers::Reply {
    app.call(Method::POST, path, None, Some(body), &[]).await
}

both! {
    async fn an_invited_account_sets_its_first_password_through_its_link(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (id, token) = invited(app, &admin, "ines").await;
        // With a password, no link.
        let given = app.post("/api/v1/users", &admin, json!({"username": "gil", "email": "gil@example.org", "first_name": "G", "last_name": "Il", "password": "a password the admin typed in"})).await;
        given.ok(201);
        assert!(given.body.get("activation_url").is_none(), "{}", given.body);

        let inspected = anonymous(app, "/api/v1/auth/tokens/inspect", json!({"token": token})).await;
        inspected.ok(200);
        assert_eq!((inspected.body["purpose"].as_str(), inspected.body["user_id"].as_str(), inspected.body["username"].as_str(), inspected.body["email"].as_str()),
                   (Some("activation"), Some(id.as_str()), Some("ines"), Some("ines@example.org")));
        // The password policy applies, and a refused password spends nothing.
        anonymous(app, "/api/v1/auth/activate", json!({"token": token, "password": "short"})).await.problem(422, "validation_failed");
        app.login("ines", PASSWORD).await.problem(401, "invalid_credentials");
        anonymous(app, "/api/v1/auth/activate", json!({"token": token, "password": PASSWORD})).await.ok(204);
        app.login("ines", PASSWORD).await.ok(200);
        let account = app.get(&format!("/api/v1/users/{id}"), &admin).await;
        assert_eq!(account.body["status"], "active");
        assert!(account.body["activated_at"].is_string());
        // Used: refused, inspecting and activating alike.
        anonymous(app, "/api/v1/auth/tokens/inspect", json!({"token": token})).await.problem(400, "invalid_token");
        anonymous(app, "/api/v1/auth/activate", json!({"token": token, "password": "another fine password here"})).await.problem(400, "invalid_token");
        app.login("ines", PASSWORD).await.ok(200);
        // Audited, without the token.
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'user.activated' AND target_id = '{id}'")), 1);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE details LIKE '%{}%'", &token[..24])), 0, "no token in the audit trail");
    }

    async fn used_unknown_forged_and_withdrawn_tokens_are_refused_alike(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (deactivated, of_deactivated) = invited(app, &admin, "dora").await;
        app.patch(&format!("/api/v1/users/{deactivated}"), &admin, json!({"active": false})).await.ok(200);
        let (deleted, of_deleted) = invited(app, &admin, "dean").await;
        app.delete(&format!("/api/v1/users/{deleted}"), &admin).await.ok(204);
        let (_, valid) = invited(app, &admin, "vera").await;
        let mut forged = valid.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let mut answers = Vec::new();
        for token in [of_deactivated.as_str(), of_deleted.as_str(), forged.as_str(), "rot_AAAA", "not a token", ""] {
            for (path, body) in [("/api/v1/auth/tokens/inspect", json!({"token": token})), ("/api/v1/auth/activate", json!({"token": token, "password": PASSWORD}))] {
                let r = anonymous(app, path, body).await;
                r.problem(400, "invalid_token");
                answers.push((r.body["title"].clone(), r.body["detail"].clone()));
            }
        }
        answers.dedup();
        assert_eq!(answers.len(), 1, "one answer whatever the reason: {answers:?}");
        // The valid one still works.
        anonymous(app, "/api/v1/auth/activate", json!({"token": valid, "password": PASSWORD})).await.ok(204);
    }

    async fn a_forged_host_header_does_not_move_the_link(app: TestApp) {
        let (admin, _) = app.admin().await;
        let body = json!({"username": "hal", "email": "hal@example.org", "first_name": "H", "last_name": "Al"});
        let created = app
            .call(Method::POST, "/api/v1/users", Some(&admin), Some(body), &[("Host", "evil.example.net"), ("X-Forwarded-Host", "evil.example.net"), ("Forwarded", "host=evil.example.net")])
            .await;
        created.ok(201);
        let url = created.body["activation_url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/activation#token=rot_", app.base)), "{url}");
        assert!(!url.contains("evil"), "{url}");
    }

    async fn of_concurrent_activations_with_one_token_exactly_one_succeeds(app: TestApp) {
        let (admin, _) = app.admin().await;
        // Six uses of each of ten tokens, all at once: the writes of two uses whose passwords were
        // hashed side by side meet in the database.
        let mut accounts = Vec::new();
        for n in 0..10 {
            accounts.push(invited(app, &admin, &format!("rita{n}")).await);
        }
        // Each token's uses side by side: the hashing threads take them two at a time.
        let uses: Vec<(usize, String)> = (0..accounts.len()).flat_map(|a| (0..6).map(move |i| (a, format!("racing password number {i}")))).collect();
        let replies = join_all(uses.iter().map(|(a, p)| anonymous(app, "/api/v1/auth/activate", json!({"token": accounts[*a].1, "password": p})))).await;
        for (a, (id, _)) in accounts.iter().enumerate() {
            let won: Vec<usize> = (0..uses.len()).filter(|&i| uses[i].0 == a && replies[i].status == 204).collect();
            assert_eq!(won.len(), 1, "exactly one activation of rita{a}");
            app.login(&format!("rita{a}"), &uses[won[0]].1).await.ok(200);
            assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'user.activated' AND target_id = '{id}'")), 1);
        }
        for r in replies.iter().filter(|r| r.status != 204) {
            r.problem(400, "invalid_token");
        }
    }
    async fn a_link_is_reissued_or_revoked_and_the_ones_before_stop_working(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (id, first) = invited(app, &admin, "olga").await;
        let reissued = app.post(&format!("/api/v1/users/{id}/activation"), &admin, json!({})).await;
        reissued.ok(200);
        assert_eq!(reissued.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
        let url = reissued.body["activation_url"].as_str().unwrap();
        let prefix = format!("{}/activation#token=", app.base);
        let second = url.strip_prefix(&prefix).expect("a link on the server's address").to_owned();
        anonymous(app, "/api/v1/auth/tokens/inspect", json!({"token": first})).await.problem(400, "invalid_token");
        anonymous(app, "/api/v1/auth/tokens/inspect", json!({"token": second})).await.ok(200);
        // Revoked: no link works until one is issued again.
        app.delete(&format!("/api/v1/users/{id}/activation"), &admin).await.ok(204);
        anonymous(app, "/api/v1/auth/activate", json!({"token": second, "password": PASSWORD})).await.problem(400, "invalid_token");
        let third = app.post(&format!("/api/v1/users/{id}/activation"), &admin, json!({})).await;
        third.ok(200);
        let third = third.body["activation_url"].as_str().unwrap().strip_prefix(&prefix).unwrap().to_owned();
        anonymous(app, "/api/v1/auth/activate", json!({"token": third, "password": PASSWORD})).await.ok(204);
        // Activated: it has no activation link any more.
        app.post(&format!("/api/v1/users/{id}/activation"), &admin, json!({})).await.problem(409, "not_invited");
        app.delete(&format!("/api/v1/users/{id}/activation"), &admin).await.problem(409, "not_invited");
        app.post(&format!("/api/v1/users/{}/activation", uuid::Uuid::now_v7()), &admin, json!({})).await.problem(404, "user_not_found");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'user.activation_withdrawn' AND target_id = '{id}'")), 3);
        // A way into an admin's account is an admin's to hand out.
        app.user(&admin, "mona", &["user_manager"]).await;
        let manager = app.token_for("mona").await;
        let boss = app.post("/api/v1/users", &admin, json!({"username": "boss", "email": "boss@example.org", "first_name": "B", "last_name": "Oss", "roles": ["admin"]})).await;
        boss.ok(201);
        app.post(&format!("/api/v1/users/{}/activation", boss.id()), &manager, json!({})).await.problem(403, "admin_role_required");
        app.delete(&format!("/api/v1/users/{}/activation", boss.id()), &manager).await.problem(403, "admin_role_required");
        let (plain, _) = invited(app, &admin, "pia").await;
        app.post(&format!("/api/v1/users/{plain}/activation"), &manager, json!({})).await.ok(200);
        app.user(&admin, "rolf", &["user"]).await;
        let user = app.token_for("rolf").await;
        app.post(&format!("/api/v1/users/{plain}/activation"), &user, json!({})).await.problem(403, "forbidden");
    }
    async fn an_admin_reset_link_sets_a_new_password_once_and_ends_sessions(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "una", &["user"]).await;
        let session = app.token_for("una").await;
        app.get("/api/v1/me", &session).await.ok(200);
        let reset_path = format!("/api/v1/users/{id}/password-reset");
        let first = app.post(&reset_path, &admin, json!({"mode": "link"})).await;
        first.ok(200);
        assert_eq!(first.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
        let prefix = format!("{}/reset#token=", app.base);
        let token_of = |r: &crate::helpers::Reply| r.body["reset_url"].as_str().and_then(|u| u.strip_prefix(&prefix)).expect("a reset link").to_owned();
        let first = token_of(&first);
        app.get("/api/v1/me", &session).await.problem(401, "unauthenticated");
        // A second link voids the first.
        let second = token_of(&app.post(&reset_path, &admin, json!({"mode": "link"})).await);
        anonymous(app, "/api/v1/auth/tokens/inspect", json!({"token": first})).await.problem(400, "invalid_token");
        let inspected = anonymous(app, "/api/v1/auth/tokens/inspect", json!({"token": second})).await;
        inspected.ok(200);
        assert_eq!(inspected.body["purpose"], "reset");
        // Not an activation token, and the password works until the link is used.
        anonymous(app, "/api/v1/auth/activate", json!({"token": second, "password": PASSWORD})).await.problem(400, "invalid_token");
        let meanwhile = app.token_for("una").await;
        // Locked by guessers meanwhile: the reset lifts the lock.
        app.patch("/api/v1/settings", &admin, json!({"lockout": {"threshold": 3}})).await.ok(200);
        for _ in 0..3 {
            app.login("una", "a wrong guess").await.problem(401, "invalid_credentials");
        }
        assert_eq!(app.get(&format!("/api/v1/users/{id}"), &admin).await.body["status"], "locked");
        anonymous(app, "/api/v1/auth/password/reset", json!({"token": second, "new_password": "short"})).await.problem(422, "validation_failed");
        anonymous(app, "/api/v1/auth/password/reset", json!({"token": second, "new_password": "a brand new reset password"})).await.ok(204);
        app.get("/api/v1/me", &meanwhile).await.problem(401, "unauthenticated");
        app.login("una", PASSWORD).await.problem(401, "invalid_credentials");
        app.login("una", "a brand new reset password").await.ok(200);
        anonymous(app, "/api/v1/auth/password/reset", json!({"token": second, "new_password": "yet another new password"})).await.problem(400, "invalid_token");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'user.password_reset' AND target_id = '{id}'")), 1);
        // Revoked links stop working.
        let third = token_of(&app.post(&reset_path, &admin, json!({"mode": "link"})).await);
        app.delete(&format!("/api/v1/users/{id}/password-reset"), &admin).await.ok(204);
        anonymous(app, "/api/v1/auth/password/reset", json!({"token": third, "new_password": "yet another new password"})).await.problem(400, "invalid_token");
        // Only active accounts with a password.
        let (invited_id, _) = invited(app, &admin, "ivo").await;
        app.post(&format!("/api/v1/users/{invited_id}/password-reset"), &admin, json!({"mode": "link"})).await.problem(409, "account_invited");
        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"active": false})).await.ok(200);
        app.post(&format!("/api/v1/users/{id}/password-reset"), &admin, json!({"mode": "link"})).await.problem(409, "account_inactive");
    }
    async fn a_temporary_password_signs_in_once_then_asks_for_a_new_one(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "tara", &["user"]).await;
        let session = app.token_for("tara").await;
        // Locked by guessers: the temporary password lifts the lock.
        app.patch("/api/v1/settings", &admin, json!({"lockout": {"threshold": 3}})).await.ok(200);
        for _ in 0..3 {
            app.login("tara", "a wrong guess").await.problem(401, "invalid_credentials");
        }
        let reset_path = format!("/api/v1/users/{id}/password-reset");
        let issued = app.post(&reset_path, &admin, json!({"mode": "temporary_password"})).await;
        issued.ok(200);
        assert_eq!(issued.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
        assert_eq!(issued.body["mode"], "temporary_password");
        assert!(issued.body.get("reset_url").is_none(), "{}", issued.body);
        let temporary = issued.body["temporary_password"].as_str().expect("temporary_password").to_owned();
        assert_eq!(temporary.len(), 23, "{temporary}");
        let expires: chrono::DateTime<chrono::Utc> = issued.body["expires_at"].as_str().and_then(|t| t.parse().ok()).expect("expires_at");
        let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
        assert!((23.9..=24.0).contains(&hours), "{hours}");
        // Sessions ended, the old password is gone, the lock lifted.
        app.get("/api/v1/me", &session).await.problem(401, "unauthenticated");
        app.login("tara", PASSWORD).await.problem(401, "invalid_credentials");
        let challenge = app.login("tara", &temporary).await;
        challenge.ok(200);
        assert_eq!(challenge.body["challenge"], "set_password", "{}", challenge.body);
        // Single use: it signs in no more, not even to another challenge.
        app.login("tara", &temporary).await.problem(401, "invalid_credentials");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_failed' AND target_id = '{id}' AND details LIKE '%temporary_password_used%'")), 1);
        app.set_password(&challenge, "tara chose this one herself").await.ok(200);
        app.login("tara", "tara chose this one herself").await.ok(200);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM required_actions WHERE user_id = '{id}'")), 0);

        // Single use holds under a race: of eight sign-ins at once, one gets the challenge.
        let raced = app.post(&reset_path, &admin, json!({"mode": "temporary_password"})).await;
        let raced = raced.body["temporary_password"].as_str().expect("temporary_password").to_owned();
        let tries = join_all((0..8).map(|_| app.login("tara", &raced))).await;
        let statuses: Vec<u16> = tries.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 7, "{statuses:?}");

        // Unused for 24 hours, it expires.
        let later = app.post(&reset_path, &admin, json!({"mode": "temporary_password"})).await;
        let later = later.body["temporary_password"].as_str().expect("temporary_password").to_owned();
        crate::database::execute(app, &format!("UPDATE required_actions SET created_at = created_at - INTERVAL '1 day' WHERE user_id = '{id}'").replace("created_at - INTERVAL '1 day'", if app.db == crate::helpers::Db::Sqlite { "datetime(created_at, '-1 day')" } else { "created_at - INTERVAL '1 day'" }));
        app.login("tara", &later).await.problem(401, "invalid_credentials");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'auth.login_failed' AND target_id = '{id}' AND details LIKE '%temporary_password_expired%'")), 1);
        // The audit trail says who reset it, never the password.
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'user.password_reset' AND target_id = '{id}' AND details LIKE '%temporary_password%'")), 3);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE details LIKE '%{temporary}%' OR details LIKE '%{later}%'")), 0);
        // Only active accounts with a password.
        let (invited_id, _) = invited(app, &admin, "ida").await;
        app.post(&format!("/api/v1/users/{invited_id}/password-reset"), &admin, json!({"mode": "temporary_password"})).await.problem(409, "account_invited");
        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"active": false})).await.ok(200);
        app.post(&reset_path, &admin, json!({"mode": "temporary_password"})).await.problem(409, "account_inactive");
        app.post(&reset_path, &admin, json!({"mode": "carrier_pigeon"})).await.problem(422, "validation_failed");
    }
    async fn links_last_as_configured_and_an_expired_one_is_refused_alike(app: TestApp) {
        // The server's secret known to the test, so it can seal tokens that expired.
        let app = TestApp::spawn_with(app.db, |c| c.secret_key = Some(crate::helpers::SECRET.into())).await;
        let (admin, _) = app.admin().await;
        app.patch("/api/v1/settings", &admin, json!({"token_lifetimes": {"reset_minutes": 1}})).await.problem(422, "validation_failed");
        let set = app.patch("/api/v1/settings", &admin, json!({"token_lifetimes": {"activation_hours": 2, "reset_minutes": 5}})).await;
        set.ok(200);
        assert_eq!(set.body["token_lifetimes"], json!({"activation_hours": 2, "invitation_hours": 168, "reset_minutes": 5}));
        let minutes_left = |at: &Value| (at.as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok()).expect("a time") - chrono::Utc::now()).num_minutes();
        let (id, token) = invited(&app, &admin, "eli").await;
        let inspected = anonymous(&app, "/api/v1/auth/tokens/inspect", json!({"token": token})).await;
        inspected.ok(200);
        assert!((118..=120).contains(&minutes_left(&inspected.body["expires_at"])), "{}", inspected.body);
        let user = app.user(&admin, "ron", &["user"]).await;
        let reset = app.post(&format!("/api/v1/users/{user}/password-reset"), &admin, json!({"mode": "link"})).await;
        reset.ok(200);
        assert!((4..=5).contains(&minutes_left(&reset.body["expires_at"])), "{}", reset.body);

        // A token sealed exactly as Roster seals them works while its time lasts, and not after.
        let key = domain::one_time::TokenKey::derive(crate::helpers::SECRET.as_bytes());
        let stamp = domain::one_time::stamp(domain::one_time::Purpose::Activation, 0, None).expect("a stamp");
        let seal = |expires_at: chrono::DateTime<chrono::Utc>| {
            use chrono::SubsecRound;
            let claims = domain::one_time::Claims { account: id.parse().expect("a uuid"), purpose: domain::one_time::Purpose::Activation, expires_at: expires_at.trunc_subsecs(0) };
            key.seal(claims, &stamp, rand_nonce()).expose().to_owned()
        };
        let live = seal(chrono::Utc::now() + chrono::Duration::minutes(10));
        anonymous(&app, "/api/v1/auth/tokens/inspect", json!({"token": live})).await.ok(200);
        let expired = seal(chrono::Utc::now() - chrono::Duration::seconds(1));
        anonymous(&app, "/api/v1/auth/tokens/inspect", json!({"token": expired})).await.problem(400, "invalid_token");
        anonymous(&app, "/api/v1/auth/activate", json!({"token": expired, "password": PASSWORD})).await.problem(400, "invalid_token");
        app.login("eli", PASSWORD).await.problem(401, "invalid_credentials");
        anonymous(&app, "/api/v1/auth/activate", json!({"token": live, "password": PASSWORD})).await.ok(204);
        app.login("eli", PASSWORD).await.ok(200);
    }
}

/// 16 bytes that differ between calls (a UUIDv7's 74 random bits: the test needs no more).
fn rand_nonce() -> [u8; 16] {
    uuid::Uuid::now_v7().as_u128().to_le_bytes()
}

//! Self-service (SPEC §1, §4): one's own account and password, and the password policy.

use reqwest::Method;
use serde_json::json;

use crate::{database::count, helpers::PASSWORD};

both! {
    async fn a_holder_changes_their_names_and_nothing_an_admin_manages(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.user(&admin, "ana", &["user"]).await;
        let ana = app.token_for("ana").await;
        let me = app.get("/api/v1/me", &ana).await;
        me.ok(200);
        assert_eq!(me.body["username"], "ana");
        let etag = me.etag();
        let changed = app
            .call(Method::PATCH, "/api/v1/me", Some(&ana), Some(json!({"first_name": "Ana Maria", "locale": "pt-PT", "email_notifications": false})), &[("if-match", &etag)])
            .await;
        changed.ok(200);
        assert_eq!(changed.body["first_name"], "Ana Maria");
        assert_ne!(changed.etag(), etag);
        app.call(Method::PATCH, "/api/v1/me", Some(&ana), Some(json!({"last_name": "Lima"})), &[("if-match", &etag)])
            .await
            .problem(412, "precondition_failed");
        for (body, code) in [
            (json!({"email": "other@example.org"}), "own_email"),
            (json!({"username": "ana2"}), "own_username"),
            (json!({"roles": ["admin"]}), "own_roles"),
            (json!({"active": false}), "own_active"),
            (json!({"location": "Porto"}), "admin_managed_field"),
            (json!({"mfa_required": true}), "admin_managed_field"),
            (json!({"first_name": "Ana", "expires_at": "2099-01-01T00:00:00Z"}), "admin_managed_field"),
        ] {
            let r = app.patch("/api/v1/me", &ana, body.clone()).await;
            r.problem(403, code);
            assert!(!r.body["detail"].as_str().unwrap_or_default().is_empty(), "{body}");
        }
        assert_eq!(app.get("/api/v1/me", &ana).await.body["first_name"], "Ana Maria", "a refused change writes nothing");
        // What it read, sent back whole: no change of a managed field, so no refusal.
        let mut whole = changed.body.clone();
        whole["last_name"] = json!("Lima-Silva");
        for read_only in ["id", "status", "created_at", "updated_at", "created_by", "updated_by", "activated_at", "last_active_at", "locked_at", "locked_until", "mfa_enabled", "version"] {
            whole.as_object_mut().map(|o| o.remove(read_only));
        }
        let sent_back = app.patch("/api/v1/me", &ana, whole).await;
        sent_back.ok(200);
        assert_eq!(sent_back.body["last_name"], "Lima-Silva");
        app.patch("/api/v1/me", &ana, json!({"nickname": "A"})).await.problem(422, "validation_failed");
    }

    async fn a_guest_reads_and_changes_their_password_only(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.user(&admin, "visitor", &["guest"]).await;
        let guest = app.token_for("visitor").await;
        app.get("/api/v1/me", &guest).await.ok(200);
        app.patch("/api/v1/me", &guest, json!({"first_name": "Vi"})).await.problem(403, "guest_read_only");
        app.patch("/api/v1/me", &guest, json!({"first_name": "Test"})).await.ok(200);
        app.post("/api/v1/me/api-tokens", &guest, json!({"name": "script"})).await.problem(403, "guest_read_only");
        app.post("/api/v1/me/password", &guest, json!({"current_password": PASSWORD, "new_password": "violet tractor hums at noon"}))
            .await
            .ok(204);
        app.login("visitor", "violet tractor hums at noon").await.ok(200);
    }

    async fn a_password_change_needs_the_current_one_and_ends_other_sessions(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "ana", &["user"]).await;
        let here = app.token_for("ana").await;
        let elsewhere = app.token_for("ana").await;
        let api_token = app.api_token(&elsewhere).await;
        let wrong = app.post("/api/v1/me/password", &here, json!({"current_password": "not my password", "new_password": "violet tractor hums at noon"})).await;
        wrong.problem(422, "validation_failed");
        assert_eq!(wrong.body["errors"][0]["code"], "wrong_password");
        assert_eq!(count(app, &format!("SELECT CAST(failed_logins AS BIGINT) AS n FROM users WHERE id = '{id}'")), 1, "a wrong current password counts toward lockout");
        for (new, code) in [("aaaaaaaaaaaaaaa", "password_too_weak"), ("123456789012345", "password_too_weak"), ("               ", "password_too_weak"), (PASSWORD, "password_unchanged")] {
            let r = app.post("/api/v1/me/password", &here, json!({"current_password": PASSWORD, "new_password": new})).await;
            r.problem(422, "validation_failed");
            assert_eq!(r.body["errors"][0]["code"], code, "{new:?}");
        }
        app.post("/api/v1/me/password", &here, json!({"current_password": PASSWORD, "new_password": "violet tractor hums at noon"}))
            .await
            .ok(204);
        app.get("/api/v1/me", &here).await.ok(200);
        app.get("/api/v1/me", &elsewhere).await.problem(401, "unauthenticated");
        app.get("/api/v1/me", &api_token).await.ok(200);
        app.login("ana", PASSWORD).await.problem(401, "invalid_credentials");
        app.login("ana", "violet tractor hums at noon").await.ok(200);
    }

    async fn weak_and_common_passwords_are_refused_saying_why(app: TestApp) {
        let (admin, _) = app.admin().await;
        for (i, weak) in ["passwordpassword", "aaaaaaaaaaaaaaa", "123456789012345", "               "].iter().enumerate() {
            let body = json!({"username": format!("u{i}"), "email": format!("u{i}@example.org"), "first_name": "U", "last_name": "U", "password": weak});
            let r = app.post("/api/v1/users", &admin, body).await;
            r.problem(422, "validation_failed");
            assert_eq!(r.body["errors"][0]["code"], "password_too_weak", "{weak:?}");
            let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.len() > 20, "a reason a person can act on: {message}");
        }
        assert_eq!(count(app, "SELECT count(*) AS n FROM users"), 1, "nothing written");
    }
}

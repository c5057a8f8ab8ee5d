use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::helpers::PASSWORD;

both! {
    async fn setup_runs_once_and_makes_an_admin_primary_contact(app: TestApp) {
        let r = app.call(Method::GET, "/api/v1/setup", None, None, &[]).await;
        assert_eq!(r.body, json!({"needs_setup": true}));
        let admin = app.setup("admin").await;
        admin.ok(201);
        assert_eq!(admin.body["roles"], json!(["admin"]));
        assert_eq!(admin.body["origin"], "setup");
        assert_eq!(admin.body["status"], "active");
        assert_eq!(admin.etag(), "\"1\"");
        let r = app.call(Method::GET, "/api/v1/setup", None, None, &[]).await;
        assert_eq!(r.body, json!({"needs_setup": false}));
        app.setup("second").await.problem(409, "setup_already_done");
        // The first admin enrols a second factor at its first sign-in (`mfa.required_for_admins`).
        let token = app.enrol_at_sign_in("admin").await.access_token;
        let settings = app.get("/api/v1/settings", &token).await;
        assert_eq!(settings.body["primary_contact"], admin.body["id"]);
    }

    async fn concurrent_setup_calls_have_exactly_one_winner(app: TestApp) {
        let names: Vec<String> = (0..8).map(|i| format!("admin{i}")).collect();
        let replies = join_all(names.iter().map(|n| app.setup(n))).await;
        let won = replies.iter().filter(|r| r.status == 201).count();
        assert_eq!(won, 1, "{replies:?}");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.problem(409, "setup_already_done");
        }
        let winner = replies.iter().find(|r| r.status == 201).expect("a winner").body["username"].as_str().expect("name").to_owned();
        let token = app.enrol_at_sign_in(&winner).await.access_token;
        let list = app.get("/api/v1/users", &token).await;
        assert_eq!(list.body["items"].as_array().expect("items").len(), 1);
    }

    async fn setup_checks_the_password_policy(app: TestApp) {
        let body = json!({"username": "admin", "email": "admin@example.org", "first_name": "A", "last_name": "B", "password": "short"});
        let r = app.call(Method::POST, "/api/v1/setup", None, Some(body), &[]).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "password");
        assert_eq!(r.body["errors"][0]["code"], "password_too_short");
        let same = json!({"username": "admin", "email": "admin@example.org", "first_name": "A", "last_name": "B", "password": "Admin@Example.org"});
        let r = app.call(Method::POST, "/api/v1/setup", None, Some(same), &[]).await;
        r.problem(422, "validation_failed");
        let r = app.call(Method::GET, "/api/v1/setup", None, None, &[]).await;
        assert_eq!(r.body["needs_setup"], true, "nothing was written");
        app.setup("admin").await.ok(201);
        assert_eq!(app.login("admin", PASSWORD).await.status, 200);
    }

    async fn login_failures_all_look_the_same(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "ana", &["user"]).await;
        app.login("ana", "wrong password entirely").await.problem(401, "invalid_credentials");
        app.login("nobody", PASSWORD).await.problem(401, "invalid_credentials");
        app.login("ANA@EXAMPLE.ORG", PASSWORD).await.ok(200);
        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"active": false})).await.ok(200);
        app.login("ana", PASSWORD).await.problem(401, "invalid_credentials");
        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"active": true})).await.ok(200);
        app.login("ana", PASSWORD).await.ok(200);
    }
}

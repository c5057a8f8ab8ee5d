use serde_json::json;

both! {
    async fn api_tokens_are_shown_once_act_as_their_owner_and_can_be_revoked(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let created = app.post("/api/v1/me/api-tokens", &admin, json!({"name": "nightly sync"})).await;
        created.ok(201);
        let secret = created.body["token"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("rst_") && secret.len() >= 40);
        assert_eq!(created.body["prefix"], &secret[..8]);
        let token_id = created.id();

        let me = app.get(&format!("/api/v1/users/{admin_id}"), &secret).await;
        me.ok(200);
        let list = app.get("/api/v1/me/api-tokens", &secret).await;
        list.ok(200);
        let listed = &list.body["items"][0];
        assert_eq!(listed["name"], "nightly sync");
        assert!(listed["last_used_at"].is_string(), "use is recorded");
        assert!(!list.body.to_string().contains(&secret[8..]), "the secret is never shown again");

        app.delete(&format!("/api/v1/me/api-tokens/{token_id}"), &admin).await.ok(204);
        app.get("/api/v1/users", &secret).await.problem(401, "unauthenticated");
        app.delete(&format!("/api/v1/me/api-tokens/{token_id}"), &admin).await.problem(404, "api_token_not_found");
        let forged = format!("rst_{}", "A".repeat(43));
        app.get("/api/v1/users", &forged).await.problem(401, "unauthenticated");
        app.get("/api/v1/users", "rst_short").await.problem(401, "unauthenticated");
    }

    async fn admins_manage_other_users_tokens_and_users_only_their_own(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let ana_token = app.token_for("ana").await;
        let made = app.post(&format!("/api/v1/users/{ana}/api-tokens"), &admin, json!({"name": "for ana", "expires_at": "2099-01-01T00:00:00Z"})).await;
        made.ok(201);
        let secret = made.body["token"].as_str().expect("secret").to_owned();
        let me = app.get(&format!("/api/v1/users/{ana}"), &secret).await;
        assert_eq!(me.body["username"], "ana", "the token acts as its owner");
        app.get("/api/v1/users", &secret).await.problem(403, "forbidden");
        let listed = app.get(&format!("/api/v1/users/{ana}/api-tokens"), &admin).await;
        assert_eq!(listed.body["items"][0]["name"], "for ana");
        app.get(&format!("/api/v1/users/{admin_id}/api-tokens"), &ana_token).await.problem(403, "forbidden");
        app.post(&format!("/api/v1/users/{admin_id}/api-tokens"), &ana_token, json!({"name": "steal"})).await.problem(403, "forbidden");
        app.get(&format!("/api/v1/users/{ana}/api-tokens"), &ana_token).await.ok(200);
        let made_id = made.id();
        app.delete(&format!("/api/v1/users/{ana}/api-tokens/{made_id}"), &admin).await.ok(204);
        app.get(&format!("/api/v1/users/{ana}"), &secret).await.problem(401, "unauthenticated");
        let r = app.post("/api/v1/me/api-tokens", &ana_token, json!({"name": " ", "expires_at": "2001-01-01T00:00:00Z"})).await;
        r.problem(422, "validation_failed");
        app.post("/api/v1/users/00000000-0000-7000-8000-000000000000/api-tokens", &admin, json!({"name": "x"})).await.problem(404, "user_not_found");
    }

    async fn api_and_access_tokens_read_accounts_under_the_same_rules(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let ana_access = app.token_for("ana").await;
        let (admin_key, ana_key) = (app.api_token(&admin).await, app.api_token(&ana_access).await);
        let missing = "00000000-0000-7000-8000-000000000000";
        for (who, access, key) in [("admin", &admin, &admin_key), ("ana", &ana_access, &ana_key)] {
            for target in [ana.as_str(), admin_id.as_str(), missing] {
                let path = format!("/api/v1/users/{target}");
                let (by_access, by_key) = (app.get(&path, access).await, app.get(&path, key).await);
                assert_eq!(
                    (by_key.status, &by_key.body, by_key.etag()),
                    (by_access.status, &by_access.body, by_access.etag()),
                    "{who} reading {target}"
                );
            }
        }
        // What those answers were: own account, the permission before existence, then existence.
        for ana_token in [&ana_key, &ana_access] {
            app.get(&format!("/api/v1/users/{ana}"), ana_token).await.ok(200);
            app.get(&format!("/api/v1/users/{admin_id}"), ana_token).await.problem(403, "forbidden");
            app.get(&format!("/api/v1/users/{missing}"), ana_token).await.problem(403, "forbidden");
        }
        for admin_token in [&admin_key, &admin] {
            app.get(&format!("/api/v1/users/{ana}"), admin_token).await.ok(200);
            app.get(&format!("/api/v1/users/{missing}"), admin_token).await.problem(404, "user_not_found");
        }
        // A token whose owner may no longer sign in says nothing about any account.
        app.patch(&format!("/api/v1/users/{ana}"), &admin, json!({"active": false})).await.ok(200);
        for target in [ana.as_str(), admin_id.as_str(), missing] {
            for ana_token in [&ana_key, &ana_access] {
                app.get(&format!("/api/v1/users/{target}"), ana_token).await.problem(401, "unauthenticated");
            }
        }
    }

    async fn expired_api_tokens_are_refused(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
        let made = app.post("/api/v1/me/api-tokens", &admin, json!({"name": "short-lived", "expires_at": soon})).await;
        made.ok(201);
        let secret = made.body["token"].as_str().expect("secret").to_owned();
        app.get("/api/v1/roles", &secret).await.ok(200);
        app.get(&format!("/api/v1/users/{admin_id}"), &secret).await.ok(200);
        app.get("/api/v1/users", &secret).await.ok(200);
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        app.get("/api/v1/roles", &secret).await.problem(401, "unauthenticated");
        // Reading an account reads the token in the same statement, a list reads it first; the
        // expiry applies to both.
        app.get(&format!("/api/v1/users/{admin_id}"), &secret).await.problem(401, "unauthenticated");
        app.get("/api/v1/users", &secret).await.problem(401, "unauthenticated");
    }
}

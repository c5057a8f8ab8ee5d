use reqwest::Method;
use serde_json::json;

both! {
    async fn every_client_mistake_is_a_problem_document(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.call(Method::GET, "/nowhere", None, None, &[]).await.problem(404, "not_found");
        app.call(Method::GET, "/api/v1/users", None, None, &[]).await.problem(401, "unauthenticated");
        app.get("/api/v1/users", "not-a-jwt").await.problem(401, "unauthenticated");
        app.get("/api/v1/users/not-a-uuid", &admin).await.problem(404, "not_found");
        let wrong = app.call(Method::PUT, "/api/v1/users", Some(&admin), None, &[]).await;
        wrong.problem(405, "method_not_allowed");
        assert_eq!(wrong.headers["allow"], "GET, POST, PATCH", "PATCH is the bulk edit");
        app.call(Method::POST, "/api/v1/users/0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", Some(&admin), None, &[]).await.problem(405, "method_not_allowed");

        let post = |body: &'static str, content_type: &'static str| {
            let admin = admin.clone();
            let app = &app;
            async move {
                let res = app.client.post(format!("{}/api/v1/users", app.base)).bearer_auth(&admin).header("content-type", content_type).body(body).send().await.expect("sent");
                let status = res.status().as_u16();
                let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let body: serde_json::Value = res.json().await.expect("a JSON body");
                (status, ct, body)
            }
        };
        let (status, ct, body) = post("{\"email\": ", "application/json").await;
        assert_eq!((status, ct.as_str(), body["code"].as_str()), (400, "application/problem+json", Some("malformed_json")));
        let (status, _, body) = post("{\"email\": \"a@b.org\"}", "text/plain").await;
        assert_eq!((status, body["code"].as_str()), (415, Some("unsupported_media_type")));
        let (status, _, body) = post("{\"email\": 5, \"first_name\": \"A\", \"last_name\": \"B\"}", "application/json").await;
        assert_eq!((status, body["code"].as_str()), (422, Some("validation_failed")));
        let unknown = app.post("/api/v1/users", &admin, json!({"email": "a@b.org", "first_name": "A", "last_name": "B", "is_superuser": true})).await;
        unknown.problem(422, "validation_failed");
        assert!(unknown.body["detail"].as_str().unwrap_or_default().contains("is_superuser"));
        let huge = json!({"email": "a@b.org", "first_name": "A", "last_name": "x".repeat(100_000)});
        app.post("/api/v1/users", &admin, huge).await.problem(413, "payload_too_large");
        let list = app.get("/api/v1/users", &admin).await;
        assert_eq!(list.body["items"].as_array().expect("items").len(), 1, "nothing was written");
    }

    async fn the_root_points_at_the_documentation(app: TestApp) {
        let r = app.call(Method::GET, "/", None, None, &[]).await;
        r.ok(200);
        assert_eq!((r.body["docs"].as_str(), r.body["openapi"].as_str()), (Some("/docs/"), Some("/api/v1/openapi.json")));
        assert!(r.headers["link"].to_str().unwrap_or_default().contains("</docs/>; rel=\"service-doc\""));
    }

    async fn the_primary_contact_moves_to_another_active_account_and_is_never_cleared(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let r = app.patch("/api/v1/settings", &admin, json!({"primary_contact": null})).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["code"], "required");
        let other = app.user(&admin, "other", &["admin"]).await;
        app.patch(&format!("/api/v1/users/{other}"), &admin, json!({"active": false})).await.ok(200);
        let r = app.patch("/api/v1/settings", &admin, json!({"primary_contact": other})).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["code"], "inactive_account");
        app.patch(&format!("/api/v1/users/{other}"), &admin, json!({"active": true})).await.ok(200);
        let second = app.token_for("other").await;
        app.patch(&format!("/api/v1/users/{admin_id}"), &second, json!({"active": false})).await.problem(409, "primary_contact");
        app.patch("/api/v1/settings", &admin, json!({"primary_contact": other})).await.ok(200);
        app.patch(&format!("/api/v1/users/{admin_id}"), &second, json!({"active": false})).await.ok(200);
        let settings = app.get("/api/v1/settings", &second).await;
        assert_eq!(settings.body["primary_contact"], other.as_str());
    }

    async fn health_and_readiness_answer(app: TestApp) {
        let r = app.call(Method::GET, "/healthz", None, None, &[]).await;
        assert_eq!((r.status.as_u16(), r.body["status"].as_str()), (200, Some("ok")));
        let r = app.call(Method::GET, "/readyz", None, None, &[]).await;
        assert_eq!((r.status.as_u16(), r.body["status"].as_str()), (200, Some("ready")));
        assert!(r.headers.contains_key("x-request-id"));
        let r = app.call(Method::GET, "/healthz", None, None, &[("x-request-id", "trace-42")]).await;
        assert_eq!(r.headers["x-request-id"], "trace-42");
    }

    async fn roles_and_settings(app: TestApp) {
        let (admin, _) = app.admin().await;
        let roles = app.get("/api/v1/roles", &admin).await;
        let names: Vec<&str> = roles.body["items"].as_array().expect("items").iter().map(|r| r["name"].as_str().unwrap_or_default()).collect();
        assert_eq!(names, ["admin", "user", "guest", "user_manager"]);
        assert_eq!(roles.body["items"][2]["exclusive"], true);
        let settings = app.get("/api/v1/settings", &admin).await;
        assert_eq!(settings.body["default_role"], "user");
        assert_eq!(settings.body["password_policy"]["min_length"], 15);
        let changed = app.patch("/api/v1/settings", &admin, json!({"default_role": "user_manager", "locale": "fr-fr", "password_policy": {"min_length": 12}})).await;
        changed.ok(200);
        assert_eq!(changed.body["locale"], "fr-FR");
        let created = app.post("/api/v1/users", &admin, json!({"email": "n@example.org", "first_name": "N", "last_name": "N", "password": "twelve chars"})).await;
        created.ok(201);
        assert_eq!(created.body["roles"], json!(["user_manager"]));
        assert_eq!(created.body["locale"], "fr-FR");
        let bad = app.patch("/api/v1/settings", &admin, json!({"default_role": "admin", "primary_contact": "00000000-0000-7000-8000-000000000000", "guest_days": 0, "password_policy": {"min_length": 4}})).await;
        bad.problem(422, "validation_failed");
        assert_eq!(bad.body["errors"].as_array().expect("errors").len(), 4);
        app.patch("/api/v1/settings", &admin, json!({"colour": "blue"})).await.problem(422, "validation_failed");
        app.user(&admin, "plain", &["user"]).await;
        let plain = app.token_for("plain").await;
        app.get("/api/v1/settings", &plain).await.problem(403, "forbidden");
        app.get("/api/v1/roles", &plain).await.ok(200);
    }
}

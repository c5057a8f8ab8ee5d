//! Invitations (SPEC §5): many addresses at once, each with its own result; seat limits apply to
//! each, also when requests race; the invitation link activates the account.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    database::count,
    helpers::{pairs, PASSWORD},
};

fn results(reply: &crate::helpers::Reply) -> Vec<(String, String)> {
    reply.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["email"].as_str().unwrap_or_default().to_owned(),
                r["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

both! {
    async fn each_address_gets_its_own_result(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.post("/api/v1/users", &admin, json!({"username": "dan", "email": "dan@example.org", "first_name": "Dan", "last_name": "Old"})).await.ok(201);
        // Two seats left: the admin and dan hold two of four.
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 4})).await.ok(200);
        let reply = app.post("/api/v1/invitations", &admin, json!({"emails": "ana@example.org, not-an-address; ANA@example.org,dan@example.org\nbo@example.org, cy@example.org"})).await;
        reply.ok(200);
        assert_eq!(reply.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
        assert_eq!(results(&reply), pairs(&[
            ("ana@example.org", "invited"),
            ("not-an-address", "invalid_email"),
            ("ANA@example.org", "already_exists"),
            ("dan@example.org", "already_exists"),
            ("bo@example.org", "invited"),
            ("cy@example.org", "seat_limit_reached"),
        ]));
        let items = reply.body["results"].as_array().expect("results").clone();
        assert_eq!(items[5]["seat"], "active_users");
        assert!(items[1]["detail"].is_string(), "{}", items[1]);
        // An invited account: username the address, the default role, never active yet.
        let ana = items[0]["user_id"].as_str().expect("user_id").to_owned();
        let account = app.get(&format!("/api/v1/users/{ana}"), &admin).await;
        account.ok(200);
        assert_eq!((account.body["username"].as_str(), account.body["status"].as_str(), account.body["origin"].as_str(), account.body["first_name"].as_str(), account.body["last_name"].as_str()),
                   (Some("ana@example.org"), Some("invited"), Some("invitation"), Some("ana"), Some("example.org")));
        assert_eq!(account.body["roles"], json!(["user"]));
        assert_eq!(account.body["last_active_at"], Value::Null);
        // The invitation link activates it.
        let prefix = format!("{}/invitation#token=", app.base);
        let token = items[0]["invitation_url"].as_str().and_then(|u| u.strip_prefix(&prefix)).expect("an invitation link").to_owned();
        let inspected = app.call(Method::POST, "/api/v1/auth/tokens/inspect", None, Some(json!({"token": token})), &[]).await;
        inspected.ok(200);
        assert_eq!((inspected.body["purpose"].as_str(), inspected.body["username"].as_str()), (Some("invitation"), Some("ana@example.org")));
        app.call(Method::POST, "/api/v1/auth/activate", None, Some(json!({"token": token, "password": PASSWORD})), &[]).await.ok(204);
        app.login("ana@example.org", PASSWORD).await.ok(200);
        // Re-issuing an activation link voids the invitation link.
        let bo = items[4]["user_id"].as_str().expect("user_id").to_owned();
        let bo_token = items[4]["invitation_url"].as_str().and_then(|u| u.strip_prefix(&prefix)).expect("an invitation link").to_owned();
        app.post(&format!("/api/v1/users/{bo}/activation"), &admin, json!({})).await.ok(200);
        app.call(Method::POST, "/api/v1/auth/tokens/inspect", None, Some(json!({"token": bo_token})), &[]).await.problem(400, "invalid_token");
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'user.created' AND details LIKE '%invitation%'"), 2);

        // A list works too, with a role; only an admin invites admins, and only known roles.
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": null})).await.ok(200);
        let listed = app.post("/api/v1/invitations", &admin, json!({"emails": ["eve@example.org", "fay@example.org"], "role": "user_manager"})).await;
        listed.ok(200);
        assert_eq!(results(&listed), pairs(&[("eve@example.org", "invited"), ("fay@example.org", "invited")]));
        let eve = listed.body["results"][0]["user_id"].as_str().expect("user_id").to_owned();
        assert_eq!(app.get(&format!("/api/v1/users/{eve}"), &admin).await.body["roles"], json!(["user_manager"]));
        app.user(&admin, "mona", &["user_manager"]).await;
        let manager = app.token_for("mona").await;
        app.post("/api/v1/invitations", &manager, json!({"emails": "gus@example.org", "role": "admin"})).await.problem(403, "admin_role_required");
        app.post("/api/v1/invitations", &manager, json!({"emails": "gus@example.org"})).await.ok(200);
        app.post("/api/v1/invitations", &admin, json!({"emails": "hal@example.org", "role": "wizard"})).await.problem(422, "validation_failed");
        app.post("/api/v1/invitations", &admin, json!({"emails": " , ;"})).await.problem(422, "validation_failed");
        let many: Vec<String> = (0..501).map(|n| format!("p{n}@example.org")).collect();
        app.post("/api/v1/invitations", &admin, json!({"emails": many})).await.problem(422, "validation_failed");
        app.post("/api/v1/invitations", &admin, json!({"emails": 42})).await.problem(422, "validation_failed");
        app.user(&admin, "rolf", &["user"]).await;
        let user = app.token_for("rolf").await;
        app.post("/api/v1/invitations", &user, json!({"emails": "ivy@example.org"})).await.problem(403, "forbidden");
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE email IN ('hal@example.org', 'ivy@example.org', 'p0@example.org')"), 0);
    }

    async fn racing_invitations_take_only_the_seats_that_are_free(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 4})).await.ok(200);
        let replies = join_all((0..4).map(|r| {
            let emails: Vec<String> = (0..5).map(|n| format!("r{r}n{n}@example.org")).collect();
            let admin = admin.clone();
            async move { app.post("/api/v1/invitations", &admin, json!({"emails": emails})).await }
        }))
        .await;
        let all: Vec<String> = replies.iter().flat_map(|r| { r.ok(200); results(r).into_iter().map(|(_, result)| result) }).collect();
        assert_eq!(all.iter().filter(|r| *r == "invited").count(), 3, "{all:?}");
        assert_eq!(all.iter().filter(|r| *r == "seat_limit_reached").count(), 17, "{all:?}");
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE active"), 4);
    }
}

//! Bulk edit, delete, unlock and password reset (SPEC §7): a bulk edit is all or nothing by the
//! rules of a single change (confirmation, seats, own roles, admin role), also when two race
//! under a seat limit; bulk actions give each account its own result, as a single request would.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    database::{count, execute},
    helpers::{pairs, TestApp, PASSWORD},
};

/// Creates invited accounts `prefix0..n` (by import: no password to hash) with `role`,
/// `active`; their ids.
async fn accounts(
    app: &TestApp,
    admin: &str,
    prefix: &str,
    n: usize,
    role: &str,
    active: bool,
) -> Vec<String> {
    let mut file = String::from("first_name,last_name,email,role,active\n");
    for i in 0..n {
        file.push_str(&format!(
            "Ann,Lee,{prefix}{i}@example.org,{role},{active}\n"
        ));
    }
    let reply = app
        .send_bytes("/api/v1/users/import", admin, "text/csv", file)
        .await;
    reply.ok(200);
    reply.body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn patch_many(app: &TestApp, token: &str, body: Value) -> crate::helpers::Reply {
    app.call(Method::PATCH, "/api/v1/users", Some(token), Some(body), &[])
        .await
}

async fn field(app: &TestApp, admin: &str, id: &str, name: &str) -> Value {
    app.get(&format!("/api/v1/users/{id}"), admin).await.body[name].clone()
}

fn results(reply: &crate::helpers::Reply) -> Vec<(String, String)> {
    reply.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results in {}", reply.body))
        .iter()
        .map(|r| {
            (
                r["result"].as_str().unwrap_or_default().to_owned(),
                r["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

both! {
    async fn a_bulk_edit_changes_every_account_or_none(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ids = accounts(app, &admin, "ed", 3, "user", true).await;
        let updates = || count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'user.updated'");
        let before = updates();

        let done = patch_many(app, &admin, json!({"ids": ids, "changes": {"locale": "de-AT", "mfa_required": true}})).await;
        done.ok(200);
        assert_eq!(done.body["updated"], json!(ids));
        assert_eq!(done.body["unchanged"], json!([]));
        for id in &ids {
            assert_eq!((field(app, &admin, id, "locale").await, field(app, &admin, id, "mfa_required").await), (json!("de-AT"), json!(true)));
        }
        assert_eq!(updates(), before + 3, "each account audited on its own");
        // The same again changes nothing; an id named twice counts once.
        let again = patch_many(app, &admin, json!({"ids": [&ids[0], &ids[0], &ids[1]], "changes": {"locale": "de-AT"}})).await;
        assert_eq!((again.body["updated"].clone(), again.body["unchanged"].clone()), (json!([]), json!([&ids[0], &ids[1]])));

        // Refused whole, nothing written: an unknown account, a unique field, an unknown role,
        // nothing to change, no ids.
        let stranger = uuid::Uuid::now_v7().to_string();
        let unknown = patch_many(app, &admin, json!({"ids": [&ids[0], &stranger], "changes": {"locale": "fr"}})).await;
        unknown.problem(422, "validation_failed");
        assert_eq!(unknown.body["errors"][0]["code"], "unknown_account");
        assert!(unknown.body["errors"][0]["message"].as_str().is_some_and(|m| m.contains(&stranger)));
        patch_many(app, &admin, json!({"ids": [&ids[0]], "changes": {"email": "x@example.org"}})).await.problem(422, "validation_failed");
        patch_many(app, &admin, json!({"ids": [&ids[0]], "changes": {"roles": ["wizard"]}})).await.problem(422, "validation_failed");
        patch_many(app, &admin, json!({"ids": [&ids[0]], "changes": {}})).await.problem(422, "validation_failed");
        patch_many(app, &admin, json!({"ids": [], "changes": {"locale": "fr"}})).await.problem(422, "validation_failed");
        assert_eq!(field(app, &admin, &ids[0], "locale").await, json!("de-AT"));

        // Consequences are gathered over every account, then confirmed.
        let guests = patch_many(app, &admin, json!({"ids": ids, "changes": {"roles": ["guest"]}})).await;
        guests.problem(409, "confirmation_required");
        assert!(guests.body["consequences"].as_array().is_some_and(|c| !c.is_empty()), "{}", guests.body);
        assert_eq!(field(app, &admin, &ids[2], "roles").await, json!(["user"]));
        patch_many(app, &admin, json!({"ids": ids, "changes": {"roles": ["guest"]}, "confirm": true})).await.ok(200);
        assert_eq!(field(app, &admin, &ids[2], "roles").await, json!(["guest"]));

        // Nobody changes their own active flag, and only an admin gives the admin role.
        let me = app.get("/api/v1/me", &admin).await.id();
        patch_many(app, &admin, json!({"ids": [&ids[0], &me], "changes": {"active": false}})).await.problem(403, "own_active");
        assert_eq!(field(app, &admin, &ids[0], "active").await, json!(true));
        app.user(&admin, "manager", &["user_manager"]).await;
        let manager = app.token_for("manager").await;
        patch_many(app, &manager, json!({"ids": [&ids[0], &ids[1]], "changes": {"roles": ["admin"]}, "confirm": true})).await.problem(403, "admin_role_required");
        assert_eq!(field(app, &admin, &ids[0], "roles").await, json!(["guest"]));
    }

    async fn bulk_edits_racing_for_the_last_seats_never_pass_the_limit(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ids = accounts(app, &admin, "race", 6, "user", false).await;
        // The admin and three more.
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 4})).await.ok(200);
        let halves = [ids[..3].to_vec(), ids[3..].to_vec()];
        let replies = join_all(halves.iter().map(|half| patch_many(app, &admin, json!({"ids": half, "changes": {"active": true}})))).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
            reply.problem(409, "seat_limit_reached");
        }
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE active"), 4);
        // All or nothing: the refused half is untouched.
        let active = join_all(ids.iter().map(|id| field(app, &admin, id, "active"))).await;
        assert!(active[..3].iter().all(|a| *a == active[0]) && active[3..].iter().all(|a| *a == active[3]) && active[0] != active[3], "{active:?}");
    }

    async fn bulk_actions_give_each_account_its_own_result(app: TestApp) {
        let (admin, _) = app.admin().await;
        let me = app.get("/api/v1/me", &admin).await.id();
        let ids = accounts(app, &admin, "act", 2, "user", true).await;
        let stranger = uuid::Uuid::now_v7().to_string();

        let deleted = app.post("/api/v1/users/bulk/delete", &admin, json!({"ids": [&ids[0], &stranger, &me]})).await;
        deleted.ok(200);
        assert_eq!(results(&deleted), pairs(&[("deleted", ""), ("failed", "user_not_found"), ("failed", "self_delete")]));
        assert_eq!(deleted.body["results"][0]["id"], json!(ids[0]));
        app.get(&format!("/api/v1/users/{}", ids[0]), &admin).await.problem(404, "user_not_found");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'user.deleted' AND target_id = '{}'", ids[0])), 1);

        // A lock to lift, and an account without one.
        let locked = app.user(&admin, "lou", &["user"]).await;
        execute(app, &format!("UPDATE users SET failed_logins = 7, locked_at = '2026-11-01 10:00:00' WHERE id = '{locked}'"));
        let unlocked = app.post("/api/v1/users/bulk/unlock", &admin, json!({"ids": [&locked, &ids[1]]})).await;
        assert_eq!(results(&unlocked), pairs(&[("unlocked", ""), ("unchanged", "")]));
        assert_eq!(field(app, &admin, &locked, "locked_at").await, Value::Null);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'user.unlocked'"), 1);

        // Reset links for an account with a password; an invited one has none to reset.
        let reset = app.post("/api/v1/users/bulk/password-reset", &admin, json!({"ids": [&locked, &ids[1]]})).await;
        reset.ok(200);
        assert_eq!(reset.headers.get("cache-control").map(|v| v.to_str().unwrap_or_default()), Some("no-store"));
        assert_eq!(results(&reset), pairs(&[("reset_link_issued", ""), ("failed", "account_invited")]));
        let url = reset.body["results"][0]["reset_url"].as_str().expect("reset_url");
        let token = url.split("#token=").nth(1).expect("a token in the link");
        app.call(Method::POST, "/api/v1/auth/password/reset", None, Some(json!({"token": token, "new_password": "a brand new reset password"})), &[]).await.ok(204);
        let signed_in = app.login("lou", "a brand new reset password").await;
        signed_in.ok(200);
        app.login("lou", PASSWORD).await.problem(401, "invalid_credentials");

        // The request as a whole: too many ids, none, or a caller who may not.
        let many: Vec<String> = (0..501).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        app.post("/api/v1/users/bulk/unlock", &admin, json!({"ids": many})).await.problem(422, "validation_failed");
        app.post("/api/v1/users/bulk/delete", &admin, json!({"ids": []})).await.problem(422, "validation_failed");
        let lou = signed_in.body["access_token"].as_str().expect("access_token");
        app.post("/api/v1/users/bulk/delete", lou, json!({"ids": [&ids[1]]})).await.problem(403, "forbidden");
        assert_eq!(field(app, &admin, &ids[1], "id").await, json!(ids[1]));
    }
}

//! The audit trail's query (SPEC §9): filters by action, category, actor, target and time, each
//! event once across pages, newest first; `audit:read` only; the migration's category backfill
//! agrees with the rule Roster writes by.

use serde_json::{json, Value};

use crate::{
    database::{count, execute, migration},
    helpers::{Reply, TestApp, PASSWORD},
};

async fn events(app: &TestApp, token: &str, query: &str) -> Reply {
    let reply = app
        .get(&format!("/api/v1/audit-events{query}"), token)
        .await;
    reply.ok(200);
    reply
}

fn items(reply: &Reply) -> Vec<Value> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items in {}", reply.body))
        .clone()
}

fn field(items: &[Value], name: &str) -> Vec<String> {
    items
        .iter()
        .map(|e| e[name].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every page of `query`, `limit` at a time.
async fn all_pages(app: &TestApp, token: &str, query: &str, limit: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if query.is_empty() { "?" } else { "&" };
        let mut q = format!("{query}{sep}limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = events(app, token, &q).await;
        out.extend(items(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

both! {
    async fn the_trail_is_filtered_and_paged_newest_first(app: TestApp) {
        let (admin, _) = app.admin().await;
        let admin_id = app.get("/api/v1/me", &admin).await.id();
        let ana = app.user(&admin, "ana", &["user"]).await;
        let ana_token = app.token_for("ana").await;
        app.patch(&format!("/api/v1/users/{ana}"), &admin, json!({"locale": "de-AT"})).await.ok(200);
        app.patch("/api/v1/me", &ana_token, json!({"first_name": "Anabel"})).await.ok(200);
        app.login("ana", "not her password").await.problem(401, "invalid_credentials");

        // Everything, newest first, each event once across pages of 3.
        let every = all_pages(app, &admin, "", 3).await;
        assert_eq!(every.len() as i64, count(app, "SELECT count(*) AS n FROM audit_events"));
        let ids = field(&every, "id");
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.reverse();
        sorted.dedup();
        assert_eq!(ids, sorted, "newest first, each once");

        // About ana: her creation, the admin's change, her own change, the failed sign-in.
        let about = items(&events(app, &admin, &format!("?target={ana}")).await);
        let actions = field(&about, "action");
        assert!(actions.contains(&"user.created".to_owned()) && actions.contains(&"auth.login_failed".to_owned()), "{actions:?}");
        assert!(about.iter().all(|e| e["target"]["id"] == json!(ana) && e["target"]["type"] == "user"));
        // Her own change is account information; the admin's, user management.
        let updates: Vec<(String, String)> = about.iter().filter(|e| e["action"] == "user.updated")
            .map(|e| (e["actor"]["username"].as_str().unwrap_or_default().to_owned(), e["category"].as_str().unwrap_or_default().to_owned())).collect();
        assert_eq!(updates, [("ana".to_owned(), "account_information".to_owned()), ("admin".to_owned(), "user_management".to_owned())]);
        let first = &about[0];
        assert_eq!((first["action"].as_str(), first["category"].as_str()), (Some("auth.login_failed"), Some("authentication")));
        assert!(first["address"].as_str().is_some_and(|a| a.starts_with("127.")), "{first}");

        // By actor, action and category: every event returned holds, and none is missed.
        let by_ana = items(&events(app, &admin, &format!("?actor={ana}&limit=200")).await);
        assert!(!by_ana.is_empty() && by_ana.iter().all(|e| e["actor"]["id"] == json!(ana)));
        let created = items(&events(app, &admin, "?action=user.created&limit=200").await);
        assert_eq!(created.len() as i64, count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'user.created'"));
        let auth = items(&events(app, &admin, "?category=authentication&limit=200").await);
        assert!(!auth.is_empty() && auth.iter().all(|e| e["category"] == "authentication"));
        let mine = items(&events(app, &admin, &format!("?actor={admin_id}&category=user_management&action=user.updated")).await);
        assert_eq!(mine.len(), 1);

        // A time window: from is inclusive, to exclusive.
        let middle = &every[every.len() / 2];
        let at = middle["at"].as_str().expect("at").replace('+', "%2B");
        let newer = all_pages(app, &admin, &format!("?from={at}"), 50).await;
        let older = all_pages(app, &admin, &format!("?to={at}"), 50).await;
        assert!(field(&newer, "id").contains(&middle["id"].as_str().unwrap_or_default().to_owned()));
        assert!(!field(&older, "id").contains(&middle["id"].as_str().unwrap_or_default().to_owned()));
        assert_eq!(newer.len() + older.len(), every.len(), "the window splits the trail");
        let empty = items(&events(app, &admin, "?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z").await);
        assert!(empty.is_empty());

        // Refusals.
        app.get("/api/v1/audit-events?category=everything", &admin).await.problem(400, "invalid_query");
        app.get("/api/v1/audit-events?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", &admin).await.problem(400, "invalid_query");
        app.get("/api/v1/audit-events?actor=ana", &admin).await.problem(400, "invalid_query");
        app.get("/api/v1/audit-events?cursor=not-a-cursor", &admin).await.problem(400, "invalid_cursor");
        app.get("/api/v1/audit-events", &ana_token).await.problem(403, "forbidden");
        // No secret in any event.
        let text = serde_json::to_string(&every).expect("JSON");
        assert!(!text.contains(PASSWORD) && !text.contains("not her password"));
    }

    async fn the_changes_auditors_ask_about_by_name_have_events_of_their_own(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let bo = app.user(&admin, "bo", &["user"]).await;
        let path = format!("/api/v1/users/{ana}");
        app.patch(&path, &admin, json!({"email": "ana.lima@example.org", "location": "Porto"})).await.ok(200);
        app.patch(&path, &admin, json!({"roles": ["user", "user_manager"]})).await.ok(200);
        app.patch(&path, &admin, json!({"active": false})).await.ok(200);
        app.patch(&path, &admin, json!({"active": true})).await.ok(200);
        app.patch("/api/v1/settings", &admin, json!({"primary_contact": bo})).await.ok(200);
        app.patch("/api/v1/users", &admin, json!({"ids": [ana, bo], "changes": {"locale": "de-AT"}})).await.ok(200);
        app.post("/api/v1/users/bulk/unlock", &admin, json!({"ids": [ana]})).await.ok(200);

        let admin = &admin;
        let of = |action: &str| {
            let action = action.to_owned();
            async move { items(&events(app, admin, &format!("?action={action}")).await) }
        };
        let email = of("user.email_changed").await;
        assert_eq!(email.len(), 1);
        assert_eq!(email[0]["details"], json!({"email": {"before": "ana@example.org", "after": "ana.lima@example.org"}}));
        assert_eq!(email[0]["target"]["id"], json!(ana));
        let roles = of("user.roles_changed").await;
        assert_eq!(roles[0]["details"]["roles"]["after"], json!(["user", "user_manager"]), "{roles:?}");
        let off = of("user.deactivated").await;
        assert_eq!((off.len(), &off[0]["details"]["reason"]), (1, &json!("changed")));
        assert_eq!(of("user.reactivated").await.len(), 1);
        assert_eq!(of("user.updated").await.iter().filter(|e| e["target"]["id"] == json!(ana)).count(), 5, "each change keeps its user.updated, the bulk edit's too");
        let contact = of("settings.primary_contact_changed").await;
        assert_eq!((contact[0]["target"]["id"].as_str(), contact[0]["target"]["label"].as_str()), (Some(bo.as_str()), Some("bo")));
        let bulk = of("users.bulk_updated").await;
        assert_eq!((bulk[0]["details"]["updated"].as_u64(), &bulk[0]["details"]["changes"]["locale"]), (Some(2), &json!("de-AT")));
        let action = of("users.bulk_action").await;
        assert_eq!(action[0]["details"], json!({"action": "unlock", "requested": 1, "failed": 0}));
    }

    async fn the_migration_files_events_by_the_rule_roster_writes_by(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let ana_token = app.token_for("ana").await;
        app.patch("/api/v1/me", &ana_token, json!({"first_name": "Anabel"})).await.ok(200);
        app.patch(&format!("/api/v1/users/{ana}"), &admin, json!({"locale": "de-AT"})).await.ok(200);
        app.post(&format!("/api/v1/users/{ana}/unlock"), &admin, json!({})).await;
        app.post("/api/v1/me/api-tokens", &ana_token, json!({"name": "script"})).await.ok(201);
        app.login("ana", "not her password").await.problem(401, "invalid_credentials");
        let written: Vec<Value> = all_pages(app, &admin, "", 200).await;
        // The migration's backfill run again over these events changes none of them.
        let sql = migration(app, "2026-12-02-000001_audit_query");
        let (_, rest) = sql.split_once("UPDATE audit_events").expect("the backfill");
        let (update, _) = rest.split_once(';').expect("its end");
        execute(app, &format!("UPDATE audit_events{update}"));
        let again: Vec<Value> = all_pages(app, &admin, "", 200).await;
        assert_eq!(field(&again, "category"), field(&written, "category"));
        let categories: std::collections::BTreeSet<String> = field(&written, "category").into_iter().collect();
        assert_eq!(categories.len(), 4, "every category is among these events: {categories:?}");
    }
}

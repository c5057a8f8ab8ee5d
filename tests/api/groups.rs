//! Groups (SPEC §8) over HTTP on both databases: created, renamed, deleted; members added and
//! removed in bulk, all or nothing; members paged by username while accounts join; an account's
//! groups; a new guest leaves its groups; every change audited.

use serde_json::{json, Value};

use crate::{
    database::count,
    helpers::{Reply, TestApp},
};

async fn add(app: &TestApp, admin: &str, group: &str, ids: Value) -> Reply {
    let body = json!({"user_ids": ids});
    app.post(&format!("/api/v1/groups/{group}/members/add"), admin, body)
        .await
}

both! {
    async fn groups_have_members_added_and_removed_in_bulk(app: TestApp) {
        let (admin, _) = app.admin().await;
        let night = app.post("/api/v1/groups", &admin, json!({"name": "Night shift"})).await.ok(201).id();
        app.post("/api/v1/groups", &admin, json!({"name": "NIGHT SHIFT"})).await.problem(409, "name_taken");
        app.post("/api/v1/groups", &admin, json!({"name": ""})).await.problem(422, "validation_failed");
        let day = app.post("/api/v1/groups", &admin, json!({"name": "Day shift"})).await.ok(201).id();
        let names: Vec<String> = app.get("/api/v1/groups", &admin).await.body["items"].as_array().expect("items").iter().filter_map(|g| g["name"].as_str().map(str::to_owned)).collect();
        assert_eq!(names, ["Day shift", "Night shift"]);
        app.patch(&format!("/api/v1/groups/{day}"), &admin, json!({"name": "night shift"})).await.problem(409, "name_taken");
        app.patch(&format!("/api/v1/groups/{day}"), &admin, json!({"name": "Early shift"})).await.ok(200);

        let mut people = Vec::new();
        for name in ["ana", "bo", "cy"] {
            people.push(app.user(&admin, name, &["user"]).await);
        }
        let gus = app.user(&admin, "gus", &["guest"]).await;
        let nobody = uuid::Uuid::now_v7().to_string();
        add(app, &admin, &night, json!([people[0], nobody])).await.problem(422, "validation_failed");
        add(app, &admin, &night, json!([people[0], gus])).await.problem(422, "validation_failed");
        add(app, &admin, &night, json!([])).await.problem(422, "validation_failed");
        assert_eq!(count(app, "SELECT count(*) AS n FROM group_members"), 0, "all or nothing");
        let added = add(app, &admin, &night, json!([people[0], people[1], people[2], people[0]])).await;
        assert_eq!(added.body["changed"], 3);
        assert_eq!(add(app, &admin, &night, json!([people[1]])).await.body["changed"], 0, "a member already");
        add(app, &admin, &day, json!([people[1]])).await.ok(200);
        let bo_groups = app.get(&format!("/api/v1/users/{}/groups", people[1]), &admin).await;
        assert_eq!(bo_groups.body["items"].as_array().map(Vec::len), Some(2));

        // Members, two at a time, by username; each exactly once while an account joins meanwhile.
        let first = app.get(&format!("/api/v1/groups/{night}/members?limit=2"), &admin).await;
        first.ok(200);
        let usernames = |page: &serde_json::Value| -> Vec<String> { page["items"].as_array().expect("items").iter().filter_map(|a| a["username"].as_str().map(str::to_owned)).collect() };
        assert_eq!(usernames(&first.body), ["ana", "bo"]);
        let dan = app.user(&admin, "dan", &["user"]).await;
        add(app, &admin, &night, json!([dan])).await.ok(200);
        let cursor = first.body["next_cursor"].as_str().expect("a next page").to_owned();
        let second = app.get(&format!("/api/v1/groups/{night}/members?limit=2&cursor={cursor}"), &admin).await;
        assert_eq!(usernames(&second.body), ["cy", "dan"]);
        assert!(second.body["next_cursor"].is_null());
        app.get(&format!("/api/v1/groups/{night}/members?cursor=%%%"), &admin).await.problem(400, "invalid_cursor");
        app.get(&format!("/api/v1/groups/{night}/members?limit=0"), &admin).await.problem(400, "invalid_query");

        let removed = app.post(&format!("/api/v1/groups/{night}/members/remove"), &admin, json!({"user_ids": [people[0], people[0]]})).await;
        assert_eq!(removed.body["changed"], 1);
        // A member made a guest leaves its groups (a consequence to confirm).
        let path = format!("/api/v1/users/{}", people[1]);
        let asked = app.patch(&path, &admin, json!({"roles": ["guest"]})).await;
        assert!(asked.body["consequences"].as_array().expect("consequences").contains(&json!("groups_left")), "{}", asked.body);
        app.patch(&path, &admin, json!({"roles": ["guest"], "confirm": true})).await.ok(200);
        assert_eq!(app.get(&format!("/api/v1/users/{}/groups", people[1]), &admin).await.body["items"], json!([]));
        // Deleting a group keeps its members; deleting an account leaves its groups.
        app.delete(&format!("/api/v1/users/{dan}"), &admin).await.ok(204);
        add(app, &admin, &day, json!([people[2]])).await.ok(200);
        app.delete(&format!("/api/v1/groups/{day}"), &admin).await.ok(204);
        app.get(&format!("/api/v1/groups/{day}"), &admin).await.problem(404, "group_not_found");
        assert_eq!(count(app, "SELECT count(*) AS n FROM group_members"), 1, "cy in the night shift");
        for (action, n) in [("group.created", 2), ("group.renamed", 1), ("group.deleted", 1), ("group.member_added", 6), ("group.member_removed", 4)] {
            assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = '{action}'")), n, "{action}");
        }
        // Permissions: a user reads their own groups only, and changes none.
        let cy = app.token_for("cy").await;
        app.get(&format!("/api/v1/users/{}/groups", people[2]), &cy).await.ok(200);
        app.get("/api/v1/groups", &cy).await.problem(403, "forbidden");
        add(app, &admin, &night, json!([people[2]])).await.ok(200);
        app.post(&format!("/api/v1/groups/{night}/members/remove"), &cy, json!({"user_ids": [people[2]]})).await.problem(403, "forbidden");
    }
}

//! Assignments (SPEC §8) over HTTP on both databases: many accounts at once, all or nothing;
//! assigning again changes nothing; the first account assigned to an instance without an admin
//! becomes its admin, also after every admin was removed and when assigns race; enable/disable
//! round trips; "access to all" covers an instance created afterwards; every change audited.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::{
    database::count,
    helpers::{Reply, TestApp},
};

/// An application with instances of these names: (application id, instance ids).
async fn application(app: &TestApp, admin: &str, instances: &[&str]) -> (String, Vec<String>) {
    let id = app
        .post("/api/v1/applications", admin, json!({"name": "Scheduling"}))
        .await
        .ok(201)
        .id();
    let mut ids = Vec::new();
    for name in instances {
        let path = format!("/api/v1/applications/{id}/instances");
        ids.push(
            app.post(&path, admin, json!({"name": name}))
                .await
                .ok(201)
                .id(),
        );
    }
    (id, ids)
}

async fn change(app: &TestApp, admin: &str, what: &str, body: Value) -> Reply {
    app.post(&format!("/api/v1/assignments/{what}"), admin, body)
        .await
}

/// Account `id`'s assignments: (instance id, enabled, instance role) by instance name.
async fn assignments(app: &TestApp, admin: &str, id: &str) -> Vec<(String, bool, String)> {
    let r = app
        .get(&format!("/api/v1/users/{id}/assignments"), admin)
        .await;
    r.ok(200);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| {
            (
                a["instance_id"].as_str().expect("instance_id").to_owned(),
                a["enabled"].as_bool().expect("enabled"),
                a["instance_role"]
                    .as_str()
                    .expect("instance_role")
                    .to_owned(),
            )
        })
        .collect()
}

both! {
    async fn accounts_are_assigned_and_an_instance_without_an_admin_gets_one(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (application, instances) = application(app, &admin, &["Production", "Test"]).await;
        let (prod, test) = (&instances[0], &instances[1]);
        let ana = app.user(&admin, "ana", &["user"]).await;
        let bo = app.user(&admin, "bo", &["user"]).await;
        let cy = app.user(&admin, "cy", &["user"]).await;

        let assigned = change(app, &admin, "assign", json!({"user_ids": [ana, bo, ana], "application_id": application, "instance_ids": [prod, test]})).await;
        assigned.ok(200);
        assert_eq!(assigned.body["changed"], 4);
        assert_eq!(assignments(app, &admin, &ana).await, [(prod.clone(), true, "admin".into()), (test.clone(), true, "admin".into())]);
        assert_eq!(assignments(app, &admin, &bo).await, [(prod.clone(), true, "member".into()), (test.clone(), true, "member".into())]);
        // Assigning again changes nothing.
        let again = change(app, &admin, "assign", json!({"user_ids": [ana, bo], "application_id": application, "instance_ids": [prod]})).await;
        assert_eq!(again.body["changed"], 0);

        // Every admin of Production removed: the next account assigned becomes its admin.
        app.delete(&format!("/api/v1/users/{ana}/assignments/{prod}"), &admin).await.ok(204);
        app.delete(&format!("/api/v1/users/{ana}/assignments/{prod}"), &admin).await.problem(404, "assignment_not_found");
        change(app, &admin, "assign", json!({"user_ids": [bo, cy], "application_id": application, "instance_ids": [prod]})).await.ok(200);
        assert_eq!(assignments(app, &admin, &bo).await[0], (prod.clone(), true, "member".into()), "bo was assigned already: unchanged");
        assert_eq!(assignments(app, &admin, &cy).await, [(prod.clone(), true, "admin".into())]);

        // Disable, then enable: shown as disabled until enabled again; a disabled admin stays admin.
        let disabled = change(app, &admin, "disable", json!({"user_ids": [cy, bo], "application_id": application, "instance_ids": [prod]})).await;
        assert_eq!(disabled.body["changed"], 2);
        assert_eq!(assignments(app, &admin, &cy).await, [(prod.clone(), false, "admin".into())]);
        assert_eq!(change(app, &admin, "disable", json!({"user_ids": [cy], "application_id": application, "instance_ids": [prod]})).await.body["changed"], 0);
        let dan = app.user(&admin, "dan", &["user"]).await;
        change(app, &admin, "assign", json!({"user_ids": [dan], "application_id": application, "instance_ids": [prod]})).await.ok(200);
        assert_eq!(assignments(app, &admin, &dan).await[0].2, "member", "the disabled admin is still the admin");
        change(app, &admin, "enable", json!({"user_ids": [cy], "application_id": application, "instance_ids": [prod]})).await.ok(200);
        assert_eq!(assignments(app, &admin, &cy).await, [(prod.clone(), true, "admin".into())]);

        // Unassign deletes.
        let removed = change(app, &admin, "unassign", json!({"user_ids": [bo], "application_id": application, "instance_ids": [prod, test]})).await;
        assert_eq!(removed.body["changed"], 2);
        assert!(assignments(app, &admin, &bo).await.is_empty());

        // Every change audited per account; the holder reads their own, others need users:read.
        for (action, n) in [("assignment.assigned", 6), ("assignment.unassigned", 3), ("assignment.disabled", 2), ("assignment.enabled", 1)] {
            assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = '{action}'")), n, "{action}");
        }
        let ana_token = app.token_for("ana").await;
        app.get(&format!("/api/v1/users/{ana}/assignments"), &ana_token).await.ok(200);
        app.get(&format!("/api/v1/users/{cy}/assignments"), &ana_token).await.problem(403, "forbidden");
        change(app, &ana_token, "assign", json!({"user_ids": [ana], "application_id": application, "instance_ids": [test]})).await.problem(403, "forbidden");

        // Deleting what accounts are assigned to needs force=true, which deletes their assignments.
        let test_path = format!("/api/v1/applications/{application}/instances/{test}");
        app.delete(&test_path, &admin).await.problem(409, "assignments_exist");
        app.delete(&format!("{test_path}?force=true"), &admin).await.ok(204);
        assert!(assignments(app, &admin, &ana).await.is_empty());
        let path = format!("/api/v1/applications/{application}");
        app.delete(&path, &admin).await.problem(409, "assignments_exist");
        app.delete(&format!("{path}?force=yes"), &admin).await.problem(400, "invalid_query");
        app.delete(&format!("{path}?force=true"), &admin).await.ok(204);
        assert_eq!(count(app, "SELECT count(*) AS n FROM assignments"), 0);
        // Each assignment that ended so is audited, for the assignments report.
        for (reason, n) in [("instance_deleted", 1), ("application_deleted", 2)] {
            assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'assignment.unassigned' AND details LIKE '%{reason}%'")), n, "{reason}");
        }
    }

    async fn a_request_with_anything_wrong_writes_nothing(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (application, instances) = application(app, &admin, &["Production"]).await;
        let (other, others) = {
            let id = app.post("/api/v1/applications", &admin, json!({"name": "Billing"})).await.ok(201).id();
            let i = app.post(&format!("/api/v1/applications/{id}/instances"), &admin, json!({"name": "Main"})).await.ok(201).id();
            (id, vec![i])
        };
        let ana = app.user(&admin, "ana", &["user"]).await;
        let gus = app.user(&admin, "gus", &["guest"]).await;
        let nobody = uuid::Uuid::now_v7().to_string();
        let cases = [
            (json!({"user_ids": [ana, nobody], "application_id": application, "instance_ids": instances}), "user_ids", "unknown_account"),
            (json!({"user_ids": [ana, gus], "application_id": application, "instance_ids": instances}), "user_ids", "guest_account"),
            (json!({"user_ids": [ana], "application_id": application, "instance_ids": [instances[0], others[0]]}), "instance_ids", "unknown_instance"),
            (json!({"user_ids": [], "application_id": application, "instance_ids": instances}), "user_ids", "out_of_range"),
            (json!({"user_ids": [ana], "application_id": application}), "instance_ids", "required"),
        ];
        for (body, field, code) in cases {
            let r = change(app, &admin, "assign", body).await;
            r.problem(422, "validation_failed");
            assert_eq!((r.body["errors"][0]["field"].as_str(), r.body["errors"][0]["code"].as_str()), (Some(field), Some(code)), "{}", r.body);
        }
        change(app, &admin, "assign", json!({"user_ids": [ana], "application_id": nobody, "instance_ids": instances})).await.problem(404, "application_not_found");
        change(app, &admin, "assign", json!({"user_ids": [ana], "application_id": other, "instance_ids": instances, "extra": 1})).await.problem(422, "validation_failed");
        assert_eq!(count(app, "SELECT count(*) AS n FROM assignments"), 0);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action LIKE 'assignment.%'"), 0);
    }

    async fn access_to_all_covers_instances_created_afterwards(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (application, instances) = application(app, &admin, &["Production"]).await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let granted = change(app, &admin, "assign", json!({"user_ids": [ana], "application_id": application, "all_instances": true})).await;
        assert_eq!(granted.body["changed"], 1);
        assert_eq!(change(app, &admin, "assign", json!({"user_ids": [ana], "application_id": application, "all_instances": true})).await.body["changed"], 0);
        let later = app.post(&format!("/api/v1/applications/{application}/instances"), &admin, json!({"name": "Later"})).await.ok(201).id();
        let shown = app.get(&format!("/api/v1/users/{ana}/assignments"), &admin).await;
        assert_eq!(shown.body["all_instances"][0]["application_id"], json!(application));
        assert_eq!(shown.body["all_instances"][0]["enabled"], true);
        assert_eq!(shown.body["items"], json!([]), "no per-instance assignment is made");
        // The grant covers both instances (the one before and the one after it) until cleared.
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM instances i JOIN all_instance_grants g ON g.application_id = i.application_id WHERE g.user_id = '{ana}' AND g.enabled AND i.id IN ('{}', '{later}')", instances[0])), 2);
        change(app, &admin, "disable", json!({"user_ids": [ana], "application_id": application, "all_instances": true})).await.ok(200);
        assert_eq!(app.get(&format!("/api/v1/users/{ana}/assignments"), &admin).await.body["all_instances"][0]["enabled"], false);
        change(app, &admin, "unassign", json!({"user_ids": [ana], "application_id": application, "all_instances": true})).await.ok(200);
        assert_eq!(app.get(&format!("/api/v1/users/{ana}/assignments"), &admin).await.body["all_instances"], json!([]));
        // Deleting the account deletes its assignments and grants.
        change(app, &admin, "assign", json!({"user_ids": [ana], "application_id": application, "instance_ids": [later], "all_instances": true})).await.ok(200);
        app.delete(&format!("/api/v1/users/{ana}"), &admin).await.ok(204);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM assignments WHERE user_id = '{ana}'")), 0);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM all_instance_grants WHERE user_id = '{ana}'")), 0);
    }

    async fn of_racing_assigns_to_an_instance_without_an_admin_one_makes_its_admin(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (application, instances) = application(app, &admin, &["Production"]).await;
        let mut people = Vec::new();
        for name in ["ana", "bo", "cy", "dan", "eve", "fay"] {
            people.push(app.user(&admin, name, &["user"]).await);
        }
        let replies = join_all(people.iter().map(|p| change(app, &admin, "assign", json!({"user_ids": [p], "application_id": application, "instance_ids": instances})))).await;
        for r in &replies {
            r.ok(200);
        }
        let instance = &instances[0];
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM assignments WHERE instance_id = '{instance}'")), 6);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM assignments WHERE instance_id = '{instance}' AND instance_role = 'admin'")), 1);
    }

    async fn an_account_made_a_guest_loses_its_assignments(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (application, instances) = application(app, &admin, &["Production"]).await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let bo = app.user(&admin, "bo", &["user"]).await;
        change(app, &admin, "assign", json!({"user_ids": [ana], "application_id": application, "instance_ids": instances, "all_instances": true})).await.ok(200);
        let path = format!("/api/v1/users/{ana}");
        let asked = app.patch(&path, &admin, json!({"roles": ["guest"]})).await;
        asked.problem(409, "confirmation_required");
        assert!(asked.body["consequences"].as_array().expect("consequences").contains(&json!("assignments_removed")), "{}", asked.body);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM assignments WHERE user_id = '{ana}'")), 1, "nothing yet");
        app.patch(&path, &admin, json!({"roles": ["guest"], "confirm": true})).await.ok(200);
        let shown = app.get(&format!("/api/v1/users/{ana}/assignments"), &admin).await;
        assert_eq!((shown.body["items"].clone(), shown.body["all_instances"].clone()), (json!([]), json!([])));
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'assignment.unassigned' AND target_id = '{ana}' AND details LIKE '%became_guest%'")), 2);
        // An account without assignments has no such consequence.
        let plain = app.patch(&format!("/api/v1/users/{bo}"), &admin, json!({"roles": ["guest"]})).await;
        plain.problem(409, "confirmation_required");
        assert!(!plain.body["consequences"].as_array().expect("consequences").contains(&json!("assignments_removed")));
    }
}

/// A new invited account (no password: no hashing): its id.
async fn account(app: &TestApp, admin: &str, username: &str, last_name: &str) -> String {
    let body = json!({"username": username, "email": format!("{username}@example.org"), "first_name": "Test", "last_name": last_name});
    app.post("/api/v1/users", admin, body).await.ok(201).id()
}

both! {
    async fn filters_on_memberships_combine_with_search_and_page_each_match_once_while_accounts_are_added(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (application, instances) = application(app, &admin, &["Production", "Test"]).await;
        let (prod, test) = (&instances[0], &instances[1]);
        let group = app.post("/api/v1/groups", &admin, json!({"name": "Night shift"})).await.ok(201).id();
        // Accounts named an… and bo…; by turns assigned to Production, granted all instances,
        // assigned to Test only, and in the group or not.
        let mut ids = Vec::new();
        for i in 0..36 {
            let name = if i % 2 == 0 { format!("an{i:02}") } else { format!("bo{i:02}") };
            ids.push((account(app, &admin, &name, &format!("L{}", 35 - i)).await, name));
        }
        let by = |k: usize, of: usize| ids.iter().enumerate().filter(move |(i, _)| i % of == k).map(|(_, (id, _))| id.clone()).collect::<Vec<_>>();
        change(app, &admin, "assign", json!({"user_ids": by(0, 3), "application_id": application, "instance_ids": [prod]})).await.ok(200);
        change(app, &admin, "assign", json!({"user_ids": by(1, 3), "application_id": application, "all_instances": true})).await.ok(200);
        change(app, &admin, "assign", json!({"user_ids": by(2, 3), "application_id": application, "instance_ids": [test]})).await.ok(200);
        // Disabled assignments still count.
        change(app, &admin, "disable", json!({"user_ids": by(0, 6), "application_id": application, "instance_ids": [prod]})).await.ok(200);
        let grouped: Vec<String> = ids.iter().enumerate().filter(|(i, _)| i % 4 < 2).map(|(_, (id, _))| id.clone()).collect();
        app.post(&format!("/api/v1/groups/{group}/members/add"), &admin, json!({"user_ids": grouped})).await.ok(200);

        // Production: assigned to it (by(0, 3)) or granted all (by(1, 3)), in the group, named an….
        let expected: std::collections::BTreeSet<String> = ids.iter().enumerate()
            .filter(|(i, (_, name))| i % 3 < 2 && i % 4 < 2 && name.starts_with("an"))
            .map(|(_, (id, _))| id.clone())
            .collect();
        assert_eq!(expected.len(), 6);
        for sort in ["username", "-username", "last_name", "-created_at", "email"] {
            let query = format!("/api/v1/users?instance={prod}&group={group}&application={application}&q=AN&sort={sort}&limit=2");
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut added = 0;
            loop {
                let path = match &cursor { Some(c) => format!("{query}&cursor={c}"), None => query.clone() };
                let page = app.get(&path, &admin).await;
                page.ok(200);
                for item in page.body["items"].as_array().expect("items") {
                    seen.push(item["id"].as_str().expect("id").to_owned());
                }
                // Between pages, two matching accounts and a near miss (not in the group) are
                // added: at either end of every order but creation's.
                added += 1;
                let tag = sort.replace('-', "_");
                for (name, last_name, matching) in [(format!("an.{tag}{added}"), "A", true), (format!("anz{tag}{added}"), "Z", true), (format!("anm{tag}{added}"), "M", false)] {
                    let id = account(app, &admin, &name, last_name).await;
                    change(app, &admin, "assign", json!({"user_ids": [id], "application_id": application, "instance_ids": [prod]})).await.ok(200);
                    if matching {
                        app.post(&format!("/api/v1/groups/{group}/members/add"), &admin, json!({"user_ids": [id]})).await.ok(200);
                    }
                }
                cursor = page.body["next_cursor"].as_str().map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
            let unique: std::collections::BTreeSet<String> = seen.iter().cloned().collect();
            assert!(sort == "-created_at" || unique.len() > expected.len(), "accounts added meanwhile show up, sorted by {sort}");
            assert_eq!(unique.len(), seen.len(), "each account once, sorted by {sort}: {seen:?}");
            assert!(expected.is_subset(&unique), "every account matching from the start, sorted by {sort}");
            // What else came is accounts added meanwhile that match: check each against the filter
            // by reading it back.
            for id in unique.difference(&expected) {
                let user = app.get(&format!("/api/v1/users/{id}"), &admin).await;
                user.ok(200);
                assert!(user.body["username"].as_str().is_some_and(|u| u.starts_with("an")));
                let groups = app.get(&format!("/api/v1/users/{id}/groups"), &admin).await;
                assert_eq!(groups.body["items"][0]["id"].as_str(), Some(group.as_str()), "{id} sorted by {sort} is in the group");
            }
        }
        // An id that names nothing selects nobody; one that is not an id is refused.
        let nobody = app.get(&format!("/api/v1/users?group={}", uuid::Uuid::now_v7()), &admin).await;
        nobody.ok(200);
        assert_eq!(nobody.body["items"], json!([]));
        app.get("/api/v1/users?instance=prod", &admin).await.problem(400, "invalid_query");
    }
}

both! {
    async fn instances_made_while_access_to_all_is_granted_list_every_holder(app: TestApp) {
        let (admin, _) = app.admin().await;
        let (application, _) = application(app, &admin, &["Production"]).await;
        let mut people = Vec::new();
        for i in 0..8 {
            people.push(account(app, &admin, &format!("holder{i}"), "H").await);
        }
        // Grants and new instances at once: each instance lists every holder, whichever came
        // first.
        for round in 0..3 {
            let grants = people.iter().skip(round * 2).take(2).map(|p| change(app, &admin, "assign", json!({"user_ids": [p], "application_id": application, "all_instances": true})));
            let path = format!("/api/v1/applications/{application}/instances");
            let names: Vec<String> = (0..3).map(|i| format!("R{round}-{i}")).collect();
            let creates = names.iter().map(|n| app.post(&path, &admin, json!({"name": n})));
            let (granted, created) = tokio::join!(join_all(grants), join_all(creates));
            for r in &granted {
                r.ok(200);
            }
            let holders: std::collections::BTreeSet<&String> = people.iter().take(round * 2 + 2).collect();
            for r in &created {
                let instance = r.ok(201).id();
                let listed = app.get(&format!("/api/v1/users?instance={instance}&limit=200"), &admin).await;
                let ids: Vec<String> = listed.ok(200).body["items"].as_array().expect("items").iter().map(|u| u["id"].as_str().expect("id").to_owned()).collect();
                assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>(), holders, "instance {instance} of round {round}");
            }
        }
    }
}

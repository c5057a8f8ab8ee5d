//! Applications and their instances (SPEC §8): created, read, renamed and deleted by admins, read
//! by whoever reads accounts; names unique within their parent whatever their case, also when
//! creates race; every change audited.

use futures_util::future::join_all;
use serde_json::json;

use crate::database::count;

both! {
    async fn applications_and_instances_are_created_renamed_and_deleted(app: TestApp) {
        let (admin, _) = app.admin().await;
        let created = app.post("/api/v1/applications", &admin, json!({"name": "  Scheduling "})).await;
        created.ok(201);
        assert_eq!(created.body["name"], "Scheduling", "trimmed");
        let id = created.id();
        app.post("/api/v1/applications", &admin, json!({"name": "SCHEDULING"})).await.problem(409, "name_taken");
        app.post("/api/v1/applications", &admin, json!({"name": " "})).await.problem(422, "validation_failed");
        app.post("/api/v1/applications", &admin, json!({"name": "x".repeat(101)})).await.problem(422, "validation_failed");
        app.post("/api/v1/applications", &admin, json!({"name": "Billing", "colour": "red"})).await.problem(422, "validation_failed");
        let billing = app.post("/api/v1/applications", &admin, json!({"name": "billing"})).await.ok(201).id();
        let list = app.get("/api/v1/applications", &admin).await;
        list.ok(200);
        let names: Vec<&str> = list.body["items"].as_array().expect("items").iter().filter_map(|a| a["name"].as_str()).collect();
        assert_eq!(names, ["billing", "Scheduling"], "by name, whatever the case");

        // Instances: unique within their application, the same name in another is fine.
        let path = format!("/api/v1/applications/{id}/instances");
        let production = app.post(&path, &admin, json!({"name": "Production"})).await.ok(201).id();
        let test = app.post(&path, &admin, json!({"name": "Test"})).await.ok(201).id();
        app.post(&path, &admin, json!({"name": "production"})).await.problem(409, "name_taken");
        app.post(&format!("/api/v1/applications/{billing}/instances"), &admin, json!({"name": "Production"})).await.ok(201);
        let instances = app.get(&path, &admin).await;
        assert_eq!(instances.body["items"].as_array().map(Vec::len), Some(2));
        assert_eq!(instances.body["items"][0]["application_id"], json!(id));

        // Renames: to another case of itself is a rename; to a sibling's name is taken.
        let renamed = app.patch(&format!("/api/v1/applications/{id}"), &admin, json!({"name": "SCHEDULING"})).await;
        renamed.ok(200);
        assert_eq!(renamed.body["name"], "SCHEDULING");
        app.patch(&format!("/api/v1/applications/{id}"), &admin, json!({"name": "Billing"})).await.problem(409, "name_taken");
        app.patch(&format!("{path}/{test}"), &admin, json!({"name": "PRODUCTION"})).await.problem(409, "name_taken");
        let staging = app.patch(&format!("{path}/{test}"), &admin, json!({"name": "Staging"})).await;
        staging.ok(200);
        assert_eq!(app.get(&format!("{path}/{test}"), &admin).await.body["name"], "Staging");

        // Not found: an unknown application, and an instance asked for under another application.
        let unknown = uuid::Uuid::now_v7();
        app.get(&format!("/api/v1/applications/{unknown}"), &admin).await.problem(404, "application_not_found");
        app.get(&format!("/api/v1/applications/{unknown}/instances"), &admin).await.problem(404, "application_not_found");
        app.post(&format!("/api/v1/applications/{unknown}/instances"), &admin, json!({"name": "X"})).await.problem(404, "application_not_found");
        app.get(&format!("/api/v1/applications/{billing}/instances/{production}"), &admin).await.problem(404, "instance_not_found");
        app.delete(&format!("/api/v1/applications/{billing}/instances/{production}"), &admin).await.problem(404, "instance_not_found");

        // Deleting an instance, then the application with the rest of its instances.
        app.delete(&format!("{path}/{test}"), &admin).await.ok(204);
        app.get(&format!("{path}/{test}"), &admin).await.problem(404, "instance_not_found");
        app.delete(&format!("/api/v1/applications/{id}"), &admin).await.ok(204);
        app.get(&format!("{path}/{production}"), &admin).await.problem(404, "application_not_found");
        app.delete(&format!("/api/v1/applications/{id}"), &admin).await.problem(404, "application_not_found");
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM instances WHERE application_id = '{id}'")), 0);

        // Every change audited.
        for (action, n) in [("application.created", 2), ("application.renamed", 1), ("application.deleted", 1), ("instance.created", 3), ("instance.renamed", 1), ("instance.deleted", 1)] {
            assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = '{action}'")), n, "{action}");
        }
    }

    async fn whoever_reads_accounts_reads_applications_and_only_their_writers_change_them(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.post("/api/v1/applications", &admin, json!({"name": "Scheduling"})).await.ok(201).id();
        app.user(&admin, "mo", &["user_manager"]).await;
        app.user(&admin, "ulla", &["user"]).await;
        let manager = app.token_for("mo").await;
        let user = app.token_for("ulla").await;
        app.get("/api/v1/applications", &manager).await.ok(200);
        app.get(&format!("/api/v1/applications/{id}/instances"), &manager).await.ok(200);
        app.post("/api/v1/applications", &manager, json!({"name": "Mine"})).await.problem(403, "forbidden");
        app.post(&format!("/api/v1/applications/{id}/instances"), &manager, json!({"name": "Mine"})).await.problem(403, "forbidden");
        app.delete(&format!("/api/v1/applications/{id}"), &manager).await.problem(403, "forbidden");
        app.get("/api/v1/applications", &user).await.problem(403, "forbidden");
        app.get("/api/v1/applications", "not-a-token").await.problem(401, "unauthenticated");
        assert_eq!(count(app, "SELECT count(*) AS n FROM applications"), 1, "nothing was written");
    }

    async fn of_racing_creates_with_one_name_one_wins(app: TestApp) {
        let (admin, _) = app.admin().await;
        let names = ["Payroll", "PAYROLL", "payroll", " Payroll", "Payroll ", "pAYROLL"];
        let replies = join_all(names.iter().map(|n| app.post("/api/v1/applications", &admin, json!({"name": n})))).await;
        assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1, "{replies:?}");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.problem(409, "name_taken");
        }
        let id = replies.iter().find(|r| r.status == 201).expect("a winner").id();
        let path = format!("/api/v1/applications/{id}/instances");
        let replies = join_all(names.iter().map(|n| app.post(&path, &admin, json!({"name": n})))).await;
        assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1, "{replies:?}");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.problem(409, "name_taken");
        }
        assert_eq!(count(app, "SELECT count(*) AS n FROM instances"), 1);
    }
}

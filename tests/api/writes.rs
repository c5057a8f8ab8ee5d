//! What a write leaves in the database, read there directly: the rows the API does not show.

use serde_json::json;

use crate::{database::count, helpers::TestApp};

/// Rows in every table a new account writes.
fn rows(app: &TestApp) -> [i64; 4] {
    ["users", "user_roles", "user_prefixes", "audit_events"]
        .map(|table| count(app, &format!("SELECT count(*) AS n FROM {table}")))
}

both! {
    async fn a_new_account_is_written_whole_with_its_audit_event_or_not_at_all(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'setup.completed' AND target_id = '{admin_id}'")), 1);
        let body = json!({"username": "ana.lima", "email": "ana@example.org", "first_name": "Ana", "last_name": "Lima", "roles": ["user", "user_manager"]});
        let id = app.post("/api/v1/users", &admin, body).await.ok(201).id();
        let of_ana = |table_sql: &str| count(app, &table_sql.replace("{id}", &id));
        assert_eq!(of_ana("SELECT count(*) AS n FROM user_roles WHERE user_id = '{id}' AND role IN ('user', 'user_manager')"), 2);
        // ana.lima, ana@example.org, Ana, Lima: a, an, l, li.
        assert_eq!(count(app, "SELECT count(*) AS n FROM user_prefixes WHERE username_key = 'ana.lima'"), 4);
        assert_eq!(of_ana("SELECT count(*) AS n FROM audit_events WHERE action = 'user.created' AND target_id = '{id}'"), 1);

        let before = rows(app);
        let taken_username = json!({"username": "ANA.LIMA", "email": "other@example.org", "first_name": "Bo", "last_name": "Berg"});
        app.post("/api/v1/users", &admin, taken_username).await.problem(409, "username_taken");
        let taken_email = json!({"username": "bo", "email": "ANA@example.org", "first_name": "Bo", "last_name": "Berg", "roles": ["user", "user_manager"]});
        app.post("/api/v1/users", &admin, taken_email).await.problem(409, "email_taken");
        assert_eq!(rows(app), before, "a refused account leaves no row behind, in any table");
    }

    async fn a_change_is_written_with_its_audit_event_or_not_at_all(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        app.user(&admin, "bob", &["user"]).await;
        let events = || count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'user.updated' AND target_id = '{ana}'"));
        let path = format!("/api/v1/users/{ana}");
        app.patch(&path, &admin, json!({"location": "Porto", "first_name": "Anna"})).await.ok(200);
        assert_eq!(events(), 1);
        assert_eq!(count(app, "SELECT count(*) AS n FROM user_prefixes WHERE username_key = 'ana' AND prefix = 'an'"), 1);

        let before = rows(app);
        app.patch(&path, &admin, json!({"email": "BOB@example.org", "location": "Lisboa"})).await.problem(409, "email_taken");
        assert_eq!(events(), 1, "a refused change records no event");
        assert_eq!(rows(app), before);
        let got = app.get(&path, &admin).await;
        assert_eq!((got.body["email"].as_str(), got.body["location"].as_str()), (Some("ana@example.org"), Some("Porto")));
    }

    async fn a_delete_that_deactivates_instead_records_the_deactivation(app: TestApp) {
        let (admin, _) = app.admin().await;
        let author = app.user(&admin, "author", &["user_manager"]).await;
        let author_token = app.token_for("author").await;
        app.post("/api/v1/users", &author_token, json!({"email": "made@example.org", "first_name": "M", "last_name": "M"})).await.ok(201);
        app.delete(&format!("/api/v1/users/{author}"), &admin).await.ok(200);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE action = 'user.deactivated' AND target_id = '{author}'")), 1);
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM users WHERE id = '{author}' AND NOT active")), 1);
    }
}

both! {
    async fn every_unique_index_and_foreign_key_is_in_the_constraint_table(app: TestApp) {
        app.admin().await;
        let unlisted = crate::database::store(app).unlisted_constraints().expect("schema read");
        assert!(unlisted.is_empty(), "not in migrations/<backend>/constraints.txt: {unlisted:?}");
    }

    async fn a_unique_violation_the_table_does_not_know_answers_409_conflict(app: TestApp) {
        let (admin, _) = app.admin().await;
        // A unique index Roster's migrations do not create (an operator's, say).
        crate::database::execute(app, "CREATE UNIQUE INDEX operators_own_index ON users (erp_id)");
        let body = |name: &str| json!({"username": name, "email": format!("{name}@example.org"), "first_name": "E", "last_name": "R", "erp_id": "E-1"});
        app.post("/api/v1/users", &admin, body("first")).await.ok(201);
        let before = rows(app);
        app.post("/api/v1/users", &admin, body("second")).await.problem(409, "conflict");
        assert_eq!(rows(app), before, "nothing was written");
    }
}

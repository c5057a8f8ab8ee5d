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

both! {
    async fn derived_data_is_recomputed_at_start_when_its_rules_change(app: TestApp) {
        let (admin, _) = app.admin().await;
        let zoe = app.user(&admin, "zoe", &["user"]).await;
        let pay = app.user(&admin, "pay", &["user"]).await;
        // As an older Roster left it: no skeletons, a key folded by the old rule (lower-casing
        // only, which kept the fullwidth `Ｚ`), and a username a person would confuse with
        // another's (Cyrillic а), which the old rules let in.
        use crate::database::execute;
        execute(app, "UPDATE users SET username_skeleton = NULL");
        // Prefix rows as the old rules derived them from the stored keys.
        execute(app, &format!("UPDATE users SET first_name = 'Ｚoë', first_name_key = 'ｚoë' WHERE id = '{zoe}'"));
        execute(app, "DELETE FROM user_prefixes WHERE username_key = 'zoe' AND prefix IN ('t', 'te')");
        execute(app, "INSERT INTO user_prefixes (prefix, username_key) VALUES ('ｚ', 'zoe'), ('ｚo', 'zoe')");
        execute(app, &format!("UPDATE users SET username = 'pаy', username_key = 'pаy' WHERE id = '{pay}'"));
        execute(app, "UPDATE user_prefixes SET username_key = 'pаy' WHERE username_key = 'pay'");
        execute(app, "INSERT INTO user_prefixes (prefix, username_key) VALUES ('pа', 'pаy')");
        execute(app, "DELETE FROM instance_state WHERE name = 'derived_version'");
        let again = json!({"username": "pay", "email": "pay.again@example.org", "first_name": "P", "last_name": "P"});
        app.post("/api/v1/users", &admin, again).await.ok(201);
        execute(app, "UPDATE users SET username_skeleton = NULL");
        // The next start recomputes it all.
        let config = app.config.clone();
        let restarted = TestApp::spawn_with(app.db, move |c| {
            c.database_url = config.database_url.clone();
            c.data_dir = config.data_dir.clone();
        })
        .await;
        restarted.check_derived_data();
        let got = restarted.get(&format!("/api/v1/users/{zoe}"), &admin).await;
        assert_eq!(got.body["first_name"], "Ｚoë", "stored values are kept as they were");
        let found = restarted.get("/api/v1/users?q=zo", &admin).await;
        assert_eq!(found.body["items"][0]["id"], zoe.as_str(), "found by its new key");
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE username_skeleton IS NULL"), 1, "the confusable pair keeps one without a skeleton");
    }
}

/// Two writes that lock the same two accounts in opposite orders deadlock; PostgreSQL aborts one,
/// and Roster runs it again instead of answering 503: both succeed (SPEC §12: the database decides
/// races, and losing one is not the client's fault).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(roster_postgres),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn a_deadlocked_transaction_is_run_again() {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Barrier,
    };

    use domain::ports::Store;

    let app = TestApp::spawn(crate::helpers::Db::Postgres).await;
    let (admin, _) = app.admin().await;
    let a: uuid::Uuid = app
        .user(&admin, "ann", &["user"])
        .await
        .parse()
        .expect("id");
    let b: uuid::Uuid = app
        .user(&admin, "bob", &["user"])
        .await
        .parse()
        .expect("id");
    let database = Arc::new(crate::database::store(&app));
    let barrier = Arc::new(Barrier::new(2));
    let attempts = Arc::new(AtomicUsize::new(0));
    let lock_in_order = |first: uuid::Uuid, second: uuid::Uuid| {
        let (database, barrier, attempts) = (database.clone(), barrier.clone(), attempts.clone());
        std::thread::spawn(move || {
            let store: &(dyn Store + 'static) = database.as_ref();
            let mut mine = 0;
            store.write(|tx| {
                mine += 1;
                attempts.fetch_add(1, Ordering::SeqCst);
                tx.find_account_for_update(first)?;
                if mine == 1 {
                    barrier.wait();
                }
                tx.find_account_for_update(second)?;
                Ok(())
            })
        })
    };
    let one = lock_in_order(a, b);
    let other = lock_in_order(b, a);
    let (one, other) = (one.join().expect("thread"), other.join().expect("thread"));
    assert!(one.is_ok() && other.is_ok(), "{one:?} {other:?}");
    assert!(
        attempts.load(Ordering::SeqCst) >= 3,
        "one of them ran again"
    );
}

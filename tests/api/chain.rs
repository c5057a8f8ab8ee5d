//! The audit trail's hash chain (SPEC §9, `domain::chain`): `verify` names the first event changed
//! or removed behind Roster's back; concurrent writers leave a whole chain; erasing an account's
//! personal values keeps it whole; retention removes old events and the chain verifies from its
//! checkpoint.

use domain::ports::Store;
use serde_json::{json, Value};
use uuid::{NoContext, Timestamp, Uuid};

use crate::{
    database::{count, execute, execute_together, lines, migration, store},
    helpers::{Db, TestApp},
};

async fn verify(app: &TestApp, token: &str) -> Value {
    let reply = app.get("/api/v1/audit-events/verify", token).await;
    reply.ok(200);
    reply.body.clone()
}

/// A fixed salt: the tests' own calls of the linker need no randomness.
fn salt() -> domain::chain::Salt {
    [7; 16]
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// The linked events, in chain order.
fn places(app: &TestApp) -> Vec<Place> {
    lines(app, "SELECT seq, event_id AS id FROM audit_links")
}

/// Asserts the chain is whole and covers every event.
async fn assert_whole(app: &TestApp, token: &str) -> Value {
    let v = verify(app, token).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["broken"], Value::Null);
    let events = count(app, "SELECT count(*) AS n FROM audit_events");
    assert_eq!(
        (v["checked"].as_i64(), v["pending"].as_i64()),
        (Some(events), Some(0)),
        "every event is checked: {v}"
    );
    v
}

both! {
    async fn verify_names_the_first_event_changed_or_removed_behind_its_back(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        app.patch(&format!("/api/v1/users/{ana}"), &admin, json!({"location": "Porto"})).await.ok(200);
        app.login("ana", "not her password").await.problem(401, "invalid_credentials");
        app.patch(&format!("/api/v1/users/{ana}"), &admin, json!({"location": "Lisboa"})).await.ok(200);
        let v = assert_whole(app, &admin).await;
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_links"), count(app, "SELECT count(*) AS n FROM audit_events"), "verify links what is pending");
        assert_eq!(v["checkpoint"]["seq"], 0);
        let chain = places(app);
        assert_eq!(chain.iter().map(|p| p.seq).collect::<Vec<_>>(), (1..=chain.len() as i64).collect::<Vec<_>>());

        // A detail changed: that event, by place and id.
        let middle = &chain[chain.len() / 2];
        let saved: Vec<Text> = lines(app, &format!("SELECT details AS text FROM audit_events WHERE id = '{}'", middle.id));
        execute(app, &format!("UPDATE audit_events SET details = '{{\"forged\": true}}' WHERE id = '{}'", middle.id));
        let v = verify(app, &admin).await;
        assert_eq!(v["valid"], false);
        assert_eq!((v["broken"]["seq"].as_i64(), v["broken"]["problem"].as_str()), (Some(middle.seq), Some("event_changed")), "{v}");
        assert_eq!(v["broken"]["event"]["id"], middle.id.as_str());
        assert_eq!(v["broken"]["event"]["details"], json!({"forged": true}), "the event as it is now");
        execute(app, &format!("UPDATE audit_events SET details = '{}' WHERE id = '{}'", saved[0].text.replace('\'', "''"), middle.id));
        assert_whole(app, &admin).await;

        // Its time, its actor's username snapshot, its stored hash: each named.
        let second = &chain[1];
        execute(app, &format!("UPDATE audit_events SET actor_username = 'mallory' WHERE id = '{}'", second.id));
        let v = verify(app, &admin).await;
        assert_eq!((v["broken"]["seq"].as_i64(), v["broken"]["problem"].as_str()), (Some(2), Some("personal_values_changed")), "{v}");
        execute(app, &format!("UPDATE audit_events SET actor_username = NULL WHERE id = '{}'", second.id));
        let v = verify(app, &admin).await;
        assert_eq!(v["broken"]["problem"], "personal_values_changed", "a value blanked is not an erasure while the salt is there: {v}");
        execute(app, &format!("UPDATE audit_events SET actor_username = 'admin' WHERE id = '{}'", second.id));
        assert_whole(app, &admin).await;
        let last = chain.last().expect("events");
        execute(app, &format!("UPDATE audit_events SET at = '2020-01-01 00:00:00' WHERE id = '{}'", last.id));
        let v = verify(app, &admin).await;
        assert_eq!((v["broken"]["seq"].as_i64(), v["broken"]["problem"].as_str()), (Some(last.seq), Some("event_changed")), "{v}");

        // An event removed: the place where it was is named.
        execute(app, &format!("DELETE FROM audit_events WHERE id = '{}'", chain[2].id));
        let v = verify(app, &admin).await;
        assert_eq!((v["broken"]["seq"].as_i64(), v["broken"]["problem"].as_str(), &v["broken"]["event"]), (Some(3), Some("missing"), &Value::Null), "{v}");

        // Users without audit:read are refused.
        let ana_token = app.token_for("ana").await;
        app.get("/api/v1/audit-events/verify", &ana_token).await.problem(403, "forbidden");
    }

    async fn an_event_written_behind_rosters_back_is_named(app: TestApp) {
        let (admin, _) = app.admin().await;
        assert_whole(app, &admin).await;
        // Inserted where the linker never looks: on SQLite before the events already linked (at
        // a rowid below theirs), on PostgreSQL as by a transaction long finished.
        let id = Uuid::now_v7();
        let values = format!("('{id}', '2026-11-01 10:00:00', 'user.deleted', 'user_management', 'none', '{{}}')");
        match app.db {
            Db::Sqlite => execute(app, &format!("INSERT INTO audit_events (rowid, id, at, action, category, target_type, details) VALUES (-1, {}", values.trim_start_matches('('))),
            Db::Postgres => execute(app, &format!("INSERT INTO audit_events (id, at, action, category, target_type, details, xact) VALUES {}, 1)", values.trim_end_matches(')'))),
        }
        let v = verify(app, &admin).await;
        assert_eq!((v["valid"].as_bool(), v["broken"]["problem"].as_str(), &v["broken"]["seq"]), (Some(false), Some("not_in_chain"), &Value::Null), "{v}");
        assert_eq!(v["broken"]["event"]["id"], id.to_string());
    }

    async fn events_queued_before_the_upgrade_to_rowid_linking_are_linked_after_it(app: TestApp) {
        // SQLite's upgrade only: PostgreSQL always found its events by their transaction.
        if app.db != Db::Sqlite {
            return;
        }
        let (admin, _) = app.admin().await;
        app.user(&admin, "ana", &["user"]).await;
        assert_whole(app, &admin).await;
        // As before the upgrade: the trigger's queue, holding an event written before the newest
        // linked one (that queue went by the events' ids, not by their commit order).
        let id = Uuid::now_v7();
        execute_together(app, &[
            "CREATE TABLE audit_pending (event_id TEXT PRIMARY KEY NOT NULL)",
            "CREATE TRIGGER audit_events_pending AFTER INSERT ON audit_events BEGIN INSERT INTO audit_pending (event_id) VALUES (NEW.id); END",
            &format!("INSERT INTO audit_events (rowid, id, at, action, category, target_type, details) VALUES (-1, '{id}', '2026-11-01 10:00:00', 'user.deleted', 'user_management', 'none', '{{}}')"),
        ]);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_pending"), 1);
        execute_together(app, &[&migration(app, "2026-12-04-000001_audit_link_by_rowid")]);
        assert_whole(app, &admin).await;
        assert!(places(app).iter().any(|p| p.id == id.to_string()), "the queued event is linked");
    }

    async fn fifty_concurrent_writers_leave_a_whole_chain(app: TestApp) {
        let (admin, _) = app.admin().await;
        let writes = (0..50).map(|i| {
            let admin = admin.clone();
            async move {
                let body = json!({"username": format!("w{i}"), "email": format!("w{i}@example.org"), "first_name": "W", "last_name": format!("{i}")});
                app.post("/api/v1/users", &admin, body).await.status
            }
        });
        // Verifications race the writers and the background linker for the chain's head.
        let checks = (0..3).map(|_| app.get("/api/v1/audit-events/verify", &admin));
        let (statuses, checked) = futures_util::future::join(
            futures_util::future::join_all(writes),
            futures_util::future::join_all(checks),
        )
        .await;
        assert!(statuses.iter().all(|s| s.as_u16() == 201), "{statuses:?}");
        for v in checked {
            assert_eq!((v.status.as_u16(), &v.body["valid"]), (200, &json!(true)), "{}", v.body);
        }
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'user.created'"), 50);
        let v = assert_whole(app, &admin).await;
        let events = count(app, "SELECT count(*) AS n FROM audit_events");
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_links"), events);
        assert_eq!(v["head"]["seq"].as_i64(), Some(events), "one place for each event, none twice: {v}");
        assert_eq!(places(app).len() as i64, events);
    }

    async fn erasing_an_accounts_personal_values_keeps_the_chain_whole(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user"]).await;
        let ana_token = app.token_for("ana").await;
        app.patch("/api/v1/me", &ana_token, json!({"first_name": "Anabel"})).await.ok(200);
        app.patch(&format!("/api/v1/users/{ana}"), &admin, json!({"location": "Porto"})).await.ok(200);
        app.patch(&format!("/api/v1/users/{ana}"), &admin, json!({"email": "ana.lima@example.org"})).await.ok(200);
        app.login("ana", "not her password").await.problem(401, "invalid_credentials");
        app.user(&admin, "bob", &["user"]).await;
        assert_whole(app, &admin).await;
        let naming = format!("(actor_id = '{ana}' OR target_id = '{ana}')");

        let database = store(app);
        let store: &(dyn Store + 'static) = &database;
        let ana_id: Uuid = ana.parse().expect("id");
        let erased = store.write(|tx| tx.erase_personal_values(ana_id)).expect("erased");
        assert_eq!(erased as i64, count(app, &format!("SELECT count(*) AS n FROM audit_events WHERE {naming}")));
        assert!(erased >= 5, "{erased}");
        // Nothing that names her is left in those events; the ids and what happened are.
        let texts: Vec<Text> = lines(app, &format!("SELECT COALESCE(actor_username, '') || '|' || COALESCE(target_label, '') || '|' || COALESCE(address, '') || '|' || COALESCE(user_agent, '') || '|' || details AS text FROM audit_events WHERE {naming}"));
        for t in &texts {
            for value in ["ana", "Anabel", "Porto", "127.0.0.1"] {
                assert!(!t.text.contains(value), "{value} in {}", t.text);
            }
        }
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM audit_links WHERE salt IS NOT NULL AND event_id IN (SELECT id FROM audit_events WHERE {naming})")), 0);
        assert!(count(app, "SELECT count(*) AS n FROM audit_events WHERE target_label = 'bob'") >= 1, "others' events keep theirs");
        let v = assert_whole(app, &admin).await;
        assert_eq!(v["valid"], true, "erasure keeps the chain");

        // Any other field of an erased event still breaks it.
        let one: Vec<Place> = lines(app, &format!("SELECT l.seq, e.id FROM audit_events e JOIN audit_links l ON l.event_id = e.id WHERE e.target_id = '{ana}' AND e.action = 'user.updated'"));
        let changed = &one[0];
        execute(app, &format!("UPDATE audit_events SET action = 'user.created' WHERE id = '{}'", changed.id));
        let v = verify(app, &admin).await;
        assert_eq!((v["broken"]["seq"].as_i64(), v["broken"]["problem"].as_str()), (Some(changed.seq), Some("event_changed")), "{v}");
        execute(app, &format!("UPDATE audit_events SET action = 'user.updated' WHERE id = '{}'", changed.id));
        // And a value put back where one was erased.
        execute(app, &format!("UPDATE audit_events SET target_label = 'someone' WHERE id = '{}'", changed.id));
        let v = verify(app, &admin).await;
        assert_eq!((v["broken"]["seq"].as_i64(), v["broken"]["problem"].as_str()), (Some(changed.seq), Some("personal_values_changed")), "{v}");
    }

    async fn an_operators_erasure_is_recorded_without_the_name_it_erased(app: TestApp) {
        let (admin, _) = app.admin().await;
        let bo = app.user(&admin, "bo", &["user"]).await;
        app.delete(&format!("/api/v1/users/{bo}"), &admin).await.ok(204);
        let id: Uuid = bo.parse().expect("id");
        let erased = app.state.services.erase_personal_values(id).await.expect("erased");
        assert!(erased >= 3, "{erased}");
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE target_label = 'bo' OR actor_username = 'bo' OR details LIKE '%bo@example.org%'"), 0);
        let recorded = app.get("/api/v1/audit-events?action=audit.personal_values_erased", &admin).await;
        let event = &recorded.body["items"][0];
        assert_eq!((&event["target"]["id"], &event["target"]["label"], &event["details"]["events"]), (&json!(bo), &Value::Null, &json!(erased)), "{event}");
        assert_eq!(event["category"], "security_settings");
        assert_whole(app, &admin).await;
    }

    async fn retention_removes_old_events_and_the_chain_verifies_from_its_checkpoint(app: TestApp) {
        // Ten events from a year ago, written before any other, so first in the chain.
        let year_ago = chrono::Utc::now() - chrono::Duration::days(365);
        for i in 0..10 {
            let at = year_ago + chrono::Duration::minutes(i);
            let id = Uuid::new_v7(Timestamp::from_unix(NoContext, at.timestamp() as u64, 0));
            execute(app, &format!(
                "INSERT INTO audit_events (id, at, action, category, target_type, details) VALUES ('{id}', '{}', 'auth.login_failed', 'authentication', 'none', '{{\"reason\": \"unknown_login\"}}')",
                at.format("%Y-%m-%d %H:%M:%S")
            ));
        }
        app.state.services.link_audit_events(salt).await.expect("linked");
        let (admin, _) = app.admin().await;
        app.user(&admin, "ana", &["user"]).await;
        assert_eq!(app.state.services.sweep_audit_trail(salt).await.expect("sweep"), 0, "kept for ever by default");
        let before = assert_whole(app, &admin).await;

        app.patch("/api/v1/settings", &admin, json!({"audit_retention_days": 30})).await.ok(200);
        assert_eq!(app.state.services.sweep_audit_trail(salt).await.expect("sweep"), 10);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE at < '2026-01-01'"), 0);
        assert_eq!(app.state.services.sweep_audit_trail(salt).await.expect("sweep"), 0, "nothing more is old enough");
        let v = assert_whole(app, &admin).await;
        assert_eq!(v["checkpoint"]["seq"], 10, "{v}");
        assert_eq!(v["checked"].as_i64(), v["head"]["seq"].as_i64().map(|h| h - 10));
        assert!(v["head"]["seq"].as_i64() > before["head"]["seq"].as_i64());
        let removal = app.get("/api/v1/audit-events?action=audit.events_removed", &admin).await;
        assert_eq!(removal.body["items"][0]["details"]["through_seq"], 10, "{}", removal.body);
        assert_eq!(removal.body["items"][0]["details"]["removed"], 10);

        // The checkpoint moved behind Roster's back no longer matches what the chain recorded.
        execute(app, "UPDATE audit_chain SET checkpoint_seq = 11, checkpoint_hash = (SELECT hash FROM audit_links WHERE seq = 11)");
        execute(app, "DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_links WHERE seq = 11)");
        execute(app, "DELETE FROM audit_links WHERE seq = 11");
        let v = verify(app, &admin).await;
        assert_eq!((v["broken"]["seq"].as_i64(), v["broken"]["problem"].as_str()), (Some(11), Some("checkpoint_changed")), "{v}");
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

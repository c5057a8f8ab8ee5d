//! Seats and licence limits (SPEC §2): limits that hold under concurrency, counts, and the guest
//! seat bound to an email.

use futures_util::future::join_all;
use serde_json::json;

use crate::{
    database::{count, execute},
    helpers::TestApp,
};

fn production_manager(seats: u32) -> domain::roles::Role {
    domain::roles::Role {
        name: "production_manager".into(),
        description: "Runs the line".into(),
        permissions: Default::default(),
        seats: Some(seats),
        builtin: false,
        exclusive: false,
    }
}

fn person(n: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut body = json!({"username": n, "email": format!("{n}@example.org"), "first_name": "P", "last_name": n});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

both! {
    async fn forty_concurrent_creates_take_the_one_seat_left(app: TestApp) {
        let (admin, _) = app.admin().await;
        for i in 0..8 {
            app.post("/api/v1/users", &admin, person(&format!("p{i}"), json!({}))).await.ok(201);
        }
        let set = app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 10})).await;
        set.ok(200);
        assert_eq!(set.body["active_user_limit"], 10);
        let counts = app.get("/api/v1/users/count", &admin).await;
        counts.ok(200);
        assert_eq!(counts.body["active_users"], json!({"used": 9, "limit": 10}));
        let replies = join_all((0..40).map(|i| app.post("/api/v1/users", &admin, person(&format!("racer{i}"), json!({}))))).await;
        let created = replies.iter().filter(|r| r.status == 201).count();
        assert_eq!(created, 1, "exactly one create takes the last seat");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.problem(409, "seat_limit_reached");
            assert_eq!(r.body["seat"], "active_users");
            assert_eq!((r.body["limit"].clone(), r.body["used"].clone(), r.body["requested"].clone()), (json!(10), json!(10), json!(1)));
        }
        assert_eq!(app.get("/api/v1/users/count", &admin).await.body["active_users"], json!({"used": 10, "limit": 10}));
        // An inactive account takes no seat; activating it needs one.
        let idle = app.post("/api/v1/users", &admin, person("idle", json!({"active": false}))).await;
        idle.ok(201);
        app.patch(&format!("/api/v1/users/{}", idle.id()), &admin, json!({"active": true})).await.problem(409, "seat_limit_reached");
        // A guest takes no active-user seat.
        app.post("/api/v1/users", &admin, person("visitor", json!({"roles": ["guest"]}))).await.ok(201);
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": null})).await.ok(200);
        app.patch(&format!("/api/v1/users/{}", idle.id()), &admin, json!({"active": true})).await.ok(200);
    }

    async fn thirty_concurrent_reactivations_take_three_free_role_seats(app: TestApp) {
        let app = TestApp::spawn_with(app.db, |c| c.roles.push(production_manager(5))).await;
        let (admin, _) = app.admin().await;
        let mut held = Vec::new();
        for i in 0..5 {
            held.push(app.post("/api/v1/users", &admin, person(&format!("pm{i}"), json!({"roles": ["production_manager"]}))).await.ok(201).id());
        }
        let sixth = app.post("/api/v1/users", &admin, person("pm5", json!({"roles": ["production_manager"]}))).await;
        sixth.problem(409, "seat_limit_reached");
        assert_eq!((sixth.body["seat"].clone(), sixth.body["limit"].clone()), (json!("production_manager"), json!(5)));
        let mut waiting = Vec::new();
        for i in 0..27 {
            waiting.push(app.post("/api/v1/users", &admin, person(&format!("off{i}"), json!({"roles": ["production_manager"], "active": false}))).await.ok(201).id());
        }
        for id in &held[..3] {
            app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"active": false})).await.ok(200);
        }
        waiting.extend(held[..3].iter().cloned());
        assert_eq!(waiting.len(), 30);
        let paths: Vec<String> = waiting.iter().map(|id| format!("/api/v1/users/{id}")).collect();
        let replies = join_all(paths.iter().map(|path| app.patch(path, &admin, json!({"active": true})))).await;
        assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 3, "exactly the three free seats");
        for r in replies.iter().filter(|r| r.status != 200) {
            r.problem(409, "seat_limit_reached");
            assert_eq!(r.body["seat"], "production_manager");
        }
        let counts = app.get("/api/v1/users/count", &admin).await;
        let pm = counts.body["roles"].as_array().into_iter().flatten().find(|r| r["role"] == "production_manager").expect("role").clone();
        assert_eq!(pm, json!({"role": "production_manager", "used": 5, "seats": 5}));
        app.check_derived_data();
    }

    async fn a_guest_seat_is_bound_to_its_email_for_good(app: TestApp) {
        let app = TestApp::spawn_with(app.db, |c| {
            let mut guest = production_manager(2);
            guest.name = "guest".into();
            guest.description = String::new();
            guest.seats = Some(2);
            c.roles.push(guest);
        })
        .await;
        let (admin, _) = app.admin().await;
        let guest_seats = |r: &crate::helpers::Reply| r.body["guest_seats"].clone();
        let first = app.post("/api/v1/users", &admin, person("g1", json!({"roles": ["guest"]}))).await.ok(201).id();
        assert_eq!(guest_seats(&app.get("/api/v1/users/count", &admin).await), json!({"used": 1, "limit": 2}));
        // Converting the guest to a user keeps the seat taken.
        app.patch(&format!("/api/v1/users/{first}"), &admin, json!({"roles": ["user"], "confirm": true})).await.ok(200);
        assert_eq!(guest_seats(&app.get("/api/v1/users/count", &admin).await)["used"], 1);
        // The same email made guest again takes no new seat.
        app.patch(&format!("/api/v1/users/{first}"), &admin, json!({"roles": ["guest"], "confirm": true})).await.ok(200);
        assert_eq!(guest_seats(&app.get("/api/v1/users/count", &admin).await)["used"], 1);
        // Deleting it gives nothing back; a new email takes the second seat, a third is refused.
        app.delete(&format!("/api/v1/users/{first}"), &admin).await.ok(204);
        app.post("/api/v1/users", &admin, person("g2", json!({"roles": ["guest"]}))).await.ok(201);
        let third = app.post("/api/v1/users", &admin, person("g3", json!({"roles": ["guest"]}))).await;
        third.problem(409, "seat_limit_reached");
        assert_eq!((third.body["seat"].clone(), third.body["used"].clone()), (json!("guest"), json!(2)));
        // The deleted guest's email comes back as a guest on its old seat.
        app.post("/api/v1/users", &admin, person("g1", json!({"roles": ["guest"]}))).await.ok(201);
        assert_eq!(guest_seats(&app.get("/api/v1/users/count", &admin).await), json!({"used": 2, "limit": 2}));
        app.check_derived_data();
    }
}

both! {
    async fn role_changes_that_move_seats_or_access_are_confirmed_first(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "ana", &["user"]).await;
        let path = format!("/api/v1/users/{id}");
        let ana = app.token_for("ana").await;
        let ask = |roles: serde_json::Value| json!({"roles": roles});
        let confirmed = |roles: serde_json::Value| json!({"roles": roles, "confirm": true});
        let before = app.get(&path, &admin).await.body.clone();

        let to_guest = app.patch(&path, &admin, ask(json!(["guest"]))).await;
        to_guest.problem(409, "confirmation_required");
        assert_eq!(to_guest.body["consequences"], json!(["user_seat_released", "guest_seat_taken", "expires_at_set", "access_reset"]));
        assert_eq!(app.get(&path, &admin).await.body, before, "nothing written");
        app.get("/api/v1/me", &ana).await.ok(200);

        let done = app.patch(&path, &admin, confirmed(json!(["guest"]))).await;
        done.ok(200);
        assert_eq!(done.body["roles"], json!(["guest"]));
        assert!(done.body["expires_at"].is_string(), "guest_days from settings");
        app.get("/api/v1/me", &ana).await.problem(401, "unauthenticated");

        let back = app.patch(&path, &admin, ask(json!(["user"]))).await;
        back.problem(409, "confirmation_required");
        assert_eq!(back.body["consequences"], json!(["user_seat_taken", "guest_seat_kept", "access_reset"]));
        app.patch(&path, &admin, confirmed(json!(["user"]))).await.ok(200);
        let again = app.patch(&path, &admin, ask(json!(["guest"]))).await;
        assert_eq!(again.body["consequences"], json!(["user_seat_released", "guest_seat_kept", "access_reset"]));

        let up = app.patch(&path, &admin, ask(json!(["admin", "user"]))).await;
        up.problem(409, "confirmation_required");
        assert_eq!(up.body["consequences"], json!(["admin_permissions_granted"]));
        app.patch(&path, &admin, confirmed(json!(["admin", "user"]))).await.ok(200);
        let down = app.patch(&path, &admin, ask(json!(["user"]))).await;
        assert_eq!(down.body["consequences"], json!(["admin_permissions_removed"]));
        app.patch(&path, &admin, confirmed(json!(["user"]))).await.ok(200);
        // A change that moves nothing needs no confirmation.
        app.patch(&path, &admin, json!({"location": "Porto"})).await.ok(200);
    }
}

both! {
    async fn the_sweep_deactivates_exactly_the_dormant_accounts(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let mut ids = std::collections::BTreeMap::new();
        for n in ["used_long_ago", "used_lately", "activated_long_ago", "created_long_ago", "created_lately", "old_admin", "old_inactive"] {
            let extra = if n == "old_admin" { json!({"roles": ["admin"]}) } else if n == "old_inactive" { json!({"active": false}) } else { json!({}) };
            let body = person(n, extra);
            ids.insert(n, app.post("/api/v1/users", &admin, body).await.ok(201).id());
        }
        let old = "2020-01-01 00:00:00";
        let recent = (chrono::Utc::now() - chrono::Duration::days(3)).format("%Y-%m-%d %H:%M:%S").to_string();
        let set = |n: &str, column: &str, at: &str| execute(app, &format!("UPDATE users SET {column} = '{at}' WHERE id = '{}'", ids[n]));
        set("used_long_ago", "last_active_at", old);
        set("used_long_ago", "activated_at", &recent);
        set("used_lately", "last_active_at", &recent);
        set("used_lately", "created_at", old);
        set("activated_long_ago", "activated_at", old);
        set("created_long_ago", "created_at", old);
        set("old_admin", "created_at", old);
        set("old_inactive", "created_at", old);
        execute(app, &format!("UPDATE users SET created_at = '{old}', last_active_at = '{old}' WHERE id = '{admin_id}'"));

        assert_eq!(app.state.services.sweep_dormant().await.expect("sweep"), 0, "off by default");
        app.patch("/api/v1/settings", &admin, json!({"deactivate_after_days_inactive": 30})).await.ok(200);
        let before = app.get("/api/v1/users/count", &admin).await.body["active_users"]["used"].as_i64().unwrap_or_default();
        assert_eq!(app.state.services.sweep_dormant().await.expect("sweep"), 3);
        for (n, id) in &ids {
            let status = app.get(&format!("/api/v1/users/{id}"), &admin).await.body["status"].clone();
            let dormant = matches!(*n, "used_long_ago" | "activated_long_ago" | "created_long_ago");
            assert_eq!(status == "inactive", dormant || *n == "old_inactive", "{n}: {status}");
        }
        assert_eq!(app.get(&format!("/api/v1/users/{admin_id}"), &admin).await.body["status"], "active", "the primary contact, an admin, is exempt");
        let after = app.get("/api/v1/users/count", &admin).await.body["active_users"]["used"].as_i64().unwrap_or_default();
        assert_eq!(before - after, 3, "their seats are free");
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'user.deactivated' AND actor_username = 'roster' AND details LIKE '%dormant%'"), 3);
        assert_eq!(app.state.services.sweep_dormant().await.expect("sweep"), 0, "nothing left");
    }
}

both! {
    async fn a_limit_set_while_accounts_are_created_counts_every_one(app: TestApp) {
        let (admin, _) = app.admin().await;
        let creates = join_all((0..30).map(|i| app.post("/api/v1/users", &admin, person(&format!("c{i}"), json!({})))));
        let limit = async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 1000})).await
        };
        let (replies, set) = futures_util::future::join(creates, limit).await;
        set.ok(200);
        assert!(replies.iter().all(|r| r.status == 201));
        let counts = app.get("/api/v1/users/count", &admin).await;
        assert_eq!(counts.body["active_users"], json!({"used": 31, "limit": 1000}));
        // The harness then checks the kept count against a recount of the rows.
    }
}

both! {
    async fn a_limit_lowered_below_its_holders_gives_room_only_once_enough_seats_are_back(app: TestApp) {
        let (admin, _) = app.admin().await;
        let mut ids = Vec::new();
        for i in 0..11 {
            ids.push(app.post("/api/v1/users", &admin, person(&format!("h{i}"), json!({}))).await.ok(201).id());
        }
        // 12 hold a seat (the admin too); a limit of 8 leaves them 4 over.
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 8})).await.ok(200);
        app.post("/api/v1/users", &admin, person("early", json!({}))).await.problem(409, "seat_limit_reached");
        // Six seats come back while twenty creates race them: at most the two that become free
        // can be taken, whatever the order.
        let paths: Vec<String> = ids[..6].iter().map(|id| format!("/api/v1/users/{id}")).collect();
        let off = join_all(paths.iter().map(|path| app.patch(path, &admin, json!({"active": false}))));
        let creates = join_all((0..20).map(|i| app.post("/api/v1/users", &admin, person(&format!("late{i}"), json!({})))));
        let (off, creates) = futures_util::future::join(off, creates).await;
        assert!(off.iter().all(|r| r.status == 200));
        let created = creates.iter().filter(|r| r.status == 201).count();
        assert!(created <= 2, "{created} creates passed a limit in debt");
        for r in creates.iter().filter(|r| r.status != 201) {
            r.problem(409, "seat_limit_reached");
        }
        let mut more = 0;
        while app.post("/api/v1/users", &admin, person(&format!("after{more}"), json!({}))).await.status == 201 {
            more += 1;
        }
        assert_eq!(created + more, 2, "exactly the two free seats, in the race or after it");
        assert_eq!(app.get("/api/v1/users/count", &admin).await.body["active_users"], json!({"used": 8, "limit": 8}));
        // Raised again: the room is spread over the shards and taken by creates at once.
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 48})).await.ok(200);
        // A 503 (the machine too loaded to answer within the deadline) is retried, as a client
        // would. Its write may still have committed after the deadline (the README says so): a
        // retry then answers `username_taken`, and that account took its seat. The count that
        // matters is the seats taken.
        let create = |i: usize| {
            let admin = admin.clone();
            async move {
                let mut timed_out = false;
                loop {
                    let reply = app.post("/api/v1/users", &admin, person(&format!("wide{i}"), json!({}))).await;
                    if reply.status != 503 {
                        let written_before = timed_out && reply.status == 409 && reply.body["code"] == "username_taken";
                        return (reply, written_before);
                    }
                    timed_out = true;
                }
            }
        };
        let replies = join_all((0..45).map(create)).await;
        let taken = replies.iter().filter(|(r, written_before)| r.status == 201 || *written_before).count();
        let refused: Vec<String> = replies
            .iter()
            .filter(|(r, written_before)| r.status != 201 && !written_before)
            .map(|(r, _)| r.body["code"].to_string())
            .collect();
        assert_eq!(taken, 40, "exactly the forty seats; refused: {refused:?}");
        assert!(refused.iter().all(|code| code == "\"seat_limit_reached\""), "{refused:?}");
        assert_eq!(app.get("/api/v1/users/count", &admin).await.body["active_users"], json!({"used": 48, "limit": 48}));
    }
}

both! {
    async fn creates_racing_for_two_limited_seats_at_once_take_exactly_the_room_of_the_scarcer(app: TestApp) {
        let app = TestApp::spawn_with(app.db, |c| c.roles.push(production_manager(4))).await;
        let (admin, _) = app.admin().await;
        for i in 0..3 {
            app.post("/api/v1/users", &admin, person(&format!("u{i}"), json!({}))).await.ok(201);
        }
        // Four active accounts; room for three more active users and four production managers.
        app.patch("/api/v1/settings", &admin, json!({"active_user_limit": 7})).await.ok(200);
        let replies = join_all((0..30).map(|i| {
            app.post("/api/v1/users", &admin, person(&format!("pm{i}"), json!({"roles": ["production_manager"]})))
        }))
        .await;
        let answers: Vec<String> = replies.iter().map(|r| format!("{} {}", r.status.as_u16(), r.body["code"].as_str().unwrap_or_default())).collect();
        assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 3, "the three active-user seats left: {answers:?}");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.problem(409, "seat_limit_reached");
        }
        let counts = app.get("/api/v1/users/count", &admin).await;
        assert_eq!(counts.body["active_users"], json!({"used": 7, "limit": 7}));
        let pm = counts.body["roles"].as_array().into_iter().flatten().find(|r| r["role"] == "production_manager").expect("role").clone();
        assert_eq!(pm, json!({"role": "production_manager", "used": 3, "seats": 4}));
    }
}

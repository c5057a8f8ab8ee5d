use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::helpers::PASSWORD;

both! {
    async fn an_account_is_created_read_listed_changed_and_deleted(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let body = json!({"email": " Ana.Lima@Example.org ", "first_name": " Ana ", "last_name": "Lima", "location": "Porto", "locale": "pt-br"});
        let created = app.post("/api/v1/users", &admin, body).await;
        created.ok(201);
        assert_eq!(created.body["email"], "Ana.Lima@example.org", "trimmed, the domain lower-cased");
        assert_eq!(created.body["username"], "Ana.Lima@example.org", "username defaults to the email");
        assert_eq!(created.body["first_name"], "Ana");
        assert_eq!(created.body["locale"], "pt-BR");
        assert_eq!(created.body["roles"], json!(["user"]), "the default role");
        assert_eq!(created.body["status"], "invited", "no password yet");
        assert_eq!(created.body["created_by"], admin_id.as_str());
        assert!(created.body.get("password_hash").is_none());
        let id = created.id();

        let got = app.get(&format!("/api/v1/users/{id}"), &admin).await;
        got.ok(200);
        assert_eq!(got.etag(), "\"1\"");
        // The create's answer is the account, and (no password) the link that activates it.
        let mut account = created.body.clone();
        let link = account.as_object_mut().and_then(|o| o.remove("activation_url"));
        assert!(link.is_some_and(|l| l.as_str().is_some_and(|l| l.contains("/activation#token=rot_"))));
        assert_eq!(got.body, account);

        let list = app.get("/api/v1/users", &admin).await;
        assert_eq!(list.body["items"].as_array().expect("items").len(), 2);
        assert_eq!(list.body["next_cursor"], json!(null));

        let changed = app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"last_name": "Lima Souza", "location": null, "mfa_required": true})).await;
        changed.ok(200);
        assert_eq!(changed.body["last_name"], "Lima Souza");
        assert_eq!(changed.body["location"], json!(null));
        assert_eq!(changed.body["mfa_required"], true);
        assert_eq!(changed.body["version"], 2);
        assert_eq!(changed.etag(), "\"2\"");

        app.delete(&format!("/api/v1/users/{id}"), &admin).await.ok(204);
        app.get(&format!("/api/v1/users/{id}"), &admin).await.problem(404, "user_not_found");
        app.delete(&format!("/api/v1/users/{id}"), &admin).await.problem(404, "user_not_found");
    }

    async fn usernames_and_emails_are_unique_in_any_case(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.user(&admin, "ana", &["user"]).await;
        let dup_name = json!({"username": "ANA", "email": "other@example.org", "first_name": "A", "last_name": "B"});
        app.post("/api/v1/users", &admin, dup_name).await.problem(409, "username_taken");
        let dup_email = json!({"username": "other", "email": "ANA@EXAMPLE.ORG", "first_name": "A", "last_name": "B"});
        app.post("/api/v1/users", &admin, dup_email).await.problem(409, "email_taken");
        let bob = app.user(&admin, "bob", &["user"]).await;
        app.patch(&format!("/api/v1/users/{bob}"), &admin, json!({"email": "Ana@example.org"})).await.problem(409, "email_taken");
        let list = app.get("/api/v1/users", &admin).await;
        assert_eq!(list.body["items"].as_array().expect("items").len(), 3, "nothing extra was written");
    }

    async fn racing_creates_of_one_email_give_one_account(app: TestApp) {
        let (admin, _) = app.admin().await;
        let attempts = (0..8).map(|i| {
            let body = json!({"username": format!("racer{i}"), "email": format!("{}@EXAMPLE.org", if i % 2 == 0 { "Racer" } else { "racer" }), "first_name": "R", "last_name": "R"});
            app.post("/api/v1/users", &admin, body)
        });
        let replies = join_all(attempts).await;
        assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1, "{replies:?}");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.problem(409, "email_taken");
        }
        let attempts = (0..8).map(|i| {
            let body = json!({"username": if i % 2 == 0 { "Same" } else { "same" }, "email": format!("same{i}@example.org"), "first_name": "S", "last_name": "S"});
            app.post("/api/v1/users", &admin, body)
        });
        let replies = join_all(attempts).await;
        assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1, "{replies:?}");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.problem(409, "username_taken");
        }
    }

    async fn the_username_is_immutable(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "ana", &["user"]).await;
        let path = format!("/api/v1/users/{id}");
        let version = app.get(&path, &admin).await.body["version"].clone();
        app.patch(&path, &admin, json!({"username": "ana2"})).await.problem(422, "username_immutable");
        app.patch(&path, &admin, json!({"username": "ANA"})).await.problem(422, "username_immutable");
        let same = app.patch(&path, &admin, json!({"username": "ana"})).await;
        same.ok(200);
        assert_eq!(same.body["version"], version, "sending the same value changes nothing");
    }

    async fn fields_are_validated_with_every_error_listed(app: TestApp) {
        let (admin, _) = app.admin().await;
        let local = "a".repeat(64);
        let long_email = format!("{local}@{}.example.org", "b".repeat(63) + "." + &"c".repeat(63) + "." + &"d".repeat(60));
        assert!(long_email.len() > 254);
        let body = json!({"username": "bad name", "email": long_email, "first_name": "x".repeat(76), "last_name": "ok\u{7}", "locale": "english", "roles": ["wizard"]});
        let r = app.post("/api/v1/users", &admin, body).await;
        r.problem(422, "validation_failed");
        let fields: Vec<&str> = r.body["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().unwrap_or_default()).collect();
        for f in ["username", "email", "first_name", "last_name", "locale", "roles"] {
            assert!(fields.contains(&f), "{f} missing in {fields:?}");
        }
        let ok = json!({"username": "u", "email": "ok@example.org", "first_name": "é".repeat(75), "last_name": "  Ñ  "});
        let created = app.post("/api/v1/users", &admin, ok).await;
        created.ok(201);
        assert_eq!(created.body["last_name"], "Ñ");
        let id = created.id();
        let r = app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"first_name": "", "email": "nope"})).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.body["errors"].as_array().expect("errors").len(), 2);
        let r = app.post("/api/v1/users", &admin, json!({"email": "g@example.org", "first_name": "G", "last_name": "G", "roles": ["guest", "user"]})).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["code"], "exclusive_role");
        let guest = app.post("/api/v1/users", &admin, json!({"email": "g@example.org", "first_name": "G", "last_name": "G", "roles": ["guest"]})).await;
        guest.ok(201);
        assert!(guest.body["expires_at"].is_string(), "a guest is time-limited");
    }

    async fn nobody_edits_their_own_roles(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let path = format!("/api/v1/users/{admin_id}");
        app.patch(&path, &admin, json!({"roles": ["admin", "user_manager"]})).await.problem(403, "own_roles");
        app.patch(&path, &admin, json!({"roles": ["admin"]})).await.ok(200);
        let mgr = app.user(&admin, "mgr", &["user_manager"]).await;
        let mgr_token = app.token_for("mgr").await;
        app.patch(&format!("/api/v1/users/{mgr}"), &mgr_token, json!({"roles": ["user_manager", "user"]})).await.problem(403, "own_roles");
        let ana = app.user(&admin, "ana", &["user"]).await;
        app.patch(&format!("/api/v1/users/{ana}"), &mgr_token, json!({"roles": ["admin"]})).await.problem(403, "admin_role_required");
        app.patch(&format!("/api/v1/users/{ana}"), &mgr_token, json!({"email": "new@example.org"})).await.problem(403, "email_change_requires_admin");
        let r = app.post("/api/v1/users", &mgr_token, json!({"email": "x@example.org", "first_name": "X", "last_name": "X", "roles": ["admin"]})).await;
        r.problem(403, "admin_role_required");
        app.patch(&format!("/api/v1/users/{ana}"), &mgr_token, json!({"roles": ["user_manager"]})).await.ok(200);
        let plain = app.token_for("ana").await;
        app.get(&format!("/api/v1/users/{ana}"), &plain).await.ok(200);
        let user_token = {
            app.user(&admin, "plain", &["user"]).await;
            app.token_for("plain").await
        };
        app.get(&format!("/api/v1/users/{ana}"), &user_token).await.problem(403, "forbidden");
        app.get("/api/v1/users", &user_token).await.problem(403, "forbidden");
    }

    async fn the_last_active_admin_is_protected(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        app.patch(&format!("/api/v1/users/{admin_id}"), &admin, json!({"active": false})).await.problem(409, "last_admin");
        app.user(&admin, "mgr", &["user_manager"]).await;
        let mgr = app.token_for("mgr").await;
        let other = app.user(&admin, "other", &["user"]).await;
        app.patch("/api/v1/settings", &admin, json!({"primary_contact": other})).await.ok(200);
        app.patch(&format!("/api/v1/users/{admin_id}"), &mgr, json!({"active": false})).await.problem(409, "last_admin");
        app.delete(&format!("/api/v1/users/{admin_id}"), &mgr).await.problem(409, "last_admin");
        let still = app.get(&format!("/api/v1/users/{admin_id}"), &admin).await;
        assert_eq!(still.body["active"], true);

        // With two admins, each may be demoted, but not both at once, even concurrently.
        let second = app.user(&admin, "second", &["admin"]).await;
        let second_token = app.token_for("second").await;
        let (second_path, first_path) = (format!("/api/v1/users/{second}"), format!("/api/v1/users/{admin_id}"));
        let (a, b) = tokio::join!(
            app.patch(&second_path, &admin, json!({"active": false})),
            app.patch(&first_path, &second_token, json!({"active": false})),
        );
        let ok = [&a, &b].iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "exactly one demotion wins: {a:?} {b:?}");
        let loser = if a.status == 200 { &b } else { &a };
        assert!(loser.status == 409 || loser.status == 401, "{loser:?}");
        let root = app.token_for(if a.status == 200 { "admin" } else { "second" }).await;
        let admins = app.get("/api/v1/users?role=admin&status=active", &root).await;
        assert_eq!(admins.body["items"].as_array().expect("items").len(), 1);
    }

    async fn deleting_keeps_history_by_deactivating_authors(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let author = app.user(&admin, "author", &["user_manager"]).await;
        let author_token = app.token_for("author").await;
        let fresh = app.user(&admin, "fresh", &["user"]).await;
        app.token_for("fresh").await;
        app.post("/api/v1/users", &author_token, json!({"email": "made@example.org", "first_name": "M", "last_name": "M"})).await.ok(201);

        let r = app.delete(&format!("/api/v1/users/{author}"), &admin).await;
        r.ok(200);
        assert_eq!(r.body, json!({"outcome": "deactivated", "reason": "has_authored_changes"}));
        let got = app.get(&format!("/api/v1/users/{author}"), &admin).await;
        assert_eq!(got.body["status"], "inactive");
        assert_eq!(app.get("/api/v1/users", &author_token).await.status, 401);

        app.delete(&format!("/api/v1/users/{fresh}"), &admin).await.ok(204);
        app.get(&format!("/api/v1/users/{fresh}"), &admin).await.problem(404, "user_not_found");
        app.login("fresh", PASSWORD).await.problem(401, "invalid_credentials");

        app.delete(&format!("/api/v1/users/{admin_id}"), &admin).await.problem(409, "self_delete");
        let second = app.user(&admin, "second", &["admin"]).await;
        let second_token = app.token_for("second").await;
        app.delete(&format!("/api/v1/users/{admin_id}"), &second_token).await.problem(409, "primary_contact");
        app.patch("/api/v1/settings", &admin, json!({"primary_contact": second})).await.ok(200);
        app.delete(&format!("/api/v1/users/{admin_id}"), &second_token).await.ok(200);
    }

    async fn a_stale_if_match_is_refused(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "ana", &["user"]).await;
        let path = format!("/api/v1/users/{id}");
        let first = app.get(&path, &admin).await;
        let etag = first.etag();
        let r = app.call(Method::PATCH, &path, Some(&admin), Some(json!({"location": "Porto"})), &[("if-match", &etag)]).await;
        r.ok(200);
        assert_ne!(r.etag(), etag, "a change is a new version");
        let stale = app.call(Method::PATCH, &path, Some(&admin), Some(json!({"location": "Lyon"})), &[("if-match", &etag)]).await;
        stale.problem(412, "precondition_failed");
        let bad = app.call(Method::PATCH, &path, Some(&admin), Some(json!({"location": "Lyon"})), &[("if-match", "yesterday")]).await;
        bad.problem(400, "invalid_if_match");
        assert_eq!(app.get(&path, &admin).await.body["location"], "Porto", "nothing was written");
    }

    async fn an_expired_account_is_refused_on_the_next_request(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "temp", &["user_manager"]).await;
        let access = app.token_for("temp").await;
        let api_token = app.api_token(&access).await;
        let path = format!("/api/v1/users/{id}");
        for token in [&api_token, &access] {
            app.get(&path, token).await.ok(200);
            app.get("/api/v1/users", token).await.ok(200);
        }
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
        app.patch(&path, &admin, json!({"expires_at": soon})).await.ok(200);
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        // Both credentials, on the one-statement read and on a route that reads the caller first.
        for token in [&api_token, &access] {
            app.get(&path, token).await.problem(401, "unauthenticated");
            app.get("/api/v1/users", token).await.problem(401, "unauthenticated");
        }
        app.patch(&path, &admin, json!({"expires_at": null})).await.ok(200);
        for token in [&api_token, &access] {
            app.get(&path, token).await.ok(200);
        }
    }

    async fn deactivation_and_role_removal_apply_on_the_next_request(app: TestApp) {
        let (admin, _) = app.admin().await;
        let id = app.user(&admin, "mgr", &["user_manager"]).await;
        let access = app.token_for("mgr").await;
        let api_token = app.api_token(&access).await;
        app.get("/api/v1/users", &api_token).await.ok(200);
        app.get("/api/v1/users", &access).await.ok(200);

        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"roles": ["user"]})).await.ok(200);
        app.get("/api/v1/users", &api_token).await.problem(403, "forbidden");
        app.get("/api/v1/users", &access).await.problem(403, "forbidden");

        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"active": false})).await.ok(200);
        app.get(&format!("/api/v1/users/{id}"), &api_token).await.problem(401, "unauthenticated");
        app.get(&format!("/api/v1/users/{id}"), &access).await.problem(401, "unauthenticated");
        app.get("/api/v1/roles", &access).await.problem(401, "unauthenticated");

        app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"active": true})).await.ok(200);
        app.get(&format!("/api/v1/users/{id}"), &api_token).await.problem(401, "unauthenticated");
        // The deactivation ended the session: its access token stays dead after reactivation.
        app.get(&format!("/api/v1/users/{id}"), &access).await.problem(401, "unauthenticated");
        app.login("mgr", PASSWORD).await.ok(200);
    }
}

both! {
    async fn names_and_emails_a_person_would_confuse_collide(app: TestApp) {
        let (admin, _) = app.admin().await;
        // Cyrillic а, fullwidth, mathematical bold, the roman numeral ⅰ, a dotted capital İ.
        for (i, twin) in ["аdmin", "ａｄｍｉｎ", "𝐚𝐝𝐦𝐢𝐧", "admⅰn", "ADMİN"].iter().enumerate() {
            let body = json!({"username": twin, "email": format!("twin{i}@example.org"), "first_name": "T", "last_name": "T"});
            app.post("/api/v1/users", &admin, body).await.problem(409, "username_taken");
        }
        let nfc = json!({"username": "rene1", "email": "ren\u{e9}@example.com", "first_name": "R", "last_name": "R"});
        let created = app.post("/api/v1/users", &admin, nfc).await;
        created.ok(201);
        assert_eq!(created.body["email"], "ren\u{e9}@example.com");
        for (i, spelling) in ["rene\u{301}@example.com", "RENÉ@EXAMPLE.COM", "rené@ＥＸＡＭＰＬＥ.com"].iter().enumerate() {
            let body = json!({"username": format!("rene{}", i + 2), "email": spelling, "first_name": "R", "last_name": "R"});
            app.post("/api/v1/users", &admin, body).await.problem(409, "email_taken");
        }
        // An internationalised domain, in Unicode or in its ASCII (punycode) form, is one domain.
        let idn = app.post("/api/v1/users", &admin, json!({"username": "ana.b", "email": "ana@BÜCHER.de", "first_name": "A", "last_name": "B"})).await;
        idn.ok(201);
        assert_eq!(idn.body["email"], "ana@bücher.de");
        app.post("/api/v1/users", &admin, json!({"username": "ana.c", "email": "ana@xn--bcher-kva.de", "first_name": "A", "last_name": "C"})).await.problem(409, "email_taken");
        // Sign-in folds the same way.
        app.login("ＡＤＭＩＮ", crate::helpers::PASSWORD).await.ok(200);
        let list = app.get("/api/v1/users?limit=200", &admin).await;
        assert_eq!(list.body["items"].as_array().expect("items").len(), 3, "no look-alike was written");
    }

    async fn racing_look_alike_usernames_give_one_account(app: TestApp) {
        let (admin, _) = app.admin().await;
        let spellings = ["paypal", "pаypal", "ＰＡＹＰＡＬ", "𝐩𝐚𝐲𝐩𝐚𝐥", "pаураl", "PAYPAL"];
        let replies = futures_util::future::join_all(spellings.iter().enumerate().map(|(i, name)| {
            let body = json!({"username": name, "email": format!("p{i}@example.org"), "first_name": "P", "last_name": "P"});
            app.post("/api/v1/users", &admin, body)
        }))
        .await;
        assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1, "{replies:?}");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.problem(409, "username_taken");
        }
    }
}

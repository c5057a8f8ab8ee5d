use std::collections::HashSet;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::{
    database::{lines, prefixes_backfill, roles_backfill, PrefixLine, RolesLine},
    helpers::TestApp,
};

/// Follows `next_cursor` from `first` to the end; returns every id in order.
async fn walk(app: &TestApp, token: &str, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut path = first.to_owned();
    loop {
        let page = app.get(&path, token).await;
        page.ok(200);
        ids.extend(
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|u| u["id"].as_str().expect("id").to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("{first}&cursor={c}"),
            None => return ids,
        }
    }
}

async fn create_many(
    app: &TestApp,
    token: &str,
    names: impl Iterator<Item = (String, String, String)>,
) -> Vec<String> {
    let mut ids = Vec::new();
    let names: Vec<_> = names.collect();
    for chunk in names.chunks(16) {
        let replies = join_all(chunk.iter().map(|(username, first, last)| {
            app.post("/api/v1/users", token, json!({"username": username, "email": format!("{username}@example.org"), "first_name": first, "last_name": last}))
        }))
        .await;
        ids.extend(replies.iter().map(|r| r.ok(201).id()));
    }
    ids
}

both! {
    async fn paging_returns_every_account_once_while_accounts_are_added(app: TestApp) {
        let (admin, admin_id) = app.admin().await;
        let mut before = create_many(app, &admin, (0..90).map(|i| (format!("user{i:03}"), "Pat".into(), format!("Last{}", i % 7)))).await;
        before.push(admin_id);
        for sort in ["username", "-username", "email", "last_name", "-last_name", "created_at", "-created_at"] {
            let first = format!("/api/v1/users?limit=7&sort={sort}");
            let adding = create_many(app, &admin, (0..12).map(|i| (format!("{sort}-late{i}").replace('-', "x"), "Late".into(), "Adder".into())));
            let (seen, _) = tokio::join!(walk(app, &admin, &first), adding);
            let unique: HashSet<&String> = seen.iter().collect();
            assert_eq!(unique.len(), seen.len(), "{sort}: an account appeared twice");
            for id in &before {
                assert!(unique.contains(id), "{sort}: {id} was skipped");
            }
        }
        let everyone = walk(app, &admin, "/api/v1/users?limit=200&sort=created_at").await;
        let sorted_by_name = walk(app, &admin, "/api/v1/users?limit=13&sort=last_name").await;
        assert_eq!(everyone.len(), sorted_by_name.len());
    }

    async fn lists_sort_and_filter(app: TestApp) {
        let (admin, _) = app.admin().await;
        create_many(app, &admin, ["carla", "bruno", "alice"].iter().map(|n| (n.to_string(), "F".into(), n.to_uppercase()))).await;
        let page = app.get("/api/v1/users?sort=-username&limit=2", &admin).await;
        let names: Vec<&str> = page.body["items"].as_array().expect("items").iter().map(|u| u["username"].as_str().unwrap_or_default()).collect();
        assert_eq!(names, ["carla", "bruno"]);
        let invited = app.get("/api/v1/users?status=invited", &admin).await;
        assert_eq!(invited.body["items"].as_array().expect("items").len(), 3);
        let active = app.get("/api/v1/users?status=active", &admin).await;
        assert_eq!(active.body["items"].as_array().expect("items").len(), 1);
        let admins = app.get("/api/v1/users?role=admin", &admin).await;
        assert_eq!(admins.body["items"][0]["username"], "admin");
        assert_eq!(admins.body["items"][0]["roles"], json!(["admin"]));
        app.user(&admin, "multi", &["user_manager", "user"]).await;
        for q in ["mu", "multi"] {
            let page = app.get(&format!("/api/v1/users?q={q}"), &admin).await;
            assert_eq!(page.body["items"][0]["roles"], json!(["user", "user_manager"]), "every role of a listed account, sorted");
        }
        app.post("/api/v1/users", &admin, json!({"username": "norole", "email": "norole@example.org", "first_name": "N", "last_name": "R", "roles": []})).await.ok(201);
        let page = app.get("/api/v1/users?q=no", &admin).await;
        assert_eq!(page.body["items"][0]["roles"], json!([]), "an account without roles");
        app.get("/api/v1/users?limit=0", &admin).await.problem(400, "invalid_query");
        app.get("/api/v1/users?limit=201", &admin).await.problem(400, "invalid_query");
        app.get("/api/v1/users?sort=password", &admin).await.problem(400, "invalid_query");
        app.get("/api/v1/users?status=sleepy", &admin).await.problem(400, "invalid_query");
        app.get("/api/v1/users?cursor=not-a-cursor", &admin).await.problem(400, "invalid_cursor");
        let page = app.get("/api/v1/users?limit=1&sort=email", &admin).await;
        let cursor = page.body["next_cursor"].as_str().expect("more pages");
        app.get(&format!("/api/v1/users?limit=1&sort=username&cursor={cursor}"), &admin).await.problem(400, "invalid_cursor");
    }

    async fn q_matches_a_prefix_of_any_name_case_insensitively(app: TestApp) {
        let (admin, _) = app.admin().await;
        let people = [("ana.lima", "Ana", "Lima"), ("zed", "Anastasia", "Ortiz"), ("kim", "Kim", "Anand"), ("banana", "Bob", "Nana"), ("x", "Élodie", "Été")];
        create_many(app, &admin, people.iter().map(|(u, f, l)| (u.to_string(), f.to_string(), l.to_string()))).await;
        let found = |body: &Value| -> HashSet<String> {
            body["items"].as_array().expect("items").iter().map(|u| u["username"].as_str().unwrap_or_default().to_owned()).collect()
        };
        let r = app.get("/api/v1/users?q=ANA", &admin).await;
        assert_eq!(found(&r.body), HashSet::from(["ana.lima".into(), "zed".into(), "kim".into()]));
        let r = app.get("/api/v1/users?q=%C3%A9lo", &admin).await;
        assert_eq!(found(&r.body), HashSet::from(["x".into()]), "non-ASCII folds too");
        let r = app.get("/api/v1/users?q=banana%40EXAMPLE", &admin).await;
        assert_eq!(found(&r.body), HashSet::from(["banana".into()]), "email prefix");
        let r = app.get("/api/v1/users?q=an&limit=2", &admin).await;
        let mut all = found(&r.body);
        let cursor = r.body["next_cursor"].as_str().expect("second page");
        let r2 = app.get(&format!("/api/v1/users?q=an&limit=2&cursor={cursor}"), &admin).await;
        all.extend(found(&r2.body));
        assert_eq!(all.len(), 3);
    }

    async fn seeded_accounts_arrive_validated_audited_and_searchable(app: TestApp) {
        let (admin, _) = app.admin().await;
        let config = app.config.clone();
        tokio::task::spawn_blocking(move || api::seed::run(&config, 250, 0, 100)).await.expect("joined").expect("seeded");
        let everyone = walk(app, &admin, "/api/v1/users?limit=200").await;
        assert_eq!(everyone.len(), 251);
        let r = app.get("/api/v1/users?q=ANA.LIMA", &admin).await;
        let names: Vec<&str> = r.body["items"].as_array().expect("items").iter().map(|u| u["username"].as_str().unwrap_or_default()).collect();
        assert_eq!(names, ["ana.lima0"]);
        assert_eq!(r.body["items"][0]["origin"], "seed");
        assert_eq!(r.body["items"][0]["status"], "invited");
        let config = app.config.clone();
        let again = tokio::task::spawn_blocking(move || api::seed::run(&config, 10, 0, 10)).await.expect("joined");
        assert!(again.expect_err("duplicates are refused").contains("batch at 0"));
        assert_eq!(walk(app, &admin, "/api/v1/users?limit=200").await.len(), 251, "a failed batch writes nothing");
    }

    async fn a_common_prefix_pages_completely_and_in_order(app: TestApp) {
        // 64,032 seeded accounts: every 32nd is ana.*, so `q=ana` matches 2,001 of them: pages of a
        // large match set, in order, each exactly once.
        let (admin, _) = app.admin().await;
        let config = app.config.clone();
        tokio::task::spawn_blocking(move || api::seed::run(&config, 64_032, 0, 8_004)).await.expect("joined").expect("seeded");
        // `AN` (two characters) is answered from `user_prefixes`, `ANA` through the key indexes.
        for (q, sort) in [("ANA", "username"), ("ANA", "-last_name"), ("AN", "username"), ("AN", "-username")] {
            let mut names = Vec::new();
            let mut path = format!("/api/v1/users?q={q}&limit=200&sort={sort}");
            loop {
                let page = app.get(&path, &admin).await;
                page.ok(200);
                names.extend(page.body["items"].as_array().expect("items").iter().map(|u| u["username"].as_str().unwrap_or_default().to_owned()));
                match page.body["next_cursor"].as_str() {
                    Some(c) => path = format!("/api/v1/users?q={q}&limit=200&sort={sort}&cursor={c}"),
                    None => break,
                }
            }
            let unique: HashSet<&String> = names.iter().collect();
            assert_eq!((names.len(), unique.len()), (2001, 2001), "{q} {sort}");
            assert!(names.iter().all(|n| n.starts_with("ana.")), "{q} {sort}");
            match sort {
                "username" => assert!(names.windows(2).all(|w| w[0] < w[1]), "in username order"),
                "-username" => assert!(names.windows(2).all(|w| w[0] > w[1]), "in reverse username order"),
                _ => {}
            }
        }
    }
}

both! {
    async fn short_prefixes_follow_every_write(app: TestApp) {
        let (admin, _) = app.admin().await;
        let people = [("ana.lima", "Ana", "Lima"), ("zed", "Élodie", "Ørsted"), ("kim", "K", "Anand"), ("x", "Ünal", "Ñúñez")];
        let ids = create_many(app, &admin, people.iter().map(|(u, f, l)| (u.to_string(), f.to_string(), l.to_string()))).await;
        let found = |body: &Value| -> Vec<String> {
            body["items"].as_array().expect("items").iter().map(|u| u["username"].as_str().unwrap_or_default().to_owned()).collect()
        };
        let search = |q: &str| {
            let path = format!("/api/v1/users?q={q}");
            let admin = admin.clone();
            let app = &app;
            async move { app.get(&path, &admin).await }
        };
        assert_eq!(found(&search("AN").await.body), ["ana.lima", "kim"]);
        assert_eq!(found(&search("%C3%B8").await.body), ["zed"], "Ø folds to ø");
        assert_eq!(found(&search("%C3%BC").await.body), ["x"]);
        assert_eq!(found(&search("AN&sort=-username").await.body), ["kim", "ana.lima"]);

        // A renamed account moves between prefixes; the email change needs an admin (it is one).
        let kim = format!("/api/v1/users/{}", ids[2]);
        app.patch(&kim, &admin, json!({"last_name": "Berg", "first_name": "Kim", "email": "an@example.org"})).await.ok(200);
        assert_eq!(found(&search("an").await.body), ["ana.lima", "kim"], "still an: by email now");
        assert_eq!(found(&search("be").await.body), ["kim"]);
        app.patch(&kim, &admin, json!({"email": "kim@example.org"})).await.ok(200);
        assert_eq!(found(&search("an").await.body), ["ana.lima"]);
        app.delete(&format!("/api/v1/users/{}", ids[0]), &admin).await.ok(204);
        assert!(found(&search("an").await.body).is_empty());
        assert!(found(&search("a").await.body).contains(&"admin".to_owned()));

        // What Roster maintained equals what the migration computes from the accounts.
        let maintained: Vec<PrefixLine> = lines(app, "SELECT prefix AS p, username_key FROM user_prefixes");
        let computed: Vec<PrefixLine> = lines(app, &prefixes_backfill(app));
        assert_eq!(maintained, computed);
        assert!(maintained.iter().any(|l| l.p == "ñú" && l.username_key == "x"));
    }
}

both! {
    async fn the_roles_column_follows_every_write(app: TestApp) {
        let (admin, _) = app.admin().await;
        let ana = app.user(&admin, "ana", &["user_manager", "user"]).await;
        let bo = app.user(&admin, "bo", &["guest"]).await;
        app.post("/api/v1/users", &admin, json!({"username": "cy", "email": "cy@example.org", "first_name": "Cy", "last_name": "Default"})).await.ok(201);
        app.patch(&format!("/api/v1/users/{bo}"), &admin, json!({"roles": ["user", "admin"], "confirm": true})).await.ok(200);
        app.patch(&format!("/api/v1/users/{ana}"), &admin, json!({"first_name": "Ana"})).await.ok(200);
        let read = app.get(&format!("/api/v1/users/{bo}"), &admin).await;
        assert_eq!(read.body["roles"], json!(["admin", "user"]));

        // What Roster wrote equals what the migration computes from `user_roles`.
        let written: Vec<RolesLine> = lines(app, "SELECT username, roles FROM users");
        let from_user_roles: Vec<RolesLine> = lines(app, &format!("SELECT username, {} AS roles FROM users", roles_backfill(app)));
        assert_eq!(written, from_user_roles);
        let of = |name: &str| written.iter().find(|l| l.username == name).map(|l| l.roles.clone());
        assert_eq!(of("ana").as_deref(), Some("user,user_manager"));
        assert_eq!(of("bo").as_deref(), Some("admin,user"));
        assert_eq!(of("cy").as_deref(), Some("user"), "the default role");
    }
}

both! {
    async fn every_sort_order_holds_across_page_boundaries_with_ties(app: TestApp) {
        use domain::values::{Email, PersonName, Username};
        let (admin, _) = app.admin().await;
        // Usernames, emails and creation in three different orders; three last names shared by ten
        // accounts each, in different cases (ties, broken by id).
        let bodies: Vec<Value> = (0..30)
            .map(|i| {
                let last = ["Berg", "BERG", "Lima"][i % 3];
                json!({"username": format!("u{:02}", (i * 7) % 30), "email": format!("m{:02}@example.org", 29 - i), "first_name": "T", "last_name": last})
            })
            .collect();
        for chunk in bodies.chunks(10) {
            for r in join_all(chunk.iter().map(|b| app.post("/api/v1/users", &admin, b.clone()))).await {
                r.ok(201);
            }
        }
        let everyone = app.get("/api/v1/users?limit=200", &admin).await;
        let accounts: Vec<&Value> = everyone.body["items"].as_array().expect("items").iter().collect();
        assert_eq!(accounts.len(), 31);
        let text = |a: &Value, f: &str| a[f].as_str().expect("a string").to_owned();
        for field in ["username", "email", "last_name", "created_at"] {
            let key = |a: &Value| match field {
                "username" => Username::from_trusted(text(a, "username")).key(),
                "email" => Email::from_trusted(text(a, "email")).key(),
                "last_name" => PersonName::from_trusted(text(a, "last_name")).key(),
                _ => String::new(),
            };
            let mut expected: Vec<(String, String)> = accounts.iter().map(|a| (key(a), text(a, "id"))).collect();
            expected.sort();
            for descending in [false, true] {
                let sort = if descending { format!("-{field}") } else { field.to_owned() };
                let want: Vec<String> = if descending {
                    expected.iter().rev().map(|(_, id)| id.clone()).collect()
                } else {
                    expected.iter().map(|(_, id)| id.clone()).collect()
                };
                let got = walk(app, &admin, &format!("/api/v1/users?limit=7&sort={sort}")).await;
                assert_eq!(got, want, "sort={sort}, 7 to a page");
            }
        }
    }
}

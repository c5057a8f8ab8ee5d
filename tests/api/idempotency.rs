//! `Idempotency-Key` on POST (SPEC §10): a retry with the same key and request replays the first
//! response and does nothing again; the same key with another request is refused; a retry while
//! the first still runs is refused; another caller's identical key is another key; a response a
//! retry may change (401) is not kept; keys expire after 24 hours.

use serde_json::{json, Value};

use crate::{
    database::{count, execute},
    helpers::{Reply, TestApp},
};

const KEY: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";

async fn keyed(app: &TestApp, path: &str, token: Option<&str>, key: &str, body: Value) -> Reply {
    app.call(
        reqwest::Method::POST,
        path,
        token,
        Some(body),
        &[(KEY, key)],
    )
    .await
}

fn replayed(reply: &Reply) -> bool {
    reply.headers.get(REPLAYED).and_then(|v| v.to_str().ok()) == Some("true")
}

fn ana() -> Value {
    json!({"username": "ana", "email": "ana@example.org", "first_name": "Ana", "last_name": "Lima", "roles": ["user"]})
}

both! {
    async fn a_retry_with_the_same_key_replays_the_first_response_and_does_nothing_again(app: TestApp) {
        let (admin, _) = app.admin().await;
        let first = keyed(app, "/api/v1/users", Some(&admin), "create-ana-1", ana()).await;
        first.ok(201);
        assert!(!replayed(&first));
        let again = keyed(app, "/api/v1/users", Some(&admin), "create-ana-1", ana()).await;
        again.ok(201);
        assert!(replayed(&again), "{:?}", again.headers);
        assert_eq!(again.body, first.body);
        assert_eq!(again.headers.get("location"), first.headers.get("location"));
        assert_eq!(again.headers.get("content-type"), first.headers.get("content-type"));
        // The quoted form of the header is the same key.
        keyed(app, "/api/v1/users", Some(&admin), "\"create-ana-1\"", ana()).await.ok(201);
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE username = 'ana'"), 1);
        assert_eq!(count(app, "SELECT count(*) AS n FROM audit_events WHERE action = 'user.created' AND target_label = 'ana'"), 1);
        // Without a key, a repeat is a second request.
        app.post("/api/v1/users", &admin, ana()).await.problem(409, "username_taken");

        // The same key with another body, or the body under another query, is refused; nothing is written.
        let mut other = ana();
        other["first_name"] = "Anabel".into();
        keyed(app, "/api/v1/users", Some(&admin), "create-ana-1", other).await.problem(422, "idempotency_key_reused");
        keyed(app, "/api/v1/users?x=1", Some(&admin), "create-ana-1", ana()).await.problem(422, "idempotency_key_reused");
        assert_eq!(app.get("/api/v1/users?q=ana", &admin).await.body["items"][0]["first_name"], "Ana");
        // The same key on another path is another key.
        keyed(app, "/api/v1/groups", Some(&admin), "create-ana-1", json!({"name": "Crew"})).await.ok(201);

        // A key is 1 to 255 visible ASCII characters.
        for bad in ["", "a b", &"k".repeat(256)] {
            keyed(app, "/api/v1/users", Some(&admin), bad, json!({"username": "bo", "email": "bo@example.org", "first_name": "B", "last_name": "O"})).await.problem(400, "invalid_idempotency_key");
        }
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE username = 'bo'"), 0);
    }

    async fn another_callers_identical_key_is_another_key(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.user(&admin, "uma", &["user_manager"]).await;
        let uma = app.token_for("uma").await;
        keyed(app, "/api/v1/users", Some(&admin), "shared", ana()).await.ok(201);
        // Uma's request with the admin's key runs as her own: the account exists, so 409.
        let hers = keyed(app, "/api/v1/users", Some(&uma), "shared", ana()).await;
        hers.problem(409, "username_taken");
        assert!(!replayed(&hers));
        // An API token is a scope of its own, and a script retrying a token's creation gets the
        // same token once more, not a second one.
        let script = json!({"name": "nightly"});
        let created = keyed(app, "/api/v1/me/api-tokens", Some(&uma), "token-1", script.clone()).await;
        created.ok(201);
        let again = keyed(app, "/api/v1/me/api-tokens", Some(&uma), "token-1", script).await;
        assert!(replayed(&again));
        assert_eq!(again.body["token"], created.body["token"]);
        assert_eq!(app.get("/api/v1/me/api-tokens", &uma).await.body["items"].as_array().map(Vec::len), Some(1));
        // The token is kept sealed: not in the clear anywhere in the table.
        let secret = created.body["token"].as_str().expect("the token");
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        let hex_column = match app.db {
            crate::helpers::Db::Sqlite => "hex(sealed_body)",
            crate::helpers::Db::Postgres => "upper(encode(sealed_body, 'hex'))",
        };
        assert_eq!(count(app, &format!("SELECT count(*) AS n FROM idempotency_keys WHERE {hex_column} LIKE '%{}%'", hex.to_uppercase())), 0);
        assert!(count(app, "SELECT count(*) AS n FROM idempotency_keys WHERE sealed_body IS NOT NULL") >= 2);
    }

    async fn a_failed_sign_in_is_not_kept_so_the_key_can_be_used_again(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.user(&admin, "ana", &["user"]).await;
        let wrong = json!({"login": "ana", "password": "not the password"});
        keyed(app, "/api/v1/auth/login", None, "sign-in-1", wrong).await.problem(401, "invalid_credentials");
        let right = json!({"login": "ana", "password": crate::helpers::PASSWORD});
        let signed_in = keyed(app, "/api/v1/auth/login", None, "sign-in-1", right.clone()).await;
        signed_in.ok(200);
        assert!(!replayed(&signed_in));
        let again = keyed(app, "/api/v1/auth/login", None, "sign-in-1", right).await;
        assert!(replayed(&again));
        assert_eq!(again.body, signed_in.body);
    }

    async fn a_retry_while_the_first_runs_is_refused_and_then_replayed(app: TestApp) {
        let (admin, _) = app.admin().await;
        // An import long enough to be caught running.
        let mut file = String::from("first_name,last_name,email\r\n");
        for i in 0..3000 {
            file.push_str(&format!("Ann,Lee{i},ann{i:05}@example.org\r\n"));
        }
        let send = || {
            app.client
                .post(format!("{}/api/v1/users/import", app.base))
                .bearer_auth(&admin)
                .header("content-type", "text/csv")
                .header(KEY, "import-1")
                .body(file.clone())
                .send()
        };
        let first = tokio::spawn(send());
        let taken = "SELECT count(*) AS n FROM idempotency_keys WHERE key = 'import-1' AND lease_until IS NOT NULL";
        let started = std::time::Instant::now();
        while count(app, taken) == 0 {
            assert!(started.elapsed() < std::time::Duration::from_secs(10), "the first import never took its key");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let during = TestApp::read(send().await.expect("sent")).await;
        during.problem(409, "request_in_progress");
        assert_eq!(during.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        let first = TestApp::read(first.await.expect("joined").expect("sent")).await;
        first.ok(200);
        assert_eq!(first.body["uploaded"], 3000, "{}", first.body);
        let after = TestApp::read(send().await.expect("sent")).await;
        assert!(replayed(&after));
        assert_eq!(after.body, first.body);
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE email LIKE 'ann%'"), 3000);
    }

    async fn concurrent_retries_run_the_request_once(app: TestApp) {
        let (admin, _) = app.admin().await;
        let tries = (0..20).map(|_| keyed(app, "/api/v1/users", Some(&admin), "race-1", ana()));
        let replies = futures_util::future::join_all(tries).await;
        let ran: Vec<&Reply> = replies.iter().filter(|r| r.status == 201 && !replayed(r)).collect();
        assert_eq!(ran.len(), 1, "{:?}", replies.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
        for r in &replies {
            let ok = (r.status == 201 && r.body == ran[0].body) || r.body["code"] == "request_in_progress";
            assert!(ok, "{:?} {}", r.status, r.body);
        }
        assert_eq!(count(app, "SELECT count(*) AS n FROM users WHERE username = 'ana'"), 1);
    }

    async fn a_key_expires_after_24_hours(app: TestApp) {
        let (admin, _) = app.admin().await;
        keyed(app, "/api/v1/groups", Some(&admin), "group-1", json!({"name": "Crew"})).await.ok(201);
        let aged = match app.db {
            crate::helpers::Db::Sqlite => "UPDATE idempotency_keys SET created_at = datetime(created_at, '-25 hours')",
            crate::helpers::Db::Postgres => "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'",
        };
        execute(app, aged);
        // Expired: the key is new again, so the request runs (and the name is taken now).
        let again = keyed(app, "/api/v1/groups", Some(&admin), "group-1", json!({"name": "Crew"})).await;
        again.problem(409, "name_taken");
        assert!(!replayed(&again));
        execute(app, aged);
        let (_, _, _, keys) = app.state.services.clean_up().await.expect("clean-up");
        assert_eq!(keys, 1);
        assert_eq!(count(app, "SELECT count(*) AS n FROM idempotency_keys"), 0);
    }
}

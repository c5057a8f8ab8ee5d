#![allow(dead_code)]

use std::{path::PathBuf, time::Duration};

use api::{Application, Config};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";
/// A password an admin gives at creation: the holder must replace it at first sign-in.
pub const GIVEN_PASSWORD: &str = "sealed envelope from the admin desk";
pub const SECRET: &str = "test-secret-key-for-roster-end-to-end-tests-0123456789";

/// Defines `mod name { sqlite(); postgres(); }` running the same body on each database, then
/// checking that what Roster derives from each account row equals a recomputation from the rows
/// ([`TestApp::check_derived_data`]). The PostgreSQL half is built `#[ignore]`d when it cannot run
/// (see `build.rs`): reported as ignored, never as passed.
macro_rules! both {
    ($($(#[$attr:meta])* async fn $name:ident($app:ident: TestApp) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: &$crate::helpers::TestApp) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Db::Sqlite).await;
                run(&app).await;
                app.check_derived_data();
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(roster_postgres), ignore = "needs PostgreSQL: run under scripts/with-postgres")]
            $(#[$attr])*
            async fn postgres() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Db::Postgres).await;
                run(&app).await;
                app.check_derived_data();
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running Roster with its own fresh database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub config: Config,
    /// What the handlers see: the threads' and the pool's use, the database's readiness.
    pub state: std::sync::Arc<api::app::AppState>,
    dir: PathBuf,
    /// The PostgreSQL database is the test's own: dropped with it.
    own_database: bool,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let (true, Some(url)) = (self.own_database, &self.config.database_url) {
            crate::database::drop_postgres_database(url);
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn etag(&self) -> String {
        self.headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {:?}", self.body))
            .to_owned()
    }

    /// Asserts status `status` with a problem+json body carrying `code`.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        let ct = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(ct, "application/problem+json", "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["title"].is_string()
                && self.body["type"].is_string()
                && self.body["detail"].is_string()
        );
        self
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }
}

impl TestApp {
    pub async fn spawn(db: Db) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// Spawns with a configuration adjusted by `adjust`.
    pub async fn spawn_with(db: Db, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = std::env::temp_dir().join(format!("roster-test-{}", Uuid::now_v7()));
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.clone(),
            workers: Some(2),
            log: "warn".into(),
            roles: vec![user_manager_role()],
            // Tests sign in far more often than a person; `rate_limits` tests the default.
            auth_rate_limit: 10_000,
            ..Config::default()
        };
        if db == Db::Postgres {
            config.secret_key = Some(SECRET.into());
        }
        adjust(&mut config);
        // A PostgreSQL database of the test's own, unless the test named one.
        let own_database = db == Db::Postgres && config.database_url.is_none();
        if own_database {
            config.database_url = Some(crate::database::fresh_postgres_database());
        }
        let app = Application::build(&config).expect("Roster starts");
        config.listen = format!("127.0.0.1:{}", app.port);
        let state = app.state.clone().into_inner();
        tokio::spawn(app.server);
        tokio::spawn(app.outbox.run(api::runtime::Stopping::default()));
        tokio::spawn(app.audit_linker.run());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Self {
            base: format!("http://127.0.0.1:{}", app.port),
            client,
            db,
            config,
            state,
            dir,
            own_database,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    /// Sends `bytes` as the body, of `content_type`.
    pub async fn send_bytes(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Reply {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, content_type)
            .body(bytes.into());
        Self::read(req.send().await.expect("request sent")).await
    }

    /// Sends a `multipart/form-data` form.
    pub async fn send_form(
        &self,
        path: &str,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> Reply {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .multipart(form);
        Self::read(req.send().await.expect("request sent")).await
    }

    /// A GET's status, headers and body as text.
    pub async fn get_text(
        &self,
        path: &str,
        token: &str,
    ) -> (StatusCode, header::HeaderMap, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        let (status, headers) = (res.status(), res.headers().clone());
        (status, headers, res.text().await.expect("body read"))
    }

    pub async fn read(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None, &[])
            .await
    }

    pub async fn setup(&self, username: &str) -> Reply {
        let body = json!({"username": username, "email": format!("{username}@example.org"), "first_name": "Ada", "last_name": "Admin", "password": PASSWORD});
        self.call(Method::POST, "/api/v1/setup", None, Some(body), &[])
            .await
    }

    pub async fn login(&self, login: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"login": login, "password": password})),
            &[],
        )
        .await
    }

    pub async fn token_for(&self, login: &str) -> String {
        let r = self.login(login, PASSWORD).await;
        r.ok(200);
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Runs setup as `admin` and signs in; returns (token, id). The sign-in meets the
    /// `mfa_enrollment` challenge that `mfa.required_for_admins` (on by default) sets every admin
    /// ([`TestApp::admin_enrolled`]); then, so that the other tests' admins sign in with a
    /// password alone, the admin turns the policy off and removes its factor (which needs the
    /// password and an unused code), with its email notices off for that moment so that no
    /// `mfa_removed` notice joins the mail and outbox that tests count. `tests/api/mfa.rs` tests
    /// the policy itself.
    pub async fn admin(&self) -> (String, String) {
        let (enrolled, id) = self.admin_enrolled().await;
        let token = enrolled.access_token.clone();
        let policy = json!({"mfa": {"required_for_admins": false}});
        self.patch("/api/v1/settings", &token, policy).await.ok(200);
        let notices = |on: bool| json!({"email_notifications": on});
        self.patch("/api/v1/me", &token, notices(false))
            .await
            .ok(200);
        let removal = json!({"password": PASSWORD, "code": enrolled.next_code()});
        self.call(
            Method::DELETE,
            "/api/v1/me/mfa/totp",
            Some(&token),
            Some(removal),
            &[],
        )
        .await
        .ok(204);
        self.patch("/api/v1/me", &token, notices(true))
            .await
            .ok(200);
        (token, id)
    }

    /// Runs setup as `admin` and meets its first sign-in's `mfa_enrollment` challenge; returns
    /// the enrolment and the admin's id.
    pub async fn admin_enrolled(&self) -> (Enrolled, String) {
        let id = self.setup("admin").await.ok(201).id();
        (self.enrol_at_sign_in("admin").await, id)
    }

    /// Signs `login` in with [`PASSWORD`], expecting the `mfa_enrollment` challenge, and meets
    /// it with a code computed from the secret it hands out.
    pub async fn enrol_at_sign_in(&self, login: &str) -> Enrolled {
        let first = self.login(login, PASSWORD).await;
        first.ok(200);
        assert_eq!(first.body["challenge"], "mfa_enrollment", "{}", first.body);
        let challenge = json!({"challenge_token": first.body["challenge_token"]});
        let path = "/api/v1/auth/challenge/mfa-enrollment";
        let started = self
            .call(Method::POST, path, None, Some(challenge.clone()), &[])
            .await;
        started.ok(201);
        let secret = started.body["secret"].as_str().expect("secret");
        let secret = domain::mfa::TotpSecret::from_base32(secret).expect("a base32 secret");
        let at = chrono::Utc::now();
        let mut confirm = challenge;
        confirm["code"] = json!(secret.code_at(at));
        let path = "/api/v1/auth/challenge/mfa-enrollment/confirm";
        let done = self
            .call(Method::POST, path, None, Some(confirm), &[])
            .await;
        done.ok(200);
        Enrolled {
            secret,
            at,
            recovery_codes: done.body["recovery_codes"]
                .as_array()
                .expect("recovery_codes")
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect(),
            access_token: done.body["sign_in"]["access_token"]
                .as_str()
                .expect("an access token after enrolling")
                .to_owned(),
        }
    }

    /// Creates `username` with the given roles and a password given by the admin, which the
    /// holder then replaces with [`PASSWORD`] (the `set_password` challenge); returns its id.
    pub async fn user(&self, admin: &str, username: &str, roles: &[&str]) -> String {
        let body = json!({
            "username": username, "email": format!("{username}@example.org"), "first_name": "Test",
            "last_name": username, "password": GIVEN_PASSWORD, "roles": roles
        });
        let id = self.post("/api/v1/users", admin, body).await.ok(201).id();
        let challenge = self.login(username, GIVEN_PASSWORD).await;
        challenge.ok(200);
        assert_eq!(
            challenge.body["challenge"], "set_password",
            "{}",
            challenge.body
        );
        self.set_password(&challenge, PASSWORD).await.ok(200);
        id
    }

    /// Meets the `set_password` challenge of a sign-in's reply.
    pub async fn set_password(&self, challenge: &Reply, new_password: &str) -> Reply {
        let token = challenge.body["challenge_token"]
            .as_str()
            .expect("challenge_token");
        self.call(
            Method::POST,
            "/api/v1/auth/challenge/set-password",
            None,
            Some(json!({"challenge_token": token, "new_password": new_password})),
            &[],
        )
        .await
    }

    /// An API token for the caller of `token`.
    pub async fn api_token(&self, token: &str) -> String {
        let r = self
            .post("/api/v1/me/api-tokens", token, json!({"name": "test"}))
            .await;
        r.ok(201);
        r.body["token"].as_str().expect("token").to_owned()
    }
}

/// A second factor enrolled at sign-in ([`TestApp::enrol_at_sign_in`]).
pub struct Enrolled {
    pub secret: domain::mfa::TotpSecret,
    /// When the confirming code was computed.
    pub at: chrono::DateTime<chrono::Utc>,
    pub recovery_codes: Vec<String>,
    pub access_token: String,
}

impl Enrolled {
    /// A code of the step after the confirming one: unused, and accepted for the next 30 to 60
    /// seconds (one step of tolerance either side).
    pub fn next_code(&self) -> String {
        self.secret.code_at(self.at + chrono::Duration::seconds(30))
    }
}

/// A configured role that may read and write accounts but is not `admin`.
/// Owned pairs, to compare with what a response's list gives.
pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

pub fn user_manager_role() -> domain::roles::Role {
    domain::roles::Role {
        name: "user_manager".into(),
        description: "Manages accounts".into(),
        permissions: [
            domain::roles::Permission::UsersRead,
            domain::roles::Permission::UsersWrite,
        ]
        .into_iter()
        .collect(),
        seats: None,
        builtin: false,
        exclusive: false,
    }
}

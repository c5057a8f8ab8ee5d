//! Object-level access, operation by operation: every operation of the OpenAPI document is called
//! as each built-in role (`admin`, `user`, `guest`) and without a credential, aimed at another
//! account's resources (its account, sessions, API tokens, assignments, groups), and the answer is
//! checked against [`ACCESS`], a table that must name every operation. A `user` or `guest`:
//! - is refused every operation that needs a permission (403 `forbidden`);
//! - reaching for another account's resource gets the answer a made-up id gets (nothing tells
//!   that it exists);
//! - changes nothing of anyone else's, and cannot raise its own roles.

use std::collections::BTreeMap;

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{Reply, TestApp};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone, without a credential (sign-in, setup, health, the one-time-token steps).
    Public,
    /// Any signed-in caller, guests included, for itself.
    Signed,
    /// Any signed-in caller but a guest, for itself.
    NotGuest,
    /// Any signed-in caller, for its own resources only: another's id is answered as a made-up one.
    OwnResource,
    /// A permission: among the built-in roles, `admin` alone.
    Permission,
    /// A permission, or being the account named by the path's `{id}`.
    PermissionOrSelf,
}

use Access::*;

/// Every operation of `openapi.yaml`, and who may call it.
const ACCESS: &[(&str, Access)] = &[
    ("get_root", Public),
    ("healthz", Public),
    ("readyz", Public),
    ("get_setup", Public),
    ("run_setup", Public),
    ("login", Public),
    ("refresh", Public),
    ("activate", Public),
    ("inspect_token", Public),
    ("forgot_password", Public),
    ("reset_password_with_link", Public),
    ("complete_mfa_challenge", Public),
    ("complete_set_password_challenge", Public),
    ("start_challenge_enrollment", Public),
    ("confirm_challenge_enrollment", Public),
    ("import_template", Public),
    ("logout", Signed),
    ("get_me", Signed),
    ("list_roles", Signed),
    ("change_my_password", Signed),
    ("list_my_sessions", Signed),
    ("revoke_my_sessions", Signed),
    ("list_my_api_tokens", Signed),
    ("start_totp_enrollment", Signed),
    ("confirm_totp_enrollment", Signed),
    ("remove_totp", Signed),
    ("regenerate_recovery_codes", Signed),
    ("update_me", NotGuest),
    ("create_my_api_token", NotGuest),
    ("revoke_my_session", OwnResource),
    ("revoke_my_api_token", OwnResource),
    ("get_user", PermissionOrSelf),
    ("list_user_sessions", PermissionOrSelf),
    ("revoke_user_sessions", PermissionOrSelf),
    ("list_user_api_tokens", PermissionOrSelf),
    ("create_user_api_token", PermissionOrSelf),
    ("revoke_user_api_token", PermissionOrSelf),
    ("list_user_assignments", PermissionOrSelf),
    ("list_user_groups", PermissionOrSelf),
    ("update_user", Permission),
    ("delete_user", Permission),
    ("list_users", Permission),
    ("create_user", Permission),
    ("count_users", Permission),
    ("export_users", Permission),
    ("import_users", Permission),
    ("bulk_update_users", Permission),
    ("bulk_delete_users", Permission),
    ("bulk_reset_passwords", Permission),
    ("bulk_unlock_users", Permission),
    ("reissue_activation", Permission),
    ("revoke_activation", Permission),
    ("reset_password", Permission),
    ("revoke_password_reset", Permission),
    ("unlock_user", Permission),
    ("remove_user_mfa", Permission),
    ("issue_mfa_one_time_password", Permission),
    ("remove_user_assignment", Permission),
    ("invite_users", Permission),
    ("list_applications", Permission),
    ("create_application", Permission),
    ("get_application", Permission),
    ("rename_application", Permission),
    ("delete_application", Permission),
    ("list_instances", Permission),
    ("create_instance", Permission),
    ("get_instance", Permission),
    ("rename_instance", Permission),
    ("delete_instance", Permission),
    ("assign", Permission),
    ("unassign", Permission),
    ("enable_assignments", Permission),
    ("disable_assignments", Permission),
    ("list_groups", Permission),
    ("create_group", Permission),
    ("get_group", Permission),
    ("rename_group", Permission),
    ("delete_group", Permission),
    ("list_group_members", Permission),
    ("add_group_members", Permission),
    ("remove_group_members", Permission),
    ("list_audit_events", Permission),
    ("verify_audit_chain", Permission),
    ("report_users", Permission),
    ("report_logins", Permission),
    ("report_deletions", Permission),
    ("report_assignments", Permission),
    ("get_settings", Permission),
    ("update_settings", Permission),
    ("list_outbox", Permission),
    ("retry_outbox_message", Permission),
    ("get_metrics", Permission),
];

/// One operation of the document, with a body its schema's example gives.
#[derive(Debug, Clone)]
struct Operation {
    id: String,
    method: Method,
    path: String,
    body: Option<(String, Vec<u8>)>,
}

/// The ids the walk aims at: another account's resources.
struct Targets {
    user: String,
    session: String,
    api_token: String,
    application: String,
    instance: String,
    group: String,
    message: String,
}

/// Every operation of the document the server serves, in path order, with `logout` and
/// `update_settings` last (they end the caller's session, or may change what every later call
/// needs).
fn operations(document: &Value) -> Vec<Operation> {
    let schemas = &document["components"]["schemas"];
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !matches!(
                method,
                Method::GET | Method::POST | Method::PATCH | Method::PUT | Method::DELETE
            ) {
                continue;
            }
            let id = op["operationId"].as_str().expect("operationId").to_owned();
            let mut body = op["requestBody"]["content"]
                .as_object()
                .map(|content| example_body(&id, content, schemas));
            // `PATCH /me` shares `PATCH /users/{id}`'s schema and example, whose fields an admin
            // sets (`location`, `roles`); the holder changes its own names.
            if let (Some((_, bytes)), "update_me") = (&mut body, id.as_str()) {
                *bytes = serde_json::to_vec(&json!({"first_name": "Ada"})).expect("JSON");
            }
            found.push(Operation {
                id,
                method,
                path: path.clone(),
                body,
            });
        }
    }
    let last = |id: &str| match id {
        "update_settings" => 1,
        "logout" => 2,
        _ => 0,
    };
    found.sort_by_key(|op| (last(&op.id), op.path.clone()));
    found
}

/// The example a request body's schema documents, as JSON (or, for the CSV import, its text).
fn example_body(
    id: &str,
    content: &serde_json::Map<String, Value>,
    schemas: &Value,
) -> (String, Vec<u8>) {
    if let Some(csv) = content.get("text/csv") {
        let text = csv["example"].as_str().expect("a CSV example");
        return ("text/csv".into(), text.as_bytes().to_vec());
    }
    let media = &content["application/json"];
    let schema = match media["schema"]["$ref"].as_str() {
        Some(r) => &schemas[r.rsplit('/').next().expect("a schema name")],
        None => &media["schema"],
    };
    let example = media
        .get("example")
        .or_else(|| schema.get("example"))
        .or_else(|| schema["examples"].get(0))
        .unwrap_or_else(|| panic!("{id}: its request body has no example"));
    (
        "application/json".into(),
        serde_json::to_vec(example).expect("JSON"),
    )
}

/// `op`'s path with its parameters aimed at `targets` (or at made-up ids, with `made_up`).
fn aimed(op: &Operation, targets: &Targets, made_up: bool) -> String {
    let fake = Uuid::now_v7().to_string();
    let pick = |real: &str| {
        if made_up {
            fake.clone()
        } else {
            real.to_owned()
        }
    };
    let path = &op.path;
    let id = if path.starts_with("/api/v1/applications/") {
        pick(&targets.application)
    } else if path.starts_with("/api/v1/groups/") {
        pick(&targets.group)
    } else if path.starts_with("/api/v1/me/sessions/") {
        pick(&targets.session)
    } else if path.starts_with("/api/v1/outbox/") {
        pick(&targets.message)
    } else {
        pick(&targets.user)
    };
    path.replace("{id}", &id)
        .replace("{instance_id}", &pick(&targets.instance))
        .replace("{token_id}", &pick(&targets.api_token))
}

async fn send(app: &TestApp, op: &Operation, path: &str, token: Option<&str>) -> Reply {
    let mut req = app
        .client
        .request(op.method.clone(), format!("{}{path}", app.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some((content_type, bytes)) = &op.body {
        req = req
            .header(header::CONTENT_TYPE, content_type)
            .body(bytes.clone());
    }
    TestApp::read(req.send().await.expect("sent")).await
}

fn code(reply: &Reply) -> &str {
    reply.body["code"].as_str().unwrap_or("")
}

/// Refused for want of a credential.
fn unauthenticated(reply: &Reply) -> bool {
    reply.status == StatusCode::UNAUTHORIZED && code(reply) == "unauthenticated"
}

/// Refused for want of a permission, or of a credential.
fn refused(reply: &Reply) -> bool {
    unauthenticated(reply) || (reply.status == StatusCode::FORBIDDEN && code(reply) == "forbidden")
}

/// What the admin sees of the target and everything around it: the walk must not change it.
async fn snapshot(app: &TestApp, admin: &str, targets: &Targets) -> Value {
    let user = &targets.user;
    let mut seen = BTreeMap::new();
    for path in [
        format!("/api/v1/users/{user}"),
        format!("/api/v1/users/{user}/sessions"),
        format!("/api/v1/users/{user}/api-tokens"),
        format!("/api/v1/users/{user}/assignments"),
        format!("/api/v1/users/{user}/groups"),
        format!("/api/v1/groups/{}/members", targets.group),
        format!("/api/v1/applications/{}/instances", targets.application),
        "/api/v1/groups".to_owned(),
        "/api/v1/applications".to_owned(),
        "/api/v1/settings".to_owned(),
        "/api/v1/users/count".to_owned(),
    ] {
        let reply = app.get(&path, admin).await;
        reply.ok(200);
        seen.insert(path, reply.body);
    }
    json!(seen)
}

/// Sets up the target (a `user` with a session, an API token, an assignment and a group) and the
/// callers; returns the admin's token, the targets and the callers' (name, token).
async fn stage(app: &TestApp) -> (String, Targets, Vec<(&'static str, String, String)>) {
    let (admin, _) = app.admin().await;
    let user = app.user(&admin, "target", &["user"]).await;
    let target_token = app.token_for("target").await;
    let api_token = app
        .post(
            "/api/v1/me/api-tokens",
            &target_token,
            json!({"name": "script"}),
        )
        .await;
    api_token.ok(201);
    let application = app
        .post("/api/v1/applications", &admin, json!({"name": "Payroll"}))
        .await
        .ok(201)
        .id();
    let instance = app
        .post(
            &format!("/api/v1/applications/{application}/instances"),
            &admin,
            json!({"name": "Production"}),
        )
        .await
        .ok(201)
        .id();
    let assign =
        json!({"application_id": application, "instance_ids": [instance], "user_ids": [user]});
    app.post("/api/v1/assignments/assign", &admin, assign)
        .await
        .ok(200);
    let group = app
        .post("/api/v1/groups", &admin, json!({"name": "Finance"}))
        .await
        .ok(201)
        .id();
    app.post(
        &format!("/api/v1/groups/{group}/members/add"),
        &admin,
        json!({"user_ids": [user]}),
    )
    .await
    .ok(200);
    let sessions = app
        .get(&format!("/api/v1/users/{user}/sessions"), &admin)
        .await;
    sessions.ok(200);
    let session = sessions.body["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a session: {}", sessions.body))
        .to_owned();
    let outbox = app.get("/api/v1/outbox?limit=1", &admin).await;
    outbox.ok(200);
    let message = outbox.body["items"][0]["id"]
        .as_str()
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
    let targets = Targets {
        user,
        session,
        api_token: api_token.body["id"].as_str().expect("token id").to_owned(),
        application,
        instance,
        group,
        message,
    };
    let member = app.user(&admin, "member", &["user"]).await;
    let visitor = app.user(&admin, "visitor", &["guest"]).await;
    let callers = vec![
        ("user", app.token_for("member").await, member),
        ("guest", app.token_for("visitor").await, visitor),
    ];
    (admin, targets, callers)
}

both! {
    async fn every_operation_answers_each_role_as_the_access_table_says(app: TestApp) {
        let document = serde_json::to_value(api::openapi_document()).expect("the document");
        let operations = operations(&document);
        // The table names every operation, and nothing else.
        let documented: Vec<&str> = operations.iter().map(|op| op.id.as_str()).collect();
        for op in &documented {
            assert!(ACCESS.iter().any(|(id, _)| id == op), "{op} is missing from ACCESS");
        }
        for (id, _) in ACCESS {
            assert!(documented.contains(id), "{id} is in ACCESS but not in the document");
        }
        let access = |id: &str| ACCESS.iter().find(|(op, _)| *op == id).map(|(_, a)| *a).expect("listed");

        let (admin, targets, callers) = stage(app).await;
        // Nobody raises their own roles (before the walk, which ends with the callers' `logout`).
        let (_, member_token, member) = &callers[0];
        let raise = json!({"roles": ["admin"]});
        let reply = app.patch(&format!("/api/v1/users/{member}"), member_token, raise.clone()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        let reply = app.patch("/api/v1/me", member_token, raise).await;
        assert!(reply.status.is_client_error(), "{}", reply.body);
        let roles = app.get(&format!("/api/v1/users/{member}"), &admin).await;
        assert_eq!(roles.body["roles"], json!(["user"]));

        let before = snapshot(app, &admin, &targets).await;
        let mut failures = Vec::new();

        // Without a credential: only the public operations answer.
        for op in &operations {
            let reply = send(app, op, &aimed(op, &targets, false), None).await;
            let public = access(&op.id) == Public;
            if public == unauthenticated(&reply) || reply.status.is_server_error() {
                failures.push(format!("anonymous {} {}: {} {}", op.method, op.path, reply.status, reply.body));
            }
        }

        // `user` and `guest`, aimed at the target's resources.
        for (role, token, own) in &callers {
            // Operations on the caller's own account are its to use (first: the walk ends with
            // `logout`).
            for op in operations.iter().filter(|op| access(&op.id) == PermissionOrSelf && op.method == Method::GET) {
                let path = op.path.replace("{id}", own);
                let reply = send(app, op, &path, Some(token)).await;
                if reply.status != StatusCode::OK {
                    failures.push(format!("{role} (own) {} {path}: {} {}", op.method, reply.status, reply.body));
                }
            }
            for op in &operations {
                let path = aimed(op, &targets, false);
                let reply = send(app, op, &path, Some(token)).await;
                let guest = *role == "guest";
                let ok = match access(&op.id) {
                    Public | Signed => !refused(&reply),
                    NotGuest => {
                        let read_only = reply.status == StatusCode::FORBIDDEN && code(&reply) == "guest_read_only";
                        !refused(&reply) && read_only == guest
                    }
                    Permission => reply.status == StatusCode::FORBIDDEN && code(&reply) == "forbidden",
                    OwnResource | PermissionOrSelf => {
                        // Refused, exactly as for an id that names nothing.
                        let made_up = send(app, op, &aimed(op, &targets, true), Some(token)).await;
                        !reply.status.is_success()
                            && (reply.status == StatusCode::FORBIDDEN || reply.status == StatusCode::NOT_FOUND)
                            && (reply.status, code(&reply)) == (made_up.status, code(&made_up))
                    }
                };
                if !ok || reply.status.is_server_error() {
                    failures.push(format!("{role} {} {path}: {} {}", op.method, reply.status, reply.body));
                }
            }
        }
        assert!(failures.is_empty(), "answers against the table:\n{}", failures.join("\n"));
        assert_eq!(snapshot(app, &admin, &targets).await, before, "a user or guest changed another's data");

        // `admin`, last: nothing is refused for want of a permission.
        let mut failures = Vec::new();
        for op in &operations {
            let path = aimed(op, &targets, false);
            let reply = send(app, op, &path, Some(&admin)).await;
            if refused(&reply) || reply.status.is_server_error() {
                failures.push(format!("admin {} {path}: {} {}", op.method, reply.status, reply.body));
            }
        }
        assert!(failures.is_empty(), "admin refused:\n{}", failures.join("\n"));
    }
}

//! The committed `openapi.yaml` is what the code serves; Swagger UI renders.

use reqwest::Method;

use crate::helpers::{Db, TestApp};

#[test]
fn openapi_yaml_matches_the_code() {
    let generated = api::openapi_document().to_yaml().expect("YAML");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != generated {
        if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
            std::fs::write(path, &generated).expect("write openapi.yaml");
            return;
        }
        panic!("openapi.yaml differs from the code: run `cargo run --bin roster -- openapi > openapi.yaml` (or UPDATE_OPENAPI=1 cargo test)");
    }
}

#[test]
fn every_operation_has_an_id_a_summary_documented_errors_and_body_examples() {
    let doc = serde_json::to_value(api::openapi_document()).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            assert!(
                op["operationId"].is_string(),
                "{method} {path}: operationId"
            );
            assert!(op["summary"].is_string(), "{method} {path}: summary");
            assert!(op["tags"].is_array(), "{method} {path}: tags");
            if let Some(body) = op.get("requestBody") {
                let schema = body["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .expect("a named request body schema");
                assert!(
                    doc["components"]["schemas"][schema]["example"].is_object(),
                    "{method} {path}: {schema} has no example"
                );
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status}: problem body"
                    );
                }
            }
        }
    }
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    assert!(codes
        .as_array()
        .expect("codes")
        .iter()
        .any(|c| c == "last_admin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_and_swagger_ui_are_available() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let served = app
        .call(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.body,
        serde_json::to_value(api::openapi_document()).expect("JSON")
    );
    let page = app
        .client
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    let init = app
        .client
        .get(format!("{}/docs/swagger-initializer.js", app.base))
        .send()
        .await
        .expect("sent");
    assert!(init
        .text()
        .await
        .expect("js")
        .contains("/api/v1/openapi.json"));
}

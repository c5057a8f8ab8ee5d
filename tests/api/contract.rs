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
            // A CSV body (an import) shows an example file; a form names its schema.
            let csv = op.get("requestBody").map(|b| &b["content"]["text/csv"]);
            if let Some(csv) = csv.filter(|c| c.is_object()) {
                assert!(
                    csv["example"].as_str().is_some_and(|e| e.contains("\r\n")),
                    "{method} {path}: a CSV example"
                );
            } else if let Some(body) = op.get("requestBody") {
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
                let response = resolved(&doc, response);
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
    assert_eq!(
        codes.as_array().expect("codes").len(),
        api::error::ErrorCode::ALL.len(),
        "the schema lists every code"
    );
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

/// As a frontend developer reads the contract: a summary is plain text (Swagger UI shows it raw), a
/// description says which permission the operation needs, and every error response names its
/// codes, each with the response's status, each shown with an example.
#[test]
fn every_operation_says_its_permission_and_shows_each_error_code_it_can_answer() {
    use api::error::ErrorCode;
    let doc = serde_json::to_value(api::openapi_document()).expect("JSON");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(
                !summary.contains('`'),
                "{method} {path}: the summary {summary:?} shows raw backticks"
            );
            let description = op["description"].as_str().unwrap_or_default();
            assert!(
                description.contains("**Permission:**"),
                "{method} {path}: no permission in {description:?}"
            );
            for (status, response) in op["responses"].as_object().expect("responses") {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let response = resolved(&doc, response);
                let text = response["description"].as_str().unwrap_or_default();
                let codes = api::openapi::codes_named(text);
                assert!(
                    !codes.is_empty(),
                    "{method} {path} {status}: names no code in {text:?}"
                );
                let examples = &response["content"]["application/problem+json"]["examples"];
                for code in codes {
                    let name = code.as_str();
                    assert_eq!(
                        code.describe().0.as_str(),
                        status,
                        "{method} {path}: `{name}` under {status}"
                    );
                    assert_eq!(
                        examples[&name]["value"]["code"],
                        name.as_str(),
                        "{method} {path} {status}: example of {name}"
                    );
                }
            }
        }
    }
    let guide = doc["info"]["description"].as_str().expect("description");
    for code in ErrorCode::ALL {
        assert!(
            guide.contains(&format!("| `{}` |", code.as_str())),
            "{code:?} in the table"
        );
    }
}

/// The README's table of error codes is the code's own (`UPDATE_README=1 cargo test` rewrites it).
#[test]
fn the_readme_lists_every_error_code_as_the_code_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let (start, end) = ("<!-- error-codes:start -->\n", "<!-- error-codes:end -->");
    let from = readme.find(start).expect("the error-codes markers") + start.len();
    let to = readme.find(end).expect("the end marker");
    let table = api::error::ErrorCode::markdown_table();
    if readme[from..to] != table {
        if std::env::var("UPDATE_README").is_ok_and(|v| v == "1") {
            let updated = format!("{}{table}{}", &readme[..from], &readme[to..]);
            std::fs::write(path, updated).expect("write README.md");
            return;
        }
        panic!("README.md's error codes differ from ErrorCode: run UPDATE_README=1 cargo test");
    }
}

/// A response, or the component response its `$ref` names.
fn resolved<'a>(
    doc: &'a serde_json::Value,
    response: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match response["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("a component response: {r}"));
            let found = &doc["components"]["responses"][name];
            assert!(found.is_object(), "{r} names no response");
            found
        }
        None => response,
    }
}

/// Every OpenAPI link names an operation of the document, gives exactly its path parameters, and
/// takes `$response.body#/id` from a response whose schema has an `id`.
#[test]
fn every_link_leads_to_an_operation_with_its_parameters() {
    let doc = serde_json::to_value(api::openapi_document()).expect("JSON");
    let mut operations = std::collections::HashMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for op in item.as_object().expect("item").values() {
            if let Some(id) = op["operationId"].as_str() {
                operations.insert(id.to_owned(), path.clone());
            }
        }
    }
    let mut links = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            for (status, response) in op["responses"].as_object().expect("responses") {
                let Some(found) = response["links"].as_object() else {
                    continue;
                };
                let schema = &response["content"]["application/json"]["schema"];
                let schema = match schema["$ref"].as_str() {
                    Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().expect("name")],
                    None => schema,
                };
                for (name, link) in found {
                    links += 1;
                    let target = link["operationId"].as_str().expect("an operationId");
                    let target_path = operations
                        .get(target)
                        .unwrap_or_else(|| panic!("{method} {path} {status} {name}: no {target}"));
                    let mut wanted: Vec<&str> = target_path
                        .split('{')
                        .skip(1)
                        .filter_map(|rest| rest.split('}').next())
                        .collect();
                    let parameters = link["parameters"].as_object().expect("parameters");
                    let mut given: Vec<&str> = parameters.keys().map(String::as_str).collect();
                    wanted.sort();
                    given.sort();
                    assert_eq!(given, wanted, "{method} {path} {status} {name}");
                    for value in parameters.values() {
                        match value.as_str().expect("an expression") {
                            "$response.body#/id" => assert!(
                                has_id(&doc, schema),
                                "{method} {path} {status}: no id in the body for {name}"
                            ),
                            "$response.body#/items/0/id" => assert!(
                                has_id(&doc, &items_of(&doc, schema)),
                                "{method} {path} {status}: no items with ids for {name}"
                            ),
                            other => {
                                let param = other
                                    .strip_prefix("$request.path.")
                                    .expect("a path parameter");
                                assert!(path.contains(&format!("{{{param}}}")), "{path}: {other}");
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(links >= 30, "only {links} links");
}

/// Whether `schema` (through `$ref` and `allOf`) has an `id` property.
fn has_id(doc: &serde_json::Value, schema: &serde_json::Value) -> bool {
    if let Some(r) = schema["$ref"].as_str() {
        return has_id(
            doc,
            &doc["components"]["schemas"][r.rsplit('/').next().unwrap_or_default()],
        );
    }
    schema["properties"]["id"].is_object()
        || schema["allOf"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|part| has_id(doc, part)))
}

/// The schema of a list's `items`, through `$ref`.
fn items_of(doc: &serde_json::Value, schema: &serde_json::Value) -> serde_json::Value {
    if let Some(r) = schema["$ref"].as_str() {
        return items_of(
            doc,
            &doc["components"]["schemas"][r.rsplit('/').next().unwrap_or_default()],
        );
    }
    schema["properties"]["items"]["items"].clone()
}

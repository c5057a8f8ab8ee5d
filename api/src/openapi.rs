//! The OpenAPI 3.1 document: declared here, filled by every registered handler, and finished by
//! giving every error response the problem+json body it really has.

use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
        ContentBuilder, OpenApi, Ref, ResponseBuilder,
    },
    Modify,
};

use crate::error::{ErrorCode, Problem, ProblemFieldError};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Roster",
        description = "User-account administration: accounts, roles, sign-in, API tokens and an audit trail.\n\n\
            Authenticate with `Authorization: Bearer <token>`, where the token is an access token from \
            `POST /api/v1/auth/login` or an API token (`rst_…`). Each operation's description says \
            which permission it needs.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/", description = "The Roster serving this document")),
    components(schemas(Problem, ProblemFieldError, ErrorCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "setup", description = "First run: create the first admin."),
        (name = "auth", description = "Sign-in."),
        (name = "users", description = "Accounts: create, read, list, change, delete."),
        (name = "api-tokens", description = "Personal API tokens for scripts."),
        (name = "roles", description = "The role catalog."),
        (name = "settings", description = "Organisation-wide settings."),
        (name = "applications", description = "Applications and their instances (environments, customers' projects), which accounts are assigned to."),
        (name = "assignments", description = "Which accounts are assigned to which instances: many at once, one application at a time, all or nothing; enabled or suspended; each instance's admin."),
        (name = "groups", description = "Groups of accounts: named, with members added and removed in bulk."),
        (name = "audit", description = "The audit trail: who did what to whom, and when; never a secret."),
        (name = "outbox", description = "Email on its way: every message Roster sends, its state, and retrying a failed one."),
        (name = "health", description = "Liveness and readiness."),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token or rst_ API token")
                    .description(Some(
                        "An access token from POST /api/v1/auth/login, or an API token (rst_…).",
                    ))
                    .build(),
            ),
        );
    }
}

/// What every integrator needs once, before any operation: the account's fields and statuses, the
/// rules of ETags and paging, and the table of error codes (from `ErrorCode`'s own table).
fn guide() -> String {
    format!(
        r#"

## Accounts
| field | meaning |
|---|---|
| `id` | UUID v7, assigned by Roster |
| `username` | 1–64 letters, digits, `.`, `_`, `-`, `@` (RFC 8265); unique ignoring case and look-alike characters; cannot change once set |
| `email` | unique ignoring case; stored NFC with the domain lower-cased (IDNA) |
| `first_name`, `last_name` | 1–75 characters each |
| `origin`, `location`, `erp_id`, `external_key` | free text (100, 100, 64, 255 characters at most) |
| `locale` | BCP 47 tag such as `en`, `en-CA` |
| `roles` | role names from `GET /api/v1/roles`; `guest` stands alone and expires |
| `active` | the admin's switch: false stops every sign-in and token at once |
| `mfa_required`, `email_notifications`, `expires_at` | admin switches; after `expires_at` the account cannot sign in |
| read-only | `status`, `created_at`, `updated_at`, `created_by`, `updated_by`, `activated_at`, `last_active_at` (null: never signed in), `locked_at`, `mfa_enabled`, `version` |

`status` is derived, in this order: `inactive` (`active` is false), `locked`, `expired` (`expires_at`
passed), `invited` (no password set and never signed in), `active`.

## ETags
Every account response carries `ETag: "<version>"`. Send it back as `If-Match` with a change: if the
account changed meanwhile, the change answers 412 `precondition_failed` and nothing is written.

## Paging
Lists answer `{{"items": […], "next_cursor": "…"}}`. Pass `cursor=<next_cursor>` with the same `sort`
and filters for the next page; `next_cursor` is null on the last page. `limit` is 1–200 (default 50).
Every item appears exactly once across pages, even while accounts are added.

## Errors
Every error is an RFC 9457 problem document (`application/problem+json`) with a stable `code`;
validation errors list each field in `errors`. A 503 or 429 carries `Retry-After`.

{}"#,
        ErrorCode::markdown_table()
    )
}

/// A problem document answering with `code`, as an example.
fn problem_example(code: ErrorCode) -> utoipa::openapi::RefOr<utoipa::openapi::example::Example> {
    let (status, title) = code.describe();
    let mut value = serde_json::json!({
        "type": format!("urn:roster:problem:{}", code.as_str()),
        "title": title,
        "status": status.as_u16(),
        "detail": title,
        "code": code.as_str(),
    });
    if code == ErrorCode::ValidationFailed {
        value["detail"] = "see `errors` for each field".into();
        value["errors"] = serde_json::json!([{"field": "email", "code": "invalid_email", "message": "not a valid email address (expected name@example.com)"}]);
    }
    utoipa::openapi::example::ExampleBuilder::new()
        .summary(code.advice())
        .value(Some(value))
        .build()
        .into()
}

/// The error codes a response's description names (`` `username_taken` ``).
pub fn codes_named(description: &str) -> Vec<ErrorCode> {
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|name| ErrorCode::ALL.iter().copied().find(|c| c.as_str() == name))
        .collect()
}

/// Gives every 4xx/5xx response of every operation the problem+json body with an example of each
/// code its description names, adds the responses any operation can give (401 where it is
/// secured, 503 everywhere under `/api`), and the guide to the document's description.
pub fn finish(mut api: OpenApi) -> OpenApi {
    if let Some(description) = &mut api.info.description {
        description.push_str(&guide());
    }
    let problem = |description: &str| {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .examples_from_iter(
                codes_named(description)
                    .into_iter()
                    .map(|code| (code.as_str(), problem_example(code))),
            )
            .build()
    };
    // Any request whose headers are too large (`ROSTER_MAX_HEADER_BYTES`): one response, referred
    // to by every operation.
    let too_large =
        "`headers_too_large`: the request line and headers are over `ROSTER_MAX_HEADER_BYTES`.";
    let headers_too_large = ResponseBuilder::new()
        .description(too_large)
        .content("application/problem+json", problem(too_large))
        .build();
    api.components
        .get_or_insert_with(Default::default)
        .responses
        .insert("headers_too_large".into(), headers_too_large.into());
    for (path, item) in api.paths.paths.iter_mut() {
        if let Some(post) = &mut item.post {
            idempotent(post);
        }
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            // `security: [{}]` marks an operation open to anyone.
            let secured = operation
                .security
                .as_ref()
                .is_some_and(|s| s.iter().any(|r| *r != SecurityRequirement::default()));
            let responses = &mut operation.responses.responses;
            responses.insert(
                "431".into(),
                Ref::new("#/components/responses/headers_too_large").into(),
            );
            if operation.request_body.is_some() {
                let text = "`request_timeout`: the body did not arrive within `ROSTER_REQUEST_BODY_TIMEOUT_SECS`.";
                match responses.get_mut("408") {
                    Some(utoipa::openapi::RefOr::T(r)) => {
                        r.description.push_str("\n\n");
                        r.description.push_str(text);
                    }
                    _ => {
                        let r = ResponseBuilder::new().description(text).build();
                        responses.insert("408".into(), r.into());
                    }
                }
            }
            if secured && !responses.contains_key("401") {
                let r = ResponseBuilder::new()
                    .description("`unauthenticated`: no valid access token or API token.")
                    .build();
                responses.insert("401".into(), r.into());
            }
            if (path.starts_with("/api/") || path == "/readyz") && !responses.contains_key("503") {
                let r = ResponseBuilder::new()
                    .description("`database_unavailable`, `database_busy`, `overloaded`: retry after `Retry-After` seconds.")
                    .build();
                responses.insert("503".into(), r.into());
            }
            for (status, response) in responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let (true, utoipa::openapi::RefOr::T(r)) = (is_error, response) {
                    r.content.clear();
                    let content = problem(&r.description);
                    r.content.insert("application/problem+json".into(), content);
                }
            }
        }
    }
    link_created(&mut api);
    api
}

/// OpenAPI links from each POST that creates (answers 201) to every operation on what it made —
/// `POST /api/v1/groups` to the operations of `/api/v1/groups/{id}…`, the new `id` taken from the
/// response — and from each list (a GET answering `items`) to the operations on its first item.
/// The rest of the target's path comes from the request's own. Clients and the contract fuzzer's
/// stateful phase follow them (create, then read, change, delete what was created).
fn link_created(api: &mut OpenApi) {
    use utoipa::openapi::{extensions::Extensions, link::LinkBuilder, RefOr};
    // (the source's path, whether it is a POST that creates, the target parameter's expression)
    let schemas =
        serde_json::to_value(api.components.as_ref().map(|c| &c.schemas)).unwrap_or_default();
    // A response's JSON schema, its `$ref`s resolved.
    let body = |op: &Option<utoipa::openapi::path::Operation>, status: &str| {
        let response = op.as_ref()?.responses.responses.get(status)?;
        let response = serde_json::to_value(response).ok()?;
        Some(resolve(&schemas, &response["content"]["application/json"]["schema"]).clone())
    };
    let mut sources: Vec<(String, bool, &str)> = Vec::new();
    for (path, item) in &api.paths.paths {
        if body(&item.post, "201").is_some_and(|b| has_id(&schemas, &b)) {
            sources.push((path.clone(), true, "$response.body#/id"));
        }
        if body(&item.get, "200")
            .is_some_and(|b| has_id(&schemas, &b["properties"]["items"]["items"]))
        {
            sources.push((path.clone(), false, "$response.body#/items/0/id"));
        }
    }
    let mut links = Vec::new();
    for (source, creates, expression) in &sources {
        let prefix = format!("{source}/{{");
        for (path, item) in &api.paths.paths {
            // Only the item's own operations: `/groups/{id}`, `/groups/{id}/members`.
            let Some(created) = path
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split('}').next())
            else {
                continue;
            };
            // Every other parameter must come from the source request's own path.
            let others: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split('}').next())
                .filter(|name| *name != created)
                .collect();
            if others
                .iter()
                .any(|name| !source.contains(&format!("{{{name}}}")))
            {
                continue;
            }
            let operations = [&item.get, &item.post, &item.patch, &item.put, &item.delete];
            for op in operations.into_iter().flatten() {
                let Some(id) = &op.operation_id else { continue };
                // utoipa 5.5 writes `Link::operation_id` as `operation_id`, not the `operationId`
                // OpenAPI names: the field is set through the flattened extensions instead.
                let named = Extensions::from_iter([("operationId", id.clone())]);
                let mut link = LinkBuilder::new()
                    .extensions(Some(named))
                    .parameter(created, *expression);
                for name in &others {
                    link = link.parameter(*name, format!("$request.path.{name}"));
                }
                links.push((source.clone(), *creates, id.clone(), link.build()));
            }
        }
    }
    for (source, creates, name, link) in links {
        let Some(item) = api.paths.paths.get_mut(&source) else {
            continue;
        };
        let (op, status) = if creates {
            (item.post.as_mut(), "201")
        } else {
            (item.get.as_mut(), "200")
        };
        if let Some(RefOr::T(response)) = op.and_then(|op| op.responses.responses.get_mut(status)) {
            response.links.insert(name, RefOr::T(link));
        }
    }
}

/// Every POST takes `Idempotency-Key` (SPEC §10, `crate::idempotency`): the header, the answers
/// it may bring, and `Idempotent-Replayed` on a replayed success.
fn idempotent(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{
        path::{ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, Type},
        HeaderBuilder, RefOr, Required,
    };
    let key = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: a fresh random key (a UUID) per operation, sent again with its \
             retries. A retry with the same key, method, path and body within 24 hours answers the \
             first response again (`Idempotent-Replayed: true`) and does nothing more; keys are \
             per caller. 401, 408, 429 and 5xx answers are not kept: a retry runs again.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .example(Some(serde_json::json!(
            "0f8fad5b-d9cb-469f-a165-70867728950e"
        )))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).push(key);
    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        if let (true, RefOr::T(r)) = (status.starts_with('2'), response) {
            let replayed = HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"])))
                .description(Some(
                    "`true` when this is the kept response of an earlier request with the same `Idempotency-Key`.",
                ))
                .build();
            r.headers.insert("Idempotent-Replayed".into(), replayed);
        }
    }
    for (status, text) in [
        ("400", "`invalid_idempotency_key`: `Idempotency-Key` is not 1 to 255 visible ASCII characters."),
        ("409", "`request_in_progress`: the first request with this `Idempotency-Key` is still running; retry after `Retry-After` seconds."),
        ("422", "`idempotency_key_reused`: this `Idempotency-Key` was used with another method, path or body."),
    ] {
        match responses.get_mut(status) {
            Some(RefOr::T(r)) => {
                r.description.push_str("\n\n");
                r.description.push_str(text);
            }
            _ => {
                let r = ResponseBuilder::new().description(text).build();
                responses.insert(status.into(), r.into());
            }
        }
    }
}

/// `schema`, or the component schema its `$ref` names.
fn resolve<'a>(
    schemas: &'a serde_json::Value,
    schema: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        Some(name) => &schemas[name],
        None => schema,
    }
}

/// Whether `schema` (through `$ref` and `allOf`) has an `id` property.
fn has_id(schemas: &serde_json::Value, schema: &serde_json::Value) -> bool {
    let schema = resolve(schemas, schema);
    schema["properties"]["id"].is_object()
        || schema["allOf"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|part| has_id(schemas, part)))
}

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
            `POST /api/v1/auth/login` or an API token (`rst_…`). Errors are RFC 9457 problem documents \
            with a stable `code`.",
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

/// Gives every 4xx/5xx response of every operation the problem+json body, and adds the
/// responses any operation can give: 401 where it is secured, 503 everywhere under `/api`.
pub fn finish(mut api: OpenApi) -> OpenApi {
    let problem = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build()
    };
    for (path, item) in api.paths.paths.iter_mut() {
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
            if secured && !responses.contains_key("401") {
                let r = ResponseBuilder::new()
                    .description("`unauthenticated`: no valid access token or API token.")
                    .build();
                responses.insert("401".into(), r.into());
            }
            if path.starts_with("/api/") && !responses.contains_key("503") {
                let r = ResponseBuilder::new()
                    .description("`database_unavailable`: retry after `Retry-After` seconds.")
                    .build();
                responses.insert("503".into(), r.into());
            }
            for (status, response) in responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let (true, utoipa::openapi::RefOr::T(r)) = (is_error, response) {
                    r.content.clear();
                    r.content
                        .insert("application/problem+json".into(), problem());
                }
            }
        }
    }
    api
}

//! Browser clients: security headers on every response (a strict CSP on the API, one Swagger UI
//! works under on `/docs`, `no-store` on API answers), and CORS: off by default; with an
//! allow-list, a preflight from a listed origin is answered and one from another is refused with a
//! problem; credentials are never allowed, and `*` is answered as `*`.

use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::json;

use crate::helpers::{Reply, TestApp};
use api::browser::CorsOrigins;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[track_caller]
fn assert_secured(headers: &HeaderMap, docs: bool) {
    assert_eq!(header(headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(headers, "referrer-policy"), Some("no-referrer"));
    let csp = header(headers, "content-security-policy").expect("a CSP");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    if docs {
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("'unsafe-eval'"),
            "{csp}"
        );
    } else {
        assert!(
            csp.starts_with("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(header(headers, "cache-control"), Some("no-store"));
    }
}

/// A preflight from `origin` for a PATCH with the headers a console sends.
async fn preflight(app: &TestApp, origin: &str) -> Reply {
    let req = app
        .client
        .request(
            Method::OPTIONS,
            format!(
                "{}/api/v1/users/0190d3f4-0000-7000-8000-000000000000",
                app.base
            ),
        )
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization, content-type, if-match, idempotency-key",
        );
    TestApp::read(req.send().await.expect("sent")).await
}

async fn get_from(app: &TestApp, origin: &str, token: &str) -> Reply {
    app.call(
        Method::GET,
        "/api/v1/users?limit=1",
        Some(token),
        None,
        &[("origin", origin)],
    )
    .await
}

both! {
    async fn every_response_carries_the_security_headers(app: TestApp) {
        let (admin, _) = app.admin().await;
        assert_secured(&app.get("/api/v1/users", &admin).await.headers, false);
        // A problem, a sign-in's tokens, an unknown path, the health check and the document.
        assert_secured(&app.get("/api/v1/users/nope", &admin).await.headers, false);
        let signed_in = app.login("admin", crate::helpers::PASSWORD).await;
        assert_secured(&signed_in.headers, false);
        assert_secured(&app.get("/no/such/path", &admin).await.headers, false);
        assert_secured(&app.call(Method::GET, "/healthz", None, None, &[]).await.headers, false);
        assert_secured(&app.call(Method::GET, "/api/v1/openapi.json", None, None, &[]).await.headers, false);
        let docs = app.client.get(format!("{}/docs/", app.base)).send().await.expect("sent");
        assert_eq!(docs.status(), StatusCode::OK);
        assert_secured(docs.headers(), true);
        // CORS is off by default: no origin is allowed, and a same-origin call is served.
        let refused = preflight(app, "https://admin.example.com").await;
        assert_eq!(header(&refused.headers, "access-control-allow-origin"), None);
        let plain = get_from(app, &app.base, &admin).await;
        plain.ok(200);
        assert_eq!(header(&plain.headers, "access-control-allow-origin"), None);
    }

    async fn cors_answers_listed_origins_and_refuses_others(app: TestApp) {
        let listed = CorsOrigins::parse("https://admin.example.com, http://localhost:5173").expect("origins");
        let app = &TestApp::spawn_with(app.db, move |c| c.cors_origins = listed).await;
        let (admin, _) = app.admin().await;
        let allowed = preflight(app, "https://admin.example.com").await;
        assert!(allowed.status.is_success(), "{:?} {}", allowed.status, allowed.body);
        assert_eq!(header(&allowed.headers, "access-control-allow-origin"), Some("https://admin.example.com"));
        assert!(header(&allowed.headers, "access-control-allow-methods").is_some_and(|m| m.contains("PATCH")));
        let headers = header(&allowed.headers, "access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
        for h in ["authorization", "content-type", "if-match", "idempotency-key"] {
            assert!(headers.contains(h), "{h} in {headers}");
        }
        assert_eq!(header(&allowed.headers, "access-control-allow-credentials"), None);
        assert!(header(&allowed.headers, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")));

        // A call from the listed origin can read its answer and the headers a console needs.
        let read = get_from(app, "http://localhost:5173", &admin).await;
        read.ok(200);
        assert_eq!(header(&read.headers, "access-control-allow-origin"), Some("http://localhost:5173"));
        let exposed = header(&read.headers, "access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
        assert!(exposed.contains("etag") && exposed.contains("location"), "{exposed}");

        // Another origin: its preflight is refused with a problem, its plain call gets no CORS headers.
        let refused = preflight(app, "https://evil.example").await;
        refused.problem(403, "origin_not_allowed");
        assert_eq!(header(&refused.headers, "access-control-allow-origin"), None);
        let other = get_from(app, "https://evil.example", &admin).await;
        assert_eq!(header(&other.headers, "access-control-allow-origin"), None);
        // A replayed idempotent answer carries CORS headers too.
        let body = json!({"name": "Crew"});
        let headers = [("origin", "https://admin.example.com"), ("idempotency-key", "g-1")];
        app.call(Method::POST, "/api/v1/groups", Some(&admin), Some(body.clone()), &headers).await.ok(201);
        let replay = app.call(Method::POST, "/api/v1/groups", Some(&admin), Some(body), &headers).await;
        assert_eq!(header(&replay.headers, "idempotent-replayed"), Some("true"));
        assert_eq!(header(&replay.headers, "access-control-allow-origin"), Some("https://admin.example.com"));
    }

    async fn cors_for_any_origin_answers_a_star_and_never_credentials(app: TestApp) {
        let app = &TestApp::spawn_with(app.db, |c| c.cors_origins = CorsOrigins::Any).await;
        let (admin, _) = app.admin().await;
        let allowed = preflight(app, "https://anywhere.example").await;
        assert!(allowed.status.is_success(), "{:?}", allowed.status);
        assert_eq!(header(&allowed.headers, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&allowed.headers, "access-control-allow-credentials"), None);
        let read = get_from(app, "https://anywhere.example", &admin).await;
        assert_eq!(header(&read.headers, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&read.headers, "access-control-allow-credentials"), None);
    }
}

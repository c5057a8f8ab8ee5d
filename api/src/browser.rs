//! What a browser needs to call Roster safely: a CORS allow-list (off by default) and security
//! headers on every response.
//!
//! - **CORS** (`ROSTER_CORS_ORIGINS`, [`actix_cors`]): origins listed exactly (`scheme://host[:port]`)
//!   or `*`. Roster's credentials are bearer tokens a script sets on each request, never cookies, so
//!   `Access-Control-Allow-Credentials` is never sent, and `*` is answered as `*`. A preflight from
//!   an origin not listed answers 403 `origin_not_allowed`; a plain request from it is served
//!   without CORS headers, so the browser keeps the answer from the page.
//! - **Headers** on every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy:
//!   no-referrer`, a `Content-Security-Policy` that lets nothing load, run or frame it (the API
//!   answers JSON and CSV, never pages; `frame-ancestors` does the work of `X-Frame-Options`,
//!   which is not sent: these bytes go out with every response) and, on `/docs`, one Swagger UI
//!   works under (its own scripts and styles, inline styles, data: images, calls to this
//!   origin). Every API response is `Cache-Control: no-store`: they carry tokens, secrets or
//!   personal data.

use actix_cors::Cors;
use actix_web::http::{
    header::{self, HeaderMap, HeaderValue},
    Method,
};

use crate::{
    idempotency::{IDEMPOTENCY_KEY, REPLAYED},
    middleware::REQUEST_ID,
};

/// The origins allowed to call from another origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// CORS off: no cross-origin caller.
    #[default]
    None,
    Any,
    Listed(Vec<String>),
}

impl CorsOrigins {
    /// A comma-separated list of origins (`https://admin.example.com`, `http://localhost:5173`),
    /// or `*`; empty: none.
    pub fn parse(list: &str) -> Result<Self, String> {
        let entries: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Ok(Self::None);
        }
        if entries == ["*"] {
            return Ok(Self::Any);
        }
        entries
            .iter()
            .map(|e| origin(e).ok_or_else(|| format!("ROSTER_CORS_ORIGINS: {e:?} is not an origin (scheme://host[:port], no path), and `*` stands alone")))
            .collect::<Result<_, _>>()
            .map(Self::Listed)
    }

    /// The CORS middleware for these origins (`None`: CORS off, nothing installed).
    pub fn middleware(&self) -> Option<Cors> {
        let cors = match self {
            Self::None => return None,
            Self::Any => Cors::default().allow_any_origin().send_wildcard(),
            Self::Listed(origins) => origins
                .iter()
                .fold(Cors::default(), |cors, o| cors.allowed_origin(o)),
        };
        Some(
            cors.allowed_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::PUT,
                Method::DELETE,
            ])
            .allowed_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::IF_MATCH,
                IDEMPOTENCY_KEY,
                REQUEST_ID,
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                header::CONTENT_DISPOSITION,
                REQUEST_ID,
                REPLAYED,
            ])
            .max_age(600)
            .block_on_origin_mismatch(false),
        )
    }
}

/// `scheme://host[:port]` lower-cased, as a browser sends it in `Origin`; `None`: not one.
fn origin(entry: &str) -> Option<String> {
    let (scheme, rest) = entry.split_once("://")?;
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    let valid = matches!(scheme, "http" | "https")
        && !host_port.is_empty()
        && !host_port.contains(['/', '?', '#', '@', ' ', '*']);
    valid.then(|| format!("{scheme}://{}", host_port.to_ascii_lowercase()))
}

const API_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
const DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
);

/// Sets the security headers on a response (`docs`: to a request under `/docs`).
pub fn secure(docs: bool, headers: &mut HeaderMap) {
    headers.reserve(4);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if docs {
        headers.insert(header::CONTENT_SECURITY_POLICY, DOCS_CSP);
    } else {
        headers.insert(header::CONTENT_SECURITY_POLICY, API_CSP);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact_scheme_host_port_or_a_lone_star() {
        assert_eq!(CorsOrigins::parse(""), Ok(CorsOrigins::None));
        assert_eq!(CorsOrigins::parse(" * "), Ok(CorsOrigins::Any));
        assert_eq!(
            CorsOrigins::parse("https://Admin.Example.com, http://localhost:5173/"),
            Ok(CorsOrigins::Listed(vec![
                "https://admin.example.com".into(),
                "http://localhost:5173".into()
            ]))
        );
        for bad in [
            "admin.example.com",
            "https://a.example/path",
            "ftp://a.example",
            "*, https://a.example",
            "https://*.example.com",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
    }
}

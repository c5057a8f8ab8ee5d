//! What answers when no route matched: 405 with `Allow` when the path exists under another
//! method, else 404. The registered routes are read from the OpenAPI document, which cannot miss
//! one (every handler is registered through it).

use actix_web::{http::header, web, HttpRequest, HttpResponse, ResponseError as _};
use utoipa::openapi::OpenApi;

use crate::error::{ApiError, ErrorCode};

/// Path templates (`/api/v1/users/{id}`) and the methods each allows.
pub struct Routes(Vec<(Vec<String>, Vec<&'static str>)>);

impl Routes {
    pub fn from_document(doc: &OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                (
                    segments,
                    methods
                        .into_iter()
                        .filter(|(_, present)| *present)
                        .map(|(m, _)| m)
                        .collect(),
                )
            })
            .collect();
        Self(routes)
    }

    fn allowed(&self, path: &str) -> Option<&[&'static str]> {
        let wanted: Vec<&str> = path.split('/').collect();
        self.0.iter().find_map(|(template, methods)| {
            let matches = template.len() == wanted.len()
                && template
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| t == w || (t.starts_with('{') && !w.is_empty()));
            matches.then_some(methods.as_slice())
        })
    }
}

pub async fn no_route(req: HttpRequest, routes: web::Data<Routes>) -> HttpResponse {
    match routes.allowed(req.path()) {
        Some(methods) => {
            let detail = format!(
                "{} is not allowed on {}; use {}",
                req.method(),
                req.path(),
                methods.join(", ")
            );
            let mut response = ApiError::new(ErrorCode::MethodNotAllowed, detail).error_response();
            if let Ok(allow) = header::HeaderValue::from_str(&methods.join(", ")) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            response
        }
        None => ApiError::new(
            ErrorCode::NotFound,
            format!("no route for {} {}", req.method(), req.path()),
        )
        .error_response(),
    }
}

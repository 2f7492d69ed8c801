//! The browser UI, compiled into the binary: no files to install and no
//! network at run time.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("ui/index.html");
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("ui/app.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("ui/app.css")),
];

/// Scripts and styles from this server only; inline styles for SVG and
/// the simulation report shown in a sandboxed frame.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; frame-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'none'";

fn with_type(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The page.
pub(crate) fn page() -> Response {
    with_type(INDEX, "text/html; charset=utf-8")
}

/// A script or stylesheet.
pub(crate) fn asset(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => with_type(body, ty),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

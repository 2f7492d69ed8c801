//! API errors: one JSON shape for every failure, with a stable code.
//!
//! The shape is Graph's error envelope (`{"error": {"code", "message"}}`,
//! <https://learn.microsoft.com/en-us/graph/errors>), so a script written
//! against Graph's `evaluateDynamicMembership` handles fleetlab's failures
//! with the code it already has; fleetlab adds `details` (rule diagnostics)
//! where it has them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A failed request: HTTP status, stable code, message, optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`invalid-rule`, `time-budget-exceeded`, …).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured details (rule errors with spans), when there are any.
    pub details: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: None }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `not-found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// 500 `internal`: something fleetlab did not expect (a worker that died).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The same error with structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let envelope = Envelope {
            error: Body { code: self.code, message: &self.message, details: self.details.as_ref() },
        };
        serde_json::to_string(&envelope)
            .unwrap_or_else(|_| String::from("{\"error\":{\"code\":\"internal\"}}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_graphs_error_envelope() -> Result<(), serde_json::Error> {
        let e = ApiError::bad_request("invalid-rule", "no").with_details(serde_json::json!([1]));
        let v: serde_json::Value = serde_json::from_str(&e.body())?;
        assert_eq!(v["error"]["code"], "invalid-rule");
        assert_eq!(v["error"]["message"], "no");
        assert_eq!(v["error"]["details"][0], 1);
        Ok(())
    }
}

//! Errors of the Graph adapter, and the parser for Graph's error bodies.
//!
//! Graph has two error dialects (graph-api.md §3.9): directory endpoints put
//! a code such as `Request_ResourceNotFound` and a sentence in
//! `error.code`/`error.message`; Intune endpoints (everything under
//! `/deviceManagement`) put a plain HTTP word in `code` and a *JSON
//! document* in `message`, whose `Message` ends in
//! `" - Operation ID (for customer support): … - Activity ID: … - Url: …"`.
//! [`ApiError::parse`] reads both and keeps only what an admin can act on:
//! the human sentence, the code, and the Activity ID for a support ticket.

use std::fmt;

/// A Graph error response, reduced to what matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `error.code` (`Request_ResourceNotFound`, `BadRequest`, …), or
    /// `HttpNNN` when the body carried none.
    pub code: String,
    /// The human message (for Intune errors, the text inside the wrapped
    /// document, without the support boilerplate).
    pub message: String,
    /// The Activity ID of an Intune-wrapped error (quote it to support).
    pub activity_id: Option<String>,
}

impl ApiError {
    /// Reads an error body of either dialect. Bodies that are not Graph
    /// errors (an HTML proxy page, nothing) keep the status and a short
    /// excerpt.
    ///
    /// ```
    /// use fleetlab::msgraph::ApiError;
    /// let body = r#"{"error":{"code":"BadRequest","message":"{\r\n  \"_version\": 3,\r\n  \"Message\": \"Another Profile 17fa is already assigned to All Devices. - Operation ID (for customer support): 0000 - Activity ID: ec70 - Url: https://fef.example/x\",\r\n  \"RetryAfter\": null\r\n}"}}"#;
    /// let e = ApiError::parse(400, body.as_bytes());
    /// assert_eq!(e.message, "Another Profile 17fa is already assigned to All Devices.");
    /// assert_eq!(e.activity_id.as_deref(), Some("ec70"));
    /// assert_eq!(e.code, "BadRequest");
    /// ```
    pub fn parse(status: u16, body: &[u8]) -> ApiError {
        let fallback =
            || ApiError { status, code: format!("Http{status}"), message: excerpt(body), activity_id: None };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return fallback() };
        let Some(error) = value.get("error") else { return fallback() };
        // OAuth token endpoint: {"error": "invalid_client", "error_description": "AADSTS…"}
        if let Some(code) = error.as_str() {
            let message = value
                .get("error_description")
                .and_then(|d| d.as_str())
                .map(|d| d.lines().next().unwrap_or(d).to_string())
                .unwrap_or_default();
            return ApiError { status, code: code.to_string(), message, activity_id: None };
        }
        let code = error
            .get("code")
            .and_then(|c| c.as_str())
            .map_or_else(|| format!("Http{status}"), str::to_string);
        let raw = error.get("message").and_then(|m| m.as_str()).unwrap_or("");
        let (message, activity_id) = unwrap_intune(raw);
        ApiError { status, code, message, activity_id }
    }

    /// True for the codes that mean "start the delta round again".
    pub fn is_resync(&self) -> bool {
        self.status == 410 || matches!(self.code.as_str(), "resyncRequired" | "syncStateNotFound")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.code, self.message)?;
        if let Some(id) = &self.activity_id {
            write!(f, " (Activity ID {id})")?;
        }
        Ok(())
    }
}

/// The human text and Activity ID inside an Intune-wrapped message, or the
/// message itself when it is plain text.
fn unwrap_intune(raw: &str) -> (String, Option<String>) {
    let Ok(inner) = serde_json::from_str::<serde_json::Value>(raw) else {
        return (raw.to_string(), None);
    };
    let Some(text) = inner.get("Message").and_then(|m| m.as_str()) else {
        return (raw.to_string(), None);
    };
    let activity = text
        .split(" - Activity ID: ")
        .nth(1)
        .map(|rest| rest.split(" - ").next().unwrap_or(rest).trim().to_string());
    let human = text.split(" - Operation ID").next().unwrap_or(text).trim().to_string();
    (human, activity)
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    } else if one_line.is_empty() {
        "(empty body)".to_string()
    } else {
        one_line
    }
}

/// Why a Graph call, a pull or a plan failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The adapter is configured wrongly (a bad URL, a missing tenant).
    #[error("configuration: {0}")]
    Config(String),
    /// The client secret could not be read. Never carries the secret.
    #[error("client secret: {0}")]
    Secret(String),
    /// The token endpoint refused the credentials.
    #[error("sign-in failed: {0}")]
    Auth(ApiError),
    /// Graph answered with an error that retrying does not fix.
    #[error("{method} {path}: {error}")]
    Api {
        /// HTTP method.
        method: String,
        /// The path of the request (no query: tokens live there).
        path: String,
        /// The parsed error.
        error: Box<ApiError>,
    },
    /// Graph answered 403: the application lacks a permission. `permission`
    /// names the one the route needs ([`crate::msgraph::permissions`]),
    /// since directory 403s do not say.
    #[error("{method} {path}: {error}{}", permission.as_ref().map(|p| format!("; {p}")).unwrap_or_default())]
    Forbidden {
        /// HTTP method.
        method: String,
        /// The path of the request.
        path: String,
        /// The parsed error.
        error: Box<ApiError>,
        /// What to grant, as a sentence.
        permission: Option<String>,
    },
    /// A delta token expired or was rejected (410 Gone, `resyncRequired`):
    /// the round must start again from `location` or the initial URL.
    #[error("{path}: delta state expired ({code}); a full resync is needed")]
    Resync {
        /// The path of the request.
        path: String,
        /// `resyncRequired`, `syncStateNotFound` or `Gone`.
        code: String,
        /// The `Location` header of a 410, a fresh initial URL.
        location: Option<String>,
    },
    /// Retries ran out on throttling, server errors or broken connections.
    #[error("{method} {path}: gave up after {attempts} attempts; last: {last}")]
    RetriesExhausted {
        /// HTTP method.
        method: String,
        /// The path of the request.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// A nextLink or a page came back a second time: the server is looping
    /// (graph-api.md §3.4) and following it would never end.
    #[error("{path}: paging loop: {what}")]
    PagingLoop {
        /// The collection being listed.
        path: String,
        /// What repeated.
        what: String,
    },
    /// A link points away from the configured Graph root; the bearer token
    /// is never sent there.
    #[error("refusing to follow a link to {host}, which is not the configured Graph root")]
    ForeignLink {
        /// Scheme, host and port of the link.
        host: String,
    },
    /// The server answered with a redirect, which fleetlab never follows:
    /// it would carry the bearer token (or, from the token endpoint, the
    /// client secret) to wherever `Location` points.
    #[error("{method} {path}: the server redirected (HTTP {status}) to {to}; fleetlab follows no redirects{}",
            if *.secret { ", so the client secret was not sent again: check --authority-url" } else { ": check --graph-url" })]
    Redirected {
        /// HTTP method.
        method: String,
        /// The path of the request.
        path: String,
        /// The 3xx status.
        status: u16,
        /// Scheme, host and port of the `Location`.
        to: String,
        /// True for the token endpoint.
        secret: bool,
    },
    /// An id from the server (or the snapshot) is not a Graph object id;
    /// it is never put into a request path ([`crate::msgraph::ids`]).
    #[error("{what}: {id} is not a Graph object id; refusing to put it into a request path")]
    BadId {
        /// What the id belongs to.
        what: String,
        /// The id, quoted and shortened.
        id: String,
    },
    /// A write was not sent because the tenant no longer matches the plan.
    #[error("refused: {0}")]
    Refused(String),
    /// A success response that is not the expected JSON.
    #[error("{path}: unexpected response: {message}")]
    Malformed {
        /// The path of the request.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The snapshot database failed.
    #[error("snapshot {0}")]
    Snapshot(#[from] crate::msgraph::snapshot::SnapshotError),
    /// The local runtime could not start.
    #[error("runtime: {0}")]
    Runtime(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_errors_keep_code_and_message() {
        let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist.","innerError":{"date":"d"}}}"#;
        let e = ApiError::parse(404, body);
        assert_eq!(e.code, "Request_ResourceNotFound");
        assert_eq!(e.message, "Resource 'x' does not exist.");
        assert_eq!(e.activity_id, None);
    }

    #[test]
    fn intune_forbidden_is_unwrapped() {
        let body = r#"{"error":{"code":"Forbidden","message":"{\r\n  \"_version\": 3,\r\n  \"Message\": \"Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.Read.All - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: d72077bf-5948-4a06-a1ae-2ba5f241159b - Url: https://fef.msub01.manage.microsoft.com/x?api-version=1\",\r\n  \"CustomApiErrorPhrase\": \"\",\r\n  \"RetryAfter\": null\r\n}"}}"#;
        let e = ApiError::parse(403, body.as_bytes());
        assert_eq!(
            e.message,
            "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.Read.All"
        );
        assert_eq!(e.activity_id.as_deref(), Some("d72077bf-5948-4a06-a1ae-2ba5f241159b"));
        assert!(e.to_string().contains("HTTP 403 Forbidden"));
    }

    #[test]
    fn token_errors_and_garbage() {
        let e = ApiError::parse(400, br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#);
        assert_eq!(e.code, "invalid_client");
        assert_eq!(e.message, "AADSTS7000215: Invalid client secret provided.");
        let e = ApiError::parse(502, b"<html><body>Bad gateway</body></html>");
        assert_eq!(e.code, "Http502");
        assert!(e.message.contains("Bad gateway"));
        assert!(ApiError::parse(410, b"").is_resync());
    }
}

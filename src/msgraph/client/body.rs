//! Reading a response body from a server that may misbehave.
//!
//! Design decisions, and why:
//!
//! * **A size limit on every body** ([`read_limited`]). A Graph page is a
//!   few megabytes at most (999 devices with every property is about
//!   3 MB); a server that streams forever must not grow the process until
//!   the machine swaps. The limit is checked against `Content-Length`
//!   before reading and against the bytes read while reading, so neither a
//!   lying header nor a chunked endless body gets past it.
//! * **A cut-off body is retried, anything else that is not JSON is not**
//!   ([`parse_json`]). A transfer cut short ends in the middle of a value
//!   (serde_json's "EOF" category): that is a network fault, and the same
//!   request may well succeed. An HTML page (a proxy, a captive portal, a
//!   wrong URL), a body nested deeper than serde_json's recursion limit of
//!   128, or any other syntax error will be answered the same way next
//!   time: retrying it only hides the problem for the length of the retry
//!   budget, so it fails at once with what the body looked like.

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use serde_json::Value;

/// Why a body could not be used.
#[derive(Debug)]
pub(crate) enum BodyProblem {
    /// The connection failed while reading (retry-worthy).
    Transport(reqwest::Error),
    /// The body is larger than the limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// Reads the whole body of `response`, refusing more than `limit` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyProblem> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyProblem::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyProblem::Transport)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyProblem::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What a body that should be JSON turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotJson {
    /// It ends in the middle of a value: a transfer cut short.
    Truncated(String),
    /// It is something else (HTML, text, nesting too deep): permanent.
    Other(String),
}

/// Parses `body` as JSON, telling a truncated transfer from a body that is
/// not JSON at all.
pub(crate) fn parse_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, NotJson> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if content_type.to_ascii_lowercase().contains("html") || first == Some(b'<') {
        return Err(NotJson::Other(format!("an HTML page, not JSON (starts {})", excerpt(body))));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => Ok(value),
        Err(e) if e.is_eof() => {
            Err(NotJson::Truncated(format!("body cut short after {} bytes ({e})", body.len())))
        }
        Err(e) => Err(NotJson::Other(format!("not JSON ({e}); starts {}", excerpt(body)))),
    }
}

/// The first few characters of a body, on one line, quoted.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = line.chars().take(60).collect();
    if short.len() < line.len() || body.len() > 120 {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn truncation_html_and_depth_are_told_apart() {
        let none = HeaderMap::new();
        assert!(parse_json(&none, br#"{"value": [1, 2"#).is_err_and(|e| matches!(e, NotJson::Truncated(_))));
        assert!(parse_json(&none, b"").is_err_and(|e| matches!(e, NotJson::Truncated(_))));
        let page = parse_json(&none, b"<html><body>Sign in</body></html>");
        assert!(page.is_err_and(|e| matches!(e, NotJson::Other(m) if m.contains("HTML"))));
        let mut html = HeaderMap::new();
        html.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        assert!(parse_json(&html, b"{}").is_err_and(|e| matches!(e, NotJson::Other(_))));
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let nested = parse_json(&none, deep.as_bytes());
        assert!(nested.is_err_and(|e| matches!(e, NotJson::Other(m) if m.contains("recursion"))));
        assert_eq!(parse_json(&none, br#"{"a":1}"#).ok(), Some(serde_json::json!({"a": 1})));
    }
}

//! Sign-in and permissions: the token endpoint and the per-route check of
//! a token's roles.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::server::{parse_query, Incoming, Shared};
use super::tenant::{graph_error, intune_error, Reply};

/// Graph's 403 when the token's roles grant none of the permissions the
/// route accepts: Intune's wrapped message listing the scopes
/// (graph-api.md F22) under `/deviceManagement`, the directory's
/// `Authorization_RequestDenied` elsewhere (F23), which names none.
pub(super) fn permission_denied(method: &str, rest: &str, roles: &[String]) -> Option<Reply> {
    let need = crate::msgraph::permissions::required(method, rest)?;
    if need.granted_by(roles) {
        return None;
    }
    let path = format!("/{}", rest.split('?').next().unwrap_or(rest));
    Some(if path.starts_with("/deviceManagement") {
        intune_error(
            403,
            "Forbidden",
            &format!(
                "Application is not authorized to perform this operation. Application must have one of the \
                 following scopes: {}",
                need.accepted.join(", ")
            ),
            &path,
        )
    } else {
        graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    })
}

pub(super) fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = parse_query(&String::from_utf8_lossy(&req.body));
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let oauth_error = |status: u16, code: &str, description: &str| {
        Reply::json(
            status,
            &json!({"error": code, "error_description": description, "error_codes": [], "timestamp": crate::rule::Timestamp::now().to_string()}),
        )
    };
    if get("grant_type") != "client_credentials" {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if get("client_id").is_empty() {
        return oauth_error(
            400,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        );
    }
    if !get("scope").ends_with("/.default") {
        return oauth_error(
            400,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid; client credentials need '/.default'.",
        );
    }
    let Ok(mut tenant) = shared.tenant.lock() else { return graph_error(500, "generalException", "lock") };
    let secret_ok = match &tenant.config.client_secret {
        Some(expected) => get("client_secret") == expected,
        None => !get("client_secret").is_empty(),
    };
    if !secret_ok {
        return oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.");
    }
    let directory = req.path.trim_matches('/').split('/').next().unwrap_or("");
    let (access_token, expires_in) = tenant.issue_token(directory);
    shared.counters.tokens.fetch_add(1, Ordering::Relaxed);
    Reply::json(
        200,
        &json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": access_token}),
    )
}

//! `$batch`: up to 20 requests in one envelope, each routed, faulted and
//! permission-checked as if sent alone.

use std::sync::atomic::Ordering;

use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::permission_denied;
use super::faults::Fault;
use super::server::{parse_query, percent_decode, Shared};
use super::tenant::{graph_error, Reply};

pub(super) fn batch(shared: &Shared, version: &str, body: &[u8], roles: &[String]) -> Reply {
    #[derive(Deserialize)]
    struct Envelope {
        requests: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        id: String,
        method: String,
        url: String,
        #[serde(default)]
        body: Option<Value>,
        #[serde(default, rename = "dependsOn")]
        depends_on: Vec<String>,
        #[serde(default)]
        headers: std::collections::BTreeMap<String, String>,
    }
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => return graph_error(400, "BadRequest", &format!("Invalid batch payload: {e}")),
    };
    if envelope.requests.len() > 20 {
        return graph_error(400, "BadRequest", "Number of included requests exceeds the maximum of 20.");
    }
    let mut ids = std::collections::HashSet::new();
    if !envelope.requests.iter().all(|r| ids.insert(r.id.clone())) {
        return graph_error(400, "BadRequest", "Batch request ids must be unique.");
    }
    let mut statuses: std::collections::HashMap<String, u16> = std::collections::HashMap::new();
    let mut responses = Vec::new();
    for item in &envelope.requests {
        let failed_dep = item.depends_on.iter().any(|d| statuses.get(d).is_none_or(|s| *s >= 400));
        let reply = if failed_dep {
            graph_error(424, "FailedDependency", "The dependent request failed.")
        } else {
            shared.counters.requests.fetch_add(1, Ordering::Relaxed);
            let (path, query) = item.url.split_once('?').unwrap_or((item.url.as_str(), ""));
            let path = percent_decode(path);
            let method = item.method.to_uppercase();
            let eventual = item.headers.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("ConsistencyLevel") && v.trim().eq_ignore_ascii_case("eventual")
            });
            match (shared.draw(), permission_denied(&method, path.trim_start_matches('/'), roles)) {
                (Fault::Reply(r), _) => r,
                (_, Some(denied)) => denied,
                _ => {
                    let body = item.body.as_ref().map(|b| b.to_string().into_bytes()).unwrap_or_default();
                    match shared.tenant.lock() {
                        Ok(mut t) => t.route(
                            &method,
                            version,
                            &path,
                            &parse_query(query),
                            &body,
                            &shared.base,
                            eventual,
                        ),
                        Err(_) => graph_error(500, "generalException", "lock"),
                    }
                }
            }
        };
        statuses.insert(item.id.clone(), reply.status);
        let headers: serde_json::Map<String, Value> =
            reply.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let mut out = json!({"id": item.id, "status": reply.status, "headers": headers});
        if !reply.body.is_empty() {
            out["body"] = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        }
        responses.push(out);
    }
    // Graph answers in any order; the fake answers in reverse.
    responses.reverse();
    Reply::json(200, &json!({ "responses": responses }))
}

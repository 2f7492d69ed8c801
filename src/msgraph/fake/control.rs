//! The test endpoints under `/_fake/`: edit devices, move the clock,
//! expire delta tokens, replace the faults, read the counters.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};

use super::faults::rng;
use super::server::Shared;
use super::tenant::{graph_error, Reply};
use super::{FakeError, Faults};

pub(super) fn test_endpoint(shared: &Shared, method: &str, rest: &str, body: &[u8]) -> Reply {
    let parsed = || {
        serde_json::from_slice::<Value>(body)
            .map_err(|e| graph_error(400, "BadRequest", &format!("invalid JSON: {e}")))
    };
    let result: Result<Reply, FakeError> = (|| {
        let mut tenant = shared.tenant.lock().map_err(|_| FakeError::Server("lock".into()))?;
        tenant.settle();
        match (method, rest.trim_end_matches('/').split('/').collect::<Vec<_>>().as_slice()) {
            ("POST", ["devices"]) => {
                let value = match parsed() {
                    Ok(v) => v,
                    Err(r) => return Ok(r),
                };
                let list = match value {
                    Value::Array(list) => list,
                    one => vec![one],
                };
                let mut ids = Vec::new();
                for d in &list {
                    ids.push(tenant.put_device(d)?);
                }
                Ok(Reply::json(200, &json!({ "ids": ids })))
            }
            ("PATCH", ["devices", id]) => {
                let value = match parsed() {
                    Ok(v) => v,
                    Err(r) => return Ok(r),
                };
                Ok(if tenant.patch_device(id, &value)? {
                    Reply::empty(204)
                } else {
                    graph_error(404, "Request_ResourceNotFound", id)
                })
            }
            ("DELETE", ["devices", id]) => Ok(if tenant.delete_device(id) {
                Reply::empty(204)
            } else {
                graph_error(404, "Request_ResourceNotFound", id)
            }),
            ("POST", ["clock", "advance"]) => {
                let seconds = match parsed() {
                    Ok(v) => v.get("seconds").and_then(Value::as_f64),
                    Err(r) => return Ok(r),
                };
                match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                    Some(by) => {
                        tenant.advance_clock(by);
                        Ok(Reply::empty(204))
                    }
                    None => {
                        Ok(graph_error(400, "BadRequest", "expected {\"seconds\": a non-negative number}"))
                    }
                }
            }
            ("GET", ["imports"]) => Ok(Reply::json(200, &json!({ "value": tenant.imports_json() }))),
            ("POST", ["delta", "expire"]) => {
                tenant.expire_delta();
                Ok(Reply::empty(204))
            }
            ("PUT", ["faults"]) => {
                drop(tenant);
                let faults: Faults = match serde_json::from_slice(body) {
                    Ok(f) => f,
                    Err(e) => return Ok(graph_error(400, "BadRequest", &e.to_string())),
                };
                let mut slot = shared.faults.lock().map_err(|_| FakeError::Server("lock".into()))?;
                let seed = faults.seed;
                *slot = (faults, rng(seed));
                Ok(Reply::empty(204))
            }
            ("GET", ["stats"]) => {
                drop(tenant);
                let c = &shared.counters;
                Ok(Reply::json(
                    200,
                    &json!({
                    "requests": c.requests.load(Ordering::Relaxed), "tokens": c.tokens.load(Ordering::Relaxed),
                    "throttled": c.throttled.load(Ordering::Relaxed), "server_errors": c.server_errors.load(Ordering::Relaxed),
                    "unavailable": c.unavailable.load(Ordering::Relaxed), "truncated": c.truncated.load(Ordering::Relaxed)}),
                ))
            }
            _ => Ok(graph_error(404, "NotFound", "no such test endpoint")),
        }
    })();
    result.unwrap_or_else(|e| graph_error(400, "BadRequest", &e.to_string()))
}

//! The HTTP server: startup and shutdown, the shared state, and the
//! dispatch of each request to the token endpoint, the test endpoints,
//! `$batch` or the tenant's router.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use rand_pcg::Pcg64;

use super::auth::{permission_denied, token};
use super::batch::batch;
use super::control::test_endpoint;
use super::faults::{apply_loop_bug, rng, Fault};
use super::tenant::{graph_error, Reply, Tenant};
use super::{modes, FakeConfig, FakeError, FakeHandle, Faults, Scenario};

#[derive(Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) tokens: AtomicU64,
    pub(super) throttled: AtomicU64,
    pub(super) server_errors: AtomicU64,
    pub(super) unavailable: AtomicU64,
    pub(super) truncated: AtomicU64,
}

pub(super) struct Shared {
    pub(super) tenant: Mutex<Tenant>,
    pub(super) faults: Mutex<(Faults, Pcg64)>,
    pub(super) counters: Counters,
    pub(super) base: String,
}

/// A fake running on a background thread; stopped when dropped.
pub struct FakeServer {
    handle: FakeHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    /// Starts serving `scenario` on `127.0.0.1:port` (0 picks a free port).
    ///
    /// ```
    /// use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Scenario};
    /// let scenario = Scenario { devices: vec![serde_json::json!({"id": "d1"})], ..Scenario::default() };
    /// let server = FakeServer::start(scenario, FakeConfig::default(), 0)?;
    /// assert!(server.url().starts_with("http://127.0.0.1:"));
    /// assert_eq!(server.handle().devices()?.len(), 1);
    /// # Ok::<(), fleetlab::msgraph::fake::FakeError>(())
    /// ```
    pub fn start(scenario: Scenario, config: FakeConfig, port: u16) -> Result<FakeServer, FakeError> {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| FakeError::Server(e.to_string()))?;
        listener.set_nonblocking(true).map_err(|e| FakeError::Server(e.to_string()))?;
        let handle = prepare(scenario, config, &listener)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shared = handle.shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-graph".into())
            .spawn(move || {
                let Ok(runtime) =
                    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let _ = run(shared, listener, async {
                        let _ = rx.await;
                    })
                    .await;
                });
            })
            .map_err(|e| FakeError::Server(e.to_string()))?;
        Ok(FakeServer { handle, stop: Some(tx), thread: Some(thread) })
    }

    /// Serves on the current thread until the process ends; `bound` is told
    /// the URL once the socket listens.
    pub fn serve_forever(
        scenario: Scenario,
        config: FakeConfig,
        port: u16,
        bound: impl FnOnce(&str),
    ) -> Result<(), FakeError> {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| FakeError::Server(e.to_string()))?;
        listener.set_nonblocking(true).map_err(|e| FakeError::Server(e.to_string()))?;
        let handle = prepare(scenario, config, &listener)?;
        bound(handle.url());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| FakeError::Server(e.to_string()))?;
        runtime.block_on(run(handle.shared, listener, std::future::pending::<()>()))
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        self.handle.url()
    }

    /// Direct access to the data.
    pub fn handle(&self) -> FakeHandle {
        self.handle.clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn prepare(
    scenario: Scenario,
    config: FakeConfig,
    listener: &std::net::TcpListener,
) -> Result<FakeHandle, FakeError> {
    let addr = listener.local_addr().map_err(|e| FakeError::Server(e.to_string()))?;
    let faults = config.faults.clone();
    let seed = faults.seed;
    let tenant = Tenant::new(scenario, config)?;
    Ok(FakeHandle {
        shared: Arc::new(Shared {
            tenant: Mutex::new(tenant),
            faults: Mutex::new((faults, rng(seed))),
            counters: Counters::default(),
            base: format!("http://{addr}"),
        }),
    })
}

async fn run(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), FakeError> {
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|e| FakeError::Server(e.to_string()))?;
    let app = axum::Router::new().fallback(handle).with_state(shared);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| FakeError::Server(e.to_string()))
}

/// The parts of a request the fake looks at.
pub(super) struct Incoming {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) raw_query: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.map(|b| b.to_vec()).unwrap_or_default();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let incoming = Incoming {
        method: parts.method.as_str().to_string(),
        path: percent_decode(parts.uri.path()),
        query: parse_query(&raw_query),
        raw_query,
        headers: parts.headers,
        body,
    };
    let graph = !incoming.path.starts_with("/_fake/") && !incoming.path.contains("/oauth2/");
    if graph {
        let delay = shared.latency();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    let (reply, truncate) = dispatch(&shared, &incoming);
    into_response(reply, truncate)
}

fn into_response(reply: Reply, truncate: bool) -> axum::response::Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if truncate && reply.body.len() > 2 {
        // Half the body, then a broken stream: hyper aborts the transfer.
        let half = reply.body[..reply.body.len() / 2].to_vec();
        let parts: Vec<Result<Vec<u8>, std::io::Error>> =
            vec![Ok(half), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault: truncated"))];
        Body::from_stream(futures_util::stream::iter(parts))
    } else {
        Body::from(reply.body)
    };
    let mut response = axum::response::Response::new(body);
    *response.status_mut() = status;
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

fn dispatch(shared: &Shared, req: &Incoming) -> (Reply, bool) {
    if let Some(rest) = req.path.strip_prefix("/_fake/") {
        return (test_endpoint(shared, &req.method, rest, &req.body), false);
    }
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    if let [_tenant, "oauth2", "v2.0", "token"] = segs.as_slice() {
        return (token(shared, req), false);
    }
    let bearer = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let roles = shared.tenant.lock().ok().and_then(|t| t.token_roles(bearer));
    let Some(roles) = roles else {
        return (
            graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
            false,
        );
    };
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let truncate = match shared.draw() {
        Fault::Reply(r) => return (r, false),
        Fault::Truncate => true,
        Fault::None => false,
    };
    let Some((version, rest)) = req.path.trim_start_matches('/').split_once('/') else {
        return (graph_error(400, "BadRequest", "Invalid version."), false);
    };
    if version != "v1.0" && version != "beta" {
        return (graph_error(400, "BadRequest", "Invalid version."), false);
    }
    if rest == "$batch" && req.method == "POST" {
        return (batch(shared, version, &req.body, &roles), false);
    }
    if let Some(denied) = permission_denied(&req.method, rest, &roles) {
        return (denied, false);
    }
    let eventual = req
        .headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
    let mut reply = match shared.tenant.lock() {
        Ok(mut t) => {
            let query = modes::with_prefer(&req.query, &req.headers);
            t.route(&req.method, version, rest, &query, &req.body, &shared.base, eventual)
        }
        Err(_) => graph_error(500, "generalException", "tenant lock poisoned"),
    };
    if reply.status == 200 && req.method == "GET" && req.query.iter().any(|(k, _)| k == "$skiptoken") {
        reply = apply_loop_bug(shared, req, reply);
    }
    if truncate && reply.status == 200 {
        shared.counters.truncated.fetch_add(1, Ordering::Relaxed);
    }
    (reply.clone(), truncate && reply.status == 200)
}

/// `a=1&b=%24x` → pairs, `+` as space, percent-decoded.
pub(super) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Percent-decoding (RFC 3986 §2.1); an escape that is not two hex digits
/// stays as it is, and bytes that are not UTF-8 become U+FFFD.
pub(super) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode() {
        assert_eq!(
            parse_query("$top=5&$skiptoken=a%2Fb&x=1+2"),
            vec![
                ("$top".to_string(), "5".to_string()),
                ("$skiptoken".to_string(), "a/b".to_string()),
                ("x".to_string(), "1 2".to_string())
            ]
        );
        assert_eq!(percent_decode("devices(deviceId=%27x%27)"), "devices(deviceId='x')");
        assert_eq!(percent_decode("100%"), "100%");
    }
}

//! The router: authorisation, body parsing, the time budget, and one
//! short handler per route that calls the module doing the work.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::sim::{Jobs, SimulateRequest};
use super::state::{Loaded, Shared};
use super::{api, assets, graph, groups, openapi, tenant, Limits, ServeConfig};

/// Everything a handler reaches.
pub(crate) struct App {
    shared: Arc<Shared>,
    limits: Limits,
    token: Option<String>,
    jobs: Jobs,
    slots: Arc<Semaphore>,
    watch: Option<Duration>,
    loopback: bool,
}

impl App {
    pub(crate) fn new(shared: Shared, config: ServeConfig) -> App {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        App {
            shared: Arc::new(shared),
            limits: config.limits,
            token: config.token,
            jobs: Jobs::default(),
            slots: Arc::new(Semaphore::new(cores * 2)),
            watch: config.watch,
            loopback: config.host.is_loopback(),
        }
    }
}

type Shared_ = State<Arc<App>>;
type Body = Result<Bytes, BytesRejection>;

/// The router over every route of [`openapi::ROUTES`].
pub(crate) fn router(app: Arc<App>) -> Router {
    let max_body = app.limits.max_body;
    Router::new()
        .route("/", get(|| async { assets::page() }))
        .route("/assets/{name}", get(asset))
        .route("/api/openapi.json", get(|| async { json_response(StatusCode::OK, &openapi::document()) }))
        .route("/api/v1/status", get(status))
        .route("/api/v1/check", post(check))
        .route("/api/v1/eval", post(eval))
        .route("/api/v1/explain", post(explain))
        .route("/api/v1/groups", post(groups_route))
        .route("/api/v1/plan", post(plan))
        .route("/api/v1/flows", get(flows))
        .route("/api/v1/scenarios", get(scenarios))
        .route("/api/v1/simulate", post(simulate))
        .route("/api/v1/simulate/{id}", get(job))
        .route("/api/v1/simulate/{id}/report.html", get(job_html))
        .route("/api/v1/reload", post(reload))
        .route("/v1.0/groups/evaluateDynamicMembership", post(graph_rule))
        .route("/beta/groups/evaluateDynamicMembership", post(graph_rule))
        .route("/v1.0/groups/{id}/evaluateDynamicMembership", post(graph_group))
        .route("/beta/groups/{id}/evaluateDynamicMembership", post(graph_group))
        .fallback(|| async {
            ApiError::not_found("no such route; GET /api/openapi.json lists them").into_response()
        })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app)
}

/// Serves until `shutdown` resolves; watches the inputs when asked.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    if let Some(every) = app.watch {
        tokio::spawn(watch(Arc::clone(&app.shared), every));
    }
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string())
}

/// Reloads when any input's modification time changes.
async fn watch(shared: Arc<Shared>, every: Duration) {
    let probe = Arc::clone(&shared);
    let mut last = tokio::task::spawn_blocking(move || probe.sources.mtimes()).await.unwrap_or_default();
    loop {
        tokio::time::sleep(every).await;
        let probe = Arc::clone(&shared);
        let Ok(now) = tokio::task::spawn_blocking(move || probe.sources.mtimes()).await else { continue };
        if now == last {
            continue;
        }
        last = now;
        let worker = Arc::clone(&shared);
        match tokio::task::spawn_blocking(move || worker.reload()).await {
            Ok(Ok(loaded)) => eprintln!("reloaded: {} devices", loaded.index.len()),
            Ok(Err(message)) => eprintln!("reload failed, serving the previous inputs: {message}"),
            Err(e) => eprintln!("reload failed: {e}"),
        }
    }
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

/// On loopback, the `Host` a browser sent must name this machine: a page
/// elsewhere that rebinds its own DNS name to 127.0.0.1 cannot read the API.
fn local_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return true };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    matches!(name.to_ascii_lowercase().as_str(), "127.0.0.1" | "localhost" | "::1")
}

/// Checks the `Host` on loopback, and the bearer token (in time
/// independent of where it differs).
fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if app.loopback && !local_host(headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden-host",
            "this server answers requests for 127.0.0.1, localhost or [::1] only",
        ));
    }
    let Some(token) = &app.token else { return Ok(()) };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let same = given.len() == token.len()
        && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server wants Authorization: Bearer <token>",
        ))
    }
}

fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as Content-Type: application/json",
        ));
    }
    let bytes = body.map_err(|e| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", format!("request body refused: {e}"))
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        let at = if at == "." { String::new() } else { format!(" at {at}") };
        ApiError::bad_request(
            "invalid-body",
            format!("request body line {} column {}{at}: {inner}", inner.line(), inner.column()),
        )
    })
}

/// Runs `work` on the blocking pool within the time budget, and answers
/// its result as JSON (serialised on the same blocking thread).
async fn run<Req, Res, F>(app: Arc<App>, headers: HeaderMap, body: Body, work: F) -> Response
where
    Req: DeserializeOwned + Send + 'static,
    Res: Serialize,
    F: FnOnce(&App, &Loaded, Req) -> Result<Res, ApiError> + Send + 'static,
{
    if let Err(e) = authorize(&app, &headers) {
        return e.into_response();
    }
    let req: Req = match parse(&headers, body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let budget = app.limits.budget;
    let deadline = tokio::time::Instant::now() + budget;
    let permit = match tokio::time::timeout_at(deadline, Arc::clone(&app.slots).acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => return over_budget(budget, "waiting for a free worker"),
    };
    let worker = Arc::clone(&app);
    let task = tokio::task::spawn_blocking(move || {
        // Held until the work really ends, even when the request gave up.
        let _permit = permit;
        let loaded = worker.shared.current();
        work(&worker, &loaded, req)
            .and_then(|res| serde_json::to_vec(&res).map_err(|e| ApiError::internal(e.to_string())))
    });
    match tokio::time::timeout_at(deadline, task).await {
        Ok(Ok(Ok(bytes))) => json_bytes(StatusCode::OK, bytes),
        Ok(Ok(Err(e))) => e.into_response(),
        Ok(Err(e)) => ApiError::internal(format!("the evaluation failed: {e}")).into_response(),
        Err(_) => over_budget(budget, "evaluating"),
    }
}

fn over_budget(budget: Duration, what: &str) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "time-budget-exceeded",
        format!("the request took longer than its budget of {:.1} s ({what})", budget.as_secs_f64()),
    )
    .into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    assets::asset(&name)
}

async fn status(State(app): Shared_, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return e.into_response();
    }
    let loaded = app.shared.current();
    let s = &app.shared.sources;
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let loaded_at = loaded.loaded_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "devices": { "file": s.devices.display().to_string(), "count": loaded.index.len() },
            "users": { "file": path(&s.users), "count": loaded.users.len() },
            "tenant": path(&s.tenant).map(|f| serde_json::json!({
                "file": f,
                "name": loaded.tenant.as_ref().map(|t| t.name.clone()),
                "profiles": loaded.tenant.as_ref().map_or(0, |t| t.profiles.len()),
            })),
            "groups": { "file": path(&s.groups), "snapshot": path(&s.snapshot), "count": loaded.groups.len() },
            "generation": app.shared.generation(),
            "loaded_at_unix": loaded_at,
            "last_reload_error": app.shared.last_error(),
            "warnings": loaded.warnings,
            "auth": app.token.is_some(),
            "limits": {
                "max_body": app.limits.max_body,
                "max_rule_bytes": app.limits.max_rule_bytes,
                "budget_ms": app.limits.budget.as_millis() as u64,
                "max_page": app.limits.max_page,
            },
        }),
    )
}

async fn check(State(app): Shared_, headers: HeaderMap, body: Body) -> Response {
    run(app, headers, body, |app, _, req: api::CheckRequest| api::check(&req, &app.limits)).await
}

async fn eval(State(app): Shared_, headers: HeaderMap, body: Body) -> Response {
    run(app, headers, body, |app, loaded, req| api::eval(loaded, req, &app.limits)).await
}

async fn explain(State(app): Shared_, headers: HeaderMap, body: Body) -> Response {
    run(app, headers, body, |app, loaded, req| api::explain(loaded, req, &app.limits)).await
}

async fn groups_route(State(app): Shared_, headers: HeaderMap, body: Body) -> Response {
    run(app, headers, body, |app, loaded, req| groups::groups(loaded, req, &app.limits)).await
}

async fn plan(State(app): Shared_, headers: HeaderMap, body: Body) -> Response {
    run(app, headers, body, |app, loaded, req| {
        let dir = app.shared.sources.tenant.as_deref().and_then(std::path::Path::parent);
        tenant::plan(loaded, req, dir.unwrap_or(std::path::Path::new(".")))
    })
    .await
}

async fn graph_rule(State(app): Shared_, headers: HeaderMap, body: Body) -> Response {
    run(app, headers, body, |app, loaded, req| graph::evaluate(loaded, None, req, &app.limits)).await
}

async fn graph_group(
    State(app): Shared_,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run(app, headers, body, move |app, loaded, req| graph::evaluate(loaded, Some(&id), req, &app.limits))
        .await
}

async fn flows(State(app): Shared_, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return e.into_response();
    }
    let worker = Arc::clone(&app);
    match tokio::task::spawn_blocking(move || tenant::flows(&worker.shared.current())).await {
        Ok(Ok(flows)) => json_response(StatusCode::OK, &flows),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

async fn scenarios(State(app): Shared_, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return e.into_response();
    }
    let list: Vec<serde_json::Value> = super::sim::BUNDLED
        .iter()
        .map(|(name, text)| serde_json::json!({ "name": name, "text": text }))
        .collect();
    json_response(StatusCode::OK, &list)
}

async fn simulate(State(app): Shared_, headers: HeaderMap, body: Body) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return e.into_response();
    }
    let req: SimulateRequest = match parse(&headers, body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let worker = Arc::clone(&app);
    let started = tokio::task::spawn_blocking(move || worker.jobs.start(&req).map(|j| (j, req.wait))).await;
    let (job, wait) = match started {
        Ok(Ok(j)) => j,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    if !wait {
        return json_response(StatusCode::ACCEPTED, &job.status());
    }
    loop {
        let status = job.status();
        if status.state != "running" {
            return json_response(StatusCode::OK, &status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn find_job(app: &App, headers: &HeaderMap, id: &str) -> Result<Arc<super::sim::Job>, ApiError> {
    authorize(app, headers)?;
    id.parse::<u64>()
        .ok()
        .and_then(|id| app.jobs.get(id))
        .ok_or_else(|| ApiError::not_found(format!("no simulation job {id:?}")))
}

async fn job(State(app): Shared_, Path(id): Path<String>, headers: HeaderMap) -> Response {
    match find_job(&app, &headers, &id) {
        Ok(job) => json_response(StatusCode::OK, &job.status()),
        Err(e) => e.into_response(),
    }
}

async fn job_html(State(app): Shared_, Path(id): Path<String>, headers: HeaderMap) -> Response {
    match find_job(&app, &headers, &id).and_then(|j| {
        j.html().ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "not-done", "the run has not finished"))
    }) {
        Ok(html) => {
            let mut r = html.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn reload(State(app): Shared_, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&app, &headers) {
        return e.into_response();
    }
    let worker = Arc::clone(&app);
    match tokio::task::spawn_blocking(move || worker.shared.reload().map(|l| (l, worker.shared.generation())))
        .await
    {
        Ok(Ok((loaded, generation))) => json_response(
            StatusCode::OK,
            &serde_json::json!({ "reloaded": true, "devices": loaded.index.len(), "generation": generation }),
        ),
        Ok(Err(message)) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "reload-failed", message).into_response()
        }
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(header::HOST, v);
        }
        h
    }

    #[test]
    fn only_this_machines_names_pass_the_host_check() {
        for ok in ["127.0.0.1:8080", "localhost:1", "LOCALHOST", "[::1]:8080"] {
            assert!(local_host(&host(ok)), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8080", "127.0.0.1.evil.example:80", "[::2]:80"] {
            assert!(!local_host(&host(bad)), "{bad}");
        }
    }
}

//! A fake Microsoft Graph: a real HTTP server on 127.0.0.1 that serves the
//! token endpoint and every Graph route the adapter uses, from a scenario
//! directory or a generated fleet, with faults on demand.
//!
//! `fleetlab sandbox serve --scenario scenarios/contoso --port 0` runs it;
//! the integration tests and the benchmark start it in-process
//! ([`FakeServer::start`]).
//!
//! Design decisions, and why:
//!
//! * **axum 0.8 on tokio, HTTP/1 only.** The adapter already brings tokio
//!   and hyper (under reqwest); axum adds a thin router over them, so the
//!   fake costs a few small crates rather than a second HTTP stack
//!   (tiny_http would be one, and synchronous). Routing inside is ours: one
//!   catch-all handler hands method, path, query and body to
//!   `tenant::Tenant::route`, which `$batch` calls again for its items.
//! * **One lock around the tenant.** Requests are served under a mutex,
//!   held for the few milliseconds a page takes to render; simulated latency
//!   is slept outside it, so concurrent clients overlap as they would on
//!   Graph.
//! * **What it models** (graph-api.md §7): v1.0 and beta, beta-only
//!   collections refused under v1.0 with Graph's 400; paging with absolute
//!   nextLinks to itself and opaque tokens; delta for devices and groups over
//!   a change log (`@removed`, `members@delta` split over items, 410 with
//!   `Location` for expired tokens); dynamic-group membership computed with
//!   the rule engine (the columnar [`crate::fleet::CompiledSet`] for the
//!   initial load, [`crate::rule::Rule`] per changed device); Autopilot
//!   identities derived from devices' `[ZTDId]`/`[OrderId]` physical ids;
//!   Autopilot imports that go `unknown` → `pending` → `complete` (or
//!   `error` 806/808) over [`FakeConfig::import_delay`] and register the
//!   device they describe, and `updateDeviceProperties` tags that reach the
//!   device's `[OrderId]`, and so its dynamic groups, after
//!   [`FakeConfig::tag_propagation_delay`] (`tenant/import.rs` says how);
//!   profiles and
//!   assignments with the single All-Devices rule, Intune-wrapped errors and
//!   the refusal to delete a profile that is still assigned; dynamic groups
//!   created (`POST /groups`, with Graph's checks on the required
//!   properties and `mailNickname`) and changed (`PATCH /groups/{id}`),
//!   their members computed by the same engine and reported by the next
//!   group delta; the 10-minute sync cooldown (409 while running, 429 with
//!   `Retry-After` after); `$batch` with per-item faults; bearer tokens that
//!   expire.
//! * **A clock tests can move.** The Autopilot timers (import, tag
//!   propagation, sync cooldown) read the tenant's clock, which
//!   [`FakeHandle::advance_clock`] and `POST /_fake/clock/advance` move
//!   forward, so a test crosses Graph's real minutes in no time and without
//!   racing a sleep. Token lifetimes keep the real clock: moving time for
//!   Autopilot should not log a client out.
//! * **Permissions per route.** A token is an unsigned JWT whose `roles`
//!   are [`FakeConfig::roles`] when it was issued (graph-api.md F24); each
//!   route, and each `$batch` item, is checked against
//!   [`crate::msgraph::permissions`], the table the client uses to name a
//!   missing permission. A refusal is Graph's 403 in the dialect of the
//!   route: Intune's wrapped "Application must have one of the following
//!   scopes" under `/deviceManagement` (F22), the directory's bare
//!   `Authorization_RequestDenied` elsewhere (F23). The default roles are
//!   what fleetlab needs, so a test that wants a 403 says so.
//! * **Query options** (`query`): `$filter` on devices, groups, users and
//!   Autopilot identities within the operators graph-api.md §1.7 and §3.5
//!   list (a profile `$filter` is Intune's 400); advanced queries (`ne`,
//!   `not`, `endswith`, `physicalIds/any`) and `$search` need
//!   `ConsistencyLevel: eventual` (and `$count=true` for the filters), as
//!   does the `/$count` segment; `$count=true` alone is ignored, as §3.7
//!   says Graph does. Filters and searches travel inside the nextLinks.
//! * **Faults by flag** ([`Faults`]): a share of 429s (`Retry-After` in
//!   seconds, as an HTTP date, or absent), of 500s and 503s, latency drawn
//!   from a range, bodies cut off mid-transfer, and two looping-pager bugs.
//!   Faults hit Graph routes and `$batch` items, never the token endpoint or
//!   the test endpoints; a faulted write is not applied, as on Graph.
//! * **Test endpoints** under `/_fake/` (no token needed): `POST
//!   /_fake/devices` adds or replaces devices, `PATCH /_fake/devices/{id}`
//!   edits one, `DELETE /_fake/devices/{id}` deletes one, `POST
//!   /_fake/delta/expire` expires every delta token, `POST
//!   /_fake/clock/advance` (`{"seconds": 90}`) moves the clock, `GET
//!   /_fake/imports` lists the import records, `PUT /_fake/faults`
//!   replaces the faults, `GET /_fake/stats` counts requests and faults.

mod modes;
mod query;
mod tenant;

pub use modes::{Modes, DEVICE_DELTA_DEFAULTS};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use rand::RngExt;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::groups::GroupSpec;
use tenant::{graph_error, intune_error, Reply, Tenant};

/// Why the fake could not start or load its data.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// A scenario file could not be read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The data is inconsistent.
    #[error("scenario: {0}")]
    Data(String),
    /// The socket or runtime failed.
    #[error("server: {0}")]
    Server(String),
}

/// The tenant the fake serves.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// Graph device objects.
    pub devices: Vec<Value>,
    /// Graph user objects.
    pub users: Vec<Value>,
    /// Dynamic groups (membership computed by the fake).
    pub groups: Vec<GroupSpec>,
    /// Deployment profiles (beta JSON; an `assignments` array inside each is
    /// taken as its assignments).
    pub profiles: Vec<Value>,
}

impl Scenario {
    /// Reads `devices.json`, and when present `users.json`, `groups.toml`
    /// and `profiles.json`, from `dir` (inventory files in any layout
    /// `fleetlab eval` reads).
    pub fn load(dir: &Path) -> Result<Scenario, FakeError> {
        let read = |name: &str| -> Result<Option<(PathBuf, String)>, FakeError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some((path, text))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(FakeError::File { path, message: e.to_string() }),
            }
        };
        let records = |name: &str| -> Result<Vec<Value>, FakeError> {
            match read(name)? {
                Some((path, text)) => crate::inventory::parse_records::<Value>(&text, &path)
                    .map(|(r, _)| r)
                    .map_err(|e| FakeError::File { path, message: e.to_string() }),
                None => Ok(Vec::new()),
            }
        };
        let Some((path, _)) = read("devices.json")? else {
            return Err(FakeError::File { path: dir.join("devices.json"), message: "not found".into() });
        };
        let devices = records("devices.json").map_err(|e| match e {
            FakeError::File { message, .. } => FakeError::File { path: path.clone(), message },
            other => other,
        })?;
        let groups = match read("groups.toml")? {
            Some((path, _)) => Scenario::groups_from(&path)?,
            None => Vec::new(),
        };
        Ok(Scenario { devices, users: records("users.json")?, groups, profiles: records("profiles.json")? })
    }

    /// A generated fleet ([`crate::inventory::generate`]) of `devices`
    /// devices, with no groups (add them with [`Scenario::groups_from`]).
    pub fn generated(devices: u64, seed: u64) -> Result<Scenario, FakeError> {
        let mut out = Vec::new();
        crate::inventory::generate(&crate::inventory::FleetSpec { devices, seed }, &mut out)
            .map_err(|e| FakeError::Data(format!("generate: {e}")))?;
        let text = String::from_utf8(out).map_err(|e| FakeError::Data(e.to_string()))?;
        let (devices, _) = crate::inventory::parse_records::<Value>(&text, Path::new("generated"))
            .map_err(|e| FakeError::Data(e.to_string()))?;
        Ok(Scenario { devices, ..Scenario::default() })
    }

    /// The groups of a group file.
    pub fn groups_from(path: &Path) -> Result<Vec<GroupSpec>, FakeError> {
        let set = crate::groups::GroupSet::load(path, &crate::rule::Options::default())
            .map_err(|e| FakeError::File { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(set.groups.into_iter().map(|g| g.spec).collect())
    }
}

/// How `Retry-After` is written on injected 429s and 503s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryAfterStyle {
    /// Delta-seconds (what Graph sends in practice).
    #[default]
    Seconds,
    /// An HTTP date that many seconds ahead.
    Date,
    /// No header: the client falls back to its backoff.
    Absent,
}

/// A looping-pager bug to reproduce (graph-api.md §3.4, §5.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoopBug {
    /// Pages advance normally.
    #[default]
    None,
    /// From the second page on, the nextLink is the URL just requested.
    SameLink,
    /// From the second page on, the same page comes back under a fresh token.
    SamePage,
}

/// Faults injected on Graph routes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Share of requests answered 429.
    pub throttle: f64,
    /// `Retry-After` value on 429/503, in seconds.
    pub retry_after_secs: u64,
    /// How `Retry-After` is written.
    pub retry_after_style: RetryAfterStyle,
    /// Share answered 500.
    pub server_error: f64,
    /// Share answered 503 (with `Retry-After`).
    pub unavailable: f64,
    /// Share of successful bodies cut off mid-transfer.
    pub truncate: f64,
    /// Added latency, milliseconds, uniform in `[min, max]`.
    pub latency_ms: Option<(u64, u64)>,
    /// Pager bug.
    pub loop_bug: LoopBug,
    /// Seed of the fault draws.
    pub seed: u64,
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Directory page size when `$top` is absent, and the delta page size.
    pub page_size: usize,
    /// Autopilot page size when `$top` is absent (Graph: about 1,000).
    pub autopilot_page_size: usize,
    /// Members per `members@delta` item (a big group spans several items).
    pub members_chunk: usize,
    /// Lifetime of issued tokens.
    pub token_lifetime: Duration,
    /// When set, the token endpoint accepts only this client secret.
    pub client_secret: Option<String>,
    /// The Autopilot sync cooldown (Graph: 10 minutes).
    pub sync_cooldown: Duration,
    /// From an import's POST to its final state; it reads `unknown` for
    /// the first half and `pending` for the second. Graph: tens of seconds
    /// to about 15 minutes (graph-api.md §3.11). Default 3 s, so a demo
    /// shows every state; tests pick their own or move the clock.
    pub import_delay: Duration,
    /// From `updateDeviceProperties` setting a group tag to the Entra
    /// device's `[OrderId]` physical id (what dynamic rules read) changing.
    /// Graph: minutes, with no documented figure (§3.11, §8). Default 2 s;
    /// zero applies the tag before the 204.
    pub tag_propagation_delay: Duration,
    /// Serials registered to another tenant: importing one ends in
    /// error 808 `ZtdDeviceAssignedToOtherTenant` (compared ignoring case).
    pub other_tenant_serials: Vec<String>,
    /// Faults.
    pub faults: Faults,
    /// Application permissions the issued tokens carry (`roles`); each
    /// Graph route checks them. Default: what `fleetlab sync` needs
    /// ([`crate::msgraph::permissions::ADAPTER_ROLES`]).
    pub roles: Vec<String>,
    /// Documented-shape behaviours ([`Modes`]).
    pub modes: Modes,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            page_size: 100,
            autopilot_page_size: 1000,
            members_chunk: 1000,
            token_lifetime: Duration::from_secs(3599),
            client_secret: None,
            sync_cooldown: Duration::from_secs(600),
            import_delay: Duration::from_secs(3),
            tag_propagation_delay: Duration::from_secs(2),
            other_tenant_serials: Vec::new(),
            faults: Faults::default(),
            roles: crate::msgraph::permissions::ADAPTER_ROLES.iter().map(|r| r.to_string()).collect(),
            modes: Modes::default(),
        }
    }
}

/// Request and fault counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FakeStats {
    /// Graph requests served (batch items included).
    pub requests: u64,
    /// Tokens issued.
    pub tokens: u64,
    /// Injected 429s.
    pub throttled: u64,
    /// Injected 500s.
    pub server_errors: u64,
    /// Injected 503s.
    pub unavailable: u64,
    /// Bodies cut off.
    pub truncated: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    tokens: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    unavailable: AtomicU64,
    truncated: AtomicU64,
}

struct Shared {
    tenant: Mutex<Tenant>,
    faults: Mutex<(Faults, Pcg64)>,
    counters: Counters,
    base: String,
}

/// Direct access to a running fake's data (what the `/_fake/` endpoints do).
#[derive(Clone)]
pub struct FakeHandle {
    shared: Arc<Shared>,
}

impl FakeHandle {
    /// The tenant, with whatever came due applied: a test reading through
    /// the handle sees what a Graph request would.
    fn tenant(&self) -> Result<std::sync::MutexGuard<'_, Tenant>, FakeError> {
        let mut tenant =
            self.shared.tenant.lock().map_err(|_| FakeError::Server("tenant lock poisoned".into()))?;
        tenant.settle();
        Ok(tenant)
    }

    /// Moves the fake clock forward by `by` (imports, tag propagation and
    /// the sync cooldown see the time pass; tokens do not).
    pub fn advance_clock(&self, by: Duration) -> Result<(), FakeError> {
        self.tenant()?.advance_clock(by);
        Ok(())
    }

    /// Every Autopilot import record, as `GET` renders it.
    pub fn imports(&self) -> Result<Vec<Value>, FakeError> {
        Ok(self.tenant()?.imports_json())
    }

    /// Adds or replaces a device; returns its id.
    pub fn put_device(&self, device: &Value) -> Result<String, FakeError> {
        self.tenant()?.put_device(device)
    }

    /// Merges `patch` into device `id`; false when there is no such device.
    pub fn patch_device(&self, id: &str, patch: &Value) -> Result<bool, FakeError> {
        self.tenant()?.patch_device(id, patch)
    }

    /// Deletes device `id`; false when there is no such device.
    pub fn delete_device(&self, id: &str) -> Result<bool, FakeError> {
        Ok(self.tenant()?.delete_device(id))
    }

    /// Expires every delta token handed out so far.
    pub fn expire_delta(&self) -> Result<(), FakeError> {
        self.tenant()?.expire_delta();
        Ok(())
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) -> Result<(), FakeError> {
        let mut slot =
            self.shared.faults.lock().map_err(|_| FakeError::Server("fault lock poisoned".into()))?;
        let seed = faults.seed;
        *slot = (faults, rng(seed));
        Ok(())
    }

    /// Every device, as served.
    pub fn devices(&self) -> Result<Vec<Value>, FakeError> {
        Ok(self.tenant()?.devices_json())
    }

    /// Every group: id, properties, member ids (sorted).
    pub fn groups(&self) -> Result<Vec<(String, Value, Vec<String>)>, FakeError> {
        Ok(self.tenant()?.groups_json())
    }

    /// Every Autopilot identity (beta shape).
    pub fn autopilot(&self) -> Result<Vec<Value>, FakeError> {
        Ok(self.tenant()?.autopilot_json())
    }

    /// Every profile, with its assignments inside.
    pub fn profiles(&self) -> Result<Vec<Value>, FakeError> {
        Ok(self.tenant()?.profiles_json())
    }

    /// Counters.
    pub fn stats(&self) -> FakeStats {
        let c = &self.shared.counters;
        FakeStats {
            requests: c.requests.load(Ordering::Relaxed),
            tokens: c.tokens.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            server_errors: c.server_errors.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
        }
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.shared.base
    }
}

fn rng(seed: u64) -> Pcg64 {
    Pcg64::new(u128::from(seed) | 1 << 64, 0x5851_f42d_4c95_7f2d)
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

/// What a fault draw decided.
enum Fault {
    None,
    Reply(Reply),
    Truncate,
}

impl Shared {
    fn latency(&self) -> Duration {
        let Ok(mut slot) = self.faults.lock() else { return Duration::ZERO };
        let (faults, rng) = &mut *slot;
        match faults.latency_ms {
            Some((lo, hi)) if hi >= lo => Duration::from_millis(rng.random_range(lo..=hi)),
            _ => Duration::ZERO,
        }
    }

    fn draw(&self) -> Fault {
        let Ok(mut slot) = self.faults.lock() else { return Fault::None };
        let (faults, rng) = &mut *slot;
        let x: f64 = rng.random_range(0.0..1.0);
        let retry_after = |reply: Reply| match faults.retry_after_style {
            RetryAfterStyle::Seconds => reply.with_header("Retry-After", faults.retry_after_secs.to_string()),
            RetryAfterStyle::Date => reply.with_header(
                "Retry-After",
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(faults.retry_after_secs + 1)),
            ),
            RetryAfterStyle::Absent => reply,
        };
        let mut edge = faults.throttle;
        if x < edge {
            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return Fault::Reply(retry_after(graph_error(
                429,
                "TooManyRequests",
                "Please retry again later.",
            )));
        }
        edge += faults.server_error;
        if x < edge {
            self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
            return Fault::Reply(graph_error(500, "generalException", "General exception while processing."));
        }
        edge += faults.unavailable;
        if x < edge {
            self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
            return Fault::Reply(retry_after(graph_error(
                503,
                "serviceNotAvailable",
                "Service unavailable.",
            )));
        }
        edge += faults.truncate;
        if x < edge {
            return Fault::Truncate;
        }
        Fault::None
    }

    fn loop_bug(&self) -> LoopBug {
        self.faults.lock().map(|f| f.0.loop_bug).unwrap_or_default()
    }
}

/// The parts of a request the fake looks at.
struct Incoming {
    method: String,
    path: String,
    raw_query: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Vec<u8>,
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

/// Rewrites the nextLink of a page after the first, per the pager bug.
fn apply_loop_bug(shared: &Shared, req: &Incoming, reply: Reply) -> Reply {
    let bug = shared.loop_bug();
    if bug == LoopBug::None {
        return reply;
    }
    let Ok(mut page) = serde_json::from_slice::<Value>(&reply.body) else { return reply };
    let this = format!("{}{}?{}", shared.base, req.path, req.raw_query);
    let next = match bug {
        LoopBug::SameLink => this,
        _ => {
            let n = req
                .query
                .iter()
                .find(|(k, _)| k == "bugpage")
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(0);
            let kept: Vec<String> =
                req.raw_query.split('&').filter(|p| !p.starts_with("bugpage=")).map(str::to_string).collect();
            format!("{}{}?{}&bugpage={}", shared.base, req.path, kept.join("&"), n + 1)
        }
    };
    if let Some(obj) = page.as_object_mut() {
        obj.remove("@odata.deltaLink");
        obj.insert("@odata.nextLink".into(), Value::String(next));
    }
    Reply::json(200, &page)
}

/// Graph's 403 when the token's roles grant none of the permissions the
/// route accepts: Intune's wrapped message listing the scopes
/// (graph-api.md F22) under `/deviceManagement`, the directory's
/// `Authorization_RequestDenied` elsewhere (F23), which names none.
fn permission_denied(method: &str, rest: &str, roles: &[String]) -> Option<Reply> {
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

fn token(shared: &Shared, req: &Incoming) -> Reply {
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

fn batch(shared: &Shared, version: &str, body: &[u8], roles: &[String]) -> Reply {
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

fn test_endpoint(shared: &Shared, method: &str, rest: &str, body: &[u8]) -> Reply {
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

/// `a=1&b=%24x` → pairs, `+` as space, percent-decoded.
fn parse_query(q: &str) -> Vec<(String, String)> {
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
fn percent_decode(s: &str) -> String {
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

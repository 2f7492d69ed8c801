//! The HTTP client: sign-in, tokens, retries, throttling and a bound on
//! requests in flight.
//!
//! Design decisions, and why:
//!
//! * **Async reqwest on tokio, not `reqwest::blocking`.** The blocking
//!   client runs a tokio runtime on a hidden thread anyway, and the fake
//!   server (an axum app) needs tokio too; one runtime serves both, and
//!   bounded concurrency is a [`tokio::sync::Semaphore`] instead of a thread
//!   pool. Callers that are not async use the blocking entry points of
//!   [`crate::msgraph::sync`], which own a small runtime.
//! * **rustls with the `ring` provider** (reqwest 0.12's `rustls-tls`): no
//!   OpenSSL on the build machine, no CMake (aws-lc), a few seconds of C for
//!   ring's primitives. Root certificates are the compiled-in webpki roots,
//!   so the adapter behaves the same on every host.
//! * **Client credentials only, secret never on the command line.** The
//!   secret comes from an environment variable or a file ([`Secret`]); its
//!   `Debug` is redacted, it has no `Display`, it is sent only in the form
//!   body of the token request, and no error built here quotes a request
//!   body or a query string.
//! * **One token, refreshed early.** The token is cached and replaced when
//!   less than five minutes (or half its life, for short-lived test tokens)
//!   remain; concurrent requests wait for a single refresh. A 401 forces a
//!   refresh and one more try.
//! * **One retry policy** (graph-api.md §3.8): 429, 503 and 504 are retried
//!   after `Retry-After` (delta-seconds or an HTTP date), or after a jittered
//!   exponential backoff when it is absent; 500, 502, broken connections and
//!   bodies that are not the promised JSON (a truncated transfer) are
//!   retried with backoff when the request is idempotent. Every retry counts
//!   against [`RetryPolicy::max_attempts`]; a `Retry-After` longer than
//!   [`RetryPolicy::max_retry_after`] ends the call instead of hanging it.
//!   The permit of the concurrency bound is held only while a request is
//!   on the wire, never while waiting to retry.
//! * **A 403 names the permission to grant.** Graph's directory 403 says
//!   only "Insufficient privileges"; the client turns any 403 into
//!   [`GraphError::Forbidden`] with the least privileged application
//!   permission the route needs ([`crate::msgraph::permissions`]) and where
//!   to grant it, since that is the one thing the admin must do next.
//! * **The bearer token goes only to the Graph root.** Every URL, including
//!   each `@odata.nextLink`, must have the configured root's scheme, host
//!   and port ([`GraphError::ForeignLink`] otherwise), as graph-rs-sdk does.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::RngExt;
use rand_pcg::Pcg64;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
/// HTTP methods (re-exported from reqwest).
pub use reqwest::Method;
use reqwest::Url;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::msgraph::error::{ApiError, GraphError};

/// A Microsoft cloud: its Graph root and its sign-in authority
/// (graph-api.md §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// Global service (also Microsoft 365 GCC).
    Global,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5 (DoD).
    UsGovDod,
    /// Microsoft Azure operated by 21Vianet.
    China,
}

impl Cloud {
    /// The Graph root, without a version.
    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The token authority.
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
}

/// `v1.0` or `beta`: a per-call choice (graph-api.md §2.6: Autopilot
/// profiles and settings exist only in beta; devices and groups in v1.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `/v1.0`
    V1,
    /// `/beta`
    Beta,
}

impl ApiVersion {
    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// A client secret. Redacted in `Debug`, no `Display`: it cannot end up in
/// a message by accident.
///
/// ```
/// use fleetlab::msgraph::Secret;
/// let s = Secret::new("s3cr3t-value");
/// assert_eq!(format!("{s:?}"), "Secret(redacted)");
/// ```
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// A secret held in memory (for embedding and tests).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Reads the secret from environment variable `var`.
    pub fn from_env(var: &str) -> Result<Secret, GraphError> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
            Ok(_) => Err(GraphError::Secret(format!("environment variable {var} is empty"))),
            Err(_) => Err(GraphError::Secret(format!("environment variable {var} is not set"))),
        }
    }

    /// Reads the secret from a file (surrounding whitespace, such as the
    /// final newline, is not part of it).
    pub fn from_file(path: &Path) -> Result<Secret, GraphError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GraphError::Secret(format!("{}: {}", path.display(), e.kind())))?;
        let value = text.trim();
        if value.is_empty() {
            return Err(GraphError::Secret(format!("{} is empty", path.display())));
        }
        Ok(Secret(value.to_string()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// The app registration the adapter signs in as.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Tenant id (GUID) or a verified domain.
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub secret: Secret,
}

/// How hard to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff step; doubles per attempt.
    pub base_delay: Duration,
    /// Backoff never waits longer than this.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this ends the call with an error.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(900),
        }
    }
}

/// Everything the client needs.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Graph root without version, e.g. `https://graph.microsoft.com`.
    pub graph_root: String,
    /// Token authority, e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    /// Who signs in.
    pub credentials: Credentials,
    /// Retries.
    pub retry: RetryPolicy,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl ClientConfig {
    /// A configuration for one of Microsoft's clouds.
    pub fn for_cloud(cloud: Cloud, credentials: Credentials) -> ClientConfig {
        ClientConfig::with_roots(cloud.graph_root(), cloud.authority(), credentials)
    }

    /// A configuration for a Graph-compatible server at `url` (the fake
    /// Graph of `fleetlab sandbox serve`), which is also its authority.
    pub fn for_url(url: &str, credentials: Credentials) -> ClientConfig {
        let root = url.trim_end_matches('/');
        ClientConfig::with_roots(root, root, credentials)
    }

    fn with_roots(graph_root: &str, authority: &str, credentials: Credentials) -> ClientConfig {
        ClientConfig {
            graph_root: graph_root.trim_end_matches('/').to_string(),
            authority: authority.trim_end_matches('/').to_string(),
            credentials,
            retry: RetryPolicy::default(),
            concurrency: 4,
            timeout: Duration::from_secs(120),
        }
    }
}

/// One request to Graph.
#[derive(Clone, Debug)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Absolute URL (use [`GraphClient::url`]).
    pub url: String,
    /// JSON body.
    pub body: Option<Vec<u8>>,
    /// Extra headers (`ConsistencyLevel`, `Prefer`, …).
    pub headers: Vec<(String, String)>,
    /// Safe to send twice (GET, PUT, PATCH, DELETE; a POST that is not).
    pub idempotent: bool,
}

impl Request {
    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request { method: Method::GET, url: url.into(), body: None, headers: Vec::new(), idempotent: true }
    }

    /// `DELETE url`.
    pub fn delete(url: impl Into<String>) -> Request {
        Request { method: Method::DELETE, url: url.into(), body: None, headers: Vec::new(), idempotent: true }
    }

    /// A request with a JSON body.
    pub fn json(method: Method, url: impl Into<String>, body: &serde_json::Value) -> Request {
        let idempotent = method != Method::POST;
        Request {
            method,
            url: url.into(),
            body: Some(serde_json::to_vec(body).unwrap_or_default()),
            headers: Vec::new(),
            idempotent,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// What the client did, for reports and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientStats {
    /// HTTP exchanges with Graph (retries included, token requests not).
    pub requests: u64,
    /// Retries of any cause.
    pub retries: u64,
    /// 429/503/504 answers.
    pub throttled: u64,
    /// 500/502 answers.
    pub server_errors: u64,
    /// Broken connections, timeouts, truncated or non-JSON bodies.
    pub transport_errors: u64,
    /// Tokens fetched.
    pub tokens: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    tokens: AtomicU64,
}

struct Token {
    value: String,
    refresh_at: Instant,
}

/// A signed-in Graph client. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    root: Url,
    token: tokio::sync::Mutex<Option<Token>>,
    permits: Semaphore,
    counters: Counters,
    rng: Mutex<Pcg64>,
}

/// What one exchange led to.
enum Step {
    Done(Response, Option<serde_json::Value>),
    Retry { delay: Duration, why: String },
}

impl GraphClient {
    /// A client for `config`; nothing is sent until the first request.
    pub fn new(config: ClientConfig) -> Result<GraphClient, GraphError> {
        let root = Url::parse(&config.graph_root)
            .map_err(|e| GraphError::Config(format!("graph root {:?}: {e}", config.graph_root)))?;
        Url::parse(&config.authority)
            .map_err(|e| GraphError::Config(format!("authority {:?}: {e}", config.authority)))?;
        if config.credentials.tenant.trim().is_empty() {
            return Err(GraphError::Config("no tenant given".into()));
        }
        if config.credentials.client_id.trim().is_empty() {
            return Err(GraphError::Config("no client id given".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("fleetlab/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Config(format!("HTTP client: {e}")))?;
        let seed =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64);
        let permits = Semaphore::new(config.concurrency.max(1));
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                root,
                config,
                token: tokio::sync::Mutex::new(None),
                permits,
                counters: Counters::default(),
                rng: Mutex::new(Pcg64::new(u128::from(seed), 0x0a02_bdbf_7bb3_c0a7_ac28_fa16_a64a_bf96)),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The absolute URL of `path` (starting with `/`) under `version`.
    ///
    /// ```
    /// use fleetlab::msgraph::{ApiVersion, ClientConfig, Credentials, GraphClient, Secret};
    /// let creds = Credentials { tenant: "contoso.onmicrosoft.com".into(), client_id: "app".into(), secret: Secret::new("x") };
    /// let client = GraphClient::new(ClientConfig::for_url("http://127.0.0.1:8080/", creds))?;
    /// assert_eq!(client.url(ApiVersion::Beta, "/deviceManagement/windowsAutopilotSettings"),
    ///            "http://127.0.0.1:8080/beta/deviceManagement/windowsAutopilotSettings");
    /// # Ok::<(), fleetlab::msgraph::GraphError>(())
    /// ```
    pub fn url(&self, version: ApiVersion, path: &str) -> String {
        format!("{}/{}{}", self.inner.config.graph_root, version.as_str(), path)
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            server_errors: c.server_errors.load(Ordering::Relaxed),
            transport_errors: c.transport_errors.load(Ordering::Relaxed),
            tokens: c.tokens.load(Ordering::Relaxed),
        }
    }

    /// Refuses URLs outside the Graph root.
    pub fn check_link(&self, url: &str) -> Result<(), GraphError> {
        let parsed = Url::parse(url).map_err(|_| GraphError::ForeignLink { host: origin_text(url) })?;
        let root = &self.inner.root;
        let same = parsed.scheme() == root.scheme()
            && parsed.host_str() == root.host_str()
            && parsed.port_or_known_default() == root.port_or_known_default()
            && parsed.path().starts_with(root.path().trim_end_matches('/'));
        if same {
            Ok(())
        } else {
            Err(GraphError::ForeignLink { host: origin_text(url) })
        }
    }

    /// Sends `request`, retrying per the policy; any 2xx is returned.
    pub async fn send(&self, request: &Request) -> Result<Response, GraphError> {
        self.execute(request, false).await.map(|(r, _)| r)
    }

    /// Sends `request` and parses the body as JSON. A 2xx whose body is not
    /// JSON (a transfer cut short) is retried like a broken connection.
    pub async fn send_json(&self, request: &Request) -> Result<serde_json::Value, GraphError> {
        let (_, value) = self.execute(request, true).await?;
        value.ok_or_else(|| GraphError::Malformed {
            path: path_of(&request.url),
            message: "empty body".into(),
        })
    }

    async fn execute(
        &self,
        request: &Request,
        parse: bool,
    ) -> Result<(Response, Option<serde_json::Value>), GraphError> {
        self.check_link(&request.url)?;
        let policy = self.inner.config.retry;
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let step = self.attempt(request, parse, attempt, &mut refreshed).await?;
            match step {
                Step::Done(response, value) => return Ok((response, value)),
                Step::Retry { delay, why } => {
                    if attempt >= policy.max_attempts.max(1) {
                        return Err(GraphError::RetriesExhausted {
                            method: request.method.to_string(),
                            path: path_of(&request.url),
                            attempts: attempt,
                            last: why,
                        });
                    }
                    self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        request: &Request,
        parse: bool,
        attempt: u32,
        refreshed: &mut bool,
    ) -> Result<Step, GraphError> {
        let counters = &self.inner.counters;
        let token = self.token().await?;
        let exchange = {
            let _permit = self
                .inner
                .permits
                .acquire()
                .await
                .map_err(|_| GraphError::Runtime("request limiter closed".into()))?;
            counters.requests.fetch_add(1, Ordering::Relaxed);
            self.exchange(request, &token).await
        };
        let response = match exchange {
            Ok(r) => r,
            Err(e) => {
                counters.transport_errors.fetch_add(1, Ordering::Relaxed);
                let why = transport_text(&e);
                if request.idempotent || e.is_connect() {
                    return Ok(Step::Retry { delay: self.backoff(attempt), why });
                }
                return Err(GraphError::RetriesExhausted {
                    method: request.method.to_string(),
                    path: path_of(&request.url),
                    attempts: attempt,
                    last: format!("{why} (not retried: the request is not idempotent)"),
                });
            }
        };
        let status = response.status;
        match status {
            200..=299 => {
                if !parse {
                    return Ok(Step::Done(response, None));
                }
                match serde_json::from_slice::<serde_json::Value>(&response.body) {
                    Ok(value) => Ok(Step::Done(response, Some(value))),
                    Err(e) => {
                        counters.transport_errors.fetch_add(1, Ordering::Relaxed);
                        let why = format!("HTTP {status} with a body that is not JSON ({e})");
                        if request.idempotent {
                            Ok(Step::Retry { delay: self.backoff(attempt), why })
                        } else {
                            Err(GraphError::Malformed { path: path_of(&request.url), message: why })
                        }
                    }
                }
            }
            401 if !*refreshed => {
                *refreshed = true;
                *self.inner.token.lock().await = None;
                Ok(Step::Retry { delay: Duration::ZERO, why: "HTTP 401: token refreshed".into() })
            }
            429 | 503 | 504 => {
                counters.throttled.fetch_add(1, Ordering::Relaxed);
                let delay = match retry_after(&response.headers, SystemTime::now()) {
                    Some(d) if d > self.inner.config.retry.max_retry_after => {
                        return Err(GraphError::RetriesExhausted {
                            method: request.method.to_string(),
                            path: path_of(&request.url),
                            attempts: attempt,
                            last: format!("HTTP {status} asks to wait {} s, over the limit", d.as_secs()),
                        });
                    }
                    Some(d) => d,
                    None => self.backoff(attempt),
                };
                Ok(Step::Retry { delay, why: format!("HTTP {status}") })
            }
            500 | 502 if request.idempotent => {
                counters.server_errors.fetch_add(1, Ordering::Relaxed);
                let delay = retry_after(&response.headers, SystemTime::now())
                    .unwrap_or_else(|| self.backoff(attempt));
                Ok(Step::Retry { delay, why: ApiError::parse(status, &response.body).to_string() })
            }
            _ => {
                let error = ApiError::parse(status, &response.body);
                if error.is_resync() {
                    let location =
                        response.headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
                    return Err(GraphError::Resync {
                        path: path_of(&request.url),
                        code: error.code,
                        location,
                    });
                }
                let (method, path) = (request.method.to_string(), path_of(&request.url));
                if status == 403 {
                    let permission = crate::msgraph::permissions::hint(&method, &path);
                    return Err(GraphError::Forbidden { method, path, error: Box::new(error), permission });
                }
                Err(GraphError::Api { method, path, error: Box::new(error) })
            }
        }
    }

    async fn exchange(&self, request: &Request, token: &str) -> Result<Response, reqwest::Error> {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), &request.url)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header("Accept", "application/json");
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Response { status, headers, body })
    }

    /// Full-jitter-with-floor exponential backoff: between half and all of
    /// `base · 2^(attempt-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let policy = &self.inner.config.retry;
        let exp = policy.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(policy.max_delay);
        let half = cap / 2;
        let extra = match self.inner.rng.lock() {
            Ok(mut rng) => rng.random_range(0..=half.as_micros().max(1) as u64),
            Err(_) => 0,
        };
        half + Duration::from_micros(extra)
    }

    /// A valid access token, fetched or refreshed when needed.
    pub async fn token(&self) -> Result<String, GraphError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<Token, GraphError> {
        let config = &self.inner.config;
        let url = format!("{}/{}/oauth2/v2.0/token", config.authority, config.credentials.tenant);
        let scope = format!("{}/.default", config.graph_root);
        let form = [
            ("client_id", config.credentials.client_id.as_str()),
            ("client_secret", config.credentials.secret.expose()),
            ("scope", scope.as_str()),
            ("grant_type", "client_credentials"),
        ];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let sent = self.inner.http.post(&url).form(&form).send().await;
            let why = match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) if (200..300).contains(&status) => {
                            let parsed: Result<TokenResponse, _> = serde_json::from_slice(&body);
                            match parsed {
                                Ok(t) => {
                                    self.inner.counters.tokens.fetch_add(1, Ordering::Relaxed);
                                    let life = Duration::from_secs(t.expires_in.max(1));
                                    let early = Duration::from_secs(300).min(life / 2);
                                    return Ok(Token {
                                        value: t.access_token,
                                        refresh_at: started + life - early,
                                    });
                                }
                                Err(e) => format!("token response is not JSON ({e})"),
                            }
                        }
                        Ok(body) if matches!(status, 429 | 500 | 502 | 503 | 504) => {
                            let e = ApiError::parse(status, &body);
                            if attempt < config.retry.max_attempts {
                                let delay = retry_after(&headers, SystemTime::now())
                                    .unwrap_or_else(|| self.backoff(attempt))
                                    .min(config.retry.max_retry_after);
                                tokio::time::sleep(delay).await;
                                continue;
                            }
                            e.to_string()
                        }
                        Ok(body) => return Err(GraphError::Auth(ApiError::parse(status, &body))),
                        Err(e) => transport_text(&e),
                    }
                }
                Err(e) => transport_text(&e),
            };
            if attempt >= config.retry.max_attempts {
                return Err(GraphError::RetriesExhausted {
                    method: "POST".into(),
                    path: path_of(&url),
                    attempts: attempt,
                    last: why,
                });
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default = "default_expiry")]
    expires_in: u64,
}

fn default_expiry() -> u64 {
    3599
}

/// The wait a `Retry-After` header asks for: delta-seconds or an HTTP date
/// (a date in the past means no wait).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use fleetlab::msgraph::parse_retry_after;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(parse_retry_after("12", now), Some(Duration::from_secs(12)));
/// assert_eq!(parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now), Some(Duration::from_secs(10)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(1e9)));
        }
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, now))
}

/// The path of a URL without its query (which may carry tokens).
pub(crate) fn path_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => url.split('?').next().unwrap_or("").to_string(),
    }
}

fn origin_text(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""))
                + &u.port().map(|p| format!(":{p}")).unwrap_or_default()
        }
        Err(_) => "an unparsable URL".into(),
    }
}

/// A transport error without the URL (whose query may hold a token).
fn transport_text(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "response body cut short"
    } else {
        "connection failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(root: &str) -> Result<GraphClient, GraphError> {
        let creds = Credentials { tenant: "t".into(), client_id: "c".into(), secret: Secret::new("x") };
        GraphClient::new(ClientConfig::for_url(root, creds))
    }

    #[test]
    fn links_must_stay_on_the_root() -> Result<(), GraphError> {
        let c = client("http://127.0.0.1:9000")?;
        c.check_link("http://127.0.0.1:9000/v1.0/devices?$skiptoken=x")?;
        assert!(c.check_link("http://127.0.0.1:9001/v1.0/devices").is_err());
        assert!(c.check_link("https://evil.example/v1.0/devices").is_err());
        let g = client("https://graph.microsoft.com")?;
        g.check_link("https://graph.microsoft.com:443/beta/x")?;
        assert!(g.check_link("http://graph.microsoft.com/beta/x").is_err());
        Ok(())
    }

    #[test]
    fn backoff_grows_and_is_capped() -> Result<(), GraphError> {
        let c = client("http://127.0.0.1:9000")?;
        let policy = RetryPolicy::default();
        for attempt in 1..20 {
            let d = c.backoff(attempt);
            let exp = policy.base_delay.saturating_mul(1 << (attempt - 1).min(16)).min(policy.max_delay);
            assert!(d >= exp / 2 && d <= exp + Duration::from_millis(1), "{attempt}: {d:?}");
        }
        Ok(())
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("0.25", now), Some(Duration::from_millis(250)));
        assert_eq!(parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn secrets_do_not_print_and_paths_drop_queries() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("secret");
        std::fs::write(&file, "abc-123\n")?;
        let s = Secret::from_file(&file)?;
        assert_eq!(s.expose(), "abc-123");
        assert!(!format!("{s:?}").contains("abc"));
        assert!(Secret::from_env("FLEETLAB_TEST_SURELY_UNSET_VARIABLE").is_err());
        assert_eq!(path_of("http://h/v1.0/devices/delta?$deltatoken=abc"), "/v1.0/devices/delta");
        Ok(())
    }
}

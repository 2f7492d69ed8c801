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
//! * **Every request chain has a time budget** ([`RetryPolicy::budget`],
//!   a minute by default): the attempts, the time spent reading bodies and
//!   the waits between them all come out of it, so a server that throttles
//!   forever, trickles a body one byte at a time or asks for a 900-second
//!   `Retry-After` ends the call with an error in bounded time instead of
//!   hanging a pull. A wait that would not fit in what is left fails at
//!   once rather than sleeping first. Each wait is announced to the
//!   [`Observer`] (the CLI prints it on stderr unless `--quiet`), since a
//!   silent minute looks like a hang.
//! * **Bodies are bounded and checked** (`body`): at most
//!   [`ClientConfig::max_body_bytes`]; a transfer cut short is retried,
//!   while an HTML page or any other non-JSON answer fails at once.
//! * **No redirects are followed.** Graph does not redirect the calls
//!   fleetlab makes, and following one would send the bearer token (or,
//!   from the token endpoint, the client secret) wherever `Location`
//!   points; a 3xx is [`GraphError::Redirected`].
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
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
/// HTTP methods (re-exported from reqwest).
pub use reqwest::Method;
use reqwest::Url;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::msgraph::error::{ApiError, GraphError};

mod body;
mod token;

use body::{BodyProblem, NotJson};
use token::Token;

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
        // The name is echoed only when it looks like one: a secret pasted
        // where the name goes must not end up in a terminal or a CI log.
        let plausible = !var.is_empty()
            && var.len() <= 64
            && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !var.starts_with(|c: char| c.is_ascii_digit());
        if !plausible {
            return Err(GraphError::Secret(
                "--secret-env takes the NAME of an environment variable (letters, digits and _), not the \
                 secret itself; what was given is not shown"
                    .into(),
            ));
        }
        // Conventional names (CLIENT_SECRET) are shown; anything else may be
        // the secret itself and is not.
        let conventional = var.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        let name = if conventional { var } else { "named by --secret-env (name not shown)" };
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
            Ok(_) => Err(GraphError::Secret(format!("environment variable {name} is empty"))),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(GraphError::Secret(format!("environment variable {name} is not valid UTF-8 (not shown)")))
            }
            Err(std::env::VarError::NotPresent) => {
                Err(GraphError::Secret(format!("environment variable {name} is not set")))
            }
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
    /// Total time for one request chain: every attempt, body read and wait.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            budget: Duration::from_secs(60),
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
    /// Largest response body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most pages one listing or delta round may take
    /// ([`crate::msgraph::protocol::LoopGuard`]).
    pub max_pages: u64,
    /// Told about each wait before a retry.
    pub observer: Observer,
}

/// Default [`ClientConfig::max_body_bytes`]: 64 MiB, about twenty times the
/// largest Graph page (999 devices with every property).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// Default [`ClientConfig::max_pages`]: 50,000 pages, five million devices
/// at Graph's smallest delta page size of 100.
pub const DEFAULT_MAX_PAGES: u64 = 50_000;

/// A wait before a retry, as announced to the [`Observer`].
#[derive(Clone, Debug)]
pub struct Wait {
    /// Method and path (no query) of the request.
    pub request: String,
    /// How long the client waits.
    pub delay: Duration,
    /// Why (`HTTP 429`, a broken connection, …).
    pub why: String,
    /// The attempt that follows the wait.
    pub attempt: u32,
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "waiting {:.1} s before attempt {} of {}: {}",
            self.delay.as_secs_f64(),
            self.attempt,
            self.request,
            self.why
        )
    }
}

/// Receives [`Wait`]s (the CLI prints them on stderr). The default ignores them.
///
/// ```
/// use fleetlab::msgraph::client::Observer;
/// let observer = Observer::new(|wait| eprintln!("note: {wait}"));
/// # let _ = observer;
/// ```
#[derive(Clone, Default)]
pub struct Observer(Option<Arc<WaitFn>>);

type WaitFn = dyn Fn(&Wait) + Send + Sync;

impl Observer {
    /// An observer calling `f` for every wait.
    pub fn new(f: impl Fn(&Wait) + Send + Sync + 'static) -> Observer {
        Observer(Some(Arc::new(f)))
    }

    pub(crate) fn notify(&self, wait: &Wait) {
        if let Some(f) = &self.0 {
            f(wait);
        }
    }
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Observer(set)" } else { "Observer(none)" })
    }
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
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pages: DEFAULT_MAX_PAGES,
            observer: Observer::default(),
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
            // A body that stops moving for this long is dead, whatever the budget.
            .read_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
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
        let deadline = Instant::now() + policy.budget;
        let mut refreshed = false;
        let mut attempt = 0u32;
        let mut last = String::from("no answer yet");
        loop {
            attempt += 1;
            let exhausted = |attempts: u32, last: String| GraphError::RetriesExhausted {
                method: request.method.to_string(),
                path: path_of(&request.url),
                attempts,
                last,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let step = match tokio::time::timeout(
                remaining,
                self.attempt(request, parse, attempt, &mut refreshed, deadline),
            )
            .await
            {
                Ok(step) => step?,
                Err(_) => {
                    self.inner.counters.transport_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(exhausted(
                        attempt,
                        format!(
                            "no complete answer within the {} s retry budget (--retry-budget); before that: {last}",
                            policy.budget.as_secs()
                        ),
                    ));
                }
            };
            match step {
                Step::Done(response, value) => return Ok((response, value)),
                Step::Retry { delay, why } => {
                    if attempt >= policy.max_attempts.max(1) {
                        return Err(exhausted(attempt, why));
                    }
                    if let Err(limit) = self.check_wait(delay, deadline) {
                        return Err(exhausted(attempt, format!("{why}; {limit}")));
                    }
                    self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    self.inner.config.observer.notify(&Wait {
                        request: format!("{} {}", request.method, path_of(&request.url)),
                        delay,
                        why: why.clone(),
                        attempt: attempt + 1,
                    });
                    last = why;
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Refuses a wait longer than the policy allows or than what is left of
    /// the chain's budget; the error text says which.
    fn check_wait(&self, delay: Duration, deadline: Instant) -> Result<(), String> {
        let policy = &self.inner.config.retry;
        if delay > policy.max_retry_after {
            return Err(format!(
                "asked to wait {} s, longer than the {} s fleetlab waits at most",
                delay.as_secs(),
                policy.max_retry_after.as_secs()
            ));
        }
        if Instant::now() + delay > deadline {
            return Err(format!(
                "a wait of {:.1} s does not fit in what is left of the {} s retry budget (--retry-budget)",
                delay.as_secs_f64(),
                policy.budget.as_secs()
            ));
        }
        Ok(())
    }

    async fn attempt(
        &self,
        request: &Request,
        parse: bool,
        attempt: u32,
        refreshed: &mut bool,
        deadline: Instant,
    ) -> Result<Step, GraphError> {
        let counters = &self.inner.counters;
        let token = self.token_until(deadline).await?;
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
            Err(BodyProblem::TooLarge { limit }) => {
                return Err(GraphError::Malformed {
                    path: path_of(&request.url),
                    message: format!(
                        "response body larger than {} MiB, the limit (raise it with --max-response-mb)",
                        limit >> 20
                    ),
                })
            }
            Err(BodyProblem::Transport(e)) => {
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
            200..=299 => self.success(request, parse, attempt, response),
            300..=399 => Err(GraphError::Redirected {
                method: request.method.to_string(),
                path: path_of(&request.url),
                status,
                to: location_origin(&response.headers),
                secret: false,
            }),
            401 if !*refreshed => {
                *refreshed = true;
                *self.inner.token.lock().await = None;
                Ok(Step::Retry { delay: Duration::ZERO, why: "HTTP 401: token refreshed".into() })
            }
            429 | 503 | 504 => {
                counters.throttled.fetch_add(1, Ordering::Relaxed);
                let delay = retry_after(&response.headers, SystemTime::now())
                    .unwrap_or_else(|| self.backoff(attempt));
                Ok(Step::Retry { delay, why: format!("HTTP {status}") })
            }
            500 | 502 if request.idempotent => {
                counters.server_errors.fetch_add(1, Ordering::Relaxed);
                let delay = retry_after(&response.headers, SystemTime::now())
                    .unwrap_or_else(|| self.backoff(attempt));
                Ok(Step::Retry { delay, why: ApiError::parse(status, &response.body).to_string() })
            }
            _ => Err(failure(request, &response)),
        }
    }

    /// A 2xx: done, or (when JSON was promised and the body is cut short)
    /// another try; a body that is not JSON at all fails at once.
    fn success(
        &self,
        request: &Request,
        parse: bool,
        attempt: u32,
        response: Response,
    ) -> Result<Step, GraphError> {
        if !parse {
            return Ok(Step::Done(response, None));
        }
        match body::parse_json(&response.headers, &response.body) {
            Ok(value) => Ok(Step::Done(response, Some(value))),
            Err(NotJson::Truncated(why)) => {
                self.inner.counters.transport_errors.fetch_add(1, Ordering::Relaxed);
                let why = format!("HTTP {}: {why}", response.status);
                if request.idempotent {
                    Ok(Step::Retry { delay: self.backoff(attempt), why })
                } else {
                    Err(GraphError::Malformed { path: path_of(&request.url), message: why })
                }
            }
            Err(NotJson::Other(why)) => Err(GraphError::Malformed {
                path: path_of(&request.url),
                message: format!("HTTP {} with {why}", response.status),
            }),
        }
    }

    async fn exchange(&self, request: &Request, token: &str) -> Result<Response, BodyProblem> {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), &request.url)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(ACCEPT, "application/json");
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let response = builder.send().await.map_err(BodyProblem::Transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = body::read_limited(response, self.inner.config.max_body_bytes).await?;
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

/// The error for a final non-2xx answer: a resync, a 403 naming the
/// permission, or the parsed Graph error.
fn failure(request: &Request, response: &Response) -> GraphError {
    let status = response.status;
    let error = ApiError::parse(status, &response.body);
    if error.is_resync() {
        let location = response.headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        return GraphError::Resync { path: path_of(&request.url), code: error.code, location };
    }
    let (method, path) = (request.method.to_string(), path_of(&request.url));
    if status == 403 {
        let permission = crate::msgraph::permissions::hint(&method, &path);
        return GraphError::Forbidden { method, path, error: Box::new(error), permission };
    }
    GraphError::Api { method, path, error: Box::new(error) }
}

/// Where a redirect points, as scheme, host and port only.
fn location_origin(headers: &HeaderMap) -> String {
    match headers.get(LOCATION).and_then(|v| v.to_str().ok()) {
        Some(l) => origin_text(l),
        None => "nowhere (no Location header)".into(),
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

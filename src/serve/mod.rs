//! `fleetlab serve`: one process that keeps an inventory (and optionally
//! users, a tenant, a group set and a snapshot's groups) loaded and
//! answers rule questions over HTTP in milliseconds, with a browser UI on
//! top of the same API.
//!
//! ```no_run
//! use fleetlab::serve::{ServeConfig, Server, Sources};
//! let config = ServeConfig {
//!     sources: Sources { devices: "scenarios/contoso/devices.json".into(), ..Sources::default() },
//!     ..ServeConfig::default()
//! };
//! let server = Server::start(config)?;
//! println!("{}", server.url());
//! # Ok::<(), fleetlab::serve::ServeError>(())
//! ```
//!
//! Design decisions:
//! * **Same engines as the CLI.** Rules go through [`crate::rule::Rule`],
//!   inventories through [`crate::fleet::load_index`] (JSON, JSON Lines or
//!   packed), whole-inventory evaluation through the columnar
//!   [`crate::fleet::CompiledSet`], explanations through
//!   [`crate::rule::Rule::explain`], plans through
//!   [`crate::autopilot::CheckedTenant::plan`]: an id list from
//!   `POST /api/v1/eval` is the one `fleetlab eval` prints.
//! * **axum on tokio, HTTP/1** as for the fake Graph ([`crate::msgraph::fake`]);
//!   bodies are read as bytes and parsed here, so every malformed body is
//!   a JSON error with a code ([`error`]), never axum's plain-text rejection.
//! * **Evaluation off the async workers, with a budget.** Each request's
//!   work runs on tokio's blocking pool behind a semaphore (twice the
//!   cores); the request waits at most [`Limits::budget`] and then answers
//!   `503 time-budget-exceeded`. The work itself is bounded (rule length,
//!   the backtracking regex step limit of [`crate::rule`]), and its permit
//!   is held until it really ends, so slow rules cannot pile up threads.
//! * **Loopback by default.** Any other address needs `--token-file`; the
//!   API then wants `Authorization: Bearer <token>` (compared in constant
//!   time). POST bodies must be `application/json`, which a cross-site
//!   form cannot send without a CORS preflight this server never grants.
//! * **Reload by swapping an `Arc`** ([`state`]): polled file times or
//!   `POST /api/v1/reload`; requests in flight keep the state they began with.
//! * **OpenAPI from one table.** [`openapi::ROUTES`] lists every route
//!   with its request and answer schema; a test checks that each routed
//!   path is in the table and answers. A derive crate (utoipa) would mean
//!   proc-macro builds for a document of a dozen routes.
//! * **UI without a build step.** Plain HTML, CSS and JavaScript modules
//!   in `src/serve/ui/`, compiled in with `include_str!`: no npm in
//!   `cargo build`, no network at run time.

pub mod api;
mod assets;
pub mod error;
pub mod graph;
pub mod groups;
pub mod openapi;
mod routes;
pub mod sim;
pub mod state;
mod svg;
pub mod tenant;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use error::ApiError;
pub use state::{Loaded, Shared, Sources};

/// Limits on what one request may cost.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Longest rule, in bytes (Entra's own limit, 3,072 characters, is a
    /// `rule-too-long` diagnostic; this one refuses to parse at all).
    pub max_rule_bytes: usize,
    /// How long a request may take.
    pub budget: Duration,
    /// Members listed per page by default.
    pub default_page: usize,
    /// Most members one page may list.
    pub max_page: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 64 << 20,
            max_rule_bytes: 64 << 10,
            budget: Duration::from_secs(10),
            default_page: 10_000,
            max_page: 1_000_000,
        }
    }
}

/// How to run a server.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// What to load.
    pub sources: Sources,
    /// The address to bind.
    pub host: IpAddr,
    /// The port (0: any free port).
    pub port: u16,
    /// The bearer token the API wants; required off loopback.
    pub token: Option<String>,
    /// Request limits.
    pub limits: Limits,
    /// How often to look for changed input files (`None`: never).
    pub watch: Option<Duration>,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            sources: Sources::default(),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            token: None,
            limits: Limits::default(),
            watch: Some(Duration::from_secs(1)),
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An input could not be loaded.
    #[error("{0}")]
    Load(String),
    /// A non-loopback address without a token.
    #[error("binding {0} exposes the API beyond this machine: give --token-file FILE (a bearer token every API call must carry), or bind 127.0.0.1")]
    TokenRequired(IpAddr),
    /// The socket or runtime could not be set up.
    #[error("cannot serve on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
}

/// A running server (on its own thread); dropping it stops it.
pub struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Loads the sources, binds, and serves on a background thread.
    pub fn start(config: ServeConfig) -> Result<Server, ServeError> {
        let (listener, app) = prepare(config)?;
        let url = url_of(&listener)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = runtime(&url)?;
        let thread = std::thread::Builder::new()
            .name("fleetlab-serve".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let _ = routes::serve(listener, app, async {
                        let _ = rx.await;
                    })
                    .await;
                });
            })
            .map_err(|e| ServeError::Load(format!("cannot start the server thread: {e}")))?;
        Ok(Server { url, stop: Some(tx), thread: Some(thread) })
    }

    /// `http://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Loads, binds, calls `ready` with the URL, and serves until the process ends.
pub fn serve_forever(config: ServeConfig, ready: impl FnOnce(&str)) -> Result<(), ServeError> {
    let (listener, app) = prepare(config)?;
    let url = url_of(&listener)?;
    let runtime = runtime(&url)?;
    ready(&url);
    runtime
        .block_on(routes::serve(listener, app, std::future::pending::<()>()))
        .map_err(|message| ServeError::Load(format!("{url}: {message}")))
}

fn runtime(url: &str) -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Load(format!("{url}: cannot start the runtime: {e}")))
}

fn url_of(listener: &std::net::TcpListener) -> Result<String, ServeError> {
    let addr = listener.local_addr().map_err(|e| ServeError::Load(e.to_string()))?;
    Ok(match addr.ip() {
        IpAddr::V6(ip) => format!("http://[{ip}]:{}", addr.port()),
        IpAddr::V4(ip) => format!("http://{ip}:{}", addr.port()),
    })
}

fn prepare(config: ServeConfig) -> Result<(std::net::TcpListener, Arc<routes::App>), ServeError> {
    if !config.host.is_loopback() && config.token.is_none() {
        return Err(ServeError::TokenRequired(config.host));
    }
    let loaded = Loaded::load(&config.sources).map_err(ServeError::Load)?;
    let addr = SocketAddr::new(config.host, config.port);
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| ServeError::Bind { addr, message: e.to_string() })?;
    listener.set_nonblocking(true).map_err(|e| ServeError::Bind { addr, message: e.to_string() })?;
    let app = routes::App::new(Shared::new(config.sources.clone(), loaded), config);
    Ok((listener, Arc::new(app)))
}

//! Microsoft Graph sync adapter: pull a tenant's devices, groups, Autopilot
//! identities and deployment profiles into a local snapshot, and a fake
//! Graph to develop and test against.
//!
//! Layers, lowest first: [`client`] (sign-in, tokens, retries, the bound on
//! requests in flight) ← [`protocol`] (paging, delta rounds, `$batch`) ←
//! [`snapshot`] (the SQLite store) ← [`sync`] (pulls) ← [`plan`] (plan a
//! tenant file and an edit set, on [`crate::autopilot`]) ← [`apply`] (send
//! a plan's writes, idempotently, with an audit log) and
//! [`export`] (the snapshot as a tenant file). [`permissions`] is the table
//! of what each route needs, shared by the client and the fake; [`skipped`]
//! records what a pull was not allowed to read. [`fake`] is
//! the server side, used by the tests, the benchmark and `fleetlab sandbox`.
//! This module may use everything below it in the crate (the rule engine,
//! inventories, group files); nothing below imports it.
//!
//! The Graph surface it follows is `../shared/spec/graph-api.md`; section
//! numbers in the docs refer to it.
//!
//! ```
//! use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Scenario};
//! use fleetlab::msgraph::{sync, ClientConfig, Credentials, Secret};
//!
//! let scenario = Scenario::load("scenarios/contoso".as_ref())?;
//! let server = FakeServer::start(scenario, FakeConfig::default(), 0)?;
//! let creds = Credentials { tenant: "contoso.onmicrosoft.com".into(), client_id: "sandbox".into(),
//!                           secret: Secret::new("any secret will do") };
//! let dir = tempfile::tempdir()?;
//! let db = dir.path().join("tenant.db");
//! let report = sync::pull_blocking(ClientConfig::for_url(server.url(), creds), &db,
//!                                  sync::PullOptions::default(), &sync::Quiet)?;
//! assert_eq!(report.changes.devices_upserted, 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod apply;
pub mod client;
mod error;
pub mod export;
pub mod fake;
pub mod ids;
pub mod import;
pub mod permissions;
pub mod plan;
pub mod protocol;
pub mod skipped;
pub mod snapshot;
pub mod sync;

pub use client::{
    parse_retry_after, ApiVersion, ClientConfig, ClientStats, Cloud, Credentials, GraphClient, Observer,
    Request, Response, RetryPolicy, Secret, Wait,
};
pub use error::{ApiError, GraphError};
pub use protocol::{batch, BatchRequest, BatchResponse, LoopGuard, Page, Pager, MAX_BATCH};
pub use snapshot::{Snapshot, SnapshotError};

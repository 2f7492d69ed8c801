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
//! * **One job per file.** `config` (settings and [`FakeError`]), `load`
//!   ([`Scenario`]), `faults` (the draws and the pager bugs), `server`
//!   (startup, shared state, dispatch), `handle` ([`FakeHandle`]), `auth`
//!   (the token endpoint and the permission check), `batch` (`$batch`),
//!   `control` (the `/_fake/` endpoints); `tenant` holds the data and its
//!   Graph routes, `query` the query options, `modes` the documented-shape
//!   switches. A new Graph route goes in `tenant`; a new fault in `faults`.

mod auth;
mod batch;
mod config;
mod control;
mod faults;
mod handle;
mod load;
mod modes;
mod query;
mod server;
mod tenant;

pub use config::{FakeConfig, FakeError};
pub use faults::{Faults, LoopBug, RetryAfterStyle};
pub use handle::{FakeHandle, FakeStats};
pub use load::Scenario;
pub use modes::{Modes, DEVICE_DELTA_DEFAULTS};
pub use server::FakeServer;

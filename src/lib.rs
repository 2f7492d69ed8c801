//! fleetlab: test Entra ID dynamic-group rules against your device inventory,
//! offline, and follow the devices through Windows Autopilot.
//!
//! The whole chain on the bundled Contoso tenant: load an inventory, evaluate
//! a group set, plan each device's deployment profile from the tenant, compile
//! a profile's enrollment flow, simulate a provisioning wave and read a metric.
//! The first two steps are the lean core; the others need the `flow` and
//! `sim` features (both in `default`).
//!
//! ```
//! use std::path::Path;
//!
//! use fleetlab::fleet::{load_index, CompiledSet};
//! use fleetlab::groups::GroupSet;
//! use fleetlab::rule::{Options, Rule};
//!
//! // 1. An inventory (Graph page, JSON array, JSON Lines or .fleet) in the
//! //    columnar index.
//! let index = load_index(Path::new("scenarios/contoso/devices.json"), &|_| {})?;
//! assert_eq!(index.len(), 401);
//!
//! // 2. A group file, every rule evaluated in one pass over the index.
//! let groups = GroupSet::load(Path::new("scenarios/contoso/groups.toml"), &Options::default())?;
//! let rules: Vec<&Rule> = groups.groups.iter().map(|g| &g.rule).collect();
//! let members = CompiledSet::compile(&rules, &index)?.evaluate();
//! let autopilot = groups.groups.iter().position(|g| g.spec.name == "Autopilot - All devices");
//! assert_eq!(autopilot.map(|g| members[g].count()), Some(194));
//!
//! #[cfg(feature = "flow")]
//! {
//!     use fleetlab::autopilot::{validate, Tenant};
//!     use fleetlab::flow::from_profile::{device_flow, DeviceFlow};
//!     use fleetlab::flow::{derive, CompiledFlow, ValidFlow};
//!
//!     // 3. The tenant's profiles and assignments, checked, then the profile
//!     //    each device gets (oldest created wins, exclusions remove).
//!     let tenant = Tenant::load(Path::new("scenarios/contoso/tenant.toml"))?;
//!     let checked = validate(&tenant).tenant.ok_or("the tenant has errors")?;
//!     let plan = checked.plan(&index)?;
//!     let assigned = plan.devices.iter().filter(|d| d.profile().is_some()).count();
//!     assert!(assigned > 0);
//!
//!     // 4. The enrollment flow of the first assigned device's profile, as a
//!     //    validated graph compiled into a state × event table.
//!     let device = plan.devices.iter().find(|d| d.profile().is_some()).ok_or("no device")?;
//!     let DeviceFlow::Profile { name, input } = device_flow(&checked, device) else {
//!         return Err("the device escapes to standard OOBE".into());
//!     };
//!     let valid = ValidFlow::new(derive(&input)?).map_err(|f| format!("{} findings", f.len()))?;
//!     let table = CompiledFlow::compile(&valid);
//!     println!("{name}: {} states, {} events", table.states.len(), table.events.len());
//! }
//!
//! #[cfg(feature = "sim")]
//! {
//!     use fleetlab::sim::resolve::Scenario;
//!     use fleetlab::sim::run::{simulate, RunOptions};
//!     use fleetlab::sim::scenario;
//!
//!     // 5. A Monday wave of the same tenant and inventory (the scenario file
//!     //    names them), a few replications instead of the file's 200.
//!     let path = Path::new("scenarios/sim/contoso-rollout.toml");
//!     let wave = Scenario::resolve(&scenario::load(path)?, path)?;
//!     let run = simulate(&wave, &RunOptions { replications: Some(3), ..RunOptions::default() })?;
//!
//!     // 6. A metric: devices done per day, mean over the replications.
//!     let per_day = run.report.metrics.iter().find(|m| m.name == "devices-per-day");
//!     let per_day = per_day.ok_or("no devices-per-day metric")?;
//!     assert!(per_day.summary.mean > 0.0);
//!     println!("{:.0} {}", per_day.summary.mean, per_day.unit);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers, lowest first (each uses only those before it): [`odata`] (Graph
//! type annotations) ← [`rule`] (the language) ← [`inventory`] (Graph-shaped
//! records and loaders) ← [`groups`] (named rule sets) ← [`fleet`] (the
//! columnar index) ← `sql` / `autopilot` ← `flow` ← `sim`; `msgraph` (the Graph
//! sync adapter and a fake Graph) beside them; the `fleetlab` CLI on top.
//!
//! # Features
//!
//! `default = ["cli"]` builds everything, as the command line needs. An
//! embedder that only evaluates rules depends on the lean core:
//!
//! ```toml
//! fleetlab = { version = "0.1", default-features = false }              # rules, groups, index
//! fleetlab = { version = "0.1", default-features = false, features = ["parallel"] }
//! ```
//!
//! | feature | adds | crates (`cargo tree -e normal`) | of which linked |
//! |---|---|---:|---:|
//! | *(none)* | [`rule`], [`inventory`] loaders, [`groups`] (JSON or in code), [`fleet`] (index, `.fleet` packs read into memory), [`odata`] | 29 | 23 |
//! | `parallel` | rayon under group sets, the index and its loader (same results, all cores) | 35 | 29 |
//! | `toml` | TOML group files (`GroupSet::parse` of a `.toml` file) | 34 | 28 |
//! | `mmap` | `.fleet` packs opened by memory map (`FleetIndex::open`), evaluated in place | 31 | 25 |
//! | `diagnostics` | `rule::Diagnostic`, rule errors as miette diagnostics | 31 | 25 |
//! | `generate` | `inventory::generate`, the seeded synthetic fleet | 41 | 35 |
//! | `autopilot` | `autopilot`: tenants, profiles, checks, plans, what-if, registration CSVs (implies `toml`) | 35 | 29 |
//! | `flow` | `flow`: enrollment flows as petgraph graphs (implies `autopilot`) | 42 | 36 |
//! | `sim` | `sim`: the discrete-event simulator with calendars (implies `flow`, `generate`, `parallel`) | 58 | 52 |
//! | `report` | `sim::html`, the HTML report with SVG charts (plotters) | 61 | 55 |
//! | `sql` | `sql`: rules as DuckDB / Spark / DataFusion SQL, Arrow and Parquet export | 59 | 50 |
//! | `sync` | `msgraph`: Graph client (tokio, reqwest, rustls), fake Graph (axum), SQLite snapshot | 136 | 124 |
//! | `serve` | `serve`: the HTTP API and browser UI (`sync`'s stack, `autopilot`, `sim`, `report`, `mmap`) | 148 | 136 |
//! | `cli` (= `default`) | the `fleetlab` binary: clap, miette's renderer, indicatif, comfy-table, signal-hook, csv; every feature above | 212 | 195 |
//!
//! Counts are unique crates (name and version, fleetlab included) in
//! `cargo tree -e normal --no-default-features [--features F]`; "linked"
//! leaves out proc-macros and their dependencies (`-e normal,no-proc-macro`),
//! which run only at compile time. The lean core's 29 are pest (its parser
//! generated by `build.rs`, so pest's derive crates are build-time only),
//! serde/serde_json with serde_path_to_error (errors naming the field), regex
//! and fancy-regex (the .NET constructs `-match` accepts), bytemuck (the
//! packed index's aligned views), crc32fast (`.fleet` checksums), rustc-hash,
//! strsim ("did you mean"), thiserror, and serde's and thiserror's derives.
//!
//! Decisions:
//!
//! * **Features follow the layers.** Each feature is a layer with the crates
//!   only it uses, so the lean core compiles nothing async, nothing for HTTP,
//!   TLS, SQLite, Arrow or charts; the binary requires `cli`.
//! * **rayon is optional, not removed.** Without `parallel` the same code
//!   runs sequentially (a private shim with rayon's method names); results
//!   are identical, so an embedder with its own thread pool pays nothing.
//! * **`default` keeps the whole CLI**, so `cargo run` and `cargo test`
//!   behave as before the split.
//! * **The lean core's budget is 30 crates.** What an embedder does not
//!   need to evaluate rules over a fleet is a feature: TOML (five crates;
//!   groups also come as JSON or from code) and the memory map (memmap2 and
//!   libc; packs are then read into memory, with the same answers).

#![warn(missing_docs)]

#[cfg(feature = "autopilot")]
pub mod autopilot;
pub mod fleet;
#[cfg(feature = "flow")]
pub mod flow;
pub mod groups;
pub mod inventory;
#[cfg(feature = "sync")]
pub mod msgraph;
pub mod odata;
#[cfg(not(feature = "parallel"))]
mod par;
// One name for the pool: rayon with `parallel`, its sequential stand-in
// without, so parallel code is written once against `crate::par`.
#[cfg(feature = "parallel")]
use rayon as par;
pub mod rule;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "sql")]
pub mod sql;

#[cfg(feature = "cli")]
#[doc(hidden)]
// Doc comments there are clap's help texts, whose `<id>` placeholders are
// for the terminal, not HTML.
#[allow(rustdoc::invalid_html_tags)]
pub mod cli;

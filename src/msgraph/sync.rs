//! Pulling a tenant into the snapshot.
//!
//! A pull reads four resources, each as a chain of pages:
//!
//! | resource | request | version | kind |
//! |---|---|---|---|
//! | `devices` | `GET /devices/delta?$select=…` ([`device_properties`]) | v1.0 | delta |
//! | `groups` | `GET /groups/delta?$select=…,members` | v1.0 | delta, with `members@delta` |
//! | `autopilot` | `GET /deviceManagement/windowsAutopilotDeviceIdentities` | beta | full listing |
//! | `profiles` | `GET /deviceManagement/windowsAutopilotDeploymentProfiles`, then each profile's `/assignments` | beta | full listing |
//!
//! Decisions, and why:
//!
//! * **Devices are selected explicitly.** "device: delta" documents
//!   `$select` and shows a handful of properties in its example, but
//!   promises no default set; `physicalIds` in particular is "for internal
//!   use" and every `devicePhysicalIds` rule reads it. So the first request
//!   of a round names every Graph field the rule catalogue reads plus
//!   `extensionAttributes` ([`device_properties`]); Graph encodes query
//!   options into the round's tokens, so the nextLinks and the deltaLink
//!   carry the selection on (delta query overview, "State tokens"). A
//!   deltaLink keeps returning the selection it was started with, so the
//!   snapshot remembers the query of its devices round; a stored deltaLink
//!   of another query (an older fleetlab, a catalogue that grew) is
//!   dropped for a full round.
//! * **Delta for devices and groups**: the first pull is a delta round from
//!   scratch, which returns everything and ends with a deltaLink; later
//!   pulls start from the stored deltaLink and receive only changes.
//!   Intune has no delta for Autopilot identities or profiles, so those are
//!   listed whole on every pull. Autopilot calls use beta (v1.0 lacks the
//!   profile-assignment status fields, and profiles exist only in beta —
//!   graph-api.md §0); directory calls use v1.0.
//! * **An expired round restarts whole, from our own first request.** The
//!   delta query overview documents two signals: "Synchronization reset",
//!   `410 Gone` with a `Location` holding "the initial query" (an empty
//!   `$deltaToken`), after which "the application must restart with a full
//!   synchronization"; and, under "Token duration", a 40X with
//!   `syncStateNotFound` for an expired token (seven days for directory
//!   objects). Either drops what was staged for the resource and redoes it
//!   as a full round (which replaces the resource, so objects deleted
//!   meanwhile go too), at most three times a pull. The round
//!   starts from our own initial query rather than the `Location`: the
//!   documentation says the two are the same query, and ours is certain to
//!   carry the `$select` the round needs.
//! * **Request options weighed and left out.** `Prefer: return=minimal` is
//!   documented for group delta rounds from a deltaLink ("group: delta";
//!   not on "device: delta"). Measured against the fake with 50–150 ms per
//!   request (`cargo bench --bench sync -- "delta round"`, 10,000 devices,
//!   1,000 of them moved between the contoso groups), a group round is one
//!   request either way: 59,081 bytes and 98 ms by default, 56,276 bytes
//!   (−5%) and 100 ms with the header. The bytes are `members@delta`, which
//!   the header does not shrink, so it buys nothing and is not sent.
//!   `Prefer: odata.maxpagesize` is documented for other resources but not
//!   for directory deltas, and the delta query overview says `$top` is not
//!   supported for users and groups; the same bench shows what a larger
//!   page would be worth (a device round of 10,000: 10.6 s in pages of 100,
//!   1.6 s in pages of 999, equal bytes), but nothing documents that Graph
//!   honours it there, so page size is left to Graph.
//! * **The chains run concurrently**, and a profile's assignments are
//!   fetched in parallel once the profiles are known; the client's
//!   semaphore bounds how many requests are in flight (concurrency 1 is a
//!   sequential pull). Pages of one chain are sequential by nature: each
//!   nextLink comes with the previous page.
//! * **One pull at a time per snapshot**: a pull takes the snapshot's
//!   write lock first ([`Snapshot::lock`]) and fails at once when another
//!   process holds it.
//! * **Every page is staged before the next is requested**, and the staged
//!   pull is applied in one transaction at the end ([`Snapshot`]): an
//!   interrupted pull is resumed by the next run from the saved links.
//! * **SQLite runs on tokio's blocking pool, never on a worker thread.**
//!   Staging a page is a transaction with an fsync-bound commit, and
//!   applying a pull replays every staged page; run on a worker, either
//!   stalls every request future that worker drives (tokio's docs on
//!   `spawn_blocking`: blocking a worker "prevents the executor from driving
//!   other futures"). So the pull opens a connection of its own to the
//!   snapshot file, owned (`Arc<Mutex<Snapshot>>`) so it can move into
//!   [`tokio::task::spawn_blocking`], and every SQLite call of the pull goes
//!   through it. The caller's [`Snapshot`] still takes the write lock
//!   before anything is staged and keeps it, so "one pull at a time"
//!   holds as before; the second connection is the same process working
//!   under that lock, and WAL lets the caller's connection read what it
//!   committed. Each call is one of the snapshot's own methods, so the
//!   transactions are the ones it always had (a page and its cursor, the
//!   whole apply). A dedicated writer thread would do as well; the blocking
//!   pool needs no shutdown and already exists in every runtime.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::msgraph::client::{ApiVersion, ClientConfig, ClientStats, GraphClient};
use crate::msgraph::error::GraphError;
use crate::msgraph::protocol::Pager;
use crate::msgraph::skipped::{self, Skipped};
use crate::msgraph::snapshot::{Changes, Cursor, Mode, Snapshot, SnapshotError};

/// Device properties every pull selects: the Graph field of each property
/// the rule catalogue knows (`physicalIds` for `devicePhysicalIds`,
/// `operatingSystem` for `deviceOSType`, …) and `extensionAttributes` for
/// `extensionAttribute1`…`15`; these are also all the snapshot's columns
/// and the inventory export read. `memberOf` is not a property (the
/// snapshot computes it from group members).
///
/// ```
/// let props = fleetlab::msgraph::sync::device_properties();
/// assert!(props.iter().any(|p| p == "physicalIds"));
/// assert!(props.iter().any(|p| p == "extensionAttributes"));
/// assert!(!props.iter().any(|p| p == "memberOf"));
/// ```
pub fn device_properties() -> Vec<String> {
    use crate::rule::DeviceProperty;
    let mut out: Vec<String> = Vec::new();
    let fields = DeviceProperty::all()
        .filter(|p| *p != DeviceProperty::MemberOf)
        .map(|p| p.graph_field().split('.').next().unwrap_or_default().to_string())
        .chain(std::iter::once("extensionAttributes".to_string()));
    for field in fields {
        if !field.is_empty() && !out.contains(&field) {
            out.push(field);
        }
    }
    out
}

/// The first request of a devices delta round, with its `$select`.
pub fn devices_delta() -> String {
    format!("/devices/delta?$select={}", device_properties().join(","))
}
/// Delta query for groups, tracking membership.
pub const GROUPS_DELTA: &str = "/groups/delta?$select=displayName,description,groupTypes,membershipRule,membershipRuleProcessingState,securityEnabled,mailEnabled,mailNickname,members";
/// Autopilot identities (beta).
pub const AUTOPILOT: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";
/// Deployment profiles (beta).
pub const PROFILES: &str = "/deviceManagement/windowsAutopilotDeploymentProfiles";

/// The `meta` key remembering the devices query the stored deltaLink was
/// started with.
const DEVICE_SELECT_META: &str = "select:devices";

/// Properties one pull may leave out of a `$select` Graph refuses.
const MAX_DROPPED_PROPERTIES: u32 = 8;

/// For Graph's 400 "Could not find a property named 'p' on type …" to a
/// request whose `$select` names `p`: the same request without `p`, and
/// `p`. A tenant (or a national cloud) whose v1.0 lacks a property the
/// rule catalogue reads then still syncs everything else, rather than
/// failing the whole pull; the property is announced, since rules on it
/// will see no value.
fn without_unknown_property(e: &GraphError, url: &str) -> Option<(String, String)> {
    let GraphError::Api { error, .. } = e else { return None };
    if error.status != 400 {
        return None;
    }
    let property = error.message.split("property named '").nth(1)?.split('\'').next()?.to_string();
    let (head, query) = url.split_once("$select=")?;
    let (list, rest) = match query.split_once('&') {
        Some((list, rest)) => (list, format!("&{rest}")),
        None => (query, String::new()),
    };
    let fields: Vec<&str> = list.split(',').collect();
    if !fields.contains(&property.as_str()) {
        return None;
    }
    let kept: Vec<&str> = fields.into_iter().filter(|f| *f != property).collect();
    Some((format!("{head}$select={}{rest}", kept.join(",")), property))
}

/// How many times one resource may be resynced in a pull.
const MAX_RESYNCS: u32 = 3;

/// Options of a pull.
#[derive(Clone, Copy, Debug, Default)]
pub struct PullOptions {
    /// Ignore stored delta links and any staged pull: a full resync.
    pub full: bool,
}

/// Told about progress as pages arrive.
pub trait Progress: Send + Sync {
    /// `items` more records of `resource` were staged.
    fn items(&self, resource: &str, items: u64);
    /// A notable event (a resync, a resumed pull).
    fn note(&self, message: &str);
}

/// Ignores progress.
pub struct Quiet;

impl Progress for Quiet {
    fn items(&self, _: &str, _: u64) {}
    fn note(&self, _: &str) {}
}

/// What a pull did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PullReport {
    /// Per resource: full or delta.
    pub modes: BTreeMap<String, Mode>,
    /// True when an interrupted pull was resumed.
    pub resumed: bool,
    /// Resources redone after an expired delta token or link.
    pub resyncs: u32,
    /// Records received in this run.
    pub received: u64,
    /// What changed in the snapshot.
    pub changes: Changes,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// HTTP counters.
    pub http: ClientStats,
    /// Resources Graph refused (403): not applied, the snapshot keeps their
    /// previous pull.
    pub skipped: Vec<Skipped>,
    /// Things pulled as Graph sent them but that fleetlab cannot interpret
    /// (a profile of an unknown type).
    pub warnings: Vec<String>,
}

struct Run<'a> {
    client: &'a GraphClient,
    /// The pull's own connection to the snapshot file (module docs).
    db: Arc<Mutex<Snapshot>>,
    progress: &'a dyn Progress,
}

impl Run<'_> {
    /// Runs `work` on the pull's connection, on tokio's blocking pool.
    async fn db<T, F>(&self, work: F) -> Result<T, GraphError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Snapshot) -> Result<T, GraphError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let mut snap = db.lock().map_err(|_| GraphError::Runtime("snapshot lock poisoned".into()))?;
            work(&mut snap)
        })
        .await
        .map_err(|e| GraphError::Runtime(format!("snapshot task: {e}")))?
    }

    /// Pages `resource` from `url` into the stage until done; redoes it as a
    /// full round from `initial` on 410 / `syncStateNotFound` /
    /// `resyncRequired`, or when a resumed link is refused (module docs).
    async fn chain(
        &self,
        resource: &str,
        mut url: String,
        initial: &str,
        resumed: bool,
    ) -> Result<(u64, u32), GraphError> {
        let mut received = 0;
        let mut resyncs = 0;
        let mut from_saved_link = resumed;
        let mut initial = initial.to_string();
        let mut dropped = 0;
        loop {
            let mut pager = Pager::new(self.client, &url);
            let outcome: Result<(), GraphError> = async {
                while let Some(page) = pager.next_page().await? {
                    let n = page.items.len() as u64;
                    let delta = if page.next_link.is_none() { page.delta_link.as_deref() } else { None };
                    let delta = delta.map(str::to_string);
                    let (name, items, next) = (resource.to_string(), page.items, page.next_link);
                    self.db(move |s| Ok(s.stage_page(&name, &items, next.as_deref(), delta.as_deref())?))
                        .await?;
                    received += n;
                    self.progress.items(resource, n);
                }
                Ok(())
            }
            .await;
            match outcome {
                Ok(()) => return Ok((received, resyncs)),
                Err(e) => {
                    if let Some((narrower, property)) = without_unknown_property(&e, &initial) {
                        dropped += 1;
                        if dropped > MAX_DROPPED_PROPERTIES {
                            return Err(e);
                        }
                        self.progress.note(&format!(
                            "{resource}: Graph does not know the property {property} here, so it is left out of \
                             $select; rules that read it see no value"
                        ));
                        self.stage_start(resource, &narrower).await?;
                        (url, initial, from_saved_link) = (narrower.clone(), narrower, false);
                        continue;
                    }
                    let redo = match &e {
                        GraphError::Resync { .. } => true,
                        GraphError::Api { error, .. } => {
                            from_saved_link && (400..500).contains(&error.status)
                        }
                        _ => false,
                    };
                    if !redo {
                        return Err(e);
                    }
                    resyncs += 1;
                    if resyncs > MAX_RESYNCS {
                        return Err(e);
                    }
                    let fresh = initial.clone();
                    self.progress.note(&format!("{resource}: {e}; starting a full round"));
                    self.stage_start(resource, &fresh).await?;
                    url = fresh;
                    from_saved_link = false;
                }
            }
        }
    }

    /// Restarts staging `resource` as a full round from `url`.
    async fn stage_start(&self, resource: &str, url: &str) -> Result<(), GraphError> {
        let (resource, url) = (resource.to_string(), url.to_string());
        self.db(move |s| Ok(s.stage_start(&resource, Mode::Full, &url)?)).await
    }
}

/// Pulls the tenant into `snapshot`: resumes a staged pull, else starts a
/// delta round where a delta link is stored (a full one otherwise), then
/// applies everything in one transaction. A resource Graph refuses with
/// 403 is skipped ([`crate::msgraph::skipped`]) and listed in
/// [`PullReport::skipped`]; the pull fails only when every resource is
/// refused, or on any other error.
pub async fn pull(
    client: &GraphClient,
    snapshot: &Mutex<Snapshot>,
    options: PullOptions,
    progress: &dyn Progress,
) -> Result<PullReport, GraphError> {
    let started = Instant::now();
    // The caller's snapshot takes the write lock and keeps it (module docs).
    let path = {
        let mut snap = snapshot.lock().map_err(|_| GraphError::Runtime("snapshot lock poisoned".into()))?;
        snap.lock()?;
        snap.path().to_path_buf()
    };
    let db = tokio::task::spawn_blocking(move || Snapshot::open(&path))
        .await
        .map_err(|e| GraphError::Runtime(format!("snapshot task: {e}")))??;
    let run = Run { client, db: Arc::new(Mutex::new(db)), progress };
    let mut report = PullReport::default();
    let plan = start(&run, client, options, &mut report).await?;
    // Sign in once before the chains start: a refused or broken sign-in
    // is one request and one error, not one per resource.
    client.token().await?;
    let run = &run;
    let chains = plan.iter().map(|(name, url, initial, resumed)| async move {
        let (n, r) = match run.chain(name, url.clone(), initial, *resumed).await {
            Ok(done) => done,
            Err(e) => return (name.clone(), Err(e)),
        };
        if name == "profiles" {
            return match assignments(run).await {
                Ok((m, s)) => (name.clone(), Ok((n + m, r + s))),
                Err(e) => ("assignments".to_string(), Err(e)),
            };
        }
        (name.clone(), Ok((n, r)))
    });
    let mut outcomes = futures_util::future::join_all(chains).await;
    if !plan.iter().any(|(n, ..)| n == "profiles") {
        // Profiles were listed before an interruption: finish their assignments.
        outcomes.push(("assignments".to_string(), assignments(run).await));
    }
    let mut refused: Option<GraphError> = None;
    let mut pulled = 0;
    for (name, outcome) in outcomes {
        match outcome {
            Ok((n, r)) => {
                pulled += 1;
                report.received += n;
                report.resyncs += r;
                if r > 0 && report.modes.contains_key(&name) {
                    report.modes.insert(name.clone(), Mode::Full);
                }
            }
            Err(e) => match skip(run, &name, &e).await? {
                Some(skipped) => {
                    report.skipped.push(skipped);
                    refused.get_or_insert(e);
                }
                None => return Err(e),
            },
        }
    }
    if let (0, Some(e)) = (pulled, refused) {
        return Err(e);
    }
    for s in &report.skipped {
        let name = if s.resource == "assignments" { "profiles" } else { s.resource.as_str() };
        report.modes.remove(name);
    }
    let refused_list = report.skipped.clone();
    let devices = report.modes.contains_key("devices");
    (report.warnings, report.changes) = run
        .db(move |snap| {
            let warnings = unknown_profile_types(&snap.staged_values("profiles")?);
            let changes = snap.apply_staged()?;
            skipped::store(snap, &refused_list)?;
            if devices {
                snap.set_meta(DEVICE_SELECT_META, &devices_delta())?;
            }
            Ok((warnings, changes))
        })
        .await?;
    report.seconds = started.elapsed().as_secs_f64();
    report.http = client.stats();
    Ok(report)
}

/// Where each resource starts: resumes what is staged, else a delta round
/// from the stored deltaLink, else a full round. Returns (resource, url,
/// initial url, resumed?) for each chain to run.
async fn start(
    run: &Run<'_>,
    client: &GraphClient,
    options: PullOptions,
    report: &mut PullReport,
) -> Result<Vec<(String, String, String, bool)>, GraphError> {
    let mut plan = Vec::new();
    let full = options.full;
    // A deltaLink made with another selection would keep returning the old
    // properties: such a round starts over.
    let (staged, devices_select_same, mut links) = run
        .db(move |snap| {
            if full {
                snap.stage_clear()?;
            }
            let staged: BTreeMap<String, Cursor> =
                snap.staged()?.into_iter().map(|c| (c.resource.clone(), c)).collect();
            let same = snap.meta(DEVICE_SELECT_META)?.as_deref() == Some(devices_delta().as_str());
            let mut links = BTreeMap::new();
            for name in ["devices", "groups"] {
                links.insert(name, snap.delta_link(name)?);
            }
            Ok((staged, same, links))
        })
        .await?;
    report.resumed = !staged.is_empty();
    if report.resumed {
        run.progress.note("resuming the interrupted pull");
    }
    let resources = [
        ("devices", client.url(ApiVersion::V1, &devices_delta()), devices_select_same),
        ("groups", client.url(ApiVersion::V1, GROUPS_DELTA), true),
        ("autopilot", client.url(ApiVersion::Beta, AUTOPILOT), false),
        ("profiles", client.url(ApiVersion::Beta, PROFILES), false),
    ];
    let mut starts = Vec::new();
    for (name, initial, delta) in resources {
        match staged.get(name) {
            Some(c) => {
                report.modes.insert(name.to_string(), c.mode);
                if let (false, Some(next)) = (c.done, &c.next_link) {
                    plan.push((name.to_string(), next.clone(), initial, true));
                }
            }
            None => {
                let link = if delta && !full { links.remove(name).flatten() } else { None };
                let (mode, url) = match link {
                    Some(l) if client.check_link(&l).is_ok() => (Mode::Delta, l),
                    _ => (Mode::Full, initial.clone()),
                };
                starts.push((name.to_string(), mode, url.clone()));
                report.modes.insert(name.to_string(), mode);
                plan.push((name.to_string(), url, initial, false));
            }
        }
    }
    run.db(move |snap| {
        for (name, mode, url) in &starts {
            snap.stage_start(name, *mode, url)?;
        }
        Ok(())
    })
    .await?;
    Ok(plan)
}

/// The skip `error` stands for on `resource`, with its staged pages
/// dropped; `None` when the error must fail the pull.
async fn skip(run: &Run<'_>, resource: &str, error: &GraphError) -> Result<Option<Skipped>, GraphError> {
    let status = run.db(|snap| Ok(snap.status()?)).await?;
    let had_data = match resource {
        "devices" | "groups" | "autopilot" => status.resources.iter().any(|r| r.resource == resource),
        _ => status.profiles > 0,
    };
    let Some(skipped) = Skipped::from_error(resource, error, had_data) else { return Ok(None) };
    let resource = resource.to_string();
    run.db(move |snap| {
        let mut drop: Vec<String> = vec![resource.clone()];
        if matches!(resource.as_str(), "profiles" | "assignments") {
            drop.push("profiles".to_string());
            drop.extend(
                snap.staged()?.into_iter().map(|c| c.resource).filter(|r| r.starts_with("assignments:")),
            );
        }
        for r in &drop {
            snap.stage_drop(r)?;
        }
        Ok(())
    })
    .await?;
    Ok(Some(skipped))
}

/// A warning for each staged profile whose `@odata.type` is neither of the
/// two profile types fleetlab reads (Graph's beta schema adds types).
fn unknown_profile_types(profiles: &[serde_json::Value]) -> Vec<String> {
    profiles
        .iter()
        .filter(|p| crate::odata::of(p).is_none_or(|t| crate::odata::profile_kind(t).is_none()))
        .map(|p| {
            format!(
                "profile {:?} ({}) has the type {}, which fleetlab does not read: it is kept as Graph sent it \
                 and left out of `sync export --tenant`",
                p.get("displayName").and_then(serde_json::Value::as_str).unwrap_or(""),
                p.get("id").and_then(serde_json::Value::as_str).unwrap_or(""),
                crate::odata::of(p).unwrap_or("(none)")
            )
        })
        .collect()
}

/// Lists the assignments of every staged profile, in parallel.
async fn assignments(run: &Run<'_>) -> Result<(u64, u32), GraphError> {
    let (ids, staged): (Vec<String>, BTreeMap<String, Cursor>) = run
        .db(|snap| {
            Ok((
                snap.staged_ids("profiles")?,
                snap.staged()?.into_iter().map(|c| (c.resource.clone(), c)).collect(),
            ))
        })
        .await?;
    let mut jobs = Vec::new();
    for id in ids {
        let resource = format!("assignments:{id}");
        let segment = crate::msgraph::ids::path_segment("deployment profile", &id)?;
        let initial = run.client.url(ApiVersion::Beta, &format!("{PROFILES}/{segment}/assignments"));
        match staged.get(&resource) {
            Some(c) if c.done => {}
            Some(c) => {
                jobs.push((resource, c.next_link.clone().unwrap_or_else(|| initial.clone()), initial, true))
            }
            None => {
                run.stage_start(&resource, &initial).await?;
                jobs.push((resource, initial.clone(), initial, false));
            }
        }
    }
    let futures = jobs
        .iter()
        .map(|(resource, url, initial, resumed)| run.chain(resource, url.clone(), initial, *resumed));
    let mut total = (0, 0);
    for r in futures_util::future::join_all(futures).await {
        let (n, s) = r?;
        total.0 += n;
        total.1 += s;
    }
    Ok(total)
}

/// [`pull`] for callers that are not async: opens the snapshot at `db`,
/// signs in with `config` and pulls, on a runtime of its own.
///
/// ```no_run
/// use fleetlab::msgraph::{sync, ClientConfig, Credentials, Secret};
/// let creds = Credentials { tenant: "contoso.onmicrosoft.com".into(), client_id: "app-id".into(),
///                           secret: Secret::from_env("FLEETLAB_CLIENT_SECRET")? };
/// let report = sync::pull_blocking(ClientConfig::for_url("http://127.0.0.1:8080", creds),
///                                  "tenant.db".as_ref(), sync::PullOptions::default(), &sync::Quiet)?;
/// println!("{} records in {:.1} s", report.received, report.seconds);
/// # Ok::<(), fleetlab::msgraph::GraphError>(())
/// ```
pub fn pull_blocking(
    config: ClientConfig,
    db: &Path,
    options: PullOptions,
    progress: &dyn Progress,
) -> Result<PullReport, GraphError> {
    let runtime = runtime()?;
    let client = GraphClient::new(config)?;
    let snapshot = Mutex::new(Snapshot::open(db)?);
    runtime.block_on(pull(&client, &snapshot, options, progress))
}

/// A small multi-threaded runtime for blocking entry points.
pub fn runtime() -> Result<tokio::runtime::Runtime, GraphError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| GraphError::Runtime(e.to_string()))
}

impl Snapshot {
    /// Ids of the items staged for `resource`.
    pub(crate) fn staged_ids(&self, resource: &str) -> Result<Vec<String>, SnapshotError> {
        Ok(self
            .staged_values(resource)?
            .iter()
            .filter_map(|v| v.get("id").and_then(serde_json::Value::as_str).map(str::to_string))
            .collect())
    }
}

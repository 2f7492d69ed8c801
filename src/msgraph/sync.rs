//! Pulling a tenant into the snapshot.
//!
//! A pull reads four resources, each as a chain of pages:
//!
//! | resource | request | version | kind |
//! |---|---|---|---|
//! | `devices` | `GET /devices/delta` | v1.0 | delta |
//! | `groups` | `GET /groups/delta?$select=…,members` | v1.0 | delta, with `members@delta` |
//! | `autopilot` | `GET /deviceManagement/windowsAutopilotDeviceIdentities` | beta | full listing |
//! | `profiles` | `GET /deviceManagement/windowsAutopilotDeploymentProfiles`, then each profile's `/assignments` | beta | full listing |
//!
//! Decisions, and why:
//!
//! * **Delta for devices and groups**: the first pull is a delta round from
//!   scratch, which returns everything and ends with a deltaLink; later
//!   pulls start from the stored deltaLink and receive only changes. A
//!   410 / `resyncRequired` answer drops what was staged for the resource and
//!   redoes it as a full round (from the `Location` Graph gives, else the
//!   initial URL). Intune has no delta for Autopilot identities or profiles,
//!   so those are listed whole on every pull. Autopilot calls use beta
//!   (v1.0 lacks the profile-assignment status fields, and profiles exist
//!   only in beta — graph-api.md §0); directory calls use v1.0.
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

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::msgraph::client::{ApiVersion, ClientConfig, ClientStats, GraphClient};
use crate::msgraph::error::GraphError;
use crate::msgraph::protocol::Pager;
use crate::msgraph::snapshot::{Changes, Mode, Snapshot, SnapshotError};

/// Delta query for devices.
pub const DEVICES_DELTA: &str = "/devices/delta";
/// Delta query for groups, tracking membership.
pub const GROUPS_DELTA: &str = "/groups/delta?$select=displayName,description,groupTypes,membershipRule,membershipRuleProcessingState,securityEnabled,mailEnabled,mailNickname,members";
/// Autopilot identities (beta).
pub const AUTOPILOT: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";
/// Deployment profiles (beta).
pub const PROFILES: &str = "/deviceManagement/windowsAutopilotDeploymentProfiles";

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
}

struct Run<'a> {
    client: &'a GraphClient,
    snapshot: &'a Mutex<Snapshot>,
    progress: &'a dyn Progress,
}

impl Run<'_> {
    fn snap(&self) -> Result<std::sync::MutexGuard<'_, Snapshot>, GraphError> {
        self.snapshot.lock().map_err(|_| GraphError::Runtime("snapshot lock poisoned".into()))
    }

    /// Pages `resource` from `url` into the stage until done; redoes it as a
    /// full round on 410/resyncRequired, or when a resumed link is refused.
    /// The redo starts from our own initial query rather than the
    /// `Location` of a 410, because that query carries the `$select`
    /// (group members) the round needs, which a `Location` may lack.
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
        loop {
            let mut pager = Pager::new(self.client, &url);
            let outcome: Result<(), GraphError> = async {
                while let Some(page) = pager.next_page().await? {
                    let n = page.items.len() as u64;
                    let delta = if page.next_link.is_none() { page.delta_link.as_deref() } else { None };
                    self.snap()?.stage_page(resource, &page.items, page.next_link.as_deref(), delta)?;
                    received += n;
                    self.progress.items(resource, n);
                }
                Ok(())
            }
            .await;
            match outcome {
                Ok(()) => return Ok((received, resyncs)),
                Err(e) => {
                    let redo = match &e {
                        GraphError::Resync { location, .. } => Some(location.clone()),
                        GraphError::Api { error, .. }
                            if from_saved_link && (400..500).contains(&error.status) =>
                        {
                            Some(None)
                        }
                        _ => None,
                    };
                    let Some(location) = redo else { return Err(e) };
                    resyncs += 1;
                    if resyncs > MAX_RESYNCS {
                        return Err(e);
                    }
                    // Our own initial query, not the `Location`: it carries the
                    // `$select` (members) the round needs, which a Location may lack.
                    let _ = location;
                    let fresh = initial.to_string();
                    self.progress.note(&format!("{resource}: {e}; starting a full round"));
                    self.snap()?.stage_start(resource, Mode::Full, &fresh)?;
                    url = fresh;
                    from_saved_link = false;
                }
            }
        }
    }
}

/// Pulls the tenant into `snapshot`: resumes a staged pull, else starts a
/// delta round where a delta link is stored (a full one otherwise), then
/// applies everything in one transaction.
pub async fn pull(
    client: &GraphClient,
    snapshot: &Mutex<Snapshot>,
    options: PullOptions,
    progress: &dyn Progress,
) -> Result<PullReport, GraphError> {
    let started = Instant::now();
    let run = Run { client, snapshot, progress };
    let mut report = PullReport::default();
    // Decide, per resource, where to start.
    let mut plan: Vec<(String, String, String, bool)> = Vec::new(); // resource, url, initial, resumed
    {
        let mut snap = run.snap()?;
        snap.lock()?;
        if options.full {
            snap.stage_clear()?;
        }
        let staged: BTreeMap<String, _> =
            snap.staged()?.into_iter().map(|c| (c.resource.clone(), c)).collect();
        report.resumed = !staged.is_empty();
        if report.resumed {
            progress.note("resuming the interrupted pull");
        }
        let resources = [
            ("devices", client.url(ApiVersion::V1, DEVICES_DELTA), true),
            ("groups", client.url(ApiVersion::V1, GROUPS_DELTA), true),
            ("autopilot", client.url(ApiVersion::Beta, AUTOPILOT), false),
            ("profiles", client.url(ApiVersion::Beta, PROFILES), false),
        ];
        for (name, initial, delta) in resources {
            match staged.get(name) {
                Some(c) => {
                    report.modes.insert(name.to_string(), c.mode);
                    if let (false, Some(next)) = (c.done, &c.next_link) {
                        plan.push((name.to_string(), next.clone(), initial, true));
                    }
                }
                None => {
                    let link = if delta && !options.full { snap.delta_link(name)? } else { None };
                    let (mode, url) = match link {
                        Some(l) if client.check_link(&l).is_ok() => (Mode::Delta, l),
                        _ => (Mode::Full, initial.clone()),
                    };
                    snap.stage_start(name, mode, &url)?;
                    report.modes.insert(name.to_string(), mode);
                    plan.push((name.to_string(), url, initial, false));
                }
            }
        }
    }
    // Sign in once before the chains start: a refused or broken sign-in
    // is one request and one error, not one per resource.
    client.token().await?;
    let run = &run;
    let chains = plan.iter().map(|(name, url, initial, resumed)| async move {
        let (n, r) = run.chain(name, url.clone(), initial, *resumed).await?;
        if name == "profiles" {
            let (m, s) = assignments(run).await?;
            return Ok::<_, GraphError>((name, n + m, r + s));
        }
        Ok((name, n, r))
    });
    let profiles_planned = plan.iter().any(|(n, ..)| n == "profiles");
    for result in futures_util::future::join_all(chains).await {
        let (name, n, r) = result?;
        report.received += n;
        report.resyncs += r;
        if r > 0 {
            report.modes.insert(name.clone(), Mode::Full);
        }
    }
    if !profiles_planned {
        // Profiles were listed before an interruption: finish their assignments.
        let (n, r) = assignments(run).await?;
        report.received += n;
        report.resyncs += r;
    }
    report.changes = run.snap()?.apply_staged()?;
    report.seconds = started.elapsed().as_secs_f64();
    report.http = client.stats();
    Ok(report)
}

/// Lists the assignments of every staged profile, in parallel.
async fn assignments(run: &Run<'_>) -> Result<(u64, u32), GraphError> {
    let (ids, staged): (Vec<String>, BTreeMap<String, crate::msgraph::snapshot::Cursor>) = {
        let snap = run.snap()?;
        (snap.staged_ids("profiles")?, snap.staged()?.into_iter().map(|c| (c.resource.clone(), c)).collect())
    };
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
                run.snap()?.stage_start(&resource, Mode::Full, &initial)?;
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

//! `fleetlab sync`: pull a tenant from Microsoft Graph into a local
//! snapshot, show the snapshot's state, export it (as an inventory, as
//! Graph profile JSON, or as a tenant file), and plan and apply a tenant
//! file and an edit set against it.
//!
//! `--tenant FILE` is the desired tenant file (as in `fleetlab plan`), so
//! the directory tenant is `--tenant-id`. Writes happen only with `--yes`.
//!
//! Credentials: the tenant id and client id are arguments (or
//! `FLEETLAB_TENANT` / `FLEETLAB_CLIENT_ID`); the client secret is read
//! only from an environment variable (`--secret-env`, default
//! `FLEETLAB_CLIENT_SECRET`) or a file (`--secret-file`), never from a
//! command-line value, which would land in shell history and `ps`.
//!
//! Every file `export` writes is written atomically (a temporary file in
//! the same directory, then a rename), so an interrupted export never
//! leaves half a tenant file where a complete one was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::{Args, Subcommand, ValueEnum};

use super::{emit, fail, output, Failure, Outcome};
use crate::msgraph::snapshot::Snapshot;
use crate::msgraph::sync::{self, Progress, PullOptions};
use crate::msgraph::{ClientConfig, Cloud, Credentials, GraphClient, Secret};

const PULL_HELP: &str = "\
The first pull reads everything; later pulls are delta rounds for devices and groups (Autopilot \
identities and profiles are listed whole each time). A pull that is interrupted (Ctrl-C, a lost \
network, a killed process) leaves the previous snapshot intact; the next pull resumes it.

Examples:
  # Against the fake Graph of `fleetlab sandbox serve`
  export FLEETLAB_CLIENT_SECRET=anything
  fleetlab sync pull --graph-url http://127.0.0.1:8080 \\
      --tenant-id contoso.onmicrosoft.com --client-id sandbox
  # Against a tenant (the app needs Device.Read.All, GroupMember.Read.All and
  # DeviceManagementServiceConfig.Read.All application permissions)
  fleetlab sync pull --tenant-id contoso.onmicrosoft.com --client-id <app id> \\
      --secret-file ~/.fleetlab-secret
  fleetlab sync export -o devices.jsonl
  fleetlab eval --devices devices.jsonl --groups groups.toml

A resource Graph refuses with 403 (a tenant without Intune, an app without
DeviceManagementServiceConfig.Read.All) is skipped: the rest is pulled, the snapshot keeps the
skipped resource's previous pull, a warning on stderr names the permission to add, and
`fleetlab sync status` lists it until a pull reads it again.

Exit status: 0 the pull was applied (skipped resources included, unless --strict),
2 the pull failed (nothing applied; the next pull resumes), 3 with --strict: the pull was
applied but skipped a resource (a partial pull).";

/// `fleetlab sync …`
#[derive(Subcommand, Debug)]
pub(super) enum SyncCommand {
    /// Pull devices, groups and members, Autopilot identities and deployment
    /// profiles into the snapshot.
    #[command(after_help = PULL_HELP)]
    Pull {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        snapshot: SnapshotArg,
        /// Ignore stored delta links and any interrupted pull: read everything again.
        #[arg(long)]
        full: bool,
        /// Exit with status 3 when a resource was skipped (a partial pull); it is still applied.
        #[arg(long)]
        strict: bool,
        /// Requests in flight at most (1 = sequential).
        #[arg(long, value_name = "N", default_value_t = 4)]
        concurrency: usize,
        /// No progress bar and no summary (errors still go to stderr).
        #[arg(long, short = 'q')]
        quiet: bool,
        /// `text` (a summary) or `json` (the full report).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Show the writes that would make the tenant match a tenant file (and an edit set).
    #[command(after_help = "Groups and profiles are matched by display name; assignments by target (only \
                            direct ones are touched). Missing dynamic groups are created, changed rules \
                            patched. Profiles the file does not have are kept unless --prune. Nothing is \
                            written.\n\n\
                            Example:\n  fleetlab sync plan --tenant tenant.toml --edits edits.toml\n\n\
                            Exit status: 0 a plan (possibly empty), 1 the tenant file or the edits \
                            are rejected (lint errors, a second All Devices assignment, an unknown \
                            group), 2 unreadable input.")]
    Plan {
        #[command(flatten)]
        desired: Desired,
        #[command(flatten)]
        snapshot: SnapshotArg,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Pull, plan, and make the plan's writes (only with --yes), logging each to the audit log; then pull again.
    #[command(after_help = "Example:\n  fleetlab sync apply --tenant tenant.toml --yes \\\n      \
                            --tenant-id contoso.onmicrosoft.com --client-id <app id> --secret-file ~/.fleetlab-secret\n\n\
                            The snapshot is refreshed first, so the plan is made from the tenant as it is now. \
                            Each write gets a `sending` line in the audit log before it goes out and a `done` or \
                            `failed` line after. Safe to re-run after an interruption: profiles, groups and \
                            assignments that already exist (by name, target, or the id the audit log recorded) \
                            are adopted, never created twice. Needs DeviceManagementServiceConfig.ReadWrite.All, \
                            and Group.ReadWrite.All when groups are created or changed.\n\n\
                            Exit status: 0 applied (or nothing to do), 1 the tenant file or edits are rejected, \
                            2 a write failed, nothing was written without --yes, or input is unreadable.")]
    Apply {
        #[command(flatten)]
        desired: Desired,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        snapshot: SnapshotArg,
        #[command(flatten)]
        write: WriteArgs,
        /// Requests in flight at most.
        #[arg(long, value_name = "N", default_value_t = 4)]
        concurrency: usize,
        /// No summary.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Register devices: upload a hardware-hash CSV to Autopilot (only with --yes), follow each
    /// import to its end, log each to the audit log, then pull.
    #[command(after_help = "Example:\n  fleetlab autopilot import devices.csv --check\n  \
                            fleetlab plan --tenant tenant.toml --devices devices.json --import devices.csv\n  \
                            fleetlab sync import devices.csv --yes --tenant-id contoso.onmicrosoft.com \\\n      \
                            --client-id <app id> --secret-file ~/.fleetlab-secret\n\n\
                            The file is checked first (as `autopilot import --check` does) and the snapshot \
                            refreshed; serials the tenant already has, and serials an earlier run imported, are \
                            not sent again, so the command is safe to re-run. Imports take Graph tens of seconds \
                            to about 15 minutes; each is followed until it is complete or in error (806 already \
                            registered here, 808 registered to another tenant, ZtdDeviceDuplicated, \
                            InvalidZtdHardwareHash). Needs DeviceManagementServiceConfig.ReadWrite.All.\n\n\
                            Exit status: 0 every device registered (now or before), 1 the file has problems, \
                            2 some device ended in error or unfinished, nothing was sent without --yes, or input \
                            is unreadable.")]
    Import {
        /// The hardware-hash CSV.
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        snapshot: SnapshotArg,
        #[command(flatten)]
        write: WriteArgs,
        /// Seconds between checks of the imports' state.
        #[arg(long, value_name = "SECONDS", default_value_t = 15)]
        poll_seconds: u64,
        /// Minutes to follow the imports before reporting them unfinished.
        #[arg(long, value_name = "MINUTES", default_value_t = 30)]
        wait_minutes: u64,
        /// No progress notes and no table.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Show what the snapshot holds and when it was pulled.
    Status {
        #[command(flatten)]
        snapshot: SnapshotArg,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Write the snapshot's devices as JSON Lines (the inventory `eval` reads), its
    /// profiles as Graph JSON, or the whole configuration as a tenant file.
    #[command(after_help = "Examples:\n  fleetlab sync export -o devices.jsonl --member-of\n  \
                            fleetlab eval --devices devices.jsonl --rule 'device.memberOf -any (_ -eq \"<group id>\")'\n  \
                            fleetlab sync export --tenant tenant.toml     # groups, profiles, assignments\n  \
                            fleetlab lint tenant.toml && fleetlab sync plan --tenant tenant.toml   # nothing to do\n\n\
                            With --tenant or --profiles and no -o, no devices are written.")]
    Export {
        #[command(flatten)]
        snapshot: SnapshotArg,
        /// Write the devices to FILE (atomically) instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write the dynamic groups, deployment profiles and their direct assignments as a
        /// tenant file (atomically); what a tenant file cannot hold is listed on stderr.
        #[arg(long = "tenant", value_name = "FILE")]
        tenant_file: Option<PathBuf>,
        /// Give each device a `memberOf` array of the groups it is a direct member of.
        #[arg(long)]
        member_of: bool,
        /// Also write each deployment profile, with its assignments, to DIR/<id>.json
        /// (Graph beta JSON, one profile per file, as a tenant file's `graph = "…"` takes it).
        #[arg(long, value_name = "DIR")]
        profiles: Option<PathBuf>,
    },
}

/// What a writing command (`apply`, `import`) needs besides the connection.
#[derive(Args, Debug)]
pub(super) struct WriteArgs {
    /// Really write (without it, nothing is sent and the writes are listed).
    #[arg(long)]
    yes: bool,
    /// Append one JSON line per write here (before and after each).
    #[arg(long, value_name = "FILE", default_value = "fleetlab-audit.jsonl")]
    audit_log: PathBuf,
}

/// The desired state.
#[derive(Args, Debug)]
pub(super) struct Desired {
    /// The tenant file (profiles, assignments, groups).
    #[arg(long = "tenant", value_name = "FILE")]
    tenant_file: PathBuf,
    /// Device edits (group tags, users, names, deletions).
    #[arg(long, value_name = "FILE")]
    edits: Option<PathBuf>,
    /// Delete deployment profiles the tenant file does not have (their direct
    /// assignments first). Without it they are kept and listed.
    #[arg(long)]
    prune: bool,
}

impl Desired {
    fn plan(&self, snapshot: &Snapshot) -> Result<crate::msgraph::plan::SyncPlan, Failure> {
        let tenant = super::load::tenant(&self.tenant_file)?;
        let edits = match &self.edits {
            Some(p) => Some(crate::autopilot::EditSet::load(p).map_err(fail)?),
            None => None,
        };
        let options = crate::msgraph::plan::PlanOptions { prune: self.prune };
        crate::msgraph::plan::plan_with(snapshot, &tenant, edits.as_ref(), options).map_err(|e| match e {
            crate::msgraph::plan::SyncPlanError::Snapshot(_) => fail(e),
            other => {
                eprintln!("error: {other}");
                super::CliError::Findings
            }
        })
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CloudArg {
    Global,
    Usgov,
    UsgovDod,
    China,
}

#[derive(Args, Debug)]
pub(super) struct SnapshotArg {
    /// The snapshot database.
    #[arg(long, value_name = "FILE", default_value = "fleetlab-snapshot.db")]
    snapshot: PathBuf,
}

/// Where Graph is and who signs in.
#[derive(Args, Debug)]
pub(super) struct Connection {
    /// A Graph-compatible server instead of Microsoft's (the fake of `fleetlab sandbox serve`).
    #[arg(long, value_name = "URL")]
    graph_url: Option<String>,
    /// Microsoft cloud (ignored with --graph-url).
    #[arg(long, value_enum, default_value = "global")]
    cloud: CloudArg,
    /// Token authority (default: the cloud's, or --graph-url).
    #[arg(long, value_name = "URL")]
    authority_url: Option<String>,
    /// Tenant id or domain (default: $FLEETLAB_TENANT).
    #[arg(long = "tenant-id", value_name = "TENANT")]
    tenant_id: Option<String>,
    /// Application (client) id (default: $FLEETLAB_CLIENT_ID).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// Environment variable holding the client secret.
    #[arg(long, value_name = "VAR", default_value = "FLEETLAB_CLIENT_SECRET")]
    secret_env: String,
    /// File holding the client secret (instead of the environment).
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Seconds one request may take in all: its attempts, retries and the
    /// waits between them (throttling, Retry-After). Past it the command
    /// stops with an error rather than waiting on.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    retry_budget: u64,
    /// Largest response body accepted, in MiB (Graph's pages are a few MiB).
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_response_mb: u64,
    /// Most pages one listing may take (a server sending links forever is
    /// stopped here); raise it for a tenant with millions of objects.
    #[arg(long, value_name = "N", default_value_t = crate::msgraph::client::DEFAULT_MAX_PAGES)]
    max_pages: u64,
}

impl Connection {
    /// The tenant id and client id, from the flags or the environment: the
    /// part of the connection known before any file is read.
    fn ids(&self) -> Result<(String, String), Failure> {
        let from_env = |given: &Option<String>, var: &str, what: &str| -> Result<String, Failure> {
            match given.clone().or_else(|| std::env::var(var).ok()).filter(|s| !s.trim().is_empty()) {
                Some(v) => Ok(v),
                None => Err(fail(format!("give the {what} with --{} or ${var}", what.replace(' ', "-")))),
            }
        };
        let tenant = from_env(&self.tenant_id, "FLEETLAB_TENANT", "tenant id")?;
        let client_id = from_env(&self.client_id, "FLEETLAB_CLIENT_ID", "client id")?;
        Ok((tenant, client_id))
    }

    fn config(&self, concurrency: usize, quiet: bool) -> Result<ClientConfig, Failure> {
        let (tenant, client_id) = self.ids()?;
        let secret = match &self.secret_file {
            Some(path) => Secret::from_file(path),
            None => Secret::from_env(&self.secret_env),
        }
        .map_err(fail)?;
        let credentials = Credentials { tenant, client_id, secret };
        let mut config = match &self.graph_url {
            Some(url) => ClientConfig::for_url(url, credentials),
            None => ClientConfig::for_cloud(
                match self.cloud {
                    CloudArg::Global => Cloud::Global,
                    CloudArg::Usgov => Cloud::UsGov,
                    CloudArg::UsgovDod => Cloud::UsGovDod,
                    CloudArg::China => Cloud::China,
                },
                credentials,
            ),
        };
        if let Some(authority) = &self.authority_url {
            config.authority = authority.trim_end_matches('/').to_string();
        }
        config.concurrency = concurrency.max(1);
        config.retry.budget = std::time::Duration::from_secs(self.retry_budget);
        config.retry.max_retry_after = config.retry.budget;
        config.max_body_bytes = usize::try_from(self.max_response_mb << 20).unwrap_or(usize::MAX);
        config.max_pages = self.max_pages.max(1);
        if !quiet {
            config.observer = crate::msgraph::Observer::new(|wait| eprintln!("note: {wait}"));
        }
        Ok(config)
    }
}

pub(super) fn run(command: SyncCommand) -> Outcome {
    match command {
        SyncCommand::Pull { connection, snapshot, full, strict, concurrency, quiet, format } => {
            pull(&connection, &snapshot.snapshot, PullArgs { full, strict, concurrency, quiet, format })
        }
        SyncCommand::Plan { desired, snapshot, format } => plan(&desired, &snapshot.snapshot, format),
        SyncCommand::Apply { desired, connection, snapshot, write, concurrency, quiet } => {
            validate_write(
                &connection,
                &write,
                &[Some(&snapshot.snapshot), Some(&desired.tenant_file), desired.edits.as_ref()],
            )?;
            apply(&desired, &connection, &snapshot.snapshot, &write, concurrency, quiet)
        }
        SyncCommand::Status { snapshot, format } => status(&snapshot.snapshot, format),
        SyncCommand::Import { file, connection, snapshot, write, poll_seconds, wait_minutes, quiet } => {
            validate_write(&connection, &write, &[Some(&snapshot.snapshot), Some(&file)])?;
            let options = crate::msgraph::import::ImportOptions {
                poll: std::time::Duration::from_secs(poll_seconds),
                wait: std::time::Duration::from_secs(wait_minutes.saturating_mul(60)),
                ..crate::msgraph::import::ImportOptions::default()
            };
            import(&file, &connection, &snapshot.snapshot, &write, options, quiet)
        }
        SyncCommand::Export { snapshot, output, tenant_file, member_of, profiles } => {
            validate_export(
                &snapshot.snapshot,
                output.as_deref(),
                tenant_file.as_deref(),
                member_of,
                profiles.as_deref(),
            )?;
            export(
                &snapshot.snapshot,
                output.as_deref(),
                tenant_file.as_deref(),
                member_of,
                profiles.as_deref(),
            )
        }
    }
}

/// What `apply` and `import` decide from their flags (and the environment)
/// alone, before the CSV, the tenant file or the snapshot is read: who to
/// connect as, and an audit log that is not one of the inputs (appending
/// JSON lines to a snapshot or a tenant file would ruin it).
fn validate_write(
    connection: &Connection,
    write: &WriteArgs,
    inputs: &[Option<&PathBuf>],
) -> Result<(), Failure> {
    connection.ids()?;
    let inputs: Vec<Option<&Path>> = inputs.iter().map(|p| p.map(PathBuf::as_path)).collect();
    super::args::not_an_input("--audit-log", Some(&write.audit_log), &inputs)
}

/// What `export`'s flags alone decide: no output replaces the snapshot or
/// another output, and `--member-of` only with devices written (with
/// `--tenant` or `--profiles` and no `-o`, none are).
fn validate_export(
    db: &Path,
    output: Option<&Path>,
    tenant_file: Option<&Path>,
    member_of: bool,
    profiles: Option<&Path>,
) -> Result<(), Failure> {
    let outputs = [("-o", output), ("--tenant", tenant_file), ("--profiles", profiles)];
    for (flag, path) in outputs {
        super::args::not_an_input(flag, path, &[Some(db)])?;
    }
    super::args::distinct_outputs(&outputs)?;
    if member_of && output.is_none() && (tenant_file.is_some() || profiles.is_some()) {
        return Err(fail(
            "--member-of adds memberOf to the devices written; with --tenant or --profiles and no -o no \
             devices are written: add -o FILE (or -o - for stdout)",
        ));
    }
    Ok(())
}

/// Counts and rate on stderr while pages arrive; hidden unless stderr is a terminal.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(quiet: bool) -> Bar {
        let bar = super::progress::bar(
            None,
            "{spinner} pulled {pos} records ({per_sec}) {msg}",
            String::new(),
            !quiet,
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn items(&self, resource: &str, items: u64) {
        self.0.inc(items);
        self.0.set_message(format!("[{resource}]"));
    }

    fn note(&self, message: &str) {
        self.0.suspend(|| eprintln!("note: {message}"));
    }
}

fn open(path: &Path) -> Result<Snapshot, Failure> {
    Snapshot::open(path).map_err(fail)
}

/// The options of `sync pull`.
struct PullArgs {
    full: bool,
    strict: bool,
    concurrency: usize,
    quiet: bool,
    format: Format,
}

fn pull(connection: &Connection, db: &Path, args: PullArgs) -> Outcome {
    let PullArgs { full, strict, concurrency, quiet, format } = args;
    let config = connection.config(concurrency, quiet)?;
    let snapshot = Mutex::new(open(db)?);
    let client = GraphClient::new(config).map_err(fail)?;
    let runtime = sync::runtime().map_err(fail)?;
    let bar = Bar::new(quiet);
    let result = runtime.block_on(sync::pull(&client, &snapshot, PullOptions { full }, &bar));
    bar.0.finish_and_clear();
    let report = result.map_err(|e| {
        let staged = snapshot.lock().ok().and_then(|s| s.staged().ok()).is_some_and(|c| !c.is_empty());
        if staged {
            eprintln!("note: the snapshot still holds the previous pull; the next `fleetlab sync pull` resumes this one");
        }
        fail(e)
    })?;
    // Warnings go to stderr whatever the format or --quiet: a partial pull
    // must never pass unnoticed.
    for s in &report.skipped {
        eprintln!("warning: {}", s.to_text());
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let partial = || {
        if strict && !report.skipped.is_empty() {
            eprintln!("error: partial pull ({} resource(s) skipped) and --strict", report.skipped.len());
            Err(super::CliError::Partial)
        } else {
            Ok(())
        }
    };
    if format == Format::Json {
        let mut text = serde_json::to_string_pretty(&report).map_err(fail)?;
        text.push('\n');
        emit(&text, None)?;
        return partial();
    }
    if quiet {
        return partial();
    }
    let modes: Vec<String> = report
        .modes
        .iter()
        .map(|(r, m)| {
            format!(
                "{r} {}",
                serde_json::to_value(m).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
            )
        })
        .collect();
    let c = &report.changes;
    let rate = report.received as f64 / report.seconds.max(1e-9);
    let text = format!(
        "pulled {} records in {:.1} s ({rate:.0}/s){}: {}\n\
         devices +{} -{}, groups +{} -{}, members +{} -{}, autopilot {}, profiles {} ({} assignments)\n\
         {} requests, {} retries ({} throttled, {} server errors, {} broken transfers)\n",
        report.received,
        report.seconds,
        if report.resumed { ", resuming an interrupted pull" } else { "" },
        modes.join(", "),
        c.devices_upserted,
        c.devices_removed,
        c.groups_upserted,
        c.groups_removed,
        c.members_added,
        c.members_removed,
        c.autopilot,
        c.profiles,
        c.assignments,
        report.http.requests,
        report.http.retries,
        report.http.throttled,
        report.http.server_errors,
        report.http.transport_errors,
    );
    emit(&text, None)?;
    partial()
}

fn status(db: &Path, format: Format) -> Outcome {
    if !db.exists() {
        return Err(fail(format!("{}: no snapshot yet; run `fleetlab sync pull` first", db.display())));
    }
    let snapshot = open(db)?;
    let status = snapshot.status().map_err(fail)?;
    let skipped = crate::msgraph::skipped::load(&snapshot).map_err(fail)?;
    if format == Format::Json {
        let mut value = serde_json::to_value(&status).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("skipped".into(), serde_json::to_value(&skipped).unwrap_or_default());
        }
        let mut text = serde_json::to_string_pretty(&value).map_err(fail)?;
        text.push('\n');
        return emit(&text, None);
    }
    let mut text = format!(
        "snapshot          {}\nlast pull         {}\ndevices           {}\nautopilot devices {}\n\
         groups            {} ({} dynamic)\nmemberships       {}\nprofiles          {} ({} assignments)\n",
        db.display(),
        status.last_pull.as_deref().unwrap_or("never"),
        status.devices,
        status.autopilot_devices,
        status.groups,
        status.dynamic_groups,
        status.memberships,
        status.profiles,
        status.assignments,
    );
    for r in &status.resources {
        text.push_str(&format!(
            "  {:<10} {:<5} at {}  {} records{}\n",
            r.resource,
            if r.mode == crate::msgraph::snapshot::Mode::Full { "full" } else { "delta" },
            r.synced_at,
            r.items,
            if r.has_delta_link { ", next pull is a delta round" } else { "" }
        ));
    }
    if !skipped.is_empty() {
        text.push_str("skipped by the last pull (Graph refused them):\n");
        for s in &skipped {
            text.push_str(&format!("  {}\n", s.to_text()));
        }
    }
    if !status.staged.is_empty() {
        let items: u64 = status.staged.iter().map(|c| c.items).sum();
        text.push_str(&format!(
            "interrupted pull  {items} records staged over {} resources; the next pull resumes it\n",
            status.staged.len()
        ));
    }
    emit(&text, None)
}

fn export(
    db: &Path,
    path: Option<&Path>,
    tenant_file: Option<&Path>,
    member_of: bool,
    profiles: Option<&Path>,
) -> Outcome {
    if !db.exists() {
        return Err(fail(format!("{}: no snapshot yet; run `fleetlab sync pull` first", db.display())));
    }
    let snapshot = open(db)?;
    if let Some(file) = tenant_file {
        let last = snapshot.status().map_err(fail)?.last_pull.unwrap_or_else(|| "never".into());
        let label = format!("the snapshot {} (last pull {last})", db.display());
        let written = crate::msgraph::export::tenant_toml(&snapshot, &label).map_err(fail)?;
        output::write_file(file, written.text.as_bytes())?;
        for note in &written.notes {
            eprintln!("note: not written: {note}");
        }
        eprintln!("wrote {} groups and {} profiles to {}", written.groups, written.profiles, file.display());
    }
    if let Some(dir) = profiles {
        std::fs::create_dir_all(dir).map_err(|e| super::CliError::file(dir, e))?;
        let list = snapshot.profiles().map_err(fail)?;
        for profile in &list {
            let id = profile.get("id").and_then(|v| v.as_str()).unwrap_or("");
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(fail(format!("a profile has an unusable id {id:?}")));
            }
            let file = dir.join(format!("{id}.json"));
            let mut text = serde_json::to_string_pretty(profile).map_err(fail)?;
            text.push('\n');
            output::write_file(&file, text.as_bytes())?;
        }
        eprintln!("wrote {} profiles to {}", list.len(), dir.display());
    }
    if path.is_none() && (tenant_file.is_some() || profiles.is_some()) {
        return Ok(());
    }
    match path.filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let n = output::write_atomic_with(path, |file| {
                let mut out = std::io::BufWriter::new(file);
                let n = snapshot.export_devices(&mut out, member_of).map_err(std::io::Error::other)?;
                out.flush()?;
                Ok(n)
            })
            .map_err(|e| super::CliError::file(path, e))?;
            eprintln!("wrote {n} devices to {}", path.display());
            Ok(())
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match snapshot.export_devices(&mut out, member_of).and_then(|_| out.flush().map_err(Into::into)) {
                Ok(()) => Ok(()),
                Err(crate::msgraph::SnapshotError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    Ok(())
                }
                Err(e) => Err(fail(e)),
            }
        }
    }
}

fn plan(desired: &Desired, db: &Path, format: Format) -> Outcome {
    if !db.exists() {
        return Err(fail(format!("{}: no snapshot yet; run `fleetlab sync pull` first", db.display())));
    }
    let plan = desired.plan(&open(db)?)?;
    let text = match format {
        Format::Json => {
            let mut t = serde_json::to_string_pretty(&plan).map_err(fail)?;
            t.push('\n');
            t
        }
        Format::Text => plan.to_text(),
    };
    emit(&text, None)
}

fn apply(
    desired: &Desired,
    connection: &Connection,
    db: &Path,
    write: &WriteArgs,
    concurrency: usize,
    quiet: bool,
) -> Outcome {
    let (yes, audit_log) = (write.yes, write.audit_log.as_path());
    if !db.exists() {
        return Err(fail(format!("{}: no snapshot yet; run `fleetlab sync pull` first", db.display())));
    }
    // Plan from the tenant as it is now, not as the last pull saw it: an
    // apply interrupted after some writes must not make them again.
    let Writer { snapshot, client, runtime } =
        Writer::refreshed(connection, db, concurrency, quiet, "writing")?;
    let plan = desired.plan(&*snapshot.lock().map_err(|_| fail("snapshot lock poisoned"))?)?;
    if plan.actions.is_empty() {
        if !quiet {
            emit(&plan.to_text(), None)?;
        }
        return Ok(());
    }
    if !yes {
        eprint!("{}", plan.to_text());
        return Err(fail("nothing was written: add --yes to make these changes"));
    }
    let mut log = crate::msgraph::apply::AuditLog::open(audit_log).map_err(fail)?;
    for line in &log.history().interrupted {
        eprintln!(
            "note: an earlier apply was interrupted while sending `{line}`; the snapshot was refreshed and \
             existing objects are matched by name, so it is not made twice"
        );
    }
    let result = runtime.block_on(crate::msgraph::apply::apply(&client, &plan, &mut log));
    let report =
        result.map_err(|e| fail(format!("{e} (every write so far is in {})", audit_log.display())))?;
    // Pull, so the snapshot shows what was written and the next plan is empty.
    let pulled = runtime
        .block_on(sync::pull(&client, &snapshot, PullOptions::default(), &sync::Quiet))
        .map_err(fail)?;
    for s in &pulled.skipped {
        eprintln!("warning: {}", s.to_text());
    }
    let left = desired.plan(&*snapshot.lock().map_err(|_| fail("snapshot lock poisoned"))?)?;
    if !left.actions.is_empty() {
        eprintln!(
            "note: the refreshed snapshot still differs in {} change(s) (Graph can take a minute to show \
             new objects); run `fleetlab sync plan` again before another apply",
            left.actions.len()
        );
    }
    if !quiet {
        let adopted: String =
            report.adopted.iter().map(|a| format!("  = already there, not created again: {a}\n")).collect();
        emit(
            &format!(
                "{}{adopted}applied {} change(s), {} failed; audit log {}\n",
                plan.to_text(),
                report.succeeded,
                report.failed,
                audit_log.display()
            ),
            None,
        )?;
    }
    if report.failed > 0 {
        return Err(super::CliError::Failed);
    }
    Ok(())
}

fn import(
    csv: &Path,
    connection: &Connection,
    db: &Path,
    write: &WriteArgs,
    options: crate::msgraph::import::ImportOptions,
    quiet: bool,
) -> Outcome {
    let (yes, audit_log) = (write.yes, write.audit_log.as_path());
    let file = super::register::read(csv)?;
    eprint!("{}", file.problems_text());
    if !file.is_clean() {
        eprintln!("error: {} has problems; nothing was sent", csv.display());
        return Err(super::CliError::Findings);
    }
    let Writer { snapshot, client, runtime } = Writer::refreshed(connection, db, 4, quiet, "importing")?;
    let registered: std::collections::HashSet<String> = snapshot
        .lock()
        .map_err(|_| fail("snapshot lock poisoned"))?
        .autopilot_devices()
        .map_err(fail)?
        .iter()
        .filter_map(|d| d.get("serialNumber").and_then(|s| s.as_str()).map(str::to_uppercase))
        .collect();
    let new = file.rows.iter().filter(|r| !registered.contains(&r.serial.to_uppercase())).count();
    if !yes {
        eprintln!(
            "{}: {new} device(s) to import, {} already registered",
            csv.display(),
            file.rows.len() - new
        );
        return Err(fail("nothing was sent: add --yes to import"));
    }
    let mut log = crate::msgraph::apply::AuditLog::open(audit_log).map_err(fail)?;
    let note = |m: &str| {
        if !quiet {
            eprintln!("note: {m}");
        }
    };
    let outcomes = runtime
        .block_on(crate::msgraph::import::import(&client, &file.rows, &registered, &mut log, options, &note))
        .map_err(|e| fail(format!("{e} (what was sent is in {})", audit_log.display())))?;
    runtime.block_on(sync::pull(&client, &snapshot, PullOptions::default(), &sync::Quiet)).map_err(fail)?;
    let failed = outcomes.iter().filter(|o| !o.registered()).count();
    if !quiet {
        let rows: Vec<Vec<String>> = outcomes
            .iter()
            .map(|o| {
                let detail = o
                    .identity
                    .as_deref()
                    .map(|i| format!("Autopilot identity {i}"))
                    .unwrap_or_else(|| o.message.clone());
                vec![o.line.to_string(), o.serial.clone(), o.status.clone(), detail]
            })
            .collect();
        let mut text = super::table::table(&["LINE", "SERIAL", "STATUS", "DETAIL"], &rows);
        text.push_str(&format!(
            "{} registered, {failed} not; audit log {}\n",
            outcomes.len() - failed,
            audit_log.display()
        ));
        emit(&text, None)?;
    }
    if failed > 0 {
        return Err(super::CliError::Failed);
    }
    Ok(())
}

/// What a writing command holds: the locked snapshot, freshly pulled, and
/// a client with its runtime.
struct Writer {
    snapshot: Mutex<Snapshot>,
    client: GraphClient,
    runtime: tokio::runtime::Runtime,
}

impl Writer {
    /// Locks the snapshot at `db` and pulls into it, so that what is written
    /// next is decided on the tenant as it is now.
    fn refreshed(
        connection: &Connection,
        db: &Path,
        concurrency: usize,
        quiet: bool,
        before: &str,
    ) -> Result<Writer, Failure> {
        let config = connection.config(concurrency, quiet)?;
        let mut snapshot = open(db)?;
        snapshot.lock().map_err(fail)?;
        let snapshot = Mutex::new(snapshot);
        let client = GraphClient::new(config).map_err(fail)?;
        let runtime = sync::runtime().map_err(fail)?;
        let bar = Bar::new(quiet);
        let refreshed = runtime.block_on(sync::pull(&client, &snapshot, PullOptions::default(), &bar));
        bar.0.finish_and_clear();
        refreshed.map_err(|e| fail(format!("refreshing the snapshot before {before}: {e}")))?;
        Ok(Writer { snapshot, client, runtime })
    }
}

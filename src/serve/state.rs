//! What the server keeps loaded, and how it is reloaded.
//!
//! Everything a request reads is one immutable [`Loaded`] behind an
//! `Arc`: a reload builds a new one off to the side and swaps the pointer,
//! so a request in flight finishes on the inventory it started with and
//! never sees half of a reload. A reload that fails (a file being
//! rewritten, a broken rule) keeps the previous state and is reported by
//! `GET /api/v1/status` and on stderr.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::autopilot::{self, CheckedTenant, Plan, Tenant};
use crate::fleet::{FleetIndex, Inventory, InventoryOptions};
use crate::groups::{GroupSet, GroupSetError};
use crate::inventory::{Projection, User};
use crate::msgraph::Snapshot;
use crate::rule::{ObjectType, Options, Rule};

/// The files a server was started with.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Graph device objects, or a packed `.fleet` index.
    pub devices: PathBuf,
    /// Graph user objects, for user rules.
    pub users: Option<PathBuf>,
    /// An Autopilot tenant file: profiles, groups, assignments.
    pub tenant: Option<PathBuf>,
    /// A group file (`[[group]]` tables).
    pub groups: Option<PathBuf>,
    /// A snapshot pulled from Graph: its dynamic groups, by id.
    pub snapshot: Option<PathBuf>,
}

impl Sources {
    /// Every file, for change detection.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = vec![self.devices.as_path()];
        for p in [&self.users, &self.tenant, &self.groups, &self.snapshot].into_iter().flatten() {
            out.push(p.as_path());
        }
        out
    }

    /// The modification times of every file (`None` for one that cannot be read).
    pub fn mtimes(&self) -> Vec<Option<SystemTime>> {
        self.paths().iter().map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).collect()
    }
}

/// A dynamic group the server answers for, from the group file, the
/// tenant file or the snapshot.
#[derive(Debug)]
pub struct ServedGroup {
    /// Its Graph object id (snapshot groups), else its name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description, when the file gives one.
    pub description: Option<String>,
    /// Where it came from: `groups`, `tenant` or `snapshot`.
    pub source: &'static str,
    /// Its checked rule.
    pub rule: Rule,
}

/// One consistent load of every source.
#[derive(Debug)]
pub struct Loaded {
    /// The device inventory, as the columnar index.
    pub index: FleetIndex,
    /// The user inventory (empty without `--users`).
    pub users: Vec<User>,
    /// Dynamic groups: the group file's, else the tenant's; then the snapshot's.
    pub groups: Vec<ServedGroup>,
    /// The checked tenant, when one is loaded.
    pub tenant: Option<CheckedTenant>,
    /// The tenant's assignment plan for the inventory.
    pub plan: Option<Plan>,
    /// Things worth knowing about the inputs (the inventory warnings the
    /// CLI prints, tenant findings, snapshot groups skipped).
    pub warnings: Vec<String>,
    /// When it was loaded.
    pub loaded_at: SystemTime,
}

impl Loaded {
    /// Reads every source. Errors name the file and what was wrong.
    pub fn load(sources: &Sources) -> Result<Loaded, String> {
        let mut warnings = Vec::new();
        let (index, users) = inventories(sources, &mut warnings)?;
        let tenant = sources.tenant.as_deref().map(|p| checked_tenant(p, &mut warnings)).transpose()?;
        let plan = match &tenant {
            Some(t) => Some(t.plan(&index).map_err(|e| e.to_string())?),
            None => None,
        };
        let mut groups = match (&sources.groups, &tenant) {
            (Some(p), _) => group_file(p)?,
            (None, Some(t)) => tenant_groups(t),
            (None, None) => Vec::new(),
        };
        if let Some(p) = &sources.snapshot {
            groups.extend(snapshot_groups(p, &mut warnings)?);
        }
        Ok(Loaded { index, users, groups, tenant, plan, warnings, loaded_at: SystemTime::now() })
    }

    /// The group with this id, or else this name (case-insensitive, as
    /// Entra compares display names).
    pub fn group(&self, key: &str) -> Option<&ServedGroup> {
        self.groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(key))
            .or_else(|| self.groups.iter().find(|g| g.name.eq_ignore_ascii_case(key)))
    }
}

/// The device and user inventories, through the library loader the CLI
/// uses, so the server reports the same inventory warnings (repeated ids,
/// rule-style field names) in `GET /api/v1/status`. Empty inventories are
/// accepted: the server starts on an export still being written and
/// reloads when it changes.
fn inventories(sources: &Sources, warnings: &mut Vec<String>) -> Result<(FleetIndex, Vec<User>), String> {
    let all = Projection::all();
    let options = InventoryOptions { allow_empty: true, projection: &all, progress: &|_| {} };
    let (index, found) = Inventory::load_devices(&sources.devices, &options).map_err(|e| e.to_string())?;
    warnings.extend(found.into_iter().map(|w| w.message));
    let users = match &sources.users {
        Some(p) => {
            let (users, found) = Inventory::load_users(p, &options).map_err(|e| e.to_string())?;
            warnings.extend(found.into_iter().map(|w| w.message));
            users
        }
        None => Vec::new(),
    };
    Ok((index, users))
}

fn device_options() -> Options {
    Options { object: Some(ObjectType::Device), ..Options::default() }
}

fn checked_tenant(path: &Path, warnings: &mut Vec<String>) -> Result<CheckedTenant, String> {
    let tenant = Tenant::load(path).map_err(|e| e.to_string())?;
    let validation = autopilot::validate(&tenant);
    let errors: Vec<String> =
        validation.findings.iter().filter(|f| f.is_error()).map(|f| f.to_string()).collect();
    match validation.tenant {
        Some(checked) => {
            if !validation.findings.is_empty() {
                warnings.push(format!(
                    "{}: {} finding(s); `fleetlab lint {}` lists them",
                    path.display(),
                    validation.findings.len(),
                    path.display()
                ));
            }
            Ok(checked)
        }
        None => Err(format!(
            "{}: {} error(s), Intune would not accept it (`fleetlab lint {}` lists them): {}",
            path.display(),
            errors.len(),
            path.display(),
            errors.first().map_or("", String::as_str)
        )),
    }
}

fn group_file(path: &Path) -> Result<Vec<ServedGroup>, String> {
    match GroupSet::load(path, &device_options()) {
        Ok(set) => Ok(set
            .groups
            .into_iter()
            .map(|g| ServedGroup {
                id: g.spec.name.clone(),
                name: g.spec.name,
                description: g.spec.description,
                source: "groups",
                rule: g.rule,
            })
            .collect()),
        Err(GroupSetError::InvalidRules { path, failures }) => {
            let names: Vec<&str> = failures.iter().map(|(s, _)| s.name.as_str()).collect();
            Err(format!("{}: invalid rules in group(s) {}", path.display(), names.join(", ")))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn tenant_groups(tenant: &CheckedTenant) -> Vec<ServedGroup> {
    tenant
        .groups
        .iter()
        .filter_map(|g| match &g.membership {
            autopilot::Membership::Dynamic(rule) => Some(ServedGroup {
                id: g.name.clone(),
                name: g.name.clone(),
                description: g.description.clone(),
                source: "tenant",
                // Checked already when the tenant was validated.
                rule: Rule::with_options(rule.source(), &device_options()).ok()?,
            }),
            _ => None,
        })
        .collect()
}

/// The snapshot's dynamic groups with a rule fleetlab accepts; the others
/// are named in a warning (a user group, a rule with a typo Entra kept).
fn snapshot_groups(path: &Path, warnings: &mut Vec<String>) -> Result<Vec<ServedGroup>, String> {
    let snapshot = Snapshot::open(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for stored in snapshot.groups().map_err(|e| e.to_string())? {
        let g = &stored.group;
        let text = |k: &str| g.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let (Some(id), Some(rule_text)) = (text("id"), text("membershipRule")) else { continue };
        let name = text("displayName").unwrap_or_else(|| id.clone());
        match Rule::with_options(&rule_text, &Options::default()) {
            Ok(rule) => {
                out.push(ServedGroup { id, name, description: text("description"), source: "snapshot", rule })
            }
            Err(e) => warnings.push(format!("{}: group {name:?}: {e}", path.display())),
        }
    }
    Ok(out)
}

/// The loaded state and how the last reload went.
#[derive(Debug)]
pub struct Shared {
    /// Where everything came from.
    pub sources: Sources,
    current: RwLock<Arc<Loaded>>,
    last_error: RwLock<Option<String>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Wraps a first load.
    pub fn new(sources: Sources, loaded: Loaded) -> Shared {
        Shared {
            sources,
            current: RwLock::new(Arc::new(loaded)),
            last_error: RwLock::new(None),
            generation: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The state a request works on.
    pub fn current(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            // A writer that panicked left the old Arc in place: still whole.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// How many loads have succeeded (1 after start).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The error of the last reload, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.read().map(|g| g.clone()).unwrap_or(None)
    }

    /// Reads every source again; on success swaps it in, on failure keeps
    /// the current state and remembers the error.
    pub fn reload(&self) -> Result<Arc<Loaded>, String> {
        match Loaded::load(&self.sources) {
            Ok(loaded) => {
                let loaded = Arc::new(loaded);
                if let Ok(mut g) = self.current.write() {
                    *g = Arc::clone(&loaded);
                }
                if let Ok(mut e) = self.last_error.write() {
                    *e = None;
                }
                self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(loaded)
            }
            Err(message) => {
                if let Ok(mut e) = self.last_error.write() {
                    *e = Some(message.clone());
                }
                Err(message)
            }
        }
    }
}

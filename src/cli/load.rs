//! Inputs as the commands read them: inventory warnings printed on
//! stderr, tenant files read and checked.
//!
//! Loading an inventory, and deciding what is worth a warning, is library
//! work ([`crate::fleet::Inventory`], whose doc says why those are
//! warnings and not errors); this file only shows the result on a terminal.

use std::path::Path;

use super::{fail, Failure};
use crate::autopilot::{CheckedTenant, Tenant, Validation};
use crate::fleet::{FleetIndex, Inventory, InventoryOptions, InventorySource, InventoryWarning};
use crate::inventory::Projection;

/// Prints warnings on stderr, one per line.
pub(super) fn print(warnings: &[InventoryWarning]) {
    for w in warnings {
        eprintln!("warning[{}]: {}", w.code, w.message);
    }
}

/// A tenant file, read; the one way every command reads one (a file that
/// cannot be read or parsed: exit 2).
pub(super) fn tenant(path: &Path) -> Result<Tenant, Failure> {
    Tenant::load(path).map_err(fail)
}

/// A tenant file, read and checked: errors are printed and end the command
/// with exit 1 (invalid input), warnings are counted on stderr. `purpose`
/// names what the command would have done (`plan`, `derive flows for`).
pub(super) fn checked_tenant(path: &Path, purpose: &str) -> Result<CheckedTenant, Failure> {
    let tenant = tenant(path)?;
    let Validation { findings, tenant: checked } = crate::autopilot::validate(&tenant);
    let Some(checked) = checked else {
        for f in findings.iter().filter(|f| f.is_error()) {
            eprint!("{}", super::autopilot::finding_text(f));
        }
        eprintln!(
            "error: {} has {} error(s); Intune would not accept it, so there is nothing to {purpose} \
             (fleetlab lint {} lists every finding)",
            path.display(),
            findings.iter().filter(|f| f.is_error()).count(),
            path.display()
        );
        return Err(super::CliError::Findings);
    };
    if !findings.is_empty() {
        eprintln!(
            "warning: {} has {} warning(s); fleetlab lint {} lists them",
            path.display(),
            findings.len(),
            path.display()
        );
    }
    Ok(checked)
}

/// The inventory `--devices` or `--users` names, loaded with a progress bar
/// for devices; its warnings are returned (the caller adds the rules'
/// unread properties before printing them).
pub(super) fn inventory(
    args: &super::InventoryArgs,
    options: super::LoadOptions,
    projection: &Projection,
) -> Result<(Inventory, Vec<InventoryWarning>), Failure> {
    let source = match (&args.devices, &args.users) {
        (Some(p), _) => InventorySource::Devices(p),
        (None, Some(p)) => InventorySource::Users(p),
        (None, None) => return Err(fail("give an inventory with --devices FILE or --users FILE")),
    };
    let bar = matches!(source, InventorySource::Devices(_)).then(|| super::progress::loading(source.path()));
    let progress = |bytes| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
        }
    };
    let options = InventoryOptions { allow_empty: options.allow_empty, projection, progress: &progress };
    let loaded = Inventory::load(source, &options);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    loaded.map_err(fail)
}

/// A device inventory as the columnar index, loaded with a progress bar,
/// its warnings printed.
pub(super) fn devices(path: &Path, options: super::LoadOptions) -> Result<FleetIndex, Failure> {
    let bar = super::progress::loading(path);
    let progress = |bytes| bar.set_position(bytes);
    let all = Projection::all();
    let options =
        InventoryOptions { allow_empty: options.allow_empty, projection: &all, progress: &progress };
    let loaded = Inventory::load_devices(path, &options);
    bar.finish_and_clear();
    let (index, warnings) = loaded.map_err(fail)?;
    print(&warnings);
    Ok(index)
}

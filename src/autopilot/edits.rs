//! Device edits: a change set of Autopilot device properties and
//! deletions (`edits.toml`), checked and applied to an inventory.
//!
//! ```toml
//! [[edit]]
//! device = "CON-LT-5CG7041P"          # object id, deviceId, Autopilot id or display name
//! group_tag = "NL-LT-HR"              # "" removes the tag
//! user = "sanne.bakker@contoso.com"   # "" unassigns the user
//! friendly_name = "Sanne Bakker"      # addressableUserName; only with a user
//! device_name = "CON-HR-0042"         # per-device computer name; cannot be unset
//!
//! [[delete]]
//! device = "CON-LT-PF31EN90"
//! reason = "leaver, wiped"
//! managed_device_deleted = true       # deleted from Intune first, as Microsoft orders it
//! ```
//!
//! How edits reach the inventory. fleetlab reads Entra `device` records,
//! not `windowsAutopilotDeviceIdentity` ones; graph-api.md §0 and §1.1
//! describe the link, and fleetlab uses it as follows:
//!
//! * **Finding the device.** In this order: the Entra object id; the
//!   Entra `deviceId` (which the Autopilot identity holds as
//!   `azureAdDeviceId`); the Autopilot identity id, which Autopilot stamps
//!   on the Entra device as `[ZTDId]:<id>` (observed, not documented);
//!   the display name, when exactly one device has it (Autopilot names the
//!   pre-created object after the serial number, observed). Serial
//!   numbers are not part of Entra device records, so a serial works only
//!   through that display name.
//! * **Group tag** → the `[OrderId]:<tag>` item of `physicalIds` is
//!   replaced (any casing of `[OrderId]`), or removed for `""`.
//! * **Device name** → pending: the name the device gets at its next
//!   deployment (Entra join only; "Device name template … used at
//!   enrollment", autopilot-profiles.md). Until then the Entra
//!   `displayName` stays, and so does membership of groups that test it:
//!   the edit is listed as pending in [`Applied::pending`], not applied.
//! * **User and friendly name** → not in Entra device records; they change
//!   no group, and are checked against the device's profile (hybrid join
//!   does not support an assigned user; self-deploying ignores it).
//! * **Delete** → the Autopilot record goes: the `[ZTDId]`, `[OrderId]`
//!   and `[PurchaseOrderId]` items leave `physicalIds`; the Entra device
//!   stays (deleting it would break later joins, enrollment-model.md §1.1).
//!   A device still enrolled in Intune (a `managementType`) is refused
//!   (`delete-enrolled-device`) unless the entry says its managed device
//!   is deleted already (`managed_device_deleted = true`, which also
//!   clears `managementType`): Microsoft's add-devices page deletes only
//!   devices "that aren't enrolled in Intune" and deletes the managed
//!   device first.
//!
//! Since Autopilot does not return the current user of a device in Entra
//! records, a friendly name must come with the user in the same edit
//! (graph-api.md §4.4: set `userPrincipalName` with `addressableUserName`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::autopilot::assign::Plan;
use crate::autopilot::checks::{self, sort, Finding};
use crate::autopilot::name::{check_device_name, NameProblem};
use crate::autopilot::profile::{EnrollmentMode, JoinType};
use crate::autopilot::source::{Origin, Source};
use crate::autopilot::tenant::{parse_index, read, shape_error, TenantError};
use crate::inventory::Device;

/// Changes to one device.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEdit {
    /// Which device: object id, deviceId, Autopilot id or display name.
    pub device: String,
    /// New group tag; `""` removes it.
    pub group_tag: Option<String>,
    /// Assigned user's UPN; `""` unassigns.
    pub user: Option<String>,
    /// Friendly name shown at OOBE (`addressableUserName`).
    pub friendly_name: Option<String>,
    /// Computer name the device gets at its next deployment.
    pub device_name: Option<String>,
    /// Where it was written.
    #[serde(skip)]
    pub origin: Origin,
}

/// A device whose Autopilot record is deleted.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDelete {
    /// Which device.
    pub device: String,
    /// Why, for the record.
    pub reason: Option<String>,
    /// The device's Intune managed-device record is deleted already (the
    /// first step Microsoft gives); without it, deleting the Autopilot
    /// record of a device still enrolled in Intune is refused.
    pub managed_device_deleted: Option<bool>,
    /// Where it was written.
    #[serde(skip)]
    pub origin: Origin,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditFile {
    #[serde(default)]
    edit: Vec<DeviceEdit>,
    #[serde(default)]
    delete: Vec<DeviceDelete>,
}

/// A change set.
#[derive(Clone, Debug, Default)]
pub struct EditSet {
    /// The file.
    pub path: PathBuf,
    /// Property edits, in file order.
    pub edits: Vec<DeviceEdit>,
    /// Deletions, in file order.
    pub deletes: Vec<DeviceDelete>,
}

/// One applied change, for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The device's object id.
    pub id: String,
    /// Its display name before the change.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// What was asked, as `property: before → after`.
    pub changes: Vec<String>,
    /// What takes effect only at the device's next deployment (a device
    /// name), as `property: now → then`; the inventory keeps the old value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

/// Edits matched to devices.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// Device index of each edit (`None` when unresolved).
    pub edits: Vec<Option<usize>>,
    /// Device index of each deletion.
    pub deletes: Vec<Option<usize>>,
    /// What checking found.
    pub findings: Vec<Finding>,
}

impl Resolved {
    /// True when a finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}

impl EditSet {
    /// Reads an edit file.
    pub fn load(path: &Path) -> Result<EditSet, TenantError> {
        EditSet::parse(&read(path)?, path)
    }

    /// Reads edit text; `path` labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<EditSet, TenantError> {
        let source = Source::new(path, text);
        let index = parse_index(&source)?;
        let file: EditFile = toml::from_str(text).map_err(|e| shape_error(&source, &index, &e))?;
        let edits = file
            .edit
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.origin = Origin::toml(&source, &index, &format!("edit[{i}]"));
                e
            })
            .collect();
        let deletes = file
            .delete
            .into_iter()
            .enumerate()
            .map(|(i, mut d)| {
                d.origin = Origin::toml(&source, &index, &format!("delete[{i}]"));
                d
            })
            .collect();
        Ok(EditSet { path: path.to_path_buf(), edits, deletes })
    }

    /// Finds each edited device in `devices` and checks everything that
    /// needs no plan: the device exists, once, is registered; the values
    /// are valid.
    pub fn resolve(&self, devices: &[Device]) -> Resolved {
        let lookup = Lookup::new(devices);
        let mut out = Resolved::default();
        let mut seen: HashMap<usize, String> = HashMap::new();
        let mut find = |key: &str, o: &Origin, findings: &mut Vec<Finding>| -> Option<usize> {
            let i = match lookup.find(key) {
                Ok(i) => i,
                Err(Miss::None) => {
                    findings.push(Finding::new(
                        &checks::EDIT_UNKNOWN_DEVICE,
                        o,
                        "device",
                        format!("no device has object id, deviceId, Autopilot id or display name {key:?}"),
                    ));
                    return None;
                }
                Err(Miss::Several(ids)) => {
                    findings.push(Finding::new(
                        &checks::EDIT_AMBIGUOUS_DEVICE,
                        o,
                        "device",
                        format!(
                            "{} devices are named {key:?} ({}); give the object id",
                            ids.len(),
                            ids.join(", ")
                        ),
                    ));
                    return None;
                }
            };
            let this = o.location("device").map_or_else(|| o.path("device"), |l| l.to_string());
            if let Some(first) = seen.get(&i) {
                findings.push(Finding::new(
                    &checks::EDIT_DUPLICATE_DEVICE,
                    o,
                    "device",
                    format!("device {key:?} is already changed at {first}; merge the two entries"),
                ));
                return None;
            }
            seen.insert(i, this);
            if !is_registered(&devices[i]) {
                findings.push(Finding::new(
                    &checks::EDIT_NOT_REGISTERED,
                    o,
                    "device",
                    format!("device {key:?} is not registered with Autopilot (no [ZTDId] in physicalIds)"),
                ));
                return None;
            }
            Some(i)
        };
        for e in &self.edits {
            let target = find(&e.device, &e.origin, &mut out.findings);
            out.edits.push(target);
            check_edit(e, &mut out.findings);
        }
        for d in &self.deletes {
            let mut target = find(&d.device, &d.origin, &mut out.findings);
            if let Some(dev) = target.and_then(|i| devices.get(i)) {
                let enrolled = dev.management_type.as_deref().filter(|m| !m.trim().is_empty());
                if let Some(kind) = enrolled.filter(|_| d.managed_device_deleted != Some(true)) {
                    out.findings.push(Finding::new(
                        &checks::DELETE_ENROLLED_DEVICE,
                        &d.origin,
                        "device",
                        format!(
                            "device {:?} is still enrolled in Intune (managementType {kind:?}); delete the managed \
                             device in Intune first, then its Autopilot record (say managed_device_deleted = true \
                             once it is)",
                            d.device
                        ),
                    ));
                    target = None;
                }
            }
            out.deletes.push(target);
        }
        sort(&mut out.findings);
        out
    }

    /// Applies resolved edits to `devices` (see the module documentation
    /// for what each edit changes) and lists what changed.
    pub fn apply(&self, devices: &mut [Device], resolved: &Resolved) -> Vec<Applied> {
        let mut applied = Vec::new();
        for (e, target) in self.edits.iter().zip(&resolved.edits) {
            let Some(d) = target.and_then(|i| devices.get_mut(i)) else { continue };
            let mut changes = Vec::new();
            let before_name = d.display_name.clone();
            if let Some(tag) = &e.group_tag {
                let tag = tag.trim();
                let old = group_tag(d).unwrap_or_default();
                set_group_tag(d, tag);
                changes.push(format!("group tag: {old:?} → {tag:?}"));
            }
            let mut pending = Vec::new();
            if let Some(name) = e.device_name.as_deref().filter(|n| !n.is_empty()) {
                pending.push(format!(
                    "device name: {:?} → {name:?} at the next deployment",
                    d.display_name.as_deref().unwrap_or("")
                ));
            }
            if let Some(user) = &e.user {
                changes.push(if user.is_empty() {
                    "user: unassigned".into()
                } else {
                    format!("user: {user}")
                });
            }
            if let Some(friendly) = &e.friendly_name {
                changes.push(format!("friendly name: {friendly:?}"));
            }
            applied.push(Applied { id: d.id.clone(), display_name: before_name, changes, pending });
        }
        for (del, target) in self.deletes.iter().zip(&resolved.deletes) {
            let Some(d) = target.and_then(|i| devices.get_mut(i)) else { continue };
            remove_items(d, &["[ztdid]", "[orderid]", "[purchaseorderid]"]);
            let mut changes = Vec::new();
            if del.managed_device_deleted == Some(true) && d.management_type.take().is_some() {
                changes.push("Intune managed device deleted first".to_string());
            }
            changes.push("Autopilot record deleted".to_string());
            if let Some(r) = &del.reason {
                changes.push(format!("reason: {r}"));
            }
            applied.push(Applied {
                id: d.id.clone(),
                display_name: d.display_name.clone(),
                changes,
                pending: Vec::new(),
            });
        }
        applied
    }

    /// Checks that need the plan after the edits: a user on a hybrid or
    /// self-deploying device, a device name on a hybrid one. `devices`
    /// are indices into `after.devices`, as in [`Resolved::edits`].
    pub fn check_against(&self, resolved: &Resolved, after: &Plan) -> Vec<Finding> {
        let mut out = Vec::new();
        for (e, target) in self.edits.iter().zip(&resolved.edits) {
            let Some(d) = target.and_then(|i| after.devices.get(i)) else { continue };
            let Some(p) = d.profile().and_then(|p| after.profiles.get(p)) else { continue };
            let user = e.user.as_deref().is_some_and(|u| !u.is_empty());
            if user && p.join == JoinType::Hybrid {
                out.push(Finding::new(
                    &checks::EDIT_USER_HYBRID,
                    &e.origin,
                    "user",
                    format!(
                        "device {:?} deploys with hybrid profile {:?}, which does not support an assigned user \
                         (0x80070774)",
                        e.device, p.name
                    ),
                ));
            }
            if user && p.mode == EnrollmentMode::SelfDeploying {
                out.push(Finding::new(
                    &checks::EDIT_USER_SELF_DEPLOYING,
                    &e.origin,
                    "user",
                    format!(
                        "device {:?} deploys with self-deploying profile {:?}, which ignores the user",
                        e.device, p.name
                    ),
                ));
            }
            if e.device_name.as_deref().is_some_and(|n| !n.is_empty()) && p.join == JoinType::Hybrid {
                out.push(Finding::new(
                    &checks::EDIT_DEVICE_NAME_HYBRID,
                    &e.origin,
                    "device_name",
                    format!(
                        "device {:?} deploys with hybrid profile {:?}; the domain join profile names it and this \
                         name is ignored",
                        e.device, p.name
                    ),
                ));
            }
        }
        sort(&mut out);
        out
    }
}

fn check_edit(e: &DeviceEdit, out: &mut Vec<Finding>) {
    let o = &e.origin;
    let subject = format!("device {:?}", e.device);
    if e.group_tag.is_none() && e.user.is_none() && e.friendly_name.is_none() && e.device_name.is_none() {
        out.push(Finding::new(
            &checks::EDIT_EMPTY,
            o,
            "device",
            format!("{subject}: the edit changes nothing; set group_tag, user, friendly_name or device_name"),
        ));
    }
    if e.friendly_name.as_deref().is_some_and(|f| !f.is_empty())
        && e.user.as_deref().is_none_or(str::is_empty)
    {
        out.push(Finding::new(
            &checks::EDIT_FRIENDLY_NAME_WITHOUT_USER,
            o,
            "friendly_name",
            format!(
                "{subject}: a user-friendly name can be set only together with a user; add user = \"<upn>\" to \
                 this edit"
            ),
        ));
    }
    if let Some(user) = e.user.as_deref().filter(|u| !u.is_empty()) {
        let ok = match user.rsplit_once('@') {
            Some((name, domain)) => {
                !name.is_empty() && domain.contains('.') && !user.contains(char::is_whitespace)
            }
            None => false,
        };
        if !ok {
            out.push(Finding::new(
                &checks::EDIT_USER_UPN,
                o,
                "user",
                format!("{subject}: {user:?} is not a user principal name (name@domain)"),
            ));
        }
    }
    match e.device_name.as_deref() {
        Some("") => out.push(Finding::new(
            &checks::EDIT_DEVICE_NAME_UNSET,
            o,
            "device_name",
            format!("{subject}: a device name cannot be unset once set; give a new name or remove the key"),
        )),
        Some(name) => {
            for p in check_device_name(name) {
                let msg = match p {
                    NameProblem::Macro { .. } => {
                        format!("{subject}: device name {name:?} has a macro; a device's own name is literal")
                    }
                    other => format!("{subject}: device name {name:?}: {other}"),
                };
                out.push(Finding::new(&checks::EDIT_DEVICE_NAME_INVALID, o, "device_name", msg));
            }
        }
        None => {}
    }
    if let Some(tag) = &e.group_tag {
        if tag.chars().any(char::is_control) {
            out.push(Finding::new(
                &checks::EDIT_GROUP_TAG_CONTROL,
                o,
                "group_tag",
                format!("{subject}: group tag {tag:?} contains control characters"),
            ));
        }
        if tag.contains(['"', '\'', '`']) {
            out.push(Finding::new(
                &checks::EDIT_GROUP_TAG_QUOTE,
                o,
                "group_tag",
                format!(
                    "{subject}: group tag {tag:?} has quotes or backticks; rules must escape them (`\" and '')"
                ),
            ));
        }
        if tag.trim() != tag {
            out.push(Finding::new(
                &checks::EDIT_GROUP_TAG_WHITESPACE,
                o,
                "group_tag",
                format!(
                    "{subject}: group tag {tag:?} has leading or trailing spaces; {:?} is used",
                    tag.trim()
                ),
            ));
        }
    }
}

/// The group tag of a device (`[OrderId]:<tag>`), any casing of the prefix.
pub fn group_tag(d: &Device) -> Option<String> {
    d.physical_ids.iter().flatten().find_map(|p| {
        let (prefix, rest) = p.split_at_checked(9)?;
        prefix.eq_ignore_ascii_case("[orderid]").then(|| rest.strip_prefix(':').unwrap_or(rest).to_string())
    })
}

/// Replaces the `[OrderId]` item of `d` with `tag` (none for `""`).
pub fn set_group_tag(d: &mut Device, tag: &str) {
    remove_items(d, &["[orderid]"]);
    if !tag.is_empty() {
        d.physical_ids.get_or_insert_with(Vec::new).push(format!("[OrderId]:{tag}"));
    }
}

fn remove_items(d: &mut Device, prefixes: &[&str]) {
    if let Some(ids) = &mut d.physical_ids {
        ids.retain(|p| {
            let lower = p.to_ascii_lowercase();
            !prefixes.iter().any(|x| lower.starts_with(x))
        });
    }
}

/// True when `d` carries a `[ZTDId]` item.
pub fn is_registered(d: &Device) -> bool {
    d.physical_ids.iter().flatten().any(|p| p.to_ascii_lowercase().starts_with("[ztdid]"))
}

enum Miss {
    None,
    Several(Vec<String>),
}

/// Device keys → positions.
struct Lookup<'d> {
    devices: &'d [Device],
    by_id: HashMap<String, usize>,
    by_device_id: HashMap<String, usize>,
    by_ztd: HashMap<String, usize>,
    by_name: HashMap<&'d str, Vec<usize>>,
}

impl<'d> Lookup<'d> {
    fn new(devices: &'d [Device]) -> Lookup<'d> {
        let mut l = Lookup {
            devices,
            by_id: HashMap::new(),
            by_device_id: HashMap::new(),
            by_ztd: HashMap::new(),
            by_name: HashMap::new(),
        };
        for (i, d) in devices.iter().enumerate() {
            l.by_id.entry(d.id.to_lowercase()).or_insert(i);
            if let Some(id) = &d.device_id {
                l.by_device_id.entry(id.to_lowercase()).or_insert(i);
            }
            for p in d.physical_ids.iter().flatten() {
                if let Some((prefix, rest)) = p.split_at_checked(7) {
                    if prefix.eq_ignore_ascii_case("[ztdid]") {
                        l.by_ztd.entry(rest.trim_start_matches(':').to_lowercase()).or_insert(i);
                    }
                }
            }
            if let Some(name) = &d.display_name {
                l.by_name.entry(name.as_str()).or_default().push(i);
            }
        }
        l
    }

    fn find(&self, key: &str) -> Result<usize, Miss> {
        let lower = key.trim().to_lowercase();
        for map in [&self.by_id, &self.by_device_id, &self.by_ztd] {
            if let Some(&i) = map.get(&lower) {
                return Ok(i);
            }
        }
        match self.by_name.get(key.trim()).map(Vec::as_slice) {
            Some([i]) => Ok(*i),
            Some(several) if !several.is_empty() => Err(Miss::Several(
                several.iter().filter_map(|&i| self.devices.get(i)).map(|d| d.id.clone()).collect(),
            )),
            _ => Err(Miss::None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn devices() -> Result<Vec<Device>, serde_json::Error> {
        serde_json::from_str(
            r#"[
            {"id": "A1", "deviceId": "d-1", "displayName": "PC-1", "physicalIds": ["[ZTDID]:z-1", "[OrderID]:OLD", "[HWID]:h:1"]},
            {"id": "A2", "deviceId": "d-2", "displayName": "TWIN", "physicalIds": ["[ZTDId]:z-2"]},
            {"id": "A3", "displayName": "TWIN", "physicalIds": ["[ZTDId]:z-3"]},
            {"id": "A4", "displayName": "BYOD"}
        ]"#,
        )
    }

    #[test]
    fn devices_are_found_by_every_key() -> TestResult {
        let d = devices()?;
        let l = Lookup::new(&d);
        assert!(matches!(l.find("a1"), Ok(0)));
        assert!(matches!(l.find("D-2"), Ok(1)));
        assert!(matches!(l.find("z-3"), Ok(2)));
        assert!(matches!(l.find("PC-1"), Ok(0)));
        assert!(matches!(l.find("TWIN"), Err(Miss::Several(ids)) if ids == ["A2", "A3"]));
        assert!(matches!(l.find("nope"), Err(Miss::None)));
        Ok(())
    }

    #[test]
    fn group_tags_are_replaced_and_removed() -> TestResult {
        let mut d = devices()?;
        set_group_tag(&mut d[0], "NEW");
        assert_eq!(group_tag(&d[0]).as_deref(), Some("NEW"));
        assert_eq!(d[0].physical_ids.as_ref().map(Vec::len), Some(3));
        set_group_tag(&mut d[0], "");
        assert_eq!(group_tag(&d[0]), None);
        assert!(is_registered(&d[0]));
        Ok(())
    }
}

//! A loaded inventory of either kind, with the warnings an admin must see,
//! and the membership of rules in it.
//!
//! Why this lives in the library: the command line is not the only caller.
//! A service embedding fleetlab (and `fleetlab serve`) needs the same
//! answer to "load this device or user inventory, tell me what is odd
//! about it, then which records each rule selects", and two copies of that
//! logic would drift: the server would stop warning about a field the CLI
//! warns about. The CLI keeps only what is about a terminal: the progress
//! bar, printing the warnings, and exit codes.
//!
//! Design decisions:
//!
//! * **Two representations, one type.** Devices go into the columnar
//!   [`FleetIndex`] (the fleet-scale path); users stay Graph records for the
//!   reference evaluator, because user inventories are small and rules on
//!   them rare. [`Inventory`] is the enum over both, so a caller dispatches
//!   once, at load.
//! * **Warnings, not errors.** Repeated ids (the last record wins, as a
//!   Graph delta would; see [`crate::inventory::dedup`]), field names
//!   fleetlab does not read because Graph spells them differently
//!   (`deviceOSType` for `operatingSystem`), and properties a rule reads
//!   that no record carries each have legitimate uses (a tenant can have no
//!   device with `deviceCategory` set), so refusing the inventory would be
//!   wrong. But each can also make a rule quietly match nothing, which is
//!   the one answer an admin cannot tell from a right one, so each is
//!   returned as an [`InventoryWarning`] for the caller to show.
//! * **An empty inventory is an error unless asked for.** An empty export
//!   usually means a failed one; [`InventoryOptions::allow_empty`] accepts it.
//! * **Membership is one bitmap per rule**, whichever engine produced it
//!   (the users path turns its per-record answers into a bitmap too), so
//!   a million-device answer is 125 KB per rule rather than a list of
//!   indices, and the writers read it 64 records at a time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Bitmap, ColumnOverflow, CompileError, CompiledSet, FleetIndex};
use crate::groups::Membership;
use crate::inventory::{HasId, InventoryError, Projection, User};
use crate::rule::{ObjectType, Property, Record, Rule};

/// Something about an inventory worth knowing before trusting a result.
///
/// Serializes as `{"code": "...", "message": "..."}`.
///
/// ```
/// use fleetlab::fleet::InventoryWarning;
/// let w = InventoryWarning::new("duplicate-id", "devices.json: id 1 appears twice".into());
/// assert_eq!(w.code, "duplicate-id");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InventoryWarning {
    /// A stable code: `duplicate-id`, `rule-style-field` or `unread-property`.
    pub code: &'static str,
    /// What fleetlab noticed, naming the file.
    pub message: String,
}

impl InventoryWarning {
    /// A warning with a stable code and a message naming the file.
    pub fn new(code: &'static str, message: String) -> Self {
        InventoryWarning { code, message }
    }
}

/// Which inventory to load: Graph device objects (JSON, JSON Lines or a
/// packed `.fleet` index) or Graph user objects.
#[derive(Clone, Copy, Debug)]
pub enum InventorySource<'a> {
    /// Graph device objects, or a packed index.
    Devices(&'a Path),
    /// Graph user objects.
    Users(&'a Path),
}

impl InventorySource<'_> {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            InventorySource::Devices(p) | InventorySource::Users(p) => p,
        }
    }
}

/// How to load an inventory.
#[derive(Clone, Copy)]
pub struct InventoryOptions<'a> {
    /// Accept an inventory with no records (otherwise
    /// [`InventoryLoadError::Empty`]: an empty export usually means a failed one).
    pub allow_empty: bool,
    /// The device fields to decode; the others are skipped in the parser.
    pub projection: &'a Projection,
    /// Called with the bytes read so far (device inventories).
    pub progress: &'a (dyn Fn(u64) + Sync),
}

/// Why an inventory could not be loaded.
///
/// ```
/// use fleetlab::fleet::{Inventory, InventoryLoadError, InventoryOptions, InventorySource};
/// use fleetlab::inventory::Projection;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("users.json");
/// std::fs::write(&path, "[]")?;
/// let options = InventoryOptions { allow_empty: false, projection: &Projection::all(), progress: &|_| {} };
/// let err = Inventory::load(InventorySource::Users(&path), &options).err();
/// assert!(matches!(err, Some(InventoryLoadError::Empty { what: "users", .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
pub enum InventoryLoadError {
    /// The inventory has no records and `allow_empty` was not set.
    #[error("no {what} in {}; pass --allow-empty to accept an empty inventory", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// `devices` or `users`.
        what: &'static str,
    },
    /// The file could not be read or parsed (the error names it).
    #[error(transparent)]
    Read(#[from] InventoryError),
    /// Rebuilding the index without repeated ids overflowed a column.
    #[error(transparent)]
    Overflow(#[from] ColumnOverflow),
}

/// A rule could not be decided for some record: a backtracking `-match`
/// ran out of steps ([`crate::rule::Rule::try_matches`]).
///
/// ```
/// use fleetlab::fleet::UndecidedError;
/// let e = UndecidedError { id: Some("d1".into()), name: Some("PC-1".into()), message: "gave up".into() };
/// assert_eq!(e.to_string(), "cannot evaluate the rule for d1 (PC-1): gave up");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct UndecidedError {
    /// The id of the first record the rule could not be decided for, when known.
    pub id: Option<String>,
    /// Its display name, when it has one.
    pub name: Option<String>,
    /// What failed.
    pub message: String,
}

impl std::fmt::Display for UndecidedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.id, &self.name) {
            (Some(id), Some(name)) => {
                write!(f, "cannot evaluate the rule for {id} ({name}): {}", self.message)
            }
            (Some(id), None) => write!(f, "cannot evaluate the rule for {id}: {}", self.message),
            (None, _) => write!(f, "cannot evaluate the rule: {}", self.message),
        }
    }
}

/// Why membership could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// Some record's value could not be decided.
    #[error(transparent)]
    Undecided(#[from] UndecidedError),
    /// The rules could not be compiled against the index (a user rule on
    /// devices, a damaged section of a packed index).
    #[error(transparent)]
    Compile(#[from] CompileError),
}

/// A loaded inventory of either kind.
///
/// ```
/// use fleetlab::fleet::{Inventory, InventoryOptions, InventorySource};
/// use fleetlab::inventory::Projection;
/// use fleetlab::rule::Rule;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("devices.json");
/// std::fs::write(&path, r#"[{"id": "a", "operatingSystem": "Windows"},
///                          {"id": "b", "operatingSystem": "iOS"},
///                          {"id": "b", "operatingSystem": "Windows", "deviceOSType": "Windows"}]"#)?;
/// let options = InventoryOptions { allow_empty: false, projection: &Projection::all(), progress: &|_| {} };
/// let (inventory, warnings) = Inventory::load(InventorySource::Devices(&path), &options)?;
/// // The repeated id and the rule-style field name are warnings, not errors.
/// let codes: Vec<&str> = warnings.iter().map(|w| w.code).collect();
/// assert_eq!(codes, ["duplicate-id", "rule-style-field"]);
///
/// let rule = Rule::new(r#"device.deviceOSType -eq "Windows""#)?;
/// let membership = inventory.members(&[&rule])?;
/// assert_eq!(membership.members(0).collect::<Vec<_>>(), vec![0, 1]);
/// assert_eq!(inventory.id(1), "b");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum Inventory {
    /// Devices, as the columnar index.
    Devices(Box<FleetIndex>),
    /// Users, as Graph records.
    Users(Vec<User>),
}

impl Inventory {
    /// Loads the inventory at `source`, with its warnings. Repeated ids are
    /// dropped (the last record wins) and reported.
    pub fn load(
        source: InventorySource<'_>,
        options: &InventoryOptions<'_>,
    ) -> Result<(Inventory, Vec<InventoryWarning>), InventoryLoadError> {
        match source {
            InventorySource::Devices(path) => {
                let (index, warnings) = Inventory::load_devices(path, options)?;
                Ok((Inventory::Devices(Box::new(index)), warnings))
            }
            InventorySource::Users(path) => {
                let (users, warnings) = Inventory::load_users(path, options)?;
                Ok((Inventory::Users(users), warnings))
            }
        }
    }

    /// Loads a device inventory as the columnar index, with its warnings,
    /// for callers that need only devices.
    pub fn load_devices(
        path: &Path,
        options: &InventoryOptions<'_>,
    ) -> Result<(FleetIndex, Vec<InventoryWarning>), InventoryLoadError> {
        let index = super::load_index_projected(path, options.progress, options.projection)?;
        if index.is_empty() && !options.allow_empty {
            return Err(InventoryLoadError::Empty { path: path.to_path_buf(), what: "devices" });
        }
        let (index, duplicates) = index.last_record_wins()?;
        let mut warnings = duplicate_warnings(path, &duplicates);
        warnings.extend(misnamed(path, ObjectType::Device, index.misnamed_fields()));
        Ok((index, warnings))
    }

    /// Loads a user inventory as Graph records, with its warnings, for
    /// callers that need only users (`options.projection` and
    /// `options.progress` concern devices and are not used).
    pub fn load_users(
        path: &Path,
        options: &InventoryOptions<'_>,
    ) -> Result<(Vec<User>, Vec<InventoryWarning>), InventoryLoadError> {
        let users = crate::inventory::load_users(path)?;
        if users.is_empty() && !options.allow_empty {
            return Err(InventoryLoadError::Empty { path: path.to_path_buf(), what: "users" });
        }
        let (keep, duplicates) = crate::inventory::dedup::last_wins(users.iter().map(HasId::id));
        let users: Vec<User> = users.into_iter().zip(keep).filter_map(|(u, k)| k.then_some(u)).collect();
        let mut warnings = duplicate_warnings(path, &duplicates);
        let mut names: Vec<&'static str> = Vec::new();
        for name in users.iter().flat_map(User::misnamed) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        warnings.extend(misnamed(path, ObjectType::User, &names));
        Ok((users, warnings))
    }

    /// The kind of object it holds.
    pub fn object(&self) -> ObjectType {
        match self {
            Inventory::Devices(_) => ObjectType::Device,
            Inventory::Users(_) => ObjectType::User,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        match self {
            Inventory::Devices(d) => d.len(),
            Inventory::Users(u) => u.len(),
        }
    }

    /// True when it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids and names for a report writer ([`crate::groups::write`]): the
    /// same values as [`Inventory::id`] and [`Inventory::name`], with each
    /// device dictionary checked once instead of at every lookup, which
    /// was a fifth of the time of writing a 50-group report.
    ///
    /// ```
    /// use fleetlab::fleet::{FleetIndex, Inventory};
    /// use fleetlab::groups::write::id_lines;
    /// let devices: Vec<fleetlab::inventory::Device> =
    ///     serde_json::from_str(r#"[{"id": "a"}, {"id": "b"}]"#)?;
    /// let inventory = Inventory::Devices(Box::new(FleetIndex::from_devices(&devices)?));
    /// let mut out = Vec::new();
    /// id_lines(&mut out, &[1], &inventory.records())?;
    /// assert_eq!(out, b"b\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn records(&self) -> ReportRecords<'_> {
        ReportRecords(match self {
            Inventory::Devices(d) => RecordsOf::Devices(d.labels(), d.len()),
            Inventory::Users(_) => RecordsOf::Users(self),
        })
    }

    /// The id of record `i` (empty past the end).
    pub fn id(&self, i: usize) -> &str {
        match self {
            Inventory::Devices(d) => d.id(i),
            Inventory::Users(u) => u.get(i).map_or("", |r| r.id()),
        }
    }

    /// The display name of record `i` (empty when it has none).
    pub fn name(&self, i: usize) -> &str {
        match self {
            Inventory::Devices(d) => d.display_name(i).unwrap_or(""),
            Inventory::Users(u) => u.get(i).and_then(|r| r.display_name()).unwrap_or(""),
        }
    }

    /// One warning per property `rules` read that no record of the
    /// inventory (loaded from `path`) carries.
    pub fn unread(&self, path: &Path, rules: &[&Rule]) -> Vec<InventoryWarning> {
        match self {
            Inventory::Devices(index) => unread(path, rules, &|p| index.carries(p)),
            Inventory::Users(users) => unread(path, rules, &|p| users_carry(users, p)),
        }
    }

    /// Verifies the id and name columns of a packed index before they are
    /// written out (other inventories have nothing to verify).
    pub fn verify_records(&self) -> Result<(), InventoryError> {
        match self {
            Inventory::Devices(index) => index.verify_records(),
            Inventory::Users(_) => Ok(()),
        }
    }

    /// The records each rule selects. A rule that cannot be decided for
    /// some record is an error naming the first such record.
    pub fn members(&self, rules: &[&Rule]) -> Result<Membership, MembershipError> {
        self.members_timed(rules).map(|(m, _)| m)
    }

    /// [`Inventory::members`], and the time spent compiling the rules for
    /// the columnar index (zero for users, which are evaluated row by row).
    pub fn members_timed(&self, rules: &[&Rule]) -> Result<(Membership, Duration), MembershipError> {
        match self {
            Inventory::Devices(index) => {
                let started = Instant::now();
                let set = match CompiledSet::compile(rules, index) {
                    Ok(set) => set,
                    Err(CompileError::Evaluation { index: k, message }) => {
                        let rule = rules.get(k).copied();
                        // The columnar plan evaluated distinct values; the reference
                        // evaluator finds the first device holding the bad one.
                        let device = (0..index.len()).find(|&i| {
                            index.device(i).is_some_and(|d| rule.is_some_and(|r| r.try_matches(&d).is_err()))
                        });
                        return Err(self.undecided(device, message).into());
                    }
                    Err(e) => return Err(e.into()),
                };
                let compiled = started.elapsed();
                Ok((Membership::from_bitmaps(set.evaluate()), compiled))
            }
            Inventory::Users(users) => {
                let mut bitmaps = Vec::with_capacity(rules.len());
                for rule in rules {
                    bitmaps.push(self.user_bits(users, rule)?);
                }
                Ok((Membership::from_bitmaps(bitmaps), Duration::ZERO))
            }
        }
    }

    fn user_bits(&self, users: &[User], rule: &Rule) -> Result<Bitmap, UndecidedError> {
        use crate::par::prelude::*;
        let results: Vec<Result<bool, crate::rule::EvalError>> =
            users.par_iter().map(|u| rule.try_matches(u)).collect();
        let mut bits = Vec::with_capacity(results.len());
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(b) => bits.push(b),
                Err(e) => return Err(self.undecided(Some(i), e.message)),
            }
        }
        Ok(Bitmap::from_bools(&bits))
    }

    fn undecided(&self, i: Option<usize>, message: String) -> UndecidedError {
        let id = i.map(|i| self.id(i).to_string());
        let name = i.map(|i| self.name(i)).filter(|n| !n.is_empty()).map(str::to_string);
        UndecidedError { id, name, message }
    }
}

/// The writers of [`crate::groups::write`] read ids and names straight
/// from the inventory, so a report of millions of records needs no copy of
/// them.
impl crate::groups::write::Records for Inventory {
    fn count(&self) -> usize {
        self.len()
    }
    fn id(&self, i: usize) -> &str {
        Inventory::id(self, i)
    }
    fn name(&self, i: usize) -> &str {
        Inventory::name(self, i)
    }
}

/// What [`Inventory::records`] gives a report writer.
#[derive(Clone, Copy)]
pub struct ReportRecords<'a>(RecordsOf<'a>);

/// Whose ids and names a [`ReportRecords`] reads.
#[derive(Clone, Copy)]
enum RecordsOf<'a> {
    Devices(crate::fleet::index::Labels<'a>, usize),
    Users(&'a Inventory),
}

impl crate::groups::write::Records for ReportRecords<'_> {
    fn count(&self) -> usize {
        match self.0 {
            RecordsOf::Devices(_, len) => len,
            RecordsOf::Users(u) => u.len(),
        }
    }
    fn id(&self, i: usize) -> &str {
        match self.0 {
            RecordsOf::Devices(l, _) => l.id(i),
            RecordsOf::Users(u) => u.id(i),
        }
    }
    fn name(&self, i: usize) -> &str {
        match self.0 {
            RecordsOf::Devices(l, _) => l.name(i).unwrap_or(""),
            RecordsOf::Users(u) => u.name(i),
        }
    }
}

fn duplicate_warnings(
    path: &Path,
    duplicates: &[crate::inventory::dedup::Duplicate],
) -> Vec<InventoryWarning> {
    duplicates
        .iter()
        .map(|d| InventoryWarning::new("duplicate-id", format!("{}: {d}", path.display())))
        .collect()
}

fn misnamed(path: &Path, object: ObjectType, names: &[&'static str]) -> Vec<InventoryWarning> {
    names
        .iter()
        .filter_map(|name| {
            let graph = Property::lookup(object, name)?.graph_field();
            Some(InventoryWarning::new(
                "rule-style-field",
                format!(
                    "{}: records have a `{name}` field, which fleetlab does not read: rules say \
                     {object}.{name}, but Graph (and fleetlab) call the field `{graph}`",
                    path.display()
                ),
            ))
        })
        .collect()
}

/// True when some user has a value for `property`.
fn users_carry(users: &[User], property: &Property) -> bool {
    users.iter().any(|u| {
        if property.ty().is_collection() {
            u.any_item(property, &mut |_| true) || u.any_plan(&mut |_| true)
        } else {
            !matches!(u.scalar(property), crate::rule::Scalar::Null)
        }
    })
}

/// One warning per property the rules read that no record carries.
fn unread(path: &Path, rules: &[&Rule], carries: &dyn Fn(&Property) -> bool) -> Vec<InventoryWarning> {
    let mut seen: Vec<Property> = Vec::new();
    let mut out = Vec::new();
    for property in rules.iter().flat_map(|r| r.properties()) {
        if seen.contains(&property) || carries(&property) {
            continue;
        }
        let object = property.object();
        out.push(InventoryWarning::new(
            "unread-property",
            format!(
                "{}: no record has `{}` (the Graph field {property} reads), so every {object} reads \
                 it as unset",
                path.display(),
                property.graph_field(),
            ),
        ));
        seen.push(property);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// `text` in a file `name` of a new temporary directory (removed when dropped).
    fn write(name: &str, text: &str) -> std::io::Result<(tempfile::TempDir, PathBuf)> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(name);
        std::fs::write(&path, text)?;
        Ok((dir, path))
    }

    fn options(allow_empty: bool) -> InventoryOptions<'static> {
        static ALL: std::sync::OnceLock<Projection> = std::sync::OnceLock::new();
        InventoryOptions { allow_empty, projection: ALL.get_or_init(Projection::all), progress: &|_| {} }
    }

    #[test]
    fn an_empty_inventory_is_an_error_unless_allowed() -> TestResult {
        let (_dir, path) = write("empty.json", "[]")?;
        let err = Inventory::load(InventorySource::Users(&path), &options(false)).map(|_| ());
        let message = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(message.starts_with("no users in "), "{message}");
        assert!(message.ends_with("; pass --allow-empty to accept an empty inventory"), "{message}");
        let loaded = Inventory::load(InventorySource::Devices(&path), &options(true));
        assert!(loaded.is_ok_and(|(inv, w)| inv.is_empty() && w.is_empty()));
        Ok(())
    }

    #[test]
    fn repeated_user_ids_keep_the_last_record_and_warn() -> TestResult {
        let (_dir, path) = write(
            "users.json",
            r#"[{"id": "u1", "displayName": "First"}, {"id": "u2"}, {"id": "u1", "displayName": "Later"}]"#,
        )?;
        let (inv, warnings) = Inventory::load(InventorySource::Users(&path), &options(false))?;
        assert_eq!(inv.len(), 2);
        assert_eq!(inv.name(1), "Later");
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "duplicate-id");
        let json = serde_json::to_value(&warnings[0])?;
        assert_eq!(json["code"], "duplicate-id");
        assert!(json["message"].as_str().is_some_and(|m| m.contains("users.json")));
        Ok(())
    }

    #[test]
    fn an_unread_property_is_named_once() -> TestResult {
        let (_dir, path) = write("devices.json", r#"[{"id": "d1", "operatingSystem": "Windows"}]"#)?;
        let (inv, _) = Inventory::load(InventorySource::Devices(&path), &options(false))?;
        let rule = Rule::new(r#"device.deviceCategory -eq "a" or device.deviceCategory -eq "b""#)?;
        let warnings = inv.unread(&path, &[&rule]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "unread-property");
        assert!(warnings[0].message.contains("`deviceCategory`"), "{}", warnings[0].message);
        Ok(())
    }

    #[test]
    fn user_members_are_in_input_order() -> TestResult {
        let (_dir, path) = write(
            "members.json",
            r#"[{"id": "a", "department": "Sales"}, {"id": "b"}, {"id": "c", "department": "Sales"}]"#,
        )?;
        let (inv, _) = Inventory::load(InventorySource::Users(&path), &options(false))?;
        let rule = Rule::new(r#"user.department -eq "Sales""#)?;
        let members: Vec<usize> = inv.members(&[&rule])?.members(0).collect();
        assert_eq!(members, vec![0, 2]);
        Ok(())
    }

    #[test]
    fn an_undecided_record_is_named_with_its_display_name() {
        let e = UndecidedError {
            id: Some("d1".into()),
            name: Some("PC-1".into()),
            message: "out of steps".into(),
        };
        assert_eq!(e.to_string(), "cannot evaluate the rule for d1 (PC-1): out of steps");
        let e = UndecidedError { id: Some("d1".into()), name: None, message: "m".into() };
        assert_eq!(e.to_string(), "cannot evaluate the rule for d1: m");
        let e = UndecidedError { id: None, name: None, message: "m".into() };
        assert_eq!(e.to_string(), "cannot evaluate the rule: m");
    }
}

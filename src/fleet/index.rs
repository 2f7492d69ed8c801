//! [`FleetIndex`]: a device inventory laid out for rule evaluation.

use crate::fleet::column::{
    Codes, CollectionBuilder, CollectionColumn, ColumnOverflow, DictView, ScalarBuilder, ScalarColumn,
    PHYSICAL_ID_LANES,
};
use crate::fleet::unique::IdHashes;
use std::path::Path;
use std::sync::Arc;

use crate::fleet::store::Backing;
use crate::inventory::{Device, InventoryError, Projection};
use crate::rule::{DeviceProperty, ExtensionSlot};

/// Single-valued device properties in column order; extension attributes
/// follow as columns `BASE.len() ..`.
const BASE: [DeviceProperty; 16] = [
    DeviceProperty::ObjectId,
    DeviceProperty::AccountEnabled,
    DeviceProperty::DeviceCategory,
    DeviceProperty::DeviceId,
    DeviceProperty::DeviceManagementAppId,
    DeviceProperty::DeviceManufacturer,
    DeviceProperty::DeviceModel,
    DeviceProperty::DisplayName,
    DeviceProperty::DeviceOsType,
    DeviceProperty::DeviceOsVersion,
    DeviceProperty::DeviceOwnership,
    DeviceProperty::DeviceTrustType,
    DeviceProperty::EnrollmentProfileName,
    DeviceProperty::IsRooted,
    DeviceProperty::ManagementType,
    DeviceProperty::ProfileType,
];
const COLUMNS: usize = BASE.len() + 15;
pub(crate) const OBJECT_ID: usize = 0;
const DEVICE_ID: usize = 3;
const DISPLAY_NAME: usize = 7;

/// The column of a single-valued property (`None` for collections).
pub(crate) fn scalar_slot(p: DeviceProperty) -> Option<usize> {
    if let DeviceProperty::ExtensionAttribute(slot) = p {
        return Some(BASE.len() + usize::from(slot.number()) - 1);
    }
    BASE.iter().position(|b| *b == p)
}

/// True for columns that hold booleans (as the strings `true`/`false`).
pub(crate) fn is_bool_slot(slot: usize) -> bool {
    matches!(BASE.get(slot), Some(DeviceProperty::AccountEnabled | DeviceProperty::IsRooted))
}

fn bool_text(b: Option<bool>) -> Option<&'static str> {
    b.map(|b| if b { "true" } else { "false" })
}

pub(crate) fn scalar_value(d: &Device, slot: usize) -> Option<&str> {
    use DeviceProperty as P;
    if slot >= BASE.len() {
        let n = (slot - BASE.len() + 1) as u8;
        return ExtensionSlot::new(n).and_then(|s| d.extension_attributes.as_ref()?.get(s.number()));
    }
    match BASE.get(slot)? {
        P::ObjectId => Some(d.id.as_str()),
        P::AccountEnabled => bool_text(d.account_enabled),
        P::DeviceCategory => d.device_category.as_deref(),
        P::DeviceId => d.device_id.as_deref(),
        P::DeviceManagementAppId => d.mdm_app_id.as_deref(),
        P::DeviceManufacturer => d.manufacturer.as_deref(),
        P::DeviceModel => d.model.as_deref(),
        P::DisplayName => d.display_name.as_deref(),
        P::DeviceOsType => d.operating_system.as_deref(),
        P::DeviceOsVersion => d.operating_system_version.as_deref(),
        P::DeviceOwnership => d.device_ownership.as_deref(),
        P::DeviceTrustType => d.trust_type.as_deref(),
        P::EnrollmentProfileName => d.enrollment_profile_name.as_deref(),
        P::IsRooted => bool_text(d.is_rooted),
        P::ManagementType => d.management_type.as_deref(),
        P::ProfileType => d.profile_type.as_deref(),
        _ => None,
    }
}

/// A device inventory in columns: each property dictionary-encoded with
/// per-device codes of the narrowest width, and string collections split
/// into lanes by item prefix with a per-device lane mask.
///
/// ```
/// use fleetlab::fleet::FleetIndex;
/// use fleetlab::inventory::Device;
/// let devices: Vec<Device> = serde_json::from_str(r#"[
///     {"id": "a", "operatingSystem": "Windows", "physicalIds": ["[ZTDId]:1"]},
///     {"id": "b", "operatingSystem": "iOS"}
/// ]"#)?;
/// let index = FleetIndex::from_devices(&devices)?;
/// assert_eq!(index.len(), 2);
/// assert_eq!(index.id(1), "b");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetIndex {
    pub(crate) len: usize,
    pub(crate) scalars: Vec<ScalarColumn>,
    pub(crate) physical_ids: CollectionColumn,
    pub(crate) system_labels: CollectionColumn,
    pub(crate) member_of: CollectionColumn,
    /// Custom directory extensions, one column each, named as first seen;
    /// their slots follow the fixed columns ([`FleetIndex::column`]).
    pub(crate) extensions: Vec<(String, ScalarColumn)>,
    /// Rule-style field names the loaded records used (not packed: a pack
    /// is made from a file that was already warned about).
    pub(crate) misnamed: Vec<&'static str>,
    /// The packed file the columns are views of, if any.
    pub(crate) origin: Origin,
    /// What the loader decoded: every property unless the index was
    /// loaded for a set of rules ([`crate::fleet::CompiledSet::projection`]).
    /// Compiling a rule that reads more is refused, and such an index is
    /// never packed, so a projected load cannot answer from missing data.
    pub(crate) loaded: Projection,
}

/// Ids and display names of an index, read without checking each value
/// ([`FleetIndex::labels`]).
#[derive(Clone, Copy)]
pub(crate) struct Labels<'a> {
    ids: Option<(DictView<'a>, &'a Codes)>,
    names: Option<(DictView<'a>, &'a Codes)>,
}

impl<'a> Labels<'a> {
    /// As [`FleetIndex::id`].
    pub(crate) fn id(&self, i: usize) -> &'a str {
        self.ids.and_then(|(dict, codes)| dict.get(codes.get(i))).unwrap_or("")
    }

    /// As [`FleetIndex::display_name`].
    pub(crate) fn name(&self, i: usize) -> Option<&'a str> {
        self.names.and_then(|(dict, codes)| dict.get(codes.get(i)))
    }
}

/// Where an index came from: the packed file behind its views, if any,
/// and what is known of its ids. Two indexes are equal when their contents
/// are, wherever the bytes live.
#[derive(Clone, Default)]
pub(crate) struct Origin {
    pub(crate) packed: Option<Packed>,
    /// Object ids are known to be unique: the pack was written after
    /// duplicate ids were resolved, or the loader checked them as it read
    /// (see `fleet/unique.rs`).
    pub(crate) unique_ids: bool,
}

/// An opened packed file.
#[derive(Clone)]
pub(crate) struct Packed {
    pub(crate) backing: Arc<Backing>,
}

impl PartialEq for Origin {
    fn eq(&self, _: &Origin) -> bool {
        true
    }
}

impl Eq for Origin {}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.packed {
            Some(p) => write!(f, "Origin({})", p.backing.name),
            None => f.write_str("Origin(memory)"),
        }
    }
}

/// Builds a [`FleetIndex`] one device at a time (streaming loaders use it).
pub struct FleetBuilder {
    scalars: Vec<ScalarBuilder>,
    physical_ids: CollectionBuilder,
    system_labels: CollectionBuilder,
    member_of: CollectionBuilder,
    extensions: Vec<(String, ScalarBuilder)>,
    misnamed: Vec<&'static str>,
    len: usize,
    projection: Projection,
    /// Hashes of the ids of devices appended directly, while every device
    /// came with one ([`FleetBuilder::push`] ends that).
    id_hashes: Option<IdHashes>,
}

impl Default for FleetBuilder {
    fn default() -> Self {
        FleetBuilder::new()
    }
}

impl FleetBuilder {
    /// An empty builder.
    pub fn new() -> FleetBuilder {
        FleetBuilder::projected(&Projection::all())
    }

    /// An empty builder for devices decoded through `projection`: fields
    /// outside it are unset in every device pushed, and `physicalIds` items
    /// of lanes it does not keep only set their lane's mask bit.
    pub(crate) fn projected(projection: &Projection) -> FleetBuilder {
        FleetBuilder {
            projection: projection.clone(),
            scalars: (0..COLUMNS).map(|_| ScalarBuilder::new()).collect(),
            physical_ids: CollectionBuilder::keeping(PHYSICAL_ID_LANES, projection.physical_id_lanes()),
            system_labels: CollectionBuilder::new(&[]),
            member_of: CollectionBuilder::new(&[]),
            extensions: Vec::new(),
            misnamed: Vec::new(),
            len: 0,
            // Bucket count for millions of ids; the number to come is unknown.
            id_hashes: Some(IdHashes::with_bits(12)),
        }
    }

    /// Appends one device.
    pub fn push(&mut self, d: &Device) -> Result<(), ColumnOverflow> {
        self.id_hashes = None;
        for (slot, col) in self.scalars.iter_mut().enumerate() {
            col.push(scalar_value(d, slot)).map_err(|_| overflow(slot))?;
        }
        self.physical_ids
            .push(d.physical_ids.iter().flatten().map(String::as_str))
            .map_err(|_| ColumnOverflow { column: "devicePhysicalIds".into() })?;
        self.system_labels
            .push(d.system_labels.iter().flatten().map(String::as_str))
            .map_err(|_| ColumnOverflow { column: "systemLabels".into() })?;
        self.member_of.push(d.member_of()).map_err(|_| ColumnOverflow { column: "memberOf".into() })?;
        for (name, _) in d.extensions.iter() {
            if !self.extensions.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                // A name first seen now: every earlier device lacks it.
                let mut col = ScalarBuilder::new();
                col.extend_remapped(self.len, &[], &[]);
                self.extensions.push((name.to_string(), col));
            }
        }
        for name in d.extensions.misnamed() {
            if !self.misnamed.contains(name) {
                self.misnamed.push(name);
            }
        }
        for (name, col) in &mut self.extensions {
            col.push(d.extensions.get(name)).map_err(|_| ColumnOverflow { column: name.clone() })?;
        }
        self.len += 1;
        Ok(())
    }

    /// The builder of scalar column `slot` (see [`scalar_slot`]).
    pub(crate) fn scalar_mut(&mut self, slot: usize) -> Option<&mut ScalarBuilder> {
        self.scalars.get_mut(slot)
    }

    /// The builder of collection `k`: 0 `devicePhysicalIds`, 1
    /// `systemLabels`, 2 `memberOf`.
    pub(crate) fn collection_mut(&mut self, k: usize) -> Option<&mut CollectionBuilder> {
        match k {
            0 => Some(&mut self.physical_ids),
            1 => Some(&mut self.system_labels),
            2 => Some(&mut self.member_of),
            _ => None,
        }
    }

    /// Which columns (scalar slots, then each collection's lanes) still
    /// deduplicate their values: a loader building devices elsewhere need
    /// not intern values of the others.
    pub(crate) fn dedup_flags(&self) -> (Vec<bool>, [Vec<bool>; 3]) {
        let lanes = |c: &CollectionBuilder| (0..c.lanes()).map(|l| c.dedups(l)).collect();
        (
            self.scalars.iter().map(ScalarBuilder::dedups).collect(),
            [lanes(&self.physical_ids), lanes(&self.system_labels), lanes(&self.member_of)],
        )
    }

    /// The custom extension column `name` (case-insensitive), created
    /// (null for every device so far) when new.
    pub(crate) fn extension_mut(&mut self, name: &str) -> &mut ScalarBuilder {
        let k = match self.extensions.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(k) => k,
            None => {
                let mut col = ScalarBuilder::new();
                col.extend_remapped(self.len, &[], &[]);
                self.extensions.push((name.to_string(), col));
                self.extensions.len() - 1
            }
        };
        &mut self.extensions[k].1
    }

    /// Every custom extension column, by name.
    pub(crate) fn extensions_mut(&mut self) -> impl Iterator<Item = (&str, &mut ScalarBuilder)> {
        self.extensions.iter_mut().map(|(n, c)| (n.as_str(), c))
    }

    /// Counts `devices` devices whose columns were appended directly.
    pub(crate) fn grow(&mut self, devices: usize) {
        self.len += devices;
    }

    /// Adds the id hashes ([`IdHashes::hash`]) of devices appended
    /// directly, in order: when every device came with its hash, the
    /// finished index knows whether its ids repeat.
    pub(crate) fn extend_id_hashes(&mut self, hashes: &[u64]) {
        if let Some(h) = &mut self.id_hashes {
            h.extend(hashes);
        }
    }

    /// Records that rule-style field names were used (`deviceOSType` for
    /// `operatingSystem`), as a projected parser saw them.
    pub fn note_misnamed(&mut self, names: &[&'static str]) {
        for name in names {
            if !self.misnamed.contains(name) {
                self.misnamed.push(name);
            }
        }
    }

    /// Devices appended so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first device.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The finished index.
    pub fn finish(self) -> FleetIndex {
        let unique_ids = match self.id_hashes {
            Some(mut h) if h.len() == self.len => !h.any_repeat(),
            _ => false,
        };
        FleetIndex {
            len: self.len,
            scalars: self.scalars.into_iter().map(ScalarBuilder::finish).collect(),
            physical_ids: self.physical_ids.finish(),
            system_labels: self.system_labels.finish(),
            member_of: self.member_of.finish(),
            extensions: self.extensions.into_iter().map(|(n, c)| (n, c.finish())).collect(),
            misnamed: self.misnamed,
            origin: Origin { packed: None, unique_ids },
            loaded: self.projection,
        }
    }
}

pub(crate) fn overflow(slot: usize) -> ColumnOverflow {
    let name = if slot >= BASE.len() {
        format!("extensionAttribute{}", slot - BASE.len() + 1)
    } else {
        BASE.get(slot).map(|p| p.name().into_owned()).unwrap_or_default()
    };
    ColumnOverflow { column: name }
}

impl FleetIndex {
    pub(crate) const COLUMNS: usize = COLUMNS;

    /// An index of `len` devices from its columns (the pack reader).
    pub(crate) fn from_parts(
        len: usize,
        scalars: Vec<ScalarColumn>,
        [physical_ids, system_labels, member_of]: [CollectionColumn; 3],
    ) -> FleetIndex {
        FleetIndex {
            len,
            scalars,
            physical_ids,
            system_labels,
            member_of,
            extensions: Vec::new(),
            misnamed: Vec::new(),
            origin: Origin::default(),
            loaded: Projection::all(),
        }
    }

    /// Opens a packed index (`fleetlab inventory pack`) by memory-mapping
    /// it: the columns are read in place, opening costs the header and the
    /// section table, and each section is checksummed when a rule first
    /// reads it. This is the entry point for keeping an index resident.
    ///
    /// ```
    /// use fleetlab::fleet::{pack, CompiledSet, FleetIndex};
    /// use fleetlab::inventory::Device;
    /// use fleetlab::rule::Rule;
    /// let devices: Vec<Device> = serde_json::from_str(r#"[
    ///     {"id": "a", "operatingSystem": "Windows", "physicalIds": ["[ZTDId]:1"]},
    ///     {"id": "b", "operatingSystem": "iOS"}
    /// ]"#)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("devices.fleet");
    /// std::fs::write(&path, pack::to_bytes(&FleetIndex::from_devices(&devices)?)?)?;
    /// let index = FleetIndex::open(&path)?;
    /// let rule = Rule::new(r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#)?;
    /// let members = CompiledSet::compile(&[&rule], &index)?.evaluate();
    /// assert_eq!(members[0].count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: &Path) -> Result<FleetIndex, InventoryError> {
        crate::fleet::pack::open(path)
    }

    /// Reads a packed index into memory instead of mapping it: for files
    /// that another program might truncate while they are open (see
    /// `fleet/mapped.rs`, which explains the memory map's stance). Answers are identical to [`FleetIndex::open`].
    pub fn read(path: &Path) -> Result<FleetIndex, InventoryError> {
        crate::fleet::pack::read(path)
    }

    /// Verifies every section of a packed index now, in parallel (an index
    /// built in memory has nothing to verify). Opening verifies only the
    /// header and layout; rules verify the sections they read.
    pub fn verify(&self) -> Result<(), InventoryError> {
        crate::fleet::pack::verify_all(self).map_err(|e| self.damaged(&e))
    }

    /// Verifies the columns that [`FleetIndex::id`] and
    /// [`FleetIndex::display_name`] read, before writing them out.
    pub fn verify_records(&self) -> Result<(), InventoryError> {
        for slot in [OBJECT_ID, DISPLAY_NAME] {
            if let Some(col) = self.column(slot) {
                col.verify(self.len).map_err(|e| self.damaged(&e))?;
            }
        }
        Ok(())
    }

    fn damaged(&self, message: &str) -> InventoryError {
        let path = self.origin.packed.as_ref().map(|o| o.backing.name.clone()).unwrap_or_default();
        InventoryError::Damaged { path: path.into(), message: message.to_string() }
    }

    /// Indexes `devices`, keeping their order.
    pub fn from_devices(devices: &[Device]) -> Result<FleetIndex, ColumnOverflow> {
        let mut b = FleetBuilder::new();
        for d in devices {
            b.push(d)?;
        }
        Ok(b.finish())
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the index holds no device.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The object id of device `i` (`""` when out of range).
    pub fn id(&self, i: usize) -> &str {
        self.scalar_str(OBJECT_ID, i).unwrap_or("")
    }

    /// The display name of device `i`.
    pub fn display_name(&self, i: usize) -> Option<&str> {
        self.scalar_str(DISPLAY_NAME, i)
    }

    /// Ids and display names with each dictionary's text checked once:
    /// report writers read them millions of times, and [`FleetIndex::id`]
    /// checks the value it returns every time.
    pub(crate) fn labels(&self) -> Labels<'_> {
        let view = |slot: usize| self.column(slot).map(|c| (c.dict.view(), &c.codes));
        Labels { ids: view(OBJECT_ID), names: view(DISPLAY_NAME) }
    }

    /// Device `i` as a Graph record, rebuilt from the columns (collection
    /// items grouped by kind rather than in their original order, which no
    /// rule can observe). Lets `explain` work on a packed index.
    pub fn device(&self, i: usize) -> Option<Device> {
        if i >= self.len {
            return None;
        }
        let s = |slot: usize| self.scalar_str(slot, i).map(str::to_string);
        let b = |slot: usize| self.scalar_str(slot, i).map(|v| v == "true");
        let mut ext = crate::inventory::ExtensionAttributes::default();
        let mut any_ext = false;
        for n in 1..=15u8 {
            if let Some(v) = s(BASE.len() + usize::from(n) - 1) {
                ext.set(n, v);
                any_ext = true;
            }
        }
        let items = |c: &CollectionColumn| -> Option<Vec<String>> {
            let mut out = Vec::new();
            for lane in &c.lanes {
                if let Some(v) = lane.dict.get(lane.first.get(i)) {
                    out.push(v.to_string());
                }
                let from = lane.extra.partition_point(|[d, _]| (*d as usize) < i);
                for [d, code] in lane.extra.get(from..).unwrap_or(&[]) {
                    if *d as usize != i {
                        break;
                    }
                    out.extend(lane.dict.get(*code).map(str::to_string));
                }
            }
            (!out.is_empty()).then_some(out)
        };
        let mut d = Device {
            id: s(OBJECT_ID).unwrap_or_default(),
            account_enabled: b(1),
            device_category: s(2),
            device_id: s(3),
            mdm_app_id: s(4),
            manufacturer: s(5),
            model: s(6),
            display_name: s(7),
            operating_system: s(8),
            operating_system_version: s(9),
            device_ownership: s(10),
            trust_type: s(11),
            enrollment_profile_name: s(12),
            is_rooted: b(13),
            management_type: s(14),
            profile_type: s(15),
            extension_attributes: any_ext.then_some(ext),
            physical_ids: items(&self.physical_ids),
            system_labels: items(&self.system_labels),
            ..Device::default()
        };
        d.set_member_of(items(&self.member_of));
        for (name, col) in &self.extensions {
            if let Some(v) = col.dict.get(col.codes.get(i)) {
                d.extensions.set(name, v.to_string());
            }
        }
        Some(d)
    }

    /// The position of the device whose object id (or else deviceId, or
    /// else unique display name) is `key`; ids compare case-insensitively.
    pub fn find(&self, key: &str) -> Result<usize, String> {
        let by = |slot: usize, exact: bool| {
            (0..self.len).filter(move |&i| {
                self.scalar_str(slot, i).is_some_and(|v| {
                    if exact {
                        v == key
                    } else {
                        v.eq_ignore_ascii_case(key)
                    }
                })
            })
        };
        if let Some(i) = by(OBJECT_ID, false).next() {
            return Ok(i);
        }
        if let Some(i) = by(DEVICE_ID, false).next() {
            return Ok(i);
        }
        let named: Vec<usize> = by(DISPLAY_NAME, true).take(2).collect();
        match named.as_slice() {
            [i] => Ok(*i),
            [] => Err(format!("no device with id, deviceId or display name {key:?}")),
            _ => Err(format!("several devices are named {key:?}; give the id instead")),
        }
    }

    /// The column of `slot`: a fixed one, or past them a custom extension.
    pub(crate) fn column(&self, slot: usize) -> Option<&ScalarColumn> {
        match slot.checked_sub(COLUMNS) {
            None => self.scalars.get(slot),
            Some(k) => self.extensions.get(k).map(|(_, c)| c),
        }
    }

    /// The slot of custom extension `name` (case-insensitive), if any device has it.
    pub(crate) fn extension_slot(&self, name: &str) -> Option<usize> {
        self.extensions.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)).map(|k| COLUMNS + k)
    }

    /// Rule property names (canonical spelling) that the loaded records used
    /// as field names where Graph spells the field differently, such as
    /// `deviceOSType` for `operatingSystem`: fleetlab does not read them.
    pub fn misnamed_fields(&self) -> &[&'static str] {
        &self.misnamed
    }

    /// True when some device has a value for `property` (for a collection:
    /// an item).
    pub fn carries(&self, property: &crate::rule::Property) -> bool {
        use crate::rule::Property;
        // A lane kept without text still has its mask bits.
        let has = |c: &CollectionColumn| {
            c.lanes.iter().any(|l| l.dict.len() > 0)
                || (c.loaded != u16::MAX && c.mask.iter().any(|&m| m != 0))
        };
        match property {
            Property::Device(DeviceProperty::DevicePhysicalIds) => has(&self.physical_ids),
            Property::Device(DeviceProperty::SystemLabels) => has(&self.system_labels),
            Property::Device(DeviceProperty::MemberOf) => has(&self.member_of),
            Property::Device(p) => {
                scalar_slot(*p).and_then(|s| self.column(s)).is_some_and(|c| c.dict.len() > 0)
            }
            Property::Extension { name, .. } => self.extension_slot(name).is_some(),
            Property::User(_) => false,
        }
    }

    /// The index without the earlier records of repeated ids (the last
    /// record of an id wins; see [`crate::inventory::dedup`]), and the repeats.
    pub fn last_record_wins(
        self,
    ) -> Result<(FleetIndex, Vec<crate::inventory::dedup::Duplicate>), ColumnOverflow> {
        if crate::fleet::unique::ids_unique(&self) {
            return Ok((self, Vec::new()));
        }
        let (keep, duplicates) = crate::inventory::dedup::last_wins((0..self.len).map(|i| self.id(i)));
        if duplicates.is_empty() {
            return Ok((self, duplicates));
        }
        let mut b = FleetBuilder::projected(&self.loaded);
        for i in (0..self.len).filter(|i| keep.get(*i).copied().unwrap_or(true)) {
            if let Some(d) = self.device(i) {
                b.push(&d)?;
                // The rebuilt record lacks items of lanes loaded without text.
                b.physical_ids.set_last_mask(self.physical_ids.mask.get(i).copied().unwrap_or(0));
            }
        }
        let mut index = b.finish();
        index.misnamed = self.misnamed;
        Ok((index, duplicates))
    }

    /// The custom extension names the index holds, as first seen.
    pub fn extension_names(&self) -> impl Iterator<Item = &str> {
        self.extensions.iter().map(|(n, _)| n.as_str())
    }

    fn scalar_str(&self, slot: usize, i: usize) -> Option<&str> {
        let col = self.column(slot)?;
        col.dict.get(col.codes.get(i))
    }

    /// Bytes held, excluding the text of distinct values.
    pub fn structure_bytes(&self) -> usize {
        let coll = |c: &CollectionColumn| {
            c.mask.len() * 2
                + c.lanes
                    .iter()
                    .map(|l| l.first.bytes() + l.extra.len() * 8 + l.dict.offsets.len() * 4)
                    .sum::<usize>()
        };
        self.scalars
            .iter()
            .chain(self.extensions.iter().map(|(_, c)| c))
            .map(|c| c.codes.bytes() + c.dict.offsets.len() * 4)
            .sum::<usize>()
            + coll(&self.physical_ids)
            + coll(&self.system_labels)
            + coll(&self.member_of)
    }

    /// Bytes of distinct text.
    pub fn text_bytes(&self) -> usize {
        let coll = |c: &CollectionColumn| c.lanes.iter().map(|l| l.dict.text.len()).sum::<usize>();
        self.scalars
            .iter()
            .chain(self.extensions.iter().map(|(_, c)| c))
            .map(|c| c.dict.text.len())
            .sum::<usize>()
            + coll(&self.physical_ids)
            + coll(&self.system_labels)
            + coll(&self.member_of)
    }
}

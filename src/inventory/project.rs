//! Projected parsing of Graph device records: only the fields a set of
//! rules reads are decoded, every other value is skipped by the parser
//! without being built.
//!
//! Design decisions:
//!
//! * **One hand-written visitor, no `#[serde(flatten)]`.** The derived
//!   `Device` deserializer buffers every field of every record (flatten
//!   collects the record into serde's internal `Content` tree before the
//!   fields are matched); this visitor matches each key as the parser reads
//!   it, borrowed where the JSON has no escapes, and decodes or skips its
//!   value in place.
//! * **Skipped is not unchecked.** A Graph field the rules do not read is
//!   still type-checked, by a visitor that builds nothing (a string is
//!   borrowed and dropped): a projected load accepts and rejects exactly
//!   the records a full load does, so a type error in any field is an
//!   error naming it whatever the rules read. Fields fleetlab does not know
//!   are skipped, as the full loader skips them. On any error the loaders
//!   parse the record again with the derived deserializer to name the field.
//! * **Always read:** `id` (duplicate ids, output) and `displayName`
//!   (output), unless the answer prints ids alone
//!   ([`Projection::without_display_names`]); rule-style field names are
//!   noticed whatever is projected.
//! * **Lanes of `physicalIds`.** A projection can also name which classes
//!   of `devicePhysicalIds` items (`[ZTDId]`, `[OrderId]`, …: the lanes of
//!   `fleet::column`) keep their text; the columnar loader still records,
//!   per device, which classes it has items in. Only `fleet` narrows this
//!   (`CompiledSet::projection`), from the same lane analysis its planner
//!   uses, and a `FleetIndex` remembers its projection so a rule that needs
//!   more than was loaded is refused, never answered from missing data.

use std::cell::RefCell;

use rustc_hash::FxHashMap;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::inventory::device::{ExtensionAttributes, GroupRef};
use crate::inventory::extra::{is_extension_field, rule_style};
use crate::inventory::Device;
use crate::rule::{DeviceProperty, Property};

/// Graph fields of a device record, in `Field` order.
pub(crate) const FIELDS: [&str; 20] = [
    "id",
    "accountEnabled",
    "deviceCategory",
    "deviceId",
    "deviceOwnership",
    "displayName",
    "enrollmentProfileName",
    "extensionAttributes",
    "isRooted",
    "managementType",
    "manufacturer",
    "mdmAppId",
    "model",
    "operatingSystem",
    "operatingSystemVersion",
    "physicalIds",
    "profileType",
    "systemLabels",
    "trustType",
    "memberOf",
];

/// Which fields of a device record to decode.
///
/// ```
/// use fleetlab::inventory::Projection;
/// use fleetlab::rule::Rule;
/// let rule = Rule::new(r#"device.deviceOSType -eq "Windows""#)?;
/// let p = Projection::for_rules(&[&rule]);
/// assert!(p.reads("operatingSystem") && !p.reads("model"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    /// Bit `k`: decode `FIELDS[k]`.
    fields: u32,
    /// Decode custom directory extensions (`extension_<appId>_<name>`).
    extensions: bool,
    /// Bit `k`: keep the text of `physicalIds` items of lane `k` (the
    /// columnar index's item classes; other readers keep every item).
    physical_id_lanes: u16,
}

impl Default for Projection {
    fn default() -> Self {
        Projection::all()
    }
}

impl Projection {
    /// Every field: what a full load reads.
    pub fn all() -> Projection {
        Projection { fields: u32::MAX, extensions: true, physical_id_lanes: u16::MAX }
    }

    /// The fields `rules` read, plus `id` and `displayName`.
    pub fn for_rules(rules: &[&crate::rule::Rule]) -> Projection {
        Projection::for_properties(rules.iter().flat_map(|r| r.properties()))
    }

    /// The fields `properties` read, plus `id` and `displayName`.
    pub fn for_properties(properties: impl IntoIterator<Item = Property>) -> Projection {
        let mut p = Projection { fields: 0, extensions: false, physical_id_lanes: u16::MAX };
        p.add("id");
        p.add("displayName");
        for property in properties {
            match source(&property) {
                Source::Field(k) => p.fields |= 1 << k,
                Source::Extensions => p.extensions = true,
                Source::Nothing => {}
            }
        }
        p
    }

    /// This projection without `displayName`, unless `rules` read it: for
    /// an answer that prints ids alone, where decoding and keeping two
    /// million names was a tenth of a load.
    ///
    /// ```
    /// use fleetlab::inventory::Projection;
    /// use fleetlab::rule::Rule;
    ///
    /// let os = Rule::new(r#"device.deviceOSType -eq "Windows""#)?;
    /// assert!(!Projection::for_rules(&[&os]).without_display_names(&[&os]).reads("displayName"));
    /// let name = Rule::new(r#"device.displayName -startsWith "KIOSK""#)?;
    /// assert!(Projection::for_rules(&[&name]).without_display_names(&[&name]).reads("displayName"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn without_display_names(mut self, rules: &[&crate::rule::Rule]) -> Projection {
        let Some(k) = FIELDS.iter().position(|f| *f == "displayName") else { return self };
        let read = rules
            .iter()
            .flat_map(|r| r.properties())
            .any(|p| matches!(source(&p), Source::Field(f) if f == k));
        if !read {
            self.fields &= !(1 << k);
        }
        self
    }

    fn add(&mut self, field: &str) {
        if let Some(k) = FIELDS.iter().position(|f| *f == field) {
            self.fields |= 1 << k;
        }
    }

    /// True when the Graph field `field` is decoded.
    pub fn reads(&self, field: &str) -> bool {
        FIELDS.iter().position(|f| *f == field).is_some_and(|k| self.fields & (1 << k) != 0)
    }

    /// True when custom directory extensions are decoded.
    pub(crate) fn reads_extensions(&self) -> bool {
        self.extensions
    }

    /// True when field `k` of [`FIELDS`] is decoded.
    pub(crate) fn reads_field(&self, k: usize) -> bool {
        self.fields & (1 << k) != 0
    }

    /// True when every field is decoded.
    pub fn is_all(&self) -> bool {
        self.fields == u32::MAX && self.extensions && self.physical_id_lanes == u16::MAX
    }

    /// This projection keeping the text of `physicalIds` items only in the
    /// lanes of `lanes` (bits of the columnar index's lane numbers).
    pub(crate) fn with_physical_id_lanes(mut self, lanes: u16) -> Projection {
        self.physical_id_lanes = lanes;
        self
    }

    /// Lanes of `physicalIds` whose item text is kept.
    pub(crate) fn physical_id_lanes(&self) -> u16 {
        if self.reads("physicalIds") {
            self.physical_id_lanes
        } else {
            0
        }
    }

    /// True when `property` is decoded: a rule reading it can be answered
    /// from what this projection loads (for `devicePhysicalIds`, only as
    /// far as the kept lanes go: see `fleet::CompiledSet::compile`).
    pub fn reads_property(&self, property: &Property) -> bool {
        match source(property) {
            Source::Field(k) => self.reads_field(k),
            Source::Extensions => self.extensions,
            Source::Nothing => true,
        }
    }
}

/// What a device record decodes for a rule property: one test of it serves
/// both [`Projection::for_properties`] and [`Projection::reads_property`],
/// so what a projection loads and what it claims to answer cannot differ.
enum Source {
    /// Field `k` of [`FIELDS`].
    Field(usize),
    /// The custom directory extensions.
    Extensions,
    /// Nothing (user properties: users are not loaded through a projection).
    Nothing,
}

fn source(property: &Property) -> Source {
    let field = |name: &str| FIELDS.iter().position(|f| *f == name).map_or(Source::Nothing, Source::Field);
    match property {
        Property::Device(DeviceProperty::ExtensionAttribute(_)) => field("extensionAttributes"),
        Property::Device(d) => field(&d.graph_field()),
        Property::Extension { .. } => Source::Extensions,
        Property::User(_) => Source::Nothing,
    }
}

/// A record's key, classified as the parser reads it.
pub(crate) enum Key {
    Field(usize),
    Extension(String),
    RuleStyle(&'static str),
    Other,
}

thread_local! {
    /// Unknown keys seen before: records of one export share their keys, so
    /// the rule-style check runs once per distinct key and thread.
    static UNKNOWN: RefCell<FxHashMap<Box<str>, Option<&'static str>>> = RefCell::default();
}

pub(crate) fn classify(key: &str) -> Key {
    if let Some(k) = FIELDS.iter().position(|f| *f == key) {
        return Key::Field(k);
    }
    if key.len() > 10 && key.as_bytes()[..10].eq_ignore_ascii_case(b"extension_") && is_extension_field(key) {
        return Key::Extension(key.to_string());
    }
    let style = UNKNOWN.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache.get(key) {
            return *hit;
        }
        let style = rule_style(key);
        if cache.len() < 4096 {
            cache.insert(key.into(), style);
        }
        style
    });
    match style {
        Some(name) => Key::RuleStyle(name),
        None => Key::Other,
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(classify(v))
    }
}

/// Parses one device record, decoding the projected fields; also returns
/// the rule-style field names it used.
pub(crate) struct ProjectedDevice<'p>(pub(crate) &'p Projection);

impl<'de> DeserializeSeed<'de> for ProjectedDevice<'_> {
    type Value = (Device, Vec<&'static str>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProjectedDevice<'_> {
    type Value = (Device, Vec<&'static str>);
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("struct Device")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut d = Device::default();
        let mut seen = 0u32;
        let mut misnamed = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let k = match key {
                Key::Field(k) => k,
                Key::Extension(name) if self.0.extensions => {
                    // As the derived loader reads them.
                    if let Some(text) = super::extra::extension_text(map.next_value()?) {
                        d.extensions.set(&name, text);
                    }
                    continue;
                }
                Key::RuleStyle(name) => {
                    if !misnamed.contains(&name) {
                        misnamed.push(name);
                    }
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Key::Extension(_) | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if seen & (1 << k) != 0 {
                return Err(A::Error::duplicate_field(FIELDS.get(k).copied().unwrap_or("")));
            }
            seen |= 1 << k;
            // extensionAttributes and memberOf are small and rare: decoded
            // either way, so their (nested) checks are the derived ones.
            if self.0.fields & (1 << k) == 0 && k != 7 && k != 19 {
                let kind = match k {
                    1 | 8 => Check::Bool,
                    15 | 17 => Check::StrList,
                    _ => Check::Str,
                };
                map.next_value_seed(kind)?;
                continue;
            }
            set_field(&mut d, k, &mut map)?;
        }
        if seen & 1 == 0 {
            return Err(A::Error::missing_field("id"));
        }
        Ok((d, misnamed))
    }
}

/// The type of a field that is checked but not decoded.
#[derive(Clone, Copy)]
enum Check {
    /// `Option<String>`: a string or null.
    Str,
    /// A string (an item of a list).
    StrItem,
    /// `Option<bool>`.
    Bool,
    /// `Option<Vec<String>>`.
    StrList,
}

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Str => "a string or null",
            Check::StrItem => "a string",
            Check::Bool => "a boolean or null",
            Check::StrList => "a list of strings or null",
        })
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        match self {
            Check::Str | Check::StrItem => Ok(()),
            _ => Err(E::invalid_type(serde::de::Unexpected::Str(v), &self)),
        }
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        match self {
            Check::Bool => Ok(()),
            _ => Err(E::invalid_type(serde::de::Unexpected::Bool(v), &self)),
        }
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        match self {
            Check::StrItem => Err(E::invalid_type(serde::de::Unexpected::Unit, &self)),
            _ => Ok(()),
        }
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self {
            Check::StrList => {
                while seq.next_element_seed(Check::StrItem)?.is_some() {}
                Ok(())
            }
            _ => Err(serde::de::Error::invalid_type(serde::de::Unexpected::Seq, &self)),
        }
    }
}

/// Decodes field `k` of `FIELDS` into `d`, with the derived deserializer's
/// types.
fn set_field<'de, A: MapAccess<'de>>(d: &mut Device, k: usize, map: &mut A) -> Result<(), A::Error> {
    let s = |map: &mut A| map.next_value::<Option<String>>();
    match k {
        0 => d.id = map.next_value::<String>()?,
        1 => d.account_enabled = map.next_value()?,
        2 => d.device_category = s(map)?,
        3 => d.device_id = s(map)?,
        4 => d.device_ownership = s(map)?,
        5 => d.display_name = s(map)?,
        6 => d.enrollment_profile_name = s(map)?,
        7 => d.extension_attributes = map.next_value::<Option<ExtensionAttributes>>()?,
        8 => d.is_rooted = map.next_value()?,
        9 => d.management_type = s(map)?,
        10 => d.manufacturer = s(map)?,
        11 => d.mdm_app_id = s(map)?,
        12 => d.model = s(map)?,
        13 => d.operating_system = s(map)?,
        14 => d.operating_system_version = s(map)?,
        15 => d.physical_ids = map.next_value()?,
        16 => d.profile_type = s(map)?,
        17 => d.system_labels = map.next_value()?,
        18 => d.trust_type = s(map)?,
        _ => {
            let groups = map.next_value::<Option<Vec<GroupRef>>>()?;
            d.set_member_of(groups.map(|g| g.iter().map(|r| r.id().to_string()).collect()));
        }
    }
    Ok(())
}

/// Parses one JSON Lines record with `projection`; `None` when it is not a
/// valid record (the caller re-parses it with the derived deserializer to
/// say why).
pub(crate) fn parse_record(text: &str, projection: &Projection) -> Option<(Device, Vec<&'static str>)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = ProjectedDevice(projection).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::{source, Source};
    use crate::rule::{DeviceProperty, Property};

    /// Every device property is read from a Graph field a projection can
    /// name, so no device rule is answered from a field no load decodes.
    #[test]
    fn every_device_property_has_a_field() {
        for d in DeviceProperty::all() {
            assert!(matches!(source(&Property::Device(d)), Source::Field(_)), "{d:?}");
        }
    }
}

//! Top-level fields of a Graph record that the typed structs have no field
//! for: custom directory extensions, which rules read, and rule-style
//! names, which betray a hand-written inventory.
//!
//! Graph returns a directory extension as a top-level property named
//! `extension_<appId>_<name>` when it is selected
//! (groups-dynamic-membership, "Custom extension properties"), so its name
//! is only known at run time. Decision: keep those values (as text: rules
//! compare extensions as strings) and, of every other unknown field, only
//! whether it is a rule property name that Graph spells differently
//! (`deviceOSType` for `operatingSystem`), so a loader can say which field
//! to rename. Nothing else is kept, so unknown Graph fields cost no memory.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};

use crate::rule::{DeviceProperty, UserProperty};

/// Custom directory extensions of a record, and rule-style field names seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extensions {
    values: Vec<(String, String)>,
    misnamed: Vec<&'static str>,
}

impl Extensions {
    /// The value of `extension_<appId>_<name>`, looked up case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every extension as `(name, value)`, in record order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets (or replaces) an extension value.
    pub fn set(&mut self, name: &str, value: String) {
        match self.values.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name.to_string(), value)),
        }
    }

    /// True when the record has no extension.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Rule property names the record used as field names, where Graph
    /// names the field differently (canonical rule spelling).
    pub fn misnamed(&self) -> &[&'static str] {
        &self.misnamed
    }
}

/// True for `extension_<32 hex>_<name>`.
pub(crate) fn is_extension_field(name: &str) -> bool {
    crate::rule::Property::lookup(crate::rule::ObjectType::Device, name)
        .is_some_and(|p| matches!(p, crate::rule::Property::Extension { .. }))
}

/// The canonical rule name when `field` is a rule property name whose
/// Graph field is spelled differently.
pub(crate) fn rule_style(field: &str) -> Option<&'static str> {
    let device = DeviceProperty::all().map(|p| (p.name(), p.graph_field()));
    let user = UserProperty::all().map(|p| (p.name(), p.graph_field()));
    device.chain(user).find_map(|(name, graph)| {
        let differs = !name.eq_ignore_ascii_case(&graph) || name != graph;
        match name {
            std::borrow::Cow::Borrowed(n) if differs && n.eq_ignore_ascii_case(field) && graph != field => {
                Some(n)
            }
            _ => None,
        }
    })
}

struct ExtensionsVisitor;

impl<'de> Visitor<'de> for ExtensionsVisitor {
    type Value = Extensions;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fields of a Graph object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extensions, A::Error> {
        let mut out = Extensions::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if is_extension_field(&key) {
                if let Some(text) = extension_text(map.next_value()?) {
                    out.set(&key, text);
                }
                continue;
            }
            if let Some(name) = rule_style(&key) {
                if !out.misnamed.contains(&name) {
                    out.misnamed.push(name);
                }
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for Extensions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Extensions, D::Error> {
        d.deserialize_map(ExtensionsVisitor)
    }
}

impl Serialize for Extensions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.values.iter().map(|(k, v)| (k, v)))
    }
}

/// The text an extension attribute's JSON value stands for in rules: strings
/// as they are, numbers and booleans as written; anything else (arrays,
/// objects, null) is no value, since multi-valued extensions are not
/// supported in rules (groups-dynamic-membership).
pub(crate) fn extension_text(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_extensions_and_notes_rule_style_names() -> Result<(), serde_json::Error> {
        let e: Extensions = serde_json::from_str(
            r#"{"extension_c272a57b722d4eb29bfe327874ae79cb_Site": "AMS", "deviceOSType": "Windows",
                "extension_c272a57b722d4eb29bfe327874ae79cb_Floor": 3, "other": [1]}"#,
        )?;
        assert_eq!(e.get("EXTENSION_c272a57b722d4eb29bfe327874ae79cb_site"), Some("AMS"));
        assert_eq!(e.get("extension_c272a57b722d4eb29bfe327874ae79cb_Floor"), Some("3"));
        assert_eq!(e.misnamed(), ["deviceOSType"]);
        assert_eq!(rule_style("displayName"), None);
        assert_eq!(rule_style("devicePhysicalIds"), Some("devicePhysicalIds"));
        Ok(())
    }
}

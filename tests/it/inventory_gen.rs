//! Random Graph `device` records and rule literals, shared by the property
//! tests that compare another evaluator with the reference one
//! (`columnar_props.rs`: the columnar evaluator; `sql.rs`: the SQL
//! translation run by DuckDB, DataFusion and Spark).
//!
//! Records are built as JSON rather than as [`Device`] values so a field can
//! be missing, `null`, empty or set, exactly the four states an inventory
//! file can hold and the evaluators must agree on. Each test keeps its own
//! value pools (they stress different things); the shapes live here.
//!
//! Case counts scale with `FLEETLAB_PROP_SCALE` ([`cases`]), so a deeper
//! search needs no edit: `FLEETLAB_PROP_SCALE=20 cargo test --test it sql`.

use fleetlab::inventory::Device;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value};

/// `n` cases, times `FLEETLAB_PROP_SCALE` when that is set to a positive
/// number.
pub fn cases(n: u32) -> ProptestConfig {
    let scale = std::env::var("FLEETLAB_PROP_SCALE").ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or(1);
    ProptestConfig::with_cases(n.saturating_mul(scale.max(1)))
}

/// A field's value from `pool`: `None` (the field is missing) or
/// `Some(Null)` now and then.
pub fn opt_text(pool: &'static [&'static str]) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => select(pool).prop_map(|s| Some(Value::String(s.into()))),
    ]
    .boxed()
}

/// A boolean field: missing, `null`, `true` or `false`.
pub fn opt_bool() -> BoxedStrategy<Option<Value>> {
    select(&[None, Some(Value::Null), Some(Value::Bool(true)), Some(Value::Bool(false))][..]).boxed()
}

/// A list field: missing, `null`, `[]`, or 1 to `max - 1` items.
pub fn opt_list(items: BoxedStrategy<Value>, max: usize) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(Value::Array(Vec::new()))),
        6 => prop::collection::vec(items, 1..max).prop_map(|v| Some(Value::Array(v))),
    ]
    .boxed()
}

/// One string from `pool`, as a JSON value.
pub fn string_item(pool: &'static [&'static str]) -> BoxedStrategy<Value> {
    select(pool).prop_map(|s| Value::String(s.into())).boxed()
}

/// What a random device record is made of. `strings` are Graph field
/// names, each set from `values`; `extension_slots` the
/// `extensionAttributes` slots that get a value from `values` too.
pub struct DeviceShape {
    pub strings: &'static [&'static str],
    pub values: &'static [&'static str],
    pub extension_slots: &'static [u8],
    pub physical_ids: BoxedStrategy<Option<Value>>,
    pub system_labels: BoxedStrategy<Option<Value>>,
    pub member_of: BoxedStrategy<Option<Value>>,
}

/// `extensionAttributes`: missing, `null`, or an object whose slots are
/// each missing, `null` or set.
fn extension_attributes(
    slots: &'static [u8],
    values: &'static [&'static str],
) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        4 => prop::collection::vec(opt_text(values), slots.len()).prop_map(move |vals| {
            let mut m = Map::new();
            for (slot, v) in slots.iter().zip(vals) {
                put(&mut m, &format!("extensionAttribute{slot}"), v);
            }
            Some(Value::Object(m))
        }),
    ]
    .boxed()
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.into(), v);
    }
}

/// One Graph device record as JSON, without an `id` (each test has its own
/// idea of ids: drawn from the values, or unique).
pub fn device_json(shape: DeviceShape) -> BoxedStrategy<Value> {
    let DeviceShape { strings, values, extension_slots, physical_ids, system_labels, member_of } = shape;
    (
        prop::collection::vec(opt_text(values), strings.len()),
        (opt_bool(), opt_bool()),
        extension_attributes(extension_slots, values),
        (physical_ids, system_labels, member_of),
    )
        .prop_map(move |(vals, (enabled, rooted), ext, (physical, labels, groups))| {
            let mut m = Map::new();
            for (key, v) in strings.iter().zip(vals) {
                put(&mut m, key, v);
            }
            put(&mut m, "accountEnabled", enabled);
            put(&mut m, "isRooted", rooted);
            put(&mut m, "extensionAttributes", ext);
            put(&mut m, "physicalIds", physical);
            put(&mut m, "systemLabels", labels);
            put(&mut m, "memberOf", groups);
            Value::Object(m)
        })
        .boxed()
}

/// The records as devices, the way an inventory file is read.
pub fn devices_from(json: Vec<Value>) -> Result<Vec<Device>, TestCaseError> {
    serde_json::from_value(Value::Array(json)).map_err(|e| TestCaseError::fail(format!("device JSON: {e}")))
}

/// A rule string literal whose decoded value is `s`: double quotes with
/// backtick escapes, or single quotes with `''`.
pub fn quote(s: &str, single: bool) -> String {
    if single {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("`\""),
                '`' => out.push_str("``"),
                '\'' => out.push_str("''"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

//! Property tests of the fast load paths: a packed index opened by mapping
//! and by reading, JSON Lines loaded whole and projected to a rule's
//! fields, all select exactly the devices the reference evaluator
//! (`Rule::matches` on `inventory::Device`) selects; and damaged packs
//! (truncated, any byte changed, foreign files, old versions) give errors,
//! never panics and never answers from unverified bytes.

use std::path::Path;

use fleetlab::fleet::{load_index, load_index_projected, pack, CompiledSet, FleetIndex};
use fleetlab::inventory::{Device, Projection};
use fleetlab::rule::Rule;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::inventory_gen::{cases, device_json, devices_from, opt_list, string_item, DeviceShape};

const VALUES: &[&str] = &["Windows", "windows", "iOS", "", "Company", "İstanbul", "A,b\"c", "x\ny"];

const ITEMS: &[&str] = &[
    "[ZTDId]:a1",
    "[ztdid]:A2",
    "[OrderId]:NL-LT",
    "[OrderID]:NL-DT",
    "[HWID]:h:1",
    "[GID]:g",
    "odd",
    "",
    "[ZTDI",
];

const RULES: &[&str] = &[
    r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#,
    r#"device.deviceOSType -eq "Windows""#,
    r#"device.devicePhysicalIds -any (_ -eq "[OrderId]:NL-LT")"#,
    r#"device.devicePhysicalIds -all (_ -startsWith "[")"#,
    r#"device.deviceOwnership -ne "Company" -or device.accountEnabled -eq true"#,
    r#"device.displayName -contains "stan""#,
    r#"device.extensionAttribute3 -eq "Company""#,
    r#"device.systemLabels -contains "M365Managed""#,
    r#"device.deviceModel -eq null"#,
    r#"device.devicePhysicalIds -any (_ -match "^\[orderid\]:nl-.t$")"#,
];

fn shape() -> DeviceShape {
    DeviceShape {
        strings: &["operatingSystem", "deviceOwnership", "displayName", "model"],
        values: VALUES,
        extension_slots: &[3],
        physical_ids: opt_list(string_item(ITEMS), 5),
        system_labels: opt_list(string_item(&["M365Managed", "x"]), 3),
        member_of: Just(None).boxed(),
    }
}

/// Records with unique ids (packs are made after duplicate ids are resolved).
fn fleet() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(device_json(shape()), 0..40).prop_map(|records| {
        records
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                if let Value::Object(m) = &mut r {
                    m.insert("id".into(), Value::String(format!("dev-{i}")));
                }
                r
            })
            .collect()
    })
}

fn members(index: &FleetIndex, rule: &Rule) -> Result<Vec<usize>, TestCaseError> {
    let set = CompiledSet::compile(&[rule], index).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(set.evaluate().first().map(|b| b.ones().collect()).unwrap_or_default())
}

fn reference(devices: &[Device], rule: &Rule) -> Vec<usize> {
    devices.iter().enumerate().filter(|(_, d)| rule.matches(*d)).map(|(i, _)| i).collect()
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn every_load_path_agrees_with_the_reference(records in fleet(), pick in select(RULES)) {
        let rule = Rule::new(pick).map_err(|e| fail(format!("{e:?}")))?;
        let devices = devices_from(records.clone())?;
        let expected = reference(&devices, &rule);
        let dir = tempfile::tempdir().map_err(fail)?;
        let lines = dir.path().join("devices.jsonl");
        let text: String = records.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(&lines, text).map_err(fail)?;
        let full = load_index(&lines, &|_| {}).map_err(fail)?;
        let projected = load_index_projected(&lines, &|_| {}, &Projection::for_rules(&[&rule])).map_err(fail)?;
        // The same records as a JSON array and as a Graph page (split into
        // records by the scanner and parsed in parallel).
        let array = dir.path().join("devices.json");
        std::fs::write(&array, serde_json::to_string_pretty(&records).map_err(fail)?).map_err(fail)?;
        let from_array = load_index_projected(&array, &|_| {}, &Projection::for_rules(&[&rule])).map_err(fail)?;
        let page = dir.path().join("page.json");
        let body = serde_json::json!({"@odata.context": "x[", "value": records, "@odata.nextLink": [{"id": 1}]});
        std::fs::write(&page, body.to_string()).map_err(fail)?;
        let from_page = load_index(&page, &|_| {}).map_err(fail)?;
        prop_assert_eq!(&from_page, &full);
        let packed = dir.path().join("devices.fleet");
        std::fs::write(&packed, pack::to_bytes(&full).map_err(fail)?).map_err(fail)?;
        let mapped = FleetIndex::open(&packed).map_err(fail)?;
        let read = FleetIndex::read(&packed).map_err(fail)?;
        let paths = [("full", &full), ("projected", &projected), ("array", &from_array), ("page", &from_page),
                     ("mapped", &mapped), ("read", &read)];
        for (what, index) in paths {
            prop_assert_eq!(&members(index, &rule)?, &expected, "{} load, rule {}", what, pick);
        }
        mapped.verify().map_err(fail)?;
        prop_assert_eq!(&mapped, &full);
        for i in 0..devices.len() {
            prop_assert_eq!(mapped.id(i), full.id(i));
            prop_assert_eq!(mapped.display_name(i), full.display_name(i));
        }
    }

    /// Any single changed byte of a pack is caught by opening, by compiling
    /// a rule over the damaged section, or by a full verification; a pack
    /// that still opens and compiles gives the reference answer.
    #[test]
    fn damaged_packs_are_errors_not_panics_or_wrong_answers(
        records in fleet(),
        pick in select(RULES),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let rule = Rule::new(pick).map_err(|e| fail(format!("{e:?}")))?;
        let devices = devices_from(records)?;
        let index = FleetIndex::from_devices(&devices).map_err(fail)?;
        let mut bytes = pack::to_bytes(&index).map_err(fail)?;
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        let name = Path::new("damaged.fleet");
        let Ok(opened) = pack::from_bytes(&bytes, name) else { return Ok(()) };
        if let Ok(set) = CompiledSet::compile(&[&rule], &opened) {
            let got: Vec<usize> = set.evaluate().first().map(|b| b.ones().collect()).unwrap_or_default();
            prop_assert_eq!(got, reference(&devices, &rule), "byte {} changed", i);
        }
        prop_assert!(opened.verify().is_err(), "byte {} changed, verification passed", i);
    }

    /// Truncated packs and arbitrary bytes behind the magic are errors.
    #[test]
    fn truncated_and_foreign_files_are_errors(records in fleet(), cut in any::<prop::sample::Index>(),
                                              junk in prop::collection::vec(any::<u8>(), 0..200)) {
        let devices = devices_from(records)?;
        let bytes = pack::to_bytes(&FleetIndex::from_devices(&devices).map_err(fail)?).map_err(fail)?;
        let name = Path::new("cut.fleet");
        let n = cut.index(bytes.len());
        prop_assert!(pack::from_bytes(&bytes[..n], name).is_err());
        let mut foreign = b"FLEETLAB".to_vec();
        foreign.extend_from_slice(&junk);
        let _ = pack::from_bytes(&foreign, name).and_then(|ix| ix.verify());
        prop_assert!(pack::from_bytes(&junk, name).is_err() || junk.starts_with(b"FLEETLAB"));
    }
}

#[test]
fn opening_checks_only_the_layout_and_errors_name_the_file() -> Result<(), Box<dyn std::error::Error>> {
    let devices: Vec<Device> = serde_json::from_str(
        r#"[{"id": "a", "operatingSystem": "Windows", "physicalIds": ["[ZTDId]:1"]},
            {"id": "b", "operatingSystem": "iOS", "model": "M"}]"#,
    )?;
    let good = pack::to_bytes(&FleetIndex::from_devices(&devices)?)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("devices.fleet");
    // Damage the last byte: the last section (an extension-free tail) or
    // the model column's codes, which the Autopilot rule does not read.
    let mut bytes = good.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes)?;
    let index = FleetIndex::open(&path)?;
    let err = index.verify().map(|_| String::new()).unwrap_or_else(|e| e.to_string());
    assert!(err.contains("devices.fleet") && err.contains("re-pack"), "{err}");
    // An old format names the command that fixes it.
    let mut old = good;
    old[8] = 2;
    std::fs::write(&path, &old)?;
    let err = FleetIndex::open(&path).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
    assert!(err.contains("fleetlab inventory pack"), "{err}");
    Ok(())
}

#[test]
fn projected_loads_name_the_line_and_column_of_bad_records() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("devices.jsonl");
    std::fs::write(&path, "{\"id\": \"a\"}\n\n{\"id\": \"b\", \"operatingSystem\": 7}\n")?;
    let rule = Rule::new(r#"device.deviceOSType -eq "Windows""#)?;
    let err = load_index_projected(&path, &|_| {}, &Projection::for_rules(&[&rule]))
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string());
    assert!(err.contains(":3:") && err.contains("record 1 (operatingSystem)"), "{err}");
    std::fs::write(&path, "{\"id\": \"a\"}\n{\"id\": \"b\",\n")?;
    let err = load_index_projected(&path, &|_| {}, &Projection::for_rules(&[&rule]))
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string());
    assert!(err.contains(":2:") && err.contains("not valid JSON"), "{err}");
    Ok(())
}

//! The chunked JSON Lines path against serde and the row reference, with
//! pieces cut at every position.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::lines;
use crate::fleet::{CompileError, CompiledSet, FleetIndex};
use crate::inventory::{Device, InventoryError, Projection};
use crate::rule::Rule;

const RULES: [&str; 9] = [
    r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#,
    r#"device.displayName -contains "é" -or device.extensionAttribute3 -eq "Windows""#,
    r#"device.accountEnabled -eq true -and device.systemLabels -contains "L""#,
    r#"device.extension_c272a57b722d4eb29bfe327874ae79cb_Site -eq "AMS""#,
    r#"device.memberOf -any (group.objectId -in ['Windows', 'x\"y'])"#,
    r#"device.devicePhysicalIds -any (_ -eq "[OrderId]:a")"#,
    r#"device.devicePhysicalIds -all (_ -startsWith "[ZTDId]")"#,
    r#"device.devicePhysicalIds -any (_ -match "^\[ztdid\]:[0-9]")"#,
    r#"(device.devicePhysicalIds -any (_ -startsWith "[OrderId]")) -and (device.devicePhysicalIds -any (_ -contains "é"))"#,
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("Windows".to_string()),
        Just("a\"b\\c\n".to_string()),
        Just("é€😀".to_string()),
        Just("x\"y".to_string()),
        "[a-zA-Z0-9 ]{0,6}",
        "[a-f0-9]{1,4}".prop_map(|s| format!("[ZTDId]:{s}")),
        ("(OrderId|ORDERID|HWID|GID|zTdId)", "[aé0-9]{1,2}").prop_map(|(p, v)| format!("[{p}]:{v}")),
    ]
}

fn opt_text() -> impl Strategy<Value = Value> {
    prop_oneof![Just(Value::Null), text().prop_map(Value::String)]
}

fn record() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "id",
        "displayName",
        "operatingSystem",
        "deviceId",
        "accountEnabled",
        "physicalIds",
        "systemLabels",
        "extensionAttributes",
        "memberOf",
        "deviceOSType",
        "extension_c272a57b722d4eb29bfe327874ae79cb_Site",
        "other",
    ]);
    (text(), prop::collection::vec((names, opt_text(), prop::collection::vec(text(), 0..3), 0u8..4), 0..8))
        .prop_map(|(id, fields)| {
            let mut m = Map::new();
            m.insert("id".into(), Value::String(id));
            for (name, v, list, shape) in fields {
                let value = match (name, shape) {
                    ("id", _) => continue,
                    ("accountEnabled", 0) => Value::Null,
                    ("accountEnabled", s) => Value::Bool(s % 2 == 0),
                    ("physicalIds" | "systemLabels", 0) => Value::Null,
                    ("physicalIds" | "systemLabels", _) => json!(list),
                    ("memberOf", 0) => json!(list),
                    ("memberOf", _) => json!(list.iter().map(|g| json!({"id": g})).collect::<Vec<_>>()),
                    ("extensionAttributes", 0) => Value::Null,
                    ("extensionAttributes", s) => {
                        json!({format!("extensionAttribute{}", s * 3): v, "x": [1, {"y": 2.5}]})
                    }
                    ("other", s) => json!([s, -1, list, {"k": v}]),
                    ("extension_c272a57b722d4eb29bfe327874ae79cb_Site", 1) => json!(7),
                    _ => v,
                };
                m.insert(name.to_string(), value);
            }
            Value::Object(m)
        })
}

/// A file of `records`, with blank lines, CRLF, padding and a BOM as chosen.
fn file(records: &[Value], crlf: bool, blank: bool, bom: bool, pad: bool) -> String {
    let mut out = String::new();
    if bom {
        out.push('\u{feff}');
    }
    for (k, r) in records.iter().enumerate() {
        if blank && k % 3 == 1 {
            out.push_str(if crlf { "  \r\n" } else { "\n" });
        }
        if pad {
            out.push_str(" \t");
        }
        out.push_str(&r.to_string());
        if pad {
            out.push(' ');
        }
        out.push_str(if crlf { "\r\n" } else { "\n" });
    }
    out
}

fn load(text: &str, projection: &Projection, piece: usize) -> Result<FleetIndex, InventoryError> {
    let dir = tempfile::tempdir().map_err(|source| InventoryError::Io { path: "tmp".into(), source })?;
    let path = dir.path().join("devices.jsonl");
    std::fs::write(&path, text).map_err(|source| InventoryError::Io { path: path.clone(), source })?;
    lines::stream(&path, &|_| {}, projection, piece)
}

fn members(index: &FleetIndex, rule: &Rule) -> Vec<usize> {
    match CompiledSet::compile(&[rule], index) {
        Ok(set) => set.evaluate().first().map(|b| b.ones().collect()).unwrap_or_default(),
        Err(_) => vec![usize::MAX],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn chunked_loads_equal_serde_and_the_reference(
        records in prop::collection::vec(record(), 0..12),
        crlf: bool, blank: bool, bom: bool, pad: bool,
        piece in 1usize..400,
        pick in 0..RULES.len(),
    ) {
        let text = file(&records, crlf, blank, bom, pad);
        let devices: Vec<Device> = records
            .iter()
            .map(|r| serde_json::from_value(r.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let full = load(&text, &Projection::all(), piece).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let reference = FleetIndex::from_devices(&devices).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(full.len(), devices.len());
        for i in 0..devices.len() {
            prop_assert_eq!(full.device(i), reference.device(i));
        }
        let rule = Rule::new(RULES[pick]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want: Vec<usize> = devices.iter().enumerate().filter(|(_, d)| rule.matches(*d)).map(|(i, _)| i).collect();
        let projected = load(&text, &CompiledSet::projection(&[&rule]), piece)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(members(&projected, &rule), want.clone());
        // Without names (an answer of ids alone): the same members and ids.
        let ids_only = CompiledSet::projection(&[&rule]).without_display_names(&[&rule]);
        let ids_only = load(&text, &ids_only, piece).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(members(&ids_only, &rule), want.clone());
        for i in 0..devices.len() {
            prop_assert_eq!(ids_only.id(i), full.id(i));
        }
        prop_assert_eq!(members(&full, &rule), want);
        prop_assert_eq!(full.misnamed_fields(), projected.misnamed_fields());
        // A projected index answers every other rule exactly or refuses it.
        for other in RULES {
            let other = Rule::new(other).map_err(|e| TestCaseError::fail(e.to_string()))?;
            match CompiledSet::compile(&[&other], &projected) {
                Ok(set) => {
                    let got: Vec<usize> = set.evaluate()[0].ones().collect();
                    prop_assert_eq!(got, members(&full, &other), "{}", other.source());
                }
                Err(e) => prop_assert!(matches!(e, CompileError::NotLoaded { .. }), "{}", e),
            }
        }
        // Repeated ids keep their last record, lane masks included.
        let (full_last, _) = full.clone().last_record_wins().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (projected_last, _) = projected.last_record_wins().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(members(&projected_last, &rule), members(&full_last, &rule));
    }

    #[test]
    fn repeated_ids_keep_the_last_record_in_projected_loads(
        records in prop::collection::vec((0u8..4, any::<bool>(), prop::collection::vec(text(), 0..3), record()), 0..12),
        piece in 1usize..400,
    ) {
        // Few distinct ids, so most files repeat some; half the devices
        // Windows, so the lane rules select some.
        let records: Vec<Value> = records
            .into_iter()
            .map(|(id, windows, items, mut r)| {
                r["id"] = json!(format!("d{id}"));
                if windows {
                    r["operatingSystem"] = json!("Windows");
                    r["physicalIds"] = json!(items);
                }
                r
            })
            .collect();
        let text = file(&records, false, false, false, false);
        let full = load(&text, &Projection::all(), piece).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (full, _) = full.last_record_wins().map_err(|e| TestCaseError::fail(e.to_string()))?;
        for pick in RULES {
            let rule = Rule::new(pick).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let projected = load(&text, &CompiledSet::projection(&[&rule]), piece)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (projected, _) = projected.last_record_wins().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(members(&projected, &rule), members(&full, &rule), "{}", pick);
        }
    }

    #[test]
    fn malformed_records_give_the_row_loaders_error(
        records in prop::collection::vec(record(), 1..8),
        bad in 0usize..8,
        kind in 0usize..6,
        piece in 1usize..300,
    ) {
        let bad = bad % records.len();
        let mut lines: Vec<String> = records.iter().map(Value::to_string).collect();
        let broken = match kind {
            0 => r#"{"id": "z", "accountEnabled": "yes"}"#.to_string(),
            1 => r#"{"id": "z", "physicalIds": [1]}"#.to_string(),
            2 => r#"{"id": "z",}"#.to_string(),
            3 => r#"{"operatingSystem": "Windows"}"#.to_string(),
            4 => r#"{"id": "z", "extensionAttributes": {"extensionAttribute1": 5}}"#.to_string(),
            _ => "{\"id\": \"z\u{1}\"}".to_string(),
        };
        lines[bad] = broken.clone();
        let text = lines.join("\n");
        let got = load(&text, &Projection::all(), piece).map(|i| i.len()).map_err(|e| e.to_string());
        let path = "devices.jsonl";
        let want = crate::inventory::load::parse_line::<Device>(&broken, bad + 1, bad, std::path::Path::new(path))
            .map(|_| 0)
            .map_err(|e| e.to_string());
        let got = got.map_err(|e| e.rsplit_once(path).map(|(_, m)| m.to_string()).unwrap_or(e));
        let want = want.map_err(|e| e.rsplit_once(path).map(|(_, m)| m.to_string()).unwrap_or(e));
        prop_assert_eq!(got, want);
    }
}

/// Bytes a mutation writes: JSON's structure, the starts of literals, and
/// the characters an escape or a number is made of.
const MUTATIONS: &[u8] = b"{}[]\",: \\/0123456789-+.eEtrufalsnbx\x01\xc3\xa9";

/// A record with one byte replaced, inserted or deleted (ASCII line breaks
/// excepted, so the record stays one line).
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (record(), any::<prop::sample::Index>(), 0u8..3, prop::sample::select(MUTATIONS.to_vec())).prop_map(
        |(r, at, how, byte)| {
            let mut bytes = r.to_string().into_bytes();
            let i = at.index(bytes.len().max(1));
            match how {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
            bytes
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The scanner must never accept a record serde rejects, nor reject
    /// one serde accepts, nor read an accepted one differently: a record
    /// one byte away from valid JSON is where a hand-written scanner slips.
    #[test]
    fn a_mutated_record_is_accepted_exactly_when_serde_accepts_it(
        line in mutated(),
        before in prop::collection::vec(record(), 0..3),
        piece in prop::sample::select(vec![7usize, 64, 1 << 20]),
    ) {
        let path = std::path::Path::new("devices.jsonl");
        let reference = std::str::from_utf8(&line)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| crate::inventory::load::parse_line::<Device>(t, 1, 0, path).ok());
        let mut bytes: Vec<u8> = Vec::new();
        for r in &before {
            bytes.extend_from_slice(r.to_string().as_bytes());
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(&line);
        bytes.push(b'\n');
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let file = dir.path().join("devices.jsonl");
        std::fs::write(&file, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rule = Rule::new(RULES[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for projection in [Projection::all(), Projection::for_rules(&[&rule])] {
            let got = lines::stream(&file, &|_| {}, &projection, piece);
            match (&reference, &got) {
                // A line of whitespace only (a deleted byte) is skipped.
                (None, _) if std::str::from_utf8(&line).is_ok() => {
                    prop_assert_eq!(got.map(|i| i.len()).ok(), Some(before.len()));
                }
                (None, _) | (Some(None), _) => prop_assert!(got.is_err(), "accepted {:?}", String::from_utf8_lossy(&line)),
                (Some(Some(device)), Ok(index)) => {
                    prop_assert_eq!(index.len(), before.len() + 1);
                    if projection.is_all() {
                        let want = FleetIndex::from_devices(std::slice::from_ref(device))
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        prop_assert_eq!(index.device(before.len()), want.device(0));
                    }
                }
                (Some(Some(_)), Err(e)) => {
                    prop_assert!(false, "rejected {:?}: {}", String::from_utf8_lossy(&line), e)
                }
            }
        }
    }
}

#[test]
fn invalid_utf8_names_its_line_at_any_piece_size() {
    let mut bytes = b"{\"id\": \"a\"}\n{\"id\": \"b\xff\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"id\": \"c\"}\n");
    for piece in [1, 5, 13, 64, 1 << 20] {
        let dir = tempfile::tempdir().ok();
        let Some(path) = dir.as_ref().map(|d| d.path().join("d.jsonl")) else { return };
        assert!(std::fs::write(&path, &bytes).is_ok());
        let e =
            lines::stream(&path, &|_| {}, &Projection::all(), piece).map(|_| ()).map_err(|e| e.to_string());
        let e = e.err().unwrap_or_default();
        assert!(e.contains(":2:") && e.contains("invalid UTF-8 (byte 0xFF)"), "{piece}: {e}");
    }
}

/// Past `column::PROBE` values, columns of unique values stop
/// deduplicating and chunks stop hashing them (a value seen again gets a
/// second code): the index still answers as the row reference, whatever
/// the piece size.
#[test]
fn unique_columns_keep_every_value_at_any_piece_size() -> Result<(), Box<dyn std::error::Error>> {
    let mut text = String::new();
    let mut devices = Vec::new();
    for i in 0..20_000u32 {
        let r = json!({
            "id": format!("id-{i}"),
            "displayName": if i % 7 == 0 { "same".to_string() } else { format!("n{i}") },
            "operatingSystem": if i % 2 == 0 { "Windows" } else { "iOS" },
            "physicalIds": [format!("[ZTDId]:{}", i % 15_000), format!("[OrderId]:o{}", i % 3), "x"],
        });
        text.push_str(&r.to_string());
        text.push('\n');
        devices.push(serde_json::from_value::<Device>(r)?);
    }
    let reference = FleetIndex::from_devices(&devices)?;
    for piece in [4_000, 100_000, 1 << 24] {
        let index = load(&text, &Projection::all(), piece)?;
        assert_eq!(index.len(), devices.len());
        for i in (0..devices.len()).step_by(97).chain([devices.len() - 1]) {
            assert_eq!(index.device(i), reference.device(i), "{piece}: {i}");
        }
        for rule in [
            RULES[0],
            r#"device.displayName -eq "same""#,
            r#"device.devicePhysicalIds -any (_ -eq "[ZTDId]:14999")"#,
        ] {
            let rule = Rule::new(rule)?;
            let want: Vec<usize> = (0..devices.len()).filter(|&i| rule.matches(&devices[i])).collect();
            assert_eq!(members(&index, &rule), want, "{piece}");
        }
    }
    Ok(())
}

/// An index loaded for some rules answers them from lane masks alone, and
/// refuses (never answers wrongly) a rule that reads what it left out.
#[test]
fn a_projected_index_refuses_what_it_did_not_load() -> Result<(), Box<dyn std::error::Error>> {
    let text = "{\"id\":\"a\",\"operatingSystem\":\"Windows\",\"model\":\"X1\",\
                \"physicalIds\":[\"[ZTDId]:1\",\"[OrderId]:o\"]}\n{\"id\":\"b\"}\n";
    let autopilot = Rule::new(RULES[0])?;
    let index = load(text, &CompiledSet::projection(&[&autopilot]), 1 << 20)?;
    assert_eq!(members(&index, &autopilot), vec![0]);
    assert_eq!(index.physical_ids.lanes.iter().map(|l| l.dict.len()).sum::<usize>(), 0);
    let physical_ids = crate::rule::Property::Device(crate::rule::DeviceProperty::DevicePhysicalIds);
    assert!(index.carries(&physical_ids), "the mask still says which devices have items");
    for (rule, what) in [
        (r#"device.deviceModel -eq "X1""#, "`model`"),
        (r#"device.devicePhysicalIds -any (_ -eq "[OrderId]:o")"#, "[orderid]"),
    ] {
        let e = CompiledSet::compile(&[&Rule::new(rule)?], &index).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains(what) && e.contains("loaded without"), "{e}");
    }
    let packed = crate::fleet::pack::to_bytes(&index);
    assert_eq!(packed.err(), Some(crate::fleet::pack::PartialIndex));
    Ok(())
}

/// The last record of a repeated id wins in a projected load too, with the
/// lane bits of the items it left out.
#[test]
fn repeated_ids_keep_their_lane_bits() -> Result<(), Box<dyn std::error::Error>> {
    let text = "{\"id\":\"a\",\"operatingSystem\":\"Windows\",\"physicalIds\":[\"[OrderId]:x\"]}\n\
                {\"id\":\"b\",\"operatingSystem\":\"Windows\",\"physicalIds\":[\"[ZTDId]:1\"]}\n\
                {\"id\":\"a\",\"operatingSystem\":\"Windows\",\"physicalIds\":[\"[ZTDId]:2\"]}\n";
    let autopilot = Rule::new(RULES[0])?;
    let index = load(text, &CompiledSet::projection(&[&autopilot]), 1 << 20)?;
    let (index, repeats) = index.last_record_wins()?;
    assert_eq!(repeats.len(), 1);
    assert_eq!((0..index.len()).map(|i| index.id(i)).collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(members(&index, &autopilot), vec![0, 1]);
    Ok(())
}

/// Lines the row loader skips (Unicode whitespace, a first line holding
/// only the byte-order mark) are skipped here too, and are not counted as
/// records when an error names one.
#[test]
fn blank_lines_are_skipped_and_not_numbered_as_the_row_loader_does() {
    let path = std::path::Path::new("devices.jsonl");
    for text in [
        "\u{feff}\n{\"id\": \"a\"}\n{\"id\": 5}\n",
        "\u{feff}  \n \u{a0}\u{2028}\n\u{b}\n{\"id\": \"a\"}\n\u{3000}\n{\"id\": 5}\n",
        "{\"id\": \"a\"}\r\n\u{85}\r\n{\"id\": \"b\", \"model\": 1}\r\n",
    ] {
        let want =
            crate::inventory::load::parse_records::<Device>(text, path).map(|_| 0).map_err(|e| e.to_string());
        let ok = text.replace("{\"id\": 5}", "{\"id\": \"c\"}").replace("\"model\": 1", "\"model\": \"m\"");
        let want_ok = crate::inventory::load::parse_records::<Device>(&ok, path).map(|(d, _)| d.len());
        for piece in [1, 7, 64, 1 << 20] {
            let got = load(text, &Projection::all(), piece).map(|_| 0).map_err(|e| e.to_string());
            let tail = |r: Result<usize, String>| {
                r.map_err(|e| e.rsplit_once("devices.jsonl").map(|(_, m)| m.to_string()))
            };
            assert_eq!(tail(got), tail(want.clone()), "{piece}: {text:?}");
            let got_ok = load(&ok, &Projection::all(), piece).map(|i| i.len()).ok();
            assert_eq!(got_ok, want_ok.as_ref().ok().copied(), "{piece}: {ok:?}");
        }
    }
}

/// A pipe would be emptied by the format sniff and then read as an empty
/// inventory; a device or pipe is refused by name instead.
#[cfg(unix)]
#[test]
fn devices_and_pipes_are_refused_by_name() {
    let e = crate::fleet::load::load_index(std::path::Path::new("/dev/null"), &|_| {})
        .map(|_| ())
        .map_err(|e| e.to_string());
    let e = e.err().unwrap_or_default();
    assert!(e.contains("/dev/null") && e.contains("not a regular file"), "{e}");
}

/// The loader hashes ids as it reads: an index whose ids repeat (across
/// pieces too, and written with an escape) is never marked unique, and one
/// whose ids do not is.
#[test]
fn the_loader_knows_whether_ids_repeat_at_any_piece_size() {
    let unique = "{\"id\": \"a\"}\n{\"id\": \"b\"}\n{\"id\": \"c\"}\n";
    let repeats = [
        "{\"id\": \"a\"}\n{\"id\": \"b\"}\n{\"id\": \"a\"}\n",
        "{\"id\": \"a\"}\n{\"id\": \"b\\u0061\"}\n{\"id\": \"ba\"}\n",
    ];
    for piece in [1, 5, 13, 1 << 20] {
        let index = load(unique, &Projection::all(), piece);
        assert_eq!(index.map(|i| i.origin.unique_ids).ok(), Some(true), "{piece}");
        for text in repeats {
            let index = load(text, &Projection::all(), piece);
            assert_eq!(index.map(|i| i.origin.unique_ids).ok(), Some(false), "{piece}: {text:?}");
        }
    }
}

/// A file rewritten in place while its pieces are read is an error, not an
/// answer from parts of two files.
#[test]
fn a_file_changed_while_it_is_read_is_an_error() {
    let dir = tempfile::tempdir().ok();
    let Some(path) = dir.as_ref().map(|d| d.path().join("d.jsonl")) else { return };
    let text: String = (0..50).map(|k| format!("{{\"id\": \"d{k}\"}}\n")).collect();
    assert!(std::fs::write(&path, &text).is_ok());
    let append = |_: u64| {
        use std::io::Write;
        let file = std::fs::OpenOptions::new().append(true).open(&path);
        assert!(file.and_then(|mut f| f.write_all(b"{\"id\": \"late\"}\n")).is_ok());
    };
    let e = lines::stream(&path, &append, &Projection::all(), 64).map(|_| ()).map_err(|e| e.to_string());
    let e = e.err().unwrap_or_default();
    assert!(e.contains("d.jsonl") && e.contains("changed while it was read"), "{e}");
    // Left alone, the same file loads.
    assert!(lines::stream(&path, &|_| {}, &Projection::all(), 64).is_ok_and(|i| i.len() > 50));
}

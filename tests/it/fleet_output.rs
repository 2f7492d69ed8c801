//! The streamed membership writers (`groups::write`) produce the same bytes
//! as the typed serializers they replaced: `serde_json::to_string_pretty`
//! of the report structs, warnings appended by re-reading the report as a
//! `serde_json::Map`, and the `csv` crate. The reference implementations
//! below are those serializers, kept as the specification.

use fleetlab::fleet::Bitmap;
use fleetlab::groups::write::{self, Extras, Shape};
use fleetlab::groups::{GroupSet, Membership};
use fleetlab::rule::{ObjectType, Options, Rule};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

use crate::inventory_gen::cases;

const TEXT: &[&str] =
    &["a", "PC-01", "İstanbul", "q\"uote", "back\\slash", "comma,x", "nl\nx", "tab\tx", "\u{1}", ""];

fn old_groups_json(
    set: &GroupSet,
    m: &Membership,
    records: &[(&str, &str)],
    object: ObjectType,
    timings: &Value,
    warnings: &[Value],
) -> String {
    #[derive(serde::Serialize)]
    struct GroupOut<'a> {
        name: &'a str,
        description: Option<&'a str>,
        rule: &'a str,
        count: usize,
        members: Vec<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct RecordOut<'a> {
        id: &'a str,
        #[serde(rename = "displayName")]
        display_name: &'a str,
        groups: Vec<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct Report<'a> {
        object: ObjectType,
        total: usize,
        groups: Vec<GroupOut<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        devices: Option<Vec<RecordOut<'a>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        users: Option<Vec<RecordOut<'a>>>,
        timings: Value,
    }
    let mut per: Vec<Vec<&str>> = vec![Vec::new(); records.len()];
    let lists: Vec<Vec<usize>> = (0..m.groups()).map(|g| m.members(g).collect()).collect();
    let groups = set
        .groups
        .iter()
        .zip(&lists)
        .map(|(g, members)| {
            for &i in members {
                per[i].push(g.spec.name.as_str());
            }
            GroupOut {
                name: &g.spec.name,
                description: g.spec.description.as_deref(),
                rule: &g.spec.rule,
                count: members.len(),
                members: members.iter().map(|&i| records[i].0).collect(),
            }
        })
        .collect();
    let list: Vec<RecordOut<'_>> = per
        .into_iter()
        .enumerate()
        .map(|(i, groups)| RecordOut { id: records[i].0, display_name: records[i].1, groups })
        .collect();
    let (devices, users) = match object {
        ObjectType::Device => (Some(list), None),
        ObjectType::User => (None, Some(list)),
    };
    let report = Report { object, total: records.len(), groups, devices, users, timings: timings.clone() };
    let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
    s.push('\n');
    with_warnings(s, warnings)
}

/// As the CLI appended inventory warnings: re-read, extend, re-print.
fn with_warnings(json: String, warnings: &[Value]) -> String {
    if warnings.is_empty() {
        return json;
    }
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(&json) else { return json };
    let entry = object.entry("warnings").or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = entry {
        list.extend(warnings.iter().cloned());
    }
    let mut out = serde_json::to_string_pretty(&object).unwrap_or(json.clone());
    if json.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn old_rule_json(
    rule: &Rule,
    hits: &[usize],
    records: &[(&str, &str)],
    timings: &Value,
    warnings: &[Value],
) -> String {
    let report = json!({
        "rule": rule.source(),
        "canonical": rule.canonical(),
        "object": rule.object(),
        "total": records.len(),
        "count": hits.len(),
        "ids": hits.iter().map(|&i| records[i].0).collect::<Vec<_>>(),
        "warnings": Vec::<Value>::new(),
        "timings": timings,
    });
    let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
    s.push('\n');
    with_warnings(s, warnings)
}

fn old_csv(rows: Vec<Vec<&str>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        let _ = w.write_record(r);
    }
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default()).into_owned()
}

fn group_file(names: &[String]) -> String {
    names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let description =
                if k % 2 == 0 { format!("description = {}\n", toml_str(n)) } else { String::new() };
            format!(
                "[[group]]\nname = {}\n{description}rule = 'device.deviceOSType -eq \"x{k}\"'\n",
                toml_str(&format!("{n}{k}"))
            )
        })
        .collect()
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn writers_match_the_serializers_they_replace(
        ids in prop::collection::vec((select(TEXT), select(TEXT)), 0..30),
        names in prop::collection::vec(select(TEXT).prop_map(String::from), 0..5),
        picks in prop::collection::vec(prop::collection::vec(any::<bool>(), 30), 5),
        warned in any::<bool>(),
        users in any::<bool>(),
    ) {
        let records: Vec<(String, String)> =
            ids.iter().enumerate().map(|(i, (a, b))| (format!("{a}{i}"), b.to_string())).collect();
        let records: Vec<(&str, &str)> = records.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let set = GroupSet::parse(&group_file(&names), std::path::Path::new("g.toml"), &Options::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let members: Vec<Vec<usize>> = (0..set.groups.len())
            .map(|g| (0..records.len()).filter(|&i| picks[g][i]).collect())
            .collect();
        // Both constructors, from lists and from the engine's bitmaps, make
        // the same membership and so the same bytes.
        let m = Membership::from_lists(records.len(), members.clone());
        let bitmaps: Vec<Bitmap> = members.iter().map(|l| Bitmap::from_indices(records.len(), l.iter().copied())).collect();
        let from_bitmaps = Membership::from_bitmaps(bitmaps);
        prop_assert_eq!(from_bitmaps.bitmaps(), m.bitmaps());
        for (g, list) in members.iter().enumerate() {
            prop_assert_eq!(&m.members(g).collect::<Vec<_>>(), list);
            prop_assert_eq!(m.count(g), list.len());
        }
        let timings = json!({"check_ms": 0.25, "load_ms": 12.0, "compile_ms": 1e-3, "eval_ms": 7.5});
        let warnings: Vec<Value> = if warned {
            vec![json!({"code": "duplicate-id", "message": "x \"y\""})]
        } else {
            Vec::new()
        };
        let object = if users { ObjectType::User } else { ObjectType::Device };
        let extras = Extras { timings: &timings, warnings: &warnings };
        let mut out = Vec::new();
        write::groups_json(&mut out, &set, &m, &records[..], object, Shape::Both, extras)?;
        prop_assert_eq!(text(&out), old_groups_json(&set, &m, &records, object, &timings, &warnings));

        let mut out = Vec::new();
        write::groups_csv(&mut out, &set, &m, &records[..])?;
        let mut rows = vec![vec!["group", "id", "displayName"]];
        for (g, list) in set.groups.iter().zip(&members) {
            for &i in list {
                rows.push(vec![g.spec.name.as_str(), records[i].0, records[i].1]);
            }
        }
        prop_assert_eq!(text(&out), old_csv(rows));

        let rule = Rule::new(r#"device.deviceOSType -eq "Windows""#).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let hits = members.first().cloned().unwrap_or_default();
        let mut out = Vec::new();
        write::rule_json(&mut out, &rule, &hits, &records[..], extras)?;
        prop_assert_eq!(text(&out), old_rule_json(&rule, &hits, &records, &timings, &warnings));
        let mut out = Vec::new();
        write::rule_csv(&mut out, &hits, &records[..])?;
        let mut rows = vec![vec!["id", "displayName"]];
        rows.extend(hits.iter().map(|&i| vec![records[i].0, records[i].1]));
        prop_assert_eq!(text(&out), old_csv(rows));

        // The other shapes keep their half of the report.
        for shape in [Shape::Groups, Shape::Devices] {
            let mut out = Vec::new();
            write::groups_json(&mut out, &set, &m, &records[..], object, shape, extras)?;
            let v: Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let list = if users { "users" } else { "devices" };
            prop_assert_eq!(v.get(list).is_some(), shape == Shape::Devices);
            let listed = v["groups"].as_array().map_or(0, |g| g.iter().filter(|g| g.get("members").is_some()).count());
            prop_assert_eq!(listed, if shape == Shape::Groups { set.groups.len() } else { 0 });
        }
    }
}

/// Lists longer than one formatting chunk (32,768 records) are written in
/// order across chunk boundaries, whichever chunk a group's first member
/// falls in, and empty groups stay `[]`; CSV rows and id lines too.
#[test]
fn long_lists_cross_chunk_boundaries_in_order() -> Result<(), Box<dyn std::error::Error>> {
    let n = 70_000;
    let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    let records: Vec<(&str, &str)> = ids.iter().map(|s| (s.as_str(), "n")).collect();
    let names = ["g".to_string(), "late".to_string(), "none".to_string()];
    let set = GroupSet::parse(&group_file(&names), std::path::Path::new("g.toml"), &Options::default())?;
    let lists: Vec<Vec<usize>> =
        vec![(0..n).filter(|i| i % 3 != 1).collect(), (40_000..n).filter(|i| i % 5 == 0).collect(), vec![]];
    let m = Membership::from_lists(n, lists.clone());
    let timings = json!({});
    for warnings in [vec![], vec![json!({"code": "w"})]] {
        let extras = Extras { timings: &timings, warnings: &warnings };
        let mut out = Vec::new();
        write::groups_json(&mut out, &set, &m, &records[..], ObjectType::Device, Shape::Both, extras)?;
        assert_eq!(text(&out), old_groups_json(&set, &m, &records, ObjectType::Device, &timings, &warnings));
    }
    let mut out = Vec::new();
    write::groups_csv(&mut out, &set, &m, &records[..])?;
    let mut rows = vec![vec!["group", "id", "displayName"]];
    for (g, list) in set.groups.iter().zip(&lists) {
        rows.extend(list.iter().map(|&i| vec![g.spec.name.as_str(), records[i].0, records[i].1]));
    }
    assert_eq!(text(&out), old_csv(rows));
    let mut out = Vec::new();
    write::id_lines(&mut out, &lists[1], &records[..])?;
    let expected: String = lists[1].iter().map(|&i| format!("{}\n", records[i].0)).collect();
    assert_eq!(text(&out), expected);
    Ok(())
}

/// A writer that fails part-way: the report stops with its error (the
/// formatting thread is not left waiting), whether the failure comes on the
/// first write or in the middle of a long list.
#[test]
fn a_failing_writer_stops_the_report_with_its_error() -> Result<(), Box<dyn std::error::Error>> {
    struct Failing(usize);
    impl std::io::Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.0 {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let n = 100_000;
    let ids: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
    let records: Vec<(&str, &str)> = ids.iter().map(|s| (s.as_str(), "n")).collect();
    let set =
        GroupSet::parse(&group_file(&["g".into()]), std::path::Path::new("g.toml"), &Options::default())?;
    let m = Membership::from_lists(n, vec![(0..n).collect()]);
    let timings = json!({});
    let extras = Extras { timings: &timings, warnings: &[] };
    for budget in [0, 10, 1_000_000] {
        let mut w = Failing(budget);
        let result =
            write::groups_json(&mut w, &set, &m, &records[..], ObjectType::Device, Shape::Both, extras);
        assert_eq!(result.map_err(|e| e.to_string()), Err("disk full".to_string()), "budget {budget}");
        // The id lines are 688,890 bytes in all.
        let mut w = Failing(budget.min(300_000));
        let result = write::id_lines(&mut w, &(0..n).collect::<Vec<_>>(), &records[..]);
        assert!(result.is_err(), "budget {budget}");
    }
    Ok(())
}

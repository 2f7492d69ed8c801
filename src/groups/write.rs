//! Membership outputs (JSON and CSV, for one rule or a group set), streamed
//! to any writer at hundreds of MB/s.
//!
//! Design decisions:
//!
//! * **No intermediate tree.** Output is written straight from the member
//!   lists and the records' ids; small parts (timings, warnings) go through
//!   serde_json, the bulk (member ids, per-device group lists, CSV rows) is
//!   formatted by hand with serde_json's own escaping and pretty layout, so
//!   the bytes equal what `serde_json::to_string_pretty` made of the old
//!   typed report (checked by `tests/it/fleet_output.rs`).
//! * **Parallel chunks, written in order.** Lists are cut into chunks of
//!   32,768 items, formatted on the rayon pool into separate buffers, and
//!   written in order; a bounded window of chunks is in memory at a time, so
//!   a 1 GB report needs megabytes, not gigabytes.
//! * **Key order.** The JSON reports keep the order they always had: the
//!   declared order of the group report, and sorted keys once warnings are
//!   added (they used to be appended by re-reading the report as a
//!   `serde_json::Map`, which sorts keys); the single-rule report has sorted
//!   keys throughout for the same reason.
//! * **`Shape`.** A group report lists each group's members and each
//!   record's groups ([`Shape::Both`], the default, unchanged): both
//!   questions an admin asks ("who is in X", "what is device Y in") are one
//!   lookup. For millions of devices that doubles the size, so
//!   [`Shape::Groups`] keeps only the member lists, and [`Shape::Devices`]
//!   keeps the per-record lists and each group's summary without members.

use std::io::Write;

use crate::groups::json::{array, csv_field, key, par_items, quoted, small, string};
use crate::groups::{GroupSet, Membership};
use crate::rule::{ObjectType, Rule};

/// The records a membership refers to by position: ids and display names.
pub trait Records: Sync {
    /// Number of records.
    fn count(&self) -> usize;
    /// Object id of record `i` (`""` when out of range).
    fn id(&self, i: usize) -> &str;
    /// Display name of record `i` (`""` when unset).
    fn name(&self, i: usize) -> &str;
}

impl Records for [(&str, &str)] {
    fn count(&self) -> usize {
        self.len()
    }
    fn id(&self, i: usize) -> &str {
        self.get(i).map_or("", |x| x.0)
    }
    fn name(&self, i: usize) -> &str {
        self.get(i).map_or("", |x| x.1)
    }
}

/// Which lists a group report holds (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    /// Each group with its members; no per-record lists.
    Groups,
    /// Each record with its groups; groups without member lists.
    Devices,
    /// Both (the default).
    #[default]
    Both,
}

/// What a report carries besides membership: the timings object and the
/// warnings (rule warnings first, then inventory warnings).
#[derive(Clone, Copy, Debug)]
pub struct Extras<'a> {
    /// A small JSON object of phase timings.
    pub timings: &'a serde_json::Value,
    /// Warnings, each a small JSON object.
    pub warnings: &'a [serde_json::Value],
}

/// The single-rule JSON report: rule, canonical form, counts, matching ids,
/// warnings and timings.
///
/// ```
/// use fleetlab::groups::write::{rule_json, Extras};
/// use fleetlab::rule::Rule;
/// let rule = Rule::new(r#"device.deviceOSType -eq "Windows""#)?;
/// let records: &[(&str, &str)] = &[("a", "PC-1"), ("b", "PC-2")];
/// let timings = serde_json::json!({});
/// let mut out = Vec::new();
/// rule_json(&mut out, &rule, &[1], records, Extras { timings: &timings, warnings: &[] })?;
/// let v: serde_json::Value = serde_json::from_slice(&out)?;
/// assert_eq!(v["ids"][0], "b");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn rule_json<R: Records + ?Sized>(
    w: &mut dyn Write,
    rule: &Rule,
    hits: &[usize],
    records: &R,
    extras: Extras<'_>,
) -> std::io::Result<()> {
    let mut head = b"{\n".to_vec();
    key(&mut head, 2, "canonical");
    small(&mut head, 2, &rule.canonical());
    head.extend_from_slice(b",\n");
    key(&mut head, 2, "count");
    head.extend_from_slice(itoa::Buffer::new().format(hits.len()).as_bytes());
    head.extend_from_slice(b",\n");
    key(&mut head, 2, "ids");
    w.write_all(&head)?;
    array(w, 2, hits.len(), &|k, out| string(out, hits.get(k).map_or("", |&i| records.id(i))))?;
    let mut tail = b",\n".to_vec();
    key(&mut tail, 2, "object");
    small(&mut tail, 2, &rule.object());
    tail.extend_from_slice(b",\n");
    key(&mut tail, 2, "rule");
    small(&mut tail, 2, &rule.source());
    tail.extend_from_slice(b",\n");
    key(&mut tail, 2, "timings");
    small(&mut tail, 2, extras.timings);
    tail.extend_from_slice(b",\n");
    key(&mut tail, 2, "total");
    tail.extend_from_slice(itoa::Buffer::new().format(records.count()).as_bytes());
    tail.extend_from_slice(b",\n");
    key(&mut tail, 2, "warnings");
    small(&mut tail, 2, &extras.warnings);
    tail.extend_from_slice(b"\n}\n");
    w.write_all(&tail)
}

/// The single-rule CSV: `id,displayName`, one row per match.
pub fn rule_csv<R: Records + ?Sized>(w: &mut dyn Write, hits: &[usize], records: &R) -> std::io::Result<()> {
    w.write_all(b"id,displayName\n")?;
    par_items(w, hits.len(), &|k, out| {
        let i = hits.get(k).copied().unwrap_or(usize::MAX);
        csv_field(out, records.id(i));
        out.push(b',');
        csv_field(out, records.name(i));
        out.push(b'\n');
    })
}

/// The group-set CSV in long format, one row per (group, member): what
/// spreadsheets pivot best.
pub fn groups_csv<R: Records + ?Sized>(
    w: &mut dyn Write,
    set: &GroupSet,
    m: &Membership,
    records: &R,
) -> std::io::Result<()> {
    w.write_all(b"group,id,displayName\n")?;
    for (g, members) in set.groups.iter().zip(&m.members) {
        let mut name = Vec::new();
        csv_field(&mut name, &g.spec.name);
        name.push(b',');
        par_items(w, members.len(), &|k, out| {
            let i = members.get(k).copied().unwrap_or(usize::MAX);
            out.extend_from_slice(&name);
            csv_field(out, records.id(i));
            out.push(b',');
            csv_field(out, records.name(i));
            out.push(b'\n');
        })?;
    }
    Ok(())
}

/// The group-set JSON report (see [`Shape`] for what it lists).
///
/// ```
/// use fleetlab::groups::write::{groups_json, Extras, Shape};
/// use fleetlab::groups::{GroupSet, Membership};
/// use fleetlab::rule::{ObjectType, Options};
/// let set = GroupSet::parse(
///     "[[group]]\nname = \"Windows\"\nrule = 'device.deviceOSType -eq \"Windows\"'\n",
///     std::path::Path::new("groups.toml"),
///     &Options::default(),
/// )?;
/// let m = Membership { members: vec![vec![0]] };
/// let records: &[(&str, &str)] = &[("a", "PC-1"), ("b", "PC-2")];
/// let timings = serde_json::json!({});
/// let mut out = Vec::new();
/// let extras = Extras { timings: &timings, warnings: &[] };
/// groups_json(&mut out, &set, &m, records, ObjectType::Device, Shape::Both, extras)?;
/// let v: serde_json::Value = serde_json::from_slice(&out)?;
/// assert_eq!(v["groups"][0]["members"][0], "a");
/// assert_eq!(v["devices"][0]["groups"][0], "Windows");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn groups_json<R: Records + ?Sized>(
    w: &mut dyn Write,
    set: &GroupSet,
    m: &Membership,
    records: &R,
    object: ObjectType,
    shape: Shape,
    extras: Extras<'_>,
) -> std::io::Result<()> {
    let sorted = !extras.warnings.is_empty();
    let list_key = match object {
        ObjectType::Device => "devices",
        ObjectType::User => "users",
    };
    let groups = shape != Shape::Devices;
    let per_record = shape != Shape::Groups;
    let empty = Vec::new();
    let members = |g: usize| m.members.get(g).unwrap_or(&empty);
    let mut head = b"{\n".to_vec();
    if sorted {
        if per_record && list_key == "devices" {
            key(&mut head, 2, list_key);
            w.write_all(&head)?;
            head.clear();
            records_array(w, set, &members, records, true)?;
            head.extend_from_slice(b",\n");
        }
        key(&mut head, 2, "groups");
        w.write_all(&head)?;
        group_array(w, set, &members, records, groups, true)?;
        let mut mid = b",\n".to_vec();
        key(&mut mid, 2, "object");
        small(&mut mid, 2, &object);
        mid.extend_from_slice(b",\n");
        key(&mut mid, 2, "timings");
        small(&mut mid, 2, extras.timings);
        mid.extend_from_slice(b",\n");
        key(&mut mid, 2, "total");
        mid.extend_from_slice(itoa::Buffer::new().format(records.count()).as_bytes());
        mid.extend_from_slice(b",\n");
        if per_record && list_key == "users" {
            key(&mut mid, 2, list_key);
            w.write_all(&mid)?;
            mid.clear();
            records_array(w, set, &members, records, true)?;
            mid.extend_from_slice(b",\n");
        }
        key(&mut mid, 2, "warnings");
        small(&mut mid, 2, &extras.warnings);
        mid.extend_from_slice(b"\n}\n");
        return w.write_all(&mid);
    }
    key(&mut head, 2, "object");
    small(&mut head, 2, &object);
    head.extend_from_slice(b",\n");
    key(&mut head, 2, "total");
    head.extend_from_slice(itoa::Buffer::new().format(records.count()).as_bytes());
    head.extend_from_slice(b",\n");
    key(&mut head, 2, "groups");
    w.write_all(&head)?;
    group_array(w, set, &members, records, groups, false)?;
    let mut tail = b",\n".to_vec();
    if per_record {
        key(&mut tail, 2, list_key);
        w.write_all(&tail)?;
        tail.clear();
        records_array(w, set, &members, records, false)?;
        tail.extend_from_slice(b",\n");
    }
    key(&mut tail, 2, "timings");
    small(&mut tail, 2, extras.timings);
    tail.extend_from_slice(b"\n}\n");
    w.write_all(&tail)
}

/// The `groups` array; members listed when `with_members`, keys sorted
/// when `sorted`.
fn group_array<'m, R: Records + ?Sized>(
    w: &mut dyn Write,
    set: &GroupSet,
    members: &(dyn Fn(usize) -> &'m Vec<usize> + Sync),
    records: &R,
    with_members: bool,
    sorted: bool,
) -> std::io::Result<()> {
    if set.groups.is_empty() {
        return w.write_all(b"[]");
    }
    w.write_all(b"[\n")?;
    for (g, group) in set.groups.iter().enumerate() {
        let list = members(g);
        let mut count = Vec::new();
        key(&mut count, 6, "count");
        count.extend_from_slice(itoa::Buffer::new().format(list.len()).as_bytes());
        let mut description = Vec::new();
        key(&mut description, 6, "description");
        small(&mut description, 6, &group.spec.description);
        let mut name = Vec::new();
        key(&mut name, 6, "name");
        string(&mut name, &group.spec.name);
        let mut rule = Vec::new();
        key(&mut rule, 6, "rule");
        string(&mut rule, &group.spec.rule);
        let mut out = Vec::new();
        if g > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(b"    {\n");
        // Members, when listed, come between description and name (sorted)
        // or last (declared order).
        let before: Vec<&Vec<u8>> =
            if sorted { vec![&count, &description] } else { vec![&name, &description, &rule, &count] };
        let after: Vec<&Vec<u8>> = if sorted { vec![&name, &rule] } else { vec![] };
        let fields: Vec<&Vec<u8>> =
            if with_members { before.clone() } else { before.iter().chain(&after).copied().collect() };
        for (k, f) in fields.iter().enumerate() {
            if k > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(f);
        }
        if with_members {
            out.extend_from_slice(b",\n");
            key(&mut out, 6, "members");
            w.write_all(&out)?;
            out.clear();
            array(w, 6, list.len(), &|k, o| string(o, list.get(k).map_or("", |&i| records.id(i))))?;
            for f in &after {
                out.extend_from_slice(b",\n");
                out.extend_from_slice(f);
            }
        }
        out.extend_from_slice(b"\n    }");
        w.write_all(&out)?;
    }
    w.write_all(b"\n  ]")
}

/// The per-record array: each record's id, display name and groups, in
/// declared order (`id`, `displayName`, `groups`) or `sorted`. Each
/// record's groups come from a bitset of one bit per (record, group), built
/// from the member lists in one pass: 8 bytes per record per 64 groups,
/// instead of a list of names per record.
fn records_array<'m, R: Records + ?Sized>(
    w: &mut dyn Write,
    set: &GroupSet,
    members: &(dyn Fn(usize) -> &'m Vec<usize> + Sync),
    records: &R,
    sorted: bool,
) -> std::io::Result<()> {
    let names: Vec<Vec<u8>> = set.groups.iter().map(|g| quoted(&g.spec.name)).collect();
    let n = records.count();
    let words = set.groups.len().div_ceil(64).max(1);
    let mut bits = vec![0u64; n * words];
    for g in 0..set.groups.len() {
        for &i in members(g) {
            if let Some(word) = bits.get_mut(i * words + g / 64) {
                *word |= 1 << (g % 64);
            }
        }
    }
    array(w, 2, n, &|i, out| {
        let mut mine: Vec<&[u8]> = Vec::new();
        for (k, &word) in bits.get(i * words..(i + 1) * words).unwrap_or(&[]).iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let g = k * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                mine.push(names.get(g).map_or(&b"\"\""[..], |v| v));
            }
        }
        out.extend_from_slice(b"{\n");
        let id = |out: &mut Vec<u8>| {
            key(out, 6, "id");
            string(out, records.id(i));
        };
        let name = |out: &mut Vec<u8>| {
            key(out, 6, "displayName");
            string(out, records.name(i));
        };
        let groups = |out: &mut Vec<u8>| {
            key(out, 6, "groups");
            if mine.is_empty() {
                out.extend_from_slice(b"[]");
            } else {
                out.extend_from_slice(b"[\n");
                for (k, g) in mine.iter().enumerate() {
                    if k > 0 {
                        out.extend_from_slice(b",\n");
                    }
                    crate::groups::json::spaces(out, 8);
                    out.extend_from_slice(g);
                }
                out.push(b'\n');
                crate::groups::json::spaces(out, 6);
                out.push(b']');
            }
        };
        if sorted {
            name(out);
            out.extend_from_slice(b",\n");
            groups(out);
            out.extend_from_slice(b",\n");
            id(out);
        } else {
            id(out);
            out.extend_from_slice(b",\n");
            name(out);
            out.extend_from_slice(b",\n");
            groups(out);
        }
        out.push(b'\n');
        crate::groups::json::spaces(out, 4);
        out.push(b'}');
    })
}

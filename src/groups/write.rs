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
//! * **Parallel pieces, written in order, while the next are formatted.**
//!   Lists are cut into pieces of at most 32,768 records, formatted on the
//!   rayon pool into reused buffers by a producer thread while the calling
//!   thread writes the pieces before them (`json::par_pieces`): on two
//!   cores the kernel's copy of a 1 GB report into the page cache runs
//!   beside the formatting instead of after it. Two windows of pieces are
//!   in memory at a time, so a 1 GB report needs about ten megabytes.
//! * **Straight from the bitmaps.** Member lists and each record's groups
//!   are read from the [`Membership`] bitmaps a word at a time
//!   (`groups/lists.rs`), and ids are checked once per report for anything
//!   JSON escapes, then copied between quotes.
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

use crate::groups::json::{array, csv_field, key, par_items, small, string};
use crate::groups::lists::{self, Piece};
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

/// The ids of `hits`, one per line: what `fleetlab eval` prints by default,
/// for pipes into other tools. Formatted in parallel pieces and streamed,
/// so a million ids never sit in memory as one string.
///
/// ```
/// use fleetlab::groups::write::id_lines;
/// let records: &[(&str, &str)] = &[("a", "PC-1"), ("b", "PC-2")];
/// let mut out = Vec::new();
/// id_lines(&mut out, &[0, 1], records)?;
/// assert_eq!(out, b"a\nb\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn id_lines<R: Records + ?Sized>(w: &mut dyn Write, hits: &[usize], records: &R) -> std::io::Result<()> {
    par_items(w, hits.len(), &|k, out| {
        out.extend_from_slice(hits.get(k).map_or("", |&i| records.id(i)).as_bytes());
        out.push(b'\n');
    })
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
    let mut pieces = Vec::new();
    for g in 0..set.groups.len() {
        lists::member_pieces(m, g, &mut pieces);
    }
    let names: Vec<Vec<u8>> = set
        .groups
        .iter()
        .map(|g| {
            let mut name = Vec::new();
            csv_field(&mut name, &g.spec.name);
            name.push(b',');
            name
        })
        .collect();
    write_csv_rows(w, m, &pieces, &names, records)
}

/// CSV rows of every group's members, each `name,id,displayName\n`.
fn write_csv_rows<R: Records + ?Sized>(
    w: &mut dyn Write,
    m: &Membership,
    pieces: &[Piece],
    names: &[Vec<u8>],
    records: &R,
) -> std::io::Result<()> {
    crate::groups::json::par_pieces(w, pieces.len(), &|k, out| {
        let Some(&Piece::Members { g, from, to, .. }) = pieces.get(k) else { return };
        let name = names.get(g).map_or(&[][..], |n| n);
        for i in crate::groups::bitmap::ones_in(m.words(g).get(from..to).unwrap_or(&[]), from * 64) {
            out.extend_from_slice(name);
            csv_field(out, records.id(i));
            out.push(b',');
            csv_field(out, records.name(i));
            out.push(b'\n');
        }
    })
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
/// let m = Membership::from_lists(2, vec![vec![0]]);
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
    let plain_ids = lists::ids_plain(records);
    let names = lists::quoted_names(set.groups.iter().map(|g| g.spec.name.as_str()));
    let per_record_list = |w: &mut dyn Write| lists::records_array(w, m, &names, records, sorted, plain_ids);
    let mut head = b"{\n".to_vec();
    if sorted {
        if per_record && list_key == "devices" {
            key(&mut head, 2, list_key);
            w.write_all(&head)?;
            head.clear();
            per_record_list(w)?;
            head.extend_from_slice(b",\n");
        }
        key(&mut head, 2, "groups");
        w.write_all(&head)?;
        group_array(w, set, m, records, groups, true, plain_ids)?;
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
            per_record_list(w)?;
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
    group_array(w, set, m, records, groups, false, plain_ids)?;
    let mut tail = b",\n".to_vec();
    if per_record {
        key(&mut tail, 2, list_key);
        w.write_all(&tail)?;
        tail.clear();
        per_record_list(w)?;
        tail.extend_from_slice(b",\n");
    }
    key(&mut tail, 2, "timings");
    small(&mut tail, 2, extras.timings);
    tail.extend_from_slice(b"\n}\n");
    w.write_all(&tail)
}

/// The `groups` array; members listed when `with_members`, keys sorted
/// when `sorted`. Every group's texts and member pieces stream through one
/// parallel writer ([`lists::write_pieces`]).
fn group_array<R: Records + ?Sized>(
    w: &mut dyn Write,
    set: &GroupSet,
    m: &Membership,
    records: &R,
    with_members: bool,
    sorted: bool,
    plain_ids: bool,
) -> std::io::Result<()> {
    if set.groups.is_empty() {
        return w.write_all(b"[]");
    }
    let mut pieces = vec![Piece::Text(b"[\n".to_vec())];
    for (g, group) in set.groups.iter().enumerate() {
        let count = m.count(g);
        let fields = group_fields(group, count);
        let mut out = Vec::new();
        if g > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(b"    {\n");
        // Members, when listed, come between description and name (sorted)
        // or last (declared order).
        let [name, description, rule, count_field] = &fields;
        let before: Vec<&Vec<u8>> =
            if sorted { vec![count_field, description] } else { vec![name, description, rule, count_field] };
        let after: Vec<&Vec<u8>> = if sorted { vec![name, rule] } else { vec![] };
        let listed: Vec<&Vec<u8>> =
            if with_members { before.clone() } else { before.iter().chain(&after).copied().collect() };
        for (k, f) in listed.iter().enumerate() {
            if k > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(f);
        }
        if with_members {
            out.extend_from_slice(b",\n");
            key(&mut out, 6, "members");
            if count == 0 {
                out.extend_from_slice(b"[]");
            } else {
                out.push(b'[');
                pieces.push(Piece::Text(std::mem::take(&mut out)));
                lists::member_pieces(m, g, &mut pieces);
                out.extend_from_slice(b"\n      ]");
            }
            for f in &after {
                out.extend_from_slice(b",\n");
                out.extend_from_slice(f);
            }
        }
        out.extend_from_slice(b"\n    }");
        pieces.push(Piece::Text(out));
    }
    pieces.push(Piece::Text(b"\n  ]".to_vec()));
    let member = lists::json_member(records, plain_ids);
    lists::write_pieces(w, m, &pieces, 8, &member)
}

/// A group's `name`, `description`, `rule` and `count` fields at indent 6.
fn group_fields(group: &crate::groups::Group, count: usize) -> [Vec<u8>; 4] {
    let mut name = Vec::new();
    key(&mut name, 6, "name");
    string(&mut name, &group.spec.name);
    let mut description = Vec::new();
    key(&mut description, 6, "description");
    small(&mut description, 6, &group.spec.description);
    let mut rule = Vec::new();
    key(&mut rule, 6, "rule");
    string(&mut rule, &group.spec.rule);
    let mut count_field = Vec::new();
    key(&mut count_field, 6, "count");
    count_field.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
    [name, description, rule, count_field]
}

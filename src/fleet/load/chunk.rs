//! One chunk of JSON Lines as columns of its own, and their merge into the
//! index's builder.
//!
//! A chunk (the lines of a piece of about a megabyte) is parsed on any
//! thread into chunk-local dictionaries: each column keeps its distinct
//! values as spans of the piece (no copy, no allocation per value) and one local code
//! per device. The merge, in file order, interns each *distinct* local
//! value into the global dictionary once and rewrites the local codes
//! through that table, so the sequential part of a load costs one hash
//! lookup per distinct value per chunk instead of one per device and column.
//!
//! Columns whose global dictionary has stopped deduplicating (object ids,
//! `deviceId`, the `[ZTDId]` lane: see `column::DictBuilder`) are not
//! hashed locally either: each value is appended as it comes. A repeated
//! value then has two codes, which `DictBuilder` already allows: rules are
//! evaluated once per dictionary entry and then per code (`fleet::plan`),
//! `find` and `ids_unique` compare text, and the pack writer copies the
//! dictionary as it is, so nothing looks a value up by text expecting a
//! single code.
//!
//! Values of those unique columns are copied into a run of the chunk's
//! own while the record is in cache ([`Distinct::Run`]), and the merge
//! appends each run with one copy: interning them one by one from a piece
//! parsed a pipeline stage earlier cost a cache miss per value, on the one
//! sequential stage.
//!
//! `devicePhysicalIds` items of a lane the projection does not keep (see
//! `CompiledSet::projection`) only set the device's mask bit: their text is
//! never copied, hashed or merged.
//!
//! A chunk owns the bytes of its piece of the file (see `piece.rs`), and
//! a [`Span`] is a byte range of them, or, past their length, of the
//! chunk's own text, which holds the values of records serde parsed; the
//! merge reads values from there, and the buffer is then recycled.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use super::scan::{self, Record, Targets};
use super::stops::StopMap;
use crate::fleet::column::{lane_of, ColumnOverflow, DictBuilder, LanePrefix, PHYSICAL_ID_LANES};
use crate::fleet::index::{scalar_value, OBJECT_ID};
use crate::fleet::unique::IdHashes;
use crate::fleet::{FleetBuilder, FleetIndex};
use crate::inventory::project::{self, Projection};
use crate::inventory::Device;

/// A value: bytes `start..end` of the chunk's piece, or (from the piece's
/// length on) of the chunk's own text.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// A column's distinct values in one chunk; code `k + 1` is value `k`.
enum Distinct {
    /// Spans of the piece (or of the chunk's own text), for a column that
    /// deduplicates: the merge interns each distinct value once.
    Spans(Vec<Span>),
    /// For a column of unique values (see the module doc): their text,
    /// copied while the record is in cache, and where each value ends. The
    /// merge appends the run with one copy, where interning value by value
    /// from a piece parsed long before cost a cache miss per value.
    Run { text: Vec<u8>, ends: Vec<usize> },
}

impl Distinct {
    fn new(dedup: bool) -> Distinct {
        if dedup {
            Distinct::Spans(Vec::new())
        } else {
            Distinct::Run { text: Vec::new(), ends: Vec::new() }
        }
    }
}

/// Distinct values and per-device codes; devices past `codes.len()` are null.
struct Local {
    values: Distinct,
    codes: Vec<u32>,
}

impl Local {
    fn new(dedup: bool) -> Local {
        Local { values: Distinct::new(dedup), codes: Vec::new() }
    }
}

struct LocalLane {
    values: Distinct,
    first: Vec<u32>,
    extra: Vec<[u32; 2]>,
}

struct LocalCollection {
    prefixes: &'static [LanePrefix],
    /// Lanes whose items' text is kept (the rest only set mask bits).
    keep: u16,
    lanes: Vec<LocalLane>,
    masks: Vec<u16>,
}

/// Which columns deduplicate (from [`FleetBuilder::dedup_flags`]).
pub(super) type Dedup = (Vec<bool>, [Vec<bool>; 3]);

/// Where the first record the chunk could not take is.
pub(super) struct Failed {
    /// Line within the chunk (0-based).
    pub(super) line: usize,
    /// Record within the chunk (0-based, counting non-blank lines).
    pub(super) record: usize,
    /// The line's bytes in the chunk's piece ([`Chunk::bytes`]).
    pub(super) start: usize,
    pub(super) end: usize,
}

/// A parsed chunk.
pub(super) struct Chunk {
    pub(super) devices: usize,
    pub(super) lines: usize,
    pub(super) failed: Option<Failed>,
    scalars: Vec<Local>,
    collections: [LocalCollection; 3],
    extensions: Vec<(String, Local)>,
    misnamed: Vec<&'static str>,
    own: String,
    /// The hash of each device's id (see `fleet/unique.rs`), taken while
    /// the record is in cache.
    id_hashes: Vec<u64>,
    /// The piece the chunk was parsed from (its spans point into it).
    bytes: Vec<u8>,
}

impl Chunk {
    /// The piece's bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The piece's buffer, for the next piece to read into.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// What a chunk's parse needs besides its bytes.
pub(super) struct Context<'c> {
    pub(super) targets: &'c Targets,
    pub(super) projection: &'c Projection,
    pub(super) dedup: &'c Dedup,
}

/// Bytes of a chunk prepared at a time (validated as UTF-8 and given stop
/// bits), cut back to a whole line: small enough that the scan then finds
/// them in the core's own cache, where preparing a whole chunk first sent
/// every byte through memory three times.
#[cfg(not(test))]
const WINDOW: usize = 64 << 10;
/// Unit tests cut every chunk into many windows, so records meet window
/// edges everywhere.
#[cfg(test)]
const WINDOW: usize = 200;

/// Parses the whole lines `bytes[first..]` of a piece; `file_start` when
/// they start the file (which may start with a byte-order mark). The chunk
/// keeps `bytes`.
pub(super) fn parse(bytes: Vec<u8>, first: usize, file_start: bool, cx: &Context<'_>) -> Chunk {
    let mut chunk = {
        let raw = bytes.get(first..).unwrap_or(&[]);
        let mut p = Parser::new(&bytes, cx);
        let mut lines = Lines { rec: Record::new(), stops: StopMap::new(&[]), records: 0 };
        let mut from = 0;
        while from < raw.len() && p.chunk.failed.is_none() {
            let to = line_end(raw, from + WINDOW);
            let window = Window {
                bytes: raw.get(from..to).unwrap_or(&[]),
                at: first + from,
                file_start: file_start && from == 0,
            };
            lines.parse(&mut p, window, cx);
            from = to;
        }
        p.chunk
    };
    chunk.bytes = bytes;
    chunk
}

/// The end of the line holding byte `want - 1` of `bytes` (just past its
/// newline), or the end of `bytes`: where a chunk's windows are cut, so
/// each holds whole lines. At least `want` when `want` is in
/// `1..=bytes.len()`.
fn line_end(bytes: &[u8], want: usize) -> usize {
    let from = want.min(bytes.len()).saturating_sub(1);
    match memchr::memchr(b'\n', bytes.get(from..).unwrap_or(&[])) {
        Some(k) => from + k + 1,
        None => bytes.len(),
    }
}

/// Whole lines of a chunk, `at` bytes into its piece.
struct Window<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The window starts the file (a byte-order mark may lead).
    file_start: bool,
}

/// A chunk's scan state, carried from window to window.
struct Lines<'a> {
    rec: Record<'a>,
    stops: StopMap,
    /// Records of the chunk so far (for [`Failed`]; its lines are
    /// `Chunk::lines`).
    records: usize,
}

impl<'a> Lines<'a> {
    /// Parses the lines of `w` into `p`; stops at the first that fails.
    fn parse(&mut self, p: &mut Parser<'a>, w: Window<'a>, cx: &Context<'_>) {
        // One validation per window; only a window with invalid UTF-8 is
        // checked line by line (to find the line). `basic` gives no error
        // position, hence the standard library's check for that.
        let whole = simdutf8::basic::from_utf8(w.bytes).ok();
        self.stops.fill(w.bytes);
        let raw = w.bytes;
        let mut from = 0;
        let ends = memchr::memchr_iter(b'\n', raw)
            .chain((raw.last().is_some_and(|b| *b != b'\n')).then_some(raw.len()));
        for to in ends {
            let line = p.chunk.lines;
            p.chunk.lines += 1;
            let (a, mut b) = (from, to);
            from = to + 1;
            if raw.get(a..b).is_some_and(|l| l.last() == Some(&b'\r')) {
                b -= 1;
            }
            let fail = Failed { line, record: self.records, start: w.at + a, end: w.at + b };
            let text = match whole {
                Some(t) => t.get(a..b),
                None => std::str::from_utf8(raw.get(a..b).unwrap_or(&[])).ok(),
            };
            let Some(mut text) = text else {
                p.chunk.failed = Some(fail);
                return;
            };
            if w.file_start && a == 0 {
                text = text.strip_prefix('\u{feff}').unwrap_or(text);
            }
            // Blank lines are skipped as the row loader skips them: Unicode
            // whitespace, and a first line that held only the byte-order
            // mark. They are not records, so they do not count in "record N".
            if !text.starts_with('{') && text.trim().is_empty() {
                continue;
            }
            self.records += 1;
            // `text` ends where the line does; only a byte-order mark may
            // have been cut from its front.
            let stops = self.stops.at(b - text.len());
            if scan::record(text, stops, cx.targets, &mut self.rec).is_some() {
                p.push_record(&self.rec);
            } else if let Some((device, misnamed)) = project::parse_record(text, cx.projection) {
                p.push_device(&device, &misnamed);
            } else {
                p.chunk.failed = Some(fail);
                return;
            }
        }
    }
}

struct Parser<'a> {
    piece: &'a [u8],
    scalar_maps: Vec<FxHashMap<&'a str, u32>>,
    lane_maps: [Vec<FxHashMap<&'a str, u32>>; 3],
    chunk: Chunk,
}

fn collection(prefixes: &'static [LanePrefix], keep: u16, dedup: &[bool]) -> LocalCollection {
    LocalCollection {
        prefixes,
        keep,
        lanes: (0..=prefixes.len())
            .map(|k| LocalLane {
                values: Distinct::new(dedup.get(k).copied().unwrap_or(true)),
                first: Vec::new(),
                extra: Vec::new(),
            })
            .collect(),
        masks: Vec::new(),
    }
}

impl<'a> Parser<'a> {
    fn new(piece: &'a [u8], cx: &Context<'_>) -> Self {
        let maps = |n: usize| (0..n).map(|_| FxHashMap::default()).collect::<Vec<_>>();
        Parser {
            piece,
            scalar_maps: maps(FleetIndex::COLUMNS),
            lane_maps: [maps(PHYSICAL_ID_LANES.len() + 1), maps(1), maps(1)],
            chunk: Chunk {
                devices: 0,
                lines: 0,
                failed: None,
                scalars: (0..FleetIndex::COLUMNS)
                    .map(|slot| Local::new(cx.dedup.0.get(slot).copied().unwrap_or(true)))
                    .collect(),
                collections: [
                    collection(PHYSICAL_ID_LANES, cx.projection.physical_id_lanes(), &cx.dedup.1[0]),
                    collection(&[], u16::MAX, &cx.dedup.1[1]),
                    collection(&[], u16::MAX, &cx.dedup.1[2]),
                ],
                extensions: Vec::new(),
                misnamed: Vec::new(),
                own: String::new(),
                id_hashes: Vec::new(),
                bytes: Vec::new(),
            },
        }
    }

    /// The span of a value, borrowed from the piece or copied into the
    /// chunk's own text.
    fn span(&mut self, v: Cow<'a, str>) -> Span {
        match v {
            Cow::Borrowed(s) => {
                let start = (s.as_ptr() as usize).wrapping_sub(self.piece.as_ptr() as usize);
                Span { start, end: start + s.len() }
            }
            Cow::Owned(s) => {
                let start = self.piece.len() + self.chunk.own.len();
                self.chunk.own.push_str(&s);
                Span { start, end: start + s.len() }
            }
        }
    }

    fn distinct(&mut self, values: Values) -> &mut Distinct {
        match values {
            Values::Scalar(slot) => &mut self.chunk.scalars[slot].values,
            Values::Lane(c, lane) => &mut self.chunk.collections[c].lanes[lane].values,
        }
    }

    /// The local code of a value (interned when the column deduplicates
    /// and the value is in the piece).
    fn code(&mut self, values: Values, v: Cow<'a, str>) -> u32 {
        if let Distinct::Run { text, ends } = self.distinct(values) {
            text.extend_from_slice(v.as_bytes());
            ends.push(text.len());
            return ends.len() as u32;
        }
        let borrowed = match &v {
            Cow::Borrowed(s) => Some(*s),
            Cow::Owned(_) => None,
        };
        if let Some(s) = borrowed {
            let map = match values {
                Values::Scalar(slot) => &mut self.scalar_maps[slot],
                Values::Lane(c, lane) => &mut self.lane_maps[c][lane],
            };
            if let Some(&code) = map.get(s) {
                return code;
            }
        }
        let span = self.span(v);
        // (A run returned above.)
        let Distinct::Spans(list) = self.distinct(values) else { return 0 };
        list.push(span);
        let code = list.len() as u32;
        if let Some(s) = borrowed {
            match values {
                Values::Scalar(slot) => self.scalar_maps[slot].insert(s, code),
                Values::Lane(c, lane) => self.lane_maps[c][lane].insert(s, code),
            };
        }
        code
    }

    fn scalar(&mut self, slot: usize, v: Option<Cow<'a, str>>) {
        let Some(v) = v.filter(|v| !v.is_empty()) else { return };
        let code = self.code(Values::Scalar(slot), v);
        let device = self.chunk.devices;
        let codes = &mut self.chunk.scalars[slot].codes;
        codes.resize(device, 0);
        codes.push(code);
    }

    fn items(&mut self, c: usize, items: impl Iterator<Item = Cow<'a, str>>) {
        let device = self.chunk.devices as u32;
        let mut mask = 0u16;
        for item in items {
            let lane = lane_of(self.chunk.collections[c].prefixes, &item);
            if self.chunk.collections[c].keep & (1 << lane) == 0 {
                mask |= 1 << lane;
                continue;
            }
            let code = self.code(Values::Lane(c, lane), item);
            let l = &mut self.chunk.collections[c].lanes[lane];
            if mask & (1 << lane) == 0 {
                l.first.resize(device as usize, 0);
                l.first.push(code);
                mask |= 1 << lane;
            } else {
                l.extra.push([device, code]);
            }
        }
        self.chunk.collections[c].masks.push(mask);
    }

    fn note(&mut self, misnamed: &[&'static str]) {
        for name in misnamed {
            if !self.chunk.misnamed.contains(name) {
                self.chunk.misnamed.push(name);
            }
        }
    }

    fn push_record(&mut self, rec: &Record<'a>) {
        let mut id = "";
        for (slot, v) in rec.scalars() {
            if slot == OBJECT_ID {
                id = v.unwrap_or("");
            }
            self.scalar(slot, v.map(Cow::Borrowed));
        }
        self.items(0, rec.physical_ids.iter().map(|s| Cow::Borrowed(*s)));
        self.items(1, rec.system_labels.iter().map(|s| Cow::Borrowed(*s)));
        self.items(2, std::iter::empty());
        self.note(&rec.misnamed);
        self.chunk.id_hashes.push(IdHashes::hash(id));
        self.chunk.devices += 1;
    }

    /// A record serde parsed (its values copied into the chunk's text).
    fn push_device(&mut self, d: &Device, misnamed: &[&'static str]) {
        let owned = |s: &str| Cow::Owned(s.to_string());
        for slot in 0..FleetIndex::COLUMNS {
            self.scalar(slot, scalar_value(d, slot).map(owned));
        }
        self.items(0, d.physical_ids.iter().flatten().map(|s| owned(s)));
        self.items(1, d.system_labels.iter().flatten().map(|s| owned(s)));
        self.items(2, d.member_of().map(owned));
        let device = self.chunk.devices;
        for (name, value) in d.extensions.iter() {
            let k = match self.chunk.extensions.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some(k) => k,
                None => {
                    self.chunk.extensions.push((name.to_string(), Local::new(true)));
                    self.chunk.extensions.len() - 1
                }
            };
            if value.is_empty() {
                continue;
            }
            let span = self.span(owned(value));
            let col = &mut self.chunk.extensions[k].1;
            let Distinct::Spans(values) = &mut col.values else { continue };
            values.push(span);
            col.codes.resize(device, 0);
            col.codes.push(values.len() as u32);
        }
        self.note(misnamed);
        self.note(d.extensions.misnamed());
        self.chunk.id_hashes.push(IdHashes::hash(scalar_value(d, OBJECT_ID).unwrap_or("")));
        self.chunk.devices += 1;
    }
}

#[derive(Clone, Copy)]
enum Values {
    Scalar(usize),
    Lane(usize, usize),
}

/// Names of the collections, for overflow errors.
const COLLECTIONS: [&str; 3] = ["devicePhysicalIds", "systemLabels", "memberOf"];

/// Appends `chunk` to `builder`, in order.
pub(super) fn merge(builder: &mut FleetBuilder, chunk: &Chunk) -> Result<(), ColumnOverflow> {
    // Bytes of validated chunks, cut at quotes: UTF-8 without a new check.
    let text = |s: &Span| -> Result<&[u8], ColumnOverflow> {
        let bytes = match s.start.checked_sub(chunk.bytes.len()) {
            None => chunk.bytes.get(s.start..s.end),
            Some(k) => chunk.own.as_bytes().get(k..k + (s.end - s.start)),
        };
        bytes.ok_or_else(|| ColumnOverflow { column: "a value outside its piece".into() })
    };
    for (slot, local) in chunk.scalars.iter().enumerate() {
        let Some(col) = builder.scalar_mut(slot) else { continue };
        let remap =
            remap(&local.values, &text, col.dict_mut()).map_err(|_| crate::fleet::index::overflow(slot))?;
        col.extend_remapped(chunk.devices, &local.codes, &remap);
    }
    for (c, local) in chunk.collections.iter().enumerate() {
        let Some(col) = builder.collection_mut(c) else { continue };
        let overflow = || ColumnOverflow { column: COLLECTIONS[c].into() };
        for (lane, l) in local.lanes.iter().enumerate() {
            let Some(dict) = col.dict_mut(lane) else { continue };
            let remap = remap(&l.values, &text, dict).map_err(|_| overflow())?;
            col.extend_remapped(lane, &l.first, &l.extra, &remap);
        }
        col.extend_masks(&local.masks);
    }
    for (name, _) in &chunk.extensions {
        builder.extension_mut(name);
    }
    for (name, col) in builder.extensions_mut() {
        match chunk.extensions.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, local)) => {
                let remap = remap(&local.values, &text, col.dict_mut())
                    .map_err(|_| ColumnOverflow { column: name.to_string() })?;
                col.extend_remapped(chunk.devices, &local.codes, &remap);
            }
            None => col.extend_remapped(chunk.devices, &[], &[]),
        }
    }
    builder.note_misnamed(&chunk.misnamed);
    builder.extend_id_hashes(&chunk.id_hashes);
    builder.grow(chunk.devices);
    Ok(())
}

/// The global code of each local code of `values` (0 stays 0), interning
/// spans one by one and appending a run whole.
fn remap<'b>(
    values: &Distinct,
    text: &dyn Fn(&Span) -> Result<&'b [u8], ColumnOverflow>,
    dict: &mut DictBuilder,
) -> Result<Vec<u32>, ColumnOverflow> {
    match values {
        Distinct::Spans(spans) => {
            let mut remap = Vec::with_capacity(spans.len() + 1);
            remap.push(0);
            for v in spans {
                remap.push(dict.intern_bytes(text(v)?)?);
            }
            Ok(remap)
        }
        Distinct::Run { text, ends } => dict.append_run(text, ends),
    }
}

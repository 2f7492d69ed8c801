//! The packed index: a [`FleetIndex`] as one binary file that is opened
//! by memory-mapping it and evaluated in place (`fleetlab inventory pack`,
//! [`FleetIndex::open`]).
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! magic      8 bytes  "FLEETLAB"
//! version    u32      FORMAT_VERSION
//! flags      u32      bit 0: object ids are unique (the pack was deduplicated)
//! devices    u64
//! sections   u32      entries in the section table
//! extensions u32      custom directory extension columns
//! table crc  u32      CRC-32 of the section table
//! header crc u32      CRC-32 of the 36 bytes above
//! table      sections × { offset u64, length u64, width u32, crc32 u32 }
//! sections   each at the next multiple of 8 bytes, zero padding between
//! ```
//!
//! Sections come in a fixed order: for each fixed column its dictionary
//! text (width 1), dictionary offsets (4) and codes (1, 2 or 4); for each
//! collection its lane mask (2) and per lane text, offsets, first codes and
//! extra `[device, code]` pairs (8); the extension names (1, each ended by a
//! zero byte); then text, offsets and codes of each extension column.
//!
//! Decisions:
//!
//! * **Aligned sections, read in place.** Every section starts at a
//!   multiple of 8, so a mapped section is a `&[u16]`/`&[u32]` by a checked
//!   cast (`fleet/store.rs`): opening copies nothing and memory is
//!   the pages a rule touches (the Autopilot rule reads one byte of operating
//!   system and two bytes of lane mask per device).
//! * **Validated once, cheaply, then lazily.** Opening checks the header,
//!   the table's own CRC, that sections are laid out in order inside the
//!   file, and every length the table implies (one code per device, …): a
//!   few kilobytes. Each section's CRC-32 and its invariants are verified
//!   when first used (`fleet/store.rs`); [`FleetIndex::verify`]
//!   verifies everything in parallel, padding included.
//! * **A cache, not an interchange format.** The file is a cache of an
//!   inventory the user still has: any change of layout bumps
//!   `FORMAT_VERSION`, and other versions are rejected with "re-pack it".
//!   Version 3 introduced the section table; versions 1–2 were read whole.
//! * **Little-endian hosts only.** Views reinterpret the file's
//!   little-endian integers in place; every platform fleetlab ships for is
//!   little-endian, and a big-endian host gets a clear error instead of
//!   wrong codes.

use std::path::Path;
use std::sync::Arc;

use crate::fleet::column::{
    Codes, CollectionColumn, Dict, Lane, LanePrefix, ScalarColumn, PHYSICAL_ID_LANES,
};
use crate::fleet::index::FleetIndex;
use crate::fleet::store::{Arr, Backing, Bytes, Section};
use crate::inventory::InventoryError;

const MAGIC: &[u8; 8] = b"FLEETLAB";
/// Bumped whenever the layout changes.
pub const FORMAT_VERSION: u32 = 3;
const HEADER: usize = 8 + 4 + 4 + 8 + 4 + 4 + 4 + 4;
const ENTRY: usize = 8 + 8 + 4 + 4;
const UNIQUE_IDS: u32 = 1;

/// True when `head` starts like a packed index, or is a cut-off start of one.
pub(crate) fn is_pack(head: &[u8]) -> bool {
    !head.is_empty() && (head.starts_with(MAGIC) || MAGIC.starts_with(head))
}

/// Lanes of the three collections, in file order.
fn lane_counts() -> [usize; 3] {
    [PHYSICAL_ID_LANES.len() + 1, 1, 1]
}

/// Sections a pack with `extensions` extension columns has.
fn section_count(extensions: usize) -> usize {
    FleetIndex::COLUMNS * 3 + lane_counts().iter().map(|l| 1 + 4 * l).sum::<usize>() + 1 + 3 * extensions
}

struct Writer {
    /// The whole file; the header and table are filled in at the end.
    buf: Vec<u8>,
    table: Vec<(u64, u64, u32, u32)>,
}

impl Writer {
    fn section(&mut self, bytes: &[u8], width: u32) {
        while !self.buf.len().is_multiple_of(8) {
            self.buf.push(0);
        }
        let offset = self.buf.len() as u64;
        self.buf.extend_from_slice(bytes);
        self.table.push((offset, bytes.len() as u64, width, crc32fast::hash(bytes)));
    }
    fn ints<T: bytemuck::Pod>(&mut self, items: &[T], width: u32) {
        // The file is little-endian; so is every host `open` accepts.
        self.section(bytemuck::cast_slice(items), width);
    }
    fn dict(&mut self, d: &Dict) {
        self.section(&d.text, 1);
        self.ints(&d.offsets, 4);
    }
    fn codes(&mut self, c: &Codes) {
        match c {
            Codes::U8(v) => self.ints(v, 1),
            Codes::U16(v) => self.ints(v, 2),
            Codes::U32(v) => self.ints(v, 4),
        }
    }
    fn collection(&mut self, c: &CollectionColumn) {
        self.ints(&c.mask, 2);
        for lane in &c.lanes {
            self.dict(&lane.dict);
            self.codes(&lane.first);
            self.ints(&lane.extra, 8);
        }
    }
}

/// An index loaded for a set of rules
/// ([`crate::fleet::CompiledSet::projection`]) cannot be packed: its other
/// properties are unset, and a pack is trusted to hold every property.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "this index was loaded for a set of rules and lacks the other properties; load the inventory \
     whole to pack it"
)]
pub struct PartialIndex;

/// The packed bytes of `index`; refused for an index loaded for a set of
/// rules rather than whole.
pub fn to_bytes(index: &FleetIndex) -> Result<Vec<u8>, PartialIndex> {
    if !index.loaded.is_all() {
        return Err(PartialIndex);
    }
    let n = section_count(index.extensions.len());
    let mut w = Writer { buf: vec![0u8; HEADER + n * ENTRY], table: Vec::with_capacity(n) };
    for col in &index.scalars {
        w.dict(&col.dict);
        w.codes(&col.codes);
    }
    w.collection(&index.physical_ids);
    w.collection(&index.system_labels);
    w.collection(&index.member_of);
    let mut names = Vec::new();
    for (name, _) in &index.extensions {
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    w.section(&names, 1);
    for (_, col) in &index.extensions {
        w.dict(&col.dict);
        w.codes(&col.codes);
    }
    let mut table = Vec::with_capacity(n * ENTRY);
    for (offset, len, width, crc) in &w.table {
        table.extend_from_slice(&offset.to_le_bytes());
        table.extend_from_slice(&len.to_le_bytes());
        table.extend_from_slice(&width.to_le_bytes());
        table.extend_from_slice(&crc.to_le_bytes());
    }
    let unique = crate::fleet::unique::ids_unique(index);
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&(if unique { UNIQUE_IDS } else { 0 }).to_le_bytes());
    header.extend_from_slice(&(index.len() as u64).to_le_bytes());
    header.extend_from_slice(&(w.table.len() as u32).to_le_bytes());
    header.extend_from_slice(&(index.extensions.len() as u32).to_le_bytes());
    header.extend_from_slice(&crc32fast::hash(&table).to_le_bytes());
    let crc = crc32fast::hash(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    let mut buf = w.buf;
    if let Some(h) = buf.get_mut(..HEADER) {
        h.copy_from_slice(&header);
    }
    if let Some(t) = buf.get_mut(HEADER..HEADER + table.len()) {
        t.copy_from_slice(&table);
    }
    Ok(buf)
}

type Bad = String;

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_le_bytes(x)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        x.copy_from_slice(s);
    }
    u64::from_le_bytes(x)
}

/// What the header says.
struct Header {
    flags: u32,
    devices: usize,
    sections: Vec<Section>,
    widths: Vec<u32>,
    extensions: usize,
}

fn truncated(len: usize) -> Bad {
    format!("truncated fleetlab index: {len} bytes, shorter than its header; re-pack it")
}

/// Checks the header and section table (never the sections' contents).
fn header(bytes: &[u8]) -> Result<Header, Bad> {
    if !bytes.is_empty() && bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
        return Err(truncated(bytes.len()));
    }
    if !bytes.starts_with(MAGIC) {
        return Err("not a packed fleetlab index (no FLEETLAB header)".into());
    }
    if bytes.len() < 12 {
        return Err(truncated(bytes.len()));
    }
    let version = le_u32(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(format!(
            "packed index has format version {version}; this fleetlab reads version {FORMAT_VERSION}. \
             Re-pack it from the JSON inventory with `fleetlab inventory pack`"
        ));
    }
    if bytes.len() < HEADER {
        return Err(truncated(bytes.len()));
    }
    if crc32fast::hash(bytes.get(..36).unwrap_or(&[])) != le_u32(bytes, 36) {
        return Err("packed index is corrupt (header checksum mismatch); re-pack it".into());
    }
    let flags = le_u32(bytes, 12);
    if flags & !UNIQUE_IDS != 0 {
        return Err("packed index has an unknown flag set; re-pack it".into());
    }
    let devices = usize::try_from(le_u64(bytes, 16)).map_err(|_| "device count too large")?;
    let count = le_u32(bytes, 24) as usize;
    let extensions = le_u32(bytes, 28) as usize;
    if count != section_count(extensions) {
        return Err(format!("expected {} sections, the table lists {count}", section_count(extensions)));
    }
    let table_end = HEADER + count * ENTRY;
    let table = bytes.get(HEADER..table_end).ok_or_else(|| {
        format!("truncated fleetlab index: {} bytes, its section table needs {table_end}", bytes.len())
    })?;
    if crc32fast::hash(table) != le_u32(bytes, 32) {
        return Err("packed index is corrupt (section table checksum mismatch); re-pack it".into());
    }
    let mut sections = Vec::with_capacity(count);
    let mut widths = Vec::with_capacity(count);
    let mut end = table_end;
    for k in 0..count {
        let at = k * ENTRY;
        let offset = usize::try_from(le_u64(table, at)).map_err(|_| "section offset too large")?;
        let len = usize::try_from(le_u64(table, at + 8)).map_err(|_| "section length too large")?;
        let width = le_u32(table, at + 16);
        // Sections follow each other, each at the next multiple of 8.
        if offset != end.next_multiple_of(8) {
            return Err(format!("section {k} is out of place"));
        }
        end = offset.checked_add(len).ok_or("section length overflows")?;
        if end > bytes.len() {
            return Err(format!(
                "truncated fleetlab index: section {k} ends at byte {end}, the file has {}",
                bytes.len()
            ));
        }
        if width == 0 || len % width as usize != 0 {
            return Err(format!("section {k} is not a whole number of {width}-byte items"));
        }
        sections.push(Section { offset, len, crc: le_u32(table, at + 20) });
        widths.push(width);
    }
    if end != bytes.len() {
        return Err(format!("packed index has {} unexpected bytes at its end", bytes.len() - end));
    }
    Ok(Header { flags, devices, sections, widths, extensions })
}

/// Walks the section table in file order, making views.
struct Cursor<'h> {
    backing: Arc<Backing>,
    widths: &'h [u32],
    sections: &'h [Section],
    next: usize,
    devices: usize,
}

impl Cursor<'_> {
    fn take(&mut self, allowed: &[u32]) -> Result<(usize, u32, usize), Bad> {
        let k = self.next;
        let width = *self.widths.get(k).ok_or("the section table ends early")?;
        if !allowed.contains(&width) {
            return Err(format!("section {k} has items of {width} bytes, expected {allowed:?}"));
        }
        self.next += 1;
        let len = self.sections.get(k).map_or(0, |s| s.len) / width as usize;
        Ok((k, width, len))
    }
    fn view<T: bytemuck::Pod>(&self, section: usize) -> Arr<T> {
        Arr::View { backing: Arc::clone(&self.backing), section }
    }
    fn dict(&mut self) -> Result<Dict, Bad> {
        let (text, _, _) = self.take(&[1])?;
        let (offsets, _, n) = self.take(&[4])?;
        if n == 0 {
            return Err(format!("section {offsets}: a dictionary without offsets"));
        }
        Ok(Dict { text: self.view(text), offsets: self.view(offsets) })
    }
    fn codes(&mut self) -> Result<Codes, Bad> {
        let (k, width, n) = self.take(&[1, 2, 4])?;
        if n != self.devices {
            return Err(format!("section {k} has {n} codes for {} devices", self.devices));
        }
        Ok(match width {
            1 => Codes::U8(self.view(k)),
            2 => Codes::U16(self.view(k)),
            _ => Codes::U32(self.view(k)),
        })
    }
    fn scalar(&mut self) -> Result<ScalarColumn, Bad> {
        Ok(ScalarColumn { dict: self.dict()?, codes: self.codes()? })
    }
    fn collection(&mut self, lanes: usize, prefixes: &[LanePrefix]) -> Result<CollectionColumn, Bad> {
        let (mask, _, n) = self.take(&[2])?;
        if n != self.devices {
            return Err(format!("section {mask}: a collection mask does not cover every device"));
        }
        let mut out = Vec::with_capacity(lanes);
        for k in 0..lanes {
            let dict = self.dict()?;
            let first = self.codes()?;
            let (extra, _, _) = self.take(&[8])?;
            let prefix = prefixes.get(k).map_or("", |p| p.text);
            out.push(Lane { prefix, dict, first, extra: self.view(extra) });
        }
        Ok(CollectionColumn { lanes: out, mask: self.view(mask), loaded: u16::MAX })
    }
}

/// Opens a packed index held in `bytes`: header and table checked, columns
/// as views of the sections.
pub(crate) fn open_bytes(bytes: Bytes, name: &Path) -> Result<FleetIndex, InventoryError> {
    let bad =
        |message: String| InventoryError::Syntax { path: name.to_path_buf(), line: 0, column: 0, message };
    let h = header(bytes.as_slice()).map_err(bad)?;
    if cfg!(target_endian = "big") {
        return Err(bad("packed indexes are read on little-endian machines only; load the JSON \
                        inventory instead"
            .into()));
    }
    let backing = Arc::new(Backing::new(bytes, h.sections.clone(), name.display().to_string()));
    let mut c = Cursor {
        backing: Arc::clone(&backing),
        widths: &h.widths,
        sections: &h.sections,
        next: 0,
        devices: h.devices,
    };
    let parse = |c: &mut Cursor<'_>| -> Result<FleetIndex, Bad> {
        let scalars = (0..FleetIndex::COLUMNS).map(|_| c.scalar()).collect::<Result<Vec<_>, _>>()?;
        let [p, s, m] = lane_counts();
        let physical_ids = c.collection(p, PHYSICAL_ID_LANES)?;
        let system_labels = c.collection(s, &[])?;
        let member_of = c.collection(m, &[])?;
        let (names, _, _) = c.take(&[1])?;
        let names: Arr<u8> = c.view(names);
        names.verify_crc().map_err(|e| e.to_string())?;
        let names = std::str::from_utf8(&names).map_err(|_| "an extension name is not UTF-8")?;
        let names: Vec<&str> = names.split_terminator('\0').collect();
        if names.len() != h.extensions {
            return Err(format!("expected {} extension names, found {}", h.extensions, names.len()));
        }
        let mut extensions = Vec::with_capacity(names.len());
        for name in names {
            extensions.push((name.to_string(), c.scalar()?));
        }
        let mut index = FleetIndex::from_parts(h.devices, scalars, [physical_ids, system_labels, member_of]);
        index.extensions = extensions;
        index.origin = crate::fleet::index::Origin {
            packed: Some(crate::fleet::index::Packed { backing: Arc::clone(&backing) }),
            unique_ids: h.flags & UNIQUE_IDS != 0,
        };
        Ok(index)
    };
    parse(&mut c).map_err(|m| bad(format!("packed index is malformed: {m}")))
}

/// Reads a packed index from bytes (`name` labels errors) into an aligned
/// heap copy.
pub fn from_bytes(bytes: &[u8], name: &Path) -> Result<FleetIndex, InventoryError> {
    open_bytes(Bytes::copy_of(bytes), name)
}

/// Reads a packed index file into memory (no mapping).
pub fn read(path: &Path) -> Result<FleetIndex, InventoryError> {
    let bytes =
        std::fs::read(path).map_err(|source| InventoryError::Io { path: path.to_path_buf(), source })?;
    from_bytes(&bytes, path)
}

/// Opens a packed index file by memory-mapping it (`fleet/mapped.rs`);
/// files too short to hold a header, and files locked exclusively by another
/// process, are read into memory instead.
#[cfg(feature = "mmap")]
pub fn open(path: &Path) -> Result<FleetIndex, InventoryError> {
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < HEADER as u64 {
        return read(path);
    }
    match crate::fleet::mapped::map(&file).map_err(io)? {
        Some(map) => open_bytes(Bytes::Mapped { map, _file: file }, path),
        None => read(path),
    }
}

/// Without the `mmap` feature a packed index is read into memory: the same
/// answers, without the mapping's crates in the build.
#[cfg(not(feature = "mmap"))]
pub fn open(path: &Path) -> Result<FleetIndex, InventoryError> {
    read(path)
}

/// Verifies every section of a packed index in parallel (CRC and
/// invariants) and that padding between sections is zero.
pub(crate) fn verify_all(index: &FleetIndex) -> Result<(), Arc<str>> {
    use crate::par::prelude::*;
    let n = index.len();
    type Job<'a> = Box<dyn Fn() -> Result<(), Arc<str>> + Sync + 'a>;
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for col in index.scalars.iter().chain(index.extensions.iter().map(|(_, c)| c)) {
        jobs.push(Box::new(move || col.verify(n)));
    }
    for coll in [&index.physical_ids, &index.system_labels, &index.member_of] {
        jobs.push(Box::new(move || coll.verify_mask(n)));
        for lane in &coll.lanes {
            jobs.push(Box::new(move || lane.verify(n)));
        }
    }
    jobs.par_iter().map(|job| job()).collect::<Result<Vec<()>, _>>()?;
    if let Some(origin) = &index.origin.packed {
        origin.backing.verify_padding()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Device;

    fn sample() -> Result<FleetIndex, Box<dyn std::error::Error>> {
        let devices: Vec<Device> = serde_json::from_str(
            r#"[{"id": "a", "operatingSystem": "Windows", "accountEnabled": true,
                 "physicalIds": ["[ZTDId]:1", "[OrderId]:NL", "[OrderId]:X", "odd"],
                 "extensionAttributes": {"extensionAttribute3": "CC-1"},
                 "extension_c272a57b722d4eb29bfe327874ae79cb_Site": "AMS"},
                {"id": "b", "displayName": "İstanbul-01", "systemLabels": ["M365Managed"]}]"#,
        )?;
        Ok(FleetIndex::from_devices(&devices)?)
    }

    #[test]
    fn round_trips() -> Result<(), Box<dyn std::error::Error>> {
        let index = sample()?;
        let bytes = to_bytes(&index)?;
        let back = from_bytes(&bytes, Path::new("x.fleet"))?;
        back.verify()?;
        assert_eq!(back, index);
        // Packing a loaded pack gives the same bytes.
        assert_eq!(to_bytes(&back)?, bytes);
        Ok(())
    }

    #[test]
    fn rejects_truncation_corruption_and_versions_without_panicking() -> Result<(), Box<dyn std::error::Error>>
    {
        let bytes = to_bytes(&sample()?)?;
        let p = Path::new("x.fleet");
        // Opening checks the layout; sections are verified when read, so a
        // damaged byte is caught by opening or by verifying, never missed.
        let full = |b: &[u8]| from_bytes(b, p).and_then(|ix| ix.verify().map(|()| ix));
        for cut in 0..bytes.len() {
            assert!(from_bytes(&bytes[..cut], p).is_err(), "truncated at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x5A;
            assert!(full(&bad).is_err(), "flipped byte {i}");
        }
        let mut newer = bytes.clone();
        newer[8] = 9;
        let msg = from_bytes(&newer, p).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(msg.contains("version 9") && msg.contains("fleetlab inventory pack"), "{msg}");
        let mut old = bytes.clone();
        old[8] = 2;
        let msg = from_bytes(&old, p).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(msg.contains("version 2") && msg.contains("Re-pack"), "{msg}");
        Ok(())
    }
}

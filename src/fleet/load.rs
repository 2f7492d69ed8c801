//! Streaming an inventory file straight into a [`FleetIndex`].
//!
//! The raw text is never held whole. **JSON Lines** go through a pipeline
//! of their own ([`lines`]): blocks of 16 MiB cut at the last line break;
//! while one block is read, the previous one is cut into chunks of whole
//! lines parsed in parallel by a hand-written record scanner ([`scan`])
//! into chunk-local columns ([`chunk`]: values as spans of the block, no
//! `Device`, no owned strings), and the one before is merged into the
//! index in file order, interning each distinct local value once. A JSON
//! array or a Graph page is walked block by block, cut into elements by a
//! scanner ([`Splitter`]) that only tracks nesting and strings, the
//! elements parsed in parallel by the projected serde visitor
//! ([`crate::inventory::Projection`]) while the previous block's are
//! indexed. Either way memory is the index plus a few blocks, and only the
//! fields the rules read are kept; the rest are type-checked and dropped.
//!
//! Decision: no SIMD JSON crate. A profile of the serde path (2,000,000
//! records, 1.45 GB) put a third of the time in allocation and copying
//! (an owned `Device` per record, a `String` per field), a quarter in the
//! sequential per-device interning, and under a fifth in serde's
//! tokenizer; the scanner borrows values and the chunks intern in
//! parallel, which removes the first two, and its string search (eight
//! bytes at a time) matches what `simd-json` or `sonic-rs` would gain on
//! values this short without an `unsafe`-heavy dependency. The scanner
//! gives up on anything unusual (escapes, exponents, deep nesting,
//! duplicate fields) and hands the record to serde, so serde still decides
//! what is accepted and words every error: on that file, the 224 records
//! with a backslash escape took the serde path, the rest the scanner.
//!
//! When a record is malformed, the error names the file, line, record
//! and field: JSON Lines parse the bad line again with the derived
//! deserializer; arrays and pages are streamed a second time through a
//! validator that tracks the path of each value, keeping no record, so a
//! huge file with one bad record costs no more memory than a good load.
//! Invalid UTF-8 and a UTF-16 byte-order mark are named like the row
//! loader names them (line and column; which encoding to save as).
//!
//! A packed index ([`crate::fleet::pack`]) is recognised by its magic bytes.

mod chunk;
mod lines;
mod piece;
mod scan;
mod stops;
#[cfg(test)]
mod tests_lines;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

#[cfg(not(feature = "parallel"))]
use crate::par::prelude::*;
#[cfg(feature = "parallel")]
use crate::par::prelude::*;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::fleet::index::{FleetBuilder, FleetIndex};
use crate::fleet::pack;
use crate::fleet::split::Splitter;
use crate::inventory::load::{located, parse_line, utf16_bom};
use crate::inventory::project::{self, Projection};
use crate::inventory::{Device, InventoryError};

/// Loads a device inventory (JSON array, Graph page, JSON Lines, or a
/// packed index) into a [`FleetIndex`]; `progress` is called with the
/// bytes read so far.
pub fn load_index(path: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<FleetIndex, InventoryError> {
    load_index_projected(path, progress, &Projection::all())
}

/// Like [`load_index`], decoding only the fields `projection` names (see
/// [`crate::inventory::Projection`]): the index has the other columns, all
/// unset. A packed index is opened whole (its columns cost nothing until read).
pub fn load_index_projected(
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
    projection: &Projection,
) -> Result<FleetIndex, InventoryError> {
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    // A pipe would be emptied by the first of the reads below and then
    // look like an empty inventory: refuse it by name instead.
    if !file.metadata().map_err(io)?.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a pipe, device or socket): a device inventory is read more than once \
             and by position, so save it to a file first",
        )));
    }
    let mut head = [0u8; 8];
    let got = read_up_to(&mut file, &mut head).map_err(io)?;
    if pack::is_pack(&head[..got]) {
        return pack::open(path);
    }
    if let Some(e) = utf16_bom(&head[..got], path) {
        return Err(e);
    }
    let file = File::open(path).map_err(io)?;
    let mut reader = CountingReader { inner: BufReader::with_capacity(1 << 20, file), read: 0, progress };
    let first = first_significant(&mut reader).map_err(io)?;
    match first {
        Some(b'[') | Some(b'{') if !is_json_lines(path).map_err(io)? => {
            stream_json(path, progress, projection)?.map_err(|()| locate_error(path))
        }
        _ => lines::stream(path, progress, projection, lines::PIECE),
    }
}

/// Streams the file again, keeping nothing, to name where it is malformed.
fn locate_error(path: &Path) -> InventoryError {
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return io(e),
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    // Skip a UTF-8 byte-order mark, as the first pass did.
    if let Ok(buf) = reader.fill_buf() {
        if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            reader.consume(3);
        }
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    match serde_path_to_error::deserialize::<_, Validate>(&mut de).map(|_| de.end()) {
        Err(e) => located(e, path),
        Ok(Err(e)) => InventoryError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: "unexpected text after the records".into(),
        },
        Ok(Ok(())) => InventoryError::Syntax {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: "not a JSON array, Graph page or JSON Lines of device objects".into(),
        },
    }
}

/// A JSON array of devices or a Graph page, each device parsed and dropped.
struct Validate;

impl<'de> serde::Deserialize<'de> for Validate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Validate, D::Error> {
        d.deserialize_any(ValidateVisitor)
    }
}

struct ValidateVisitor;

impl<'de> Visitor<'de> for ValidateVisitor {
    type Value = Validate;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of devices or a Graph page {\"value\": [...]}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Validate, A::Error> {
        while seq.next_element::<Device>()?.is_some() {}
        Ok(Validate)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Validate, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "value" && !found {
                map.next_value::<DevicesOnly>()?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found {
            Ok(Validate)
        } else {
            Err(serde::de::Error::custom("a Graph page needs a \"value\" array"))
        }
    }
}

/// The `value` array of a page, each device parsed and dropped.
struct DevicesOnly;

impl<'de> serde::Deserialize<'de> for DevicesOnly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DevicesOnly, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DevicesOnly;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of device objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DevicesOnly, A::Error> {
                while seq.next_element::<Device>()?.is_some() {}
                Ok(DevicesOnly)
            }
        }
        d.deserialize_seq(V)
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct CountingReader<'p, R> {
    inner: R,
    read: u64,
    progress: &'p (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let before = self.read >> 24;
        self.read += n as u64;
        if self.read >> 24 != before {
            (self.progress)(self.read);
        }
        Ok(n)
    }
}

/// The first byte that is not whitespace or a byte-order mark (not consumed).
fn first_significant<R: Read>(r: &mut CountingReader<'_, BufReader<R>>) -> std::io::Result<Option<u8>> {
    loop {
        let buf = r.inner.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let skip =
            buf.iter().take_while(|b| b.is_ascii_whitespace() || matches!(b, 0xEF | 0xBB | 0xBF)).count();
        if skip < buf.len() {
            let b = buf[skip];
            r.inner.consume(skip);
            return Ok(Some(b));
        }
        let n = buf.len();
        r.inner.consume(n);
    }
}

/// JSON Lines when the first non-empty line is a whole JSON object that is
/// not a Graph page (a one-line page has a `value` array).
fn is_json_lines(path: &Path) -> std::io::Result<bool> {
    let mut file = BufReader::new(File::open(path)?);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if file.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        // Invalid UTF-8 on the first line: let the line reader name it.
        let Ok(line) = std::str::from_utf8(&raw) else { return Ok(true) };
        let t = line.trim_start_matches('\u{feff}').trim();
        if t.is_empty() {
            continue;
        }
        if !t.starts_with('{') {
            return Ok(false);
        }
        return Ok(match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(t) {
            Ok(map) => !map.get("value").is_some_and(|v| v.is_array()),
            Err(_) => false,
        });
    }
    Ok(false)
}

/// Bytes read per block of a JSON array or page.
const BLOCK: usize = 8 << 20;

fn push_all(
    builder: &mut FleetBuilder,
    devices: Vec<(Device, Vec<&'static str>)>,
    path: &Path,
) -> Result<(), InventoryError> {
    for (d, misnamed) in &devices {
        builder.push(d).map_err(|e| overflow(path, e))?;
        builder.note_misnamed(misnamed);
    }
    Ok(())
}

/// The error for the record on line `line` (record number `record`), whose
/// bytes are `raw`: invalid UTF-8, or serde's error naming the field.
fn record_error(path: &Path, line: usize, record: usize, raw: &[u8]) -> InventoryError {
    let text = match std::str::from_utf8(raw) {
        Ok(t) => t,
        Err(e) => return bad_utf8(path, line, raw, e.valid_up_to()),
    };
    let text = if line == 1 { text.trim_start_matches('\u{feff}') } else { text };
    // Name the field with the full parser; a record only the projection
    // rejects is still an error (it is not JSON).
    match parse_line::<Device>(text, line, record, path) {
        Err(e) => e,
        Ok(_) => InventoryError::Syntax {
            path: path.to_path_buf(),
            line,
            column: 1,
            message: format!("record {record} is not a device object"),
        },
    }
}

/// Invalid UTF-8 on line `line_no` of a JSON Lines file.
fn bad_utf8(path: &Path, line_no: usize, line: &[u8], valid: usize) -> InventoryError {
    let before = std::str::from_utf8(line.get(..valid).unwrap_or(&[])).unwrap_or("");
    InventoryError::Syntax {
        path: path.to_path_buf(),
        line: line_no,
        column: before.chars().count() + 1,
        message: format!(
            "invalid UTF-8 (byte 0x{:02X}) in record on this line; Graph exports are UTF-8: re-export, \
             or convert the file",
            line.get(valid).copied().unwrap_or(0)
        ),
    }
}

pub(super) fn overflow(path: &Path, e: crate::fleet::ColumnOverflow) -> InventoryError {
    InventoryError::Syntax { path: path.to_path_buf(), line: 0, column: 0, message: e.to_string() }
}

/// A JSON array of devices or a Graph page, cut into elements by
/// [`Splitter`] block by block; each block's elements are parsed in
/// parallel while the previous block's are indexed. `Err(())` when anything
/// is malformed: the caller streams the file again to say where.
fn stream_json(
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
    projection: &Projection,
) -> Result<Result<FleetIndex, ()>, InventoryError> {
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut builder = FleetBuilder::projected(projection);
    let mut splitter = Splitter::default();
    let mut pending: Vec<(Device, Vec<&'static str>)> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut read = 0u64;
    let mut first = true;
    loop {
        let from = buf.len();
        buf.resize(from + BLOCK, 0);
        let got = read_up_to(&mut file, &mut buf[from..]).map_err(io)?;
        buf.truncate(from + got);
        read += got as u64;
        progress(read);
        let mut from = from;
        if first && buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            from = 3;
        }
        first = false;
        let mut ranges = Vec::new();
        let keep = splitter.scan(&buf, from, &mut ranges);
        let (parsed, pushed) = crate::par::join(
            || {
                ranges
                    .par_iter()
                    .with_min_len(256)
                    .map(|&(a, b)| {
                        let mut de = serde_json::Deserializer::from_slice(buf.get(a..b).unwrap_or(&[]));
                        let d = project::ProjectedDevice(projection).deserialize(&mut de).ok()?;
                        de.end().ok().map(|()| d)
                    })
                    .collect::<Option<Vec<_>>>()
            },
            || push_all(&mut builder, std::mem::take(&mut pending), path),
        );
        pushed?;
        let Some(parsed) = parsed else { return Ok(Err(())) };
        pending = parsed;
        buf.drain(..keep);
        splitter.rebase(keep);
        if got == 0 {
            break;
        }
    }
    push_all(&mut builder, pending, path)?;
    // An element still open at the end, or a skeleton that is not an array
    // or a page with a `value` array, is malformed.
    if !buf.iter().all(u8::is_ascii_whitespace) || !skeleton_ok(&splitter.skeleton) {
        return Ok(Err(()));
    }
    Ok(Ok(builder.finish()))
}

/// The document with each element replaced by `0` is an array, or an
/// object whose first `value` member is an array (other members any JSON).
fn skeleton_ok(skeleton: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(skeleton) {
        Ok(serde_json::Value::Array(_)) => true,
        Ok(serde_json::Value::Object(m)) => m.get("value").is_some_and(serde_json::Value::is_array),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<FleetIndex, InventoryError> {
        let dir = tempfile::tempdir().map_err(|source| InventoryError::Io { path: "tmp".into(), source })?;
        let path = dir.path().join("devices.json");
        std::fs::write(&path, text).map_err(|source| InventoryError::Io { path: path.clone(), source })?;
        load_index(&path, &|_| {})
    }

    #[test]
    fn streams_all_three_layouts() -> Result<(), InventoryError> {
        assert_eq!(load(r#"[{"id": "a"}, {"id": "b"}]"#)?.len(), 2);
        assert_eq!(load("{\"@odata.context\": \"x\",\n \"value\": [{\"id\": \"a\"}]}")?.len(), 1);
        assert_eq!(load("{\"value\": [{\"id\": \"a\"}], \"@odata.nextLink\": \"y\"}")?.id(0), "a");
        assert_eq!(load("{\"id\": \"a\"}\n\n{\"id\": \"b\"}\n")?.id(1), "b");
        assert_eq!(load("\u{feff}{\"id\": \"a\"}\n")?.len(), 1);
        assert_eq!(load("")?.len(), 0);
        Ok(())
    }

    #[test]
    fn malformed_records_are_named() {
        let msg = |r: Result<FleetIndex, InventoryError>| {
            r.map(|_| String::new()).unwrap_or_else(|e| e.to_string())
        };
        let m = msg(load("{\"id\": \"a\"}\n{\"id\": \"b\", \"accountEnabled\": \"yes\"}\n"));
        assert!(m.contains(":2:") && m.contains("record 1 (accountEnabled)"), "{m}");
        let m = msg(load(r#"[{"id": "a"}, {"id": "b", "physicalIds": [1]}]"#));
        assert!(m.contains("record 1 (physicalIds[0])"), "{m}");
        let m = msg(load(r#"{"value": 3}"#));
        assert!(!m.is_empty(), "{m}");
    }
}

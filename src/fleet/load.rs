//! Streaming an inventory file straight into a [`FleetIndex`].
//!
//! The raw text is never held whole: JSON Lines are read in batches of
//! lines that are parsed in parallel and appended in order; a JSON array or
//! a Graph page is walked element by element by a serde visitor. Either way
//! memory is the index plus one batch. When a record is malformed, the file
//! is streamed a second time through a validator that tracks the path of
//! each value, to name the record, line and field; it keeps no record, so a
//! huge file with one bad record costs no more memory than a good load.
//! Invalid UTF-8 and a UTF-16 byte-order mark are named like the row
//! loader names them (line and column; which encoding to save as).
//!
//! A packed index ([`crate::fleet::pack`]) is recognised by its magic bytes.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

#[cfg(not(feature = "parallel"))]
use crate::par::prelude::*;
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::fleet::index::{FleetBuilder, FleetIndex};
use crate::fleet::pack;
use crate::inventory::load::{located, parse_line, utf16_bom};
use crate::inventory::{Device, InventoryError};

const BATCH_LINES: usize = 32_768;

/// Loads a device inventory (JSON array, Graph page, JSON Lines, or a
/// packed index) into a [`FleetIndex`]; `progress` is called with the
/// bytes read so far.
pub fn load_index(path: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<FleetIndex, InventoryError> {
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut head = [0u8; 8];
    let got = read_up_to(&mut file, &mut head).map_err(io)?;
    if pack::is_pack(&head[..got]) {
        return pack::read(path);
    }
    if let Some(e) = utf16_bom(&head[..got], path) {
        return Err(e);
    }
    let file = File::open(path).map_err(io)?;
    let mut reader = CountingReader { inner: BufReader::with_capacity(1 << 20, file), read: 0, progress };
    let first = first_significant(&mut reader).map_err(io)?;
    let result = match first {
        Some(b'[') | Some(b'{') if !is_json_lines(path).map_err(io)? => stream_json(reader),
        _ => return stream_lines(path, progress),
    };
    result.map_err(|_| locate_error(path))
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

fn stream_lines(path: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<FleetIndex, InventoryError> {
    let io = |source| InventoryError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io)?;
    let reader = CountingReader { inner: BufReader::with_capacity(1 << 20, file), read: 0, progress };
    let mut reader = BufReader::new(reader);
    let mut builder = FleetBuilder::new();
    let mut line_no = 0usize;
    let mut batch: Vec<(usize, String)> = Vec::with_capacity(BATCH_LINES);
    let mut raw = Vec::new();
    loop {
        batch.clear();
        loop {
            raw.clear();
            if reader.read_until(b'\n', &mut raw).map_err(io)? == 0 {
                break;
            }
            line_no += 1;
            let mut line = match String::from_utf8(std::mem::take(&mut raw)) {
                Ok(line) => line,
                Err(e) => return Err(bad_utf8(path, line_no, e.as_bytes(), e.utf8_error().valid_up_to())),
            };
            if line.ends_with('\n') {
                line.pop();
                if line.ends_with('\r') {
                    line.pop();
                }
            }
            if !line.trim().is_empty() {
                batch.push((line_no, line));
                if batch.len() == BATCH_LINES {
                    break;
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        let first_record = builder.len();
        let devices: Vec<Device> = batch
            .par_iter()
            .enumerate()
            .map(|(k, (no, line))| {
                let text = if *no == 1 { line.trim_start_matches('\u{feff}') } else { line };
                parse_line(text, *no, first_record + k, path)
            })
            .collect::<Result<_, _>>()?;
        for d in &devices {
            builder.push(d).map_err(|e| overflow(path, e))?;
        }
    }
    Ok(builder.finish())
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

fn overflow(path: &Path, e: crate::fleet::ColumnOverflow) -> InventoryError {
    InventoryError::Syntax { path: path.to_path_buf(), line: 0, column: 0, message: e.to_string() }
}

/// Appends every element of a JSON array to the builder.
struct Elements<'b>(&'b mut FleetBuilder);

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of device objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(d) = seq.next_element::<Device>()? {
            self.0.push(&d).map_err(serde::de::Error::custom)?;
        }
        Ok(())
    }
}

/// A JSON array, or a Graph page whose `value` is one.
struct Document<'b>(&'b mut FleetBuilder);

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of devices or a Graph page {\"value\": [...]}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Elements(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "value" && !found {
                map.next_value_seed(Elements(&mut *self.0))?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(serde::de::Error::custom("a Graph page needs a \"value\" array"))
        }
    }
}

fn stream_json<R: Read>(reader: R) -> Result<FleetIndex, serde_json::Error> {
    let mut builder = FleetBuilder::new();
    let mut de = serde_json::Deserializer::from_reader(reader);
    Document(&mut builder).deserialize(&mut de)?;
    de.end()?;
    Ok(builder.finish())
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

//! The packed index: a [`FleetIndex`] as one binary file that loads at
//! disk speed (`fleetlab inventory pack`).
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! magic    8 bytes  "FLEETLAB"
//! version  u32      FORMAT_VERSION
//! reserved u32      0
//! devices  u64
//! length   u64      bytes of payload that follow the header
//! crc32    u32      of the payload
//! payload           columns in a fixed order (see `write_index`)
//! ```
//!
//! Decisions: a fixed section order instead of a self-describing format,
//! because the file is a cache of an inventory the user still has, not an
//! interchange format — any change of layout bumps `FORMAT_VERSION` and old
//! files are rejected with "re-pack it". Reading trusts nothing: the length
//! catches truncation, the CRC catches corruption, and every count, offset
//! and code is still bounds-checked after the CRC passes, so even a
//! well-formed file from a buggy writer cannot make the evaluator panic.

use std::path::Path;

use crate::fleet::column::{Codes, CollectionColumn, Dict, Lane, ScalarColumn, PHYSICAL_ID_LANES};
use crate::fleet::index::FleetIndex;
use crate::inventory::InventoryError;

const MAGIC: &[u8; 8] = b"FLEETLAB";
/// Bumped whenever the payload layout changes.
pub const FORMAT_VERSION: u32 = 2;
const HEADER: usize = 8 + 4 + 4 + 8 + 8 + 4;

/// True when `head` starts like a packed index, or is a cut-off start of one.
pub(crate) fn is_pack(head: &[u8]) -> bool {
    !head.is_empty() && (head.starts_with(MAGIC) || MAGIC.starts_with(head))
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    fn dict(&mut self, d: &Dict) {
        self.bytes(d.text.as_bytes());
        self.u64(d.offsets.len() as u64);
        for o in &d.offsets {
            self.u32(*o);
        }
    }
    fn codes(&mut self, c: &Codes) {
        match c {
            Codes::U8(v) => {
                self.u8(1);
                self.bytes(v);
            }
            Codes::U16(v) => {
                self.u8(2);
                self.u64(v.len() as u64);
                for x in v {
                    self.buf.extend_from_slice(&x.to_le_bytes());
                }
            }
            Codes::U32(v) => {
                self.u8(4);
                self.u64(v.len() as u64);
                for x in v {
                    self.u32(*x);
                }
            }
        }
    }
    fn collection(&mut self, c: &CollectionColumn) {
        self.u64(c.mask.len() as u64);
        for m in &c.mask {
            self.buf.extend_from_slice(&m.to_le_bytes());
        }
        self.u64(c.lanes.len() as u64);
        for lane in &c.lanes {
            self.dict(&lane.dict);
            self.codes(&lane.first);
            self.u64(lane.extra.len() as u64);
            for (d, code) in &lane.extra {
                self.u32(*d);
                self.u32(*code);
            }
        }
    }
}

/// The packed bytes of `index`.
pub fn to_bytes(index: &FleetIndex) -> Vec<u8> {
    let mut w = Writer { buf: Vec::new() };
    w.u64(index.scalars.len() as u64);
    for col in &index.scalars {
        w.dict(&col.dict);
        w.codes(&col.codes);
    }
    w.collection(&index.physical_ids);
    w.collection(&index.system_labels);
    w.collection(&index.member_of);
    // Version 2: custom directory extensions, by name.
    w.u64(index.extensions.len() as u64);
    for (name, col) in &index.extensions {
        w.bytes(name.as_bytes());
        w.dict(&col.dict);
        w.codes(&col.codes);
    }
    let payload = w.buf;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

struct Reader<'b> {
    buf: &'b [u8],
    pos: usize,
}

type Bad = String;

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], Bad> {
        let end = self.pos.checked_add(n).ok_or("length overflows")?;
        let s =
            self.buf.get(self.pos..end).ok_or_else(|| format!("section ends early at byte {}", self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Bad> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Bad> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, Bad> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn len(&mut self, width: usize) -> Result<usize, Bad> {
        let n = usize::try_from(self.u64()?).map_err(|_| "count too large")?;
        // A count can never promise more elements than bytes remain.
        if n.saturating_mul(width) > self.buf.len() - self.pos {
            return Err(format!("count {n} at byte {} exceeds the file", self.pos - 8));
        }
        Ok(n)
    }
    fn dict(&mut self) -> Result<Dict, Bad> {
        let n = self.len(1)?;
        let text =
            std::str::from_utf8(self.take(n)?).map_err(|_| "dictionary text is not UTF-8")?.to_string();
        let k = self.len(4)?;
        let mut offsets = Vec::with_capacity(k);
        for _ in 0..k {
            offsets.push(self.u32()?);
        }
        let ordered = offsets.windows(2).all(|w| w[0] <= w[1]);
        let fits = offsets.last().is_none_or(|&o| o as usize <= text.len());
        let boundaries = offsets.iter().all(|&o| text.is_char_boundary(o as usize));
        if offsets.is_empty() || !ordered || !fits || !boundaries {
            return Err("dictionary offsets are inconsistent".into());
        }
        Ok(Dict { text, offsets })
    }
    fn codes(&mut self, devices: usize, max: u32) -> Result<Codes, Bad> {
        let width = self.u8()?;
        let codes = match width {
            1 => Codes::U8(self.take_len(1)?.to_vec()),
            2 => {
                let raw = self.take_len(2)?;
                Codes::U16(raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
            }
            4 => {
                let raw = self.take_len(4)?;
                Codes::U32(
                    raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
                )
            }
            w => return Err(format!("unknown code width {w}")),
        };
        let (len, biggest) = match &codes {
            Codes::U8(v) => (v.len(), v.iter().map(|&c| u32::from(c)).max()),
            Codes::U16(v) => (v.len(), v.iter().map(|&c| u32::from(c)).max()),
            Codes::U32(v) => (v.len(), v.iter().copied().max()),
        };
        if len != devices {
            return Err(format!("a column has {len} codes for {devices} devices"));
        }
        if biggest.unwrap_or(0) > max {
            return Err("a code points past its dictionary".into());
        }
        Ok(codes)
    }
    fn take_len(&mut self, width: usize) -> Result<&'b [u8], Bad> {
        let n = self.len(width)?;
        self.take(n * width)
    }
    fn collection(&mut self, devices: usize, lanes: &[&'static str]) -> Result<CollectionColumn, Bad> {
        let raw = self.take_len(2)?;
        let mask: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        if mask.len() != devices {
            return Err("a collection mask does not cover every device".into());
        }
        let count = self.len(1)?;
        if count != lanes.len() + 1 {
            return Err(format!("expected {} lanes, found {count}", lanes.len() + 1));
        }
        let mut out = Vec::with_capacity(count);
        for k in 0..count {
            let dict = self.dict()?;
            let first = self.codes(devices, dict.len() as u32)?;
            let n = self.len(8)?;
            let mut extra = Vec::with_capacity(n);
            for _ in 0..n {
                let d = self.u32()?;
                let code = self.u32()?;
                if d as usize >= devices || code == 0 || code as usize > dict.len() {
                    return Err("a collection item points past the index".into());
                }
                extra.push((d, code));
            }
            if extra.windows(2).any(|w| w[0].0 > w[1].0) {
                return Err("collection items are out of order".into());
            }
            out.push(Lane { prefix: lanes.get(k).copied().unwrap_or(""), dict, first, extra });
        }
        Ok(CollectionColumn { lanes: out, mask })
    }
}

/// Reads a packed index from bytes (`name` labels errors).
pub fn from_bytes(bytes: &[u8], name: &Path) -> Result<FleetIndex, InventoryError> {
    let bad =
        |message: String| InventoryError::Syntax { path: name.to_path_buf(), line: 0, column: 0, message };
    if !bytes.is_empty() && bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
        return Err(bad(format!(
            "truncated fleetlab index: {} bytes, shorter than its header; re-pack it",
            bytes.len()
        )));
    }
    if !bytes.starts_with(MAGIC) {
        return Err(bad("not a packed fleetlab index (no FLEETLAB header)".into()));
    }
    if bytes.len() < HEADER {
        return Err(bad(format!(
            "truncated fleetlab index: {} bytes, shorter than its header; re-pack it",
            bytes.len()
        )));
    }
    let mut h = Reader { buf: &bytes[..HEADER], pos: 8 };
    let version = h.u32().map_err(bad)?;
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "packed index has format version {version}; this fleetlab reads version {FORMAT_VERSION}. \
             Re-pack it from the JSON inventory with `fleetlab inventory pack`"
        )));
    }
    if h.u32().map_err(bad)? != 0 {
        return Err(bad("packed index has an unknown flag set; re-pack it".into()));
    }
    let devices = usize::try_from(h.u64().map_err(bad)?).map_err(|_| bad("device count too large".into()))?;
    let length = h.u64().map_err(bad)?;
    let crc = h.u32().map_err(bad)?;
    let payload = &bytes[HEADER..];
    if (payload.len() as u64) < length {
        return Err(bad(format!(
            "truncated fleetlab index: header promises {length} bytes of columns, file has {}",
            payload.len()
        )));
    }
    if (payload.len() as u64) > length {
        return Err(bad(format!(
            "packed index has {} unexpected bytes at its end",
            payload.len() as u64 - length
        )));
    }
    if crc32fast::hash(payload) != crc {
        return Err(bad("packed index is corrupt (checksum mismatch); re-pack it".into()));
    }
    let mut r = Reader { buf: payload, pos: 0 };
    let parse = |r: &mut Reader<'_>| -> Result<FleetIndex, Bad> {
        let columns = r.len(1)?;
        if columns != FleetIndex::COLUMNS {
            return Err(format!("expected {} columns, found {columns}", FleetIndex::COLUMNS));
        }
        let mut scalars = Vec::with_capacity(columns);
        for _ in 0..columns {
            let dict = r.dict()?;
            let codes = r.codes(devices, dict.len() as u32)?;
            scalars.push(ScalarColumn { dict, codes });
        }
        let physical_ids = r.collection(devices, PHYSICAL_ID_LANES)?;
        let system_labels = r.collection(devices, &[])?;
        let member_of = r.collection(devices, &[])?;
        let count = r.len(8)?;
        let mut extensions = Vec::with_capacity(count);
        for _ in 0..count {
            let n = r.len(1)?;
            let name =
                std::str::from_utf8(r.take(n)?).map_err(|_| "an extension name is not UTF-8")?.to_string();
            let dict = r.dict()?;
            let codes = r.codes(devices, dict.len() as u32)?;
            extensions.push((name, ScalarColumn { dict, codes }));
        }
        if r.pos != r.buf.len() {
            return Err("unexpected bytes after the last column".into());
        }
        Ok(FleetIndex {
            len: devices,
            scalars,
            physical_ids,
            system_labels,
            member_of,
            extensions,
            misnamed: Vec::new(),
        })
    };
    parse(&mut r).map_err(|m| bad(format!("packed index is malformed: {m}")))
}

/// Reads a packed index file.
pub fn read(path: &Path) -> Result<FleetIndex, InventoryError> {
    let bytes =
        std::fs::read(path).map_err(|source| InventoryError::Io { path: path.to_path_buf(), source })?;
    from_bytes(&bytes, path)
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
        let back = from_bytes(&to_bytes(&index), Path::new("x.fleet"))?;
        assert_eq!(back, index);
        Ok(())
    }

    #[test]
    fn rejects_truncation_corruption_and_versions_without_panicking() -> Result<(), Box<dyn std::error::Error>>
    {
        let bytes = to_bytes(&sample()?);
        let p = Path::new("x.fleet");
        for cut in 0..bytes.len() {
            assert!(from_bytes(&bytes[..cut], p).is_err(), "truncated at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x5A;
            assert!(from_bytes(&bad, p).is_err(), "flipped byte {i}");
        }
        let mut newer = bytes.clone();
        newer[8] = 9;
        let msg = from_bytes(&newer, p).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(msg.contains("version 9"), "{msg}");
        Ok(())
    }
}

//! The building blocks of the columnar index: string dictionaries, narrow
//! code vectors, and tag-split collections.

use rustc_hash::FxHashMap;

use crate::fleet::store::Arr;
pub use crate::groups::Bitmap;

/// Distinct strings of one column, in first-seen order. Code 0 is null;
/// value `k` has code `k + 1`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dict {
    /// UTF-8 (checked when built, or when a packed section is verified).
    pub(crate) text: Arr<u8>,
    /// `offsets[k]..offsets[k + 1]` is value `k` in `text`.
    pub(crate) offsets: Arr<u32>,
}

impl Dict {
    /// Number of distinct non-null values.
    pub(crate) fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The value with code `code` (`None` for 0, the null code).
    pub(crate) fn get(&self, code: u32) -> Option<&str> {
        std::str::from_utf8(self.text.get(span(&self.offsets, code)?)?).ok()
    }

    /// The dictionary with its text checked as UTF-8 once, for callers
    /// that look up millions of values (report writers): each lookup is
    /// then a slice, where [`Dict::get`] checks its value every time.
    pub(crate) fn view(&self) -> DictView<'_> {
        // The text is UTF-8 by construction (built from `&str`s, or
        // verified when a pack is opened), so this never falls back.
        DictView { text: simdutf8::basic::from_utf8(&self.text).unwrap_or(""), offsets: &self.offsets }
    }

    /// Every value in code order (code 1 first).
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        let text: &[u8] = &self.text;
        self.offsets.windows(2).map(move |w| {
            text.get(w[0] as usize..w[1] as usize).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
        })
    }

    /// Verifies a packed dictionary's sections: text is UTF-8, offsets are
    /// ordered, start at 0, end inside the text and on character boundaries.
    pub(crate) fn verify(&self) -> Result<(), std::sync::Arc<str>> {
        // The vector check first; the standard library's only to say where
        // the text is broken.
        self.text.verify(&|t| match simdutf8::basic::from_utf8(t) {
            Ok(_) => Ok(()),
            Err(_) => std::str::from_utf8(t).map(|_| ()).map_err(|e| e.to_string()),
        })?;
        let text = simdutf8::basic::from_utf8(&self.text).unwrap_or("");
        self.offsets.verify(&|o| {
            let ordered = o.windows(2).all(|w| w[0] <= w[1]);
            let fits = o.last().is_some_and(|&e| e as usize <= text.len()) && o.first() == Some(&0);
            if ordered && fits && o.iter().all(|&x| text.is_char_boundary(x as usize)) {
                Ok(())
            } else {
                Err("dictionary offsets are inconsistent".into())
            }
        })
    }
}

/// A [`Dict`] whose text was checked once ([`Dict::view`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DictView<'a> {
    text: &'a str,
    offsets: &'a [u32],
}

impl<'a> DictView<'a> {
    /// The value with code `code`, as [`Dict::get`] gives it.
    pub(crate) fn get(&self, code: u32) -> Option<&'a str> {
        self.text.get(span(self.offsets, code)?)
    }
}

/// Where the value with code `code` lies in a dictionary's text (`None`
/// for 0, the null code, or a code past the end).
fn span(offsets: &[u32], code: u32) -> Option<std::ops::Range<usize>> {
    let k = (code as usize).checked_sub(1)?;
    Some(*offsets.get(k)? as usize..*offsets.get(k + 1)? as usize)
}

/// Interns strings into a [`Dict`].
///
/// Columns of unique values (object ids, hardware hashes, `[ZTDId]` items)
/// gain nothing from deduplication and pay a hash insert and an allocation
/// per device for it; after [`PROBE`] values a builder whose values were
/// nearly all distinct stops deduplicating. A repeated value then gets a
/// second code, which costs one more table entry and changes no result.
#[derive(Default)]
pub(crate) struct DictBuilder {
    map: FxHashMap<Box<[u8]>, u32>,
    /// UTF-8: every value comes from a `&str` or from text the loader
    /// validated ([`DictBuilder::intern_bytes`]).
    text: Vec<u8>,
    offsets: Vec<u32>,
    interned: u32,
    unique: bool,
}

/// Values seen before deciding whether a column is worth deduplicating.
const PROBE: u32 = 8192;

/// The index's text no longer fits 32-bit offsets.
#[derive(Debug, thiserror::Error)]
#[error("column {column} holds more than 4 GiB of distinct text")]
pub struct ColumnOverflow {
    /// The property whose column overflowed.
    pub column: String,
}

impl DictBuilder {
    /// The code of `value` (interned on first sight); 0 for `None` or "".
    pub(crate) fn intern(&mut self, value: Option<&str>) -> Result<u32, ColumnOverflow> {
        match value.filter(|v| !v.is_empty()) {
            Some(v) => self.intern_item(v),
            None => Ok(0),
        }
    }

    /// Like [`DictBuilder::intern`], but "" is a value: collections may hold
    /// an empty item, and `_ -eq null` must see it as the reference does.
    pub(crate) fn intern_item(&mut self, v: &str) -> Result<u32, ColumnOverflow> {
        self.intern_bytes(v.as_bytes())
    }

    /// Like [`DictBuilder::intern_item`], for bytes the caller has already
    /// checked to be UTF-8 (the JSON Lines loader validates each chunk
    /// whole, so checking each value again would be pure cost).
    pub(crate) fn intern_bytes(&mut self, v: &[u8]) -> Result<u32, ColumnOverflow> {
        self.interned = self.interned.saturating_add(1);
        if !self.unique {
            if let Some(&code) = self.map.get(v) {
                return Ok(code);
            }
            if self.interned == PROBE && self.map.len() as u32 > PROBE * 9 / 10 {
                self.unique = true;
                self.map = FxHashMap::default();
            }
        }
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.text.extend_from_slice(v);
        let end = u32::try_from(self.text.len()).map_err(|_| ColumnOverflow { column: String::new() })?;
        self.offsets.push(end);
        let code = (self.offsets.len() - 1) as u32;
        if !self.unique {
            self.map.insert(v.into(), code);
        }
        Ok(code)
    }

    /// Appends values given as their concatenated `text` and where each
    /// ends (bytes the caller has checked to be UTF-8, cut on character
    /// boundaries); the code of each, after a leading 0. A builder that
    /// still deduplicates interns them one by one.
    pub(crate) fn append_run(&mut self, text: &[u8], ends: &[usize]) -> Result<Vec<u32>, ColumnOverflow> {
        let mut remap = Vec::with_capacity(ends.len() + 1);
        remap.push(0);
        if !self.unique {
            let mut start = 0;
            for &end in ends {
                remap.push(self.intern_bytes(text.get(start..end).unwrap_or(&[]))?);
                start = end;
            }
            return Ok(remap);
        }
        let overflow = || ColumnOverflow { column: String::new() };
        let base = self.text.len();
        u32::try_from(base + text.len()).map_err(|_| overflow())?;
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let first = u32::try_from(self.offsets.len()).map_err(|_| overflow())?;
        self.text.extend_from_slice(text);
        self.offsets.extend(ends.iter().map(|&e| (base + e) as u32));
        self.interned = self.interned.saturating_add(ends.len() as u32);
        remap.extend((0..ends.len() as u32).map(|k| first + k));
        Ok(remap)
    }

    pub(crate) fn finish(self) -> Dict {
        let (mut text, mut offsets) = (self.text, self.offsets);
        if offsets.is_empty() {
            offsets.push(0);
        }
        text.shrink_to_fit();
        offsets.shrink_to_fit();
        Dict { text: text.into(), offsets: offsets.into() }
    }
}

/// Per-device codes, stored in the narrowest width that holds them: a
/// column of twelve operating systems costs one byte per device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Codes {
    U8(Arr<u8>),
    U16(Arr<u16>),
    U32(Arr<u32>),
}

impl Codes {
    /// The codes of `len` devices, the first `wide.len()` given and the
    /// rest null, in the narrowest width that holds `max`.
    ///
    /// Why padding is added after narrowing: a projected load leaves most
    /// columns null for every device, and a column of nulls is then zeroed
    /// memory the allocator gets fresh from the system, which costs no page
    /// until it is read, where widening it to `u32` first wrote four bytes
    /// per device per column.
    pub(crate) fn narrow(wide: Vec<u32>, len: usize, max: u32) -> Codes {
        fn padded<T: Clone + Default>(wide: &[u32], len: usize, cast: impl Fn(u32) -> T) -> Vec<T> {
            if wide.is_empty() {
                return vec![T::default(); len];
            }
            let mut out = Vec::with_capacity(len.max(wide.len()));
            out.extend(wide.iter().map(|&c| cast(c)));
            out.resize(len.max(wide.len()), T::default());
            out
        }
        if max <= u32::from(u8::MAX) {
            Codes::U8(padded(&wide, len, |c| c as u8).into())
        } else if max <= u32::from(u16::MAX) {
            Codes::U16(padded(&wide, len, |c| c as u16).into())
        } else {
            let mut wide = wide;
            wide.resize(len.max(wide.len()), 0);
            wide.shrink_to_fit();
            Codes::U32(wide.into())
        }
    }

    /// Verifies a packed code section: every code is at most `max` (the
    /// dictionary's length) and there is one per device.
    pub(crate) fn verify(&self, devices: usize, max: u32) -> Result<(), std::sync::Arc<str>> {
        let count = |n: usize| {
            if n == devices {
                Ok(())
            } else {
                Err(format!("a column has {n} codes for {devices} devices"))
            }
        };
        let past = || "a code points past its dictionary".to_string();
        match self {
            Codes::U8(a) => a.verify(&|v| {
                count(v.len())?;
                v.iter().all(|&c| u32::from(c) <= max).then_some(()).ok_or_else(past)
            }),
            Codes::U16(a) => a.verify(&|v| {
                count(v.len())?;
                v.iter().all(|&c| u32::from(c) <= max).then_some(()).ok_or_else(past)
            }),
            Codes::U32(a) => a.verify(&|v| {
                count(v.len())?;
                v.iter().all(|&c| c <= max).then_some(()).ok_or_else(past)
            }),
        }
    }

    pub(crate) fn get(&self, i: usize) -> u32 {
        match self {
            Codes::U8(v) => v.get(i).map_or(0, |&c| u32::from(c)),
            Codes::U16(v) => v.get(i).map_or(0, |&c| u32::from(c)),
            Codes::U32(v) => v.get(i).copied().unwrap_or(0),
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        match self {
            Codes::U8(v) => v.len(),
            Codes::U16(v) => v.len() * 2,
            Codes::U32(v) => v.len() * 4,
        }
    }
}

/// A single-valued property: dictionary plus one code per device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScalarColumn {
    pub(crate) dict: Dict,
    pub(crate) codes: Codes,
}

impl ScalarColumn {
    /// Verifies a packed column's sections (dictionary, then codes).
    pub(crate) fn verify(&self, devices: usize) -> Result<(), std::sync::Arc<str>> {
        self.dict.verify()?;
        self.codes.verify(devices, self.dict.len() as u32)
    }
}

/// Builds a [`ScalarColumn`]. Codes are kept only from the first device
/// with a value on: a column no record sets (every column a projected load
/// skips) costs nothing until [`ScalarBuilder::finish`].
pub(crate) struct ScalarBuilder {
    dict: DictBuilder,
    /// Codes of devices `0..codes.len()`; later devices are null.
    codes: Vec<u32>,
    len: usize,
}

impl ScalarBuilder {
    pub(crate) fn new() -> Self {
        ScalarBuilder { dict: DictBuilder::default(), codes: Vec::new(), len: 0 }
    }
    pub(crate) fn push(&mut self, value: Option<&str>) -> Result<(), ColumnOverflow> {
        let code = self.dict.intern(value)?;
        if code != 0 {
            self.codes.resize(self.len, 0);
            self.codes.push(code);
        }
        self.len += 1;
        Ok(())
    }
    /// True while the dictionary deduplicates (see [`DictBuilder`]).
    pub(crate) fn dedups(&self) -> bool {
        !self.dict.unique
    }
    /// The column's dictionary, for a loader that interns values itself
    /// (non-empty ones: the empty value is null, code 0).
    pub(crate) fn dict_mut(&mut self) -> &mut DictBuilder {
        &mut self.dict
    }
    /// Appends `devices` devices whose codes are `remap[local]` for
    /// `local` in `codes` (shorter than `devices`: the rest are null).
    pub(crate) fn extend_remapped(&mut self, devices: usize, codes: &[u32], remap: &[u32]) {
        if !codes.is_empty() {
            self.codes.resize(self.len, 0);
            self.codes.extend(codes.iter().map(|&c| remap.get(c as usize).copied().unwrap_or(0)));
        }
        self.len += devices;
    }
    pub(crate) fn finish(self) -> ScalarColumn {
        let dict = self.dict.finish();
        let max = dict.len() as u32;
        ScalarColumn { dict, codes: Codes::narrow(self.codes, self.len, max) }
    }
}

/// One class of collection items (say, every `[ZTDId]:…` id), stored like a
/// scalar column for each device's first item of the class, plus a sparse
/// list for the rare device with several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lane {
    /// Folded prefix every item of the lane starts with ("" for the rest).
    pub(crate) prefix: &'static str,
    pub(crate) dict: Dict,
    /// The device's first item of this class (0: none).
    pub(crate) first: Codes,
    /// `[device, code]` of second and later items, sorted by device.
    pub(crate) extra: Arr<[u32; 2]>,
}

/// A string collection split into lanes by item prefix, with a per-device
/// bitmask of the lanes it has items in. `devicePhysicalIds -any (_
/// -startsWith "[ZTDId]")` becomes one mask test per device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CollectionColumn {
    pub(crate) lanes: Vec<Lane>,
    /// Bit `k` set: the device has an item in lane `k`. 0: empty collection.
    pub(crate) mask: Arr<u16>,
    /// Bit `k` set: lane `k` holds its items' text. A projected load keeps
    /// only the lanes its rules read values of; the mask is always whole.
    pub(crate) loaded: u16,
}

impl Lane {
    /// Verifies the lane's packed sections (dictionary, first codes, extras).
    pub(crate) fn verify(&self, devices: usize) -> Result<(), std::sync::Arc<str>> {
        self.dict.verify()?;
        let max = self.dict.len() as u32;
        self.first.verify(devices, max)?;
        self.extra.verify(&|e| {
            let inside = e.iter().all(|&[d, c]| (d as usize) < devices && c != 0 && c <= max);
            if !inside {
                return Err("a collection item points past the index".into());
            }
            if e.windows(2).any(|w| w[0][0] > w[1][0]) {
                return Err("collection items are out of order".into());
            }
            Ok(())
        })
    }
}

impl CollectionColumn {
    /// Verifies the lane mask section.
    pub(crate) fn verify_mask(&self, devices: usize) -> Result<(), std::sync::Arc<str>> {
        self.mask.verify(&|m| {
            if m.len() == devices {
                Ok(())
            } else {
                Err("a collection mask does not cover every device".into())
            }
        })
    }
}

/// Item prefixes of `devicePhysicalIds` that get a lane of their own
/// (folded). None is a prefix of another, so each item has one lane.
pub(crate) const PHYSICAL_ID_LANES: &[LanePrefix] = &[
    LanePrefix::new("[ztdid]"),
    LanePrefix::new("[orderid]"),
    LanePrefix::new("[purchaseorderid]"),
    LanePrefix::new("[hwid]"),
    LanePrefix::new("[gid]"),
    LanePrefix::new("[user-hwid]"),
    LanePrefix::new("[user-gid]"),
];

/// A lane's prefix (folded) and its first eight bytes as a little-endian
/// word with the mask of the bytes it has.
///
/// Decision: every item of every device is classified while a load runs,
/// and comparing the prefix byte by byte, ASCII case aside, was a twentieth
/// of a JSON Lines load; folding the item's first eight bytes once and
/// comparing a word per prefix costs a few instructions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LanePrefix {
    pub(crate) text: &'static str,
    head: u64,
    mask: u64,
}

impl LanePrefix {
    /// `text` must be folded already (no ASCII upper-case letter), as
    /// items are folded before they are compared with it.
    pub(crate) const fn new(text: &'static str) -> LanePrefix {
        let bytes = text.as_bytes();
        let mask = if bytes.len() >= 8 { u64::MAX } else { (1u64 << (8 * bytes.len())) - 1 };
        LanePrefix { text, head: head_word(bytes), mask }
    }
}

/// The first eight bytes of `bytes` as a little-endian word, zero-padded
/// when there are fewer.
const fn head_word(bytes: &[u8]) -> u64 {
    let (mut word, mut k) = (0u64, 0);
    while k < bytes.len() && k < 8 {
        word |= (bytes[k] as u64) << (8 * k);
        k += 1;
    }
    word
}

/// `word` with each byte in `A..=Z` lower-cased and every other byte as
/// it is (bytes from 0x80 too): `to_ascii_lowercase` on eight bytes at once.
fn fold_ascii(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low = word & (0x7f * ONES);
    // Bit 7 of each byte: its low seven bits are at least `A` / above `Z`.
    // No byte carries into the next: `low` is at most 0x7f per byte.
    let from_a = low + (0x80 - u64::from(b'A')) * ONES;
    let past_z = low + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = from_a & !past_z & !word & (0x80 * ONES);
    word | (upper >> 2)
}

pub(crate) struct CollectionBuilder {
    prefixes: &'static [LanePrefix],
    /// Lanes whose items' text is kept (see [`CollectionColumn::loaded`]).
    keep: u16,
    dicts: Vec<DictBuilder>,
    /// Per lane, first codes of devices `0..first[lane].len()`; later
    /// devices have no item in the lane (kept lazily, as scalar codes).
    first: Vec<Vec<u32>>,
    extra: Vec<Vec<[u32; 2]>>,
    mask: Vec<u16>,
}

/// The lane of `item`: the first of the (folded) `prefixes` it starts
/// with, ASCII case aside.
///
/// Why ASCII comparison is exact here: an item's lane must agree with
/// comparisons on its `to_lowercase` form, and the only non-ASCII letters
/// that lower-case to ASCII are the Kelvin sign (to `k`) — no lane prefix
/// contains a `k`.
pub(crate) fn lane_of(prefixes: &[LanePrefix], item: &str) -> usize {
    let bytes = item.as_bytes();
    // Most items have eight bytes: one load; shorter ones are padded.
    let head =
        fold_ascii(bytes.first_chunk::<8>().map_or_else(|| head_word(bytes), |h| u64::from_le_bytes(*h)));
    for (k, p) in prefixes.iter().enumerate() {
        let p_bytes = p.text.as_bytes();
        if head & p.mask == p.head
            && bytes.len() >= p_bytes.len()
            && bytes
                .get(8..p_bytes.len())
                .is_none_or(|rest| rest.eq_ignore_ascii_case(p_bytes.get(8..).unwrap_or(&[])))
        {
            return k;
        }
    }
    prefixes.len()
}

impl CollectionBuilder {
    pub(crate) fn new(prefixes: &'static [LanePrefix]) -> Self {
        CollectionBuilder::keeping(prefixes, u16::MAX)
    }

    /// A builder that keeps the text of lanes `keep` only.
    pub(crate) fn keeping(prefixes: &'static [LanePrefix], keep: u16) -> Self {
        let lanes = prefixes.len() + 1;
        CollectionBuilder {
            prefixes,
            keep,
            dicts: (0..lanes).map(|_| DictBuilder::default()).collect(),
            first: vec![Vec::new(); lanes],
            extra: vec![Vec::new(); lanes],
            mask: Vec::new(),
        }
    }

    pub(crate) fn push<'a>(&mut self, items: impl Iterator<Item = &'a str>) -> Result<(), ColumnOverflow> {
        let device = self.mask.len() as u32;
        let mut mask = 0u16;
        for item in items {
            let lane = lane_of(self.prefixes, item);
            if self.keep & (1 << lane) == 0 {
                mask |= 1 << lane;
                continue;
            }
            let code = self.dicts[lane].intern_item(item)?;
            if mask & (1 << lane) == 0 {
                let first = &mut self.first[lane];
                first.resize(device as usize, 0);
                first.push(code);
                mask |= 1 << lane;
            } else {
                self.extra[lane].push([device, code]);
            }
        }
        self.mask.push(mask);
        Ok(())
    }

    /// Number of lanes (the prefixes and the rest).
    pub(crate) fn lanes(&self) -> usize {
        self.dicts.len()
    }

    /// Sets the lane mask of the last device appended (a rebuild from
    /// [`crate::fleet::FleetIndex::device`], which lacks the items of lanes
    /// that were not kept, restores the bits those items set).
    pub(crate) fn set_last_mask(&mut self, mask: u16) {
        if let Some(m) = self.mask.last_mut() {
            *m = mask;
        }
    }

    /// The dictionary of lane `lane`.
    pub(crate) fn dict_mut(&mut self, lane: usize) -> Option<&mut DictBuilder> {
        self.dicts.get_mut(lane)
    }

    /// True while lane `lane` deduplicates its items.
    pub(crate) fn dedups(&self, lane: usize) -> bool {
        self.dicts.get(lane).is_some_and(|d| !d.unique)
    }

    /// Appends lane `lane` of devices built elsewhere: their first codes
    /// (`remap[local]`, possibly fewer than the devices) and later items as
    /// `[device within the run, local code]`. Every lane of the run first,
    /// then [`CollectionBuilder::extend_masks`].
    pub(crate) fn extend_remapped(&mut self, lane: usize, first: &[u32], extra: &[[u32; 2]], remap: &[u32]) {
        let base = self.mask.len();
        let code = |c: u32| remap.get(c as usize).copied().unwrap_or(0);
        if !first.is_empty() {
            if let Some(f) = self.first.get_mut(lane) {
                f.resize(base, 0);
                f.extend(first.iter().map(|&c| code(c)));
            }
        }
        if let Some(x) = self.extra.get_mut(lane) {
            x.extend(extra.iter().map(|&[d, c]| [base as u32 + d, code(c)]));
        }
    }

    /// Ends a run of [`CollectionBuilder::extend_remapped`] calls: appends
    /// the run's masks.
    pub(crate) fn extend_masks(&mut self, masks: &[u16]) {
        self.mask.extend_from_slice(masks);
    }

    pub(crate) fn finish(self) -> CollectionColumn {
        let devices = self.mask.len();
        let mut prefixes: Vec<&'static str> = self.prefixes.iter().map(|p| p.text).collect();
        prefixes.push("");
        let lanes = self
            .dicts
            .into_iter()
            .zip(self.first)
            .zip(self.extra)
            .zip(prefixes)
            .map(|(((dict, first), mut extra), prefix)| {
                let dict = dict.finish();
                let max = dict.len() as u32;
                extra.shrink_to_fit();
                Lane { prefix, dict, first: Codes::narrow(first, devices, max), extra: extra.into() }
            })
            .collect();
        let mut mask = self.mask;
        mask.shrink_to_fit();
        CollectionColumn { lanes, mask: mask.into(), loaded: self.keep }
    }
}

#[cfg(test)]
mod tests {
    use super::{fold_ascii, lane_of, LanePrefix, PHYSICAL_ID_LANES};

    /// The classification as written: the first prefix the item starts
    /// with, ASCII case aside.
    fn reference(prefixes: &[LanePrefix], item: &str) -> usize {
        let starts = |p: &LanePrefix| {
            item.len() >= p.text.len()
                && item.as_bytes()[..p.text.len()].eq_ignore_ascii_case(p.text.as_bytes())
        };
        prefixes.iter().position(starts).unwrap_or(prefixes.len())
    }

    #[test]
    fn lanes_agree_with_the_plain_prefix_test() {
        let mut items = vec![String::new(), "[".into(), "x".into(), "[ſ".into(), "[K".into()];
        for p in PHYSICAL_ID_LANES {
            for cut in 0..=p.text.len() {
                let head = &p.text[..cut];
                items.push(head.to_string());
                items.push(head.to_ascii_uppercase());
                items.push(format!("{head}:1"));
                items.push(format!("{}x", head.to_ascii_uppercase()));
            }
        }
        let custom = [LanePrefix::new("a"), LanePrefix::new("[b"), LanePrefix::new("0123456789")];
        items.extend(["0123456789", "012345678", "01234567", "0123456789x", "[B]"].map(String::from));
        let prefixes: [&[LanePrefix]; 3] = [PHYSICAL_ID_LANES, &[], &custom];
        for prefixes in prefixes {
            for item in &items {
                assert_eq!(lane_of(prefixes, item), reference(prefixes, item), "{item:?}");
            }
        }
    }

    #[test]
    fn folding_a_word_lowers_ascii_letters_only() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let word = u64::from_le_bytes([b'@'; 8]) & !(0xff << (8 * at)) | (u64::from(b) << (8 * at));
                let want = u64::from_le_bytes(word.to_le_bytes().map(|x| x.to_ascii_lowercase()));
                assert_eq!(fold_ascii(word), want, "byte {b:#x} at {at}");
            }
        }
    }
}

//! The building blocks of the columnar index: string dictionaries, narrow
//! code vectors, and tag-split collections.

use rustc_hash::FxHashMap;

/// Distinct strings of one column, in first-seen order. Code 0 is null;
/// value `k` has code `k + 1`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dict {
    pub(crate) text: String,
    /// `offsets[k]..offsets[k + 1]` is value `k` in `text`.
    pub(crate) offsets: Vec<u32>,
}

impl Dict {
    /// Number of distinct non-null values.
    pub(crate) fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The value with code `code` (`None` for 0, the null code).
    pub(crate) fn get(&self, code: u32) -> Option<&str> {
        let k = (code as usize).checked_sub(1)?;
        let start = *self.offsets.get(k)? as usize;
        let end = *self.offsets.get(k + 1)? as usize;
        self.text.get(start..end)
    }

    /// Every value in code order (code 1 first).
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        self.offsets.windows(2).map(|w| self.text.get(w[0] as usize..w[1] as usize).unwrap_or(""))
    }
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
    map: FxHashMap<Box<str>, u32>,
    dict: Dict,
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
        if self.dict.offsets.is_empty() {
            self.dict.offsets.push(0);
        }
        self.dict.text.push_str(v);
        let end =
            u32::try_from(self.dict.text.len()).map_err(|_| ColumnOverflow { column: String::new() })?;
        self.dict.offsets.push(end);
        let code = self.dict.len() as u32;
        if !self.unique {
            self.map.insert(v.into(), code);
        }
        Ok(code)
    }

    pub(crate) fn finish(self) -> Dict {
        let mut dict = self.dict;
        if dict.offsets.is_empty() {
            dict.offsets.push(0);
        }
        dict.text.shrink_to_fit();
        dict.offsets.shrink_to_fit();
        dict
    }
}

/// Per-device codes, stored in the narrowest width that holds them: a
/// column of twelve operating systems costs one byte per device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Codes {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Codes {
    pub(crate) fn narrow(wide: Vec<u32>, max: u32) -> Codes {
        if max <= u32::from(u8::MAX) {
            Codes::U8(wide.into_iter().map(|c| c as u8).collect())
        } else if max <= u32::from(u16::MAX) {
            Codes::U16(wide.into_iter().map(|c| c as u16).collect())
        } else {
            let mut wide = wide;
            wide.shrink_to_fit();
            Codes::U32(wide)
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

pub(crate) struct ScalarBuilder {
    dict: DictBuilder,
    codes: Vec<u32>,
}

impl ScalarBuilder {
    pub(crate) fn new() -> Self {
        ScalarBuilder { dict: DictBuilder::default(), codes: Vec::new() }
    }
    pub(crate) fn push(&mut self, value: Option<&str>) -> Result<(), ColumnOverflow> {
        let code = self.dict.intern(value)?;
        self.codes.push(code);
        Ok(())
    }
    pub(crate) fn finish(self) -> ScalarColumn {
        let dict = self.dict.finish();
        let max = dict.len() as u32;
        ScalarColumn { dict, codes: Codes::narrow(self.codes, max) }
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
    /// `(device, code)` of second and later items, sorted by device.
    pub(crate) extra: Vec<(u32, u32)>,
}

/// A string collection split into lanes by item prefix, with a per-device
/// bitmask of the lanes it has items in. `devicePhysicalIds -any (_
/// -startsWith "[ZTDId]")` becomes one mask test per device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CollectionColumn {
    pub(crate) lanes: Vec<Lane>,
    /// Bit `k` set: the device has an item in lane `k`. 0: empty collection.
    pub(crate) mask: Vec<u16>,
}

/// Item prefixes of `devicePhysicalIds` that get a lane of their own
/// (folded). None is a prefix of another, so each item has one lane.
pub(crate) const PHYSICAL_ID_LANES: &[&str] =
    &["[ztdid]", "[orderid]", "[purchaseorderid]", "[hwid]", "[gid]", "[user-hwid]", "[user-gid]"];

pub(crate) struct CollectionBuilder {
    prefixes: &'static [&'static str],
    dicts: Vec<DictBuilder>,
    first: Vec<Vec<u32>>,
    extra: Vec<Vec<(u32, u32)>>,
    mask: Vec<u16>,
}

/// The lane of `item`: the first prefix it starts with, ASCII case aside.
///
/// Why ASCII comparison is exact here: an item's lane must agree with
/// comparisons on its `to_lowercase` form, and the only non-ASCII letters
/// that lower-case to ASCII are the Kelvin sign (to `k`) — no lane prefix
/// contains a `k`.
pub(crate) fn lane_of(prefixes: &[&str], item: &str) -> usize {
    let head = item.get(..item.len().min(20)).unwrap_or(item);
    for (k, p) in prefixes.iter().enumerate() {
        if head.len() >= p.len() && head.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()) {
            return k;
        }
    }
    prefixes.len()
}

impl CollectionBuilder {
    pub(crate) fn new(prefixes: &'static [&'static str]) -> Self {
        let lanes = prefixes.len() + 1;
        CollectionBuilder {
            prefixes,
            dicts: (0..lanes).map(|_| DictBuilder::default()).collect(),
            first: vec![Vec::new(); lanes],
            extra: vec![Vec::new(); lanes],
            mask: Vec::new(),
        }
    }

    pub(crate) fn push<'a>(&mut self, items: impl Iterator<Item = &'a str>) -> Result<(), ColumnOverflow> {
        let device = self.mask.len() as u32;
        for f in &mut self.first {
            f.push(0);
        }
        let mut mask = 0u16;
        for item in items {
            let lane = lane_of(self.prefixes, item);
            let code = self.dicts[lane].intern_item(item)?;
            if mask & (1 << lane) == 0 {
                if let Some(slot) = self.first[lane].last_mut() {
                    *slot = code;
                }
                mask |= 1 << lane;
            } else {
                self.extra[lane].push((device, code));
            }
        }
        self.mask.push(mask);
        Ok(())
    }

    pub(crate) fn finish(self) -> CollectionColumn {
        let mut prefixes: Vec<&'static str> = self.prefixes.to_vec();
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
                Lane { prefix, dict, first: Codes::narrow(first, max), extra }
            })
            .collect();
        let mut mask = self.mask;
        mask.shrink_to_fit();
        CollectionColumn { lanes, mask }
    }
}

/// Membership bits, one per device.
///
/// ```
/// use fleetlab::fleet::Bitmap;
/// let b = Bitmap::from_bools(&[true, false, true]);
/// assert_eq!(b.count(), 2);
/// assert_eq!(b.ones().collect::<Vec<_>>(), vec![0, 2]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    pub(crate) words: Vec<u64>,
    pub(crate) len: usize,
}

impl Bitmap {
    /// A bitmap with the given bits.
    pub fn from_bools(bits: &[bool]) -> Bitmap {
        let mut words = vec![0u64; bits.len().div_ceil(64)];
        for (i, &b) in bits.iter().enumerate() {
            if b {
                words[i / 64] |= 1 << (i % 64);
            }
        }
        Bitmap { words, len: bits.len() }
    }
    /// Number of devices covered.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when it covers no device.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Number of members.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    /// Whether device `i` is a member.
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    /// Indices of the members, ascending.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

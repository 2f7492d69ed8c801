//! A hand-written scanner for one JSON Lines device record, borrowing every
//! value from the line.
//!
//! Decision: the scanner is *conservative*, not complete. It accepts only
//! records whose every byte it can check against RFC 8259 (§2 grammar, §7
//! strings, §6 numbers) and against the derived `Device` deserializer's
//! types, and gives up ([`None`]) on anything else: a backslash escape, a
//! number with an exponent or more than 18 integer digits, nesting deeper
//! than [`MAX_DEPTH`], a duplicate field, a custom extension when they are
//! decoded, a non-empty `memberOf`, any type the derived deserializer might
//! coerce. The caller then parses that record with serde (the projected
//! visitor, then the derived deserializer to name an error), so the set of
//! accepted files and every error message stay those of serde; the scanner
//! only needs to be exact on what it accepts, and it never accepts a record
//! serde would reject: skipped fields are type-checked here as in
//! `inventory::project` ("skipped is not unchecked").
//!
//! A string ends at the first quote, backslash or control character, read
//! from the window's stop bits ([`super::stops`]); the line is valid UTF-8
//! before it gets here (the caller validates each window of lines whole),
//! so a value is a `&str` slice of it with no copy.
//!
//! Decision: each key is first matched against the keys that followed the
//! previous one lately, as the bytes `"name":` compared whole. Exports
//! write every record's fields in one order, with optional fields
//! (`extensionAttributes` in a third of the generated fleet's records)
//! present or absent, so after a given field one of two keys nearly always
//! comes next; predicting from the previous record's key *at the same
//! position* instead missed every key after an optional field, a third of
//! all keys. A key that differs is scanned as before. Matching those exact
//! bytes is the same test the scan makes (a quote, the name with no
//! escape, a quote, a colon), so the prediction changes the cost, never
//! what is accepted.

use super::stops::Stops;
use crate::fleet::index::scalar_slot;
use crate::fleet::FleetIndex;
use crate::inventory::project::{classify, Key, Projection, FIELDS};
use crate::rule::{DeviceProperty, ExtensionSlot};

/// Nesting the scanner follows in skipped values; deeper records go to
/// serde (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Field numbers (in `FIELDS` order) with a special shape.
const ID: usize = 0;
const EXTENSION_ATTRIBUTES: usize = 7;
const PHYSICAL_IDS: usize = 15;
const SYSTEM_LABELS: usize = 17;
const MEMBER_OF: usize = 19;
const ACCOUNT_ENABLED: usize = 1;
const IS_ROOTED: usize = 8;

/// The fields whose value is a string or null, stored as is.
const PLAIN_STRINGS: u32 = ((1 << FIELDS.len()) - 1)
    & !(1 << ID
        | 1 << ACCOUNT_ENABLED
        | 1 << EXTENSION_ATTRIBUTES
        | 1 << IS_ROOTED
        | 1 << PHYSICAL_IDS
        | 1 << SYSTEM_LABELS
        | 1 << MEMBER_OF);

/// The values of one record, by index column.
pub(super) struct Record<'a> {
    /// Values of the fixed scalar columns, by slot (read through
    /// [`Record::scalars`]: only slots in `set` are current).
    scalars: [Option<&'a str>; FleetIndex::COLUMNS],
    /// Bit `slot` set: `scalars[slot]` was written by this record. Clearing
    /// and reading only these costs a few slots per record, not all 31.
    set: u64,
    pub(super) physical_ids: Vec<&'a str>,
    pub(super) system_labels: Vec<&'a str>,
    /// Rule-style field names the record used.
    pub(super) misnamed: Vec<&'static str>,
    /// For each key state (a field number, [`START`] or [`OTHER`]), the two
    /// field numbers seen after it most recently, the latest first
    /// ([`NOT_A_FIELD`]: none yet): see the module doc.
    next: [[u8; 2]; STATES],
}

/// Key states of [`Record::next`]: after field `k` (`k` < `FIELDS.len()`),
/// before the first key, after a key that is not a Graph field.
const START: usize = FIELDS.len();
const OTHER: usize = FIELDS.len() + 1;
const STATES: usize = FIELDS.len() + 2;

const _: () = assert!(FleetIndex::COLUMNS <= 64, "Record::set has a bit per scalar slot");

/// In [`Record::next`]: no field.
const NOT_A_FIELD: u8 = u8::MAX;

impl<'a> Record<'a> {
    pub(super) fn new() -> Record<'a> {
        Record {
            scalars: [None; FleetIndex::COLUMNS],
            set: 0,
            physical_ids: Vec::new(),
            system_labels: Vec::new(),
            misnamed: Vec::new(),
            next: [[NOT_A_FIELD; 2]; STATES],
        }
    }

    /// The scalar values this record set, by slot (`None`: null).
    pub(super) fn scalars(&self) -> impl Iterator<Item = (usize, Option<&'a str>)> + '_ {
        let mut set = self.set;
        std::iter::from_fn(move || {
            let slot = set.trailing_zeros() as usize;
            set &= set.wrapping_sub(1);
            (slot < 64).then(|| (slot, self.scalars.get(slot).copied().flatten()))
        })
    }

    /// The value of slot `slot`, if this record set it.
    #[cfg(test)]
    pub(super) fn scalar(&self, slot: usize) -> Option<&'a str> {
        self.scalars().find(|(s, _)| *s == slot).and_then(|(_, v)| v)
    }

    fn put(&mut self, slot: usize, v: Option<&'a str>) -> Option<()> {
        *self.scalars.get_mut(slot)? = v;
        self.set |= 1 << slot;
        Some(())
    }

    fn clear(&mut self) {
        // Stale values stay behind, unread: `set` says which are current.
        self.set = 0;
        self.physical_ids.clear();
        self.system_labels.clear();
        self.misnamed.clear();
    }
}

/// Where each Graph field goes in the index, worked out once from the
/// property catalogue (so it cannot drift from `FleetBuilder::push`).
pub(super) struct Targets {
    /// Scalar slot of each field of `FIELDS` (`None`: not a scalar).
    field_slot: [Option<usize>; FIELDS.len()],
    /// Scalar slot of `extensionAttribute{n}` at `n - 1`.
    extension_slot: [Option<usize>; 15],
    /// Field `k` is stored (projected) when bit `k` is set.
    stored: u32,
    /// Custom extensions are decoded: such records go to serde.
    extensions: bool,
    /// `"name":` of each field of `FIELDS`: a key is that field when the
    /// bytes at the cursor are exactly these (a quote, no escape, a quote).
    keys: Vec<KeyPattern>,
}

impl Targets {
    pub(super) fn new(projection: &Projection) -> Targets {
        let mut field_slot = [None; FIELDS.len()];
        for (k, name) in FIELDS.iter().enumerate() {
            field_slot[k] = DeviceProperty::all()
                .filter(|p| !matches!(p, DeviceProperty::ExtensionAttribute(_)))
                .find(|p| p.graph_field() == *name)
                .and_then(scalar_slot);
        }
        let mut extension_slot = [None; 15];
        for (n, slot) in (1u8..).zip(extension_slot.iter_mut()) {
            *slot = ExtensionSlot::new(n).and_then(|s| scalar_slot(DeviceProperty::ExtensionAttribute(s)));
        }
        // extensionAttributes and memberOf are decoded whatever the
        // projection, as the projected visitor decodes them.
        let mut stored = (1 << EXTENSION_ATTRIBUTES) | (1 << MEMBER_OF);
        for k in 0..FIELDS.len() {
            if projection.reads_field(k) {
                stored |= 1 << k;
            }
        }
        let keys = FIELDS.iter().map(|f| KeyPattern::new(format!("\"{f}\":").into_bytes())).collect();
        Targets { field_slot, extension_slot, stored, extensions: projection.reads_extensions(), keys }
    }
}

/// The field number of a Graph field name (`FIELDS` order).
fn field_of(key: &str) -> Option<usize> {
    Some(match key {
        "id" => 0,
        "accountEnabled" => 1,
        "deviceCategory" => 2,
        "deviceId" => 3,
        "deviceOwnership" => 4,
        "displayName" => 5,
        "enrollmentProfileName" => 6,
        "extensionAttributes" => 7,
        "isRooted" => 8,
        "managementType" => 9,
        "manufacturer" => 10,
        "mdmAppId" => 11,
        "model" => 12,
        "operatingSystem" => 13,
        "operatingSystemVersion" => 14,
        "physicalIds" => 15,
        "profileType" => 16,
        "systemLabels" => 17,
        "trustType" => 18,
        "memberOf" => 19,
        _ => return None,
    })
}

/// Scans `line` (one record, whose stop bits are `stops`) into `rec`;
/// `None` when the record needs serde (see the module doc).
pub(super) fn record<'a>(
    line: &'a str,
    stops: Stops<'_>,
    targets: &Targets,
    rec: &mut Record<'a>,
) -> Option<()> {
    rec.clear();
    let mut c = Cursor { s: line, b: line.as_bytes(), i: 0, stops };
    c.ws();
    c.eat(b'{')?;
    c.ws();
    let mut seen = 0u32;
    if c.eat(b'}').is_none() {
        let mut state = START;
        loop {
            let field = match predicted(&c, rec.next.get_mut(state), targets) {
                Some((k, len)) => {
                    c.i += len;
                    c.ws();
                    Ok(k)
                }
                None => {
                    let key = c.string()?;
                    c.ws();
                    c.eat(b':')?;
                    c.ws();
                    let field = field_of(key);
                    let k = field.and_then(|k| u8::try_from(k).ok()).unwrap_or(NOT_A_FIELD);
                    if let Some(seen) = rec.next.get_mut(state) {
                        *seen = [k, seen[0]];
                    }
                    field.ok_or(key)
                }
            };
            state = *field.as_ref().unwrap_or(&OTHER);
            match field {
                Ok(k) => {
                    if seen & (1 << k) != 0 {
                        return None;
                    }
                    seen |= 1 << k;
                    c.field(k, targets, rec)?;
                }
                Err(key) => match classify(key) {
                    Key::Field(_) => return None,
                    Key::Extension(_) if targets.extensions => return None,
                    Key::RuleStyle(name) => {
                        if !rec.misnamed.contains(&name) {
                            rec.misnamed.push(name);
                        }
                        c.skip_value(0)?;
                    }
                    Key::Extension(_) | Key::Other => c.skip_value(0)?,
                },
            }
            c.ws();
            match c.next()? {
                b',' => c.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    c.ws();
    (c.i == c.b.len() && seen & (1 << ID) != 0).then_some(())
}

/// The field whose `"name":` is at the cursor, if it is one of the two
/// `expected` after the previous key (and its length); a hit on the second
/// makes it the first, so the latest is tried first.
fn predicted(
    c: &Cursor<'_, '_>,
    expected: Option<&mut [u8; 2]>,
    targets: &Targets,
) -> Option<(usize, usize)> {
    let rest = c.b.get(c.i..)?;
    let expected = expected?;
    let [a, b] = *expected;
    let hit = |k: u8| {
        let key = targets.keys.get(usize::from(k))?;
        key.matches(rest).then_some((usize::from(k), key.len()))
    };
    hit(a).or_else(|| {
        let found = hit(b)?;
        *expected = [b, a];
        Some(found)
    })
}

/// A key's bytes (`"name":`), compared with the text at the cursor in four
/// masked words at once.
///
/// Why not a loop: key lengths differ from field to field, so a loop over
/// a key's words exits after a different count each time and the exit is
/// mispredicted; that was a quarter of a load's branch mispredictions.
/// Every Graph field's key fits in 32 bytes; a longer one (or text near the
/// end of a line) is compared as a slice.
pub(super) struct KeyPattern {
    text: Vec<u8>,
    /// The key's bytes as four words, and masks of the bytes it has
    /// (`None` for a key longer than 32 bytes).
    words: Option<([u64; 4], [u64; 4])>,
}

impl KeyPattern {
    fn new(text: Vec<u8>) -> KeyPattern {
        let mut bytes = [0u8; 32];
        let mut mask = [0u8; 32];
        for (k, &b) in text.iter().take(32).enumerate() {
            bytes[k] = b;
            mask[k] = 0xff;
        }
        let words = |a: [u8; 32]| bytemuck::cast::<[u8; 32], [[u8; 8]; 4]>(a).map(u64::from_le_bytes);
        let words = (text.len() <= 32).then(|| (words(bytes), words(mask)));
        KeyPattern { text, words }
    }

    fn len(&self) -> usize {
        self.text.len()
    }

    /// `rest.starts_with(key)`.
    fn matches(&self, rest: &[u8]) -> bool {
        match (&self.words, rest.get(..32).and_then(|w| <[u8; 32]>::try_from(w).ok())) {
            (Some((words, masks)), Some(w)) => {
                let w = bytemuck::cast::<[u8; 32], [[u8; 8]; 4]>(w).map(u64::from_le_bytes);
                let differ = |k: usize| (w[k] ^ words[k]) & masks[k];
                (differ(0) | differ(1) | differ(2) | differ(3)) == 0
            }
            _ => rest.starts_with(&self.text),
        }
    }
}

struct Cursor<'a, 's> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    stops: Stops<'s>,
}

impl<'a> Cursor<'a, '_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<&'a str> {
        let end = self.i + word.len();
        if self.b.get(self.i..end)? != word {
            return None;
        }
        let text = self.s.get(self.i..end)?;
        self.i = end;
        Some(text)
    }

    /// A string without escapes; its contents.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = self.stops.next(start)?;
        if self.b.get(end) != Some(&b'"') {
            return None;
        }
        self.i = end + 1;
        self.s.get(start..end)
    }

    /// A string, or `null` (`None` inside).
    fn opt_string(&mut self) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.literal(b"null").map(|_| None),
            _ => None,
        }
    }

    /// `true`, `false` or `null`, as the text the index stores.
    fn opt_bool(&mut self) -> Option<Option<&'a str>> {
        match self.peek()? {
            b't' => self.literal(b"true").map(Some),
            b'f' => self.literal(b"false").map(Some),
            b'n' => self.literal(b"null").map(|_| None),
            _ => None,
        }
    }

    /// `null` or an array of strings, pushed onto `out`.
    fn opt_strings(&mut self, out: &mut Vec<&'a str>) -> Option<()> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|_| ());
        }
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            out.push(self.string()?);
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The value of Graph field `k`, type-checked, stored when projected.
    fn field(&mut self, k: usize, t: &Targets, rec: &mut Record<'a>) -> Option<()> {
        let store = t.stored & (1 << k) != 0;
        // Most fields are plain optional strings: one well-predicted test
        // for those, where a `match` alone is an indirect jump whose
        // target changes from field to field.
        if PLAIN_STRINGS & (1 << k) != 0 {
            let v = self.opt_string()?;
            if store {
                rec.put(t.field_slot[k]?, v)?;
            }
            return Some(());
        }
        match k {
            ID => {
                let v = self.string()?;
                if store {
                    rec.put(t.field_slot[k]?, Some(v))?;
                }
            }
            ACCOUNT_ENABLED | IS_ROOTED => {
                let v = self.opt_bool()?;
                if store {
                    rec.put(t.field_slot[k]?, v)?;
                }
            }
            EXTENSION_ATTRIBUTES => self.extension_attributes(t, rec)?,
            PHYSICAL_IDS | SYSTEM_LABELS => {
                let list = if k == PHYSICAL_IDS { &mut rec.physical_ids } else { &mut rec.system_labels };
                let before = list.len();
                self.opt_strings(list)?;
                if !store {
                    list.truncate(before);
                }
            }
            MEMBER_OF => {
                // Group references may be objects: serde decodes them.
                if self.literal(b"null").is_none() {
                    self.eat(b'[')?;
                    self.ws();
                    self.eat(b']')?;
                }
            }
            _ => {
                let v = self.opt_string()?;
                if store {
                    rec.put(t.field_slot[k]?, v)?;
                }
            }
        }
        Some(())
    }

    /// `extensionAttributes`: `null`, or an object whose known members are
    /// strings or null (unknown members skipped, as the derived struct
    /// does; a repeated member is serde's error).
    fn extension_attributes(&mut self, t: &Targets, rec: &mut Record<'a>) -> Option<()> {
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|_| ());
        }
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut seen = 0u16;
        loop {
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            // Exactly the derived struct's member names: no sign, no zero.
            let n = key
                .strip_prefix("extensionAttribute")
                .filter(|n| !n.starts_with('0') && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u8>().ok());
            match n.filter(|n| (1..=15).contains(n)) {
                Some(n) => {
                    if seen & (1 << n) != 0 {
                        return None;
                    }
                    seen |= 1 << n;
                    let v = self.opt_string()?;
                    rec.put(t.extension_slot[usize::from(n) - 1]?, v)?;
                }
                None => self.skip_value(1)?,
            }
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// Any JSON value, checked and dropped.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true").map(|_| ()),
            b'f' => self.literal(b"false").map(|_| ()),
            b'n' => self.literal(b"null").map(|_| ()),
            b'-' | b'0'..=b'9' => self.number(),
            b'[' => {
                self.i += 1;
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                self.ws();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// A number as RFC 8259 §6 writes it, without an exponent and with at
    /// most 18 integer digits (so serde could not find it out of range).
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        let digits = |c: &mut Self| {
            let start = c.i;
            while c.peek().is_some_and(|d| d.is_ascii_digit()) {
                c.i += 1;
            }
            c.i - start
        };
        let lead = self.peek()?;
        let int = digits(self);
        if int == 0 || int > 18 || (lead == b'0' && int > 1) {
            return None;
        }
        if self.eat(b'.').is_some() && digits(self) == 0 {
            return None;
        }
        match self.peek() {
            Some(b'e' | b'E') => None,
            _ => Some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_pattern_matches_exactly_the_texts_that_start_with_the_key() {
        for n in 0..40 {
            let key = "k".repeat(n).into_bytes();
            let pattern = super::KeyPattern::new(key.clone());
            for tail in [&b""[..], b"tail", &[b'x'; 40]] {
                assert!(pattern.matches(&[&key[..], tail].concat()), "{n}");
            }
            assert_eq!(pattern.matches(&key[..n.saturating_sub(1)]), n == 0);
            for at in 0..n {
                for tail in [&b""[..], &[b'x'; 40]] {
                    let mut other = key.clone();
                    other[at] = b'x';
                    other.extend_from_slice(tail);
                    assert!(!pattern.matches(&other), "{at} of {n}");
                }
            }
        }
    }

    use super::*;

    fn scan(line: &str) -> Option<Vec<Option<String>>> {
        let t = Targets::new(&Projection::all());
        let mut rec = Record::new();
        let stops = super::super::stops::StopMap::new(line.as_bytes());
        record(line, stops.at(0), &t, &mut rec)?;
        let mut out: Vec<Option<String>> =
            (0..FleetIndex::COLUMNS).map(|slot| rec.scalar(slot).map(str::to_string)).collect();
        out.extend(rec.physical_ids.iter().map(|v| Some(v.to_string())));
        Some(out)
    }

    #[test]
    fn accepts_plain_records_and_gives_up_on_the_rest() {
        assert!(scan(r#"{"id": "a", "operatingSystem": "Windows", "physicalIds": ["[ZTDId]:1"]}"#).is_some());
        assert!(scan(r#" {"id":"a","x":[1,-2.5,{"y":null}],"isRooted":false} "#).is_some());
        assert!(scan(r#"{"id":"a","extensionAttributes":{"extensionAttribute3":"x","other":1}}"#).is_some());
        for bad in [
            r#"{"id": "a\"b"}"#,
            r#"{"operatingSystem": "Windows"}"#,
            r#"{"id": "a", "id": "b"}"#,
            r#"{"id": "a", "x": 1e5}"#,
            r#"{"id": "a", "x": 01}"#,
            r#"{"id": "a", "x": [1,]}"#,
            r#"{"id": "a",}"#,
            r#"{"id": "a"} x"#,
            r#"{"id": "a", "isRooted": "yes"}"#,
            r#"{"id": "a", "physicalIds": [null]}"#,
            r#"{"id": "a", "memberOf": ["g"]}"#,
            "{\"id\": \"a\u{1}\"}",
            r#"{"id": "a", "extensionAttributes": {"extensionAttribute1": "x", "extensionAttribute1": "y"}}"#,
            r#"{"id": "a", "extensionAttributes": ["x"]}"#,
        ] {
            assert!(scan(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn fields_land_in_the_columns_the_builder_uses() -> Result<(), serde_json::Error> {
        let line = r#"{"id":"i","accountEnabled":true,"deviceCategory":"c","deviceId":"d","deviceOwnership":"o","displayName":"n","enrollmentProfileName":"e","extensionAttributes":{"extensionAttribute15":"x15","extensionAttribute1":"x1"},"isRooted":false,"managementType":"m","manufacturer":"f","mdmAppId":"a","model":"l","operatingSystem":"w","operatingSystemVersion":"v","profileType":"p","trustType":"t"}"#;
        let d: crate::inventory::Device = serde_json::from_str(line)?;
        let got = scan(line).unwrap_or_default();
        for slot in 0..FleetIndex::COLUMNS {
            let want = crate::fleet::index::scalar_value(&d, slot).map(str::to_string);
            assert_eq!(got.get(slot).cloned().flatten(), want, "slot {slot}");
        }
        Ok(())
    }
}

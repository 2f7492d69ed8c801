//! Where a setting was written: source files, key positions and the
//! `file:line:column` an admin jumps to.
//!
//! Every finding blames a key, not a value: "line 42, `pre_provisioning`"
//! is what an admin searches for. TOML files are indexed with the `toml`
//! crate's spanned document tree ([`toml::de::DeTable`]); Graph JSON files
//! with a small scanner of our own, because `serde_json` keeps no
//! positions. Both produce the same index: a dotted path
//! (`profile[2].esp.timeout_minutes`, `value[0].outOfBoxExperienceSetting.userType`)
//! to the byte ranges of the key and of its value.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use toml::de::{DeTable, DeValue};

/// A file that was read, kept whole so positions can be turned into lines.
#[derive(Debug)]
pub struct Source {
    /// The path as given (relative paths stay relative, as the admin typed them).
    pub path: PathBuf,
    /// The text.
    pub text: String,
}

impl Source {
    /// A source named `path` holding `text`.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source { path: path.into(), text: text.into() })
    }

    /// The location of byte `offset`.
    pub fn location(&self, offset: usize) -> Location {
        let (line, column) = crate::rule::line_col(&self.text, offset);
        Location { file: self.path.clone(), line, column }
    }
}

/// A position in a file, 1-based, column in characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Byte ranges of a key and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// The key (for array items and array-of-tables entries, the item itself).
    pub key: Range<usize>,
    /// The value.
    pub value: Range<usize>,
}

/// Path → place, for every key and array item of a document.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyIndex {
    places: HashMap<String, Place>,
}

impl KeyIndex {
    /// Indexes a TOML document; the error is the TOML syntax error.
    pub fn from_toml(text: &str) -> Result<KeyIndex, toml::de::Error> {
        let doc = DeTable::parse(text)?;
        let mut index = KeyIndex::default();
        index.walk_table(doc.get_ref(), "");
        Ok(index)
    }

    fn walk_table(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table.iter() {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            self.places.insert(path.clone(), Place { key: key.span(), value: value.span() });
            self.walk_value(value.get_ref(), &path);
        }
    }

    fn walk_value(&mut self, value: &DeValue<'_>, path: &str) {
        match value {
            DeValue::Table(t) => self.walk_table(t, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.places.insert(p.clone(), Place { key: item.span(), value: item.span() });
                    self.walk_value(item.get_ref(), &p);
                }
            }
            _ => {}
        }
    }

    /// Indexes a JSON document; `None` when it is not well-formed JSON
    /// (the caller reports `serde_json`'s error instead).
    pub fn from_json(text: &str) -> Option<KeyIndex> {
        let mut index = KeyIndex::default();
        let mut scanner = JsonScanner { bytes: text.as_bytes(), at: 0 };
        scanner.skip_ws();
        let start = scanner.at;
        scanner.value("", &mut index)?;
        index.places.insert(String::new(), Place { key: start..start, value: start..scanner.at });
        Some(index)
    }

    /// The place of `path`.
    pub fn get(&self, path: &str) -> Option<&Place> {
        self.places.get(path)
    }

    /// Every path under `prefix.` (or every path when `prefix` is empty),
    /// with the prefix and its dot removed.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a Place)> + 'a {
        self.places.iter().filter_map(move |(path, place)| {
            if prefix.is_empty() {
                return Some((path.as_str(), place));
            }
            let rest = path.strip_prefix(prefix)?;
            let rest = rest.strip_prefix('.').or_else(|| rest.starts_with('[').then_some(rest))?;
            Some((rest, place))
        })
    }

    /// The deepest path whose key or value contains byte `offset` (the key
    /// a parser error at `offset` is about).
    pub fn path_at(&self, offset: usize) -> Option<&str> {
        self.places
            .iter()
            .filter(|(_, p)| p.key.contains(&offset) || p.value.contains(&offset) || p.key.start == offset)
            .max_by_key(|(path, p)| (path.len(), usize::MAX - p.value.len()))
            .map(|(path, _)| path.as_str())
    }
}

/// A minimal JSON tokenizer that records where keys and values stand.
struct JsonScanner<'t> {
    bytes: &'t [u8],
    at: usize,
}

impl JsonScanner<'_> {
    fn skip_ws(&mut self) {
        while self.bytes.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
        // A byte-order mark is tolerated at the start, as serde_json does not.
        if self.at == 0 && self.bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.at = 3;
            self.skip_ws();
        }
    }

    fn value(&mut self, path: &str, index: &mut KeyIndex) -> Option<()> {
        self.skip_ws();
        match *self.bytes.get(self.at)? {
            b'{' => {
                self.at += 1;
                self.skip_ws();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip_ws();
                    let key_start = self.at;
                    let key = self.string()?;
                    let key_end = self.at;
                    self.skip_ws();
                    if self.bytes.get(self.at) != Some(&b':') {
                        return None;
                    }
                    self.at += 1;
                    self.skip_ws();
                    let value_start = self.at;
                    let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                    self.value(&child, index)?;
                    index
                        .places
                        .insert(child, Place { key: key_start..key_end, value: value_start..self.at });
                    self.skip_ws();
                    match self.bytes.get(self.at)? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.at += 1;
                self.skip_ws();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Some(());
                }
                let mut i = 0;
                loop {
                    self.skip_ws();
                    let start = self.at;
                    let child = format!("{path}[{i}]");
                    self.value(&child, index)?;
                    index.places.insert(child, Place { key: start..self.at, value: start..self.at });
                    i += 1;
                    self.skip_ws();
                    match self.bytes.get(self.at)? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                // Numbers, true, false, null: up to the next delimiter.
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }

    /// A string token; returns its decoded text (escapes other than `\"`
    /// and `\\` are kept as written, which is enough for Graph key names).
    fn string(&mut self) -> Option<String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    let next = *self.bytes.get(self.at + 1)?;
                    if !matches!(next, b'"' | b'\\') {
                        out.push(b'\\');
                    }
                    out.push(next);
                    self.at += 2;
                }
                b => {
                    out.push(b);
                    self.at += 1;
                }
            }
        }
    }
}

/// Where one object (a profile, a group, an edit) was written, and where
/// each of its keys stands.
///
/// Keys are named by their *canonical* name, the tenant-file key
/// (`pre_provisioning`, `include[1]`, `esp.timeout_minutes`). A profile
/// read from Graph JSON records, for each canonical name, the Graph
/// property it actually came from (`preprovisioningAllowed` or the
/// deprecated `enableWhiteGlove`), so findings name what the admin wrote;
/// its assignment keys come from the tenant file, so each key keeps its
/// own file.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    source: Option<Arc<Source>>,
    /// Path of the object itself, such as `profile[2]`.
    prefix: String,
    /// Canonical key → where it was written.
    keys: HashMap<String, Key>,
    /// Where the object starts (its table header or opening brace).
    start: usize,
}

#[derive(Clone, Debug)]
struct Key {
    path: String,
    source: Arc<Source>,
    place: Place,
}

impl Origin {
    /// An object with no file behind it (built in code).
    pub fn none(prefix: impl Into<String>) -> Origin {
        Origin { prefix: prefix.into(), ..Origin::default() }
    }

    /// The object at `prefix` of a TOML file indexed by `index`; every key
    /// below it is canonical as written.
    pub(crate) fn toml(source: &Arc<Source>, index: &KeyIndex, prefix: &str) -> Origin {
        let keys = index
            .under(prefix)
            .map(|(rest, place)| {
                let key = Key { path: join(prefix, rest), source: source.clone(), place: place.clone() };
                (rest.to_string(), key)
            })
            .collect();
        let start = index.get(prefix).map_or(0, |p| p.key.start);
        Origin { source: Some(source.clone()), prefix: prefix.to_string(), keys, start }
    }

    /// An object of a JSON file; keys are added with [`Origin::record`].
    pub(crate) fn json(source: &Arc<Source>, index: &KeyIndex, prefix: &str) -> Origin {
        let start = index.get(prefix).map_or(0, |p| p.value.start);
        Origin { source: Some(source.clone()), prefix: prefix.to_string(), keys: HashMap::new(), start }
    }

    /// Records that canonical key `canonical` was read from `written`
    /// (a path relative to this object), when the index knows it.
    pub(crate) fn record(&mut self, index: &KeyIndex, canonical: &str, written: &str) {
        let Some(source) = self.source.clone() else { return };
        let path = join(&self.prefix, written);
        if let Some(place) = index.get(&path) {
            self.keys.insert(canonical.to_string(), Key { path, source, place: place.clone() });
        }
    }

    /// Takes the keys `wanted` (and their array items) from `other`, which
    /// describes the same object in another file.
    pub(crate) fn adopt(&mut self, other: &Origin, wanted: &[&str]) {
        for (name, key) in &other.keys {
            let base = name.split(['[', '.']).next().unwrap_or(name);
            if wanted.contains(&base) {
                self.keys.insert(name.clone(), key.clone());
            }
        }
    }

    /// The file, when there is one.
    pub fn file(&self) -> Option<&Path> {
        self.source.as_deref().map(|s| s.path.as_path())
    }

    /// The object's own path (`profile[2]`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The path of canonical key `key` as the admin wrote it.
    pub fn path(&self, key: &str) -> String {
        match self.keys.get(key) {
            Some(k) => k.path.clone(),
            None => join(&self.prefix, key),
        }
    }

    /// Where key `key` stands; the object's start when the key is absent.
    pub fn location(&self, key: &str) -> Option<Location> {
        match self.keys.get(key) {
            Some(k) => Some(k.source.location(k.place.key.start)),
            None => self.source.as_ref().map(|s| s.location(self.start)),
        }
    }

    /// Where byte `offset` of the *value* of string key `key` stands, for
    /// errors inside a rule. Exact for literal strings and escape-free
    /// basic strings; the key's location otherwise.
    pub fn location_in_string(&self, key: &str, decoded: &str, offset: usize) -> Option<Location> {
        let Some(k) = self.keys.get(key) else { return self.location(key) };
        let raw = k.source.text.get(k.place.value.clone()).unwrap_or("");
        let skip = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
            // A newline right after the opening delimiter is not part of the string.
            3 + match raw.get(3..) {
                Some(r) if r.starts_with("\r\n") => 2,
                Some(r) if r.starts_with('\n') => 1,
                _ => 0,
            }
        } else if raw.starts_with('\'') || raw.starts_with('"') {
            1
        } else {
            return self.location(key);
        };
        let body = raw.get(skip..).unwrap_or("");
        match decoded.get(..offset) {
            Some(head) if body.starts_with(head) => {
                Some(k.source.location(k.place.value.start + skip + offset))
            }
            _ => self.location(key),
        }
    }

    /// True when key `key` was written.
    pub fn has(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }
}

fn join(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => prefix.to_string(),
        _ if key.starts_with('[') => format!("{prefix}{key}"),
        _ => format!("{prefix}.{key}"),
    }
}

/// A TOML error as `file:line:column: path: message`, naming the key the
/// error is about when the document could be indexed.
pub(crate) fn toml_error(
    source: &Source,
    index: Option<&KeyIndex>,
    e: &toml::de::Error,
) -> (Location, String) {
    let offset = e.span().map_or(0, |s| s.start);
    let location = source.location(offset);
    let message = e.message().trim_end().to_string();
    let key = index.and_then(|i| i.path_at(offset)).filter(|p| !p.is_empty());
    let message = match key {
        Some(key) => format!("{key}: {message}"),
        None => message,
    };
    (location, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn toml_keys_and_array_items_are_indexed() -> TestResult {
        let text =
            "[[profile]]\nname = \"a\"\ninclude = [\"x\", \"y\"]\n[profile.esp]\ntimeout_minutes = 5\n";
        let index = KeyIndex::from_toml(text)?;
        let place = index.get("profile[0].include[1]").ok_or("no include[1]")?;
        assert_eq!(&text[place.value.clone()], "\"y\"");
        let place = index.get("profile[0].esp.timeout_minutes").ok_or("no timeout")?;
        assert_eq!(&text[place.key.clone()], "timeout_minutes");
        let source = Source::new("t.toml", text);
        let origin = Origin::toml(&source, &index, "profile[0]");
        assert_eq!(origin.path("include[1]"), "profile[0].include[1]");
        assert_eq!(origin.location("esp.timeout_minutes").map(|l| (l.line, l.column)), Some((5, 1)));
        // Absent keys point at the table header.
        assert_eq!(origin.location("mode").map(|l| (l.line, l.column)), Some((1, 1)));
        Ok(())
    }

    #[test]
    fn json_keys_are_indexed_with_escapes_and_nesting() -> TestResult {
        let text = "{\"value\": [ {\"a\\\"b\": 1, \"o\": {\"k\": [true, null]}} ]}";
        let index = KeyIndex::from_json(text).ok_or("not indexed")?;
        let place = index.get("value[0].o.k[1]").ok_or("no k[1]")?;
        assert_eq!(&text[place.value.clone()], "null");
        assert!(index.get("value[0].a\"b").is_some());
        assert!(KeyIndex::from_json("{\"a\": }").is_none());
        Ok(())
    }

    #[test]
    fn path_at_finds_the_innermost_key() -> TestResult {
        let text = "[[profile]]\nname = \"a\"\n[profile.esp]\ntimeout_minutes = -5\n";
        let index = KeyIndex::from_toml(text)?;
        let offset = text.find("-5").ok_or("no -5")?;
        assert_eq!(index.path_at(offset), Some("profile[0].esp.timeout_minutes"));
        Ok(())
    }

    #[test]
    fn positions_inside_literal_strings_are_exact() -> TestResult {
        let text = "[[group]]\nname = \"g\"\nrule = '''\ndevice.x -eq 1'''\n";
        let index = KeyIndex::from_toml(text)?;
        let source = Source::new("g.toml", text);
        let origin = Origin::toml(&source, &index, "group[0]");
        let loc = origin.location_in_string("rule", "device.x -eq 1", 7).ok_or("no location")?;
        assert_eq!((loc.line, loc.column), (4, 8));
        Ok(())
    }
}

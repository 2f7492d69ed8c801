//! Reading inventories: a JSON array, a Graph page (`{"value": [...]}`), or
//! JSON Lines, told apart by their first bytes.
//!
//! Errors name the file, the line and column, the record (its index, and for
//! JSON Lines its line), and the field path inside it, because the admin
//! has to find record 48,213 in a 300 MB export with an editor.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::inventory::{Device, User};

/// The three layouts fleetlab reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InventoryFormat {
    /// `[ {...}, {...} ]`
    JsonArray,
    /// `{"@odata.context": ..., "value": [ {...} ]}` as Graph returns a page.
    GraphPage,
    /// One JSON object per line.
    JsonLines,
}

/// Why an inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The text is not JSON at all, or not one of the three layouts.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// One record does not have the Graph shape.
    #[error("{path}:{line}:{column}: record {record} ({location}): {message}")]
    Record {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column.
        column: usize,
        /// 0-based index of the record in the file.
        record: usize,
        /// The field path, such as `accountEnabled` or `physicalIds[2]`.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A section of a packed index failed its checksum or invariants when
    /// it was first used (the message names the file and the section).
    #[error("{message}")]
    Damaged {
        /// The packed file.
        path: PathBuf,
        /// What is wrong, naming the file.
        message: String,
    },
}

/// Loads Graph `device` records from a file in any of the three layouts.
pub fn load_devices(path: &Path) -> Result<Vec<Device>, InventoryError> {
    load(path)
}

/// Loads Graph `user` records from a file in any of the three layouts.
pub fn load_users(path: &Path) -> Result<Vec<User>, InventoryError> {
    load(path)
}

fn load<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, InventoryError> {
    let bytes =
        std::fs::read(path).map_err(|source| InventoryError::Io { path: path.to_path_buf(), source })?;
    let text = utf8(&bytes, path)?;
    parse_records(text, path).map(|(records, _)| records)
}

/// `bytes` as UTF-8 text, or an error naming the line and column of the
/// first invalid byte (or the UTF-16 byte-order mark Windows PowerShell's
/// `Out-File` writes).
pub(crate) fn utf8<'b>(bytes: &'b [u8], path: &Path) -> Result<&'b str, InventoryError> {
    if let Some(e) = utf16_bom(bytes, path) {
        return Err(e);
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        // The prefix is valid UTF-8 by construction.
        let before = std::str::from_utf8(good).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        InventoryError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: format!(
                "invalid UTF-8 (byte 0x{:02X}); Graph exports are UTF-8: re-export, or convert the file",
                bytes.get(e.valid_up_to()).copied().unwrap_or(0)
            ),
        }
    })
}

/// The error for a file that starts with a UTF-16 byte-order mark.
pub(crate) fn utf16_bom(head: &[u8], path: &Path) -> Option<InventoryError> {
    let which = match head {
        [0xFF, 0xFE, ..] => "UTF-16 little-endian",
        [0xFE, 0xFF, ..] => "UTF-16 big-endian",
        _ => return None,
    };
    Some(InventoryError::Syntax {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!(
            "the file is {which} (it starts with that byte-order mark); fleetlab reads UTF-8, with or \
             without a byte-order mark: save it as UTF-8 (PowerShell: Out-File -Encoding utf8)"
        ),
    })
}

/// Detects the layout of `text`.
fn detect(text: &str) -> InventoryFormat {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') {
        return InventoryFormat::JsonArray;
    }
    let mut stream = serde_json::Deserializer::from_str(trimmed).into_iter::<serde::de::IgnoredAny>();
    let first_ok = matches!(stream.next(), Some(Ok(_)));
    if !first_ok && starts_like_page(trimmed) {
        // A page cut off mid-way: parse it whole, so the error is located
        // where the text breaks, not on its first line.
        return InventoryFormat::GraphPage;
    }
    let rest = &trimmed[stream.byte_offset()..];
    if first_ok && rest.trim().is_empty() && trimmed.contains("\"value\"") {
        if let Ok(probe) = serde_json::from_str::<PageProbe>(trimmed) {
            if probe.value.is_array() {
                return InventoryFormat::GraphPage;
            }
        }
    }
    InventoryFormat::JsonLines
}

/// True when `text` opens an object whose first key is `value` or an
/// `@odata.` annotation, as every Graph page does.
pub(crate) fn starts_like_page(text: &str) -> bool {
    let Some(rest) = text.trim_start_matches('\u{feff}').trim_start().strip_prefix('{') else { return false };
    let mut keys = serde_json::Deserializer::from_str(rest.trim_start()).into_iter::<String>();
    matches!(keys.next(), Some(Ok(k)) if k == "value" || k.starts_with("@odata."))
}

#[derive(Deserialize)]
struct PageProbe {
    value: serde_json::Value,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
}

/// Parses records of type `T` from `text` (`path` only labels errors).
pub fn parse_records<T: DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<(Vec<T>, InventoryFormat), InventoryError> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = detect(body);
    let records = match format {
        InventoryFormat::JsonArray => whole::<Vec<T>>(body, path, 0)?,
        InventoryFormat::GraphPage => whole::<Page<T>>(body, path, 0)?.value,
        InventoryFormat::JsonLines => {
            let mut out = Vec::new();
            for (i, line) in body.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                out.push(parse_line(line, i + 1, out.len(), path)?);
            }
            out
        }
    };
    Ok((records, format))
}

/// Parses one JSON Lines record; errors name the line, record and field.
pub(crate) fn parse_line<T: DeserializeOwned>(
    line: &str,
    line_no: usize,
    record: usize,
    path: &Path,
) -> Result<T, InventoryError> {
    let mut de = serde_json::Deserializer::from_str(line);
    let parsed = serde_path_to_error::deserialize::<_, T>(&mut de);
    if let (Ok(_), Err(e)) = (&parsed, de.end()) {
        return Err(InventoryError::Syntax {
            path: path.to_path_buf(),
            line: line_no,
            column: e.column(),
            message: format!("unexpected text after record {record}: {}", strip_position(&e)),
        });
    }
    parsed.map_err(|e| {
        let location = e.path().to_string();
        let inner = e.into_inner();
        let column = inner.column();
        if inner.is_syntax() || inner.is_eof() {
            return InventoryError::Syntax {
                path: path.to_path_buf(),
                line: line_no,
                column,
                message: format!("record {record} is not valid JSON: {}", strip_position(&inner)),
            };
        }
        InventoryError::Record {
            path: path.to_path_buf(),
            line: line_no,
            column,
            record,
            location: if location == "." { "the record".into() } else { location },
            message: strip_position(&inner),
        }
    })
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn whole<T: DeserializeOwned>(text: &str, path: &Path, _offset: usize) -> Result<T, InventoryError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let result = serde_path_to_error::deserialize::<_, T>(&mut de);
    match result {
        Ok(v) => {
            de.end().map_err(|e| InventoryError::Syntax {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message: format!("unexpected text after the records: {}", strip_position(&e)),
            })?;
            Ok(v)
        }
        Err(e) => Err(located(e, path)),
    }
}

/// A whole-document error: a syntax error at its line and column, or a
/// record error naming the record and field (from the path
/// `value[12].accountEnabled` or `[12].accountEnabled`).
pub(crate) fn located(e: serde_path_to_error::Error<serde_json::Error>, path: &Path) -> InventoryError {
    {
        {
            let full = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return InventoryError::Syntax {
                    path: path.to_path_buf(),
                    line: inner.line(),
                    column: inner.column(),
                    message: format!("not valid JSON: {}", strip_position(&inner)),
                };
            }
            // `value[12].accountEnabled` → record 12, field `accountEnabled`.
            let after_prefix = full.strip_prefix("value").unwrap_or(&full);
            let (record, location) = match after_prefix.strip_prefix('[').and_then(|s| s.split_once(']')) {
                Some((n, rest)) => (n.parse().unwrap_or(0), rest.trim_start_matches('.').to_string()),
                None => (0, full.clone()),
            };
            InventoryError::Record {
                path: path.to_path_buf(),
                line: inner.line(),
                column: inner.column(),
                record,
                location: if location.is_empty() { "the record".into() } else { location },
                message: strip_position(&inner),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(text: &str) -> Result<(Vec<Device>, InventoryFormat), InventoryError> {
        parse_records(text, Path::new("devices.json"))
    }

    #[test]
    fn reads_all_three_layouts() -> Result<(), InventoryError> {
        let (a, fa) = devices(r#"[{"id": "a"}, {"id": "b", "unknownField": 3}]"#)?;
        assert_eq!((a.len(), fa), (2, InventoryFormat::JsonArray));
        let (p, fp) = devices(r#"{"@odata.context": "x", "value": [{"id": "a"}]}"#)?;
        assert_eq!((p.len(), fp), (1, InventoryFormat::GraphPage));
        let (l, fl) = devices("{\"id\": \"a\"}\n\n{\"id\": \"b\"}\n")?;
        assert_eq!((l.len(), fl), (2, InventoryFormat::JsonLines));
        Ok(())
    }

    #[test]
    fn a_bad_field_names_record_line_and_field() {
        let err = devices("{\"id\": \"a\"}\n{\"id\": \"b\", \"accountEnabled\": \"yes\"}\n");
        let msg = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(msg.starts_with("devices.json:2:"), "{msg}");
        assert!(msg.contains("record 1 (accountEnabled)"), "{msg}");

        let err = devices(r#"{"value": [{"id": "a"}, {"id": "b", "physicalIds": [1]}]}"#);
        let msg = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(msg.contains("record 1 (physicalIds[0])"), "{msg}");

        let err = devices(r#"[{"id": "a"}, {"displayName": "no id"}]"#);
        let msg = err.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(msg.contains("record 1") && msg.contains("missing field `id`"), "{msg}");
    }

    #[test]
    fn broken_json_is_a_syntax_error_with_position() {
        let err = devices("[{\"id\": \"a\"},\n {\"id\": }]");
        assert!(matches!(err, Err(InventoryError::Syntax { line: 2, .. })), "{err:?}");
    }
}

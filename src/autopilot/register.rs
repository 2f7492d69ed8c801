//! Registration: the hardware-hash CSV that puts devices into Autopilot,
//! read and checked before anything is uploaded.
//!
//! A device reaches Autopilot as a row of a CSV file (what
//! `Get-WindowsAutopilotInfo` and OEMs write), uploaded in Intune or sent
//! to Graph's `importedWindowsAutopilotDeviceIdentities`. Intune rejects a
//! whole file for one bad header or row and reports a bad hash only after
//! the import has run, so [`read_csv`] reports every problem at once, each
//! at its file, line and column.
//!
//! What is checked, and where it comes from (Microsoft Learn, "Manually
//! register devices with Windows Autopilot", learn.microsoft.com/autopilot/add-devices,
//! restated in graph-api.md §1.4 and §4.4):
//!
//! * **The header**, exactly and case-sensitively: `Device Serial
//!   Number,Windows Product ID,Hardware Hash`, optionally followed by
//!   `,Group Tag` and then `,Assigned User`, and no other columns.
//! * **At most 500 rows per file** ("Up to 500 devices can be manually
//!   registered via a CSV file").
//! * **No quotes**: Intune's import takes plain comma-separated text; a
//!   quoted field (as Excel writes one) is refused, so each field is the
//!   text between two commas, and columns are exact.
//! * **Encoding**: the page asks for ANSI text; UTF-8 with or without a BOM
//!   is read as well, bytes that are not UTF-8 are read as Windows-1252
//!   (ANSI as older tools wrote it), and UTF-16 ("Unicode" in Notepad) is
//!   refused with what to do instead.
//! * **Each row**: a serial number; a hardware hash that is strict Base64
//!   and decodes to bytes (an empty or damaged hash ends in
//!   `InvalidZtdHardwareHash`); the Windows Product ID may be empty; a
//!   group tag without control characters or `"` (quotes or backticks in a
//!   tag make dynamic rules awkward: a warning); an assigned user that is a
//!   UPN (`name@domain.tld`; the service checks only the domain, and an
//!   invalid UPN can leave the device unusable until it is removed).
//! * **Duplicates within the file**: a serial or a hash on two rows (the
//!   second hash ends in `ZtdDeviceDuplicated`); every row involved is named.
//!
//! The group tag has no documented length or character limit, so none is
//! invented here beyond what breaks the file or the rules.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The columns, in the only order Intune accepts.
pub const COLUMNS: [&str; 5] =
    ["Device Serial Number", "Windows Product ID", "Hardware Hash", "Group Tag", "Assigned User"];

/// Rows one file may hold.
pub const MAX_ROWS: usize = 500;

const SOURCE: &str =
    "Microsoft Learn: Manually register devices with Windows Autopilot (add-devices); graph-api.md §4.4";

/// One device of the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportRow {
    /// 1-based line in the file.
    pub line: usize,
    /// `Device Serial Number`.
    pub serial: String,
    /// `Windows Product ID` (often empty).
    pub product_id: String,
    /// `Hardware Hash`, Base64.
    pub hash: String,
    /// `Group Tag`, when the column is there and the cell is not empty.
    pub group_tag: Option<String>,
    /// `Assigned User`, when the column is there and the cell is not empty.
    pub user: Option<String>,
}

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Intune would refuse the file or the row.
    Error,
    /// Accepted, but likely not what was meant.
    Warning,
}

/// A problem at a place in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable code (`header`, `hash-not-base64`, `duplicate-serial`, …).
    pub code: &'static str,
    /// Error or warning.
    pub level: Level,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
    /// The document the rule comes from.
    pub source: &'static str,
}

/// A checked file: its rows and every problem found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportFile {
    /// The file.
    pub path: PathBuf,
    /// The rows that could be read (those with errors included).
    pub rows: Vec<ImportRow>,
    /// Problems, in file order.
    pub problems: Vec<Problem>,
    /// How the bytes were decoded: `utf-8`, `utf-8 (BOM)` or `windows-1252`.
    pub encoding: &'static str,
}

impl ImportFile {
    /// True when Intune would accept the file.
    pub fn is_clean(&self) -> bool {
        self.problems.iter().all(|p| p.level == Level::Warning)
    }

    /// Problems as `file:line:column: level: message [code]` lines.
    pub fn problems_text(&self) -> String {
        self.problems
            .iter()
            .map(|p| {
                let level = if p.level == Level::Error { "error" } else { "warning" };
                format!(
                    "{}:{}:{}: {level}: {} [{}]\n",
                    self.path.display(),
                    p.line,
                    p.column,
                    p.message,
                    p.code
                )
            })
            .collect()
    }
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is UTF-16, which Intune's import refuses.
    #[error("{path}: the file is UTF-16 (\"Unicode\"); Intune imports ANSI text: save it as ANSI or UTF-8")]
    Utf16 {
        /// The file.
        path: PathBuf,
    },
}

/// Reads and checks the CSV at `path`.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("devices.csv");
/// std::fs::write(&file, "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\n\
///                        5CG3310KLM,,VDBGQUFBQU1BQUFB,Sales-EMEA\n")?;
/// let checked = fleetlab::autopilot::register::read_csv(&file)?;
/// assert!(checked.is_clean());
/// assert_eq!(checked.rows[0].group_tag.as_deref(), Some("Sales-EMEA"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_csv(path: &Path) -> Result<ImportFile, RegisterError> {
    let bytes =
        std::fs::read(path).map_err(|source| RegisterError::Io { path: path.to_path_buf(), source })?;
    let (text, encoding) = decode(&bytes).ok_or_else(|| RegisterError::Utf16 { path: path.to_path_buf() })?;
    let mut file = ImportFile { path: path.to_path_buf(), encoding, ..ImportFile::default() };
    check_text(&text, &mut file);
    Ok(file)
}

/// The text of `bytes` and how it was decoded; `None` for UTF-16.
fn decode(bytes: &[u8]) -> Option<(String, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || bytes.contains(&0) {
        return None;
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return Some((String::from_utf8_lossy(rest).into_owned(), "utf-8 (BOM)"));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Some((text.to_string(), "utf-8")),
        Err(_) => Some((bytes.iter().map(|&b| windows_1252(b)).collect(), "windows-1252")),
    }
}

/// A Windows-1252 byte as a character (0x80–0x9F differ from Latin-1).
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}',
        '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH.get(usize::from(b - 0x80)).copied().unwrap_or('\u{FFFD}'),
        _ => char::from(b),
    }
}

fn problem(
    file: &mut ImportFile,
    code: &'static str,
    level: Level,
    line: usize,
    column: usize,
    message: String,
) {
    file.problems.push(Problem { code, level, line, column, message, source: SOURCE });
}

fn check_text(text: &str, file: &mut ImportFile) {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    let Some((_, header)) = lines.next() else {
        problem(
            file,
            "empty",
            Level::Error,
            1,
            1,
            format!("the file is empty; the first line must be `{}`", COLUMNS[..3].join(",")),
        );
        return;
    };
    let Some(width) = check_header(header, file) else { return };
    let mut data_rows = 0;
    for (line, raw) in lines {
        if raw.trim().is_empty() {
            continue;
        }
        data_rows += 1;
        if data_rows == MAX_ROWS + 1 {
            problem(file, "too-many-rows", Level::Error, line, 1, format!(
                "more than {MAX_ROWS} devices: Intune imports at most {MAX_ROWS} rows per CSV file; split the file here"
            ));
        }
        if let Some(row) = check_row(line, raw, width, file) {
            file.rows.push(row);
        }
    }
    if data_rows == 0 {
        problem(file, "no-rows", Level::Error, 1, 1, "the file has a header but no devices".into());
    }
    duplicates(file);
}

/// Checks the header; returns how many columns it has.
fn check_header(header: &str, file: &mut ImportFile) -> Option<usize> {
    let names: Vec<&str> = header.split(',').collect();
    let expected = COLUMNS[..3].join(",");
    let mut column = 1;
    for (i, name) in names.iter().enumerate() {
        let wanted = COLUMNS.get(i).copied();
        if Some(*name) != wanted {
            let message = match wanted {
                Some(w) if name.trim_matches('"').eq_ignore_ascii_case(w) => {
                    format!("column {} is `{name}`; Intune wants exactly `{w}` (case and quotes matter)", i + 1)
                }
                Some(w) => format!("column {} is `{name}`, expected `{w}`; the header is `{expected}`, optionally followed by `,Group Tag` and `,Assigned User`", i + 1),
                None => format!("extra column `{name}`: Intune's import takes at most the five columns `{}`", COLUMNS.join(",")),
            };
            problem(file, "header", Level::Error, 1, column, message);
            return None;
        }
        column += name.chars().count() + 1;
    }
    if names.len() < 3 {
        problem(
            file,
            "header",
            Level::Error,
            1,
            column.saturating_sub(1).max(1),
            format!("the header has {} column(s); it must start `{expected}`", names.len()),
        );
        return None;
    }
    Some(names.len())
}

/// Checks one data line; the row when its fields could be split.
fn check_row(line: usize, raw: &str, width: usize, file: &mut ImportFile) -> Option<ImportRow> {
    if let Some(at) = raw.find('"') {
        let column = raw[..at].chars().count() + 1;
        problem(file, "quoted-field", Level::Error, line, column,
            "a quote: Intune's import takes unquoted fields (save from a text editor, not Excel, or remove the quotes)".into());
        return None;
    }
    let fields: Vec<&str> = raw.split(',').collect();
    if fields.len() != width {
        problem(
            file,
            "column-count",
            Level::Error,
            line,
            1,
            format!(
            "{} field(s) where the header has {width}; a serial, hash, tag or user cannot contain a comma",
            fields.len()
        ),
        );
        return None;
    }
    let mut starts = Vec::with_capacity(width);
    let mut column = 1;
    for f in &fields {
        starts.push(column);
        column += f.chars().count() + 1;
    }
    let cell = |i: usize| fields.get(i).copied().unwrap_or("");
    let at = |i: usize| starts.get(i).copied().unwrap_or(1);
    check_serial(cell(0), line, at(0), file);
    check_hash(cell(2), line, at(2), file);
    let tag = cell(3);
    if !tag.is_empty() {
        check_tag(tag, line, at(3), file);
    }
    let user = cell(4);
    if !user.is_empty() {
        check_user(user, line, at(4), file);
    }
    let optional = |s: &str| if s.is_empty() { None } else { Some(s.to_string()) };
    Some(ImportRow {
        line,
        serial: cell(0).to_string(),
        product_id: cell(1).to_string(),
        hash: cell(2).to_string(),
        group_tag: optional(tag),
        user: optional(user),
    })
}

fn check_serial(serial: &str, line: usize, column: usize, file: &mut ImportFile) {
    if serial.trim().is_empty() {
        problem(file, "serial-missing", Level::Error, line, column, "no serial number".into());
    } else if serial != serial.trim() {
        problem(
            file,
            "serial-whitespace",
            Level::Error,
            line,
            column,
            format!("serial {serial:?} has leading or trailing spaces, which would become part of it"),
        );
    } else if let Some((i, c)) = serial.chars().enumerate().find(|(_, c)| c.is_control()) {
        problem(
            file,
            "serial-character",
            Level::Error,
            line,
            column + i,
            format!("serial has a control character {c:?}"),
        );
    }
}

fn check_hash(hash: &str, line: usize, column: usize, file: &mut ImportFile) {
    if hash.is_empty() {
        problem(
            file,
            "hash-missing",
            Level::Error,
            line,
            column,
            "no hardware hash (Autopilot would end the import in InvalidZtdHardwareHash)".into(),
        );
        return;
    }
    let bad =
        hash.chars().enumerate().find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')));
    if let Some((i, c)) = bad {
        problem(
            file,
            "hash-not-base64",
            Level::Error,
            line,
            column + i,
            format!("the hardware hash is not Base64: {c:?} (a hash cut or wrapped when it was copied?)"),
        );
        return;
    }
    use base64::Engine;
    if base64::engine::general_purpose::STANDARD.decode(hash).map_or(true, |b| b.is_empty()) {
        problem(file, "hash-not-base64", Level::Error, line, column, format!(
            "the hardware hash ({} characters) is not valid Base64: its length or padding is wrong (a truncated hash?)",
            hash.len()
        ));
    }
}

fn check_tag(tag: &str, line: usize, column: usize, file: &mut ImportFile) {
    if let Some((i, c)) = tag.chars().enumerate().find(|(_, c)| c.is_control()) {
        problem(
            file,
            "group-tag-character",
            Level::Error,
            line,
            column + i,
            format!("group tag has a control character {c:?}"),
        );
    } else if tag != tag.trim() {
        problem(
            file,
            "group-tag-whitespace",
            Level::Warning,
            line,
            column,
            format!(
                "group tag {tag:?} has leading or trailing spaces; a rule `[OrderId]:{}` would not match it",
                tag.trim()
            ),
        );
    } else if let Some((i, c)) = tag.chars().enumerate().find(|(_, c)| matches!(c, '\'' | '`')) {
        problem(
            file,
            "group-tag-quote",
            Level::Warning,
            line,
            column + i,
            format!(
                "group tag has {c:?}, which a dynamic rule must escape (`'` doubled, backtick before `\"`)"
            ),
        );
    }
}

fn check_user(user: &str, line: usize, column: usize, file: &mut ImportFile) {
    let valid = match user.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !user.chars().any(|c| c.is_whitespace() || c.is_control())
                && !domain.contains('@')
        }
        None => false,
    };
    if !valid {
        problem(file, "user-not-upn", Level::Error, line, column, format!(
            "assigned user {user:?} is not a user principal name (name@domain.tld); an invalid UPN can leave the device unusable until it is removed"
        ));
    }
}

/// A problem on every row whose serial or hash another row has too.
fn duplicates(file: &mut ImportFile) {
    let mut found = Vec::new();
    for (what, code, key) in [
        ("serial", "duplicate-serial", (|r: &ImportRow| r.serial.to_uppercase()) as fn(&ImportRow) -> String),
        ("hardware hash", "duplicate-hash", |r: &ImportRow| r.hash.clone()),
    ] {
        let mut lines: HashMap<String, Vec<usize>> = HashMap::new();
        for r in &file.rows {
            if !key(r).is_empty() {
                lines.entry(key(r)).or_default().push(r.line);
            }
        }
        for r in &file.rows {
            let Some(all) = lines.get(&key(r)).filter(|l| l.len() > 1) else { continue };
            let others: Vec<String> = all.iter().filter(|&&l| l != r.line).map(|l| l.to_string()).collect();
            let extra =
                if code == "duplicate-hash" { " (the import ends in ZtdDeviceDuplicated)" } else { "" };
            found.push((
                code,
                r.line,
                format!("the same {what} is also on line {}{extra}", others.join(", ")),
            ));
        }
    }
    for (code, line, message) in found {
        problem(file, code, Level::Error, line, 1, message);
    }
    file.problems.sort_by_key(|p| (p.line, p.column));
}

/// Id prefix of the devices a CSV will add, in plans.
pub const IMPORT_ID_PREFIX: &str = "import:";

/// A serial of the file that the tenant already has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlreadyRegistered {
    /// The line of the file.
    pub line: usize,
    /// The serial number.
    pub serial: String,
    /// The Entra object id of the device that has it.
    pub device: String,
}

/// What a file will add: the Entra devices Autopilot creates for its rows,
/// and the rows whose serial the tenant already has (an import of those
/// ends in 806 `ZtdDeviceAlreadyAssigned`).
#[derive(Clone, Debug, Default)]
pub struct Registration {
    /// One device per new row, with the physical ids Autopilot gives it.
    pub new: Vec<crate::inventory::Device>,
    /// Rows already registered.
    pub already: Vec<AlreadyRegistered>,
}

/// The devices `file` adds to `existing`.
///
/// Before a device enrolls, the Entra object Autopilot registers for it is
/// named after its serial number and carries `[ZTDId]:<identity id>`, a
/// `[HWID]` value and, for a group tag, `[OrderId]:<tag>` in
/// `physicalIds` (graph-api.md F13; Microsoft Learn, "Create device groups
/// for Windows Autopilot"): what rules such as `device.devicePhysicalIds
/// -any (_ -startsWith "[ZTDId]")` and `(_ -eq "[OrderId]:<tag>")` read.
/// The identity id is assigned by the service, so the planned `[ZTDId]`
/// value is a placeholder. A serial is taken as registered when an
/// existing device with a `[ZTDId]` is named after it, which holds until
/// the device enrolls and takes its real name: `fleetlab sync import`
/// checks the tenant's Autopilot identities themselves.
pub fn registration(file: &ImportFile, existing: &[crate::inventory::Device]) -> Registration {
    let mut by_name: HashMap<String, &str> = HashMap::new();
    for d in existing {
        let autopilot = d
            .physical_ids
            .iter()
            .flatten()
            .any(|p| p.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("[ZTDId]")));
        if let (true, Some(name)) = (autopilot, d.display_name.as_deref()) {
            by_name.entry(name.to_uppercase()).or_insert(d.id.as_str());
        }
    }
    let mut out = Registration::default();
    for row in &file.rows {
        if let Some(device) = by_name.get(&row.serial.to_uppercase()) {
            out.already.push(AlreadyRegistered {
                line: row.line,
                serial: row.serial.clone(),
                device: device.to_string(),
            });
            continue;
        }
        out.new.push(entra_device(row));
    }
    out
}

fn entra_device(row: &ImportRow) -> crate::inventory::Device {
    let mut physical =
        vec!["[ZTDId]:(assigned at import)".to_string(), "[HWID]:h:(from the hardware hash)".to_string()];
    if let Some(tag) = &row.group_tag {
        physical.push(format!("[OrderId]:{tag}"));
    }
    crate::inventory::Device {
        id: format!("{IMPORT_ID_PREFIX}{}", row.serial),
        account_enabled: Some(true),
        display_name: Some(row.serial.clone()),
        operating_system: Some("Windows".into()),
        physical_ids: Some(physical),
        profile_type: Some("RegisteredDevice".into()),
        trust_type: Some("AzureAd".into()),
        ..crate::inventory::Device::default()
    }
}

/// Why the devices of a file could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum ImportPlanError {
    /// The inventory and the new devices do not fit one index.
    #[error("inventory: {0}")]
    Index(String),
    /// The tenant's rules could not be planned.
    #[error(transparent)]
    Plan(#[from] crate::autopilot::AssignError),
}

/// The plan of `tenant` for `index` plus the devices `file` adds: which
/// groups and profile each new device gets, before anything is uploaded.
pub fn plan_import(
    tenant: &crate::autopilot::CheckedTenant,
    index: &crate::fleet::FleetIndex,
    file: &ImportFile,
) -> Result<(crate::autopilot::Plan, Registration), ImportPlanError> {
    let mut devices: Vec<crate::inventory::Device> =
        (0..index.len()).filter_map(|i| index.device(i)).collect();
    let registration = registration(file, &devices);
    devices.extend(registration.new.iter().cloned());
    let combined = crate::fleet::FleetIndex::from_devices(&devices)
        .map_err(|e| ImportPlanError::Index(e.to_string()))?;
    Ok((tenant.plan(&combined)?, registration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &[u8]) -> ImportFile {
        let mut file = ImportFile::default();
        if let Some((t, e)) = decode(text) {
            file.encoding = e;
            check_text(&t, &mut file);
        }
        file
    }

    fn codes(file: &ImportFile) -> Vec<(&'static str, usize, usize)> {
        file.problems.iter().map(|p| (p.code, p.line, p.column)).collect()
    }

    const HEADER: &str = "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\n";

    #[test]
    fn every_problem_is_placed() {
        let text = format!(
            "{HEADER}A1,,QUJD,Sales,adele@contoso.com\nA1,,QUJD,,\n,,QU*D,,\nB2,,QUJ,,adele\nC3,,QUJD,\"x\",\n"
        );
        let f = check(text.as_bytes());
        assert_eq!(
            codes(&f),
            vec![
                ("duplicate-serial", 2, 1),
                ("duplicate-hash", 2, 1),
                ("duplicate-serial", 3, 1),
                ("duplicate-hash", 3, 1),
                ("serial-missing", 4, 1),
                ("hash-not-base64", 4, 5),
                ("hash-not-base64", 5, 5),
                ("user-not-upn", 5, 10),
                ("quoted-field", 6, 10),
            ]
        );
    }

    #[test]
    fn headers_encodings_and_limits() {
        assert_eq!(
            codes(&check(b"Device Serial Number,Windows Product ID,Hardware hash\nA,,QUJD\n")),
            vec![("header", 1, 41)]
        );
        assert_eq!(
            codes(&check(b"Device Serial Number,Windows Product ID,Hardware Hash,Extra\nA,,QUJD,x\n")),
            vec![("header", 1, 55)]
        );
        assert!(
            check(b"\xEF\xBB\xBFDevice Serial Number,Windows Product ID,Hardware Hash\nA,,QUJD\n").is_clean()
        );
        let ansi = check(
            b"Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\nA,,QUJD,Z\xFCrich\x96Ost\n",
        );
        assert_eq!(ansi.encoding, "windows-1252");
        assert_eq!(ansi.rows[0].group_tag.as_deref(), Some("Zürich–Ost"));
        assert!(decode(b"\xFF\xFED\x00e\x00").is_none());
        let mut many = String::from(HEADER);
        for i in 0..501 {
            many.push_str(&format!("S{i},,QUJD{:04},,\n", i));
        }
        let f = check(many.as_bytes());
        assert!(codes(&f).contains(&("too-many-rows", 502, 1)), "{:?}", codes(&f).first());
    }
}

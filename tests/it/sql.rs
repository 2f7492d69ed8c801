//! Differential tests of `fleetlab::sql`: the query `to_sql` writes, run by
//! DuckDB over the Parquet file `sql::export` writes, selects exactly the
//! devices `Rule::matches` selects.
//!
//! DuckDB is the Python package, pinned ([`DUCKDB`]), installed by the first
//! test that needs it into a virtual environment under the target
//! directory (`target/tmp/sql-venv`, reused by later runs). If Python, the
//! venv module or pip fails, the tests fail and say so: they never pass
//! without having run DuckDB.
//!
//! One Python process runs a whole batch: every proptest case writes its
//! inventory as Parquet and all its rules' SQL into one job file, and the
//! script answers with the ids each query returned. Inventories are small
//! and adversarial: nulls, empty strings and lists, case variants, Unicode
//! whose folding differs between engines (`İ`, the three sigmas, the Kelvin
//! sign, letters of Unicode 16), quotes, backslashes, `%`, `_` and `${…}`.
//! Each batch runs twice: on the export as written, and on the same table
//! with every unset string as `''` and every missing list as `[]`, the way a
//! warehouse may hold it (fleetlab reads both as unset).
//!
//! With `--features datafusion` the same comparisons also run in-process in
//! DataFusion, over both the Parquet and the Arrow IPC export.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use arrow_schema::DataType;
use fleetlab::fleet::FleetIndex;
use fleetlab::inventory::Device;
use fleetlab::rule::{ObjectType, Options, Rule};
use fleetlab::sql::export::{self, Format};
use fleetlab::sql::{to_sql, Dialect, SqlError};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Map, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The DuckDB release the tests run.
const DUCKDB: &str = "1.5.6";

/// Runs a job file: `[{"setup": [sql…], "queries": [sql…]}, …]` → for each
/// session, per query, the sorted ids it returned or `{"error": …}`.
const RUNNER: &str = r#"
import json, sys
import duckdb
sessions = json.load(open(sys.argv[1], encoding="utf-8"))
out = []
for session in sessions:
    con = duckdb.connect()
    for statement in session["setup"]:
        con.execute(statement)
    results = []
    for query in session["queries"]:
        try:
            results.append(sorted(str(row[0]) for row in con.execute(query).fetchall()))
        except Exception as e:
            results.append({"error": str(e)})
    out.append(results)
    con.close()
json.dump(out, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
"#;

/// The venv's Python, with DuckDB installed; created on first use.
fn python() -> Result<&'static Path, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(install_duckdb).as_deref().map_err(Clone::clone)
}

fn run(cmd: &mut Command) -> Result<std::process::Output, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn install_duckdb() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sql-venv");
    let python = venv.join("bin").join("python");
    let check = format!("import duckdb, sys; sys.exit(duckdb.__version__ != '{DUCKDB}')");
    if Command::new(&python).args(["-c", &check]).output().is_ok_and(|o| o.status.success()) {
        return Ok(python);
    }
    let setup = || -> Result<(), String> {
        run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv))?;
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("duckdb=={DUCKDB}"),
        ]))?;
        run(Command::new(&python).args(["-c", &check]))?;
        Ok(())
    };
    setup().map_err(|e| {
        format!(
            "the SQL tests need DuckDB {DUCKDB} from PyPI in a Python venv at {} and could not set it up \
             (python3 with the venv module and network access to PyPI are required):\n{e}",
            venv.display()
        )
    })?;
    Ok(python)
}

/// One DuckDB connection's work.
struct Session {
    setup: Vec<String>,
    queries: Vec<String>,
}

/// What one query returned: sorted ids, or DuckDB's error.
type Answer = Result<Vec<String>, String>;

/// Runs `sessions` in one DuckDB process.
fn duckdb(sessions: &[Session]) -> Result<Vec<Vec<Answer>>, String> {
    let python = python()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = dir.path().join("run.py");
    let job = dir.path().join("job.json");
    let answer = dir.path().join("answer.json");
    let body: Vec<Value> = sessions.iter().map(|s| json!({"setup": s.setup, "queries": s.queries})).collect();
    std::fs::write(&script, RUNNER).map_err(|e| e.to_string())?;
    std::fs::write(&job, Value::Array(body).to_string()).map_err(|e| e.to_string())?;
    run(Command::new(python).arg(&script).arg(&job).arg(&answer))?;
    let text = std::fs::read_to_string(&answer).map_err(|e| e.to_string())?;
    let parsed: Vec<Vec<Value>> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(parsed
        .into_iter()
        .map(|results| {
            results
                .into_iter()
                .map(|r| match r {
                    Value::Array(ids) => {
                        Ok(ids.into_iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
                    }
                    other => Err(other.get("error").and_then(Value::as_str).unwrap_or("?").to_string()),
                })
                .collect()
        })
        .collect())
}

/// Writes `devices` as the Parquet (or Arrow) export into `dir`.
fn export_to(dir: &Path, devices: &[Device], format: Format) -> Result<PathBuf, String> {
    let index = FleetIndex::from_devices(devices).map_err(|e| e.to_string())?;
    let path = dir.join(match format {
        Format::Parquet => "devices.parquet",
        Format::Arrow => "devices.arrow",
    });
    let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    export::write(&index, format, file).map_err(|e| e.to_string())?;
    Ok(path)
}

fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn device_rule(text: &str) -> Result<Rule, String> {
    Rule::with_options(text, &Options { object: Some(ObjectType::Device), ..Options::default() })
        .map_err(|e| format!("{text}: {e}"))
}

/// The ids `rule` selects, sorted, by fleetlab's reference evaluator.
fn expected(rule: &Rule, devices: &[Device]) -> Vec<String> {
    let mut ids: Vec<String> = devices.iter().filter(|d| rule.matches(*d)).map(|d| d.id.clone()).collect();
    ids.sort();
    ids
}

/// Runs `rules` over `devices` in DuckDB; every disagreement, described.
fn disagreements(devices: &[Device], rules: &[Rule]) -> Result<Vec<String>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let parquet = export_to(dir.path(), devices, Format::Parquet)?;
    let mut queries = Vec::new();
    for rule in rules {
        queries
            .push(to_sql(rule, Dialect::DuckDb, "devices").map_err(|e| format!("{}: {e}", rule.source()))?);
    }
    let file = sql_string(&parquet.display().to_string());
    // The export as written, and the same table the way a warehouse may
    // hold it: every unset string as '' and every missing list as [].
    let blanked: Vec<String> = export::schema()
        .fields()
        .iter()
        .filter(|f| f.name() != "id")
        .filter_map(|f| {
            let name = format!("\"{}\"", f.name());
            match f.data_type() {
                DataType::Utf8 => Some(format!("COALESCE({name}, '') AS {name}")),
                DataType::List(_) => Some(format!("COALESCE({name}, []::VARCHAR[]) AS {name}")),
                _ => None,
            }
        })
        .collect();
    let sessions = [
        Session {
            setup: vec![format!("CREATE TABLE devices AS SELECT * FROM read_parquet({file})")],
            queries: queries.clone(),
        },
        Session {
            setup: vec![format!(
                "CREATE TABLE devices AS SELECT * REPLACE ({}) FROM read_parquet({file})",
                blanked.join(", ")
            )],
            queries: queries.clone(),
        },
    ];
    let mut out = Vec::new();
    for (table, answers) in ["exported", "blanked"].iter().zip(duckdb(&sessions)?) {
        if answers.len() != rules.len() {
            return Err(format!("DuckDB answered {} of {} queries", answers.len(), rules.len()));
        }
        for ((rule, sql), answer) in rules.iter().zip(&queries).zip(answers) {
            let want = expected(rule, devices);
            match answer {
                Ok(got) if got == want => {}
                Ok(got) => out.push(format!(
                    "rule {} ({table} table)\n  fleetlab: {want:?}\n  duckdb:   {got:?}\n  sql: {sql}",
                    rule.source()
                )),
                Err(e) => out.push(format!(
                    "rule {} ({table} table)\n  duckdb error: {e}\n  sql: {sql}",
                    rule.source()
                )),
            }
        }
    }
    Ok(out)
}

// ---- the reference corpus ----------------------------------------------------

/// The device rules of the spec's corpus (§7) that check.
const CORPUS: &[&str] = &[
    "device.objectid -ne null",
    "device.objectId -ne null",
    "device.accountEnabled -eq true",
    r#"device.deviceCategory -eq "BYOD""#,
    r#"device.deviceId -eq "d4fe7726-5966-431c-b3b8-cddc8fdb717d""#,
    r#"device.deviceManagementAppId -eq "0000000a-0000-0000-c000-000000000000""#,
    r#"device.deviceManufacturer -eq "Samsung""#,
    r#"device.deviceModel -eq "iPad Air""#,
    r#"device.displayName -eq "Rob iPhone""#,
    r#"(device.deviceOSType -eq "iPad") -or (device.deviceOSType -eq "iPhone")"#,
    r#"device.deviceOSType -startsWith "AndroidEnterprise""#,
    r#"(device.deviceOSType -contains "AndroidEnterprise")"#,
    r#"device.deviceOSType -eq "AndroidForWork""#,
    r#"device.deviceOSType -eq "Windows""#,
    r#"device.deviceOSVersion -eq "9.1""#,
    r#"device.deviceOSVersion -startsWith "10.0.1""#,
    r#"device.deviceOwnership -eq "Company""#,
    r#"device.devicePhysicalIDs -any _ -startsWith "[ZTDId]""#,
    r#"device.devicePhysicalIds -any _ -eq "[OrderID]:179887111881""#,
    r#"device.devicePhysicalIds -any _ -eq "[PurchaseOrderId]:76222342342""#,
    r#"device.deviceTrustType -eq "AzureAD""#,
    r#"device.enrollmentProfileName -eq "DEP iPhones""#,
    r#"device.extensionAttribute1 -eq "some string value""#,
    "device.isRooted -eq true",
    r#"device.managementType -eq "MDM""#,
    "device.memberOf -any (group.objectId -in ['value'])",
    r#"device.objectId -eq "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb""#,
    r#"device.profileType -eq "RegisteredDevice""#,
    r#"(device.systemLabels -contains "M365Managed")"#,
    r#"(device.devicePhysicalIDs -any (_ -startsWith "[ZTDid]"))"#,
    r#"(device.devicePhysicalIDs -any (_ -contains "[ZTDID]"))"#,
    r#"(device.devicePhysicalIds -any (_ -eq "[OrderID]:179887111881"))"#,
    r#"(device.devicePhysicalIds -any (_ -eq "[PurchaseOrderId]:76222342342"))"#,
    r#"device.extensionAttribute1 -ne "SAW""#,
    r#"(device.devicePhysicalIds -contains "[ZTDId]")"#,
    r#"(device.deviceOSType -eq "Windows") and (device.devicePhysicalIDs -all (_ -notStartsWith "[ZTDID]"))"#,
    r#"(device.managementType -eq "MDM") and (device.deviceOwnership -eq "Personal") and ((device.deviceOSType -eq "iOS") or (device.deviceOSType -eq "iPad"))"#,
    r#"(device.devicePhysicalIds -any (_ -match "^\[OrderID\]:.*DT.*FIN.*"))"#,
    r#"(device.devicePhysicalIds -any (_ -match "^\[OrderID\]:.*LT.*FR$"))"#,
    r#"(device.devicePhysicalIds -any _ -eq "[OrderID]:EXCLUDE")"#,
    r#"(device.deviceManufacturer -eq "HP") or (device.deviceManufacturer -eq "Hewlett-Packard")"#,
    r#"(device.deviceManufacturer -eq "Microsoft Corporation") and (device.deviceModel -startsWith "Surface")"#,
    r#"(device.deviceManagementAppId -eq "54b943f8-d761-4f8d-951e-9cea1846db5a")"#,
    r#"(device.deviceOSType -eq "Windows") and (device.deviceOSVersion -startsWith "10.0.2") and (device.managementType -eq "MDM")"#,
    r#"(device.deviceModel -startsWith "Cloud PC")"#,
    r#"(device.devicePhysicalIDs -any _ -contains "[ZTDId]")"#,
];

fn contoso() -> Result<Vec<Device>, Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/devices.json");
    Ok(fleetlab::inventory::load_devices(&path)?)
}

#[test]
fn spec_corpus_and_contoso_groups_agree_with_duckdb() -> TestResult {
    let mut devices = contoso()?;
    devices.extend(adversarial_devices()?);
    let mut rules = CORPUS.iter().map(|t| device_rule(t)).collect::<Result<Vec<_>, _>>()?;
    let groups = fleetlab::groups::GroupSet::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/groups.toml"),
        &Options { object: Some(ObjectType::Device), ..Options::default() },
    )?;
    for g in &groups.groups {
        rules.push(device_rule(g.rule.source())?);
    }
    assert!(rules.len() >= CORPUS.len() + 25);
    let problems = disagreements(&devices, &rules)?;
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    // The corpus is not vacuous: most rules select something.
    let selecting = rules.iter().filter(|r| !expected(r, &devices).is_empty()).count();
    assert!(selecting * 2 > rules.len(), "only {selecting} of {} rules select a device", rules.len());
    Ok(())
}

/// Hand-written devices for the corner cases the corpus names.
fn adversarial_devices() -> Result<Vec<Device>, serde_json::Error> {
    serde_json::from_value(json!([
        {"id": "adv-1", "operatingSystem": "WINDOWS", "physicalIds": ["[ZTDID]:x"], "managementType": "mdm",
         "operatingSystemVersion": "10.0.22631", "deviceOwnership": "PERSONAL", "model": "Cloud PC Enterprise"},
        {"id": "adv-2", "operatingSystem": "Windows", "physicalIds": [], "extensionAttributes": {"extensionAttribute1": ""}},
        {"id": "adv-3", "operatingSystem": "Windows", "physicalIds": ["", "[OrderID]:NL-DT-FIN-9"]},
        {"id": "adv-4", "operatingSystem": "", "systemLabels": ["m365managed"], "memberOf": [{"id": "VALUE"}]},
        {"id": "adv-5", "deviceCategory": "byod", "accountEnabled": false, "isRooted": true, "trustType": "azuread",
         "physicalIds": ["[orderid]:abc-LT-fr"], "extensionAttributes": {"extensionAttribute1": "SAW"}}
    ]))
}

// ---- every code point --------------------------------------------------------

/// fleetlab's folding (`rule::eval::fold`): per-character `to_lowercase`,
/// final sigma to σ.
fn fleetlab_fold(c: char) -> String {
    c.to_lowercase().map(|l| if l == 'ς' { 'σ' } else { l }).collect()
}

#[test]
fn duckdb_folds_every_character_as_fleetlab_does() -> TestResult {
    // The fold of one column, as the translator writes it; its constant
    // becomes a per-row expected value.
    let sql = to_sql(&device_rule(r#"device.displayName -eq "x""#)?, Dialect::DuckDb, "chars")?;
    let marker = "= 'x')";
    assert_eq!(sql.matches(marker).count(), 1, "{sql}");
    let carry = "(SELECT \"id\", ";
    assert_eq!(sql.matches(carry).count(), 1, "{sql}");
    let per_row = sql.replace(marker, "= \"expected\")").replace(carry, "(SELECT \"id\", \"expected\", ");
    let dir = tempfile::tempdir()?;
    let table = dir.path().join("chars.tsv");
    let mut tsv = String::new();
    // U+0000 cannot be a SQL literal, and NULLIF treats no other char specially.
    for c in (1..=0x10FFFFu32).filter_map(char::from_u32) {
        let folded: Vec<String> = fleetlab_fold(c).chars().map(|f| (f as u32).to_string()).collect();
        tsv.push_str(&format!("{}\t{}\n", c as u32, folded.join(" ")));
    }
    std::fs::write(&table, tsv)?;
    let setup = format!(
        "CREATE TABLE chars AS SELECT CAST(code AS VARCHAR) AS id, chr(code) AS \"displayName\", \
         array_to_string(list_transform(string_split(folded, ' '), lambda h: chr(CAST(h AS INTEGER))), '') \
         AS expected FROM read_csv({}, delim = '\t', header = false, quote = '', \
         columns = {{'code': 'INTEGER', 'folded': 'VARCHAR'}})",
        sql_string(&table.display().to_string())
    );
    let session = Session {
        setup: vec![setup],
        queries: vec![
            "SELECT count(*) FROM chars".into(),
            format!("SELECT \"id\" FROM chars EXCEPT ({per_row})"),
        ],
    };
    let answers = duckdb(&[session])?.pop().unwrap_or_default();
    let count = answers.first().cloned().unwrap_or(Err("no answer".into()))?;
    assert_eq!(count, vec![(0x10FFFF - 2048).to_string()]);
    let differ = answers.get(1).cloned().unwrap_or(Err("no answer".into()))?;
    let shown: Vec<String> = differ
        .iter()
        .take(20)
        .filter_map(|code| code.parse::<u32>().ok().and_then(char::from_u32))
        .map(|c| format!("U+{:04X} {c:?} → {:?}", c as u32, fleetlab_fold(c)))
        .collect();
    assert!(differ.is_empty(), "{} characters fold differently in DuckDB: {shown:#?}", differ.len());
    Ok(())
}

// ---- random rules over random inventories ------------------------------------

/// Scalar values: case variants, Unicode whose folding engines disagree on,
/// SQL and LIKE metacharacters, empty strings.
const VALUES: &[&str] = &[
    "",
    "Windows",
    "windows",
    "WINDOWS",
    "iOS",
    "Win_10%",
    "win_10%x",
    "50%",
    "a_b",
    "O'Brien",
    "o'brien''",
    "back\\slash",
    "C:\\Temp\\",
    "İstanbul",
    "istanbul",
    "i\u{307}stanbul",
    "ISTANBUL",
    "ıi",
    "ΟΔΟΣ",
    "οδος",
    "οδοσ",
    "Straße",
    "STRASSE",
    "\u{212A}elvin",
    "kelvin",
    "ſtop",
    "STOP",
    "${env:HOME}",
    "$x",
    "say \"hi\"",
    "tab\tand\nnewline",
    "ǅungla",
    "Ǆ",
    "𐐀𐐨",
    "Émile",
    "émile",
    "\u{A7CB}\u{10D50}",
    "\u{264}\u{10D70}",
    " ",
    "null",
    "true",
    "TRUE",
    "[ZTDId]:abc",
    "%",
    "_",
    "a.b",
    "line1\nline2",
];

const ITEMS: &[&str] = &[
    "",
    " ",
    "[ZTDId]:7f2c",
    "[ztdid]:7F2C",
    "[ZTDID]:İ",
    "[OrderID]:NL-LT-FIN",
    "[OrderId]:nl-dt_fin",
    "[PurchaseOrderId]:PO_1%",
    "[HWID]:h-1",
    "[ZTDI",
    "x[ZTDId]:1",
    "O'Brien",
    "ΟΔΟΣ",
    "\u{A7CB}",
    "M365Managed",
    "m365managed",
    "AzureResource",
];

const GROUPS: &[&str] = &["", "G1", "g1", "GROUP-Ä", "group-ä", "İ"];

/// Rule-side strings: the values and items, and fragments of them.
const FRAGMENTS: &[&str] = &[
    "win",
    "WIN",
    "dows",
    "_10%",
    "%",
    "_",
    "'",
    "''",
    "\\",
    "İ",
    "i\u{307}",
    "i",
    "σ",
    "ς",
    "Σ",
    "ss",
    "ß",
    "k",
    "\u{212A}",
    "ſ",
    "s",
    "[ztdid]",
    "[ZTDId]:",
    ":",
    "${",
    "$",
    "\"",
    "\t",
    "\n",
    "ǆ",
    "\u{A7CB}",
    "\u{264}",
    "𐐨",
    "e\u{301}",
    "é",
    "null",
    "[orderid]:nl-",
    "-fin",
];

/// Patterns fleetlab accepts and DuckDB can express.
const REGEXES: &[&str] = &[
    "^\\[ZTDId\\]",
    "win",
    "^win.*s$",
    "^$",
    ".",
    "^.{3}$",
    "\\d+",
    "[a-z]+_",
    "%",
    "_1%$",
    "(?i)X",
    "(?-i)W",
    "straße",
    "s",
    "k",
    "K",
    "ſ",
    "İ",
    "i\u{307}",
    "σ$",
    "ς",
    "\\w+\\s",
    "^\\W",
    "[[:alpha:]]{2}",
    "\\p{Greek}",
    "\\P{L}",
    "(?m)^line2$",
    "(?s)line1.line2",
    "line1.line2",
    "(?-u:\\b)win",
    "a|b|^$",
    "(o|O)'",
    "\\\\",
    "\\$\\{",
    "[^a-z]",
    "^[\\x{10D50}-\\x{10D70}]",
    "\u{A7CB}",
    "x*?$",
    "(?:ab)+?",
    "\\t",
    "\\n",
];

const STRING_PROPS: &[(&str, &str)] = &[
    ("deviceOSType", "operatingSystem"),
    ("displayName", "displayName"),
    ("deviceModel", "model"),
    ("deviceOwnership", "deviceOwnership"),
    ("deviceOSVersion", "operatingSystemVersion"),
];

const OPS: &[&str] = &[
    "-eq",
    "-ne",
    "-startsWith",
    "-notStartsWith",
    "-endsWith",
    "-notEndsWith",
    "-contains",
    "-notContains",
    "-match",
    "-notMatch",
    "-in",
    "-notIn",
];

fn opt_text(pool: &'static [&'static str]) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        5 => select(pool).prop_map(|s| Some(Value::String(s.into()))),
    ]
    .boxed()
}

fn opt_list(pool: &'static [&'static str], max: usize) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(Value::Array(Vec::new()))),
        5 => prop::collection::vec(select(pool).prop_map(|s| Value::String(s.into())), 1..max)
            .prop_map(|v| Some(Value::Array(v))),
    ]
    .boxed()
}

fn opt_bool() -> BoxedStrategy<Option<Value>> {
    select(&[None, Some(Value::Null), Some(Value::Bool(true)), Some(Value::Bool(false))][..]).boxed()
}

fn device_json() -> BoxedStrategy<Value> {
    (
        prop::collection::vec(opt_text(VALUES), STRING_PROPS.len()),
        (opt_text(VALUES), opt_text(VALUES)),
        (opt_bool(), opt_bool()),
        (opt_list(ITEMS, 5), opt_list(ITEMS, 3), opt_list(GROUPS, 3)),
    )
        .prop_map(|(strings, (ext1, ext15), (enabled, rooted), (physical, labels, groups))| {
            let mut m = Map::new();
            for ((_, field), v) in STRING_PROPS.iter().zip(strings) {
                if let Some(v) = v {
                    m.insert((*field).into(), v);
                }
            }
            let mut ext = Map::new();
            for (key, v) in [("extensionAttribute1", ext1), ("extensionAttribute15", ext15)] {
                if let Some(v) = v {
                    ext.insert(key.into(), v);
                }
            }
            m.insert("extensionAttributes".into(), Value::Object(ext));
            for (key, v) in [
                ("accountEnabled", enabled),
                ("isRooted", rooted),
                ("physicalIds", physical),
                ("systemLabels", labels),
                ("memberOf", groups),
            ] {
                if let Some(v) = v {
                    m.insert(key.into(), v);
                }
            }
            Value::Object(m)
        })
        .boxed()
}

fn devices() -> BoxedStrategy<Vec<Device>> {
    prop::collection::vec(device_json(), 0..10)
        .prop_filter_map("valid device JSON", |list| {
            let list: Vec<Value> = list
                .into_iter()
                .enumerate()
                .map(|(i, mut d)| {
                    if let Some(m) = d.as_object_mut() {
                        // Ids differ in case only sometimes; objectId rules compare them.
                        let id = if i % 3 == 0 { format!("DEV-{i}") } else { format!("dev-{i}") };
                        m.insert("id".into(), Value::String(id));
                    }
                    d
                })
                .collect();
            serde_json::from_value::<Vec<Device>>(Value::Array(list)).ok()
        })
        .boxed()
}

/// A rule string literal for `s`: double quotes with backtick escapes, or
/// single quotes with `''`.
fn quote(s: &str, single: bool) -> String {
    if single {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("`\""),
                '`' => out.push_str("``"),
                '\'' => out.push_str("''"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

fn text_value() -> BoxedStrategy<String> {
    prop_oneof![
        2 => select(VALUES).prop_map(String::from),
        1 => select(ITEMS).prop_map(String::from),
        2 => select(FRAGMENTS).prop_map(String::from),
    ]
    .boxed()
}

/// The operand of `op`: a list for `-in`, a pattern for `-match`, a string
/// otherwise (sometimes `null` for `-eq`/`-ne`).
fn operand(op: &'static str) -> BoxedStrategy<String> {
    match op {
        "-in" | "-notIn" => prop::collection::vec((text_value(), any::<bool>()), 0..4)
            .prop_map(|v| format!("[{}]", v.iter().map(|(s, q)| quote(s, *q)).collect::<Vec<_>>().join(", ")))
            .boxed(),
        "-match" | "-notMatch" => {
            (select(REGEXES), any::<bool>()).prop_map(|(r, single)| quote(r, single)).boxed()
        }
        "-eq" | "-ne" => prop_oneof![
            5 => (text_value(), any::<bool>()).prop_map(|(s, q)| quote(&s, q)),
            1 => Just("null".to_string()),
        ]
        .boxed(),
        _ => (text_value(), any::<bool>()).prop_map(|(s, q)| quote(&s, q)).boxed(),
    }
}

fn comparison(target: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (target, select(OPS))
        .prop_flat_map(|(t, op)| operand(op).prop_map(move |v| format!("{t} {op} {v}")))
        .boxed()
}

fn scalar_test() -> BoxedStrategy<String> {
    let props: Vec<String> = STRING_PROPS
        .iter()
        .map(|(p, _)| format!("device.{p}"))
        .chain(
            ["device.extensionAttribute1", "device.EXTENSIONATTRIBUTE15", "device.objectId"]
                .map(String::from),
        )
        .collect();
    prop_oneof![
        6 => comparison(select(props).boxed()),
        1 => (select(&["accountEnabled", "isRooted"][..]), select(&["-eq", "-ne"][..]), select(&["true", "false", "null", "TRUE"][..]))
            .prop_map(|(p, op, v)| format!("device.{p} {op} {v}")),
    ]
    .boxed()
}

fn collection() -> BoxedStrategy<&'static str> {
    select(&["device.devicePhysicalIds", "device.systemLabels"][..]).boxed()
}

/// A predicate over `_`: comparisons joined by `-and`/`-or`/`-not`.
fn item_predicate() -> BoxedStrategy<String> {
    let leaf = comparison(Just("_".to_string()).boxed());
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), select(&["-and", "-or"][..]))
                .prop_map(|(a, b, op)| format!("({a}) {op} ({b})")),
            inner.prop_map(|a| format!("-not ({a})")),
        ]
    })
    .boxed()
}

fn collection_test() -> BoxedStrategy<String> {
    prop_oneof![
        // Implicit any.
        2 => comparison(collection().prop_map(String::from).boxed()),
        3 => (collection(), select(&["-any", "-all"][..]), item_predicate())
            .prop_map(|(c, q, p)| format!("{c} {q} ({p})")),
        1 => (collection(), select(&["-any", "-all"][..]), comparison(Just("_".to_string()).boxed()))
            .prop_map(|(c, q, p)| format!("{c} {q} {p}")),
    ]
    .boxed()
}

fn rule_text() -> BoxedStrategy<String> {
    let leaf = prop_oneof![3 => scalar_test(), 2 => collection_test()].boxed();
    let expr = leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 2..4), select(&["-and", "-or", "and", "OR"][..])).prop_map(
                |(parts, op)| parts
                    .iter()
                    .map(|p| format!("({p})"))
                    .collect::<Vec<_>>()
                    .join(&format!(" {op} "))
            ),
            inner.prop_map(|a| format!("-not ({a})")),
        ]
    });
    prop_oneof![
        12 => expr,
        1 => prop::collection::vec((select(GROUPS), any::<bool>()), 0..3).prop_map(|ids| {
            let ids: Vec<String> = ids.iter().map(|(g, q)| quote(g, *q)).collect();
            format!("device.memberOf -any (group.objectId -in [{}])", ids.join(", "))
        }),
    ]
    .boxed()
}

fn checked_rules(texts: &[String]) -> Vec<Rule> {
    texts.iter().filter_map(|t| device_rule(t).ok()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_rules_select_the_same_devices_in_duckdb(
        devices in devices(),
        texts in prop::collection::vec(rule_text(), 64),
    ) {
        let rules = checked_rules(&texts);
        prop_assume!(rules.len() * 2 >= texts.len());
        let problems = disagreements(&devices, &rules).map_err(TestCaseError::fail)?;
        prop_assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    }
}

// ---- the library's contract --------------------------------------------------

#[test]
fn rules_without_a_device_table_translation_are_errors() -> TestResult {
    let user = Rule::new(r#"user.department -eq "Sales""#)?;
    assert!(matches!(to_sql(&user, Dialect::DuckDb, "devices"), Err(SqlError::NotDeviceRule { .. })));
    let reports = Rule::new(r#"Direct Reports for "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb""#)?;
    assert_eq!(to_sql(&reports, Dialect::Spark, "devices"), Err(SqlError::DirectReports));
    let ext = device_rule(r#"device.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq "1""#)?;
    assert!(matches!(to_sql(&ext, Dialect::DuckDb, "devices"), Err(SqlError::CustomExtension { .. })));
    let boundary = device_rule(r#"device.displayName -match "\bLT\b""#)?;
    for dialect in [Dialect::DuckDb, Dialect::Spark] {
        let err = to_sql(&boundary, dialect, "devices").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("word boundary") && err.contains("(?-u:\\b)"), "{err}");
    }
    assert!(to_sql(&boundary, Dialect::DataFusion, "devices").is_ok());
    Ok(())
}

#[test]
fn values_cannot_break_out_of_their_literals() -> TestResult {
    let rule = device_rule(r#"device.displayName -eq "x'); DROP TABLE devices; --""#)?;
    let duck = to_sql(&rule, Dialect::DuckDb, "devices")?;
    assert!(duck.contains("'x''); drop table devices; --'"), "{duck}");
    let spark = to_sql(&device_rule(r#"device.displayName -eq "it's ${env:HOME} \""#)?, Dialect::Spark, "t")?;
    assert!(spark.contains(r"concat(r'it', chr(39), r's ', chr(36), r'{env:home} \')"), "{spark}");
    assert!(!spark.contains("${"));
    Ok(())
}

#[test]
fn spark_and_datafusion_use_their_own_functions() -> TestResult {
    let rule = device_rule(
        r#"(device.deviceModel -startsWith "a") -and (device.deviceModel -endsWith "b") -and (device.systemLabels -all (_ -match "^c"))"#,
    )?;
    let spark = to_sql(&rule, Dialect::Spark, "devices")?;
    for f in ["startswith(", "endswith(", "exists(`systemLabels`, x -> ", "regexp_like(", "r'\\A[Cc]'"] {
        assert!(spark.contains(f), "{f} in {spark}");
    }
    let df = to_sql(&rule, Dialect::DataFusion, "devices")?;
    for f in ["starts_with(", "ends_with(", "array_any_match(\"systemLabels\", x -> ", "regexp_like("] {
        assert!(df.contains(f), "{f} in {df}");
    }
    Ok(())
}

#[test]
fn exports_hold_the_same_rows_in_both_formats() -> TestResult {
    use arrow_array::cast::AsArray;
    let devices = adversarial_devices()?;
    let dir = tempfile::tempdir()?;
    let path = export_to(dir.path(), &devices, Format::Arrow)?;
    let reader = arrow_ipc::reader::FileReader::try_new(std::fs::File::open(&path)?, None)?;
    assert_eq!(reader.schema(), export::schema());
    let mut ids = Vec::new();
    let mut unset_ext = 0;
    for batch in reader {
        let batch = batch?;
        let id = batch.column_by_name("id").ok_or("id")?.as_string::<i32>();
        ids.extend(id.iter().flatten().map(String::from));
        let ext = batch.column_by_name("extensionAttribute1").ok_or("ext")?.as_string::<i32>();
        unset_ext += ext.iter().filter(|v| v.is_none_or(str::is_empty)).count();
    }
    assert_eq!(ids, ["adv-1", "adv-2", "adv-3", "adv-4", "adv-5"]);
    // adv-1, -3, -4 have no extension attributes, adv-2 an empty one (which
    // the index already reads as unset, as the SQL does).
    assert_eq!(unset_ext, 4);
    Ok(())
}

#[test]
fn the_cli_exports_and_translates_what_eval_selects() -> TestResult {
    let bin = env!("CARGO_BIN_EXE_fleetlab");
    let devices = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/devices.json");
    let dir = tempfile::tempdir()?;
    let parquet = dir.path().join("devices.parquet");
    run(Command::new(bin).args(["inventory", "export"]).arg(&devices).arg("-o").arg(&parquet))?;
    let rule = r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#;
    let sql = run(Command::new(bin).args([
        "sql",
        "--dialect",
        "duckdb",
        "--table",
        "main.devices",
        "--rule",
        rule,
    ]))?;
    let sql = String::from_utf8(sql.stdout)?;
    assert!(sql.ends_with(";\n"));
    let eval = run(Command::new(bin).args(["eval", "--devices"]).arg(&devices).args(["--rule", rule]))?;
    let mut want: Vec<String> = String::from_utf8(eval.stdout)?.lines().map(String::from).collect();
    want.sort();
    assert!(!want.is_empty());
    let session = Session {
        setup: vec![format!(
            "CREATE TABLE devices AS SELECT * FROM read_parquet({})",
            sql_string(&parquet.display().to_string())
        )],
        queries: vec![sql.trim_end().trim_end_matches(';').to_string()],
    };
    let got = duckdb(&[session])?.pop().and_then(|mut v| v.pop()).unwrap_or(Err("no answer".into()))?;
    assert_eq!(got, want);

    // A user rule is the usual diagnostic, exit 1; a bad table name exit 2.
    let user =
        Command::new(bin).args(["sql", "--dialect", "spark", "--rule", r#"user.city -eq "x""#]).output()?;
    assert_eq!(user.status.code(), Some(1));
    assert!(user.stdout.is_empty());
    let untranslatable = Command::new(bin)
        .args(["sql", "--dialect", "duckdb", "--rule", r#"device.displayName -match "\bx""#])
        .output()?;
    assert_eq!(untranslatable.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&untranslatable.stderr).contains("word boundary"));
    let table = Command::new(bin)
        .args(["sql", "--dialect", "duckdb", "--table", "a..b", "--rule", "device.isRooted -eq true"])
        .output()?;
    assert_eq!(table.status.code(), Some(2));
    let missing = Command::new(bin)
        .args(["inventory", "export", "/nonexistent.json", "-o"])
        .arg(dir.path().join("x.parquet"))
        .output()?;
    assert_eq!(missing.status.code(), Some(2));
    Ok(())
}

// ---- DataFusion, in-process (`--features datafusion`) --------------------------

#[cfg(feature = "datafusion")]
mod in_datafusion {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::datasource::file_format::options::ArrowReadOptions;
    use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

    /// Every disagreement between DataFusion (over the Parquet and the Arrow
    /// export) and fleetlab.
    fn disagreements(devices: &[Device], rules: &[Rule]) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let parquet = export_to(dir.path(), devices, Format::Parquet)?;
        let arrow = export_to(dir.path(), devices, Format::Arrow)?;
        let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            // Lambdas (`x -> …`) need a dialect that parses them.
            let config = SessionConfig::new().set_str("datafusion.sql_parser.dialect", "DuckDB");
            let ctx = SessionContext::new_with_config(config);
            let e = |e: datafusion::error::DataFusionError| e.to_string();
            ctx.register_parquet("devices", &parquet.display().to_string(), ParquetReadOptions::default())
                .await
                .map_err(e)?;
            ctx.register_arrow("devices_ipc", &arrow.display().to_string(), ArrowReadOptions::default())
                .await
                .map_err(e)?;
            let mut out = Vec::new();
            for rule in rules {
                let want = expected(rule, devices);
                for table in ["devices", "devices_ipc"] {
                    let sql = to_sql(rule, Dialect::DataFusion, table).map_err(|e| e.to_string())?;
                    let got = match ctx.sql(&sql).await {
                        Ok(frame) => frame.collect().await,
                        Err(err) => Err(err),
                    };
                    let got = got.map_err(e).and_then(|batches| {
                        let mut ids = Vec::new();
                        for batch in batches {
                            let col = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)
                                .map_err(|e| e.to_string())?;
                            ids.extend(col.as_string::<i32>().iter().flatten().map(String::from));
                        }
                        ids.sort();
                        Ok(ids)
                    });
                    match got {
                        Ok(got) if got == want => {}
                        Ok(got) => out.push(format!(
                            "rule {} ({table})\n  fleetlab:   {want:?}\n  datafusion: {got:?}\n  sql: {sql}",
                            rule.source()
                        )),
                        Err(err) => out
                            .push(format!("rule {} ({table})\n  error: {err}\n  sql: {sql}", rule.source())),
                    }
                }
            }
            Ok(out)
        })
    }

    #[test]
    fn spec_corpus_agrees_with_datafusion() -> TestResult {
        let mut devices = contoso()?;
        devices.extend(adversarial_devices()?);
        let rules = CORPUS.iter().map(|t| device_rule(t)).collect::<Result<Vec<_>, _>>()?;
        let problems = disagreements(&devices, &rules)?;
        assert!(problems.is_empty(), "{}", problems.join("\n\n"));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn random_rules_select_the_same_devices_in_datafusion(
            devices in devices(),
            texts in prop::collection::vec(rule_text(), 32),
        ) {
            let rules = checked_rules(&texts);
            prop_assume!(rules.len() * 2 >= texts.len());
            let problems = disagreements(&devices, &rules).map_err(TestCaseError::fail)?;
            prop_assert!(problems.is_empty(), "{}", problems.join("\n\n"));
        }
    }
}

// ---- Spark, opt-in (`FLEETLAB_SPARK_PYTHON=… cargo test -- --ignored spark`) ----

/// Spark needs a JVM and a 300 MB package, so its tests are opt-in: point
/// `FLEETLAB_SPARK_PYTHON` at a Python with `pyspark` (Java 17 or newer on
/// the `PATH`) and run the ignored tests.
mod in_spark {
    use super::*;

    const RUNNER: &str = r#"
import json, sys
from pyspark.sql import SparkSession
sessions = json.load(open(sys.argv[1], encoding="utf-8"))
spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "1").getOrCreate())
out = []
for session in sessions:
    for statement in session["setup"]:
        spark.sql(statement)
    results = []
    for query in session["queries"]:
        try:
            results.append(sorted(str(row[0]) for row in spark.sql(query).collect()))
        except Exception as e:
            results.append({"error": str(e)[:3000]})
    out.append(results)
json.dump(out, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
spark.stop()
"#;

    fn disagreements(devices: &[Device], rules: &[Rule]) -> Result<Vec<String>, String> {
        let python = std::env::var_os("FLEETLAB_SPARK_PYTHON")
            .ok_or("set FLEETLAB_SPARK_PYTHON to a Python that has pyspark to run the Spark tests")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let parquet = export_to(dir.path(), devices, Format::Parquet)?;
        let queries = rules
            .iter()
            .map(|r| to_sql(r, Dialect::Spark, "devices").map_err(|e| format!("{}: {e}", r.source())))
            .collect::<Result<Vec<_>, _>>()?;
        let setup = format!(
            "CREATE OR REPLACE TEMPORARY VIEW devices USING parquet OPTIONS (path {})",
            sql_string(&parquet.display().to_string())
        );
        let job = json!([{"setup": [setup], "queries": queries}]);
        let (script, job_file, answer) =
            (dir.path().join("spark.py"), dir.path().join("job.json"), dir.path().join("answer.json"));
        std::fs::write(&script, RUNNER).map_err(|e| e.to_string())?;
        std::fs::write(&job_file, job.to_string()).map_err(|e| e.to_string())?;
        run(Command::new(python).arg(&script).arg(&job_file).arg(&answer))?;
        let text = std::fs::read_to_string(&answer).map_err(|e| e.to_string())?;
        let mut sessions: Vec<Vec<Value>> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let answers = sessions.pop().unwrap_or_default();
        if answers.len() != rules.len() {
            return Err(format!("Spark answered {} of {} queries", answers.len(), rules.len()));
        }
        let mut out = Vec::new();
        for ((rule, sql), answer) in rules.iter().zip(&queries).zip(answers) {
            let want = expected(rule, devices);
            let got: Option<Vec<String>> = answer
                .as_array()
                .map(|ids| ids.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect());
            if got.as_ref() != Some(&want) {
                out.push(format!(
                    "rule {}\n  fleetlab: {want:?}\n  spark:    {answer}\n  sql: {sql}",
                    rule.source()
                ));
            }
        }
        Ok(out)
    }

    #[test]
    #[ignore = "needs FLEETLAB_SPARK_PYTHON (pyspark) and Java 17+"]
    fn spec_corpus_agrees_with_spark() -> TestResult {
        let mut devices = contoso()?;
        devices.extend(adversarial_devices()?);
        let rules = CORPUS.iter().map(|t| device_rule(t)).collect::<Result<Vec<_>, _>>()?;
        let problems = disagreements(&devices, &rules)?;
        assert!(problems.is_empty(), "{}", problems.join("\n\n"));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

        #[test]
        #[ignore = "needs FLEETLAB_SPARK_PYTHON (pyspark) and Java 17+"]
        fn random_rules_select_the_same_devices_in_spark(
            devices in devices(),
            texts in prop::collection::vec(rule_text(), 128),
        ) {
            let rules = checked_rules(&texts);
            prop_assume!(rules.len() * 2 >= texts.len());
            let problems = disagreements(&devices, &rules).map_err(TestCaseError::fail)?;
            prop_assert!(problems.is_empty(), "{}", problems.join("\n\n"));
        }
    }
}

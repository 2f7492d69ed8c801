//! Differential tests of `fleetlab::sql`: the query `to_sql` writes, run by
//! DuckDB over the Parquet file `sql::export` writes, selects exactly the
//! devices `Rule::matches` selects.
//!
//! DuckDB is the Python package, pinned ([`DUCKDB`]), installed with pyarrow
//! ([`PYARROW`], which reads the Arrow IPC export for it) by the first test
//! that needs it into a virtual environment under the target directory
//! (`target/tmp/sql-venv`, reused by later runs). If Python, the venv module
//! or pip fails, the tests fail and say so: they never pass without having
//! run DuckDB.
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
//! The fixed corpus (the spec's rules, `tests/sql/corpus.txt`, and the
//! Contoso groups) runs over the Contoso tenant plus hand-written corner
//! cases (`tests/sql/adversarial-devices.json`); those files are shared with
//! `tests/sql/spark_check.py`, the manual Spark check. One test goes through
//! the command line: `fleetlab inventory export` in both formats, `fleetlab
//! sql`, DuckDB, and `fleetlab eval` as the reference.
//!
//! With `--features datafusion` the same comparisons also run in-process in
//! DataFusion, over both the Parquet and the Arrow IPC export.
//!
//! Random cases scale with `FLEETLAB_PROP_SCALE` (see `inventory_gen.rs`):
//! `FLEETLAB_PROP_SCALE=20 cargo test --features datafusion --test it sql`
//! runs 960 DuckDB and 480 DataFusion cases.

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
use serde_json::{json, Value};

use crate::inventory_gen::{cases, device_json, devices_from, opt_list, quote, string_item, DeviceShape};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The DuckDB release the tests run.
const DUCKDB: &str = "1.5.6";

/// The pyarrow release the tests read Arrow IPC files with (DuckDB's own
/// Arrow reader is an extension it would download at run time).
const PYARROW: &str = "26.0.1";

/// Runs a job file: `[{"arrow": {name: path}, "setup": [sql…], "queries":
/// [sql…]}, …]` → for each session, per query, the sorted ids it returned or
/// `{"error": …}`. Each `arrow` file is read by pyarrow and registered as a
/// view `name` before the setup runs.
const RUNNER: &str = r#"
import json, sys
import duckdb
sessions = json.load(open(sys.argv[1], encoding="utf-8"))
out = []
for session in sessions:
    con = duckdb.connect()
    for name, path in session.get("arrow", {}).items():
        import pyarrow
        with pyarrow.memory_map(path) as source:
            con.register(name, pyarrow.ipc.open_file(source).read_all())
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
    let check = format!(
        "import duckdb, pyarrow, sys; \
         sys.exit(duckdb.__version__ != '{DUCKDB}' or pyarrow.__version__ != '{PYARROW}')"
    );
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
            &format!("pyarrow=={PYARROW}"),
        ]))?;
        run(Command::new(&python).args(["-c", &check]))?;
        Ok(())
    };
    setup().map_err(|e| {
        format!(
            "the SQL tests need DuckDB {DUCKDB} and pyarrow {PYARROW} from PyPI in a Python venv at {} and could not set it up \
             (python3 with the venv module and network access to PyPI are required):\n{e}",
            venv.display()
        )
    })?;
    Ok(python)
}

/// One DuckDB connection's work.
#[derive(Default)]
struct Session {
    /// Arrow IPC files to register first, as (view name, path).
    arrow: Vec<(String, PathBuf)>,
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
    let body: Vec<Value> = sessions
        .iter()
        .map(|s| {
            let arrow: serde_json::Map<String, Value> = s
                .arrow
                .iter()
                .map(|(name, path)| (name.clone(), json!(path.display().to_string())))
                .collect();
            json!({"arrow": arrow, "setup": s.setup, "queries": s.queries})
        })
        .collect();
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

/// The `SELECT * REPLACE (…)` items that turn every unset string of the
/// export into `''` and every missing list into `empty_list`: the table as
/// a warehouse may hold it, which must give the same answers.
fn blanked_columns(empty_list: &str) -> Vec<String> {
    export::schema()
        .fields()
        .iter()
        .filter(|f| f.name() != "id")
        .filter_map(|f| {
            let name = format!("\"{}\"", f.name());
            match f.data_type() {
                DataType::Utf8 => Some(format!("COALESCE({name}, '') AS {name}")),
                DataType::List(_) => Some(format!("COALESCE({name}, {empty_list}) AS {name}")),
                _ => None,
            }
        })
        .collect()
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
    let blanked = blanked_columns("[]::VARCHAR[]");
    let sessions = [
        Session {
            setup: vec![format!("CREATE TABLE devices AS SELECT * FROM read_parquet({file})")],
            queries: queries.clone(),
            ..Session::default()
        },
        Session {
            setup: vec![format!(
                "CREATE TABLE devices AS SELECT * REPLACE ({}) FROM read_parquet({file})",
                blanked.join(", ")
            )],
            queries: queries.clone(),
            ..Session::default()
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

/// The device rules of the spec's corpus (§7) that check: `tests/sql/corpus.txt`,
/// one a line (shared with `tests/sql/spark_check.py`).
fn corpus() -> Vec<&'static str> {
    include_str!("../sql/corpus.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

fn contoso() -> Result<Vec<Device>, Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/devices.json");
    Ok(fleetlab::inventory::load_devices(&path)?)
}

#[test]
fn spec_corpus_and_contoso_groups_agree_with_duckdb() -> TestResult {
    let mut devices = contoso()?;
    devices.extend(adversarial_devices()?);
    let mut rules = corpus().into_iter().map(device_rule).collect::<Result<Vec<_>, _>>()?;
    let groups = fleetlab::groups::GroupSet::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/groups.toml"),
        &Options { object: Some(ObjectType::Device), ..Options::default() },
    )?;
    for g in &groups.groups {
        rules.push(device_rule(g.rule.source())?);
    }
    assert!(rules.len() >= corpus().len() + 25);
    let problems = disagreements(&devices, &rules)?;
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    // The corpus is not vacuous: most rules select something.
    let selecting = rules.iter().filter(|r| !expected(r, &devices).is_empty()).count();
    assert!(selecting * 2 > rules.len(), "only {selecting} of {} rules select a device", rules.len());
    Ok(())
}

/// Hand-written devices for the corner cases the corpus names:
/// `tests/sql/adversarial-devices.json` (shared with `tests/sql/spark_check.py`).
fn adversarial_devices() -> Result<Vec<Device>, serde_json::Error> {
    serde_json::from_str(include_str!("../sql/adversarial-devices.json"))
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
        ..Session::default()
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
    "10",
    "10.0",
    "-1",
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

/// The Graph fields of [`STRING_PROPS`].
const STRING_FIELDS: [&str; STRING_PROPS.len()] = {
    let mut out = [""; STRING_PROPS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = STRING_PROPS[i].1;
        i += 1;
    }
    out
};

/// Up to nine devices; ids are unique but differ from each other in case
/// only sometimes (objectId rules compare them).
fn devices() -> BoxedStrategy<Vec<Device>> {
    let shape = || DeviceShape {
        strings: &STRING_FIELDS,
        values: VALUES,
        extension_slots: &[1, 15],
        physical_ids: opt_list(string_item(ITEMS), 5),
        system_labels: opt_list(string_item(ITEMS), 3),
        member_of: opt_list(string_item(GROUPS), 3),
    };
    prop::collection::vec(device_json(shape()), 0..10)
        .prop_filter_map("valid device JSON", |list| {
            let list: Vec<Value> = list
                .into_iter()
                .enumerate()
                .map(|(i, mut d)| {
                    if let Some(m) = d.as_object_mut() {
                        let id = if i % 3 == 0 { format!("DEV-{i}") } else { format!("dev-{i}") };
                        m.insert("id".into(), Value::String(id));
                    }
                    d
                })
                .collect();
            devices_from(list).ok()
        })
        .boxed()
}

fn text_value() -> BoxedStrategy<String> {
    prop_oneof![
        2 => select(VALUES).prop_map(String::from),
        1 => select(ITEMS).prop_map(String::from),
        2 => select(FRAGMENTS).prop_map(String::from),
    ]
    .boxed()
}

/// Unquoted numbers, which compare with strings by their text.
const BARE: &[&str] = &["10", "0", "10.0", "-1"];

/// A quoted text value, now and then a bare number.
fn value() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (text_value(), any::<bool>()).prop_map(|(s, q)| quote(&s, q)),
        1 => select(BARE).prop_map(String::from),
    ]
    .boxed()
}

/// The operand of `op`: a list for `-in`, a pattern for `-match`, a value
/// otherwise (sometimes `null` for `-eq`/`-ne`).
fn operand(op: &'static str) -> BoxedStrategy<String> {
    match op {
        "-in" | "-notIn" => {
            prop::collection::vec(value(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))).boxed()
        }
        "-match" | "-notMatch" => {
            (select(REGEXES), any::<bool>()).prop_map(|(r, single)| quote(r, single)).boxed()
        }
        "-eq" | "-ne" => prop_oneof![5 => value(), 1 => Just("null".to_string())].boxed(),
        _ => value(),
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

/// The texts that check, except those with a case-sensitive regex part
/// (`(?-i)`), which `fleetlab sql` refuses to translate (the table's text
/// is compared folded; see `rules_without_a_device_table_translation_are_errors`).
fn checked_rules(texts: &[String]) -> Vec<Rule> {
    texts.iter().filter(|t| !t.contains("(?-i")).filter_map(|t| device_rule(t).ok()).collect()
}

proptest! {
    #![proptest_config(cases(48))]

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
    let lookaround = device_rule(r#"device.displayName -match "(?<=LT-)NYC""#)?;
    let err =
        to_sql(&lookaround, Dialect::DuckDb, "devices").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("look-behind"), "{err}");
    let case_sensitive = device_rule(r#"device.displayName -match "(?-i)^[A-Z]""#)?;
    assert!(matches!(
        to_sql(&case_sensitive, Dialect::Spark, "devices"),
        Err(SqlError::UnsupportedRegex { .. })
    ));
    let boundary = device_rule(r#"device.displayName -match "\bLT\b""#)?;
    for dialect in [Dialect::DuckDb, Dialect::Spark] {
        let err = to_sql(&boundary, dialect, "devices").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("word boundary") && err.contains("(?-u:\\b)"), "{err}");
    }
    assert!(to_sql(&boundary, Dialect::DataFusion, "devices").is_ok());
    Ok(())
}

/// Custom directory extensions (a column each in the export) and `-eq ""`
/// (the same as `-eq null`): DuckDB selects what the reference selects.
#[test]
fn extensions_and_empty_strings_agree_with_duckdb() -> TestResult {
    let ext = "extension_c272a57b722d4eb29bfe327874ae79cb_Site";
    let devices: Vec<Device> = serde_json::from_value(json!([
        {"id": "a", ext: "AMS", "deviceCategory": ""},
        {"id": "b", ext: "", "deviceCategory": "x"},
        {"id": "c", ext: 7},
        {"id": "d", "physicalIds": [""]},
        {"id": "e", ext: "nyc", "physicalIds": ["[ZTDId]:1"]}
    ]))?;
    let texts = [
        format!(r#"device.{ext} -eq "ams""#),
        format!(r#"device.{ext} -ne "ams""#),
        format!(r#"device.{ext} -eq """#),
        format!(r#"device.{ext} -ne """#),
        format!(r#"device.{ext} -eq null"#),
        format!(r#"device.{ext} -eq "7""#),
        format!(r#"device.{ext} -startsWith "n""#),
        r#"device.deviceCategory -eq """#.to_string(),
        r#"device.deviceCategory -ne """#.to_string(),
        r#"device.devicePhysicalIds -eq """#.to_string(),
        r#"device.devicePhysicalIds -any (_ -eq "")"#.to_string(),
    ];
    let rules = texts.iter().map(|t| device_rule(t)).collect::<Result<Vec<_>, _>>()?;
    let problems = disagreements(&devices, &rules)?;
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
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
    for f in ["starts_with(", "ends_with(", "array_any_match(\"systemLabels\", x -> ", "regexp_like(", "'u')"]
    {
        assert!(df.contains(f), "{f} in {df}");
    }
    Ok(())
}

/// Regexes that are literal runs with a backslash, and values with and
/// without one. DataFusion 55 rewrote `regexp_like(x, '\x{5C}')` into
/// `x LIKE '%\%'` (a backslash is LIKE's escape character), so these
/// selected the wrong devices until the translation passed flags.
fn backslash_case() -> Result<(Vec<Device>, Vec<Rule>), Box<dyn std::error::Error>> {
    let devices: Vec<Device> = serde_json::from_value(json!([
        {"id": "a", "model": "back\\slash", "physicalIds": ["C:\\Temp\\", "[ZTDId]:x"]},
        {"id": "b", "model": "backslash", "physicalIds": ["C:Temp"]},
        {"id": "c", "model": "50%", "physicalIds": ["a_b", "\\"]},
        {"id": "d", "model": "best", "physicalIds": ["%"]}
    ]))?;
    let rules = [
        r#"device.deviceModel -match "\\""#,
        r#"device.deviceModel -match "k\\""#,
        r#"device.deviceModel -match "\\s""#,
        r#"device.deviceModel -match "^back\\slash$""#,
        r#"device.deviceModel -notMatch "\\""#,
        r#"device.deviceModel -match "\\|%""#,
        r#"device.devicePhysicalIds -any (_ -match "\\$")"#,
        r#"device.devicePhysicalIds -all (_ -notMatch ":\\")"#,
        r#"device.devicePhysicalIds -match "^\\""#,
    ]
    .into_iter()
    .map(device_rule)
    .collect::<Result<Vec<_>, _>>()?;
    Ok((devices, rules))
}

#[test]
fn regexes_with_a_backslash_agree_with_duckdb() -> TestResult {
    let (devices, rules) = backslash_case()?;
    let problems = disagreements(&devices, &rules)?;
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    let selecting = rules.iter().filter(|r| !expected(r, &devices).is_empty()).count();
    assert_eq!(selecting, rules.len());
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

/// `fleetlab`'s standard output, as text.
fn cli(args: &[&std::ffi::OsStr]) -> Result<String, Box<dyn std::error::Error>> {
    let out = run(Command::new(env!("CARGO_BIN_EXE_fleetlab")).args(args))?;
    Ok(String::from_utf8(out.stdout)?)
}

/// The whole path from the command line: `fleetlab inventory export` in
/// both formats, each file read by DuckDB (the Arrow IPC file through
/// pyarrow), `fleetlab sql` for every Contoso group and an Autopilot rule,
/// and the ids each query returns compared with `fleetlab eval`.
#[test]
fn the_cli_exports_and_translates_what_eval_selects() -> TestResult {
    let bin = env!("CARGO_BIN_EXE_fleetlab");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let devices = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/devices.json");
    let dir = tempfile::tempdir()?;
    let parquet = dir.path().join("devices.parquet");
    let arrow = dir.path().join("devices.arrow");
    for (format, path) in [("parquet", &parquet), ("arrow", &arrow)] {
        cli(&[
            os("inventory"),
            os("export"),
            devices.as_os_str(),
            os("--format"),
            os(format),
            os("-o"),
            path.as_os_str(),
        ])?;
    }
    let groups = fleetlab::groups::GroupSet::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/groups.toml"),
        &Options { object: Some(ObjectType::Device), ..Options::default() },
    )?;
    let mut rules =
        vec![r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#
            .to_string()];
    rules.extend(groups.groups.iter().map(|g| g.rule.source().to_string()));
    let mut queries = Vec::new();
    let mut wanted = Vec::new();
    for rule in &rules {
        let rule = std::ffi::OsStr::new(rule.as_str());
        let sql = cli(&[
            os("sql"),
            os("--dialect"),
            os("duckdb"),
            os("--table"),
            os("main.devices"),
            os("--rule"),
            rule,
        ])?;
        assert!(sql.ends_with(";\n"), "{sql}");
        queries.push(sql.trim_end().trim_end_matches(';').to_string());
        let eval = cli(&[os("eval"), os("--devices"), devices.as_os_str(), os("--rule"), rule])?;
        let mut want: Vec<String> = eval.lines().map(String::from).collect();
        want.sort();
        wanted.push(want);
    }
    let selecting = wanted.iter().filter(|w| !w.is_empty()).count();
    assert!(selecting * 2 > rules.len(), "only {selecting} of {} rules select a device", rules.len());
    // Both files hold the export's columns; DESCRIBE lists them.
    let mut columns: Vec<String> = export::schema().fields().iter().map(|f| f.name().clone()).collect();
    columns.sort();
    let describe = "SELECT column_name FROM (DESCRIBE devices)".to_string();
    let sessions = [
        Session {
            setup: vec![format!(
                "CREATE TABLE devices AS SELECT * FROM read_parquet({})",
                sql_string(&parquet.display().to_string())
            )],
            queries: std::iter::once(describe.clone()).chain(queries.iter().cloned()).collect(),
            ..Session::default()
        },
        Session {
            arrow: vec![("devices_ipc".into(), arrow.clone())],
            setup: vec!["CREATE TABLE devices AS SELECT * FROM devices_ipc".into()],
            queries: std::iter::once(describe).chain(queries.iter().cloned()).collect(),
        },
    ];
    for (format, answers) in ["parquet", "arrow"].iter().zip(duckdb(&sessions)?) {
        let mut answers = answers.into_iter();
        let described = answers.next().unwrap_or(Err("no answer".into()))?;
        assert_eq!(described, columns, "columns of the {format} export");
        let got: Vec<Answer> = answers.collect();
        assert_eq!(got.len(), rules.len(), "{format}");
        for ((rule, want), got) in rules.iter().zip(&wanted).zip(got) {
            assert_eq!(got.as_ref(), Ok(want), "{format} export, rule {rule}");
        }
    }

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

    /// Every disagreement between DataFusion (over the Parquet export, the
    /// Arrow export, and the Parquet export with unset values blanked) and
    /// fleetlab.
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
            let view = format!(
                "CREATE VIEW devices_blanked AS SELECT * REPLACE ({}) FROM devices",
                blanked_columns("make_array()").join(", ")
            );
            ctx.sql(&view).await.map_err(e)?.collect().await.map_err(e)?;
            let mut out = Vec::new();
            for rule in rules {
                let want = expected(rule, devices);
                for table in ["devices", "devices_ipc", "devices_blanked"] {
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
        let rules = corpus().into_iter().map(device_rule).collect::<Result<Vec<_>, _>>()?;
        let problems = disagreements(&devices, &rules)?;
        assert!(problems.is_empty(), "{}", problems.join("\n\n"));
        Ok(())
    }

    #[test]
    fn regexes_with_a_backslash_agree_with_datafusion() -> TestResult {
        let (devices, rules) = backslash_case()?;
        let problems = disagreements(&devices, &rules)?;
        assert!(problems.is_empty(), "{}", problems.join("\n\n"));
        Ok(())
    }

    proptest! {
        #![proptest_config(cases(24))]

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
        let rules = corpus().into_iter().map(device_rule).collect::<Result<Vec<_>, _>>()?;
        let problems = disagreements(&devices, &rules)?;
        assert!(problems.is_empty(), "{}", problems.join("\n\n"));
        Ok(())
    }

    proptest! {
        #![proptest_config(cases(6))]

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

//! Property tests: the columnar evaluator (`fleet::CompiledSet`) selects
//! exactly the devices the reference evaluator (`Rule::matches`) selects.
//!
//! Inventories are random Graph `device` records (as JSON, so a field can be
//! missing, `null`, empty or set) whose values come from small pools that
//! the rule generator draws from too, so rules match often. Pools are chosen
//! to stress the columnar plumbing:
//!
//! * dictionary encoding: `""` (null to the reference), case variants of one
//!   value, Unicode case (`İstanbul`, `ß`, the Kelvin sign, long s `ſ`,
//!   Greek sigma in all three forms);
//! * lanes of `devicePhysicalIds`: tag prefixes in every case, items that
//!   almost have a tag (`[ZTDI`, `[ZTDId` with no `]`, `x[ZTDId]`), an empty
//!   item, duplicates and several items of one lane (the sparse "extra"
//!   list), tags spelt with `ſ`/`İ`/Kelvin;
//! * chunking: a second generator expands a few device templates into
//!   fleets of 4,000–9,300 devices, with the exact chunk sizes 4,096 and
//!   8,192 and their neighbours.
//!
//! Rules are *text* built from a grammar of realistic pieces and checked
//! with `Rule::with_options` for devices; texts that fail to check are
//! dropped (a case whose texts all fail is rejected with `prop_assume!`).
//!
//! The `regression_*` tests at the end pin the counterexamples these
//! properties found.

use fleetlab::fleet::{CompiledSet, FleetIndex};
use fleetlab::inventory::Device;
use fleetlab::rule::{ObjectType, Options, Rule};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::inventory_gen::{self, cases, devices_from, opt_list, quote, string_item, DeviceShape};

type TestResult = Result<(), Box<dyn std::error::Error>>;

// ---- value pools -------------------------------------------------------------

/// Values of single-valued properties (inventory and rules).
const SCALARS: &[&str] = &[
    "Windows",
    "windows",
    "WINDOWS",
    "iOS",
    "IOS",
    "AndroidEnterprise",
    "",
    " ",
    "10.0.19045",
    "10.0.22631.2861",
    "10",
    "10.0",
    "Company",
    "company",
    "Personal",
    "AzureAd",
    "Cloud PC Enterprise",
    "DEP iPhones",
    "OfflineAutopilotprofile-1",
    "İstanbul",
    "istanbul",
    "ISTANBUL",
    "i\u{307}stanbul",
    "Straße",
    "STRASSE",
    "strasse",
    "\u{212A}elvin",
    "Kelvin",
    "kelvin",
    "\u{17F}tate",
    "State",
    "ΣΊΣΥΦΟΣ",
    "σίσυφος",
    "Σίσυφοσ",
    "true",
    "false",
    "null",
    "it's",
    "say \"hi\"",
    "a`b",
    "NL-LT-FIN",
];

/// Parts of scalar values, for `-startsWith`, `-contains`, ….
const SCALAR_FRAGMENTS: &[&str] = &[
    "win",
    "WIN",
    "dows",
    "10.0.",
    "istan",
    "İst",
    "i\u{307}",
    "bul",
    "stra",
    "ße",
    "SS",
    "ss",
    "k",
    "\u{212A}",
    "K",
    "\u{17F}",
    "s",
    "S",
    "σ",
    "ς",
    "Σ",
    "ος",
    "οσ",
    "PC",
    "-",
    "'",
    "\"",
    "`",
    "1",
    // Ids of expanded fleets (`expand`): a prefix and the devices at the
    // first chunk boundary.
    "dev-0",
    "dev-04095",
    "dev-04096",
];

/// Items of `devicePhysicalIds`.
const PHYSICAL_IDS: &[&str] = &[
    "[ZTDId]:7f2c",
    "[ztdid]:7F2C",
    "[ZTDID]:0001",
    "[ZTDId]:",
    "[ZTDId]",
    "[ZTDId]:\u{212A}",
    "[ztdid]:k",
    "[ztdid]:\u{17F}",
    "[OrderId]:NL-LT-FIN",
    "[OrderID]:nl-lt-fin",
    "[orderid]:DE-HR",
    "[ORDERID]:NL",
    "[OrderID]:İstanbul",
    "[OrderID]:straße",
    "[PurchaseOrderId]:PO-77",
    "[purchaseorderid]:po-77",
    "[HWID]:h-1",
    "[hwid]:H-1",
    "[HWID]:Σ",
    "[GID]:g:1",
    "[USER-HWID]:u:1",
    "[user-gid]:u2",
    "",
    " ",
    "[ZTDI",
    "[ZTDId",
    "[ZTDId:abc",
    "x[ZTDId]:abc",
    " [ZTDId]:abc",
    "[Purcha\u{17F}eorderid]:PO-77",
    "[U\u{17F}ER-GID]:u3",
    "[ORDERİD]:NL",
    "[Z",
    "[",
    "]",
    "M365Managed",
];

/// Items of `systemLabels`.
const LABELS: &[&str] =
    &["M365Managed", "m365managed", "AzureResource", "MultiUser", "", "\u{17F}", "\u{212A}", "[ZTDId]:7f2c"];

/// Values compared with `_` and with collections: tags, parts of items.
const ITEM_FRAGMENTS: &[&str] = &[
    "[ZTDId]",
    "[ztdid]",
    "[ZTDID]:",
    "[OrderID]:NL",
    "[OrderID]",
    "[orderid]:",
    "[PurchaseOrderId]",
    "[purcha\u{17F}eorderid]",
    "[HWID]",
    "[hwid]:h",
    "[GID]",
    "[USER-",
    "[user-hwid]",
    "[USER-GID]",
    "[u\u{17F}er-gid]",
    "[",
    "[Z",
    "[ZTDI",
    "[ZTDId",
    "x[ZTDId]",
    "]",
    ":",
    "",
    "k",
    "\u{212A}",
    "\u{17F}",
    "s",
    "İ",
    "i\u{307}",
    "NL",
    "fin",
    "7F2C",
    "m365",
    "Managed",
    // Per-device items of expanded fleets (`expand`).
    "[HWID]:1",
    "[hwid]:ff",
    "[ZTDId]:100",
];

/// Regexes on single-valued properties.
const SCALAR_REGEXES: &[&str] = &[
    "^win",
    "^Win.*s$",
    "dows$",
    "^İ",
    "stanbul",
    "^i\u{307}stanbul$",
    "ße",
    "^strasse$",
    "SS",
    "^\u{212A}",
    "^k",
    "^\u{17F}",
    "^s",
    "σ",
    "ς$",
    r"^10\.0\.",
    "^10",
    "^$",
    "",
    ".*",
    "^",
    "^[a-z]+$",
    "(?-i)^Windows$",
    r"\d{2}",
    "^.$",
    r"\w+ PC",
    "^Company$|^Personal$",
];

/// Regexes on collection items, mostly anchored literal prefixes.
const ITEM_REGEXES: &[&str] = &[
    r"^\[OrderID\]:NL",
    r"^\[ZTDId\]",
    r"^\[purchaseorderid\]",
    r"^\[PURCHASEORDERID\]:PO",
    "^\\[purcha\u{17F}eorderid\\]",
    "^\\[u\u{17F}er-",
    r"^\[ZTDI",
    r"^\[ztdid\]?",
    r"^\[ztdid\]*:",
    r"^\[user-",
    r"^\[HWID\]:h",
    "^\\[\u{212A}",
    r"^\[OrderID\]:.*-LT-.*",
    r"^\[OrderID\]:NL-LT-FIN$",
    r"^\[OrderID\]:(NL|DE)",
    r"^\[orderid\]:n{1}l",
    r"^\[ORDERID\]:nl",
    r"^\[order",
    r"^\[ZTDId\]:\d",
    r"^\[ztdid\]:[0-9a-f]+$",
    r"^\[ZTDId\]\:",
    r"\[ZTDId\]",
    r"^\[gid\]|^\[hwid\]",
    "^[ZTDId]",
    r"^\[",
    "^",
    "^$",
    ".*",
    "^s",
    "^\u{17F}",
    "^K",
    "^\u{212A}",
    "^İ",
    "^m365",
    "^m365managed$",
    "(?-i)^\\[ZTDId\\]",
];

/// Group ids for `memberOf`.
const GROUP_IDS: &[&str] = &[
    "0f1e2d3c-aaaa-4bbb-8ccc-000000000001",
    "0F1E2D3C-AAAA-4BBB-8CCC-000000000001",
    "0f1e2d3c-aaaa-4bbb-8ccc-000000000002",
    "g-\u{212A}",
    "g-k",
    "g-\u{17F}",
    "G-S",
    "",
];

const STRING_FIELDS: &[&str] = &[
    "deviceCategory",
    "deviceId",
    "deviceOwnership",
    "displayName",
    "enrollmentProfileName",
    "managementType",
    "manufacturer",
    "mdmAppId",
    "model",
    "operatingSystem",
    "operatingSystemVersion",
    "profileType",
    "trustType",
];

/// Rule names of string properties (a few in non-canonical case).
const STRING_PROPERTIES: &[&str] = &[
    "deviceCategory",
    "deviceId",
    "deviceOwnership",
    "displayName",
    "enrollmentProfileName",
    "managementType",
    "deviceManufacturer",
    "deviceManagementAppId",
    "deviceModel",
    "deviceOSType",
    "deviceOSType",
    "deviceostype",
    "deviceOSVersion",
    "profileType",
    "deviceTrustType",
    "objectId",
    "extensionAttribute1",
    "extensionAttribute2",
    "ExtensionAttribute15",
];

const EXTENSION_SLOTS: &[u8] = &[1, 2, 15];

const OPERATORS: &[&str] = &[
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
    "-EQ",
    "-startswith",
    "-NotIn",
    "notContains",
];

// ---- inventories ---------------------------------------------------------------

/// A `memberOf` entry: a plain id (exports) or a directory object (Graph).
fn group_ref() -> BoxedStrategy<Value> {
    (select(GROUP_IDS), any::<bool>())
        .prop_map(|(id, object)| {
            if object {
                serde_json::json!({"@odata.type": "#microsoft.graph.group", "id": id})
            } else {
                Value::String(id.into())
            }
        })
        .boxed()
}

/// One Graph device record, as JSON; ids come from the scalar pool, so
/// they repeat and differ in case only.
fn device_json() -> BoxedStrategy<Value> {
    let physical = prop_oneof![
        3 => string_item(PHYSICAL_IDS),
        // Several items of one lane and duplicates are common with a pool
        // this small; these add the Autopilot shapes in bulk.
        1 => select(&["[ZTDId]:7f2c", "[OrderID]:NL-LT-FIN", "[HWID]:h-1"][..])
            .prop_map(|s| Value::String(s.into())),
    ]
    .boxed();
    // Lists of near misses and empty items only: nothing but the other lane.
    let other_lane =
        string_item(&["", "", " ", "[ZTDI", "[ZTDId", "x[ZTDId]:abc", "[Purcha\u{17F}eorderid]:PO-77"]);
    let physical = prop_oneof![
        5 => opt_list(physical, 7),
        1 => prop::collection::vec(other_lane, 1..3).prop_map(|v| Some(Value::Array(v))),
    ]
    .boxed();
    let shape = DeviceShape {
        strings: STRING_FIELDS,
        values: SCALARS,
        extension_slots: EXTENSION_SLOTS,
        physical_ids: physical,
        system_labels: opt_list(string_item(LABELS), 4),
        member_of: opt_list(group_ref(), 4),
    };
    (select(SCALARS), inventory_gen::device_json(shape))
        .prop_map(|(id, mut device)| {
            if let Some(m) = device.as_object_mut() {
                m.insert("id".into(), Value::String(id.into()));
            }
            device
        })
        .boxed()
}

/// A large fleet: `n` devices drawn from `templates` by a seeded generator,
/// so membership changes often across word and chunk boundaries. Odd seeds
/// keep the templates' ids (a small objectId dictionary); even seeds give
/// every device its own id (16-bit codes; past 8,192 devices the id
/// dictionary stops deduplicating). Seeds with bit 1 set add a per-device
/// `[ZTDId]` or `[OrderID]` item to every third device (large lane
/// dictionaries, more second items of a lane); bit 2 gives every device its
/// own `[HWID]` item (a lane of nearly unique values).
fn expand(templates: &[Device], n: usize, seed: u64) -> Vec<Device> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let Some(t) = templates.get((x % templates.len().max(1) as u64) as usize) else { break };
        let mut d = t.clone();
        if seed & 1 == 0 {
            d.id = format!("dev-{i:05}");
        }
        if seed & 2 != 0 && i % 3 == 0 {
            let item = if i % 2 == 0 { format!("[ZTDId]:{i:x}") } else { format!("[OrderID]:T{}", i % 97) };
            d.physical_ids.get_or_insert_with(Vec::new).push(item);
        }
        if seed & 4 != 0 {
            d.physical_ids.get_or_insert_with(Vec::new).push(format!("[HWID]:{i:x}"));
        }
        out.push(d);
    }
    out
}

// ---- rule text -----------------------------------------------------------------

fn literal(pool: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (pool, any::<bool>()).prop_map(|(s, single)| quote(&s, single)).boxed()
}

fn scalar_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(SCALARS).prop_map(String::from),
        2 => select(SCALAR_FRAGMENTS).prop_map(String::from),
    ]
    .boxed()
}

fn item_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(PHYSICAL_IDS).prop_map(String::from),
        3 => select(ITEM_FRAGMENTS).prop_map(String::from),
        1 => select(LABELS).prop_map(String::from),
        1 => Just(String::new()),
    ]
    .boxed()
}

/// Escapes regex metacharacters.
fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `^` and an escaped prefix of an item, in random case, sometimes with
/// `s` spelt `ſ` and `k` spelt with the Kelvin sign, sometimes followed by
/// more regex.
fn prefix_regex() -> BoxedStrategy<String> {
    (item_text(), 1usize..24, 0u8..4, select(&["", ".*", "$", "?", "+", r"\d", "[a-z]"][..]))
        .prop_map(|(item, len, case, tail)| {
            let head: String = item.chars().take(len).collect();
            let head = match case {
                0 => head.to_uppercase(),
                1 => head.to_lowercase(),
                2 => head.replace('s', "\u{17F}").replace('k', "\u{212A}").replace('S', "\u{17F}"),
                _ => head,
            };
            format!("^{}{tail}", regex_escape(&head))
        })
        .boxed()
}

fn item_regex() -> BoxedStrategy<String> {
    prop_oneof![2 => select(ITEM_REGEXES).prop_map(String::from), 1 => prefix_regex()].boxed()
}

fn scalar_regex() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(SCALAR_REGEXES).prop_map(String::from),
        1 => scalar_text().prop_map(|s| format!("^{}", regex_escape(&s))),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<String> {
    select(&["10", "10.0", "0", "1"][..]).prop_map(String::from).boxed()
}

fn list_of(values: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop::collection::vec(prop_oneof![5 => literal(values), 1 => number()], 0..4)
        .prop_map(|v| format!("[{}]", v.join(", ")))
        .boxed()
}

/// The operand for `op`: a list for `-in`, a regex for `-match`, otherwise a
/// value (now and then `null` or a number).
fn operand_for(
    op: &'static str,
    values: fn() -> BoxedStrategy<String>,
    regexes: fn() -> BoxedStrategy<String>,
) -> BoxedStrategy<String> {
    let lower = op.trim_start_matches('-').to_ascii_lowercase();
    match lower.as_str() {
        "in" | "notin" => list_of(values()),
        "match" | "notmatch" => literal(regexes()),
        "eq" | "ne" => prop_oneof![
            6 => literal(values()),
            2 => select(&["null", "$null", "NULL"][..]).prop_map(String::from),
            1 => number(),
        ]
        .boxed(),
        _ => prop_oneof![8 => literal(values()), 1 => number()].boxed(),
    }
}

fn comparison(
    subject: BoxedStrategy<String>,
    values: fn() -> BoxedStrategy<String>,
    regexes: fn() -> BoxedStrategy<String>,
) -> BoxedStrategy<String> {
    (subject, select(OPERATORS))
        .prop_flat_map(move |(subject, op)| {
            operand_for(op, values, regexes).prop_map(move |v| format!("{subject} {op} {v}"))
        })
        .boxed()
}

/// `device.<string property> -op value`.
fn string_comparison() -> BoxedStrategy<String> {
    comparison(
        select(STRING_PROPERTIES).prop_map(|p| format!("device.{p}")).boxed(),
        scalar_text,
        scalar_regex,
    )
}

/// `device.accountEnabled -eq true` and friends.
fn bool_comparison() -> BoxedStrategy<String> {
    (
        select(&["accountEnabled", "isRooted", "AccountEnabled"][..]),
        select(&["-eq", "-ne"][..]),
        select(&["true", "false", "null", "True", "FALSE", "\"true\"", "'false'"][..]),
    )
        .prop_map(|(p, op, v)| format!("device.{p} {op} {v}"))
        .boxed()
}

/// `_ -op value`.
fn item_comparison() -> BoxedStrategy<String> {
    comparison(Just("_".to_string()).boxed(), item_text, item_regex)
}

/// A predicate over `_`: comparisons under -and/-or/-not, two levels deep.
fn item_predicate() -> BoxedStrategy<String> {
    item_comparison()
        .prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v
                    .iter()
                    .map(|p| format!("({p})"))
                    .collect::<Vec<_>>()
                    .join(" -and ")),
                prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v
                    .iter()
                    .map(|p| format!("({p})"))
                    .collect::<Vec<_>>()
                    .join(" -or ")),
                inner.prop_map(|p| format!("-not ({p})")),
            ]
        })
        .boxed()
}

const COLLECTIONS: &[&str] = &[
    "device.devicePhysicalIds",
    "device.devicePhysicalIds",
    "device.devicephysicalids",
    "device.systemLabels",
];

/// `device.devicePhysicalIds -any (…)`, `… -all _ -op v`.
fn quantified() -> BoxedStrategy<String> {
    (
        select(COLLECTIONS),
        select(&["-any", "-all", "-ANY", "-All"][..]),
        prop_oneof![
            3 => item_predicate().prop_map(|p| format!("({p})")),
            1 => item_comparison(),
        ],
    )
        .prop_map(|(c, q, body)| format!("{c} {q} {body}"))
        .boxed()
}

/// A scalar operator straight on a collection (implicit any), `-eq null`.
fn legacy_collection_comparison() -> BoxedStrategy<String> {
    prop_oneof![
        4 => comparison(select(COLLECTIONS).prop_map(String::from).boxed(), item_text, item_regex),
        1 => (select(COLLECTIONS), select(&["-eq null", "-ne null", "-eq $null", "-ne $null"][..]))
            .prop_map(|(c, t)| format!("{c} {t}")),
    ]
    .boxed()
}

/// A device rule: leaves under -and/-or/-not, up to three levels deep.
fn device_expression() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        4 => string_comparison(),
        1 => bool_comparison(),
        3 => quantified(),
        2 => legacy_collection_comparison(),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" -and ")),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" -or ")),
            inner.prop_map(|p| format!("-not ({p})")),
        ]
    })
    .boxed()
}

/// `device.memberOf -any (group.objectId -in [...])`, standalone.
fn member_of_rule() -> BoxedStrategy<String> {
    (prop::collection::vec(literal(select(GROUP_IDS).prop_map(String::from).boxed()), 0..4), any::<bool>())
        .prop_map(|(ids, parens)| {
            let rule = format!("device.memberOf -any (group.objectId -in [{}])", ids.join(", "));
            if parens {
                format!("({rule})")
            } else {
                rule
            }
        })
        .boxed()
}

fn device_rule() -> BoxedStrategy<String> {
    prop_oneof![8 => device_expression(), 1 => member_of_rule()].boxed()
}

/// Only collection predicates: the lane analysis under the magnifier.
fn physical_id_rule() -> BoxedStrategy<String> {
    let leaf = prop_oneof![3 => quantified(), 2 => legacy_collection_comparison()];
    leaf.prop_recursive(1, 4, 2, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..3).prop_map(|v| v
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" -or ")),
            inner.prop_map(|p| format!("-not ({p})")),
        ]
    })
    .boxed()
}

// ---- the property ----------------------------------------------------------------

fn device_options() -> Options {
    Options { object: Some(ObjectType::Device), ..Options::default() }
}

/// The first device the two evaluators disagree on, for the failure message.
fn describe(rule: &Rule, devices: &[Device], have: &[usize], want: &[usize]) -> String {
    let diff = (0..devices.len()).find(|i| have.contains(i) != want.contains(i));
    let device = diff
        .and_then(|i| devices.get(i))
        .map_or_else(String::new, |d| serde_json::to_string(d).unwrap_or_default());
    format!(
        "columnar and reference disagree on {:?}\nrule: {}\nfirst differing device #{}: {}\nreference: {}",
        diff,
        rule.source(),
        diff.unwrap_or(0),
        device,
        diff.is_some_and(|i| want.contains(&i)),
    )
}

/// Checks every text that passes the checker, alone and all in one set.
fn assert_agree(devices: &[Device], texts: &[String]) -> Result<(), TestCaseError> {
    let options = device_options();
    let rules: Vec<Rule> = texts.iter().filter_map(|t| Rule::with_options(t, &options).ok()).collect();
    prop_assume!(!rules.is_empty(), "no text checked");
    let index = FleetIndex::from_devices(devices).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut wanted = Vec::with_capacity(rules.len());
    for rule in &rules {
        let bits =
            CompiledSet::compile(&[rule], &index).map_err(|e| TestCaseError::fail(e.to_string()))?.evaluate();
        prop_assert_eq!(bits.len(), 1);
        let have: Vec<usize> = bits.first().map(|b| b.ones().collect()).unwrap_or_default();
        prop_assert_eq!(bits.first().map(|b| b.len()), Some(devices.len()));
        let want: Vec<usize> =
            devices.iter().enumerate().filter(|(_, d)| rule.matches(*d)).map(|(i, _)| i).collect();
        prop_assert!(have == want, "{}", describe(rule, devices, &have, &want));
        wanted.push(want);
    }
    // The same rules in one set: the per-rule result regions must not mix.
    let refs: Vec<&Rule> = rules.iter().collect();
    let all = CompiledSet::compile(&refs, &index).map_err(|e| TestCaseError::fail(e.to_string()))?.evaluate();
    prop_assert_eq!(all.len(), rules.len());
    for ((rule, bits), want) in rules.iter().zip(&all).zip(&wanted) {
        let have: Vec<usize> = bits.ones().collect();
        prop_assert!(&have == want, "in a set of {}: {}", rules.len(), describe(rule, devices, &have, want));
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(512))]

    /// Small fleets (0–40 devices), up to four rules each.
    #[test]
    fn columnar_agrees_on_small_fleets(
        fleet in prop::collection::vec(device_json(), 0..40),
        texts in prop::collection::vec(device_rule(), 1..5),
    ) {
        let devices = devices_from(fleet)?;
        assert_agree(&devices, &texts)?;
    }

    /// Collection predicates only, six at a time, on fleets of 0–24 devices.
    #[test]
    fn columnar_agrees_on_collection_predicates(
        fleet in prop::collection::vec(device_json(), 0..24),
        texts in prop::collection::vec(physical_id_rule(), 6),
    ) {
        let devices = devices_from(fleet)?;
        assert_agree(&devices, &texts)?;
    }
}

proptest! {
    #![proptest_config(cases(24))]

    /// 4,000–9,300 devices: full chunks of 4,096, a partial last chunk, the
    /// exact boundaries. Eight rules per case (the index build dominates).
    #[test]
    fn columnar_agrees_across_chunk_boundaries(
        templates in prop::collection::vec(device_json(), 1..24),
        n in prop_oneof![
            1 => select(&[4_095usize, 4_096, 4_097, 8_191, 8_192, 8_193][..]),
            3 => 4_000usize..9_300,
        ],
        seed in any::<u64>(),
        texts in prop::collection::vec(device_rule(), 8),
    ) {
        let base = devices_from(templates)?;
        let devices = expand(&base, n, seed);
        prop_assert_eq!(devices.len(), n);
        assert_agree(&devices, &texts)?;
    }
}

// ---- regressions ------------------------------------------------------------------

/// Both evaluators on `devices` (JSON array) for `rule`.
fn both(rule: &str, devices: &str) -> Result<(Vec<usize>, Vec<usize>), Box<dyn std::error::Error>> {
    let devices: Vec<Device> = serde_json::from_str(devices)?;
    let rule = Rule::with_options(rule, &device_options())?;
    let index = FleetIndex::from_devices(&devices)?;
    let bits = CompiledSet::compile(&[&rule], &index)?.evaluate();
    let columnar = bits.first().map(|b| b.ones().collect()).unwrap_or_default();
    let reference = devices.iter().enumerate().filter(|(_, d)| rule.matches(*d)).map(|(i, _)| i).collect();
    Ok((columnar, reference))
}

#[test]
fn quote_round_trips_through_the_parser() -> TestResult {
    // The generator's literals decode to the intended value.
    for s in ["it's", "say \"hi\"", "a`b", "''", "`\"", ""] {
        for single in [false, true] {
            let text = format!("device.displayName -eq {}", quote(s, single));
            let rule = Rule::with_options(&text, &device_options())?;
            let devices = format!(r#"[{{"id": "1", "displayName": {}}}]"#, serde_json::to_string(s)?);
            let (columnar, reference) = both(&text, &devices)?;
            // Every value matches its own literal; `-eq ""` is `-eq null`, and "" is unset.
            assert_eq!(reference, vec![0], "{text}");
            assert_eq!(columnar, reference, "{}", rule.source());
        }
    }
    Ok(())
}

/// Counterexample 1 (fixed in `src/fleet/plan.rs`, `analyze_test`): a
/// case-insensitive regex matches `s` for `ſ` (U+017F), and folding keeps
/// `ſ`, so the anchored prefix `[purchaſeorderid]` looked like no known tag
/// and only the other lane was searched; the `[PurchaseOrderId]` and
/// `[USER-HWID]` items the reference matches were never looked at.
#[test]
fn regression_long_s_in_an_anchored_regex_reaches_the_tag_lanes() -> TestResult {
    let cases = [
        (
            r#"((device.deviceCategory -eq null) -and (device.devicePhysicalIds -any (((_ -eq "[ZTDId]:7f2c") -and (_ -eq NULL)) -or (-not (_ -contains "[orderid]:"))))) -and (-not (device.devicePhysicalIds -match "^\[purchaſeorderid\]"))"#,
            r#"[{"id": "Windows", "physicalIds": ["[PurchaseOrderId]:PO-77"]}]"#,
            vec![],
        ),
        (
            "(device.devicephysicalids -notMatch \"^\\[u\u{17F}er-\") -or (device.devicephysicalids -All _ -endsWith \"[Purcha\u{17F}eorderid]:PO-77\")",
            r#"[{"id": "Windows", "physicalIds": ["[USER-HWID]:u:1"]}]"#,
            vec![],
        ),
        (
            "device.devicePhysicalIds -any (_ -match \"^\\[purcha\u{17F}eorderid\\]:po\")",
            r#"[{"id": "a", "physicalIds": ["[PurchaseOrderId]:PO-77"]}, {"id": "b", "physicalIds": ["[Purcha\u017feorderid]:PO-77"]},
                {"id": "c", "physicalIds": ["[purchaseorderid]:x"]}, {"id": "d", "physicalIds": ["[ZTDId]:po"]}]"#,
            vec![0, 1],
        ),
        (
            // The other direction (already handled): `s` in the pattern, `ſ` in the item.
            r#"device.devicePhysicalIds -match "^\[purchaseorderid\]""#,
            r#"[{"id": "a", "physicalIds": ["[Purcha\u017feOrderId]:PO-77"]}, {"id": "b", "physicalIds": ["[OrderId]:PO-77"]}]"#,
            vec![0],
        ),
    ];
    for (rule, devices, members) in cases {
        let (columnar, reference) = both(rule, devices)?;
        assert_eq!(reference, members, "reference on {rule}");
        assert_eq!(columnar, reference, "columnar on {rule}");
    }
    Ok(())
}

/// Counterexample 2 (fixed in `src/fleet/plan.rs`, `starts_with_lanes`):
/// `_ -startsWith ""` was taken to hold for every item of every lane, but an
/// empty item is null to the reference (a positive operator on null is
/// false), and empty items are in the other lane.
#[test]
fn regression_starts_with_the_empty_string_skips_empty_items() -> TestResult {
    let devices = r#"[
        {"id": "a", "physicalIds": [""], "systemLabels": [""]},
        {"id": "b", "physicalIds": ["", "x"]},
        {"id": "c", "physicalIds": ["[ZTDId]:1"]},
        {"id": "d", "physicalIds": ["", "[ZTDId]:1"]},
        {"id": "e", "physicalIds": []},
        {"id": "f"}
    ]"#;
    let cases = [
        (r#"device.devicePhysicalIds -startsWith """#, vec![1, 2, 3]),
        (r#"device.devicePhysicalIds -any (_ -startsWith "")"#, vec![1, 2, 3]),
        (r#"device.devicePhysicalIds -all (_ -notStartsWith "")"#, vec![0, 4, 5]),
        (r#"-not (device.devicephysicalids -All (-not (_ -startswith '')))"#, vec![1, 2, 3]),
        (r#"device.devicePhysicalIds -notStartsWith """#, vec![0, 4, 5]),
        (r#"device.systemLabels -any (_ -startsWith "")"#, vec![]),
    ];
    for (rule, members) in cases {
        let (columnar, reference) = both(rule, devices)?;
        assert_eq!(reference, members, "reference on {rule}");
        assert_eq!(columnar, reference, "columnar on {rule}");
    }
    Ok(())
}

//! Compiling checked rules against a [`FleetIndex`], and running them.
//!
//! Every leaf of a rule is turned into a lookup that costs one memory read
//! per device, by evaluating the leaf once per *distinct value* instead of
//! once per device: a comparison on `deviceOSType` becomes a table indexed
//! by the column's dictionary code; a quantifier over `devicePhysicalIds`
//! becomes, per lane, a table over that lane's dictionary — or, when the
//! predicate is true of every item of a lane (`_ -startsWith "[ZTDId]"`),
//! a test of the device's lane mask. The per-value results come from the
//! reference evaluator's own functions (`scalar_matches`, `eval_node`), so
//! the two evaluators cannot disagree about semantics, only about plumbing,
//! which the property test `columnar_agrees_with_reference` checks.
//!
//! Lanes a predicate cannot match are skipped without evaluating it on
//! their values: `_ -eq "[OrderID]:NL-LT-FIN"` only looks at the
//! `[OrderId]` lane (twenty distinct tags), never at the millions of
//! `[ZTDId]` and hardware-hash items (see [`analyze`]).
//!
//! Execution is chunked: 4,096 devices (64 words of bits) at a time, all
//! rules of the set per chunk while its columns are in cache, chunks in
//! parallel with rayon. Conjuncts run cheapest first and a chunk stops an
//! `-and` as soon as no device is left. Results do not depend on the thread
//! count: each chunk writes only its own words.

use std::sync::Mutex;

#[cfg(not(feature = "parallel"))]
use crate::par::prelude::*;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::fleet::column::{lane_of, Bitmap, Codes, CollectionColumn, PHYSICAL_ID_LANES};
use crate::fleet::index::{is_bool_slot, scalar_slot, FleetIndex};
use crate::inventory::Projection;
use crate::rule::ast::Quantifier;
use crate::rule::check::{Matcher, Node, NodeKind, Program, Subject};
use crate::rule::eval::{eval_node, fold, scalar_matches, string_matches, Item};
use crate::rule::regex::take_eval_error;
use crate::rule::{DeviceProperty, ObjectType, Property, Record, Rule, Scalar};

const CHUNK: usize = 4096;
const WORDS: usize = CHUNK / 64;

/// Which collection a lane plan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coll {
    PhysicalIds,
    SystemLabels,
    MemberOf,
}

#[derive(Debug)]
enum Plan {
    Const(bool),
    /// `table[code]` is the result for a device whose code is `code`.
    Table {
        slot: usize,
        table: Vec<u8>,
    },
    /// Exactly one code is true.
    EqCode {
        slot: usize,
        code: u32,
    },
    /// `((lane mask & mask) != 0) != negate`.
    Mask {
        coll: Coll,
        mask: u16,
        negate: bool,
    },
    /// Any item in a `present` lane, or any item whose lane table says
    /// true; then `!= negate`.
    Lanes {
        coll: Coll,
        present: u16,
        tables: Vec<(usize, Vec<u8>)>,
        negate: bool,
    },
    Not(Box<Plan>),
    And(Vec<Plan>),
    Or(Vec<Plan>),
}

impl Plan {
    fn cost(&self) -> u32 {
        match self {
            Plan::Const(_) => 0,
            Plan::EqCode { .. } | Plan::Mask { .. } => 1,
            Plan::Table { .. } => 2,
            Plan::Lanes { tables, .. } => 3 + 2 * tables.len() as u32,
            Plan::Not(p) => p.cost(),
            Plan::And(ps) | Plan::Or(ps) => ps.iter().map(Plan::cost).sum(),
        }
    }
}

/// Why a rule cannot be compiled for a device index.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompileError {
    /// The rule selects users.
    #[error("rule {index} selects users; the columnar index holds devices")]
    NotADeviceRule {
        /// Position of the rule in the set.
        index: usize,
    },
    /// Evaluating the rule on some device's value failed (a backtracking
    /// `-match` that ran out of steps); [`crate::rule::Rule::try_matches`]
    /// on each device names the device.
    #[error("rule {index}: {message}")]
    Evaluation {
        /// Position of the rule in the set.
        index: usize,
        /// What failed.
        message: String,
    },
    /// A section of a packed index that the rules read failed its checksum
    /// or its invariants ([`FleetIndex::open`] verifies sections on first use).
    #[error("{message}")]
    Damaged {
        /// What is wrong, naming the file and section.
        message: String,
    },
    /// The index was loaded for other rules ([`CompiledSet::projection`])
    /// and lacks what this one reads: answering would read unset values.
    #[error(
        "rule {index} reads {what}, which this index was loaded without (it was loaded for other \
         rules); load the inventory again for this rule set"
    )]
    NotLoaded {
        /// Position of the rule in the set.
        index: usize,
        /// The property (and, for `devicePhysicalIds`, the item classes) not loaded.
        what: String,
    },
}

/// Rules compiled against one index; evaluates them all in one pass.
///
/// ```
/// use fleetlab::fleet::{CompiledSet, FleetIndex};
/// use fleetlab::inventory::Device;
/// use fleetlab::rule::Rule;
/// let devices: Vec<Device> = serde_json::from_str(r#"[
///     {"id": "a", "operatingSystem": "Windows", "physicalIds": ["[ZTDId]:1"]},
///     {"id": "b", "operatingSystem": "windows"}
/// ]"#)?;
/// let index = FleetIndex::from_devices(&devices)?;
/// let autopilot = Rule::new(r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#)?;
/// let windows = Rule::new(r#"device.deviceOSType -eq "Windows""#)?;
/// let set = CompiledSet::compile(&[&autopilot, &windows], &index)?;
/// let members = set.evaluate();
/// assert_eq!(members[0].count(), 1);
/// assert_eq!(members[1].count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CompiledSet<'a> {
    index: &'a FleetIndex,
    plans: Vec<Plan>,
}

impl std::fmt::Debug for CompiledSet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSet").field("rules", &self.plans.len()).finish()
    }
}

/// Reads nothing: item predicates only look at the item.
struct NoRecord;
impl Record for NoRecord {
    fn scalar(&self, _: &Property) -> Scalar<'_> {
        Scalar::Null
    }
}

fn bools(values: Vec<bool>) -> Vec<u8> {
    values.into_iter().map(u8::from).collect()
}

/// Evaluates `f` over `n` values, in parallel when there are many; the
/// first evaluation error (a backtracking `-match` out of steps) lands in
/// `failure`, on whichever thread it happened.
fn map_values<'v>(
    values: Vec<&'v str>,
    f: &(dyn Fn(&str) -> bool + Sync),
    failure: &Mutex<Option<String>>,
) -> Vec<bool> {
    let run = |v: &&str| {
        let hit = f(v);
        if let Some(e) = take_eval_error() {
            if let Ok(mut slot) = failure.lock() {
                slot.get_or_insert(e);
            }
        }
        hit
    };
    if values.len() > 20_000 {
        values.par_iter().map(run).collect()
    } else {
        values.iter().map(run).collect()
    }
}

impl<'a> CompiledSet<'a> {
    /// Compiles `rules` for `index`.
    pub fn compile(rules: &[&Rule], index: &'a FleetIndex) -> Result<CompiledSet<'a>, CompileError> {
        if let Some(i) = rules.iter().position(|r| r.object() != ObjectType::Device) {
            return Err(CompileError::NotADeviceRule { index: i });
        }
        for (k, rule) in rules.iter().enumerate() {
            check_loaded(k, rule, index)?;
        }
        // Rules compile independently; a set of fifty spreads over the cores.
        let plans: Vec<Result<Plan, CompileError>> = rules
            .par_iter()
            .enumerate()
            .map(|(k, rule)| {
                let compiler = Compiler {
                    index,
                    failure: Mutex::new(None),
                    damaged: Mutex::new(None),
                    unloaded: Mutex::new(0),
                };
                let plan = compiler.program(rule.program());
                if let Some(message) = compiler.damaged.into_inner().ok().flatten() {
                    return Err(CompileError::Damaged { message });
                }
                let unloaded = compiler.unloaded.into_inner().unwrap_or(u16::MAX);
                if unloaded != 0 {
                    return Err(CompileError::NotLoaded { index: k, what: lane_names(unloaded) });
                }
                match compiler.failure.into_inner().ok().flatten() {
                    Some(message) => Err(CompileError::Evaluation { index: k, message }),
                    None => Ok(plan),
                }
            })
            .collect();
        Ok(CompiledSet { index, plans: plans.into_iter().collect::<Result<_, _>>()? })
    }

    /// What a device index must load for `rules`, and no more: their
    /// fields (see [`Projection::for_rules`]) and, of `devicePhysicalIds`,
    /// the text of only those item classes whose values the plans read.
    /// `-any (_ -startsWith "[ZTDId]")` is answered from each device's lane
    /// mask, so it loads no item text at all.
    ///
    /// ```
    /// use fleetlab::fleet::CompiledSet;
    /// use fleetlab::rule::Rule;
    /// let rule = Rule::new(r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#)?;
    /// let projection = CompiledSet::projection(&[&rule]);
    /// assert!(projection.reads("physicalIds") && !projection.reads("model"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn projection(rules: &[&Rule]) -> Projection {
        let lanes = rules.iter().fold(0u16, |acc, r| acc | physical_id_lanes_read(r.program()));
        Projection::for_rules(rules).with_physical_id_lanes(lanes)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.plans.len()
    }

    /// True for an empty set.
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// Members of each rule, in rule order.
    pub fn evaluate(&self) -> Vec<Bitmap> {
        let n = self.index.len();
        let r = self.plans.len();
        let chunks = n.div_ceil(CHUNK);
        let mut buf = vec![0u64; chunks * r * WORDS];
        if r > 0 {
            buf.par_chunks_mut(r * WORDS).enumerate().for_each_init(Scratch::default, |scratch, (c, out)| {
                let start = c * CHUNK;
                let len = CHUNK.min(n - start);
                for (k, plan) in self.plans.iter().enumerate() {
                    if let Some(o) = out.get_mut(k * WORDS..(k + 1) * WORDS) {
                        run(plan, self.index, start, len, o, scratch, 0);
                        mask_tail(o, len);
                    }
                }
            });
        }
        (0..r)
            .map(|k| {
                let mut words = Vec::with_capacity(n.div_ceil(64));
                for c in 0..chunks {
                    let len = CHUNK.min(n - c * CHUNK);
                    let base = (c * r + k) * WORDS;
                    words.extend_from_slice(buf.get(base..base + len.div_ceil(64)).unwrap_or(&[]));
                }
                Bitmap { words, len: n }
            })
            .collect()
    }
}

struct Compiler<'a> {
    index: &'a FleetIndex,
    failure: Mutex<Option<String>>,
    /// The first packed section found damaged while compiling.
    damaged: Mutex<Option<String>>,
    /// `devicePhysicalIds` lanes whose text a plan needed but the index was
    /// loaded without ([`check_loaded`] refuses these first; this is the
    /// planner's own guard, so the two cannot drift into a wrong answer).
    unloaded: Mutex<u16>,
}

/// Refuses rule `k` when `index` was loaded without something it reads.
fn check_loaded(k: usize, rule: &Rule, index: &FleetIndex) -> Result<(), CompileError> {
    if let Some(p) = rule.properties().into_iter().find(|p| !index.loaded.reads_property(p)) {
        return Err(CompileError::NotLoaded { index: k, what: format!("`{}`", p.graph_field()) });
    }
    let missing = physical_id_lanes_read(rule.program()) & !index.physical_ids.loaded;
    if missing != 0 {
        return Err(CompileError::NotLoaded { index: k, what: lane_names(missing) });
    }
    Ok(())
}

/// The item classes of `devicePhysicalIds` lanes `lanes`, for an error.
fn lane_names(lanes: u16) -> String {
    let names: Vec<String> = (0..=PHYSICAL_ID_LANES.len())
        .filter(|k| lanes & (1 << k) != 0)
        .map(|k| PHYSICAL_ID_LANES.get(k).map_or("other".to_string(), |p| p.text.to_string()))
        .collect();
    format!("the text of `physicalIds` items of the classes {}", names.join(", "))
}

/// Lanes of `devicePhysicalIds` whose item text `program` needs: for each
/// test of the collection, the lanes its items may match in but not all
/// match in (those are answered from the lane mask). Mirrors
/// [`Compiler::node`]'s calls of [`Compiler::lanes`].
fn physical_id_lanes_read(program: &Program) -> u16 {
    fn node(n: &Node) -> u16 {
        match &n.kind {
            NodeKind::Or(parts) | NodeKind::And(parts) => parts.iter().fold(0, |acc, p| acc | node(p)),
            NodeKind::Not(inner) => node(inner),
            NodeKind::Test(t) => match (&t.subject, &t.matcher) {
                (_, Matcher::IsNull) => 0,
                (Subject::Property(Property::Device(DeviceProperty::DevicePhysicalIds)), m) => {
                    let (possible, all_true) = analyze_test(m, false);
                    possible & !all_true
                }
                _ => 0,
            },
            NodeKind::Quantified { property, quantifier, predicate, .. } => match property {
                Property::Device(DeviceProperty::DevicePhysicalIds) => {
                    let (possible, all_true) = analyze(predicate, *quantifier == Quantifier::All);
                    possible & !all_true
                }
                _ => 0,
            },
        }
    }
    let lanes = (1u16 << (PHYSICAL_ID_LANES.len() + 1)) - 1;
    match program {
        Program::Expr(n) => node(n) & lanes,
        Program::MemberOf { .. } | Program::DirectReports { .. } => 0,
    }
}

impl Compiler<'_> {
    /// True when `check` (verifying a packed section before the plan reads
    /// it) passes; otherwise records why, and the plan built is discarded.
    fn verified(&self, check: Result<(), std::sync::Arc<str>>) -> bool {
        match check {
            Ok(()) => true,
            Err(e) => {
                if let Ok(mut slot) = self.damaged.lock() {
                    slot.get_or_insert_with(|| e.to_string());
                }
                false
            }
        }
    }

    fn program(&self, p: &Program) -> Plan {
        match p {
            Program::Expr(node) => self.node(node),
            Program::MemberOf { ids, .. } => {
                let pred = |v: &str| ids.binary_search(&fold(v)).is_ok();
                self.lanes(Coll::MemberOf, &pred, (u16::MAX, 0), false)
            }
            // Checked rules never put Direct Reports on devices.
            Program::DirectReports { .. } => Plan::Const(false),
        }
    }

    fn node(&self, node: &Node) -> Plan {
        match &node.kind {
            NodeKind::Or(parts) => {
                let mut ps: Vec<Plan> = parts.iter().map(|p| self.node(p)).collect();
                if ps.iter().any(|p| matches!(p, Plan::Const(true))) {
                    return Plan::Const(true);
                }
                ps.retain(|p| !matches!(p, Plan::Const(false)));
                ps.sort_by_key(Plan::cost);
                match ps.len() {
                    0 => Plan::Const(false),
                    1 => ps.pop().unwrap_or(Plan::Const(false)),
                    _ => Plan::Or(ps),
                }
            }
            NodeKind::And(parts) => {
                let mut ps: Vec<Plan> = parts.iter().map(|p| self.node(p)).collect();
                if ps.iter().any(|p| matches!(p, Plan::Const(false))) {
                    return Plan::Const(false);
                }
                ps.retain(|p| !matches!(p, Plan::Const(true)));
                ps.sort_by_key(Plan::cost);
                match ps.len() {
                    0 => Plan::Const(true),
                    1 => ps.pop().unwrap_or(Plan::Const(true)),
                    _ => Plan::And(ps),
                }
            }
            NodeKind::Not(inner) => match self.node(inner) {
                Plan::Const(b) => Plan::Const(!b),
                Plan::Mask { coll, mask, negate } => Plan::Mask { coll, mask, negate: !negate },
                Plan::Lanes { coll, present, tables, negate } => {
                    Plan::Lanes { coll, present, tables, negate: !negate }
                }
                p => Plan::Not(Box::new(p)),
            },
            NodeKind::Test(t) => {
                let Subject::Property(property) = &t.subject else { return Plan::Const(false) };
                let device = match property {
                    Property::Device(p) => *p,
                    Property::Extension { name, .. } => {
                        return match self.index.extension_slot(name) {
                            Some(slot) => self.scalar(slot, &|s| scalar_matches(&t.matcher, s) != t.negated),
                            // No device has it: every device reads null.
                            None => Plan::Const(scalar_matches(&t.matcher, Scalar::Null) != t.negated),
                        };
                    }
                    Property::User(_) => return Plan::Const(false),
                };
                if let Some(coll) = coll_of(device) {
                    if !self.verified(coll_ref(self.index, coll).verify_mask(self.index.len())) {
                        return Plan::Const(false);
                    }
                    if let Matcher::IsNull = t.matcher {
                        // Empty collection: no lane bit set.
                        return Plan::Mask { coll, mask: u16::MAX, negate: !t.negated };
                    }
                    let m = &t.matcher;
                    let pred = |v: &str| string_matches(m, v);
                    let hint = if coll == Coll::PhysicalIds { analyze_test(m, false) } else { (u16::MAX, 0) };
                    return self.lanes(coll, &pred, hint, t.negated);
                }
                let Some(slot) = scalar_slot(device) else { return Plan::Const(false) };
                if let Some(col) = self.index.column(slot) {
                    if !self.verified(col.verify(self.index.len())) {
                        return Plan::Const(false);
                    }
                }
                if let Matcher::IsNull = t.matcher {
                    // Null is code 0 in every column: no need to visit the dictionary.
                    let eq = Plan::EqCode { slot, code: 0 };
                    return if t.negated { Plan::Not(Box::new(eq)) } else { eq };
                }
                self.scalar(slot, &|s| scalar_matches(&t.matcher, s) != t.negated)
            }
            NodeKind::Quantified { property, quantifier, predicate, .. } => {
                let Property::Device(device) = property else { return Plan::Const(false) };
                let Some(coll) = coll_of(*device) else { return Plan::Const(false) };
                // all(p) == !any(!p)
                let invert = *quantifier == Quantifier::All;
                let pred = |v: &str| eval_node(predicate, &NoRecord, Item::Str(v)) != invert;
                let hint = if coll == Coll::PhysicalIds { analyze(predicate, invert) } else { (u16::MAX, 0) };
                self.lanes(coll, &pred, hint, invert)
            }
        }
    }

    fn scalar(&self, slot: usize, f: &(dyn Fn(Scalar<'_>) -> bool + Sync)) -> Plan {
        let Some(col) = self.index.column(slot) else { return Plan::Const(false) };
        if !self.verified(col.verify(self.index.len())) {
            return Plan::Const(false);
        }
        let is_bool = is_bool_slot(slot);
        let values: Vec<&str> = col.dict.values().collect();
        let mut table = vec![f(Scalar::Null)];
        table.extend(map_values(
            values,
            &|v| {
                if is_bool {
                    f(Scalar::Bool(v == "true"))
                } else {
                    f(Scalar::Str(v))
                }
            },
            &self.failure,
        ));
        let trues = table.iter().filter(|b| **b).count();
        if trues == 0 {
            return Plan::Const(false);
        }
        if trues == table.len() {
            return Plan::Const(true);
        }
        if trues == 1 && !table[0] {
            if let Some(code) = table.iter().position(|b| *b) {
                return Plan::EqCode { slot, code: code as u32 };
            }
        }
        Plan::Table { slot, table: bools(table) }
    }

    /// `any(items, pred) != negate`, using the lane hint `(possible, all_true)`.
    fn lanes(
        &self,
        coll: Coll,
        pred: &(dyn Fn(&str) -> bool + Sync),
        hint: (u16, u16),
        negate: bool,
    ) -> Plan {
        let (possible, all_true) = hint;
        let column = coll_ref(self.index, coll);
        if !self.verified(column.verify_mask(self.index.len())) {
            return Plan::Const(false);
        }
        let mut present = 0u16;
        let mut tables = Vec::new();
        for (k, lane) in column.lanes.iter().enumerate() {
            let bit = 1u16 << k;
            if possible & bit == 0 {
                continue;
            }
            // From the mask alone: right whether or not the lane has text.
            if all_true & bit != 0 {
                present |= bit;
                continue;
            }
            if column.loaded & bit == 0 {
                if let Ok(mut unloaded) = self.unloaded.lock() {
                    *unloaded |= bit;
                }
                continue;
            }
            if lane.dict.len() == 0 {
                continue;
            }
            if !self.verified(lane.verify(self.index.len())) {
                return Plan::Const(false);
            }
            let mut table = vec![false];
            table.extend(map_values(lane.dict.values().collect(), pred, &self.failure));
            let trues = table.iter().filter(|b| **b).count();
            if trues == 0 {
                continue;
            }
            if trues == table.len() - 1 {
                present |= bit;
            } else {
                tables.push((k, bools(table)));
            }
        }
        if tables.is_empty() {
            if present == 0 {
                return Plan::Const(negate);
            }
            return Plan::Mask { coll, mask: present, negate };
        }
        Plan::Lanes { coll, present, tables, negate }
    }
}

fn coll_of(p: DeviceProperty) -> Option<Coll> {
    match p {
        DeviceProperty::DevicePhysicalIds => Some(Coll::PhysicalIds),
        DeviceProperty::SystemLabels => Some(Coll::SystemLabels),
        DeviceProperty::MemberOf => Some(Coll::MemberOf),
        _ => None,
    }
}

const ALL_LANES: u16 = u16::MAX;
const OTHER_LANE: u16 = 1 << PHYSICAL_ID_LANES.len();

/// Lanes an item starting with folded `c` can be in, and lanes whose every
/// item starts with `c`.
fn starts_with_lanes(c: &str) -> (u16, u16) {
    if c.is_empty() {
        // Every item starts with "", but an empty item is null to the
        // reference (positive operators on null are false), and empty items
        // live in the other lane: it may match, it is not all-true. Items of
        // a known lane are never empty. (Found by tests/it/columnar_props.rs:
        // `-any (_ -startsWith "")` selected a device whose only item is "".)
        return (ALL_LANES, ALL_LANES & !OTHER_LANE);
    }
    let mut possible = 0u16;
    let mut all_true = 0u16;
    let mut inside_known = false;
    for (k, p) in PHYSICAL_ID_LANES.iter().enumerate() {
        if c.starts_with(p.text) {
            possible |= 1 << k;
            inside_known = true;
        }
        if p.text.starts_with(c) {
            possible |= 1 << k;
            all_true |= 1 << k;
        }
    }
    if !inside_known {
        possible |= OTHER_LANE;
    }
    (possible, all_true)
}

/// The literal, folded text an anchored regex must start with.
fn regex_prefix(pattern: &str) -> Option<String> {
    let body = pattern.strip_prefix('^')?;
    if pattern.contains('|') {
        return None;
    }
    let mut lit = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let (ch, next) = match c {
            '\\' => match chars.next() {
                Some(n) if n.is_ascii_punctuation() => (n, chars.peek().copied()),
                _ => break,
            },
            c if c.is_alphanumeric() || " :-_@/,;'\"=<>!%&~#`".contains(c) => (c, chars.peek().copied()),
            _ => break,
        };
        if matches!(next, Some('*' | '?' | '{')) {
            break;
        }
        lit.push(ch);
    }
    (!lit.is_empty()).then(|| fold(&lit))
}

/// `(possible, all_true)` lane masks of a leaf test `m` (negated when `neg`).
fn analyze_test(m: &Matcher, neg: bool) -> (u16, u16) {
    if neg {
        return (ALL_LANES, 0);
    }
    let equals = |c: &str| 1u16 << lane_of(PHYSICAL_ID_LANES, c);
    match m {
        Matcher::Equals(c) => (equals(c), 0),
        Matcher::StartsWith(c) => starts_with_lanes(c),
        Matcher::InList(items) => (items.iter().fold(0, |acc, c| acc | equals(c)), 0),
        Matcher::Regex(re) => match regex_prefix(re.as_str()).map(|p| p.replace('\u{17F}', "s")) {
            // Case-insensitive regexes also match `ſ` for `s` and the Kelvin
            // sign for `k`, which the ASCII lane split does not see. These
            // are the only non-ASCII letters the regex crate equates with
            // ASCII ones, both ways round: a `ſ` in the pattern matches the
            // `s` of `[purchaseorderid]`/`[user-…]` items (folding keeps `ſ`,
            // so it is mapped to `s` above before lanes are picked; the
            // Kelvin sign was already folded to `k`), and an `s`/`k` in the
            // pattern matches items spelt with `ſ`/`K`, which are in the other
            // lane. (Found by tests/it/columnar_props.rs: `^\[purchaſeorderid\]`
            // looked only at the other lane.)
            Some(p) if p.contains(['s', 'k']) => (starts_with_lanes(&p).0 | OTHER_LANE, 0),
            Some(p) => (starts_with_lanes(&p).0, 0),
            None => (ALL_LANES, 0),
        },
        _ => (ALL_LANES, 0),
    }
}

/// `(possible, all_true)` lane masks of the item predicate `node != inverted`:
/// a superset of the lanes where it can hold, and a subset of the lanes
/// where it holds for every item.
fn analyze(node: &Node, inverted: bool) -> (u16, u16) {
    match &node.kind {
        NodeKind::Test(t) => match t.subject {
            Subject::Item => analyze_test(&t.matcher, t.negated != inverted),
            _ => (ALL_LANES, 0),
        },
        NodeKind::Not(inner) => analyze(inner, !inverted),
        NodeKind::And(parts) | NodeKind::Or(parts) => {
            let conjunction = matches!(node.kind, NodeKind::And(_)) != inverted;
            let each = parts.iter().map(|p| analyze(p, inverted));
            if conjunction {
                each.fold((ALL_LANES, ALL_LANES), |(p, a), (pi, ai)| (p & pi, a & ai))
            } else {
                each.fold((0, 0), |(p, a), (pi, ai)| (p | pi, a | ai))
            }
        }
        NodeKind::Quantified { .. } => (ALL_LANES, 0),
    }
}

#[derive(Default)]
struct Scratch {
    bufs: Vec<Vec<u64>>,
}

fn mask_tail(out: &mut [u64], len: usize) {
    let full = len / 64;
    let rem = len % 64;
    for (w, word) in out.iter_mut().enumerate() {
        if w > full || (w == full && rem == 0) {
            *word = 0;
        } else if w == full {
            *word &= (1u64 << rem) - 1;
        }
    }
}

/// Multiplying eight 0/1 bytes by this gathers them into the top byte,
/// byte `i` to bit `56 + i`: the partial products never collide or carry.
const GATHER: u64 = 0x0102_0408_1020_4080;

/// Packs `f(src[i])` into bits.
///
/// Why two steps: writing 0/1 bytes is a loop the compiler vectorizes
/// (comparisons, masks); gathering eight bytes per multiply then costs an
/// eighth of an instruction per device, where shifting each bit into place
/// costs three.
#[inline]
fn pack<T: Copy>(src: &[T], out: &mut [u64], f: impl Fn(T) -> bool) {
    let mut bytes = [0u8; 64];
    for (word, chunk) in out.iter_mut().zip(src.chunks(64)) {
        if chunk.len() < 64 {
            bytes = [0u8; 64];
        }
        for (b, &c) in bytes.iter_mut().zip(chunk) {
            *b = u8::from(f(c));
        }
        let mut x = 0u64;
        for (k, eight) in bytes.chunks_exact(8).enumerate() {
            let mut le = [0u8; 8];
            le.copy_from_slice(eight);
            x |= (u64::from_le_bytes(le).wrapping_mul(GATHER) >> 56) << (8 * k);
        }
        *word = x;
    }
}

fn codes_slice<'c>(codes: &'c Codes, start: usize, len: usize) -> CodesSlice<'c> {
    match codes {
        Codes::U8(v) => CodesSlice::U8(v.get(start..start + len).unwrap_or(&[])),
        Codes::U16(v) => CodesSlice::U16(v.get(start..start + len).unwrap_or(&[])),
        Codes::U32(v) => CodesSlice::U32(v.get(start..start + len).unwrap_or(&[])),
    }
}

enum CodesSlice<'c> {
    U8(&'c [u8]),
    U16(&'c [u16]),
    U32(&'c [u32]),
}

fn pack_table(codes: &Codes, start: usize, len: usize, table: &[u8], out: &mut [u64]) {
    let t = |c: usize| table.get(c).is_some_and(|v| *v != 0);
    match codes_slice(codes, start, len) {
        CodesSlice::U8(s) => {
            // A full 256-entry table lets the compiler drop the bounds check.
            let mut full = [0u8; 256];
            for (i, v) in table.iter().take(256).enumerate() {
                full[i] = *v;
            }
            pack(s, out, |c| full[usize::from(c)] != 0)
        }
        CodesSlice::U16(s) => pack(s, out, |c| t(usize::from(c))),
        CodesSlice::U32(s) => pack(s, out, |c| t(c as usize)),
    }
}

fn or_table(codes: &Codes, start: usize, len: usize, table: &[u8], out: &mut [u64]) {
    let mut tmp = [0u64; WORDS];
    pack_table(codes, start, len, table, &mut tmp);
    for (o, t) in out.iter_mut().zip(tmp) {
        *o |= t;
    }
}

fn run(
    plan: &Plan,
    ix: &FleetIndex,
    start: usize,
    len: usize,
    out: &mut [u64],
    scratch: &mut Scratch,
    depth: usize,
) {
    let words = len.div_ceil(64);
    match plan {
        Plan::Const(b) => out.iter_mut().for_each(|w| *w = if *b { u64::MAX } else { 0 }),
        Plan::Table { slot, table } => {
            if let Some(col) = ix.column(*slot) {
                pack_table(&col.codes, start, len, table, out);
            }
        }
        Plan::EqCode { slot, code } => {
            if let Some(col) = ix.column(*slot) {
                match codes_slice(&col.codes, start, len) {
                    CodesSlice::U8(s) => pack(s, out, |c| u32::from(c) == *code),
                    CodesSlice::U16(s) => pack(s, out, |c| u32::from(c) == *code),
                    CodesSlice::U32(s) => pack(s, out, |c| c == *code),
                }
            }
        }
        Plan::Mask { coll, mask, negate } => {
            let column = coll_ref(ix, *coll);
            let m = column.mask.get(start..start + len).unwrap_or(&[]);
            pack(m, out, |x| (x & mask != 0) != *negate);
        }
        Plan::Lanes { coll, present, tables, negate } => {
            let column = coll_ref(ix, *coll);
            let m = column.mask.get(start..start + len).unwrap_or(&[]);
            pack(m, out, |x| x & present != 0);
            for (lane, table) in tables {
                let Some(l) = column.lanes.get(*lane) else { continue };
                or_table(&l.first, start, len, table, out);
                let from = l.extra.partition_point(|[d, _]| (*d as usize) < start);
                for &[d, code] in l.extra.get(from..).unwrap_or(&[]) {
                    let i = d as usize - start;
                    if i >= len {
                        break;
                    }
                    if table.get(code as usize).is_some_and(|v| *v != 0) {
                        if let Some(w) = out.get_mut(i / 64) {
                            *w |= 1 << (i % 64);
                        }
                    }
                }
            }
            if *negate {
                out.iter_mut().for_each(|w| *w = !*w);
            }
        }
        Plan::Not(inner) => {
            run(inner, ix, start, len, out, scratch, depth + 1);
            out.iter_mut().for_each(|w| *w = !*w);
        }
        Plan::And(parts) | Plan::Or(parts) => {
            let and = matches!(plan, Plan::And(_));
            let mut first = true;
            for p in parts {
                if first {
                    run(p, ix, start, len, out, scratch, depth + 1);
                    first = false;
                    continue;
                }
                if and && out[..words.min(out.len())].iter().all(|w| *w == 0) {
                    break;
                }
                if scratch.bufs.len() <= depth {
                    scratch.bufs.resize_with(depth + 1, Vec::new);
                }
                let mut tmp = std::mem::take(&mut scratch.bufs[depth]);
                tmp.resize(WORDS, 0);
                run(p, ix, start, len, &mut tmp, scratch, depth + 1);
                for (o, t) in out.iter_mut().zip(&tmp) {
                    if and {
                        *o &= t;
                    } else {
                        *o |= t;
                    }
                }
                scratch.bufs[depth] = tmp;
            }
        }
    }
}

fn coll_ref(ix: &FleetIndex, c: Coll) -> &CollectionColumn {
    match c {
        Coll::PhysicalIds => &ix.physical_ids,
        Coll::SystemLabels => &ix.system_labels,
        Coll::MemberOf => &ix.member_of,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_matches_bit_by_bit() {
        let src: Vec<u8> = (0..200u32).map(|i| (i * 7 % 5) as u8).collect();
        for len in [0, 1, 63, 64, 65, 130, 200] {
            let mut out = [0u64; 4];
            pack(&src[..len], &mut out, |c| c == 3);
            for i in 0..len {
                assert_eq!(out[i / 64] >> (i % 64) & 1 == 1, src[i] == 3, "len {len}, bit {i}");
            }
        }
    }

    #[test]
    fn regex_prefixes_stop_at_the_first_metacharacter() {
        assert_eq!(regex_prefix(r"^\[OrderID\]:.*-LT-.*").as_deref(), Some("[orderid]:"));
        assert_eq!(regex_prefix(r"^abc*").as_deref(), Some("ab"));
        assert_eq!(regex_prefix(r"^a|b"), None);
        assert_eq!(regex_prefix(r"abc"), None);
        assert_eq!(regex_prefix(r"^\d"), None);
    }

    #[test]
    fn lane_analysis_of_tag_prefixes() {
        let ztd = 1u16;
        assert_eq!(starts_with_lanes("[ztdid]"), (ztd, ztd));
        assert_eq!(starts_with_lanes("[ztdid]:abc"), (ztd, 0));
        let (possible, all) = starts_with_lanes("[zt");
        assert_eq!((possible & ztd, all & ztd, possible & OTHER_LANE), (ztd, ztd, OTHER_LANE));
    }
}

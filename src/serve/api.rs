//! The rule endpoints: check, eval, explain. Each is a plain function of
//! the loaded state and a request, so the HTTP layer only parses, times
//! and serialises.

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::state::Loaded;
use super::Limits;
use crate::fleet::{CompileError, CompiledSet, FleetIndex};
use crate::inventory::{Device, HasId, User};
use crate::rule::{self, Explanation, ObjectType, Options, Rule, Timestamp};

/// How to read a rule: the options every rule endpoint takes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// The rule text.
    pub rule: String,
    /// `device` or `user`; by default whatever the rule names.
    #[serde(default)]
    pub object: Option<ObjectType>,
    /// Accept an en dash as a hyphen, as the Microsoft docs print it.
    #[serde(default)]
    pub lenient: bool,
    /// Also warn about property names not in their documented casing.
    #[serde(default)]
    pub strict: bool,
    /// The instant `system.now` stands for (ISO 8601); the current time by default.
    #[serde(default)]
    pub now: Option<String>,
}

/// `POST /api/v1/check`.
pub type CheckRequest = RuleInput;

/// `POST /api/v1/check` answer: the shape of `fleetlab check --format json`.
#[derive(Debug, Serialize)]
pub struct CheckResponse {
    /// True when the rule is valid.
    pub valid: bool,
    /// The rule as given (its ends only when it is longer than Entra accepts).
    pub rule: String,
    /// The canonical form, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    /// The object type it selects, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectType>,
    /// Each error: code, message, help, byte span, line, column, text.
    pub errors: Vec<serde_json::Value>,
    /// Each warning: code, message, span, line, column.
    pub warnings: Vec<serde_json::Value>,
}

/// `POST /api/v1/eval`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalRequest {
    /// The rule text.
    pub rule: String,
    /// `device` or `user`; by default whatever the rule names.
    #[serde(default)]
    pub object: Option<ObjectType>,
    /// Accept an en dash as a hyphen.
    #[serde(default)]
    pub lenient: bool,
    /// Warn about non-canonical property casing.
    #[serde(default)]
    pub strict: bool,
    /// The instant `system.now` stands for.
    #[serde(default)]
    pub now: Option<String>,
    /// Evaluate against these Graph device objects instead of the loaded inventory.
    #[serde(default)]
    pub devices: Option<Vec<Device>>,
    /// Evaluate against these Graph user objects instead of the loaded users.
    #[serde(default)]
    pub users: Option<Vec<User>>,
    /// The first member to list (paging).
    #[serde(default)]
    pub offset: usize,
    /// How many members to list (default 10,000).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Also list each listed member's display name.
    #[serde(default)]
    pub names: bool,
}

/// Where the time of a request went, in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Timings {
    /// Parsing and checking the rule.
    pub check_ms: f64,
    /// Indexing inline records (0 for the loaded inventory).
    pub index_ms: f64,
    /// Compiling and evaluating.
    pub eval_ms: f64,
}

/// `POST /api/v1/eval` answer.
#[derive(Debug, Serialize)]
pub struct EvalResponse {
    /// The rule as evaluated.
    pub rule: String,
    /// The object type it selects.
    pub object: ObjectType,
    /// Members in all.
    pub count: usize,
    /// Objects evaluated.
    pub total: usize,
    /// The first listed member's position.
    pub offset: usize,
    /// The page size used.
    pub limit: usize,
    /// Member ids of this page, in inventory order (as `fleetlab eval` prints them).
    pub ids: Vec<String>,
    /// Display names of this page's members, with `"names": true`.
    #[serde(skip_serializing_if = "Option::is_none", rename = "displayNames")]
    pub display_names: Option<Vec<Option<String>>>,
    /// The offset of the next page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
    /// Where the time went.
    pub timings: Timings,
}

/// `POST /api/v1/explain`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// The rule text.
    pub rule: String,
    /// `device` or `user`; by default whatever the rule names.
    #[serde(default)]
    pub object: Option<ObjectType>,
    /// Accept an en dash as a hyphen.
    #[serde(default)]
    pub lenient: bool,
    /// Warn about non-canonical property casing.
    #[serde(default)]
    pub strict: bool,
    /// The instant `system.now` stands for.
    #[serde(default)]
    pub now: Option<String>,
    /// The device (id, deviceId or exact display name).
    #[serde(default)]
    pub device: Option<String>,
    /// The user (id or exact display name).
    #[serde(default)]
    pub user: Option<String>,
}

/// `POST /api/v1/explain` answer.
#[derive(Debug, Serialize)]
pub struct ExplainResponse {
    /// The object's id.
    pub id: String,
    /// Its display name.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// Whether it is a member.
    pub result: bool,
    /// Every sub-expression, as `fleetlab explain --format json` gives it.
    pub explanation: Explanation,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Compiles a rule with the request's options, or the `invalid-rule` error
/// with every diagnostic in `details`.
pub fn compile(input: &RuleInput, limits: &Limits) -> Result<Rule, ApiError> {
    if input.rule.len() > limits.max_rule_bytes {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "rule-too-large",
            format!(
                "the rule is {} bytes; this server accepts at most {}",
                input.rule.len(),
                limits.max_rule_bytes
            ),
        ));
    }
    let now = match &input.now {
        Some(s) => Some(Timestamp::parse(s).map_err(|e| ApiError::bad_request("invalid-now", e.0))?),
        None => None,
    };
    let options = Options { lenient: input.lenient, strict: input.strict, object: input.object, now };
    Rule::with_options(&input.rule, &options).map_err(|errors| {
        let details: Vec<serde_json::Value> =
            errors.iter().map(|e| rule::error_json(e, &input.rule)).collect();
        let first = errors.iter().next().map(ToString::to_string).unwrap_or_default();
        ApiError::bad_request("invalid-rule", first).with_details(serde_json::Value::Array(details))
    })
}

/// Checks a rule: always an answer, valid or not.
pub fn check(req: &CheckRequest, limits: &Limits) -> Result<CheckResponse, ApiError> {
    match compile(req, limits) {
        Ok(rule) => Ok(CheckResponse {
            valid: true,
            rule: rule.source().to_string(),
            canonical: Some(rule.canonical()),
            object: Some(rule.object()),
            errors: Vec::new(),
            warnings: rule.warnings().iter().map(|w| rule::warning_json(w, rule.source())).collect(),
        }),
        Err(e) if e.code == "invalid-rule" => Ok(CheckResponse {
            valid: false,
            rule: rule::quotable(&req.rule).into_owned(),
            canonical: None,
            object: None,
            errors: match e.details {
                Some(serde_json::Value::Array(v)) => v,
                _ => Vec::new(),
            },
            warnings: Vec::new(),
        }),
        Err(e) => Err(e),
    }
}

/// Members of `rule` among `index`'s devices, in index order.
pub fn device_members(rule: &Rule, index: &FleetIndex) -> Result<Vec<usize>, ApiError> {
    match CompiledSet::compile(&[rule], index) {
        Ok(set) => Ok(set.evaluate().first().map(|b| b.ones().collect()).unwrap_or_default()),
        Err(CompileError::Evaluation { message, .. }) => Err(undecidable(&message)),
        Err(e) => Err(ApiError::bad_request("invalid-rule", e.to_string())),
    }
}

/// Members of `rule` among `users`, in order.
pub fn user_members(rule: &Rule, users: &[User]) -> Result<Vec<usize>, ApiError> {
    let results: Vec<Result<bool, rule::EvalError>> = users.par_iter().map(|u| rule.try_matches(u)).collect();
    let mut out = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(true) => out.push(i),
            Ok(false) => {}
            Err(e) => {
                let id = users.get(i).map_or("", |u| u.id());
                return Err(undecidable(&format!("{id}: {}", e.message)));
            }
        }
    }
    Ok(out)
}

fn undecidable(message: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "undecidable",
        format!("cannot evaluate the rule: {message}"),
    )
}

/// Evaluates a rule against the loaded inventory or the request's records.
pub fn eval(loaded: &Loaded, req: EvalRequest, limits: &Limits) -> Result<EvalResponse, ApiError> {
    let started = Instant::now();
    let input = RuleInput {
        rule: req.rule,
        object: req.object,
        lenient: req.lenient,
        strict: req.strict,
        now: req.now,
    };
    let rule = compile(&input, limits)?;
    let check_ms = ms(started);
    let limit = req.limit.unwrap_or(limits.default_page).min(limits.max_page);
    let t = Instant::now();
    let (count, total, index_ms, page) = match rule.object() {
        ObjectType::Device => {
            let inline = match req.devices {
                Some(devices) => Some(
                    FleetIndex::from_devices(&devices)
                        .and_then(FleetIndex::last_record_wins)
                        .map(|(i, _)| i)
                        .map_err(|e| ApiError::bad_request("invalid-devices", e.to_string()))?,
                ),
                None => None,
            };
            let index_ms = ms(t);
            let index = inline.as_ref().unwrap_or(&loaded.index);
            let hits = device_members(&rule, index)?;
            let page: Vec<(String, Option<String>)> = hits
                .iter()
                .skip(req.offset)
                .take(limit)
                .map(|&i| (index.id(i).to_string(), index.display_name(i).map(str::to_string)))
                .collect();
            (hits.len(), index.len(), index_ms, page)
        }
        ObjectType::User => {
            let users: &[User] = req.users.as_deref().unwrap_or(&loaded.users);
            let hits = user_members(&rule, users)?;
            let page: Vec<(String, Option<String>)> = hits
                .iter()
                .skip(req.offset)
                .take(limit)
                .filter_map(|&i| users.get(i))
                .map(|u| (u.id().to_string(), u.display_name().map(str::to_string)))
                .collect();
            (hits.len(), users.len(), 0.0, page)
        }
    };
    let eval_ms = ms(t) - index_ms;
    let end = req.offset.saturating_add(page.len());
    Ok(EvalResponse {
        rule: rule.source().to_string(),
        object: rule.object(),
        count,
        total,
        offset: req.offset,
        limit,
        display_names: req.names.then(|| page.iter().map(|(_, n)| n.clone()).collect()),
        ids: page.into_iter().map(|(id, _)| id).collect(),
        // A zero limit only counts: no next page, or a pager would loop.
        next_offset: (limit > 0 && end < count).then_some(end),
        timings: Timings { check_ms, index_ms, eval_ms },
    })
}

/// Explains one device or user.
pub fn explain(loaded: &Loaded, req: ExplainRequest, limits: &Limits) -> Result<ExplainResponse, ApiError> {
    let input = RuleInput {
        rule: req.rule,
        object: req.object.or(if req.user.is_some() { Some(ObjectType::User) } else { None }),
        lenient: req.lenient,
        strict: req.strict,
        now: req.now,
    };
    let rule = compile(&input, limits)?;
    match rule.object() {
        ObjectType::Device => {
            let key = req.device.as_deref().ok_or_else(|| {
                ApiError::bad_request("missing-field", "give the device to explain in \"device\"")
            })?;
            let i = loaded.index.find(key).map_err(ApiError::not_found)?;
            let device =
                loaded.index.device(i).ok_or_else(|| ApiError::not_found(format!("no device {key:?}")))?;
            let explanation = rule.explain(&device);
            Ok(ExplainResponse {
                id: device.id().to_string(),
                display_name: device.display_name().map(str::to_string),
                result: explanation.result,
                explanation,
            })
        }
        ObjectType::User => {
            let key = req.user.as_deref().or(req.device.as_deref()).ok_or_else(|| {
                ApiError::bad_request("missing-field", "give the user to explain in \"user\"")
            })?;
            let user = find_user(&loaded.users, key)?;
            let explanation = rule.explain(user);
            Ok(ExplainResponse {
                id: user.id().to_string(),
                display_name: user.display_name().map(str::to_string),
                result: explanation.result,
                explanation,
            })
        }
    }
}

/// A user by id (case-insensitive) or exact display name, as `fleetlab explain` finds one.
pub fn find_user<'a>(users: &'a [User], key: &str) -> Result<&'a User, ApiError> {
    if let Some(u) = users.iter().find(|u| u.id().eq_ignore_ascii_case(key)) {
        return Ok(u);
    }
    let named: Vec<&User> = users.iter().filter(|u| u.display_name() == Some(key)).collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(ApiError::not_found(format!("no user with id or display name {key:?}"))),
        many => Err(ApiError::bad_request(
            "ambiguous-name",
            format!("{} users are named {key:?}; give the id instead", many.len()),
        )),
    }
}

//! Graph's `evaluateDynamicMembership` action, answered from the loaded
//! inventory, so that a script written against Graph can point at fleetlab.
//!
//! Shapes follow Microsoft's reference pages:
//! * the action — <https://learn.microsoft.com/en-us/graph/api/group-evaluatedynamicmembership?view=graph-rest-beta>:
//!   `POST /groups/evaluateDynamicMembership` with `{"memberId", "membershipRule"}`,
//!   and `POST /groups/{id}/evaluateDynamicMembership` with `{"memberId"}`
//!   for a group's own rule;
//! * the answer — <https://learn.microsoft.com/en-us/graph/api/resources/evaluatedynamicmembershipresult?view=graph-rest-beta>:
//!   `membershipRule`, `membershipRuleEvaluationResult` and
//!   `membershipRuleEvaluationDetails`, an `expressionEvaluationDetails`
//!   tree (`expression`, `expressionResult`, `propertyToEvaluate`
//!   {`propertyName`, `propertyValue`}, `expressionEvaluationDetails`).
//!
//! Decisions:
//! * fleetlab's explain tree ([`crate::rule::Explanation`]) already has
//!   that tree's shape; here `propertyValue` is flattened to a string as
//!   Graph types it (a collection as its JSON text, a boolean as `true` /
//!   `false`, an unset property as `null`), where `fleetlab explain` keeps
//!   JSON values.
//! * Beyond Graph: `memberIds` (a list, without Graph's one member per
//!   call or the portal's 20) answers `{"value": [result, …]}`, each result
//!   with its `memberId`.
//! * Errors use Graph's codes (`Request_BadRequest`, `Request_ResourceNotFound`)
//!   in Graph's envelope, so a Graph client's error handling applies.

use serde::{Deserialize, Serialize};

use super::api::{self, RuleInput};
use super::error::ApiError;
use super::state::Loaded;
use super::Limits;
use crate::inventory::HasId;
use crate::rule::{Explanation, ObjectType, Rule};

/// The action's body; `membershipRule` is absent for a group's own rule.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateRequest {
    /// The user or device object id.
    #[serde(default)]
    pub member_id: Option<String>,
    /// fleetlab's extension: several members at once.
    #[serde(default)]
    pub member_ids: Option<Vec<String>>,
    /// The rule to test (not with a group id).
    #[serde(default)]
    pub membership_rule: Option<String>,
}

/// `evaluateDynamicMembershipResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateResult {
    /// The member evaluated (fleetlab adds it; Graph's single answer omits it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// The rule evaluated.
    pub membership_rule: String,
    /// Whether the member passes it.
    pub membership_rule_evaluation_result: bool,
    /// Every sub-expression.
    pub membership_rule_evaluation_details: Details,
}

/// `expressionEvaluationDetails`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    /// The sub-expression.
    pub expression: String,
    /// Its result.
    pub expression_result: bool,
    /// The property read and its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_to_evaluate: Option<PropertyToEvaluate>,
    /// Its sub-expressions.
    pub expression_evaluation_details: Vec<Details>,
}

/// `propertyToEvaluate`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyToEvaluate {
    /// `device.deviceOSType`, `_`, …
    pub property_name: String,
    /// The value read, as a string.
    pub property_value: Option<String>,
}

impl From<Explanation> for Details {
    fn from(e: Explanation) -> Details {
        Details {
            expression: e.expression,
            expression_result: e.result,
            property_to_evaluate: e.property.map(|p| PropertyToEvaluate {
                property_name: p.name,
                property_value: match p.value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s),
                    other => Some(other.to_string()),
                },
            }),
            expression_evaluation_details: e.children.into_iter().map(Details::from).collect(),
        }
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("Request_BadRequest", message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_FOUND, "Request_ResourceNotFound", message)
}

/// Answers the action: `group` is the path's group id, if any.
pub fn evaluate(
    loaded: &Loaded,
    group: Option<&str>,
    req: EvaluateRequest,
    limits: &Limits,
) -> Result<serde_json::Value, ApiError> {
    let owned;
    let rule: &Rule = match (group, &req.membership_rule) {
        (Some(id), _) => &loaded.group(id).ok_or_else(|| not_found(format!("no group {id:?}")))?.rule,
        (None, Some(text)) => {
            let input = RuleInput { rule: text.clone(), ..RuleInput::default() };
            owned = api::compile(&input, limits).map_err(|e| ApiError { code: "Request_BadRequest", ..e })?;
            &owned
        }
        (None, None) => {
            return Err(bad("give membershipRule, or call /groups/{id}/evaluateDynamicMembership"))
        }
    };
    let to_json = |r: EvaluateResult| serde_json::to_value(r).map_err(|e| ApiError::internal(e.to_string()));
    match (req.member_id, req.member_ids) {
        (Some(id), None) => to_json(evaluate_one(loaded, rule, &id, false)?),
        (None, Some(ids)) => {
            if ids.len() > limits.max_page {
                return Err(bad(format!(
                    "{} memberIds; this server takes at most {}",
                    ids.len(),
                    limits.max_page
                )));
            }
            let value: Result<Vec<serde_json::Value>, ApiError> =
                ids.iter().map(|id| evaluate_one(loaded, rule, id, true).and_then(to_json)).collect();
            Ok(serde_json::json!({ "value": value? }))
        }
        (Some(_), Some(_)) => Err(bad("give memberId or memberIds, not both")),
        (None, None) => Err(bad("give the memberId to evaluate")),
    }
}

fn evaluate_one(loaded: &Loaded, rule: &Rule, id: &str, with_id: bool) -> Result<EvaluateResult, ApiError> {
    let explanation = match rule.object() {
        ObjectType::Device => {
            let i = loaded.index.find(id).map_err(not_found)?;
            let device = loaded.index.device(i).ok_or_else(|| not_found(format!("no device {id:?}")))?;
            rule.explain(&device)
        }
        ObjectType::User => {
            let user = loaded
                .users
                .iter()
                .find(|u| u.id().eq_ignore_ascii_case(id))
                .ok_or_else(|| not_found(format!("no user {id:?}")))?;
            rule.explain(user)
        }
    };
    Ok(EvaluateResult {
        member_id: with_id.then(|| id.to_string()),
        membership_rule: rule.source().to_string(),
        membership_rule_evaluation_result: explanation.result,
        membership_rule_evaluation_details: explanation.into(),
    })
}

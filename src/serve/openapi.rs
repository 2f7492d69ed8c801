//! The OpenAPI 3.1 document of `GET /api/openapi.json`, built from one
//! table of routes ([`ROUTES`]) and one table of schemas ([`schemas`]),
//! each schema written beside the field list of its Rust type.

use serde_json::{json, Value};

/// One route of the API.
#[derive(Debug)]
pub struct Route {
    /// `get` or `post`.
    pub method: &'static str,
    /// The path, OpenAPI style (`{id}`).
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// The request body's schema name.
    pub request: Option<&'static str>,
    /// The answer's schema name (`None`: not JSON).
    pub response: Option<&'static str>,
}

const fn r(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    response: Option<&'static str>,
) -> Route {
    Route { method, path, summary, request, response }
}

/// Every route the server answers.
pub const ROUTES: &[Route] = &[
    r("get", "/api/openapi.json", "This document.", None, None),
    r(
        "get",
        "/api/v1/status",
        "What is loaded, the limits, and how the last reload went.",
        None,
        Some("Status"),
    ),
    r(
        "post",
        "/api/v1/check",
        "Check a rule: errors with spans and help, warnings, canonical form.",
        Some("RuleInput"),
        Some("CheckResponse"),
    ),
    r(
        "post",
        "/api/v1/eval",
        "Members of a rule in the loaded (or inline) inventory, paged.",
        Some("EvalRequest"),
        Some("EvalResponse"),
    ),
    r(
        "post",
        "/api/v1/explain",
        "Why one device or user does or does not match.",
        Some("ExplainRequest"),
        Some("ExplainResponse"),
    ),
    r(
        "post",
        "/api/v1/groups",
        "Every group's members, overlaps, each device's groups, changes against another inventory.",
        Some("GroupsRequest"),
        Some("GroupsResponse"),
    ),
    r(
        "post",
        "/api/v1/plan",
        "The Autopilot plan, or the what-if of an edited tenant or an edit set.",
        Some("PlanRequest"),
        Some("Object"),
    ),
    r("get", "/api/v1/flows", "Each profile's enrollment flow, with an SVG drawing.", None, Some("Flows")),
    r("get", "/api/v1/scenarios", "The bundled simulation scenarios.", None, Some("Scenarios")),
    r(
        "post",
        "/api/v1/simulate",
        "Start a simulation (202 with a job), or run it to the end with wait.",
        Some("SimulateRequest"),
        Some("Job"),
    ),
    r(
        "get",
        "/api/v1/simulate/{id}",
        "A simulation's progress, and its report when done.",
        None,
        Some("Job"),
    ),
    r(
        "get",
        "/api/v1/simulate/{id}/report.html",
        "A finished simulation's HTML report with charts.",
        None,
        None,
    ),
    r("post", "/api/v1/reload", "Read every input file again.", None, Some("Object")),
    r(
        "post",
        "/v1.0/groups/evaluateDynamicMembership",
        "Graph's evaluateDynamicMembership with a rule.",
        Some("GraphEvaluate"),
        Some("EvaluateDynamicMembershipResult"),
    ),
    r(
        "post",
        "/beta/groups/evaluateDynamicMembership",
        "The same, beta path.",
        Some("GraphEvaluate"),
        Some("EvaluateDynamicMembershipResult"),
    ),
    r(
        "post",
        "/v1.0/groups/{id}/evaluateDynamicMembership",
        "Graph's evaluateDynamicMembership for a loaded group.",
        Some("GraphEvaluate"),
        Some("EvaluateDynamicMembershipResult"),
    ),
    r(
        "post",
        "/beta/groups/{id}/evaluateDynamicMembership",
        "The same, beta path.",
        Some("GraphEvaluate"),
        Some("EvaluateDynamicMembershipResult"),
    ),
];

fn s(kind: &str) -> Value {
    json!({ "type": kind })
}

fn arr(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn rule_fields() -> Value {
    json!({
        "rule": s("string"),
        "object": { "enum": ["device", "user"] },
        "lenient": s("boolean"),
        "strict": s("boolean"),
        "now": { "type": "string", "format": "date-time" },
    })
}

fn with(base: Value, extra: Value) -> Value {
    let mut base = base;
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// The schemas, by name.
pub fn schemas() -> Value {
    let diagnostic = object(
        &["code", "message", "span", "line", "column"],
        json!({
            "code": s("string"), "message": s("string"), "help": s("string"),
            "span": object(&["start", "end"], json!({ "start": s("integer"), "end": s("integer") })),
            "line": s("integer"), "column": s("integer"), "text": s("string"),
        }),
    );
    let details = json!({
        "type": "object",
        "properties": {
            "expression": s("string"), "expressionResult": s("boolean"),
            "propertyToEvaluate": object(&["propertyName"], json!({ "propertyName": s("string"), "propertyValue": {} })),
            "expressionEvaluationDetails": arr(json!({ "$ref": "#/components/schemas/ExpressionEvaluationDetails" })),
        },
    });
    json!({
        "Object": s("object"),
        "Error": object(&["error"], json!({ "error": object(&["code", "message"], json!({
            "code": s("string"), "message": s("string"), "details": {} })) })),
        "Diagnostic": diagnostic,
        "ExpressionEvaluationDetails": details,
        "RuleInput": object(&["rule"], rule_fields()),
        "CheckResponse": object(&["valid", "rule", "errors", "warnings"], json!({
            "valid": s("boolean"), "rule": s("string"), "canonical": s("string"),
            "object": { "enum": ["device", "user"] },
            "errors": arr(reference("Diagnostic")), "warnings": arr(reference("Diagnostic")) })),
        "EvalRequest": object(&["rule"], with(rule_fields(), json!({
            "devices": arr(s("object")), "users": arr(s("object")),
            "offset": s("integer"), "limit": s("integer"), "names": s("boolean") }))),
        "EvalResponse": object(&["rule", "object", "count", "total", "offset", "limit", "ids", "timings"], json!({
            "rule": s("string"), "object": s("string"), "count": s("integer"), "total": s("integer"),
            "offset": s("integer"), "limit": s("integer"), "ids": arr(s("string")),
            "displayNames": arr(json!({ "type": ["string", "null"] })), "next_offset": s("integer"),
            "timings": object(&[], json!({ "check_ms": s("number"), "index_ms": s("number"), "eval_ms": s("number") })) })),
        "ExplainRequest": object(&["rule"], with(rule_fields(), json!({ "device": s("string"), "user": s("string") }))),
        "ExplainResponse": object(&["id", "result", "explanation"], json!({
            "id": s("string"), "displayName": s("string"), "result": s("boolean"),
            "explanation": reference("ExpressionEvaluationDetails") })),
        "GroupsRequest": object(&[], json!({
            "groups": s("string"), "compare": arr(s("object")),
            "members_limit": s("integer"), "devices_limit": s("integer") })),
        "GroupsResponse": object(&["groups", "overlaps", "devices"], json!({
            "devices_total": s("integer"), "devices_in_any": s("integer"),
            "groups": arr(object(&["name", "count"], json!({ "id": s("string"), "name": s("string"),
                "description": s("string"), "source": s("string"), "rule": s("string"),
                "count": s("integer"), "members": arr(s("string")) }))),
            "overlaps": arr(object(&["a", "b", "count"], json!({ "a": s("integer"), "b": s("integer"), "count": s("integer") }))),
            "devices": arr(object(&["id", "groups"], json!({ "id": s("string"), "displayName": s("string"), "groups": arr(s("integer")) }))),
            "changes": arr(object(&["group"], json!({ "group": s("integer"), "before": s("integer"), "after": s("integer"),
                "added": arr(s("string")), "removed": arr(s("string")),
                "added_count": s("integer"), "removed_count": s("integer") }))) })),
        "PlanRequest": object(&[], json!({
            "against": s("string"), "edits": s("string"),
            "filter": { "enum": ["all", "several", "none"] }, "devices_limit": s("integer") })),
        "Flows": arr(object(&["profile", "svg"], json!({ "profile": s("string"), "title": s("string"),
            "nodes": s("integer"), "edges": s("integer"), "svg": s("string") }))),
        "Scenarios": arr(object(&["name", "text"], json!({ "name": s("string"), "text": s("string") }))),
        "SimulateRequest": object(&[], json!({ "scenario": s("string"), "bundled": s("string"),
            "replications": s("integer"), "seed": s("integer"), "wait": s("boolean") })),
        "Job": object(&["id", "state", "done", "total"], json!({ "id": s("integer"), "scenario": s("string"),
            "state": { "enum": ["running", "done", "failed"] }, "done": s("integer"), "total": s("integer"),
            "report": s("object"), "error": s("string") })),
        "Status": s("object"),
        "GraphEvaluate": object(&[], json!({ "memberId": s("string"), "memberIds": arr(s("string")),
            "membershipRule": s("string") })),
        "EvaluateDynamicMembershipResult": object(&[], json!({
            "memberId": s("string"), "membershipRule": s("string"),
            "membershipRuleEvaluationResult": s("boolean"),
            "membershipRuleEvaluationDetails": reference("ExpressionEvaluationDetails"),
            "value": arr(s("object")) })),
    })
}

fn operation(route: &Route) -> Value {
    let mut op = json!({
        "summary": route.summary,
        "responses": {
            "200": match route.response {
                Some(name) => json!({ "description": "OK", "content": { "application/json": { "schema": reference(name) } } }),
                None => json!({ "description": "OK" }),
            },
            "default": { "description": "An error", "content": { "application/json": { "schema": reference("Error") } } },
        },
    });
    if let (Some(name), Some(o)) = (route.request, op.as_object_mut()) {
        o.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { "application/json": { "schema": reference(name) } } }),
        );
    }
    if route.path.contains("{id}") {
        if let Some(o) = op.as_object_mut() {
            o.insert(
                "parameters".into(),
                json!([{ "name": "id", "in": "path", "required": true, "schema": s("string") }]),
            );
        }
    }
    op
}

/// The whole document.
///
/// ```
/// let doc = fleetlab::serve::openapi::document();
/// assert_eq!(doc["openapi"], "3.1.0");
/// assert!(doc["paths"]["/api/v1/eval"]["post"].is_object());
/// ```
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let entry = paths.entry(route.path).or_insert_with(|| json!({}));
        if let Some(o) = entry.as_object_mut() {
            o.insert(route.method.into(), operation(route));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "fleetlab serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Entra ID dynamic-group rules and Autopilot plans against a loaded inventory. \
                            Errors are {\"error\": {\"code\", \"message\"}}. With --token-file, every call \
                            needs Authorization: Bearer <token>.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    })
}

//! The group routes: create and patch groups, add and remove members.

use super::*;

pub(super) fn paused(g: &GroupRec) -> bool {
    g.props
        .get("membershipRuleProcessingState")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("Paused"))
}

/// `mailNickname`: 1–64 ASCII characters, none of `@ ( ) \ [ ] " ; : . < > ,` or space
/// (graph-api.md §1.8).
pub(crate) fn valid_mail_nickname(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars().all(|c| c.is_ascii() && !c.is_ascii_control() && !"@()\\[]\";:.<>, ".contains(c))
}

/// A membership rule for a device group, or Graph's 400 for it.
pub(super) fn device_rule(text: &str) -> Result<Rule, Reply> {
    let options = Options { object: Some(ObjectType::Device), ..Options::default() };
    Rule::with_options(text, &options).map_err(|e| {
        graph_error(400, "Request_BadRequest", &format!("Dynamic membership rule validation error: {e}"))
    })
}

impl Tenant {
    /// `POST /groups` (graph-api.md §4.5, F16): the required properties,
    /// a valid `mailNickname`, and for a dynamic group a rule the rule
    /// engine accepts as a device rule; the members are computed at once
    /// (Entra takes minutes: tests need determinism).
    /// Adds (`body` with an `@odata.id`) or removes (`member`) a direct
    /// member of an assigned group; a dynamic group's members come from
    /// its rule only.
    pub(super) fn member_ref(&mut self, id: &str, body: Option<&[u8]>, member: Option<&str>) -> Reply {
        let Some(g) = self.groups.get(id) else { return not_found(id) };
        if g.rule.is_some() {
            return graph_error(
                400,
                "Request_BadRequest",
                "Insufficient privileges to complete the operation: the members of a dynamic group are computed \
                 from its rule and cannot be changed manually.",
            );
        }
        let member = match (body, member) {
            (Some(body), _) => {
                let bind = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| v.get("@odata.id").and_then(Value::as_str).map(str::to_string));
                let Some(bind) = bind else {
                    return graph_error(
                        400,
                        "Request_BadRequest",
                        "Invalid request body: expected an @odata.id.",
                    );
                };
                bind.rsplit('/').next().unwrap_or("").to_string()
            }
            (None, Some(m)) => m.to_string(),
            (None, None) => return not_found(id),
        };
        let add = body.is_some();
        if add && !self.devices.contains_key(&member) {
            return not_found(&member);
        }
        let present = self.groups.get(id).is_some_and(|g| g.members.contains(&member));
        if add && present {
            return graph_error(400, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.");
        }
        if !add && !present {
            return not_found(&member);
        }
        let v = self.bump();
        let Some(g) = self.groups.get_mut(id) else { return not_found(id) };
        if add {
            g.members.insert(member.clone());
        } else {
            g.members.remove(&member);
        }
        g.log.push((v, member, add));
        g.version = v;
        Reply::empty(204)
    }

    pub(super) fn create_group(&mut self, body: &[u8], base: &str, version: &str) -> Reply {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return graph_error(400, "BadRequest", "Invalid request body: expected a JSON object.");
        };
        let required = |key: &str| {
            graph_error(
                400,
                "Request_BadRequest",
                &format!("A value is required for property '{key}' of resource 'Group'."),
            )
        };
        let invalid = |key: &str| {
            graph_error(
                400,
                "Request_BadRequest",
                &format!("Invalid value specified for property '{key}' of resource 'Group'."),
            )
        };
        for key in ["displayName", "mailNickname"] {
            match body.get(key) {
                None | Some(Value::Null) => return required(key),
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(_) => return invalid(key),
            }
        }
        for key in ["mailEnabled", "securityEnabled"] {
            match body.get(key) {
                None | Some(Value::Null) => return required(key),
                Some(Value::Bool(_)) => {}
                Some(_) => return invalid(key),
            }
        }
        if body.get("displayName").and_then(Value::as_str).is_some_and(|n| n.chars().count() > 256) {
            return invalid("displayName");
        }
        if !body.get("mailNickname").and_then(Value::as_str).is_some_and(valid_mail_nickname) {
            return invalid("mailNickname");
        }
        let types: Vec<String> = match body.get("groupTypes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                a.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            Some(_) => return invalid("groupTypes"),
        };
        let dynamic = types.iter().any(|t| t.eq_ignore_ascii_case("DynamicMembership"));
        let rule_text = body.get("membershipRule").and_then(Value::as_str).map(str::to_string);
        if dynamic && body.get("isAssignableToRole").and_then(Value::as_bool) == Some(true) {
            return invalid("isAssignableToRole");
        }
        let rule = match (dynamic, &rule_text) {
            (true, None) => return required("membershipRule"),
            (false, Some(_)) => return invalid("membershipRule"),
            (false, None) => None,
            (true, Some(text)) => match device_rule(text) {
                Ok(rule) => Some(rule),
                Err(reply) => return reply,
            },
        };
        let state = match body.get("membershipRuleProcessingState").and_then(Value::as_str) {
            None => "On",
            Some(s) if s.eq_ignore_ascii_case("On") => "On",
            Some(s) if s.eq_ignore_ascii_case("Paused") => "Paused",
            Some(_) => return invalid("membershipRuleProcessingState"),
        };
        self.created += 1;
        let id = guid(0x0067_726f_7570, self.created.wrapping_add(hash_str(&self.epoch)));
        let mut props = Map::new();
        for key in GROUP_PROPS {
            if let Some(v) = body.get(*key) {
                props.insert((*key).to_string(), v.clone());
            }
        }
        props.entry("description").or_insert(Value::Null);
        props.insert("groupTypes".into(), json!(types));
        if dynamic {
            props.insert("membershipRuleProcessingState".into(), json!(state));
        } else {
            props.insert("membershipRule".into(), Value::Null);
            props.insert("membershipRuleProcessingState".into(), Value::Null);
        }
        let v = self.bump();
        self.groups.insert(
            id.clone(),
            GroupRec { props, rule, members: BTreeSet::new(), version: v, log: Vec::new() },
        );
        if let Err(e) = self.evaluate_group(&id, v) {
            return graph_error(500, "generalException", &e.to_string());
        }
        let Some(g) = self.groups.get(&id) else { return not_found(&id) };
        let mut out = Map::new();
        out.insert("@odata.context".into(), json!(format!("{base}/{version}/$metadata#groups/$entity")));
        if let Value::Object(m) = group_json(&id, g) {
            out.extend(m);
        }
        let now = Timestamp::now().to_string();
        out.insert("createdDateTime".into(), json!(now));
        out.insert("renewedDateTime".into(), json!(now));
        out.insert("deletedDateTime".into(), Value::Null);
        out.insert("isAssignableToRole".into(), Value::Null);
        out.insert("mail".into(), Value::Null);
        out.insert("proxyAddresses".into(), json!([]));
        Reply::json(201, &Value::Object(out))
    }

    /// `PATCH /groups/{id}`: rule text, processing state, names. A changed
    /// rule or a resumed group is evaluated again at once.
    pub(super) fn patch_group(&mut self, id: &str, body: &[u8]) -> Reply {
        let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(body) else {
            return graph_error(400, "BadRequest", "Invalid request body: expected a JSON object.");
        };
        let Some(g) = self.groups.get(id) else { return not_found(id) };
        let invalid = |key: &str| {
            graph_error(
                400,
                "Request_BadRequest",
                &format!("Invalid value specified for property '{key}' of resource 'Group'."),
            )
        };
        let dynamic = g.props.get("groupTypes").and_then(Value::as_array).is_some_and(|t| {
            t.iter().any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("DynamicMembership")))
        });
        let mut rule = None;
        for (key, value) in &patch {
            match (key.as_str(), value) {
                ("displayName", Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => {}
                ("description", Value::String(_) | Value::Null) => {}
                ("mailNickname", Value::String(s)) if valid_mail_nickname(s) => {}
                ("membershipRuleProcessingState", Value::String(s))
                    if dynamic && (s == "On" || s == "Paused") => {}
                ("membershipRule", Value::String(text)) if dynamic => match device_rule(text) {
                    Ok(r) => rule = Some(r),
                    Err(reply) => return reply,
                },
                (
                    "displayName"
                    | "description"
                    | "mailNickname"
                    | "membershipRuleProcessingState"
                    | "membershipRule",
                    _,
                ) => return invalid(key),
                (other, _) => {
                    return graph_error(
                        400,
                        "Request_BadRequest",
                        &format!(
                        "Property '{other}' is read-only or does not exist on type 'microsoft.graph.group'."
                    ),
                    )
                }
            }
        }
        let v = self.bump();
        let Some(g) = self.groups.get_mut(id) else { return not_found(id) };
        for (key, value) in patch {
            g.props.insert(key, value);
        }
        if let Some(r) = rule {
            g.rule = Some(r);
        }
        g.version = v;
        match self.evaluate_group(id, v) {
            Ok(()) => Reply::empty(204),
            Err(e) => graph_error(500, "generalException", &e.to_string()),
        }
    }
}

//! The Intune routes: `deviceManagement/…` (Autopilot device identities,
//! deployment profiles and their assignments).

use super::*;

/// The list path of Autopilot device identities, as `@odata.context` and
/// next links name it.
const IDENTITIES: &str = "deviceManagement/windowsAutopilotDeviceIdentities";

/// The route Intune answers for a path it has no handler for.
fn no_route(path: &str) -> Reply {
    intune_error(400, "BadRequest", "No OData route exists that match template", path)
}

/// The parts of a `deviceManagement` request its handlers read.
struct Request<'a> {
    method: &'a str,
    query: &'a [(String, String)],
    body: &'a [u8],
    path: &'a str,
}

impl Request<'_> {
    /// A query option, its name compared without case as Graph does.
    fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; `null` when it is not JSON (the handlers answer
    /// Intune's generic 400 for a body of the wrong shape).
    fn json(&self) -> Value {
        serde_json::from_slice::<Value>(self.body).unwrap_or(Value::Null)
    }
}

/// Paging of an Intune list: `$top` (at most 1000), `$skiptoken` as the last
/// id served, and the fake's page size when no `$top` is given.
struct Paging<'a> {
    after: Option<String>,
    size: usize,
    top: Option<usize>,
    link: &'a str,
    base: &'a str,
    version: &'a str,
}

impl<'a> Paging<'a> {
    fn new(query: &[(String, String)], listing: &Listing<'a>, page_size: usize) -> Paging<'a> {
        let q =
            |name: &str| query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let top = q("$top").and_then(|t| t.parse::<usize>().ok());
        Paging {
            after: q("$skiptoken").and_then(unhex),
            size: top.unwrap_or(page_size).clamp(1, 1000),
            top,
            link: listing.link,
            base: listing.base,
            version: listing.version,
        }
    }

    /// One page of `items`, rendered, with `@odata.nextLink` carrying `carry`.
    fn reply<T>(
        &self,
        items: &BTreeMap<String, T>,
        render: impl Fn(&T) -> String,
        rel: &str,
        carry: &str,
    ) -> Reply {
        page_reply(
            items,
            self.after.as_deref(),
            self.size,
            self.link,
            self.top,
            render,
            rel,
            self.base,
            self.version,
            carry,
            None,
        )
    }
}

impl Tenant {
    pub(super) fn device_management(
        &mut self,
        method: &str,
        beta: bool,
        rest: &[&str],
        query: &[(String, String)],
        body: &[u8],
        listing: &Listing<'_>,
    ) -> Reply {
        let path = format!("/deviceManagement/{}", rest.join("/"));
        let beta_only =
            matches!(rest.first(), Some(&"windowsAutopilotDeploymentProfiles" | &"windowsAutopilotSettings"));
        if beta_only && !beta {
            return graph_error(
                400,
                "BadRequest",
                &format!("Resource not found for the segment '{}'.", rest.first().unwrap_or(&"")),
            );
        }
        let paging = Paging::new(query, listing, self.config.autopilot_page_size);
        let request = Request { method, query, body, path: &path };
        match rest {
            ["importedWindowsAutopilotDeviceIdentities", tail @ ..] => {
                self.imports_route(method, tail, body, listing, paging.size, &path)
            }
            ["windowsAutopilotDeviceIdentities", tail @ ..] => {
                self.autopilot_identities(&request, tail, beta, &paging)
            }
            ["windowsAutopilotDeploymentProfiles", tail @ ..] => {
                self.deployment_profiles(&request, tail, &paging)
            }
            ["windowsAutopilotSettings", tail @ ..] => {
                self.autopilot_settings(method, tail, listing.base, &path)
            }
            _ => no_route(&path),
        }
    }

    /// `windowsAutopilotDeviceIdentities[/{id}[/updateDeviceProperties]]`.
    fn autopilot_identities(
        &mut self,
        r: &Request<'_>,
        tail: &[&str],
        beta: bool,
        paging: &Paging<'_>,
    ) -> Reply {
        let path = r.path;
        match (r.method, tail) {
            ("GET", []) if r.q("$filter").is_some() => {
                let Some(filter) = r.q("$filter").and_then(|f| Expr::parse(f).ok()) else {
                    return intune_error(400, "BadRequest", "An error has occurred", path);
                };
                if classify(&filter, Resource::Autopilot) != Verdict::Basic {
                    return intune_error(400, "BadRequest", "An error has occurred", path);
                }
                let matched: BTreeMap<String, String> = self
                    .autopilot
                    .iter()
                    .filter(|(_, m)| filter.matches(&Value::Object((*m).clone())))
                    .map(|(id, m)| (id.clone(), autopilot_view(m, !beta)))
                    .collect();
                let carry = r.q("$filter").map(|f| format!("$filter={}&", encode(f))).unwrap_or_default();
                paging.reply(&matched, |raw| raw.clone(), IDENTITIES, &carry)
            }
            ("GET", []) => paging.reply(&self.autopilot, |m| autopilot_view(m, !beta), IDENTITIES, ""),
            ("GET", [id]) => match self.autopilot.get(*id) {
                Some(m) => Reply::raw_json(200, autopilot_view(m, !beta).into_bytes()),
                None => intune_error(404, "NotFound", "An error has occurred", path),
            },
            ("DELETE", [id]) => self.delete_identity(id, path),
            ("POST", [id, "updateDeviceProperties"]) => self.update_identity(id, &r.json(), path),
            _ => no_route(path),
        }
    }

    /// `DELETE windowsAutopilotDeviceIdentities/{id}`: the Autopilot record
    /// goes; the Entra device stays without its Autopilot ids.
    fn delete_identity(&mut self, id: &str, path: &str) -> Reply {
        let device = self.device_autopilot.iter().find(|(_, ap)| ap.as_str() == id).map(|(d, _)| d.clone());
        let Some(dev) = device else {
            return intune_error(404, "NotFound", "An error has occurred", path);
        };
        if let Some(mut v) = self.devices.get(&dev).and_then(|raw| serde_json::from_str::<Value>(raw).ok()) {
            let mut ids: Vec<Value> =
                v.get("physicalIds").and_then(Value::as_array).cloned().unwrap_or_default();
            ids.retain(|p| {
                let s = p.as_str().unwrap_or("").to_ascii_lowercase();
                !(s.starts_with("[ztdid]:")
                    || s.starts_with("[orderid]:")
                    || s.starts_with("[purchaseorderid]:"))
            });
            v["physicalIds"] = Value::Array(ids);
            if self.put_device(&v).is_err() {
                return intune_error(400, "BadRequest", "An error has occurred", path);
            }
        }
        self.autopilot_overrides.remove(id);
        self.tag_changes.retain(|c| c.identity != id);
        Reply::empty(204)
    }

    /// `POST windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties`.
    fn update_identity(&mut self, id: &str, props: &Value, path: &str) -> Reply {
        let Some(_) = self.autopilot.get(id) else {
            return intune_error(404, "NotFound", "An error has occurred", path);
        };
        let Some(props) = props.as_object() else {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        };
        let device = self.device_autopilot.iter().find(|(_, ap)| ap.as_str() == id).map(|(d, _)| d.clone());
        // `orderIdentifier` is the tag's former name; old scripts still send it.
        let tag = props.get("groupTag").or_else(|| props.get("orderIdentifier")).and_then(Value::as_str);
        let over = self.autopilot_overrides.entry(id.to_string()).or_default();
        for key in ["displayName", "userPrincipalName", "addressableUserName"] {
            if let Some(v) = props.get(key) {
                over.insert(key.into(), v.clone());
            }
        }
        if let Some(tag) = tag {
            over.insert("groupTag".into(), json!(tag));
        }
        if let Some(dev) = device {
            self.refresh_autopilot(&dev);
        }
        if let Some(tag) = tag {
            self.queue_tag(id, tag);
        }
        Reply::empty(204)
    }

    /// `windowsAutopilotDeploymentProfiles[/{id}[/assignments[/{aid}]]]`.
    fn deployment_profiles(&mut self, r: &Request<'_>, tail: &[&str], paging: &Paging<'_>) -> Reply {
        let path = r.path;
        match (r.method, tail) {
            ("GET", _) if r.q("$filter").is_some() || r.q("$search").is_some() => {
                // Profiles take $select, $top, $skip and $orderby only (graph-api.md §3.5).
                intune_error(400, "BadRequest", "An error has occurred", path)
            }
            ("GET", []) => {
                let rendered: BTreeMap<String, String> = self
                    .profiles
                    .iter()
                    .map(|(id, p)| (id.clone(), Value::Object(self.written(&p.raw)).to_string()))
                    .collect();
                paging.reply(
                    &rendered,
                    |raw| raw.clone(),
                    "deviceManagement/windowsAutopilotDeploymentProfiles",
                    "",
                )
            }
            ("POST", []) => self.create_profile(r.json(), path),
            ("GET", [id]) => match self.profiles.get(*id) {
                Some(p) => Reply::json(200, &Value::Object(self.written(&p.raw))),
                None => intune_error(404, "NotFound", "An error has occurred", path),
            },
            ("PATCH", [id]) => self.patch_profile(id, &r.json(), path),
            ("DELETE", [id]) => match self.profiles.get(*id) {
                None => intune_error(404, "NotFound", "An error has occurred", path),
                Some(p) if !p.assignments.is_empty() => intune_error(
                    400,
                    "BadRequest",
                    "The profile is assigned to groups; remove its assignments first.",
                    path,
                ),
                Some(_) => {
                    self.profiles.remove(*id);
                    Reply::empty(204)
                }
            },
            (_, [id, "assignments", rest @ ..]) => self.profile_assignments(r, id, rest, paging),
            _ => no_route(path),
        }
    }

    /// `PATCH windowsAutopilotDeploymentProfiles/{id}`: the kind of a
    /// profile cannot change.
    fn patch_profile(&mut self, id: &str, patch: &Value, path: &str) -> Reply {
        let Some(p) = self.profiles.get_mut(id) else {
            return intune_error(404, "NotFound", "An error has occurred", path);
        };
        let Some(patch) = patch.as_object() else {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        };
        let same = |t: &Value| {
            let stored = p.raw.get("@odata.type").and_then(Value::as_str);
            t.as_str().zip(stored).is_some_and(|(a, b)| crate::odata::same(a, b))
        };
        if patch.get("@odata.type").is_some_and(|t| !same(t)) {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        }
        for (k, v) in patch {
            if k != "id" && k != "createdDateTime" {
                p.raw.insert(k.clone(), v.clone());
            }
        }
        p.raw.insert("lastModifiedDateTime".into(), json!(Timestamp::now().to_string()));
        Reply::json(200, &Value::Object(p.raw.clone()))
    }

    /// `windowsAutopilotDeploymentProfiles/{id}/assignments[/{aid}]`.
    fn profile_assignments(
        &mut self,
        r: &Request<'_>,
        id: &str,
        rest: &[&str],
        paging: &Paging<'_>,
    ) -> Reply {
        let path = r.path;
        if self.config.modes.refuse_assignments {
            return intune_error(
                403,
                "Forbidden",
                "Application is not authorized to perform this operation. Application must have one of the \
                 following scopes: DeviceManagementServiceConfig.Read.All, \
                 DeviceManagementServiceConfig.ReadWrite.All",
                path,
            );
        }
        match (r.method, rest) {
            ("GET", []) => match self.profiles.get(id) {
                Some(p) => {
                    let rendered: BTreeMap<String, String> = p
                        .assignments
                        .iter()
                        .map(|(k, a)| (k.clone(), Value::Object(self.written(a)).to_string()))
                        .collect();
                    let rel =
                        format!("deviceManagement/windowsAutopilotDeploymentProfiles('{id}')/assignments");
                    paging.reply(&rendered, |raw| raw.clone(), &rel, "")
                }
                None => intune_error(404, "NotFound", "An error has occurred", path),
            },
            ("POST", []) => self.create_assignment(id, r.json(), path),
            ("DELETE", [aid]) => match self.profiles.get_mut(id).and_then(|p| p.assignments.remove(*aid)) {
                Some(_) => Reply::empty(204),
                None => intune_error(404, "NotFound", "An error has occurred", path),
            },
            _ => no_route(path),
        }
    }

    /// `windowsAutopilotSettings` and its `sync` action, with the service's
    /// cool-down between syncs.
    fn autopilot_settings(&mut self, method: &str, tail: &[&str], base: &str, path: &str) -> Reply {
        match (method, tail) {
            ("GET", []) => {
                let (status, last_sync, last_trigger) = match self.sync_triggered {
                    Some((at, wall)) => {
                        let running = self.now().saturating_duration_since(at) < SYNC_RUNNING;
                        let trig = Timestamp::from_unix(unix(wall), 0).to_string();
                        let done =
                            Timestamp::from_unix(unix(wall) + SYNC_RUNNING.as_secs() as i64, 0).to_string();
                        (if running { "inProgress" } else { "completed" }, json!(done), json!(trig))
                    }
                    None => ("completed", Value::Null, Value::Null),
                };
                Reply::json(
                    200,
                    &json!({"@odata.context": format!("{base}/beta/$metadata#deviceManagement/windowsAutopilotSettings/$entity"),
                    "id": "0d5b7cc9-461f-44cb-a0cf-9a7a94599c8f", "lastSyncDateTime": last_sync,
                    "lastManualSyncTriggerDateTime": last_trigger, "syncStatus": status}),
                )
            }
            ("POST", ["sync"]) => {
                if let Some((at, _)) = self.sync_triggered {
                    let since = self.now().saturating_duration_since(at);
                    if since < SYNC_RUNNING {
                        return intune_error(409, "Conflict", "Sync already in progress", path);
                    }
                    if since < self.config.sync_cooldown {
                        let wait = (self.config.sync_cooldown - since).as_secs().max(1);
                        return intune_error(
                            429,
                            "TooManyRequests",
                            "Sync was requested less than 10 minutes ago",
                            path,
                        )
                        .with_header("Retry-After", wait.to_string());
                    }
                }
                self.sync_triggered = Some((self.now(), self.wall_now()));
                Reply::empty(204)
            }
            _ => no_route(path),
        }
    }

    pub(super) fn create_profile(&mut self, body: Value, path: &str) -> Reply {
        let Value::Object(mut raw) = body else {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        };
        let kind = raw.get("@odata.type").and_then(Value::as_str).unwrap_or("");
        if crate::odata::profile_kind(kind).is_none() {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        }
        let shared = ["outOfBoxExperienceSetting", "outOfBoxExperienceSettings"].iter().any(|k| {
            raw.get(*k).is_some_and(|o| {
                o.get("deviceUsageType").and_then(Value::as_str) == Some("shared")
                    && o.get("userType").is_some_and(|u| !u.is_null())
            })
        });
        if shared || raw.get("displayName").and_then(Value::as_str).is_none_or(str::is_empty) {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        }
        self.created += 1;
        let id = guid(0x7072_6f66, self.created + hash_str(&self.epoch));
        let now = Timestamp::now().to_string();
        raw.insert("id".into(), json!(id));
        raw.insert("createdDateTime".into(), json!(now));
        raw.insert("lastModifiedDateTime".into(), json!(now));
        raw.entry("roleScopeTagIds").or_insert(json!(["0"]));
        self.profiles.insert(id, ProfileRec { raw: raw.clone(), assignments: BTreeMap::new() });
        Reply::json(201, &Value::Object(self.written(&raw)))
    }

    pub(super) fn create_assignment(&mut self, profile: &str, body: Value, path: &str) -> Reply {
        let target = body.get("target").cloned().unwrap_or(Value::Null);
        let kind = target.get("@odata.type").and_then(Value::as_str).unwrap_or("").to_string();
        let group = target.get("groupId").and_then(Value::as_str).map(str::to_string);
        let suffix = match (crate::odata::target_kind(&kind), &group) {
            (Some(crate::odata::ALL_DEVICES_TARGET), _) => "allDevices_0".to_string(),
            (Some(crate::odata::GROUP_TARGET), Some(g)) => format!("{g}_0"),
            (Some(crate::odata::EXCLUSION_TARGET), Some(g)) => format!("{g}_1"),
            _ => return intune_error(400, "BadRequest", "An error has occurred", path),
        };
        if !self.profiles.contains_key(profile) {
            return intune_error(404, "NotFound", "An error has occurred", path);
        }
        if crate::odata::is(&kind, crate::odata::ALL_DEVICES_TARGET) {
            let other = self.profiles.iter().find(|(pid, p)| {
                pid.as_str() != profile
                    && p.assignments.values().any(|a| {
                        a.get("target")
                            .and_then(crate::odata::of)
                            .is_some_and(|t| crate::odata::is(t, crate::odata::ALL_DEVICES_TARGET))
                    })
            });
            if let Some((other, _)) = other {
                return intune_error(
                    400,
                    "BadRequest",
                    &format!("Another Profile {other} is already assigned to All Devices."),
                    path,
                );
            }
        }
        let id = format!("{profile}_{suffix}");
        let Some(p) = self.profiles.get_mut(profile) else {
            return intune_error(404, "NotFound", "An error has occurred", path);
        };
        if p.assignments.contains_key(&id) {
            return intune_error(400, "BadRequest", "The profile is already assigned to this target.", path);
        }
        let mut t = Map::new();
        t.insert("@odata.type".into(), json!(kind));
        t.insert("deviceAndAppManagementAssignmentFilterId".into(), Value::Null);
        t.insert("deviceAndAppManagementAssignmentFilterType".into(), json!("none"));
        if let Some(g) = group {
            t.insert("groupId".into(), json!(g));
        }
        let mut a = Map::new();
        a.insert("id".into(), json!(id));
        a.insert("source".into(), json!("direct"));
        a.insert("sourceId".into(), Value::Null);
        a.insert("target".into(), Value::Object(t));
        p.assignments.insert(id, a.clone());
        Reply::json(201, &Value::Object(self.written(&a)))
    }

    /// A profile or an assignment as the fake writes it ([`super::modes`]).
    pub(super) fn written(&self, value: &Map<String, Value>) -> Map<String, Value> {
        crate::msgraph::fake::modes::write_types(value.clone(), &self.config.modes)
    }
}

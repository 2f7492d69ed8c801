//! The router: one Graph request (method, path, query) to the handler of its
//! resource, and the filtered listings (`$filter`, `$search`, `$count`) they share.

use super::*;

/// The parts of a request a filtered listing needs.
pub(super) struct Listing<'a> {
    pub(super) query: &'a [(String, String)],
    pub(super) eventual: bool,
    pub(super) after: Option<&'a str>,
    pub(super) link: &'a str,
    pub(super) top: Option<usize>,
    pub(super) base: &'a str,
    pub(super) version: &'a str,
}

impl Listing<'_> {
    pub(super) fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A directory collection under `$filter`, `$search` and `$count`,
    /// with the advanced-query gate of graph-api.md §3.7.
    pub(super) fn directory(
        &self,
        resource: Resource,
        items: &BTreeMap<String, String>,
        size: usize,
        context: &str,
    ) -> Reply {
        let count = self.q("$count").is_some_and(|c| c.eq_ignore_ascii_case("true"));
        let filter = match self.q("$filter") {
            None => None,
            Some(text) => match Expr::parse(text) {
                Ok(e) => Some(e),
                Err(e) => return graph_error(400, "BadRequest", &format!("Invalid filter clause: {e}")),
            },
        };
        if let Some(e) = &filter {
            let refused = match classify(e, resource) {
                Verdict::Basic => None,
                Verdict::Advanced(_) if self.eventual && count => None,
                Verdict::Advanced(p) | Verdict::Unsupported(p) => Some(p),
            };
            if let Some(p) = refused {
                return graph_error(
                    400,
                    "Request_UnsupportedQuery",
                    &format!("Unsupported or invalid query filter clause specified for property '{p}' of resource '{}'.", resource.entity()),
                );
            }
        }
        let search = match self.q("$search") {
            None => None,
            Some(_) if !self.eventual => {
                return graph_error(
                    400,
                    "Request_UnsupportedQuery",
                    "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                )
            }
            Some(text) => match Search::parse(text) {
                Ok(s) => {
                    if let Some(p) = s.properties().find(|p| !matches!(*p, "displayName" | "description")) {
                        return graph_error(
                            400,
                            "Request_UnsupportedQuery",
                            &format!("Search on property '{p}' is not supported for resource '{}'.", resource.entity()),
                        );
                    }
                    Some(s)
                }
                Err(e) => return graph_error(400, "BadRequest", &format!("Syntax error: {e}")),
            },
        };
        let matched: BTreeMap<String, String> = items
            .iter()
            .filter(|(_, raw)| {
                let Ok(v) = serde_json::from_str::<Value>(raw) else { return false };
                filter.as_ref().is_none_or(|f| f.matches(&v)) && search.as_ref().is_none_or(|s| s.matches(&v))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // The options travel in every nextLink, as Graph's opaque tokens embed them.
        let mut carry = String::new();
        for key in ["$filter", "$search", "$count"] {
            if let Some(v) = self.q(key) {
                carry.push_str(&format!("{key}={}&", encode(v)));
            }
        }
        // Without the header `$count=true` is ignored (graph-api.md §3.7).
        let total = (count && self.eventual).then_some(matched.len());
        page_reply(
            &matched,
            self.after,
            size,
            self.link,
            self.top,
            |raw| raw.clone(),
            context,
            self.base,
            self.version,
            &carry,
            total,
        )
    }
}

/// True when a listing carries options the plain pager does not handle.
pub(super) fn has_query(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, _)| matches!(k.to_ascii_lowercase().as_str(), "$filter" | "$search" | "$count"))
}

impl Tenant {
    /// Serves one Graph request: `version` is `v1.0` or `beta`, `path`
    /// the rest (decoded), `base` the server's URL for links, `eventual`
    /// whether it carried `ConsistencyLevel: eventual`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn route(
        &mut self,
        method: &str,
        version: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
        base: &str,
        eventual: bool,
    ) -> Reply {
        self.settle();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let beta = version == "beta";
        let q =
            |name: &str| query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let top = q("$top").and_then(|t| t.parse::<usize>().ok());
        let after = q("$skiptoken").and_then(unhex);
        let link = format!("{base}/{version}/{}", segs.join("/"));
        let dir_page = |top: Option<usize>| top.unwrap_or(self.config.page_size).clamp(1, 999);
        let listing = Listing { query, eventual, after: after.as_deref(), link: &link, top, base, version };
        match (method, segs.as_slice()) {
            ("GET", ["devices" | "groups" | "users", "$count"]) => {
                let n = match segs[0] {
                    "devices" => self.devices.len(),
                    "groups" => self.groups.len(),
                    _ => self.users.len(),
                };
                count_reply(n, eventual)
            }
            ("GET", ["groups", id, "members" | "transitiveMembers", "$count"]) => match self.groups.get(*id) {
                Some(g) => count_reply(g.members.len(), eventual),
                None => not_found(id),
            },
            ("GET", ["devices"]) if has_query(query) => {
                listing.directory(Resource::Devices, &self.devices, dir_page(top), "devices")
            }
            ("GET", ["devices"]) => {
                let size = dir_page(top);
                page_reply(&self.devices, after.as_deref(), size, &link, top, |raw| raw.clone(), "devices", base, version, "", None)
            }
            ("GET", ["devices", "delta"]) => self.devices_delta(query, &link, base, version),
            ("GET", ["devices", id]) => match self.devices.get(*id) {
                Some(raw) => Reply::raw_json(200, raw.clone().into_bytes()),
                None => not_found(id),
            },
            ("GET", [one]) if one.starts_with("devices(deviceId='") && one.ends_with("')") => {
                let device_id = one.trim_start_matches("devices(deviceId='").trim_end_matches("')");
                match self.find_by_device_id(device_id).and_then(|k| self.devices.get(&k)) {
                    Some(raw) => Reply::raw_json(200, raw.clone().into_bytes()),
                    None => not_found(device_id),
                }
            }
            ("PATCH", ["devices", id]) => match serde_json::from_slice::<Value>(body) {
                Ok(patch) => match self.patch_device(id, &patch) {
                    Ok(true) => Reply::empty(204),
                    Ok(false) => not_found(id),
                    Err(e) => graph_error(400, "Request_BadRequest", &e.to_string()),
                },
                Err(e) => graph_error(400, "BadRequest", &format!("invalid JSON: {e}")),
            },
            ("GET", ["users"]) if has_query(query) => {
                listing.directory(Resource::Users, &self.users, dir_page(top), "users")
            }
            ("GET", ["users"]) => {
                let size = dir_page(top);
                page_reply(&self.users, after.as_deref(), size, &link, top, |raw| raw.clone(), "users", base, version, "", None)
            }
            ("GET", ["groups"]) => {
                let size = dir_page(top);
                let rendered: BTreeMap<String, String> = self.groups.iter().map(|(id, g)| (id.clone(), group_json(id, g).to_string())).collect();
                if has_query(query) {
                    return listing.directory(Resource::Groups, &rendered, size, "groups");
                }
                page_reply(&rendered, after.as_deref(), size, &link, top, |raw| raw.clone(), "groups", base, version, "", None)
            }
            ("POST", ["groups"]) => self.create_group(body, base, version),
            ("PATCH", ["groups", id]) => self.patch_group(id, body),
            ("GET", ["groups", "delta"]) => self.groups_delta(query, &link, base, version),
            ("GET", ["groups", id]) => match self.groups.get(*id) {
                Some(g) => Reply::json(200, &group_json(id, g)),
                None => not_found(id),
            },
            ("GET", ["groups", id, "members" | "transitiveMembers", rest @ ..]) if rest.is_empty() || rest == ["microsoft.graph.device"] => {
                let Some(g) = self.groups.get(*id) else { return not_found(id) };
                let size = dir_page(top);
                let members: BTreeMap<String, String> = g
                    .members
                    .range::<String, _>((after.clone().map_or(Bound::Unbounded, Bound::Excluded), Bound::Unbounded))
                    .take(size + 1)
                    .filter_map(|m| self.devices.get(m).map(|raw| (m.clone(), raw.clone())))
                    .collect();
                page_reply(&members, after.as_deref(), size, &link, top, |raw| {
                    raw.replacen('{', "{\"@odata.type\":\"#microsoft.graph.device\",", 1)
                }, "directoryObjects", base, version, "", None)
            }
            ("POST", ["groups", id, "members", "$ref"]) if self.groups.get(*id).is_some_and(|g| g.rule.is_some()) => graph_error(400, "Request_BadRequest", "Insufficient privileges to complete the operation: the members of a dynamic group are computed from its rule and cannot be added manually."),
            ("POST", ["groups", id, "members", "$ref"]) => self.member_ref(id, Some(body), None),
            ("DELETE", ["groups", id, "members", member, "$ref"]) => self.member_ref(id, None, Some(member)),
            (_, ["deviceManagement", rest @ ..]) => self.device_management(method, beta, rest, query, body, &listing),
            _ => graph_error(400, "BadRequest", &format!("Resource not found for the segment '{}'.", segs.first().unwrap_or(&""))),
        }
    }

    pub(super) fn find_by_device_id(&self, device_id: &str) -> Option<String> {
        self.devices.iter().find_map(|(id, raw)| {
            let v: Value = serde_json::from_str(raw).ok()?;
            (v.get("deviceId")?.as_str()? == device_id).then(|| id.clone())
        })
    }
}

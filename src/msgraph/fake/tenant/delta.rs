//! Delta queries over devices and groups: tokens that carry the version a
//! round started at, skip tokens within a round, 410 Gone for a stale token.

use super::*;

pub(super) struct DeltaState {
    pub(super) since: u64,
    pub(super) start: u64,
    pub(super) members: bool,
    pub(super) after: Option<String>,
    pub(super) latest: bool,
    /// The `$select` of the round's first request, carried in its tokens.
    pub(super) select: Option<String>,
}

/// The `$select` a token carries: hex, `-` for none (empty is a selection
/// of nothing, which Graph would refuse anyway).
pub(super) fn reselect(st: &DeltaState) -> String {
    st.select.as_deref().map_or_else(|| "-".to_string(), hex)
}

pub(super) fn unselect(token_part: &str) -> Option<String> {
    if token_part == "-" {
        None
    } else {
        unhex(token_part)
    }
}

impl Tenant {
    /// The answer to `$deltatoken=latest`: no changes, only the link to ask
    /// for the next ones.
    pub(super) fn latest_reply(&self, context: &str, link: &str, st: &DeltaState) -> Reply {
        Reply::json(
            200,
            &json!({"@odata.context": context, "@odata.deltaLink": self.delta_link(link, st), "value": []}),
        )
    }

    /// (since, members?) from `$deltatoken`, or the state of a `$skiptoken`.
    pub(super) fn delta_state(&self, query: &[(String, String)]) -> Result<DeltaState, ()> {
        let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if let Some(tok) = get("$deltatoken") {
            if tok == "latest" {
                let select = get("$select").map(str::to_string);
                return Ok(DeltaState {
                    since: self.version,
                    start: self.version,
                    members: true,
                    after: None,
                    latest: true,
                    select,
                });
            }
            let parts: Vec<&str> = tok.split('.').collect();
            let [epoch, since, members, select] = parts.as_slice() else { return Err(()) };
            let since: u64 = since.parse().map_err(|_| ())?;
            if *epoch != self.epoch || since < self.min_delta_version {
                return Err(());
            }
            return Ok(DeltaState {
                since,
                start: self.version,
                members: *members == "1",
                after: None,
                latest: false,
                select: unselect(select),
            });
        }
        if let Some(tok) = get("$skiptoken") {
            let parts: Vec<&str> = tok.split('.').collect();
            let [epoch, since, start, members, after, select] = parts.as_slice() else { return Err(()) };
            let since: u64 = since.parse().map_err(|_| ())?;
            if *epoch != self.epoch || (since > 0 && since < self.min_delta_version) {
                return Err(());
            }
            return Ok(DeltaState {
                since,
                start: start.parse().map_err(|_| ())?,
                members: *members == "1",
                after: unhex(after),
                latest: false,
                select: unselect(select),
            });
        }
        let select = get("$select").map(str::to_string);
        let members = select.as_deref().is_some_and(|s| s.split(',').any(|f| f.trim() == "members"));
        Ok(DeltaState { since: 0, start: self.version, members, after: None, latest: false, select })
    }

    pub(super) fn skip_link(&self, link: &str, st: &DeltaState, after: &str) -> String {
        format!(
            "{link}?$skiptoken={}.{}.{}.{}.{}.{}",
            self.epoch,
            st.since,
            st.start,
            u8::from(st.members),
            hex(after),
            reselect(st)
        )
    }

    pub(super) fn delta_link(&self, link: &str, st: &DeltaState) -> String {
        format!("{link}?$deltatoken={}.{}.{}.{}", self.epoch, st.start, u8::from(st.members), reselect(st))
    }

    pub(super) fn gone(&self, link: &str) -> Reply {
        graph_error(410, "resyncRequired", "The delta token has expired or is not valid; start a new round.")
            .with_header("Location", link.to_string())
    }

    pub(super) fn devices_delta(
        &self,
        query: &[(String, String)],
        link: &str,
        base: &str,
        version: &str,
    ) -> Reply {
        let Ok(st) = self.delta_state(query) else { return self.gone(link) };
        let unknown = st.select.as_deref().and_then(|s| {
            s.split(',')
                .map(str::trim)
                .find(|f| self.config.modes.unknown_device_properties.iter().any(|u| u == f))
        });
        if let Some(property) = unknown {
            return graph_error(
                400,
                "Request_BadRequest",
                &format!("Could not find a property named '{property}' on type 'microsoft.graph.device'."),
            );
        }
        let context = format!("{base}/{version}/$metadata#devices");
        if st.latest {
            return self.latest_reply(&context, link, &st);
        }
        let size = self.config.page_size.max(1);
        let lower = st.after.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let live = self
            .devices
            .range::<String, _>((lower.clone(), Bound::Unbounded))
            .filter(|(id, _)| self.device_versions.get(*id).is_some_and(|v| *v > st.since))
            .take(size + 1)
            .map(|(id, raw)| {
                (
                    id.clone(),
                    crate::msgraph::fake::modes::project_device(
                        raw,
                        st.select.as_deref(),
                        &self.config.modes,
                    ),
                )
            });
        let mut items: Vec<(String, String)> = live.collect();
        if st.since > 0 {
            let gone = self
                .tombstones
                .range::<String, _>((lower, Bound::Unbounded))
                .filter(|(_, v)| **v > st.since)
                .map(|(id, _)| (id.clone(), json!({"id": id, "@removed": {"reason": "deleted"}}).to_string()))
                .take(size + 1);
            items.extend(gone);
            items.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let more = items.len() > size;
        items.truncate(size);
        let mut body = format!("{{\"@odata.context\":{}", Value::String(context));
        if more {
            let last = items.last().map(|(id, _)| id.as_str()).unwrap_or("");
            body.push_str(&format!(
                ",\"@odata.nextLink\":{}",
                Value::String(self.skip_link(link, &st, last))
            ));
        } else {
            body.push_str(&format!(",\"@odata.deltaLink\":{}", Value::String(self.delta_link(link, &st))));
        }
        body.push_str(",\"value\":[");
        for (i, (_, raw)) in items.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(raw);
        }
        body.push_str("]}");
        Reply::raw_json(200, body.into_bytes())
    }

    pub(super) fn groups_delta(
        &self,
        query: &[(String, String)],
        link: &str,
        base: &str,
        version: &str,
    ) -> Reply {
        let Ok(st) = self.delta_state(query) else { return self.gone(link) };
        let context = format!("{base}/{version}/$metadata#groups");
        if st.latest {
            return self.latest_reply(&context, link, &st);
        }
        let size = self.config.page_size.max(1);
        let chunk = self.config.members_chunk.max(1);
        let minimal = self.config.modes.return_minimal
            && st.since > 0
            && query.iter().any(|(k, _)| k == crate::msgraph::fake::modes::PREFER_MINIMAL);
        // The position: "groupId/chunk".
        let (after_group, after_chunk) = match &st.after {
            Some(a) => match a.rsplit_once('/') {
                Some((g, c)) => (Some(g.to_string()), c.parse::<usize>().ok()),
                None => (Some(a.clone()), None),
            },
            None => (None, None),
        };
        let lower = after_group.clone().map_or(Bound::Unbounded, Bound::Included);
        let mut items: Vec<Value> = Vec::new();
        let mut last_key = String::new();
        let mut more = false;
        'groups: for (id, g) in self.groups.range::<String, _>((lower, Bound::Unbounded)) {
            let changes: Vec<(String, bool)> = if !st.members {
                Vec::new()
            } else if st.since == 0 {
                g.members.iter().map(|m| (m.clone(), true)).collect()
            } else {
                let mut net: BTreeMap<&str, bool> = BTreeMap::new();
                for (v, m, added) in &g.log {
                    if *v > st.since {
                        net.insert(m.as_str(), *added);
                    }
                }
                net.into_iter().map(|(m, a)| (m.to_string(), a)).collect()
            };
            let props_changed = st.since == 0 || g.version > st.since;
            if !props_changed && changes.is_empty() {
                continue;
            }
            let chunks: Vec<&[(String, bool)]> =
                if changes.is_empty() { vec![&[]] } else { changes.chunks(chunk).collect() };
            for (ci, part) in chunks.iter().enumerate() {
                if after_group.as_deref() == Some(id.as_str()) && after_chunk.is_some_and(|c| ci <= c) {
                    continue;
                }
                if items.len() == size {
                    more = true;
                    break 'groups;
                }
                // "group: delta": with Prefer: return=minimal a deltaLink round
                // carries only what changed; properties unchanged since the
                // token are left out (the fake does not track them one by one).
                let mut item =
                    if minimal && !props_changed { json!({ "id": id }) } else { group_json(id, g) };
                if let Some(obj) = item.as_object_mut() {
                    if st.members {
                        let list: Vec<Value> = part
                            .iter()
                            .map(|(m, added)| {
                                if *added {
                                    json!({"@odata.type": "#microsoft.graph.device", "id": m})
                                } else {
                                    json!({"@odata.type": "#microsoft.graph.device", "id": m, "@removed": {"reason": "deleted"}})
                                }
                            })
                            .collect();
                        obj.insert("members@delta".into(), Value::Array(list));
                    }
                }
                items.push(item);
                last_key = format!("{id}/{ci}");
            }
        }
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(context));
        if more {
            body.insert("@odata.nextLink".into(), json!(self.skip_link(link, &st, &last_key)));
        } else {
            body.insert("@odata.deltaLink".into(), json!(self.delta_link(link, &st)));
        }
        body.insert("value".into(), Value::Array(items));
        Reply::json(200, &Value::Object(body))
    }
}

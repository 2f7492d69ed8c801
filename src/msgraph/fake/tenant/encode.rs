//! What the fake sends back: the reply before HTTP, Graph and Intune error
//! bodies, stable ids, and the JSON shapes of groups, Autopilot records and
//! pages.

use super::*;

/// An answer of the fake, before HTTP.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(status: u16, value: &Value) -> Reply {
        Reply::raw_json(status, value.to_string().into_bytes())
    }

    pub(crate) fn raw_json(status: u16, body: Vec<u8>) -> Reply {
        Reply { status, headers: vec![("Content-Type".into(), "application/json".into())], body }
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new() }
    }

    pub(crate) fn with_header(mut self, name: &str, value: String) -> Reply {
        self.headers.push((name.to_string(), value));
        self
    }
}

/// A directory-style error (graph-api.md F23).
pub(crate) fn graph_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"code": code, "message": message,
            "innerError": {"date": Timestamp::now().to_string(), "request-id": "00000000-0000-0000-0000-000000000000"}}}),
    )
}

/// An Intune-wrapped error (graph-api.md F11, F21, F22).
pub(crate) fn intune_error(status: u16, code: &str, message: &str, path: &str) -> Reply {
    let inner = format!(
        "{{\r\n  \"_version\": 3,\r\n  \"Message\": {} ,\r\n  \"CustomApiErrorPhrase\": \"\",\r\n  \"RetryAfter\": null,\r\n  \"ErrorSourceService\": \"\",\r\n  \"HttpHeaders\": \"{{}}\"\r\n}}",
        Value::String(format!(
            "{message} - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: 5e0f7a3c-0000-4000-8000-fa4e00000001 - Url: https://fef.fake.manage.microsoft.com/DeviceEnrollmentFE/StatelessDeviceEnrollmentFEService{path}?api-version=5025-01-01"
        ))
    );
    Reply::json(status, &json!({"error": {"code": code, "message": inner}}))
}

/// A deterministic GUID from two numbers: a SplitMix64 sequence seeded
/// from both.
pub(crate) fn guid(seed: u64, n: u64) -> String {
    let golden = 0x9e37_79b9_7f4a_7c15_u64;
    let mut x = seed ^ n.wrapping_mul(golden);
    let mut next = || {
        let z = crate::inventory::splitmix64(x);
        x = x.wrapping_add(golden);
        z
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// FNV-1a: the fake's ids must be the same on every run, machine and Rust
/// version (the std hasher promises none of that).
pub(super) fn hash_str(s: &str) -> u64 {
    crate::msgraph::protocol::fnv(s.as_bytes(), 0)
}

/// Base64url without padding (RFC 4648 §5), as JWTs use.
pub(super) fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

/// `…/$count`: a plain-text number, only with `ConsistencyLevel: eventual`.
pub(super) fn count_reply(n: usize, eventual: bool) -> Reply {
    if !eventual {
        return graph_error(400, "Request_BadRequest", "$count is not currently supported.");
    }
    Reply {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: n.to_string().into_bytes(),
    }
}

pub(super) fn group_json(id: &str, g: &GroupRec) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    for key in GROUP_PROPS {
        if let Some(v) = g.props.get(*key) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    Value::Object(out)
}

pub(super) fn autopilot_view(m: &Map<String, Value>, v1: bool) -> String {
    if !v1 {
        return Value::Object(m.clone()).to_string();
    }
    let subset: Map<String, Value> = m
        .iter()
        .filter(|(k, _)| V1_AUTOPILOT.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(subset).to_string()
}

pub(super) fn not_found(id: &str) -> Reply {
    graph_error(
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

/// One page of a keyed collection, with a nextLink holding the last key.
/// `carry` is query text (`$filter=…&`) every nextLink repeats; `count`
/// becomes `@odata.count` on the first page.
#[allow(clippy::too_many_arguments)]
pub(super) fn page_reply<T>(
    map: &BTreeMap<String, T>,
    after: Option<&str>,
    size: usize,
    link: &str,
    top: Option<usize>,
    render: impl Fn(&T) -> String,
    context: &str,
    base: &str,
    version: &str,
    carry: &str,
    count: Option<usize>,
) -> Reply {
    let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
    let mut iter = map.range::<String, _>((lower, Bound::Unbounded));
    let mut body =
        format!("{{\"@odata.context\":{}", Value::String(format!("{base}/{version}/$metadata#{context}")));
    if let Some(n) = count.filter(|_| after.is_none()) {
        body.push_str(&format!(",\"@odata.count\":{n}"));
    }
    body.push_str(",\"value\":[");
    let mut last = None;
    for i in 0..size {
        let Some((id, item)) = iter.next() else { break };
        if i > 0 {
            body.push(',');
        }
        body.push_str(&render(item));
        last = Some(id.clone());
    }
    body.push(']');
    if let (Some(last), Some(_)) = (last, iter.next()) {
        let mut next = format!("{link}?{carry}");
        if let Some(top) = top {
            next.push_str(&format!("$top={top}&"));
        }
        next.push_str(&format!("$skiptoken={}", hex(&last)));
        body.push_str(&format!(",\"@odata.nextLink\":{}", Value::String(next)));
    }
    body.push('}');
    Reply::raw_json(200, body.into_bytes())
}

pub(super) fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

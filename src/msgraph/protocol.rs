//! Graph's protocol conventions on top of [`GraphClient`]: paging, delta
//! rounds and JSON batching.
//!
//! * **Paging** ([`Pager`]): `@odata.nextLink` is followed verbatim — never
//!   rebuilt or re-encoded (graph-api.md §3.4, the double-encoding pitfall)
//!   — and only to the configured Graph root. Two guards stop a looping
//!   server with [`GraphError::PagingLoop`] instead of paging forever: a
//!   link that was already followed in this listing, and a non-empty page
//!   whose content (a hash of its items) was already seen, which catches the
//!   "same page under a fresh token" bug as well. A run of 1,000 empty pages
//!   also stops. Three more bound a server that sends fresh links forever:
//!   a run of [`MAX_STALE_RUN`] pages that add nothing new (no id not seen
//!   before in this listing, no new `members@delta` batch), more items
//!   than twice the `@odata.count` the server reported, and more than
//!   [`crate::msgraph::ClientConfig::max_pages`] pages (50,000 by default,
//!   `--max-pages` raises it). Graph may repeat an object within a round, so
//!   a repeat alone is no error; only a long run of pages made of nothing
//!   else is.
//! * **Every item has an id** (`page_from`): a page whose `value` holds
//!   anything but objects with a valid Graph id
//!   ([`crate::msgraph::ids::is_valid`]) is an error naming the endpoint
//!   and the item, and nothing of it is stored. An item without an id
//!   would become a snapshot row nobody can update or delete, and a plan
//!   action aimed at `""`.
//! * **Delta** is the same pager: a round ends on a page carrying
//!   `@odata.deltaLink` ([`Pager::delta_link`]), which the caller persists;
//!   the next round starts from it. `@removed` and `members@delta` are read
//!   by the snapshot ([`crate::msgraph::snapshot`]) when it applies a round.
//! * **Batching** ([`batch`]): at most [`MAX_BATCH`] requests per `$batch`;
//!   items answered 429/503/504 are sent again on their own, after the
//!   longest `Retry-After` among them (or the backoff), up to the retry cap
//!   and within the retry budget (an item still throttled then keeps its
//!   429 as its answer); the others keep their answer. Results come back in request order
//!   whatever order Graph used.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::msgraph::client::{parse_retry_after, path_of, ApiVersion, GraphClient, Request};
use crate::msgraph::error::GraphError;

/// One page of a collection.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// The items of `value`.
    pub items: Vec<Value>,
    /// `@odata.nextLink`, when more pages follow.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`, on the last page of a delta round.
    pub delta_link: Option<String>,
    /// `@odata.count`, when the server sent it.
    pub count: Option<u64>,
}

/// Reads one page at `url`.
pub async fn get_page(client: &GraphClient, url: &str) -> Result<Page, GraphError> {
    let value = client.send_json(&Request::get(url)).await?;
    page_from(value, url, client)
}

fn page_from(mut value: Value, url: &str, client: &GraphClient) -> Result<Page, GraphError> {
    let malformed =
        |message: &str| GraphError::Malformed { path: path_of(url), message: message.to_string() };
    let Some(object) = value.as_object_mut() else { return Err(malformed("not a JSON object")) };
    let items = match object.remove("value") {
        Some(Value::Array(items)) => items,
        _ => return Err(malformed("no `value` array")),
    };
    let link = |key: &str| -> Result<Option<String>, GraphError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                client.check_link(s)?;
                Ok(Some(s.clone()))
            }
            Some(_) => Err(malformed(&format!("`{key}` is not a string"))),
        }
    };
    for (i, item) in items.iter().enumerate() {
        let id = item.as_object().and_then(|o| o.get("id")).and_then(Value::as_str);
        match id {
            Some(id) if crate::msgraph::ids::is_valid(id) => {}
            Some(id) => {
                return Err(malformed(&format!(
                    "item {i} of the page has id {}, which is not a Graph object id; nothing of the page was stored",
                    crate::msgraph::ids::shown(id)
                )))
            }
            None => {
                let what = if item.is_object() { "an object without a string `id`" } else { "not an object" };
                return Err(malformed(&format!("item {i} of the page is {what}; nothing of the page was stored")));
            }
        }
    }
    let count = object.get("@odata.count").and_then(Value::as_u64);
    Ok(Page { next_link: link("@odata.nextLink")?, delta_link: link("@odata.deltaLink")?, items, count })
}

/// Remembers the links and pages of one listing, to stop a looping server.
///
/// ```
/// use fleetlab::msgraph::LoopGuard;
/// let mut guard = LoopGuard::new("/v1.0/devices");
/// assert!(guard.visit_link("https://graph.microsoft.com/v1.0/devices?$skiptoken=a").is_ok());
/// assert!(guard.visit_link("https://graph.microsoft.com/v1.0/devices?$skiptoken=a").is_err());
/// let page = vec![serde_json::json!({"id": "1"})];
/// assert!(guard.visit_page(&page).is_ok());
/// assert!(guard.visit_page(&page).is_err());
/// ```
#[derive(Debug)]
pub struct LoopGuard {
    path: String,
    links: HashSet<String>,
    pages: HashSet<u64>,
    empty_run: u32,
    seen: HashSet<u64>,
    stale_run: u32,
    page_count: u64,
    max_pages: u64,
    items: u64,
    reported: Option<u64>,
}

/// Consecutive empty pages tolerated (Graph may send empty pages with a
/// nextLink, but not forever).
const MAX_EMPTY_RUN: u32 = 1000;

/// Consecutive non-empty pages that add nothing new, tolerated.
pub const MAX_STALE_RUN: u32 = 20;

impl LoopGuard {
    /// A guard for the listing of `path`.
    pub fn new(path: &str) -> LoopGuard {
        LoopGuard::with_max_pages(path, crate::msgraph::client::DEFAULT_MAX_PAGES)
    }

    /// A guard allowing at most `max_pages` pages.
    pub fn with_max_pages(path: &str, max_pages: u64) -> LoopGuard {
        LoopGuard {
            path: path.to_string(),
            links: HashSet::new(),
            pages: HashSet::new(),
            empty_run: 0,
            seen: HashSet::new(),
            stale_run: 0,
            page_count: 0,
            max_pages,
            items: 0,
            reported: None,
        }
    }

    fn looping(&self, what: String) -> GraphError {
        GraphError::PagingLoop { path: self.path.clone(), what }
    }

    /// Records a page's size and reported count; an error once the listing
    /// has more pages than allowed or more items than the server said it
    /// had (twice over, plus slack: counts are estimates under churn).
    pub fn visit_counts(&mut self, items: usize, count: Option<u64>) -> Result<(), GraphError> {
        self.page_count += 1;
        self.items += items as u64;
        if self.page_count > self.max_pages {
            return Err(self.looping(format!(
                "more than {} pages in one listing; if the tenant really is that large, raise --max-pages",
                self.max_pages
            )));
        }
        if self.reported.is_none() {
            self.reported = count;
        }
        if let Some(reported) = self.reported {
            let cap = reported.saturating_mul(2).saturating_add(1000);
            if self.items > cap {
                return Err(self.looping(format!(
                    "the server reported {reported} items (@odata.count) but has sent {} so far",
                    self.items
                )));
            }
        }
        Ok(())
    }

    /// Records which ids (and `members@delta` batches) a page brings; an
    /// error after [`MAX_STALE_RUN`] non-empty pages in a row bring nothing
    /// new.
    pub fn visit_news(&mut self, items: &[Value]) -> Result<(), GraphError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut fresh = false;
        for item in items {
            let id = item.get("id").and_then(Value::as_str).unwrap_or("");
            fresh |= self.seen.insert(fnv(id.as_bytes(), 0));
            if let Some(members) = item.get("members@delta") {
                fresh |= self.seen.insert(fnv(members.to_string().as_bytes(), fnv(id.as_bytes(), 1)));
            }
        }
        self.stale_run = if fresh { 0 } else { self.stale_run + 1 };
        if self.stale_run >= MAX_STALE_RUN {
            return Err(self.looping(format!(
                "{MAX_STALE_RUN} pages in a row brought only objects already received in this listing"
            )));
        }
        Ok(())
    }

    /// Records that `link` is about to be followed; an error if it was before.
    pub fn visit_link(&mut self, link: &str) -> Result<(), GraphError> {
        if self.links.insert(link.to_string()) {
            Ok(())
        } else {
            Err(GraphError::PagingLoop {
                path: self.path.clone(),
                what: "the server sent a nextLink that was already followed".into(),
            })
        }
    }

    /// Records a page's items; an error if the same non-empty page was seen.
    pub fn visit_page(&mut self, items: &[Value]) -> Result<(), GraphError> {
        if items.is_empty() {
            self.empty_run += 1;
            if self.empty_run > MAX_EMPTY_RUN {
                return Err(GraphError::PagingLoop {
                    path: self.path.clone(),
                    what: format!("more than {MAX_EMPTY_RUN} empty pages in a row"),
                });
            }
            return Ok(());
        }
        self.empty_run = 0;
        let mut hash = fnv(&items.len().to_le_bytes(), 2);
        for item in items {
            hash = fnv(item.to_string().as_bytes(), hash);
        }
        if self.pages.insert(hash) {
            Ok(())
        } else {
            Err(GraphError::PagingLoop {
                path: self.path.clone(),
                what: format!("a page of {} items came back a second time under another link", items.len()),
            })
        }
    }
}

/// FNV-1a over `bytes`, continuing from `seed`: stable across runs and
/// Rust versions, unlike the std hasher, and enough to tell pages apart.
pub(crate) fn fnv(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Follows a listing or a delta round page by page.
pub struct Pager {
    client: GraphClient,
    next: Option<String>,
    guard: LoopGuard,
    delta_link: Option<String>,
}

impl Pager {
    /// Starts at `url` (an initial URL, a saved nextLink, or a deltaLink).
    pub fn new(client: &GraphClient, url: &str) -> Pager {
        Pager {
            client: client.clone(),
            next: Some(url.to_string()),
            guard: LoopGuard::with_max_pages(&path_of(url), client.config().max_pages),
            delta_link: None,
        }
    }

    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Page>, GraphError> {
        let Some(url) = self.next.take() else { return Ok(None) };
        self.guard.visit_link(&url)?;
        let page = get_page(&self.client, &url).await?;
        self.guard.visit_page(&page.items)?;
        self.guard.visit_counts(page.items.len(), page.count)?;
        self.guard.visit_news(&page.items)?;
        self.next = page.next_link.clone();
        if page.delta_link.is_some() {
            self.delta_link = page.delta_link.clone();
        }
        Ok(Some(page))
    }

    /// The deltaLink that ended the round, once it has.
    pub fn delta_link(&self) -> Option<&str> {
        self.delta_link.as_deref()
    }
}

/// Every item of a (small) collection.
pub async fn list_all(client: &GraphClient, url: &str) -> Result<Vec<Value>, GraphError> {
    let mut pager = Pager::new(client, url);
    let mut out = Vec::new();
    while let Some(page) = pager.next_page().await? {
        out.extend(page.items);
    }
    Ok(out)
}

/// Requests per `$batch`, Graph's limit.
pub const MAX_BATCH: usize = 20;

/// One request inside a `$batch`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchRequest {
    /// Unique within the batch.
    pub id: String,
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: String,
    /// Relative to the version root, e.g. `/devices/{id}`.
    pub url: String,
    /// JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Headers (`Content-Type` is added when there is a body).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// One answer inside a `$batch` response.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchResponse {
    /// The request's id.
    pub id: String,
    /// HTTP status of the item.
    pub status: u16,
    /// Item headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Item body.
    #[serde(default)]
    pub body: Option<Value>,
}

#[derive(Deserialize)]
struct BatchEnvelope {
    responses: Vec<BatchResponse>,
}

/// Sends `requests` as `$batch` calls of at most [`MAX_BATCH`], retrying
/// throttled items alone, and returns one response per request, in order.
pub async fn batch(
    client: &GraphClient,
    version: ApiVersion,
    requests: Vec<BatchRequest>,
) -> Result<Vec<BatchResponse>, GraphError> {
    let mut seen = HashSet::new();
    for r in &requests {
        if !seen.insert(r.id.clone()) {
            return Err(GraphError::Config(format!("batch request id {:?} is used twice", r.id)));
        }
    }
    let chunks: Vec<Vec<BatchRequest>> = requests.chunks(MAX_BATCH).map(<[BatchRequest]>::to_vec).collect();
    let futures = chunks.into_iter().map(|chunk| batch_chunk(client, version, chunk));
    let results = futures_util::future::join_all(futures).await;
    let mut out = Vec::with_capacity(requests.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

async fn batch_chunk(
    client: &GraphClient,
    version: ApiVersion,
    chunk: Vec<BatchRequest>,
) -> Result<Vec<BatchResponse>, GraphError> {
    let url = client.url(version, "/$batch");
    let policy = client.config().retry;
    let mut done: BTreeMap<String, BatchResponse> = BTreeMap::new();
    let mut pending: Vec<BatchRequest> = chunk
        .iter()
        .cloned()
        .map(|mut r| {
            if r.body.is_some() && !r.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
                r.headers.insert("Content-Type".into(), "application/json".into());
            }
            r
        })
        .collect();
    let mut round = 0u32;
    let deadline = std::time::Instant::now() + policy.budget;
    while !pending.is_empty() {
        round += 1;
        let idempotent = pending.iter().all(|r| !r.method.eq_ignore_ascii_case("POST"));
        let mut request =
            Request::json(Method::POST, url.clone(), &serde_json::json!({ "requests": pending }));
        request.idempotent = idempotent;
        let value = client.send_json(&request).await?;
        let envelope: BatchEnvelope = serde_json::from_value(value).map_err(|e| GraphError::Malformed {
            path: path_of(&url),
            message: format!("batch response: {e}"),
        })?;
        let mut wait: Option<Duration> = None;
        let mut retry = Vec::new();
        let by_id: BTreeMap<String, BatchResponse> =
            envelope.responses.into_iter().map(|r| (r.id.clone(), r)).collect();
        for request in pending {
            let Some(response) = by_id.get(&request.id).cloned() else {
                return Err(GraphError::Malformed {
                    path: path_of(&url),
                    message: format!("no answer for batch item {:?}", request.id),
                });
            };
            let in_budget = std::time::Instant::now() < deadline;
            if matches!(response.status, 429 | 503 | 504) && round < policy.max_attempts && in_budget {
                let after = response
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                    .and_then(|(_, v)| parse_retry_after(v, SystemTime::now()));
                if let Some(d) = after {
                    wait = Some(wait.map_or(d, |w| w.max(d)));
                }
                retry.push(request);
            } else {
                done.insert(response.id.clone(), response);
            }
        }
        if !retry.is_empty() {
            let backoff = policy.base_delay.saturating_mul(1 << round.min(10)).min(policy.max_delay);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let delay = wait.unwrap_or(backoff).min(policy.max_retry_after).min(left);
            tokio::time::sleep(delay).await;
        }
        pending = retry;
    }
    Ok(chunk.iter().filter_map(|r| done.remove(&r.id)).collect())
}

// fleetlab serve UI: plain JavaScript over the HTTP API (docs/serve.md), no build step.
const $ = (sel) => document.querySelector(sel);
const PAGE = 100;
let token = sessionStorage.getItem("fleetlab-token") || "";

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, body, signal) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { headers, signal };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (res.status === 401) $("#token-form").hidden = false;
  if (!res.ok) throw new ApiError(res.status, json);
  return json ?? text;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function fail(where, err) {
  if (err?.name === "AbortError") return;
  where.replaceChildren(el("p", { class: "error", role: "alert" }, err?.message || String(err)));
}

// --- pages -----------------------------------------------------------------
const loaded = {};
function show() {
  const page = (location.hash || "#lab").slice(1);
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== `page-${page}`;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!loaded[page]) {
    loaded[page] = true;
    ({ groups: loadGroups, tenant: loadTenant, simulate: loadSimulate }[page] || (() => {}))();
  }
}

// --- Rule lab ----------------------------------------------------------------
const lab = { seq: 0, controller: null, offset: 0, count: 0, rule: "", object: null };

// Byte offsets (the API's spans) to string indices.
function byteToIndex(text, byte) {
  const enc = new TextEncoder();
  let bytes = 0;
  let i = 0;
  for (const ch of text) {
    if (bytes >= byte) break;
    bytes += enc.encode(ch).length;
    i += ch.length;
  }
  return i;
}

function paintMirror(text, spans) {
  const mirror = $("#rule-mirror");
  mirror.replaceChildren();
  let at = 0;
  for (const [s, e] of spans) {
    if (s < at) continue;
    mirror.append(text.slice(at, s));
    mirror.append(el("mark", { class: "err-span" }, text.slice(s, Math.max(e, s + 1)) || " "));
    at = Math.max(e, s + 1);
  }
  mirror.append(text.slice(at) + "\n");
}

function ruleBody() {
  const body = { rule: $("#rule").value, lenient: $("#lenient").checked };
  if ($("#object").value) body.object = $("#object").value;
  return body;
}

async function onRuleInput() {
  const seq = ++lab.seq;
  lab.controller?.abort();
  lab.controller = new AbortController();
  const { signal } = lab.controller;
  const text = $("#rule").value;
  if (!text.trim()) {
    paintMirror(text, []);
    $("#diagnostics").replaceChildren();
    $("#member-count").value = "–";
    $("#member-count").textContent = "–";
    $("#member-table tbody").replaceChildren();
    return;
  }
  try {
    const check = await api("/api/v1/check", ruleBody(), signal);
    if (seq !== lab.seq) return;
    showCheck(text, check);
    if (!check.valid) {
      $("#member-count").textContent = "–";
      $("#member-table tbody").replaceChildren();
      $("#page-info").textContent = "";
      return;
    }
    lab.rule = text;
    lab.offset = 0;
    await loadMembers(signal, seq);
  } catch (err) {
    if (seq === lab.seq) fail($("#diagnostics"), err);
  }
}

function showCheck(text, check) {
  const list = $("#diagnostics");
  list.replaceChildren();
  const spans = [];
  for (const d of check.errors) {
    const s = byteToIndex(text, d.span.start);
    const e = byteToIndex(text, d.span.end);
    spans.push([s, e]);
    list.append(el("li", { class: "diagnostic", "data-testid": "diagnostic" },
      el("strong", {}, `${d.code} `), `line ${d.line}, column ${d.column}: ${d.message}`,
      d.help ? el("div", { class: "help" }, `help: ${d.help}`) : null));
  }
  for (const w of check.warnings) {
    list.append(el("li", { class: "warning", "data-testid": "warning" }, el("strong", {}, `${w.code} `), w.message));
  }
  paintMirror(text, spans.sort((a, b) => a[0] - b[0]));
  $("#canonical").textContent = check.valid ? `Canonical: ${check.canonical}` : "";
}

async function loadMembers(signal, seq = lab.seq) {
  const body = { ...ruleBody(), rule: lab.rule, offset: lab.offset, limit: PAGE, names: true };
  const r = await api("/api/v1/eval", body, signal);
  if (seq !== lab.seq) return;
  lab.count = r.count;
  lab.object = r.object;
  $("#member-count").textContent = String(r.count);
  $("#member-noun").textContent = `${r.object === "user" ? "users" : "devices"} of ${r.total}`;
  const t = r.timings;
  $("#timing").textContent = `(${(t.check_ms + t.index_ms + t.eval_ms).toFixed(1)} ms)`;
  const rows = r.ids.map((id, k) => {
    const name = r.displayNames?.[k] ?? "";
    const button = el("button", { type: "button", class: "link", "data-id": id,
      onclick: () => explain(id) }, name || id);
    return el("tr", {}, el("td", { class: "num" }, String(r.offset + k + 1)), el("td", {}, button), el("td", { class: "id" }, id));
  });
  $("#member-table tbody").replaceChildren(...rows);
  const last = Math.min(r.offset + r.ids.length, r.count);
  $("#page-info").textContent = r.count ? `${r.offset + 1}–${last} of ${r.count}` : "no members";
  $("#prev").disabled = r.offset === 0;
  $("#next").disabled = r.next_offset == null;
}

async function explain(key) {
  const body = ruleBody();
  if (lab.object === "user") body.user = key; else body.device = key;
  const tree = $("#explain-tree");
  try {
    const r = await api("/api/v1/explain", body);
    $("#explain-title").textContent = `Explanation: ${r.displayName || r.id}`;
    tree.replaceChildren(el("ul", { class: "tree", role: "tree" }, node(r.explanation)));
  } catch (err) {
    fail(tree, err);
  }
}

function node(n) {
  const value = n.propertyToEvaluate
    ? el("span", { class: "value" }, ` [${n.propertyToEvaluate.propertyName} = ${JSON.stringify(n.propertyToEvaluate.propertyValue)}]`)
    : null;
  const li = el("li", { role: "treeitem", "aria-expanded": "true" },
    el("span", { class: n.expressionResult ? "pass" : "fail" }, n.expressionResult ? "true" : "false"),
    " ", el("code", {}, n.expression), value);
  const kids = n.expressionEvaluationDetails || [];
  if (kids.length) li.append(el("ul", { role: "group" }, ...kids.map(node)));
  return li;
}

function setupLab() {
  let timer = 0;
  $("#rule").addEventListener("input", () => {
    paintMirror($("#rule").value, []);
    clearTimeout(timer);
    timer = setTimeout(onRuleInput, 120);
  });
  $("#rule").addEventListener("scroll", () => { $("#rule-mirror").scrollTop = $("#rule").scrollTop; });
  for (const id of ["#lenient", "#object"]) $(id).addEventListener("change", onRuleInput);
  $("#format").addEventListener("click", async () => {
    try {
      const check = await api("/api/v1/check", ruleBody());
      if (check.valid) { $("#rule").value = check.canonical; onRuleInput(); } else showCheck($("#rule").value, check);
    } catch (err) { fail($("#diagnostics"), err); }
  });
  $("#prev").addEventListener("click", () => { lab.offset = Math.max(0, lab.offset - PAGE); loadMembers().catch((e) => fail($("#diagnostics"), e)); });
  $("#next").addEventListener("click", () => { lab.offset += PAGE; loadMembers().catch((e) => fail($("#diagnostics"), e)); });
  $("#explain-form").addEventListener("submit", (e) => { e.preventDefault(); explain($("#explain-key").value.trim()); });
}

// --- Groups ------------------------------------------------------------------
let groupNames = [];
async function loadGroups(compare) {
  try {
    const body = { members_limit: 0, devices_limit: 0 };
    if (compare) body.compare = compare;
    const r = await api("/api/v1/groups", body);
    groupNames = r.groups.map((g) => g.name);
    $("#groups-summary").textContent = `${r.groups.length} groups; ${r.devices_in_any} of ${r.devices_total} devices are in at least one.`;
    $("#groups-table tbody").replaceChildren(...r.groups.map((g) => el("tr", {},
      el("th", { scope: "row" }, g.name), el("td", {}, g.source), el("td", { class: "num" }, String(g.count)),
      el("td", {}, el("code", {}, g.rule)))));
    const overlaps = [...r.overlaps].sort((a, b) => b.count - a.count);
    $("#overlaps-table tbody").replaceChildren(...overlaps.map((o) => el("tr", {},
      el("td", {}, groupNames[o.a]), el("td", {}, groupNames[o.b]), el("td", { class: "num" }, String(o.count)))));
    if (r.changes) {
      $("#changes-table").hidden = false;
      $("#changes-table tbody").replaceChildren(...r.changes.map((c) => el("tr", {},
        el("th", { scope: "row" }, groupNames[c.group]), el("td", { class: "num" }, String(c.before)),
        el("td", { class: "num" }, String(c.after)), el("td", { class: "num" }, `+${c.added_count}`),
        el("td", { class: "num" }, `−${c.removed_count}`))));
    }
  } catch (err) { fail($("#groups-summary"), err); }
}

function parseInventory(text) {
  const t = text.trim();
  if (t.startsWith("[")) return JSON.parse(t);
  if (t.startsWith("{") && !t.includes("\n{")) {
    const page = JSON.parse(t);
    return Array.isArray(page.value) ? page.value : [page];
  }
  return t.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function setupGroups() {
  $("#compare-file").addEventListener("change", async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    try { await loadGroups(parseInventory(await file.text())); } catch (err) { fail($("#groups-summary"), err); }
  });
}

// --- Tenant ------------------------------------------------------------------
async function loadTenant() {
  const body = $("#tenant-body");
  try {
    const plan = await api("/api/v1/plan", { devices_limit: 0 });
    const s = plan.summary;
    const modes = Object.entries(s.per_mode).map(([m, n]) => `${m} ${n}`).join(", ");
    body.replaceChildren(
      el("p", {}, `${plan.tenant}: ${s.devices} devices, ${s.registered} registered with Autopilot; ${s.assigned} with a profile, ${s.no_profile} without, ${s.multiple} matching several profiles.`),
      el("p", {}, `By mode: ${modes || "none"}.`));
    $("#profiles-table tbody").replaceChildren(...plan.profiles.map((p) => el("tr", {},
      el("th", { scope: "row" }, p.name), el("td", {}, p.mode), el("td", {}, p.join),
      el("td", { class: "num" }, String(p.devices)), el("td", { class: "num" }, String(p.lost_to_older)))));
    for (const filter of ["several", "none"]) {
      const r = await api("/api/v1/plan", { filter, devices_limit: 200 });
      const items = r.devices.map((d) => el("li", {}, `${d.displayName || d.id}: ${d.profile || "no profile"}`,
        d.also_matched.length ? ` (also ${d.also_matched.join(", ")})` : "", el("div", { class: "muted" }, d.reason)));
      $(`#${filter}`).replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "none")]));
    }
    const flows = await api("/api/v1/flows");
    const select = $("#flow-profile");
    select.replaceChildren(...flows.map((f, i) => el("option", { value: String(i) }, `${f.profile} (${f.title})`)));
    const draw = () => {
      const f = flows[Number(select.value)];
      if (!f) return;
      const fig = $("#flow-figure");
      fig.innerHTML = f.svg;
      fig.append(el("figcaption", {}, `${f.profile}: ${f.title}, ${f.nodes} states, ${f.edges} transitions`));
    };
    select.addEventListener("change", draw);
    draw();
  } catch (err) { fail(body, err); }
}

function setupTenant() {
  $("#whatif-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("#whatif-result");
    try {
      const r = await api("/api/v1/plan", { [$("#whatif-kind").value]: $("#whatif-text").value });
      const rows = r.changes.slice(0, 500).map((c) => el("tr", {}, el("th", { scope: "row" }, c.display_name || c.id),
        el("td", {}, `${c.profile.before ?? "–"} → ${c.profile.after ?? "–"}`),
        el("td", {}, `${c.mode.before ?? "–"} → ${c.mode.after ?? "–"}`)));
      out.replaceChildren(el("p", {}, `${r.changed} devices change: ${r.profile_changed} profile, ${r.mode_changed} mode, ${r.groups_changed} groups.`),
        el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Device"), el("th", { scope: "col" }, "Profile"), el("th", { scope: "col" }, "Mode"))), el("tbody", {}, ...rows)));
    } catch (err) { fail(out, err); }
  });
}

// --- Simulate ----------------------------------------------------------------
let scenarios = [];
async function loadSimulate() {
  try {
    scenarios = await api("/api/v1/scenarios");
    $("#sim-bundled").replaceChildren(...scenarios.map((s) => el("option", { value: s.name }, s.name)));
    $("#sim-text").value = scenarios[0]?.text || "";
  } catch (err) { fail($("#sim-summary"), err); }
}

function setupSimulate() {
  $("#sim-bundled").addEventListener("change", () => {
    $("#sim-text").value = scenarios.find((s) => s.name === $("#sim-bundled").value)?.text || "";
  });
  $("#sim-file").addEventListener("change", async (e) => {
    const f = e.target.files?.[0];
    if (f) $("#sim-text").value = await f.text();
  });
  $("#sim-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const bar = $("#sim-progress");
    const state = $("#sim-state");
    $("#sim-run").disabled = true;
    try {
      let job = await api("/api/v1/simulate", { scenario: $("#sim-text").value, replications: Number($("#sim-reps").value) || undefined });
      while (job.state === "running") {
        bar.max = job.total; bar.value = job.done;
        state.textContent = `${job.done} of ${job.total} replications`;
        await new Promise((r) => setTimeout(r, 200));
        job = await api(`/api/v1/simulate/${job.id}`);
      }
      bar.max = job.total; bar.value = job.done;
      if (job.state === "failed") throw new Error(job.error);
      state.textContent = `done: ${job.total} replications`;
      $("#sim-summary").replaceChildren(el("p", {}, `Scenario ${job.report.scenario ?? job.scenario}.`));
      const html = await api(`/api/v1/simulate/${job.id}/report.html`);
      const frame = $("#sim-report");
      frame.srcdoc = html;
      frame.hidden = false;
    } catch (err) {
      fail($("#sim-summary"), err);
    } finally {
      $("#sim-run").disabled = false;
    }
  });
}

// --- start -------------------------------------------------------------------
async function status() {
  try {
    const s = await api("/api/v1/status");
    const parts = [`${s.devices.count} devices`];
    if (s.users.count) parts.push(`${s.users.count} users`);
    if (s.tenant) parts.push(`tenant ${s.tenant.name}`);
    parts.push(`${s.groups.count} groups`);
    $("#status").textContent = parts.join(" · ") + (s.last_reload_error ? ` · reload failed: ${s.last_reload_error}` : "");
  } catch (err) {
    $("#status").textContent = err.message;
  }
}

$("#token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("#token").value;
  sessionStorage.setItem("fleetlab-token", token);
  $("#token-form").hidden = true;
  for (const k of Object.keys(loaded)) delete loaded[k];
  status();
  show();
});
setupLab();
setupGroups();
setupTenant();
setupSimulate();
window.addEventListener("hashchange", show);
status();
show();

//! `fleetlab serve` against the CLI: the HTTP API gives the answers the
//! commands give (`eval` ids, `check --format json`, `explain --format
//! json`, `plan --format json`), Graph's `evaluateDynamicMembership` shape,
//! and JSON errors with codes for everything a client can get wrong.

use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use fleetlab::serve::{Limits, ServeConfig, Server, Sources};
use serde_json::{json, Value};

use crate::sync::root;
use crate::sync_cli::{fleetlab, run};

type TestResult = Result<(), Box<dyn Error>>;

const DEVICES: &str = "scenarios/contoso/devices.json";
const USERS: &str = "scenarios/contoso/users.json";
const TENANT: &str = "scenarios/contoso/tenant.toml";

const RULES: &[&str] = &[
    r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#,
    r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#,
    r#"device.displayName -match "^CON-LT""#,
    r#"device.accountEnabled -eq false"#,
    r#"-not (device.deviceOSType -in ["iOS", "Android"])"#,
];

/// A `fleetlab serve` process, killed when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `fleetlab serve --port 0 ARGS` and reads the URL it prints first.
fn serve(args: &[&str]) -> Result<Served, Box<dyn Error>> {
    let mut child = fleetlab()
        .args(["serve", "--port", "0", "--no-watch"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut served = Served { child, url: String::new() };
    let line = rx.recv_timeout(Duration::from_secs(120))?;
    let url = line.trim().to_string();
    if !url.starts_with("http://127.0.0.1:") {
        return Err(format!("first stdout line is {line:?}, not the URL").into());
    }
    served.url = url;
    Ok(served)
}

fn contoso() -> Result<Served, Box<dyn Error>> {
    serve(&["--devices", DEVICES, "--users", USERS, "--tenant", TENANT])
}

/// One HTTP/1.1 request; the status and the body parsed as JSON.
fn call(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, Value), Box<dyn Error>> {
    let (status, text) = raw(url, method, path, headers, body)?;
    let value =
        serde_json::from_slice(&text).map_err(|e| format!("{path}: {status} body is not JSON ({e})"))?;
    Ok((status, value))
}

fn raw(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, Vec<u8>), Box<dyn Error>> {
    let host = url.strip_prefix("http://").ok_or("not an http URL")?;
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no header end")?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status: u16 = head.split_whitespace().nth(1).ok_or("no status")?.parse()?;
    let mut body = response[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(end + 2..end + 2 + size).ok_or("short chunk")?);
        b = b.get(end + 4 + size..).ok_or("short chunk")?;
    }
}

fn post(url: &str, path: &str, body: &Value) -> Result<(u16, Value), Box<dyn Error>> {
    call(url, "POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes())
}

fn cli_ids(rule: &str) -> Result<Vec<String>, Box<dyn Error>> {
    let ran = run(fleetlab().args(["eval", "--devices", DEVICES, "--rule", rule]))?;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    Ok(ran.stdout.lines().map(str::to_string).collect())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[test]
fn eval_lists_the_ids_fleetlab_eval_prints_page_by_page() -> TestResult {
    let server = contoso()?;
    for rule in RULES {
        let expected = cli_ids(rule)?;
        let (status, whole) = post(&server.url, "/api/v1/eval", &json!({ "rule": rule }))?;
        assert_eq!(status, 200, "{whole}");
        assert_eq!(whole["count"], expected.len(), "{rule}");
        assert_eq!(strings(&whole["ids"]), expected, "{rule}");
        // The same ids, 7 at a time.
        let mut paged = Vec::new();
        let mut offset = Some(0);
        while let Some(o) = offset {
            let (_, page) =
                post(&server.url, "/api/v1/eval", &json!({ "rule": rule, "offset": o, "limit": 7 }))?;
            paged.extend(strings(&page["ids"]));
            offset = page["next_offset"].as_u64().map(|n| n as usize);
        }
        assert_eq!(paged, expected, "{rule}");
    }
    Ok(())
}

#[test]
fn eval_takes_inline_devices_and_user_rules() -> TestResult {
    let server = contoso()?;
    let devices = json!([
        {"id": "a", "operatingSystem": "Windows", "physicalIds": ["[ZTDId]:1"]},
        {"id": "b", "operatingSystem": "iOS"},
        {"id": "c", "operatingSystem": "Windows"},
    ]);
    let (status, v) = post(&server.url, "/api/v1/eval", &json!({ "rule": RULES[1], "devices": devices }))?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(strings(&v["ids"]), ["a"]);
    assert_eq!(v["total"], 3);

    let rule = r#"user.accountEnabled -eq true"#;
    let ran = run(fleetlab().args(["eval", "--users", USERS, "--rule", rule]))?;
    let expected: Vec<String> = ran.stdout.lines().map(str::to_string).collect();
    let (_, v) = post(&server.url, "/api/v1/eval", &json!({ "rule": rule }))?;
    assert_eq!(v["object"], "user");
    assert_eq!(strings(&v["ids"]), expected);
    Ok(())
}

#[test]
fn check_answers_what_check_format_json_prints() -> TestResult {
    let server = contoso()?;
    for rule in
        [RULES[1], "device.deviceOSType –eq \"Windows\"", "device.nope -eq 1", "(device.deviceOSType -eq"]
    {
        let ran = run(fleetlab().args(["check", "--format", "json", "--rule", rule]))?;
        let cli: Value = serde_json::from_str(&ran.stdout)?;
        let (status, api) = post(&server.url, "/api/v1/check", &json!({ "rule": rule }))?;
        assert_eq!(status, 200);
        for key in ["valid", "rule", "canonical", "object", "errors", "warnings"] {
            if cli.get(key).is_some() {
                assert_eq!(api[key], cli[key], "{rule}: {key}");
            }
        }
    }
    let (_, en_dash) =
        post(&server.url, "/api/v1/check", &json!({ "rule": "device.deviceOSType –eq \"Windows\"" }))?;
    assert_eq!(en_dash["errors"][0]["code"], "invalid-character");
    assert_eq!(en_dash["errors"][0]["span"], json!({ "start": 20, "end": 23 }));
    Ok(())
}

#[test]
fn explain_and_graphs_action_agree_with_explain_and_eval() -> TestResult {
    let server = contoso()?;
    let rule = RULES[1];
    let ids = cli_ids(rule)?;
    let (_, all) =
        post(&server.url, "/api/v1/eval", &json!({ "rule": "device.objectId -ne null", "limit": 40 }))?;
    let sample = strings(&all["ids"]);
    for id in &sample {
        let ran = run(fleetlab().args([
            "explain",
            "--devices",
            DEVICES,
            "--device",
            id,
            "--format",
            "json",
            "--rule",
            rule,
        ]))?;
        let cli: Value = serde_json::from_str(&ran.stdout)?;
        let (_, api) = post(&server.url, "/api/v1/explain", &json!({ "rule": rule, "device": id }))?;
        assert_eq!(api["explanation"], cli, "{id}");
        assert_eq!(api["result"], ids.contains(id), "{id}");

        let (status, graph) = post(
            &server.url,
            "/v1.0/groups/evaluateDynamicMembership",
            &json!({ "memberId": id, "membershipRule": rule }),
        )?;
        assert_eq!(status, 200, "{graph}");
        assert_eq!(graph["membershipRule"], rule);
        assert_eq!(graph["membershipRuleEvaluationResult"], ids.contains(id));
        let details = &graph["membershipRuleEvaluationDetails"];
        assert_eq!(details["expressionResult"], ids.contains(id));
        assert_eq!(
            details["expressionEvaluationDetails"][0]["propertyToEvaluate"]["propertyName"],
            "device.deviceOSType"
        );
        assert!(
            details["expressionEvaluationDetails"][0]["propertyToEvaluate"]["propertyValue"].is_string()
                || details["expressionEvaluationDetails"][0]["propertyToEvaluate"]["propertyValue"].is_null()
        );
    }
    // Beyond Graph: every sampled member in one call, on the beta path too.
    let (_, many) = post(
        &server.url,
        "/beta/groups/evaluateDynamicMembership",
        &json!({ "memberIds": sample, "membershipRule": rule }),
    )?;
    let results = many["value"].as_array().ok_or("no value")?;
    assert_eq!(results.len(), sample.len());
    for (r, id) in results.iter().zip(&sample) {
        assert_eq!(r["memberId"], id.as_str());
        assert_eq!(r["membershipRuleEvaluationResult"], ids.contains(id));
    }
    Ok(())
}

#[test]
fn a_loaded_groups_own_rule_answers_by_group_id() -> TestResult {
    let server = contoso()?;
    let (_, groups) = post(&server.url, "/api/v1/groups", &json!({ "members_limit": 1000 }))?;
    let group = groups["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "Autopilot - All devices"))
        .ok_or("no group")?;
    let members = strings(&group["members"]);
    assert_eq!(group["count"], members.len());
    assert_eq!(members, cli_ids(group["rule"].as_str().ok_or("no rule")?)?);
    let (_, all) =
        post(&server.url, "/api/v1/eval", &json!({ "rule": "device.objectId -ne null", "limit": 25 }))?;
    for id in strings(&all["ids"]) {
        let (status, r) = post(
            &server.url,
            "/v1.0/groups/Autopilot%20-%20All%20devices/evaluateDynamicMembership",
            &json!({ "memberId": id }),
        )?;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["membershipRuleEvaluationResult"], members.contains(&id));
    }
    let (status, missing) =
        post(&server.url, "/v1.0/groups/nope/evaluateDynamicMembership", &json!({ "memberId": "x" }))?;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("Request_ResourceNotFound")));
    Ok(())
}

#[test]
fn plan_answers_what_plan_format_json_prints() -> TestResult {
    let server = contoso()?;
    let ran = run(fleetlab().args(["plan", "--tenant", TENANT, "--devices", DEVICES, "--format", "json"]))?;
    let cli: Value = serde_json::from_str(&ran.stdout)?;
    let (status, api) = post(&server.url, "/api/v1/plan", &json!({}))?;
    assert_eq!(status, 200, "{api}");
    for key in ["summary", "profiles", "groups"] {
        assert_eq!(api[key], cli[key], "{key}");
    }
    let cli_devices = cli["devices"].as_array().ok_or("no devices")?;
    let api_devices = api["devices"].as_array().ok_or("no devices")?;
    assert_eq!(api_devices.len(), cli_devices.len());
    for (a, c) in api_devices.iter().zip(cli_devices) {
        for key in ["id", "profile", "mode", "status", "reason", "groups", "also_matched"] {
            assert_eq!(a[key], c[key], "{}: {key}", c["id"]);
        }
    }
    let next = std::fs::read_to_string(root().join("scenarios/contoso/tenant-next.toml"))?;
    let ran = run(fleetlab().args([
        "plan",
        "--tenant",
        TENANT,
        "--devices",
        DEVICES,
        "--format",
        "json",
        "--against",
        "scenarios/contoso/tenant-next.toml",
    ]))?;
    let cli: Value = serde_json::from_str(&ran.stdout)?;
    let (_, api) = post(&server.url, "/api/v1/plan", &json!({ "against": next }))?;
    for key in ["changed", "changes", "profiles", "before", "after"] {
        assert_eq!(api[key], cli[key], "what-if {key}");
    }
    Ok(())
}

#[test]
fn every_documented_route_is_served() -> TestResult {
    let server = contoso()?;
    let (status, doc) = call(&server.url, "GET", "/api/openapi.json", &[], b"")?;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for route in fleetlab::serve::openapi::ROUTES {
        assert!(doc["paths"][route.path][route.method].is_object(), "{} {}", route.method, route.path);
        let path = route.path.replace("{id}", "1");
        let (_, body) = raw(
            &server.url,
            &route.method.to_uppercase(),
            &path,
            &[("Content-Type", "application/json")],
            b"{}",
        )?;
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("no such route"), "{} {path} is not routed", route.method);
    }
    let (status, page) = raw(&server.url, "GET", "/", &[], b"")?;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("data-testid=\"rule-input\""));
    Ok(())
}

#[test]
fn client_mistakes_are_json_errors_with_codes() -> TestResult {
    let server = Server::start(ServeConfig {
        sources: Sources { devices: root().join(DEVICES), ..Sources::default() },
        limits: Limits { max_body: 4096, max_rule_bytes: 512, ..Limits::default() },
        watch: None,
        ..ServeConfig::default()
    })?;
    let url = server.url();
    let cases: Vec<(u16, &str, (u16, Value))> = vec![
        (
            415,
            "unsupported-media-type",
            call(url, "POST", "/api/v1/eval", &[("Content-Type", "text/plain")], b"{\"rule\":\"x\"}")?,
        ),
        (
            400,
            "invalid-body",
            call(url, "POST", "/api/v1/eval", &[("Content-Type", "application/json")], b"{\"rule\": ")?,
        ),
        (
            400,
            "invalid-body",
            post(url, "/api/v1/eval", &json!({ "rule": "device.accountEnabled -eq true", "limti": 3 }))?,
        ),
        (
            400,
            "invalid-rule",
            post(url, "/api/v1/eval", &json!({ "rule": "device.deviceOSType –eq \"Windows\"" }))?,
        ),
        (413, "rule-too-large", post(url, "/api/v1/eval", &json!({ "rule": "x".repeat(600) }))?),
        (413, "body-too-large", post(url, "/api/v1/check", &json!({ "rule": "y".repeat(5000) }))?),
        (
            404,
            "not-found",
            post(url, "/api/v1/explain", &json!({ "rule": RULES[0], "device": "no-such-device" }))?,
        ),
        (409, "no-tenant", post(url, "/api/v1/plan", &json!({}))?),
        (404, "not-found", call(url, "GET", "/nope", &[], b"")?),
        (403, "forbidden-host", call(url, "GET", "/api/v1/status", &[("Host", "evil.example:80")], b"")?),
    ];
    for (status, code, (got, body)) in cases {
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    Ok(())
}

#[test]
fn work_over_its_time_budget_is_an_error_not_a_hung_request() -> TestResult {
    let server = Server::start(ServeConfig {
        sources: Sources { devices: root().join(DEVICES), ..Sources::default() },
        limits: Limits { budget: Duration::from_nanos(1), ..Limits::default() },
        watch: None,
        ..ServeConfig::default()
    })?;
    let devices: Vec<Value> =
        (0..20_000).map(|i| json!({ "id": format!("d{i}"), "displayName": format!("PC-{i}"), "operatingSystem": "Windows" })).collect();
    let (status, body) =
        post(server.url(), "/api/v1/eval", &json!({ "rule": RULES[1], "devices": devices }))?;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("time-budget-exceeded")), "{body}");
    Ok(())
}

#[test]
fn a_token_guards_the_api_and_other_hosts_need_one() -> TestResult {
    let refused = run(fleetlab().args(["serve", "--devices", DEVICES, "--host", "0.0.0.0", "--port", "0"]))?;
    assert_eq!(refused.code, Some(2));
    assert!(refused.stderr.contains("--token-file"), "{}", refused.stderr);

    let server = Server::start(ServeConfig {
        sources: Sources { devices: root().join(DEVICES), ..Sources::default() },
        token: Some("s3cret".into()),
        watch: None,
        ..ServeConfig::default()
    })?;
    let body = json!({ "rule": RULES[0] }).to_string();
    let json_header = ("Content-Type", "application/json");
    let (status, v) = call(server.url(), "POST", "/api/v1/eval", &[json_header], body.as_bytes())?;
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = call(
        server.url(),
        "POST",
        "/api/v1/eval",
        &[json_header, ("Authorization", "Bearer s3cre")],
        body.as_bytes(),
    )?;
    assert_eq!(status, 401);
    let (status, v) = call(
        server.url(),
        "POST",
        "/api/v1/eval",
        &[json_header, ("Authorization", "Bearer s3cret")],
        body.as_bytes(),
    )?;
    assert_eq!(status, 200, "{v}");
    Ok(())
}

#[test]
fn reload_picks_up_a_changed_inventory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("devices.json");
    std::fs::write(
        &path,
        r#"[{"id": "a", "operatingSystem": "Windows"}, {"id": "b", "operatingSystem": "iOS"}]"#,
    )?;
    let server = Server::start(ServeConfig {
        sources: Sources { devices: path.clone(), ..Sources::default() },
        watch: None,
        ..ServeConfig::default()
    })?;
    let rule = json!({ "rule": r#"device.deviceOSType -eq "Windows""# });
    assert_eq!(post(server.url(), "/api/v1/eval", &rule)?.1["count"], 1);
    std::fs::write(
        &path,
        r#"[{"id": "a", "operatingSystem": "Windows"}, {"id": "c", "operatingSystem": "Windows"}]"#,
    )?;
    let (status, r) = call(server.url(), "POST", "/api/v1/reload", &[], b"")?;
    assert_eq!((status, r["devices"].as_u64()), (200, Some(2)));
    assert_eq!(strings(&post(server.url(), "/api/v1/eval", &rule)?.1["ids"]), ["a", "c"]);
    // A broken file keeps the last good inventory and says why.
    std::fs::write(&path, "[{\"id\": ")?;
    let (status, r) = call(server.url(), "POST", "/api/v1/reload", &[], b"")?;
    assert_eq!((status, r["error"]["code"].as_str()), (422, Some("reload-failed")));
    assert_eq!(post(server.url(), "/api/v1/eval", &rule)?.1["count"], 2);
    Ok(())
}

#[test]
fn a_simulation_reports_progress_then_its_report() -> TestResult {
    let server = contoso()?;
    let (status, job) =
        post(&server.url, "/api/v1/simulate", &json!({ "bundled": "s4-esp-timeout", "replications": 8 }))?;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_u64().ok_or("no id")?;
    let mut last = job;
    for _ in 0..600 {
        if last["state"] != "running" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        last = call(&server.url, "GET", &format!("/api/v1/simulate/{id}"), &[], b"")?.1;
        assert!(last["done"].as_u64() <= last["total"].as_u64());
    }
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["total"], 8);
    assert!(last["report"].is_object());
    let (status, html) = raw(&server.url, "GET", &format!("/api/v1/simulate/{id}/report.html"), &[], b"")?;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&html).contains("<svg"));
    Ok(())
}

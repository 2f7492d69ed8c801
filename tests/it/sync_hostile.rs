//! The sync adapter against servers that misbehave (tests/it/hostile.rs)
//! and against interrupted writes: every case ends with a clear error in
//! bounded time and memory, and nothing wrong is stored or sent.

use std::error::Error;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use fleetlab::msgraph::sync::{self, PullOptions, PullReport, Quiet};
use fleetlab::msgraph::{ClientConfig, GraphError, Snapshot};
use serde_json::json;

use crate::hostile::{empty_page, json, respond, token, Hostile, Req};
use crate::sync::client_config;

type TestResult = Result<(), Box<dyn Error>>;

/// A client with a 4-second budget, so a misbehaviour that eats the
/// budget ends quickly.
fn config(url: &str) -> ClientConfig {
    let mut config = client_config(url);
    config.retry.budget = Duration::from_secs(4);
    config.retry.max_retry_after = Duration::from_secs(4);
    config.max_body_bytes = 1 << 20;
    config
}

/// A client with a 30-second budget: a case that must fail at once is
/// told from one that waits by ending far below it, however loaded the
/// machine is.
fn patient(url: &str) -> ClientConfig {
    let mut config = config(url);
    config.retry.budget = Duration::from_secs(30);
    config.retry.max_retry_after = Duration::from_secs(30);
    config
}

/// Well below [`patient`]'s budget.
const AT_ONCE: Duration = Duration::from_secs(15);
/// [`config`]'s budget and a generous margin.
const WITHIN_BUDGET: Duration = Duration::from_secs(15);

fn pull_with(config: ClientConfig, db: &Path) -> Result<PullReport, GraphError> {
    sync::pull_blocking(config, db, PullOptions::default(), &Quiet)
}

/// Pulls from `server` and returns the error with how long it took.
fn failing_pull(server: &Hostile, config: ClientConfig) -> Result<(String, Duration), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    match pull_with(config, &dir.path().join("t.db")) {
        Ok(_) => Err(format!("the pull from {} succeeded", server.url).into()),
        Err(e) => Ok((e.to_string(), started.elapsed())),
    }
}

/// Graph routes other than `path_part` answer an empty last page.
fn only(
    path_part: &'static str,
    answer: impl Fn(&Req, &mut TcpStream, &str) -> std::io::Result<()> + Send + Sync + 'static,
) -> impl Fn(&Req, &mut TcpStream, &str) -> std::io::Result<()> + Send + Sync + 'static {
    move |req, stream, url| {
        if req.is_token() {
            token(stream)
        } else if req.path().contains(path_part) {
            answer(req, stream, url)
        } else {
            empty_page(stream)
        }
    }
}

#[test]
fn ids_that_are_paths_are_refused_and_never_requested() -> TestResult {
    let server = Hostile::start(only("windowsAutopilotDeploymentProfiles", |_, s, _| {
        json(s, 200, &json!({"value": [{"id": "../../../v1.0/secretpath?x=", "displayName": "P"}]}))
    }))?;
    let (error, took) = failing_pull(&server, patient(&server.url))?;
    assert!(error.contains("windowsAutopilotDeploymentProfiles"), "{error}");
    assert!(error.contains("not a Graph object id"), "{error}");
    assert!(server.hits().iter().all(|r| !r.target.contains("secretpath")), "{:?}", server.hits());
    assert!(server.hits().iter().all(|r| r.method == "GET" || r.is_token()), "nothing but reads");
    assert!(took < AT_ONCE, "{took:?}");
    Ok(())
}

#[test]
fn items_without_ids_are_an_error_naming_the_endpoint_and_nothing_is_stored() -> TestResult {
    for page in [json!({"value": [1, 2, 3]}), json!({"value": [{"x": 1}]}), json!({"value": [{"id": ""}]})] {
        let body = page.clone();
        let server = Hostile::start(only("/devices/delta", move |_, s, _| json(s, 200, &body)))?;
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("t.db");
        let error =
            pull_with(config(&server.url), &db).map(|_| ()).err().ok_or("pull succeeded")?.to_string();
        assert!(error.contains("/v1.0/devices/delta") && error.contains("item 0"), "{page}: {error}");
        let snap = Snapshot::open(&db)?;
        assert_eq!(snap.status()?.devices, 0);
        assert!(snap.staged()?.iter().all(|c| c.items == 0), "{page}: nothing staged");
    }
    Ok(())
}

#[test]
fn a_token_that_claims_to_live_forever_does_not_panic() -> TestResult {
    for expiry in ["18446744073709551615", "1e19", "\"99999999999999999999\"", "-1"] {
        let server = Hostile::start(move |req, s, _| {
            if req.is_token() {
                let body = format!(r#"{{"token_type":"Bearer","expires_in":{expiry},"access_token":"t"}}"#);
                respond(s, 200, &[("Content-Type", "application/json")], &body)
            } else {
                empty_page(s)
            }
        })?;
        let dir = tempfile::tempdir()?;
        pull_with(config(&server.url), &dir.path().join("t.db")).map_err(|e| format!("{expiry}: {e}"))?;
    }
    Ok(())
}

#[test]
fn an_endless_body_stops_at_the_size_limit() -> TestResult {
    let server = Hostile::start(only("/devices/delta", |_, s, _| {
        s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"value\":[",
        )?;
        let chunk = format!(
            "{},",
            json!({"id": "00000000-0000-0000-0000-000000000000", "displayName": "x".repeat(900)})
        );
        // Endless as far as the client can tell: 64 MiB, far past its 1 MiB limit.
        for _ in 0..(64 << 20) / chunk.len() {
            s.write_all(chunk.as_bytes())?;
        }
        Ok(())
    }))?;
    let (error, took) = failing_pull(&server, patient(&server.url))?;
    assert!(error.contains("larger than 1 MiB") && error.contains("--max-response-mb"), "{error}");
    assert!(took < AT_ONCE, "{took:?}");
    let tries = server.hits().iter().filter(|r| r.path().contains("/devices/delta")).count();
    assert_eq!(tries, 1, "not retried");
    Ok(())
}

#[test]
fn fresh_links_with_the_same_items_stop_as_a_paging_loop() -> TestResult {
    let server = Hostile::start(only("/devices/delta", |req, s, url| {
        let n = req.target.rsplit('=').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        let ids: Vec<_> = (0..3).map(|i| json!({"id": format!("d-{i}"), "n": n})).collect();
        json(
            s,
            200,
            &json!({"value": ids, "@odata.nextLink": format!("{url}/v1.0/devices/delta?$skiptoken={}", n + 1)}),
        )
    }))?;
    let (error, _) = failing_pull(&server, config(&server.url))?;
    assert!(error.contains("paging loop") && error.contains("already received"), "{error}");
    assert!(server.graph_hits() < 40, "{} requests", server.graph_hits());
    Ok(())
}

#[test]
fn endless_new_items_stop_at_the_page_cap_and_at_the_reported_count() -> TestResult {
    let endless = |count: bool| {
        only("/devices/delta", move |req, s, url| {
            let n = req.target.rsplit('=').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            let mut page = json!({"value": [{"id": format!("d-{n}")}],
                                  "@odata.nextLink": format!("{url}/v1.0/devices/delta?$skiptoken={}", n + 1)});
            if count {
                page["@odata.count"] = json!(10);
            }
            json(s, 200, &page)
        })
    };
    let server = Hostile::start(endless(false))?;
    let mut capped = config(&server.url);
    capped.max_pages = 200;
    let (error, _) = failing_pull(&server, capped)?;
    assert!(error.contains("more than 200 pages") && error.contains("--max-pages"), "{error}");
    assert!(server.graph_hits() <= 204, "{}", server.graph_hits());

    let server = Hostile::start(endless(true))?;
    let (error, _) = failing_pull(&server, config(&server.url))?;
    assert!(error.contains("reported 10 items"), "{error}");
    assert!(server.graph_hits() < 1030, "{}", server.graph_hits());
    Ok(())
}

#[test]
fn long_retry_afters_fail_at_once_and_throttling_ends_within_the_budget() -> TestResult {
    for (token_route, path) in [(false, "/devices/delta"), (true, "/oauth2/v2.0/token")] {
        let server = Hostile::start(move |req, s, _| {
            if req.target.contains(path) {
                respond(s, 429, &[("Retry-After", "900")], "")
            } else if req.is_token() {
                token(s)
            } else {
                empty_page(s)
            }
        })?;
        let (error, took) = failing_pull(&server, patient(&server.url))?;
        assert!(error.contains("asked to wait 900 s"), "{token_route}: {error}");
        assert!(took < AT_ONCE, "{token_route}: {took:?}");
    }
    let server =
        Hostile::start(only("/devices/delta", |_, s, _| respond(s, 503, &[("Retry-After", "1")], "")))?;
    let (error, took) = failing_pull(&server, config(&server.url))?;
    assert!(error.contains("retry budget"), "{error}");
    assert!(took < WITHIN_BUDGET, "{took:?}");
    Ok(())
}

#[test]
fn html_and_invalid_json_fail_fast_on_graph_and_on_the_token_endpoint() -> TestResult {
    let html = "<html><body>Sign in to continue</body></html>";
    let cases: Vec<(bool, &'static str, &str)> = vec![
        (false, "text/html", html),
        (false, "application/json", "{\"value\": [}"),
        (true, "text/html", html),
    ];
    for (on_token, content_type, body) in cases {
        let body = body.to_string();
        let server = Hostile::start(move |req, s, _| {
            if req.is_token() && !on_token {
                token(s)
            } else if req.is_token() || req.path().contains("/devices/delta") {
                respond(s, 200, &[("Content-Type", content_type)], &body)
            } else {
                empty_page(s)
            }
        })?;
        let (error, took) = failing_pull(&server, patient(&server.url))?;
        let expected = if content_type == "text/html" { "HTML page" } else { "not JSON" };
        assert!(error.contains(expected), "{on_token} {content_type}: {error}");
        assert!(took < AT_ONCE, "{took:?}");
        let tries = server
            .hits()
            .iter()
            .filter(|r| r.is_token() == on_token && (on_token || r.path().contains("devices")))
            .count();
        assert_eq!(tries, 1, "not retried: {error}");
    }
    Ok(())
}

#[test]
fn a_redirect_on_the_token_endpoint_never_carries_the_secret_away() -> TestResult {
    let elsewhere = Hostile::start(|_, s, _| token(s))?;
    let target = format!("{}/steal", elsewhere.url);
    let server = Hostile::start(move |req, s, _| {
        if req.is_token() {
            respond(s, 307, &[("Location", &target)], "")
        } else {
            empty_page(s)
        }
    })?;
    let (error, took) = failing_pull(&server, patient(&server.url))?;
    assert!(error.contains("redirected (HTTP 307)") && error.contains("--authority-url"), "{error}");
    assert!(elsewhere.hits().is_empty(), "the other origin got {:?}", elsewhere.hits());
    assert!(server.hits().iter().all(|r| r.is_token() && r.body.contains("client_secret")));
    assert!(took < AT_ONCE);
    // Graph routes redirecting elsewhere are refused the same way (the bearer token stays home).
    let target = format!("{}/v1.0/devices/delta", elsewhere.url);
    let server =
        Hostile::start(only("/devices/delta", move |_, s, _| respond(s, 302, &[("Location", &target)], "")))?;
    let (error, _) = failing_pull(&server, patient(&server.url))?;
    assert!(error.contains("redirected (HTTP 302)"), "{error}");
    assert!(elsewhere.hits().is_empty());
    Ok(())
}

#[test]
fn a_trickling_body_and_a_deeply_nested_one_end_within_the_budget() -> TestResult {
    let server = Hostile::start(only("/devices/delta", |_, s, _| {
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")?;
        for _ in 0..100 {
            s.write_all(b" ")?;
            std::thread::sleep(Duration::from_millis(1500));
        }
        Ok(())
    }))?;
    let (error, took) = failing_pull(&server, config(&server.url))?;
    assert!(error.contains("retry budget"), "{error}");
    assert!(took < WITHIN_BUDGET, "{took:?}");

    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let server = Hostile::start(only("/devices/delta", move |_, s, _| {
        respond(s, 200, &[("Content-Type", "application/json")], &format!("{{\"value\":{deep}}}"))
    }))?;
    let (error, took) = failing_pull(&server, patient(&server.url))?;
    assert!(error.contains("recursion limit"), "{error}");
    assert!(took < AT_ONCE, "{took:?}");
    Ok(())
}

use crate::sync_cli::{fleetlab as fleetlab_cmd, run};

fn pull_cmd(url: &str, db: &Path) -> std::process::Command {
    let mut cmd = fleetlab_cmd();
    cmd.args([
        "sync",
        "pull",
        "--graph-url",
        url,
        "--tenant-id",
        "contoso.onmicrosoft.com",
        "--client-id",
        "sandbox",
    ])
    .arg("--snapshot")
    .arg(db)
    .env("FLEETLAB_CLIENT_SECRET", "test-secret");
    cmd
}

fn output(cmd: &mut std::process::Command) -> Result<(Option<i32>, String, String), Box<dyn Error>> {
    let ran = run(cmd)?;
    Ok((ran.code, ran.stdout, ran.stderr))
}

/// Polls `check` every 20 ms for up to `limit`.
fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_second_pull_on_the_same_snapshot_fails_at_once_naming_the_first() -> TestResult {
    let server = Hostile::start(|req, s, _| {
        if req.is_token() {
            token(s)
        } else {
            // Long enough that the first pull surely still holds the lock
            // when the second starts, however loaded the machine; the test
            // kills it afterwards.
            std::thread::sleep(Duration::from_secs(12));
            empty_page(s)
        }
    })?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("t.db");
    let mut first = pull_cmd(&server.url, &db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let lock = dir.path().join("t.db.lock");
    let held = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.starts_with("pid")) && server.graph_hits() > 0
    });
    let started = Instant::now();
    let (code, _, stderr) = output(&mut pull_cmd(&server.url, &db))?;
    let took = started.elapsed();
    let _ = first.kill();
    let _ = first.wait();
    assert!(held, "the first pull never took the lock");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("snapshot is in use by another fleetlab (pid {})", first.id())),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    Ok(())
}

#[test]
fn a_secret_given_as_the_variable_name_is_never_echoed() -> TestResult {
    for value in ["Xy8Q~abcDEF.g1h2i3j4k5l6m7n8o9p0qrstuvw", "plainsecretvalue123", "bad name"] {
        let mut cmd = pull_cmd("http://127.0.0.1:9", Path::new("/nonexistent/t.db"));
        cmd.args(["--secret-env", value]).env_remove("FLEETLAB_CLIENT_SECRET");
        let (code, stdout, stderr) = output(&mut cmd)?;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(!stderr.contains(value) && !stdout.contains(value), "{stderr}");
        if value.contains('~') || value.contains(' ') {
            assert!(stderr.contains("NAME of an environment variable"), "{stderr}");
        }
    }
    Ok(())
}

#[test]
fn waits_are_announced_on_stderr_unless_quiet() -> TestResult {
    let server = Hostile::start(|req, s, _| {
        if req.is_token() {
            token(s)
        } else if req.path().contains("/devices/delta") && !req.target.contains("retried") {
            respond(s, 429, &[("Retry-After", "1")], "")
        } else {
            empty_page(s)
        }
    })?;
    let dir = tempfile::tempdir()?;
    let mut cmd = pull_cmd(&server.url, &dir.path().join("a.db"));
    let (code, _, stderr) = output(cmd.args(["--retry-budget", "6"]))?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("note: waiting 1.0 s before attempt 2 of GET /v1.0/devices/delta: HTTP 429"),
        "{stderr}"
    );
    assert!(stderr.contains("retry budget"), "{stderr}");
    let mut quiet = pull_cmd(&server.url, &dir.path().join("b.db"));
    let (code, _, stderr) = output(quiet.args(["--retry-budget", "6", "--quiet"]))?;
    assert_eq!(code, Some(2));
    assert!(!stderr.contains("waiting"), "{stderr}");
    Ok(())
}

#[test]
fn output_replaces_only_regular_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
    let rule = "device.deviceOSType -eq \"Windows\"";
    let mut targets = vec![(dir.path().to_path_buf(), "is a directory")];
    if made {
        targets.push((fifo.clone(), "is not a regular file"));
    }
    for (target, expected) in targets {
        let mut cmd = fleetlab_cmd();
        cmd.args(["eval", "--devices", "scenarios/contoso/devices.json", "--rule", rule, "-o"]).arg(&target);
        let (code, _, stderr) = output(&mut cmd)?;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    if made {
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo)?.file_type().is_fifo(), "the FIFO is still a FIFO");
    }
    Ok(())
}

#[test]
fn sigterm_and_sighup_remove_the_half_written_output() -> TestResult {
    for (signal, code) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("big.jsonl");
        let mut child = fleetlab_cmd()
            .args(["generate", "--devices", "50000000", "-o"])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let temporaries = || -> Vec<std::path::PathBuf> {
            std::fs::read_dir(dir.path())
                .map(|d| d.flatten().map(|e| e.path()).filter(|p| p != &out).collect())
                .unwrap_or_default()
        };
        let started = wait_for(Duration::from_secs(30), || {
            temporaries().iter().any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        });
        let _ = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        let status = child.wait()?;
        assert!(started, "{signal}: no temporary file appeared");
        assert_eq!(status.code(), Some(code), "{signal}");
        assert!(temporaries().is_empty(), "{signal}: left {:?}", temporaries());
        assert!(!out.exists(), "{signal}");
    }
    Ok(())
}

mod interrupted_apply {
    use super::*;
    use fleetlab::autopilot::Tenant;
    use fleetlab::msgraph::apply::{apply, AuditLog};
    use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Faults};
    use fleetlab::msgraph::{plan, GraphClient};
    use serde_json::Value;

    use crate::sync::{contoso, pull};
    use crate::sync_plan::{setup, TENANT};

    const NEW_GROUP: &str = "\n[[group]]\nname = \"Autopilot - Kiosks (new)\"\nrule = 'device.devicePhysicalIds -any (_ -eq \"[OrderId]:KIOSK\")'\n";

    fn named<'a>(items: &'a [Value], name: &str) -> Vec<&'a Value> {
        items.iter().filter(|p| p["displayName"] == name).collect()
    }

    /// The same plan applied twice, as a run that lost its answers and
    /// never refreshed would: creations are adopted, deletions of what is
    /// gone succeed, nothing exists twice.
    #[test]
    fn a_plan_applied_again_adopts_what_the_first_run_created() -> TestResult {
        let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
        let handle = server.handle();
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("tenant.db");
        pull(server.url(), &db, false)?;
        setup(dir.path(), TENANT)?;
        let groups = dir.path().join("groups.toml");
        std::fs::write(&groups, std::fs::read_to_string(&groups)? + NEW_GROUP)?;
        let tenant = Tenant::load(&dir.path().join("tenant.toml"))?;
        let stale = plan::plan(&Snapshot::open(&db)?, &tenant, None)?;
        assert!(
            stale.to_text().contains("+ create group \"Autopilot - Kiosks (new)\""),
            "{}",
            stale.to_text()
        );
        let client = GraphClient::new(client_config(server.url()))?;
        let runtime = sync::runtime()?;
        let audit = dir.path().join("audit.jsonl");
        let first = runtime.block_on(apply(&client, &stale, &mut AuditLog::open(&audit)?))?;
        assert!(first.adopted.is_empty() && first.succeeded == stale.actions.len());
        let again = runtime.block_on(apply(&client, &stale, &mut AuditLog::open(&audit)?))?;
        for adopted in [
            "+ create profile \"Contoso UD Entra\"",
            "+ create group \"Autopilot - Kiosks (new)\"",
            "+ assign",
        ] {
            assert!(again.adopted.iter().any(|a| a.starts_with(adopted)), "{adopted}: {:?}", again.adopted);
        }
        assert_eq!(again.failed, 0);
        let profiles = handle.profiles()?;
        let created = named(&profiles, "Contoso UD Entra");
        assert_eq!(created.len(), 1, "one profile, not two");
        assert_eq!(created[0]["assignments"].as_array().map(Vec::len), Some(2), "{}", created[0]);
        let groups: Vec<Value> = handle.groups()?.into_iter().map(|(_, g, _)| g).collect();
        assert_eq!(named(&groups, "Autopilot - Kiosks (new)").len(), 1, "one group, not two");
        Ok(())
    }

    /// `sync apply` killed (SIGKILL) right after Graph created the profile,
    /// then run again: the second run refreshes, sees the profile, and
    /// creates nothing twice.
    #[test]
    fn an_apply_killed_after_a_creation_does_not_create_it_again() -> TestResult {
        let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
        let handle = server.handle();
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("tenant.db");
        pull(server.url(), &db, false)?;
        setup(dir.path(), TENANT)?;
        let audit = dir.path().join("audit.jsonl");
        let apply = || {
            let mut cmd = fleetlab_cmd();
            cmd.args([
                "sync",
                "apply",
                "--yes",
                "--graph-url",
                server.url(),
                "--tenant-id",
                "contoso.onmicrosoft.com",
            ])
            .args(["--client-id", "sandbox", "--tenant"])
            .arg(dir.path().join("tenant.toml"))
            .arg("--audit-log")
            .arg(&audit)
            .arg("--snapshot")
            .arg(&db)
            .env("FLEETLAB_CLIENT_SECRET", "test-secret");
            cmd
        };
        handle.set_faults(Faults { latency_ms: Some((150, 150)), ..Faults::default() })?;
        let mut child =
            apply().stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn()?;
        let created = wait_for(Duration::from_secs(60), || {
            handle.profiles().is_ok_and(|p| !named(&p, "Contoso UD Entra").is_empty())
        });
        child.kill()?;
        child.wait()?;
        assert!(created, "the first apply never created the profile");
        handle.set_faults(Faults::default())?;
        let (code, stdout, stderr) = output(&mut apply())?;
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(stdout.contains("applied"), "{stdout}");
        assert!(!stdout.contains("+ create profile"), "planned again:\n{stdout}");
        assert_eq!(named(&handle.profiles()?, "Contoso UD Entra").len(), 1);
        let (code, stdout, _) = output(&mut apply())?;
        assert_eq!(code, Some(0));
        assert!(stdout.contains("nothing to do"), "{stdout}");
        Ok(())
    }
}

type Answer = Box<dyn Fn(&Req, &mut TcpStream, &str) -> std::io::Result<()> + Send + Sync>;

/// The misbehaviours of the matrix, each as a whole server.
fn matrix_modes() -> Vec<(&'static str, Answer)> {
    fn devices(
        answer: impl Fn(&Req, &mut TcpStream, &str) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Answer {
        Box::new(only("/devices/delta", answer))
    }
    let next = |req: &Req| req.target.rsplit('=').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    vec![
        (
            "id that is a path",
            devices(|_, s, _| json(s, 200, &json!({"value": [{"id": "../../v1.0/secret?x="}]}))),
        ),
        ("items without ids", devices(|_, s, _| json(s, 200, &json!({"value": [1, 2, 3]})))),
        (
            "expires_in = u64::MAX",
            Box::new(|req: &Req, s: &mut TcpStream, _: &str| {
                if req.is_token() {
                    respond(s, 200, &[], r#"{"access_token":"t","expires_in":18446744073709551615}"#)
                } else {
                    empty_page(s)
                }
            }),
        ),
        (
            "endless body",
            devices(|_, s, _| {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"value\":[")?;
                let chunk = "{\"id\":\"x\"},".repeat(1000);
                loop {
                    s.write_all(chunk.as_bytes())?;
                }
            }),
        ),
        (
            "fresh links, same items",
            devices(move |req, s, url| {
                json(
                    s,
                    200,
                    &json!({"value": [{"id": "a", "n": next(req)}],
                    "@odata.nextLink": format!("{url}/v1.0/devices/delta?$skiptoken={}", next(req) + 1)}),
                )
            }),
        ),
        (
            "endless new items, @odata.count 100",
            devices(move |req, s, url| {
                json(
                    s,
                    200,
                    &json!({"value": [{"id": format!("d{}", next(req))}], "@odata.count": 100,
                    "@odata.nextLink": format!("{url}/v1.0/devices/delta?$skiptoken={}", next(req) + 1)}),
                )
            }),
        ),
        ("429 Retry-After 900", devices(|_, s, _| respond(s, 429, &[("Retry-After", "900")], ""))),
        (
            "token 429 Retry-After 900",
            Box::new(|_: &Req, s: &mut TcpStream, _: &str| respond(s, 429, &[("Retry-After", "900")], "")),
        ),
        ("503 Retry-After 1, forever", devices(|_, s, _| respond(s, 503, &[("Retry-After", "1")], ""))),
        (
            "HTML page",
            devices(|_, s, _| respond(s, 200, &[("Content-Type", "text/html")], "<html>proxy</html>")),
        ),
        (
            "token endpoint HTML",
            Box::new(|_: &Req, s: &mut TcpStream, _: &str| {
                respond(s, 200, &[("Content-Type", "text/html")], "<html>sign in</html>")
            }),
        ),
        (
            "token 307 elsewhere",
            Box::new(|_: &Req, s: &mut TcpStream, _: &str| {
                respond(s, 307, &[("Location", "http://127.0.0.2:9/steal")], "")
            }),
        ),
        (
            "1 byte every 2 s",
            devices(|_, s, _| {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")?;
                loop {
                    s.write_all(b" ")?;
                    std::thread::sleep(Duration::from_secs(2));
                }
            }),
        ),
        ("100,000-deep JSON", devices(|_, s, _| respond(s, 200, &[], &"[".repeat(100_000)))),
    ]
}

/// The fault matrix of the README: each misbehaviour against the real
/// binary with its default limits, with wall time and peak memory from
/// `/usr/bin/time`. Run with
/// `cargo test --release --test it fault_matrix -- --ignored --nocapture`.
#[test]
#[ignore = "about four minutes; prints the fault matrix"]
fn fault_matrix() -> TestResult {
    println!("| misbehaviour | outcome | time | peak memory |\n|---|---|---|---|");
    for (name, answer) in matrix_modes() {
        let server = Hostile::start(answer)?;
        let dir = tempfile::tempdir()?;
        let mut cmd = std::process::Command::new("/usr/bin/time");
        cmd.args(["-f", "%e s|%M KB", env!("CARGO_BIN_EXE_fleetlab")])
            .args([
                "sync",
                "pull",
                "--graph-url",
                &server.url,
                "--tenant-id",
                "t",
                "--client-id",
                "c",
                "--quiet",
            ])
            .arg("--snapshot")
            .arg(dir.path().join("t.db"))
            .env("FLEETLAB_CLIENT_SECRET", "s");
        let (code, _, stderr) = output(&mut cmd)?;
        let lines: Vec<&str> = stderr.lines().collect();
        let measured = lines.last().copied().unwrap_or("?|?");
        let outcome =
            lines.iter().rev().find(|l| l.starts_with("error:")).copied().unwrap_or("ok").replace('|', "/");
        let (time, memory) = measured.split_once('|').unwrap_or(("?", "?"));
        println!("| {name} | exit {} — {outcome} | {time} | {memory} |", code.unwrap_or(-1));
    }
    Ok(())
}

/// A tenant whose v1.0 does not know a selected device property answers
/// the first devices delta with a 400 naming it; the pull leaves it out,
/// says so, and syncs everything else (and the next pull is a delta round).
#[test]
fn a_selected_property_graph_does_not_know_is_left_out_not_fatal() -> TestResult {
    use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Modes};
    use fleetlab::msgraph::snapshot::Mode;
    struct Notes(std::sync::Mutex<Vec<String>>);
    impl sync::Progress for Notes {
        fn items(&self, _: &str, _: u64) {}
        fn note(&self, message: &str) {
            if let Ok(mut n) = self.0.lock() {
                n.push(message.to_string());
            }
        }
    }
    let modes = Modes { unknown_device_properties: vec!["isRooted".into()], ..Modes::default() };
    let server =
        FakeServer::start(crate::sync::contoso()?, FakeConfig { modes, ..FakeConfig::default() }, 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("t.db");
    let notes = Notes(std::sync::Mutex::new(Vec::new()));
    let report = sync::pull_blocking(client_config(server.url()), &db, PullOptions::default(), &notes)?;
    assert_eq!(report.changes.devices_upserted, 401);
    let said = notes.0.lock().map(|n| n.join("\n")).unwrap_or_default();
    assert!(said.contains("does not know the property isRooted"), "{said}");
    let devices = Snapshot::open(&db)?.devices()?;
    assert!(devices.iter().all(|d| d.get("isRooted").is_none()), "left out of the select");
    assert!(devices.iter().filter(|d| d.get("physicalIds").is_some()).count() > 300, "the rest is selected");
    let again = sync::pull_blocking(client_config(server.url()), &db, PullOptions::default(), &notes)?;
    assert_eq!(again.modes.get("devices"), Some(&Mode::Delta), "{:?}", again.modes);
    Ok(())
}

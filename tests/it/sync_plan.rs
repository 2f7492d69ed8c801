//! `fleetlab sync plan` and `sync apply` against the fake Graph: apply, then
//! apply again (a no-op), the audit log, a second All Devices assignment
//! refused at plan time, pruning profiles, creating and changing groups,
//! missing permissions, and `sync export --tenant` round trips.

use std::error::Error;
use std::path::Path;
use std::process::{Command, Stdio};

use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Scenario};
use serde_json::{json, Value};

use crate::sync::{assert_matches, contoso, pull, root};

type TestResult = Result<(), Box<dyn Error>>;

pub(crate) struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) fn fleetlab(args: &[&str], db: &Path) -> Result<Ran, Box<dyn Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetlab"))
        .args(args)
        .arg("--snapshot")
        .arg(db)
        .env("NO_COLOR", "1")
        .env("FLEETLAB_CLIENT_SECRET", "test-secret")
        .stdin(Stdio::null())
        .output()?;
    Ok(Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

pub(crate) const TENANT: &str = r#"
[tenant]
name = "Contoso"
primary_domain = "contoso.com"
group_files = ["groups.toml"]

[[profile]]
name = "Contoso UD Entra"
description = "User-driven Entra join for knowledge workers."
join = "entra"
mode = "user-driven"
user_type = "standard"
device_name_template = "CON-LT-%SERIAL%"
include = ["Autopilot - Netherlands", "Autopilot - US-LT-SALES"]

[[profile]]
name = "AP-UserDriven-Sales"
description = "User-driven Entra join for Sales"
join = "entra"
mode = "user-driven"
user_type = "standard"
include = ["Autopilot - UK-LT-OPS"]
"#;

pub(crate) fn setup(dir: &Path, tenant: &str) -> Result<(), Box<dyn Error>> {
    std::fs::copy(root().join("scenarios/contoso/groups.toml"), dir.join("groups.toml"))?;
    std::fs::write(dir.join("tenant.toml"), tenant)?;
    Ok(())
}

#[test]
fn apply_writes_the_plan_and_a_second_apply_is_a_no_op() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    setup(dir.path(), TENANT)?;
    // An Autopilot device to re-tag.
    let device = handle
        .devices()?
        .into_iter()
        .find(|d| {
            d["physicalIds"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|p| p.as_str().is_some_and(|s| s.starts_with("[ZTDId]"))))
                && d["deviceId"].is_string()
        })
        .ok_or("no Autopilot device")?;
    let id = device["id"].as_str().ok_or("no id")?.to_string();
    std::fs::write(
        dir.path().join("edits.toml"),
        format!("[[edit]]\ndevice = \"{id}\"\ngroup_tag = \"PLAN-TEST\"\n"),
    )?;
    let tenant = dir.path().join("tenant.toml");
    let edits = dir.path().join("edits.toml");
    let audit = dir.path().join("audit.jsonl");
    let (t, e, a) = (tenant.to_string_lossy(), edits.to_string_lossy(), audit.to_string_lossy());

    let plan = fleetlab(&["sync", "plan", "--tenant", &t, "--edits", &e], &db)?;
    assert_eq!(plan.code, Some(0), "{}{}", plan.stdout, plan.stderr);
    for expected in [
        "+ create profile \"Contoso UD Entra\"",
        "- unassign \"AP-UserDriven-Sales\" from group \"e34a8051",
        "+ assign \"AP-UserDriven-Sales\" to group \"Autopilot - UK-LT-OPS\"",
        "~ update profile \"AP-UserDriven-Sales\"",
        "~ update Autopilot device",
        "= profile \"AP-Kiosk-SelfDeploy\": not in tenant file, kept (use --prune to delete it)",
    ] {
        assert!(plan.stdout.contains(expected), "{expected:?} missing from\n{}", plan.stdout);
    }
    let unassign = plan.stdout.find("- unassign").ok_or("no unassign")?;
    let assign = plan.stdout.find("+ assign").ok_or("no assign")?;
    assert!(unassign < assign, "deletions come first:\n{}", plan.stdout);

    let connection =
        ["--graph-url", server.url(), "--tenant-id", "contoso.onmicrosoft.com", "--client-id", "sandbox"];
    let mut args = vec!["sync", "apply", "--tenant", &t, "--edits", &e, "--audit-log", &a];
    args.extend(connection);
    let refused = fleetlab(&args, &db)?;
    assert_eq!(refused.code, Some(2), "no --yes, no writes: {}", refused.stderr);
    assert!(refused.stderr.contains("--yes"));
    assert_eq!(handle.profiles()?.len(), 2);

    args.push("--yes");
    let applied = fleetlab(&args, &db)?;
    assert_eq!(applied.code, Some(0), "{}{}", applied.stdout, applied.stderr);
    let log = std::fs::read_to_string(&audit)?;
    let lines: Vec<Value> = log.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert!(lines.len() >= 6, "{log}");
    assert!(lines.iter().all(|l| l["phase"] == "sending" || l["ok"] == Value::Bool(true)), "{log}");
    let sent = lines.iter().filter(|l| l["phase"] == "sending").count();
    let answered = lines.iter().filter(|l| l["phase"] == "done").count();
    assert_eq!(sent, answered, "every write logged before and after: {log}");
    let profiles = handle.profiles()?;
    let created =
        profiles.iter().find(|p| p["displayName"] == "Contoso UD Entra").ok_or("profile not created")?;
    assert_eq!(created["assignments"].as_array().map(Vec::len), Some(2));
    // The tag is on the Autopilot identity at once and reaches the Entra
    // device only after the fake's propagation delay, as on Graph.
    let device_now = || -> Result<Value, Box<dyn Error>> {
        Ok(handle
            .devices()?
            .into_iter()
            .find(|d| d["id"] == Value::String(id.clone()))
            .ok_or("device gone")?)
    };
    let identity = handle
        .autopilot()?
        .into_iter()
        .find(|a| a["azureActiveDirectoryDeviceId"] == device["deviceId"])
        .ok_or("no identity")?;
    assert_eq!(identity["groupTag"], "PLAN-TEST", "{identity}");
    // (Whether it is there yet depends on how long apply took; sync_import checks the delay.)
    handle.advance_clock(FakeConfig::default().tag_propagation_delay)?;
    let retagged = device_now()?;
    assert!(retagged["physicalIds"].to_string().contains("[OrderId]:PLAN-TEST"), "{retagged}");

    let again = fleetlab(&args, &db)?;
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(std::fs::read_to_string(&audit)?, log, "the second apply wrote nothing");
    Ok(())
}

#[test]
fn a_second_all_devices_assignment_is_refused_at_plan_time() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    setup(dir.path(), &TENANT.replace("include = [\"Autopilot - UK-LT-OPS\"]", "all_devices = true"))?;
    let t = dir.path().join("tenant.toml");
    let plan = fleetlab(&["sync", "plan", "--tenant", &t.to_string_lossy()], &db)?;
    assert_eq!(plan.code, Some(1), "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("All Devices"), "{}", plan.stderr);
    assert!(plan.stderr.contains("17fa8111-be93-44d7-b6e6-e0310c3ae72d"), "{}", plan.stderr);
    assert!(plan.stdout.is_empty());
    Ok(())
}

fn connection(url: &str) -> Vec<String> {
    ["--graph-url", url, "--tenant-id", "contoso.onmicrosoft.com", "--client-id", "sandbox"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn audit_lines(path: &Path) -> Result<Vec<Value>, Box<dyn Error>> {
    let log = std::fs::read_to_string(path)?;
    Ok(log.lines().map(serde_json::from_str).collect::<Result<_, _>>()?)
}

#[test]
fn prune_unassigns_then_deletes_profiles_the_file_does_not_have() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    // The file takes All Devices over from the kiosk profile it does not mention.
    setup(dir.path(), &TENANT.replace("include = [\"Autopilot - UK-LT-OPS\"]", "all_devices = true"))?;
    let t = dir.path().join("tenant.toml").to_string_lossy().into_owned();
    let audit = dir.path().join("audit.jsonl");

    // Without --prune the plan is refused: the kept kiosk profile holds All Devices.
    let kept = fleetlab(&["sync", "plan", "--tenant", &t], &db)?;
    assert_eq!(kept.code, Some(1), "{}{}", kept.stdout, kept.stderr);
    let plan = fleetlab(&["sync", "plan", "--tenant", &t, "--prune"], &db)?;
    assert_eq!(plan.code, Some(0), "{}{}", plan.stdout, plan.stderr);
    let at =
        |needle: &str| plan.stdout.find(needle).ok_or(format!("{needle:?} missing from\n{}", plan.stdout));
    let unassign = at("- unassign \"AP-Kiosk-SelfDeploy\" from All Devices")?;
    let delete = at("- delete profile \"AP-Kiosk-SelfDeploy\" (17fa8111-be93-44d7-b6e6-e0310c3ae72d)")?;
    let assign = at("+ assign \"AP-UserDriven-Sales\" to All Devices")?;
    assert!(unassign < delete && delete < assign, "{}", plan.stdout);
    assert!(!plan.stdout.contains("kept"), "{}", plan.stdout);

    // The fake refuses to delete a profile that is still assigned, as Intune does.
    let client = fleetlab::msgraph::GraphClient::new(crate::sync::client_config(server.url()))?;
    let runtime = fleetlab::msgraph::sync::runtime()?;
    let url = client.url(
        fleetlab::msgraph::ApiVersion::Beta,
        "/deviceManagement/windowsAutopilotDeploymentProfiles/17fa8111-be93-44d7-b6e6-e0310c3ae72d",
    );
    let err = runtime
        .block_on(client.send(&fleetlab::msgraph::Request::delete(url)))
        .err()
        .ok_or("an assigned profile was deleted")?;
    assert!(err.to_string().contains("HTTP 400 BadRequest: The profile is assigned"), "{err}");

    let mut args: Vec<String> = ["sync", "apply", "--tenant", &t, "--prune", "--yes", "--audit-log"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(audit.to_string_lossy().into_owned());
    args.extend(connection(server.url()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let applied = fleetlab(&args, &db)?;
    assert_eq!(applied.code, Some(0), "{}{}", applied.stdout, applied.stderr);
    let profiles = handle.profiles()?;
    assert!(profiles.iter().all(|p| p["displayName"] != "AP-Kiosk-SelfDeploy"), "deleted");
    let sales = profiles.iter().find(|p| p["displayName"] == "AP-UserDriven-Sales").ok_or("sales gone")?;
    assert_eq!(
        sales["assignments"][0]["target"]["@odata.type"],
        json!("#microsoft.graph.allDevicesAssignmentTarget")
    );
    let lines = audit_lines(&audit)?;
    let position = |action: &str| lines.iter().position(|l| l["action"]["action"] == json!(action));
    assert!(position("delete-assignment") < position("delete-profile"), "{lines:?}");
    assert!(lines.iter().all(|l| l["phase"] == "sending" || l["ok"] == json!(true)), "{lines:?}");
    assert_matches(&handle, &db)?;

    let again = fleetlab(&args, &db)?;
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(audit_lines(&audit)?.len(), lines.len(), "the second apply wrote nothing");
    Ok(())
}

#[test]
fn groups_are_created_and_changed_and_assignments_to_new_groups_follow() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    const HR: &str = r#"(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-LT-HR"))"#;
    const FIN: &str = r#"(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-LT-FIN"))"#;
    let groups = std::fs::read_to_string(root().join("scenarios/contoso/groups.toml"))?;
    assert!(groups.contains(HR));
    std::fs::write(dir.path().join("groups.toml"), groups.replace(HR, &format!("{HR} -or {FIN}")))?;
    let tenant = TENANT.replace(
        "include = [\"Autopilot - Netherlands\", \"Autopilot - US-LT-SALES\"]",
        "include = [\"Finance laptops (NL)\"]",
    ) + &format!("\n[[group]]\nname = \"Finance laptops (NL)\"\ndescription = \"Dutch finance laptops\"\nrule = '''{FIN}'''\n");
    std::fs::write(dir.path().join("tenant.toml"), tenant)?;
    let t = dir.path().join("tenant.toml").to_string_lossy().into_owned();

    let plan = fleetlab(&["sync", "plan", "--tenant", &t], &db)?;
    assert_eq!(plan.code, Some(0), "{}{}", plan.stdout, plan.stderr);
    let at =
        |needle: &str| plan.stdout.find(needle).ok_or(format!("{needle:?} missing from\n{}", plan.stdout));
    let create = at(&format!("+ create group \"Finance laptops (NL)\": {FIN}"))?;
    at("~ update group \"Autopilot - NL-LT-HR\": membershipRule")?;
    let assign = at("+ assign \"Contoso UD Entra\" to group \"Finance laptops (NL)\"")?;
    assert!(create < assign, "{}", plan.stdout);
    let json_plan = fleetlab(&["sync", "plan", "--tenant", &t, "--format", "json"], &db)?;
    let parsed: Value = serde_json::from_str(&json_plan.stdout)?;
    let body = parsed["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["action"] == "create-group")
        .map(|a| a["body"].clone())
        .ok_or("no create-group")?;
    assert_eq!(
        body,
        json!({"displayName": "Finance laptops (NL)", "description": "Dutch finance laptops",
               "mailNickname": "finance-laptops-nl", "mailEnabled": false, "securityEnabled": true,
               "groupTypes": ["DynamicMembership"], "membershipRule": FIN, "membershipRuleProcessingState": "On"})
    );

    let before = handle.groups()?;
    let members = |name: &str, list: &[(String, Value, Vec<String>)]| {
        list.iter().find(|(_, g, _)| g["displayName"] == name).map(|(id, _, m)| (id.clone(), m.clone()))
    };
    let (_, fin) = members("Autopilot - NL-LT-FIN", &before).ok_or("no FIN group")?;
    let (_, hr) = members("Autopilot - NL-LT-HR", &before).ok_or("no HR group")?;
    assert!(!fin.is_empty() && !hr.is_empty());

    let mut args: Vec<String> =
        ["sync", "apply", "--tenant", &t, "--yes", "--audit-log"].iter().map(|s| s.to_string()).collect();
    args.push(dir.path().join("audit.jsonl").to_string_lossy().into_owned());
    args.extend(connection(server.url()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let applied = fleetlab(&args, &db)?;
    assert_eq!(applied.code, Some(0), "{}{}", applied.stdout, applied.stderr);

    let after = handle.groups()?;
    let (new_id, new_members) = members("Finance laptops (NL)", &after).ok_or("group not created")?;
    assert_eq!(new_members, fin, "the rule engine computed the new group");
    let (_, hr_after) = members("Autopilot - NL-LT-HR", &after).ok_or("HR gone")?;
    let mut union: Vec<String> = hr.iter().chain(&fin).cloned().collect();
    union.sort();
    union.dedup();
    assert_eq!(hr_after, union, "the changed rule was evaluated again");
    let profile = handle
        .profiles()?
        .into_iter()
        .find(|p| p["displayName"] == "Contoso UD Entra")
        .ok_or("profile not created")?;
    assert_eq!(profile["assignments"][0]["target"]["groupId"], json!(new_id), "{profile}");
    // The pull after the apply saw the new group and its members through the delta.
    assert_matches(&handle, &db)?;

    let again = fleetlab(&args, &db)?;
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    Ok(())
}

#[test]
fn rules_the_engine_rejects_never_reach_graph() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    for (rule, why) in [
        (r#"(device.devicePhysicalIds -any (_ -eq "[OrderID]:X")"#, "unbalanced"),
        (r#"user.department -eq "Sales""#, "a user rule in a device group"),
    ] {
        let tenant = format!("{TENANT}\n[[group]]\nname = \"Broken\"\nrule = '''{rule}'''\n");
        setup(dir.path(), &tenant)?;
        let t = dir.path().join("tenant.toml");
        let plan = fleetlab(&["sync", "plan", "--tenant", &t.to_string_lossy()], &db)?;
        assert_eq!(plan.code, Some(1), "{why}: {}{}", plan.stdout, plan.stderr);
        let line = tenant.lines().position(|l| l.starts_with("rule = '''")).map_or(0, |i| i + 1);
        assert!(plan.stderr.contains(&format!("tenant.toml:{line}:")), "{why}: {}", plan.stderr);
        assert!(plan.stderr.contains("group \"Broken\""), "{why}: {}", plan.stderr);
        assert!(plan.stdout.is_empty());
    }
    assert!(server.handle().groups()?.iter().all(|(_, g, _)| g["displayName"] != "Broken"));
    Ok(())
}

#[test]
fn apply_without_write_permission_names_the_permission() -> TestResult {
    let roles: Vec<String> =
        ["Device.Read.All", "GroupMember.Read.All", "DeviceManagementServiceConfig.Read.All"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let server = FakeServer::start(contoso()?, FakeConfig { roles, ..FakeConfig::default() }, 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    setup(dir.path(), TENANT)?;
    let t = dir.path().join("tenant.toml").to_string_lossy().into_owned();
    let audit = dir.path().join("audit.jsonl");
    let mut args: Vec<String> =
        ["sync", "apply", "--tenant", &t, "--yes", "--audit-log"].iter().map(|s| s.to_string()).collect();
    args.push(audit.to_string_lossy().into_owned());
    args.extend(connection(server.url()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let applied = fleetlab(&args, &db)?;
    assert_ne!(applied.code, Some(0));
    assert!(
        applied.stderr.contains(
            "Application must have one of the following scopes: DeviceManagementServiceConfig.ReadWrite.All"
        ),
        "{}",
        applied.stderr
    );
    assert!(
        applied
            .stderr
            .contains("lacks the DeviceManagementServiceConfig.ReadWrite.All application permission"),
        "{}",
        applied.stderr
    );
    let lines: Vec<Value> = audit_lines(&audit)?.into_iter().filter(|l| l["phase"] != "sending").collect();
    assert_eq!(lines.len(), 1, "the apply stopped at the first refusal");
    assert_eq!(lines[0]["status"], json!(403));
    Ok(())
}

/// Two profiles assigned to groups of the fake (their ids are stable for a
/// scenario), one hybrid with an ESP, one self-deploying on All Devices,
/// plus an assignment from a policy set.
fn round_trip_scenario() -> Result<Scenario, Box<dyn Error>> {
    let probe = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let groups = probe.handle().groups()?;
    let id = |name: &str| {
        groups
            .iter()
            .find(|(_, g, _)| g["displayName"] == name)
            .map(|(id, _, _)| id.clone())
            .ok_or(format!("no group {name}"))
    };
    let (ops, hr, ams) =
        (id("Autopilot - UK-LT-OPS")?, id("Autopilot - NL-LT-HR")?, id("Autopilot - Netherlands")?);
    let mut scenario = contoso()?;
    scenario.profiles = vec![
        json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
               "id": "73eae2b2-5a11-400a-984f-d3ff1f975164", "displayName": "AP-UserDriven-Sales",
               "createdDateTime": "2024-11-02T10:00:00Z", "deviceNameTemplate": "SALES-%RAND:6%",
               "outOfBoxExperienceSetting": {"deviceUsageType": "singleUser", "userType": "standard"},
               "assignments": [
                   {"id": "a1", "source": "direct", "sourceId": null,
                    "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": ops}},
                   {"id": "a2", "source": "direct", "sourceId": null,
                    "target": {"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": hr}},
                   {"id": "a3", "source": "policySets", "sourceId": "ps-1",
                    "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": ams}}]}),
        json!({"@odata.type": "#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile",
               "id": "aafbb00c-217e-44b3-b927-da0bcf13a9c6", "displayName": "AP-Hybrid-HQ",
               "description": "Hybrid join, \"HQ\" only", "createdDateTime": "2021-03-15T08:30:00Z",
               "language": "nl-NL", "hybridAzureADJoinSkipConnectivityCheck": true, "roleScopeTagIds": ["0", "7"],
               "enrollmentStatusScreenSettings": {"hideInstallationProgress": false, "installProgressTimeoutInMinutes": 90,
                   "allowLogCollectionOnInstallFailure": true, "customErrorMessage": "Call 555-0100."},
               "outOfBoxExperienceSettings": {"deviceUsageType": "singleUser", "userType": "standard", "hideEULA": true,
                   "hidePrivacySettings": false, "hideEscapeLink": true, "skipKeyboardSelectionPage": true},
               "assignments": [{"id": "h1", "source": "direct", "sourceId": null,
                   "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": ams}}]}),
        json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
               "id": "17fa8111-be93-44d7-b6e6-e0310c3ae72d", "displayName": "AP-Kiosk-SelfDeploy",
               "createdDateTime": "2025-01-20T08:30:00Z",
               "outOfBoxExperienceSetting": {"deviceUsageType": "shared"},
               "assignments": [{"id": "k1", "source": "direct", "sourceId": null,
                   "target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}}]}),
    ];
    Ok(scenario)
}

#[test]
fn export_tenant_lints_and_plans_to_nothing() -> TestResult {
    let server = FakeServer::start(round_trip_scenario()?, FakeConfig::default(), 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    let out = dir.path().join("exported.toml");
    let o = out.to_string_lossy().into_owned();

    let export = fleetlab(&["sync", "export", "--tenant", &o], &db)?;
    assert_eq!(export.code, Some(0), "{}", export.stderr);
    assert!(export.stdout.is_empty(), "no devices without -o: {}", export.stdout);
    assert!(export.stderr.contains("wrote 25 groups and 3 profiles"), "{}", export.stderr);
    assert!(export.stderr.contains("policy set (ps-1)"), "{}", export.stderr);
    let text = std::fs::read_to_string(&out)?;
    assert!(
        text.contains(r#"rule = '''(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-LT-FIN"))'''"#),
        "{text}"
    );
    assert!(text.contains("join = \"hybrid\""), "{text}");
    assert!(text.contains("[profile.esp]"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "the write is atomic, nothing left behind: {leftovers:?}");

    let lint =
        Command::new(env!("CARGO_BIN_EXE_fleetlab")).args(["lint", &o]).stdin(Stdio::null()).output()?;
    let said = format!("{}{}", String::from_utf8_lossy(&lint.stdout), String::from_utf8_lossy(&lint.stderr));
    assert_eq!(lint.status.code(), Some(0), "{said}");
    let plan = fleetlab(&["sync", "plan", "--tenant", &o], &db)?;
    assert_eq!(plan.code, Some(0), "{}{}", plan.stdout, plan.stderr);
    assert_eq!(plan.stdout, "nothing to do: the tenant matches\n");
    let plan = fleetlab(&["sync", "plan", "--tenant", &o, "--prune"], &db)?;
    assert_eq!(plan.stdout, "nothing to do: the tenant matches\n", "{}", plan.stderr);
    Ok(())
}

/// autopilot-profiles.md, Entra device groups: "static (the admin picks devices) or dynamic". An assigned
/// group of the tenant file is planned (created, members added one by one, `POST /groups/{id}/members/$ref`
/// as Graph v1.0 documents), applied, assigned to like a dynamic group, kept in step when the list changes
/// (`DELETE …/members/{id}/$ref`), and written back by `sync export --tenant` as a members list.
#[test]
fn assigned_groups_are_planned_applied_assigned_and_exported() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    let mut ids: Vec<String> =
        handle.devices()?.iter().filter_map(|d| d["id"].as_str().map(str::to_string)).take(2).collect();
    ids.sort();
    let (a, b) = (ids.first().ok_or("no device")?.clone(), ids.get(1).ok_or("one device")?.clone());
    let lab = |members: &[&str]| {
        let list: Vec<String> = members.iter().map(|m| format!("{m:?}")).collect();
        TENANT.replace("include = [\"Autopilot - UK-LT-OPS\"]", "include = [\"Lab PCs\"]")
            + &format!("\n[[group]]\nname = \"Lab PCs\"\nmembers = [{}]\n", list.join(", "))
    };
    setup(dir.path(), &lab(&[&a, &b]))?;
    let t = dir.path().join("tenant.toml").to_string_lossy().into_owned();

    let plan = fleetlab(&["sync", "plan", "--tenant", &t], &db)?;
    assert_eq!(plan.code, Some(0), "{}{}", plan.stdout, plan.stderr);
    let at =
        |needle: &str| plan.stdout.find(needle).ok_or(format!("{needle:?} missing from\n{}", plan.stdout));
    let create = at("+ create group \"Lab PCs\": assigned")?;
    let add = at(&format!("+ add {a} to group \"Lab PCs\""))?;
    at(&format!("+ add {b} to group \"Lab PCs\""))?;
    let assign = at("+ assign \"AP-UserDriven-Sales\" to group \"Lab PCs\"")?;
    assert!(create < add && add < assign, "{}", plan.stdout);

    let mut args: Vec<String> =
        ["sync", "apply", "--tenant", &t, "--yes", "--audit-log"].iter().map(|s| s.to_string()).collect();
    args.push(dir.path().join("audit.jsonl").to_string_lossy().into_owned());
    args.extend(connection(server.url()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let applied = fleetlab(&args, &db)?;
    assert_eq!(applied.code, Some(0), "{}{}", applied.stdout, applied.stderr);
    let group = |name: &str| -> Result<(String, Value, Vec<String>), Box<dyn Error>> {
        Ok(handle.groups()?.into_iter().find(|(_, g, _)| g["displayName"] == name).ok_or("no group")?)
    };
    let (lab_id, props, members) = group("Lab PCs")?;
    assert_eq!(props["groupTypes"], json!([]));
    assert_eq!(members, [a.clone(), b.clone()]);
    let profile = handle
        .profiles()?
        .into_iter()
        .find(|p| p["displayName"] == "AP-UserDriven-Sales")
        .ok_or("profile not created")?;
    assert_eq!(profile["assignments"][0]["target"]["groupId"], json!(lab_id), "{profile}");
    let again = fleetlab(&args, &db)?;
    assert!(again.stdout.contains("nothing to do"), "{}{}", again.stdout, again.stderr);

    // One device leaves the list: one removal, nothing else.
    setup(dir.path(), &lab(&[&a]))?;
    let plan = fleetlab(&["sync", "plan", "--tenant", &t], &db)?;
    assert!(plan.stdout.starts_with(&format!("- remove {b} from group \"Lab PCs\"\n")), "{}", plan.stdout);
    assert!(plan.stdout.ends_with("\n1 change(s)\n"), "{}", plan.stdout);
    let applied = fleetlab(&args, &db)?;
    assert_eq!(applied.code, Some(0), "{}{}", applied.stdout, applied.stderr);
    assert_eq!(group("Lab PCs")?.2, std::slice::from_ref(&a));

    let out = dir.path().join("exported.toml");
    let o = out.to_string_lossy().into_owned();
    let export = fleetlab(&["sync", "export", "--tenant", &o], &db)?;
    assert_eq!(export.code, Some(0), "{}", export.stderr);
    let text = std::fs::read_to_string(&out)?;
    assert!(text.contains(&format!("members = [\"{a}\"]")), "{text}");
    let plan = fleetlab(&["sync", "plan", "--tenant", &o], &db)?;
    assert_eq!(plan.stdout, "nothing to do: the tenant matches\n", "{}", plan.stderr);
    Ok(())
}

//! Enrollment flows: the path of a clean run per mode, each documented
//! failure edge, ESP options, the §6.2 invariants, a hand-broken graph,
//! the dense table, exports, and the contoso profiles.

use std::error::Error;

use fleetlab::autopilot::{validate as validate_tenant, Tenant};
use fleetlab::flow::{
    derive, from_profile, to_dot, to_mermaid, validate, walk, CompiledFlow, EspOptions, FlowDevice,
    FlowInput, FlowMode, JoinKind, Node, PrepStep, Recovery, Segment, State, ValidFlow, Walk, WalkOptions,
    NO_EDGE,
};
use petgraph::visit::EdgeRef;

type TestResult = Result<(), Box<dyn Error>>;

fn table(input: &FlowInput) -> Result<CompiledFlow, Box<dyn Error>> {
    let valid = ValidFlow::new(derive(input)?).map_err(|f| format!("findings: {f:?}"))?;
    Ok(CompiledFlow::compile(&valid))
}

fn run(
    input: &FlowInput,
    fail: &[&str],
    recovery: Recovery,
    prefer: &[&str],
) -> Result<Walk, Box<dyn Error>> {
    let options = WalkOptions {
        fail: fail.iter().map(|s| s.to_string()).collect(),
        recovery,
        prefer: prefer.iter().map(|s| s.to_string()).collect(),
        ..WalkOptions::default()
    };
    Ok(walk(&table(input)?, &options))
}

fn clean(input: &FlowInput) -> Result<Vec<String>, Box<dyn Error>> {
    Ok(run(input, &[], Recovery::GiveUp, &[])?.names())
}

fn ud() -> FlowInput {
    FlowInput::default()
}
fn hybrid() -> FlowInput {
    FlowInput { join: JoinKind::Hybrid, ..FlowInput::default() }
}
fn sd() -> FlowInput {
    FlowInput { mode: FlowMode::SelfDeploying, ..FlowInput::default() }
}
fn hololens() -> FlowInput {
    FlowInput { mode: FlowMode::SelfDeploying, device: FlowDevice::HoloLens, ..FlowInput::default() }
}
fn pp() -> FlowInput {
    FlowInput { pre_provisioning_allowed: true, ..FlowInput::default() }
}
fn v2() -> FlowInput {
    FlowInput { mode: FlowMode::DevicePreparation, ..FlowInput::default() }
}

const OOBE: [&str; 6] =
    ["Boxed", "OobeStart", "RegionKeyboard", "NetworkConnect", "ProfileLookup", "OobeUpdates"];

fn with_oobe(rest: &[&str]) -> Vec<String> {
    OOBE.iter().chain(rest).map(|s| s.to_string()).collect()
}

#[test]
fn user_driven_entra_clean_path() -> TestResult {
    assert_eq!(
        clean(&ud())?,
        with_oobe(&[
            "EntraSignIn",
            "JoinEnroll",
            "EspPrep.Prepare",
            "EspDeviceSetup",
            "EspAccountSetup",
            "HelloSetup",
            "Desktop"
        ])
    );
    Ok(())
}

/// Microsoft Learn, Windows Autopilot user-driven mode (learn.microsoft.com/autopilot/user-driven): "The
/// device enrolls in Intune … this enrollment occurs … before the Active Directory join process."
#[test]
fn user_driven_hybrid_clean_path() -> TestResult {
    assert_eq!(
        clean(&hybrid())?,
        with_oobe(&[
            "EntraSignIn",
            "JoinEnroll",
            "EspPrep.Register",
            "EspPrep.Join",
            "HybridReboot",
            "EspPrep.Prepare",
            "EspDeviceSetup",
            "DomainLogon",
            "EspAccountSetup",
            "HelloSetup",
            "Desktop"
        ])
    );
    Ok(())
}

#[test]
fn self_deploying_clean_path() -> TestResult {
    assert_eq!(
        clean(&sd())?,
        with_oobe(&[
            "EspPrep.SecureHardware",
            "EspPrep.Join",
            "EspPrep.Register",
            "EspPrep.Prepare",
            "EspDeviceSetup",
            "SignInScreen"
        ])
    );
    Ok(())
}

#[test]
fn hololens_clean_path_has_the_detection_window() -> TestResult {
    assert_eq!(
        clean(&hololens())?,
        [
            "Boxed",
            "OobeStart",
            "RegionKeyboard",
            "NetworkConnect",
            "HL.DetectWindow",
            "OobeUpdates",
            "EspPrep.SecureHardware",
            "EspPrep.Join",
            "EspPrep.Register",
            "EspPrep.Prepare",
            "EspDeviceSetup",
            "SignInScreen"
        ]
    );
    Ok(())
}

#[test]
fn pre_provisioning_technician_reseal_user_flow() -> TestResult {
    let w = run(&pp(), &[], Recovery::GiveUp, &["win-x5"])?;
    assert_eq!(
        w.names(),
        [
            "Boxed",
            "OobeStart",
            "technician/PreProvLanding",
            "technician/EspPrep.SecureHardware",
            "technician/EspPrep.Join",
            "technician/EspPrep.Register",
            "technician/EspPrep.Prepare",
            "technician/EspDeviceSetup",
            "technician/PreProvSuccess",
            "technician/Resealed",
            "user/UserFlowStart",
            "user/RegionKeyboard",
            "user/NetworkConnect",
            "user/ProfileLookup",
            "user/OobeUpdates",
            "user/EntraSignIn",
            "user/EspDeviceSetup",
            "user/EspAccountSetup",
            "user/HelloSetup",
            "user/Desktop"
        ]
    );
    // Phase timings come from the §3.2 defaults.
    assert!(w.phases.iter().any(|(p, m)| *p == "technician" && *m > 0.0));
    Ok(())
}

#[test]
fn device_preparation_clean_path() -> TestResult {
    assert_eq!(
        clean(&v2())?,
        [
            "Boxed",
            "OobeStart",
            "RegionKeyboard",
            "NetworkConnect",
            "ProfileLookup",
            "V2.SignIn",
            "V2.JoinEnroll",
            "V2.Ime",
            "V2.LobM365",
            "V2.Scripts",
            "V2.Win32Store",
            "V2.Complete",
            "Desktop"
        ]
    );
    Ok(())
}

#[test]
fn clean_run_durations_use_the_spec_defaults() -> TestResult {
    let w = run(&ud(), &[], Recovery::GiveUp, &[])?;
    // 2 + 1 + 1 + 0 + 0.33 + 3 + 1.5 + 1.5 + 3 + 2 + 3 + 1 minutes.
    assert!((w.minutes - 19.33).abs() < 0.01, "{}", w.minutes);
    Ok(())
}

#[test]
fn tpm_transient_retry_succeeds_in_the_technician_flow() -> TestResult {
    let w = run(&pp(), &["tpm-transient"], Recovery::Retry, &["win-x5"])?;
    let names = w.names();
    let i = names.iter().position(|n| n == "technician/TpmError{transient}").ok_or("no transient error")?;
    assert_eq!(names[i + 1], "technician/EspPrep.SecureHardware");
    assert_eq!(w.end.to_string(), "user/Desktop");
    assert!(w.unused.is_empty());
    Ok(())
}

#[test]
fn tpm_transient_in_self_deploying_goes_through_the_esp_error_screen() -> TestResult {
    let w = run(&sd(), &["tpm-transient"], Recovery::Retry, &[])?;
    let names = w.names();
    let i = names.iter().position(|n| n == "TpmError{transient}").ok_or("no transient error")?;
    assert_eq!(names[i + 1..i + 3], ["EspError{prep}", "EspPrep.SecureHardware"]);
    assert_eq!(w.end.to_string(), "SignInScreen");
    Ok(())
}

#[test]
fn tpm_permanent_is_abandoned_in_the_technician_flow() -> TestResult {
    let w = run(&pp(), &["tpm-permanent"], Recovery::Retry, &["win-x5"])?;
    assert_eq!(w.end, Node { segment: Segment::Technician, state: State::Abandoned });
    let t = table(&pp())?;
    let perm = t
        .state(Node {
            segment: Segment::Technician,
            state: State::TpmError(fleetlab::flow::TpmFailure::Permanent),
        })
        .ok_or("no permanent state")?;
    // No Retry from a permanent failure.
    assert_eq!(t.step(perm, "retry"), None);
    Ok(())
}

#[test]
fn reenrollment_0x80180014_waits_for_the_admin() -> TestResult {
    let w = run(&sd(), &["reenrollment"], Recovery::Retry, &[])?;
    let step = w.steps.iter().find(|s| s.event == "reenrollment").ok_or("no re-enrollment step")?;
    assert_eq!(step.code, Some("0x80180014"));
    assert_eq!(w.end.to_string(), "AwaitAdmin{unblock}");
    // User-driven devices enroll as often as they like: no such edge.
    assert!(!derive(&ud())?.graph.edge_weights().any(|e| e.event == "reenrollment"));
    Ok(())
}

#[test]
fn esp_timeout_try_again() -> TestResult {
    let w = run(&ud(), &["esp-timeout"], Recovery::Retry, &[])?;
    let names = w.names();
    let i = names.iter().position(|n| n == "EspError{device}").ok_or("no ESP error")?;
    assert_eq!(names[i + 1], "EspDeviceSetup");
    assert_eq!(w.end.to_string(), "Desktop");
    // The timer is the profile's 60 minutes.
    let step = w.steps.iter().find(|s| s.event == "esp-timeout").ok_or("no timeout step")?;
    assert_eq!(step.minutes, 60.0);
    Ok(())
}

#[test]
fn esp_timeout_continue_anyway_only_when_allowed() -> TestResult {
    let mut allowed = ud();
    allowed.esp.allow_continue = true;
    let w = run(&allowed, &["esp-timeout"], Recovery::Continue, &[])?;
    let names = w.names();
    let i = names.iter().position(|n| n == "EspError{device}").ok_or("no ESP error")?;
    assert_eq!(names[i + 1], "Desktop");
    // Default ESP: no Continue anyway; the device waits for the admin.
    let w = run(&ud(), &["esp-timeout"], Recovery::Continue, &[])?;
    assert!(!w.steps.iter().any(|s| s.event == "continue-anyway"));
    Ok(())
}

#[test]
fn esp_timeout_reset_only_when_allowed() -> TestResult {
    let mut allowed = ud();
    allowed.esp.allow_reset = true;
    allowed.esp.allow_retry = false;
    let w = run(&allowed, &["esp-timeout"], Recovery::Reset, &[])?;
    let names = w.names();
    let i = names.iter().position(|n| n == "EspError{device}").ok_or("no ESP error")?;
    assert_eq!(names[i + 1..i + 3], ["Resetting", "OobeStart"]);
    assert_eq!(w.end.to_string(), "Desktop");
    let g = derive(&ud())?;
    assert!(!g.graph.edge_weights().any(|e| e.event == "reset" && e.row == "70"));
    let g = derive(&allowed)?;
    assert!(!g.graph.edge_weights().any(|e| e.event == "try-again"));
    Ok(())
}

#[test]
fn hybrid_timeout_adds_forty_minutes_to_device_phases() -> TestResult {
    let w = run(&hybrid(), &["esp-timeout"], Recovery::Retry, &[])?;
    let step = w.steps.iter().find(|s| s.event == "esp-timeout").ok_or("no timeout step")?;
    assert_eq!(step.minutes, 100.0);
    Ok(())
}

#[test]
fn no_blocking_esp_means_no_timeouts() -> TestResult {
    let input = FlowInput { esp: EspOptions { show_progress: false, ..EspOptions::default() }, ..ud() };
    let g = derive(&input)?;
    assert!(!g.graph.edge_weights().any(|e| e.event == "esp-timeout" || e.event == "app-failed"));
    assert!(validate(&g).is_empty());
    Ok(())
}

#[test]
fn pre_provisioning_disallowed_0x80180005() -> TestResult {
    let w = run(&ud(), &[], Recovery::GiveUp, &["win-x5"])?;
    let step = w.steps.iter().find(|s| s.event == "preprov-disallowed").ok_or("no 0x80180005")?;
    assert_eq!(step.code, Some("0x80180005"));
    assert_eq!(step.to.to_string(), "technician/PreProvError{landing}");
    // Allowed: the Provision edge replaces it.
    assert!(!derive(&pp())?.graph.edge_weights().any(|e| e.event == "preprov-disallowed"));
    Ok(())
}

#[test]
fn profile_not_assigned_escapes_to_standard_oobe() -> TestResult {
    let w = run(&ud(), &["profile-not-assigned"], Recovery::GiveUp, &[])?;
    assert_eq!(w.end.to_string(), "StandardOobe");
    let step = w.steps.last().ok_or("no step")?;
    assert_eq!((step.from.to_string(), step.code), ("ProfileLookup".to_string(), Some("815")));
    Ok(())
}

#[test]
fn hololens_stuck_power_cycle_sign_in() -> TestResult {
    let w = run(&hololens(), &["hololens-stuck"], Recovery::GiveUp, &[])?;
    let step = w.steps.last().ok_or("no step")?;
    assert_eq!(step.event, "hololens-stuck");
    assert_eq!(step.from.to_string(), "EspDeviceSetup");
    assert_eq!(w.end.to_string(), "SignInScreen");
    // From the sign-in screen, the user's Entra sign-in finishes enrollment.
    let t = table(&hololens())?;
    let signin = t.state(Node::main(State::SignInScreen)).ok_or("no sign-in screen")?;
    let next = t.step(signin, "first-user").ok_or("no first-user edge")?;
    assert_eq!(t.states[next as usize].state, State::EspAccountSetup);
    Ok(())
}

#[test]
fn hololens_battery_and_detection_window() -> TestResult {
    let w = run(&hololens(), &["low-battery", "detection-missed"], Recovery::GiveUp, &[])?;
    let names = w.names();
    assert_eq!(names[1..4], ["OobeStart", "HL.LowBattery", "OobeStart"]);
    assert_eq!(w.end.to_string(), "StandardOobe");
    let locked = FlowInput { tenant_lockdown: true, ..hololens() };
    let w = run(&locked, &["no-profile-lockdown"], Recovery::GiveUp, &[])?;
    assert!(w.names().contains(&"HL.TenantLockWait".to_string()));
    assert_eq!(w.end.to_string(), "SignInScreen");
    // PCs have neither.
    assert!(!derive(&sd())?.has_state(State::HlLowBattery));
    Ok(())
}

#[test]
fn invalid_inputs_are_errors() {
    assert!(derive(&FlowInput { device: FlowDevice::HoloLens, ..ud() }).is_err());
    assert!(derive(&FlowInput { join: JoinKind::Hybrid, ..sd() }).is_err());
    assert!(derive(&FlowInput { pre_provisioning_allowed: true, ..sd() }).is_err());
    assert!(derive(&FlowInput { join: JoinKind::Hybrid, ..v2() }).is_err());
}

fn all_inputs() -> Vec<FlowInput> {
    let mut out = Vec::new();
    for base in [ud(), hybrid(), sd(), hololens(), pp(), FlowInput { join: JoinKind::Hybrid, ..pp() }, v2()] {
        for (cont, reset, retry, qu, hello) in [
            (false, false, true, false, true),
            (true, true, false, true, false),
            (true, false, true, false, true),
        ] {
            let mut i = base.clone();
            i.esp.allow_continue = cont;
            i.esp.allow_reset = reset;
            i.esp.allow_retry = retry;
            i.esp.install_quality_updates = qu;
            i.hello_for_business = hello;
            i.v2_allow_skip = cont;
            out.push(i);
        }
    }
    out
}

#[test]
fn every_derived_graph_validates() -> TestResult {
    for input in all_inputs() {
        let g = derive(&input)?;
        assert_eq!(validate(&g), vec![], "{}", g.title());
    }
    Ok(())
}

#[test]
fn mode_invariants_hold() -> TestResult {
    let tpm = State::EspPrep(PrepStep::SecureHardware);
    // No TPM attestation in user-driven (outside the technician flow) or V2.
    for input in [ud(), hybrid(), v2()] {
        let g = derive(&input)?;
        assert!(g.graph.node_weights().all(|n| !(n.state == tpm && n.segment != Segment::Technician)));
    }
    for input in [pp(), FlowInput { join: JoinKind::Hybrid, ..pp() }] {
        let g = derive(&input)?;
        // No account setup in the technician flow; no device preparation in the user flow.
        assert!(g.find(Node { segment: Segment::Technician, state: State::EspAccountSetup }).is_none());
        assert!(!g
            .graph
            .node_weights()
            .any(|n| n.segment == Segment::User && matches!(n.state, State::EspPrep(_))));
        assert!(g.find(Node { segment: Segment::User, state: State::EspAccountSetup }).is_some());
    }
    // V2 states only in V2; no ESP there.
    for input in [ud(), sd(), hololens(), pp()] {
        let g = derive(&input)?;
        assert!(!g.graph.node_weights().any(|n| matches!(n.state, State::V2(_) | State::V2Complete)));
    }
    assert!(!derive(&v2())?.has_state(State::EspDeviceSetup));
    Ok(())
}

#[test]
fn a_hand_broken_graph_gets_findings_naming_the_states() -> TestResult {
    // A TPM attestation edge added to a user-driven graph.
    let mut g = derive(&ud())?;
    let join = g.find(Node::main(State::JoinEnroll)).ok_or("no JoinEnroll")?;
    let tpm = g.graph.add_node(Node::main(State::EspPrep(PrepStep::SecureHardware)));
    let edge = *g.graph.edge_weights().next().ok_or("no edge")?;
    g.graph.add_edge(join, tpm, edge);
    let findings = validate(&g);
    let f = findings.iter().find(|f| f.code == "tpm-outside-sd-pp-hl").ok_or("no TPM finding")?;
    assert_eq!(f.states, ["EspPrep.SecureHardware"]);
    // …which is also a trap: no way out.
    let trap = findings.iter().find(|f| f.code == "trap").ok_or("no trap finding")?;
    assert_eq!(trap.states, ["EspPrep.SecureHardware"]);

    // Account setup wired into the technician flow.
    let mut g = derive(&pp())?;
    let setup = g
        .find(Node { segment: Segment::Technician, state: State::EspDeviceSetup })
        .ok_or("no technician setup")?;
    let user_setup = g
        .find(Node { segment: Segment::User, state: State::EspAccountSetup })
        .ok_or("no user account setup")?;
    let account = g.graph.add_node(Node { segment: Segment::Technician, state: State::EspAccountSetup });
    g.graph.add_edge(setup, account, edge);
    g.graph.add_edge(account, user_setup, edge);
    let findings = validate(&g);
    let f = findings.iter().find(|f| f.code == "account-setup-in-technician-flow").ok_or("no finding")?;
    assert_eq!(f.states, ["technician/EspAccountSetup"]);

    // A cycle with no exit: every state in it is named.
    let mut g = derive(&ud())?;
    let prep = g.find(Node::main(State::EspPrep(PrepStep::Prepare))).ok_or("no prep")?;
    let setup = g.find(Node::main(State::EspDeviceSetup)).ok_or("no setup")?;
    g.graph.retain_edges(|gr, e| gr.edge_endpoints(e).is_some_and(|(a, _)| a != prep && a != setup));
    g.graph.add_edge(prep, setup, edge);
    g.graph.add_edge(setup, prep, edge);
    let findings = validate(&g);
    let f = findings.iter().find(|f| f.code == "no-terminal").ok_or("no no-terminal finding")?;
    assert!(f.states.contains(&"EspPrep.Prepare".to_string()));
    assert!(f.states.contains(&"EspDeviceSetup".to_string()));
    assert!(ValidFlow::new(g).is_err());
    Ok(())
}

#[test]
fn compiled_table_matches_the_graph() -> TestResult {
    for input in all_inputs() {
        let g = derive(&input)?;
        let t = table(&input)?;
        assert_eq!(t.states.len(), g.node_count());
        assert_eq!(t.edges.len(), g.edge_count());
        assert_eq!(t.cells.len(), t.states.len() * t.events.len());
        for e in g.graph.edge_indices() {
            let (a, b) = g.graph.edge_endpoints(e).ok_or("edge")?;
            let w = g.graph.edge_weight(e).ok_or("weight")?;
            let ev = t.event(w.event).ok_or("event")?;
            let cell = t.edge(a.index() as u32, ev).ok_or("cell")?;
            // The cell holds an edge for this (state, event); with one edge per pair, this one.
            let same_pair = g.edges_from(a).iter().filter(|(_, x)| x.event == w.event).count();
            if same_pair == 1 {
                assert_eq!(cell.to, b.index() as u32);
            }
        }
        assert!(t.cells.contains(&NO_EDGE));
    }
    Ok(())
}

#[test]
fn exports_style_error_edges_apart() -> TestResult {
    let g = derive(&pp())?;
    let dot = to_dot(&g);
    assert!(dot.contains("cluster_technician") && dot.contains("cluster_user"));
    assert!(dot.contains("label=\"tpm-transient [0x81039001]\", style=dashed, color=red"));
    let mermaid = to_mermaid(&g);
    assert!(mermaid.contains("-.->|\"tpm-transient [0x81039001]\"|"));
    assert!(mermaid.contains("stroke:red"));
    assert_eq!(dot.matches(" -> ").count(), g.edge_count());
    Ok(())
}

#[test]
fn contoso_profiles_derive_validate_and_export() -> TestResult {
    let tenant = Tenant::load("scenarios/contoso/tenant.toml".as_ref())?;
    let checked = validate_tenant(&tenant).tenant.ok_or("contoso tenant has errors")?;
    let inputs = from_profile::tenant_inputs(&checked);
    assert!(!inputs.is_empty());
    for (name, input) in inputs {
        let g = derive(&input).map_err(|e| format!("{name}: {e}"))?;
        assert_eq!(validate(&g), vec![], "{name}");
        assert!(to_dot(&g).starts_with("digraph"));
        assert!(to_mermaid(&g).starts_with("flowchart"));
        let w = run(
            &input,
            &[],
            Recovery::GiveUp,
            if input.pre_provisioning_allowed { &["win-x5"] } else { &[] },
        )?;
        assert!(w.end.state.is_terminal(), "{name} ends in {}", w.end);
        assert!(!w.end.state.is_failure(), "{name} ends in {}", w.end);
    }
    Ok(())
}

// ------------------------------------------------ Fidelity to the documentation

fn position(names: &[String], state: &str) -> Result<usize, String> {
    names.iter().position(|n| n == state).ok_or(format!("{state} not visited: {names:?}"))
}

/// Set up the Enrollment Status Page, "Install Windows quality updates (might restart the device)": the
/// updates install on the last page of OOBE, once the ESP is done and before anyone signs in. A
/// self-deploying ESP ends with device setup, so the updates come before the sign-in screen or the
/// kiosk's autologon, not after a first user's account setup.
#[test]
fn self_deploying_quality_updates_run_after_the_esp_kiosks_included() -> TestResult {
    for kiosk in [false, true] {
        let mut input = FlowInput { kiosk, ..sd() };
        input.esp.install_quality_updates = true;
        let names = clean(&input)?;
        let end = if kiosk { "KioskAutologon" } else { "SignInScreen" };
        let (esp, updates, last) = (
            position(&names, "EspDeviceSetup")?,
            position(&names, "QualityUpdates")?,
            position(&names, end)?,
        );
        assert!(esp < updates && updates < last, "kiosk {kiosk}: {names:?}");
        let g = derive(&input)?;
        assert!(
            !g.graph.edge_references().any(|r| {
                r.weight().event == "account-setup-done" && g.graph[r.target()].state == State::QualityUpdates
            }),
            "no quality updates after the first user's account setup"
        );
    }
    let names = clean(&sd())?;
    assert!(position(&names, "QualityUpdates").is_err(), "off unless the ESP asks: {names:?}");
    Ok(())
}

/// Microsoft Learn, Configure Autopilot profiles, Autopilot profile priority: "If no other profile is
/// applicable to the device and there's a default profile (any Autopilot profile assigned to all devices),
/// then the default profile is applied" — so with one, "profile not assigned" (815) cannot happen.
#[test]
fn no_profile_not_assigned_edge_with_an_all_devices_profile() -> TestResult {
    let has_815 = |input: &FlowInput| -> Result<bool, Box<dyn Error>> {
        Ok(derive(input)?.graph.edge_weights().any(|e| e.event == "profile-not-assigned"))
    };
    assert!(has_815(&ud())?);
    assert!(!has_815(&FlowInput { default_profile: true, ..ud() })?);
    let tenant = Tenant::parse(
        "[[profile]]\nname = \"Default\"\nall_devices = true\n[[profile]]\nname = \"Other\"\n",
        "t.toml".as_ref(),
    )?;
    let checked = validate_tenant(&tenant).tenant.ok_or("invalid tenant")?;
    for (name, input) in from_profile::tenant_inputs(&checked) {
        assert!(input.default_profile, "{name}");
        assert!(!has_815(&input)?, "{name}");
    }
    Ok(())
}

/// `flow walk --help`: without --retry / --continue / --reset the walk takes no option on an error
/// screen; the pre-provisioning red screen after 0x80180005 offers only Retry and Reset, so it stops there.
#[test]
fn a_walk_without_a_recovery_option_neither_retries_nor_resets() -> TestResult {
    let w = run(&ud(), &["preprov-disallowed"], Recovery::GiveUp, &["win-x5"])?;
    assert_eq!(w.end.to_string(), "technician/PreProvError{landing}");
    assert!(w.steps.iter().all(|s| s.event != "retry" && s.event != "reset"), "{:?}", w.names());
    let retried = run(&ud(), &["preprov-disallowed"], Recovery::Retry, &["win-x5"])?;
    assert!(retried.steps.iter().any(|s| s.event == "retry"));
    assert!(retried.steps.iter().all(|s| s.event != "reset"), "{:?}", retried.names());
    Ok(())
}

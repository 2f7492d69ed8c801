//! `fleetlab flow`: the enrollment graph of a profile (show), the graphs
//! of every profile of a tenant (check), one device walked through its
//! graph (walk).
//!
//! A profile comes from a tenant file (`--tenant` + `--profile`), or from
//! flags (`--mode`, `--join`, …) when there is no tenant file at hand.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::{emit, fail, output, Failure, Outcome};
use crate::flow::{
    self, from_profile, CompiledFlow, FlowDevice, FlowGraph, FlowInput, FlowMode, JoinKind, Recovery,
    ValidFlow, WalkOptions,
};

const SHOW_HELP: &str = "\
States are §6.1 of the enrollment model, edges the guarded transitions of §6.2 that apply to this \
profile: error edges are dashed red, recovery edges (Try again, Continue anyway, Reset, Retry) \
orange, next-run edges (reboot after a fix, the user flow after Reseal) dotted.

Examples:
  fleetlab flow show --tenant scenarios/contoso/tenant.toml --profile 'Contoso - Kiosks' --format dot | dot -Tsvg > kiosk.svg
  fleetlab flow show --tenant tenant.toml --profile 'Field laptops' --format mermaid
  fleetlab flow show --mode self-deploying --device-type holoLens
  fleetlab flow show --mode user-driven --join hybrid --pre-provisioning --esp-allow-reset

Exit status: 0 shown, 1 the graph has findings (printed on stderr), 2 unreadable input or a \
profile that describes no flow (e.g. HoloLens user-driven).";

const CHECK_HELP: &str = "\
Derives the graph of every profile of the tenant (with its ESP) and validates it: every state \
reachable, no trap, every non-terminal state reaches a terminal (Desktop, SignInScreen, \
KioskAutologon, Resealed, StandardOobe, Abandoned, AwaitAdmin), and the mode invariants (TPM \
attestation only in self-deploying/HoloLens/technician flow, no account setup in the technician \
flow, no device preparation in the user flow, V2 states only in V2). Without --tenant, checks \
every built-in mode combination.

Examples:
  fleetlab flow check --tenant scenarios/contoso/tenant.toml
  fleetlab flow check

Exit status: 0 every graph is sound, 1 findings, 2 unreadable tenant.";

const WALK_HELP: &str = "\
Steps one device from power-on through its graph and prints each transition with the time spent \
(the enrollment model's §3.2 default durations), then the time per phase. By default every step \
succeeds; --fail EVENT takes that failure at its first chance (repeatable, in order), and \
--retry / --continue / --reset chooses the error-screen option. Without one the walk takes no \
option: it gives up where the screen offers that (the admin queue) and otherwise stops at the error \
screen; it never retries or resets unless asked. Pre-provisioning profiles walk the technician flow, \
Reseal and the user flow.

Failure events: tpm-transient, tpm-permanent, reenrollment (0x80180014), preprov-disallowed \
(0x80180005, with --technician on a profile that disallows it), profile-not-assigned, \
not-registered, esp-timeout, app-failed, prep-timeout, identifying-stuck, join-failed, odj-failed, \
network-failed, detection-missed, hololens-stuck, low-battery, item-failed (V2). `flow show \
--format text` lists every event of a graph.

Examples:
  fleetlab flow walk --tenant scenarios/contoso/tenant.toml --devices scenarios/contoso/devices.json --device <id>
  fleetlab flow walk --tenant tenant.toml --devices devices.json --device KIOSK-01 --fail tpm-transient --retry
  fleetlab flow walk --mode user-driven --fail esp-timeout --continue
  fleetlab flow walk --mode self-deploying --device-type holoLens --fail hololens-stuck

Exit status: 0 walked, 2 unreadable input or an unknown device.";

/// `fleetlab flow …`
#[derive(Subcommand, Debug)]
pub(super) enum FlowCommand {
    /// Show the enrollment graph of one profile (DOT, Mermaid or text).
    #[command(after_help = SHOW_HELP)]
    Show {
        #[command(flatten)]
        profile: ProfileArgs,
        /// `text` (states and their edges), `dot` (Graphviz) or `mermaid`.
        #[arg(long, value_enum, default_value = "text")]
        format: ShowFormat,
        /// Write to FILE (atomically) instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Validate the enrollment graph of every profile of a tenant.
    #[command(after_help = CHECK_HELP)]
    Check {
        /// The tenant file (profiles, assignments, ESP).
        #[arg(long, value_name = "FILE")]
        tenant: Option<PathBuf>,
    },
    /// Walk one device through its enrollment graph.
    #[command(after_help = WALK_HELP)]
    Walk {
        #[command(flatten)]
        profile: ProfileArgs,
        /// The device inventory (with --tenant and --device).
        #[arg(long, value_name = "FILE", requires = "device")]
        devices: Option<PathBuf>,
        /// The device: its id, deviceId or display name.
        #[arg(long, value_name = "ID", requires_all = ["devices", "tenant"])]
        device: Option<String>,
        /// A failure event to take at its first chance (repeatable).
        #[arg(long, value_name = "EVENT")]
        fail: Vec<String>,
        /// Choose Try again / Retry on error screens.
        #[arg(long, group = "recovery")]
        retry: bool,
        /// Choose Continue anyway on error screens.
        #[arg(long = "continue", group = "recovery")]
        continue_anyway: bool,
        /// Choose Reset device on error screens.
        #[arg(long, group = "recovery")]
        reset: bool,
        /// Press WIN×5 at the first OOBE screen (the default for pre-provisioning profiles).
        #[arg(long)]
        technician: bool,
        /// `text` or `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: WalkFormat,
    },
}

#[derive(Args, Debug)]
pub(super) struct ProfileArgs {
    /// The tenant file; with --profile (show) or --device (walk).
    #[arg(long, value_name = "FILE")]
    tenant: Option<PathBuf>,
    /// The profile's display name (case-insensitive).
    #[arg(long, value_name = "NAME", requires = "tenant")]
    profile: Option<String>,
    /// Deployment mode, when no tenant file is given.
    #[arg(long, value_enum, conflicts_with = "tenant")]
    mode: Option<ModeArg>,
    /// Entra (default) or hybrid join, when no tenant file is given.
    #[arg(long, value_enum, conflicts_with = "tenant")]
    join: Option<JoinArg>,
    /// The profile allows pre-provisioning.
    #[arg(long, conflicts_with = "tenant")]
    pre_provisioning: bool,
    /// The device type (overrides the profile's).
    #[arg(long, value_enum)]
    device_type: Option<DeviceTypeArg>,
    /// Language preset with automatic keyboard (OOBE pages skippable on Ethernet).
    #[arg(long, conflicts_with = "tenant")]
    language_preset: bool,
    /// ESP timeout in minutes (default 60).
    #[arg(long, value_name = "MIN", conflicts_with = "tenant")]
    esp_timeout: Option<u32>,
    /// ESP: no "Try again".
    #[arg(long, conflicts_with = "tenant")]
    esp_no_retry: bool,
    /// ESP: offer "Continue anyway".
    #[arg(long, conflicts_with = "tenant")]
    esp_allow_continue: bool,
    /// ESP: offer "Reset device".
    #[arg(long, conflicts_with = "tenant")]
    esp_allow_reset: bool,
    /// No blocking ESP (progress hidden or device use allowed).
    #[arg(long, conflicts_with = "tenant")]
    esp_hidden: bool,
    /// ESP: install Windows quality updates.
    #[arg(long, conflicts_with = "tenant")]
    quality_updates: bool,
    /// The tenant assigns a profile to all devices (no "profile not
    /// assigned" escape, event 815); a tenant file says so itself.
    #[arg(long, conflicts_with = "tenant")]
    all_devices_profile: bool,
    /// No Windows Hello for Business provisioning.
    #[arg(long)]
    no_hello: bool,
    /// A kiosk profile (self-deploying ends in autologon).
    #[arg(long)]
    kiosk: bool,
    /// HoloLens TenantLockdown (OOBE waits for the profile).
    #[arg(long)]
    tenant_lockdown: bool,
    /// APv2: allow users to skip setup after multiple attempts.
    #[arg(long)]
    v2_allow_skip: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ModeArg {
    UserDriven,
    SelfDeploying,
    /// Windows Autopilot device preparation (APv2).
    DevicePreparation,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum JoinArg {
    Entra,
    Hybrid,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DeviceTypeArg {
    #[value(name = "windowsPc", alias = "windows-pc")]
    WindowsPc,
    #[value(name = "holoLens", alias = "hololens")]
    HoloLens,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ShowFormat {
    Text,
    Dot,
    Mermaid,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WalkFormat {
    Text,
    Json,
}

pub(super) fn run(cmd: FlowCommand) -> Outcome {
    match cmd {
        FlowCommand::Show { profile, format, output } => {
            validate_show(&profile, output.as_deref())?;
            show(&profile, format, output.as_deref())
        }
        FlowCommand::Check { tenant } => check(tenant.as_deref()),
        FlowCommand::Walk {
            profile,
            devices,
            device,
            fail,
            retry,
            continue_anyway,
            reset,
            technician,
            format,
        } => {
            let recovery = if retry {
                Recovery::Retry
            } else if continue_anyway {
                Recovery::Continue
            } else if reset {
                Recovery::Reset
            } else {
                Recovery::GiveUp
            };
            validate_walk(&profile, device.as_deref())?;
            let target = devices.as_deref().zip(device.as_deref());
            walk(&profile, target, fail, recovery, technician, format)
        }
    }
}

/// `flow show`'s arguments alone: the graph must not replace the tenant
/// file it is derived from.
fn validate_show(profile: &ProfileArgs, output: Option<&Path>) -> Result<(), Failure> {
    super::args::not_an_input("-o", output, &[profile.tenant.as_deref()])
}

/// `flow walk`'s arguments alone: `--device` walks the profile the tenant
/// assigns that device, so a `--profile` beside it would be ignored.
fn validate_walk(profile: &ProfileArgs, device: Option<&str>) -> Result<(), Failure> {
    if device.is_some() && profile.profile.is_some() {
        return Err(fail(
            "--device walks the profile the tenant assigns to that device; --profile NAME walks a \
             profile without a device: give one of them",
        ));
    }
    Ok(())
}

impl ProfileArgs {
    /// The flow input from flags alone.
    fn flags_input(&self) -> FlowInput {
        let mut input = FlowInput {
            mode: match self.mode {
                Some(ModeArg::SelfDeploying) => FlowMode::SelfDeploying,
                Some(ModeArg::DevicePreparation) => FlowMode::DevicePreparation,
                Some(ModeArg::UserDriven) | None => FlowMode::UserDriven,
            },
            join: match self.join {
                Some(JoinArg::Hybrid) => JoinKind::Hybrid,
                _ => JoinKind::Entra,
            },
            pre_provisioning_allowed: self.pre_provisioning,
            language_preset: self.language_preset,
            default_profile: self.all_devices_profile,
            ..FlowInput::default()
        };
        if let Some(t) = self.esp_timeout {
            input.esp.timeout_minutes = t;
        }
        input.esp.allow_retry = !self.esp_no_retry;
        input.esp.allow_continue = self.esp_allow_continue;
        input.esp.allow_reset = self.esp_allow_reset;
        input.esp.install_quality_updates = self.quality_updates;
        if self.esp_hidden {
            input.esp.show_progress = false;
        }
        input
    }

    /// Flags that apply on top of a tenant profile too.
    fn overlay(&self, mut input: FlowInput) -> FlowInput {
        if let Some(d) = self.device_type {
            input.device = match d {
                DeviceTypeArg::WindowsPc => FlowDevice::WindowsPc,
                DeviceTypeArg::HoloLens => FlowDevice::HoloLens,
            };
        }
        input.hello_for_business = !self.no_hello;
        input.kiosk = self.kiosk;
        input.tenant_lockdown = self.tenant_lockdown;
        input.v2_allow_skip = self.v2_allow_skip;
        input
    }

    /// The named profile of the tenant, or the flags.
    fn input(&self) -> Result<(String, FlowInput), Failure> {
        match (&self.tenant, &self.profile) {
            (Some(path), Some(name)) => {
                let tenant = super::load::checked_tenant(path, "derive flows for")?;
                let (name, input) = from_profile::tenant_inputs(&tenant)
                    .into_iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        let names: Vec<String> =
                            tenant.profiles.iter().map(|p| format!("{:?}", p.profile.name())).collect();
                        fail(format!(
                            "{}: no profile {name:?} (profiles: {})",
                            path.display(),
                            names.join(", ")
                        ))
                    })?;
                Ok((name, self.overlay(input)))
            }
            (Some(_), None) => Err(fail("give the profile with --profile NAME")),
            _ => Ok(("(flags)".into(), self.overlay(self.flags_input()))),
        }
    }
}

fn derive_checked(name: &str, input: &FlowInput) -> Result<FlowGraph, Failure> {
    flow::derive(input).map_err(|e| fail(format!("profile {name:?}: {e}")))
}

fn report(name: &str, findings: &[flow::Finding]) {
    for f in findings {
        eprintln!("{name}: {f}");
    }
}

fn show(args: &ProfileArgs, format: ShowFormat, output_path: Option<&Path>) -> Outcome {
    let (name, input) = args.input()?;
    let graph = derive_checked(&name, &input)?;
    let findings = flow::validate(&graph);
    let text = match format {
        ShowFormat::Text => flow::to_text(&graph),
        ShowFormat::Dot => flow::to_dot(&graph),
        ShowFormat::Mermaid => flow::to_mermaid(&graph),
    };
    match output_path {
        Some(p) => output::write_file(p, text.as_bytes())?,
        None => emit(&text, None)?,
    }
    if findings.is_empty() {
        Ok(())
    } else {
        report(&name, &findings);
        Err(super::CliError::Findings)
    }
}

/// Every combination of mode, join, device and pre-provisioning that
/// describes a flow, with the ESP options on and off.
fn builtin_inputs() -> Vec<(String, FlowInput)> {
    let mut out = Vec::new();
    for mode in [FlowMode::UserDriven, FlowMode::SelfDeploying, FlowMode::DevicePreparation] {
        for join in [JoinKind::Entra, JoinKind::Hybrid] {
            for device in [FlowDevice::WindowsPc, FlowDevice::HoloLens] {
                for pp in [false, true] {
                    for esp_all in [false, true] {
                        let mut input = FlowInput {
                            mode,
                            join,
                            device,
                            pre_provisioning_allowed: pp,
                            ..FlowInput::default()
                        };
                        if esp_all {
                            input.esp.allow_continue = true;
                            input.esp.allow_reset = true;
                            input.esp.install_quality_updates = true;
                        }
                        if input.flows().is_ok() {
                            let title = flow::derive(&input).map(|g| g.title()).unwrap_or_default();
                            let name = if esp_all { format!("{title}, all ESP options") } else { title };
                            out.push((name, input));
                        }
                    }
                }
            }
        }
    }
    out
}

fn check(tenant: Option<&Path>) -> Outcome {
    let inputs = match tenant {
        Some(path) => from_profile::tenant_inputs(&super::load::checked_tenant(path, "derive flows for")?),
        None => builtin_inputs(),
    };
    let mut bad = 0;
    let mut out = String::new();
    for (name, input) in &inputs {
        match flow::derive(input) {
            Ok(graph) => {
                let findings = flow::validate(&graph);
                let status = if findings.is_empty() { "ok  " } else { "FAIL" };
                out.push_str(&format!(
                    "{status}  {name}: {} — {} states, {} transitions\n",
                    graph.title(),
                    graph.node_count(),
                    graph.edge_count()
                ));
                if !findings.is_empty() {
                    bad += 1;
                    report(name, &findings);
                }
            }
            Err(e) => {
                bad += 1;
                out.push_str(&format!("FAIL  {name}: {e}\n"));
            }
        }
    }
    emit(&out, None)?;
    if bad == 0 {
        eprintln!("ok: {} graphs derived and validated", inputs.len());
        Ok(())
    } else {
        eprintln!("error: {bad} of {} graphs have findings", inputs.len());
        Err(super::CliError::Findings)
    }
}

fn walk(
    args: &ProfileArgs,
    target: Option<(&Path, &str)>,
    mut fail_events: Vec<String>,
    recovery: Recovery,
    technician: bool,
    format: WalkFormat,
) -> Outcome {
    let (title, input) = match (target, &args.tenant) {
        (Some((devices, key)), Some(tenant_path)) => {
            let tenant = super::load::checked_tenant(tenant_path, "derive flows for")?;
            // The loader every command shares: repeated ids and misnamed fields are warned about.
            let index = super::load_devices_index(devices)?;
            let i = index.find(key).map_err(fail)?;
            let plan = tenant.plan(&index).map_err(fail)?;
            let device = plan.devices.get(i).ok_or_else(|| fail(format!("no device {key:?}")))?;
            let label = device.display_name.clone().unwrap_or_else(|| device.id.clone());
            if let Some(m) = &device.mismatch {
                eprintln!("warning: {label}: {m}");
            }
            match from_profile::device_flow(&tenant, device) {
                from_profile::DeviceFlow::Profile { name, input } => {
                    (format!("{label} (profile {name:?})"), args.overlay(input))
                }
                from_profile::DeviceFlow::Escapes { event, reason } => {
                    eprintln!("note: {label}: {reason}");
                    fail_events.insert(0, event.to_string());
                    (format!("{label} (no profile)"), args.overlay(FlowInput::default()))
                }
            }
        }
        (None, Some(_)) if args.profile.is_some() => {
            let (name, input) = args.input()?;
            (format!("profile {name:?}"), input)
        }
        (None, Some(_)) => {
            return Err(fail("give the device with --devices FILE --device ID, or --profile NAME"))
        }
        _ => ("(flags)".into(), args.overlay(args.flags_input())),
    };
    let graph = derive_checked(&title, &input)?;
    let header = graph.title();
    let valid = ValidFlow::new(graph).map_err(|findings| {
        report(&title, &findings);
        super::CliError::Findings
    })?;
    let table = CompiledFlow::compile(&valid);
    let mut prefer = Vec::new();
    if technician || input.pre_provisioning_allowed {
        prefer.push("win-x5".to_string());
    }
    let options = WalkOptions { fail: fail_events, recovery, prefer, ..WalkOptions::default() };
    let result = flow::walk(&table, &options);
    let text = match format {
        WalkFormat::Text => format!("{title}: {header}\n\n{}", result.to_text()),
        WalkFormat::Json => {
            let mut s = serde_json::to_string_pretty(&serde_json::json!({
                "device": title,
                "flow": header,
                "input": input,
                "walk": result,
            }))
            .unwrap_or_default();
            s.push('\n');
            s
        }
    };
    emit(&text, None)
}

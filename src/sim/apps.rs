//! The app catalogue of `enrollment-model.md` §3.3: order-of-magnitude
//! presets an admin starts from and then overrides with their real package
//! sizes (Graph's `size` on `win32LobApp`).

use super::dist::Dist;
use super::scenario::{AppContext, AppSpec};

/// A preset: size, install time, failure probability, reboot.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Name used in scenario files.
    pub name: &'static str,
    /// What it stands for.
    pub label: &'static str,
    /// Download size, MB.
    pub size_mb: f64,
    /// Install time.
    pub install: Dist,
    /// Failure per attempt.
    pub p_fail: f64,
    /// Reboot after install.
    pub reboot: bool,
}

/// Preset names, for error messages.
pub const PRESET_NAMES: &[&str] = &[
    "m365",
    "teams",
    "browser",
    "security-agent",
    "vpn",
    "pdf-reader",
    "runtime",
    "driver-updater",
    "company-portal",
    "generic",
];

/// The per-attempt hang probability of every app (§3.3).
pub const P_HANG: f64 = 0.002;

/// Win32 "installation time required" default, minutes.
pub const INSTALL_TIMEOUT: f64 = 60.0;

/// The preset named `name`.
///
/// ```
/// let m365 = fleetlab::sim::apps::preset("m365").ok_or("no preset")?;
/// assert_eq!(m365.size_mb, 2500.0);
/// # Ok::<(), &str>(())
/// ```
pub fn preset(name: &str) -> Option<Preset> {
    let p = |name, label, size_mb, mean, cv, p_fail, reboot| Preset {
        name,
        label,
        size_mb,
        install: Dist::Lognormal(mean, cv),
        p_fail,
        reboot,
    };
    Some(match name {
        "m365" => p("m365", "Microsoft 365 Apps (C2R, Office CDN)", 2500.0, 8.0, 0.5, 0.02, false),
        "teams" => p("teams", "Teams (new client)", 150.0, 1.5, 0.5, 0.01, false),
        "browser" => p("browser", "Browser (Chrome/Edge update)", 120.0, 1.0, 0.5, 0.005, false),
        "security-agent" => p("security-agent", "Security agent (EDR/AV)", 150.0, 3.0, 0.6, 0.01, false),
        "vpn" => p("vpn", "VPN client", 80.0, 1.5, 0.5, 0.01, false),
        "pdf-reader" => p("pdf-reader", "PDF reader", 400.0, 2.0, 0.5, 0.01, false),
        "runtime" => p("runtime", "Runtime (VC++/.NET)", 30.0, 0.5, 0.5, 0.002, false),
        "driver-updater" => p("driver-updater", "Driver/BIOS updater", 500.0, 10.0, 0.7, 0.03, true),
        "company-portal" => p("company-portal", "Company Portal (Store/WinGet)", 60.0, 1.0, 0.5, 0.01, false),
        "generic" => p("generic", "A mid-sized Win32 app", 200.0, 2.0, 0.5, 0.01, false),
        _ => return None,
    })
}

/// An app with every field resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct App {
    /// Display name.
    pub name: String,
    /// Download size, bytes.
    pub bytes: f64,
    /// Install time.
    pub install: Dist,
    /// Failure per attempt.
    pub p_fail: f64,
    /// Hang per attempt.
    pub p_hang: f64,
    /// The ESP waits for it.
    pub blocking: bool,
    /// Device or user phase.
    pub context: AppContext,
    /// Minutes before a hung install is reported failed.
    pub timeout_minutes: f64,
    /// A reboot follows.
    pub reboot: bool,
    /// Microsoft 365 Apps (the `m365` preset): device preparation installs
    /// it in its LOB and Microsoft 365 step, before scripts and Win32 apps.
    pub m365: bool,
    /// Per-device download size, MB, when it varies (`size_mb_spread`).
    pub size_spread: Option<Dist>,
    /// A Windows update downloaded in an OOBE step, not an app.
    pub update: Option<UpdateStep>,
}

/// The OOBE step a Windows update downloads in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStep {
    /// Critical OOBE updates, drivers, a feature update (`updates-done`).
    Oobe,
    /// The ESP's quality update at the end of OOBE (`updates-installed`).
    Quality,
}

impl App {
    /// Resolves a scenario entry against its preset (`generic` when none).
    pub fn resolve(spec: &AppSpec) -> App {
        let base = spec.preset.as_deref().and_then(preset).or_else(|| preset("generic"));
        let (size, install, p_fail, reboot) = match base {
            Some(b) => (b.size_mb, b.install, b.p_fail, b.reboot),
            None => (200.0, Dist::Lognormal(2.0, 0.5), 0.01, false),
        };
        App {
            name: spec.name.clone(),
            bytes: spec.size_mb.unwrap_or(size) * 1e6,
            install: spec.install.clone().unwrap_or(install),
            p_fail: spec.p_fail.map_or(p_fail, |p| p.get()),
            p_hang: spec.p_hang.map_or(P_HANG, |p| p.get()),
            blocking: spec.blocking.unwrap_or(true),
            context: spec.context.unwrap_or_default(),
            timeout_minutes: spec.timeout_minutes.unwrap_or(INSTALL_TIMEOUT),
            reboot: spec.reboot.unwrap_or(reboot),
            m365: spec.preset.as_deref() == Some("m365"),
            size_spread: spec.size_mb_spread.clone(),
            update: None,
        }
    }

    /// A Windows update of `mb` megabytes per device: downloaded, never
    /// failing, its install time the step's own duration.
    pub fn update(name: &str, mb: &Dist, step: UpdateStep) -> App {
        App {
            name: name.to_string(),
            bytes: mb.mean() * 1e6,
            install: Dist::Fixed(0.0),
            p_fail: 0.0,
            p_hang: 0.0,
            blocking: true,
            context: AppContext::Device,
            timeout_minutes: 1440.0,
            reboot: false,
            m365: false,
            size_spread: Some(mb.clone()),
            update: Some(step),
        }
    }

    /// Back to the file form, every field written (for `--explain`).
    pub fn to_spec(&self) -> AppSpec {
        use super::scenario::Probability;
        AppSpec {
            name: self.name.clone(),
            preset: self.m365.then(|| "m365".to_string()),
            size_mb: Some(self.bytes / 1e6),
            size_mb_spread: self.size_spread.clone(),
            install: Some(self.install.clone()),
            p_fail: Some(Probability::clamped(self.p_fail)),
            p_hang: Some(Probability::clamped(self.p_hang)),
            blocking: Some(self.blocking),
            context: Some(self.context),
            timeout_minutes: Some(self.timeout_minutes),
            reboot: Some(self.reboot),
        }
    }
}

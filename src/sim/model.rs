//! One replication: every device walks its compiled enrollment flow
//! through the event queue, competing for technicians, bench ports, the
//! admin queue and its site's uplink.
//!
//! Design decisions, and why:
//!
//! * **Devices are rows of one `Vec`**, addressed by `u32`; an event
//!   carries the device and a serial. Whenever a device leaves a state
//!   early (ESP timeout, an app failure) its serial moves on, and every
//!   event scheduled under the old serial is ignored when it pops: no
//!   search-and-remove in the heap.
//! * **The ESP phase is a small pipeline**: installs are serial and the
//!   next app's download may overlap the current install (§8 Q6, depth
//!   1). Downloads go over the site's processor-sharing uplink for the
//!   bytes peers cannot serve (§3.4) and over the LAN for the rest, in
//!   parallel; the ESP timer runs per phase (§8 Q3).
//! * **A device owns at most one transfer, and a transfer ends with the
//!   attempt that started it.** An ESP timeout, a failed blocking app, a
//!   Reset or the end of the device cancels its download: the flow leaves
//!   the processor-sharing link at once and the others speed up. What was
//!   fetched is kept per device and app, and a later attempt fetches only
//!   the rest: Delivery Optimization downloads files in pieces, keeps them
//!   in its cache (default cache age 3 days, `DOMaxCacheAge`) and serves a
//!   repeated request of the same content from that cache, resuming a
//!   partial file instead of starting over ("Delivery Optimization
//!   reference", learn.microsoft.com/windows/deployment/do/waas-delivery-optimization-reference;
//!   "What is Delivery Optimization?", …/do/waas-delivery-optimization). A
//!   Reset wipes the disk and with it the cache, so after a Reset every
//!   byte is fetched again.
//! * **People are resources.** Technicians (with weekly shifts) do the
//!   hands-on work, the triage of red screens and Reseal; bench ports are
//!   held from unboxing to the end; admins work tickets after a pick-up
//!   delay. A device waiting for any of them is parked in that resource's
//!   FIFO queue and resumed when a unit passes to it.
//! * **Randomness is split by device and by purpose**
//!   ([`super::rng::device_stream`]): a device's durations, failures, app
//!   installs and people's work on it come from its own four streams, the
//!   arrival times from one stream per wave, the service plane from its
//!   own. A knob that does not touch a device leaves its draws alone
//!   whatever order the other devices' events come in.

use rand::RngExt;

use super::engine::{minutes, ticks, EventQueue, PsLink, Resource, Tick, MINUTE};
use super::resolve::{Arrival, FlowPlan, Kind, Scenario, StatePlan, Steer};
use super::rng::{device_stream, keyed_stream, stream, SimRng, Stream, WAVE_KEY};
use super::scenario::{Choice, Mode};
use crate::flow::{Event, NO_EDGE};

/// Events of the model.
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// The next device of the arrival schedule.
    Arrive,
    /// The state's time is up: take `edge`.
    Step { dev: u32, edge: u32, serial: u32 },
    /// A technician's task is done.
    TechDone { dev: u32, serial: u32 },
    /// A connector has returned a device's ODJ blob.
    OdjDone { dev: u32, serial: u32 },
    /// An admin picks a ticket up.
    AdminPickup(u32),
    /// An admin's work is done.
    AdminDone(u32),
    /// The ESP phase's own work (policies, certificates) is done.
    PhaseBase { dev: u32, serial: u32 },
    /// A download is complete (LAN part included).
    Downloaded { dev: u32, serial: u32 },
    /// An install ended.
    Installed { dev: u32, serial: u32, end: InstallEnd },
    /// The ESP timer of a phase.
    EspTimeout { dev: u32, serial: u32 },
    /// A site's next download completion.
    LinkWake { site: u16 },
    /// The depot's technician count changes.
    Shift(u32),
    /// The admins on duty change (calendar admin hours).
    AdminShift(u32),
}

/// How an install ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InstallEnd {
    /// Installed.
    Ok,
    /// The installer returned a failure.
    Failed,
    /// The installer never returned; reported failed at its timeout.
    Hung,
}

/// What a device waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    Nothing,
    Port,
    HandsOn,
    Triage,
    Reseal,
    Admin,
    Connector,
}

/// How a device ended (or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    /// Still going at the horizon.
    Unfinished = 0,
    /// Done, first time.
    Success = 1,
    /// Done after Try again / Retry.
    SuccessOnRetry = 2,
    /// Done via Continue anyway.
    SuccessWithTimeout = 3,
    /// Escaped to standard OOBE.
    Escaped = 4,
    /// Given up on.
    Abandoned = 5,
    /// Waiting on an admin at the horizon.
    AwaitingAdmin = 6,
}

/// Outcome labels, by `Outcome as usize` (Graph's deployment-state words where they exist).
pub const OUTCOMES: [&str; 7] = [
    "unfinished",
    "success",
    "successOnRetry",
    "successWithTimeout",
    "escaped",
    "abandoned",
    "awaitingAdmin",
];

impl Dev {
    /// The device's site (index into the scenario's sites).
    pub fn site(&self) -> u16 {
        self.site
    }
}

impl Outcome {
    /// A success of any kind.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Success | Outcome::SuccessOnRetry | Outcome::SuccessWithTimeout)
    }
}

/// One device's run.
#[derive(Clone, Debug)]
pub struct Dev {
    flow: u16,
    site: u16,
    state: u32,
    serial: u32,
    wired: bool,
    on_ac: bool,
    tpm_bad: bool,
    escape: u8,
    waiting: Wait,
    holds_port: bool,
    attempts: u8,
    resets: u8,
    admin_fixes: u8,
    retried: bool,
    continued: bool,
    tpm_failed: bool,
    enrolled: bool,
    /// 0 device, 1 account, 2 technician device phase, 3–4 device
    /// preparation's app steps, 5–6 the OOBE and quality updates steps.
    phase: u8,
    inst: u8,
    dl: u8,
    dl_busy: bool,
    inst_busy: bool,
    lan_done: Tick,
    /// Device preparation's deadline for the selected apps.
    v2_deadline: Tick,
    /// Its own connection's speed, bytes per tick (0: the site's `device_mbps`).
    speed: f64,
    /// The transfer in flight: its app, start, bytes asked for, peer
    /// share, the link owner slot (`NO_SLOT` once the uplink part is done
    /// or when there is none) and, on a connection of its own, its end.
    dl_app: u8,
    dl_start: Tick,
    dl_bytes: f64,
    dl_share: f64,
    dl_owner: u32,
    dl_end: Tick,
    apps_done: u128,
    pending_edge: u32,
    /// First power-on or arrival at the depot.
    pub arrived: Tick,
    /// Power-on.
    pub powered: Tick,
    /// Powered on at all by the horizon (by its user, or by a technician).
    pub powered_on: bool,
    /// Device ESP start / end.
    pub device_setup: (Tick, Tick),
    /// Account ESP start / end.
    pub account_setup: (Tick, Tick),
    /// End.
    pub end: Tick,
    /// How it ended.
    pub outcome: Outcome,
    /// The first failure's cause index.
    pub first_cause: Option<u16>,
    /// Registered (visible after sync).
    pub registered_at: Tick,
    /// Profile assigned.
    pub assigned_at: Tick,
    /// Booted before its profile was assigned.
    pub booted_early: bool,
    /// The device / account phase failed at least once.
    pub failed_phase: [bool; 2],
    /// Hit an ESP timeout at least once.
    pub timed_out: bool,
}

/// What one replication measured.
#[derive(Clone, Debug)]
pub struct RepResult {
    /// Devices done (success) by the end of each bucket, cumulative.
    pub done_by_bucket: Vec<u32>,
    /// Time in system of successful devices, minutes.
    pub time_in_system: Vec<f64>,
    /// Per resource: busy area per bucket, capacity area per bucket, queue area per bucket, total wait, grants, peak queue.
    pub resources: Vec<ResourceResult>,
    /// Count per outcome.
    pub outcomes: [u32; 7],
    /// Count per cause.
    pub causes: Vec<u32>,
    /// Named scalars (see [`METRICS`]).
    pub metrics: Vec<f64>,
    /// Events processed.
    pub events: u64,
    /// The devices (kept only when asked for).
    pub devices: Option<Vec<Dev>>,
}

/// One resource's curves in one replication.
#[derive(Clone, Debug)]
pub struct ResourceResult {
    /// Name.
    pub name: String,
    /// `staff`, `equipment`, `queue`, `link`.
    pub kind: &'static str,
    /// Nominal capacity (units or Mbit/s).
    pub capacity: f64,
    /// Busy units × ticks (bytes for a link) per bucket.
    pub busy: Vec<f64>,
    /// Available units × ticks (capacity bytes for a link) per bucket.
    pub available: Vec<f64>,
    /// Queue length × ticks per bucket (active downloads for a link).
    pub queue: Vec<f64>,
    /// Total wait, ticks, and number served.
    pub waited: (Tick, u64),
    /// The waits longer than zero, ticks.
    pub waits: Vec<Tick>,
    /// Devices still waiting for a unit at the horizon (downloads still
    /// active, for a link).
    pub waiting_at_end: u32,
    /// Largest queue.
    pub peak_queue: f64,
}

/// The scalar metrics every replication reports, in order: name, unit, description.
pub const METRICS: &[(&str, &str, &str)] = &[
    ("devices-done", "devices", "devices at their end state (desktop, sign-in screen, kiosk, resealed)"),
    ("devices-per-day", "devices/day", "devices done per day of the horizon"),
    (
        "time-to-50-percent",
        "minutes",
        "from the first arrival until half the devices are done (horizon if never)",
    ),
    (
        "time-to-95-percent",
        "minutes",
        "from the first arrival until 95 % of the devices are done (horizon if never)",
    ),
    ("time-in-system-p95", "minutes", "95th percentile of arrival-to-done of the devices done"),
    ("esp-timeouts", "timeouts", "ESP or technician-phase timeouts (a device can time out more than once)"),
    ("timed-out-share", "share", "share of devices that hit at least one ESP timeout"),
    ("continue-anyway", "devices", "devices that left an error screen with Continue anyway"),
    ("helpdesk-tickets", "tickets", "tickets in the admin queue (give-up, unblock, re-register)"),
    ("resets", "resets", "devices wiped with Reset"),
    ("retries", "retries", "Try again / Retry taken"),
    ("escaped", "share", "share of devices that escaped to standard OOBE"),
    ("booted-before-assigned", "share", "share of devices powered on before their profile was assigned"),
    ("time-to-assigned-p95", "minutes", "95th percentile from the hashes' arrival to profile Assigned"),
    ("time-to-assigned-p99", "minutes", "99th percentile from the hashes' arrival to profile Assigned"),
    (
        "non-blocking-app-failures",
        "devices",
        "devices left without a non-blocking app (retried by the IME after ~24 h)",
    ),
    ("peak-concurrent-downloads", "downloads", "most downloads active at once at any site"),
    ("uplink-gb", "GB", "bytes over the sites' uplinks"),
    ("mean-time-in-system", "minutes", "mean arrival-to-done of the devices done"),
    ("import-throttled", "calls", "Graph import calls answered 429 (source = \"graph\")"),
];

/// Index of a metric by name.
pub fn metric(name: &str) -> usize {
    METRICS.iter().position(|m| m.0 == name).unwrap_or(0)
}

/// One device's streams.
struct Rngs {
    durations: SimRng,
    failures: SimRng,
    apps: SimRng,
    people: SimRng,
}

impl Rngs {
    fn of(seed: u64, rep: u64, dev: u32) -> Rngs {
        Rngs {
            durations: device_stream(seed, rep, dev, Stream::Durations),
            failures: device_stream(seed, rep, dev, Stream::Failures),
            apps: device_stream(seed, rep, dev, Stream::Apps),
            people: device_stream(seed, rep, dev, Stream::People),
        }
    }
}

/// No link slot.
const NO_SLOT: u32 = u32::MAX;

/// Every device of the run at its arrival, in the order of the arrival
/// specs: its attributes from its own stream, its arrival time from
/// its wave's.
fn arrivals(sc: &Scenario, seed: u64, rep: u64) -> Vec<Dev> {
    let mut devs = Vec::with_capacity(sc.devices as usize);
    let on_ac_for = |site: u16, r: &mut SimRng| {
        let share = sc.sites.get(site as usize).map_or(0.0, |s| s.spec.on_ac_power.get());
        let share = if sc.depot.is_some() { 1.0 } else { share };
        r.random::<f64>() < share
    };
    // Arrivals, in spec order; device ordinals follow.
    let tpm_p = sc.failures.get("tpm-permanent").copied().unwrap_or(0.0);
    let push = |t: Tick, site: u16, devs: &mut Vec<Dev>| {
        let ordinal = devs.len();
        let r = &mut device_stream(seed, rep, ordinal as u32, Stream::Attributes);
        let wired = r.random::<f64>() < sc.wired;
        let on_ac = on_ac_for(site, r);
        let tpm_bad = r.random::<f64>() < tpm_p;
        // Drawn last, so that sites without a spread keep their draws.
        let speed = sc
            .sites
            .get(site as usize)
            .and_then(|s| s.device_spread.as_ref())
            .map_or(0.0, |d| d.sample(r).max(0.01) * 1e6 / 8.0 / 1000.0);
        let (flow, escape) = sc.device_flows.get(ordinal).copied().unwrap_or((0, 0));
        let dev = Dev {
            flow,
            site,
            state: sc.flows.get(flow as usize).map_or(0, |f| f.start),
            serial: 0,
            wired,
            on_ac,
            tpm_bad,
            escape,
            waiting: Wait::Nothing,
            holds_port: false,
            attempts: 0,
            resets: 0,
            admin_fixes: 0,
            retried: false,
            continued: false,
            tpm_failed: false,
            enrolled: false,
            phase: 0,
            inst: 0,
            dl: 0,
            dl_busy: false,
            inst_busy: false,
            lan_done: 0,
            v2_deadline: 0,
            speed,
            dl_app: 0,
            dl_start: 0,
            dl_bytes: 0.0,
            dl_share: 0.0,
            dl_owner: NO_SLOT,
            dl_end: 0,
            apps_done: 0,
            pending_edge: NO_EDGE,
            arrived: t,
            powered: 0,
            powered_on: false,
            device_setup: (0, 0),
            account_setup: (0, 0),
            end: 0,
            outcome: Outcome::Unfinished,
            first_cause: None,
            registered_at: 0,
            assigned_at: 0,
            booted_early: false,
            failed_phase: [false; 2],
            timed_out: false,
        };
        devs.push(dev);
    };
    for (w, a) in sc.arrivals.iter().enumerate() {
        let mut arrivals_rng = keyed_stream(seed, rep, WAVE_KEY + w as u64, Stream::Arrivals);
        match a {
            Arrival::Wave { devices, site, start, spread, .. } => {
                for _ in 0..*devices {
                    let t = start + ticks(spread.sample(&mut arrivals_rng));
                    push(t, *site, &mut devs);
                }
            }
            Arrival::Poisson { devices, site, start, mean_gap } => {
                let mut t = *start as f64;
                for _ in 0..*devices {
                    let u: f64 = arrivals_rng.random::<f64>();
                    t += -mean_gap * (1.0 - u).ln() * MINUTE as f64;
                    push(t.round() as Tick, *site, &mut devs);
                }
            }
        }
    }
    devs
}

/// Each device's download size of each app whose size varies, drawn on
/// the device's own `Sizes` stream in app order, so that a sweep over
/// anything else leaves every device's sizes alone.
fn device_sizes(sc: &Scenario, seed: u64, rep: u64) -> Vec<f32> {
    let samplers: Vec<Option<super::dist::Sampler>> =
        sc.apps.iter().map(|a| a.size_spread.as_ref().map(super::dist::Dist::sampler)).collect();
    if samplers.iter().all(Option::is_none) {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(sc.devices as usize * sc.apps.len());
    for dev in 0..sc.devices {
        let r = &mut device_stream(seed, rep, dev, Stream::Sizes);
        for (a, s) in sc.apps.iter().zip(&samplers) {
            let bytes = match s {
                // Win32 packages are capped at 30 GB ([W32-add]).
                Some(s) => s.sample(r).clamp(0.0, 30_000.0) * 1e6,
                None => a.bytes,
            };
            out.push(bytes as f32);
        }
    }
    out
}

struct Sim<'a> {
    sc: &'a Scenario,
    q: EventQueue<Ev>,
    devs: Vec<Dev>,
    techs: Option<Resource>,
    ports: Option<Resource>,
    admin: Resource,
    connectors: Option<Resource>,
    links: Vec<PsLink>,
    /// Download slots: owner id → (device, serial, the link's flow slot).
    slots: Vec<(u32, u32, u32)>,
    /// Per device and app (`dev * apps + app`), the share of the file
    /// already fetched (Delivery Optimization's cache).
    fetched: Vec<f32>,
    /// Per device and app, its download size in bytes, when any app's
    /// size varies by device (else empty: every device gets `App::bytes`).
    sizes: Vec<f32>,
    free_slots: Vec<u32>,
    /// Per site, per app: devices on AC holding the file.
    sources: Vec<Vec<u32>>,
    /// Per device, its streams; one spare at the end.
    rngs: Vec<Rngs>,
    causes: Vec<u32>,
    counters: Counters,
    done_times: Vec<Tick>,
    scratch: Vec<u32>,
    /// Devices by arrival time; only the next one is in the event queue,
    /// which keeps the heap as small as the devices actually in flight.
    schedule: Vec<(Tick, u32)>,
    next_arrival: usize,
    /// Per link, the time of its one pending wake-up.
    wake_at: Vec<Option<Tick>>,
}

#[derive(Default)]
struct Counters {
    timeouts: u32,
    continued: u32,
    tickets: u32,
    resets: u32,
    retries: u32,
    nonblocking_failed: u32,
    peak_downloads: u32,
    /// Graph import calls answered 429.
    throttled: u32,
}

/// Runs replication `rep` of `sc` under base seed `seed`.
///
/// ```
/// use fleetlab::sim::model::{run_replication, OUTCOMES};
/// use fleetlab::sim::{resolve::Scenario, scenario::parse};
/// let text = "name = \"tiny\"\nhorizon_hours = 24\n[[wave]]\nname = \"w\"\ndevices = 20\n";
/// let parsed = parse(text, "tiny.toml".as_ref())?;
/// let sc = Scenario::resolve(&parsed, "tiny.toml".as_ref())?;
/// let r = run_replication(&sc, 1, 0, false);
/// assert_eq!(r.outcomes.iter().sum::<u32>(), 20);
/// assert!(r.outcomes[1] > 0, "{:?}", OUTCOMES);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_replication(sc: &Scenario, seed: u64, rep: u64, keep_devices: bool) -> RepResult {
    let mut sim = Sim::new(sc, seed, rep);
    sim.run();
    sim.finish(keep_devices)
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Scenario, seed: u64, rep: u64) -> Sim<'a> {
        let n = sc.devices as usize;
        let mut service_rng = stream(seed, rep, Stream::Service);
        let mut q = EventQueue::with_capacity(n * 2 + 64);
        let mut devs = arrivals(sc, seed, rep);
        // Service plane, computed up front: it does not depend on the devices.
        let mut throttled = 0;
        if let Some(reg) = &sc.registration {
            let plane = super::service::service_plane(reg, devs.len(), &mut service_rng);
            for (d, (&r, &a)) in devs.iter_mut().zip(plane.registered.iter().zip(&plane.assigned)) {
                d.registered_at = r;
                d.assigned_at = a;
            }
            throttled = plane.throttled;
        }
        if let Some(cal) = &sc.calendar {
            // No deliveries on non-shipping days or holidays (and no
            // power-on at home on a day off): see `super::calendar`.
            for d in &mut devs {
                let days = cal.days.get(d.site as usize);
                d.arrived = days.and_then(|s| s.defer(d.arrived)).unwrap_or(Tick::MAX / 2);
            }
        }
        let mut schedule: Vec<(Tick, u32)> =
            devs.iter().enumerate().map(|(i, d)| (d.arrived, i as u32)).collect();
        schedule.sort_unstable();
        if let Some(&(t, _)) = schedule.first() {
            q.schedule(t, Ev::Arrive);
        }
        let buckets = sc.buckets;
        let techs = sc.depot.as_ref().map(|d| {
            let start = match &d.changes {
                Some(c) => c.first().map_or(0, |w| if w.0 == 0 { w.1 } else { 0 }),
                None => d.week.first().map_or(d.technicians, |w| if w.0 == 0 { w.1 } else { 0 }),
            };
            Resource::new("technicians", start, sc.bucket, buckets)
        });
        let ports = sc
            .depot
            .as_ref()
            .and_then(|d| d.ports)
            .map(|p| Resource::new("bench-ports", p, sc.bucket, buckets));
        if let Some(changes) = sc.depot.as_ref().and_then(|d| d.changes.as_ref()) {
            for &(t, n) in changes {
                if t > 0 && t <= sc.horizon {
                    q.schedule(t, Ev::Shift(n));
                }
            }
        } else if let Some(d) = &sc.depot {
            // Shift changes over the horizon, week after week.
            if !d.week.is_empty() {
                let week = 7 * 1440 * MINUTE;
                let mut base = 0;
                while base <= sc.horizon {
                    for &(minute, n) in &d.week {
                        let t = base + Tick::from(minute) * MINUTE;
                        if t > 0 && t <= sc.horizon {
                            q.schedule(t, Ev::Shift(n));
                        }
                    }
                    base += week;
                }
            }
        }
        // Admin hours: the queue is worked only while admins are on duty.
        let admin_changes = sc.calendar.as_ref().map(|c| c.admin_changes.as_slice()).unwrap_or(&[]);
        let on_duty = |open: u32| if open > 0 { sc.operator.admins } else { 0 };
        let admins_at_start = match admin_changes.first() {
            Some(&(0, open)) => on_duty(open),
            Some(_) => 0,
            None => sc.operator.admins,
        };
        for &(t, open) in admin_changes {
            if t > 0 && t <= sc.horizon {
                q.schedule(t, Ev::AdminShift(on_duty(open)));
            }
        }
        let links = sc.sites.iter().map(|s| PsLink::new(s.uplink, s.device, sc.bucket, buckets)).collect();
        Sim {
            sc,
            q,
            devs,
            techs,
            ports,
            admin: Resource::new("admins", admins_at_start, sc.bucket, buckets),
            connectors: sc.connectors.map(|(n, _)| Resource::new("connectors", n, sc.bucket, buckets)),
            links,
            slots: Vec::new(),
            fetched: vec![0.0; n * sc.apps.len()],
            sizes: device_sizes(sc, seed, rep),
            free_slots: Vec::new(),
            sources: vec![vec![0; sc.apps.len()]; sc.sites.len()],
            rngs: (0..=n as u32).map(|d| Rngs::of(seed, rep, d)).collect(),
            causes: vec![0; sc.causes.len()],
            counters: Counters { throttled, ..Counters::default() },
            done_times: Vec::new(),
            scratch: Vec::new(),
            schedule,
            next_arrival: 0,
            wake_at: vec![None; sc.sites.len()],
        }
    }

    fn flow(&self, dev: u32) -> &'a FlowPlan {
        let sc: &'a Scenario = self.sc;
        let k = self.devs.get(dev as usize).map_or(0, |d| d.flow as usize);
        // Resolution always builds at least one flow.
        sc.flows.get(k).unwrap_or(&sc.flows[0])
    }

    /// The device's streams (the spare for an unknown device).
    fn rng(&mut self, dev: u32) -> &mut Rngs {
        let last = self.rngs.len().saturating_sub(1);
        &mut self.rngs[(dev as usize).min(last)]
    }

    fn run(&mut self) {
        while let Some(t) = self.q.peek_time() {
            if t > self.sc.horizon {
                break;
            }
            let Some((now, ev)) = self.q.pop() else { break };
            self.handle(now, ev);
        }
    }

    fn handle(&mut self, now: Tick, ev: Ev) {
        match ev {
            Ev::Arrive => {
                if let Some(&(_, d)) = self.schedule.get(self.next_arrival) {
                    self.next_arrival += 1;
                    if let Some(&(t, _)) = self.schedule.get(self.next_arrival) {
                        self.q.schedule(t, Ev::Arrive);
                    }
                    self.arrive(now, d);
                }
            }
            Ev::Step { dev, edge, serial } => {
                if self.current(dev, serial) {
                    self.take(now, dev, edge);
                }
            }
            Ev::TechDone { dev, serial } => {
                if self.current(dev, serial) {
                    self.tech_done(now, dev);
                }
            }
            Ev::OdjDone { dev, serial } => {
                if let Some(next) = self.connectors.as_mut().and_then(|c| c.release(now)) {
                    self.connector_granted(next);
                }
                if self.current(dev, serial) {
                    if let Some(d) = self.d(dev) {
                        d.waiting = Wait::Nothing;
                    }
                    self.join_step(dev);
                }
            }
            Ev::AdminPickup(dev) => {
                if self.admin.acquire(now, dev) {
                    self.admin_granted(now, dev);
                }
            }
            Ev::AdminDone(dev) => {
                if let Some(next) = self.admin.release(now) {
                    self.admin_granted(now, next);
                }
                self.admin_resolved(now, dev);
            }
            Ev::PhaseBase { dev, serial } => {
                if self.current(dev, serial) {
                    self.advance_apps(now, dev);
                }
            }
            Ev::Downloaded { dev, serial } => {
                if self.current(dev, serial) {
                    self.downloaded(now, dev);
                }
            }
            Ev::Installed { dev, serial, end } => {
                if self.current(dev, serial) {
                    self.installed(now, dev, end);
                }
            }
            Ev::EspTimeout { dev, serial } => {
                if self.current(dev, serial) {
                    self.counters.timeouts += 1;
                    if let Some(d) = self.d(dev) {
                        d.timed_out = true;
                        d.v2_deadline = 0;
                    }
                    let edge = self.flow(dev).steer.get(self.state(dev) as usize).and_then(|s| s.timeout);
                    if let Some(edge) = edge {
                        self.cause(dev, self.sc.timeout_cause);
                        self.bump(dev);
                        self.take(now, dev, edge);
                    }
                }
            }
            Ev::LinkWake { site } => self.link_wake(now, site),
            Ev::AdminShift(n) => {
                let mut granted = std::mem::take(&mut self.scratch);
                granted.clear();
                self.admin.set_capacity(now, n, &mut granted);
                for &d in &granted {
                    self.admin_granted(now, d);
                }
                self.scratch = granted;
            }
            Ev::Shift(n) => {
                let mut granted = std::mem::take(&mut self.scratch);
                granted.clear();
                if let Some(t) = &mut self.techs {
                    t.set_capacity(now, n, &mut granted);
                }
                for &d in &granted {
                    self.tech_granted(now, d);
                }
                self.scratch = granted;
            }
        }
    }

    fn current(&self, dev: u32, serial: u32) -> bool {
        self.devs.get(dev as usize).is_some_and(|d| d.serial == serial && d.outcome == Outcome::Unfinished)
    }

    fn state(&self, dev: u32) -> u32 {
        self.devs.get(dev as usize).map_or(0, |d| d.state)
    }

    fn d(&mut self, dev: u32) -> Option<&mut Dev> {
        self.devs.get_mut(dev as usize)
    }

    /// Invalidates every event scheduled for the device's current state
    /// and cancels its download.
    fn bump(&mut self, dev: u32) {
        let now = self.q.now();
        self.cancel_download(now, dev);
        if let Some(d) = self.d(dev) {
            d.serial = d.serial.wrapping_add(1);
            d.dl_busy = false;
            d.inst_busy = false;
        }
    }

    fn cause(&mut self, dev: u32, cause: u16) {
        if let Some(c) = self.causes.get_mut(cause as usize) {
            *c += 1;
        }
        if let Some(d) = self.d(dev) {
            d.first_cause.get_or_insert(cause);
        }
    }

    fn arrive(&mut self, now: Tick, dev: u32) {
        if self.sc.depot.is_some() {
            if let Some(ports) = &mut self.ports {
                if !ports.acquire(now, dev) {
                    if let Some(d) = self.d(dev) {
                        d.waiting = Wait::Port;
                    }
                    return;
                }
            }
            if let Some(d) = self.d(dev) {
                d.holds_port = true;
            }
            self.want_tech(now, dev, Wait::HandsOn);
        } else {
            self.power_on(now, dev);
        }
    }

    fn power_on(&mut self, now: Tick, dev: u32) {
        let start = self.flow(dev).start;
        if let Some(d) = self.d(dev) {
            if !d.powered_on {
                d.powered = now;
                d.powered_on = true;
            }
            d.state = start;
        }
        self.enter(now, dev);
    }

    fn want_tech(&mut self, now: Tick, dev: u32, wait: Wait) {
        if let Some(d) = self.d(dev) {
            d.waiting = wait;
        }
        let granted = match &mut self.techs {
            Some(t) => t.acquire(now, dev),
            None => true,
        };
        if granted {
            self.tech_granted(now, dev);
        }
    }

    fn tech_granted(&mut self, now: Tick, dev: u32) {
        let Some(depot) = &self.sc.depot else { return };
        let hands_on_only = self.sc.mode == Mode::HandsOnOnly;
        let Some(d) = self.d(dev) else { return };
        let (waiting, serial) = (d.waiting, d.serial);
        if waiting == Wait::HandsOn && hands_on_only && !d.powered_on {
            // The technician powers the device on as the hands-on work starts.
            d.powered = now;
            d.powered_on = true;
        }
        let people = &mut self.rng(dev).people;
        let work = match waiting {
            Wait::HandsOn => depot.hands_on.sample(people),
            Wait::Triage => depot.triage.sample(people),
            Wait::Reseal => depot.reseal.sample(people),
            _ => 0.0,
        };
        self.q.after(ticks(work), Ev::TechDone { dev, serial });
    }

    fn tech_done(&mut self, now: Tick, dev: u32) {
        if let Some(t) = &mut self.techs {
            if let Some(next) = t.release(now) {
                self.tech_granted(now, next);
            }
        }
        let Some(d) = self.d(dev) else { return };
        let wait = d.waiting;
        d.waiting = Wait::Nothing;
        match wait {
            Wait::HandsOn => {
                if self.sc.mode == Mode::HandsOnOnly {
                    self.end_device(now, dev, Outcome::Success);
                } else {
                    self.power_on(now, dev);
                }
            }
            Wait::Triage => self.choose(now, dev, true),
            Wait::Reseal => {
                let edge = self.flow(dev).states.get(self.state(dev) as usize).map_or(NO_EDGE, |s| s.forward);
                self.take(now, dev, edge);
            }
            _ => {}
        }
    }

    /// Schedules the edge after the duration its event takes.
    fn go(&mut self, dev: u32, edge: u32) {
        let fl = self.flow(dev);
        let sc = self.sc;
        let minutes = match fl.edge_sampler.get(edge as usize).copied().flatten() {
            Some(k) => sc.samplers.get(k as usize).map_or(0.0, |s| s.sample(&mut self.rng(dev).durations)),
            None => 0.0,
        };
        let serial = self.devs.get(dev as usize).map_or(0, |d| d.serial);
        self.q.after(ticks(minutes), Ev::Step { dev, edge, serial });
    }

    /// Moves along `edge` now.
    fn take(&mut self, now: Tick, dev: u32, edge: u32) {
        let fl = self.flow(dev);
        let Some(e) = fl.table.edges.get(edge as usize) else {
            // No way on: the flow ends here without success.
            self.end_device(now, dev, Outcome::Abandoned);
            return;
        };
        let leaving = fl.states.get(e.from as usize).map(|s| s.kind);
        if let Some(c) = fl.edge_cause.get(edge as usize).copied().flatten() {
            // App failures and timeouts have recorded their own cause.
            let v2_apps = matches!(leaving, Some(Kind::V2LobApps | Kind::V2Win32Apps));
            let steered_cause = matches!(e.edge.event, Event::AppFailed | Event::EspTimeout)
                || (v2_apps && e.edge.event == Event::ItemFailed);
            if !steered_cause {
                self.cause(dev, c);
            }
        }
        let to = e.to;
        let event = e.edge.event;
        if let Some(d) = self.d(dev) {
            let failed = e.edge.kind == crate::flow::EdgeKind::Error;
            match leaving {
                Some(Kind::DeviceSetup) => {
                    d.device_setup.1 = now;
                    d.failed_phase[0] |= failed;
                }
                Some(Kind::AccountSetup) => {
                    d.account_setup.1 = now;
                    d.failed_phase[1] |= failed;
                }
                _ => {}
            }
            if event == Event::Enrolled {
                d.enrolled = true;
            }
            d.state = to;
        }
        self.enter(now, dev);
    }

    /// A device has just entered its current state.
    fn enter(&mut self, now: Tick, dev: u32) {
        let fl = self.flow(dev);
        let s = self.state(dev) as usize;
        let (Some(plan), Some(steer)) = (fl.states.get(s), fl.steer.get(s)) else { return };
        match plan.kind {
            Kind::Done => {
                let outcome = match self.devs.get(dev as usize) {
                    Some(d) if d.continued => Outcome::SuccessWithTimeout,
                    Some(d) if d.retried => Outcome::SuccessOnRetry,
                    _ => Outcome::Success,
                };
                self.end_device(now, dev, outcome);
            }
            Kind::Escaped => self.end_device(now, dev, Outcome::Escaped),
            Kind::Abandoned => self.end_device(now, dev, Outcome::Abandoned),
            Kind::Admin => self.enter_admin(now, dev, *steer),
            Kind::OobeStart => {
                let (wired, on_tech) =
                    self.devs.get(dev as usize).map_or((true, false), |d| (d.wired, plan.technician));
                let edge = if fl.technician && !on_tech && steer.win_x5.is_some() {
                    steer.win_x5
                } else if wired && steer.pages_skipped.is_some() {
                    steer.pages_skipped
                } else {
                    steer.pages_shown
                };
                match self.sample_failure(dev, &plan.failures) {
                    Some(k) => self.go(dev, k),
                    None => self.go(dev, edge.unwrap_or(plan.forward)),
                }
            }
            Kind::Network => {
                let wired = self.devs.get(dev as usize).is_some_and(|d| d.wired);
                match self.sample_failure(dev, &plan.failures) {
                    Some(k) if !wired => self.go(dev, k),
                    _ if wired => {
                        // Ethernet: no Wi-Fi page to go through.
                        let serial = self.devs.get(dev as usize).map_or(0, |d| d.serial);
                        let sc = self.sc;
                        let t = sc.wired_network.sample(&mut self.rng(dev).durations);
                        self.q.after(ticks(t), Ev::Step { dev, edge: plan.forward, serial });
                    }
                    _ => self.go(dev, plan.forward),
                }
            }
            Kind::Lookup => self.enter_lookup(now, dev, plan, *steer),
            Kind::Attest => self.enter_attest(dev, plan, *steer),
            Kind::Join => {
                let odj = fl.table.events.contains(&Event::OdjApplied) && self.connectors.is_some();
                if odj {
                    if let Some(d) = self.d(dev) {
                        d.waiting = Wait::Connector;
                    }
                    let granted = self.connectors.as_mut().is_some_and(|c| c.acquire(now, dev));
                    if granted {
                        self.connector_granted(dev);
                    }
                } else {
                    self.generic(dev, plan.forward, &plan.failures);
                }
            }
            Kind::Register => {
                let used = self.devs.get(dev as usize).is_some_and(|d| d.enrolled) && fl.enroll_once;
                match steer.reenrollment {
                    Some(k) if used => self.go(dev, k),
                    _ => self.generic(dev, plan.forward, &plan.failures),
                }
            }
            Kind::DeviceSetup
            | Kind::AccountSetup
            | Kind::V2LobApps
            | Kind::V2Win32Apps
            | Kind::OobeUpdates
            | Kind::QualityUpdates => self.start_phase(now, dev, plan.kind, plan.technician),
            Kind::ErrorScreen => self.choose(now, dev, false),
            Kind::TechError => {
                if self.sc.depot.is_some() {
                    self.want_tech(now, dev, Wait::Triage);
                } else {
                    self.choose(now, dev, false);
                }
            }
            Kind::Reseal => {
                if self.sc.depot.is_some() {
                    self.want_tech(now, dev, Wait::Reseal);
                } else {
                    self.go(dev, plan.forward);
                }
            }
            Kind::Resetting => {
                self.counters.resets += 1;
                // The wipe empties Delivery Optimization's cache too.
                let apps = self.sc.apps.len();
                let from = dev as usize * apps;
                if let Some(f) = self.fetched.get_mut(from..from + apps) {
                    f.fill(0.0);
                }
                if let Some(d) = self.d(dev) {
                    d.resets = d.resets.saturating_add(1);
                    d.attempts = 0;
                    // The wipe removes what was installed as well.
                    d.apps_done = 0;
                }
                self.go(dev, plan.forward);
            }
            Kind::V2Start => {
                // "Minutes allowed before showing installation error" covers
                // the whole deployment, which begins once the user has signed
                // in and the policy is delivered: join, enrollment, the IME
                // and the selected apps and scripts (enrollment-model.md
                // §1.8; learn.microsoft.com/autopilot/device-preparation/overview).
                let timeout = fl.timeout[0];
                if let Some(d) = self.d(dev) {
                    d.v2_deadline = now + timeout;
                }
                self.generic(dev, plan.forward, &plan.failures)
            }
            Kind::Generic => self.generic(dev, plan.forward, &plan.failures),
        }
    }

    /// An admin-queue state: a ticket, or the end of the road.
    fn enter_admin(&mut self, now: Tick, dev: u32, steer: Steer) {
        let fixes = self.devs.get(dev as usize).map_or(0, |d| d.admin_fixes);
        if steer.admin_resolves.is_some() && u32::from(fixes) < self.sc.operator.max_admin_fixes {
            self.counters.tickets += 1;
            if let Some(d) = self.d(dev) {
                d.waiting = Wait::Admin;
            }
            let sc = self.sc;
            let delay = sc.admin_delay.sample(&mut self.rng(dev).people);
            self.q.after(ticks(delay), Ev::AdminPickup(dev));
        } else if fixes > 0 {
            self.end_device(now, dev, Outcome::Abandoned);
        } else {
            self.counters.tickets += 1;
            self.end_device(now, dev, Outcome::AwaitingAdmin);
        }
    }

    /// Profile lookup: the service plane decides whether the device finds its profile.
    fn enter_lookup(&mut self, now: Tick, dev: u32, plan: &StatePlan, steer: Steer) {
        let d = self.devs.get(dev as usize);
        let (escape, registered, assigned) =
            d.map_or((0, 0, 0), |d| (d.escape, d.registered_at, d.assigned_at));
        let default_profile = self.sc.registration.as_ref().is_some_and(|r| r.default_profile);
        let edge = match escape {
            1 => steer.not_registered,
            2 => steer.not_assigned,
            _ if self.sc.registration.is_none() || now >= assigned => None,
            _ => {
                if let Some(d) = self.d(dev) {
                    d.booted_early = true;
                }
                if now < registered {
                    steer.not_registered
                } else if default_profile {
                    None
                } else {
                    steer.not_assigned
                }
            }
        };
        match edge {
            Some(k) => self.go(dev, k),
            None => match self.sample_failure(dev, &plan.failures) {
                Some(k) => self.go(dev, k),
                None => self.go(dev, steer.found.unwrap_or(plan.forward)),
            },
        }
    }

    /// TPM attestation: a bad TPM fails for good, a transient failure once.
    fn enter_attest(&mut self, dev: u32, plan: &StatePlan, steer: Steer) {
        let (bad, failed_before) =
            self.devs.get(dev as usize).map_or((false, false), |d| (d.tpm_bad, d.tpm_failed));
        if bad && steer.tpm_permanent.is_some() {
            self.go(dev, steer.tpm_permanent.unwrap_or(plan.forward));
            return;
        }
        // A retry after an intermittent failure works with p = 0.8 (§3.5).
        let p =
            if failed_before { 0.2 } else { self.sc.failures.get("tpm-transient").copied().unwrap_or(0.0) };
        if let Some(k) = steer.tpm_transient {
            if self.rng(dev).failures.random::<f64>() < p {
                if let Some(d) = self.d(dev) {
                    d.tpm_failed = true;
                }
                self.go(dev, k);
                return;
            }
        }
        self.generic(dev, plan.forward, &plan.failures);
    }

    /// A connector works one ODJ request (FIFO, fixed time per request).
    fn connector_granted(&mut self, dev: u32) {
        let per = self.sc.connectors.map_or(0, |(_, per)| per);
        let serial = self.devs.get(dev as usize).map_or(0, |d| d.serial);
        self.q.after(per, Ev::OdjDone { dev, serial });
    }

    /// The join step itself, once any ODJ blob is there.
    fn join_step(&mut self, dev: u32) {
        let fl = self.flow(dev);
        let s = self.state(dev) as usize;
        if let Some(plan) = fl.states.get(s) {
            self.generic(dev, plan.forward, &plan.failures);
        }
    }

    fn sample_failure(&mut self, dev: u32, failures: &[(u32, f64)]) -> Option<u32> {
        let r = &mut self.rng(dev).failures;
        for &(edge, p) in failures {
            if r.random::<f64>() < p {
                return Some(edge);
            }
        }
        None
    }

    fn generic(&mut self, dev: u32, forward: u32, failures: &[(u32, f64)]) {
        let edge = self.sample_failure(dev, failures).unwrap_or(forward);
        if edge == NO_EDGE {
            // A state with no way out ends the run without success.
            let now = self.q.now();
            self.end_device(now, dev, Outcome::Abandoned);
        } else {
            self.go(dev, edge);
        }
    }

    /// An error screen: the operator picks the first allowed option.
    fn choose(&mut self, now: Tick, dev: u32, after_triage: bool) {
        let fl = self.flow(dev);
        let s = self.state(dev) as usize;
        let (Some(plan), Some(steer)) = (fl.states.get(s), fl.steer.get(s)) else { return };
        let Some(d) = self.devs.get(dev as usize) else { return };
        let op = &self.sc.operator;
        let mut pick = None;
        for c in &op.on_error {
            let edge = match c {
                Choice::Retry if u32::from(d.attempts) + 1 < op.max_attempts => steer.retry,
                Choice::ContinueAnyway => steer.continue_anyway,
                Choice::Reset if u32::from(d.resets) < op.max_resets => steer.reset,
                Choice::GiveUp => steer.give_up,
                _ => None,
            };
            if let Some(e) = edge {
                pick = Some((*c, e));
                break;
            }
        }
        let (choice, edge) = match pick {
            Some(p) => p,
            None => match steer.error_screen.or(steer.give_up) {
                Some(e) => (Choice::GiveUp, e),
                None => (Choice::GiveUp, plan.forward),
            },
        };
        if let Some(d) = self.d(dev) {
            match choice {
                Choice::Retry => {
                    d.attempts = d.attempts.saturating_add(1);
                    d.retried = true;
                }
                Choice::ContinueAnyway => d.continued = true,
                _ => {}
            }
        }
        match choice {
            Choice::Retry => self.counters.retries += 1,
            Choice::ContinueAnyway => self.counters.continued += 1,
            _ => {}
        }
        if after_triage {
            // The technician's triage already took the time.
            self.take(now, dev, edge);
        } else {
            self.go(dev, edge);
        }
    }

    fn admin_granted(&mut self, _now: Tick, dev: u32) {
        let sc = self.sc;
        let work = sc.admin_work.sample(&mut self.rng(dev).people);
        self.q.after(ticks(work), Ev::AdminDone(dev));
    }

    fn admin_resolved(&mut self, now: Tick, dev: u32) {
        let fl = self.flow(dev);
        let s = self.state(dev) as usize;
        let edge = fl.steer.get(s).and_then(|st| st.admin_resolves);
        if let Some(d) = self.d(dev) {
            d.waiting = Wait::Nothing;
            d.admin_fixes = d.admin_fixes.saturating_add(1);
            d.enrolled = false;
            d.attempts = 0;
        }
        match edge {
            Some(e) => self.take(now, dev, e),
            None => self.end_device(now, dev, Outcome::AwaitingAdmin),
        }
    }

    // ESP phases.

    fn start_phase(&mut self, now: Tick, dev: u32, kind: Kind, technician: bool) {
        let fl = self.flow(dev);
        let s = self.state(dev) as usize;
        let timeout_edge = fl.steer.get(s).and_then(|st| st.timeout);
        let phase = match (kind, technician) {
            (Kind::AccountSetup, _) => 1u8,
            (Kind::V2LobApps, _) => 3,
            (Kind::V2Win32Apps, _) => 4,
            (Kind::OobeUpdates, _) => 5,
            (Kind::QualityUpdates, _) => 6,
            (_, true) => 2,
            _ => 0,
        };
        let mut timeout = fl.timeout.get(usize::from(phase == 1)).copied().unwrap_or(60 * MINUTE);
        if matches!(phase, 3 | 4) {
            // Device preparation's one timer runs from the start of the
            // deployment (see `Kind::V2Start`) through both app steps; a
            // step reached after it ran out fails at once. Without a running
            // timer (a Retry started the attempt over at an app step) it
            // starts here.
            let deadline = self.devs.get(dev as usize).map_or(0, |d| d.v2_deadline);
            if deadline > 0 {
                timeout = deadline.saturating_sub(now);
            } else if let Some(d) = self.d(dev) {
                d.v2_deadline = now + timeout;
            }
        }
        let forward = fl.states.get(s).map_or(NO_EDGE, |p| p.forward);
        let base = match fl.edge_sampler.get(forward as usize).copied().flatten() {
            // An updates step installs after its download: its time is
            // drawn when the downloads are in (see `advance_apps`).
            _ if phase >= 5 => 0.0,
            Some(k) => {
                let sc = self.sc;
                sc.samplers.get(k as usize).map_or(0.0, |x| x.sample(&mut self.rng(dev).durations))
            }
            None => 0.0,
        };
        let Some(d) = self.d(dev) else { return };
        d.phase = phase;
        d.inst = 0;
        d.dl = 0;
        d.dl_busy = false;
        d.inst_busy = false;
        d.pending_edge = forward;
        // Intune reports a phase from its first start, retries included;
        // device preparation has no ESP phases to report.
        if phase <= 2 {
            let span = if phase == 1 { &mut d.account_setup } else { &mut d.device_setup };
            if span.0 == 0 {
                span.0 = now.max(1);
            }
        }
        let serial = d.serial;
        if timeout_edge.is_some() {
            self.q.after(timeout, Ev::EspTimeout { dev, serial });
        }
        // Failures of the phase itself (an "Identifying" that never ends, a
        // policy-conflict hang) compete with the app pipeline.
        let failures = fl.states.get(s).map_or(&[][..], |p| p.failures.as_slice());
        if let Some(k) = self.sample_failure(dev, failures) {
            self.go(dev, k);
            return;
        }
        self.q.after(ticks(base), Ev::PhaseBase { dev, serial });
    }

    fn phase_apps(&self, dev: u32) -> &'a [u8] {
        let fl = self.flow(dev);
        let phase = self.devs.get(dev as usize).map_or(0, |d| d.phase) as usize;
        fl.phase_apps.get(phase).map_or(&[], |v| v.as_slice())
    }

    /// Starts whatever the pipeline can start; ends the phase when all is installed.
    fn advance_apps(&mut self, now: Tick, dev: u32) {
        let apps = self.phase_apps(dev);
        loop {
            let Some(d) = self.devs.get(dev as usize) else { return };
            let (inst, dl, dl_busy, inst_busy, done) =
                (d.inst as usize, d.dl as usize, d.dl_busy, d.inst_busy, d.apps_done);
            let installed = |i: usize| apps.get(i).is_some_and(|&a| done & (1u128 << a) != 0);
            // Skip apps installed in an earlier attempt.
            if !inst_busy && inst < apps.len() && installed(inst) {
                if let Some(d) = self.d(dev) {
                    d.inst += 1;
                    if d.dl < d.inst {
                        d.dl = d.inst;
                    }
                }
                continue;
            }
            if inst >= apps.len() && !inst_busy {
                let edge = self.devs.get(dev as usize).map_or(NO_EDGE, |d| d.pending_edge);
                let updates = self.devs.get(dev as usize).is_some_and(|d| d.phase >= 5);
                if !updates {
                    if let Some(d) = self.d(dev) {
                        d.attempts = 0;
                    }
                }
                self.bump(dev);
                if updates {
                    // Downloaded: now the install takes the step's own time.
                    self.go(dev, edge);
                } else {
                    self.take(now, dev, edge);
                }
                return;
            }
            if !inst_busy && dl > inst {
                self.start_install(now, dev, apps.get(inst).copied().unwrap_or(0));
                continue;
            }
            if !dl_busy && dl < apps.len() && dl <= inst + 1 {
                if installed(dl) {
                    if let Some(d) = self.d(dev) {
                        d.dl += 1;
                    }
                    continue;
                }
                self.start_download(now, dev, apps.get(dl).copied().unwrap_or(0));
                continue;
            }
            return;
        }
    }

    fn fetched_index(&self, dev: u32, app: u8) -> usize {
        dev as usize * self.sc.apps.len() + app as usize
    }

    /// The device's download size of `app`, bytes.
    fn app_bytes(&self, dev: u32, app: u8) -> f64 {
        match self.sizes.get(self.fetched_index(dev, app)) {
            Some(&b) => f64::from(b),
            None => self.sc.apps.get(app as usize).map_or(0.0, |a| a.bytes),
        }
    }

    fn start_download(&mut self, now: Tick, dev: u32, app: u8) {
        let Some(d) = self.devs.get(dev as usize) else { return };
        let (site, serial) = (d.site as usize, d.serial);
        let size = self.app_bytes(dev, app);
        let have = self.fetched.get(self.fetched_index(dev, app)).copied().unwrap_or(0.0);
        // Only what an earlier attempt left unfetched (Delivery Optimization resumes).
        let bytes = size * (1.0 - f64::from(have)).max(0.0);
        let sources = self.sources.get(site).and_then(|s| s.get(app as usize)).copied().unwrap_or(0);
        // Peering depends on the file's size, not on what is left of it.
        let share = self.sc.peer_share(site, size, sources);
        let lan_rate = self.sc.sites.get(site).map_or(1.0, |s| s.lan).max(f64::MIN_POSITIVE);
        let lan_done = now + (bytes * share / lan_rate).ceil() as Tick;
        let uplink_bytes = bytes * (1.0 - share);
        if let Some(d) = self.d(dev) {
            d.dl_busy = true;
            d.lan_done = lan_done;
            d.dl_app = app;
            d.dl_start = now;
            d.dl_bytes = bytes;
            d.dl_share = share;
            d.dl_owner = NO_SLOT;
            d.dl_end = now;
        }
        if uplink_bytes < 1.0 {
            self.q.schedule(lan_done, Ev::Downloaded { dev, serial });
            return;
        }
        if let Some(site) = self.sc.sites.get(site).filter(|s| !s.spec.shared) {
            // A connection of its own: no contention to model.
            let own = self.devs.get(dev as usize).map_or(0.0, |d| d.speed);
            let rate = if own > 0.0 { own } else { site.device };
            let t = (uplink_bytes / rate.max(f64::MIN_POSITIVE)).ceil() as Tick;
            if let Some(d) = self.d(dev) {
                d.dl_end = now + t;
            }
            self.q.schedule(lan_done.max(now + t), Ev::Downloaded { dev, serial });
            return;
        }
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.slots.push((dev, serial, 0));
                (self.slots.len() - 1) as u32
            }
        };
        let mut flow = 0;
        if let Some(link) = self.links.get_mut(site) {
            flow = link.start(now, slot, uplink_bytes);
            self.counters.peak_downloads = self.counters.peak_downloads.max(link.active());
        }
        if let Some(x) = self.slots.get_mut(slot as usize) {
            *x = (dev, serial, flow);
        }
        if let Some(d) = self.d(dev) {
            d.dl_owner = slot;
        }
        self.wake_link(site);
    }

    /// Stops the device's download, if one is running, and keeps what it
    /// fetched for the next attempt.
    fn cancel_download(&mut self, now: Tick, dev: u32) {
        let Some(d) = self.devs.get(dev as usize) else { return };
        if !d.dl_busy {
            return;
        }
        let (app, start, bytes, share, owner, end, lan_done, site) =
            (d.dl_app, d.dl_start, d.dl_bytes, d.dl_share, d.dl_owner, d.dl_end, d.lan_done, d.site as usize);
        let part = |from: Tick, to: Tick| {
            if to > from {
                (now.saturating_sub(from) as f64 / (to - from) as f64).min(1.0)
            } else {
                1.0
            }
        };
        let lan_got = bytes * share * part(start, lan_done);
        let up = bytes * (1.0 - share);
        let up_got = if owner != NO_SLOT {
            let flow = self.slots.get(owner as usize).map_or(0, |s| s.2);
            let left = self.links.get_mut(site).and_then(|l| l.cancel(now, flow)).unwrap_or(0.0);
            self.free_slots.push(owner);
            (up - left).max(0.0)
        } else {
            up * part(start, end)
        };
        if let Some(d) = self.d(dev) {
            d.dl_busy = false;
            d.dl_owner = NO_SLOT;
        }
        let size = self.app_bytes(dev, app);
        let i = self.fetched_index(dev, app);
        if let Some(f) = self.fetched.get_mut(i) {
            if size > 0.0 {
                *f = (f64::from(*f) + (lan_got + up_got) / size).min(1.0) as f32;
            }
        }
        if owner != NO_SLOT {
            self.wake_link(site);
        }
    }

    /// Keeps one wake-up per link at its next completion. Starting a
    /// download only slows the others, so the pending wake-up stays valid
    /// (it fires early, finds nothing due and re-arms); only a completion
    /// that speeds the others up needs an earlier one. Stale wake-ups are
    /// then at most one per completion instead of one per change.
    fn wake_link(&mut self, site: usize) {
        let Some(next) = self.links.get(site).and_then(PsLink::next_completion) else { return };
        let Some(pending) = self.wake_at.get_mut(site) else { return };
        if pending.is_none_or(|t| next < t) {
            *pending = Some(next);
            self.q.schedule(next, Ev::LinkWake { site: site as u16 });
        }
    }

    fn link_wake(&mut self, now: Tick, site: u16) {
        if self.wake_at.get(site as usize).copied().flatten() != Some(now) {
            return;
        }
        if let Some(w) = self.wake_at.get_mut(site as usize) {
            *w = None;
        }
        let mut done = std::mem::take(&mut self.scratch);
        done.clear();
        if let Some(link) = self.links.get_mut(site as usize) {
            link.complete_due(now, &mut done);
        }
        for &slot in &done {
            let Some(&(dev, serial, _)) = self.slots.get(slot as usize) else { continue };
            self.free_slots.push(slot);
            if self.current(dev, serial) {
                let lan_done = self.devs.get(dev as usize).map_or(now, |d| d.lan_done);
                if let Some(d) = self.d(dev) {
                    d.dl_owner = NO_SLOT;
                    // The uplink part is in: a cancel from here on keeps it all.
                    d.dl_end = d.dl_start;
                }
                self.q.schedule(lan_done.max(now), Ev::Downloaded { dev, serial });
            }
        }
        self.scratch = done;
        self.wake_link(site as usize);
    }

    fn downloaded(&mut self, now: Tick, dev: u32) {
        let apps = self.phase_apps(dev);
        let Some(d) = self.devs.get(dev as usize) else { return };
        let app = apps.get(d.dl as usize).copied().unwrap_or(0) as usize;
        let (site, on_ac) = (d.site as usize, d.on_ac);
        if on_ac {
            if let Some(c) = self.sources.get_mut(site).and_then(|s| s.get_mut(app)) {
                *c += 1;
            }
        }
        if let Some(d) = self.d(dev) {
            d.dl_busy = false;
            d.dl += 1;
        }
        let i = self.fetched_index(dev, app as u8);
        if let Some(f) = self.fetched.get_mut(i) {
            *f = 1.0;
        }
        self.advance_apps(now, dev);
    }

    fn start_install(&mut self, _now: Tick, dev: u32, app: u8) {
        let sc = self.sc;
        let Some(a) = sc.apps.get(app as usize) else { return };
        let r = self.rng(dev);
        let u: f64 = r.apps.random::<f64>();
        let (minutes, end) = if u < a.p_hang {
            (a.timeout_minutes, InstallEnd::Hung)
        } else {
            let t = sc.app_install.get(app as usize).map_or(0.0, |s| s.sample(&mut r.apps));
            let t = if a.reboot { t + sc.reboot.sample(&mut r.durations) } else { t };
            if t > a.timeout_minutes {
                (a.timeout_minutes, InstallEnd::Hung)
            } else if u < a.p_hang + a.p_fail {
                (t, InstallEnd::Failed)
            } else {
                (t, InstallEnd::Ok)
            }
        };
        let Some(d) = self.d(dev) else { return };
        d.inst_busy = true;
        let serial = d.serial;
        self.q.after(ticks(minutes), Ev::Installed { dev, serial, end });
    }

    fn installed(&mut self, now: Tick, dev: u32, end: InstallEnd) {
        let apps = self.phase_apps(dev);
        let Some(d) = self.devs.get(dev as usize) else { return };
        let app = apps.get(d.inst as usize).copied().unwrap_or(0);
        let Some(a) = self.sc.apps.get(app as usize) else { return };
        if end == InstallEnd::Ok {
            if let Some(d) = self.d(dev) {
                d.apps_done |= 1u128 << app;
            }
        } else if self.flow(dev).blocks.get(app as usize).copied().unwrap_or(a.blocking) {
            let (fail_cause, hang_cause) = self.sc.app_causes.get(app as usize).copied().unwrap_or((0, 0));
            self.cause(dev, if end == InstallEnd::Hung { hang_cause } else { fail_cause });
            let edge = self.flow(dev).steer.get(self.state(dev) as usize).and_then(|s| s.app_failed);
            if let Some(edge) = edge {
                if let Some(d) = self.d(dev) {
                    d.v2_deadline = 0;
                }
                self.bump(dev);
                self.take(now, dev, edge);
                return;
            }
        } else {
            self.counters.nonblocking_failed += 1;
        }
        if let Some(d) = self.d(dev) {
            d.inst_busy = false;
            d.inst += 1;
        }
        self.advance_apps(now, dev);
    }

    fn end_device(&mut self, now: Tick, dev: u32, outcome: Outcome) {
        self.cancel_download(now, dev);
        let release_port = self.devs.get(dev as usize).is_some_and(|d| d.holds_port);
        if let Some(d) = self.d(dev) {
            d.outcome = outcome;
            d.end = now;
            d.holds_port = false;
            d.waiting = Wait::Nothing;
        }
        if outcome.is_success() {
            self.done_times.push(now);
        }
        if release_port {
            if let Some(next) = self.ports.as_mut().and_then(|p| p.release(now)) {
                if let Some(d) = self.d(next) {
                    d.holds_port = true;
                }
                self.want_tech(now, next, Wait::HandsOn);
            }
        }
    }

    /// Closes every resource's time lines at `end` and reports them, with
    /// the bytes the shared uplinks carried.
    fn finish_resources(&mut self, end: Tick) -> (Vec<ResourceResult>, f64) {
        let sc = self.sc;
        let mut resources = Vec::new();
        let mut push_res = |r: &mut Resource, kind: &'static str| {
            r.finish(end);
            resources.push(ResourceResult {
                name: r.name.clone(),
                kind,
                capacity: r.capacity_line.peak,
                busy: r.busy_line.area.clone(),
                available: r.capacity_line.area.clone(),
                queue: r.queue_line.area.clone(),
                waited: r.waited,
                waits: std::mem::take(&mut r.waits),
                waiting_at_end: r.waiting() as u32,
                peak_queue: r.queue_line.peak,
            });
        };
        if let Some(t) = &mut self.techs {
            push_res(t, "staff");
        }
        if let Some(p) = &mut self.ports {
            push_res(p, "equipment");
        }
        push_res(&mut self.admin, "queue");
        if let Some(c) = &mut self.connectors {
            push_res(c, "connector");
        }
        let mut uplink_bytes = 0.0;
        for (i, link) in self.links.iter_mut().enumerate() {
            if sc.sites.get(i).is_some_and(|s| !s.spec.shared) {
                continue;
            }
            link.finish(end);
            uplink_bytes += link.bytes;
            let site = sc.sites.get(i);
            let cap = site.map_or(1.0, |s| s.uplink);
            let buckets = link.active_line.area.len();
            let mut available = vec![cap * sc.bucket as f64; buckets];
            if let Some(last) = available.last_mut() {
                let tail = end.saturating_sub(sc.bucket * (buckets as Tick - 1));
                *last = cap * tail as f64;
            }
            resources.push(ResourceResult {
                name: format!("uplink:{}", site.map_or("site", |s| s.spec.name.as_str())),
                kind: "link",
                capacity: site.map_or(0.0, |s| s.spec.uplink_mbps),
                busy: link.bytes_line.area.clone(),
                available,
                queue: link.active_line.area.clone(),
                waited: (0, 0),
                waits: Vec::new(),
                waiting_at_end: link.active(),
                peak_queue: link.active_line.peak,
            });
        }
        (resources, uplink_bytes)
    }

    fn finish(mut self, keep_devices: bool) -> RepResult {
        let sc = self.sc;
        let end = sc.horizon;
        for d in &mut self.devs {
            if d.outcome == Outcome::Unfinished && d.waiting == Wait::Admin {
                d.outcome = Outcome::AwaitingAdmin;
            }
        }
        let mut outcomes = [0u32; 7];
        for d in &self.devs {
            if let Some(c) = outcomes.get_mut(d.outcome as usize) {
                *c += 1;
            }
        }
        // Completion by bucket.
        let mut done_by_bucket = vec![0u32; sc.buckets];
        for &t in &self.done_times {
            let b = ((t / sc.bucket) as usize).min(sc.buckets - 1);
            if let Some(c) = done_by_bucket.get_mut(b) {
                *c += 1;
            }
        }
        let mut acc = 0;
        for c in &mut done_by_bucket {
            acc += *c;
            *c = acc;
        }
        let mut tis: Vec<f64> =
            self.devs.iter().filter(|d| d.outcome.is_success()).map(|d| minutes(d.end - d.arrived)).collect();
        let first_arrival = self.devs.iter().map(|d| d.arrived).min().unwrap_or(0);
        let n = self.devs.len().max(1) as f64;
        // Order statistics by selection, not sorting: O(n) per replication.
        let mut times = std::mem::take(&mut self.done_times);
        let mut time_to = |share: f64| {
            let k = (share * n).ceil() as usize;
            if k == 0 || k > times.len() {
                return minutes(end.saturating_sub(first_arrival));
            }
            let (_, t, _) = times.select_nth_unstable(k - 1);
            minutes(t.saturating_sub(first_arrival))
        };
        let (t50, t95) = (time_to(0.5), time_to(0.95));
        let mut metrics = vec![0.0; METRICS.len()];
        let done = outcomes[1] + outcomes[2] + outcomes[3];
        let mut set = |name: &str, v: f64| {
            if let Some(m) = metrics.get_mut(metric(name)) {
                *m = v;
            }
        };
        set("devices-done", f64::from(done));
        set("devices-per-day", f64::from(done) / (minutes(end) / 1440.0).max(1e-9));
        set("time-to-50-percent", t50);
        set("time-to-95-percent", t95);
        let pct = |v: &mut [f64], p: f64| {
            if v.is_empty() {
                return 0.0;
            }
            let k = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            *v.select_nth_unstable_by(k, f64::total_cmp).1
        };
        set("time-in-system-p95", pct(&mut tis, 0.95));
        set(
            "mean-time-in-system",
            if tis.is_empty() { 0.0 } else { tis.iter().sum::<f64>() / tis.len() as f64 },
        );
        set("esp-timeouts", f64::from(self.counters.timeouts));
        set("timed-out-share", self.devs.iter().filter(|d| d.timed_out).count() as f64 / n);
        set("continue-anyway", f64::from(self.counters.continued));
        set("helpdesk-tickets", f64::from(self.counters.tickets));
        set("resets", f64::from(self.counters.resets));
        set("retries", f64::from(self.counters.retries));
        set("escaped", f64::from(outcomes[4]) / n);
        set("booted-before-assigned", self.devs.iter().filter(|d| d.booted_early).count() as f64 / n);
        if let Some(reg) = &sc.registration {
            let mut wait: Vec<f64> =
                self.devs.iter().map(|d| minutes(d.assigned_at.saturating_sub(reg.hashes_at))).collect();
            set("time-to-assigned-p95", pct(&mut wait, 0.95));
            set("time-to-assigned-p99", pct(&mut wait, 0.99));
        }
        set("non-blocking-app-failures", f64::from(self.counters.nonblocking_failed));
        set("peak-concurrent-downloads", f64::from(self.counters.peak_downloads));
        set("import-throttled", f64::from(self.counters.throttled));

        let (resources, uplink_bytes) = self.finish_resources(end);
        set("uplink-gb", uplink_bytes / 1e9);
        RepResult {
            done_by_bucket,
            time_in_system: tis,
            resources,
            outcomes,
            causes: self.causes,
            metrics,
            events: self.q.popped(),
            devices: keep_devices.then_some(self.devs),
        }
    }
}

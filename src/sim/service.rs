//! The service plane before a device boots: hash import, Autopilot sync,
//! dynamic-group evaluation and profile assignment, computed up front for
//! the whole run (it does not depend on what the devices do).
//!
//! Design decisions, and why:
//!
//! * **Import time grows with the batch**: a fixed part per batch (the
//!   `import` distribution, LN(2 min, 0.8) by default, enrollment-model.md
//!   §3.1: one-device imports observed at 62–95 s) plus a part per row
//!   (0.25 s by default, an assumption that makes a full 500-row CSV take
//!   about four minutes, Microsoft's "importing can take several minutes",
//!   learn.microsoft.com/autopilot/add-devices). Batches are imported one
//!   after another, as an admin uploads one CSV after the last finished.
//! * **Profile assignment works a batch in order**: Intune's assignment
//!   check picks a synced batch up and assigns its devices one after
//!   another, so the k-th device of a batch waits k × a per-device time
//!   (1 s by default, assume) on top of the group evaluation and the
//!   assignment delay (LN(15 min, 1.2), observed ≈ 15 min; Microsoft gives
//!   no estimate, §3.1). A large batch therefore ends later than a small
//!   one, which is what the "wait for Date assigned before booting"
//!   advice is about.
//! * **Graph imports are throttled**: with `source = "graph"` a script
//!   creates one `importedWindowsAutopilotDeviceIdentity` per device, one
//!   call after another. Graph accepts at most `graph_writes_per_window`
//!   writes per window (100 per 20 s for the device-enrollment family,
//!   graph-api.md §3.8; Microsoft Graph throttling guidance,
//!   learn.microsoft.com/graph/throttling) and answers 429 with a
//!   `Retry-After` beyond that; the script waits that long and tries the
//!   same call again. Windows are fixed and counted from the first call.
//!   The rows of a batch are processed once its last call is accepted.

use super::engine::{ticks, Tick};
use super::resolve::Registration;
use super::rng::SimRng;

/// When each device is registered and assigned.
#[derive(Clone, Debug, Default)]
pub struct ServicePlane {
    /// Per device: registered (visible after the sync).
    pub registered: Vec<Tick>,
    /// Per device: profile assigned.
    pub assigned: Vec<Tick>,
    /// Graph calls answered 429.
    pub throttled: u32,
    /// When the last import call was accepted.
    pub last_accepted: Tick,
}

/// Graph's fixed-window write limit, as a script meets it.
struct Throttle {
    per_window: u32,
    window: Tick,
    back_off: Tick,
    call: Tick,
    start: Tick,
    index: u64,
    used: u32,
    next_send: Tick,
    rejected: u32,
}

impl Throttle {
    /// Sends one call and returns when Graph accepted it.
    fn accept(&mut self) -> Tick {
        loop {
            let t = self.next_send;
            let w = (t - self.start) / self.window;
            if w != self.index {
                self.index = w;
                self.used = 0;
            }
            if self.used < self.per_window {
                self.used += 1;
                self.next_send = t + self.call;
                return t;
            }
            self.rejected += 1;
            self.next_send = t + self.back_off;
        }
    }
}

/// The service plane of `n` devices, in device order.
///
/// ```
/// use fleetlab::sim::{resolve::Scenario, scenario::parse, rng::{stream, Stream}};
/// use fleetlab::sim::service::service_plane;
/// let text = "name = \"s\"\n[[wave]]\nname = \"w\"\ndevices = 1000\n[registration]\nsource = \"graph\"\ngraph_call_seconds = 0.1\n";
/// let sc = Scenario::resolve(&parse(text, "s.toml".as_ref())?, "s.toml".as_ref())?;
/// let reg = sc.registration.as_ref().ok_or("no registration")?;
/// let plane = service_plane(reg, 1000, &mut stream(1, 0, Stream::Service));
/// // 1,000 writes at 100 per 20 s: the last is accepted after 9 windows.
/// assert!(plane.last_accepted >= reg.hashes_at + 9 * 20 * 60_000 / 60);
/// assert!(plane.throttled > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn service_plane(reg: &Registration, n: usize, rng: &mut SimRng) -> ServicePlane {
    let batch = if reg.oem { n.max(1) } else { reg.batch.max(1) as usize };
    let mut throttle = reg.graph.map(|(per_window, window, back_off, call)| Throttle {
        per_window,
        window,
        back_off,
        call,
        start: reg.hashes_at,
        index: 0,
        used: 0,
        next_send: reg.hashes_at,
        rejected: 0,
    });
    let mut out = ServicePlane {
        registered: Vec::with_capacity(n),
        assigned: Vec::with_capacity(n),
        ..ServicePlane::default()
    };
    let mut t = reg.hashes_at;
    let mut last_sync: Option<Tick> = None;
    let mut first = 0;
    while first < n {
        let rows = batch.min(n - first);
        if let Some(th) = &mut throttle {
            for _ in 0..rows {
                out.last_accepted = th.accept();
            }
            t = t.max(out.last_accepted);
        }
        t += ticks(reg.import.sample(rng)) + reg.import_per_device * rows as Tick;
        let sync = match last_sync {
            Some(s) => t.max(s + reg.cooldown),
            None => t,
        };
        last_sync = Some(sync);
        for k in 0..rows {
            out.registered.push(sync);
            out.assigned.push(if reg.all_devices {
                sync
            } else {
                sync + ticks(reg.group.sample(rng))
                    + ticks(reg.assignment.sample(rng))
                    + reg.assignment_per_device * k as Tick
            });
        }
        first += rows;
    }
    out.throttled = throttle.map_or(0, |th| th.rejected);
    out
}

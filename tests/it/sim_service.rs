//! The service plane: import and assignment times that grow with the
//! batch, and Graph's write throttling on imports.

use std::error::Error;
use std::path::Path;

use fleetlab::sim::engine::MINUTE;
use fleetlab::sim::model::{metric, run_replication};
use fleetlab::sim::resolve::Scenario;
use fleetlab::sim::rng::{stream, Stream};
use fleetlab::sim::scenario::parse;
use fleetlab::sim::service::service_plane;

type TestResult = Result<(), Box<dyn Error>>;

fn from_text(text: &str) -> Result<Scenario, Box<dyn Error>> {
    let path = Path::new("scenarios/sim/inline.toml");
    Ok(Scenario::resolve(&parse(text, path)?, path)?)
}

fn scenario(devices: u32, registration: &str) -> Result<Scenario, Box<dyn Error>> {
    from_text(&format!(
        "name = \"svc\"\nhorizon_hours = 48\n[[wave]]\nname = \"w\"\ndevices = {devices}\nstart_hour = 40\n[registration]\n{registration}\n"
    ))
}

#[test]
fn import_and_assignment_grow_with_the_batch() -> TestResult {
    // 2 minutes per batch plus 0.6 s per row; assignment 10 minutes plus 2 s
    // per position in the batch.
    let fixed = "import = { fixed = 2 }\nimport_per_device_seconds = 0.6\ngroup_evaluation = { fixed = 0 }\nassignment = { fixed = 10 }\nassignment_per_device_seconds = 2\nsync_cooldown_minutes = 0\n";
    let second = MINUTE / 60;
    for (rows, batch) in [(500u32, 500u32), (50, 50), (500, 100)] {
        let sc = scenario(rows, &format!("batch_size = {batch}\n{fixed}"))?;
        let reg = sc.registration.as_ref().ok_or("no registration")?;
        let plane = service_plane(reg, rows as usize, &mut stream(1, 0, Stream::Service));
        // The first batch: imported after 2 min + 0.6 s per row.
        let first = reg.hashes_at + 2 * MINUTE + u64::from(batch) * 6 * second / 10;
        assert_eq!(plane.registered[0], first, "{rows} rows in batches of {batch}");
        // Its last device is assigned (batch − 1) × 2 s after its first.
        let k = batch as usize - 1;
        assert_eq!(plane.assigned[k] - plane.assigned[0], u64::from(batch - 1) * 2 * second);
        // Batches go one after another: the last ends after all of them.
        let batches = u64::from(rows.div_ceil(batch));
        let all = reg.hashes_at + batches * 2 * MINUTE + u64::from(rows) * 6 * second / 10;
        assert_eq!(plane.registered.last().copied(), Some(all));
    }
    // A bigger batch makes its last device wait longer.
    let small = scenario(50, &format!("batch_size = 50\n{fixed}"))?;
    let big = scenario(500, &format!("batch_size = 500\n{fixed}"))?;
    let last = |sc: &Scenario| -> Result<u64, Box<dyn Error>> {
        let reg = sc.registration.as_ref().ok_or("no registration")?;
        let p = service_plane(reg, sc.devices as usize, &mut stream(1, 0, Stream::Service));
        Ok(p.assigned.iter().max().copied().unwrap_or(0) - reg.hashes_at)
    };
    assert!(last(&big)? > last(&small)? + 15 * MINUTE);
    Ok(())
}

#[test]
fn graph_imports_never_finish_faster_than_the_rate_limit_allows() -> TestResult {
    for (devices, per_window, window, call, retry) in [
        (1000u32, 100u32, 20.0, 0.5, None),
        (450, 100, 20.0, 0.0, Some(5.0)),
        (2000, 250, 60.0, 0.1, Some(90.0)),
        (99, 100, 20.0, 0.5, None),
    ] {
        let retry_key = retry.map(|r| format!("graph_retry_after_seconds = {r}\n")).unwrap_or_default();
        let sc = scenario(
            devices,
            &format!(
                "source = \"graph\"\ngraph_writes_per_window = {per_window}\ngraph_window_seconds = {window}\ngraph_call_seconds = {call}\n{retry_key}"
            ),
        )?;
        let reg = sc.registration.as_ref().ok_or("no registration")?;
        for rep in 0..3 {
            let plane = service_plane(reg, devices as usize, &mut stream(7, rep, Stream::Service));
            let windows = u64::from(devices.div_ceil(per_window)) - 1;
            let bound =
                reg.hashes_at + windows * (window * 60_000.0 / 60.0 * (MINUTE as f64 / 60_000.0)) as u64;
            assert!(
                plane.last_accepted >= bound,
                "{devices} writes at {per_window}/{window} s accepted by {} < {bound}",
                plane.last_accepted
            );
            let calls = (f64::from(devices - 1) * call * MINUTE as f64 / 60.0) as u64;
            assert!(plane.last_accepted + 1 >= reg.hashes_at + calls, "faster than one call after another");
            assert!(plane.registered.iter().all(|&r| r >= reg.hashes_at), "registered before the hashes");
            assert_eq!(plane.throttled > 0, devices > per_window && call * f64::from(per_window) < window);
        }
    }
    // The whole run reports the 429s and boots devices only after them.
    let sc = scenario(1000, "source = \"graph\"\ngraph_call_seconds = 0.1\nall_devices = true\n")?;
    let r = run_replication(&sc, 1, 0, true);
    assert!(r.metrics[metric("import-throttled")] > 0.0);
    let devs = r.devices.ok_or("no devices")?;
    let reg = sc.registration.as_ref().ok_or("no registration")?;
    assert!(devs.iter().all(|d| d.registered_at >= reg.hashes_at + 9 * 20 * MINUTE / 60));
    Ok(())
}

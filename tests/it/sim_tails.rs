//! Distributions where the tail matters: app sizes drawn per device, and
//! Windows updates during OOBE as bytes over the same links.

use std::error::Error;
use std::path::Path;

use fleetlab::sim::model::{metric, run_replication};
use fleetlab::sim::resolve::Scenario;
use fleetlab::sim::scenario::parse;

type TestResult = Result<(), Box<dyn Error>>;

fn from_text(text: &str) -> Result<Scenario, Box<dyn Error>> {
    let path = Path::new("scenarios/sim/inline.toml");
    Ok(Scenario::resolve(&parse(text, path)?, path)?)
}

fn mean_metric(sc: &Scenario, name: &str, reps: u64) -> f64 {
    (0..reps).map(|rep| run_replication(sc, sc.file.seed, rep, false).metrics[metric(name)]).sum::<f64>()
        / reps as f64
}

const HOME: &str = r#"
name = "tail"
horizon_hours = 48
[[site]]
name = "home"
shared = false
device_mbps = 20
[[wave]]
name = "w"
devices = 200
[esp]
timeout_minutes = 30
[operator]
on_error = ["give-up"]
"#;

#[test]
fn the_slow_tail_of_app_sizes_causes_esp_timeouts_a_fixed_size_does_not() -> TestResult {
    // 1.5 GB at 20 Mbit/s is 10 minutes, well inside the 30-minute ESP
    // timer. The same mean with a long tail puts about one device in
    // sixteen over 4.5 GB, which no longer fits.
    let fixed = from_text(&format!(
        "{HOME}[[app]]\nname = \"cad\"\nsize_mb = 1500\np_fail = 0\np_hang = 0\ninstall = {{ fixed = 5 }}\n"
    ))?;
    let spread = from_text(&format!(
        "{HOME}[[app]]\nname = \"cad\"\nsize_mb = 1500\nsize_mb_spread = {{ lognormal = [1500, 1.5] }}\np_fail = 0\np_hang = 0\ninstall = {{ fixed = 5 }}\n"
    ))?;
    let fixed_share = mean_metric(&fixed, "timed-out-share", 5);
    let spread_share = mean_metric(&spread, "timed-out-share", 5);
    // A fixed size times out only where the phase's own work runs long.
    assert!(fixed_share < 0.01, "a fixed 1.5 GB timed out on {fixed_share}");
    assert!(spread_share > fixed_share + 0.03, "the tail timed out on {spread_share} vs {fixed_share}");
    Ok(())
}

#[test]
fn sizes_stay_with_their_device_across_a_sweep() -> TestResult {
    // Sweeping the ESP timeout does not redraw anyone's package size: the
    // devices that time out at 30 minutes are a superset of those at 45.
    let text = format!(
        "{HOME}[[app]]\nname = \"cad\"\nsize_mb_spread = {{ lognormal = [1500, 1.5] }}\np_fail = 0\np_hang = 0\ninstall = {{ fixed = 5 }}\n"
    );
    let short = from_text(&text)?;
    let long = from_text(&text.replace("timeout_minutes = 30", "timeout_minutes = 45"))?;
    let a = run_replication(&short, 1, 0, true).devices.ok_or("no devices")?;
    let b = run_replication(&long, 1, 0, true).devices.ok_or("no devices")?;
    let late_a = a.iter().filter(|d| d.timed_out).count();
    let late_b = b.iter().filter(|d| d.timed_out).count();
    assert!(late_b < late_a, "{late_b} ≥ {late_a}");
    for (x, y) in a.iter().zip(&b) {
        assert!(!y.timed_out || x.timed_out, "a device timed out only with the longer timer");
    }
    Ok(())
}

const OFFICE: &str = r#"
name = "updates"
horizon_hours = 24
replications = 1
[[site]]
name = "office"
uplink_mbps = 1000
delivery_optimization = "http"
[[wave]]
name = "w"
devices = 20
[esp]
install_quality_updates = true
[failures]
"#;

#[test]
fn update_bytes_appear_in_the_uplink_total() -> TestResult {
    // No apps: the uplink carries exactly the updates, 20 devices × (300 +
    // 200 + 700) MB, when every device gets through once.
    let none = from_text(OFFICE)?;
    let with = from_text(&format!(
        "{OFFICE}[updates]\noobe_mb = {{ fixed = 300 }}\ndriver_mb = {{ fixed = 200 }}\nquality_mb = {{ fixed = 700 }}\n"
    ))?;
    for rep in 0..3 {
        let a = run_replication(&none, 1, rep, false);
        let b = run_replication(&with, 1, rep, false);
        assert_eq!(a.metrics[metric("uplink-gb")], 0.0);
        let resets = b.metrics[metric("resets")];
        let gb = b.metrics[metric("uplink-gb")];
        let once = 20.0 * 1.2;
        assert!(gb >= once * 0.999 || resets > 0.0, "rep {rep}: {gb} GB for {once} GB of updates");
        assert!(gb <= once * (1.0 + resets) * 1.001, "rep {rep}: {gb} GB");
        // The download adds to the time the devices take.
        let t_a = a.metrics[metric("mean-time-in-system")];
        let t_b = b.metrics[metric("mean-time-in-system")];
        assert!(t_b > t_a, "rep {rep}: {t_b} ≤ {t_a} minutes");
    }
    Ok(())
}

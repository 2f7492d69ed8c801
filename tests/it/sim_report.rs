//! The two views of a simulation report: the terminal summary and the
//! self-contained HTML page, on a realistic report and on degenerate ones.

use fleetlab::sim::report::{example, BandPoint, Count, Histogram, Report, Summary};
use fleetlab::sim::{html, summary};

/// What a run with zero replications would report.
fn empty() -> Report {
    let mut r = example();
    r.scenario = String::new();
    r.description = String::new();
    r.replications = 0;
    r.devices = 0;
    r.horizon_minutes = 0.0;
    r.bucket_minutes = 0.0;
    r.completion.clear();
    r.time_in_system = Histogram { bin_minutes: 0.0, counts: Vec::new(), summary: Summary::default() };
    r.resources.clear();
    r.outcomes.clear();
    r.causes.clear();
    r.metrics.clear();
    r.bottleneck = String::new();
    r.findings.clear();
    r.engine.events = 0;
    r.engine.wall_seconds = 0.0;
    r.engine.events_per_second = f64::NAN;
    r
}

/// Every number NaN, as a division by zero upstream would leave it.
fn nan() -> Report {
    let n = f64::NAN;
    let nan_summary = Summary { mean: n, sd: n, p5: n, p50: n, p95: n, min: n, max: n, n: 0 };
    let mut r = example();
    r.horizon_minutes = n;
    r.bucket_minutes = n;
    for p in &mut r.completion {
        *p = BandPoint { minute: n, mean: n, p5: n, p50: n, p95: n };
    }
    r.time_in_system.bin_minutes = n;
    r.time_in_system.counts.iter_mut().for_each(|c| *c = n);
    r.time_in_system.summary = nan_summary;
    for res in &mut r.resources {
        res.capacity = n;
        res.utilisation.iter_mut().for_each(|u| *u = n);
        res.queue.iter_mut().for_each(|q| *q = n);
        res.mean_utilisation = n;
        res.mean_wait_minutes = n;
        res.peak_queue = n;
    }
    for c in r.outcomes.iter_mut().chain(r.causes.iter_mut()) {
        c.per_replication = nan_summary;
    }
    r.metrics.iter_mut().for_each(|m| m.summary = nan_summary);
    r.engine.wall_seconds = n;
    r.engine.events_per_second = n;
    r
}

/// Everything zero: a run where nothing happened.
fn zero() -> Report {
    let mut r = example();
    for p in &mut r.completion {
        *p = BandPoint { minute: p.minute, mean: 0.0, p5: 0.0, p50: 0.0, p95: 0.0 };
    }
    r.time_in_system.counts.iter_mut().for_each(|c| *c = 0.0);
    r.time_in_system.summary = Summary::default();
    for res in &mut r.resources {
        res.utilisation.iter_mut().for_each(|u| *u = 0.0);
        res.queue.iter_mut().for_each(|q| *q = 0.0);
        res.mean_utilisation = 0.0;
        res.peak_queue = 0.0;
    }
    for c in r.outcomes.iter_mut().chain(r.causes.iter_mut()) {
        c.per_replication = Summary::default();
    }
    r
}

/// One bucket, one bin, one resource, one cause.
fn single() -> Report {
    let mut r = example();
    r.horizon_minutes = 60.0;
    r.bucket_minutes = 60.0;
    r.completion = vec![BandPoint { minute: 60.0, mean: 0.4, p5: 0.3, p50: 0.4, p95: 0.5 }];
    r.time_in_system.bin_minutes = 60.0;
    r.time_in_system.counts = vec![800.0];
    r.resources.truncate(1);
    for res in &mut r.resources {
        res.utilisation.truncate(1);
        res.queue.truncate(1);
    }
    r.causes.truncate(1);
    r
}

fn hostile() -> Report {
    let mut r = example();
    r.scenario = "<script>alert('wave')</script>".to_owned();
    r.description = "Does \"A & B\" <b>finish</b>?".to_owned();
    r.file = "scenarios/<img src=x onerror=alert(1)>.toml".to_owned();
    r.resources[0].name = "<script>tech</script>".to_owned();
    r.causes[0].label = "app-failed:<i>M365</i>".to_owned();
    r.metrics[0].description = "</td><script>".to_owned();
    r.bottleneck = "<script>bottleneck</script>".to_owned();
    r.findings.push("<a href=\"https://example.invalid\">click</a>".to_owned());
    r.versions.generator = "<svg onload=alert(1)>".to_owned();
    r
}

#[test]
fn summary_of_a_depot_wave() {
    insta::assert_snapshot!("summary", summary::render(&example(), false));
}

#[test]
fn summary_is_short_and_bold_only_in_colour() {
    let report = example();
    let plain = summary::render(&report, false);
    assert!(!plain.contains('\x1b'));
    assert!(plain.lines().count() <= 40, "{plain}");
    let colored = summary::render(&report, true);
    assert!(colored.contains("\x1b[1mMetrics\x1b[0m"), "{colored}");
    assert!(colored.contains("\x1b[1mBottleneck:\x1b[0m"), "{colored}");
    // Colour changes nothing but the headings.
    let stripped = colored.replace("\x1b[1m", "").replace("\x1b[0m", "");
    assert_eq!(stripped, plain);
}

#[test]
fn summary_shows_the_key_lines() {
    let text = summary::render(&example(), false);
    for needle in [
        "leeds-depot-wave",
        "seed 20240917 · 200 replications · 2 threads · 2,000 devices · 5 d horizon",
        "time-to-95-percent",
        "4 d 2 h",
        "app-failed:M365",
        "… and 4 more",
        "technicians",
        "Bottleneck: technicians",
        "48,213,977 events",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn html_is_self_contained() {
    let page = html::render(&example());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    assert_eq!(page.matches("<svg").count(), 6, "one chart each");
    assert_eq!(page.matches("</svg>").count(), 6);
    for outside in ["http://", "https://", "src=", "href=", "<script", "<link", "@import", "url("] {
        assert!(!page.contains(outside), "found {outside:?}");
    }
}

/// The contents of every SVG `<text>` element, trimmed.
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>'))
        .filter_map(|(_, rest)| rest.split_once("</text>"))
        .map(|(text, _)| text.trim())
        .collect()
}

#[test]
fn html_charts_label_axes_with_svg_text() {
    let page = html::render(&example());
    for chart in page.split("<svg").skip(1) {
        let chart = chart.split("</svg>").next().unwrap_or_default();
        assert!(svg_texts(chart).len() > 5, "a chart without text: {chart:.200}");
    }
    let texts = svg_texts(&page);
    for label in [
        "days",
        "% of devices done",
        "100 %",
        "mean",
        "devices per replication",
        "median 2 h 14 min",
        "% busy",
        "devices waiting",
        "active downloads",
        "app-failed:M365",
        "technicians",
    ] {
        assert!(texts.contains(&label), "{label:?} is not SVG text: {texts:?}");
    }
}

#[test]
fn html_has_the_tables_and_words() {
    let page = html::render(&example());
    for needle in [
        "<h1>leeds-depot-wave</h1>",
        "time-to-95-percent",
        "successOnRetry",
        "profile-not-assigned",
        "uplink:depot",
        "Bottleneck: technicians",
        "A seventh technician",
        "20240917",
        "rand_pcg 0.10 Pcg64Mcg",
        "scenarios/leeds-depot.toml",
    ] {
        assert!(page.contains(needle), "missing {needle:?}");
    }
}

#[test]
fn html_escapes_what_the_scenario_says() {
    let page = html::render(&hostile());
    assert!(page.contains("&lt;script&gt;alert(&#39;wave&#39;)&lt;/script&gt;"));
    assert!(page.contains("Does &quot;A &amp; B&quot; &lt;b&gt;finish&lt;/b&gt;?"));
    for raw in ["<script", "<img", "<b>", "<i>", "<a ", "<svg onload", "href=\""] {
        assert!(!page.contains(raw), "unescaped {raw:?}");
    }
    assert_eq!(page.matches("<svg").count(), 6);
}

#[test]
fn degenerate_reports_render() {
    for (name, report) in [("empty", empty()), ("nan", nan()), ("zero", zero()), ("single", single())] {
        let text = summary::render(&report, true);
        assert!(!text.contains("NaN") && !text.contains("inf"), "{name}:\n{text}");
        let page = html::render(&report);
        assert!(page.trim_end().ends_with("</html>"), "{name}");
        assert!(!page.contains("NaN"), "{name}");
        assert!(!page.contains("http"), "{name}");
    }
    let page = html::render(&empty());
    assert_eq!(page.matches("<svg").count(), 0, "nothing to draw");
    assert!(page.contains("No device finished"));
    let page = html::render(&single());
    assert_eq!(page.matches("<svg").count(), 5);
}

#[test]
fn more_causes_than_bars() {
    let mut report = example();
    report.causes = (0..45)
        .map(|i| Count {
            label: format!("cause-{i:02}-with-a-rather-long-label-for-the-axis"),
            per_replication: Summary { mean: f64::from(i), ..Summary::default() },
        })
        .collect();
    let page = html::render(&report);
    assert!(page.contains("The 20 largest are drawn"));
    assert!(page.contains("cause-44"), "largest first");
    let text = summary::render(&report, false);
    assert!(text.contains("… and 42 more"), "{text}");
}

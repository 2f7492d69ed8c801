//! The terminal summary of a simulation run.
//!
//! An Intune admin reads it right after `fleetlab simulate` finishes, so it
//! fits in a screen: the question, the few numbers that answer it with
//! their spread over replications, where devices went wrong, which
//! resource held the wave back, and how long the engine took. Everything
//! else (curves, every cause, versions) is in the JSON and HTML views.
//!
//! Like the HTML report it is a view of [`Report`] and computes nothing
//! beyond formatting, so the three outputs never disagree. The output is a
//! pure function of the report — no clock, no terminal size — so it can be
//! pinned by a snapshot test and diffed between runs.

use super::report::{Count, Report, ResourceSeries, Summary};

/// Causes listed before "… and N more": the rest are in the HTML and JSON.
const TOP_CAUSES: usize = 3;

/// Prose wraps here: a classic terminal's width, less a margin.
const WIDTH: usize = 78;

/// Renders `report` as a plain-text summary of about twenty lines.
///
/// `color` adds ANSI bold to the headings and nothing else, so the text
/// stays readable when a pager or a log strips or keeps the escapes; pass
/// `false` when stdout is not a terminal.
///
/// ```
/// use fleetlab::sim::{report, summary};
///
/// let text = summary::render(&report::example(), false);
/// assert!(text.starts_with("leeds-depot-wave"));
/// assert!(text.contains("time-to-95-percent"));
/// assert!(text.contains("4 d 2 h"));
/// ```
pub fn render(report: &Report, color: bool) -> String {
    let heading = |text: &str| {
        if color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text.trim_end());
        out.push('\n');
    };

    let name = match one_line(&report.scenario) {
        n if n.is_empty() => "(unnamed scenario)".to_owned(),
        n => n,
    };
    let question = match one_line(&report.description) {
        d if d.is_empty() => d,
        d => format!("— {d}"),
    };
    for l in headed(&name, &question, &heading) {
        line(&l);
    }
    line(&format!(
        "  seed {} · {} replications · {} threads · {} devices · {} horizon",
        report.seed,
        thousands(u64::from(report.replications)),
        thousands(report.threads as u64),
        thousands(u64::from(report.devices)),
        duration(report.horizon_minutes),
    ));

    if !report.metrics.is_empty() {
        line("");
        let mut rows = vec![cells(&[&heading("Metrics"), "mean", "P5 – P95", ""])];
        for m in &report.metrics {
            let (mean, band, unit) = metric_cells(&m.unit, &m.summary);
            rows.push(vec![m.name.clone(), mean, band, unit]);
        }
        for l in table(&rows, &[Align::Left, Align::Right, Align::Right, Align::Left]) {
            line(&l);
        }
    }

    if !report.outcomes.is_empty() {
        line("");
        let header = cells(&[&heading("Outcomes"), "mean", "P5 – P95", "share"]);
        for l in counts_table(header, &report.outcomes, report.devices) {
            line(&l);
        }
    }

    if !report.causes.is_empty() {
        line("");
        let mut causes: Vec<&Count> = report.causes.iter().collect();
        causes.sort_by(|a, b| descending(a.per_replication.mean, b.per_replication.mean));
        let header = cells(&[&heading("Top causes"), "mean", "P5 – P95", "share"]);
        let shown: Vec<Count> = causes.iter().take(TOP_CAUSES).map(|c| (*c).clone()).collect();
        for l in counts_table(header, &shown, report.devices) {
            line(&l);
        }
        if causes.len() > TOP_CAUSES {
            line(&format!("  … and {} more", causes.len() - TOP_CAUSES));
        }
    }

    if !report.resources.is_empty() {
        line("");
        let mut rows = vec![cells(&[
            &heading("Resources"),
            "",
            "utilisation",
            "busy period",
            "mean wait",
            "P(wait>0)",
            "wait P50–P95 if waiting",
            "at end",
        ])];
        for r in &report.resources {
            rows.push(vec![
                r.name.clone(),
                resource_kind(r),
                percent(r.mean_utilisation),
                percent(r.busy_period_utilisation),
                wait(r),
                if r.kind == "link" { "–".to_owned() } else { percent(r.p_wait) },
                wait_band(r),
                format!("{:.1}", r.waiting_at_end),
            ]);
        }
        let align = [
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
        ];
        for l in table(&rows, &align) {
            line(&l);
        }
    }

    if !report.bottleneck.trim().is_empty() {
        line("");
        for l in headed("Bottleneck:", &report.bottleneck, &heading) {
            line(&l);
        }
    }

    let findings: Vec<&String> = report.findings.iter().filter(|f| !f.trim().is_empty()).collect();
    if !findings.is_empty() {
        // Right under the bottleneck, which is the first finding.
        if report.bottleneck.trim().is_empty() {
            line("");
        }
        line(&heading("Findings"));
        for f in findings {
            for l in wrap(f, "  • ", "    ") {
                line(&l);
            }
        }
    }

    line("");
    let e = &report.engine;
    line(&format!(
        "{} {} events · {} events/s · {} wall",
        heading("Engine:"),
        thousands(e.events),
        number(e.events_per_second),
        seconds(e.wall_seconds),
    ));
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

fn cells(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

/// Lays out rows as columns two spaces apart, the first row as the
/// header and the others indented under it. Widths count characters, not
/// bytes, and ignore ANSI escapes, so bold headings and non-ASCII labels
/// (the en dash, "µ") stay aligned.
fn table(rows: &[Vec<String>], align: &[Align]) -> Vec<String> {
    let indent = |row: usize| if row == 0 { 0 } else { 2 };
    let mut widths = vec![0usize; align.len()];
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate().take(align.len()) {
            let w = visible_width(cell) + if c == 0 { indent(r) } else { 0 };
            widths[c] = widths[c].max(w);
        }
    }
    rows.iter()
        .enumerate()
        .map(|(r, row)| {
            let mut text = " ".repeat(indent(r));
            for (c, cell) in row.iter().enumerate().take(align.len()) {
                let pad = widths[c].saturating_sub(visible_width(cell) + if c == 0 { indent(r) } else { 0 });
                if c > 0 {
                    text.push_str("  ");
                }
                match align[c] {
                    Align::Left => {
                        text.push_str(cell);
                        text.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        text.push_str(&" ".repeat(pad));
                        text.push_str(cell);
                    }
                }
            }
            text.trim_end().to_owned()
        })
        .collect()
}

fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for ch in text.chars() {
        match (in_escape, ch) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

fn counts_table(header: Vec<String>, counts: &[Count], devices: u32) -> Vec<String> {
    let mut rows = vec![header];
    for c in counts {
        let s = &c.per_replication;
        rows.push(vec![
            c.label.clone(),
            number(s.mean),
            range(number(s.p5), number(s.p95)),
            share_of(s.mean, devices),
        ]);
    }
    table(&rows, &[Align::Left, Align::Right, Align::Right, Align::Right])
}

/// The mean and P5–P95 cells of a metric, and the unit left to show.
fn metric_cells(unit: &str, s: &Summary) -> (String, String, String) {
    (in_unit(unit, s.mean), range(in_unit(unit, s.p5), in_unit(unit, s.p95)), unit_label(unit).to_owned())
}

fn is_minutes(unit: &str) -> bool {
    matches!(unit, "minutes" | "minute" | "min")
}

fn is_share(unit: &str) -> bool {
    matches!(unit, "share" | "fraction")
}

/// A metric's value as read: minutes as durations and shares as
/// percentages, so neither needs its unit repeated.
pub(crate) fn in_unit(unit: &str, x: f64) -> String {
    if is_minutes(unit) {
        duration(x)
    } else if is_share(unit) {
        percent(x)
    } else {
        number(x)
    }
}

/// The unit still worth printing after [`in_unit`].
pub(crate) fn unit_label(unit: &str) -> &str {
    if is_minutes(unit) || is_share(unit) {
        ""
    } else {
        unit
    }
}

fn range(low: String, high: String) -> String {
    format!("{low} – {high}")
}

fn resource_kind(r: &ResourceSeries) -> String {
    let capacity = if r.kind == "link" {
        format!("{} Mbit/s", number(r.capacity))
    } else {
        format!("×{}", number(r.capacity))
    };
    if r.kind.is_empty() {
        capacity
    } else {
        format!("{} {capacity}", r.kind)
    }
}

/// A link has no queue for a unit (its flows share it), so its wait is
/// left blank rather than shown as a reassuring zero.
fn wait(r: &ResourceSeries) -> String {
    if r.kind == "link" {
        "–".to_owned()
    } else {
        duration(r.mean_wait_minutes)
    }
}

/// The wait of the requests that waited, P50–P95 over all replications.
fn wait_band(r: &ResourceSeries) -> String {
    if r.kind == "link" || r.wait_when_waiting.n == 0 {
        "–".to_owned()
    } else {
        format!("{}–{}", duration(r.wait_when_waiting.p50), duration(r.wait_when_waiting.p95))
    }
}

/// Orders by decreasing value with NaN last, so a broken count cannot
/// push a real cause out of the top list.
pub(crate) fn descending(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => b.total_cmp(&a),
    }
}

/// `head` then `body` as wrapped prose, with `head` styled. Wrapping
/// happens before styling because the escapes take no room on screen.
fn headed(head: &str, body: &str, style: &dyn Fn(&str) -> String) -> Vec<String> {
    let text = format!("{head} {body}");
    let mut lines = wrap(&text, "", "  ");
    if let Some(first) = lines.first_mut() {
        if let Some(rest) = first.strip_prefix(head) {
            *first = format!("{}{rest}", style(head));
        }
    }
    lines
}

/// Wraps prose at [`WIDTH`] columns on spaces; a word longer than a line
/// (a URL, a long cause label) is left whole rather than cut.
fn wrap(text: &str, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        let width = current.chars().count();
        if !empty && width + 1 + word.chars().count() > WIDTH {
            lines.push(std::mem::replace(&mut current, rest.to_owned()));
            empty = true;
        }
        if !empty {
            current.push(' ');
        }
        current.push_str(word);
        empty = false;
    }
    if !empty {
        lines.push(current);
    }
    lines
}

/// Newlines and tabs from a scenario file would break the layout.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `share` of the devices as a percentage, or "–" when there are none.
pub(crate) fn share_of(count: f64, devices: u32) -> String {
    if devices == 0 {
        "–".to_owned()
    } else {
        percent(count / f64::from(devices))
    }
}

/// A 0–1 share as a percentage with precision where it matters: whole
/// percents normally, one decimal below 10 %.
pub(crate) fn percent(share: f64) -> String {
    if !share.is_finite() {
        return "–".to_owned();
    }
    let p = share * 100.0;
    if p != 0.0 && p.abs() < 10.0 {
        format!("{p:.1} %")
    } else {
        format!("{} %", thousands_signed(p.round()))
    }
}

/// A number with thousand separators and as many decimals as its size
/// deserves: counts of thousands need none, a mean of 2.2 failures needs
/// one, and a rate of 0.35 two.
pub(crate) fn number(x: f64) -> String {
    if !x.is_finite() {
        return "–".to_owned();
    }
    let a = x.abs();
    if a >= 100.0 || x == x.round() {
        thousands_signed(x.round())
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn thousands_signed(rounded: f64) -> String {
    let sign = if rounded < 0.0 { "-" } else { "" };
    // Saturates far beyond any count a simulation produces.
    format!("{sign}{}", thousands(rounded.abs() as u64))
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Minutes as an admin says them: "45 s", "12 min", "1 h 35 min",
/// "2 d 4 h". Two units at most, because a wave's length in seconds is
/// noise; rounding happens before splitting so 59.6 s reads "1 min", not
/// "60 s".
pub(crate) fn duration(minutes: f64) -> String {
    if !minutes.is_finite() || minutes < 0.0 {
        return "–".to_owned();
    }
    let secs = (minutes * 60.0).round();
    if secs < 60.0 {
        return format!("{secs} s");
    }
    let mins = minutes.round() as u64;
    if mins < 60 {
        return format!("{mins} min");
    }
    if mins < 24 * 60 {
        let (h, m) = (mins / 60, mins % 60);
        return if m == 0 { format!("{h} h") } else { format!("{h} h {m} min") };
    }
    let hours = (minutes / 60.0).round() as u64;
    let (d, h) = (hours / 24, hours % 24);
    if h == 0 {
        format!("{} d", thousands(d))
    } else {
        format!("{} d {h} h", thousands(d))
    }
}

/// Wall-clock seconds: a tenth of a second matters for short runs.
pub(crate) fn seconds(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        "–".to_owned()
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        duration(secs / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_an_admin_says_them() {
        assert_eq!(duration(0.75), "45 s");
        assert_eq!(duration(0.0), "0 s");
        assert_eq!(duration(59.6 / 60.0), "1 min");
        assert_eq!(duration(12.2), "12 min");
        assert_eq!(duration(95.0), "1 h 35 min");
        assert_eq!(duration(120.0), "2 h");
        assert_eq!(duration(52.0 * 60.0), "2 d 4 h");
        assert_eq!(duration(3.0 * 1440.0), "3 d");
        assert_eq!(duration(f64::NAN), "–");
        assert_eq!(duration(-1.0), "–");
        assert_eq!(duration(f64::INFINITY), "–");
    }

    #[test]
    fn numbers_have_separators_and_fitting_decimals() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(48_213_977), "48,213,977");
        assert_eq!(number(1_742.6), "1,743");
        assert_eq!(number(61.8), "61.8");
        assert_eq!(number(2.2), "2.2");
        assert_eq!(number(9.4), "9.4");
        assert_eq!(number(0.35), "0.35");
        assert_eq!(number(6.0), "6");
        assert_eq!(number(-12_345.0), "-12,345");
        assert_eq!(number(f64::NAN), "–");
        assert_eq!(percent(0.871), "87 %");
        assert_eq!(percent(0.0475), "4.8 %");
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(share_of(5.0, 0), "–");
        assert_eq!(seconds(11.84), "11.8 s");
        assert_eq!(seconds(95.0 * 60.0), "1 h 35 min");
    }

    #[test]
    fn tables_align_on_visible_width() {
        let rows = vec![
            vec!["\x1b[1mHead\x1b[0m".to_owned(), "n".to_owned()],
            vec!["a–b".to_owned(), "1,000".to_owned()],
        ];
        let lines = table(&rows, &[Align::Left, Align::Right]);
        assert_eq!(lines[1], "  a–b  1,000");
        assert_eq!(visible_width(&lines[0]), visible_width(&lines[1]));
    }

    #[test]
    fn prose_wraps_with_a_hanging_indent() {
        let text = "word ".repeat(30);
        let lines = wrap(&text, "  • ", "    ");
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH));
        assert!(lines[0].starts_with("  • word"));
        assert!(lines[1].starts_with("    word"));
        assert!(wrap("  \n ", "  ", "  ").is_empty());
    }

    #[test]
    fn causes_sort_descending_with_nan_last() {
        let mut v = [1.0, f64::NAN, 3.0, 2.0];
        v.sort_by(|a, b| descending(*a, *b));
        assert_eq!(v[..3], [3.0, 2.0, 1.0]);
        assert!(v[3].is_nan());
    }
}

//! The self-contained HTML report of a simulation run.
//!
//! The report is one file an admin can mail, attach to a change request or
//! print, and open years later on a machine without network access, so it
//! references nothing outside itself: the style sheet is inline and the
//! charts are inline SVG. The charts are drawn by plotters with its SVG
//! backend only: SVG text is laid out by the browser, so no font files are
//! read or embedded and the build needs no system font libraries, and
//! vector charts stay sharp on paper.
//!
//! Like the terminal summary it is a view of [`Report`] and computes nothing
//! beyond formatting and scaling, so it cannot disagree with the JSON. Its
//! output is a pure function of the report (no date, no host), and every
//! string from the scenario file is escaped, since scenario names and
//! descriptions are user input.
//!
//! A report can be degenerate (no replications, no device finished, a
//! single bucket, NaN from a division by zero upstream): each chart then
//! says what is missing instead of drawing, and the page still renders.

use std::error::Error;
use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::{Count, Report, Summary};
use super::summary::{
    descending, duration, in_unit, number, one_line, percent, seconds, share_of, thousands, unit_label,
};

/// Chart width and height in SVG user units; the style sheet scales the
/// charts to the page, so these only fix the aspect ratio and text size.
const WIDTH: u32 = 760;
const HEIGHT: u32 = 320;

/// Okabe–Ito colours: distinguishable with the common colour-vision
/// deficiencies and in greyscale print.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(90, 90, 90),
];
const INK: RGBColor = RGBColor(34, 34, 34);
const GRID: RGBColor = RGBColor(225, 225, 225);
const FONT: &str = "sans-serif";
/// Plotters scales a font size by 1/1.24 in SVG; this gives about 13 px.
const LABEL: f64 = 16.0;

const STYLE: &str = "
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
       color: #222; background: #fff; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; word-break: break-word; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
p.question { font-size: 1.1rem; margin: 0 0 .5rem; }
p.meta, p.note, figcaption { color: #555; font-size: .9rem; }
p.empty { color: #555; font-style: italic; border: 1px dashed #bbb; padding: 1rem; text-align: center; }
p.bottleneck { font-weight: 600; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #e3e3e3; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #bbb; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td small { color: #666; display: block; }
code { font-size: .9em; word-break: break-all; }
figure { margin: 1rem 0; }
figure svg { width: 100%; height: auto; display: block; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  h2 { break-after: avoid; }
  figure, table, tr { break-inside: avoid; }
}
";

/// Renders `report` as one HTML document with inline style and five inline
/// SVG charts: completion, time in system, utilisation, queues and causes.
///
/// ```
/// use fleetlab::sim::{html, report};
///
/// let page = html::render(&report::example());
/// assert!(page.starts_with("<!DOCTYPE html>"));
/// assert_eq!(page.matches("<svg").count(), 6); // completion, time in system, utilisation, queues, downloads, causes
/// assert!(!page.contains("http://") && !page.contains("https://"));
/// ```
pub fn render(report: &Report) -> String {
    let mut page = String::with_capacity(256 * 1024);
    let title = format!("{} — fleetlab simulation", one_line(&report.scenario));
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(page, "<title>{}</title>", esc(&title));
    let _ = writeln!(page, "<style>{STYLE}</style>\n</head>\n<body>");

    header(&mut page, report);
    answer(&mut page, report);
    metrics(&mut page, report);
    completion(&mut page, report);
    time_in_system(&mut page, report);
    outcomes(&mut page, report);
    resources(&mut page, report);
    reproduce(&mut page, report);

    page.push_str("</body>\n</html>\n");
    page
}

fn header(page: &mut String, r: &Report) {
    let name = match one_line(&r.scenario) {
        n if n.is_empty() => "(unnamed scenario)".to_owned(),
        n => n,
    };
    let _ = writeln!(page, "<header>\n<h1>{}</h1>", esc(&name));
    if !r.description.trim().is_empty() {
        let _ = writeln!(page, "<p class=\"question\">{}</p>", esc(&r.description));
    }
    let _ = writeln!(
        page,
        "<p class=\"meta\">{} devices · horizon {} · {} replications · seed {} · \
         fleetlab {}</p>\n</header>",
        thousands(u64::from(r.devices)),
        esc(&duration(r.horizon_minutes)),
        thousands(u64::from(r.replications)),
        r.seed,
        esc(&r.versions.fleetlab),
    );
}

fn answer(page: &mut String, r: &Report) {
    let findings: Vec<&String> = r.findings.iter().filter(|f| !f.trim().is_empty()).collect();
    if r.bottleneck.trim().is_empty() && findings.is_empty() {
        return;
    }
    page.push_str("<section>\n<h2>Findings</h2>\n");
    if !r.bottleneck.trim().is_empty() {
        let _ = writeln!(page, "<p class=\"bottleneck\">Bottleneck: {}</p>", esc(&one_line(&r.bottleneck)));
    }
    if !findings.is_empty() {
        page.push_str("<ul>\n");
        for f in findings {
            let _ = writeln!(page, "<li>{}</li>", esc(f));
        }
        page.push_str("</ul>\n");
    }
    page.push_str("</section>\n");
}

fn metrics(page: &mut String, r: &Report) {
    if r.metrics.is_empty() {
        return;
    }
    page.push_str("<section>\n<h2>Key metrics</h2>\n");
    let _ = writeln!(
        page,
        "<p class=\"note\">Distribution over {} replications.</p>",
        thousands(u64::from(r.replications))
    );
    page.push_str(
        "<table>\n<thead><tr><th>Metric</th><th class=\"n\">Mean</th><th class=\"n\">P5</th>\
         <th class=\"n\">Median</th><th class=\"n\">P95</th><th>Unit</th></tr></thead>\n<tbody>\n",
    );
    for m in &r.metrics {
        let s = &m.summary;
        let u = m.unit.as_str();
        let _ = write!(page, "<tr><td>{}", esc(&m.name));
        if !m.description.trim().is_empty() {
            let _ = write!(page, "<small>{}</small>", esc(&m.description));
        }
        let _ = writeln!(
            page,
            "</td>{}{}{}{}<td>{}</td></tr>",
            num_cell(&in_unit(u, s.mean)),
            num_cell(&in_unit(u, s.p5)),
            num_cell(&in_unit(u, s.p50)),
            num_cell(&in_unit(u, s.p95)),
            esc(unit_label(u)),
        );
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
}

fn completion(page: &mut String, r: &Report) {
    page.push_str("<section>\n<h2>Completion</h2>\n");
    let axis = TimeAxis::fit(r.horizon_minutes.max(last_minute(r)));
    let caption = format!(
        "Share of the {} devices done by each time: mean over replications, with the band \
         from P5 to P95 shaded.",
        thousands(u64::from(r.devices))
    );
    let chart = if r.completion.is_empty() {
        Err("No completion curve: the run has no replications or no buckets.".to_owned())
    } else {
        svg((WIDTH, HEIGHT), |root| completion_chart(root, r, &axis))
    };
    figure(page, "Completion curve", chart, &caption);
    page.push_str("</section>\n");
}

fn completion_chart(root: &Area<'_>, r: &Report, axis: &TimeAxis) -> Drawn {
    let xmax = axis.scaled(r.horizon_minutes.max(last_minute(r)));
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..positive(xmax), 0f64..100f64)?;
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .x_desc(axis.name)
        .y_desc("% of devices done")
        .x_label_formatter(&tick)
        .y_label_formatter(&|y| format!("{y:.0} %"))
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, LABEL))
        .draw()?;
    let pct = |share: f64| (share * 100.0).clamp(0.0, 100.0);
    let band: Vec<&_> = r
        .completion
        .iter()
        .filter(|p| p.minute.is_finite() && p.p5.is_finite() && p.p95.is_finite())
        .collect();
    if !band.is_empty() {
        let mut outline: Vec<(f64, f64)> = band.iter().map(|p| (axis.scaled(p.minute), pct(p.p95))).collect();
        outline.extend(band.iter().rev().map(|p| (axis.scaled(p.minute), pct(p.p5))));
        let color = PALETTE[0];
        chart
            .draw_series(std::iter::once(Polygon::new(outline, color.mix(0.2).filled())))?
            .label("P5 – P95")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.mix(0.2).filled()));
    }
    let mean: Vec<(f64, f64)> = r
        .completion
        .iter()
        .filter(|p| p.minute.is_finite() && p.mean.is_finite())
        .map(|p| (axis.scaled(p.minute), pct(p.mean)))
        .collect();
    let color = PALETTE[0];
    chart.draw_series(lone_point(&mean, color))?;
    chart
        .draw_series(LineSeries::new(mean, color.stroke_width(2)))?
        .label("mean")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

fn time_in_system(page: &mut String, r: &Report) {
    page.push_str("<section>\n<h2>Time in system</h2>\n");
    let h = &r.time_in_system;
    let s = &h.summary;
    let total: f64 = h.counts.iter().filter(|c| c.is_finite()).sum();
    let caption = format!(
        "From first power-on or arrival to the end state, devices that finished \
         ({} values): mean {}, median {}, P95 {}; bars are devices per replication in bins \
         of {}.",
        thousands(s.n),
        esc(&duration(s.mean)),
        esc(&duration(s.p50)),
        esc(&duration(s.p95)),
        esc(&duration(h.bin_minutes)),
    );
    let chart = if h.counts.is_empty() || !is_positive(total) || !is_positive(h.bin_minutes) {
        Err("No device finished, so there is no time in system to show.".to_owned())
    } else {
        svg((WIDTH, HEIGHT), |root| histogram_chart(root, r))
    };
    figure(page, "Time-in-system histogram", chart, &caption);
    page.push_str("</section>\n");
}

fn histogram_chart(root: &Area<'_>, r: &Report) -> Drawn {
    let h = &r.time_in_system;
    let s = &h.summary;
    let span = h.bin_minutes * h.counts.len() as f64;
    let axis = TimeAxis::fit(span);
    let ymax = h.counts.iter().copied().filter(|c| c.is_finite()).fold(0.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..positive(axis.scaled(span)), 0f64..positive(ymax))?;
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .disable_x_mesh()
        .x_desc(axis.name)
        .y_desc("devices per replication")
        .x_label_formatter(&tick)
        .y_label_formatter(&|y| number(*y))
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, LABEL))
        .draw()?;
    let bar = PALETTE[4].mix(0.75).filled();
    chart.draw_series(h.counts.iter().enumerate().filter(|(_, c)| c.is_finite() && **c > 0.0).map(
        |(i, c)| {
            let x0 = axis.scaled(h.bin_minutes * i as f64);
            let x1 = axis.scaled(h.bin_minutes * (i + 1) as f64);
            Rectangle::new([(x0, 0.0), (x1, *c)], bar)
        },
    ))?;
    let marks = [("mean", s.mean, PALETTE[3]), ("median", s.p50, INK), ("P95", s.p95, PALETTE[5])];
    for (name, minutes, color) in marks {
        if !(minutes.is_finite() && minutes >= 0.0 && minutes <= span) {
            continue;
        }
        let x = axis.scaled(minutes);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, positive(ymax))],
                color.stroke_width(2),
            )))?
            .label(format!("{name} {}", duration(minutes)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

fn outcomes(page: &mut String, r: &Report) {
    page.push_str("<section>\n<h2>Outcomes and rework</h2>\n");
    if r.outcomes.is_empty() {
        page.push_str("<p class=\"empty\">No outcomes recorded.</p>\n");
    } else {
        page.push_str("<h3>How devices ended</h3>\n");
        counts_table(page, "Outcome", &r.outcomes, r.devices);
    }
    page.push_str("<h3>Failures and rework by cause</h3>\n");
    let mut causes: Vec<&Count> = r.causes.iter().collect();
    causes.sort_by(|a, b| descending(a.per_replication.mean, b.per_replication.mean));
    let drawn: Vec<&Count> = causes
        .iter()
        .copied()
        .filter(|c| c.per_replication.mean.is_finite() && c.per_replication.mean > 0.0)
        .take(MAX_BARS)
        .collect();
    let chart = if drawn.is_empty() {
        Err("No failures or rework recorded.".to_owned())
    } else {
        // One row per cause, so the bars keep their thickness.
        let height = (70 + 28 * drawn.len() as u32).clamp(160, 660);
        svg((WIDTH, height), |root| causes_chart(root, &drawn))
    };
    let mut caption = "Mean count per replication; a device can count under several causes.".to_owned();
    if causes.len() > drawn.len() && !drawn.is_empty() {
        let _ = write!(caption, " The {} largest are drawn; the table lists all.", drawn.len());
    }
    figure(page, "Failures and rework by cause", chart, &caption);
    if !causes.is_empty() {
        let sorted: Vec<Count> = causes.into_iter().cloned().collect();
        counts_table(page, "Cause", &sorted, r.devices);
    }
    page.push_str("</section>\n");
}

/// More bars than this make labels unreadable; the table has the rest.
const MAX_BARS: usize = 20;

fn causes_chart(root: &Area<'_>, causes: &[&Count]) -> Drawn {
    let n = causes.len();
    // Largest at the top: row 0 is drawn at the bottom.
    let labels: Vec<String> = causes.iter().rev().map(|c| clip(&c.label, 40)).collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let xmax = causes.iter().map(|c| c.per_replication.mean).fold(0.0, f64::max) * 1.1;
    // Rows on a plain numeric axis with the labels drawn beside them:
    // plotters' segmented axis adds an empty row and cannot hold a single
    // one.
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size((longest as u32 * 8 + 16).clamp(60, 340))
        .build_cartesian_2d(0f64..positive(xmax), 0f64..n as f64)?;
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("mean per replication")
        .x_label_formatter(&|x| number(*x))
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, LABEL))
        .draw()?;
    let fill = PALETTE[3].mix(0.8).filled();
    chart.draw_series(causes.iter().rev().enumerate().map(|(i, c)| {
        let row = i as f64;
        Rectangle::new([(0.0, row + 0.15), (c.per_replication.mean, row + 0.85)], fill)
    }))?;
    let style = TextStyle::from((FONT, LABEL).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    chart.draw_series(labels.iter().enumerate().map(|(i, label)| {
        EmptyElement::at((0.0, i as f64 + 0.5)) + Text::new(label.clone(), (-8, 0), style.clone())
    }))?;
    Ok(())
}

fn resources(page: &mut String, r: &Report) {
    page.push_str("<section>\n<h2>Resources</h2>\n");
    if r.resources.is_empty() {
        page.push_str("<p class=\"empty\">The scenario has no resources.</p>\n</section>\n");
        return;
    }
    page.push_str(
        "<table>\n<thead><tr><th>Resource</th><th>Kind</th><th class=\"n\">Capacity</th>\
         <th class=\"n\">Utilisation</th><th class=\"n\">Busy period</th><th class=\"n\">Mean wait</th>\
         <th class=\"n\">P(wait&gt;0)</th><th class=\"n\">Wait P50–P95 if waiting</th>\
         <th class=\"n\">Peak queue</th></tr></thead>\n<tbody>\n",
    );
    for res in &r.resources {
        let link = res.kind == "link";
        let capacity = if link { format!("{} Mbit/s", number(res.capacity)) } else { number(res.capacity) };
        let wait = if link { "–".to_owned() } else { duration(res.mean_wait_minutes) };
        let p_wait = if link { "–".to_owned() } else { percent(res.p_wait) };
        let band = if link || res.wait_when_waiting.n == 0 {
            "–".to_owned()
        } else {
            format!("{}–{}", duration(res.wait_when_waiting.p50), duration(res.wait_when_waiting.p95))
        };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td>{}{}{}{}{}{}{}</tr>",
            esc(&res.name),
            esc(&res.kind),
            num_cell(&capacity),
            num_cell(&percent(res.mean_utilisation)),
            num_cell(&percent(res.busy_period_utilisation)),
            num_cell(&wait),
            num_cell(&p_wait),
            num_cell(&band),
            num_cell(&number(res.peak_queue)),
        );
    }
    page.push_str("</tbody>\n</table>\n");
    page.push_str(
        "<p class=\"note\">A link's queue is its active downloads; they share the link, so \
         it has no wait for a unit.</p>\n",
    );

    let axis = TimeAxis::fit(r.horizon_minutes.max(resource_span(r)));
    let any = |pick: fn(&super::report::ResourceSeries) -> &Vec<f64>| {
        r.resources.iter().any(|res| pick(res).iter().any(|v| v.is_finite()))
    };
    page.push_str("<h3>Utilisation over time</h3>\n");
    let chart = if any(|res| &res.utilisation) {
        svg((WIDTH, HEIGHT), |root| series_chart(root, r, &axis, Series::Utilisation))
    } else {
        Err("No utilisation recorded.".to_owned())
    };
    let caption = format!(
        "Mean share of each resource busy in each bucket of {}, over replications.",
        esc(&duration(r.bucket_minutes))
    );
    figure(page, "Utilisation of each resource over time", chart, &caption);
    // Devices waiting for a unit and downloads sharing a link are
    // different quantities: each gets its own chart and axis.
    let has = |link: bool| r.resources.iter().any(|res| (res.kind == "link") == link);
    if has(false) {
        page.push_str("<h3>Queue length over time</h3>\n");
        let chart = if any(|res| &res.queue) {
            svg((WIDTH, HEIGHT), |root| series_chart(root, r, &axis, Series::Queue))
        } else {
            Err("No queue lengths recorded.".to_owned())
        };
        figure(
            page,
            "Queue length of each resource over time",
            chart,
            "Mean number of devices waiting for a unit in each bucket, over replications.",
        );
    }
    if has(true) {
        page.push_str("<h3>Active downloads over time</h3>\n");
        let chart = svg((WIDTH, HEIGHT), |root| series_chart(root, r, &axis, Series::Downloads));
        figure(
            page,
            "Active downloads on each uplink over time",
            chart,
            "Mean number of downloads sharing each uplink in each bucket, over replications.",
        );
    }
    page.push_str("</section>\n");
}

#[derive(Clone, Copy, PartialEq)]
enum Series {
    Utilisation,
    /// Devices waiting, for resources with units.
    Queue,
    /// Active downloads, for links.
    Downloads,
}

/// One resource's line: its place in the report (its colour), name and points.
type Line = (usize, String, Vec<(f64, f64)>);

fn series_chart(root: &Area<'_>, r: &Report, axis: &TimeAxis, which: Series) -> Drawn {
    let bucket = if is_positive(r.bucket_minutes) { r.bucket_minutes } else { 1.0 };
    let values = |res: &super::report::ResourceSeries| -> Vec<(f64, f64)> {
        let v = match which {
            Series::Utilisation => &res.utilisation,
            Series::Queue | Series::Downloads => &res.queue,
        };
        v.iter()
            .enumerate()
            .filter(|(_, y)| y.is_finite())
            .map(|(i, y)| {
                let y = match which {
                    Series::Utilisation => (y * 100.0).clamp(0.0, 100.0),
                    Series::Queue | Series::Downloads => y.max(0.0),
                };
                (axis.scaled(bucket * (i + 1) as f64), y)
            })
            .collect()
    };
    let shown = |res: &&super::report::ResourceSeries| match which {
        Series::Utilisation => true,
        Series::Queue => res.kind != "link",
        Series::Downloads => res.kind == "link",
    };
    // Colours follow the resource's place in the report on every chart.
    let lines: Vec<Line> = r
        .resources
        .iter()
        .enumerate()
        .filter(|(_, res)| shown(res))
        .map(|(i, res)| (i, res.name.clone(), values(res)))
        .collect();
    let ymax = match which {
        Series::Utilisation => 100.0,
        Series::Queue | Series::Downloads => {
            lines.iter().flat_map(|(_, _, v)| v.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.1
        }
    };
    let xmax = axis.scaled(r.horizon_minutes.max(resource_span(r)));
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..positive(xmax), 0f64..positive(ymax))?;
    let y_desc = match which {
        Series::Utilisation => "% busy",
        Series::Queue => "devices waiting",
        Series::Downloads => "active downloads",
    };
    let y_fmt = |y: &f64| match which {
        Series::Utilisation => format!("{y:.0} %"),
        Series::Queue | Series::Downloads => number(*y),
    };
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.0))
        .bold_line_style(GRID)
        .x_desc(axis.name)
        .y_desc(y_desc)
        .x_label_formatter(&tick)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, LABEL))
        .draw()?;
    for (i, name, points) in lines {
        let color = PALETTE[i % PALETTE.len()];
        chart.draw_series(lone_point(&points, color))?;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(clip(&name, 32))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

fn reproduce(page: &mut String, r: &Report) {
    page.push_str("<section>\n<h2>Reproducing this report</h2>\n");
    page.push_str(
        "<p class=\"note\">The same scenario file, seed and replications give the same \
         numbers with the same versions below, whatever the number of threads.</p>\n<table>\n<tbody>\n",
    );
    let e = &r.engine;
    let rows: [(&str, String); 13] = [
        ("Scenario file", format!("<code>{}</code>", esc(&r.file))),
        ("Scenario", esc(&r.scenario)),
        ("Seed", r.seed.to_string()),
        ("Replications", thousands(u64::from(r.replications))),
        ("Devices per replication", thousands(u64::from(r.devices))),
        ("Horizon", esc(&duration(r.horizon_minutes))),
        ("Bucket of the curves", esc(&duration(r.bucket_minutes))),
        ("fleetlab", esc(&r.versions.fleetlab)),
        ("Random generator", esc(&r.versions.generator)),
        ("rand_distr", esc(&r.versions.rand_distr)),
        ("Threads", thousands(r.threads as u64)),
        ("Events", thousands(e.events)),
        (
            "Engine speed",
            format!("{} events/s, {} wall", number(e.events_per_second), esc(&seconds(e.wall_seconds))),
        ),
    ];
    for (key, value) in rows {
        let _ = writeln!(page, "<tr><th>{key}</th><td>{value}</td></tr>");
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
}

fn counts_table(page: &mut String, what: &str, counts: &[Count], devices: u32) {
    let _ = writeln!(
        page,
        "<table>\n<thead><tr><th>{what}</th><th class=\"n\">Mean</th><th class=\"n\">P5</th>\
         <th class=\"n\">Median</th><th class=\"n\">P95</th><th class=\"n\">Share of devices</th>\
         </tr></thead>\n<tbody>"
    );
    for c in counts {
        let s: &Summary = &c.per_replication;
        let _ = writeln!(
            page,
            "<tr><td>{}</td>{}{}{}{}{}</tr>",
            esc(&c.label),
            num_cell(&number(s.mean)),
            num_cell(&number(s.p5)),
            num_cell(&number(s.p50)),
            num_cell(&number(s.p95)),
            num_cell(&share_of(s.mean, devices)),
        );
    }
    page.push_str("</tbody>\n</table>\n");
}

fn num_cell(text: &str) -> String {
    format!("<td class=\"n\">{}</td>", esc(text))
}

/// A chart, or the reason it is missing, as a figure with a caption.
fn figure(page: &mut String, label: &str, chart: Result<String, String>, caption: &str) {
    page.push_str("<figure>\n");
    match chart {
        Ok(svg) => {
            // Inline SVG in HTML needs no namespace; dropping it keeps the
            // file free of any URL, and the label makes the chart readable
            // to screen readers.
            let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1).replacen(
                "<svg ",
                &format!("<svg role=\"img\" aria-label=\"{}\" ", esc(label)),
                1,
            );
            page.push_str(svg.trim());
            page.push('\n');
        }
        Err(why) => {
            let _ = writeln!(page, "<p class=\"empty\">{}</p>", esc(&why));
        }
    }
    // The caption is built from escaped parts by the caller.
    let _ = writeln!(page, "<figcaption>{caption}</figcaption>\n</figure>");
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn Error>>;

/// Draws one chart into a string; a plotting error becomes the reason
/// shown in place of the chart rather than a failed report.
fn svg(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| format!("The chart could not be drawn: {e}"))?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(buf)
}

/// A dot for a curve of a single bucket, which a line cannot show.
fn lone_point(points: &[(f64, f64)], color: RGBColor) -> Vec<Circle<(f64, f64), i32>> {
    match points {
        [p] => vec![Circle::new(*p, 4, color.filled())],
        _ => Vec::new(),
    }
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Drawn {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font((FONT, LABEL))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The unit of a time axis, chosen so its ticks are small round numbers.
struct TimeAxis {
    minutes: f64,
    name: &'static str,
}

impl TimeAxis {
    fn fit(span_minutes: f64) -> Self {
        if span_minutes.is_nan() || span_minutes <= 3.0 * 60.0 {
            Self { minutes: 1.0, name: "minutes" }
        } else if span_minutes <= 72.0 * 60.0 {
            Self { minutes: 60.0, name: "hours" }
        } else {
            Self { minutes: 24.0 * 60.0, name: "days" }
        }
    }

    fn scaled(&self, minutes: f64) -> f64 {
        minutes / self.minutes
    }
}

fn last_minute(r: &Report) -> f64 {
    r.completion.iter().map(|p| p.minute).filter(|m| m.is_finite()).fold(0.0, f64::max)
}

fn resource_span(r: &Report) -> f64 {
    let buckets = r.resources.iter().map(|res| res.utilisation.len().max(res.queue.len())).max();
    match buckets {
        Some(n) if r.bucket_minutes.is_finite() => r.bucket_minutes * n as f64,
        _ => 0.0,
    }
}

fn is_positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// The upper end of an axis: a range of zero width (or NaN) would leave
/// plotters nothing to scale by.
fn positive(max: f64) -> f64 {
    if is_positive(max) {
        max
    } else {
        1.0
    }
}

fn tick(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        number(x.round())
    } else {
        format!("{x:.1}")
    }
}

fn clip(text: &str, max: usize) -> String {
    let text = one_line(text);
    if text.chars().count() <= max {
        text
    } else {
        let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

/// Escapes text for HTML element content and quoted attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn time_axis_fits_the_span() {
        assert_eq!(TimeAxis::fit(90.0).name, "minutes");
        assert_eq!(TimeAxis::fit(f64::NAN).name, "minutes");
        assert_eq!(TimeAxis::fit(48.0 * 60.0).name, "hours");
        assert_eq!(TimeAxis::fit(5.0 * 1440.0).name, "days");
    }

    #[test]
    fn ticks_and_clipping() {
        assert_eq!(tick(&2.0), "2");
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&1_500.0), "1,500");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}

//! The weekly health report as one self-contained HTML page: inline CSS and SVG charts, no
//! script and no external asset, every string from the data escaped ([`escape`]).

use std::fmt::Write;

use super::health::{LatencySummary, WeeklyHealth};
use super::svg::{bar_chart, line_chart, Series};
use stockbridge_domain::ids::Timestamp;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1060px}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px}\
.tiles{display:flex;flex-wrap:wrap;gap:12px}.tile{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:120px}\
.tile b{display:block;font-size:20px}.nodata{color:#a33;font-style:italic}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}";

const NANOS_PER_SEC: f64 = 1e9;

/// The page for `health`, generated at `generated_at`.
pub fn render(health: &WeeklyHealth, generated_at: Timestamp) -> String {
    let mut out = String::new();
    let title = format!("Stockbridge weekly health: {}", health.shop);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1><p>Week {s} to {e}; generated {g}.</p>",
        t = escape(&title),
        s = escape(&minutes(&health.week_start)),
        e = escape(&minutes(&health.week_end)),
        g = escape(&minutes(&generated_at.to_rfc3339())),
    );
    tiles(&mut out, health);
    latency(&mut out, health);
    variance(&mut out, health);
    corrections(&mut out, health);
    errors(&mut out, health);
    backlog(&mut out, health);
    unmapped(&mut out, health);
    out.push_str("</body></html>\n");
    out
}

/// An RFC 3339 time to the minute (`2026-11-24 14:28 UTC`); anything else as it is.
fn minutes(rfc3339: &str) -> String {
    match Timestamp::parse(rfc3339) {
        Some(at) => {
            let text = at.to_rfc3339();
            format!("{} UTC", text.get(..16).unwrap_or(&text).replace('T', " "))
        }
        None => rfc3339.to_string(),
    }
}

fn tile(out: &mut String, label: &str, value: &str) {
    let _ = write!(
        out,
        "<div class=\"tile\">{}<b>{}</b></div>",
        escape(label),
        escape(value)
    );
}

fn or_no_data<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "no data".to_string(), |v| v.to_string())
}

fn tiles(out: &mut String, h: &WeeklyHealth) {
    out.push_str("<div class=\"tiles\">");
    let lat = h.latency.as_ref();
    tile(
        out,
        "sync latency p50",
        &or_no_data(lat.map(|l| format!("{:.0} ms", l.p50_ms))),
    );
    tile(
        out,
        "sync latency p99",
        &or_no_data(lat.map(|l| format!("{:.0} ms", l.p99_ms))),
    );
    let erp = h.erp_latency.as_ref();
    tile(
        out,
        "to ERP acknowledged p50",
        &or_no_data(erp.map(|l| format!("{:.0} ms", l.p50_ms))),
    );
    tile(
        out,
        "to ERP acknowledged p99",
        &or_no_data(erp.map(|l| format!("{:.0} ms", l.p99_ms))),
    );
    tile(out, "reconcile runs", &h.runs.len().to_string());
    let alerts = h.runs.iter().filter(|r| r.alert).count();
    tile(out, "runs that alerted", &alerts.to_string());
    tile(out, "dead-lettered", &or_no_data(h.dlq_depth));
    tile(out, "parked events", &h.parked.to_string());
    tile(out, "quarantined", &h.quarantined.to_string());
    out.push_str("</div>");
}

fn no_data(out: &mut String, why: &str) {
    let _ = write!(out, "<p class=\"nodata\">No data: {}</p>", escape(why));
}

/// A chart's x range and its labels (x, text).
type TimeAxis = (f64, f64, Vec<(f64, String)>);

/// Seconds since the week's start, and a label per day.
fn time_axis(h: &WeeklyHealth) -> Option<TimeAxis> {
    let start = Timestamp::parse(&h.week_start)?;
    let end = Timestamp::parse(&h.week_end)?;
    let span = (end.0 - start.0) as f64 / NANOS_PER_SEC;
    let labels = (0..7)
        .map(|d| {
            let at = Timestamp(start.0 + d * 86_400 * 1_000_000_000);
            (
                d as f64 * 86_400.0,
                at.to_rfc3339().chars().take(10).collect(),
            )
        })
        .collect();
    Some((0.0, span, labels))
}

fn secs_since(start: &str, at: &str) -> Option<f64> {
    let (s, a) = (Timestamp::parse(start)?, Timestamp::parse(at)?);
    Some((a.0 - s.0) as f64 / NANOS_PER_SEC)
}

fn latency(out: &mut String, h: &WeeklyHealth) {
    let applied = h.latency.as_ref();
    latency_section(out, "latency", "webhook received to applied", applied);
    let erp = h.erp_latency.as_ref();
    latency_section(
        out,
        "erp-latency",
        "webhook received to acknowledged by the ERP",
        erp,
    );
}

/// One latency's section: the week's p50/p99 and a chart of them per day.
fn latency_section(out: &mut String, id: &str, what: &str, l: Option<&LatencySummary>) {
    let _ = write!(out, "<h2>Sync latency ({})</h2>", escape(what));
    let Some(l) = l else {
        return no_data(
            out,
            &format!("latency ({what}): the latency digest counted none this week."),
        );
    };
    let _ = write!(
        out,
        "<p>p50 {:.0} ms, p99 {:.0} ms over {} samples (each the upper bound of its digest bucket, at most 19% above the true value).</p>",
        l.p50_ms, l.p99_ms, l.samples
    );
    if l.daily.is_empty() {
        return no_data(out, "no daily breakdown was given.");
    }
    let series = [
        Series {
            name: "p50".into(),
            points: l
                .daily
                .iter()
                .enumerate()
                .map(|(i, d)| (i as f64, d.p50_ms))
                .collect(),
        },
        Series {
            name: "p99".into(),
            points: l
                .daily
                .iter()
                .enumerate()
                .map(|(i, d)| (i as f64, d.p99_ms))
                .collect(),
        },
    ];
    let labels: Vec<(f64, String)> = l
        .daily
        .iter()
        .enumerate()
        .map(|(i, d)| (i as f64, d.day.clone()))
        .collect();
    let last = l.daily.len().saturating_sub(1) as f64;
    out.push_str(&line_chart(
        id,
        &format!("sync latency per day ({what})"),
        " ms",
        &series,
        (0.0, last),
        &labels,
    ));
    let _ = write!(
        out,
        "<table id=\"{}-days\"><tr><th>day</th><th>p50</th><th>p99</th></tr>",
        escape(id)
    );
    for d in &l.daily {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{:.0} ms</td><td>{:.0} ms</td></tr>",
            escape(&d.day),
            d.p50_ms,
            d.p99_ms
        );
    }
    out.push_str("</table>");
}

fn variance(out: &mut String, h: &WeeklyHealth) {
    out.push_str("<h2>Variance per location over the week (% of the master's units)</h2>");
    let Some((x0, x1, labels)) = time_axis(h) else {
        return no_data(out, "the week's bounds are not RFC 3339 times.");
    };
    if h.runs.is_empty() {
        return no_data(out, "no reconciliation report was stored this week.");
    }
    let series: Vec<Series> = h
        .locations()
        .into_iter()
        .map(|loc| Series {
            points: h
                .runs
                .iter()
                .filter_map(|r| {
                    Some((
                        secs_since(&h.week_start, &r.started_at)?,
                        *r.variance_pct.get(&loc)?,
                    ))
                })
                .collect(),
            name: format!("location {loc}"),
        })
        .collect();
    out.push_str(&line_chart(
        "variance",
        "variance per location",
        " %",
        &series,
        (x0, x1),
        &labels,
    ));
}

fn corrections(out: &mut String, h: &WeeklyHealth) {
    out.push_str("<h2>Corrections per run</h2>");
    let Some((x0, x1, labels)) = time_axis(h) else {
        return no_data(out, "the week's bounds are not RFC 3339 times.");
    };
    if h.runs.is_empty() {
        return no_data(out, "no reconciliation report was stored this week.");
    }
    type Pick = fn(&super::health::RunPoint) -> u64;
    let kinds: [(&str, Pick); 5] = [
        ("applied", |r| r.applied),
        ("planned (dry run)", |r| r.planned),
        ("held by the cap", |r| r.held),
        ("stale", |r| r.stale),
        ("failed", |r| r.failed),
    ];
    let series: Vec<Series> = kinds
        .iter()
        .map(|(name, pick)| Series {
            name: name.to_string(),
            points: h
                .runs
                .iter()
                .filter_map(|r| Some((secs_since(&h.week_start, &r.started_at)?, pick(r) as f64)))
                .collect(),
        })
        .collect();
    out.push_str(&line_chart(
        "corrections",
        "corrections per run",
        "",
        &series,
        (x0, x1),
        &labels,
    ));
    let totals: Vec<(String, f64)> = kinds
        .iter()
        .map(|(name, pick)| {
            (
                name.to_string(),
                h.runs.iter().map(pick).sum::<u64>() as f64,
            )
        })
        .collect();
    out.push_str(&bar_chart(
        "corrections-total",
        "corrections over the week",
        &totals,
    ));
}

fn errors(out: &mut String, h: &WeeklyHealth) {
    out.push_str("<h2>Errors by kind</h2>");
    if h.errors.is_empty() {
        out.push_str("<p>None this week.</p>");
        return;
    }
    let bars: Vec<(String, f64)> = h
        .errors
        .iter()
        .map(|(k, n)| (k.clone(), *n as f64))
        .collect();
    out.push_str(&bar_chart("errors", "errors by kind", &bars));
}

fn backlog(out: &mut String, h: &WeeklyHealth) {
    out.push_str("<h2>Dead-lettered, parked and quarantined now</h2>");
    let mut bars = Vec::new();
    match h.dlq_depth {
        Some(n) => bars.push(("dead-letter queue".to_string(), n as f64)),
        None => no_data(out, "the dead-letter queue's depth was not read."),
    }
    bars.push(("parked events".to_string(), h.parked as f64));
    bars.push(("quarantined deliveries".to_string(), h.quarantined as f64));
    out.push_str(&bar_chart(
        "backlog",
        "dead-lettered, parked, quarantined",
        &bars,
    ));
}

fn unmapped(out: &mut String, h: &WeeklyHealth) {
    out.push_str("<h2>Unmapped SKUs</h2>");
    if !h.unmapped_items.is_empty() {
        out.push_str("<p>Items without a mapping at the newest run, per location:</p><table id=\"unmapped-items\"><tr><th>location</th><th>unmapped items</th></tr>");
        for (loc, n) in &h.unmapped_items {
            let _ = write!(out, "<tr><td>{}</td><td>{n}</td></tr>", escape(loc));
        }
        out.push_str("</table>");
    }
    if h.unmapped.is_empty() {
        out.push_str("<p>No parked event waits for a mapping.</p>");
        return;
    }
    out.push_str("<p>What parked events wait for (map these: <code>stockbridge skumap import</code>):</p><table id=\"unmapped\"><tr><th>missing</th><th>parked events</th></tr>");
    for u in &h.unmapped {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&u.reference),
            u.parked_events
        );
    }
    out.push_str("</table>");
    if h.unmapped_not_listed > 0 {
        let _ = write!(out, "<p>and {} more references.</p>", h.unmapped_not_listed);
    }
}

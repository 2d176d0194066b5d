//! The weekly report's charts as inline SVG: a line chart (one `polyline` per series) and a bar
//! chart (one `rect` per bar), with axes, labels and a legend. No script, no external asset;
//! every label is escaped.

use std::fmt::Write;

use super::html::escape;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 40.0;
/// Series colours, in turn.
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One line of a line chart: its name and its points (x, y), x increasing.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

fn finite_max(values: impl Iterator<Item = f64>) -> f64 {
    values.filter(|v| v.is_finite()).fold(0.0, f64::max)
}

fn open(out: &mut String, id: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg id="{id}" class="chart" role="img" aria-label="{title}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">"#,
        id = escape(id),
        title = escape(title),
    );
    let (x0, y0, x1) = (LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT);
    let _ = write!(
        out,
        r##"<line class="axis" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#444"/><line class="axis" x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" stroke="#444"/>"##
    );
}

fn y_axis(out: &mut String, max: f64, unit: &str) {
    for step in 0..=4 {
        let v = max * f64::from(step) / 4.0;
        let y = HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * f64::from(step) / 4.0;
        let _ = write!(
            out,
            r##"<text x="{x}" y="{y:.1}" font-size="11" text-anchor="end" fill="#444">{v}{unit}</text><line x1="{LEFT}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="#ddd"/>"##,
            x = LEFT - 6.0,
            x2 = WIDTH - RIGHT,
            v = trim(v),
            unit = escape(unit),
        );
    }
}

fn trim(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart of `series` over x in `[x_min, x_max]`, with `x_labels` (x, text) under the axis.
pub fn line_chart(
    id: &str,
    title: &str,
    unit: &str,
    series: &[Series],
    (x_min, x_max): (f64, f64),
    x_labels: &[(f64, String)],
) -> String {
    let mut out = String::new();
    open(&mut out, id, title);
    let max = finite_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let max = if max > 0.0 { max * 1.1 } else { 1.0 };
    y_axis(&mut out, max, unit);
    let span = if x_max > x_min { x_max - x_min } else { 1.0 };
    let x_of = |x: f64| LEFT + (WIDTH - LEFT - RIGHT) * (x - x_min) / span;
    let y_of = |y: f64| HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * y / max;
    for (x, text) in x_labels {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle" fill="#444">{}</text>"##,
            x_of(*x),
            HEIGHT - BOTTOM + 16.0,
            escape(text)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", x_of(*x), y_of(*y)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" data-series="{name}" fill="none" stroke="{c}" stroke-width="2" points="{p}"><title>{name}</title></polyline>"#,
            name = escape(&s.name),
            c = colour(i),
            p = points.join(" "),
        );
        let lx = LEFT + 10.0 + 180.0 * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{c}"/><text x="{tx}" y="{ty}" font-size="12">{name}</text>"#,
            ly = HEIGHT - 14.0,
            c = colour(i),
            tx = lx + 16.0,
            ty = HEIGHT - 3.0,
            name = escape(&s.name),
        );
    }
    out.push_str("</svg>");
    out
}

/// A bar chart: one bar per (label, value), in the order given.
pub fn bar_chart(id: &str, title: &str, bars: &[(String, f64)]) -> String {
    let mut out = String::new();
    open(&mut out, id, title);
    let max = finite_max(bars.iter().map(|b| b.1));
    let max = if max > 0.0 { max * 1.1 } else { 1.0 };
    y_axis(&mut out, max, "");
    let slot = (WIDTH - LEFT - RIGHT) / bars.len().max(1) as f64;
    let width = (slot * 0.6).min(120.0);
    for (i, (label, value)) in bars.iter().enumerate() {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let h = (HEIGHT - TOP - BOTTOM) * value / max;
        let x = LEFT + slot * i as f64 + (slot - width) / 2.0;
        let _ = write!(
            out,
            r##"<rect class="bar" data-label="{l}" x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{h:.1}" fill="{c}"><title>{l}: {v}</title></rect><text x="{cx:.1}" y="{ly}" font-size="11" text-anchor="middle" fill="#222">{l} ({v})</text>"##,
            l = escape(label),
            y = HEIGHT - BOTTOM - h,
            c = colour(i),
            v = trim(value),
            cx = x + width / 2.0,
            ly = HEIGHT - BOTTOM + 16.0,
        );
    }
    out.push_str("</svg>");
    out
}

//! The webhook drill's picture: an SVG line chart of end-to-end latency per settled ERP line and
//! the queue depth over time, with no plotting dependency.

/// A simple SVG line chart: end-to-end latency of settled ERP lines and queue depth over time.
pub fn svg_plot(latency: &[(f64, f64)], depth: &[(f64, f64)], title: &str) -> String {
    let (w, h, pad) = (900.0, 360.0, 50.0);
    let max_t = latency.iter().chain(depth).map(|p| p.0).fold(1.0, f64::max);
    let max_l = latency.iter().map(|p| p.1).fold(1.0, f64::max);
    let max_d = depth.iter().map(|p| p.1).fold(1.0, f64::max);
    let x = |t: f64| pad + t / max_t * (w - 2.0 * pad);
    let yl = |v: f64| h - pad - v / max_l * (h - 2.0 * pad);
    let yd = |v: f64| h - pad - v / max_d * (h - 2.0 * pad);
    let dots: String = latency
        .iter()
        .map(|(t, v)| {
            format!(
                r##"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="#1f77b4"/>"##,
                x(*t),
                yl(*v)
            )
        })
        .collect();
    let line: Vec<String> = depth
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), yd(*v)))
        .collect();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20" font-size="14">{title}</text>
<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}" stroke="black"/>
<text x="{r}" y="{bl}" text-anchor="end">time since start: {max_t:.0} s</text>
<text x="5" y="{pad}" fill="#1f77b4">{max_l:.0} ms</text>
<text x="{r}" y="{pad}" text-anchor="end" fill="#d62728">queue depth max {max_d:.0}</text>
<text x="{pad}" y="38" fill="#1f77b4">● end-to-end latency per settled ERP line (ms)</text>
<text x="420" y="38" fill="#d62728">— queue depth (messages)</text>
{dots}
<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="{pts}"/>
</svg>
"##,
        b = h - pad,
        r = w - pad,
        bl = h - pad + 30.0,
        pts = line.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dot_per_latency_and_one_line_for_the_depth() {
        let svg = svg_plot(&[(0.0, 10.0), (1.0, 20.0)], &[(0.0, 3.0), (2.0, 1.0)], "t");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches("<polyline").count(), 1);
    }

    #[test]
    fn empty_series_still_draw_the_axes() {
        let svg = svg_plot(&[], &[], "nothing yet");
        assert!(svg.contains("nothing yet") && svg.contains(r#"points="""#));
    }
}

//! The load test report: a terminal table, JSON, and one self-contained HTML page with
//! inline SVG charts (no external assets).

use std::fmt::Write as _;

use serde::Serialize;

/// p50/p95/p99 of a sample.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Participants that never got one.
    pub missing: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Percentiles {
    /// Percentiles of `values` (sorted in place).
    pub fn of(values: &mut [f64], missing: usize) -> Self {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if values.is_empty() {
                0.0
            } else {
                values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1]
            }
        };
        Self {
            count: values.len(),
            missing,
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
        }
    }
}

/// Figures of one kind of slot (stage, tiles, audio) over all subscribers.
#[derive(Debug, Clone, Serialize)]
pub struct SlotKindFigures {
    /// `stage`, `tiles` or `audio`.
    pub kind: String,
    /// Packets received.
    pub packets: u64,
    /// Packets missing in the sequence.
    pub lost: u64,
    /// Loss in percent.
    pub loss_pct: f64,
    /// One-way latency through the server, median.
    pub latency_p50_ms: f64,
    /// One-way latency, 99th percentile.
    pub latency_p99_ms: f64,
}

/// One second of the measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the measurement started.
    pub t: f64,
    /// Forwarded packets per second.
    pub forwarded_pps: f64,
    /// Server CPU, percent of one core.
    pub server_cpu_pct: f64,
    /// Server RSS.
    pub server_rss_mib: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Participants attempted.
    pub participants: usize,
    /// Participants joined and connected.
    pub joined: usize,
    /// Joined share.
    pub join_success_pct: f64,
    /// Distinct join errors.
    pub join_errors: Vec<String>,
    /// From starting to join until the first stage packet (a keyframe), ms.
    pub first_stage_frame_ms: Percentiles,
    /// Per slot kind.
    pub slots: Vec<SlotKindFigures>,
    /// Length of the measurement window.
    pub measured_secs: f64,
    /// Server: forwarded packets per second.
    pub forwarded_pps: f64,
    /// Server: forwarded payload Mbit/s.
    pub forwarded_mbps: f64,
    /// Server: received packets per second.
    pub received_pps: f64,
    /// Server CPU, percent of one core.
    pub server_cpu_pct: Option<f64>,
    /// Server CPU per forwarded packet, µs.
    pub server_cpu_us_per_forwarded_packet: Option<f64>,
    /// Server resident memory at the end.
    pub server_rss_mib: Option<f64>,
    /// RSS growth per joined participant.
    pub server_rss_per_participant_mib: Option<f64>,
    /// The load tester's own CPU (percent of one core): near 200 % means it saturated the box.
    pub loadtester_cpu_pct: f64,
    /// Per-second samples.
    pub series: Vec<Sample>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "n/a".into())
}

impl Report {
    /// Overall loss in percent.
    pub fn loss_pct(&self) -> f64 {
        let lost: u64 = self.slots.iter().map(|s| s.lost).sum();
        let all: u64 = self.slots.iter().map(|s| s.lost + s.packets).sum();
        if all == 0 {
            0.0
        } else {
            lost as f64 * 100.0 / all as f64
        }
    }

    /// The rows of the summary table.
    fn rows(&self) -> Vec<(String, String)> {
        let f = &self.first_stage_frame_ms;
        let mut rows = vec![
            ("scenario".into(), self.scenario.clone()),
            (
                "joins".into(),
                format!(
                    "{}/{} ({:.1} %)",
                    self.joined, self.participants, self.join_success_pct
                ),
            ),
            (
                "first stage frame p50/p95/p99".into(),
                format!(
                    "{:.0} / {:.0} / {:.0} ms ({} missing)",
                    f.p50, f.p95, f.p99, f.missing
                ),
            ),
        ];
        for s in &self.slots {
            rows.push((
                format!("{} loss, latency p50/p99", s.kind),
                format!(
                    "{:.3} % of {} pkts, {:.2} / {:.2} ms",
                    s.loss_pct, s.packets, s.latency_p50_ms, s.latency_p99_ms
                ),
            ));
        }
        rows.extend([
            (
                "forwarded".into(),
                format!(
                    "{:.0} pkt/s, {:.1} Mbit/s",
                    self.forwarded_pps, self.forwarded_mbps
                ),
            ),
            ("received".into(), format!("{:.0} pkt/s", self.received_pps)),
            (
                "server CPU".into(),
                format!("{} % of one core", opt(self.server_cpu_pct, 1)),
            ),
            (
                "server CPU per forwarded packet".into(),
                format!("{} µs", opt(self.server_cpu_us_per_forwarded_packet, 2)),
            ),
            (
                "server RSS (per participant)".into(),
                format!(
                    "{} MiB ({} MiB)",
                    opt(self.server_rss_mib, 1),
                    opt(self.server_rss_per_participant_mib, 3)
                ),
            ),
            (
                "load tester CPU".into(),
                format!("{:.0} % of one core", self.loadtester_cpu_pct),
            ),
        ]);
        rows
    }

    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "{k:<w$}  {v}");
        }
        for e in &self.join_errors {
            let _ = writeln!(out, "join error: {e}");
        }
        out
    }

    /// One self-contained HTML page.
    pub fn html(&self) -> String {
        let mut table = String::new();
        for (k, v) in self.rows() {
            let _ = write!(table, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&v));
        }
        let pps: Vec<(f64, f64)> = self.series.iter().map(|s| (s.t, s.forwarded_pps)).collect();
        let cpu: Vec<(f64, f64)> = self
            .series
            .iter()
            .map(|s| (s.t, s.server_cpu_pct))
            .collect();
        let rss: Vec<(f64, f64)> = self
            .series
            .iter()
            .map(|s| (s.t, s.server_rss_mib))
            .collect();
        let lat: Vec<(String, f64, f64)> = self
            .slots
            .iter()
            .map(|s| (s.kind.clone(), s.latency_p50_ms, s.latency_p99_ms))
            .collect();
        format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Plenum load test: {name}</title>\
             <style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}\
             th,td{{text-align:left;padding:.3em .8em;border-bottom:1px solid #ddd}}svg{{margin:1em 0;background:#fafafa}}\
             h2{{font-size:1.1em;margin-top:2em}}</style>\
             <h1>Plenum load test: {name}</h1><table>{table}</table>\
             <h2>Forwarded packets per second</h2>{c1}<h2>Server CPU (% of one core)</h2>{c2}\
             <h2>Server RSS (MiB)</h2>{c3}<h2>One-way latency through the server (ms, p50 / p99)</h2>{c4}</html>",
            name = esc(&self.scenario),
            c1 = line_chart(&pps, "#1f6feb"),
            c2 = line_chart(&cpu, "#d1242f"),
            c3 = line_chart(&rss, "#1a7f37"),
            c4 = bar_chart(&lat),
        )
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn line_chart(points: &[(f64, f64)], color: &str) -> String {
    let (w, h, pad) = (640.0, 200.0, 40.0);
    let max_x = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_y = points.iter().map(|p| p.1).fold(1e-9, f64::max) * 1.1;
    let path: Vec<String> = points
        .iter()
        .map(|(x, y)| {
            format!(
                "{:.1},{:.1}",
                pad + x / max_x * (w - 2.0 * pad),
                h - pad - y / max_y * (h - 2.0 * pad)
            )
        })
        .collect();
    format!(
        "<svg width=\"{w}\" height=\"{h}\" role=\"img\"><line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\
         <line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{b}\" stroke=\"#999\"/>\
         <text x=\"4\" y=\"{t}\" font-size=\"11\">{max_y:.0}</text><text x=\"{r}\" y=\"{lb}\" font-size=\"11\" text-anchor=\"end\">{max_x:.0} s</text>\
         <polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{pts}\"/></svg>",
        b = h - pad,
        r = w - pad,
        t = pad + 4.0,
        lb = h - pad + 16.0,
        pts = path.join(" "),
    )
}

fn bar_chart(bars: &[(String, f64, f64)]) -> String {
    let (w, h, pad) = (640.0, 200.0, 40.0);
    let max = bars.iter().map(|b| b.2).fold(1e-9, f64::max) * 1.1;
    let slot = (w - 2.0 * pad) / bars.len().max(1) as f64;
    let mut out = format!("<svg width=\"{w}\" height=\"{h}\" role=\"img\">");
    for (i, (name, p50, p99)) in bars.iter().enumerate() {
        let x = pad + i as f64 * slot;
        for (j, (v, color)) in [(*p50, "#1f6feb"), (*p99, "#d1242f")].iter().enumerate() {
            let bh = v / max * (h - 2.0 * pad);
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{v:.2}</text>",
                x + 10.0 + j as f64 * slot * 0.4,
                h - pad - bh,
                slot * 0.35,
                x + 10.0 + j as f64 * slot * 0.4,
                h - pad - bh - 4.0,
            );
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            x + 10.0,
            h - pad + 16.0,
            esc(name)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&mut v, 2);
        assert_eq!(
            (p.p50, p.p95, p.p99, p.count, p.missing),
            (50.0, 95.0, 99.0, 100, 2)
        );
        assert_eq!(Percentiles::of(&mut [], 0).p99, 0.0);
    }

    #[test]
    fn html_is_self_contained() {
        let r = Report {
            scenario: "x<y".into(),
            participants: 1,
            joined: 1,
            join_success_pct: 100.0,
            join_errors: vec![],
            first_stage_frame_ms: Percentiles::default(),
            slots: vec![],
            measured_secs: 1.0,
            forwarded_pps: 1.0,
            forwarded_mbps: 1.0,
            received_pps: 1.0,
            server_cpu_pct: None,
            server_cpu_us_per_forwarded_packet: None,
            server_rss_mib: None,
            server_rss_per_participant_mib: None,
            loadtester_cpu_pct: 0.0,
            series: vec![Sample {
                t: 1.0,
                forwarded_pps: 5.0,
                server_cpu_pct: 3.0,
                server_rss_mib: 10.0,
            }],
        };
        let html = r.html();
        assert!(html.contains("x&lt;y") && html.contains("<svg"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}

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
    /// `p50 / p95 / p99 ms (N missing)`, as the report prints a join's first stage frame.
    fn ms_and_missing(&self) -> String {
        format!(
            "{:.0} / {:.0} / {:.0} ms ({} missing)",
            self.p50, self.p95, self.p99, self.missing
        )
    }

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
    /// Median latency of the packets received in the measurement window (the figures above
    /// count every packet since each participant joined, the ramp-up included).
    pub window_latency_p50_ms: f64,
    /// 99th percentile latency in the measurement window.
    pub window_latency_p99_ms: f64,
    /// Video: the share (percent) of the packets received in the measurement window that
    /// followed a keyframe of each width, ascending: the layers the slots got.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub window_widths_pct: Vec<(u16, f64)>,
}

/// Participants behind a simulated slow downlink (a scenario group's `downlink_kbps`),
/// reported apart: their link drops what does not fit, the others' must not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlowLinkFigures {
    /// Joined participants behind a slow link.
    pub participants: usize,
    /// The downlinks simulated, kbit/s (distinct, ascending).
    pub downlink_kbps: Vec<u32>,
    /// Their joins' first stage frame, ms.
    pub first_stage_frame_ms: Percentiles,
    /// What they received, per slot kind.
    pub slots: Vec<SlotKindFigures>,
}

impl SlowLinkFigures {
    fn rows(&self) -> Vec<(String, String)> {
        let kbps: Vec<String> = self.downlink_kbps.iter().map(u32::to_string).collect();
        let mut rows = vec![
            (
                "slow links".into(),
                format!(
                    "{} participants, downlink {} kbit/s (figures above without them)",
                    self.participants,
                    kbps.join(" / ")
                ),
            ),
            (
                "  first stage frame p50/p95/p99".into(),
                self.first_stage_frame_ms.ms_and_missing(),
            ),
        ];
        rows.extend(slot_rows(&self.slots, "  "));
        rows
    }
}

/// Two rows per slot kind: loss and latency since joining, latency in the window.
fn slot_rows(slots: &[SlotKindFigures], indent: &str) -> Vec<(String, String)> {
    slots
        .iter()
        .flat_map(|s| {
            [
                (
                    format!("{indent}{} loss, latency p50/p99", s.kind),
                    format!(
                        "{:.3} % of {} pkts, {:.2} / {:.2} ms",
                        s.loss_pct, s.packets, s.latency_p50_ms, s.latency_p99_ms
                    ),
                ),
                (
                    format!("{indent}{} latency in window p50/p99", s.kind),
                    format!(
                        "{:.2} / {:.2} ms",
                        s.window_latency_p50_ms, s.window_latency_p99_ms
                    ),
                ),
            ]
            .into_iter()
            .chain((!s.window_widths_pct.is_empty()).then(|| {
                let widths: Vec<String> = s
                    .window_widths_pct
                    .iter()
                    .map(|(w, pct)| format!("{w}: {pct:.1} %"))
                    .collect();
                (
                    format!("{indent}{} widths in window", s.kind),
                    widths.join(", "),
                )
            }))
        })
        .collect()
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
    /// Its first part: from starting to join until ICE and DTLS completed, ms.
    pub connected_ms: Percentiles,
    /// Its second part: from then until the first stage packet, ms.
    pub stage_frame_after_connect_ms: Percentiles,
    /// Per slot kind (participants behind a simulated slow link left out: `slow_links`).
    pub slots: Vec<SlotKindFigures>,
    /// Participants behind a simulated slow downlink, if the scenario has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_links: Option<SlowLinkFigures>,
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
    /// An origin with edges: what each node did and the latency a cascade hop adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cascade: Option<CascadeFigures>,
}

/// One node of a cascade during the measurement window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeFigures {
    /// `origin`, `edge-a`, ….
    pub node: String,
    /// The load tester's WHEP viewers watching there.
    pub viewers: usize,
    /// RTP packets in per second (at an edge: what arrived from the origin).
    pub received_pps: f64,
    /// RTP packets relayed to edges per second (`plenum_media_rtp_relayed_total`; one per
    /// packet and edge).
    pub relayed_pps: f64,
    /// RTP packets forwarded to viewers and participants per second
    /// (`plenum_media_rtp_forwarded_total`).
    pub forwarded_pps: f64,
    /// Process CPU, percent of one core.
    pub cpu_pct: Option<f64>,
    /// Process CPU per relayed packet, µs (all of the process's CPU, whatever it did).
    pub cpu_us_per_relayed_packet: Option<f64>,
    /// Process CPU per forwarded packet, µs (all of the process's CPU).
    pub cpu_us_per_forwarded_packet: Option<f64>,
    /// Process CPU per packet sent either way (relayed + forwarded), µs.
    pub cpu_us_per_sent_packet: Option<f64>,
    /// Resident memory at the end.
    pub rss_mib: Option<f64>,
}

/// One-way latency of one slot kind at one kind of viewer, over the measurement window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyFigures {
    /// Viewers counted.
    pub viewers: usize,
    /// Packets with a send timestamp in the window.
    pub packets: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

impl LatencyFigures {
    /// The figures of a histogram of µs.
    pub fn of(viewers: usize, h: &hdrhistogram::Histogram<u64>) -> Self {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self {
            viewers,
            packets: h.len(),
            p50_ms: ms(0.5),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: h.max() as f64 / 1000.0,
        }
    }

    /// What `self` (behind one more hop) adds to `direct`, percentile by percentile.
    pub fn added_to(&self, direct: &LatencyFigures) -> HopFigures {
        HopFigures {
            p50_ms: self.p50_ms - direct.p50_ms,
            p95_ms: self.p95_ms - direct.p95_ms,
            p99_ms: self.p99_ms - direct.p99_ms,
        }
    }
}

/// Latency one cascade hop adds: edge viewers' percentiles minus those of viewers at the
/// origin in the same run (a difference of percentiles, not a percentile of per-packet
/// differences).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HopFigures {
    /// ms.
    pub p50_ms: f64,
    /// ms.
    pub p95_ms: f64,
    /// ms.
    pub p99_ms: f64,
}

/// A cascade's figures (`edges > 0` in the scenario).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CascadeFigures {
    /// The origin (the server of the main figures).
    pub origin: NodeFigures,
    /// The edges.
    pub edges: Vec<NodeFigures>,
    /// Stage latency at viewers placed on edges.
    pub stage_at_edges: LatencyFigures,
    /// Stage latency at WHEP viewers at the origin.
    pub stage_at_origin: LatencyFigures,
    /// What the hop adds to the stage: percentiles at the edges minus at the origin.
    pub stage_hop: HopFigures,
    /// What the hop adds to the stage, frame by frame (ms): an edge viewer's latency of a
    /// frame minus the median latency of the same frame at the origin's viewers.
    pub stage_hop_per_frame: Percentiles,
    /// The same for keyframes only (every 3 s; a 720p keyframe is dozens of packets).
    pub stage_hop_keyframes: Percentiles,
    /// The same for the other frames.
    pub stage_hop_other_frames: Percentiles,
    /// What the hop adds to the arrival of a frame's *first* packet, frame by frame (ms): when
    /// the frame reaches the viewer at all. The last packet (above) adds the spread of the
    /// frame's packets, which each viewer's own pacer decides at its bandwidth estimate — at
    /// the origin as at an edge (docs/perf.md, *Cascade*).
    pub stage_hop_frame_start: Percentiles,
    /// The same for keyframes only.
    pub stage_hop_keyframe_start: Percentiles,
    /// The control for the keyframes' last packets: the origin's own viewers against their
    /// median, frame by frame (ms) — how far the viewers' pacing alone spreads them, with no
    /// hop in between.
    pub stage_keyframes_origin_spread: Percentiles,
    /// The same control for the frames' first packets, all frames.
    pub stage_frame_start_origin_spread: Percentiles,
    /// Audio latency at viewers placed on edges.
    pub audio_at_edges: LatencyFigures,
    /// Audio latency at WHEP viewers at the origin.
    pub audio_at_origin: LatencyFigures,
    /// What the hop adds to the audio: percentiles at the edges minus at the origin.
    pub audio_hop: HopFigures,
    /// What the hop adds to the audio, packet by packet (ms), as for the stage.
    pub audio_hop_per_frame: Percentiles,
    /// Stage width (last keyframe) → viewers, at the edges.
    pub stage_widths_at_edges: Vec<(u16, usize)>,
    /// Stage width (last keyframe) → viewers, at the origin.
    pub stage_widths_at_origin: Vec<(u16, usize)>,
}

impl CascadeFigures {
    fn rows(&self) -> Vec<(String, String)> {
        let node = |n: &NodeFigures| {
            format!(
                "{} viewers; in {:.0} pkt/s, relayed {:.0} pkt/s, forwarded {:.0} pkt/s; CPU {} %; \
                 µs per relayed {}, per forwarded {}, per sent {}; RSS {} MiB",
                n.viewers,
                n.received_pps,
                n.relayed_pps,
                n.forwarded_pps,
                opt(n.cpu_pct, 1),
                opt(n.cpu_us_per_relayed_packet, 2),
                opt(n.cpu_us_per_forwarded_packet, 2),
                opt(n.cpu_us_per_sent_packet, 2),
                opt(n.rss_mib, 1),
            )
        };
        let lat = |l: &LatencyFigures| {
            format!(
                "{:.2} / {:.2} / {:.2} ms (max {:.1}; {} viewers, {} pkts)",
                l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.viewers, l.packets
            )
        };
        // Without viewers on both sides there is nothing to compare.
        let compared = self.stage_at_origin.viewers > 0 && self.stage_at_edges.viewers > 0;
        let hop = |h: &HopFigures| {
            if !compared {
                return "n/a (no WHEP viewers at the origin or at the edges)".to_owned();
            }
            format!("{:+.2} / {:+.2} / {:+.2} ms", h.p50_ms, h.p95_ms, h.p99_ms)
        };
        let per_frame = |p: &Percentiles| {
            if !compared {
                return "n/a".to_owned();
            }
            format!(
                "{:+.2} / {:+.2} / {:+.2} ms ({} frames, {} not at the origin's viewers)",
                p.p50, p.p95, p.p99, p.count, p.missing
            )
        };
        let widths = |w: &[(u16, usize)]| {
            w.iter()
                .map(|(w, n)| format!("{w} px: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut rows = vec![(format!("node {}", self.origin.node), node(&self.origin))];
        for e in &self.edges {
            rows.push((format!("node {}", e.node), node(e)));
        }
        rows.extend([
            (
                "stage at edges p50/p95/p99".into(),
                lat(&self.stage_at_edges),
            ),
            (
                "stage at origin p50/p95/p99".into(),
                lat(&self.stage_at_origin),
            ),
            ("stage: hop adds".into(), hop(&self.stage_hop)),
            (
                "stage: hop adds, per frame".into(),
                per_frame(&self.stage_hop_per_frame),
            ),
            (
                "  keyframes / other frames".into(),
                format!(
                    "{} / {}",
                    per_frame(&self.stage_hop_keyframes),
                    per_frame(&self.stage_hop_other_frames)
                ),
            ),
            (
                "stage: hop adds, frame start".into(),
                per_frame(&self.stage_hop_frame_start),
            ),
            (
                "  keyframes".into(),
                per_frame(&self.stage_hop_keyframe_start),
            ),
            (
                "control: origin viewers vs their median, frame start".into(),
                per_frame(&self.stage_frame_start_origin_spread),
            ),
            (
                "  keyframes' last packets".into(),
                per_frame(&self.stage_keyframes_origin_spread),
            ),
            (
                "audio at edges p50/p95/p99".into(),
                lat(&self.audio_at_edges),
            ),
            (
                "audio at origin p50/p95/p99".into(),
                lat(&self.audio_at_origin),
            ),
            ("audio: hop adds".into(), hop(&self.audio_hop)),
            (
                "audio: hop adds, per packet".into(),
                per_frame(&self.audio_hop_per_frame),
            ),
            (
                "stage widths at edges / origin".into(),
                format!(
                    "{} / {}",
                    widths(&self.stage_widths_at_edges),
                    widths(&self.stage_widths_at_origin)
                ),
            ),
        ]);
        rows
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "n/a".into())
}

impl Report {
    /// Overall loss in percent (participants behind a simulated slow link left out: their
    /// link drops what does not fit).
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
                self.first_stage_frame_ms.ms_and_missing(),
            ),
            (
                "  of which connecting".into(),
                format!(
                    "{:.0} / {:.0} / {:.0} ms",
                    self.connected_ms.p50, self.connected_ms.p95, self.connected_ms.p99
                ),
            ),
            (
                "  then to the stage frame".into(),
                format!(
                    "{:.0} / {:.0} / {:.0} ms",
                    self.stage_frame_after_connect_ms.p50,
                    self.stage_frame_after_connect_ms.p95,
                    self.stage_frame_after_connect_ms.p99
                ),
            ),
        ];
        rows.extend(slot_rows(&self.slots, ""));
        if let Some(slow) = &self.slow_links {
            rows.extend(slow.rows());
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
        if let Some(c) = &self.cascade {
            rows.extend(c.rows());
        }
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
            connected_ms: Percentiles::default(),
            stage_frame_after_connect_ms: Percentiles::default(),
            slots: vec![],
            slow_links: Some(SlowLinkFigures {
                participants: 2,
                downlink_kbps: vec![900],
                first_stage_frame_ms: Percentiles::default(),
                slots: vec![SlotKindFigures {
                    kind: "stage".into(),
                    packets: 10,
                    lost: 0,
                    loss_pct: 0.0,
                    latency_p50_ms: 1.0,
                    latency_p99_ms: 2.0,
                    window_latency_p50_ms: 1.0,
                    window_latency_p99_ms: 2.0,
                    window_widths_pct: vec![(320, 25.0), (1280, 75.0)],
                }],
            }),
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
            cascade: Some(CascadeFigures {
                origin: NodeFigures {
                    node: "origin".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
        };
        let html = r.html();
        assert!(html.contains("x&lt;y") && html.contains("<svg"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("node origin") && html.contains("stage: hop adds"));
        assert!(html.contains("2 participants, downlink 900 kbit/s"));
        assert!(html.contains("  stage loss, latency p50/p99"));
        assert!(
            html.contains("  stage widths in window") && html.contains("320: 25.0 %, 1280: 75.0 %")
        );
    }

    #[test]
    fn the_hop_is_the_difference_of_percentiles() {
        let mut direct = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        let mut edge = direct.clone();
        for us in 1..=1000u64 {
            direct.record(us * 10).unwrap(); // 0.01 … 10 ms
            edge.record(us * 10 + 2000).unwrap(); // 2 ms later
        }
        let (d, e) = (
            LatencyFigures::of(4, &direct),
            LatencyFigures::of(100, &edge),
        );
        assert_eq!((d.viewers, d.packets), (4, 1000));
        let hop = e.added_to(&d);
        for v in [hop.p50_ms, hop.p95_ms, hop.p99_ms] {
            assert!((v - 2.0).abs() < 0.02, "{hop:?}");
        }
    }
}

//! Runs a scenario: ramps participants up, rotates the speaker, samples the server, and
//! turns everything into a [`Report`].

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cascade::{NodeInfo, placement};
use crate::participant::{FrameLatency, Latency, Participant, ParticipantConfig, SlotStats};
use crate::report::{
    CascadeFigures, LatencyFigures, NodeFigures, Percentiles, Report, Sample, SlotKindFigures,
    SlowLinkFigures,
};
use crate::scenario::{Scenario, TalkMode, Via, WatchAt};
use crate::server::{Counters, ProcSample, proc_sample, scrape};
use crate::synth::Talk;
use crate::whip::{HttpSession, whep_view};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// What to run.
    pub scenario: Scenario,
    /// The server's `https://host:port`.
    pub base_url: String,
    /// The certificate to trust.
    pub ca_pem: Vec<u8>,
    /// The server's `/metrics` bearer token (its `data/metrics.token`).
    pub metrics_token: String,
    /// Invite tokens, one list per scenario group.
    pub tokens: Vec<Vec<String>>,
    /// The server's pid, for CPU and memory.
    pub server_pid: Option<u32>,
    /// Local address of the synthetic participants.
    pub bind_ip: IpAddr,
    /// Show a progress bar.
    pub progress: bool,
    /// The room (the invites' room): WHEP viewers watch `/whep/{room}`.
    pub room: String,
    /// Edge nodes of the server (which is then their origin): sampled like the server, and
    /// where placement may send WHEP viewers. Empty: no cascade.
    pub edges: Vec<NodeInfo>,
}

impl RunOptions {
    /// The server as a node (`origin`).
    fn origin(&self) -> NodeInfo {
        NodeInfo {
            name: crate::cascade::ORIGIN.to_owned(),
            url: self.base_url.clone(),
            ca_pem: self.ca_pem.clone(),
            metrics_token: self.metrics_token.clone(),
            pid: self.server_pid,
        }
    }
}

/// A synthetic client of the run.
#[derive(Debug)]
enum Client {
    /// A participant of the full protocol.
    Ws(Participant),
    /// A WHEP viewer at `node`.
    Whep {
        session: Box<HttpSession>,
        node: String,
    },
}

impl Client {
    fn all_stats(&self) -> Vec<SlotStats> {
        match self {
            Client::Ws(p) => p.all_stats(),
            Client::Whep { session, .. } => session.media.all_stats(),
        }
    }

    fn connected_at(&self) -> Option<Instant> {
        match self {
            Client::Ws(p) => p.connected_at(),
            Client::Whep { session, .. } => session.media.connected_at(),
        }
    }

    /// The node a WHEP viewer watches at.
    fn whep_node(&self) -> Option<&str> {
        match self {
            Client::Ws(_) => None,
            Client::Whep { node, .. } => Some(node),
        }
    }

    async fn stop(self) {
        match self {
            Client::Ws(p) => p.stop().await,
            Client::Whep { session, .. } => {
                let _ = tokio::time::timeout(Duration::from_secs(2), session.delete()).await;
                session.media.stop().await;
            }
        }
    }
}

struct Joined {
    participant: Option<Client>,
    error: Option<String>,
    started: Instant,
    expects_stage: bool,
    /// A WHEP viewer sent to wherever placement said (else at the origin).
    placed: bool,
    /// Behind a simulated slow downlink of this many kbit/s (reported apart).
    downlink_kbps: Option<u32>,
}

/// Join one WHEP viewer: at the origin, or (`placed`) where the origin's placement sends it.
async fn join_whep(
    mut cfg: ParticipantConfig,
    room: &str,
    placed: bool,
    origin: &NodeInfo,
    nodes: &[NodeInfo],
) -> Result<Client, String> {
    let node = if placed {
        let place = placement(&origin.url, &origin.ca_pem, room, &cfg.token).await?;
        nodes
            .iter()
            .chain(std::iter::once(origin))
            .find(|n| n.name == place.node)
            .ok_or_else(|| {
                format!(
                    "placement sent the viewer to an unknown node {} ({})",
                    place.node, place.base_url
                )
            })?
    } else {
        origin
    };
    cfg.base_url = node.url.clone();
    cfg.origin = node.url.clone();
    cfg.ca_pem = Some(node.ca_pem.clone());
    let mut session = whep_view(&cfg, room).await.map_err(|e| e.to_string())?;
    if !session.media.wait_connected(Duration::from_secs(20)).await {
        session.media.stop().await;
        return Err(format!(
            "WHEP at {}: ICE/DTLS did not connect within 20 s",
            node.name
        ));
    }
    Ok(Client::Whep {
        session: Box::new(session),
        node: node.name.clone(),
    })
}

/// Run the scenario against the server.
pub async fn run(opts: RunOptions) -> Report {
    let sc = &opts.scenario;
    let total = sc.participants();
    let turn = Arc::new(AtomicUsize::new(0));
    let bar = if opts.progress {
        ProgressBar::new(total as u64 + sc.duration_secs)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:<28} [{bar:40}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("{}: joining", sc.name));

    let rss_before = opts.server_pid.and_then(proc_sample).unwrap_or_default();
    let ramp_step = Duration::from_secs(sc.ramp_up_secs)
        .checked_div(total.max(1) as u32)
        .unwrap_or_default();
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut n = 0usize;
    let mut turn_count = 0usize;
    let mut mode_set = false;
    let nodes = Arc::new((opts.origin(), opts.edges.clone()));
    for (gi, group) in sc.groups.iter().enumerate() {
        for i in 0..group.count {
            let Some(token) = opts.tokens.get(gi).and_then(|t| t.get(i)).cloned() else {
                continue;
            };
            let mut cfg = ParticipantConfig::new(&opts.base_url, &token);
            cfg.ca_pem = Some(opts.ca_pem.clone());
            cfg.bind_ip = opts.bind_ip;
            cfg.publish_audio = group.audio;
            cfg.layers = group.layers.iter().map(|l| l.spec()).collect();
            cfg.seed = n as u64 + 1;
            cfg.pin_stage = group.pin_stage && i == 0;
            if !mode_set && matches!(group.role.as_str(), "moderator" | "admin") {
                cfg.set_mode = sc.room_mode.map(|m| m.as_str());
                mode_set = true;
            }
            cfg.talk = match group.talk {
                TalkMode::Always => Talk::Always,
                TalkMode::Bursts => Talk::Bursts,
                TalkMode::Silent => Talk::Silent,
                TalkMode::Turns => {
                    turn_count += 1;
                    Talk::Turns {
                        current: turn.clone(),
                        mine: turn_count - 1,
                    }
                }
            };
            // Frame by frame, edge viewers are compared with those at the origin.
            cfg.record_frame_latencies = group.via == Via::Whep && !opts.edges.is_empty();
            let downlink_kbps = group.downlink_kbps;
            cfg.downlink_bps = downlink_kbps.map(|k| u64::from(k) * 1000);
            let expects_stage = !group.pin_stage;
            let via = group.via;
            let placed = group.at == WatchAt::Placement;
            let room = opts.room.clone();
            let nodes = nodes.clone();
            let at = start + ramp_step * n as u32;
            let bar = bar.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                let started = Instant::now();
                let result = match via {
                    Via::Ws => {
                        let joined =
                            tokio::time::timeout(Duration::from_secs(30), Participant::join(cfg))
                                .await;
                        match joined {
                            Ok(Ok(mut p)) => {
                                if p.wait_connected(Duration::from_secs(20)).await {
                                    Ok(Client::Ws(p))
                                } else {
                                    Err("ICE/DTLS did not connect within 20 s".to_owned())
                                }
                            }
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(_) => Err("join timed out".to_owned()),
                        }
                    }
                    Via::Whep => {
                        let (origin, edges) = (&nodes.0, &nodes.1);
                        tokio::time::timeout(
                            Duration::from_secs(30),
                            join_whep(cfg, &room, placed, origin, edges),
                        )
                        .await
                        .unwrap_or_else(|_| Err("WHEP join timed out".to_owned()))
                    }
                };
                bar.inc(1);
                let (participant, error) = match result {
                    Ok(p) => (Some(p), None),
                    Err(e) => (None, Some(e)),
                };
                Box::new(Joined {
                    participant,
                    error,
                    started,
                    expects_stage,
                    placed: via == Via::Whep && placed,
                    downlink_kbps,
                })
            }));
            n += 1;
        }
    }
    let mut joined = Vec::new();
    for t in tasks {
        if let Ok(j) = t.await {
            joined.push(*j);
        }
    }

    // Settle, then measure.
    bar.set_message(format!("{}: measuring", sc.name));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let self_pid = std::process::id();
    let first = sample(&opts, self_pid).await;
    let window_from = crate::synth::unix_micros();
    // Every client's statistics when the window opens: the latency figures of the window
    // are the histograms at the end minus these (the ramp-up's joins left out).
    let window_start: Vec<Vec<SlotStats>> = joined
        .iter()
        .map(|j| {
            j.participant
                .as_ref()
                .map_or_else(Vec::new, Client::all_stats)
        })
        .collect();
    let mut series = Vec::new();
    let mut last = first.clone();
    let measure_start = Instant::now();
    let turns = turn_count.max(1);
    let mut next_turn = measure_start + Duration::from_secs(sc.speaker_change_secs.max(1));
    for s in 1..=sc.duration_secs {
        tokio::time::sleep_until((measure_start + Duration::from_secs(s)).into()).await;
        if Instant::now() >= next_turn {
            let t = turn.load(Ordering::Relaxed);
            turn.store((t + 1) % turns, Ordering::Relaxed);
            next_turn += Duration::from_secs(sc.speaker_change_secs.max(1));
        }
        let now = sample(&opts, self_pid).await;
        let dt = now.at.duration_since(last.at).as_secs_f64().max(1e-3);
        series.push(Sample {
            t: s as f64,
            forwarded_pps: (now.counters.forwarded - last.counters.forwarded) / dt,
            server_cpu_pct: (now.server.cpu_secs - last.server.cpu_secs) / dt * 100.0,
            server_rss_mib: now.server.rss_bytes as f64 / 1048576.0,
        });
        last = now;
        bar.inc(1);
    }
    let end = last;
    // Frames sent in the last second may still be on their way to some viewers.
    let window_sent = window_from..crate::synth::unix_micros().saturating_sub(1_000_000);
    bar.finish_and_clear();

    let mut report = build_report(
        &opts,
        &joined,
        &window_start,
        rss_before,
        &first,
        &end,
        series,
    );
    if !opts.edges.is_empty() {
        report.cascade = Some(cascade_figures(
            &opts,
            &joined,
            &window_start,
            window_sent,
            &first,
            &end,
        ));
    }
    futures_util::future::join_all(
        joined
            .into_iter()
            .filter_map(|j| j.participant)
            .map(Client::stop),
    )
    .await;
    report
}

#[derive(Debug, Clone)]
struct Snapshot {
    at: Instant,
    counters: Counters,
    server: ProcSample,
    tester: ProcSample,
    /// Each edge's counters and process, in `opts.edges` order.
    edges: Vec<(Counters, ProcSample)>,
}

async fn sample(opts: &RunOptions, self_pid: u32) -> Snapshot {
    let counters = scrape(&opts.base_url, &opts.ca_pem, &opts.metrics_token)
        .await
        .unwrap_or_default();
    let server = opts.server_pid.and_then(proc_sample).unwrap_or_default();
    let mut edges = Vec::with_capacity(opts.edges.len());
    for e in &opts.edges {
        let c = scrape(&e.url, &e.ca_pem, &e.metrics_token)
            .await
            .unwrap_or_default();
        edges.push((c, e.pid.and_then(proc_sample).unwrap_or_default()));
    }
    Snapshot {
        at: Instant::now(),
        counters,
        server,
        tester: proc_sample(self_pid).unwrap_or_default(),
        edges,
    }
}

/// One node's figures between two snapshots of it.
fn node_figures(
    name: &str,
    viewers: usize,
    have_pid: bool,
    secs: f64,
    (c0, p0): (&Counters, &ProcSample),
    (c1, p1): (&Counters, &ProcSample),
) -> NodeFigures {
    let relayed = c1.relayed - c0.relayed;
    let forwarded = c1.forwarded - c0.forwarded;
    let cpu = p1.cpu_secs - p0.cpu_secs;
    let per = |packets: f64| (have_pid && packets > 0.0).then(|| cpu * 1e6 / packets);
    NodeFigures {
        node: name.to_owned(),
        viewers,
        received_pps: (c1.received - c0.received) / secs,
        relayed_pps: relayed / secs,
        forwarded_pps: forwarded / secs,
        cpu_pct: have_pid.then_some(cpu / secs * 100.0),
        cpu_us_per_relayed_packet: per(relayed),
        cpu_us_per_forwarded_packet: per(forwarded),
        cpu_us_per_sent_packet: per(relayed + forwarded),
        rss_mib: have_pid.then_some(p1.rss_bytes as f64 / 1048576.0),
    }
}

/// Latency histograms of one slot over the window: at the end minus at the start.
#[derive(Default)]
struct WindowLatency {
    viewers: usize,
    hist: Latency,
}

impl WindowLatency {
    /// Add one slot's window: `end` minus that slot in the client's snapshot at the start.
    fn add(&mut self, end: &SlotStats, start: Option<&[SlotStats]>) {
        let mut h = end.latency_us.0.clone();
        if let Some(s) = start.and_then(|v| v.iter().find(|b| b.slot == end.slot)) {
            // Counts only grow: the start is contained in the end.
            let _ = h.subtract(&s.latency_us.0);
        }
        if h.is_empty() {
            return;
        }
        self.viewers += 1;
        let _ = self.hist.0.add(&h);
    }
}

/// What one hop adds frame by frame: for each frame (by its send timestamp) the edge
/// viewers' latency minus the median latency of the viewers at the origin for that same frame
/// (ms; frames that some side did not get are left out). `latency` picks which: the frame's
/// first packet or its last. All frames, keyframes only, the other frames only.
fn hop_per_frame(
    at_origin: &[Vec<FrameLatency>],
    at_edges: &[Vec<FrameLatency>],
    latency: fn(&FrameLatency) -> u64,
) -> [Percentiles; 3] {
    let mut by_frame: std::collections::HashMap<u64, Vec<u64>> = Default::default();
    for f in at_origin.iter().flatten() {
        by_frame.entry(f.sent).or_default().push(latency(f));
    }
    let reference: std::collections::HashMap<u64, u64> = by_frame
        .into_iter()
        .map(|(sent, mut l)| {
            l.sort_unstable();
            (sent, l[(l.len() - 1) / 2])
        })
        .collect();
    let (mut all, mut key, mut delta) = (Vec::new(), Vec::new(), Vec::new());
    let (mut missing, mut missing_key) = (0, 0);
    for f in at_edges.iter().flatten() {
        let Some(r) = reference.get(&f.sent) else {
            missing += 1;
            missing_key += usize::from(f.keyframe);
            continue;
        };
        let added = (latency(f) as f64 - *r as f64) / 1000.0;
        all.push(added);
        if f.keyframe {
            key.push(added);
        } else {
            delta.push(added);
        }
    }
    [
        Percentiles::of(&mut all, missing),
        Percentiles::of(&mut key, missing_key),
        Percentiles::of(&mut delta, missing - missing_key),
    ]
}

/// The cascade's figures: each node's CPU per packet, and the stage and audio latency at
/// viewers placed on edges versus WHEP viewers at the origin, both over the measurement
/// window only.
fn cascade_figures(
    opts: &RunOptions,
    joined: &[Joined],
    window_start: &[Vec<SlotStats>],
    window_sent: std::ops::Range<u64>,
    first: &Snapshot,
    end: &Snapshot,
) -> CascadeFigures {
    let secs = end.at.duration_since(first.at).as_secs_f64().max(1e-3);
    let viewers_at = |node: &str| {
        joined
            .iter()
            .filter_map(|j| j.participant.as_ref()?.whep_node())
            .filter(|n| *n == node)
            .count()
    };
    let origin_name = crate::cascade::ORIGIN;
    let origin = node_figures(
        origin_name,
        viewers_at(origin_name),
        opts.server_pid.is_some(),
        secs,
        (&first.counters, &first.server),
        (&end.counters, &end.server),
    );
    let edges = opts
        .edges
        .iter()
        .zip(first.edges.iter().zip(&end.edges))
        .map(|(e, ((c0, p0), (c1, p1)))| {
            node_figures(
                &e.name,
                viewers_at(&e.name),
                e.pid.is_some(),
                secs,
                (c0, p0),
                (c1, p1),
            )
        })
        .collect();

    // [stage, audio] × [at edges, at the origin]
    let mut lat: [[WindowLatency; 2]; 2] = Default::default();
    let mut widths: [std::collections::BTreeMap<u16, usize>; 2] = Default::default();
    for (i, j) in joined.iter().enumerate() {
        let Some(client) = &j.participant else {
            continue;
        };
        let Some(node) = client.whep_node() else {
            continue;
        };
        let at = usize::from(node == origin_name);
        if at == 1 && j.placed {
            // Placed on the origin (no edge had room): neither kind of viewer.
            continue;
        }
        let start = window_start.get(i).map(Vec::as_slice);
        for s in client.all_stats() {
            let kind = usize::from(s.slot != "stage");
            lat[kind][at].add(&s, start);
            if kind == 0
                && let Some(w) = s.last_keyframe_width
            {
                *widths[at].entry(w).or_default() += 1;
            }
        }
    }
    let fig = |w: &WindowLatency| LatencyFigures::of(w.viewers, &w.hist.0);
    let (stage_at_edges, stage_at_origin) = (fig(&lat[0][0]), fig(&lat[0][1]));
    let (audio_at_edges, audio_at_origin) = (fig(&lat[1][0]), fig(&lat[1][1]));
    let [edge_widths, origin_widths] = widths;
    let whep = |at_origin: bool| {
        joined
            .iter()
            .filter(move |j| j.placed != at_origin)
            .filter_map(move |j| match j.participant.as_ref()? {
                Client::Whep { session, node } => {
                    (at_origin == (node == origin_name)).then_some(&session.media)
                }
                Client::Ws(_) => None,
            })
    };
    let frames = |slot: &str, at_origin: bool| -> Vec<Vec<FrameLatency>> {
        whep(at_origin)
            .map(|m| m.frame_latencies(slot, window_sent.clone()))
            .collect()
    };
    let (stage_origin, stage_edges) = (frames("stage", true), frames("stage", false));
    let [
        stage_hop_per_frame,
        stage_hop_keyframes,
        stage_hop_other_frames,
    ] = hop_per_frame(&stage_origin, &stage_edges, |f| f.last);
    let [stage_hop_frame_start, stage_hop_keyframe_start, _] =
        hop_per_frame(&stage_origin, &stage_edges, |f| f.first);
    // The controls: the origin's own viewers against their median, no hop in between.
    let [_, stage_keyframes_origin_spread, _] =
        hop_per_frame(&stage_origin, &stage_origin, |f| f.last);
    let [stage_frame_start_origin_spread, ..] =
        hop_per_frame(&stage_origin, &stage_origin, |f| f.first);
    let [audio_hop_per_frame, ..] =
        hop_per_frame(&frames("audio-0", true), &frames("audio-0", false), |f| {
            f.last
        });
    CascadeFigures {
        stage_hop_per_frame,
        stage_hop_keyframes,
        stage_hop_other_frames,
        stage_hop_frame_start,
        stage_hop_keyframe_start,
        stage_keyframes_origin_spread,
        stage_frame_start_origin_spread,
        audio_hop_per_frame,
        origin,
        edges,
        stage_hop: stage_at_edges.added_to(&stage_at_origin),
        audio_hop: audio_at_edges.added_to(&audio_at_origin),
        stage_at_edges,
        stage_at_origin,
        audio_at_edges,
        audio_at_origin,
        stage_widths_at_edges: edge_widths.into_iter().collect(),
        stage_widths_at_origin: origin_widths.into_iter().collect(),
    }
}

fn build_report(
    opts: &RunOptions,
    joined: &[Joined],
    window_start: &[Vec<SlotStats>],
    rss_before: ProcSample,
    first: &Snapshot,
    end: &Snapshot,
    series: Vec<Sample>,
) -> Report {
    let total = joined.len();
    let ok: Vec<&Joined> = joined.iter().filter(|j| j.participant.is_some()).collect();
    let mut errors: Vec<String> = joined.iter().filter_map(|j| j.error.clone()).collect();
    errors.sort();
    errors.dedup();

    let unlimited = received(joined, window_start, |j| j.downlink_kbps.is_none());
    let slow = received(joined, window_start, |j| j.downlink_kbps.is_some());
    let mut downlink_kbps: Vec<u32> = ok.iter().filter_map(|j| j.downlink_kbps).collect();
    downlink_kbps.sort_unstable();
    downlink_kbps.dedup();
    let slow_links = (!downlink_kbps.is_empty()).then(|| SlowLinkFigures {
        participants: ok.iter().filter(|j| j.downlink_kbps.is_some()).count(),
        downlink_kbps,
        first_stage_frame_ms: slow.first_stage_frame_ms,
        slots: slow.slots,
    });
    let secs = end.at.duration_since(first.at).as_secs_f64().max(1e-3);
    let forwarded = end.counters.forwarded - first.counters.forwarded;
    let cpu = end.server.cpu_secs - first.server.cpu_secs;
    let tester_cpu = end.tester.cpu_secs - first.tester.cpu_secs;
    let have_pid = opts.server_pid.is_some();
    Report {
        scenario: opts.scenario.name.clone(),
        participants: total,
        joined: ok.len(),
        join_success_pct: if total == 0 {
            0.0
        } else {
            ok.len() as f64 * 100.0 / total as f64
        },
        join_errors: errors,
        first_stage_frame_ms: unlimited.first_stage_frame_ms,
        connected_ms: unlimited.connected_ms,
        stage_frame_after_connect_ms: unlimited.stage_frame_after_connect_ms,
        slots: unlimited.slots,
        slow_links,
        measured_secs: secs,
        forwarded_pps: forwarded / secs,
        forwarded_mbps: (end.counters.forwarded_bytes - first.counters.forwarded_bytes) * 8.0
            / secs
            / 1e6,
        received_pps: (end.counters.received - first.counters.received) / secs,
        server_cpu_pct: have_pid.then_some(cpu / secs * 100.0),
        server_cpu_us_per_forwarded_packet: (have_pid && forwarded > 0.0)
            .then_some(cpu * 1e6 / forwarded),
        server_rss_mib: have_pid.then_some(end.server.rss_bytes as f64 / 1048576.0),
        server_rss_per_participant_mib: (have_pid && !ok.is_empty()).then_some(
            end.server.rss_bytes.saturating_sub(rss_before.rss_bytes) as f64
                / 1048576.0
                / ok.len() as f64,
        ),
        loadtester_cpu_pct: tester_cpu / secs * 100.0,
        series,
        cascade: None,
    }
}

/// What some of the joined participants received: per slot kind, and how their joins went.
struct Received {
    slots: Vec<SlotKindFigures>,
    first_stage_frame_ms: Percentiles,
    connected_ms: Percentiles,
    stage_frame_after_connect_ms: Percentiles,
}

/// [`Received`] over the joined participants `pick` selects.
fn received(
    joined: &[Joined],
    window_start: &[Vec<SlotStats>],
    pick: impl Fn(&Joined) -> bool,
) -> Received {
    let mut first_frame_ms = Vec::new();
    let mut connect_ms = Vec::new();
    let mut after_connect_ms = Vec::new();
    let mut missing_stage = 0;
    let mut kinds = [
        ("stage", SlotAcc::default()),
        ("tiles", SlotAcc::default()),
        ("audio", SlotAcc::default()),
    ];
    for (i, j) in joined.iter().enumerate() {
        let Some(p) = j.participant.as_ref().filter(|_| pick(j)) else {
            continue;
        };
        let connected = p.connected_at();
        if let Some(c) = connected {
            connect_ms.push(ms_between(j.started, c));
        }
        let start = window_start.get(i).map(Vec::as_slice);
        for s in p.all_stats() {
            let idx = if s.slot == "stage" {
                0
            } else if s.slot.starts_with("tile-") {
                1
            } else {
                2
            };
            let acc = &mut kinds[idx].1;
            acc.received += s.packets;
            acc.lost += s.lost();
            acc.latency.0.add(&s.latency_us.0).ok();
            acc.window.add(&s, start);
            acc.add_widths(&s, start);
            if s.slot == "stage" && j.expects_stage {
                match s.first_packet_at {
                    Some(t) => {
                        first_frame_ms.push(ms_between(j.started, t));
                        if let Some(c) = connected {
                            after_connect_ms.push(ms_between(c, t));
                        }
                    }
                    None => missing_stage += 1,
                }
            }
        }
    }
    Received {
        slots: kinds
            .into_iter()
            .map(|(name, acc)| SlotKindFigures {
                kind: name.to_owned(),
                packets: acc.received,
                lost: acc.lost,
                loss_pct: if acc.received + acc.lost == 0 {
                    0.0
                } else {
                    acc.lost as f64 * 100.0 / (acc.received + acc.lost) as f64
                },
                latency_p50_ms: acc.latency.0.value_at_quantile(0.5) as f64 / 1000.0,
                latency_p99_ms: acc.latency.0.value_at_quantile(0.99) as f64 / 1000.0,
                window_latency_p50_ms: acc.window.hist.0.value_at_quantile(0.5) as f64 / 1000.0,
                window_latency_p99_ms: acc.window.hist.0.value_at_quantile(0.99) as f64 / 1000.0,
                window_widths_pct: acc.widths_pct(),
            })
            .collect(),
        first_stage_frame_ms: Percentiles::of(&mut first_frame_ms, missing_stage),
        connected_ms: Percentiles::of(&mut connect_ms, 0),
        stage_frame_after_connect_ms: Percentiles::of(&mut after_connect_ms, missing_stage),
    }
}

#[derive(Default)]
struct SlotAcc {
    received: u64,
    lost: u64,
    latency: Latency,
    /// The measurement window only.
    window: WindowLatency,
    /// Packets per keyframe width, the measurement window only.
    widths: std::collections::BTreeMap<u16, u64>,
}

impl SlotAcc {
    /// Add one slot's packets per width in the window: `end` less the client's snapshot of
    /// that slot at the start.
    fn add_widths(&mut self, end: &SlotStats, start: Option<&[SlotStats]>) {
        let before = start
            .and_then(|v| v.iter().find(|b| b.slot == end.slot))
            .map(SlotStats::by_width)
            .unwrap_or_default();
        for (width, packets) in end.by_width() {
            let new = packets.saturating_sub(before.get(&width).copied().unwrap_or(0));
            if new > 0 {
                *self.widths.entry(width).or_default() += new;
            }
        }
    }

    /// Each width's share of the window's packets, percent.
    fn widths_pct(&self) -> Vec<(u16, f64)> {
        let total: u64 = self.widths.values().sum();
        self.widths
            .iter()
            .map(|(&w, &n)| (w, n as f64 * 100.0 / total as f64))
            .collect()
    }
}

/// Milliseconds from `from` to `to` (0 if `to` is earlier).
fn ms_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_count_the_windows_packets_per_keyframe_width() {
        let mut start = SlotStats {
            slot: "stage".into(),
            ..SlotStats::default()
        };
        // Before the window: 50 packets at 1280, 20 at 320 (the join's cut).
        start.width_runs = vec![(1280, 50), (320, 20)];
        let mut end = start.clone();
        // In it: 30 more at 320, then 100 at 1280 again.
        end.width_runs = vec![(1280, 50), (320, 50), (1280, 100)];
        assert_eq!(
            end.by_width().into_iter().collect::<Vec<_>>(),
            vec![(320, 50), (1280, 150)]
        );
        let mut acc = SlotAcc::default();
        acc.add_widths(&end, Some(std::slice::from_ref(&start)));
        // Without a snapshot (joined during the window): everything counts.
        acc.add_widths(&start, None);
        assert_eq!(acc.widths_pct(), vec![(320, 25.0), (1280, 75.0)]);
    }

    #[test]
    fn window_latency_leaves_out_what_came_before_the_window() {
        let mut start = SlotStats {
            slot: "stage".into(),
            ..SlotStats::default()
        };
        // Ten packets late during the ramp-up (500 ms), then a hundred at 10 ms.
        start.latency_us.0.record_n(500_000, 10).unwrap();
        let mut end = start.clone();
        end.latency_us.0.record_n(10_000, 100).unwrap();
        let mut window = WindowLatency::default();
        window.add(&end, Some(std::slice::from_ref(&start)));
        assert_eq!(window.viewers, 1);
        assert_eq!(window.hist.0.len(), 100);
        assert_eq!(window.hist.0.value_at_quantile(0.99) / 1000, 10);
        let mut whole = WindowLatency::default();
        whole.add(&end, None);
        assert_eq!(whole.hist.0.value_at_quantile(0.99) / 1000, 500);
    }

    #[test]
    fn the_hop_is_measured_against_the_same_frame_at_the_origin() {
        let f = |sent, first, last, keyframe| FrameLatency {
            sent,
            first,
            last,
            keyframe,
        };
        // Three viewers at the origin got frames 1 and 2 (median of the last packets 4 ms and
        // 6 ms, of the first 2 ms and 5 ms); frame 3 reached only the edges.
        // Frame 1 is a keyframe.
        let origin = vec![
            vec![f(1, 2_000, 3_000, true), f(2, 5_000, 6_000, false)],
            vec![f(1, 2_000, 4_000, true), f(2, 4_000, 5_000, false)],
            vec![f(1, 3_000, 9_000, true), f(2, 6_000, 7_000, false)],
        ];
        let edges = vec![
            vec![
                f(1, 2_500, 5_000, true),
                f(2, 6_500, 6_500, false),
                f(3, 1_000, 1_000, false),
            ],
            vec![f(1, 2_000, 4_000, true)],
        ];
        let [all, key, other] = hop_per_frame(&origin, &edges, |f| f.last);
        assert_eq!((all.count, all.missing), (3, 1));
        // +1 ms, +0.5 ms, 0 ms
        assert_eq!((all.p50, all.p99), (0.5, 1.0));
        assert_eq!((key.count, key.p50, key.p99), (2, 0.0, 1.0));
        assert_eq!((other.count, other.missing, other.p99), (1, 1, 0.5));
        // First packets: +0.5 ms, +1.5 ms, 0 ms.
        let [start, key_start, _] = hop_per_frame(&origin, &edges, |f| f.first);
        assert_eq!((start.count, start.p50, start.p99), (3, 0.5, 1.5));
        assert_eq!((key_start.p50, key_start.p99), (0.0, 0.5));
        assert_eq!(hop_per_frame(&[], &edges, |f| f.last)[0].count, 0);
    }
}

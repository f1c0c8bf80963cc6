//! Runs a scenario: ramps participants up, rotates the speaker, samples the server, and
//! turns everything into a [`Report`].

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::participant::{Latency, Participant, ParticipantConfig};
use crate::report::{Percentiles, Report, Sample, SlotKindFigures};
use crate::scenario::{Scenario, TalkMode};
use crate::server::{Counters, ProcSample, proc_sample, scrape};
use crate::synth::Talk;

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
}

struct Joined {
    participant: Option<Participant>,
    error: Option<String>,
    started: Instant,
    expects_stage: bool,
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
            let expects_stage = !group.pin_stage;
            let at = start + ramp_step * n as u32;
            let bar = bar.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                let started = Instant::now();
                let joined =
                    tokio::time::timeout(Duration::from_secs(30), Participant::join(cfg)).await;
                let result = match joined {
                    Ok(Ok(mut p)) => {
                        if p.wait_connected(Duration::from_secs(20)).await {
                            Ok(p)
                        } else {
                            Err("ICE/DTLS did not connect within 20 s".to_owned())
                        }
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("join timed out".to_owned()),
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
    let mut series = Vec::new();
    let mut last = first;
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
    bar.finish_and_clear();

    let report = build_report(&opts, &joined, rss_before, &first, &end, series);
    for j in joined {
        if let Some(p) = j.participant {
            p.stop().await;
        }
    }
    report
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at: Instant,
    counters: Counters,
    server: ProcSample,
    tester: ProcSample,
}

async fn sample(opts: &RunOptions, self_pid: u32) -> Snapshot {
    let counters = scrape(&opts.base_url, &opts.ca_pem, &opts.metrics_token)
        .await
        .unwrap_or_default();
    Snapshot {
        at: Instant::now(),
        counters,
        server: opts.server_pid.and_then(proc_sample).unwrap_or_default(),
        tester: proc_sample(self_pid).unwrap_or_default(),
    }
}

fn build_report(
    opts: &RunOptions,
    joined: &[Joined],
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

    let mut first_frame_ms = Vec::new();
    let mut missing_stage = 0;
    let mut kinds = [
        ("stage", SlotAcc::default()),
        ("tiles", SlotAcc::default()),
        ("audio", SlotAcc::default()),
    ];
    for j in &ok {
        let Some(p) = &j.participant else { continue };
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
            if s.slot == "stage" && j.expects_stage {
                match s.first_packet_at {
                    Some(t) => first_frame_ms
                        .push(t.saturating_duration_since(j.started).as_secs_f64() * 1000.0),
                    None => missing_stage += 1,
                }
            }
        }
    }
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
        first_stage_frame_ms: Percentiles::of(&mut first_frame_ms, missing_stage),
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
            })
            .collect(),
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
    }
}

#[derive(Default)]
struct SlotAcc {
    received: u64,
    lost: u64,
    latency: Latency,
}

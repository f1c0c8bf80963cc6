//! The livestream load against Janus VideoRoom, measured like Plenum: server CPU from /proc,
//! packets counted where they arrive (Janus exports no forwarding counter).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::janus::{JanusPublisher, JanusViewer};
use crate::participant::ParticipantConfig;
use crate::server::proc_sample;
use crate::synth::{LayerSpec, Talk};

/// What a peer SFU did under the load.
#[derive(Debug, Clone, Serialize)]
pub struct PeerFigures {
    /// Server name.
    pub server: String,
    /// Viewers attempted.
    pub viewers: usize,
    /// Viewers connected.
    pub joined: usize,
    /// Packets per second arriving at all viewers together.
    pub delivered_pps: f64,
    /// Server CPU, percent of one core.
    pub cpu_pct: f64,
    /// Server CPU per delivered packet, µs.
    pub cpu_us_per_packet: f64,
    /// Loss over all viewers' slots.
    pub loss_pct: f64,
    /// First error, if any join failed.
    pub first_error: Option<String>,
}

/// Options of the Janus run.
#[derive(Debug, Clone)]
pub struct JanusRun {
    /// REST API address (127.0.0.1:8088).
    pub api: SocketAddr,
    /// Janus's pid.
    pub pid: u32,
    /// VideoRoom room id.
    pub room: u64,
    /// Local address for the synthetic clients (127.0.0.2 in the janusbench namespace).
    pub bind_ip: IpAddr,
    /// The publisher's layers (low to high).
    pub layers: Vec<LayerSpec>,
    /// Viewers.
    pub viewers: usize,
    /// Viewers join over this time.
    pub ramp_up: Duration,
    /// Measurement time.
    pub duration: Duration,
}

/// Run the livestream load against Janus.
pub async fn run_janus(opts: &JanusRun) -> Result<PeerFigures, String> {
    let mut cfg = ParticipantConfig::new("http://unused", "");
    cfg.bind_ip = opts.bind_ip;
    cfg.layers = opts.layers.clone();
    cfg.talk = Talk::Always;
    let mut publisher = JanusPublisher::join(opts.api, opts.room, &cfg)
        .await
        .map_err(|e| e.to_string())?;
    if !publisher
        .media
        .wait_connected(Duration::from_secs(15))
        .await
    {
        return Err("the Janus publisher did not connect".into());
    }
    let step = opts
        .ramp_up
        .checked_div(opts.viewers.max(1) as u32)
        .unwrap_or_default();
    let mut viewers = Vec::new();
    let mut first_error = None;
    for i in 0..opts.viewers {
        let mut vc = cfg.clone();
        vc.seed = i as u64 + 100;
        match JanusViewer::join(opts.api, opts.room, publisher.feed, &vc).await {
            Ok(v) => viewers.push(v),
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
        tokio::time::sleep(step).await;
    }
    let mut joined = 0;
    for v in &mut viewers {
        if v.media.wait_connected(Duration::from_secs(15)).await {
            joined += 1;
        }
    }
    publisher.keepalive().await;
    for v in &mut viewers {
        v.keepalive().await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let delivered = |viewers: &[JanusViewer]| -> (u64, u64) {
        viewers
            .iter()
            .flat_map(|v| v.media.all_stats())
            .fold((0, 0), |(p, l), s| (p + s.packets, l + s.lost()))
    };
    let (p0, _) = delivered(&viewers);
    let c0 = proc_sample(opts.pid).unwrap_or_default();
    let t0 = Instant::now();
    let mut next_keepalive = t0 + Duration::from_secs(20);
    while t0.elapsed() < opts.duration {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if Instant::now() >= next_keepalive {
            publisher.keepalive().await;
            for v in &mut viewers {
                v.keepalive().await;
            }
            next_keepalive += Duration::from_secs(20);
        }
    }
    let (p1, lost) = delivered(&viewers);
    let c1 = proc_sample(opts.pid).unwrap_or_default();
    let secs = t0.elapsed().as_secs_f64();
    let packets = p1.saturating_sub(p0) as f64;
    let cpu = c1.cpu_secs - c0.cpu_secs;
    for v in viewers {
        v.media.stop().await;
    }
    publisher.media.stop().await;
    Ok(PeerFigures {
        server: "janus".into(),
        viewers: opts.viewers,
        joined,
        delivered_pps: packets / secs,
        cpu_pct: cpu / secs * 100.0,
        cpu_us_per_packet: if packets > 0.0 {
            cpu * 1e6 / packets
        } else {
            0.0
        },
        loss_pct: if p1 + lost == 0 {
            0.0
        } else {
            lost as f64 * 100.0 / (p1 + lost) as f64
        },
        first_error,
    })
}

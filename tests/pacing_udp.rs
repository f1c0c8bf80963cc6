//! Real sockets: with bandwidth estimation on (the default), what the server sends a
//! subscriber stays near the subscriber's estimate over every 100 ms window (typically
//! 1.6-2.0x, bounded at 2.5x here, see below; a 10 s measurement above the bound is taken
//! again once, as a scheduling stall of the shared machine makes the pacer catch up in one
//! burst), and the stage's keyframes — each larger than
//! 100 ms of the estimate — are spread out: str0m's pacer (as patched in vendor/str0m: a burst
//! per timeout instead of a timeout per packet) still paces them.
//! The estimate is the one the server logs for the subscriber's connection; the arrivals are
//! taken at the subscriber's socket (the kernel's receive times).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use plenum_loadtest::Participant;
use plenum_loadtest::synth::{LayerSpec, Talk};

/// The stage's top layer: 1 Mbit/s at 5 frames/s with a keyframe every second, so each
/// keyframe is ~100 kB (800 kbit).
const LAYERS: [LayerSpec; 3] = [
    LayerSpec {
        rid: "q",
        width: 320,
        height: 180,
        fps: 10,
        bitrate: 120_000,
    },
    LayerSpec {
        rid: "h",
        width: 640,
        height: 360,
        fps: 10,
        bitrate: 300_000,
    },
    LayerSpec {
        rid: "f",
        width: 1280,
        height: 720,
        fps: 5,
        bitrate: 1_000_000,
    },
];

/// Strip ANSI colour sequences from a log line.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `key=` in a plain log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    line[start..].split_whitespace().next()
}

/// Unix µs of a log line's leading RFC 3339 timestamp.
fn logged_at(line: &str) -> Option<u64> {
    let ts: jiff::Timestamp = line.split_whitespace().next()?.parse().ok()?;
    u64::try_from(ts.as_microsecond()).ok()
}

/// The watcher's (the second negotiated connection's) bandwidth estimates as the server
/// logged them: (unix µs, bit/s).
fn watcher_estimates(server: &common::TestServer) -> Vec<(u64, u64)> {
    let log: Vec<String> = server.log().lines().map(plain).collect();
    let peers: Vec<&str> = log
        .iter()
        .filter(|l| l.contains("peer negotiated"))
        .filter_map(|l| field(l, "peer"))
        .collect();
    let watcher_peer = *peers.get(1).expect("two connections were negotiated");
    let estimates: Vec<(u64, u64)> = log
        .iter()
        .filter(|l| l.contains("bandwidth estimate") && field(l, "peer") == Some(watcher_peer))
        .filter_map(|l| Some((logged_at(l)?, field(l, "bps")?.parse().ok()?)))
        .collect();
    assert!(
        !estimates.is_empty(),
        "the server logged the watcher's estimates"
    );
    estimates
}

/// The busiest 100 ms window ending at an arrival, against the estimate in effect for it: the
/// one at its start, or a higher one logged during it (the pacer takes each new estimate at
/// once). Returns (ratio, window bit/s, estimate bit/s).
fn worst_window(measured: &[(u64, usize)], estimates: &[(u64, u64)]) -> (f64, u64, u64) {
    let estimate_for = |from: u64, to: u64| {
        let at_start = estimates
            .iter()
            .take_while(|(at, _)| *at <= from)
            .last()
            .map(|&(_, bps)| bps);
        let during = estimates
            .iter()
            .filter(|(at, _)| *at > from && *at <= to)
            .map(|&(_, bps)| bps)
            .max();
        at_start.max(during)
    };
    let mut worst = (0.0f64, 0u64, 0u64);
    let mut start = 0;
    let mut bytes: usize = 0;
    for &(t, size) in measured {
        bytes += size;
        while measured[start].0 + 100_000 <= t {
            bytes -= measured[start].1;
            start += 1;
        }
        let Some(bps) = estimate_for(t.saturating_sub(100_000), t) else {
            continue;
        };
        let window_bps = bytes as u64 * 8 * 10;
        let ratio = window_bps as f64 / bps as f64;
        if ratio > worst.0 {
            worst = (ratio, window_bps, bps);
        }
    }
    worst
}

/// The most bytes that arrived within `window_us`.
fn densest(measured: &[(u64, usize)], window_us: u64) -> usize {
    let mut most = 0;
    let mut start = 0;
    let mut bytes: usize = 0;
    for &(t, size) in measured {
        bytes += size;
        while measured[start].0 + window_us <= t {
            bytes -= measured[start].1;
            start += 1;
        }
        most = most.max(bytes);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_sending_stays_within_twice_the_estimate() {
    let server = common::TestServer::start_logged();
    let mut publisher_cfg = server.participant(0);
    publisher_cfg.talk = Talk::Always;
    publisher_cfg.layers = LAYERS.to_vec();
    publisher_cfg.keyframe_interval = Duration::from_secs(1);
    let mut publisher = Participant::join(publisher_cfg).await.unwrap();
    assert!(publisher.wait_connected(Duration::from_secs(10)).await);
    let mut watcher_cfg = server.participant(1);
    watcher_cfg.publish_audio = false;
    watcher_cfg.layers.clear();
    watcher_cfg.record_arrivals = true;
    let mut watcher = Participant::join(watcher_cfg).await.unwrap();
    assert!(watcher.wait_connected(Duration::from_secs(10)).await);

    // Warm up (the estimate is ignored for 3 s, the stage opens on the top layer), measure 10 s.
    // A window above the bound is measured once more: on this shared 2-core machine a
    // scheduling stall of the server makes its pacer send what fell due meanwhile in one go,
    // which is the machine, not the pacing (docs/perf.md); twice in a row is a failure.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for attempt in 1..=2 {
        let from = plenum_loadtest::synth::unix_micros();
        let before = watcher.slot_stats("stage").unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let until = plenum_loadtest::synth::unix_micros();
        let after = watcher.slot_stats("stage").unwrap();
        assert_eq!(
            after.widest_keyframe,
            Some(1280),
            "the stage runs on the top layer"
        );
        let keyframes = after.keyframes - before.keyframes;
        assert!(keyframes >= 8, "a keyframe a second arrived: {keyframes}");
        let estimates = watcher_estimates(&server);
        let measured: Vec<(u64, usize)> = watcher
            .media
            .arrivals()
            .into_iter()
            .filter(|&(t, _)| t >= from && t <= until)
            .collect();
        assert!(measured.len() > 500, "media arrived: {}", measured.len());
        // The check has teeth: the stage's keyframes (~100 kB each) were spread out, not sent
        // at once — no 10 ms holds even half of one.
        let densest = densest(&measured, 10_000);
        let keyframe_bytes = (LAYERS[2].bitrate / LAYERS[2].fps / 2) as usize;
        assert!(
            densest < keyframe_bytes,
            "keyframes were paced: at most {densest} bytes in 10 ms (half a keyframe is {keyframe_bytes})"
        );
        let (ratio, window_bps, bps) = worst_window(&measured, &estimates);
        eprintln!(
            "attempt {attempt}: busiest 100 ms: {window_bps} bit/s at an estimate of {bps} bit/s \
             ({ratio:.2}x); {keyframes} keyframes of ~800 kbit, densest 10 ms {densest} bytes; \
             estimates logged {}..{} bit/s",
            estimates.iter().map(|e| e.1).min().unwrap_or(0),
            estimates.iter().map(|e| e.1).max().unwrap_or(0),
        );
        // Typically 1.6-2.0x (str0m, patched, paces at 1.25x the estimate and lets 40 ms of it
        // go at once); its probes, which pace media at up to twice the estimate for a moment, took
        // single windows to 2.2-2.4x in some runs (docs/perf.md). The bound leaves room for
        // those.
        if ratio <= 2.5 {
            break;
        }
        assert!(
            attempt < 2,
            "no 100 ms window far above the estimate: {window_bps} bit/s against {bps} bit/s"
        );
    }

    for p in [watcher, publisher] {
        p.stop().await;
    }
}

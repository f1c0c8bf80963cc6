//! `udp-floor`: what livestream-150's fan-out costs this machine below any WebRTC stack — the
//! floor a forwarding core cannot go under here (docs/perf.md, round 9).
//!
//! `udp-floor [VIEWERS] [SECONDS] [SHARDS]` (defaults: 150 20 2).
//!
//! `SHARDS` sender threads (the server's media workers) each own every `SHARDS`-th of
//! `VIEWERS` loopback sockets. Every 2 ms (the server's flush coalescing) a sender writes
//! what became due since — the livestream scenario's top layer (1.5 Mbit/s at 30 frames a
//! second, cut into the load tester's packets of at most 1 100 bytes) and its audio (a
//! 100-byte packet every 20 ms) — to each of its viewers: a 12-byte RTP header and the
//! payload, sealed with
//! AES-128-GCM under the viewer's own key as SRTP's `AEAD_AES_128_GCM` does (the same
//! aws-lc-rs call as str0m's), sent with the server's media socket
//! ([`plenum_sfu::udp::MediaSocket`]: runs to one viewer as GSO sends, `sendmmsg`). It reads
//! what the viewers send back: every viewer sends a sealed 100-byte datagram every 50 ms (the
//! rate of browsers' transport-wide feedback), which its sender opens. One receiver thread,
//! as the load tester's media thread, reads every viewer's socket (with GRO) and opens every
//! datagram; a datagram that does not open fails the run.
//!
//! What is left out is everything a WebRTC server does beyond that: RTP header rewriting and
//! extensions, the retransmission cache, transport-wide sequence numbers, reports, the
//! bandwidth estimator and the pacer, the router and the messages between shards. So the
//! senders' CPU time per forwarded packet (from `/proc/thread-self/schedstat`, over the run
//! after a 2 s warm-up) is a floor for the server's own figure in livestream-150, measured
//! the same way (its process, all threads) by the load tester.
#![allow(clippy::expect_used)]

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use plenum_loadtest::synth::{DEFAULT_LAYERS, LayerSpec, MAX_PAYLOAD};
use plenum_sfu::shard::DEFAULT_FLUSH_COALESCE;
use plenum_sfu::udp::{BATCH, MediaSocket};
use str0m::net::{Protocol, Transmit};
use tokio::time::MissedTickBehavior;

/// The top layer of `loadtest/scenarios/livestream.toml` (the load tester's 720p layer).
const TOP: LayerSpec = DEFAULT_LAYERS[2];
/// One Opus packet every 20 ms.
const AUDIO_PERIOD: Duration = Duration::from_millis(20);
const AUDIO_BYTES: usize = 100;
/// Every viewer's feedback: one datagram every 50 ms.
const FEEDBACK_PERIOD: Duration = Duration::from_millis(50);
const FEEDBACK_BYTES: usize = 100;
const RTP_HEADER: usize = 12;
const TAG: usize = 16;
/// Not counted: sockets fill, timers settle.
const WARM_UP: Duration = Duration::from_secs(2);

/// CPU time this thread has run so far (`/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .expect("schedstat's first field");
    Duration::from_nanos(ns)
}

/// A viewer's key (one per viewer, as every DTLS handshake yields its own).
fn key(viewer: usize) -> LessSafeKey {
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (viewer as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &bytes).expect("a 16-byte key"))
}

/// The nonce of a packet: its SSRC and sequence number, as SRTP derives it (without the salt).
fn nonce(ssrc: u32, seq: u32) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[2..6].copy_from_slice(&ssrc.to_be_bytes());
    n[8..12].copy_from_slice(&seq.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// The SSRC of a datagram of [`seal`] (this tool's viewers put their number there).
fn ssrc_of(datagram: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(datagram.get(8..12)?.try_into().ok()?))
}

/// A sealed datagram: header (authenticated), payload (encrypted), tag.
fn seal(key: &LessSafeKey, ssrc: u32, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(RTP_HEADER + payload.len() + TAG);
    buf.extend_from_slice(&[0x80, 96]);
    buf.extend_from_slice(&(seq as u16).to_be_bytes());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&ssrc.to_be_bytes());
    buf.extend_from_slice(payload);
    let (header, body) = buf.split_at_mut(RTP_HEADER);
    let tag = key
        .seal_in_place_separate_tag(nonce(ssrc, seq), Aad::from(&*header), body)
        .expect("sealing");
    buf.extend_from_slice(tag.as_ref());
    buf
}

/// Open a datagram of [`seal`] in place; `false` when it does not authenticate.
fn open(key: &LessSafeKey, datagram: &[u8], scratch: &mut Vec<u8>) -> bool {
    let Some(ssrc) = ssrc_of(datagram).filter(|_| datagram.len() >= RTP_HEADER + TAG) else {
        return false;
    };
    let seq = u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]);
    scratch.clear();
    scratch.extend_from_slice(&datagram[RTP_HEADER..]);
    key.open_in_place(
        nonce(ssrc, seq),
        Aad::from(&datagram[..RTP_HEADER]),
        scratch,
    )
    .is_ok()
}

/// What one thread did in the counted part of the run.
#[derive(Debug, Default)]
struct Tally {
    cpu: Duration,
    datagrams: u64,
}

/// The run's shared state: when it started, whether it is over, failed authentications.
struct Run {
    start: Instant,
    end: Instant,
    stop: AtomicBool,
    bad: AtomicU64,
}

impl Run {
    fn counting(&self) -> bool {
        self.start.elapsed() >= WARM_UP
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// One media worker: writes the due media to its viewers every turn, opens their feedback.
async fn sender(
    run: Arc<Run>,
    socket: std::net::UdpSocket,
    shards: usize,
    viewers: Vec<(usize, SocketAddr)>,
) -> Tally {
    let mut socket = MediaSocket::from_std(socket, BATCH, true).expect("media socket");
    let local = socket.local_addr().expect("bound");
    let keys: Vec<LessSafeKey> = viewers.iter().map(|&(v, _)| key(v)).collect();
    let frame = vec![0x5au8; (TOP.bitrate / 8 / TOP.fps) as usize];
    let audio = [0xa5u8; AUDIO_BYTES];
    let (mut frames, mut audios, mut seq) = (0u32, 0u32, 0u32);
    let (mut transmits, mut scratch, mut due) = (Vec::new(), Vec::new(), Vec::new());
    let mut turn = tokio::time::interval(DEFAULT_FLUSH_COALESCE);
    turn.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut tally, mut counting, mut at_start) = (Tally::default(), false, Duration::ZERO);
    while !run.stop.load(Ordering::Relaxed) {
        if !counting && run.counting() {
            (counting, at_start) = (true, thread_cpu());
        }
        tokio::select! {
            _ = turn.tick() => {
                let now = run.start.elapsed();
                due.clear();
                while Duration::from_secs(u64::from(frames)) / TOP.fps <= now {
                    due.extend(frame.chunks(MAX_PAYLOAD).map(|p| (1, p)));
                    frames += 1;
                }
                while AUDIO_PERIOD * audios <= now {
                    due.push((2u32, &audio[..]));
                    audios += 1;
                }
                // Every packet its own sequence number: a nonce is never used twice per key.
                for (&(_, addr), key) in viewers.iter().zip(&keys) {
                    for (&(ssrc, payload), n) in due.iter().zip(seq..) {
                        transmits.push(Transmit {
                            proto: Protocol::Udp,
                            source: local,
                            destination: addr,
                            contents: seal(key, ssrc, n, payload).into(),
                        });
                    }
                }
                seq += due.len() as u32;
                let unsent = socket.send_all(&transmits);
                if counting {
                    tally.datagrams += (transmits.len() - unsent) as u64;
                }
                transmits.clear();
            }
            ready = socket.readable() => {
                ready.expect("readable");
                let mut on = |_: SocketAddr, data: &[u8]| {
                    // The viewer's number is the SSRC; this sender has every `shards`-th.
                    let key = ssrc_of(data).and_then(|v| keys.get(v as usize / shards));
                    if !key.is_some_and(|k| open(k, data, &mut scratch)) {
                        run.bad.fetch_add(1, Ordering::Relaxed);
                    }
                };
                while socket.try_recv_batch(&mut on).is_ok() {}
            }
        }
    }
    tally.cpu = thread_cpu() - at_start;
    tally
}

/// The viewers: every socket read (GRO) and every datagram opened; feedback every 50 ms.
async fn viewers(run: Arc<Run>, sockets: Vec<(usize, MediaSocket, SocketAddr)>) -> Tally {
    let received = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let count = sockets.len().max(1) as u32;
    for (i, (viewer, mut socket, server)) in sockets.into_iter().enumerate() {
        let (run, received) = (run.clone(), received.clone());
        tasks.push(tokio::spawn(async move {
            let key = key(viewer);
            let local = socket.local_addr().expect("bound");
            let start = tokio::time::Instant::now() + FEEDBACK_PERIOD * i as u32 / count;
            let mut feedback = tokio::time::interval_at(start, FEEDBACK_PERIOD);
            let (mut seq, mut scratch) = (0u32, Vec::new());
            let body = [0x33u8; FEEDBACK_BYTES];
            while Instant::now() < run.end {
                tokio::select! {
                    _ = feedback.tick() => {
                        let datagram = seal(&key, viewer as u32, seq, &body);
                        seq += 1;
                        socket.send_all(&[Transmit {
                            proto: Protocol::Udp,
                            source: local,
                            destination: server,
                            contents: datagram.into(),
                        }]);
                    }
                    ready = socket.readable() => {
                        ready.expect("readable");
                        let mut on = |_: SocketAddr, data: &[u8]| {
                            if !open(&key, data, &mut scratch) {
                                run.bad.fetch_add(1, Ordering::Relaxed);
                            }
                            if run.counting() {
                                received.fetch_add(1, Ordering::Relaxed);
                            }
                        };
                        while socket.try_recv_batch(&mut on).is_ok() {}
                    }
                }
            }
        }));
    }
    tokio::time::sleep_until((run.start + WARM_UP).into()).await;
    let at_start = thread_cpu();
    for task in tasks {
        task.await.expect("a viewer task");
    }
    run.stop.store(true, Ordering::Relaxed);
    Tally {
        cpu: thread_cpu() - at_start,
        datagrams: received.load(Ordering::Relaxed),
    }
}

/// `count` non-blocking UDP sockets on loopback (any port) and their addresses.
fn bind_loopback(count: usize) -> io::Result<(Vec<std::net::UdpSocket>, Vec<SocketAddr>)> {
    let mut sockets = Vec::with_capacity(count);
    let mut addrs = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        socket.set_nonblocking(true)?;
        addrs.push(socket.local_addr()?);
        sockets.push(socket);
    }
    Ok((sockets, addrs))
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (count, seconds, shards) = (arg(0, 150) as usize, arg(1, 20), arg(2, 2).max(1) as usize);

    let run = Arc::new(Run {
        start: Instant::now(),
        end: Instant::now() + WARM_UP + Duration::from_secs(seconds),
        stop: AtomicBool::new(false),
        bad: AtomicU64::new(0),
    });
    let (senders, server_addrs) = bind_loopback(shards)?;
    let (viewer_sockets, viewer_addrs) = bind_loopback(count)?;

    let receiver = {
        let run = run.clone();
        let addrs = server_addrs.clone();
        std::thread::spawn(move || {
            let rt = runtime();
            rt.block_on(async move {
                let sockets = viewer_sockets
                    .into_iter()
                    .enumerate()
                    .map(|(v, s)| {
                        let socket = MediaSocket::from_std(s, BATCH, true).expect("media socket");
                        (v, socket, addrs[v % addrs.len()])
                    })
                    .collect();
                viewers(run, sockets).await
            })
        })
    };
    let workers: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(shard, socket)| {
            let run = run.clone();
            let mine: Vec<(usize, SocketAddr)> = viewer_addrs
                .iter()
                .enumerate()
                .filter(|(v, _)| v % shards == shard)
                .map(|(v, &a)| (v, a))
                .collect();
            std::thread::spawn(move || runtime().block_on(sender(run, socket, shards, mine)))
        })
        .collect();

    let viewers = receiver.join().expect("the viewers' thread");
    let mut sent = Tally::default();
    for w in workers {
        let t = w.join().expect("a sender thread");
        sent.cpu += t.cpu;
        sent.datagrams += t.datagrams;
    }
    let per = |t: &Tally| t.cpu.as_secs_f64() * 1e6 / t.datagrams.max(1) as f64;
    println!(
        "udp-floor: {count} viewers, {shards} senders, {seconds} s counted: \
         senders {:.0} ms CPU for {} datagrams = {:.2} µs per forwarded packet \
         ({:.0} packets/s); viewers' thread {:.2} µs per received packet ({} received)",
        sent.cpu.as_secs_f64() * 1e3,
        sent.datagrams,
        per(&sent),
        sent.datagrams as f64 / seconds as f64,
        per(&viewers),
        viewers.datagrams,
    );
    let bad = run.bad.load(Ordering::Relaxed);
    if bad > 0 {
        return Err(io::Error::other(format!(
            "{bad} datagrams did not authenticate"
        )));
    }
    Ok(())
}

//! The whole forward path of a media shard in memory and virtual time
//! ([`plenum_benches::ForwardRoom`]): publisher datagrams in (demux, SRTP unprotect, router,
//! rewrite), SRTP protect and paced sending for every subscriber, and the subscribers' RTCP
//! (receiver reports, TWCC feedback for the bandwidth estimator) back in. Timed is the shard's
//! work; one iteration is one frame period of a 720p layer (about 6 packets).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use plenum_benches::{ForwardRoom, FrameCost};

/// The server's allocator (src/main.rs), so that the bench measures what it costs there.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn forward(c: &mut Criterion) {
    for bwe in [false, true] {
        forward_group(c, bwe);
    }
}

fn forward_group(c: &mut Criterion, bandwidth_estimation: bool) {
    let name = if bandwidth_estimation {
        "forward_path_bwe"
    } else {
        "forward_path"
    };
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    for n in [10usize, 150] {
        let mut room = ForwardRoom::new(n, bandwidth_estimation);
        // "1": every publisher datagram is handed over and flushed on its own (one timeout
        // per subscriber and packet, as when packets arrive one by one); "frame": a frame's
        // datagrams are handed over together and flushed once.
        for (label, batch) in [("batch1", 1usize), ("frame", usize::MAX)] {
            let mut probe = FrameCost::default();
            for _ in 0..30 {
                probe += room.frame(batch);
            }
            g.throughput(Throughput::Elements(probe.forwarded / 30));
            let mut total = FrameCost::default();
            g.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let cost = room.frame(batch);
                        spent += cost.shard_time;
                        total += cost;
                    }
                    spent
                })
            });
            let per_packet = total.shard_time.as_secs_f64() * 1e6 / total.forwarded as f64;
            eprintln!(
                "{name}/{label}/{n}: {per_packet:.2} µs per forwarded packet \
                 ({} forwarded of {} packets to {n}; lowest estimate {:?} bit/s)",
                total.forwarded,
                total.packets,
                room.lowest_estimate(),
            );
            // The publisher's own RTCP is among the datagrams and forwards to nobody.
            assert!(
                total.forwarded * 100 >= total.packets * n as u64 * 95,
                "every media packet reached every subscriber"
            );
        }
    }
    g.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);

//! Run the in-memory forward path ([`plenum_benches::ForwardRoom`]) for a fixed number of
//! frames and print the shard's cost per forwarded packet: a steady, repeatable load to
//! profile with `perf record` or to count instructions with `valgrind --tool=callgrind`
//! (docs/perf.md).
//!
//! `forward-profile [SUBSCRIBERS] [bwe|nobwe] [BATCH|frame] [FRAMES]`
//! (defaults: 10 bwe frame 600).

use plenum_benches::{ForwardRoom, FrameCost};

/// The server's allocator (src/main.rs), so that the profile counts what it costs there.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let subscribers = arg(0).and_then(|a| a.parse().ok()).unwrap_or(10);
    let bwe = arg(1) != Some("nobwe");
    let batch = match arg(2) {
        Some("frame") | None => usize::MAX,
        Some(n) => n.parse().unwrap_or(usize::MAX),
    };
    let frames: usize = arg(3).and_then(|a| a.parse().ok()).unwrap_or(600);

    let mut room = ForwardRoom::new(subscribers, bwe);
    let mut total = FrameCost::default();
    for _ in 0..frames {
        total += room.frame(batch);
    }
    let per_packet = total.shard_time.as_secs_f64() * 1e6 / total.forwarded.max(1) as f64;
    println!(
        "subscribers {subscribers} estimation {bwe} batch {} frames {frames}: \
         {} publisher datagrams, {} forwarded ({:.1} % of every packet to everyone), \
         shard {:.1} ms = {per_packet:.2} µs per forwarded packet; lowest estimate {:?} bit/s",
        if batch == usize::MAX {
            "frame".to_owned()
        } else {
            batch.to_string()
        },
        total.packets,
        total.forwarded,
        100.0 * total.forwarded as f64 / (total.packets * subscribers as u64).max(1) as f64,
        total.shard_time.as_secs_f64() * 1e3,
        room.lowest_estimate(),
    );
}

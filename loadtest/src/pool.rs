//! The threads the participants' media tasks run on: single-threaded tokio runtimes, one
//! per thread, each participant on one of them (round robin) for its whole life, as the
//! server's media plane keeps a connection on its shard.
//!
//! One thread by default ([`set_threads`], `plenum-loadtest --media-threads`): on the
//! process's work-stealing runtime (two workers here) the media tasks cost 6–9 % more
//! (livestream-150, three interleaved pairs: the load tester at 1.06–1.09× the server
//! against 0.97–1.02×; docs/perf.md, round 7): one thread's `epoll_wait` returns the
//! sockets of many participants at once, where two threads each wake for fewer and hand
//! tasks to one another. Latency is measured from the kernel's receive timestamps, so a busy
//! media thread does not skew it; one thread carries congress-150 (151 participants) at
//! about 70 % of a core here, larger scenarios want more.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

static THREADS: AtomicUsize = AtomicUsize::new(1);
static POOL: OnceLock<Vec<Handle>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Run the media tasks on `threads` threads (at least one). Only before the first media
/// task starts; returns whether it took effect.
pub fn set_threads(threads: usize) -> bool {
    if POOL.get().is_some() {
        return false;
    }
    THREADS.store(threads.max(1), Ordering::Relaxed);
    true
}

/// Run `task` on the next media thread. Sockets the task uses must be registered there
/// (created, or taken over, inside the task).
pub fn spawn<F>(task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let pool = POOL.get_or_init(start);
    if pool.is_empty() {
        // No thread could be started: the caller's runtime.
        return tokio::spawn(task);
    }
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % pool.len();
    pool[i].spawn(task)
}

fn start() -> Vec<Handle> {
    (0..THREADS.load(Ordering::Relaxed))
        .filter_map(|i| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name(format!("plenum-loadtest-media-{i}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .ok()?;
            Some(handle)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_media_thread_and_the_count_is_fixed_at_the_first_task() {
        assert!(set_threads(1));
        let name = spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("plenum-loadtest-media-0"));
        // Later calls change nothing.
        assert!(!set_threads(4));
        let again = spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(again.as_deref(), Some("plenum-loadtest-media-0"));
    }
}

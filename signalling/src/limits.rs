//! Limits on what one client may cost the server: connections that never `join`, and
//! commands per connection (docs/protocol.md, *Limits*).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The limits of this server (config `[http]`).
#[derive(Debug)]
pub struct Limits {
    /// A connection that has not joined by then is closed (`closing`: `join_timeout`).
    pub join_timeout: Duration,
    /// Upgraded connections not yet joined, server-wide; more are refused with 503.
    pub max_pending: usize,
    /// Commands a connection may send at once …
    pub burst: u32,
    /// … and per second after that.
    pub per_sec: u32,
    pending: AtomicUsize,
}

impl Limits {
    /// Limits with these values.
    pub fn new(join_timeout: Duration, max_pending: usize, burst: u32, per_sec: u32) -> Self {
        Self {
            join_timeout,
            max_pending,
            burst: burst.max(1),
            per_sec: per_sec.max(1),
            pending: AtomicUsize::new(0),
        }
    }

    /// Count one more connection waiting to join; `None` when the cap is reached. The
    /// returned guard counts it down when dropped (joined or closed).
    pub fn admit_pending(&self) -> Option<PendingGuard<'_>> {
        let admitted = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_pending).then_some(n + 1)
            })
            .is_ok();
        admitted.then(|| PendingGuard { limits: self })
    }

    /// Connections now waiting to join.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// A fresh command budget for one connection.
    pub fn bucket(&self) -> TokenBucket {
        TokenBucket::new(self.burst, self.per_sec)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 200, 30, 10)
    }
}

/// One connection counted as waiting to join.
#[derive(Debug)]
pub struct PendingGuard<'a> {
    limits: &'a Limits,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.limits.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A token bucket: `burst` commands at once, refilled at `per_sec`. Time is passed in
/// (milliseconds), so it is tested exactly.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: u64,
    per_sec: u64,
    /// Tokens × 1000 (millitokens), so refills need no floats.
    level: u64,
    at_ms: Option<u64>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, per_sec: u32) -> Self {
        Self {
            capacity: u64::from(burst) * 1000,
            per_sec: u64::from(per_sec.max(1)),
            level: u64::from(burst) * 1000,
            at_ms: None,
        }
    }

    /// Take one token at `now_ms`: `Ok`, or `Err(ms)` to wait until one is there.
    pub fn take(&mut self, now_ms: u64) -> Result<(), u64> {
        if let Some(at) = self.at_ms {
            let elapsed = now_ms.saturating_sub(at);
            self.level = (self.level + elapsed.saturating_mul(self.per_sec)).min(self.capacity);
        }
        self.at_ms = Some(now_ms.max(self.at_ms.unwrap_or(0)));
        if self.level >= 1000 {
            self.level -= 1000;
            Ok(())
        } else {
            Err((1000 - self.level).div_ceil(self.per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let mut b = TokenBucket::new(3, 10);
        assert_eq!((0..3).map(|_| b.take(0)).collect::<Vec<_>>(), [Ok(()); 3]);
        assert_eq!(b.take(0), Err(100), "one token per 100 ms");
        assert_eq!(b.take(40), Err(60));
        assert_eq!(b.take(100), Ok(()));
        assert_eq!(b.take(100), Err(100));
        // A long pause refills to the burst, not beyond.
        for _ in 0..3 {
            assert_eq!(b.take(60_000), Ok(()));
        }
        assert_eq!(b.take(60_000), Err(100));
        // A clock that steps back takes nothing extra.
        assert_eq!(b.take(10), Err(100));
    }

    #[test]
    fn pending_connections_are_capped_and_counted_down() {
        let limits = Limits::new(Duration::from_secs(1), 2, 1, 1);
        let a = limits.admit_pending().unwrap();
        let _b = limits.admit_pending().unwrap();
        assert!(limits.admit_pending().is_none());
        drop(a);
        assert_eq!(limits.pending(), 1);
        assert!(limits.admit_pending().is_some());
    }
}

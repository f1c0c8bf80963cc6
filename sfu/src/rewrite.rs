//! Per-slot RTP rewriting: one continuous outgoing stream out of a sequence of sources.
//!
//! A receive slot shows different sources over time (the stage follows the speaker). The
//! browser must see one stream with continuous sequence numbers, timestamps and VP8 picture
//! ids, whatever source is behind it. [`SlotRewriter`] keeps an offset per field and re-bases
//! the offsets when the source (or the simulcast layer) changes.

use std::time::{Duration, Instant};

/// VP8 picture ids are 15 bits on the wire (M bit set).
const PICTURE_ID_MODULO: u32 = 1 << 15;

/// What the router knows about one incoming packet, as far as rewriting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketIds {
    /// Extended (never wrapping) sequence number of the source stream.
    pub seq: u64,
    /// RTP timestamp of the source stream.
    pub timestamp: u32,
    /// VP8 picture id (15-bit form), if the payload carries one.
    pub picture_id: Option<u16>,
    /// VP8 TL0PICIDX, if the payload carries one.
    pub tl0_pic_idx: Option<u8>,
}

/// The rewritten header fields of one forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewrittenIds {
    /// Extended outgoing sequence number (starts below 2^16, so the SRTP ROC starts at 0).
    pub seq: u64,
    /// Outgoing RTP timestamp.
    pub timestamp: u32,
    /// Outgoing VP8 picture id, when the source packet had one.
    pub picture_id: Option<u16>,
    /// Outgoing VP8 TL0PICIDX, when the source packet had one.
    pub tl0_pic_idx: Option<u8>,
}

/// Offsets for one outgoing slot stream.
///
/// Call order: [`SlotRewriter::switch_source`] before the first packet of a new source
/// (or layer), then [`SlotRewriter::rewrite`] for each of its packets.
#[derive(Debug, Clone)]
pub struct SlotRewriter {
    clock_rate: u32,
    seq_offset: u64,
    ts_offset: u32,
    pid_offset: u32,
    tl0_offset: u8,
    /// Highest outgoing sequence number so far, if any packet went out.
    last_seq: Option<u64>,
    last_ts: u32,
    last_pid: Option<u16>,
    last_tl0: Option<u8>,
    last_sent_at: Option<Instant>,
    /// Highest sequence number of the previous source: nothing at or below goes out again.
    switch_floor: Option<u64>,
    /// Set by `switch_source`: the next packet re-bases the offsets.
    rebase: bool,
}

impl SlotRewriter {
    /// A rewriter for a stream with the given RTP clock rate (90 kHz video, 48 kHz Opus).
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            seq_offset: 0,
            ts_offset: 0,
            pid_offset: 0,
            tl0_offset: 0,
            last_seq: None,
            last_ts: 0,
            last_pid: None,
            last_tl0: None,
            last_sent_at: None,
            switch_floor: None,
            rebase: true,
        }
    }

    /// The next packet comes from another source (or layer): re-base all offsets on it.
    pub fn switch_source(&mut self) {
        self.rebase = true;
    }

    /// Rewrite one packet's ids. Returns `None` for a packet that would go out with a
    /// sequence number at or below the switch point (a packet of the new source older than
    /// the one the switch happened on), which must be dropped.
    pub fn rewrite(&mut self, now: Instant, ids: PacketIds) -> Option<RewrittenIds> {
        if self.rebase {
            self.rebase = false;
            self.rebase_on(now, ids);
        }
        // The offset is chosen so that out = in + offset stays positive for all newer
        // packets; a much older packet of this source would underflow: drop it.
        let seq = ids.seq.wrapping_add(self.seq_offset);
        if seq > u64::MAX / 2 || self.switch_floor.is_some_and(|f| seq <= f) {
            return None;
        }
        let timestamp = ids.timestamp.wrapping_add(self.ts_offset);
        let picture_id = ids
            .picture_id
            .map(|p| ((u32::from(p) + self.pid_offset) % PICTURE_ID_MODULO) as u16);
        let tl0_pic_idx = ids.tl0_pic_idx.map(|t| t.wrapping_add(self.tl0_offset));

        if self.last_seq.is_none_or(|l| seq > l) {
            self.last_seq = Some(seq);
            self.last_ts = timestamp;
            self.last_sent_at = Some(now);
            if picture_id.is_some() {
                self.last_pid = picture_id;
            }
            if tl0_pic_idx.is_some() {
                self.last_tl0 = tl0_pic_idx;
            }
        }
        Some(RewrittenIds {
            seq,
            timestamp,
            picture_id,
            tl0_pic_idx,
        })
    }

    fn rebase_on(&mut self, now: Instant, ids: PacketIds) {
        let Some(last_seq) = self.last_seq else {
            // First source of this slot: start at a small sequence number (ROC 0) and keep
            // the source's timestamps and picture ids as they are.
            self.seq_offset = if ids.seq < (1 << 15) {
                0
            } else {
                // Map the first packet to 1000 so that reordered predecessors still fit.
                1000u64.wrapping_sub(ids.seq)
            };
            return;
        };
        self.seq_offset = (last_seq + 1).wrapping_sub(ids.seq);
        self.switch_floor = Some(last_seq);

        // Advance the timestamp by the wall time since the last packet went out, so the
        // receiver's jitter buffer sees a plausible gap (at least one tick).
        let elapsed = self
            .last_sent_at
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or(Duration::ZERO);
        let ticks = (elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000).max(1);
        let next_ts = self.last_ts.wrapping_add(ticks as u32);
        self.ts_offset = next_ts.wrapping_sub(ids.timestamp);

        if let (Some(last), Some(p)) = (self.last_pid, ids.picture_id) {
            let next = (u32::from(last) + 1) % PICTURE_ID_MODULO;
            self.pid_offset = (next + PICTURE_ID_MODULO - u32::from(p)) % PICTURE_ID_MODULO;
        }
        if let (Some(last), Some(t)) = (self.last_tl0, ids.tl0_pic_idx) {
            self.tl0_offset = last.wrapping_add(1).wrapping_sub(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(seq: u64, timestamp: u32, pid: u16) -> PacketIds {
        PacketIds {
            seq,
            timestamp,
            picture_id: Some(pid),
            tl0_pic_idx: Some(pid as u8),
        }
    }

    #[test]
    fn first_source_keeps_small_sequence_numbers() {
        let now = Instant::now();
        let mut r = SlotRewriter::new(90_000);
        let out = r.rewrite(now, ids(5, 1000, 7)).expect("forwarded");
        assert_eq!(out.seq, 5);
        assert_eq!(out.timestamp, 1000);
        assert_eq!(out.picture_id, Some(7));
    }

    #[test]
    fn large_first_sequence_number_is_rebased_below_roc_one() {
        let now = Instant::now();
        let mut r = SlotRewriter::new(90_000);
        let out = r.rewrite(now, ids(200_000, 0, 0)).expect("forwarded");
        assert!(out.seq < (1 << 16), "ROC must start at 0, got {}", out.seq);
        let next = r.rewrite(now, ids(200_001, 0, 0)).expect("forwarded");
        assert_eq!(next.seq, out.seq + 1);
    }

    #[test]
    fn switch_continues_sequence_timestamp_and_picture_id() {
        let t0 = Instant::now();
        let mut r = SlotRewriter::new(90_000);
        for i in 0..10u64 {
            r.rewrite(t0, ids(100 + i, 3000 * i as u32, 20 + i as u16));
        }
        // 100 ms later another source with unrelated numbers takes the slot.
        let t1 = t0 + Duration::from_millis(100);
        r.switch_source();
        let out = r
            .rewrite(t1, ids(40_000, 7_777_777, 30_000))
            .expect("forwarded");
        assert_eq!(out.seq, 110);
        assert_eq!(out.timestamp, 27_000 + 9_000);
        assert_eq!(out.picture_id, Some(30));
        assert_eq!(out.tl0_pic_idx, Some(30));
        let out2 = r
            .rewrite(t1, ids(40_001, 7_780_777, 30_001))
            .expect("forwarded");
        assert_eq!(out2.seq, 111);
        assert_eq!(out2.timestamp, 36_000 + 3000);
        assert_eq!(out2.picture_id, Some(31));
    }

    #[test]
    fn picture_id_wraps_at_15_bits() {
        let t0 = Instant::now();
        let mut r = SlotRewriter::new(90_000);
        r.rewrite(t0, ids(1, 0, 32_767));
        r.switch_source();
        let out = r.rewrite(t0, ids(9, 0, 5)).expect("forwarded");
        assert_eq!(out.picture_id, Some(0));
    }

    #[test]
    fn reordered_packet_keeps_its_relative_position() {
        let t0 = Instant::now();
        let mut r = SlotRewriter::new(48_000);
        r.rewrite(t0, ids(10, 0, 0));
        r.rewrite(t0, ids(12, 0, 0));
        let late = r.rewrite(t0, ids(11, 0, 0)).expect("forwarded");
        assert_eq!(late.seq, 11);
    }

    #[test]
    fn packet_older_than_the_switch_point_is_dropped() {
        let t0 = Instant::now();
        let mut r = SlotRewriter::new(90_000);
        r.rewrite(t0, ids(10, 0, 0));
        r.switch_source();
        r.rewrite(t0, ids(500, 0, 0));
        assert_eq!(r.rewrite(t0, ids(499, 0, 0)), None);
    }
}

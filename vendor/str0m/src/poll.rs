//! Readiness signalling threaded through the component tree.
//!
//! Everything below [`Rtc`][crate::Rtc] forms a tree, and both events and new
//! timeouts bubble up from the leaves. To avoid re-walking a quiescent tree on
//! every `poll_output`, each path that takes `&mut` access to a sub-component
//! is handed an armed [`Wake`] guard, threaded down like `&mut` state.
//!
//! A [`Wake`] defaults to re-polling *everything*: left untouched it signals
//! both a pending event drain and a timeout recompute. A component narrows it
//! locally — [`Wake::no_events`] / [`Wake::no_timeout`] — when it knows less
//! changed. The guard folds its (possibly narrowed) signal into the owning
//! [`Readiness`] on drop.
//!
//! The direction is deliberate: the safe default is to re-poll, and narrowing
//! is an opt-in optimization owned by the component that performed the
//! mutation. A forgotten narrowing or an over-broad wake costs at most one redundant
//! poll; it can never drop output. No component names another's scope, and
//! `Rtc` holds no knowledge of which mutation affects what.
//!
//! The app-facing API wrappers ([`DirectApi`][crate::change::DirectApi],
//! [`SdpApi`][crate::change::SdpApi], [`Channel`][crate::channel::Channel],
//! [`Bwe`][crate::bwe::Bwe]) hold an [`RtcMut`] instead of `&mut Rtc`. It arms
//! the readiness on *mutable* deref only, so a `&mut self` method that mutates
//! re-polls the tree while a `&self` reader never does — and neither has to
//! remember to call anything.

use std::ops::{Deref, DerefMut};

use crate::Rtc;

/// A `&mut Rtc` handle that re-polls the tree when it is used mutably.
///
/// Change detection, à la a dirty-flag on mutable access: `deref` is a plain
/// read and never arms; `deref_mut` arms both halves (the safe default).
/// Because a `&self` method can only reach `deref` and a mutating `&mut self`
/// method reaches `deref_mut`, "mutation re-polls, reads don't" is enforced by
/// the borrow checker — a new method can't forget, and a read-only method
/// can't accidentally arm.
///
/// Deliberately has no `Drop`: the API wrappers are held in `let` bindings
/// across other `Rtc` use, and a destructor would extend their borrow to the
/// end of scope. Arming therefore happens eagerly on the mutable access.
///
/// When a mutation only affects one half of the re-poll — and especially when
/// that isn't known until the mutation is underway — take it through
/// [`RtcMut::mutate`] and narrow the returned [`Mutation`] guard.
pub(crate) struct RtcMut<'a> {
    rtc: &'a mut Rtc,
}

impl<'a> RtcMut<'a> {
    pub(crate) fn new(rtc: &'a mut Rtc) -> Self {
        RtcMut { rtc }
    }

    /// Begin a mutation whose re-poll can be narrowed *after the fact*.
    ///
    /// The returned [`Mutation`] derefs to `Rtc`, so mutate through it, then
    /// (optionally, conditionally) call [`Mutation::no_events`] /
    /// [`Mutation::no_timeout`]. It folds its own — per-operation, never shared
    /// — signal into the readiness when it drops.
    ///
    /// Plain `&mut *` (via [`DerefMut`]) is the shorthand for "arm both": it's
    /// what methods that don't narrow, or that return a `&mut` borrowed from
    /// the tree (which can't outlive a guard), use instead.
    pub(crate) fn mutate(&mut self) -> Mutation<'_> {
        Mutation {
            rtc: self.rtc,
            events: true,
            timeout: true,
        }
    }
}

impl Deref for RtcMut<'_> {
    type Target = Rtc;

    fn deref(&self) -> &Rtc {
        self.rtc
    }
}

impl DerefMut for RtcMut<'_> {
    fn deref_mut(&mut self) -> &mut Rtc {
        self.rtc.readiness.wake();
        self.rtc
    }
}

/// A single mutation in progress, obtained from [`RtcMut::mutate`].
///
/// Derefs to `Rtc` for the actual change. Armed for both halves by default;
/// narrow with [`Mutation::no_events`] / [`Mutation::no_timeout`] at any point
/// before it drops — including conditionally, once the mutation has revealed
/// which half it touched. Folds the (possibly narrowed) signal into the
/// readiness on drop.
///
/// The signal is private to this one guard, so narrowing here can never
/// interfere with another method call's decision regardless of call order —
/// the property a long-lived shared guard could not offer.
pub(crate) struct Mutation<'a> {
    rtc: &'a mut Rtc,
    events: bool,
    timeout: bool,
}

impl Mutation<'_> {
    /// Assert this mutation queued no event or transmit.
    pub(crate) fn no_events(&mut self) {
        self.events = false;
    }

    /// Assert this mutation moved no timer.
    pub(crate) fn no_timeout(&mut self) {
        self.timeout = false;
    }
}

impl Deref for Mutation<'_> {
    type Target = Rtc;

    fn deref(&self) -> &Rtc {
        self.rtc
    }
}

impl DerefMut for Mutation<'_> {
    fn deref_mut(&mut self) -> &mut Rtc {
        self.rtc
    }
}

impl Drop for Mutation<'_> {
    fn drop(&mut self) {
        let mut wake = self.rtc.readiness.wake();
        if !self.events {
            wake.no_events();
        }
        if !self.timeout {
            wake.no_timeout();
        }
    }
}

/// The accumulated re-poll signal owned by [`Rtc`][crate::Rtc].
///
/// `poll_output` reads it to decide whether to walk the event pipeline and
/// whether to recompute the next timeout, clearing each half once it has
/// proven that part of the tree quiescent.
#[derive(Debug)]
pub(crate) struct Readiness {
    events: bool,
    timeout: bool,
    // The last output was a datagram from the session, the rest of the pipeline was
    // walked without output before it, and nothing was woken since: the next poll may
    // go straight to the datagram queue. Any wake ends it.
    datagram_burst: bool,
    // How many wakes were handed out (wrapping): lets `Rtc` tell whether anything but the
    // received datagrams it counted woke the tree since (Plenum patch 7).
    wakes: u32,
}

impl Readiness {
    /// A fresh instance must poll the whole tree once.
    pub(crate) fn armed() -> Self {
        Readiness {
            events: true,
            timeout: true,
            datagram_burst: false,
            wakes: 0,
        }
    }

    /// The number of wakes handed out so far (wrapping).
    pub(crate) fn wakes(&self) -> u32 {
        self.wakes
    }

    pub(crate) fn wants_events(&self) -> bool {
        self.events
    }

    pub(crate) fn wants_timeout(&self) -> bool {
        self.timeout
    }

    pub(crate) fn clear_events(&mut self) {
        self.events = false;
    }

    pub(crate) fn clear_timeout(&mut self) {
        self.timeout = false;
    }

    /// Whether the next poll may go straight to the session's datagram queue.
    pub(crate) fn in_datagram_burst(&self) -> bool {
        self.datagram_burst
    }

    /// A datagram of the session's left after a walk of the whole pipeline.
    pub(crate) fn begin_datagram_burst(&mut self) {
        self.datagram_burst = true;
    }

    /// The datagram queue is empty: the next poll walks the whole pipeline again.
    pub(crate) fn end_datagram_burst(&mut self) {
        self.datagram_burst = false;
    }

    /// Hand out an armed guard for a mutable descent into the tree.
    pub(crate) fn wake(&mut self) -> Wake<'_> {
        self.datagram_burst = false;
        self.wakes = self.wakes.wrapping_add(1);
        Wake {
            readiness: self,
            events: true,
            timeout: true,
        }
    }
}

/// An armed guard threaded into a component's mutating methods.
///
/// Narrowed locally by the component and folded into [`Readiness`] on drop.
/// See the [module docs][self].
///
/// Dropping it immediately (e.g. `self.rtc.readiness.wake();`) is the
/// conservative default: it re-polls everything. Narrow first to do less.
pub(crate) struct Wake<'a> {
    readiness: &'a mut Readiness,
    events: bool,
    timeout: bool,
}

impl Wake<'_> {
    /// Assert this path queued no event or transmit, so the event pipeline
    /// need not be walked on its behalf.
    pub(crate) fn no_events(&mut self) {
        self.events = false;
    }

    /// Assert this path did not move any timer, so the next timeout need not
    /// be recomputed on its behalf.
    pub(crate) fn no_timeout(&mut self) {
        self.timeout = false;
    }
}

impl Drop for Wake<'_> {
    fn drop(&mut self) {
        self.readiness.events |= self.events;
        self.readiness.timeout |= self.timeout;
    }
}

#[cfg(test)]
impl Readiness {
    pub(crate) fn idle() -> Self {
        Self {
            events: false,
            timeout: false,
            datagram_burst: false,
            wakes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::bwe::Bitrate;
    use crate::crypto::dtls::{KeyingMaterial, SrtpProfile};
    use crate::format::Codec;
    use crate::media::MediaKind;
    use crate::rtp::RtpWrite;
    use crate::{Event, Input, Output};
    use std::time::Instant;

    fn idle_rtc() -> Rtc {
        idle_rtc_at(Instant::now())
    }

    fn idle_rtc_at(now: Instant) -> Rtc {
        let mut rtc = Rtc::builder()
            .enable_bwe(Some(Bitrate::kbps(300)))
            .build(now);
        let profile = SrtpProfile::AEAD_AES_128_GCM;
        let mat = KeyingMaterial::new(&vec![0; profile.keying_material_len()]);
        rtc.session
            .set_keying_material(mat, crate::crypto::test_default_provider(), profile, true);
        rtc.direct_api()
            .declare_media("vid".into(), MediaKind::Video);
        rtc.direct_api()
            .declare_stream_tx(42.into(), None, "vid".into(), None);
        rtc.handle_input(Input::Timeout(now)).unwrap();
        while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
        assert!(!rtc.readiness.wants_events());
        assert!(!rtc.readiness.wants_timeout());
        rtc
    }

    #[test]
    fn readiness_bwe_set_bitrate_only_wakes_timeout() {
        let mut rtc = idle_rtc();
        rtc.bwe().set_bitrate(Bitrate::kbps(100), Bitrate::mbps(2));
        assert!(!rtc.readiness.wants_events());
        assert!(rtc.readiness.wants_timeout());
        assert!(
            rtc.session.poll_event().is_none(),
            "no hidden event behind the narrowed flag"
        );
        let expected = rtc.poll_timeout();
        assert!(matches!(rtc.poll_output().unwrap(), Output::Timeout(at) if at == expected));
    }

    #[test]
    fn readiness_bwe_reset_only_wakes_timeout() {
        let mut rtc = idle_rtc();
        rtc.bwe().reset(Bitrate::kbps(900));
        assert!(!rtc.readiness.wants_events());
        assert!(rtc.readiness.wants_timeout());
        assert!(
            rtc.session.poll_event().is_none(),
            "reset produces estimates on a later timeout"
        );
        let expected = rtc.poll_timeout();
        assert!(matches!(rtc.poll_output().unwrap(), Output::Timeout(at) if at == expected));
    }

    #[test]
    fn readiness_outgoing_app_feedback_only_wakes_events() {
        let mut rtc = idle_rtc();
        let before = rtc.session.poll_timeout();
        rtc.direct_api()
            .send_app_specific_feedback(42.into(), 43.into(), vec![1, 2, 3, 4]);
        assert!(rtc.readiness.wants_events());
        assert!(!rtc.readiness.wants_timeout());
        assert_eq!(rtc.session.poll_timeout(), before);
        assert!(
            rtc.session.poll_datagram(rtc.last_now).is_some(),
            "queued feedback must be sendable without a timeout"
        );
    }

    #[test]
    fn readiness_api_narrowing_preserves_other_mutations() {
        for feedback_first in [false, true] {
            let mut rtc = idle_rtc();
            if feedback_first {
                rtc.direct_api()
                    .send_app_specific_feedback(42.into(), 43.into(), vec![1, 2, 3, 4]);
                rtc.bwe().reset(Bitrate::kbps(900));
            } else {
                rtc.bwe().reset(Bitrate::kbps(900));
                rtc.direct_api()
                    .send_app_specific_feedback(42.into(), 43.into(), vec![1, 2, 3, 4]);
            }
            assert!(rtc.readiness.wants_events());
            assert!(rtc.readiness.wants_timeout());
        }
    }

    fn sending_rtc() -> Rtc {
        sending_rtc_at(Instant::now())
    }

    fn sending_rtc_at(now: Instant) -> Rtc {
        let mut rtc = idle_rtc_at(now);
        rtc.send_addr = Some(crate::SendAddr {
            proto: crate::net::Protocol::Udp,
            source: "127.0.0.1:1000".parse().unwrap(),
            destination: "127.0.0.1:2000".parse().unwrap(),
        });
        rtc
    }

    #[test]
    fn any_wake_ends_a_datagram_burst() {
        let mut rtc = sending_rtc();
        rtc.direct_api()
            .send_app_specific_feedback(42.into(), 43.into(), vec![1, 2, 3, 4]);
        assert!(matches!(rtc.poll_output().unwrap(), Output::Transmit(_)));
        assert!(rtc.readiness.in_datagram_burst());
        // A wake narrowed to the timeout ends it as well.
        rtc.bwe().reset(Bitrate::kbps(900));
        assert!(!rtc.readiness.in_datagram_burst());
        while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
        assert!(!rtc.readiness.in_datagram_burst());
        assert!(!rtc.readiness.wants_events());
    }

    #[test]
    fn an_event_behind_a_datagram_burst_comes_before_the_timeout() {
        let mut rtc = sending_rtc();
        let now = rtc.last_now;
        let pt = rtc
            .codec_config()
            .find(|p| p.spec().codec == Codec::Vp8)
            .unwrap()
            .pt();
        let mut api = rtc.direct_api();
        let stream = api.stream_tx(&42.into()).unwrap();
        for seq in 0..3_u64 {
            let write = RtpWrite::new(pt, seq.into(), 90 * seq as u32, now, vec![1; 100]);
            stream.write_rtp(write);
        }
        rtc.handle_input(Input::Timeout(now)).unwrap();
        assert!(matches!(rtc.poll_output().unwrap(), Output::Transmit(_)));
        assert!(rtc.readiness.in_datagram_burst());
        // As if sending had queued an event (no wake): it is not lost, it follows the
        // burst.
        rtc.session.pending_app_feedback = Some(crate::media::AppSpecificFeedback {
            sender_ssrc: 1.into(),
            media_ssrc: 2.into(),
            payload: vec![9].into(),
        });
        let mut outputs = vec![];
        loop {
            match rtc.poll_output().unwrap() {
                Output::Timeout(_) => break,
                Output::Transmit(_) => outputs.push("transmit"),
                Output::Event(Event::AppSpecificFeedback(_)) => outputs.push("event"),
                Output::Event(_) => {}
            }
        }
        // The rest of the frame (and whatever else the session sends), then the event.
        let (last, before) = outputs.split_last().unwrap();
        assert_eq!(*last, "event");
        assert!(before.len() >= 2 && before.iter().all(|o| *o == "transmit"));
        assert!(!rtc.readiness.wants_events());
    }

    /// A receiver in RTP mode with SRTP keys and one declared receive stream (SSRC 42),
    /// drained; and the sender's side of its keys.
    fn receiving_rtc(now: Instant) -> (Rtc, crate::rtp_::SrtpContext) {
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(now);
        let provider = crate::crypto::test_default_provider();
        let profile = SrtpProfile::AEAD_AES_128_GCM;
        let key = vec![7; profile.keying_material_len()];
        rtc.session
            .set_keying_material(KeyingMaterial::new(&key), provider, profile, false);
        rtc.direct_api()
            .declare_media("vid".into(), MediaKind::Video);
        rtc.direct_api()
            .expect_stream_rx(42.into(), None, "vid".into(), None);
        rtc.handle_input(Input::Timeout(now)).unwrap();
        while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
        let sender =
            crate::rtp_::SrtpContext::new(provider, profile, &KeyingMaterial::new(&key), true);
        (rtc, sender)
    }

    /// One protected VP8 packet of SSRC 42 as the receiver's demux sees it.
    fn rtp_datagram(
        rtc: &Rtc,
        sender: &mut crate::rtp_::SrtpContext,
        seq: u16,
    ) -> crate::net::Receive<'static> {
        let pt = rtc
            .session
            .codec_config
            .iter()
            .find(|p| p.spec().codec == Codec::Vp8)
            .unwrap()
            .pt();
        let mut header = crate::rtp::RtpHeader {
            payload_type: pt,
            sequence_number: seq,
            timestamp: 90 * u32::from(seq),
            ssrc: 42.into(),
            ..Default::default()
        };
        let mut buf = vec![0; 1500];
        let len = header.write_to(&mut buf, &rtc.session.exts);
        header.header_len = len;
        buf[len..len + 4].copy_from_slice(&[seq as u8; 4]);
        let packet = sender.protect_rtp(&buf[..len + 4], &header, u64::from(seq));
        let packet: &'static [u8] = Box::leak(packet.into_boxed_slice());
        let addr = "127.0.0.1:5000".parse().unwrap();
        crate::net::Receive::new(crate::net::Protocol::Udp, addr, addr, packet).unwrap()
    }

    /// The sequence numbers of the RTP packet events up to the next timeout.
    fn drain_packets(rtc: &mut Rtc) -> Vec<u16> {
        let mut seqs = Vec::new();
        loop {
            match rtc.poll_output().unwrap() {
                Output::Timeout(_) => return seqs,
                Output::Event(Event::RtpPacket(p)) => seqs.push(p.header.sequence_number),
                _ => {}
            }
        }
    }

    #[test]
    fn a_run_of_datagrams_before_one_drain_runs_no_timeout_and_keeps_every_packet() {
        let start = Instant::now();
        let (mut rtc, mut sender) = receiving_rtc(start);
        let due = rtc.cached_timeout;
        let before = rtc.timeouts_run;
        let step = (due - start) / 8;
        for seq in 1..=5u16 {
            let at = start + step * u32::from(seq);
            let datagram = rtp_datagram(&rtc, &mut sender, seq);
            rtc.handle_input(Input::Receive(at, datagram)).unwrap();
        }
        assert_eq!(rtc.timeouts_run, before, "nothing was due during the run");
        assert_eq!(
            rtc.last_now,
            start + step * 5,
            "the clock moved with the run"
        );
        assert_eq!(drain_packets(&mut rtc), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn anything_else_that_wakes_the_tree_during_a_run_brings_the_timeout_back() {
        let start = Instant::now();
        let (mut rtc, mut sender) = receiving_rtc(start);
        let step = (rtc.cached_timeout - start) / 8;
        let datagram = rtp_datagram(&rtc, &mut sender, 1);
        rtc.handle_input(Input::Receive(start + step, datagram))
            .unwrap();
        let before = rtc.timeouts_run;
        // Not a received datagram: the timeout drained to may no longer be the next one.
        rtc.bwe().set_bitrate(Bitrate::kbps(100), Bitrate::mbps(2));
        let datagram = rtp_datagram(&rtc, &mut sender, 2);
        rtc.handle_input(Input::Receive(start + step * 2, datagram))
            .unwrap();
        assert_eq!(rtc.timeouts_run, before + 1);
        // A datagram due at or after the drained timeout runs it too.
        assert_eq!(drain_packets(&mut rtc), vec![1, 2]);
        let due = rtc.cached_timeout;
        let datagram = rtp_datagram(&rtc, &mut sender, 3);
        rtc.handle_input(Input::Receive(due, datagram)).unwrap();
        assert_eq!(rtc.timeouts_run, before + 2);
        assert_eq!(drain_packets(&mut rtc), vec![3]);
    }

    #[test]
    fn packets_never_polled_are_held_up_to_a_bound_oldest_dropped() {
        let start = Instant::now();
        let (mut rtc, mut sender) = receiving_rtc(start);
        for seq in 1..=70u16 {
            let datagram = rtp_datagram(&rtc, &mut sender, seq);
            rtc.handle_input(Input::Receive(start, datagram)).unwrap();
        }
        let held = drain_packets(&mut rtc);
        assert_eq!(held, (7..=70).collect::<Vec<u16>>());
    }

    #[test]
    fn narrowing_preserves_other_operations() {
        for events in [false, true] {
            for timeout in [false, true] {
                let mut readiness = Readiness {
                    events,
                    timeout,
                    datagram_burst: false,
                    wakes: 0,
                };
                {
                    let mut wake = readiness.wake();
                    wake.no_events();
                    wake.no_timeout();
                }
                assert_eq!(readiness.wants_events(), events);
                assert_eq!(readiness.wants_timeout(), timeout);
            }
        }
    }

    /// Drive a sender for 3 s of 30 frames a second (4 packets of 700 bytes each, more than
    /// the 300 kbit/s estimate lets the pacer send, so it always has a queue), handling
    /// every timeout when it is due; after each frame either a whole timeout
    /// (`whole == true`, every timeout whole as upstream) or `Rtc::handle_written`. Returns
    /// what left when (ms, datagram) and how many whole timeouts ran.
    fn paced_sender_log(start: Instant, whole: bool) -> (Vec<(u64, Vec<u8>)>, usize) {
        use std::time::Duration;
        let mut rtc = sending_rtc_at(start);
        rtc.assume_connected = true;
        rtc.whole_timeouts_only = whole;
        let pt = rtc
            .codec_config()
            .find(|p| p.spec().codec == Codec::Vp8)
            .unwrap()
            .pt();
        let runs_before = rtc.timeouts_run;
        let mut log = Vec::new();
        let mut next = rtc.cached_timeout;
        let mut seq = 0_u64;
        for ms in 0..3_000_u64 {
            let now = start + Duration::from_millis(ms);
            if ms % 33 == 0 {
                let mut api = rtc.direct_api();
                let stream = api.stream_tx(&42.into()).unwrap();
                for i in 0..4_u64 {
                    let write =
                        RtpWrite::new(pt, seq.into(), 90 * ms as u32, now, vec![i as u8; 700])
                            .marker(i == 3);
                    stream.write_rtp(write);
                    seq += 1;
                }
                if whole {
                    rtc.handle_input(Input::Timeout(now)).unwrap();
                } else {
                    rtc.handle_written(now).unwrap();
                }
            } else if now >= next {
                rtc.handle_input(Input::Timeout(now)).unwrap();
            } else {
                continue;
            }
            loop {
                match rtc.poll_output().unwrap() {
                    Output::Timeout(t) => {
                        next = t;
                        break;
                    }
                    Output::Transmit(t) => log.push((ms, t.contents.to_vec())),
                    Output::Event(_) => {}
                }
            }
        }
        (log, rtc.timeouts_run - runs_before)
    }

    #[test]
    fn paced_timeouts_send_what_whole_timeouts_send() {
        let start = Instant::now();
        let (whole, whole_runs) = paced_sender_log(start, true);
        let (paced, paced_runs) = paced_sender_log(start, false);
        // Paced (3 s of 30 frames of 4 packets, not all of it sent), and something besides
        // media (sender reports) left.
        assert!(whole.len() > 150 && whole.len() < 350, "{}", whole.len());
        assert!(whole.iter().any(|(_, d)| d.len() < 200));
        // The same datagrams at the same milliseconds: media byte for byte (RTCP carries
        // each instance's random CNAME).
        assert_eq!(whole.len(), paced.len());
        for (a, b) in whole.iter().zip(&paced) {
            assert_eq!((a.0, a.1.len()), (b.0, b.1.len()));
            if a.1.len() > 200 {
                assert_eq!(a.1, b.1);
            }
        }
        // Most timeouts ran only the pacer and the estimator.
        assert!(paced_runs * 4 < whole_runs, "{paced_runs} vs {whole_runs}");
    }

    /// Run what is due at the start (the first reports), draining, until the next timeout
    /// lies ahead; the time reached.
    fn run_until_a_timeout_lies_ahead(rtc: &mut Rtc) -> Instant {
        let mut now = rtc.last_now;
        while rtc.cached_timeout <= now {
            now = rtc.cached_timeout;
            rtc.handle_input(Input::Timeout(now)).unwrap();
            while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
            assert!(rtc.timeouts_run < 10);
        }
        now
    }

    #[test]
    fn anything_but_a_write_brings_the_whole_timeout_back() {
        let mut rtc = sending_rtc();
        rtc.assume_connected = true;
        let now = run_until_a_timeout_lies_ahead(&mut rtc);
        let due = rtc.cached_timeout;
        let before = rtc.timeouts_run;
        let at = now + (due - now) / 2;
        // Drained, nothing woke: a paced timeout.
        rtc.handle_input(Input::Timeout(at)).unwrap();
        assert_eq!(rtc.timeouts_run, before);
        while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
        // The API woke the tree (not a write the caller vouches for): whole.
        rtc.bwe()
            .set_bitrate(Bitrate::kbps(100), Bitrate::kbps(900));
        rtc.handle_input(Input::Timeout(at)).unwrap();
        assert_eq!(rtc.timeouts_run, before + 1);
        while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
        // Another timer than the pacer's or the estimator's is due: whole, also after a
        // write.
        let others = rtc.others_at.0.unwrap();
        rtc.handle_written(others).unwrap();
        assert_eq!(rtc.timeouts_run, before + 2);
    }

    #[test]
    fn a_stun_or_dtls_datagram_or_connecting_brings_the_whole_timeout_back() {
        let mut rtc = sending_rtc();
        let now = run_until_a_timeout_lies_ahead(&mut rtc);
        let at = now + (rtc.cached_timeout - now) / 4;
        let before = rtc.timeouts_run;
        // Not connected (no ICE, no DTLS): whole.
        rtc.handle_input(Input::Timeout(at)).unwrap();
        while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
        assert_eq!(rtc.timeouts_run, before + 1);
        rtc.assume_connected = true;
        rtc.handle_input(Input::Timeout(at)).unwrap();
        while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
        assert_eq!(rtc.timeouts_run, before + 1);
        // A DTLS record (not one this connection can use): the next timeout is whole,
        // even once drained.
        let addr = "127.0.0.1:5000".parse().unwrap();
        let record = [22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let datagram =
            crate::net::Receive::new(crate::net::Protocol::Udp, addr, addr, &record).unwrap();
        let _ = rtc.handle_input(Input::Receive(at, datagram));
        // The receive itself ran no timeout.
        assert_eq!(rtc.timeouts_run, before + 1);
        while !matches!(rtc.poll_output().unwrap(), Output::Timeout(_)) {}
        assert!(!rtc.readiness.wants_timeout());
        rtc.handle_input(Input::Timeout(at)).unwrap();
        assert_eq!(rtc.timeouts_run, before + 2);
        assert!(!rtc.whole_next);
    }
}

//! Synthetic media with realistic framing: real Opus audio of a generated speech-like signal,
//! and VP8 simulcast packets as a browser's encoder would frame them, minus the pictures. Every payload ends with an 8-byte send timestamp (µs since the Unix
//! epoch, big endian) so receivers measure one-way latency through the server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Largest RTP payload we produce (leaves room for headers, SRTP and extensions).
pub const MAX_PAYLOAD: usize = 1100;

/// Paces frames at a fixed interval; after a stall it resumes without a burst.
#[derive(Debug, Default)]
struct FrameClock {
    next_at: Option<Instant>,
}

impl FrameClock {
    /// Whether a frame is due at `now`; if so, schedules the next one.
    fn due(&mut self, now: Instant, interval: Duration) -> bool {
        let due = *self.next_at.get_or_insert(now);
        if now < due {
            return false;
        }
        self.next_at = Some(if now - due > interval {
            now + interval
        } else {
            due + interval
        });
        true
    }
}

/// One simulcast layer's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSpec {
    /// The rid (`q`, `h`, `f`).
    pub rid: &'static str,
    /// Width in pixels (carried in keyframe headers).
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Frames per second.
    pub fps: u32,
    /// Target bitrate, bits per second.
    pub bitrate: u32,
}

/// Chromium's usual three layers for a 720p camera.
pub const DEFAULT_LAYERS: [LayerSpec; 3] = [
    LayerSpec {
        rid: "q",
        width: 320,
        height: 180,
        fps: 15,
        bitrate: 150_000,
    },
    LayerSpec {
        rid: "h",
        width: 640,
        height: 360,
        fps: 30,
        bitrate: 500_000,
    },
    LayerSpec {
        rid: "f",
        width: 1280,
        height: 720,
        fps: 30,
        bitrate: 1_500_000,
    },
];

/// Microseconds since the Unix epoch.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The send timestamp at the end of a payload, if it is long enough.
pub fn send_timestamp(payload: &[u8]) -> Option<u64> {
    let tail = payload.len().checked_sub(8)?;
    let bytes: [u8; 8] = payload[tail..].try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// One encoded frame, packetized.
#[derive(Debug, Clone)]
pub struct Frame {
    /// RTP timestamp.
    pub rtp_time: u32,
    /// Payloads in order; the last one carries the marker bit.
    pub payloads: Vec<Vec<u8>>,
    /// A keyframe.
    pub keyframe: bool,
    /// RFC 6464 level (-dBov, audio only).
    pub audio_level: Option<i8>,
}

/// A VP8 simulcast layer generator.
#[derive(Debug)]
pub struct VideoLayer {
    spec: LayerSpec,
    rng: StdRng,
    picture_id: u16,
    tl0: u8,
    rtp_time: u32,
    clock: FrameClock,
    keyframe_interval: Duration,
    last_keyframe: Option<Instant>,
    force_keyframe: bool,
}

impl VideoLayer {
    /// A generator for `spec`, keyframes every `keyframe_interval` and on request.
    pub fn new(spec: LayerSpec, keyframe_interval: Duration, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Self {
            spec,
            picture_id: rng.random_range(0..0x7fff),
            tl0: rng.random(),
            rtp_time: rng.random(),
            rng,
            clock: FrameClock::default(),
            keyframe_interval,
            last_keyframe: None,
            force_keyframe: true,
        }
    }

    /// The layer's shape.
    pub fn spec(&self) -> LayerSpec {
        self.spec
    }

    /// The next frame is a keyframe (a PLI arrived).
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// The frame due at `now`, if one is.
    pub fn poll(&mut self, now: Instant) -> Option<Frame> {
        let interval = Duration::from_micros(1_000_000 / u64::from(self.spec.fps));
        if !self.clock.due(now, interval) {
            return None;
        }
        let keyframe = self.force_keyframe
            || self
                .last_keyframe
                .is_none_or(|t| now.duration_since(t) >= self.keyframe_interval);
        if keyframe {
            self.force_keyframe = false;
            self.last_keyframe = Some(now);
        }
        let mean = (self.spec.bitrate / 8 / self.spec.fps) as usize;
        let size = if keyframe {
            mean * 4
        } else {
            mean * self.rng.random_range(8..12) / 10
        };
        let frame = self.packetize(size.max(40), keyframe);
        self.rtp_time = self.rtp_time.wrapping_add(90_000 / self.spec.fps);
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        if keyframe {
            self.tl0 = self.tl0.wrapping_add(1);
        }
        Some(frame)
    }

    fn packetize(&mut self, size: usize, keyframe: bool) -> Frame {
        // Descriptor: X=1, S on the first packet, PID 0; I (15-bit picture id), L, T.
        let descriptor_len = 6;
        let chunk = MAX_PAYLOAD - descriptor_len - 8;
        let n = size.div_ceil(chunk).max(1);
        let stamp = unix_micros().to_be_bytes();
        let mut payloads = Vec::with_capacity(n);
        for i in 0..n {
            let len = if i + 1 == n {
                size - chunk * (n - 1)
            } else {
                chunk
            };
            let mut p = Vec::with_capacity(descriptor_len + len.max(10) + 8);
            p.push(0x80 | if i == 0 { 0x10 } else { 0 });
            p.push(0x80 | 0x40 | 0x20);
            p.push(0x80 | (self.picture_id >> 8) as u8);
            p.push(self.picture_id as u8);
            p.push(self.tl0);
            p.push(0x20); // TID 0, Y=1
            if i == 0 {
                // VP8 frame tag: P bit 0 = keyframe; show_frame; then the start code and size.
                let tag = if keyframe { 0x10 } else { 0x11 };
                p.extend_from_slice(&[tag, 0x00, 0x00]);
                if keyframe {
                    p.extend_from_slice(&[0x9d, 0x01, 0x2a]);
                    p.extend_from_slice(&self.spec.width.to_le_bytes());
                    p.extend_from_slice(&self.spec.height.to_le_bytes());
                }
            }
            while p.len() < descriptor_len + len {
                p.push(self.rng.random());
            }
            p.extend_from_slice(&stamp);
            payloads.push(p);
        }
        Frame {
            rtp_time: self.rtp_time,
            payloads,
            keyframe,
            audio_level: None,
        }
    }
}

/// Real Opus frames of a generated speech-like signal, encoded once and replayed by every
/// synthetic microphone (encoding 150 live streams would load the load tester, not the server).
#[derive(Debug)]
pub struct OpusClip {
    /// 20 ms frames of "talk" (voiced syllables at ~4 Hz), with their RFC 6464 levels.
    talk: Vec<(Vec<u8>, i8)>,
    /// One 20 ms frame of near-silence (room noise), with its level.
    quiet: (Vec<u8>, i8),
}

/// Opus encoding failed (only at start-up).
#[derive(Debug, thiserror::Error)]
#[error("opus: {0}")]
pub struct OpusError(#[from] opus::Error);

const SAMPLE_RATE: u32 = 48_000;
const FRAME_SAMPLES: usize = 960;

impl OpusClip {
    /// Encode `seconds` of talk and one frame of room noise (seeded).
    pub fn generate(seconds: u32, seed: u64) -> Result<Self, OpusError> {
        let mut enc =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)?;
        enc.set_bitrate(opus::Bitrate::Bits(32_000))?;
        let mut rng = StdRng::seed_from_u64(seed);
        let frames = (seconds * 50) as usize;
        let mut talk = Vec::with_capacity(frames);
        let mut out = vec![0u8; 1500];
        let mut phase = 0.0f32;
        for f in 0..frames {
            let mut pcm = [0f32; FRAME_SAMPLES];
            for (i, sample) in pcm.iter_mut().enumerate() {
                let t = (f * FRAME_SAMPLES + i) as f32 / SAMPLE_RATE as f32;
                // Syllables: a 4 Hz envelope; pitch gliding around 140 Hz; a few harmonics.
                let envelope = (t * 4.0 * std::f32::consts::TAU).sin().max(0.0).powf(0.6);
                let pitch = 140.0 + 25.0 * (t * 0.7 * std::f32::consts::TAU).sin();
                phase += pitch / SAMPLE_RATE as f32 * std::f32::consts::TAU;
                let voiced = (1..=5)
                    .map(|h| (phase * h as f32).sin() / h as f32)
                    .sum::<f32>();
                let noise = rng.random_range(-1.0f32..1.0);
                *sample = 0.35 * envelope * voiced + 0.01 * noise;
            }
            let n = enc.encode_float(&pcm, &mut out)?;
            talk.push((out[..n].to_vec(), level_of(&pcm)));
        }
        let mut pcm = [0f32; FRAME_SAMPLES];
        for sample in pcm.iter_mut() {
            *sample = 0.0005 * rng.random_range(-1.0f32..1.0);
        }
        let n = enc.encode_float(&pcm, &mut out)?;
        let quiet = (out[..n].to_vec(), level_of(&pcm));
        Ok(Self { talk, quiet })
    }

    /// The clip every synthetic microphone of this process shares.
    pub fn shared() -> Arc<OpusClip> {
        static CLIP: OnceLock<Arc<OpusClip>> = OnceLock::new();
        CLIP.get_or_init(|| {
            // Encoding a generated signal with fixed parameters cannot fail once the encoder
            // was created; creating it fails only if libopus itself is broken.
            Arc::new(OpusClip::generate(4, 7).expect("libopus encodes a generated clip"))
        })
        .clone()
    }
}

/// RFC 6464 level (-dBov, 0 loudest … -127 silence) of a frame of samples in -1..1.
fn level_of(pcm: &[f32]) -> i8 {
    let mean_square = pcm.iter().map(|s| s * s).sum::<f32>() / pcm.len() as f32;
    let dbov = 10.0 * mean_square.max(1e-13).log10();
    -(dbov.abs().min(127.0) as i8)
}

/// Who talks when.
#[derive(Debug, Clone)]
pub enum Talk {
    /// Continuously (a speaker at the lectern).
    Always,
    /// In random bursts with pauses.
    Bursts,
    /// Only while the shared turn counter names this index (one speaker at a time).
    Turns {
        /// The index of the current speaker.
        current: Arc<AtomicUsize>,
        /// This participant's index.
        mine: usize,
    },
    /// Never (room noise only).
    Silent,
}

/// A synthetic microphone: real Opus frames every 20 ms, talking as [`Talk`] says.
#[derive(Debug)]
pub struct AudioSource {
    rng: StdRng,
    clip: Arc<OpusClip>,
    position: usize,
    rtp_time: u32,
    clock: FrameClock,
    talking_until: Option<Instant>,
    silent_until: Option<Instant>,
    talk: Talk,
}

impl AudioSource {
    /// A microphone replaying `clip`.
    pub fn new(clip: Arc<OpusClip>, talk: Talk, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Self {
            rtp_time: rng.random(),
            position: rng.random_range(0..clip.talk.len().max(1)),
            rng,
            clip,
            clock: FrameClock::default(),
            talking_until: None,
            silent_until: None,
            talk,
        }
    }

    /// The 20 ms frame due at `now`, if one is.
    pub fn poll(&mut self, now: Instant) -> Option<Frame> {
        if !self.clock.due(now, Duration::from_millis(20)) {
            return None;
        }
        let talking = match &self.talk {
            Talk::Always => true,
            Talk::Bursts => self.update_burst(now),
            Talk::Turns { current, mine } => current.load(Ordering::Relaxed) == *mine,
            Talk::Silent => false,
        };
        let (opus, level) = if talking && !self.clip.talk.is_empty() {
            self.position = (self.position + 1) % self.clip.talk.len();
            &self.clip.talk[self.position]
        } else {
            &self.clip.quiet
        };
        let mut payload = opus.clone();
        payload.extend_from_slice(&unix_micros().to_be_bytes());
        let frame = Frame {
            rtp_time: self.rtp_time,
            payloads: vec![payload],
            keyframe: false,
            audio_level: Some(*level),
        };
        self.rtp_time = self.rtp_time.wrapping_add(FRAME_SAMPLES as u32);
        Some(frame)
    }

    fn update_burst(&mut self, now: Instant) -> bool {
        if let Some(t) = self.talking_until
            && now < t
        {
            return true;
        }
        if let Some(t) = self.silent_until
            && now < t
        {
            return false;
        }
        if self.talking_until.is_some_and(|t| now >= t) {
            self.talking_until = None;
            self.silent_until = Some(now + Duration::from_millis(self.rng.random_range(800..2500)));
            false
        } else {
            self.silent_until = None;
            self.talking_until =
                Some(now + Duration::from_millis(self.rng.random_range(1000..4000)));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_frame_is_a_detectable_keyframe_with_timestamp() {
        let t0 = Instant::now();
        let mut layer = VideoLayer::new(DEFAULT_LAYERS[2], Duration::from_secs(3), 1);
        let frame = layer.poll(t0).unwrap();
        assert!(frame.keyframe);
        assert!(
            frame.payloads.len() > 1,
            "a 720p keyframe spans several packets"
        );
        let first = &frame.payloads[0];
        assert!(str0m::format::detect_vp8_keyframe(first));
        let d = str0m::rtp::Vp8Descriptor::parse(first).unwrap();
        assert!(d.picture_id().is_some() && d.tl0_pic_idx().is_some());
        assert!(send_timestamp(first).unwrap() > 0);
        assert!(layer.poll(t0).is_none(), "not due yet");
        let next = layer.poll(t0 + Duration::from_millis(34)).unwrap();
        assert!(!next.keyframe);
        assert!(!str0m::format::detect_vp8_keyframe(&next.payloads[0]));
    }

    #[test]
    fn bitrate_is_about_the_target() {
        let t0 = Instant::now();
        let mut layer = VideoLayer::new(DEFAULT_LAYERS[1], Duration::from_secs(10), 2);
        let mut bytes = 0;
        for i in 0..300u64 {
            if let Some(f) = layer.poll(t0 + Duration::from_micros(i * 33_334)) {
                bytes += f.payloads.iter().map(Vec::len).sum::<usize>();
            }
        }
        let bps = bytes as f64 * 8.0 / 10.0;
        assert!((400_000.0..700_000.0).contains(&bps), "{bps}");
    }

    #[test]
    fn audio_levels_vary_between_talk_and_pause() {
        let t0 = Instant::now();
        let mut a = AudioSource::new(OpusClip::shared(), Talk::Bursts, 3);
        let levels: Vec<i8> = (0..500u64)
            .filter_map(|i| a.poll(t0 + Duration::from_millis(i * 20)))
            .filter_map(|f| f.audio_level)
            .collect();
        assert!(levels.iter().any(|&l| l > -30), "talk is loud");
        assert!(levels.iter().any(|&l| l < -60), "pauses are quiet");
    }

    #[test]
    fn clip_is_real_opus_that_decodes() {
        let clip = OpusClip::shared();
        let mut dec = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).unwrap();
        let mut pcm = [0f32; FRAME_SAMPLES];
        for (frame, _) in clip.talk.iter().take(50) {
            assert_eq!(
                dec.decode_float(frame, &mut pcm, false).unwrap(),
                FRAME_SAMPLES
            );
        }
        assert!(clip.talk.iter().all(|(f, _)| f.len() > 20 && f.len() < 400));
    }
}

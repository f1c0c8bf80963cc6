//! The datagram format: one relayed RTP packet per QUIC datagram (format version 1).
//!
//! All integers big-endian:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 1 | format version, `1` |
//! | 1 | 1 | flags: bit 0 video (else audio), bit 1 keyframe, bit 2 RTP marker, bit 3 picture id present, bit 4 TL0PICIDX present, bit 5 audio level present, bits 6–7 reserved (0) |
//! | 2 | 8 | room id (`u64`, the origin's number for the room, see `Control::Streams`) |
//! | 10 | 2 | stream id (`u16`, see `Control::Streams`) |
//! | 12 | 2 | RTP sequence number |
//! | 14 | 4 | RTP timestamp |
//! | 18 | 2 | picture id (`u16`), if flag bit 3 |
//! | next | 1 | TL0PICIDX (`u8`), if flag bit 4 |
//! | next | 1 | audio level (`i8`, dBov as in RFC 6464, `-127..=0`), if flag bit 5 |
//! | next | rest | RTP payload, to the end of the datagram (may be empty) |
//!
//! A receiver refuses (and counts) a datagram with another version, reserved flag bits set or
//! fewer bytes than its flags announce. [`RelayPacket::decode`] never panics.

use bytes::Bytes;

/// The datagram format version this crate writes and reads.
pub const WIRE_VERSION: u8 = 1;
/// Bytes before the optional fields.
pub const FIXED_HEADER_LEN: usize = 18;
/// The longest header (every optional field present).
pub const MAX_HEADER_LEN: usize = FIXED_HEADER_LEN + 4;

/// Flag bits of byte 1.
pub mod flags {
    /// Video (else audio).
    pub const VIDEO: u8 = 1 << 0;
    /// The packet belongs to a keyframe.
    pub const KEYFRAME: u8 = 1 << 1;
    /// The RTP marker bit.
    pub const MARKER: u8 = 1 << 2;
    /// A picture id (`u16`) follows the fixed header.
    pub const PICTURE_ID: u8 = 1 << 3;
    /// A TL0PICIDX (`u8`) follows.
    pub const TL0: u8 = 1 << 4;
    /// An audio level (`i8`) follows.
    pub const AUDIO_LEVEL: u8 = 1 << 5;
    /// Bits a version-1 receiver refuses.
    pub const RESERVED: u8 = 0b1100_0000;
}

/// What a relayed stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayKind {
    /// Opus audio.
    Audio,
    /// Video (one simulcast layer per stream).
    Video,
}

/// One relayed RTP packet: what the edge needs to forward it as its own, without the origin's
/// SSRCs, header extensions or SRTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPacket {
    /// The origin's id of the room (from `Control::Streams`).
    pub room: u64,
    /// The stream within the room (from `Control::Streams`).
    pub stream: u16,
    /// Audio or video.
    pub kind: RelayKind,
    /// RTP sequence number as the origin forwards it.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// VP8 picture id, when known.
    pub picture_id: Option<u16>,
    /// VP8 TL0PICIDX, when known.
    pub tl0_pic_idx: Option<u8>,
    /// Part of a keyframe.
    pub keyframe: bool,
    /// RTP marker bit.
    pub marker: bool,
    /// Audio level (RFC 6464 dBov, `-127..=0`), when known.
    pub audio_level: Option<i8>,
    /// The RTP payload.
    pub payload: Bytes,
}

/// Why a datagram is not a [`RelayPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the header needs.
    #[error("datagram of {len} bytes, its header needs {need}")]
    Truncated {
        /// The datagram's length.
        len: usize,
        /// The bytes its header needs.
        need: usize,
    },
    /// A format version this node does not speak.
    #[error("unknown datagram format version {0}")]
    UnknownVersion(u8),
    /// Reserved flag bits set.
    #[error("reserved flag bits set in {0:#04x}")]
    ReservedFlags(u8),
}

impl RelayPacket {
    /// The flags byte for this packet.
    pub fn flags(&self) -> u8 {
        let mut f = 0;
        if self.kind == RelayKind::Video {
            f |= flags::VIDEO;
        }
        if self.keyframe {
            f |= flags::KEYFRAME;
        }
        if self.marker {
            f |= flags::MARKER;
        }
        if self.picture_id.is_some() {
            f |= flags::PICTURE_ID;
        }
        if self.tl0_pic_idx.is_some() {
            f |= flags::TL0;
        }
        if self.audio_level.is_some() {
            f |= flags::AUDIO_LEVEL;
        }
        f
    }

    /// The header's length for this packet.
    pub fn header_len(&self) -> usize {
        FIXED_HEADER_LEN
            + if self.picture_id.is_some() { 2 } else { 0 }
            + usize::from(self.tl0_pic_idx.is_some())
            + usize::from(self.audio_level.is_some())
    }

    /// The datagram's length.
    pub fn encoded_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Append the datagram to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(WIRE_VERSION);
        out.push(self.flags());
        out.extend_from_slice(&self.room.to_be_bytes());
        out.extend_from_slice(&self.stream.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        if let Some(pid) = self.picture_id {
            out.extend_from_slice(&pid.to_be_bytes());
        }
        if let Some(tl0) = self.tl0_pic_idx {
            out.push(tl0);
        }
        if let Some(level) = self.audio_level {
            out.extend_from_slice(&level.to_be_bytes());
        }
        out.extend_from_slice(&self.payload);
    }

    /// Parse a datagram; the payload shares `b`'s memory. Never panics.
    pub fn decode(b: Bytes) -> Result<Self, WireError> {
        let len = b.len();
        let Some(&version) = b.first() else {
            return Err(WireError::Truncated { len, need: 1 });
        };
        if version != WIRE_VERSION {
            return Err(WireError::UnknownVersion(version));
        }
        let Some(fixed) = b.get(..FIXED_HEADER_LEN) else {
            return Err(WireError::Truncated {
                len,
                need: FIXED_HEADER_LEN,
            });
        };
        let mut r = Reader(fixed);
        let _version = r.u8();
        let f = r.u8();
        if f & flags::RESERVED != 0 {
            return Err(WireError::ReservedFlags(f));
        }
        let room = u64::from_be_bytes(r.array());
        let stream = u16::from_be_bytes(r.array());
        let seq = u16::from_be_bytes(r.array());
        let timestamp = u32::from_be_bytes(r.array());
        let need = FIXED_HEADER_LEN
            + if f & flags::PICTURE_ID != 0 { 2 } else { 0 }
            + usize::from(f & flags::TL0 != 0)
            + usize::from(f & flags::AUDIO_LEVEL != 0);
        let Some(optional) = b.get(FIXED_HEADER_LEN..need) else {
            return Err(WireError::Truncated { len, need });
        };
        let mut r = Reader(optional);
        let picture_id = (f & flags::PICTURE_ID != 0).then(|| u16::from_be_bytes(r.array()));
        let tl0_pic_idx = (f & flags::TL0 != 0).then(|| r.u8());
        let audio_level = (f & flags::AUDIO_LEVEL != 0).then(|| i8::from_be_bytes(r.array()));
        Ok(RelayPacket {
            room,
            stream,
            kind: if f & flags::VIDEO != 0 {
                RelayKind::Video
            } else {
                RelayKind::Audio
            },
            seq,
            timestamp,
            picture_id,
            tl0_pic_idx,
            keyframe: f & flags::KEYFRAME != 0,
            marker: f & flags::MARKER != 0,
            audio_level,
            payload: b.slice(need..),
        })
    }
}

/// Reads from a slice whose length was checked beforehand; past the end it yields zeros
/// instead of panicking.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        if let Some(dst) = out.get_mut(..n) {
            dst.copy_from_slice(head);
        }
        self.0 = rest;
        out
    }

    fn u8(&mut self) -> u8 {
        let [b] = self.array::<1>();
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    fn video() -> RelayPacket {
        RelayPacket {
            room: 0x0102_0304_0506_0708,
            stream: 0x0a0b,
            kind: RelayKind::Video,
            seq: 0xfffe,
            timestamp: 0xdead_beef,
            picture_id: Some(0x7abc),
            tl0_pic_idx: Some(0x42),
            keyframe: true,
            marker: true,
            audio_level: None,
            payload: Bytes::from_static(&[0x90, 0x80, 0x01, 0xff]),
        }
    }

    fn audio() -> RelayPacket {
        RelayPacket {
            room: 7,
            stream: 1,
            kind: RelayKind::Audio,
            seq: 1,
            timestamp: 960,
            picture_id: None,
            tl0_pic_idx: None,
            keyframe: false,
            marker: false,
            audio_level: Some(-30),
            payload: Bytes::from_static(b"opus"),
        }
    }

    fn enc(p: &RelayPacket) -> Vec<u8> {
        let mut v = Vec::new();
        p.encode(&mut v);
        v
    }

    #[test]
    fn fixed_vector_video() {
        let expected: &[u8] = &[
            0x01,        // version
            0b0001_1111, // video, keyframe, marker, picture id, tl0
            0x01,
            0x02,
            0x03,
            0x04,
            0x05,
            0x06,
            0x07,
            0x08, // room
            0x0a,
            0x0b, // stream
            0xff,
            0xfe, // seq
            0xde,
            0xad,
            0xbe,
            0xef, // timestamp
            0x7a,
            0xbc, // picture id
            0x42, // tl0
            0x90,
            0x80,
            0x01,
            0xff, // payload
        ];
        assert_eq!(enc(&video()), expected);
        assert_eq!(video().encoded_len(), expected.len());
        assert_eq!(
            RelayPacket::decode(Bytes::copy_from_slice(expected)).unwrap(),
            video()
        );
    }

    #[test]
    fn fixed_vector_audio() {
        let expected: &[u8] = &[
            0x01,        // version
            0b0010_0000, // audio, audio level
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            7, // room
            0,
            1, // stream
            0,
            1, // seq
            0,
            0,
            0x03,
            0xc0, // timestamp 960
            0xe2, // -30
            b'o',
            b'p',
            b'u',
            b's',
        ];
        assert_eq!(enc(&audio()), expected);
        assert_eq!(
            RelayPacket::decode(Bytes::copy_from_slice(expected)).unwrap(),
            audio()
        );
    }

    #[test]
    fn fixed_vector_minimal() {
        let p = RelayPacket {
            room: 0,
            stream: 0,
            kind: RelayKind::Video,
            seq: 0,
            timestamp: 0,
            picture_id: None,
            tl0_pic_idx: None,
            keyframe: false,
            marker: false,
            audio_level: None,
            payload: Bytes::new(),
        };
        let mut expected = vec![0u8; FIXED_HEADER_LEN];
        expected[0] = 1;
        expected[1] = 1;
        assert_eq!(enc(&p), expected);
        assert_eq!(RelayPacket::decode(Bytes::from(expected)).unwrap(), p);
    }

    #[test]
    fn round_trips_every_flag_combination() {
        for bits in 0u8..64 {
            let p = RelayPacket {
                room: u64::from(bits) * 0x1234_5678_9abc,
                stream: u16::from(bits),
                kind: if bits & 1 != 0 {
                    RelayKind::Video
                } else {
                    RelayKind::Audio
                },
                seq: u16::from(bits) << 8,
                timestamp: u32::from(bits) << 24,
                picture_id: (bits & 8 != 0).then_some(0x8000 | u16::from(bits)),
                tl0_pic_idx: (bits & 16 != 0).then_some(bits),
                keyframe: bits & 2 != 0,
                marker: bits & 4 != 0,
                audio_level: (bits & 32 != 0).then_some(-127),
                payload: Bytes::from(vec![bits; usize::from(bits)]),
            };
            let v = enc(&p);
            assert_eq!(v[1], bits);
            assert_eq!(v.len(), p.encoded_len());
            assert_eq!(RelayPacket::decode(Bytes::from(v)).unwrap(), p);
        }
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        for p in [video(), audio()] {
            let full = enc(&p);
            let header = p.header_len();
            for cut in 0..header {
                let err = RelayPacket::decode(Bytes::copy_from_slice(&full[..cut])).unwrap_err();
                let need = if cut == 0 {
                    1
                } else if cut < FIXED_HEADER_LEN {
                    FIXED_HEADER_LEN
                } else {
                    header
                };
                assert_eq!(err, WireError::Truncated { len: cut, need }, "cut {cut}");
            }
            // Cutting into the payload is still a packet (the payload is "to the end").
            for cut in header..=full.len() {
                let q = RelayPacket::decode(Bytes::copy_from_slice(&full[..cut])).unwrap();
                assert_eq!(q.payload.len(), cut - header);
            }
        }
    }

    #[test]
    fn versions_and_reserved_flags_are_refused() {
        let mut v = enc(&video());
        for version in [0u8, 2, 0xff] {
            v[0] = version;
            assert_eq!(
                RelayPacket::decode(Bytes::copy_from_slice(&v)),
                Err(WireError::UnknownVersion(version))
            );
            // A short datagram of another version says so, not "truncated".
            assert_eq!(
                RelayPacket::decode(Bytes::copy_from_slice(&v[..1])),
                Err(WireError::UnknownVersion(version))
            );
        }
        v[0] = 1;
        for bit in [0x40u8, 0x80] {
            let mut w = v.clone();
            w[1] |= bit;
            assert_eq!(
                RelayPacket::decode(Bytes::from(w.clone())),
                Err(WireError::ReservedFlags(w[1]))
            );
        }
    }

    #[test]
    fn random_bytes_never_panic_and_valid_ones_round_trip() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x005e_edc1_u64);
        let (mut ok, mut err) = (0u32, 0u32);
        for i in 0..200_000u32 {
            let len = (rng.next_u32() % 64) as usize;
            let mut buf = vec![0u8; len];
            rng.fill_bytes(&mut buf);
            // Bias half of the inputs towards a valid version so the flag paths are exercised.
            if i % 2 == 0 && !buf.is_empty() {
                buf[0] = 1;
            }
            match RelayPacket::decode(Bytes::from(buf.clone())) {
                Ok(p) => {
                    ok += 1;
                    // Re-encoding gives the same bytes back.
                    assert_eq!(enc(&p), buf);
                }
                Err(_) => err += 1,
            }
        }
        assert!(ok > 10_000 && err > 10_000, "ok {ok} err {err}");
    }
}

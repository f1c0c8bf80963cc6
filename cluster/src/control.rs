//! Control messages: one bidirectional QUIC stream per connection, each message a `u32`
//! big-endian length followed by that many bytes of JSON (at most [`MAX_CONTROL_LEN`]).
//!
//! The JSON is an object with a `"type"` tag in snake case (`{"type":"subscribe","room":"…"}`);
//! unknown types and unknown fields are refused, which closes the connection: both sides of a
//! connection speak the same protocol version (ALPN and `Hello.version`).

use serde::{Deserialize, Serialize};

use crate::wire::RelayKind;

/// The control protocol version sent in `Hello` (and in the ALPN `plenum-cluster/1`).
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest control message body (the JSON, without its 4-byte length).
pub const MAX_CONTROL_LEN: usize = 64 * 1024;

/// A node's role on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Hosts rooms and relays their media to edges.
    Origin,
    /// Serves viewers with media relayed from an origin.
    Edge,
}

/// What one stream id of a room carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamInfo {
    /// The stream id in [`crate::RelayPacket::stream`].
    pub stream: u16,
    /// Audio or video.
    pub kind: RelayKind,
    /// Video: the simulcast layer (0 lowest .. 2 highest); audio: 0.
    pub layer: u8,
    /// Audio: which audio slot (floor audio, active-speaker slots); video: 0.
    pub audio_index: u8,
}

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    /// The first message in each direction.
    Hello {
        /// The sender's node name (the origin checks it against the edge's certificate).
        node: String,
        /// The sender's role.
        role: Role,
        /// [`PROTOCOL_VERSION`].
        version: u32,
        /// Where members and players reach this node (HTTPS), if it serves them.
        public_url: Option<String>,
    },
    /// Edge → origin: relay this room.
    Subscribe {
        /// The room's name.
        room: String,
    },
    /// Edge → origin: stop relaying this room.
    Unsubscribe {
        /// The room's name.
        room: String,
    },
    /// Origin → edge: the room's id in datagrams and what each stream id carries (sent after
    /// `Subscribe` and whenever the set changes).
    Streams {
        /// The room's name.
        room: String,
        /// [`crate::RelayPacket::room`] for this room.
        room_id: u64,
        /// The streams.
        streams: Vec<StreamInfo>,
    },
    /// Edge → origin: which video simulcast layers any viewer on the edge needs.
    LayersNeeded {
        /// The room's name.
        room: String,
        /// Layers 0..2.
        layers: [bool; 3],
    },
    /// Edge → origin: a viewer needs a keyframe on this stream.
    KeyframeRequest {
        /// The room's name.
        room: String,
        /// The stream id.
        stream: u16,
    },
    /// Edge → origin: load report, every second.
    Load {
        /// Viewers connected to the edge.
        viewers: u32,
        /// Viewers the edge accepts.
        capacity: u32,
        /// The edge's media egress, bits per second.
        egress_bps: u64,
    },
    /// Origin → edge: the room ended (or the edge may not relay it).
    RoomGone {
        /// The room's name.
        room: String,
    },
    /// Either way: answered with `Pong` by the link itself.
    Ping,
    /// The answer to `Ping`.
    Pong,
}

/// Why bytes on the control stream are not a control message.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The announced length is over [`MAX_CONTROL_LEN`].
    #[error("control message of {0} bytes, at most {MAX_CONTROL_LEN}")]
    TooLarge(usize),
    /// Not a control message (bad JSON, unknown type or field, wrong types).
    #[error("malformed control message: {0}")]
    Json(#[from] serde_json::Error),
}

impl Control {
    /// The message's type tag (for logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Control::Hello { .. } => "hello",
            Control::Subscribe { .. } => "subscribe",
            Control::Unsubscribe { .. } => "unsubscribe",
            Control::Streams { .. } => "streams",
            Control::LayersNeeded { .. } => "layers_needed",
            Control::KeyframeRequest { .. } => "keyframe_request",
            Control::Load { .. } => "load",
            Control::RoomGone { .. } => "room_gone",
            Control::Ping => "ping",
            Control::Pong => "pong",
        }
    }

    /// The message as one frame: the `u32` BE length, then the JSON.
    pub fn encode_frame(&self) -> Result<Vec<u8>, ControlError> {
        let mut out = vec![0u8; 4];
        serde_json::to_writer(&mut out, self)?;
        let len = out.len() - 4;
        if len > MAX_CONTROL_LEN {
            return Err(ControlError::TooLarge(len));
        }
        let prefix = u32::try_from(len)
            .map_err(|_| ControlError::TooLarge(len))?
            .to_be_bytes();
        if let Some(head) = out.get_mut(..4) {
            head.copy_from_slice(&prefix);
        }
        Ok(out)
    }

    /// Parse a frame body (the JSON without its length). Never panics.
    pub fn decode_body(body: &[u8]) -> Result<Self, ControlError> {
        if body.len() > MAX_CONTROL_LEN {
            return Err(ControlError::TooLarge(body.len()));
        }
        let c: Control = serde_json::from_slice(body)?;
        if matches!(c, Control::Ping | Control::Pong) {
            // serde's `deny_unknown_fields` does not cover unit variants of a tagged enum.
            let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)?;
            if fields.len() != 1 {
                return Err(ControlError::Json(serde::de::Error::custom(format!(
                    "unknown field in {}",
                    c.kind()
                ))));
            }
        }
        Ok(c)
    }

    /// Parse the first frame in `buf`: `Ok(None)` while it is incomplete, else the message and
    /// the bytes it took. Never panics; an announced length over the maximum is an error
    /// before its body arrives.
    pub fn decode_frame(buf: &[u8]) -> Result<Option<(Self, usize)>, ControlError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let len = frame_len(prefix)?;
        let Some(body) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        Ok(Some((Self::decode_body(body)?, 4 + len)))
    }
}

/// The body length announced by a 4-byte prefix, refused over [`MAX_CONTROL_LEN`].
pub(crate) fn frame_len(prefix: &[u8]) -> Result<usize, ControlError> {
    let mut b = [0u8; 4];
    if let Some(src) = prefix.get(..4) {
        b.copy_from_slice(src);
    }
    let len = usize::try_from(u32::from_be_bytes(b)).unwrap_or(usize::MAX);
    if len > MAX_CONTROL_LEN {
        return Err(ControlError::TooLarge(len));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    fn all() -> Vec<Control> {
        vec![
            Control::Hello {
                node: "edge-1".into(),
                role: Role::Edge,
                version: PROTOCOL_VERSION,
                public_url: Some("https://edge-1.example.org".into()),
            },
            Control::Hello {
                node: "origin".into(),
                role: Role::Origin,
                version: PROTOCOL_VERSION,
                public_url: None,
            },
            Control::Subscribe {
                room: "plenary".into(),
            },
            Control::Unsubscribe {
                room: "plenary".into(),
            },
            Control::Streams {
                room: "plenary".into(),
                room_id: u64::MAX,
                streams: vec![
                    StreamInfo {
                        stream: 0,
                        kind: RelayKind::Video,
                        layer: 2,
                        audio_index: 0,
                    },
                    StreamInfo {
                        stream: 1,
                        kind: RelayKind::Audio,
                        layer: 0,
                        audio_index: 3,
                    },
                ],
            },
            Control::LayersNeeded {
                room: "plenary".into(),
                layers: [true, false, true],
            },
            Control::KeyframeRequest {
                room: "plenary".into(),
                stream: 7,
            },
            Control::Load {
                viewers: 1000,
                capacity: 2000,
                egress_bps: 3_000_000_000,
            },
            Control::RoomGone {
                room: "plenary".into(),
            },
            Control::Ping,
            Control::Pong,
        ]
    }

    #[test]
    fn round_trips() {
        let mut stream = Vec::new();
        for c in all() {
            let frame = c.encode_frame().unwrap();
            let (back, used) = Control::decode_frame(&frame).unwrap().unwrap();
            assert_eq!(back, c);
            assert_eq!(used, frame.len());
            assert!(serde_json::to_string(&c).unwrap().contains(c.kind()));
            stream.extend_from_slice(&frame);
        }
        // Several frames back to back, and every prefix of a frame is "incomplete".
        let mut at = 0;
        for c in all() {
            let (back, used) = Control::decode_frame(&stream[at..]).unwrap().unwrap();
            assert_eq!(back, c);
            for cut in 0..used {
                assert!(
                    Control::decode_frame(&stream[at..at + cut])
                        .unwrap()
                        .is_none()
                );
            }
            at += used;
        }
        assert_eq!(at, stream.len());
    }

    #[test]
    fn fixed_json() {
        let frame = Control::Subscribe {
            room: "plenary".into(),
        }
        .encode_frame()
        .unwrap();
        let body = br#"{"type":"subscribe","room":"plenary"}"#;
        assert_eq!(&frame[..4], &(body.len() as u32).to_be_bytes());
        assert_eq!(&frame[4..], body);
        assert_eq!(
            Control::decode_body(
                br#"{"type":"layers_needed","room":"r","layers":[false,true,false]}"#
            )
            .unwrap(),
            Control::LayersNeeded {
                room: "r".into(),
                layers: [false, true, false]
            }
        );
        assert_eq!(
            Control::decode_body(br#"{"type":"ping"}"#).unwrap(),
            Control::Ping
        );
        assert_eq!(
            Control::decode_body(
                br#"{"type":"hello","node":"e","role":"edge","version":1,"public_url":null}"#
            )
            .unwrap(),
            Control::Hello {
                node: "e".into(),
                role: Role::Edge,
                version: 1,
                public_url: None
            }
        );
    }

    #[test]
    fn refuses_unknown_and_malformed() {
        for bad in [
            &br#"{"type":"subscribe","room":"r","extra":1}"#[..],
            br#"{"type":"teleport"}"#,
            br#"{"type":"ping","x":1}"#,
            br#"{"type":"pong","type":"pong"}"#,
            br#"{"room":"r"}"#,
            br#"{"type":"layers_needed","room":"r","layers":[true,true]}"#,
            br#"{"type":"streams","room":"r","room_id":1,"streams":[{"stream":1,"kind":"audio","layer":0,"audio_index":0,"x":0}]}"#,
            br#"{"type":"streams","room":"r","room_id":1,"streams":[{"stream":1,"kind":"smell","layer":0,"audio_index":0}]}"#,
            br#"{"type":"keyframe_request","room":"r","stream":70000}"#,
            br#"{"type":"hello","node":"e","role":"viewer","version":1,"public_url":null}"#,
            b"",
            b"null",
            b"[]",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(Control::decode_body(bad), Err(ControlError::Json(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut huge = ((MAX_CONTROL_LEN + 1) as u32).to_be_bytes().to_vec();
        assert!(matches!(
            Control::decode_frame(&huge),
            Err(ControlError::TooLarge(n)) if n == MAX_CONTROL_LEN + 1
        ));
        huge = u32::MAX.to_be_bytes().to_vec();
        assert!(matches!(
            Control::decode_frame(&huge),
            Err(ControlError::TooLarge(_))
        ));
        let too_big = Control::Subscribe {
            room: "x".repeat(MAX_CONTROL_LEN),
        };
        assert!(matches!(
            too_big.encode_frame(),
            Err(ControlError::TooLarge(_))
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x0c04_7201);
        let seeds: Vec<Vec<u8>> = all().iter().map(|c| c.encode_frame().unwrap()).collect();
        for i in 0..100_000usize {
            let mut buf = if i % 2 == 0 {
                // A valid frame with a few random bytes changed.
                let mut b = seeds[i % seeds.len()].clone();
                for _ in 0..1 + rng.next_u32() % 3 {
                    let at = rng.next_u32() as usize % b.len();
                    b[at] = rng.next_u32() as u8;
                }
                b
            } else {
                let mut b = vec![0u8; (rng.next_u32() % 80) as usize];
                rng.fill_bytes(&mut b);
                b
            };
            if i % 7 == 0 {
                buf.truncate(rng.next_u32() as usize % (buf.len() + 1));
            }
            let _ = Control::decode_frame(&buf);
            if buf.len() >= 4 {
                let _ = Control::decode_body(&buf[4..]);
            }
        }
    }
}

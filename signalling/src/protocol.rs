//! Wire types of the WebSocket protocol, version 1 (docs/protocol.md).

use serde::{Deserialize, Serialize};

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest accepted client frame.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

/// A client command with its arguments.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Authenticate and enter the token's room.
    Join {
        /// Protocol version the client speaks.
        protocol: u32,
        /// Signed access token.
        token: String,
    },
    /// Negotiate media: SDP offer in, answer out.
    Offer {
        /// The SDP offer.
        sdp: String,
    },
    /// Start forwarding the microphone or camera.
    Publish {
        /// Which one.
        kind: MediaKindArg,
    },
    /// Stop forwarding the microphone or camera.
    Unpublish {
        /// Which one.
        kind: MediaKindArg,
    },
    /// Mute or unmute the own microphone.
    SetMuted {
        /// Muted?
        muted: bool,
    },
    /// Moderators: put someone on stage, or `null` for automatic.
    SetStage {
        /// The participant, or none.
        participant_id: Option<String>,
    },
    /// Leave the room.
    Leave,
    /// Liveness check.
    Ping,
}

impl Command {
    /// The command's wire name, for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Join { .. } => "join",
            Command::Offer { .. } => "offer",
            Command::Publish { .. } => "publish",
            Command::Unpublish { .. } => "unpublish",
            Command::SetMuted { .. } => "set_muted",
            Command::SetStage { .. } => "set_stage",
            Command::Leave => "leave",
            Command::Ping => "ping",
        }
    }
}

/// `audio` or `video`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MediaKindArg {
    /// The microphone.
    Audio,
    /// The camera.
    Video,
}

/// A command with its id, as it arrives.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// Chosen by the client, echoed in the answer.
    pub id: u64,
    /// The command.
    #[serde(flatten)]
    pub command: Command,
}

/// Error codes a client can show (see docs/protocol.md).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed frame, unknown command, bad field.
    BadRequest,
    /// `join.protocol` is not ours.
    UnsupportedVersion,
    /// Bad token.
    InvalidToken,
    /// Expired token.
    TokenExpired,
    /// Command before `join`.
    NotJoined,
    /// Second `join`.
    AlreadyJoined,
    /// Role does not allow it.
    Forbidden,
    /// Offer unusable.
    InvalidSdp,
    /// Named participant absent.
    NotFound,
    /// Media plane refused or is gone.
    MediaUnavailable,
    /// Anything else.
    Internal,
}

impl ErrorCode {
    /// Errors after which the server closes the connection.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            ErrorCode::UnsupportedVersion | ErrorCode::InvalidToken | ErrorCode::TokenExpired
        )
    }
}

/// A typed error for the client.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable (English) explanation; clients translate by `code`.
    pub message: String,
}

impl ErrorBody {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A participant as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// Stable id (from the invite).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role name.
    pub role: String,
    /// Publishes a microphone.
    pub audio: bool,
    /// Publishes a camera.
    pub video: bool,
    /// Muted their microphone.
    pub muted: bool,
}

/// What one receive slot of a client shows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SlotAssignment {
    /// `stage`, `tile-N`, `audio-N`.
    pub slot: String,
    /// The m-line.
    pub mid: String,
    /// `audio` or `video`.
    pub kind: MediaKindArg,
    /// Who is shown.
    pub participant_id: Option<String>,
}

/// Why the server closes a connection.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The same participant connected again elsewhere.
    Replaced,
    /// The participant left.
    Left,
    /// The server stops.
    ServerShutdown,
    /// A fatal protocol error.
    Error,
}

/// Server-initiated messages.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Someone joined.
    ParticipantJoined {
        /// Who.
        participant: ParticipantInfo,
    },
    /// Someone left.
    ParticipantLeft {
        /// Who.
        participant_id: String,
    },
    /// Publish/mute state changed.
    ParticipantUpdated {
        /// The new state.
        participant: ParticipantInfo,
    },
    /// The stage shows someone else.
    StageChanged {
        /// Who, if anyone.
        participant_id: Option<String>,
        /// Chosen by a moderator.
        pinned: bool,
    },
    /// This client's slots show other participants.
    SlotsChanged {
        /// The changed slots.
        slots: Vec<SlotAssignment>,
    },
    /// The server is about to close the connection.
    Closing {
        /// Why.
        reason: CloseReason,
    },
}

/// An answer to one command.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The command's id (null when it could not be read).
    pub id: Option<u64>,
    /// Success?
    pub ok: bool,
    /// The result, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The error, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Answer {
    /// A successful answer.
    pub fn ok(id: u64, result: serde_json::Value) -> Self {
        Self {
            id: Some(id),
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    /// A failed answer.
    pub fn err(id: Option<u64>, error: ErrorBody) -> Self {
        Self {
            id,
            ok: false,
            result: None,
            error: Some(error),
        }
    }
}

/// Parse a client frame. Unknown commands and bad fields become `bad_request` with the id
/// when it can be read.
pub fn parse_envelope(text: &str) -> Result<Envelope, (Option<u64>, ErrorBody)> {
    serde_json::from_str::<Envelope>(text).map_err(|e| {
        let id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64));
        (id, ErrorBody::new(ErrorCode::BadRequest, e.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        let e = parse_envelope(r#"{"id":3,"cmd":"join","protocol":1,"token":"x"}"#).unwrap();
        assert_eq!(e.id, 3);
        assert_eq!(
            e.command,
            Command::Join {
                protocol: 1,
                token: "x".into()
            }
        );
        let e = parse_envelope(r#"{"id":4,"cmd":"set_stage","participant_id":null}"#).unwrap();
        assert_eq!(
            e.command,
            Command::SetStage {
                participant_id: None
            }
        );
        let e = parse_envelope(r#"{"id":5,"cmd":"publish","kind":"video"}"#).unwrap();
        assert_eq!(
            e.command,
            Command::Publish {
                kind: MediaKindArg::Video
            }
        );
    }

    #[test]
    fn bad_frames_are_bad_requests_with_id_when_readable() {
        let (id, err) = parse_envelope(r#"{"id":9,"cmd":"fly"}"#).unwrap_err();
        assert_eq!(id, Some(9));
        assert_eq!(err.code, ErrorCode::BadRequest);
        let (id, err) = parse_envelope("not json").unwrap_err();
        assert_eq!(id, None);
        assert_eq!(err.code, ErrorCode::BadRequest);
        let (_, err) = parse_envelope(r#"{"id":1,"cmd":"publish","kind":"smell"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
    }

    #[test]
    fn events_serialize_with_event_tag() {
        let v = serde_json::to_value(Event::ParticipantLeft {
            participant_id: "p-1".into(),
        })
        .unwrap();
        assert_eq!(v["event"], "participant_left");
        assert_eq!(v["participant_id"], "p-1");
    }
}

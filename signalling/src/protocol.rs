//! Wire types of the WebSocket protocol, version 1 (docs/protocol.md).

use serde::{Deserialize, Serialize};

use plenum_ballot_crypto::board::Entry;
use plenum_ballot_crypto::dkg::{Complaint, ComplaintAnswer, Dealing, DkgTranscript, MemberKey};
use plenum_ballot_crypto::encoding::Hash32;
use plenum_ballot_crypto::tally::PartialDecryption;

use crate::authz::{GrantOverrides, Grants};
use crate::ballot::{Choice, PollSpec, PollView};
use crate::queue::{QueueView, RequestKind, Speech};
use crate::verifiable::Round;

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
        /// Who sent it (never on the wire: WHIP and WHEP set their own).
        #[serde(skip)]
        front: crate::offer::Front,
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
    /// Ask for the floor.
    RequestFloor {
        /// What for.
        #[serde(default)]
        kind: RequestKind,
    },
    /// Withdraw the own request.
    WithdrawFloorRequest {
        /// The entry.
        entry_id: u64,
    },
    /// Moderators: give the floor to an entry, a participant, or the first entry.
    QueueGiveFloor {
        /// A waiting entry.
        #[serde(default)]
        entry_id: Option<u64>,
        /// A participant (queued or not).
        #[serde(default)]
        participant_id: Option<String>,
    },
    /// End the current speech (moderators, or the speaker).
    QueueEndFloor,
    /// Moderators: stop the speaker's clock.
    QueuePause,
    /// Moderators: restart it.
    QueueResume,
    /// Moderators: more time for the current speech.
    QueueExtend {
        /// How much.
        seconds: u32,
    },
    /// Moderators: remove a waiting entry.
    QueueRemove {
        /// The entry.
        entry_id: u64,
    },
    /// Moderators: move a waiting entry.
    QueueMove {
        /// The entry.
        entry_id: u64,
        /// New place, 0 = first.
        position: usize,
    },
    /// Moderators: open or close the list.
    QueueSetOpen {
        /// Open?
        open: bool,
    },
    /// Moderators: time limit for the next speeches.
    QueueSetTimeLimit {
        /// Seconds, or none.
        #[serde(default)]
        seconds: Option<u32>,
    },
    /// The history of speeches.
    QueueHistory,
    /// Moderators (the chair): open the session; the minutes start here.
    SessionOpen,
    /// Moderators: close the session.
    SessionClose,
    /// Moderators: call an agenda item of the room's event (0-based index).
    AgendaCall {
        /// The item.
        item: usize,
    },
    /// Moderators: congress or open-discussion mode.
    SetMode {
        /// The mode.
        mode: RoomMode,
    },
    /// Moderators: lobby on/off.
    SetLobby {
        /// On?
        enabled: bool,
    },
    /// Moderators: let a waiting participant in.
    Admit {
        /// Who.
        participant_id: String,
    },
    /// Moderators: turn a waiting participant away.
    Deny {
        /// Who.
        participant_id: String,
    },
    /// Moderators: server-side mute.
    MuteParticipant {
        /// Who.
        participant_id: String,
        /// Only take back an unmute: heard again with the floor (congress mode).
        #[serde(default)]
        floor_only: bool,
    },
    /// Moderators: lift a server-side mute; in congress mode also lets them be heard.
    UnmuteParticipant {
        /// Who.
        participant_id: String,
    },
    /// Moderators: remove someone, optionally barring them from rejoining.
    RemoveParticipant {
        /// Who.
        participant_id: String,
        /// Bar them.
        #[serde(default)]
        ban: bool,
    },
    /// Moderators: the room's invites (no tokens).
    InviteList,
    /// Moderators: revoke an invite, by its id or by the participant it admits; their live
    /// session ends (`closing`: `revoked`). Invites of moderators and admins need *admin*.
    InviteRevoke {
        /// The invite.
        #[serde(default)]
        invite_id: Option<String>,
        /// Or: the participant it admits.
        #[serde(default)]
        participant_id: Option<String>,
    },
    /// Moderators: change someone's role or grants.
    SetGrants {
        /// Who.
        participant_id: String,
        /// The changes.
        #[serde(flatten)]
        overrides: GrantOverrides,
    },
    /// Moderators: define a poll (a draft).
    PollCreate {
        /// The definition.
        poll: PollSpec,
    },
    /// Moderators: open a draft; eligibility is fixed now.
    PollOpen {
        /// The poll.
        poll_id: String,
    },
    /// Moderators: stop voting and count.
    PollClose {
        /// The poll.
        poll_id: String,
    },
    /// Moderators: make the result public.
    PollPublish {
        /// The poll.
        poll_id: String,
    },
    /// Moderators: call off a draft or open poll (its ballots are deleted).
    PollCancel {
        /// The poll.
        poll_id: String,
    },
    /// Vote (own right, or a delegated one).
    CastVote {
        /// The poll.
        poll_id: String,
        /// The choice.
        choice: Choice,
        /// A delegator whose right to cast (default: one's own).
        #[serde(default)]
        on_behalf_of: Option<String>,
    },
    /// A tally committee member's DKG key (round `keys` of a verifiable poll).
    DkgKey {
        /// The poll.
        poll_id: String,
        /// The key with its proof.
        key: MemberKey,
    },
    /// A committee member's dealing (round `dealings`).
    DkgDeal {
        /// The poll.
        poll_id: String,
        /// Commitments, proof, encrypted shares.
        dealing: Dealing,
    },
    /// A committee member's complaints about shares it received (round `complaints`; none:
    /// every share checked out).
    DkgComplain {
        /// The poll.
        poll_id: String,
        /// The complaints.
        complaints: Vec<Complaint>,
    },
    /// An accused dealer reveals the shares it was accused of (round `answers`).
    DkgAnswer {
        /// The poll.
        poll_id: String,
        /// One per complaint about it.
        answers: Vec<ComplaintAnswer>,
    },
    /// Moderators: end the current DKG round now (the silent are treated as absent).
    PollDkgAdvance {
        /// The poll.
        poll_id: String,
    },
    /// Cast an encrypted ballot in a verifiable poll: registers the credential for the right
    /// and casts the ballot signed with it.
    CastBallot {
        /// The poll.
        poll_id: String,
        /// A delegator whose right to cast (default: one's own).
        #[serde(default)]
        on_behalf_of: Option<String>,
        /// The credential's public key (hex); read by the room, so that a malformed one is a
        /// refused ballot like any other.
        credential: serde_json::Value,
        /// The ballot (ballot.md, *JSON*); read by the room, as `credential`.
        ballot: serde_json::Value,
    },
    /// A qualified committee member's partial decryption of a closed verifiable poll's tally.
    DkgDecrypt {
        /// The poll.
        poll_id: String,
        /// The decryption factors with their proofs.
        partial: PartialDecryption,
    },
    /// A verifiable poll's bulletin board (`plenum-board/v1`), for `plenum-verify`.
    PollBoard {
        /// The poll.
        poll_id: String,
    },
    /// The room's polls.
    PollList,
    /// The receipts of a published poll's counted ballots.
    PollReceipts {
        /// The poll.
        poll_id: String,
    },
    /// Delegate one's voting right to another delegate, or take it back (`null`).
    SetProxy {
        /// The proxy.
        #[serde(default)]
        proxy_id: Option<String>,
    },
    /// The room's audit chain of poll events.
    AuditExport,
    /// The sizes the client renders its video slots at (layer choice).
    SetSlotSizes {
        /// Per slot.
        slots: Vec<SlotSize>,
    },
    /// A command for a plugin (docs/plugins.md).
    Plugin {
        /// The plugin's namespace.
        ns: String,
        /// The plugin's command.
        body: serde_json::Value,
    },
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
            Command::RequestFloor { .. } => "request_floor",
            Command::WithdrawFloorRequest { .. } => "withdraw_floor_request",
            Command::QueueGiveFloor { .. } => "queue_give_floor",
            Command::QueueEndFloor => "queue_end_floor",
            Command::QueuePause => "queue_pause",
            Command::QueueResume => "queue_resume",
            Command::QueueExtend { .. } => "queue_extend",
            Command::QueueRemove { .. } => "queue_remove",
            Command::QueueMove { .. } => "queue_move",
            Command::QueueSetOpen { .. } => "queue_set_open",
            Command::QueueSetTimeLimit { .. } => "queue_set_time_limit",
            Command::QueueHistory => "queue_history",
            Command::SessionOpen => "session_open",
            Command::SessionClose => "session_close",
            Command::AgendaCall { .. } => "agenda_call",
            Command::SetMode { .. } => "set_mode",
            Command::SetLobby { .. } => "set_lobby",
            Command::Admit { .. } => "admit",
            Command::Deny { .. } => "deny",
            Command::MuteParticipant { .. } => "mute_participant",
            Command::UnmuteParticipant { .. } => "unmute_participant",
            Command::RemoveParticipant { .. } => "remove_participant",
            Command::InviteList => "invite_list",
            Command::InviteRevoke { .. } => "invite_revoke",
            Command::SetGrants { .. } => "set_grants",
            Command::PollCreate { .. } => "poll_create",
            Command::PollOpen { .. } => "poll_open",
            Command::PollClose { .. } => "poll_close",
            Command::PollPublish { .. } => "poll_publish",
            Command::PollCancel { .. } => "poll_cancel",
            Command::CastVote { .. } => "cast_vote",
            Command::DkgKey { .. } => "dkg_key",
            Command::DkgDeal { .. } => "dkg_deal",
            Command::DkgComplain { .. } => "dkg_complain",
            Command::DkgAnswer { .. } => "dkg_answer",
            Command::PollDkgAdvance { .. } => "poll_dkg_advance",
            Command::CastBallot { .. } => "cast_ballot",
            Command::DkgDecrypt { .. } => "dkg_decrypt",
            Command::PollBoard { .. } => "poll_board",
            Command::PollList => "poll_list",
            Command::PollReceipts { .. } => "poll_receipts",
            Command::SetProxy { .. } => "set_proxy",
            Command::AuditExport => "audit_export",
            Command::SetSlotSizes { .. } => "set_slot_sizes",
            Command::Plugin { .. } => "plugin",
        }
    }
}

/// How large the client renders one receive slot.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SlotSize {
    /// The slot's m-line.
    pub mid: String,
    /// Rendered width in device pixels.
    pub width: u32,
    /// Rendered height in device pixels.
    #[serde(default)]
    pub height: u32,
}

/// Who is heard in a room (docs/protocol.md, *Modes*).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoomMode {
    /// The floor holder, moderators and whoever a moderator unmuted.
    Congress,
    /// Everyone; the loudest few fill the audio slots.
    #[default]
    Open,
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

/// Error codes a client can show (see docs/protocol.md). Serialized as the snake_case name;
/// [`ErrorCode::Crypto`] as the cryptography's own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Waiting in the lobby: only `leave` and `ping`.
    InLobby,
    /// The speaker list is closed.
    QueueClosed,
    /// Already on the speaker list for this.
    AlreadyQueued,
    /// Removed and barred from rejoining.
    Banned,
    /// The poll takes no votes (not open).
    PollNotOpen,
    /// No voting right in this poll (or it was delegated).
    NotEligible,
    /// This right was used already.
    AlreadyVoted,
    /// The choice does not fit the poll.
    InvalidChoice,
    /// A plugin refused the command; `reason` says why (the plugin's own code).
    PluginError,
    /// Too many commands too fast: `retry_after_ms` says when the next one is accepted.
    RateLimited,
    /// The room has as many participants as it admits (`http.max_room_participants`).
    RoomFull,
    /// A verifiable poll cannot open before its committee's key generation is done.
    DkgIncomplete,
    /// A verifiable poll's cryptography refused the input: `plenum_ballot_crypto::Error::code`
    /// (`bad_proof`, `malformed`, `credential_used`, …).
    Crypto(&'static str),
    /// Anything else.
    Internal,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidSdp => "invalid_sdp",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MediaUnavailable => "media_unavailable",
            ErrorCode::InLobby => "in_lobby",
            ErrorCode::QueueClosed => "queue_closed",
            ErrorCode::AlreadyQueued => "already_queued",
            ErrorCode::Banned => "banned",
            ErrorCode::PollNotOpen => "poll_not_open",
            ErrorCode::NotEligible => "not_eligible",
            ErrorCode::AlreadyVoted => "already_voted",
            ErrorCode::InvalidChoice => "invalid_choice",
            ErrorCode::PluginError => "plugin_error",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::DkgIncomplete => "dkg_incomplete",
            ErrorCode::Crypto(code) => code,
            ErrorCode::Internal => "internal",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl ErrorCode {
    /// Errors after which the server closes the connection.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            ErrorCode::UnsupportedVersion
                | ErrorCode::InvalidToken
                | ErrorCode::TokenExpired
                | ErrorCode::Banned
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
    /// With `plugin_error`: the plugin's code (e.g. `rate_limited`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// With `rate_limited` (also a plugin's): milliseconds until a retry is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason: None,
            retry_after_ms: None,
        }
    }

    /// The same error with the wait until a retry is accepted.
    pub fn with_retry_after(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }

    /// The same error with a plugin's reason code.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
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
    /// What they may do.
    pub grants: Grants,
    /// The media plane forwards their microphone (unless `muted`).
    pub heard: bool,
    /// A moderator muted them server-side.
    pub force_muted: bool,
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
    /// A moderator turned them away from the lobby.
    Denied,
    /// A moderator removed them.
    Removed,
    /// The connection did not `join` in time.
    JoinTimeout,
    /// Their invite was revoked.
    Revoked,
}

/// Someone waiting in the lobby.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LobbyEntry {
    /// Who.
    pub participant_id: String,
    /// Their name.
    pub name: String,
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
    /// To moderators: a participant's session was taken over by a new connection with the
    /// same invite (a second device — or a leaked link: revoke it if nobody expected this).
    SessionReplaced {
        /// Whose.
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
    /// Dynacast, to a publisher: which simulcast layers (by rid) anyone watches; the client
    /// may pause the others.
    PublishLayers {
        /// Quarter resolution.
        q: bool,
        /// Half resolution.
        h: bool,
        /// Full resolution.
        f: bool,
    },
    /// The dominant speaker changed (audio levels, with a hold time; gated microphones
    /// never count).
    ActiveSpeaker {
        /// Who, if anyone.
        participant_id: Option<String>,
    },
    /// This client's slots show other participants.
    SlotsChanged {
        /// The changed slots.
        slots: Vec<SlotAssignment>,
    },
    /// The speaker list or the floor changed.
    QueueChanged {
        /// The whole queue.
        queue: QueueView,
    },
    /// The speaker's time is nearly up.
    FloorWarning {
        /// The speaker.
        participant_id: String,
        /// Time left.
        remaining_ms: u64,
    },
    /// A speech ended.
    SpeechEnded {
        /// The speech, for the minutes.
        speech: Speech,
    },
    /// The session was opened or closed, or an agenda item called.
    SessionChanged {
        /// Opening, closing, agenda calls.
        session: crate::room::SessionLog,
    },
    /// Congress or open mode.
    ModeChanged {
        /// The new mode.
        mode: RoomMode,
    },
    /// To moderators: the lobby changed.
    LobbyChanged {
        /// Lobby on?
        enabled: bool,
        /// Who waits.
        waiting: Vec<LobbyEntry>,
    },
    /// A poll changed (as this participant sees it).
    PollChanged {
        /// The poll.
        poll: Box<PollView>,
    },
    /// To a verifiable poll's committee and the moderators: its key generation moved on.
    DkgChanged {
        /// The poll.
        poll_id: String,
        /// The round now.
        round: Round,
        /// The record so far (keys, dealings, complaints, answers).
        committee: Box<DkgTranscript>,
    },
    /// An entry was appended to a verifiable poll's bulletin board.
    BoardEntry {
        /// The poll.
        poll_id: String,
        /// Its position (from 0).
        index: u64,
        /// Its chain hash.
        hash: Hash32,
        /// The entry.
        entry: Box<Entry>,
    },
    /// Someone voted: only the count.
    PollProgress {
        /// The poll.
        poll_id: String,
        /// Rights used.
        voted: u64,
        /// Rights in all.
        eligible: u64,
    },
    /// An event of a plugin.
    Plugin {
        /// The plugin's namespace.
        ns: String,
        /// The plugin's event.
        body: serde_json::Value,
    },
    /// To a waiting participant: admitted; the fields are a `join` result.
    Admitted {
        /// The join result.
        #[serde(flatten)]
        result: serde_json::Value,
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
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| (None, ErrorBody::new(ErrorCode::BadRequest, e.to_string())))?;
    let id = value.get("id").and_then(serde_json::Value::as_u64);
    // Only command names select a command: serde would also take a number as the index of
    // an enum variant (`"cmd": 7` would run `ping`).
    if !value.get("cmd").is_some_and(serde_json::Value::is_string) {
        return Err((
            id,
            ErrorBody::new(ErrorCode::BadRequest, "`cmd` must be a command name"),
        ));
    }
    serde_json::from_value::<Envelope>(value)
        .map_err(|e| (id, ErrorBody::new(ErrorCode::BadRequest, e.to_string())))
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
    fn only_command_names_select_a_command() {
        for frame in [
            r#"{"id":1,"cmd":5}"#,
            r#"{"id":2,"cmd":7}"#,
            r#"{"id":3,"cmd":true}"#,
            r#"{"id":4,"cmd":{"ping":{}}}"#,
            r#"{"id":5,"cmd":null}"#,
            r#"{"id":6}"#,
        ] {
            let (id, err) = parse_envelope(frame).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadRequest, "{frame}");
            assert!(id.is_some(), "{frame}");
        }
        assert_eq!(
            parse_envelope(r#"{"id":7,"cmd":"ping"}"#).unwrap().command,
            Command::Ping
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
    fn congress_commands_parse_with_defaults() {
        let e = parse_envelope(r#"{"id":1,"cmd":"request_floor"}"#).unwrap();
        assert_eq!(
            e.command,
            Command::RequestFloor {
                kind: RequestKind::Contribution
            }
        );
        let e =
            parse_envelope(r#"{"id":2,"cmd":"request_floor","kind":"point_of_order"}"#).unwrap();
        assert_eq!(
            e.command,
            Command::RequestFloor {
                kind: RequestKind::PointOfOrder
            }
        );
        let e = parse_envelope(r#"{"id":3,"cmd":"queue_give_floor"}"#).unwrap();
        assert_eq!(
            e.command,
            Command::QueueGiveFloor {
                entry_id: None,
                participant_id: None
            }
        );
        let e = parse_envelope(
            r#"{"id":4,"cmd":"set_grants","participant_id":"p","role":"guest_speaker","vote_weight":2}"#,
        )
        .unwrap();
        assert_eq!(
            e.command,
            Command::SetGrants {
                participant_id: "p".into(),
                overrides: GrantOverrides {
                    role: Some(crate::auth::Role::GuestSpeaker),
                    vote_weight: Some(2),
                    ..Default::default()
                }
            }
        );
        let e = parse_envelope(r#"{"id":5,"cmd":"queue_set_time_limit","seconds":null}"#).unwrap();
        assert_eq!(e.command, Command::QueueSetTimeLimit { seconds: None });
        let e =
            parse_envelope(r#"{"id":6,"cmd":"remove_participant","participant_id":"p"}"#).unwrap();
        assert_eq!(
            e.command,
            Command::RemoveParticipant {
                participant_id: "p".into(),
                ban: false
            }
        );
        let (_, err) =
            parse_envelope(r#"{"id":7,"cmd":"request_floor","kind":"shout"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        let (_, err) = parse_envelope(r#"{"id":8,"cmd":"set_mode","mode":"chaos"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
    }

    #[test]
    fn crypto_refusals_carry_the_crypto_code_as_their_code() {
        let body = ErrorBody::new(ErrorCode::Crypto("bad_option_proof"), "no");
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["code"], "bad_option_proof");
        let v = serde_json::to_value(ErrorBody::new(ErrorCode::DkgIncomplete, "no")).unwrap();
        assert_eq!(v["code"], "dkg_incomplete");
    }

    #[test]
    fn verifiable_poll_commands_parse() {
        let e = parse_envelope(
            r#"{"id":1,"cmd":"cast_ballot","poll_id":"p","credential":"00","ballot":{}}"#,
        )
        .unwrap();
        assert!(matches!(
            e.command,
            Command::CastBallot {
                on_behalf_of: None,
                ..
            }
        ));
        let e = parse_envelope(r#"{"id":2,"cmd":"dkg_complain","poll_id":"p","complaints":[]}"#)
            .unwrap();
        assert_eq!(
            e.command,
            Command::DkgComplain {
                poll_id: "p".into(),
                complaints: vec![]
            }
        );
        let (_, err) =
            parse_envelope(r#"{"id":3,"cmd":"dkg_key","poll_id":"p","key":{"index":1}}"#)
                .unwrap_err();
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

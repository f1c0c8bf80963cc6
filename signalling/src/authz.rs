//! Authorization, decided in one place: a participant's grants (from the role, the token's
//! overrides and moderators' live changes) and one table saying which grant each command
//! needs. The room actor asks [`check`] before it runs a command, and [`check_target`] when a
//! command acts on another participant.

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::protocol::{Command, ErrorBody, ErrorCode};

/// Largest vote weight.
pub const MAX_VOTE_WEIGHT: u32 = 1000;

/// What a participant may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grants {
    /// Publish microphone and camera.
    pub publish: bool,
    /// Ask for and hold the floor.
    pub speak: bool,
    /// Voting right.
    pub vote: bool,
    /// Weight of the vote.
    pub vote_weight: u32,
    /// Run the room.
    pub moderate: bool,
    /// Appoint moderators; act on moderators.
    pub admin: bool,
    /// Take the minutes (Protokollführung): notes per agenda item.
    #[serde(default)]
    pub minutes: bool,
}

impl Grants {
    /// The defaults of a role (docs/protocol.md, *Roles and grants*).
    pub fn for_role(role: Role) -> Self {
        let (publish, speak, vote, moderate, admin) = match role {
            Role::Admin => (true, true, false, true, true),
            Role::Moderator => (true, true, false, true, false),
            Role::Delegate => (true, true, true, false, false),
            Role::GuestSpeaker => (true, true, false, false, false),
            Role::Observer => (false, false, false, false, false),
        };
        Self {
            publish,
            speak,
            vote,
            vote_weight: 1,
            moderate,
            admin,
            // The chair may take notes too; anyone else gets it from a moderator.
            minutes: moderate,
        }
    }
}

/// Changes to a participant's role or grants, from the token or from `set_grants`. Later
/// overrides win field by field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantOverrides {
    /// Another role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<bool>,
    /// Speak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speak: Option<bool>,
    /// Vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vote: Option<bool>,
    /// Vote weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vote_weight: Option<u32>,
    /// Take the minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<bool>,
}

impl GrantOverrides {
    /// `self` with the fields `later` sets replaced. A new role resets the grants the
    /// earlier overrides set to the role's defaults.
    pub fn merged(&self, later: &GrantOverrides) -> GrantOverrides {
        let base = if later.role.is_some() {
            GrantOverrides::default()
        } else {
            self.clone()
        };
        GrantOverrides {
            role: later.role.or(self.role),
            publish: later.publish.or(base.publish),
            speak: later.speak.or(base.speak),
            vote: later.vote.or(base.vote),
            vote_weight: later.vote_weight.or(base.vote_weight),
            minutes: later.minutes.or(base.minutes),
        }
    }

    /// The effective role and grants of someone whose token says `role`.
    pub fn apply(&self, role: Role) -> (Role, Grants) {
        let role = self.role.unwrap_or(role);
        let mut g = Grants::for_role(role);
        g.publish = self.publish.unwrap_or(g.publish);
        g.speak = self.speak.unwrap_or(g.speak);
        g.vote = self.vote.unwrap_or(g.vote);
        g.vote_weight = self.vote_weight.unwrap_or(g.vote_weight);
        g.minutes = self.minutes.unwrap_or(g.minutes);
        (role, g)
    }

    /// Reject out-of-range values.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        match self.vote_weight {
            Some(w) if !(1..=MAX_VOTE_WEIGHT).contains(&w) => Err(ErrorBody::new(
                ErrorCode::BadRequest,
                format!("vote_weight must be 1–{MAX_VOTE_WEIGHT}"),
            )),
            _ => Ok(()),
        }
    }
}

/// What a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any joined participant.
    Anyone,
    /// The *publish* grant.
    Publish,
    /// The *speak* grant.
    Speak,
    /// The *vote* grant.
    Vote,
    /// The *moderate* grant.
    Moderate,
    /// *moderate*, or holding the floor (ending one's own speech).
    ModerateOrFloorHolder,
    /// The *minutes* grant (Protokollführung).
    Minutes,
}

/// The table: which grant each command needs.
pub fn need(command: &Command) -> Need {
    use Command as C;
    match command {
        C::Join { .. }
        | C::Offer { .. }
        | C::SetMuted { .. }
        | C::Leave
        | C::Ping
        | C::QueueHistory
        | C::PollList
        | C::PollReceipts { .. }
        | C::AuditExport
        | C::SetSlotSizes { .. }
        | C::PollBoard { .. }
        // The room checks that the sender is on the poll's tally committee.
        | C::DkgKey { .. }
        | C::DkgDeal { .. }
        | C::DkgComplain { .. }
        | C::DkgAnswer { .. }
        | C::DkgDecrypt { .. }
        // Plugins authorize each of their commands through `allows` (plugin.rs).
        | C::Plugin { .. } => Need::Anyone,
        C::CastVote { .. } | C::CastBallot { .. } | C::SetProxy { .. } => Need::Vote,
        C::Publish { .. } | C::Unpublish { .. } => Need::Publish,
        C::RequestFloor { .. } | C::WithdrawFloorRequest { .. } => Need::Speak,
        C::QueueEndFloor => Need::ModerateOrFloorHolder,
        C::SetStage { .. }
        | C::SessionOpen
        | C::SessionClose
        | C::AgendaCall { .. }
        | C::SetMode { .. }
        | C::SetLobby { .. }
        | C::Admit { .. }
        | C::Deny { .. }
        | C::QueueGiveFloor { .. }
        | C::QueuePause
        | C::QueueResume
        | C::QueueExtend { .. }
        | C::QueueRemove { .. }
        | C::QueueMove { .. }
        | C::QueueSetOpen { .. }
        | C::QueueSetTimeLimit { .. }
        | C::MuteParticipant { .. }
        | C::UnmuteParticipant { .. }
        | C::RemoveParticipant { .. }
        | C::SetGrants { .. }
        | C::InviteList
        | C::InviteRevoke { .. }
        | C::PollCreate { .. }
        | C::PollOpen { .. }
        | C::PollClose { .. }
        | C::PollPublish { .. }
        | C::PollCancel { .. }
        | C::PollDkgAdvance { .. } => Need::Moderate,
    }
}

/// Commands a participant waiting in the lobby may send.
pub fn allowed_in_lobby(command: &Command) -> bool {
    matches!(command, Command::Leave | Command::Ping)
}

/// Does someone with `grants` (holding the floor or not) meet `need`? The one rule for
/// core and plugin commands alike.
pub fn allows(grants: &Grants, holds_floor: bool, need: Need) -> bool {
    match need {
        Need::Anyone => true,
        Need::Publish => grants.publish,
        Need::Speak => grants.speak,
        Need::Vote => grants.vote,
        Need::Moderate => grants.moderate,
        Need::ModerateOrFloorHolder => grants.moderate || holds_floor,
        Need::Minutes => grants.minutes,
    }
}

/// May someone with `grants` (holding the floor or not) send `command`?
pub fn check(grants: &Grants, holds_floor: bool, command: &Command) -> Result<(), ErrorBody> {
    if allows(grants, holds_floor, need(command)) {
        Ok(())
    } else {
        Err(ErrorBody::new(
            ErrorCode::Forbidden,
            format!("your role does not allow {}", command.name()),
        ))
    }
}

/// May a moderator with `grants` act on a participant whose role is `target`, possibly
/// giving them `new_role`? Acting on moderators and admins, and appointing them, needs
/// *admin*.
pub fn check_target(
    grants: &Grants,
    target: Role,
    new_role: Option<Role>,
) -> Result<(), ErrorBody> {
    let elevated = |r: Role| matches!(r, Role::Admin | Role::Moderator);
    if grants.admin || (!elevated(target) && !new_role.is_some_and(elevated)) {
        Ok(())
    } else {
        Err(ErrorBody::new(
            ErrorCode::Forbidden,
            "only admins may act on or appoint moderators and admins",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::{Answer, Choice};
    use crate::protocol::{MediaKindArg, RoomMode};
    use crate::queue::RequestKind;

    /// One instance of every command.
    fn every_command() -> Vec<Command> {
        let p = || "p-1".to_owned();
        vec![
            Command::Join {
                protocol: 1,
                token: "t".into(),
            },
            Command::Offer {
                sdp: "v=0".into(),
                front: Default::default(),
            },
            Command::Publish {
                kind: MediaKindArg::Audio,
            },
            Command::Unpublish {
                kind: MediaKindArg::Video,
            },
            Command::SetMuted { muted: true },
            Command::SetStage {
                participant_id: None,
            },
            Command::Leave,
            Command::Ping,
            Command::RequestFloor {
                kind: RequestKind::Pro,
            },
            Command::WithdrawFloorRequest { entry_id: 1 },
            Command::QueueGiveFloor {
                entry_id: None,
                participant_id: None,
            },
            Command::QueueEndFloor,
            Command::QueuePause,
            Command::QueueResume,
            Command::QueueExtend { seconds: 60 },
            Command::QueueRemove { entry_id: 1 },
            Command::QueueMove {
                entry_id: 1,
                position: 0,
            },
            Command::QueueSetOpen { open: false },
            Command::QueueSetTimeLimit { seconds: None },
            Command::QueueHistory,
            Command::SessionOpen,
            Command::SessionClose,
            Command::AgendaCall { item: 0 },
            Command::SetMode {
                mode: RoomMode::Open,
            },
            Command::SetLobby { enabled: true },
            Command::Admit {
                participant_id: p(),
            },
            Command::Deny {
                participant_id: p(),
            },
            Command::MuteParticipant {
                participant_id: p(),
                floor_only: false,
            },
            Command::UnmuteParticipant {
                participant_id: p(),
            },
            Command::RemoveParticipant {
                participant_id: p(),
                ban: false,
            },
            Command::SetGrants {
                participant_id: p(),
                overrides: GrantOverrides::default(),
            },
            Command::InviteList,
            Command::InviteRevoke {
                invite_id: None,
                participant_id: Some(p()),
            },
            Command::PollCreate {
                poll: serde_json::from_str(r#"{"title":"A1","kind":"motion"}"#).unwrap(),
            },
            Command::PollOpen { poll_id: p() },
            Command::PollClose { poll_id: p() },
            Command::PollPublish { poll_id: p() },
            Command::PollCancel { poll_id: p() },
            Command::CastVote {
                poll_id: p(),
                choice: Choice::Vote(Answer::Yes),
                on_behalf_of: None,
            },
            Command::DkgKey {
                poll_id: p(),
                key: serde_json::from_value(serde_json::json!({
                    "index": 1, "label": "p-1", "key": "00".repeat(32),
                    "proof": { "c": "00".repeat(32), "z": "00".repeat(32) }
                }))
                .unwrap(),
            },
            Command::DkgDeal {
                poll_id: p(),
                dealing: serde_json::from_value(serde_json::json!({
                    "dealer": 1, "commitments": [],
                    "proof": { "c": "00".repeat(32), "z": "00".repeat(32) }, "shares": []
                }))
                .unwrap(),
            },
            Command::DkgComplain {
                poll_id: p(),
                complaints: vec![],
            },
            Command::DkgAnswer {
                poll_id: p(),
                answers: vec![],
            },
            Command::PollDkgAdvance { poll_id: p() },
            Command::CastBallot {
                poll_id: p(),
                on_behalf_of: None,
                credential: serde_json::json!("00"),
                ballot: serde_json::json!({}),
            },
            Command::DkgDecrypt {
                poll_id: p(),
                partial: serde_json::from_value(serde_json::json!({
                    "member": 1, "factors": []
                }))
                .unwrap(),
            },
            Command::PollBoard { poll_id: p() },
            Command::PollList,
            Command::PollReceipts { poll_id: p() },
            Command::SetProxy { proxy_id: None },
            Command::AuditExport,
            Command::SetSlotSizes { slots: vec![] },
            Command::Plugin {
                ns: "chat".into(),
                body: serde_json::json!({}),
            },
        ]
    }

    /// The expected matrix, written out: for each command, which of
    /// admin / moderator / delegate / guest_speaker / observer may send it.
    const MATRIX: &[(&str, [bool; 5])] = &[
        ("join", [true, true, true, true, true]),
        ("offer", [true, true, true, true, true]),
        ("publish", [true, true, true, true, false]),
        ("unpublish", [true, true, true, true, false]),
        ("set_muted", [true, true, true, true, true]),
        ("set_stage", [true, true, false, false, false]),
        ("leave", [true, true, true, true, true]),
        ("ping", [true, true, true, true, true]),
        ("request_floor", [true, true, true, true, false]),
        ("withdraw_floor_request", [true, true, true, true, false]),
        ("queue_give_floor", [true, true, false, false, false]),
        ("queue_end_floor", [true, true, false, false, false]),
        ("queue_pause", [true, true, false, false, false]),
        ("queue_resume", [true, true, false, false, false]),
        ("queue_extend", [true, true, false, false, false]),
        ("queue_remove", [true, true, false, false, false]),
        ("queue_move", [true, true, false, false, false]),
        ("queue_set_open", [true, true, false, false, false]),
        ("queue_set_time_limit", [true, true, false, false, false]),
        ("queue_history", [true, true, true, true, true]),
        ("session_open", [true, true, false, false, false]),
        ("session_close", [true, true, false, false, false]),
        ("agenda_call", [true, true, false, false, false]),
        ("set_mode", [true, true, false, false, false]),
        ("set_lobby", [true, true, false, false, false]),
        ("admit", [true, true, false, false, false]),
        ("deny", [true, true, false, false, false]),
        ("mute_participant", [true, true, false, false, false]),
        ("unmute_participant", [true, true, false, false, false]),
        ("remove_participant", [true, true, false, false, false]),
        ("set_grants", [true, true, false, false, false]),
        ("invite_list", [true, true, false, false, false]),
        ("invite_revoke", [true, true, false, false, false]),
        ("poll_create", [true, true, false, false, false]),
        ("poll_open", [true, true, false, false, false]),
        ("poll_close", [true, true, false, false, false]),
        ("poll_publish", [true, true, false, false, false]),
        ("poll_cancel", [true, true, false, false, false]),
        ("cast_vote", [false, false, true, false, false]),
        ("dkg_key", [true, true, true, true, true]),
        ("dkg_deal", [true, true, true, true, true]),
        ("dkg_complain", [true, true, true, true, true]),
        ("dkg_answer", [true, true, true, true, true]),
        ("poll_dkg_advance", [true, true, false, false, false]),
        ("cast_ballot", [false, false, true, false, false]),
        ("dkg_decrypt", [true, true, true, true, true]),
        ("poll_board", [true, true, true, true, true]),
        ("poll_list", [true, true, true, true, true]),
        ("poll_receipts", [true, true, true, true, true]),
        ("set_proxy", [false, false, true, false, false]),
        ("audit_export", [true, true, true, true, true]),
        ("set_slot_sizes", [true, true, true, true, true]),
        ("plugin", [true, true, true, true, true]),
    ];

    #[test]
    fn every_command_times_every_role() {
        let commands = every_command();
        assert_eq!(commands.len(), MATRIX.len(), "one matrix row per command");
        for command in &commands {
            let (_, allowed) = MATRIX
                .iter()
                .find(|(name, _)| *name == command.name())
                .unwrap_or_else(|| panic!("{} has no matrix row", command.name()));
            for (role, expected) in Role::ALL.iter().zip(allowed) {
                let grants = Grants::for_role(*role);
                let got = check(&grants, false, command);
                assert_eq!(
                    got.is_ok(),
                    *expected,
                    "{} as {}: {got:?}",
                    command.name(),
                    role.as_str()
                );
                if let Err(e) = got {
                    assert_eq!(e.code, ErrorCode::Forbidden);
                }
            }
        }
    }

    #[test]
    fn the_floor_holder_may_end_their_own_speech_only() {
        let delegate = Grants::for_role(Role::Delegate);
        assert!(check(&delegate, true, &Command::QueueEndFloor).is_ok());
        assert!(check(&delegate, true, &Command::QueuePause).is_err());
    }

    #[test]
    fn only_leave_and_ping_in_the_lobby() {
        let allowed: Vec<&str> = every_command()
            .iter()
            .filter(|c| allowed_in_lobby(c))
            .map(Command::name)
            .collect();
        assert_eq!(allowed, vec!["leave", "ping"]);
    }

    #[test]
    fn acting_on_or_appointing_moderators_needs_admin() {
        let moderator = Grants::for_role(Role::Moderator);
        let admin = Grants::for_role(Role::Admin);
        assert!(check_target(&moderator, Role::Delegate, Some(Role::GuestSpeaker)).is_ok());
        assert!(check_target(&moderator, Role::Delegate, None).is_ok());
        assert!(check_target(&moderator, Role::Moderator, None).is_err());
        assert!(check_target(&moderator, Role::Delegate, Some(Role::Moderator)).is_err());
        assert!(check_target(&moderator, Role::Admin, None).is_err());
        assert!(check_target(&admin, Role::Moderator, Some(Role::Admin)).is_ok());
    }

    #[test]
    fn overrides_merge_and_apply() {
        let token = GrantOverrides {
            vote_weight: Some(3),
            ..Default::default()
        };
        let (role, g) = token.apply(Role::Delegate);
        assert_eq!((role, g.vote, g.vote_weight), (Role::Delegate, true, 3));
        let live = token.merged(&GrantOverrides {
            speak: Some(false),
            ..Default::default()
        });
        let (_, g) = live.apply(Role::Delegate);
        assert_eq!((g.speak, g.vote_weight), (false, 3));
        // A new role resets earlier field overrides to the role's defaults.
        let guest = live.merged(&GrantOverrides {
            role: Some(Role::GuestSpeaker),
            ..Default::default()
        });
        let (role, g) = guest.apply(Role::Delegate);
        assert_eq!(role, Role::GuestSpeaker);
        assert_eq!(g, Grants::for_role(Role::GuestSpeaker));
        assert!(
            GrantOverrides {
                vote_weight: Some(0),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}

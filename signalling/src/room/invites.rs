//! Invites inside the room actor: the moderators' list, and revocation, which ends the
//! participant's live session at once (`closing`: `revoked`). Revocations made elsewhere
//! (the `plenum invite revoke` CLI writes the store) reach the actor as
//! [`super::RoomMsg::Revoked`] from [`super::Rooms::watch_revocations`].

use serde_json::json;
use tracing::{info, warn};

use super::{Outbound, RoomActor};
use crate::authz;
use crate::protocol::{CloseReason, Command, ErrorBody, ErrorCode};
use crate::storage::{InviteRecord, StorageError};

fn storage_failed(e: StorageError) -> ErrorBody {
    warn!("invite storage failed: {e}");
    ErrorBody::new(ErrorCode::Internal, "storage unavailable")
}

impl RoomActor {
    pub(super) fn invite_command(
        &mut self,
        who: &str,
        command: Command,
    ) -> Result<serde_json::Value, ErrorBody> {
        match command {
            Command::InviteList => {
                let invites = self
                    .store
                    .invites(&self.record.id)
                    .map_err(storage_failed)?;
                let list: Vec<serde_json::Value> = invites
                    .iter()
                    .map(|i| {
                        json!({
                            "invite_id": i.id,
                            "participant_id": i.participant_id,
                            "name": i.name,
                            "role": i.role,
                            "revoked": i.revoked,
                            "expires_at": i.expires_at,
                            "present": self.members.contains_key(&i.participant_id),
                        })
                    })
                    .collect();
                Ok(json!({ "invites": list }))
            }
            Command::InviteRevoke {
                invite_id,
                participant_id,
            } => {
                let invite = self.find_invite(invite_id.as_deref(), participant_id.as_deref())?;
                // Acting on a moderator's or admin's access needs admin, as every such act.
                let actor = self
                    .members
                    .get(who)
                    .map(|m| m.info.grants)
                    .ok_or_else(|| ErrorBody::new(ErrorCode::NotJoined, "not in the room"))?;
                let target_role = self
                    .members
                    .get(&invite.participant_id)
                    .map_or(invite.role, |m| m.role.min(invite.role));
                authz::check_target(&actor, target_role, None)?;
                if !self
                    .store
                    .revoke_invite(&invite.id)
                    .map_err(storage_failed)?
                {
                    return Err(ErrorBody::new(
                        ErrorCode::BadRequest,
                        "this invite is revoked already",
                    ));
                }
                info!(room = %self.record.id, "invite revoked");
                self.end_revoked(&invite.participant_id);
                Ok(json!({ "invite_id": invite.id }))
            }
            other => Err(ErrorBody::new(
                ErrorCode::Internal,
                format!("{} is not an invite command", other.name()),
            )),
        }
    }

    /// The invite a revocation names: by id, or the one admitting a participant (its
    /// newest unrevoked invite), of this room only.
    fn find_invite(
        &self,
        invite_id: Option<&str>,
        participant_id: Option<&str>,
    ) -> Result<InviteRecord, ErrorBody> {
        let invites = self
            .store
            .invites(&self.record.id)
            .map_err(storage_failed)?;
        let found = match (invite_id, participant_id) {
            (Some(id), _) => invites.into_iter().find(|i| i.id == id),
            (None, Some(p)) => invites
                .into_iter()
                .rev()
                .find(|i| i.participant_id == p && !i.revoked),
            (None, None) => {
                return Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    "name the invite_id or the participant_id",
                ));
            }
        };
        found.ok_or_else(|| ErrorBody::new(ErrorCode::NotFound, "no such invite in this room"))
    }

    /// End the live session of a participant whose invite was revoked.
    pub(super) fn end_revoked(&mut self, participant: &str) {
        if let Some(m) = self.members.get(participant) {
            let _ = m.out.send(Outbound::Close(CloseReason::Revoked));
            self.remove(participant);
        }
    }

    /// An erased member: out of the room, renamed in the speaker list and the plugins' data.
    pub(super) fn erase(&mut self, participant: &str, pseudonym: &str) -> Result<(), String> {
        self.end_revoked(participant);
        self.state.queue.rename(participant, pseudonym);
        self.store
            .save_room_state(&self.record.id, &self.state.to_json())
            .map_err(|e| e.to_string())?;
        self.plugins_erased(participant, pseudonym)
            .map_err(|e| e.message)
    }
}

//! The room actor's side of the plugin API: it feeds hooks to the [`PluginHost`] and carries
//! out the queued effects — store first, then deliver.

use tracing::warn;

use super::{Outbound, RoomActor};
use crate::plugin::{Member, Output, Target};
use crate::protocol::{ErrorBody, ErrorCode, Event};

impl RoomActor {
    /// Present members as plugins see them.
    fn plugin_members(&self) -> Vec<Member> {
        self.present()
            .map(|m| Member {
                id: m.info.id.clone(),
                name: m.info.name.clone(),
                role: m.role,
                grants: m.info.grants,
            })
            .collect()
    }

    /// Start the plugins with what they stored.
    pub(super) fn plugins_started(&mut self) {
        let now = (self.now_ms)();
        let store = self.store.clone();
        let room = self.record.id.clone();
        let out = self.plugins.started(now, &[], |ns| {
            store.plugin_data(&room, ns).unwrap_or_else(|e| {
                warn!(room = %room, ns, "loading plugin data failed: {e}");
                Vec::new()
            })
        });
        let _ = self.apply_plugin_output(out);
    }

    /// `id` entered the room.
    pub(super) fn plugins_joined(&mut self, id: &str) {
        let members = self.plugin_members();
        let Some(who) = members.iter().find(|m| m.id == id).cloned() else {
            return;
        };
        let out = self.plugins.joined((self.now_ms)(), &members, &who);
        let _ = self.apply_plugin_output(out);
    }

    /// `who` left; the room closes for the plugins when nobody is left.
    pub(super) fn plugins_left(&mut self, who: Member) {
        let now = (self.now_ms)();
        let members = self.plugin_members();
        let out = self.plugins.left(now, &members, &who);
        let _ = self.apply_plugin_output(out);
        if members.is_empty() {
            let out = self.plugins.closing(now, &members);
            let _ = self.apply_plugin_output(out);
        }
    }

    /// A `plugin` command.
    pub(super) fn plugin_command(
        &mut self,
        who: &str,
        ns: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, ErrorBody> {
        let members = self.plugin_members();
        let Some(me) = members.iter().find(|m| m.id == who).cloned() else {
            return Err(ErrorBody::new(ErrorCode::NotJoined, "not in the room"));
        };
        let (result, out) = self
            .plugins
            .command((self.now_ms)(), &members, &me, ns, body);
        self.apply_plugin_output(out)?;
        result
    }

    /// `participant` was erased: the plugins rename them.
    pub(super) fn plugins_erased(
        &mut self,
        participant: &str,
        pseudonym: &str,
    ) -> Result<(), ErrorBody> {
        let members = self.plugin_members();
        let out = self
            .plugins
            .erased((self.now_ms)(), &members, participant, pseudonym);
        self.apply_plugin_output(out)
    }

    /// Fire due plugin timers.
    pub(super) fn plugins_tick(&mut self) {
        let members = self.plugin_members();
        let out = self.plugins.fire_due((self.now_ms)(), &members);
        let _ = self.apply_plugin_output(out);
    }

    /// Store, then deliver. A failed store is reported (and nothing is delivered).
    fn apply_plugin_output(&mut self, out: Output) -> Result<(), ErrorBody> {
        for (ns, key, value) in &out.persists {
            if let Err(e) = self
                .store
                .put_plugin_data(&self.record.id, ns, key, value.as_deref())
            {
                warn!(room = %self.record.id, ns, "storing plugin data failed: {e}");
                return Err(ErrorBody::new(ErrorCode::Internal, "storage unavailable"));
            }
        }
        for (ns, to, body) in out.sends {
            let event = Event::Plugin {
                ns: ns.to_owned(),
                body,
            };
            for m in self.present().filter(|m| match &to {
                Target::Participant(id) => m.info.id == *id,
                Target::Moderators => m.info.grants.moderate,
                Target::Everyone => true,
            }) {
                let _ = m.out.send(Outbound::Event(event.clone()));
            }
        }
        Ok(())
    }
}

//! The chat plugin: room chat, private messages between participants, moderator
//! announcements; moderators delete messages, switch the chat off (they and announcements
//! still get through), or mute one participant's chat. Late joiners get the recent history. Messages have a length limit and
//! a per-participant rate limit, are stored, and are deleted a configurable time after the
//! room closes (the last participant left). Built on `plenum_signalling::plugin` only.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use plenum_signalling::plugin::{Context, Member, Need, Plugin, PluginError, Target};
use plenum_signalling::serde::{Deserialize, Serialize};
use plenum_signalling::serde_json::{self, Value, json};

/// The namespace: commands are `{"cmd": "plugin", "ns": "chat", "body": {...}}`.
pub const NAMESPACE: &str = "chat";

/// Settings (config section `[chat]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde", deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Longest message, in characters.
    pub max_length: usize,
    /// Messages a late joiner gets.
    pub history: usize,
    /// Messages per participant within `rate_window_secs`.
    pub rate_messages: usize,
    /// The rate limit's window.
    pub rate_window_secs: u64,
    /// Messages are deleted this long after the room closes.
    pub retention_hours: u64,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_length: 2000,
            history: 100,
            rate_messages: 5,
            rate_window_secs: 10,
            retention_hours: 720,
        }
    }
}

/// What the chat understands.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    crate = "plenum_signalling::serde",
    tag = "action",
    rename_all = "snake_case"
)]
pub enum ChatCommand {
    /// A message to the room, or privately `to` one participant.
    Send {
        /// The text.
        text: String,
        /// A private message's recipient.
        #[serde(default)]
        to: Option<String>,
    },
    /// Moderators: an announcement to everyone (also when the chat is off).
    Announce {
        /// The text.
        text: String,
    },
    /// Moderators: delete a room message.
    Delete {
        /// Which.
        message_id: u64,
    },
    /// Moderators: switch the chat on or off.
    SetEnabled {
        /// On?
        enabled: bool,
    },
    /// Moderators: mute or unmute one participant's chat.
    Mute {
        /// Who.
        participant_id: String,
        /// Muted?
        muted: bool,
    },
    /// The recent messages visible to the caller.
    History,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Message {
    /// Increasing within the room.
    pub id: u64,
    /// Sender's participant id.
    pub from: String,
    /// Sender's name.
    pub from_name: String,
    /// Recipient of a private message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The text.
    pub text: String,
    /// Unix milliseconds.
    pub at_ms: u64,
    /// A moderator announcement.
    #[serde(default)]
    pub announcement: bool,
}

impl Message {
    fn visible_to(&self, id: &str) -> bool {
        self.to
            .as_deref()
            .is_none_or(|to| to == id || self.from == id)
    }
}

/// What the chat sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    crate = "plenum_signalling::serde",
    tag = "type",
    rename_all = "snake_case"
)]
pub enum ChatEvent {
    /// A new message.
    Message {
        /// It.
        message: Message,
    },
    /// A message was deleted.
    Deleted {
        /// Which.
        message_id: u64,
    },
    /// The chat's state for the receiver.
    State {
        /// Chat on.
        enabled: bool,
        /// The receiver is muted.
        muted: bool,
    },
    /// The recent messages (to a late joiner).
    History {
        /// Oldest first.
        messages: Vec<Message>,
        /// Chat on.
        enabled: bool,
        /// The receiver is muted.
        muted: bool,
        /// The longest message allowed, in characters.
        max_length: usize,
    },
    /// To moderators: whose chat is muted (on join and on every change).
    Muted {
        /// Participant ids.
        participants: Vec<String>,
    },
}

/// Stored under key `state`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde", default)]
struct Settings {
    disabled: bool,
    muted: BTreeSet<String>,
    next_id: u64,
    /// When the room last closed; messages go `retention` after it.
    closed_at_ms: Option<u64>,
}

/// The chat of one room.
#[derive(Debug)]
pub struct Chat {
    config: ChatConfig,
    settings: Settings,
    messages: BTreeMap<u64, Message>,
    /// Send times per participant within the rate window.
    recent: HashMap<String, VecDeque<u64>>,
}

const STATE_KEY: &str = "state";
const RETENTION_TIMER: &str = "retention";

fn message_key(id: u64) -> String {
    format!("msg/{id:016}")
}

fn refuse<T>(reason: &'static str, message: impl Into<String>) -> Result<T, PluginError> {
    Err(PluginError::new(reason, message))
}

impl Chat {
    /// A room's chat with these settings.
    pub fn new(config: ChatConfig) -> Self {
        Self {
            config,
            settings: Settings {
                next_id: 1,
                ..Settings::default()
            },
            messages: BTreeMap::new(),
            recent: HashMap::new(),
        }
    }

    fn retention_ms(&self) -> u64 {
        self.config.retention_hours.saturating_mul(3_600_000)
    }

    fn save_settings(&self, ctx: &mut Context<'_, ChatEvent>) {
        ctx.persist(
            STATE_KEY,
            serde_json::to_string(&self.settings).unwrap_or_default(),
        );
    }

    fn history_for(&self, id: &str) -> Vec<Message> {
        let mut visible: Vec<Message> = self
            .messages
            .values()
            .rev()
            .filter(|m| m.visible_to(id))
            .take(self.config.history)
            .cloned()
            .collect();
        visible.reverse();
        visible
    }

    fn check_text(&self, text: &str) -> Result<String, PluginError> {
        let text = text.trim();
        if text.is_empty() {
            return refuse("empty", "the message is empty");
        }
        let len = text.chars().count();
        if len > self.config.max_length {
            return refuse(
                "too_long",
                format!(
                    "the message has {len} characters; at most {} are allowed",
                    self.config.max_length
                ),
            );
        }
        Ok(text.to_owned())
    }

    /// Sliding-window rate limit per participant.
    fn check_rate(&mut self, who: &str, now: u64) -> Result<(), PluginError> {
        let window = self.config.rate_window_secs * 1000;
        let sent = self.recent.entry(who.to_owned()).or_default();
        while sent.front().is_some_and(|&t| t + window <= now) {
            sent.pop_front();
        }
        if sent.len() >= self.config.rate_messages {
            let retry = sent.front().map_or(0, |&t| t + window - now);
            return Err(PluginError::new(
                "rate_limited",
                format!(
                    "at most {} messages per {} s; try again in {} ms",
                    self.config.rate_messages, self.config.rate_window_secs, retry
                ),
            )
            .with_retry_after(retry));
        }
        sent.push_back(now);
        Ok(())
    }

    fn post(&mut self, ctx: &mut Context<'_, ChatEvent>, mut message: Message) -> Value {
        message.id = self.settings.next_id;
        self.settings.next_id += 1;
        ctx.persist(
            message_key(message.id),
            serde_json::to_string(&message).unwrap_or_default(),
        );
        self.save_settings(ctx);
        let targets = match &message.to {
            None => vec![Target::Everyone],
            Some(to) => vec![
                Target::Participant(message.from.clone()),
                Target::Participant(to.clone()),
            ],
        };
        for t in targets {
            ctx.send(
                t,
                ChatEvent::Message {
                    message: message.clone(),
                },
            );
        }
        let id = message.id;
        self.messages.insert(id, message);
        json!({ "message_id": id })
    }

    fn send_state(&self, ctx: &mut Context<'_, ChatEvent>, to: &str) {
        ctx.send(
            Target::Participant(to.to_owned()),
            ChatEvent::State {
                enabled: !self.settings.disabled,
                muted: self.settings.muted.contains(to),
            },
        );
    }

    fn muted_event(&self) -> ChatEvent {
        ChatEvent::Muted {
            participants: self.settings.muted.iter().cloned().collect(),
        }
    }

    fn delete_all(&mut self, ctx: &mut Context<'_, ChatEvent>) {
        for id in std::mem::take(&mut self.messages).into_keys() {
            ctx.delete(message_key(id));
        }
        self.settings.closed_at_ms = None;
        self.save_settings(ctx);
    }

    fn expire_if_due(&mut self, ctx: &mut Context<'_, ChatEvent>) {
        if let Some(closed) = self.settings.closed_at_ms {
            let due = closed.saturating_add(self.retention_ms());
            if ctx.now_ms() >= due {
                self.delete_all(ctx);
            } else {
                ctx.schedule(RETENTION_TIMER, due);
            }
        }
    }
}

impl Plugin for Chat {
    type Command = ChatCommand;
    type Event = ChatEvent;

    fn namespace(&self) -> &'static str {
        NAMESPACE
    }

    fn need(&self, command: &ChatCommand) -> Need {
        match command {
            ChatCommand::Send { .. } | ChatCommand::History => Need::Anyone,
            ChatCommand::Announce { .. }
            | ChatCommand::Delete { .. }
            | ChatCommand::SetEnabled { .. }
            | ChatCommand::Mute { .. } => Need::Moderate,
        }
    }

    fn started(&mut self, ctx: &mut Context<'_, ChatEvent>, stored: Vec<(String, String)>) {
        for (key, value) in stored {
            if key == STATE_KEY {
                if let Ok(s) = serde_json::from_str(&value) {
                    self.settings = s;
                }
            } else if let Ok(m) = serde_json::from_str::<Message>(&value) {
                self.messages.insert(m.id, m);
            }
        }
        let after_last = self.messages.keys().last().map_or(1, |id| id + 1);
        self.settings.next_id = self.settings.next_id.max(after_last);
        self.expire_if_due(ctx);
    }

    fn joined(&mut self, ctx: &mut Context<'_, ChatEvent>, who: &Member) {
        if self.settings.closed_at_ms.take().is_some() {
            // The room is in use again: retention waits for the next close.
            self.save_settings(ctx);
        }
        ctx.send(
            Target::Participant(who.id.clone()),
            ChatEvent::History {
                messages: self.history_for(&who.id),
                enabled: !self.settings.disabled,
                muted: self.settings.muted.contains(&who.id),
                max_length: self.config.max_length,
            },
        );
        if who.grants.moderate {
            ctx.send(Target::Participant(who.id.clone()), self.muted_event());
        }
    }

    fn closing(&mut self, ctx: &mut Context<'_, ChatEvent>) {
        self.settings.closed_at_ms = Some(ctx.now_ms());
        self.save_settings(ctx);
        self.expire_if_due(ctx);
    }

    fn timer(&mut self, ctx: &mut Context<'_, ChatEvent>, key: &str) {
        if key == RETENTION_TIMER {
            self.expire_if_due(ctx);
        }
    }

    /// The messages `participant` wrote, and the private ones they received.
    fn export(&self, participant: &str) -> Value {
        let mine: Vec<&Message> = self
            .messages
            .values()
            .filter(|m| m.from == participant || m.to.as_deref() == Some(participant))
            .collect();
        if mine.is_empty() {
            Value::Null
        } else {
            json!({ "messages": mine })
        }
    }

    /// An erased member's messages keep their text (the conversation of the others would
    /// not make sense without them; the chat's retention deletes them in time) and carry
    /// the pseudonym instead of the name (docs/privacy.md, *Erasure*).
    fn erased(&mut self, ctx: &mut Context<'_, ChatEvent>, participant: &str, pseudonym: &str) {
        for m in self.messages.values_mut().filter(|m| m.from == participant) {
            m.from_name = pseudonym.to_owned();
            if let Ok(json) = serde_json::to_string(m) {
                ctx.persist(message_key(m.id), json);
            }
        }
    }

    fn command(
        &mut self,
        ctx: &mut Context<'_, ChatEvent>,
        who: &Member,
        command: ChatCommand,
    ) -> Result<Value, PluginError> {
        let now = ctx.now_ms();
        match command {
            ChatCommand::Send { text, to } => {
                if self.settings.disabled && !who.grants.moderate {
                    return refuse("chat_disabled", "the moderators switched the chat off");
                }
                if self.settings.muted.contains(&who.id) {
                    return refuse("muted", "a moderator muted your chat");
                }
                let text = self.check_text(&text)?;
                if let Some(to) = &to {
                    if to == &who.id {
                        return refuse("bad_recipient", "that is you");
                    }
                    if ctx.member(to).is_none() {
                        return refuse("not_found", format!("{to} is not in the room"));
                    }
                }
                self.check_rate(&who.id, now)?;
                Ok(self.post(
                    ctx,
                    Message {
                        id: 0,
                        from: who.id.clone(),
                        from_name: who.name.clone(),
                        to,
                        text,
                        at_ms: now,
                        announcement: false,
                    },
                ))
            }
            ChatCommand::Announce { text } => {
                let text = self.check_text(&text)?;
                Ok(self.post(
                    ctx,
                    Message {
                        id: 0,
                        from: who.id.clone(),
                        from_name: who.name.clone(),
                        to: None,
                        text,
                        at_ms: now,
                        announcement: true,
                    },
                ))
            }
            ChatCommand::Delete { message_id } => {
                // Private messages are not the moderators' to see, nor to delete.
                if self
                    .messages
                    .get(&message_id)
                    .is_none_or(|m| m.to.is_some())
                {
                    return refuse("not_found", format!("no room message {message_id}"));
                }
                self.messages.remove(&message_id);
                ctx.delete(message_key(message_id));
                ctx.send(Target::Everyone, ChatEvent::Deleted { message_id });
                Ok(json!({}))
            }
            ChatCommand::SetEnabled { enabled } => {
                self.settings.disabled = !enabled;
                self.save_settings(ctx);
                let ids: Vec<String> = ctx.members().iter().map(|m| m.id.clone()).collect();
                for id in ids {
                    self.send_state(ctx, &id);
                }
                Ok(json!({}))
            }
            ChatCommand::Mute {
                participant_id,
                muted,
            } => {
                if muted && ctx.member(&participant_id).is_none() {
                    return refuse("not_found", format!("{participant_id} is not in the room"));
                }
                // The one rule for acting on moderators and admins: it needs admin.
                if let Some(target) = ctx.member(&participant_id) {
                    plenum_signalling::authz::check_target(&who.grants, target.role, None)
                        .map_err(|e| PluginError::new("forbidden", e.message))?;
                }
                if muted {
                    self.settings.muted.insert(participant_id.clone());
                } else {
                    self.settings.muted.remove(&participant_id);
                }
                self.save_settings(ctx);
                self.send_state(ctx, &participant_id);
                ctx.send(Target::Moderators, self.muted_event());
                Ok(json!({}))
            }
            ChatCommand::History => Ok(json!({
                "messages": self.history_for(&who.id),
                "enabled": !self.settings.disabled,
                "muted": self.settings.muted.contains(&who.id),
                "max_length": self.config.max_length,
            })),
        }
    }
}

/// The registration for the binary's plugin registry.
pub fn registration(config: ChatConfig) -> plenum_signalling::plugin::Registration {
    plenum_signalling::plugin::factory(move || Chat::new(config))
}

#[cfg(test)]
mod tests;

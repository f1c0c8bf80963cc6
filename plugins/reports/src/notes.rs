//! The minute-taker's notes, the room half of the reports plugin (namespace `reports`):
//! whoever holds the *minutes* grant (Protokollführung; moderators by default, anyone a
//! moderator gives it to) writes notes while the session runs, each for an agenda item or
//! the session as a whole. They are stored under `note/…` in the room's plugin data, where
//! the minutes (the organisation-wide half) read them.

use std::collections::BTreeMap;

use plenum_signalling::plugin::{
    Context, Member, Need, Plugin, PluginError, Registration, Target, factory,
};
use plenum_signalling::serde::{Deserialize, Serialize};
use plenum_signalling::serde_json::{self, Value, json};

/// The namespace (shared with the organisation-wide half).
pub const NAMESPACE: &str = "reports";
/// Longest note (characters).
pub const MAX_NOTE: usize = 4000;
/// Where notes are stored.
pub const NOTE_PREFIX: &str = "note/";

/// One note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Note {
    /// Increasing within the room.
    pub id: u64,
    /// The agenda item (1-based), or none: the session as a whole.
    pub item: Option<usize>,
    /// The text.
    pub text: String,
    /// Written (unix milliseconds).
    pub at_ms: u64,
    /// The minute-taker's participant id.
    pub by_id: String,
    /// Their name (a pseudonym after erasure).
    pub by: String,
}

/// The notes' commands (`{"cmd": "plugin", "ns": "reports", "body": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    crate = "plenum_signalling::serde",
    tag = "action",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum NotesCommand {
    /// Write a note.
    Note {
        /// The agenda item (1-based), if any.
        #[serde(default)]
        item: Option<usize>,
        /// The text.
        text: String,
    },
    /// The notes so far.
    Notes,
    /// Delete a note (before the minutes are approved; after, a correction is a new version).
    DeleteNote {
        /// The note.
        id: u64,
    },
}

/// What the notes send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    crate = "plenum_signalling::serde",
    tag = "type",
    rename_all = "snake_case"
)]
pub enum NotesEvent {
    /// A note was written.
    Note {
        /// It.
        note: Note,
    },
    /// A note was deleted.
    NoteDeleted {
        /// Which.
        id: u64,
    },
}

/// The notes of one room.
#[derive(Debug, Default)]
pub struct Notes {
    notes: BTreeMap<u64, Note>,
}

/// The stored notes among a room's plugin data.
pub fn stored_notes(data: &[(String, String)]) -> Vec<Note> {
    data.iter()
        .filter(|(k, _)| k.starts_with(NOTE_PREFIX))
        .filter_map(|(_, v)| serde_json::from_str(v).ok())
        .collect()
}

fn key(id: u64) -> String {
    format!("{NOTE_PREFIX}{id:08}")
}

impl Notes {
    fn save(&self, ctx: &mut Context<'_, NotesEvent>, note: &Note) {
        if let Ok(json) = serde_json::to_string(note) {
            ctx.persist(key(note.id), json);
        }
    }
}

impl Plugin for Notes {
    type Command = NotesCommand;
    type Event = NotesEvent;

    fn namespace(&self) -> &'static str {
        NAMESPACE
    }

    fn need(&self, command: &NotesCommand) -> Need {
        match command {
            NotesCommand::Note { .. } | NotesCommand::Notes | NotesCommand::DeleteNote { .. } => {
                Need::Minutes
            }
        }
    }

    fn started(&mut self, _ctx: &mut Context<'_, NotesEvent>, stored: Vec<(String, String)>) {
        self.notes = stored_notes(&stored)
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
    }

    fn command(
        &mut self,
        ctx: &mut Context<'_, NotesEvent>,
        who: &Member,
        command: NotesCommand,
    ) -> Result<Value, PluginError> {
        match command {
            NotesCommand::Note { item, text } => {
                let text = text.trim().to_owned();
                if text.is_empty() || text.chars().count() > MAX_NOTE {
                    return Err(PluginError::new(
                        "invalid",
                        format!("a note has 1–{MAX_NOTE} characters"),
                    ));
                }
                if text.chars().any(|c| c.is_control() && c != '\n') {
                    return Err(PluginError::new("invalid", "no control characters"));
                }
                if item == Some(0) {
                    return Err(PluginError::new("invalid", "agenda items count from 1"));
                }
                let id = self.notes.keys().last().map_or(1, |k| k + 1);
                let note = Note {
                    id,
                    item,
                    text,
                    at_ms: ctx.now_ms(),
                    by_id: who.id.clone(),
                    by: who.name.clone(),
                };
                self.save(ctx, &note);
                ctx.send(Target::Moderators, NotesEvent::Note { note: note.clone() });
                if !who.grants.moderate {
                    ctx.send(
                        Target::Participant(who.id.clone()),
                        NotesEvent::Note { note: note.clone() },
                    );
                }
                self.notes.insert(id, note.clone());
                Ok(json!({ "note": note }))
            }
            NotesCommand::Notes => Ok(json!({ "notes": self.notes.values().collect::<Vec<_>>() })),
            NotesCommand::DeleteNote { id } => {
                if self.notes.remove(&id).is_none() {
                    return Err(PluginError::new("not_found", format!("no note {id}")));
                }
                ctx.delete(key(id));
                ctx.send(Target::Moderators, NotesEvent::NoteDeleted { id });
                Ok(json!({}))
            }
        }
    }

    fn erased(&mut self, ctx: &mut Context<'_, NotesEvent>, participant: &str, pseudonym: &str) {
        let changed: Vec<Note> = self
            .notes
            .values_mut()
            .filter(|n| n.by_id == participant)
            .map(|n| {
                pseudonym.clone_into(&mut n.by);
                n.clone()
            })
            .collect();
        for note in changed {
            self.save(ctx, &note);
        }
    }

    fn export(&self, participant: &str) -> Value {
        let mine: Vec<&Note> = self
            .notes
            .values()
            .filter(|n| n.by_id == participant)
            .collect();
        if mine.is_empty() {
            Value::Null
        } else {
            json!({ "notes": mine })
        }
    }
}

/// The room half, for the server's plugin registry.
pub fn registration() -> Registration {
    factory(Notes::default)
}

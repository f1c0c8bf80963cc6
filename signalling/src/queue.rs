//! The speaker queue (*Redeliste*) and the floor, as pure state: every method takes the time
//! (`now_ms`, unix milliseconds) from the caller, so tests run on a virtual clock.
//!
//! Ordering: points of order before everyone, then questions to the current speaker, then
//! the rest, each group in request order; moderators may move entries anywhere. A speech has
//! an optional time limit; [`SpeakerQueue::tick`] reports the warning and the end of time.

use serde::{Deserialize, Serialize};

/// Warning this long before the time is up (or at a sixth of shorter limits).
pub const WARNING_MS: u64 = 30_000;
/// Largest time limit or extension, in seconds.
pub const MAX_LIMIT_S: u32 = 3600;

/// What a participant asks the floor for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// An ordinary contribution.
    #[default]
    Contribution,
    /// Speaking for the motion.
    Pro,
    /// Speaking against the motion.
    Contra,
    /// A question to the current speaker.
    Question,
    /// A point of order (Geschäftsordnungsantrag): before everyone else.
    PointOfOrder,
}

impl RequestKind {
    /// Lower goes first.
    fn precedence(self) -> u8 {
        match self {
            RequestKind::PointOfOrder => 0,
            RequestKind::Question => 1,
            _ => 2,
        }
    }
}

/// A waiting request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Unique within the room.
    pub id: u64,
    /// Who asks.
    pub participant_id: String,
    /// Their display name (for the list and the minutes).
    pub name: String,
    /// What for.
    pub kind: RequestKind,
    /// When they asked.
    pub requested_at_ms: u64,
}

/// The current speech.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Floor {
    /// The entry it came from (0 when given directly).
    pub entry_id: u64,
    /// Who speaks.
    pub participant_id: String,
    /// Their name.
    pub name: String,
    /// What for.
    pub kind: RequestKind,
    /// When the speech began.
    pub started_at_ms: u64,
    /// Speaking time, if limited (extensions included).
    pub limit_ms: Option<u64>,
    /// Time spent paused in completed pauses.
    pub paused_ms: u64,
    /// Set while paused: since when.
    pub paused_since_ms: Option<u64>,
    /// The warning went out.
    pub warned: bool,
}

impl Floor {
    /// Speaking time used at `now_ms`, pauses excluded.
    pub fn elapsed_ms(&self, now_ms: u64) -> u64 {
        let end = self
            .paused_since_ms
            .unwrap_or(now_ms)
            .max(self.started_at_ms);
        end.saturating_sub(self.started_at_ms)
            .saturating_sub(self.paused_ms)
    }

    /// Time left at `now_ms`, if limited.
    pub fn remaining_ms(&self, now_ms: u64) -> Option<u64> {
        self.limit_ms
            .map(|limit| limit.saturating_sub(self.elapsed_ms(now_ms)))
    }

    fn warning_at_remaining(&self) -> Option<u64> {
        self.limit_ms.map(|limit| WARNING_MS.min(limit / 6))
    }
}

/// How a speech ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// A moderator or the speaker ended it.
    Ended,
    /// The time limit ran out.
    TimeUp,
    /// The floor went to someone else.
    Replaced,
    /// The speaker was removed from the room.
    Removed,
}

/// One finished speech: the minutes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Speech {
    /// Who spoke.
    pub participant_id: String,
    /// Their name.
    pub name: String,
    /// What for.
    pub kind: RequestKind,
    /// When.
    pub started_at_ms: u64,
    /// How long, pauses excluded.
    pub duration_ms: u64,
    /// How it ended.
    pub ended: Ended,
}

/// Why a queue operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The list is closed to new requests.
    #[error("the speaker list is closed")]
    Closed,
    /// The participant already waits with this kind.
    #[error("you are already on the speaker list for this")]
    AlreadyQueued,
    /// No such waiting entry.
    #[error("no such request on the speaker list")]
    NoSuchEntry,
    /// Nobody waits.
    #[error("the speaker list is empty")]
    Empty,
    /// Nobody has the floor.
    #[error("nobody has the floor")]
    NoFloor,
    /// Out of range.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Something the owner must act on after a change or a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    /// A speech ended.
    SpeechEnded(Speech),
    /// The speaker has little time left.
    Warning {
        /// Who.
        participant_id: String,
        /// How much.
        remaining_ms: u64,
    },
}

/// The speaker list, the floor and the history of one room.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpeakerQueue {
    /// Waiting requests in speaking order.
    entries: Vec<Entry>,
    /// The current speech.
    floor: Option<Floor>,
    /// Accepting new requests (points of order always are).
    open: bool,
    /// Limit for the next speeches.
    time_limit_ms: Option<u64>,
    /// Finished speeches, oldest first.
    history: Vec<Speech>,
    next_id: u64,
}

impl Default for SpeakerQueue {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            floor: None,
            open: true,
            time_limit_ms: Some(180_000),
            history: Vec::new(),
            next_id: 1,
        }
    }
}

/// The queue as clients see it (docs/protocol.md, *Queue*).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct QueueView {
    /// Accepting requests.
    pub open: bool,
    /// Limit for the next speeches, seconds.
    pub time_limit_s: Option<u64>,
    /// The floor's clock is stopped.
    pub paused: bool,
    /// Waiting, in speaking order.
    pub entries: Vec<Entry>,
    /// The current speech.
    pub floor: Option<FloorView>,
    /// The time `remaining_ms` refers to.
    pub server_time_ms: u64,
}

/// The floor as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FloorView {
    /// Entry it came from (0: given directly).
    pub entry_id: u64,
    /// Speaker.
    pub participant_id: String,
    /// Name.
    pub name: String,
    /// What for.
    pub kind: RequestKind,
    /// Began.
    pub started_at_ms: u64,
    /// Limit with extensions.
    pub limit_ms: Option<u64>,
    /// Left at `server_time_ms`.
    pub remaining_ms: Option<u64>,
    /// Clock stopped.
    pub paused: bool,
    /// Warning sent.
    pub warned: bool,
}

impl SpeakerQueue {
    /// Name `participant` `pseudonym` everywhere: waiting, speaking, in the history (an
    /// erased member, docs/privacy.md).
    pub fn rename(&mut self, participant: &str, pseudonym: &str) {
        let names = self
            .entries
            .iter_mut()
            .filter(|e| e.participant_id == participant)
            .map(|e| &mut e.name)
            .chain(
                self.floor
                    .iter_mut()
                    .filter(|f| f.participant_id == participant)
                    .map(|f| &mut f.name),
            )
            .chain(
                self.history
                    .iter_mut()
                    .filter(|s| s.participant_id == participant)
                    .map(|s| &mut s.name),
            );
        for name in names {
            pseudonym.clone_into(name);
        }
    }

    /// The view for clients at `now_ms`.
    pub fn view(&self, now_ms: u64) -> QueueView {
        QueueView {
            open: self.open,
            time_limit_s: self.time_limit_ms.map(|ms| ms / 1000),
            paused: self
                .floor
                .as_ref()
                .is_some_and(|f| f.paused_since_ms.is_some()),
            entries: self.entries.clone(),
            floor: self.floor.as_ref().map(|f| FloorView {
                entry_id: f.entry_id,
                participant_id: f.participant_id.clone(),
                name: f.name.clone(),
                kind: f.kind,
                started_at_ms: f.started_at_ms,
                limit_ms: f.limit_ms,
                remaining_ms: f.remaining_ms(now_ms),
                paused: f.paused_since_ms.is_some(),
                warned: f.warned,
            }),
            server_time_ms: now_ms,
        }
    }

    /// Waiting entries in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The current speech.
    pub fn floor(&self) -> Option<&Floor> {
        self.floor.as_ref()
    }

    /// Who has the floor.
    pub fn floor_holder(&self) -> Option<&str> {
        self.floor.as_ref().map(|f| f.participant_id.as_str())
    }

    /// Finished speeches, oldest first.
    pub fn history(&self) -> &[Speech] {
        &self.history
    }

    /// Ask for the floor.
    pub fn request(
        &mut self,
        participant_id: &str,
        name: &str,
        kind: RequestKind,
        now_ms: u64,
    ) -> Result<Entry, QueueError> {
        if !self.open && kind != RequestKind::PointOfOrder {
            return Err(QueueError::Closed);
        }
        let same_group = |e: &Entry| {
            e.participant_id == participant_id
                && (e.kind == RequestKind::PointOfOrder) == (kind == RequestKind::PointOfOrder)
        };
        if self.entries.iter().any(same_group) {
            return Err(QueueError::AlreadyQueued);
        }
        let entry = Entry {
            id: self.next_id,
            participant_id: participant_id.to_owned(),
            name: name.to_owned(),
            kind,
            requested_at_ms: now_ms,
        };
        self.next_id += 1;
        // After every entry of the same or higher precedence, before the lower ones.
        let at = self
            .entries
            .iter()
            .position(|e| e.kind.precedence() > kind.precedence())
            .unwrap_or(self.entries.len());
        self.entries.insert(at, entry.clone());
        Ok(entry)
    }

    /// Remove a waiting entry; `owner` restricts it to that participant's own entries.
    pub fn remove(&mut self, entry_id: u64, owner: Option<&str>) -> Result<Entry, QueueError> {
        let at = self
            .entries
            .iter()
            .position(|e| e.id == entry_id && owner.is_none_or(|o| e.participant_id == o))
            .ok_or(QueueError::NoSuchEntry)?;
        Ok(self.entries.remove(at))
    }

    /// Remove every waiting entry of a participant (they left the room for good).
    pub fn remove_participant(&mut self, participant_id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.participant_id != participant_id);
        before != self.entries.len()
    }

    /// Move a waiting entry to `position` (clamped to the end).
    pub fn move_entry(&mut self, entry_id: u64, position: usize) -> Result<(), QueueError> {
        let entry = self.remove(entry_id, None)?;
        let at = position.min(self.entries.len());
        self.entries.insert(at, entry);
        Ok(())
    }

    /// Open or close the list.
    pub fn set_open(&mut self, open: bool) {
        self.open = open;
    }

    /// The limit for the next speeches (`None`: unlimited).
    pub fn set_time_limit(&mut self, seconds: Option<u32>) -> Result<(), QueueError> {
        if let Some(s) = seconds
            && !(1..=MAX_LIMIT_S).contains(&s)
        {
            return Err(QueueError::Invalid("the time limit must be 1–3600 seconds"));
        }
        self.time_limit_ms = seconds.map(|s| u64::from(s) * 1000);
        Ok(())
    }

    /// Give the floor to a waiting entry, or to the first one when `entry_id` is `None`.
    pub fn give_floor_to_entry(
        &mut self,
        entry_id: Option<u64>,
        now_ms: u64,
    ) -> Result<Vec<QueueEvent>, QueueError> {
        let at = match entry_id {
            Some(id) => self
                .entries
                .iter()
                .position(|e| e.id == id)
                .ok_or(QueueError::NoSuchEntry)?,
            None if self.entries.is_empty() => return Err(QueueError::Empty),
            None => 0,
        };
        let entry = self.entries.remove(at);
        Ok(self.start(
            entry.id,
            entry.participant_id,
            entry.name,
            entry.kind,
            now_ms,
        ))
    }

    /// Give the floor to a participant directly. A waiting (non point-of-order) entry of
    /// theirs is used up.
    pub fn give_floor_to(
        &mut self,
        participant_id: &str,
        name: &str,
        now_ms: u64,
    ) -> Vec<QueueEvent> {
        let taken = self.entries.iter().position(|e| {
            e.participant_id == participant_id && e.kind != RequestKind::PointOfOrder
        });
        let (entry_id, kind) = match taken {
            Some(at) => {
                let e = self.entries.remove(at);
                (e.id, e.kind)
            }
            None => (0, RequestKind::Contribution),
        };
        self.start(
            entry_id,
            participant_id.to_owned(),
            name.to_owned(),
            kind,
            now_ms,
        )
    }

    fn start(
        &mut self,
        entry_id: u64,
        participant_id: String,
        name: String,
        kind: RequestKind,
        now_ms: u64,
    ) -> Vec<QueueEvent> {
        let mut events = Vec::new();
        if let Some(speech) = self.finish(Ended::Replaced, now_ms) {
            events.push(QueueEvent::SpeechEnded(speech));
        }
        self.floor = Some(Floor {
            entry_id,
            participant_id,
            name,
            kind,
            started_at_ms: now_ms,
            limit_ms: self.time_limit_ms,
            paused_ms: 0,
            paused_since_ms: None,
            warned: false,
        });
        events
    }

    /// End the current speech.
    pub fn end_floor(&mut self, ended: Ended, now_ms: u64) -> Result<Speech, QueueError> {
        self.finish(ended, now_ms).ok_or(QueueError::NoFloor)
    }

    fn finish(&mut self, ended: Ended, now_ms: u64) -> Option<Speech> {
        let floor = self.floor.take()?;
        let mut duration_ms = floor.elapsed_ms(now_ms);
        if ended == Ended::TimeUp {
            // The timer fires a moment late; the speech ended at the limit.
            duration_ms = duration_ms.min(floor.limit_ms.unwrap_or(u64::MAX));
        }
        let speech = Speech {
            duration_ms,
            participant_id: floor.participant_id,
            name: floor.name,
            kind: floor.kind,
            started_at_ms: floor.started_at_ms,
            ended,
        };
        self.history.push(speech.clone());
        Some(speech)
    }

    /// Stop the speaker's clock.
    pub fn pause(&mut self, now_ms: u64) -> Result<(), QueueError> {
        let floor = self.floor.as_mut().ok_or(QueueError::NoFloor)?;
        if floor.paused_since_ms.is_none() {
            floor.paused_since_ms = Some(now_ms);
        }
        Ok(())
    }

    /// Restart the speaker's clock.
    pub fn resume(&mut self, now_ms: u64) -> Result<(), QueueError> {
        let floor = self.floor.as_mut().ok_or(QueueError::NoFloor)?;
        if let Some(since) = floor.paused_since_ms.take() {
            floor.paused_ms += now_ms.saturating_sub(since);
        }
        Ok(())
    }

    /// Give the current speaker more time (on an unlimited speech: a limit from now).
    pub fn extend(&mut self, seconds: u32, now_ms: u64) -> Result<(), QueueError> {
        if !(1..=MAX_LIMIT_S).contains(&seconds) {
            return Err(QueueError::Invalid("an extension must be 1–3600 seconds"));
        }
        let floor = self.floor.as_mut().ok_or(QueueError::NoFloor)?;
        let extra = u64::from(seconds) * 1000;
        let limit = floor
            .limit_ms
            .unwrap_or_else(|| floor.elapsed_ms(now_ms))
            .saturating_add(extra);
        floor.limit_ms = Some(limit);
        if floor
            .remaining_ms(now_ms)
            .zip(floor.warning_at_remaining())
            .is_some_and(|(left, warn)| left > warn)
        {
            floor.warned = false;
        }
        Ok(())
    }

    /// When [`SpeakerQueue::tick`] has something to do next (the warning or the end).
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let floor = self.floor.as_ref()?;
        if floor.paused_since_ms.is_some() {
            return None;
        }
        let limit = floor.limit_ms?;
        let end = floor.started_at_ms + floor.paused_ms + limit;
        let warn_at = floor.warning_at_remaining().unwrap_or(0);
        if floor.warned || warn_at == 0 {
            Some(end)
        } else {
            Some(end.saturating_sub(warn_at))
        }
    }

    /// Send the warning and end the speech when their time has come.
    pub fn tick(&mut self, now_ms: u64) -> Vec<QueueEvent> {
        let mut events = Vec::new();
        let Some(floor) = self.floor.as_mut() else {
            return events;
        };
        if floor.paused_since_ms.is_some() {
            return events;
        }
        let (Some(left), Some(warn_at)) =
            (floor.remaining_ms(now_ms), floor.warning_at_remaining())
        else {
            return events;
        };
        if left == 0 {
            if let Some(speech) = self.finish(Ended::TimeUp, now_ms) {
                events.push(QueueEvent::SpeechEnded(speech));
            }
        } else if !floor.warned && warn_at > 0 && left <= warn_at {
            floor.warned = true;
            events.push(QueueEvent::Warning {
                participant_id: floor.participant_id.clone(),
                remaining_ms: left,
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;

    fn names(q: &SpeakerQueue) -> Vec<(&str, RequestKind)> {
        q.entries()
            .iter()
            .map(|e| (e.participant_id.as_str(), e.kind))
            .collect()
    }

    fn queue_with(requests: &[(&str, RequestKind)]) -> SpeakerQueue {
        let mut q = SpeakerQueue::default();
        for (i, (who, kind)) in requests.iter().enumerate() {
            q.request(who, who, *kind, T0 + i as u64).unwrap();
        }
        q
    }

    use RequestKind::*;

    #[test]
    fn points_of_order_go_first_then_questions_then_the_rest_in_request_order() {
        let q = queue_with(&[
            ("a", Contribution),
            ("b", Pro),
            ("c", PointOfOrder),
            ("d", Question),
            ("e", Contra),
            ("f", PointOfOrder),
        ]);
        assert_eq!(
            names(&q),
            vec![
                ("c", PointOfOrder),
                ("f", PointOfOrder),
                ("d", Question),
                ("a", Contribution),
                ("b", Pro),
                ("e", Contra),
            ]
        );
    }

    #[test]
    fn one_request_per_participant_plus_a_point_of_order() {
        let mut q = queue_with(&[("a", Contribution)]);
        assert_eq!(q.request("a", "a", Pro, T0), Err(QueueError::AlreadyQueued));
        q.request("a", "a", PointOfOrder, T0).unwrap();
        assert_eq!(
            q.request("a", "a", PointOfOrder, T0),
            Err(QueueError::AlreadyQueued)
        );
        assert_eq!(q.entries().len(), 2);
    }

    #[test]
    fn a_closed_list_takes_only_points_of_order() {
        let mut q = SpeakerQueue::default();
        q.set_open(false);
        assert_eq!(
            q.request("a", "a", Contribution, T0),
            Err(QueueError::Closed)
        );
        q.request("a", "a", PointOfOrder, T0).unwrap();
        q.set_open(true);
        q.request("b", "b", Contra, T0).unwrap();
        assert_eq!(names(&q), vec![("a", PointOfOrder), ("b", Contra)]);
    }

    #[test]
    fn moderators_reorder_and_remove_owners_withdraw_only_their_own() {
        let mut q = queue_with(&[("a", Contribution), ("b", Contribution), ("c", Pro)]);
        let c = q.entries()[2].id;
        q.move_entry(c, 0).unwrap();
        assert_eq!(names(&q)[0], ("c", Pro));
        q.move_entry(c, 99).unwrap();
        assert_eq!(names(&q)[2], ("c", Pro));
        let a = q.entries()[0].id;
        assert_eq!(q.remove(a, Some("b")), Err(QueueError::NoSuchEntry));
        q.remove(a, Some("a")).unwrap();
        assert_eq!(q.move_entry(a, 0), Err(QueueError::NoSuchEntry));
        assert_eq!(names(&q), vec![("b", Contribution), ("c", Pro)]);
    }

    #[test]
    fn giving_the_floor_takes_the_first_entry_and_records_the_previous_speech() {
        let mut q = queue_with(&[("a", Contribution), ("b", Contra)]);
        assert!(q.give_floor_to_entry(None, T0).unwrap().is_empty());
        assert_eq!(q.floor_holder(), Some("a"));
        let events = q.give_floor_to_entry(None, T0 + 42_000).unwrap();
        assert_eq!(q.floor_holder(), Some("b"));
        assert_eq!(
            events,
            vec![QueueEvent::SpeechEnded(Speech {
                participant_id: "a".into(),
                name: "a".into(),
                kind: Contribution,
                started_at_ms: T0,
                duration_ms: 42_000,
                ended: Ended::Replaced,
            })]
        );
        assert_eq!(q.give_floor_to_entry(None, T0), Err(QueueError::Empty));
        let speech = q.end_floor(Ended::Ended, T0 + 50_000).unwrap();
        assert_eq!((speech.duration_ms, speech.kind), (8_000, Contra));
        assert_eq!(q.end_floor(Ended::Ended, T0), Err(QueueError::NoFloor));
        assert_eq!(q.history().len(), 2);
    }

    #[test]
    fn direct_floor_uses_up_the_participants_request_but_not_their_point_of_order() {
        let mut q = queue_with(&[("a", PointOfOrder), ("a", Pro), ("b", Contribution)]);
        q.give_floor_to("a", "a", T0);
        assert_eq!(q.floor().unwrap().kind, Pro);
        assert_eq!(names(&q), vec![("a", PointOfOrder), ("b", Contribution)]);
        q.give_floor_to("z", "z", T0);
        assert_eq!(q.floor().unwrap().entry_id, 0);
    }

    #[test]
    fn time_limit_warns_then_ends_the_speech() {
        let mut q = queue_with(&[("a", Contribution)]);
        q.set_time_limit(Some(300)).unwrap();
        q.give_floor_to_entry(None, T0).unwrap();
        assert_eq!(q.next_deadline_ms(), Some(T0 + 270_000));
        assert!(q.tick(T0 + 269_999).is_empty());
        assert_eq!(
            q.tick(T0 + 270_000),
            vec![QueueEvent::Warning {
                participant_id: "a".into(),
                remaining_ms: 30_000
            }]
        );
        assert!(q.tick(T0 + 280_000).is_empty(), "warned once");
        assert_eq!(q.next_deadline_ms(), Some(T0 + 300_000));
        let events = q.tick(T0 + 300_000);
        assert!(matches!(
            &events[..],
            [QueueEvent::SpeechEnded(Speech {
                ended: Ended::TimeUp,
                duration_ms: 300_000,
                ..
            })]
        ));
        assert_eq!(q.floor(), None);
        assert_eq!(q.next_deadline_ms(), None);
    }

    #[test]
    fn short_limits_warn_at_a_sixth() {
        let mut q = SpeakerQueue::default();
        q.set_time_limit(Some(60)).unwrap();
        q.give_floor_to("a", "a", T0);
        assert_eq!(q.next_deadline_ms(), Some(T0 + 50_000));
    }

    #[test]
    fn pause_stops_the_clock_and_resume_restarts_it() {
        let mut q = SpeakerQueue::default();
        q.set_time_limit(Some(60)).unwrap();
        q.give_floor_to("a", "a", T0);
        q.pause(T0 + 20_000).unwrap();
        assert_eq!(q.next_deadline_ms(), None);
        assert!(q.tick(T0 + 500_000).is_empty());
        assert_eq!(q.floor().unwrap().remaining_ms(T0 + 500_000), Some(40_000));
        assert!(q.view(T0 + 500_000).paused);
        q.resume(T0 + 100_000).unwrap();
        assert_eq!(q.floor().unwrap().remaining_ms(T0 + 100_000), Some(40_000));
        assert_eq!(q.next_deadline_ms(), Some(T0 + 130_000));
        let speech = q.end_floor(Ended::Ended, T0 + 110_000).unwrap();
        assert_eq!(speech.duration_ms, 30_000, "the pause does not count");
    }

    #[test]
    fn extension_adds_time_and_rearms_the_warning() {
        let mut q = SpeakerQueue::default();
        q.set_time_limit(Some(60)).unwrap();
        q.give_floor_to("a", "a", T0);
        assert_eq!(q.tick(T0 + 55_000).len(), 1);
        q.extend(60, T0 + 55_000).unwrap();
        assert_eq!(q.floor().unwrap().remaining_ms(T0 + 55_000), Some(65_000));
        assert!(!q.floor().unwrap().warned);
        assert_eq!(
            q.extend(0, T0),
            Err(QueueError::Invalid("an extension must be 1–3600 seconds"))
        );
        q.set_time_limit(None).unwrap();
        q.give_floor_to("b", "b", T0 + 60_000);
        assert_eq!(q.next_deadline_ms(), None, "unlimited");
        q.extend(10, T0 + 70_000).unwrap();
        assert_eq!(q.floor().unwrap().remaining_ms(T0 + 70_000), Some(10_000));
    }

    #[test]
    fn limits_are_validated() {
        let mut q = SpeakerQueue::default();
        assert!(q.set_time_limit(Some(0)).is_err());
        assert!(q.set_time_limit(Some(3601)).is_err());
        assert_eq!(q.view(T0).time_limit_s, Some(180));
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let mut q = queue_with(&[("a", Contribution), ("b", PointOfOrder)]);
        q.give_floor_to_entry(None, T0).unwrap();
        q.pause(T0 + 5).unwrap();
        let json = serde_json::to_string(&q).unwrap();
        let back: SpeakerQueue = serde_json::from_str(&json).unwrap();
        assert_eq!(back, q);
    }
}

//! Polls inside the room actor: lifecycle, eligibility (present voters and their
//! delegations, fixed when a poll opens), casting, counting, receipts and the audit chain.
//!
//! The store is the authority: a vote is stored (one transaction, right used only once)
//! before it is acknowledged, so a restart or a second device can neither lose nor repeat
//! it. Nothing here logs a voter or a choice.

use std::collections::HashSet;

use rand::RngCore;
use serde_json::json;
use tracing::{info, warn};

use super::verifiable::{self, Verifiable};
use super::{Member, Outbound, RoomActor};
use crate::ballot::{Choice, MyRight, NamedVote, PollSpec, PollState, PollView, Tally};
use crate::protocol::{Command, ErrorBody, ErrorCode, Event};
use crate::storage::{
    self, Cast, CastOutcome, PollRecord, Right, StorageError, Store, result_commitment,
    verify_audit,
};

/// A poll as the actor keeps it (the store has the same).
#[derive(Debug)]
pub(super) struct Poll {
    pub(super) record: PollRecord,
    pub(super) spec: PollSpec,
    /// The rights, once open.
    pub(super) rights: Vec<Right>,
    /// A verifiable poll's key generation and board (room/verifiable.rs).
    pub(super) verifiable: Option<Verifiable>,
}

impl Poll {
    pub(super) fn voted(&self) -> u64 {
        self.rights.iter().filter(|r| r.voted).count() as u64
    }
}

/// Load a room's polls.
pub(super) fn load(store: &dyn Store, room_id: &str) -> Result<Vec<Poll>, StorageError> {
    store
        .polls(room_id)?
        .into_iter()
        .map(|record| {
            let spec: PollSpec = serde_json::from_str(&record.spec)
                .map_err(|e| StorageError::Corrupt(format!("poll {}: {e}", record.id)))?;
            let rights = store.rights(&record.id)?;
            let verifiable = verifiable::load(store, &record, &spec, &rights)?;
            Ok(Poll {
                record,
                spec,
                rights,
                verifiable,
            })
        })
        .collect()
}

pub(super) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub(super) fn storage_failed(e: StorageError) -> ErrorBody {
    warn!("poll storage failed: {e}");
    ErrorBody::new(ErrorCode::Internal, "storage unavailable")
}

pub(super) fn no_poll(id: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, format!("no poll {id}"))
}

fn already_voted() -> ErrorBody {
    ErrorBody::new(ErrorCode::AlreadyVoted, "this vote has been cast already")
}

/// What the store said of a cast, as the voter's answer: counted, or why not.
pub(super) fn counted_by_store(outcome: CastOutcome) -> Result<(), ErrorBody> {
    match outcome {
        CastOutcome::Counted => Ok(()),
        CastOutcome::AlreadyVoted => Err(already_voted()),
        CastOutcome::NotOpen => Err(ErrorBody::new(
            ErrorCode::PollNotOpen,
            "the poll is not open",
        )),
    }
}

pub(super) fn wrong_state(state: PollState, wanted: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::BadRequest,
        format!("the poll is {}, not {wanted}", state.as_str()),
    )
}

impl RoomActor {
    pub(super) fn ballot_command(
        &mut self,
        who: &str,
        command: Command,
    ) -> Result<serde_json::Value, ErrorBody> {
        let now = (self.now_ms)();
        match command {
            Command::PollCreate { poll } => self.poll_create(poll, now),
            Command::PollOpen { poll_id } => self.poll_open(&poll_id, now),
            Command::PollClose { poll_id } => self.poll_close(&poll_id, now),
            Command::PollPublish { poll_id } => self.poll_publish(&poll_id, now),
            Command::PollCancel { poll_id } => self.poll_cancel(&poll_id, now),
            Command::CastVote {
                poll_id,
                choice,
                on_behalf_of,
            } => self.cast_vote(who, &poll_id, &choice, on_behalf_of.as_deref()),
            Command::PollList => {
                let me = self.members.get(who);
                let polls: Vec<PollView> =
                    self.polls.iter().map(|p| self.poll_view(p, me)).collect();
                Ok(json!({ "polls": polls }))
            }
            Command::PollReceipts { poll_id } => {
                let poll = self.poll(&poll_id)?;
                if poll.record.state != PollState::Published {
                    return Err(wrong_state(poll.record.state, "published"));
                }
                let receipts = self.store.receipts(&poll_id).map_err(storage_failed)?;
                Ok(json!({ "receipts": receipts }))
            }
            Command::SetProxy { proxy_id } => self.set_proxy(who, proxy_id),
            Command::AuditExport => {
                let entries = self.store.audit(&self.record.id).map_err(storage_failed)?;
                let valid = verify_audit(&entries).is_ok();
                Ok(json!({ "entries": entries, "valid": valid }))
            }
            other => Err(ErrorBody::new(
                ErrorCode::Internal,
                format!("{} is not a poll command", other.name()),
            )),
        }
    }

    pub(super) fn poll(&self, id: &str) -> Result<&Poll, ErrorBody> {
        self.polls
            .iter()
            .find(|p| p.record.id == id)
            .ok_or_else(|| no_poll(id))
    }

    pub(super) fn poll_index(&self, id: &str) -> Result<usize, ErrorBody> {
        self.polls
            .iter()
            .position(|p| p.record.id == id)
            .ok_or_else(|| no_poll(id))
    }

    pub(super) fn audit_event(
        &self,
        poll_id: &str,
        event: &str,
        now: u64,
        data: serde_json::Value,
    ) -> String {
        json!({ "poll_id": poll_id, "event": event, "at_ms": now, "data": data }).to_string()
    }

    fn poll_create(&mut self, spec: PollSpec, now: u64) -> Result<serde_json::Value, ErrorBody> {
        spec.validate()
            .map_err(|e| ErrorBody::new(ErrorCode::BadRequest, e.to_string()))?;
        self.check_committee(&spec)?;
        let id = format!("poll-{}", random_hex(6));
        let spec_json = serde_json::to_string(&spec).unwrap_or_default();
        let record = PollRecord {
            id: id.clone(),
            room_id: self.record.id.clone(),
            spec: spec_json,
            state: PollState::Draft,
            eligible_voters: 0,
            eligible_weight: 0,
            result: None,
            result_nonce: None,
        };
        let audit = self.audit_event(&id, "created", now, json!(spec));
        self.store
            .create_poll(&record, &audit)
            .map_err(storage_failed)?;
        let verifiable = self.start_dkg(&id, &spec)?;
        self.polls.push(Poll {
            record,
            spec,
            rights: Vec::new(),
            verifiable,
        });
        let idx = self.polls.len() - 1;
        self.send_poll(idx);
        self.send_dkg(idx, None);
        Ok(json!({ "poll": self.poll_view(&self.polls[idx], None) }))
    }

    /// The rights when a poll opens: present voters who did not delegate, and the
    /// delegations whose proxy is such a voter.
    fn eligible_rights(&self) -> Vec<Right> {
        let voters: Vec<&Member> = self
            .present()
            .filter(|m| m.info.grants.vote && !self.state.proxies.contains_key(&m.info.id))
            .collect();
        let ids: HashSet<&str> = voters.iter().map(|m| m.info.id.as_str()).collect();
        let mut rights: Vec<Right> = voters
            .iter()
            .map(|m| Right {
                holder_id: m.info.id.clone(),
                proxy_id: None,
                weight: u64::from(m.info.grants.vote_weight),
                voted: false,
            })
            .collect();
        for (holder, proxy) in &self.state.proxies {
            if ids.contains(proxy.proxy_id.as_str()) {
                rights.push(Right {
                    holder_id: holder.clone(),
                    proxy_id: Some(proxy.proxy_id.clone()),
                    weight: proxy.weight,
                    voted: false,
                });
            }
        }
        rights
    }

    fn poll_open(&mut self, id: &str, now: u64) -> Result<serde_json::Value, ErrorBody> {
        let idx = self.poll_index(id)?;
        let state = self.polls[idx].record.state;
        if state != PollState::Draft {
            return Err(wrong_state(state, "a draft"));
        }
        let rights = self.eligible_rights();
        if rights.is_empty() {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "nobody present has a voting right",
            ));
        }
        let weight: u64 = rights.iter().map(|r| r.weight).sum();
        let audit = self.audit_event(
            id,
            "opened",
            now,
            json!({ "eligible_voters": rights.len(), "eligible_weight": weight }),
        );
        let board = self.open_board(idx, &rights)?;
        // A verifiable poll's counts are on its board, not in counters.
        let (slots, entries) = match &board {
            None => (Tally::slots(&self.polls[idx].spec), Vec::new()),
            Some(b) => (0, Self::board_entries(b)),
        };
        if !self
            .store
            .open_poll(id, &rights, slots, &entries, &audit)
            .map_err(storage_failed)?
        {
            return Err(wrong_state(state, "a draft"));
        }
        let poll = &mut self.polls[idx];
        poll.record.state = PollState::Open;
        poll.record.eligible_voters = rights.len() as u64;
        poll.record.eligible_weight = weight;
        poll.rights = rights;
        info!(room = %self.record.id, poll = id, "poll opened");
        if let Some(board) = board {
            self.opened_board(idx, board);
        }
        self.send_poll(idx);
        Ok(json!({}))
    }

    fn poll_close(&mut self, id: &str, now: u64) -> Result<serde_json::Value, ErrorBody> {
        let idx = self.poll_index(id)?;
        let poll = &self.polls[idx];
        if poll.record.state != PollState::Open {
            return Err(wrong_state(poll.record.state, "open"));
        }
        if poll.verifiable.is_some() {
            return self.close_verifiable(idx, now);
        }
        let slots = self.store.tally(id).map_err(storage_failed)?;
        let tally = Tally::from_slots(&poll.spec, &slots).ok_or_else(|| {
            storage_failed(StorageError::Corrupt(format!(
                "poll {id} has {} counters",
                slots.len()
            )))
        })?;
        let result = tally.evaluate(
            &poll.spec,
            poll.record.eligible_voters,
            poll.record.eligible_weight,
        );
        let result_json = serde_json::to_string(&result).unwrap_or_default();
        // The chain commits to the result now and reveals it on publication: until then it
        // is the moderators' only (docs/ballot.md, *Audit trail*).
        let nonce = random_hex(16);
        let data = json!({
            "voted": poll.voted(),
            "result_commitment": result_commitment(&nonce, &result_json),
        });
        let audit = self.audit_event(id, "closed", now, data);
        if !self
            .store
            .set_poll_state(
                id,
                PollState::Open,
                PollState::Closed,
                Some((&result_json, &nonce)),
                &[],
                &audit,
            )
            .map_err(storage_failed)?
        {
            return Err(wrong_state(PollState::Open, "open"));
        }
        self.seal(idx);
        let poll = &mut self.polls[idx];
        poll.record.state = PollState::Closed;
        poll.record.result = Some(result_json);
        poll.record.result_nonce = Some(nonce);
        info!(room = %self.record.id, poll = id, "poll closed");
        self.send_poll(idx);
        Ok(json!({}))
    }

    fn poll_publish(&mut self, id: &str, now: u64) -> Result<serde_json::Value, ErrorBody> {
        let poll = self.poll(id)?;
        if poll.verifiable.as_ref().is_some_and(|v| !v.decrypted()) {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "the tally committee has not decrypted the result yet",
            ));
        }
        let record = &poll.record;
        let data = json!({ "result": record.result, "nonce": record.result_nonce });
        self.transition(
            id,
            PollState::Closed,
            PollState::Published,
            "published",
            now,
            data,
        )
    }

    /// Cancelling discards the poll's votes: its counters, receipts, named votes and the
    /// rights with their "voted" marks, a verifiable poll's key generation and board
    /// (docs/ballot.md, *Cancelling*). The audit chain keeps how many had voted. A
    /// verifiable poll that fewer than t committee members can decrypt can be cancelled
    /// once closed.
    fn poll_cancel(&mut self, id: &str, now: u64) -> Result<serde_json::Value, ErrorBody> {
        let poll = self.poll(id)?;
        let state = poll.record.state;
        let undecrypted =
            state == PollState::Closed && poll.verifiable.as_ref().is_some_and(|v| !v.decrypted());
        if !matches!(state, PollState::Draft | PollState::Open) && !undecrypted {
            return Err(wrong_state(state, "a draft or open"));
        }
        let data = json!({ "voted": poll.voted() });
        let answer = self.transition(id, state, PollState::Cancelled, "cancelled", now, data)?;
        self.seal(self.poll_index(id)?);
        Ok(answer)
    }

    /// After a secret poll ends (closed or cancelled): rewrite the database so no freed page
    /// or WAL frame keeps a state from while it was open.
    pub(super) fn seal(&self, idx: usize) {
        if self.polls[idx].spec.secret
            && let Err(e) = self.store.compact()
        {
            warn!("compacting after a secret poll failed: {e}");
        }
    }

    fn transition(
        &mut self,
        id: &str,
        from: PollState,
        to: PollState,
        event: &str,
        now: u64,
        data: serde_json::Value,
    ) -> Result<serde_json::Value, ErrorBody> {
        let idx = self.poll_index(id)?;
        let state = self.polls[idx].record.state;
        if state != from {
            return Err(wrong_state(state, from.as_str()));
        }
        let audit = self.audit_event(id, event, now, data);
        if !self
            .store
            .set_poll_state(id, from, to, None, &[], &audit)
            .map_err(storage_failed)?
        {
            return Err(wrong_state(state, from.as_str()));
        }
        self.polls[idx].record.state = to;
        if to == PollState::Cancelled {
            self.polls[idx].rights.clear();
            if let Some(v) = self.polls[idx].verifiable.as_mut() {
                v.cancelled();
            }
        }
        info!(room = %self.record.id, poll = id, event, "poll changed");
        self.send_poll(idx);
        Ok(json!({}))
    }

    fn cast_vote(
        &mut self,
        who: &str,
        id: &str,
        choice: &Choice,
        on_behalf_of: Option<&str>,
    ) -> Result<serde_json::Value, ErrorBody> {
        let idx = self.poll_index(id)?;
        let poll = &self.polls[idx];
        if poll.verifiable.is_some() {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "a verifiable poll takes encrypted ballots (cast_ballot)",
            ));
        }
        let holder = on_behalf_of.unwrap_or(who);
        let right = self.unused_right(poll, who, holder)?;
        poll.spec
            .validate_choice(choice)
            .map_err(|e| ErrorBody::new(ErrorCode::InvalidChoice, e.to_string()))?;
        let receipt = random_hex(16);
        // What the store gets: the vote's share of each counter, never the ballot itself
        // (named polls also record who chose what).
        let cast = Cast {
            receipt: receipt.clone(),
            delta: Tally::of_ballot(&poll.spec, right.weight, choice).to_slots(),
            named: (!poll.spec.secret).then(|| storage::NamedVote {
                voter_id: holder.to_owned(),
                weight: right.weight,
                choice: serde_json::to_string(choice).unwrap_or_default(),
            }),
        };
        counted_by_store(self.store.cast(id, holder, &cast).map_err(storage_failed)?)?;
        self.counted(idx, who, holder);
        Ok(json!({ "receipt": receipt }))
    }

    /// The right `who` casts for `holder` in an open poll, if it is theirs and unused.
    pub(super) fn unused_right<'a>(
        &self,
        poll: &'a Poll,
        who: &str,
        holder: &str,
    ) -> Result<&'a Right, ErrorBody> {
        if poll.record.state != PollState::Open {
            return Err(ErrorBody::new(
                ErrorCode::PollNotOpen,
                format!("the poll is {}", poll.record.state.as_str()),
            ));
        }
        let right = poll
            .rights
            .iter()
            .find(|r| r.holder_id == holder)
            .filter(|r| match &r.proxy_id {
                None => holder == who,
                Some(proxy) => proxy == who,
            })
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::NotEligible,
                    if holder == who {
                        "you have no voting right in this poll (not present when it opened, or delegated)"
                    } else {
                        "that voting right was not delegated to you"
                    },
                )
            })?;
        if right.voted {
            return Err(already_voted());
        }
        Ok(right)
    }

    /// After the store took a vote: the right is used; everyone gets the count, the voter
    /// their view.
    pub(super) fn counted(&mut self, idx: usize, who: &str, holder: &str) {
        let poll = &mut self.polls[idx];
        if let Some(r) = poll.rights.iter_mut().find(|r| r.holder_id == holder) {
            r.voted = true;
        }
        let progress = Event::PollProgress {
            poll_id: poll.record.id.clone(),
            voted: poll.voted(),
            eligible: poll.record.eligible_voters,
        };
        self.broadcast(progress);
        if let Some(m) = self.members.get(who) {
            let view = self.poll_view(&self.polls[idx], Some(m));
            let _ = m.out.send(Outbound::Event(Event::PollChanged {
                poll: Box::new(view),
            }));
        }
    }

    fn set_proxy(
        &mut self,
        who: &str,
        proxy_id: Option<String>,
    ) -> Result<serde_json::Value, ErrorBody> {
        let command = Command::SetProxy { proxy_id };
        self.congress(who, command)
    }

    /// A poll as `me` sees it (`None`: a neutral view without rights or results).
    pub(super) fn poll_view(&self, poll: &Poll, me: Option<&Member>) -> PollView {
        let moderate = me.is_some_and(|m| m.info.grants.moderate);
        let visible = poll.record.state == PollState::Published
            || (poll.record.state == PollState::Closed && moderate);
        let result = if visible {
            poll.record
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
        } else {
            None
        };
        let votes = (visible && !poll.spec.secret).then(|| {
            self.store
                .named_votes(&poll.record.id)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|v| {
                    Some(NamedVote {
                        participant_id: v.voter_id,
                        choice: serde_json::from_str(&v.choice).ok()?,
                    })
                })
                .collect()
        });
        let my_rights = me
            .map(|m| {
                poll.rights
                    .iter()
                    .filter(|r| match &r.proxy_id {
                        None => r.holder_id == m.info.id,
                        Some(p) => *p == m.info.id,
                    })
                    .map(|r| MyRight {
                        holder_id: r.holder_id.clone(),
                        weight: r.weight,
                        voted: r.voted,
                    })
                    .collect()
            })
            .unwrap_or_default();
        PollView {
            id: poll.record.id.clone(),
            spec: poll.spec.clone(),
            state: poll.record.state,
            eligible_voters: poll.record.eligible_voters,
            eligible_weight: poll.record.eligible_weight,
            voted: poll.voted(),
            result,
            votes,
            my_rights,
            verifiable: poll.verifiable.as_ref().and_then(|v| v.view(&poll.spec)),
        }
    }

    /// Every present member gets their own view of the poll.
    pub(super) fn send_poll(&self, idx: usize) {
        let Some(poll) = self.polls.get(idx) else {
            return;
        };
        for m in self.present() {
            let view = self.poll_view(poll, Some(m));
            let _ = m.out.send(Outbound::Event(Event::PollChanged {
                poll: Box::new(view),
            }));
        }
    }

    /// All polls as `id` sees them (for the join result).
    pub(super) fn poll_views(&self, id: &str) -> Vec<PollView> {
        let me = self.members.get(id);
        self.polls.iter().map(|p| self.poll_view(p, me)).collect()
    }
}

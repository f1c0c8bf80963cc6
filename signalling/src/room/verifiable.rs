//! Verifiable polls inside the room actor (docs/protocol.md, *Verifiable polls*): the tally
//! committee's key generation while the poll is a draft ([`crate::verifiable::Dkg`]), the
//! bulletin board from opening to the result (`plenum_ballot_crypto::board::Board`), and the
//! commands and events around them.
//!
//! The store is the authority, as for every poll: each change is stored before it is
//! answered or announced, and a change the store refuses leaves the actor's state as it was
//! (the key generation and the board are changed on a copy, or the board is read back from
//! the store). The server never holds a key share or a decrypted single ballot: it relays
//! and checks public messages, and decrypts nothing but — with t members' partial
//! decryptions — the weighted sums. Nothing here logs a voter, a ballot or a choice.

use plenum_ballot_crypto::ballot::Ballot;
use plenum_ballot_crypto::board::{Board, BoardExport, ChainedEntry, Entry, FORMAT, Phase};
use plenum_ballot_crypto::encoding::CredentialKey;
use plenum_ballot_crypto::poll::{PollHeader, Right as RollRight, Roll};
use plenum_ballot_crypto::tally::PartialDecryption;
use serde_json::json;
use tracing::{info, warn};

use super::ballots::{counted_by_store, random_hex, storage_failed, wrong_state};
use super::{Outbound, RoomActor};
use crate::ballot::{PollSpec, PollState, Tally};
use crate::protocol::{Command, ErrorBody, ErrorCode, Event};
use crate::storage::{CastOutcome, PollRecord, Right, StorageError, Store, result_commitment};
use crate::verifiable::{BoardView, DecryptionView, Dkg, DkgError, VerifiableView};

/// A verifiable poll's state besides its record: the key generation and, once open, the
/// board.
#[derive(Debug)]
pub(super) struct Verifiable {
    dkg: Dkg,
    board: Option<Board>,
}

impl Verifiable {
    /// What a poll view shows of it.
    pub(super) fn view(&self, spec: &PollSpec) -> Option<VerifiableView> {
        let v = spec.verifiable.as_ref()?;
        let summary = self.board.as_ref().map(Board::summary);
        Some(VerifiableView {
            committee: v.committee.clone(),
            threshold: v.threshold,
            dkg: self.dkg.view(),
            election_key: self.dkg.election_key.as_ref().map(|k| hex::encode(k.0)),
            board: BoardView {
                entries: summary.as_ref().map_or(0, |s| s.entries as u64),
                head: summary
                    .as_ref()
                    .filter(|s| s.entries > 0)
                    .map(|s| hex::encode(s.head.0)),
            },
            decryption: DecryptionView {
                valid: summary.as_ref().map_or(0, |s| {
                    u32::try_from(s.decrypted_by.len()).unwrap_or(u32::MAX)
                }),
                needed: v.threshold,
            },
        })
    }

    /// Whether the result is on the board (the poll can be published).
    pub(super) fn decrypted(&self) -> bool {
        self.board
            .as_ref()
            .is_some_and(|b| b.phase() == Phase::Published)
    }

    /// A cancelled poll's key generation and board are gone (the store deleted them).
    pub(super) fn cancelled(&mut self) {
        self.board = None;
    }
}

fn corrupt(poll_id: &str, what: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("poll {poll_id}: {what}"))
}

/// The frozen roll of a poll's rights (sorted canonically).
fn roll_of(rights: &[Right]) -> Result<Roll, plenum_ballot_crypto::Error> {
    Roll::new(
        rights
            .iter()
            .map(|r| RollRight {
                holder: r.holder_id.clone(),
                proxy: r.proxy_id.clone(),
                weight: r.weight,
            })
            .collect(),
    )
}

/// A verifiable poll's state from the store: the key generation record (a fresh one if none
/// was stored yet) and, once the poll opened, its board rebuilt entry by entry — every proof
/// checked again, as `plenum-verify` does. `None` for other polls.
pub(super) fn load(
    store: &dyn Store,
    record: &PollRecord,
    spec: &PollSpec,
    rights: &[Right],
) -> Result<Option<Verifiable>, StorageError> {
    let Some(v) = &spec.verifiable else {
        return Ok(None);
    };
    let (dkg, rejected) = match store.verifiable(&record.id)? {
        Some((json, rejected)) => (
            serde_json::from_str(&json).map_err(|e| corrupt(&record.id, e))?,
            rejected,
        ),
        None => (Dkg::new(&record.id, v.threshold, v.committee.clone()), 0),
    };
    let board = match record.state {
        PollState::Open | PollState::Closed | PollState::Published => {
            Some(read_board(store, &record.id, rights, rejected)?)
        }
        PollState::Draft | PollState::Cancelled => None,
    };
    Ok(Some(Verifiable { dkg, board }))
}

fn read_board(
    store: &dyn Store,
    poll_id: &str,
    rights: &[Right],
    rejected: u64,
) -> Result<Board, StorageError> {
    let entries = store
        .board(poll_id)?
        .iter()
        .map(|e| serde_json::from_str::<ChainedEntry>(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(poll_id, e))?;
    let export = BoardExport {
        format: FORMAT.into(),
        roll: roll_of(rights).map_err(|e| corrupt(poll_id, e))?,
        entries,
    };
    Board::restore(&export, rejected).map_err(|e| corrupt(poll_id, e))
}

fn entry_json(e: &ChainedEntry) -> String {
    // Board entries always serialize (string keys, no floats).
    serde_json::to_string(e).unwrap_or_default()
}

/// The last `n` entries of a board, as the store keeps them.
fn last_entries(board: &Board, n: usize) -> Vec<String> {
    let entries = board.entries();
    entries[entries.len().saturating_sub(n)..]
        .iter()
        .map(entry_json)
        .collect()
}

fn crypto_error(e: &plenum_ballot_crypto::Error) -> ErrorBody {
    ErrorBody::new(ErrorCode::Crypto(e.code()), e.to_string())
}

fn dkg_error(e: DkgError) -> ErrorBody {
    match e {
        DkgError::NotMember => ErrorBody::new(ErrorCode::Forbidden, e.to_string()),
        DkgError::WrongRound { .. } | DkgError::Refused(_) => {
            ErrorBody::new(ErrorCode::BadRequest, e.to_string())
        }
        DkgError::Crypto(c) => crypto_error(&c),
    }
}

fn not_verifiable(id: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::BadRequest,
        format!("poll {id} is not a verifiable poll"),
    )
}

impl RoomActor {
    /// The verifiable polls' own commands.
    pub(super) fn verifiable_command(
        &mut self,
        who: &str,
        command: Command,
    ) -> Result<serde_json::Value, ErrorBody> {
        match command {
            Command::DkgKey { poll_id, key } => self.dkg_step(&poll_id, |d| d.handle_key(who, key)),
            Command::DkgDeal { poll_id, dealing } => {
                self.dkg_step(&poll_id, |d| d.handle_dealing(who, dealing))
            }
            Command::DkgComplain {
                poll_id,
                complaints,
            } => self.dkg_step(&poll_id, |d| d.handle_complaints(who, complaints)),
            Command::DkgAnswer { poll_id, answers } => {
                self.dkg_step(&poll_id, |d| d.handle_answers(who, answers))
            }
            Command::PollDkgAdvance { poll_id } => self.dkg_step(&poll_id, Dkg::advance),
            Command::CastBallot {
                poll_id,
                on_behalf_of,
                credential,
                ballot,
            } => self.cast_ballot(who, &poll_id, on_behalf_of.as_deref(), credential, ballot),
            Command::DkgDecrypt { poll_id, partial } => {
                let now = (self.now_ms)();
                self.dkg_decrypt(who, &poll_id, partial, now)
            }
            Command::PollBoard { poll_id } => {
                let poll = self.poll(&poll_id)?;
                let v = poll
                    .verifiable
                    .as_ref()
                    .ok_or_else(|| not_verifiable(&poll_id))?;
                let board = v.board.as_ref().ok_or_else(|| {
                    ErrorBody::new(
                        ErrorCode::BadRequest,
                        "the board starts when the poll opens",
                    )
                })?;
                Ok(json!({ "export": board.export() }))
            }
            other => Err(ErrorBody::new(
                ErrorCode::Internal,
                format!("{} is not a verifiable poll command", other.name()),
            )),
        }
    }

    /// Check a new verifiable poll's committee: present participants with the vote grant.
    pub(super) fn check_committee(&self, spec: &PollSpec) -> Result<(), ErrorBody> {
        let Some(v) = &spec.verifiable else {
            return Ok(());
        };
        for id in &v.committee {
            let ok = self
                .present()
                .any(|m| m.info.id == *id && m.info.grants.vote);
            if !ok {
                return Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!("committee member {id} is not present with a voting right"),
                ));
            }
        }
        Ok(())
    }

    /// A new verifiable poll's key generation starts (stored, announced); `None` for others.
    pub(super) fn start_dkg(
        &self,
        poll_id: &str,
        spec: &PollSpec,
    ) -> Result<Option<Verifiable>, ErrorBody> {
        let Some(v) = &spec.verifiable else {
            return Ok(None);
        };
        let dkg = Dkg::new(poll_id, v.threshold, v.committee.clone());
        self.store
            .save_dkg(poll_id, &serde_json::to_string(&dkg).unwrap_or_default())
            .map_err(storage_failed)?;
        Ok(Some(Verifiable { dkg, board: None }))
    }

    /// Run one step of a draft poll's key generation on a copy; store it, then keep it and
    /// tell the committee and the moderators.
    fn dkg_step(
        &mut self,
        id: &str,
        step: impl FnOnce(&mut Dkg) -> Result<(), DkgError>,
    ) -> Result<serde_json::Value, ErrorBody> {
        let idx = self.poll_index(id)?;
        let poll = &self.polls[idx];
        let v = poll.verifiable.as_ref().ok_or_else(|| not_verifiable(id))?;
        if poll.record.state != PollState::Draft {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "the key generation ended when the poll opened",
            ));
        }
        let mut dkg = v.dkg.clone();
        step(&mut dkg).map_err(dkg_error)?;
        self.store
            .save_dkg(id, &serde_json::to_string(&dkg).unwrap_or_default())
            .map_err(storage_failed)?;
        let round = dkg.round;
        if let Some(v) = self.polls[idx].verifiable.as_mut() {
            v.dkg = dkg;
        }
        info!(room = %self.record.id, poll = id, round = round.as_str(), "key generation step");
        self.send_dkg(idx, None);
        self.send_poll(idx);
        Ok(json!({ "round": round }))
    }

    /// `dkg_changed` to the committee (as defined) and the moderators, or only to `to`.
    pub(super) fn send_dkg(&self, idx: usize, to: Option<&str>) {
        let Some(poll) = self.polls.get(idx) else {
            return;
        };
        let (Some(v), Some(spec)) = (&poll.verifiable, &poll.spec.verifiable) else {
            return;
        };
        let event = Event::DkgChanged {
            poll_id: poll.record.id.clone(),
            round: v.dkg.round,
            committee: Box::new(v.dkg.transcript()),
        };
        for m in self.present() {
            let addressed = to.is_none_or(|id| m.info.id == id);
            let concerned = m.info.grants.moderate || spec.committee.contains(&m.info.id);
            if addressed && concerned {
                let _ = m.out.send(Outbound::Event(event.clone()));
            }
        }
    }

    /// To a participant who (re)enters: the record of every key generation under way that
    /// concerns them.
    pub(super) fn send_dkg_records(&self, id: &str) {
        for (idx, poll) in self.polls.iter().enumerate() {
            if poll.record.state == PollState::Draft && poll.verifiable.is_some() {
                self.send_dkg(idx, Some(id));
            }
        }
    }

    /// `board_entry` to everyone for the board's last `n` entries.
    fn announce_entries(&self, idx: usize, n: usize) {
        let Some(poll) = self.polls.get(idx) else {
            return;
        };
        let Some(board) = poll.verifiable.as_ref().and_then(|v| v.board.as_ref()) else {
            return;
        };
        let entries = board.entries();
        let first = entries.len().saturating_sub(n);
        for (i, e) in entries.iter().enumerate().skip(first) {
            self.broadcast(Event::BoardEntry {
                poll_id: poll.record.id.clone(),
                index: i as u64,
                hash: e.hash,
                entry: Box::new(e.entry.clone()),
            });
        }
    }

    /// Opening a verifiable poll: its key generation must be done; the board starts with
    /// the header (poll id, questions, the roll's hash, the committee's record, the election
    /// key). Returns the board with the header appended, for the store and then the actor;
    /// `None` for other polls.
    pub(super) fn open_board(
        &self,
        idx: usize,
        rights: &[Right],
    ) -> Result<Option<Board>, ErrorBody> {
        let poll = &self.polls[idx];
        let Some(v) = &poll.verifiable else {
            return Ok(None);
        };
        let Some(election_key) = v.dkg.election_key else {
            return Err(ErrorBody::new(
                ErrorCode::DkgIncomplete,
                format!(
                    "the tally committee's key generation is in round {}",
                    v.dkg.round.as_str()
                ),
            ));
        };
        let roll = roll_of(rights).map_err(|e| crypto_error(&e))?;
        let header = PollHeader {
            poll_id: poll.record.id.clone(),
            questions: poll.spec.board_questions(),
            roll_hash: roll.hash(),
            committee: v.dkg.transcript(),
            election_key,
        };
        let mut board = Board::new(roll).map_err(|e| crypto_error(&e))?;
        board.open(header).map_err(|e| crypto_error(&e))?;
        Ok(Some(board))
    }

    /// After the store opened the poll: keep its board and announce the header.
    pub(super) fn opened_board(&mut self, idx: usize, board: Board) {
        if let Some(v) = self.polls[idx].verifiable.as_mut() {
            v.board = Some(board);
        }
        self.announce_entries(idx, 1);
    }

    /// The board entries JSON as the store keeps them.
    pub(super) fn board_entries(board: &Board) -> Vec<String> {
        board.entries().iter().map(entry_json).collect()
    }

    /// Closing a verifiable poll: `closed` (refused ballots, participation) and `tally` go on
    /// the board with the state change; the result follows the partial decryptions.
    pub(super) fn close_verifiable(
        &mut self,
        idx: usize,
        now: u64,
    ) -> Result<serde_json::Value, ErrorBody> {
        let poll = &self.polls[idx];
        let id = poll.record.id.clone();
        let Some(mut board) = poll.verifiable.as_ref().and_then(|v| v.board.clone()) else {
            return Err(not_verifiable(&id));
        };
        let participation: Vec<String> = poll
            .rights
            .iter()
            .filter(|r| r.voted)
            .map(|r| r.holder_id.clone())
            .collect();
        board
            .close(participation)
            .and_then(|_| board.publish_tally())
            .map_err(|e| {
                warn!(poll = %id, "closing the board failed: {e}");
                crypto_error(&e)
            })?;
        let data = json!({
            "voted": poll.voted(),
            "board_head": hex::encode(board.head().0),
        });
        let audit = self.audit_event(&id, "closed", now, data);
        if !self
            .store
            .set_poll_state(
                &id,
                PollState::Open,
                PollState::Closed,
                None,
                &last_entries(&board, 2),
                &audit,
            )
            .map_err(storage_failed)?
        {
            return Err(wrong_state(PollState::Open, "open"));
        }
        self.seal(idx);
        let poll = &mut self.polls[idx];
        poll.record.state = PollState::Closed;
        if let Some(v) = poll.verifiable.as_mut() {
            v.board = Some(board);
        }
        info!(room = %self.record.id, poll = %id, "verifiable poll closed");
        self.announce_entries(idx, 2);
        self.send_poll(idx);
        Ok(json!({}))
    }

    fn cast_ballot(
        &mut self,
        who: &str,
        id: &str,
        on_behalf_of: Option<&str>,
        credential: serde_json::Value,
        ballot: serde_json::Value,
    ) -> Result<serde_json::Value, ErrorBody> {
        let idx = self.poll_index(id)?;
        let poll = &self.polls[idx];
        if poll.verifiable.is_none() {
            return Err(not_verifiable(id));
        }
        let holder = on_behalf_of.unwrap_or(who);
        let weight = self.unused_right(poll, who, holder)?.weight;
        let parsed = serde_json::from_value::<CredentialKey>(credential)
            .and_then(|c| serde_json::from_value::<Ballot>(ballot).map(|b| (c, b)));
        let Some(board) = self.polls[idx]
            .verifiable
            .as_mut()
            .and_then(|v| v.board.as_mut())
        else {
            return Err(ErrorBody::new(
                ErrorCode::Internal,
                "the open poll has no board",
            ));
        };
        let outcome = match parsed {
            Ok((credential, ballot)) => board
                .register_and_cast(credential, weight, ballot)
                .map_err(|e| crypto_error(&e)),
            Err(e) => {
                board.count_refused();
                Err(ErrorBody::new(
                    ErrorCode::Crypto("malformed"),
                    format!("malformed input: {e}"),
                ))
            }
        };
        let tracker = match outcome {
            Ok(tracker) => tracker,
            Err(refusal) => {
                info!(poll = id, code = refusal.code.as_str(), "ballot refused");
                if let Err(e) = self.store.count_rejected(id) {
                    warn!("counting a refused ballot failed: {e}");
                }
                return Err(refusal);
            }
        };
        let entries = last_entries(board, 2);
        let index = board.entries().len() as u64 - 1;
        let stored = self.store.cast_ballot(id, holder, &entries);
        if !matches!(stored, Ok(CastOutcome::Counted)) {
            // The board in memory took the ballot, the store did not: read it back.
            self.reload_board(idx);
        }
        counted_by_store(stored.map_err(storage_failed)?)?;
        self.counted(idx, who, holder);
        self.announce_entries(idx, 2);
        Ok(json!({ "tracker": tracker, "index": index }))
    }

    /// Rebuild a poll's board from the store (after the store refused a change the board in
    /// memory had taken).
    fn reload_board(&mut self, idx: usize) {
        let poll = &self.polls[idx];
        let rejected = self
            .store
            .verifiable(&poll.record.id)
            .ok()
            .flatten()
            .map_or(0, |(_, r)| r);
        match read_board(self.store.as_ref(), &poll.record.id, &poll.rights, rejected) {
            Ok(board) => {
                if let Some(v) = self.polls[idx].verifiable.as_mut() {
                    v.board = Some(board);
                }
            }
            Err(e) => warn!("reading a board back failed: {e}"),
        }
    }

    /// A qualified member's partial decryption of a closed poll's tally; with t of them the
    /// result goes on the board and is judged by the poll's rules.
    fn dkg_decrypt(
        &mut self,
        who: &str,
        id: &str,
        partial: PartialDecryption,
        now: u64,
    ) -> Result<serde_json::Value, ErrorBody> {
        let idx = self.poll_index(id)?;
        let poll = &self.polls[idx];
        let v = poll.verifiable.as_ref().ok_or_else(|| not_verifiable(id))?;
        if poll.record.state != PollState::Closed {
            return Err(wrong_state(poll.record.state, "closed"));
        }
        let member = v.dkg.index_of(who).filter(|&i| v.dkg.is_qualified(i));
        if member != Some(partial.member) {
            return Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "only a qualified committee member decrypts, under its own index",
            ));
        }
        let Some(mut board) = v.board.clone() else {
            return Err(ErrorBody::new(ErrorCode::Internal, "the poll has no board"));
        };
        if board.phase() == Phase::Published {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "the result is on the board already",
            ));
        }
        if let Err(e) = board.append(Entry::PartialDecryption(partial)) {
            info!(poll = id, code = e.code(), "partial decryption refused");
            return Err(crypto_error(&e));
        }
        let threshold = v.dkg.threshold as usize;
        let summary = board.summary();
        let mut appended = 1;
        if summary.decrypted_by.len() >= threshold {
            let counts = board
                .publish_result()
                .map_err(|e| {
                    warn!(poll = id, "combining the partial decryptions failed: {e}");
                    crypto_error(&e)
                })?
                .counts;
            appended = 2;
            let tally =
                Tally::from_board(&poll.spec, summary.ballots, summary.weight_cast, &counts)
                    .ok_or_else(|| {
                        ErrorBody::new(ErrorCode::Internal, "the counts do not fit the poll")
                    })?;
            let result = tally.evaluate(
                &poll.spec,
                poll.record.eligible_voters,
                poll.record.eligible_weight,
            );
            let result_json = serde_json::to_string(&result).unwrap_or_default();
            let nonce = random_hex(16);
            let data = json!({
                "result_commitment": result_commitment(&nonce, &result_json),
                "board_head": hex::encode(board.head().0),
            });
            let audit = self.audit_event(id, "decrypted", now, data);
            if !self
                .store
                .set_poll_state(
                    id,
                    PollState::Closed,
                    PollState::Closed,
                    Some((&result_json, &nonce)),
                    &last_entries(&board, 2),
                    &audit,
                )
                .map_err(storage_failed)?
            {
                return Err(wrong_state(PollState::Closed, "closed"));
            }
            let poll = &mut self.polls[idx];
            poll.record.result = Some(result_json);
            poll.record.result_nonce = Some(nonce);
            info!(room = %self.record.id, poll = id, "verifiable poll decrypted");
        } else {
            self.store
                .append_board(id, &last_entries(&board, 1))
                .map_err(storage_failed)?;
        }
        let index = board.entries().len() as u64 - appended;
        if let Some(v) = self.polls[idx].verifiable.as_mut() {
            v.board = Some(board);
        }
        self.announce_entries(idx, appended as usize);
        self.send_poll(idx);
        Ok(json!({ "index": index }))
    }
}

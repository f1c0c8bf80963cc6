//! Verifiable polls as pure logic (docs/protocol.md, *Verifiable polls*): the tally
//! committee's key generation in rounds ([`Dkg`]), and what a poll view shows of a
//! verifiable poll ([`VerifiableView`]). The room actor (`room/verifiable.rs`) feeds it the
//! members' messages, stores its record before answering and keeps the bulletin board.
//!
//! Every check is `plenum-ballot-crypto`'s: a key's proof ([`MemberKey::verify`]), a dealing
//! ([`Committee::verify_dealing`]), the disqualification rule and the election key
//! ([`DkgTranscript::qualify`]). This module only adds who may speak when:
//!
//! - `keys` → `dealings` → `complaints` → `answers` → `done` (or `failed`); a round ends when
//!   every member still in has spoken, or when a moderator says so ([`Dkg::advance`]);
//! - a member silent in `keys` leaves the committee; the others are numbered again from 1 in
//!   their order, and those whose index changed send a new key (the proof binds the index);
//! - a member without a dealing is out (disqualified); it neither complains nor answers;
//! - in `complaints` every dealer says which shares failed (`[]`: none); without any
//!   complaint the key generation ends there; in `answers` each accused dealer reveals the
//!   shares it was accused of;
//! - `failed` when fewer than t members are left or qualify (`committee_too_small`).
//!
//! The record holds public data only: keys, dealings (shares encrypted), complaints and the
//! answers (shares the dealers revealed on purpose).

use std::collections::{BTreeMap, BTreeSet};

use plenum_ballot_crypto as crypto;
use plenum_ballot_crypto::dkg::{
    Committee, Complaint, ComplaintAnswer, Dealing, DkgTranscript, MemberKey,
};
use plenum_ballot_crypto::encoding::PointBytes;
use serde::{Deserialize, Serialize};

/// Where the key generation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Round {
    /// Each member publishes its DKG key with a proof.
    Keys,
    /// Each member deals shares to the others.
    Dealings,
    /// Each dealer names the shares it received that do not check out.
    Complaints,
    /// Each accused dealer reveals the shares it was accused of.
    Answers,
    /// The election key is known; the poll can open.
    Done,
    /// Fewer than t members qualified: the poll can only be cancelled.
    Failed,
}

impl Round {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Round::Keys => "keys",
            Round::Dealings => "dealings",
            Round::Complaints => "complaints",
            Round::Answers => "answers",
            Round::Done => "done",
            Round::Failed => "failed",
        }
    }
}

/// Why a member's message was refused. Nothing changes on a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DkgError {
    /// The sender is not (or no longer) on the committee.
    #[error("you are not on this poll's tally committee")]
    NotMember,
    /// The message belongs to another round.
    #[error("the key generation is in round {now}, not {wanted}", now = .now.as_str(), wanted = .wanted.as_str())]
    WrongRound {
        /// The current round.
        now: Round,
        /// The round the message belongs to.
        wanted: Round,
    },
    /// The message does not fit the protocol (sent twice, another index, nothing to answer).
    #[error("{0}")]
    Refused(String),
    /// The cryptography refused it (a bad proof, a malformed dealing, a bad complaint).
    #[error(transparent)]
    Crypto(#[from] crypto::Error),
}

/// The tally committee's key generation: its public record, stored as JSON after every
/// change (a restart loses nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dkg {
    /// The committee's id, bound into every key proof: the poll id.
    pub id: String,
    /// t.
    pub threshold: u32,
    /// The members still in, as participant ids: member index = position + 1.
    pub members: Vec<String>,
    /// Where it is.
    pub round: Round,
    /// Round 1, by index.
    pub keys: BTreeMap<u32, MemberKey>,
    /// Round 2, by dealer.
    pub dealings: BTreeMap<u32, Dealing>,
    /// Round 3, by complainer (an empty list: every share checked out).
    pub complaints: BTreeMap<u32, Vec<Complaint>>,
    /// Round 4, by dealer.
    pub answers: BTreeMap<u32, Vec<ComplaintAnswer>>,
    /// Once done: the qualified members.
    #[serde(default)]
    pub qualified: Option<Vec<u32>>,
    /// Once done: the election key H.
    #[serde(default)]
    pub election_key: Option<PointBytes>,
    /// Once failed: why (an error code of `plenum-ballot-crypto`).
    #[serde(default)]
    pub failure: Option<String>,
}

impl Dkg {
    /// Round `keys` for the committee of poll `poll_id`.
    pub fn new(poll_id: &str, threshold: u32, members: Vec<String>) -> Self {
        Self {
            id: poll_id.to_owned(),
            threshold,
            members,
            round: Round::Keys,
            keys: BTreeMap::new(),
            dealings: BTreeMap::new(),
            complaints: BTreeMap::new(),
            answers: BTreeMap::new(),
            qualified: None,
            election_key: None,
            failure: None,
        }
    }

    /// A member's index (from 1), if it is still in.
    pub fn index_of(&self, participant: &str) -> Option<u32> {
        self.members
            .iter()
            .position(|m| m == participant)
            .and_then(|p| u32::try_from(p + 1).ok())
    }

    /// Whether `index` qualified (once done).
    pub fn is_qualified(&self, index: u32) -> bool {
        self.qualified.as_ref().is_some_and(|q| q.contains(&index))
    }

    fn member_in(&self, participant: &str, round: Round) -> Result<u32, DkgError> {
        let index = self.index_of(participant).ok_or(DkgError::NotMember)?;
        if self.round != round {
            return Err(DkgError::WrongRound {
                now: self.round,
                wanted: round,
            });
        }
        Ok(index)
    }

    /// Round 1: `participant`'s key. Its index must be the member's and its label the
    /// participant id; the proof is checked.
    pub fn handle_key(&mut self, participant: &str, key: MemberKey) -> Result<(), DkgError> {
        let index = self.member_in(participant, Round::Keys)?;
        if self.keys.contains_key(&index) {
            return Err(DkgError::Refused("you sent your key already".into()));
        }
        if key.index != index || key.label != participant {
            return Err(DkgError::Refused(format!(
                "your key must have index {index} and your participant id as its label"
            )));
        }
        key.verify(&self.id, self.threshold)?;
        self.keys.insert(index, key);
        self.settle();
        Ok(())
    }

    /// Round 2: `participant`'s dealing, checked against the committee.
    pub fn handle_dealing(&mut self, participant: &str, dealing: Dealing) -> Result<(), DkgError> {
        let index = self.member_in(participant, Round::Dealings)?;
        if self.dealings.contains_key(&index) {
            return Err(DkgError::Refused("you dealt already".into()));
        }
        if dealing.dealer != index {
            return Err(DkgError::Refused(format!(
                "your dealing must name you (dealer {index})"
            )));
        }
        self.committee()?.verify_dealing(&dealing)?;
        self.dealings.insert(index, dealing);
        self.settle();
        Ok(())
    }

    /// Round 3: the shares `participant` received that do not check out (may be none).
    pub fn handle_complaints(
        &mut self,
        participant: &str,
        complaints: Vec<Complaint>,
    ) -> Result<(), DkgError> {
        let index = self.member_in(participant, Round::Complaints)?;
        if !self.dealings.contains_key(&index) {
            return Err(DkgError::Refused(
                "you dealt no shares: you are out of the committee".into(),
            ));
        }
        if self.complaints.contains_key(&index) {
            return Err(DkgError::Refused("you sent your complaints already".into()));
        }
        let mut dealers = BTreeSet::new();
        for c in &complaints {
            let bad = |m: String| Err(DkgError::Crypto(crypto::Error::BadComplaint(m)));
            if c.complainer != index {
                return bad(format!("complaints must name you (complainer {index})"));
            }
            if c.dealer == index || !self.dealings.contains_key(&c.dealer) {
                return bad(format!("member {} dealt you no share", c.dealer));
            }
            if !dealers.insert(c.dealer) {
                return bad(format!("one complaint about dealer {} is enough", c.dealer));
            }
        }
        self.complaints.insert(index, complaints);
        self.settle();
        Ok(())
    }

    /// Round 4: an accused dealer reveals the shares it was accused of, every one of them.
    /// Whether a revealed share checks out decides its qualification, not its acceptance.
    pub fn handle_answers(
        &mut self,
        participant: &str,
        answers: Vec<ComplaintAnswer>,
    ) -> Result<(), DkgError> {
        let index = self.member_in(participant, Round::Answers)?;
        let accused: BTreeSet<u32> = self.complaints_against(index).collect();
        if accused.is_empty() {
            return Err(DkgError::Refused("nobody complained about you".into()));
        }
        if self.answers.contains_key(&index) {
            return Err(DkgError::Refused("you answered already".into()));
        }
        let mut answered = BTreeSet::new();
        for a in &answers {
            if a.dealer != index || !answered.insert(a.complainer) {
                return Err(DkgError::Crypto(crypto::Error::BadComplaint(format!(
                    "answers must name you (dealer {index}), each complainer once"
                ))));
            }
        }
        if answered != accused {
            return Err(DkgError::Crypto(crypto::Error::BadComplaint(
                "answer every complaint about you, and only those".into(),
            )));
        }
        self.answers.insert(index, answers);
        self.settle();
        Ok(())
    }

    /// A moderator ends the current round: whoever has not spoken is treated as silent.
    pub fn advance(&mut self) -> Result<(), DkgError> {
        match self.round {
            Round::Keys => {
                let kept: Vec<(usize, String)> = self
                    .members
                    .iter()
                    .enumerate()
                    .filter(|(pos, _)| self.keys.contains_key(&index(*pos)))
                    .map(|(pos, m)| (pos, m.clone()))
                    .collect();
                if kept.len() < self.threshold as usize {
                    self.fail(crypto::Error::CommitteeTooSmall {
                        qualified: u32::try_from(kept.len()).unwrap_or(u32::MAX),
                        threshold: self.threshold,
                    });
                    return Ok(());
                }
                // Numbered again in order; a key whose index stays is kept, the others
                // must be sent again (the proof binds the index).
                let mut keys = BTreeMap::new();
                for (new_pos, (old_pos, _)) in kept.iter().enumerate() {
                    if new_pos == *old_pos
                        && let Some(k) = self.keys.remove(&index(*old_pos))
                    {
                        keys.insert(index(new_pos), k);
                    }
                }
                self.members = kept.into_iter().map(|(_, m)| m).collect();
                self.keys = keys;
            }
            Round::Dealings => self.after_dealings(),
            Round::Complaints => self.after_complaints(),
            Round::Answers => self.finish(),
            Round::Done | Round::Failed => {
                return Err(DkgError::Refused(format!(
                    "the key generation is {} already",
                    self.round.as_str()
                )));
            }
        }
        self.settle();
        Ok(())
    }

    /// Move on while the current round is complete.
    fn settle(&mut self) {
        loop {
            let before = self.round;
            match self.round {
                Round::Keys if self.keys.len() == self.members.len() => {
                    self.round = Round::Dealings;
                    // Every key was checked on arrival; this checks them as one committee.
                    if let Err(e) = self.committee() {
                        self.fail(e);
                    }
                }
                Round::Dealings if self.dealings.len() == self.members.len() => {
                    self.after_dealings();
                }
                Round::Complaints
                    if self
                        .dealings
                        .keys()
                        .all(|d| self.complaints.contains_key(d)) =>
                {
                    self.after_complaints();
                }
                Round::Answers if self.accused().all(|d| self.answers.contains_key(&d)) => {
                    self.finish();
                }
                _ => {}
            }
            if self.round == before {
                return;
            }
        }
    }

    fn after_dealings(&mut self) {
        if self.dealings.len() < self.threshold as usize {
            self.fail(crypto::Error::CommitteeTooSmall {
                qualified: u32::try_from(self.dealings.len()).unwrap_or(u32::MAX),
                threshold: self.threshold,
            });
        } else {
            self.round = Round::Complaints;
        }
    }

    fn after_complaints(&mut self) {
        if self.accused().next().is_some() {
            self.round = Round::Answers;
        } else {
            self.finish();
        }
    }

    /// Apply the disqualification rule to the whole record.
    fn finish(&mut self) {
        match self.transcript().qualify() {
            Ok(outcome) => {
                self.round = Round::Done;
                self.qualified = Some(outcome.qualified);
                self.election_key = Some(PointBytes::of(&outcome.election_key));
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: crypto::Error) {
        self.round = Round::Failed;
        self.failure = Some(e.code().to_owned());
    }

    /// Complainers about dealer `dealer`.
    fn complaints_against(&self, dealer: u32) -> impl Iterator<Item = u32> + '_ {
        self.complaints
            .values()
            .flatten()
            .filter(move |c| c.dealer == dealer)
            .map(|c| c.complainer)
    }

    /// Dealers with complaints against them.
    fn accused(&self) -> impl Iterator<Item = u32> + '_ {
        self.complaints
            .values()
            .flatten()
            .map(|c| c.dealer)
            .collect::<BTreeSet<u32>>()
            .into_iter()
    }

    /// The committee of round 1 (every key, checked together).
    pub fn committee(&self) -> Result<Committee, crypto::Error> {
        let keys: Vec<MemberKey> = self.keys.values().cloned().collect();
        Committee::new(&self.id, self.threshold, &keys)
    }

    /// The record so far, in the board's form (sorted as the header needs it).
    pub fn transcript(&self) -> DkgTranscript {
        let mut complaints: Vec<Complaint> = self.complaints.values().flatten().copied().collect();
        complaints.sort_by_key(|c| (c.dealer, c.complainer));
        let mut answers: Vec<ComplaintAnswer> = self.answers.values().flatten().copied().collect();
        answers.sort_by_key(|a| (a.dealer, a.complainer));
        DkgTranscript {
            id: self.id.clone(),
            threshold: self.threshold,
            members: self.keys.values().cloned().collect(),
            dealings: self.dealings.values().cloned().collect(),
            complaints,
            answers,
        }
    }

    /// What a poll view shows of it.
    pub fn view(&self) -> DkgView {
        let accused: BTreeSet<u32> = self.accused().collect();
        DkgView {
            round: self.round,
            members: self
                .members
                .iter()
                .enumerate()
                .map(|(pos, participant_id)| {
                    let i = index(pos);
                    DkgMemberView {
                        index: i,
                        participant_id: participant_id.clone(),
                        key: self.keys.contains_key(&i),
                        dealt: self.dealings.contains_key(&i),
                        complaints_done: self.complaints.contains_key(&i),
                        answered: self.answers.contains_key(&i)
                            || (matches!(self.round, Round::Answers | Round::Done)
                                && !accused.contains(&i)),
                        qualified: match self.round {
                            Round::Done => Some(self.is_qualified(i)),
                            _ => None,
                        },
                    }
                })
                .collect(),
        }
    }
}

/// Member index of a position (indices run from 1; at most 9 members).
fn index(pos: usize) -> u32 {
    u32::try_from(pos + 1).unwrap_or(u32::MAX)
}

/// The key generation as a poll view shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DkgView {
    /// Where it is.
    pub round: Round,
    /// The members still in.
    pub members: Vec<DkgMemberView>,
}

/// One member's progress.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DkgMemberView {
    /// Its index (from 1).
    pub index: u32,
    /// Who.
    pub participant_id: String,
    /// Sent its key.
    pub key: bool,
    /// Dealt.
    pub dealt: bool,
    /// Sent its complaints (maybe none).
    pub complaints_done: bool,
    /// Answered the complaints about it (also true when there was nothing to answer).
    pub answered: bool,
    /// Once done: qualified to decrypt.
    pub qualified: Option<bool>,
}

/// What a poll view shows of a verifiable poll (docs/protocol.md, *Verifiable polls*).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifiableView {
    /// The committee as defined (participant ids).
    pub committee: Vec<String>,
    /// t.
    pub threshold: u32,
    /// The key generation.
    pub dkg: DkgView,
    /// The election key (hex), once the key generation is done.
    pub election_key: Option<String>,
    /// The bulletin board.
    pub board: BoardView,
    /// Partial decryptions on the board, and how many it takes.
    pub decryption: DecryptionView,
}

/// The bulletin board's size and head.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BoardView {
    /// Entries so far.
    pub entries: u64,
    /// The last entry's chain hash (hex); `None` before the first.
    pub head: Option<String>,
}

/// Decryption progress.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DecryptionView {
    /// Valid partial decryptions on the board.
    pub valid: u32,
    /// t.
    pub needed: u32,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use plenum_ballot_crypto::dkg::{
        DealerSecret, DkgKeyPair, answer_complaint, deal, open_share, trustee_share,
    };

    /// A committee member's browser: its key pair and, once dealt, its polynomial.
    struct Browser {
        id: String,
        keys: Option<DkgKeyPair>,
        dealer: Option<DealerSecret>,
    }

    fn browsers(n: usize) -> Vec<Browser> {
        (0..n)
            .map(|i| Browser {
                id: format!("p-{i}"),
                keys: None,
                dealer: None,
            })
            .collect()
    }

    fn dkg(t: u32, members: &[Browser]) -> Dkg {
        Dkg::new("poll-1", t, members.iter().map(|b| b.id.clone()).collect())
    }

    fn send_key(dkg: &mut Dkg, b: &mut Browser) -> Result<(), DkgError> {
        let index = dkg.index_of(&b.id).unwrap();
        let (k, public) =
            DkgKeyPair::generate(&dkg.id, dkg.threshold, index, &b.id, &mut rand::rng());
        b.keys = Some(k);
        dkg.handle_key(&b.id, public)
    }

    fn send_dealing(dkg: &mut Dkg, b: &mut Browser) -> Result<(), DkgError> {
        let committee = dkg.committee().unwrap();
        let (d, s) = deal(&committee, b.keys.as_ref().unwrap(), &mut rand::rng()).unwrap();
        b.dealer = Some(s);
        dkg.handle_dealing(&b.id, d)
    }

    /// Complaints about every share that does not open.
    fn send_complaints(dkg: &mut Dkg, b: &Browser) -> Result<(), DkgError> {
        let committee = dkg.committee().unwrap();
        let me = b.keys.as_ref().unwrap();
        let complaints = dkg
            .dealings
            .values()
            .filter(|d| d.dealer != me.index() && open_share(&committee, me, d).is_err())
            .map(|d| Complaint {
                complainer: me.index(),
                dealer: d.dealer,
            })
            .collect();
        dkg.handle_complaints(&b.id, complaints)
    }

    #[test]
    fn rounds_move_on_when_everyone_has_spoken_and_give_every_member_its_share() {
        let mut bs = browsers(3);
        let mut dkg = dkg(2, &bs);
        for b in bs.iter_mut() {
            assert_eq!(dkg.round, Round::Keys);
            send_key(&mut dkg, b).unwrap();
        }
        assert_eq!(dkg.round, Round::Dealings);
        for b in bs.iter_mut() {
            send_dealing(&mut dkg, b).unwrap();
        }
        assert_eq!(dkg.round, Round::Complaints);
        for b in &bs {
            send_complaints(&mut dkg, b).unwrap();
        }
        assert_eq!(dkg.round, Round::Done, "no complaint: no answers round");
        assert_eq!(dkg.qualified, Some(vec![1, 2, 3]));
        let transcript = dkg.transcript();
        let outcome = transcript.qualify().unwrap();
        assert_eq!(
            dkg.election_key,
            Some(PointBytes::of(&outcome.election_key))
        );
        for b in &bs {
            trustee_share(
                &transcript,
                b.keys.as_ref().unwrap(),
                b.dealer.as_ref().unwrap(),
            )
            .unwrap();
        }
        let view = dkg.view();
        assert!(view.members.iter().all(|m| m.key
            && m.dealt
            && m.complaints_done
            && m.answered
            && m.qualified == Some(true)));
        assert!(dkg.advance().is_err(), "nothing left to end");
    }

    #[test]
    fn messages_out_of_turn_or_from_others_change_nothing() {
        let mut bs = browsers(2);
        let mut dkg = dkg(2, &bs);
        let (_, stranger) = DkgKeyPair::generate("poll-1", 2, 1, "p-9", &mut rand::rng());
        assert_eq!(
            dkg.handle_key("p-9", stranger.clone()),
            Err(DkgError::NotMember)
        );
        // Another member's index, someone else's label, a proof for another poll.
        let (_, wrong_index) = DkgKeyPair::generate("poll-1", 2, 2, "p-0", &mut rand::rng());
        assert!(matches!(
            dkg.handle_key("p-0", wrong_index),
            Err(DkgError::Refused(_))
        ));
        let (_, other_poll) = DkgKeyPair::generate("poll-2", 2, 1, "p-0", &mut rand::rng());
        assert!(matches!(
            dkg.handle_key("p-0", other_poll),
            Err(DkgError::Crypto(crypto::Error::BadKeyProof { member: 1 }))
        ));
        let before = dkg.clone();
        assert!(matches!(
            dkg.handle_complaints("p-0", vec![]),
            Err(DkgError::WrongRound {
                now: Round::Keys,
                wanted: Round::Complaints
            })
        ));
        assert_eq!(dkg, before);
        send_key(&mut dkg, &mut bs[0]).unwrap();
        assert!(matches!(
            send_key(&mut dkg, &mut bs[0]),
            Err(DkgError::Refused(_))
        ));
        send_key(&mut dkg, &mut bs[1]).unwrap();
        // A dealing in someone else's name, a malformed one.
        let committee = dkg.committee().unwrap();
        let (mut d, _) = deal(&committee, bs[0].keys.as_ref().unwrap(), &mut rand::rng()).unwrap();
        assert!(matches!(
            dkg.handle_dealing("p-1", d.clone()),
            Err(DkgError::Refused(_))
        ));
        d.commitments.pop();
        assert!(matches!(
            dkg.handle_dealing("p-0", d),
            Err(DkgError::Crypto(crypto::Error::BadDealing {
                dealer: 1,
                ..
            }))
        ));
        assert!(dkg.dealings.is_empty());
    }

    #[test]
    fn a_member_silent_in_the_keys_round_leaves_and_the_others_are_numbered_again() {
        let mut bs = browsers(4);
        let mut dkg = dkg(2, &bs);
        // Members 1, 3 and 4 send keys; member 2 stays silent.
        send_key(&mut dkg, &mut bs[0]).unwrap();
        send_key(&mut dkg, &mut bs[2]).unwrap();
        send_key(&mut dkg, &mut bs[3]).unwrap();
        dkg.advance().unwrap();
        assert_eq!(dkg.members, vec!["p-0", "p-2", "p-3"]);
        assert_eq!(dkg.round, Round::Keys, "two keys must be sent again");
        assert_eq!(dkg.keys.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(dkg.index_of("p-2"), Some(2));
        assert_eq!(dkg.index_of("p-1"), None);
        assert_eq!(
            dkg.handle_key("p-1", unreachable_key()),
            Err(DkgError::NotMember)
        );
        send_key(&mut dkg, &mut bs[2]).unwrap();
        send_key(&mut dkg, &mut bs[3]).unwrap();
        assert_eq!(dkg.round, Round::Dealings);
        assert_eq!(dkg.committee().unwrap().size(), 3);
    }

    fn unreachable_key() -> MemberKey {
        DkgKeyPair::generate("poll-1", 2, 2, "p-1", &mut rand::rng()).1
    }

    #[test]
    fn too_few_keys_or_dealings_fail_the_key_generation() {
        let mut bs = browsers(3);
        let mut d = dkg(2, &bs);
        send_key(&mut d, &mut bs[0]).unwrap();
        d.advance().unwrap();
        assert_eq!(d.round, Round::Failed);
        assert_eq!(d.failure.as_deref(), Some("committee_too_small"));

        let mut bs = browsers(3);
        let mut d = dkg(2, &bs);
        for b in bs.iter_mut() {
            send_key(&mut d, b).unwrap();
        }
        send_dealing(&mut d, &mut bs[0]).unwrap();
        d.advance().unwrap();
        assert_eq!(d.round, Round::Failed, "one dealer of three, t = 2");
    }

    #[test]
    fn a_silent_dealer_is_out_and_an_unanswered_complaint_disqualifies() {
        let mut bs = browsers(4);
        let mut d = dkg(2, &bs);
        for b in bs.iter_mut() {
            send_key(&mut d, b).unwrap();
        }
        // Member 4 deals nothing.
        for b in bs.iter_mut().take(3) {
            send_dealing(&mut d, b).unwrap();
        }
        d.advance().unwrap();
        assert_eq!(d.round, Round::Complaints);
        assert!(matches!(
            d.handle_complaints("p-3", vec![]),
            Err(DkgError::Refused(_))
        ));
        // Member 1 complains (falsely) about dealer 2 and about a non-dealer.
        assert!(matches!(
            d.handle_complaints(
                "p-0",
                vec![Complaint {
                    complainer: 1,
                    dealer: 4
                }]
            ),
            Err(DkgError::Crypto(crypto::Error::BadComplaint(_)))
        ));
        d.handle_complaints(
            "p-0",
            vec![Complaint {
                complainer: 1,
                dealer: 2,
            }],
        )
        .unwrap();
        d.handle_complaints("p-1", vec![]).unwrap();
        d.handle_complaints(
            "p-2",
            vec![Complaint {
                complainer: 3,
                dealer: 1,
            }],
        )
        .unwrap();
        assert_eq!(d.round, Round::Answers);
        // Dealer 3 has nothing to answer; dealer 1 answers, dealer 2 stays silent.
        assert!(matches!(
            d.handle_answers("p-2", vec![]),
            Err(DkgError::Refused(_))
        ));
        let complaint = Complaint {
            complainer: 3,
            dealer: 1,
        };
        let answer = answer_complaint(bs[0].dealer.as_ref().unwrap(), &complaint).unwrap();
        d.handle_answers("p-0", vec![answer]).unwrap();
        assert_eq!(d.round, Round::Answers);
        d.advance().unwrap();
        assert_eq!(d.round, Round::Done);
        assert_eq!(
            d.qualified,
            Some(vec![1, 3]),
            "2 did not answer, 4 did not deal"
        );
        let view = d.view();
        assert_eq!(
            view.members.iter().map(|m| m.qualified).collect::<Vec<_>>(),
            vec![Some(true), Some(false), Some(true), Some(false)]
        );
        // Member 3 takes the revealed share, the others decrypt theirs.
        let transcript = d.transcript();
        for i in [0, 2] {
            trustee_share(
                &transcript,
                bs[i].keys.as_ref().unwrap(),
                bs[i].dealer.as_ref().unwrap(),
            )
            .unwrap();
        }
    }

    #[test]
    fn the_record_survives_a_round_trip_through_json() {
        let mut bs = browsers(3);
        let mut d = dkg(2, &bs);
        send_key(&mut d, &mut bs[0]).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        let back: Dkg = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.transcript().members.len(), 1);
    }
}

//! A whole election in memory, for tests, the shared test vectors and the benches (and for the
//! server's own tests once it is integrated): a committee runs the DKG, voters register and
//! cast, members decrypt. Deterministic for a seeded RNG.

use rand_core::CryptoRng;

use crate::Error;
use crate::ballot::{Ballot, Credential, encrypt_ballot};
use crate::board::Board;
use crate::dkg::{
    Complaint, DealerSecret, DkgKeyPair, DkgTranscript, TrusteeShare, answer_complaint, deal,
    open_share, trustee_share,
};
use crate::encoding::{Hash32, PointBytes};
use crate::poll::{PollHeader, Question, Roll};

/// A committee after its DKG.
#[derive(Debug, Clone)]
pub struct SimCommittee {
    /// The public record.
    pub transcript: DkgTranscript,
    /// Every member's DKG key, by index − 1.
    pub keys: Vec<DkgKeyPair>,
    /// Every member's polynomial, by index − 1.
    pub dealers: Vec<DealerSecret>,
}

/// Run the four DKG rounds for `n` members with threshold `t`. Members listed in `silent` publish
/// no dealing; complaints are filed for every share that does not open and answered honestly.
pub fn run_dkg<R: CryptoRng + ?Sized>(
    id: &str,
    t: u32,
    n: u32,
    silent: &[u32],
    rng: &mut R,
) -> Result<SimCommittee, Error> {
    let mut keys = Vec::new();
    let mut members = Vec::new();
    for i in 1..=n {
        let (k, m) = DkgKeyPair::generate(id, t, i, &format!("member {i}"), rng);
        keys.push(k);
        members.push(m);
    }
    let mut transcript = DkgTranscript {
        id: id.into(),
        threshold: t,
        members,
        dealings: Vec::new(),
        complaints: Vec::new(),
        answers: Vec::new(),
    };
    let committee = transcript.committee()?;
    let mut dealers = Vec::new();
    for k in &keys {
        let (d, s) = deal(&committee, k, rng)?;
        if !silent.contains(&k.index()) {
            transcript.dealings.push(d);
        }
        dealers.push(s);
    }
    for d in &transcript.dealings {
        for k in &keys {
            if k.index() != d.dealer && open_share(&committee, k, d).is_err() {
                transcript.complaints.push(Complaint {
                    complainer: k.index(),
                    dealer: d.dealer,
                });
            }
        }
    }
    for c in &transcript.complaints {
        if let Some(s) = (c.dealer as usize)
            .checked_sub(1)
            .and_then(|i| dealers.get(i))
        {
            transcript.answers.push(answer_complaint(s, c)?);
        }
    }
    Ok(SimCommittee {
        transcript,
        keys,
        dealers,
    })
}

impl SimCommittee {
    /// Member i's decryption share (i from 1).
    pub fn trustee(&self, i: u32) -> Result<TrusteeShare, Error> {
        let idx = (i as usize).checked_sub(1).unwrap_or(usize::MAX);
        match (self.keys.get(idx), self.dealers.get(idx)) {
            (Some(k), Some(d)) => trustee_share(&self.transcript, k, d),
            _ => Err(Error::InvalidCommittee(format!("no member {i}"))),
        }
    }
}

/// The header for a poll with this committee.
pub fn header(
    poll_id: &str,
    questions: Vec<Question>,
    roll: &Roll,
    committee: &DkgTranscript,
) -> Result<PollHeader, Error> {
    let outcome = committee.qualify()?;
    Ok(PollHeader {
        poll_id: poll_id.into(),
        questions,
        roll_hash: roll.hash(),
        committee: committee.clone(),
        election_key: PointBytes::of(&outcome.election_key),
    })
}

/// Register a fresh credential for a right of `weight`, encrypt `choices` and cast; returns the
/// ballot and its tracker.
pub fn vote<R: CryptoRng + ?Sized>(
    board: &mut Board,
    weight: u64,
    choices: &[Vec<bool>],
    rng: &mut R,
) -> Result<(Ballot, Hash32), Error> {
    let credential = Credential::generate(rng);
    let Some(poll) = board.poll().cloned() else {
        return Err(Error::OutOfOrder("no header yet".into()));
    };
    board.register(credential.public(), weight)?;
    let (ballot, _) = encrypt_ballot(&poll, &credential, choices, rng)?;
    let tracker = board.cast(ballot.clone())?;
    Ok((ballot, tracker))
}

/// Every qualified member in `members` decrypts; then the result is published.
pub fn decrypt_and_publish<R: CryptoRng + ?Sized>(
    board: &mut Board,
    committee: &SimCommittee,
    members: &[u32],
    rng: &mut R,
) -> Result<crate::tally::TallyResult, Error> {
    let Some(poll) = board.poll().cloned() else {
        return Err(Error::OutOfOrder("no header yet".into()));
    };
    let Some(sums) = board.tally_ciphertexts().map(<[_]>::to_vec) else {
        return Err(Error::OutOfOrder("no tally yet".into()));
    };
    for &m in members {
        let share = committee.trustee(m)?;
        let pd = crate::tally::partial_decrypt(&poll, &sums, &share, rng)?;
        board.append(crate::board::Entry::PartialDecryption(pd))?;
    }
    board.publish_result()
}

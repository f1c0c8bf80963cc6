//! Polls as pure logic: what a poll asks (motion or election), which choices are valid,
//! and how the cast ballots are counted and judged against quorum and majority rules.
//! Storage, eligibility and the lifecycle live in the room (`room/ballots.rs`) and the store;
//! the scheme and its guarantees are in docs/ballot.md. A verifiable poll (`verifiable` in
//! the spec) maps its kind to the board's questions ([`PollSpec::board_questions`]) and its
//! decrypted counts back to [`Tally`] ([`Tally::from_board`]), so the same rules judge it.

use plenum_ballot_crypto::poll::{PollOption, Question};
use serde::{Deserialize, Serialize};

/// Longest poll title.
pub const MAX_TITLE: usize = 200;
/// Most candidates in an election.
pub const MAX_CANDIDATES: usize = 100;
/// Fewest members of a verifiable poll's tally committee.
pub const MIN_COMMITTEE: usize = 2;
/// Most members of a verifiable poll's tally committee.
pub const MAX_COMMITTEE: usize = 9;

/// Where a poll is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollState {
    /// Defined, not yet open.
    Draft,
    /// Taking votes.
    Open,
    /// Counted; the result is known to moderators.
    Closed,
    /// The result is public.
    Published,
    /// Called off; no result.
    Cancelled,
}

impl PollState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PollState::Draft => "draft",
            PollState::Open => "open",
            PollState::Closed => "closed",
            PollState::Published => "published",
            PollState::Cancelled => "cancelled",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            PollState::Draft,
            PollState::Open,
            PollState::Closed,
            PollState::Published,
            PollState::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A poll as a moderator defines it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PollSpec {
    /// What is decided.
    pub title: String,
    /// Motion or election.
    #[serde(flatten)]
    pub kind: PollKind,
    /// Secret (default) or named (roll call).
    #[serde(default = "yes")]
    pub secret: bool,
    /// Minimum participation for a valid result.
    #[serde(default)]
    pub quorum: Option<Quorum>,
    /// When a motion passes or a candidate is elected.
    #[serde(default)]
    pub majority: Majority,
    /// End-to-end verifiable (encrypted ballots, a tally committee): absent for polls the
    /// server counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifiable: Option<Verifiable>,
}

fn yes() -> bool {
    true
}

/// The tally committee of a verifiable poll (docs/protocol.md, *Verifiable polls*).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Verifiable {
    /// Participant ids, in member order (member index = position + 1).
    pub committee: Vec<String>,
    /// How many members it takes to decrypt.
    pub threshold: u32,
}

/// Motion or election.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PollKind {
    /// Yes / no / abstain on one question.
    Motion,
    /// Candidates.
    Election {
        /// Their names, in ballot order.
        candidates: Vec<String>,
        /// How to vote on them.
        method: Method,
    },
}

/// How an election is voted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Method {
    /// Yes / no / abstain per candidate.
    YesNo,
    /// Choose up to `k` candidates, or (if allowed) say no or abstain overall.
    Choose {
        /// Most candidates per ballot.
        k: u32,
        /// A global "no to all" is offered.
        #[serde(default)]
        global_no: bool,
        /// A global abstention is offered.
        #[serde(default)]
        global_abstain: bool,
    },
}

/// Minimum participation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Quorum {
    /// Counted in voters or in vote weight.
    pub of: QuorumBase,
    /// Share of the eligible that must take part, in percent (1–100).
    pub percent: u32,
}

/// What the quorum counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QuorumBase {
    /// Eligible voting rights (each delegation counts once).
    Voters,
    /// Eligible vote weight.
    Weight,
}

/// The majority rule of a poll.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Majority {
    /// Which majority.
    #[serde(default)]
    pub rule: Rule,
    /// Whether abstentions count as cast votes (then they work like no votes).
    #[serde(default)]
    pub abstentions: Abstentions,
}

/// Which majority.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// More yes than no.
    #[default]
    Simple,
    /// More yes than half of the eligible weight.
    Absolute,
    /// At least two thirds of the valid votes are yes.
    TwoThirds,
}

/// How abstentions count.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Abstentions {
    /// Not counted as valid votes.
    #[default]
    Ignored,
    /// Counted as valid votes (so they act against the motion).
    Counted,
}

/// One answer to one question.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Abstain.
    Abstain,
}

/// A global answer in a choose-k election.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Global {
    /// No to all candidates.
    No,
    /// Abstain.
    Abstain,
}

/// What one ballot says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// A motion: `{"vote": "yes"}`.
    Vote(Answer),
    /// Yes/no per candidate, in candidate order: `{"answers": ["yes", "no"]}`.
    Answers(Vec<Answer>),
    /// Choose-k: candidate indices, `{"select": [0, 2]}`.
    Select(Vec<u32>),
    /// Choose-k: `{"global": "no"}`.
    Global(Global),
}

/// Why a poll or a choice is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BallotError {
    /// The poll definition is unusable.
    #[error("invalid poll: {0}")]
    InvalidPoll(String),
    /// The choice does not fit the poll.
    #[error("invalid choice: {0}")]
    InvalidChoice(String),
}

impl PollSpec {
    /// Check the definition.
    pub fn validate(&self) -> Result<(), BallotError> {
        let bad = |m: &str| Err(BallotError::InvalidPoll(m.to_owned()));
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return bad("the title must have 1–200 characters");
        }
        if let Some(q) = self.quorum
            && !(1..=100).contains(&q.percent)
        {
            return bad("the quorum must be 1–100 percent");
        }
        if let PollKind::Election { candidates, method } = &self.kind {
            if candidates.is_empty() || candidates.len() > MAX_CANDIDATES {
                return bad("an election needs 1–100 candidates");
            }
            if candidates
                .iter()
                .any(|c| c.trim().is_empty() || c.chars().count() > MAX_TITLE)
            {
                return bad("candidate names must have 1–200 characters");
            }
            let mut names: Vec<&str> = candidates.iter().map(|c| c.trim()).collect();
            names.sort_unstable();
            names.dedup();
            if names.len() != candidates.len() {
                return bad("candidate names must differ");
            }
            if let Method::Choose { k, .. } = method
                && !(1..=candidates.len()).contains(&(*k as usize))
            {
                return bad("k must be between 1 and the number of candidates");
            }
        }
        if let Some(v) = &self.verifiable {
            if !self.secret {
                return bad("only a secret poll can be verifiable");
            }
            let n = v.committee.len();
            if !(MIN_COMMITTEE..=MAX_COMMITTEE).contains(&n) {
                return bad("the tally committee needs 2–9 members");
            }
            let mut ids: Vec<&str> = v.committee.iter().map(String::as_str).collect();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() != n {
                return bad("the tally committee's members must differ");
            }
            if v.threshold == 0 || v.threshold as usize > n {
                return bad("the threshold must be between 1 and the committee's size");
            }
        }
        Ok(())
    }

    /// The questions of a verifiable poll's board (docs/ballot.md, *Mapping Plenum's poll
    /// kinds*): a motion is one question (yes, no, abstain; exactly one); a yes/no election
    /// one such question per candidate; choose-up-to-k one question with the candidates
    /// (coefficient 1), then the global "no" and "abstain" where offered (coefficient k, so
    /// either excludes everything else), 1 to k of them.
    pub fn board_questions(&self) -> Vec<Question> {
        let option = |label: &str, coefficient: u32| PollOption {
            label: label.to_owned(),
            coefficient,
        };
        let yes_no_abstain = |text: &str| Question {
            text: text.to_owned(),
            options: vec![option("yes", 1), option("no", 1), option("abstain", 1)],
            min: 1,
            max: 1,
        };
        match &self.kind {
            PollKind::Motion => vec![yes_no_abstain(&self.title)],
            PollKind::Election {
                candidates,
                method: Method::YesNo,
            } => candidates.iter().map(|c| yes_no_abstain(c)).collect(),
            PollKind::Election {
                candidates,
                method:
                    Method::Choose {
                        k,
                        global_no,
                        global_abstain,
                    },
            } => {
                let mut options: Vec<PollOption> =
                    candidates.iter().map(|c| option(c, 1)).collect();
                if *global_no {
                    options.push(option("no", *k));
                }
                if *global_abstain {
                    options.push(option("abstain", *k));
                }
                vec![Question {
                    text: self.title.clone(),
                    options,
                    min: 1,
                    max: *k,
                }]
            }
        }
    }

    /// How many questions the poll has (one per candidate in elections).
    pub fn questions(&self) -> usize {
        match &self.kind {
            PollKind::Motion => 1,
            PollKind::Election { candidates, .. } => candidates.len(),
        }
    }

    /// Check a ballot's choice against the poll.
    pub fn validate_choice(&self, choice: &Choice) -> Result<(), BallotError> {
        let bad = |m: String| Err(BallotError::InvalidChoice(m));
        match (&self.kind, choice) {
            (PollKind::Motion, Choice::Vote(_)) => Ok(()),
            (
                PollKind::Election {
                    candidates,
                    method: Method::YesNo,
                },
                Choice::Answers(a),
            ) => {
                if a.len() == candidates.len() {
                    Ok(())
                } else {
                    bad(format!(
                        "answer each of the {} candidates (got {})",
                        candidates.len(),
                        a.len()
                    ))
                }
            }
            (
                PollKind::Election {
                    candidates,
                    method: Method::Choose { k, .. },
                },
                Choice::Select(sel),
            ) => {
                if sel.is_empty() {
                    return bad("choose at least one candidate (or answer globally)".into());
                }
                if sel.len() > *k as usize {
                    return bad(format!("choose at most {k} candidates"));
                }
                if sel.iter().any(|&i| i as usize >= candidates.len()) {
                    return bad("no such candidate".into());
                }
                let mut s = sel.clone();
                s.sort_unstable();
                s.dedup();
                if s.len() != sel.len() {
                    return bad("each candidate at most once".into());
                }
                Ok(())
            }
            (
                PollKind::Election {
                    method:
                        Method::Choose {
                            global_no,
                            global_abstain,
                            ..
                        },
                    ..
                },
                Choice::Global(g),
            ) => match g {
                Global::No if *global_no => Ok(()),
                Global::Abstain if *global_abstain => Ok(()),
                _ => bad("this election offers no such global answer".into()),
            },
            _ => bad("this kind of answer does not fit the poll".into()),
        }
    }
}

/// Summed weights for one question.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Yes (or: selected).
    pub yes: u64,
    /// No (or: not selected).
    pub no: u64,
    /// Abstain.
    pub abstain: u64,
}

/// Who could and did take part.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Participation {
    /// Eligible voting rights.
    pub eligible_voters: u64,
    /// Their weight.
    pub eligible_weight: u64,
    /// Ballots cast.
    pub ballots: u64,
    /// Their weight.
    pub weight: u64,
}

/// The outcome for one question.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QuestionResult {
    /// "Motion" or the candidate's name.
    pub label: String,
    /// The counts.
    pub counts: Counts,
    /// Meets the majority rule.
    pub passed: bool,
}

/// The evaluated result of a poll.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PollResult {
    /// Participation.
    pub participation: Participation,
    /// The quorum was reached (always true without a quorum).
    pub quorum_reached: bool,
    /// Per question.
    pub questions: Vec<QuestionResult>,
    /// Motion: accepted (quorum reached and majority met).
    pub accepted: Option<bool>,
    /// Election: indices of elected candidates (quorum reached, majority met, within k).
    pub elected: Vec<usize>,
    /// Choose-k: candidates tied for the last seat (none of them is elected; a runoff decides).
    pub tied: Vec<usize>,
    /// The rules, in words (English; clients translate from the spec).
    pub rule: String,
}

/// The running totals of a poll: what the store keeps instead of ballots. A secret poll
/// never stores a ballot, only these counters, each vote adding its weight in the same
/// transaction that uses the voting right (docs/ballot.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Ballots cast.
    pub ballots: u64,
    /// Their weight.
    pub weight: u64,
    /// Summed weights per question.
    pub counts: Vec<Counts>,
}

impl Tally {
    /// All zeros for `spec`.
    pub fn new(spec: &PollSpec) -> Self {
        Self {
            ballots: 0,
            weight: 0,
            counts: vec![Counts::default(); spec.questions()],
        }
    }

    /// How many counters a poll has: ballots, weight, then yes/no/abstain per question.
    pub fn slots(spec: &PollSpec) -> usize {
        2 + 3 * spec.questions()
    }

    /// What one validated ballot of weight `weight` adds.
    pub fn of_ballot(spec: &PollSpec, weight: u64, choice: &Choice) -> Self {
        let mut t = Self::new(spec);
        t.add(weight, choice);
        t
    }

    /// Count one ballot; `choice` must have been validated against the poll.
    pub fn add(&mut self, weight: u64, choice: &Choice) {
        let add = |c: &mut Counts, a: Answer| match a {
            Answer::Yes => c.yes += weight,
            Answer::No => c.no += weight,
            Answer::Abstain => c.abstain += weight,
        };
        self.ballots += 1;
        self.weight += weight;
        match choice {
            Choice::Vote(a) => {
                if let Some(c) = self.counts.first_mut() {
                    add(c, *a);
                }
            }
            Choice::Answers(answers) => {
                for (c, a) in self.counts.iter_mut().zip(answers) {
                    add(c, *a);
                }
            }
            Choice::Select(sel) => {
                for (i, c) in self.counts.iter_mut().enumerate() {
                    let chosen = sel.iter().any(|&s| s as usize == i);
                    add(c, if chosen { Answer::Yes } else { Answer::No });
                }
            }
            Choice::Global(g) => {
                let a = match g {
                    Global::No => Answer::No,
                    Global::Abstain => Answer::Abstain,
                };
                for c in self.counts.iter_mut() {
                    add(c, a);
                }
            }
        }
    }

    /// The counters in storage order: ballots, weight, then yes, no, abstain per question.
    pub fn to_slots(&self) -> Vec<u64> {
        let mut v = Vec::with_capacity(2 + 3 * self.counts.len());
        v.extend([self.ballots, self.weight]);
        for c in &self.counts {
            v.extend([c.yes, c.no, c.abstain]);
        }
        v
    }

    /// The totals from stored counters; `None` unless there are exactly
    /// [`Tally::slots`] of them.
    pub fn from_slots(spec: &PollSpec, slots: &[u64]) -> Option<Self> {
        if slots.len() != Self::slots(spec) {
            return None;
        }
        let counts = slots[2..]
            .chunks_exact(3)
            .map(|c| Counts {
                yes: c[0],
                no: c[1],
                abstain: c[2],
            })
            .collect();
        Some(Self {
            ballots: slots[0],
            weight: slots[1],
            counts,
        })
    }

    /// The totals of a verifiable poll from its decrypted board: `ballots` accepted, of total
    /// weight `weight`, and per board question, per option, the weighted count (see
    /// [`PollSpec::board_questions`]). In choose-k, a candidate's "no" is every weight that
    /// did not choose it and did not abstain globally, as [`Tally::add`] counts it. `None`
    /// if the counts do not have the poll's shape or do not add up.
    pub fn from_board(
        spec: &PollSpec,
        ballots: u64,
        weight: u64,
        counts: &[Vec<u64>],
    ) -> Option<Self> {
        let shape: Vec<usize> = spec
            .board_questions()
            .iter()
            .map(|q| q.options.len())
            .collect();
        if counts.iter().map(Vec::len).collect::<Vec<_>>() != shape {
            return None;
        }
        let counts = match &spec.kind {
            PollKind::Motion
            | PollKind::Election {
                method: Method::YesNo,
                ..
            } => counts
                .iter()
                .map(|c| {
                    let counts = Counts {
                        yes: c[0],
                        no: c[1],
                        abstain: c[2],
                    };
                    // Exactly one answer per question and ballot.
                    (counts
                        .yes
                        .checked_add(counts.no)?
                        .checked_add(counts.abstain)?
                        == weight)
                        .then_some(counts)
                })
                .collect::<Option<Vec<Counts>>>()?,
            PollKind::Election {
                candidates,
                method:
                    Method::Choose {
                        global_no,
                        global_abstain,
                        ..
                    },
            } => {
                let c = counts.first()?;
                let n = candidates.len();
                let global_abstain_weight = if *global_abstain {
                    c[n + usize::from(*global_no)]
                } else {
                    0
                };
                c[..n]
                    .iter()
                    .map(|&yes| {
                        Some(Counts {
                            yes,
                            no: weight
                                .checked_sub(yes)?
                                .checked_sub(global_abstain_weight)?,
                            abstain: global_abstain_weight,
                        })
                    })
                    .collect::<Option<Vec<Counts>>>()?
            }
        };
        Some(Self {
            ballots,
            weight,
            counts,
        })
    }

    /// Judge the totals against the poll's rules.
    pub fn evaluate(
        &self,
        spec: &PollSpec,
        eligible_voters: u64,
        eligible_weight: u64,
    ) -> PollResult {
        evaluate(
            spec,
            eligible_voters,
            eligible_weight,
            self.ballots,
            self.weight,
            &self.counts,
        )
    }
}

/// Judge counted ballots against the poll's rules.
pub fn evaluate(
    spec: &PollSpec,
    eligible_voters: u64,
    eligible_weight: u64,
    ballots: u64,
    weight: u64,
    counts: &[Counts],
) -> PollResult {
    let participation = Participation {
        eligible_voters,
        eligible_weight,
        ballots,
        weight,
    };
    let quorum_reached = spec.quorum.is_none_or(|q| {
        let (took_part, eligible) = match q.of {
            QuorumBase::Voters => (ballots, eligible_voters),
            QuorumBase::Weight => (weight, eligible_weight),
        };
        took_part * 100 >= u64::from(q.percent) * eligible
    });
    let m = spec.majority;
    let passes = |c: &Counts| {
        let against = c.no
            + match m.abstentions {
                Abstentions::Ignored => 0,
                Abstentions::Counted => c.abstain,
            };
        match m.rule {
            Rule::Simple => c.yes > against,
            Rule::Absolute => 2 * c.yes > eligible_weight,
            Rule::TwoThirds => c.yes > 0 && 3 * c.yes >= 2 * (c.yes + against),
        }
    };
    let labels: Vec<String> = match &spec.kind {
        PollKind::Motion => vec!["Motion".to_owned()],
        PollKind::Election { candidates, .. } => candidates.clone(),
    };
    let questions: Vec<QuestionResult> = labels
        .into_iter()
        .zip(counts)
        .map(|(label, c)| QuestionResult {
            label,
            counts: *c,
            passed: passes(c),
        })
        .collect();
    let (mut accepted, mut elected, mut tied) = (None, Vec::new(), Vec::new());
    match &spec.kind {
        PollKind::Motion => {
            accepted = Some(quorum_reached && questions.first().is_some_and(|q| q.passed));
        }
        PollKind::Election { method, .. } => {
            let mut passing: Vec<usize> = (0..questions.len())
                .filter(|&i| quorum_reached && questions[i].passed)
                .collect();
            match method {
                Method::YesNo => elected = passing,
                Method::Choose { k, .. } => {
                    let k = *k as usize;
                    passing.sort_by(|&a, &b| {
                        questions[b]
                            .counts
                            .yes
                            .cmp(&questions[a].counts.yes)
                            .then(a.cmp(&b))
                    });
                    if passing.len() > k {
                        let last = questions[passing[k - 1]].counts.yes;
                        if questions[passing[k]].counts.yes == last {
                            tied = passing
                                .iter()
                                .copied()
                                .filter(|&i| questions[i].counts.yes == last)
                                .collect();
                        }
                        passing.truncate(k);
                        passing.retain(|i| !tied.contains(i));
                    }
                    elected = passing;
                    elected.sort_unstable();
                }
            }
        }
    }
    PollResult {
        participation,
        quorum_reached,
        questions,
        accepted,
        elected,
        tied,
        rule: describe(spec),
    }
}

/// A poll as one participant sees it (docs/protocol.md, *Polls*).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PollView {
    /// Poll id.
    pub id: String,
    /// The definition.
    #[serde(flatten)]
    pub spec: PollSpec,
    /// Lifecycle state.
    pub state: PollState,
    /// Voting rights (set when it opened).
    pub eligible_voters: u64,
    /// Their weight.
    pub eligible_weight: u64,
    /// Rights used so far.
    pub voted: u64,
    /// The result: for moderators once closed, for everyone once published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<PollResult>,
    /// Named polls, with the result: who chose what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub votes: Option<Vec<NamedVote>>,
    /// The rights this participant may cast in it (own, and delegated to them).
    pub my_rights: Vec<MyRight>,
    /// A verifiable poll's committee, key generation, board and decryption (the spec's
    /// `verifiable` is shown here, with them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifiable: Option<crate::verifiable::VerifiableView>,
}

/// One vote of a named poll.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NamedVote {
    /// Whose right.
    pub participant_id: String,
    /// The choice.
    pub choice: Choice,
}

/// A right someone may cast.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MyRight {
    /// Whose right (the participant's own id, or a delegator's).
    pub holder_id: String,
    /// Its weight.
    pub weight: u64,
    /// Already used.
    pub voted: bool,
}

fn describe(spec: &PollSpec) -> String {
    let rule = match spec.majority.rule {
        Rule::Simple => "simple majority (more yes than no)",
        Rule::Absolute => "absolute majority (yes from more than half of the eligible weight)",
        Rule::TwoThirds => "two-thirds majority of the valid votes",
    };
    let abst = match spec.majority.abstentions {
        Abstentions::Ignored => "abstentions are not counted",
        Abstentions::Counted => "abstentions count as valid votes",
    };
    let quorum = match spec.quorum {
        None => "no quorum".to_owned(),
        Some(q) => format!(
            "quorum {}% of the eligible {}",
            q.percent,
            match q.of {
                QuorumBase::Voters => "voters",
                QuorumBase::Weight => "vote weight",
            }
        ),
    };
    format!("{rule}; {abst}; {quorum}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn motion(rule: Rule, abstentions: Abstentions, quorum: Option<Quorum>) -> PollSpec {
        PollSpec {
            title: "A1".into(),
            kind: PollKind::Motion,
            secret: true,
            quorum,
            majority: Majority { rule, abstentions },
            verifiable: None,
        }
    }

    fn election(method: Method) -> PollSpec {
        PollSpec {
            title: "Vorstand".into(),
            kind: PollKind::Election {
                candidates: vec!["Anna".into(), "Ben".into(), "Cem".into()],
                method,
            },
            secret: true,
            quorum: None,
            majority: Majority::default(),
            verifiable: None,
        }
    }

    fn run(spec: &PollSpec, eligible: (u64, u64), ballots: &[(u64, Choice)]) -> PollResult {
        for (_, c) in ballots {
            spec.validate_choice(c).unwrap();
        }
        let mut tally = Tally::new(spec);
        for (w, c) in ballots {
            tally.add(*w, c);
        }
        let slots = tally.to_slots();
        assert_eq!(slots.len(), Tally::slots(spec));
        assert_eq!(Tally::from_slots(spec, &slots).as_ref(), Some(&tally));
        tally.evaluate(spec, eligible.0, eligible.1)
    }

    use Answer::*;

    fn votes(v: &[(u64, Answer)]) -> Vec<(u64, Choice)> {
        v.iter().map(|(w, a)| (*w, Choice::Vote(*a))).collect()
    }

    #[test]
    fn simple_majority_ignores_abstentions_unless_counted() {
        let b = votes(&[(1, Yes), (1, Yes), (1, No), (1, Abstain), (1, Abstain)]);
        let r = run(
            &motion(Rule::Simple, Abstentions::Ignored, None),
            (5, 5),
            &b,
        );
        assert_eq!(
            r.questions[0].counts,
            Counts {
                yes: 2,
                no: 1,
                abstain: 2
            }
        );
        assert_eq!(r.accepted, Some(true));
        let r = run(
            &motion(Rule::Simple, Abstentions::Counted, None),
            (5, 5),
            &b,
        );
        assert_eq!(
            r.accepted,
            Some(false),
            "2 yes against 1 no + 2 abstentions"
        );
    }

    #[test]
    fn a_tie_is_not_a_majority() {
        let b = votes(&[(1, Yes), (1, No)]);
        assert_eq!(
            run(
                &motion(Rule::Simple, Abstentions::Ignored, None),
                (2, 2),
                &b
            )
            .accepted,
            Some(false)
        );
    }

    #[test]
    fn absolute_majority_counts_against_all_eligible_weight() {
        let b = votes(&[(1, Yes), (1, Yes), (1, Yes), (1, No)]);
        let spec = motion(Rule::Absolute, Abstentions::Ignored, None);
        assert_eq!(
            run(&spec, (7, 7), &b).accepted,
            Some(false),
            "3 of 7 is not more than half"
        );
        assert_eq!(run(&spec, (5, 5), &b).accepted, Some(true), "3 of 5 is");
    }

    #[test]
    fn two_thirds_of_valid_votes() {
        let spec = motion(Rule::TwoThirds, Abstentions::Ignored, None);
        assert_eq!(
            run(&spec, (9, 9), &votes(&[(2, Yes), (1, No), (5, Abstain)])).accepted,
            Some(true),
            "exactly two thirds suffices"
        );
        assert_eq!(
            run(&spec, (9, 9), &votes(&[(3, Yes), (2, No)])).accepted,
            Some(false)
        );
        let counted = motion(Rule::TwoThirds, Abstentions::Counted, None);
        assert_eq!(
            run(&counted, (9, 9), &votes(&[(2, Yes), (1, No), (1, Abstain)])).accepted,
            Some(false)
        );
        assert_eq!(
            run(&spec, (9, 9), &votes(&[(1, Abstain)])).accepted,
            Some(false)
        );
    }

    #[test]
    fn weights_are_summed() {
        let b = votes(&[(3, No), (1, Yes), (1, Yes)]);
        let r = run(
            &motion(Rule::Simple, Abstentions::Ignored, None),
            (3, 5),
            &b,
        );
        assert_eq!(r.participation.weight, 5);
        assert_eq!(r.participation.ballots, 3);
        assert_eq!(r.accepted, Some(false));
    }

    #[test]
    fn quorum_by_voters_or_by_weight() {
        let q = |of, percent| Some(Quorum { of, percent });
        let b = votes(&[(5, Yes)]);
        let by_voters = motion(
            Rule::Simple,
            Abstentions::Ignored,
            q(QuorumBase::Voters, 50),
        );
        let r = run(&by_voters, (4, 8), &b);
        assert!(!r.quorum_reached, "1 of 4 voters");
        assert_eq!(r.accepted, Some(false), "no valid result without quorum");
        let by_weight = motion(
            Rule::Simple,
            Abstentions::Ignored,
            q(QuorumBase::Weight, 50),
        );
        assert!(run(&by_weight, (4, 8), &b).quorum_reached, "5 of 8 weight");
        // Abstentions take part.
        let r = run(&by_voters, (2, 2), &votes(&[(1, Abstain)]));
        assert!(r.quorum_reached);
    }

    #[test]
    fn yes_no_election_elects_every_candidate_with_a_majority() {
        let spec = election(Method::YesNo);
        let b = vec![
            (1, Choice::Answers(vec![Yes, No, Abstain])),
            (1, Choice::Answers(vec![Yes, Yes, No])),
            (1, Choice::Answers(vec![No, Yes, No])),
        ];
        let r = run(&spec, (3, 3), &b);
        assert_eq!(r.elected, vec![0, 1]);
        assert_eq!(
            r.questions[2].counts,
            Counts {
                yes: 0,
                no: 2,
                abstain: 1
            }
        );
    }

    #[test]
    fn choose_k_elects_the_top_k_with_a_majority_and_reports_ties() {
        let spec = election(Method::Choose {
            k: 1,
            global_no: true,
            global_abstain: true,
        });
        let b = vec![
            (1, Choice::Select(vec![0])),
            (1, Choice::Select(vec![0])),
            (1, Choice::Select(vec![1])),
            (1, Choice::Global(Global::Abstain)),
        ];
        let r = run(&spec, (4, 4), &b);
        // Anna: 2 yes against 1 no (Ben's voter); the abstention is ignored.
        assert_eq!(
            r.questions[0].counts,
            Counts {
                yes: 2,
                no: 1,
                abstain: 1
            }
        );
        assert_eq!(r.elected, vec![0]);

        let spec2 = election(Method::Choose {
            k: 2,
            global_no: false,
            global_abstain: false,
        });
        let b = vec![
            (1, Choice::Select(vec![0, 1])),
            (1, Choice::Select(vec![0, 2])),
            (1, Choice::Select(vec![0, 1])),
            (1, Choice::Select(vec![0, 2])),
        ];
        // Anna 4, Ben 2, Cem 2 → Anna elected, Ben and Cem tied for the second seat; but
        // Ben/Cem have 2 yes vs 2 no: no majority, so neither passes anyway.
        let r = run(&spec2, (4, 4), &b);
        assert_eq!(r.elected, vec![0]);
        assert!(r.tied.is_empty());
        let b = vec![
            (1, Choice::Select(vec![0, 1])),
            (1, Choice::Select(vec![0, 2])),
            (1, Choice::Select(vec![1, 2])),
        ];
        // Everyone 2 yes vs 1 no: all pass, three tied for two seats.
        let r = run(&spec2, (3, 3), &b);
        assert_eq!(r.elected, Vec::<usize>::new());
        assert_eq!(r.tied.len(), 3);
    }

    #[test]
    fn invalid_choices_are_refused() {
        let motion_spec = motion(Rule::Simple, Abstentions::Ignored, None);
        assert!(
            motion_spec
                .validate_choice(&Choice::Select(vec![0]))
                .is_err()
        );
        let yes_no = election(Method::YesNo);
        assert!(yes_no.validate_choice(&Choice::Answers(vec![Yes])).is_err());
        let choose = election(Method::Choose {
            k: 2,
            global_no: true,
            global_abstain: false,
        });
        assert!(
            choose
                .validate_choice(&Choice::Select(vec![0, 1, 2]))
                .is_err(),
            "over k"
        );
        assert!(
            choose.validate_choice(&Choice::Select(vec![0, 0])).is_err(),
            "twice"
        );
        assert!(
            choose.validate_choice(&Choice::Select(vec![7])).is_err(),
            "no such"
        );
        assert!(
            choose.validate_choice(&Choice::Select(vec![])).is_err(),
            "empty"
        );
        assert!(choose.validate_choice(&Choice::Global(Global::No)).is_ok());
        assert!(
            choose
                .validate_choice(&Choice::Global(Global::Abstain))
                .is_err()
        );
    }

    #[test]
    fn invalid_polls_are_refused() {
        let mut p = election(Method::Choose {
            k: 4,
            global_no: false,
            global_abstain: false,
        });
        assert!(p.validate().is_err(), "k over n");
        p.kind = PollKind::Election {
            candidates: vec!["A".into(), "A ".into()],
            method: Method::YesNo,
        };
        assert!(p.validate().is_err(), "duplicate names");
        let mut m = motion(Rule::Simple, Abstentions::Ignored, None);
        m.title = "  ".into();
        assert!(m.validate().is_err());
        m.title = "ok".into();
        m.quorum = Some(Quorum {
            of: QuorumBase::Voters,
            percent: 0,
        });
        assert!(m.validate().is_err());
    }

    #[test]
    fn specs_and_choices_have_a_stable_wire_form() {
        let spec: PollSpec = serde_json::from_str(
            r#"{"title":"Vorstand","kind":"election","candidates":["A","B"],
                "method":{"type":"choose","k":1,"global_no":true}}"#,
        )
        .unwrap();
        assert!(spec.secret, "secret by default");
        spec.validate().unwrap();
        let c: Choice = serde_json::from_str(r#"{"select":[1]}"#).unwrap();
        spec.validate_choice(&c).unwrap();
        let c: Choice = serde_json::from_str(r#"{"vote":"abstain"}"#).unwrap();
        assert_eq!(c, Choice::Vote(Abstain));
    }
}

//! The crate's one error type. Every refusal of input is a variant here; `code()` gives the
//! stable snake_case name that the JavaScript side (`web/ballot-crypto.js`) uses too, so the
//! shared test vectors can say which refusal each bad input must get.

/// Why an input was refused. Nothing in this crate panics on input; it returns one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The JSON did not parse into the expected shape (wrong field, bad hex, wrong length).
    #[error("malformed input: {0}")]
    Malformed(String),
    /// A 32-byte string is not the canonical encoding of a ristretto255 point.
    #[error("{0}: not a canonical ristretto255 point")]
    InvalidPoint(&'static str),
    /// A point is the identity where the protocol forbids it (a key, a commitment, a ciphertext's
    /// first component).
    #[error("{0}: the identity point is not allowed here")]
    IdentityPoint(&'static str),
    /// A 32-byte string is not a canonical scalar (it is not below the group order ℓ).
    #[error("{0}: not a canonical scalar (must be below the group order)")]
    NonCanonicalScalar(&'static str),
    /// An Ed25519 credential key does not decode, or is of small order.
    #[error("the credential key is not a valid Ed25519 public key")]
    InvalidCredentialKey,
    /// A count or bound is outside what the format allows (see the limits in `poll`).
    #[error("out of bounds: {0}")]
    Bounds(String),
    /// The poll definition (questions, options, bounds) is not well formed.
    #[error("invalid poll definition: {0}")]
    InvalidPoll(String),
    /// The roll is not canonical: unsorted or repeated holders, or a zero weight.
    #[error("invalid roll: {0}")]
    InvalidRoll(String),
    /// The roll's hash is not the one in the header.
    #[error("the roll does not match the header's roll hash")]
    RollMismatch,
    /// The ballot names another poll.
    #[error("the ballot is for poll {got:?}, not {expected:?}")]
    WrongPoll {
        /// This poll.
        expected: String,
        /// The ballot's poll.
        got: String,
    },
    /// The ballot does not have one ciphertext per option and one proof per bound.
    #[error("the ballot's shape does not fit the poll: {0}")]
    BallotShape(String),
    /// An option's proof that it encrypts 0 or 1 does not verify.
    #[error(
        "the proof that option {option} of question {question} encrypts 0 or 1 does not verify"
    )]
    BadOptionProof {
        /// Question index (from 0).
        question: u32,
        /// Option index (from 0).
        option: u32,
    },
    /// A question's proof that the number of chosen options lies within its bounds does not
    /// verify.
    #[error("the proof that question {question}'s choices lie within its bounds does not verify")]
    BadSumProof {
        /// Question index (from 0).
        question: u32,
    },
    /// The credential's signature over the ballot does not verify.
    #[error("the ballot's signature does not verify")]
    BadSignature,
    /// The ballot's credential is not registered for this poll.
    #[error("the credential is not registered for this poll")]
    UnknownCredential,
    /// The credential was registered already.
    #[error("the credential is registered already")]
    CredentialRegistered,
    /// The credential has cast a ballot already (a second, different ballot).
    #[error("the credential has cast a ballot already")]
    CredentialUsed,
    /// This exact ballot is on the board already (a replay).
    #[error("this ballot is on the board already")]
    DuplicateBallot,
    /// More credentials than rights, or a weight no right of the roll has left.
    #[error("registration refused: {0}")]
    BadRegistration(String),
    /// The list of rights that took part does not match the registrations.
    #[error("participation does not match the registrations: {0}")]
    BadParticipation(String),
    /// A committee member's proof of knowledge of its DKG key does not verify.
    #[error("member {member}'s proof of knowledge of its DKG key does not verify")]
    BadKeyProof {
        /// Member index.
        member: u32,
    },
    /// The committee record is not well formed (indices, threshold, duplicates).
    #[error("invalid committee: {0}")]
    InvalidCommittee(String),
    /// A dealing is not well formed (commitment count, recipients) for this committee.
    #[error("dealer {dealer}'s dealing is malformed: {reason}")]
    BadDealing {
        /// Dealer index.
        dealer: u32,
        /// What is wrong.
        reason: String,
    },
    /// A dealer's Schnorr proof of knowledge of its constant term does not verify.
    #[error("dealer {dealer}'s proof of knowledge of its constant term does not verify")]
    BadDealingProof {
        /// Dealer index.
        dealer: u32,
    },
    /// A share does not decrypt, or does not match the dealer's Feldman commitments: the
    /// recipient files a complaint.
    #[error("the share from dealer {dealer} to member {recipient} is invalid")]
    BadShare {
        /// Dealer index.
        dealer: u32,
        /// Recipient index.
        recipient: u32,
    },
    /// A complaint or an answer does not fit the transcript (unknown member, self-complaint,
    /// duplicate, answer without complaint).
    #[error("invalid complaint or answer: {0}")]
    BadComplaint(String),
    /// Fewer than `threshold` members remain qualified: no election key can be formed.
    #[error("only {qualified} committee members are qualified, {threshold} are needed")]
    CommitteeTooSmall {
        /// Qualified members.
        qualified: u32,
        /// The threshold t.
        threshold: u32,
    },
    /// The header's election key is not the sum of the qualified dealers' constant terms.
    #[error("the election key does not follow from the committee's commitments")]
    ElectionKeyMismatch,
    /// A member's secret share does not match its public verification key.
    #[error("member {member}'s share does not match its verification key")]
    ShareMismatch {
        /// Member index.
        member: u32,
    },
    /// A partial decryption comes from someone who is not a qualified member, or twice.
    #[error("member {member} may not publish a partial decryption here: {reason}")]
    BadTrustee {
        /// Member index.
        member: u32,
        /// Why not.
        reason: String,
    },
    /// A partial decryption's Chaum–Pedersen proof does not verify.
    #[error(
        "member {member}'s partial decryption of option {option} of question {question} does not verify"
    )]
    BadPartialDecryption {
        /// Member index.
        member: u32,
        /// Question index.
        question: u32,
        /// Option index.
        option: u32,
    },
    /// Fewer than `threshold` valid partial decryptions: the poll cannot be tallied.
    #[error("{have} valid partial decryptions, {need} needed: the poll cannot be tallied")]
    NotEnoughTrustees {
        /// Valid partial decryptions.
        have: u32,
        /// The threshold t.
        need: u32,
    },
    /// A decrypted sum lies above the bound searched (the total weight cast).
    #[error("a decrypted sum is larger than the total weight {bound}")]
    DiscreteLogOutOfRange {
        /// The bound searched.
        bound: u64,
    },
    /// The published tally is not the weighted sum of the accepted ballots.
    #[error("the tally is not the weighted sum of the accepted ballots")]
    TallyMismatch,
    /// The published result does not match the decryption.
    #[error("the result does not match the decrypted tally")]
    ResultMismatch,
    /// A Benaloh audit's opening does not reproduce the ballot.
    #[error("the opening does not match the audited ballot: {0}")]
    BadOpening(String),
    /// An entry's stored hash is not H(previous hash ‖ entry bytes).
    #[error("the hash chain is broken here")]
    ChainBroken,
    /// An entry where the board's phase does not allow it (a ballot after closing, a second
    /// header, a result before the tally).
    #[error("entry not allowed here: {0}")]
    OutOfOrder(String),
}

impl Error {
    /// The stable, snake_case name of the variant (shared with the JavaScript side).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Malformed(_) => "malformed",
            Error::InvalidPoint(_) => "invalid_point",
            Error::IdentityPoint(_) => "identity_point",
            Error::NonCanonicalScalar(_) => "non_canonical_scalar",
            Error::InvalidCredentialKey => "invalid_credential_key",
            Error::Bounds(_) => "bounds",
            Error::InvalidPoll(_) => "invalid_poll",
            Error::InvalidRoll(_) => "invalid_roll",
            Error::RollMismatch => "roll_mismatch",
            Error::WrongPoll { .. } => "wrong_poll",
            Error::BallotShape(_) => "ballot_shape",
            Error::BadOptionProof { .. } => "bad_option_proof",
            Error::BadSumProof { .. } => "bad_sum_proof",
            Error::BadSignature => "bad_signature",
            Error::UnknownCredential => "unknown_credential",
            Error::CredentialRegistered => "credential_registered",
            Error::CredentialUsed => "credential_used",
            Error::DuplicateBallot => "duplicate_ballot",
            Error::BadRegistration(_) => "bad_registration",
            Error::BadParticipation(_) => "bad_participation",
            Error::BadKeyProof { .. } => "bad_key_proof",
            Error::InvalidCommittee(_) => "invalid_committee",
            Error::BadDealing { .. } => "bad_dealing",
            Error::BadDealingProof { .. } => "bad_dealing_proof",
            Error::BadShare { .. } => "bad_share",
            Error::BadComplaint(_) => "bad_complaint",
            Error::CommitteeTooSmall { .. } => "committee_too_small",
            Error::ElectionKeyMismatch => "election_key_mismatch",
            Error::ShareMismatch { .. } => "share_mismatch",
            Error::BadTrustee { .. } => "bad_trustee",
            Error::BadPartialDecryption { .. } => "bad_partial_decryption",
            Error::NotEnoughTrustees { .. } => "not_enough_trustees",
            Error::DiscreteLogOutOfRange { .. } => "discrete_log_out_of_range",
            Error::TallyMismatch => "tally_mismatch",
            Error::ResultMismatch => "result_mismatch",
            Error::BadOpening(_) => "bad_opening",
            Error::ChainBroken => "chain_broken",
            Error::OutOfOrder(_) => "out_of_order",
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Malformed(e.to_string())
    }
}

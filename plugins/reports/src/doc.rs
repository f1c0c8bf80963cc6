//! The minutes as a neutral document — headings, key/value lines, paragraphs and tables —
//! built once from a session record and rendered as HTML ([`crate::html`]) or PDF
//! ([`crate::pdf`]), so both say the same.

use plenum_signalling::ballot::{PollKind, PollState};
use plenum_signalling::record::{PollEntry, SessionRecord};

use crate::attachments::Attachment;
use crate::notes::Note;
use crate::text::{Clock, Lang, duration};

/// An approved version of the minutes, as its PDF and HTML state it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// 1, 2, … (a correction is a new version).
    pub version: u32,
    /// When (unix milliseconds).
    pub approved_at_ms: u64,
    /// By whom.
    pub approved_by: String,
    /// SHA-256 (hex) over the version's JSON.
    pub sha256: String,
}

/// One block of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading.
    Heading(String),
    /// A heading within a section (a poll).
    Subheading(String),
    /// Label: value lines.
    Facts(Vec<(String, String)>),
    /// Running text.
    Paragraph(String),
    /// A table: column titles with their share of the width, then rows.
    Table {
        /// (title, share of the width).
        columns: Vec<(String, f32)>,
        /// Cells, row by row.
        rows: Vec<Vec<String>>,
    },
}

/// A document: its title and blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// Title (first line, and the running header).
    pub title: String,
    /// Language.
    pub lang: Lang,
    /// Blocks in order.
    pub blocks: Vec<Block>,
}

fn item(n: Option<usize>) -> String {
    n.map_or_else(|| "–".to_owned(), |n| n.to_string())
}

/// The minutes of `record` with the minute-taker's `notes`; `approval` for an approved
/// version (a draft otherwise).
pub fn minutes(
    record: &SessionRecord,
    notes: &[Note],
    attachments: &[Attachment],
    approval: Option<&Approval>,
    lang: Lang,
    clock: &Clock,
) -> Doc {
    let t = |k: &str| lang.t(k).to_owned();
    let mut blocks = Vec::new();
    let mut facts = Vec::new();
    match approval {
        Some(a) => {
            facts.push((
                t("approved"),
                format!(
                    "{} {}, {} ({} {})",
                    t("version"),
                    a.version,
                    clock.date_time(a.approved_at_ms),
                    t("by"),
                    a.approved_by
                ),
            ));
        }
        None => facts.push((t("status"), t("draft"))),
    }
    if let Some(kind) = record.kind {
        facts.push((t("col.kind"), t(&format!("kind.{}", kind.as_str()))));
    }
    if let Some(unit) = &record.unit_name {
        facts.push((t("organiser"), unit.clone()));
    }
    if let Some(at) = record.starts_at {
        facts.push((t("planned"), clock.date_time(at.saturating_mul(1000))));
    }
    facts.push((
        t("opened"),
        record
            .opened_at_ms
            .map_or_else(|| t("not_opened"), |ms| clock.date_time(ms)),
    ));
    if let Some(ms) = record.closed_at_ms {
        facts.push((t("closed"), clock.date_time(ms)));
    }
    facts.push((
        t("chair"),
        if record.chairs.is_empty() {
            t("none")
        } else {
            record.chairs.join(", ")
        },
    ));
    blocks.push(Block::Facts(facts));
    if let Some(a) = approval {
        // On a line of its own, so the 64 digits are never broken.
        blocks.push(Block::Paragraph(format!("SHA-256: {}", a.sha256)));
    }

    blocks.push(Block::Heading(t("attendance")));
    blocks.push(Block::Paragraph(format!(
        "{} {}",
        record.attendance.len(),
        t("attendance.summary")
    )));
    blocks.push(Block::Table {
        columns: vec![
            (t("col.name"), 0.32),
            (t("col.role"), 0.18),
            (t("col.unit"), 0.25),
            (t("col.present"), 0.25),
        ],
        rows: record
            .attendance
            .iter()
            .map(|a| {
                let stays: Vec<String> = a
                    .stays
                    .iter()
                    .map(|(from, to)| {
                        format!(
                            "{}–{}",
                            clock.time(*from),
                            to.map_or_else(String::new, |to| clock.time(to))
                        )
                    })
                    .collect();
                vec![
                    a.name.clone(),
                    t(&format!("role.{}", a.role.as_str())),
                    a.region_name.clone().unwrap_or_default(),
                    stays.join(", "),
                ]
            })
            .collect(),
    });

    blocks.push(Block::Heading(t("agenda")));
    if record.agenda.is_empty() {
        blocks.push(Block::Paragraph(t("none")));
    } else {
        blocks.push(Block::Table {
            columns: vec![
                (t("col.item"), 0.1),
                (String::new(), 0.6),
                (t("agenda.called"), 0.3),
            ],
            rows: record
                .agenda
                .iter()
                .map(|i| {
                    let called: Vec<String> =
                        i.called_at_ms.iter().map(|ms| clock.time(*ms)).collect();
                    vec![
                        i.number.to_string(),
                        i.title.clone(),
                        if called.is_empty() {
                            t("agenda.not_called")
                        } else {
                            called.join(", ")
                        },
                    ]
                })
                .collect(),
        });
    }

    if !notes.is_empty() {
        blocks.push(Block::Heading(t("notes")));
        blocks.push(Block::Table {
            columns: vec![
                (t("col.item"), 0.08),
                (t("col.time"), 0.14),
                (t("notes.text"), 0.58),
                (t("notes.by"), 0.2),
            ],
            rows: notes
                .iter()
                .map(|n| {
                    vec![
                        item(n.item),
                        clock.time(n.at_ms),
                        n.text.clone(),
                        n.by.clone(),
                    ]
                })
                .collect(),
        });
    }

    if !attachments.is_empty() {
        // Each file with its SHA-256, so approved minutes say exactly which papers they mean.
        blocks.push(Block::Heading(t("attachments")));
        for a in attachments {
            let at = a.item.map_or_else(
                || t("attachments.session"),
                |i| {
                    let title = i
                        .checked_sub(1)
                        .and_then(|j| record.agenda.get(j))
                        .map_or("", |x| x.title.as_str());
                    format!("{} {i} ({title})", t("col.item"))
                },
            );
            blocks.push(Block::Paragraph(format!(
                "{at}: {} – {} KiB, {} {}, {}",
                a.name,
                a.size.div_ceil(1024),
                t("attachments.uploaded"),
                clock.date_time(a.uploaded_at_ms),
                a.uploaded_by
            )));
            blocks.push(Block::Paragraph(format!("SHA-256: {}", a.sha256)));
        }
    }

    blocks.push(Block::Heading(t("speeches")));
    if record.speeches.is_empty() {
        blocks.push(Block::Paragraph(t("none")));
    } else {
        blocks.push(Block::Table {
            columns: vec![
                (t("col.time"), 0.14),
                (t("col.item"), 0.08),
                (t("col.name"), 0.36),
                (t("col.kind"), 0.28),
                (t("col.duration"), 0.14),
            ],
            rows: record
                .speeches
                .iter()
                .map(|s| {
                    vec![
                        clock.time(s.started_at_ms),
                        item(s.agenda_item),
                        s.name.clone(),
                        t(&format!("speech.{}", request_kind(s.kind))),
                        duration(s.duration_ms),
                    ]
                })
                .collect(),
        });
    }

    blocks.push(Block::Heading(t("polls")));
    if record.polls.is_empty() {
        blocks.push(Block::Paragraph(t("none")));
    }
    for poll in &record.polls {
        poll_blocks(poll, lang, clock, &mut blocks);
    }

    Doc {
        title: format!("{}: {}", t("minutes"), record.title),
        lang,
        blocks,
    }
}

fn request_kind(kind: plenum_signalling::queue::RequestKind) -> &'static str {
    use plenum_signalling::queue::RequestKind as K;
    match kind {
        K::Contribution => "contribution",
        K::Pro => "pro",
        K::Contra => "contra",
        K::Question => "question",
        K::PointOfOrder => "point_of_order",
    }
}

fn poll_blocks(poll: &PollEntry, lang: Lang, clock: &Clock, blocks: &mut Vec<Block>) {
    let t = |k: &str| lang.t(k).to_owned();
    let (kind, labels): (String, Vec<String>) = match &poll.spec.kind {
        PollKind::Motion => (t("poll.motion"), vec![t("motion")]),
        PollKind::Election { candidates, .. } => (t("poll.election"), candidates.clone()),
    };
    blocks.push(Block::Subheading(format!(
        "{} {}",
        kind,
        lang.quote(&poll.spec.title)
    )));
    let mut facts = vec![
        (
            t("col.kind"),
            format!(
                "{}, {}",
                kind,
                t(if poll.spec.secret {
                    "poll.secret"
                } else {
                    "poll.named"
                })
            ),
        ),
        (t("col.item"), item(poll.agenda_item)),
    ];
    if let Some(ms) = poll.opened_at_ms {
        facts.push((t("opened"), clock.time(ms)));
    }
    if let Some(ms) = poll.closed_at_ms {
        facts.push((t("closed"), clock.time(ms)));
    }
    facts.push((t("poll.present"), poll.present_at_opening.to_string()));
    facts.push((
        t("poll.eligible"),
        if poll.eligible_weight == poll.eligible_voters {
            poll.eligible_voters.to_string()
        } else {
            format!(
                "{} ({} {})",
                poll.eligible_voters,
                poll.eligible_weight,
                t("col.weight")
            )
        },
    ));
    facts.push((t("poll.voted"), poll.voted.to_string()));
    if let Some(head) = &poll.board_head {
        // The whole 64 hex digits: anyone can compare them with `plenum-verify`'s output.
        facts.push((t("poll.board_head"), head.clone()));
    }
    blocks.push(Block::Facts(facts));
    if poll.state == PollState::Cancelled {
        blocks.push(Block::Paragraph(t("poll.cancelled")));
        return;
    }
    let Some(result) = &poll.result else {
        blocks.push(Block::Paragraph(t("poll.unpublished")));
        return;
    };
    blocks.push(Block::Table {
        columns: vec![
            (t("col.question"), 0.4),
            (t("col.yes"), 0.15),
            (t("col.no"), 0.15),
            (t("col.abstain"), 0.15),
            (String::new(), 0.15),
        ],
        rows: result
            .questions
            .iter()
            .enumerate()
            .map(|(i, q)| {
                vec![
                    labels.get(i).cloned().unwrap_or_else(|| q.label.clone()),
                    q.counts.yes.to_string(),
                    q.counts.no.to_string(),
                    q.counts.abstain.to_string(),
                    if q.passed {
                        "✓".to_owned()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect(),
    });
    let verdict = if !result.quorum_reached {
        t("poll.quorum_missed")
    } else {
        match (&poll.spec.kind, result.accepted) {
            (PollKind::Motion, Some(true)) => t("poll.accepted"),
            (PollKind::Motion, _) => t("poll.rejected"),
            (PollKind::Election { candidates, .. }, _) => {
                let elected: Vec<String> = result
                    .elected
                    .iter()
                    .filter_map(|i| candidates.get(*i).cloned())
                    .collect();
                if !result.tied.is_empty() {
                    t("poll.tied")
                } else if elected.is_empty() {
                    t("poll.nobody")
                } else {
                    format!("{}: {}", t("poll.elected"), elected.join(", "))
                }
            }
        }
    };
    blocks.push(Block::Paragraph(format!(
        "{verdict} ({})",
        rule_text(&poll.spec, lang)
    )));
    if let Some(roll) = &poll.roll_call {
        blocks.push(Block::Paragraph(t("roll_call")));
        blocks.push(Block::Table {
            columns: vec![
                (t("col.name"), 0.5),
                (t("col.vote"), 0.35),
                (t("col.weight"), 0.15),
            ],
            rows: roll
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        choice_text(&r.choice, &labels, lang),
                        r.weight.to_string(),
                    ]
                })
                .collect(),
        });
    }
}

/// The poll's rule in the document's language: majority, abstentions, quorum.
pub fn rule_text(spec: &plenum_signalling::ballot::PollSpec, lang: Lang) -> String {
    use plenum_signalling::ballot::{Abstentions, QuorumBase, Rule};
    let de = lang == Lang::De;
    let rule = match (spec.majority.rule, de) {
        (Rule::Simple, true) => "einfache Mehrheit (mehr Ja als Nein)",
        (Rule::Simple, false) => "simple majority (more yes than no)",
        (Rule::Absolute, true) => {
            "absolute Mehrheit (Ja von mehr als der Hälfte des Stimmgewichts)"
        }
        (Rule::Absolute, false) => {
            "absolute majority (yes from more than half of the eligible weight)"
        }
        (Rule::TwoThirds, true) => "Zweidrittelmehrheit der gültigen Stimmen",
        (Rule::TwoThirds, false) => "two-thirds majority of the valid votes",
    };
    let abstentions = match (spec.majority.abstentions, de) {
        (Abstentions::Ignored, true) => "Enthaltungen zählen nicht",
        (Abstentions::Ignored, false) => "abstentions are not counted",
        (Abstentions::Counted, true) => "Enthaltungen zählen als gültige Stimmen",
        (Abstentions::Counted, false) => "abstentions count as valid votes",
    };
    let quorum = match spec.quorum {
        None if de => "kein Quorum".to_owned(),
        None => "no quorum".to_owned(),
        Some(q) => {
            let base = match (q.of, de) {
                (QuorumBase::Voters, true) => "der Stimmberechtigten",
                (QuorumBase::Voters, false) => "of the eligible voters",
                (QuorumBase::Weight, true) => "des Stimmgewichts",
                (QuorumBase::Weight, false) => "of the eligible vote weight",
            };
            if de {
                format!("Quorum {} % {base}", q.percent)
            } else {
                format!("quorum {}% {base}", q.percent)
            }
        }
    };
    format!("{rule}; {abstentions}; {quorum}")
}

/// A stored choice in words: yes/no/abstain, the candidates picked, or a global answer.
fn choice_text(
    choice: &plenum_signalling::serde_json::Value,
    labels: &[String],
    lang: Lang,
) -> String {
    if let Some(v) = choice.get("vote").and_then(|v| v.as_str()) {
        return lang.t(&format!("vote.{v}")).to_owned();
    }
    if let Some(picked) = choice.get("select").and_then(|v| v.as_array()) {
        let names: Vec<String> = picked
            .iter()
            .filter_map(|i| i.as_u64())
            .filter_map(|i| labels.get(usize::try_from(i).ok()?).cloned())
            .collect();
        return names.join(", ");
    }
    if let Some(g) = choice.get("global").and_then(|v| v.as_str()) {
        return lang.t(&format!("vote.{g}")).to_owned();
    }
    if let Some(answers) = choice.get("answers").and_then(|v| v.as_array()) {
        let parts: Vec<String> = answers
            .iter()
            .zip(labels)
            .filter_map(|(a, l)| Some(format!("{l}: {}", lang.t(&format!("vote.{}", a.as_str()?)))))
            .collect();
        return parts.join("; ");
    }
    choice.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plenum_signalling::ballot::{Abstentions, Majority, PollSpec, Quorum, QuorumBase, Rule};

    #[test]
    fn the_rule_reads_in_the_documents_language() {
        let spec = PollSpec {
            title: "A1".into(),
            kind: PollKind::Motion,
            secret: true,
            quorum: Some(Quorum {
                of: QuorumBase::Voters,
                percent: 50,
            }),
            majority: Majority {
                rule: Rule::TwoThirds,
                abstentions: Abstentions::Counted,
            },
            verifiable: None,
        };
        assert_eq!(
            rule_text(&spec, Lang::De),
            "Zweidrittelmehrheit der gültigen Stimmen; Enthaltungen zählen als gültige Stimmen; Quorum 50 % der Stimmberechtigten"
        );
        assert_eq!(
            rule_text(&spec, Lang::En),
            "two-thirds majority of the valid votes; abstentions count as valid votes; quorum 50% of the eligible voters"
        );
    }
}

//! `plenum-verify BOARD.json`: re-checks an exported bulletin board of a verifiable secret
//! ballot — the hash chain, the roll, the committee's DKG, every ballot's proofs and signature,
//! the weights, the tally, every partial decryption and the result — with nothing but the
//! export. Exit 0 with a summary when everything holds; exit 1 naming the first failing entry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use plenum_ballot_crypto::board::{BoardExport, Phase, verify_board};

/// Verify an exported Plenum bulletin board.
#[derive(Debug, Parser)]
#[command(name = "plenum-verify", version)]
struct Args {
    /// The board export (JSON), as the server's audit download gives it.
    board: PathBuf,
    /// Fail unless the result is on the board (otherwise an open or closed board passes if
    /// everything on it so far holds).
    #[arg(long)]
    require_result: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plenum-verify: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.board)
        .with_context(|| format!("reading {}", args.board.display()))?;
    let export = BoardExport::from_json(&text).context("parsing the board export")?;
    let summary = verify_board(&export)?;
    if args.require_result && summary.phase != Phase::Published {
        anyhow::bail!("the board holds no result yet (phase {:?})", summary.phase);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("plenum-verify: OK — every check holds");
    println!("poll:           {}", summary.poll_id);
    println!("phase:          {:?}", summary.phase);
    println!(
        "entries:        {} (head {})",
        summary.entries, summary.head
    );
    println!("registrations:  {}", summary.registrations);
    println!(
        "ballots:        {} (weight {})",
        summary.ballots, summary.weight_cast
    );
    if let Some(r) = summary.rejected_ballots {
        println!("refused:        {r}");
    }
    println!(
        "committee:      qualified {:?}, decrypted by {:?}",
        summary.qualified, summary.decrypted_by
    );
    if let Some(result) = &summary.result {
        let poll = export.entries.first().and_then(|e| match &e.entry {
            plenum_ballot_crypto::board::Entry::Header(h) => Some(h),
            _ => None,
        });
        for (q, counts) in result.counts.iter().enumerate() {
            let question = poll.and_then(|h| h.questions.get(q));
            println!(
                "question {q}:     {}",
                question.map_or("", |x| x.text.as_str())
            );
            for (o, c) in counts.iter().enumerate() {
                let label = question
                    .and_then(|x| x.options.get(o))
                    .map_or(String::new(), |x| x.label.clone());
                println!("  {label:<24} {c}");
            }
        }
    }
    Ok(())
}

//! `plenum-whip`: a synthetic hall camera. Publishes three VP8 layers and Opus speech to a
//! room's stage over WHIP until stopped (Ctrl-C / SIGTERM) or `--seconds` passed, then ends
//! the session with `DELETE`. For trying WHIP ingest and for the browser tests.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use plenum_loadtest::ParticipantConfig;
use plenum_loadtest::synth::Talk;
use plenum_loadtest::whip::whip_publish;

#[derive(Debug, Parser)]
#[command(
    name = "plenum-whip",
    version,
    about = "Publish a synthetic camera to a Plenum room's stage over WHIP"
)]
struct Cli {
    /// The server (https://host:port).
    #[arg(long)]
    url: String,
    /// The server's certificate (PEM), e.g. data/tls/cert.pem.
    #[arg(long)]
    ca: PathBuf,
    /// A moderator's access token (the part after `#token=` of an invite link).
    #[arg(long)]
    token: String,
    /// The room.
    #[arg(long, default_value = "demo")]
    room: String,
    /// Stop after this many seconds (default: run until stopped).
    #[arg(long)]
    seconds: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut config = ParticipantConfig::new(&cli.url, &cli.token);
    config.ca_pem =
        Some(std::fs::read(&cli.ca).with_context(|| format!("reading {}", cli.ca.display()))?);
    config.talk = Talk::Always;
    let mut session = whip_publish(&config, &cli.room).await?;
    anyhow::ensure!(
        session.media.wait_connected(Duration::from_secs(15)).await,
        "ICE/DTLS did not connect within 15 s"
    );
    println!("plenum-whip: publishing at {}", session.location);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let limit = async {
        match cli.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        () = limit => {}
    }
    let status = session.delete().await.map_err(anyhow::Error::msg)?;
    println!("plenum-whip: session ended (HTTP {status})");
    session.media.stop().await;
    Ok(())
}

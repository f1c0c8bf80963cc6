//! `plenum-loadtest`: run a load scenario against Plenum and report what the server did.
//!
//! Either let it start the server (`--server target/release/plenum`: fresh data directory,
//! loopback ports, invites made with `plenum invite`, CPU and memory read from /proc), or
//! point it at a running one (`--url`, `--ca`, `--tokens`, optionally `--server-pid`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use plenum_loadtest::runner::{RunOptions, run};
use plenum_loadtest::scenario::Scenario;
use plenum_loadtest::server::SpawnedServer;

#[derive(Debug, Parser)]
#[command(
    name = "plenum-loadtest",
    version,
    about = "Load-test a Plenum room with synthetic participants"
)]
struct Cli {
    /// Scenario file (loadtest/scenarios/*.toml).
    #[arg(long)]
    scenario: PathBuf,
    /// Start this `plenum` binary on loopback for the run.
    #[arg(long, conflicts_with = "url")]
    server: Option<PathBuf>,
    /// A running server's URL (https://host:port).
    #[arg(long, requires_all = ["ca", "tokens"])]
    url: Option<String>,
    /// The running server's certificate (PEM), e.g. data/tls/cert.pem.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Invite tokens or links for the running server, one per line, in group order
    /// (`plenum invite --count N`).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// The running server's pid (for CPU and memory).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Override the participant count of the scenario's largest group.
    #[arg(long)]
    participants: Option<usize>,
    /// Override the measurement duration (seconds).
    #[arg(long)]
    duration: Option<u64>,
    /// Override the ramp-up time (seconds).
    #[arg(long)]
    ramp_up: Option<u64>,
    /// Fail (exit 1) when overall loss exceeds this many percent.
    #[arg(long, default_value_t = 0.5)]
    max_loss: f64,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the report as a self-contained HTML page here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Local address of the synthetic participants.
    #[arg(long, default_value = "127.0.0.1")]
    bind_ip: IpAddr,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("plenum-loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<bool> {
    let cli = Cli::parse();
    let mut scenario = Scenario::load(&cli.scenario).map_err(anyhow::Error::msg)?;
    if let Some(n) = cli.participants
        && let Some(g) = scenario.groups.iter_mut().max_by_key(|g| g.count)
    {
        g.count = n;
    }
    if let Some(d) = cli.duration {
        scenario.duration_secs = d;
    }
    if let Some(r) = cli.ramp_up {
        scenario.ramp_up_secs = r;
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let mut _spawned = None;
    let (url, ca_pem, tokens, pid) = match (&cli.server, &cli.url) {
        (Some(bin), _) => {
            let server =
                SpawnedServer::start(bin, &cli.bind_ip.to_string()).map_err(anyhow::Error::msg)?;
            let mut tokens = Vec::new();
            for g in &scenario.groups {
                tokens.push(
                    server
                        .tokens(&g.name, &g.role, g.count)
                        .map_err(anyhow::Error::msg)?,
                );
            }
            let out = (
                server.url.clone(),
                server.ca_pem().map_err(anyhow::Error::msg)?,
                tokens,
                Some(server.pid()),
            );
            _spawned = Some(server);
            out
        }
        (None, Some(url)) => {
            let ca = std::fs::read(cli.ca.as_ref().context("--ca is required with --url")?)?;
            let text = std::fs::read_to_string(
                cli.tokens
                    .as_ref()
                    .context("--tokens is required with --url")?,
            )?;
            let mut all = text
                .lines()
                .map(|l| l.rsplit("#token=").next().unwrap_or(l).trim().to_owned())
                .filter(|l| !l.is_empty());
            let tokens = scenario
                .groups
                .iter()
                .map(|g| all.by_ref().take(g.count).collect())
                .collect();
            (url.clone(), ca, tokens, cli.server_pid)
        }
        (None, None) => bail!("give --server BIN or --url URL"),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(RunOptions {
        scenario,
        base_url: url,
        ca_pem,
        tokens,
        server_pid: pid,
        bind_ip: cli.bind_ip,
        progress: !cli.quiet,
    }));
    print!("{}", report.table());
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(path) = &cli.html {
        std::fs::write(path, report.html())?;
    }
    let loss = report.loss_pct();
    let ok = report.joined == report.participants && loss <= cli.max_loss;
    if !ok {
        eprintln!(
            "plenum-loadtest: FAILED: {}/{} joined, loss {loss:.3} % (limit {} %)",
            report.joined, report.participants, cli.max_loss
        );
    }
    Ok(ok)
}

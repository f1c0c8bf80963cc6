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
use plenum_loadtest::cascade::{NodeInfo, SpawnedCluster};
use plenum_loadtest::compare::{JanusRun, run_janus};
use plenum_loadtest::runner::{RunOptions, run};
use plenum_loadtest::scenario::Scenario;
use plenum_loadtest::server::SpawnedServer;

/// mimalloc instead of glibc malloc: the media path allocates and frees per packet
/// (docs/perf.md, optimisation round 4).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// The running server's `/metrics` token file (its `data/metrics.token`), for the
    /// forwarded-packet counters.
    #[arg(long)]
    metrics_token: Option<PathBuf>,
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
    /// Run the started server on these CPUs only (`taskset -c` syntax: `1`, `0-1`, `0,2`), so
    /// that its share of the machine is clean.
    #[arg(long, requires = "server", value_parser = parse_cpus)]
    server_cpus: Option<CpuList>,
    /// Run the load tester itself on these CPUs only (same syntax).
    #[arg(long, value_parser = parse_cpus)]
    loadtest_cpus: Option<CpuList>,
    /// Threads the participants' media runs on (each participant on one); one carries
    /// about 150 participants of congress-150 at 70 % of a core on the project's machine.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    media_threads: u16,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// After the Plenum run, run the same livestream load against Janus VideoRoom at this
    /// REST address (e.g. 127.0.0.1:8088) and compare CPU per packet.
    #[arg(long, requires = "janus_pid")]
    janus_api: Option<std::net::SocketAddr>,
    /// Janus's pid (for its CPU).
    #[arg(long)]
    janus_pid: Option<u32>,
    /// The VideoRoom room.
    #[arg(long, default_value_t = 1234)]
    janus_room: u64,
    /// Local address of the clients talking to Janus (Janus ignores loopback interfaces, so
    /// it runs on a veth with 127.0.0.2; see benches/janus-compare.sh).
    #[arg(long, default_value = "127.0.0.2")]
    janus_bind_ip: IpAddr,
}

/// The room the invites are for (`plenum invite --room demo`).
const ROOM: &str = "demo";

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

/// CPU numbers (`--server-cpus`, `--loadtest-cpus`).
#[derive(Debug, Clone)]
struct CpuList(Vec<usize>);

/// A CPU list as `taskset -c` takes it: numbers and ranges, comma-separated.
fn parse_cpus(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        let parse = |n: &str| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("not a CPU list: {text}"))
        };
        let (from, to) = (parse(from)?, parse(to)?);
        if from > to || to >= nix::sched::CpuSet::count() {
            return Err(format!("not a CPU list: {text}"));
        }
        cpus.extend(from..=to);
    }
    Ok(CpuList(cpus))
}

/// Keep this process (the calling thread and every thread it starts later) on `cpus`.
fn pin_self(cpus: &[usize]) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .context("cannot pin the load tester to its CPUs")
}

fn real_main() -> Result<bool> {
    let cli = Cli::parse();
    // Before the runtime's threads exist: they inherit the affinity.
    if let Some(CpuList(cpus)) = &cli.loadtest_cpus {
        pin_self(cpus)?;
    }
    plenum_loadtest::pool::set_threads(usize::from(cli.media_threads));
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

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut _spawned = None;
    let mut _cluster = None;
    let mut edges: Vec<NodeInfo> = Vec::new();
    let (url, ca_pem, tokens, pid, metrics_token) = match (&cli.server, &cli.url) {
        (Some(bin), _) if scenario.edges > 0 => {
            // The server as the origin of a cascade with its edges (docs/cluster.md).
            let cluster = SpawnedCluster::start(
                bin,
                &cli.bind_ip.to_string(),
                cli.server_cpus.as_ref().map(|c| c.0.as_slice()),
                scenario.edges,
            )
            .map_err(anyhow::Error::msg)?;
            let mut tokens = Vec::new();
            for g in &scenario.groups {
                tokens.push(
                    cluster
                        .origin
                        .tokens(&g.name, &g.role, g.count)
                        .map_err(anyhow::Error::msg)?,
                );
            }
            let probe = tokens
                .iter()
                .flatten()
                .next()
                .context("the scenario has no participants")?;
            runtime
                .block_on(cluster.wait_for_edges(ROOM, probe, std::time::Duration::from_secs(30)))
                .map_err(anyhow::Error::msg)?;
            let origin = cluster.origin_info().map_err(anyhow::Error::msg)?;
            edges = cluster.edge_infos().map_err(anyhow::Error::msg)?;
            if !cli.quiet {
                eprintln!(
                    "plenum-loadtest: origin {} (pid {}), edges {}",
                    origin.url,
                    origin.pid.unwrap_or(0),
                    edges
                        .iter()
                        .map(|e| format!("{} {} (pid {})", e.name, e.url, e.pid.unwrap_or(0)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            _cluster = Some(cluster);
            (
                origin.url,
                origin.ca_pem,
                tokens,
                origin.pid,
                origin.metrics_token,
            )
        }
        (Some(bin), _) => {
            let server = SpawnedServer::start(
                bin,
                &cli.bind_ip.to_string(),
                cli.server_cpus.as_ref().map(|c| c.0.as_slice()),
            )
            .map_err(anyhow::Error::msg)?;
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
                server.metrics_token().map_err(anyhow::Error::msg)?,
            );
            _spawned = Some(server);
            out
        }
        (None, Some(_)) if scenario.edges > 0 => {
            bail!("a scenario with edges needs --server (the load tester starts the cascade)")
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
            let metrics_token = match &cli.metrics_token {
                Some(p) => std::fs::read_to_string(p)?.trim().to_owned(),
                None => String::new(),
            };
            (url.clone(), ca, tokens, cli.server_pid, metrics_token)
        }
        (None, None) => bail!("give --server BIN or --url URL"),
    };

    let janus = cli.janus_api.zip(cli.janus_pid).map(|(api, pid)| JanusRun {
        api,
        pid,
        room: cli.janus_room,
        bind_ip: cli.janus_bind_ip,
        layers: scenario.groups[0].layers.iter().map(|l| l.spec()).collect(),
        viewers: scenario.groups.iter().skip(1).map(|g| g.count).sum(),
        ramp_up: std::time::Duration::from_secs(scenario.ramp_up_secs),
        duration: std::time::Duration::from_secs(scenario.duration_secs),
    });
    let report = runtime.block_on(run(RunOptions {
        scenario,
        base_url: url,
        ca_pem,
        metrics_token,
        tokens,
        server_pid: pid,
        bind_ip: cli.bind_ip,
        progress: !cli.quiet,
        room: ROOM.to_owned(),
        edges,
    }));
    print!("{}", report.table());
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(path) = &cli.html {
        std::fs::write(path, report.html())?;
    }
    if let Some(j) = janus {
        drop(_spawned.take()); // stop Plenum: the machine belongs to Janus now
        drop(_cluster.take());
        let figures = runtime
            .block_on(run_janus(&j))
            .map_err(anyhow::Error::msg)?;
        let plenum_us = report
            .server_cpu_us_per_forwarded_packet
            .unwrap_or(f64::NAN);
        println!(
            "janus: {}/{} viewers, {:.0} pkt/s delivered, CPU {:.1} % of one core, {:.2} µs per packet, loss {:.3} %",
            figures.joined,
            figures.viewers,
            figures.delivered_pps,
            figures.cpu_pct,
            figures.cpu_us_per_packet,
            figures.loss_pct
        );
        if let Some(e) = &figures.first_error {
            println!("janus: first join error: {e}");
        }
        println!(
            "plenum/janus CPU per packet: {:.2} / {:.2} µs = {:.2}x (goal ≤ 0.2x, docs/perf.md)",
            plenum_us,
            figures.cpu_us_per_packet,
            plenum_us / figures.cpu_us_per_packet
        );
        if let Some(path) = &cli.json {
            let both = serde_json::json!({ "plenum": report, "janus": figures });
            std::fs::write(path, serde_json::to_string_pretty(&both)?)?;
        }
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

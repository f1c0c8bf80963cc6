//! `plenum`: the congress server (media plane + control plane + web client) in one binary.
//!
//! `plenum serve` (the default) wires the crates together: configuration, storage, token
//! keys, the SFU task, the room registry and the HTTPS server; on an empty data directory it
//! creates the demo congress and prints its invite links. `plenum invite` prints a new link.

mod config;

/// mimalloc instead of glibc malloc: the media path allocates and frees per packet
/// (docs/perf.md, optimisation round 4).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use plenum_cluster::{EdgeNode, NodeTls, OriginNode};
use plenum_sfu::{MediaConfig, RouterConfig, SlotLayout};
use plenum_signalling::auth::{Role, TokenKeys};
use plenum_signalling::cluster::{Edge, Node, Origin};
use plenum_signalling::invite::{self, Invite};
use plenum_signalling::plugin::Registry;
use plenum_signalling::room::Rooms;
use plenum_signalling::storage::{PgStore, SqliteStore, Store};
use plenum_signalling::{AppState, TlsSetup, system_clock};
use tracing::info;

use crate::config::{ClusterRole, Config, HttpOverrides, MediaOverrides, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "plenum",
    version,
    about = "Self-hosted, privacy-first congress platform"
)]
struct Cli {
    /// TOML configuration file (all keys: deploy/plenum.sample.toml).
    #[arg(long, global = true, env = "PLENUM_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, keys, certificate).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the server (default).
    Serve(ServeArgs),
    /// Print a new invite link for a room.
    Invite(InviteArgs),
    /// Members: import the member list, activation links, admin scopes.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Units of the organisation.
    #[command(subcommand)]
    Unit(UnitCmd),
    /// Rooms and their rosters of members.
    #[command(subcommand)]
    Room(RoomCmd),
    /// Write a backup of the database to FILE, while the server runs (docs/operations.md).
    Backup {
        /// The backup file (must not exist yet).
        file: PathBuf,
    },
    /// Replace the database by the backup FILE; the server must be stopped. The database as
    /// it was is kept beside it (plenum.db.before-restore-…).
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Certificates of a cluster of nodes (docs/cluster.md).
    #[command(subcommand)]
    Cluster(ClusterCmd),
}

#[derive(Debug, Subcommand)]
enum ClusterCmd {
    /// Create the cluster CA in DIR: ca.pem (give it to every node) and ca.key (keep it
    /// offline; it makes node certificates).
    Ca {
        /// Where to write (must not hold a CA yet).
        #[arg(long)]
        dir: PathBuf,
    },
    /// A certificate for the node NAME signed by the CA in DIR: NAME.pem and NAME.key (and
    /// the CA's certificate beside them), for the node's [cluster] cert, key and ca.
    Cert {
        /// The CA's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node's name (a DNS name or IP address), as in its [cluster] node.
        #[arg(long)]
        node: String,
    },
}

#[derive(Debug, Subcommand)]
enum RoomCmd {
    /// Create a room.
    Create {
        /// Short id used in URLs, e.g. bpt-2027.
        #[arg(long)]
        id: String,
        /// Display name, e.g. "Bundesparteitag 2027".
        #[arg(long)]
        name: String,
    },
    /// Put a member on a room's roster: they find it on their start page after signing in.
    Assign {
        /// Room id.
        #[arg(long, default_value = invite::DEMO_ROOM)]
        room: String,
        /// Member number.
        #[arg(long)]
        number: String,
        /// admin, moderator, delegate, guest_speaker or observer.
        #[arg(long, default_value = "delegate")]
        role: Role,
    },
}

#[derive(Debug, Subcommand)]
enum MemberCmd {
    /// Import a member list (CSV, see docs/directory.md); prints what changes.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Only members of this unit and below (default: the whole organisation).
        #[arg(long)]
        scope: Option<String>,
        /// Show what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print an activation (or password reset) link for a member.
    Activation {
        /// Member number.
        #[arg(long)]
        number: String,
        /// The URL people open (default: from the configuration).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Make a member an admin of a unit and what lies below it (or withdraw it).
    Admin {
        /// Member number.
        #[arg(long)]
        number: String,
        /// Unit id.
        #[arg(long)]
        unit: String,
        /// Withdraw instead.
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UnitCmd {
    /// Create a unit, or rename or move it.
    Put {
        /// Short id, e.g. lv-by.
        #[arg(long)]
        id: String,
        /// Display name, e.g. "Landesverband Bayern".
        #[arg(long)]
        name: String,
        /// The unit above (none for the root).
        #[arg(long)]
        parent: Option<String>,
    },
    /// List the units.
    List,
}

#[derive(Debug, Default, clap::Args)]
struct ServeArgs {
    /// HTTPS listen address, e.g. 127.0.0.1:8443 (port 0: any free port).
    #[arg(long)]
    http_bind: Option<std::net::SocketAddr>,
    /// UDP media address, e.g. 127.0.0.1:50000 (port 0: any free port).
    #[arg(long)]
    media_bind: Option<std::net::SocketAddr>,
    /// The URL people open, used in invite links.
    #[arg(long)]
    public_url: Option<String>,
}

/// `plenum invite --name …` issues a link; `plenum invite list|revoke` manage them.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct InviteArgs {
    #[command(subcommand)]
    action: Option<InviteAction>,
    /// Room id.
    #[arg(long, default_value = invite::DEMO_ROOM)]
    room: String,
    /// The participant's display name.
    #[arg(long, required = true)]
    name: Option<String>,
    /// admin, moderator, delegate, guest_speaker or observer.
    #[arg(long, default_value = "delegate")]
    role: Role,
    /// Validity in hours (default: invites.valid_hours).
    #[arg(long)]
    valid_hours: Option<u64>,
    /// The URL people open (default: from the configuration).
    #[arg(long)]
    public_url: Option<String>,
    /// Issue this many invites, named "NAME 1" … "NAME N" (one link per line).
    #[arg(long, default_value_t = 1)]
    count: u32,
}

#[derive(Debug, Subcommand)]
enum InviteAction {
    /// List a room's invites (id, role, state, name; no tokens).
    List {
        /// Room id.
        #[arg(long, default_value = invite::DEMO_ROOM)]
        room: String,
    },
    /// Revoke an invite: it admits nobody any more, and a running server ends its live
    /// session within seconds.
    Revoke {
        /// The invite's id (from `plenum invite list`).
        #[arg(long)]
        id: String,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let serve_args = match &cli.command {
        Some(Cmd::Serve(a)) => Some(a),
        _ => None,
    };
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        http: HttpOverrides {
            bind: serve_args.and_then(|a| a.http_bind),
            public_url: serve_args.and_then(|a| a.public_url.clone()),
        },
        media: MediaOverrides {
            bind: serve_args.and_then(|a| a.media_bind),
        },
    };
    let config = config::load(cli.config.as_deref(), &overrides)
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log.filter)
                .context("log.filter is not a valid filter")?,
        )
        .with_writer(std::io::stderr)
        .init();

    match cli.command {
        Some(Cmd::Invite(args)) => print_invite(&config, args),
        Some(Cmd::Member(cmd)) => member_command(&config, cmd),
        Some(Cmd::Unit(cmd)) => unit_command(&config, cmd),
        Some(Cmd::Room(cmd)) => room_command(&config, cmd),
        Some(Cmd::Backup { file }) => {
            refuse_with_postgres(&config, "backup", "pg_dump")?;
            let db = config.data_dir.join("plenum.db");
            if !db.exists() {
                bail!("no database at {}", db.display());
            }
            // Without migrating: the running server may be another version.
            let store = SqliteStore::open_current(&db).context("cannot open the database")?;
            warn_open_secret_polls(&store)?;
            let copied = store.backup_to(&file)?;
            println!(
                "backup written: {} ({} bytes, schema version {})",
                file.display(),
                copied.bytes,
                copied.schema_version
            );
            Ok(())
        }
        Some(Cmd::Cluster(cmd)) => cluster_command(cmd),
        Some(Cmd::Restore { file }) => {
            refuse_with_postgres(&config, "restore", "pg_restore")?;
            plenum_signalling::storage::secure_dir(&config.data_dir)?;
            let db = config.data_dir.join("plenum.db");
            let (copied, kept) = plenum_signalling::storage::restore(&db, &file, system_clock())?;
            if let Some(kept) = kept {
                println!("the database as it was: {}", kept.display());
            }
            println!(
                "restored {} into {} (schema version {} migrated to this version)",
                file.display(),
                db.display(),
                copied.schema_version
            );
            Ok(())
        }
        Some(Cmd::Serve(_)) | None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(serve(config))
        }
    }
}

/// Two copies of the database taken while a secret poll is open differ by the votes cast in
/// between and can link those voters to their choices (docs/ballot.md): say so on stderr.
fn warn_open_secret_polls(store: &dyn Store) -> Result<()> {
    for room in store.rooms()? {
        for poll in store.polls(&room.id)? {
            let secret = plenum_signalling::serde_json::from_str::<
                plenum_signalling::ballot::PollSpec,
            >(&poll.spec)
            .is_ok_and(|s| s.secret);
            if secret && poll.state == plenum_signalling::ballot::PollState::Open {
                eprintln!(
                    "warning: the secret poll {} in room {} is open. Every acknowledged vote is \
                     in this backup, but two backups taken while it is open can together reveal \
                     the choices of those who voted in between: keep only one of them, or back \
                     up again after the poll is closed (docs/ballot.md, docs/operations.md).",
                    poll.id, room.id
                );
            }
        }
    }
    Ok(())
}

/// `plenum backup` and `restore` copy the SQLite file; PostgreSQL has its own tools.
fn cluster_command(cmd: ClusterCmd) -> Result<()> {
    match cmd {
        ClusterCmd::Ca { dir } => {
            let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
            if cert.exists() || key.exists() {
                bail!("{} holds a CA already", dir.display());
            }
            std::fs::create_dir_all(&dir)?;
            let ca = plenum_cluster::generate_ca()?;
            plenum_signalling::tls::write_private(&key, ca.key_pem().as_bytes())?;
            std::fs::write(&cert, ca.cert_pem())?;
            println!("cluster CA: {} (key {})", cert.display(), key.display());
        }
        ClusterCmd::Cert { dir, node } => {
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(f))
                    .with_context(|| format!("cannot read {}", dir.join(f).display()))
            };
            let ca = plenum_cluster::ClusterCa::from_pem(&read("ca.pem")?, &read("ca.key")?)?;
            let tls = ca.issue(&node)?;
            let (cert, key) = (
                dir.join(format!("{node}.pem")),
                dir.join(format!("{node}.key")),
            );
            tls.write_files(&dir.join("ca.pem"), &cert, &key)?;
            println!("node {node}: {} (key {})", cert.display(), key.display());
        }
    }
    Ok(())
}

fn refuse_with_postgres(config: &Config, command: &str, tool: &str) -> Result<()> {
    if config.database.postgres_url().is_some() {
        bail!(
            "the database is PostgreSQL ([database] url): plenum {command} works on the embedded \
             SQLite database only; use PostgreSQL's {tool} instead (docs/operations.md, \
             PostgreSQL)"
        );
    }
    Ok(())
}

/// Open the database (PostgreSQL if `[database] url` is set, else SQLite in the data
/// directory) and the token key in the data directory, creating what is missing.
fn open_data(config: &Config) -> Result<(Arc<dyn Store>, TokenKeys)> {
    let dir = &config.data_dir;
    // Owner-only: the database, its WAL, the token key and the TLS key live here.
    plenum_signalling::storage::secure_dir(dir)?;
    let store: Arc<dyn Store> = match config.database.postgres_url() {
        Some(url) => Arc::new(PgStore::open(url).context("cannot open the PostgreSQL database")?),
        None => {
            Arc::new(SqliteStore::open(&dir.join("plenum.db")).context("cannot open the database")?)
        }
    };
    let keys = TokenKeys::new(&token_secret(&dir.join("token.key"))?);
    Ok((store, keys))
}

/// The bearer token of `/metrics`: configured, or created once in the data directory.
fn metrics_token(config: &Config) -> Result<String> {
    if let Some(t) = &config.metrics.token {
        return Ok(t.clone());
    }
    let path = config.data_dir.join("metrics.token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_owned());
    }
    let bytes: [u8; 32] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    plenum_signalling::tls::write_private(&path, token.as_bytes())?;
    Ok(token)
}

/// The HMAC secret for access tokens: 32 random bytes, created once, owner-readable only.
fn token_secret(path: &Path) -> Result<Vec<u8>> {
    if path.exists() {
        let secret =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        if secret.len() < 32 {
            bail!("{} is shorter than 32 bytes", path.display());
        }
        return Ok(secret);
    }
    let secret: [u8; 32] = rand::random();
    plenum_signalling::tls::write_private(path, &secret)?;
    Ok(secret.to_vec())
}

fn print_invite(config: &Config, args: InviteArgs) -> Result<()> {
    let (store, keys) = open_data(config)?;
    match args.action {
        Some(InviteAction::List { room }) => {
            for i in store.invites(&room)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    i.id,
                    i.role.as_str(),
                    if i.revoked { "revoked" } else { "valid" },
                    i.name
                );
            }
            return Ok(());
        }
        Some(InviteAction::Revoke { id }) => {
            if !store.revoke_invite(&id)? {
                bail!("no valid invite {id}");
            }
            println!("revoked {id}");
            return Ok(());
        }
        None => {}
    }
    let base = args.name.context("--name is required")?;
    let hours = args.valid_hours.unwrap_or(config.invites.valid_hours);
    let url = args.public_url.unwrap_or_else(|| link_base(config));
    let now = system_clock();
    for i in 1..=args.count {
        let name = if args.count == 1 {
            base.clone()
        } else {
            format!("{base} {i}")
        };
        let invite = invite::issue(
            store.as_ref(),
            &keys,
            &args.room,
            &name,
            args.role,
            now,
            hours * 3600,
        )?;
        println!("{}", invite.link(&url));
    }
    Ok(())
}

fn member_command(config: &Config, cmd: MemberCmd) -> Result<()> {
    let (store, _) = open_data(config)?;
    match cmd {
        MemberCmd::Import {
            file,
            scope,
            dry_run,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let scope = match scope {
                Some(s) => s,
                None => root_unit(store.as_ref())?,
            };
            let plan = plenum_directory::import_members(store.as_ref(), &bytes, &scope, dry_run)?;
            for e in &plan.errors {
                println!("line {}: {}", e.line, e.reason);
            }
            let applied = !dry_run && plan.errors.is_empty();
            println!(
                "{} new, {} changed, {} left, {} unchanged, {} errors: {}",
                plan.new.len(),
                plan.changed.len(),
                plan.left.len(),
                plan.unchanged,
                plan.errors.len(),
                if applied {
                    "imported"
                } else if dry_run {
                    "dry run, nothing changed"
                } else {
                    "nothing changed"
                }
            );
            if !plan.errors.is_empty() {
                bail!("the file has errors; nothing was imported");
            }
        }
        MemberCmd::Activation { number, public_url } => {
            let url = public_url.unwrap_or_else(|| link_base(config));
            let Some(secret) = plenum_signalling::account::issue_activation(
                store.as_ref(),
                &number,
                system_clock(),
            )?
            else {
                bail!("no active member with number {number}");
            };
            println!(
                "{}",
                plenum_signalling::account::activation_link(&url, &secret)
            );
        }
        MemberCmd::Admin {
            number,
            unit,
            remove,
        } => store.set_admin(&number, &unit, !remove)?,
    }
    Ok(())
}

/// Where the running (or last) server said people reach it; written at every start.
const PUBLIC_URL_FILE: &str = "public_url";

/// The URL that links printed by the CLI start with: the configured `http.public_url`, else
/// the one the server recorded when it last started (its flags and bound port included), else
/// one derived from `http.bind`.
fn link_base(config: &Config) -> String {
    if config.http.public_url.is_none()
        && let Ok(recorded) = std::fs::read_to_string(config.data_dir.join(PUBLIC_URL_FILE))
        && !recorded.trim().is_empty()
    {
        return recorded.trim().to_owned();
    }
    config.public_url(config.http.bind)
}

/// The organisation's root unit.
fn root_unit(store: &dyn Store) -> Result<String> {
    store
        .units()?
        .into_iter()
        .find(|u| u.parent.is_none())
        .map(|u| u.id)
        .context("the organisation has no units yet: plenum unit put --id … --name …")
}

fn unit_command(config: &Config, cmd: UnitCmd) -> Result<()> {
    use plenum_signalling::org::Unit;
    let (store, _) = open_data(config)?;
    match cmd {
        UnitCmd::Put { id, name, parent } => {
            plenum_signalling::org::put_unit(store.as_ref(), &Unit { id, name, parent })?;
        }
        UnitCmd::List => {
            for u in store.units()? {
                println!(
                    "{}\t{}\t{}",
                    u.id,
                    u.parent.as_deref().unwrap_or("-"),
                    u.name
                );
            }
        }
    }
    Ok(())
}

fn room_command(config: &Config, cmd: RoomCmd) -> Result<()> {
    let (store, _) = open_data(config)?;
    match cmd {
        RoomCmd::Create { id, name } => {
            plenum_signalling::org::validate_id("room", &id)?;
            plenum_signalling::org::validate_text("name", &name)?;
            store.create_room(&plenum_signalling::storage::RoomRecord {
                id,
                name,
                created_at: system_clock(),
            })?;
        }
        RoomCmd::Assign { room, number, role } => {
            plenum_signalling::roster::assign_member(
                store.as_ref(),
                &room,
                &number,
                role,
                system_clock(),
            )?;
        }
    }
    Ok(())
}

/// Print a line to stdout; a closed stdout (the reader went away) is not an error worth
/// stopping the server for.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// The demo's sign-in lines: invite links, then the members' activation links.
fn demo_lines(
    url: &str,
    invites: &[Invite],
    sign_ins: &[plenum_signalling::demo::DemoSignIn],
) -> Vec<String> {
    let mut lines: Vec<String> = invites
        .iter()
        .map(|i| {
            format!(
                "  {}  {}  {}",
                i.record.role.as_str(),
                i.record.name,
                i.link(url)
            )
        })
        .collect();
    lines.push(format!(
        "plenum: demo organisation: {} members in 16 Landesverbände; members sign in at {url}/ after activating:",
        plenum_signalling::demo::MEMBERS
    ));
    lines.extend(sign_ins.iter().map(|s| {
        format!(
            "  {}  {} ({})  {}",
            s.role,
            s.name,
            s.number,
            plenum_signalling::account::activation_link(url, &s.secret)
        )
    }));
    lines
}

/// The file that holds the demo's links when stdout is no terminal.
const DEMO_LINKS_FILE: &str = "demo-links.txt";

/// Links sign people in: on a terminal they are printed; otherwise (a service whose output
/// goes to the journal) they go to an owner-only file in the data directory, and only its
/// path is printed.
fn show_secret_lines(data_dir: &Path, lines: &[String]) -> Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        for l in lines {
            say(l);
        }
        return Ok(());
    }
    let path = data_dir.join(DEMO_LINKS_FILE);
    let mut text = lines.join("\n");
    text.push('\n');
    plenum_signalling::tls::write_private(&path, text.as_bytes())?;
    say(&format!(
        "plenum: demo links (they sign people in: keep them private) are in {}",
        path.display()
    ));
    Ok(())
}

async fn serve(config: Config) -> Result<()> {
    let (store, mut keys) = open_data(&config)?;
    let role = config.cluster.role;
    if role == ClusterRole::Edge
        && let Some(path) = &config.cluster.token_key
    {
        // The origin's key: its access tokens work at this edge.
        keys = TokenKeys::new(&token_secret(path)?);
    }
    let cluster_tls = match role {
        ClusterRole::None => None,
        _ => {
            let c = &config.cluster;
            let (Some(ca), Some(cert), Some(key)) = (&c.ca, &c.cert, &c.key) else {
                bail!("[cluster] needs ca, cert and key (docs/cluster.md)");
            };
            Some(
                NodeTls::from_files(ca, cert, key)
                    .context("cannot read the cluster certificates")?,
            )
        }
    };
    let origin_sink = Arc::new(plenum_signalling::cluster::OriginSink::default());
    let edge_sink = Arc::new(plenum_signalling::cluster::EdgeSink::default());
    let relay_sink: Option<Arc<dyn plenum_sfu::relay::RelaySink>> = match role {
        ClusterRole::None => None,
        ClusterRole::Origin => Some(origin_sink.clone()),
        ClusterRole::Edge => Some(edge_sink.clone()),
    };
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;

    let slots = SlotLayout {
        stage: config.media.stage_slots.min(1),
        tiles: config.media.tile_slots,
        audio: config.media.audio_slots,
    };
    let (sfu_events_tx, sfu_events) = tokio::sync::mpsc::unbounded_channel();
    let (sfu, sfu_task) = plenum_sfu::spawn(
        MediaConfig {
            bind: config.media.bind,
            public_addresses: config.media.public_addresses.clone(),
            workers: config.media.workers,
            ice_tcp: config.media.ice_tcp,
            bandwidth_estimation: config.media.bandwidth_estimation,
            udp_offload: config.media.udp_offload,
            flush_coalesce: std::time::Duration::from_millis(config.media.flush_coalesce_ms),
            start_estimate: config.media.start_estimate_kbps.saturating_mul(1000),
            slots,
            router: RouterConfig::default(),
            relay_sink,
        },
        sfu_events_tx,
    )
    .await?;
    let store_dyn = store.clone();
    // Every plugin of this server, in one place.
    let plugins = Registry::new()
        .with(plenum_chat::registration(config.chat))
        .with(plenum_reports::notes::registration());
    let rooms = Arc::new(
        Rooms::new(
            store_dyn.clone(),
            sfu.clone(),
            slots,
            plenum_signalling::system_clock_ms,
            plugins,
        )
        .with_max_participants(config.http.max_room_participants),
    );
    let presence = rooms.presence();
    // An edge's media plane carries only relayed rooms: its events go to the edge.
    let mut sfu_events = Some(sfu_events);
    if role != ClusterRole::Edge
        && let Some(events) = sfu_events.take()
    {
        tokio::spawn(rooms.clone().dispatch_sfu_events(events));
    }
    let mut cluster_line = String::new();
    let mut cluster = None;
    // The origin's QUIC endpoint lives as long as the server.
    let mut origin_node = None;

    tokio::spawn(rooms.clone().watch_revocations(Duration::from_secs(2)));

    let tls = if config.http.tls {
        let (cert, key) = config.tls_paths();
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if let Some(host) = config
            .http
            .public_url
            .as_deref()
            .and_then(|u| u.split("://").nth(1))
            .and_then(|rest| rest.split(['/', ':']).next())
        {
            hosts.push(host.to_owned());
        }
        if plenum_signalling::tls::ensure_self_signed(&cert, &key, &hosts)? {
            info!("created a self-signed certificate in {}", cert.display());
        }
        TlsSetup::Files { cert, key }
    } else {
        TlsSetup::Off
    };

    // Bind first so a port of 0 resolves before the public URL and origins are derived.
    let listener = std::net::TcpListener::bind(config.http.bind)
        .with_context(|| format!("cannot bind {}", config.http.bind))?;
    let bound = listener.local_addr()?;
    let public_url = config.public_url(bound);
    if let (ClusterRole::Origin, Some(tls)) = (role, cluster_tls.clone()) {
        let (node, connected) = OriginNode::bind_as(
            config.cluster.listen,
            tls,
            config.cluster.node.clone(),
            Some(public_url.clone()),
        )
        .await
        .with_context(|| format!("cannot bind the cluster port {}", config.cluster.listen))?;
        cluster_line = format!(", cluster origin {}", node.local_addr());
        if config.cluster.edge_urls.is_empty() {
            tracing::warn!(
                "[cluster] edge_urls is empty: viewers are placed at whatever URL a connected \
                 edge announces (docs/cluster.md, Trust model)"
            );
        }
        let origin = Origin::with_allowed_urls(
            rooms.clone(),
            sfu.clone(),
            origin_sink.clone(),
            config.cluster.edge_urls.clone(),
        );
        tokio::spawn(origin.clone().run(connected));
        origin_node = Some(node);
        cluster = Some(Node::Origin(origin));
    }
    if let (ClusterRole::Edge, Some(tls)) = (role, cluster_tls) {
        let Some(origin) = config.cluster.origin.as_deref() else {
            bail!("an edge needs [cluster] origin (the origin's cluster address)");
        };
        let origin = tokio::net::lookup_host(origin)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .with_context(|| format!("[cluster] origin {origin:?} is not a reachable host:port"))?;
        let (node, link_events) = EdgeNode::start(
            origin,
            &config.cluster.origin_name,
            tls,
            config.cluster.node.clone(),
            Some(public_url.clone()),
        )
        .context("cannot start the link to the origin")?;
        cluster_line = format!(", cluster edge of {origin}");
        let edge = Edge::new(
            node,
            sfu.clone(),
            edge_sink.clone(),
            config.cluster.capacity,
        );
        if let Some(events) = sfu_events.take() {
            tokio::spawn(edge.clone().run(link_events, events));
        }
        cluster = Some(Node::Edge(edge));
    }
    plenum_signalling::tls::write_private(
        &config.data_dir.join(PUBLIC_URL_FILE),
        public_url.as_bytes(),
    )?;
    let state = Arc::new(AppState {
        keys: keys.clone(),
        store: store_dyn.clone(),
        rooms: rooms.clone(),
        allowed_origins: config.allowed_origins(&public_url),
        metrics: Some(metrics),
        clock: system_clock,
        whip: Default::default(),
        turn: config.turn.clone(),
        org_plugins: plenum_signalling::org_plugin::OrgRegistry::new()
            .with(plenum_signalling::events::Events::new(
                keys.clone(),
                presence,
                config.invites.valid_hours * 3600,
            ))
            .with(plenum_directory::Directory::new(config.directory))
            .with(plenum_reports::Reports::new(&config.reports)),
        metrics_token: metrics_token(&config)?,
        hsts: config.http.tls && !plenum_signalling::is_local_url(&public_url),
        public_url: public_url.clone(),
        mailer: plenum_signalling::mail::Mailer::new(&config.mail)
            .context("cannot set up mail")?
            .map(Arc::new),
        cluster,
        edge_sessions: Default::default(),
        limits: plenum_signalling::limits::Limits::new(
            Duration::from_secs(config.http.join_timeout_secs),
            config.http.max_pending_connections,
            config.http.command_burst,
            config.http.commands_per_sec,
        ),
    });
    tokio::spawn(plenum_signalling::gdpr::run_retention(
        state.clone(),
        config.retention,
    ));
    let running =
        plenum_signalling::serve(listener, tls, plenum_signalling::app(state.clone())).await?;
    // The demo is complete before anything is printed: whoever acts on the printed links
    // (a person, a test) finds the whole demo organisation in place.
    let valid = config.invites.valid_hours * 3600;
    let demo = match invite::create_demo(store.as_ref(), &keys, system_clock(), valid)? {
        Some((room, invites)) => {
            let sign_ins = plenum_signalling::demo::seed(store.as_ref(), &room.id, system_clock())?;
            Some((room, invites, sign_ins))
        }
        None => None,
    };
    say(&format!(
        "plenum: listening on {public_url} ({} {bound}, media udp {}{}{cluster_line})",
        if config.http.tls { "https" } else { "http" },
        sfu.local_addr(),
        match sfu.tcp_addr() {
            Some(_) => " and tcp",
            None => "",
        }
    ));
    match demo {
        Some((room, invites, sign_ins)) => {
            say(&format!(
                "plenum: demo congress created: {} (room {})",
                room.name, room.id
            ));
            show_secret_lines(
                &config.data_dir,
                &demo_lines(&public_url, &invites, &sign_ins),
            )?;
        }
        None => say(&format!(
            "plenum: new invite links: plenum invite --room {} --name NAME --role delegate",
            invite::DEMO_ROOM
        )),
    }

    shutdown_signal().await;
    info!("shutting down");
    // Close the links between nodes now, so the others notice at once instead of after the
    // idle timeout.
    if let Some(node) = origin_node.take() {
        node.close();
    }
    if let Some(Node::Edge(edge)) = &state.cluster {
        edge.close();
    }
    running.shutdown(Duration::from_secs(5)).await;
    drop(sfu);
    sfu_task.stop().await;
    // Leave no WAL frames (SQLite) or dead row versions (PostgreSQL) behind, e.g. of votes
    // in an open secret poll.
    if let Err(e) = store.compact() {
        tracing::warn!("compacting the database at shutdown failed: {e}");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

//! A `plenum` server process for integration tests: a fresh data directory, ports chosen
//! by the OS on 127.0.0.1, its printed demo links parsed, killed on drop.
#![allow(dead_code, clippy::unwrap_used)]

pub mod org;
pub mod pg;
pub mod polls;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct TestServer {
    child: Child,
    pub data_dir: PathBuf,
    /// Environment of every start and CLI run (e.g. the PostgreSQL URL).
    env: Vec<(String, String)>,
    /// The server's PostgreSQL database, if it runs on one (dropped with the server).
    pub pg: Option<pg::PgDatabase>,
    pub url: String,
    /// (role, name, link) of the demo invites, in printed order.
    pub links: Vec<(String, String, String)>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_on(None)
    }

    /// Like [`TestServer::start`], on a fresh PostgreSQL database of its own instead of
    /// SQLite (`[database] url`); `None` (the test is skipped, loudly) only where no
    /// PostgreSQL is configured and none is required (see [`pg::PgDatabase::create`]).
    pub fn start_postgres() -> Option<Self> {
        Some(Self::start_on(Some(pg::PgDatabase::create()?)))
    }

    fn start_on(pg: Option<pg::PgDatabase>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let data_dir = std::env::temp_dir().join(format!(
            "plenum-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).unwrap();
        let env: Vec<(String, String)> = pg
            .iter()
            .map(|db| ("PLENUM_DATABASE__URL".to_owned(), db.url.clone()))
            .collect();
        let (child, url, links) = spawn(&data_dir, 3, None, &env);
        Self {
            child,
            data_dir,
            env,
            pg,
            url,
            links,
        }
    }

    /// Like [`TestServer::start`], with debug logging written to `server.log` (see
    /// [`TestServer::log`]).
    pub fn start_logged() -> Self {
        Self::restarted(true, &[])
    }

    /// Like [`TestServer::start`], then restarted with extra environment (configuration).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        Self::restarted(false, env)
    }

    /// Started once (the demo is seeded), then again with `env` and, if `logged`, a log.
    pub fn restarted(logged: bool, env: &[(&str, &str)]) -> Self {
        let mut server = Self::start();
        let _ = server.child.kill();
        let _ = server.child.wait();
        let log =
            logged.then(|| std::fs::File::create(server.data_dir.join("server.log")).unwrap());
        let env: Vec<(String, String)> = server
            .env
            .iter()
            .cloned()
            .chain(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let (child, url, _) = spawn(&server.data_dir, 0, log, &env);
        server.child = child;
        server.url = url;
        // Later restarts keep the configuration.
        server.env = env;
        server
    }

    /// What a server from [`TestServer::start_logged`] logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// `count` new invites (one `plenum invite --count` run); returns their tokens.
    pub fn invite_many(&self, name: &str, role: &str, count: usize) -> Vec<String> {
        let count = count.to_string();
        self.cli(&[
            "invite", "--room", "demo", "--name", name, "--role", role, "--count", &count,
        ])
        .lines()
        .filter_map(|l| l.split("#token=").nth(1))
        .map(|t| t.trim().to_owned())
        .collect()
    }

    /// Stop the server (SIGKILL: no chance to flush anything) and start it again on the same
    /// data directory. The URL changes (new port); tokens stay valid. A logged server goes
    /// on logging into the same file.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data_dir.join("server.log"))
            .ok();
        let (child, url, _) = spawn(&self.data_dir, 0, log, &self.env);
        self.child = child;
        self.url = url;
    }

    /// Kill the server (SIGKILL) and leave it dead.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop the server the way an init system does (SIGTERM) and wait until it has exited.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "plenum exited with {exit}");
    }

    /// The token of the i-th demo link.
    pub fn token(&self, i: usize) -> String {
        self.links[i].2.split("#token=").nth(1).unwrap().to_owned()
    }

    /// The server's self-signed certificate.
    /// A load-test participant of this server with invite `token` (trusting its
    /// certificate; media generated from `seed`).
    pub fn participant_with(&self, token: &str, seed: u64) -> plenum_loadtest::ParticipantConfig {
        let mut c = plenum_loadtest::ParticipantConfig::new(&self.url, token);
        c.ca_pem = Some(self.ca_pem());
        c.seed = seed;
        c
    }

    /// A participant with the `i`th demo token.
    pub fn participant(&self, i: usize) -> plenum_loadtest::ParticipantConfig {
        self.participant_with(&self.token(i), i as u64 + 1)
    }

    /// The moderator (the first demo link) joined, talking all the time and sending the load
    /// tester's three VP8 layers.
    pub async fn join_talking_moderator(&self) -> plenum_loadtest::Participant {
        let mut cfg = self.participant(0);
        cfg.talk = plenum_loadtest::synth::Talk::Always;
        plenum_loadtest::Participant::join(cfg).await.unwrap()
    }

    /// The server's `/metrics` bearer token.
    pub fn metrics_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("metrics.token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_dir.join("tls/cert.pem")).unwrap()
    }

    /// Run the `plenum` CLI on this server's data directory; its stdout (it must succeed).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.cli_output(args);
        assert!(
            out.status.success(),
            "plenum {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run the CLI against this server's data directory, whatever its exit status.
    pub fn cli_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_plenum"))
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("PLENUM_LOG__FILTER", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    /// Run `plenum invite` against this server's data directory; returns the token.
    pub fn invite(&self, name: &str, role: &str, extra: &[&str]) -> String {
        let mut args = vec!["invite", "--room", "demo", "--name", name, "--role", role];
        args.extend_from_slice(extra);
        let link = self.cli(&args);
        link.trim().split("#token=").nth(1).unwrap().to_owned()
    }
}

/// Start `plenum serve` on `data_dir`; wait for its URL and `links` demo links.
fn spawn(
    data_dir: &PathBuf,
    links_expected: usize,
    log: Option<std::fs::File>,
    env: &[(String, String)],
) -> (Child, String, Vec<(String, String, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plenum"))
        .args([
            "serve",
            "--http-bind",
            "127.0.0.1:0",
            "--media-bind",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env(
            "PLENUM_LOG__FILTER",
            if log.is_some() {
                "debug,str0m=info,is=info,dimpl=info"
            } else {
                "warn"
            },
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(log.map_or_else(Stdio::inherit, Stdio::from))
        .spawn()
        .expect("start plenum");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut url = None;
    let mut links = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while url.is_none() || links.len() < links_expected {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "plenum printed its URL and links in time: {e}; it exited with {status:?} \
                     (its stderr is in the test's output)"
                )
            }
        };
        if let Some(rest) = line.strip_prefix("plenum: listening on ") {
            // "URL (https ADDR, media …)": the public URL; behind a configured public name
            // the bound address is the one to connect to.
            let public = rest.split_whitespace().next().unwrap();
            let bound = rest
                .split("(https ")
                .nth(1)
                .and_then(|r| r.split(',').next());
            url = Some(match bound {
                Some(addr) if !public.contains("127.0.0.1") => format!("https://{addr}"),
                _ => public.to_owned(),
            });
        } else if let Some((_, path)) = line
            .strip_prefix("plenum: demo links")
            .and_then(|rest| rest.split_once(" are in "))
        {
            // Not a terminal: the server wrote the links to an owner-only file.
            for l in std::fs::read_to_string(path.trim()).unwrap().lines() {
                if l.starts_with("  ") && l.contains("/join#token=") {
                    let parts: Vec<&str> = l.trim().split("  ").collect();
                    links.push((
                        parts[0].to_owned(),
                        parts[1].to_owned(),
                        parts[parts.len() - 1].to_owned(),
                    ));
                }
            }
        }
    }
    (child, url.expect("listening line"), links)
}

/// A WebSocket client of `server`, joined with `token`; with its join result.
pub async fn join(
    server: &TestServer,
    token: &str,
) -> (plenum_loadtest::SignalClient, serde_json::Value) {
    let c =
        plenum_loadtest::SignalClient::connect(&server.url, &server.url, Some(&server.ca_pem()))
            .await
            .unwrap();
    let joined = c
        .request("join", serde_json::json!({ "protocol": 1, "token": token }))
        .await
        .unwrap();
    (c, joined)
}

/// Send `cmd` and assert it fails with `code` and a message.
/// Join once with each of `tokens`, in order.
pub async fn join_each(
    server: &TestServer,
    tokens: &[String],
) -> Vec<plenum_loadtest::SignalClient> {
    let mut clients = Vec::new();
    for t in tokens {
        clients.push(join(server, t).await.0);
    }
    clients
}

pub async fn expect_error(
    c: &plenum_loadtest::SignalClient,
    cmd: &str,
    args: serde_json::Value,
    code: &str,
) {
    let answer = c.request_raw(cmd, args).await.unwrap();
    assert_eq!(answer["ok"], serde_json::json!(false), "{cmd}: {answer}");
    assert_eq!(
        answer["error"]["code"],
        serde_json::json!(code),
        "{cmd}: {answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{cmd}: {answer}"
    );
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The text of a PDF by `pdftotext` (poppler-utils), with `-layout` if asked; the file is
/// kept beside the test run as `name` for a look (target/tmp/…).
pub fn pdf_text(bytes: &[u8], name: &str, layout: bool) -> String {
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&file, bytes).unwrap();
    let mut cmd = Command::new("pdftotext");
    if layout {
        cmd.arg("-layout");
    }
    let out = cmd
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    assert!(out.status.success(), "pdftotext failed on {name}");
    String::from_utf8(out.stdout).unwrap()
}

//! A cascade on loopback for a run (docs/cluster.md): the server started as the origin and
//! `n` edge nodes beside it, each with its own data directory, certificates of one cluster CA
//! (made with `plenum cluster ca` / `plenum cluster cert`) and `PLENUM_CLUSTER__*`
//! environment; and the origin's placement (`GET /api/cluster/placement/{room}`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::{SpawnedServer, https_request, scrape};

/// The origin's node name (and the name edges expect in its certificate).
pub const ORIGIN: &str = "origin";

/// The name of edge `i` (0-based): `edge-a`, `edge-b`, …, then `edge-26`, ….
pub fn edge_name(i: usize) -> String {
    match u8::try_from(i).ok().filter(|i| *i < 26) {
        Some(i) => format!("edge-{}", char::from(b'a' + i)),
        None => format!("edge-{i}"),
    }
}

/// One node of the run as the load tester sees it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Node name (`origin`, `edge-a`, …).
    pub name: String,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// Its HTTPS certificate (every node has its own self-signed one).
    pub ca_pem: Vec<u8>,
    /// Its `/metrics` bearer token.
    pub metrics_token: String,
    /// Its pid (CPU and memory from /proc).
    pub pid: Option<u32>,
}

impl NodeInfo {
    fn of(name: &str, server: &SpawnedServer) -> Result<Self, String> {
        Ok(Self {
            name: name.to_owned(),
            url: server.url.clone(),
            ca_pem: server.ca_pem()?,
            metrics_token: server.metrics_token()?,
            pid: Some(server.pid()),
        })
    }
}

/// An origin and its edges, started for a run (all killed, their directories removed, on
/// drop).
#[derive(Debug)]
pub struct SpawnedCluster {
    /// The origin: hosts the room, takes the publisher and the invites.
    pub origin: SpawnedServer,
    /// The edges, in name order (`edge-a`, `edge-b`, …).
    pub edges: Vec<(String, SpawnedServer)>,
    cert_dir: PathBuf,
}

fn cli(bin: &Path, args: &[&str], dir: &Path) -> Result<(), String> {
    let out = Command::new(bin)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("PLENUM_LOG__FILTER", "warn")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "plenum {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The `PLENUM_CLUSTER__*` certificate settings of `node` (files from `plenum cluster cert`).
fn tls_env(dir: &Path, node: &str) -> Vec<(String, String)> {
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    vec![
        ("PLENUM_CLUSTER__NODE".into(), node.into()),
        ("PLENUM_CLUSTER__CA".into(), path("ca.pem")),
        ("PLENUM_CLUSTER__CERT".into(), path(&format!("{node}.pem"))),
        ("PLENUM_CLUSTER__KEY".into(), path(&format!("{node}.key"))),
    ]
}

impl SpawnedCluster {
    /// Make a cluster CA and node certificates with `bin`, start `bin` as the origin (its
    /// cluster port chosen by the system) and `edges` edges of it, all on `bind_ip`.
    pub fn start(
        bin: &Path,
        bind_ip: &str,
        cpus: Option<&[usize]>,
        edges: usize,
    ) -> Result<Self, String> {
        let cert_dir =
            std::env::temp_dir().join(format!("plenum-loadtest-{}-ca", std::process::id()));
        let _ = std::fs::remove_dir_all(&cert_dir);
        cli(bin, &["cluster", "ca"], &cert_dir)?;
        let names: Vec<String> = (0..edges).map(edge_name).collect();
        for node in std::iter::once(ORIGIN).chain(names.iter().map(String::as_str)) {
            cli(bin, &["cluster", "cert", "--node", node], &cert_dir)?;
        }
        let mut env = tls_env(&cert_dir, ORIGIN);
        env.push(("PLENUM_CLUSTER__ROLE".into(), "origin".into()));
        env.push(("PLENUM_CLUSTER__LISTEN".into(), format!("{bind_ip}:0")));
        let origin = SpawnedServer::start_node(bin, bind_ip, cpus, ORIGIN, &env)?;
        let mut cluster = Self {
            origin,
            edges: Vec::new(),
            cert_dir,
        };
        let addr = cluster
            .origin
            .cluster_addr
            .ok_or("the origin did not say its cluster address")?;
        // The origin's token key: its invites' tokens work at the edges.
        let token_key = cluster.origin.data_dir.join("token.key");
        for name in names {
            let mut env = tls_env(&cluster.cert_dir, &name);
            env.extend([
                ("PLENUM_CLUSTER__ROLE".to_owned(), "edge".to_owned()),
                ("PLENUM_CLUSTER__ORIGIN".to_owned(), addr.to_string()),
                ("PLENUM_CLUSTER__ORIGIN_NAME".to_owned(), ORIGIN.to_owned()),
                (
                    "PLENUM_CLUSTER__TOKEN_KEY".to_owned(),
                    token_key.to_string_lossy().into_owned(),
                ),
            ]);
            let edge = SpawnedServer::start_node(bin, bind_ip, cpus, &name, &env)?;
            cluster.edges.push((name, edge));
        }
        Ok(cluster)
    }

    /// The origin as a node of the run.
    pub fn origin_info(&self) -> Result<NodeInfo, String> {
        NodeInfo::of(ORIGIN, &self.origin)
    }

    /// The edges as nodes of the run.
    pub fn edge_infos(&self) -> Result<Vec<NodeInfo>, String> {
        self.edges
            .iter()
            .map(|(name, server)| NodeInfo::of(name, server))
            .collect()
    }

    /// Wait until every edge is connected to the origin (its `plenum_cluster_edges` gauge)
    /// and placement sends a viewer with `token` to an edge (edges report their load once
    /// connected; placement skips edges that have not).
    pub async fn wait_for_edges(
        &self,
        room: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let origin = self.origin_info()?;
        let deadline = Instant::now() + timeout;
        loop {
            let edges = scrape(&origin.url, &origin.ca_pem, &origin.metrics_token)
                .await
                .map(|c| c.cluster_edges as usize)
                .unwrap_or(0);
            let last = match placement(&origin.url, &origin.ca_pem, room, token).await {
                Ok(place) if edges >= self.edges.len() && place.node != ORIGIN => return Ok(()),
                Ok(place) => format!("{edges} edges connected, placement: {}", place.node),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "the edges did not connect to the origin within {timeout:?} ({last})"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for SpawnedCluster {
    fn drop(&mut self) {
        // Edges first (servers are killed by their own drop), then the certificates.
        self.edges.clear();
        let _ = std::fs::remove_dir_all(&self.cert_dir);
    }
}

/// Where the origin places a viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The node's name (`origin` when there is no edge to send the viewer to).
    pub node: String,
    /// The node's base URL (`https://host:port`), from the answer's WHEP URL.
    pub base_url: String,
}

/// Ask the origin at `origin_url` where the holder of `token` should watch `room`.
pub async fn placement(
    origin_url: &str,
    ca_pem: &[u8],
    room: &str,
    token: &str,
) -> Result<Placement, String> {
    let auth = format!("Bearer {token}");
    let resp = https_request(
        origin_url,
        ca_pem,
        "GET",
        &format!("/api/cluster/placement/{room}"),
        &[("Authorization", &auth)],
        b"",
    )
    .await?;
    if resp.status != 200 {
        return Err(format!(
            "placement: HTTP {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ));
    }
    parse_placement(&resp.body, room)
}

/// A placement answer: `{"node": "edge-a", "whep": "https://…/whep/{room}"}`.
pub fn parse_placement(body: &[u8], room: &str) -> Result<Placement, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("placement: {e}"))?;
    let node = v["node"].as_str().ok_or("placement: no node")?;
    let whep = v["whep"].as_str().ok_or("placement: no whep URL")?;
    let base = whep
        .strip_suffix(&format!("/whep/{room}"))
        .ok_or_else(|| format!("placement: unexpected WHEP URL {whep}"))?;
    Ok(Placement {
        node: node.to_owned(),
        base_url: base.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_named_like_the_cluster_test_names_them() {
        assert_eq!(edge_name(0), "edge-a");
        assert_eq!(edge_name(1), "edge-b");
        assert_eq!(edge_name(25), "edge-z");
        assert_eq!(edge_name(26), "edge-26");
    }

    #[test]
    fn placement_answers_give_the_node_and_its_base_url() {
        let p = parse_placement(
            br#"{"node":"edge-b","whep":"https://127.0.0.1:4433/whep/demo"}"#,
            "demo",
        )
        .unwrap();
        assert_eq!(
            p,
            Placement {
                node: "edge-b".into(),
                base_url: "https://127.0.0.1:4433".into()
            }
        );
        assert!(
            parse_placement(
                br#"{"node":"edge-b","whep":"https://x/whep/other"}"#,
                "demo"
            )
            .is_err()
        );
        assert!(parse_placement(b"not json", "demo").is_err());
    }
}

//! The origin side: listen, authenticate edges, hand the server one [`EdgeConnected`] each.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use quinn::{Connection, Endpoint, VarInt};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::control::{Control, Role};
use crate::link::{self, Link, LinkInner, close_code};
use crate::tls::{NodeTls, cert_valid_for_name};
use crate::{ClusterError, HANDSHAKE_TIMEOUT};

/// Control messages from one edge queued for the server before the reader waits.
const EDGE_CONTROL_QUEUE: usize = 256;
/// New edges queued for the server.
const CONNECTED_QUEUE: usize = 64;

/// An edge that connected, proved its name and said `Hello`.
#[derive(Debug)]
pub struct EdgeConnected {
    /// The edge's node name (its certificate is issued for it).
    pub node: String,
    /// The link to the edge: send packets and control messages.
    pub link: Link,
    /// Control messages from the edge (never `Hello` or `Ping`); ends when the link closes.
    pub control_rx: mpsc::Receiver<Control>,
    /// The edge's `public_url` from its `Hello`.
    pub public_url: Option<String>,
}

type Edges = Arc<Mutex<HashMap<String, Weak<LinkInner>>>>;
type Refused = Arc<Mutex<HashSet<String>>>;

/// An origin node's QUIC endpoint. Dropping it closes every edge's link (code `SHUTDOWN`)
/// and, once the links' handles are gone, frees the port.
pub struct OriginNode {
    endpoint: Endpoint,
    local_addr: SocketAddr,
    edges: Edges,
    refused: Refused,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for OriginNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginNode")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl OriginNode {
    /// Listen on `addr` (UDP) as the node `origin`. Must be called within a tokio runtime.
    pub async fn bind(
        addr: SocketAddr,
        tls: NodeTls,
    ) -> Result<(Self, mpsc::Receiver<EdgeConnected>), ClusterError> {
        Self::bind_as(addr, tls, "origin".to_owned(), None).await
    }

    /// Listen on `addr` as the node `node`, announcing `public_url` in its `Hello`s.
    pub async fn bind_as(
        addr: SocketAddr,
        tls: NodeTls,
        node: String,
        public_url: Option<String>,
    ) -> Result<(Self, mpsc::Receiver<EdgeConnected>), ClusterError> {
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.server_crypto()?)
            .map_err(|e| ClusterError::Tls(e.to_string()))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(Arc::new(link::transport_config(Role::Origin)?));
        let endpoint =
            Endpoint::server(config, addr).map_err(|source| ClusterError::Bind { addr, source })?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|source| ClusterError::Bind { addr, source })?;
        let (tx, rx) = mpsc::channel(CONNECTED_QUEUE);
        let edges: Edges = Arc::default();
        let refused: Refused = Arc::default();
        let accept = tokio::spawn(accept_loop(
            endpoint.clone(),
            tx,
            Arc::new((node, public_url)),
            edges.clone(),
            refused.clone(),
        ));
        tracing::info!(%local_addr, "cluster origin listening");
        Ok((
            OriginNode {
                endpoint,
                local_addr,
                edges,
                refused,
                accept,
            },
            rx,
        ))
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The links of the edges connected now.
    pub fn edges(&self) -> Vec<Link> {
        let edges = self.edges.lock().unwrap_or_else(PoisonError::into_inner);
        edges
            .values()
            .filter_map(Link::upgrade)
            .filter(|l| !l.is_closed())
            .collect()
    }

    /// Refuse these node names from now on (a compromised or retired edge, without a new
    /// CA): links of those nodes are closed (code `IDENTITY`), their new connections refused
    /// after `Hello`. Replaces the previous set.
    pub fn refuse_nodes(&self, names: impl IntoIterator<Item = String>) {
        let names: HashSet<String> = names.into_iter().collect();
        for link in self.edges() {
            if names.contains(link.peer()) {
                link.close_with(close_code::IDENTITY, "node refused");
            }
        }
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = names;
    }

    /// Stop accepting and close every link (code `SHUTDOWN`), as dropping does.
    pub fn close(&self) {
        self.accept.abort();
        self.endpoint.close(
            VarInt::from_u32(close_code::SHUTDOWN),
            b"origin shutting down",
        );
    }
}

impl Drop for OriginNode {
    fn drop(&mut self) {
        self.close();
    }
}

async fn accept_loop(
    endpoint: Endpoint,
    tx: mpsc::Sender<EdgeConnected>,
    me: Arc<(String, Option<String>)>,
    edges: Edges,
    refused: Refused,
) {
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        let (tx, me, edges, refused) = (tx.clone(), me.clone(), edges.clone(), refused.clone());
        tokio::spawn(async move {
            if let Err(e) = accept_edge(incoming, tx, me, edges, refused).await {
                tracing::warn!(%remote, error = %e, "cluster edge refused");
            }
        });
    }
}

async fn accept_edge(
    incoming: quinn::Incoming,
    tx: mpsc::Sender<EdgeConnected>,
    me: Arc<(String, Option<String>)>,
    edges: Edges,
    refused: Refused,
) -> Result<(), ClusterError> {
    let timeout = |what: &str| ClusterError::Protocol(format!("{what} took too long"));
    // TLS: the edge's certificate chains to the CA (else the handshake fails here).
    let conn = tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming.accept()?)
        .await
        .map_err(|_| timeout("handshake"))??;
    let (mut send, mut recv) = tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.accept_bi())
        .await
        .map_err(|_| timeout("opening the control stream"))??;
    let (node, public_url) = link::expect_hello(&conn, &mut recv, Role::Edge).await?;
    if !peer_cert_names(&conn, &node) {
        let why = format!("certificate is not issued for {node:?}");
        conn.close(VarInt::from_u32(close_code::IDENTITY), why.as_bytes());
        return Err(ClusterError::Protocol(why));
    }
    if refused
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&node)
    {
        let why = format!("node {node:?} is refused");
        conn.close(VarInt::from_u32(close_code::IDENTITY), why.as_bytes());
        return Err(ClusterError::Protocol(why));
    }
    link::send_hello(&mut send, &me.0, Role::Origin, me.1.as_deref()).await?;
    let link = link::establish(conn.clone(), send, node.clone(), public_url.clone());
    let weak = link.downgrade();
    // A newer connection from the same node replaces the older one (an edge that restarted
    // before its old connection timed out).
    let old = edges
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(node.clone(), weak.clone());
    if let Some(old) = old.as_ref().and_then(Link::upgrade) {
        old.close_with(close_code::REPLACED, "replaced by a newer connection");
    }
    tokio::spawn(forget_when_closed(
        conn.clone(),
        node.clone(),
        weak.clone(),
        edges,
    ));
    let (control_tx, control_rx) = mpsc::channel(EDGE_CONTROL_QUEUE);
    tokio::spawn(link::control_reader(recv, weak, conn, move |c| {
        let tx = control_tx.clone();
        async move { tx.send(c).await.is_ok() }
    }));
    tracing::info!(node = %node, remote = %link.remote_address(), "cluster edge connected");
    let connected = EdgeConnected {
        node,
        link: link.clone(),
        control_rx,
        public_url,
    };
    if tx.send(connected).await.is_err() {
        link.close_with(close_code::SHUTDOWN, "origin not accepting edges");
    }
    Ok(())
}

/// Whether the edge's certificate (already verified against the CA) is issued for `node`.
fn peer_cert_names(conn: &Connection, node: &str) -> bool {
    conn.peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|certs| certs.first().map(|c| cert_valid_for_name(c, node)))
        .unwrap_or(false)
}

async fn forget_when_closed(conn: Connection, node: String, weak: Weak<LinkInner>, edges: Edges) {
    let reason = conn.closed().await;
    tracing::info!(node = %node, %reason, "cluster edge link closed");
    let mut edges = edges.lock().unwrap_or_else(PoisonError::into_inner);
    if edges.get(&node).is_some_and(|w| Weak::ptr_eq(w, &weak)) {
        edges.remove(&node);
    }
}

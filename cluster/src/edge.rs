//! The edge side: one connection to the origin, kept up forever.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use quinn::{Connection, Endpoint, RecvStream, VarInt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::control::{Control, Role};
use crate::link::{self, Link, close_code};
use crate::tls::NodeTls;
use crate::wire::RelayPacket;
use crate::{ClusterError, HANDSHAKE_TIMEOUT};

/// Reconnection timing.
pub mod backoff {
    use std::time::Duration;

    /// The wait after a lost link or the first failed attempt.
    pub const MIN: Duration = Duration::from_millis(100);
    /// The longest wait between attempts (the wait doubles from `MIN` up to this).
    pub const MAX: Duration = Duration::from_secs(2);
    /// How long one attempt (QUIC and TLS handshake, both `Hello`s) may take.
    pub const ATTEMPT: Duration = Duration::from_secs(2);
    /// How often the latest load report is sent.
    pub const LOAD_INTERVAL: Duration = Duration::from_secs(1);
}

/// Events queued for the edge's consumer. Packets that find it full are dropped (counted in
/// [`crate::LinkStats::packets_not_delivered`]); other events wait.
pub const EVENT_QUEUE: usize = 4096;

/// What the edge's consumer is told.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeEvent {
    /// A link to the origin is up: both `Hello`s done, the subscriptions and the latest load
    /// report already re-sent. Send what else the origin must know again (`LayersNeeded`).
    Connected,
    /// The link is gone; the edge reconnects by itself.
    Disconnected,
    /// A control message from the origin (never `Hello` or `Ping`).
    Control(Control),
    /// A relayed packet (only with [`EdgeNode::start`]; see
    /// [`EdgeNode::start_with_packet_handler`]).
    Packet(RelayPacket),
}

/// Called for each relayed packet on the task that reads the datagrams: it must not block.
pub type PacketHandler = Arc<dyn Fn(RelayPacket) + Send + Sync>;

#[derive(Clone)]
enum Delivery {
    Events,
    Handler(PacketHandler),
}

#[derive(Default)]
struct EdgeState {
    link: Option<Link>,
    subscriptions: BTreeSet<String>,
    load: Option<Control>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<EdgeState>,
    connects: AtomicU64,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, EdgeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The parameters of one edge's connection.
struct Target {
    origin: SocketAddr,
    server_name: String,
    node: String,
    public_url: Option<String>,
    config: quinn::ClientConfig,
}

/// An edge node's link to its origin. Dropping it closes the link and stops reconnecting.
pub struct EdgeNode {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for EdgeNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeNode")
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl EdgeNode {
    /// Connect to the origin at `origin`, whose certificate must be issued for `server_name`
    /// (its node name), as the node `node` (this node's certificate must be issued for it).
    /// Relayed packets arrive as [`EdgeEvent::Packet`] on the same queue as control messages.
    /// Errors only for a TLS configuration rustls refuses or a socket that cannot be bound;
    /// an origin that is not there is retried forever. Must be called within a tokio runtime.
    pub fn start(
        origin: SocketAddr,
        server_name: &str,
        tls: NodeTls,
        node: String,
        public_url: Option<String>,
    ) -> Result<(Self, mpsc::Receiver<EdgeEvent>), ClusterError> {
        Self::spawn(origin, server_name, tls, node, public_url, Delivery::Events)
    }

    /// As [`EdgeNode::start`], but relayed packets go to `handler`, called on the task that
    /// reads the datagrams, without queueing behind control messages (the events carry no
    /// packets).
    pub fn start_with_packet_handler(
        origin: SocketAddr,
        server_name: &str,
        tls: NodeTls,
        node: String,
        public_url: Option<String>,
        handler: PacketHandler,
    ) -> Result<(Self, mpsc::Receiver<EdgeEvent>), ClusterError> {
        Self::spawn(
            origin,
            server_name,
            tls,
            node,
            public_url,
            Delivery::Handler(handler),
        )
    }

    fn spawn(
        origin: SocketAddr,
        server_name: &str,
        tls: NodeTls,
        node: String,
        public_url: Option<String>,
        delivery: Delivery,
    ) -> Result<(Self, mpsc::Receiver<EdgeEvent>), ClusterError> {
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls.client_crypto()?)
            .map_err(|e| ClusterError::Tls(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(Arc::new(link::transport_config(Role::Edge)?));
        // Validate the name now rather than on every attempt.
        rustls::pki_types::ServerName::try_from(server_name)
            .map_err(|e| ClusterError::Tls(format!("server name {server_name:?}: {e}")))?;
        let local: SocketAddr = if origin.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let endpoint = Endpoint::client(local).map_err(|source| ClusterError::Bind {
            addr: local,
            source,
        })?;
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let shared = Arc::new(Shared::default());
        let target = Target {
            origin,
            server_name: server_name.to_owned(),
            node,
            public_url,
            config,
        };
        let task = tokio::spawn(run(
            shared.clone(),
            endpoint.clone(),
            target,
            events_tx,
            delivery,
        ));
        Ok((
            EdgeNode {
                shared,
                endpoint,
                task,
            },
            events_rx,
        ))
    }

    /// The link to the origin, while there is one.
    pub fn link(&self) -> Option<Link> {
        self.shared.state().link.clone().filter(|l| !l.is_closed())
    }

    /// Whether a link to the origin is up.
    pub fn is_connected(&self) -> bool {
        self.link().is_some()
    }

    /// How many times a link came up (1 after the first connection, +1 per reconnection).
    pub fn connects(&self) -> u64 {
        self.shared.connects.load(Ordering::Relaxed)
    }

    /// Relay `room` from the origin: sent now if connected, and again after every reconnection.
    pub fn subscribe(&self, room: &str) {
        let mut state = self.shared.state();
        if state.subscriptions.insert(room.to_owned())
            && let Some(link) = &state.link
        {
            let _ = link.send_control(Control::Subscribe {
                room: room.to_owned(),
            });
        }
    }

    /// Stop relaying `room`.
    pub fn unsubscribe(&self, room: &str) {
        let mut state = self.shared.state();
        if state.subscriptions.remove(room)
            && let Some(link) = &state.link
        {
            let _ = link.send_control(Control::Unsubscribe {
                room: room.to_owned(),
            });
        }
    }

    /// The rooms subscribed to.
    pub fn subscriptions(&self) -> Vec<String> {
        self.shared.state().subscriptions.iter().cloned().collect()
    }

    /// Set the load this edge reports: sent as `Control::Load` now, then every second and
    /// after each reconnection, until changed.
    pub fn report_load(&self, viewers: u32, capacity: u32, egress_bps: u64) {
        let load = Control::Load {
            viewers,
            capacity,
            egress_bps,
        };
        let mut state = self.shared.state();
        if let Some(link) = &state.link {
            let _ = link.send_control(load.clone());
        }
        state.load = Some(load);
    }
}

impl Drop for EdgeNode {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(link) = self.shared.state().link.take() {
            link.close_with(close_code::NORMAL, "edge shutting down");
        }
        self.endpoint
            .close(VarInt::from_u32(close_code::NORMAL), b"edge shutting down");
    }
}

/// The wait before the next attempt: `base` ± 20 %.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(rand::random_range(0.8..1.2))
}

async fn run(
    shared: Arc<Shared>,
    endpoint: Endpoint,
    target: Target,
    events: mpsc::Sender<EdgeEvent>,
    delivery: Delivery,
) {
    let mut wait = backoff::MIN;
    loop {
        match tokio::time::timeout(backoff::ATTEMPT, connect(&endpoint, &target)).await {
            Ok(Ok((link, recv, conn))) => {
                wait = backoff::MIN;
                shared.connects.fetch_add(1, Ordering::Relaxed);
                {
                    let mut state = shared.state();
                    for room in &state.subscriptions {
                        let _ = link.send_control(Control::Subscribe { room: room.clone() });
                    }
                    if let Some(load) = &state.load {
                        let _ = link.send_control(load.clone());
                    }
                    state.link = Some(link.clone());
                }
                tracing::info!(origin = %target.origin, peer = %link.peer(), "cluster link up");
                if events.send(EdgeEvent::Connected).await.is_err() {
                    link.close_with(close_code::NORMAL, "edge shutting down");
                    return;
                }
                let alive = serve(&shared, &link, recv, conn, &events, &delivery).await;
                shared.state().link = None;
                tracing::warn!(
                    origin = %target.origin,
                    reason = link.close_reason().unwrap_or_default(),
                    "cluster link down, reconnecting"
                );
                if !alive || events.send(EdgeEvent::Disconnected).await.is_err() {
                    link.close_with(close_code::NORMAL, "edge shutting down");
                    return;
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(origin = %target.origin, error = %e, "cluster connect failed")
            }
            Err(_) => tracing::debug!(origin = %target.origin, "cluster connect timed out"),
        }
        tokio::time::sleep(jittered(wait)).await;
        wait = (wait * 2).min(backoff::MAX);
    }
}

/// One attempt: QUIC and TLS handshake, control stream, `Hello` both ways.
async fn connect(
    endpoint: &Endpoint,
    t: &Target,
) -> Result<(Link, RecvStream, Connection), ClusterError> {
    let conn = endpoint
        .connect_with(t.config.clone(), t.origin, &t.server_name)?
        .await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    link::send_hello(&mut send, &t.node, Role::Edge, t.public_url.as_deref()).await?;
    let (peer, peer_url) = link::expect_hello(&conn, &mut recv, Role::Origin).await?;
    debug_assert!(HANDSHAKE_TIMEOUT >= backoff::ATTEMPT);
    Ok((
        link::establish(conn.clone(), send, peer, peer_url),
        recv,
        conn,
    ))
}

/// Read datagrams and control messages until the link closes. Returns false when the
/// consumer is gone.
async fn serve(
    shared: &Arc<Shared>,
    link: &Link,
    recv: RecvStream,
    conn: Connection,
    events: &mpsc::Sender<EdgeEvent>,
    delivery: &Delivery,
) -> bool {
    let control_events = events.clone();
    let reader = tokio::spawn(link::control_reader(
        recv,
        link.downgrade(),
        conn.clone(),
        move |c| {
            let tx = control_events.clone();
            async move { tx.send(EdgeEvent::Control(c)).await.is_ok() }
        },
    ));
    let loads = tokio::spawn(report_loads(shared.clone(), link.clone()));
    let mut alive = true;
    while let Ok(d) = conn.read_datagram().await {
        let Some(p) = link.receive_datagram(d) else {
            continue;
        };
        match delivery {
            Delivery::Handler(h) => h(p),
            Delivery::Events => match events.try_send(EdgeEvent::Packet(p)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => link.count_not_delivered(),
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    alive = false;
                    break;
                }
            },
        }
    }
    loads.abort();
    if !alive {
        reader.abort();
    } else if let Err(e) = reader.await
        && e.is_panic()
    {
        tracing::error!("cluster control reader panicked");
    }
    alive && !events.is_closed()
}

async fn report_loads(shared: Arc<Shared>, link: Link) {
    let mut tick = tokio::time::interval(backoff::LOAD_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first report went with the subscriptions
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = link.closed() => return,
        }
        let load = shared.state().load.clone();
        if let Some(load) = load {
            let _ = link.send_control(load);
        }
    }
}

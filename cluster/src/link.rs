//! One established connection between an origin and an edge: datagrams, the control stream,
//! statistics, closing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::sync::mpsc;

use crate::control::{Control, MAX_CONTROL_LEN, PROTOCOL_VERSION, Role, frame_len};
use crate::wire::RelayPacket;
use crate::{ClusterError, HANDSHAKE_TIMEOUT};

/// QUIC application error codes in CONNECTION_CLOSE.
pub mod close_code {
    /// Closed on purpose ([`crate::Link::close`], an edge shutting down).
    pub const NORMAL: u32 = 0;
    /// The peer broke the protocol (malformed or unexpected control message, control stream
    /// ended).
    pub const PROTOCOL: u32 = 1;
    /// `Hello.version` not ours.
    pub const VERSION: u32 = 2;
    /// The name in `Hello` is not one the certificate is issued for, or the wrong role.
    pub const IDENTITY: u32 = 3;
    /// A newer connection from the same node replaced this one.
    pub const REPLACED: u32 = 4;
    /// The origin is shutting down.
    pub const SHUTDOWN: u32 = 5;
}

/// Control messages queued for the writer of one link before `send_control` refuses.
const CONTROL_QUEUE: usize = 1024;

#[derive(Debug, Default)]
struct Counters {
    datagrams_sent: AtomicU64,
    datagrams_dropped: AtomicU64,
    bytes_sent: AtomicU64,
    datagrams_received: AtomicU64,
    datagrams_invalid: AtomicU64,
    bytes_received: AtomicU64,
    packets_not_delivered: AtomicU64,
    control_sent: AtomicU64,
    control_received: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Statistics of one link: this crate's counters and quinn's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkStats {
    /// Datagrams handed to QUIC.
    pub datagrams_sent: u64,
    /// Datagrams not sent because the connection's datagram send buffer was full
    /// (congestion: the link carries less than is offered).
    pub datagrams_dropped: u64,
    /// Bytes of the datagrams handed to QUIC.
    pub bytes_sent: u64,
    /// Datagrams received and decoded.
    pub datagrams_received: u64,
    /// Datagrams received that did not decode (unknown version, truncated, reserved flags).
    pub datagrams_invalid: u64,
    /// Bytes of received datagrams.
    pub bytes_received: u64,
    /// Received packets the local consumer did not take (its queue was full).
    pub packets_not_delivered: u64,
    /// Control messages queued for sending.
    pub control_sent: u64,
    /// Control messages received.
    pub control_received: u64,
    /// Smoothed round-trip time (quinn).
    pub rtt: Duration,
    /// QUIC packets declared lost (quinn).
    pub lost_packets: u64,
    /// Bytes in lost QUIC packets (quinn).
    pub lost_bytes: u64,
    /// QUIC packets sent (quinn).
    pub sent_packets: u64,
    /// Congestion window, bytes (quinn).
    pub congestion_window: u64,
    /// Congestion events (quinn).
    pub congestion_events: u64,
    /// The path MTU in use (quinn).
    pub current_mtu: u16,
    /// UDP bytes sent and received (quinn, all of the connection's traffic).
    pub udp_bytes_sent: u64,
    /// See `udp_bytes_sent`.
    pub udp_bytes_received: u64,
    /// The largest datagram the link takes now (`None` if the peer takes none).
    pub max_datagram_size: Option<usize>,
}

pub(crate) struct LinkInner {
    conn: Connection,
    peer: String,
    peer_public_url: Option<String>,
    control_tx: mpsc::Sender<Vec<u8>>,
    counters: Counters,
    local_close: std::sync::OnceLock<String>,
}

/// A connection between an origin and an edge. Cheap to clone; every clone is the same link.
/// Dropping the handles does not close it: [`Link::close`] does (or the peer, or the idle
/// timeout).
#[derive(Clone)]
pub struct Link {
    inner: Arc<LinkInner>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("peer", &self.inner.peer)
            .field("remote", &self.inner.conn.remote_address())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Link {
    /// Queue one relayed packet as a QUIC datagram. Never waits: when the connection's
    /// datagram send buffer is full the packet is dropped, counted in
    /// [`LinkStats::datagrams_dropped`], and `Ok` returned. Errors: the link is closed, the
    /// packet is larger than the link takes now ([`Link::max_packet_payload`]), the peer takes
    /// no datagrams.
    pub fn send_packet(&self, p: &RelayPacket) -> Result<(), ClusterError> {
        let len = p.encoded_len();
        let conn = &self.inner.conn;
        let max = conn
            .max_datagram_size()
            .filter(|&m| m > 0)
            .ok_or(ClusterError::DatagramsUnsupported)?;
        if len > max {
            return Err(ClusterError::TooLarge { size: len, max });
        }
        let c = &self.inner.counters;
        if conn.datagram_send_buffer_space() < len {
            if let Some(reason) = conn.close_reason() {
                return Err(ClusterError::Connection(reason));
            }
            bump(&c.datagrams_dropped, 1);
            return Ok(());
        }
        let mut buf = Vec::with_capacity(len);
        p.encode(&mut buf);
        match conn.send_datagram(Bytes::from(buf)) {
            Ok(()) => {
                bump(&c.datagrams_sent, 1);
                bump(&c.bytes_sent, len as u64);
                Ok(())
            }
            Err(quinn::SendDatagramError::ConnectionLost(e)) => Err(ClusterError::Connection(e)),
            Err(quinn::SendDatagramError::TooLarge) => Err(ClusterError::TooLarge {
                size: len,
                max: conn.max_datagram_size().unwrap_or(0),
            }),
            Err(_) => Err(ClusterError::DatagramsUnsupported),
        }
    }

    /// The largest RTP payload [`Link::send_packet`] takes now with the longest relay header
    /// (it grows when path MTU discovery finds room; at least ~1200 bytes with the 1280-byte
    /// initial MTU).
    pub fn max_packet_payload(&self) -> Option<usize> {
        self.inner
            .conn
            .max_datagram_size()
            .map(|m| m.saturating_sub(crate::wire::MAX_HEADER_LEN))
    }

    /// Queue a control message for the control stream. Never waits; errors: the message is
    /// over 64 KiB, the link is closed, or 1024 messages are already waiting (the peer does
    /// not read).
    pub fn send_control(&self, c: Control) -> Result<(), ClusterError> {
        let frame = c.encode_frame()?;
        self.send_frame(frame)
    }

    fn send_frame(&self, frame: Vec<u8>) -> Result<(), ClusterError> {
        if let Some(reason) = self.inner.conn.close_reason() {
            return Err(ClusterError::Connection(reason));
        }
        match self.inner.control_tx.try_send(frame) {
            Ok(()) => {
                bump(&self.inner.counters.control_sent, 1);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(ClusterError::ControlBacklog),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(ClusterError::Closed),
        }
    }

    /// This link's statistics.
    pub fn stats(&self) -> LinkStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let q = self.inner.conn.stats();
        LinkStats {
            datagrams_sent: get(&c.datagrams_sent),
            datagrams_dropped: get(&c.datagrams_dropped),
            bytes_sent: get(&c.bytes_sent),
            datagrams_received: get(&c.datagrams_received),
            datagrams_invalid: get(&c.datagrams_invalid),
            bytes_received: get(&c.bytes_received),
            packets_not_delivered: get(&c.packets_not_delivered),
            control_sent: get(&c.control_sent),
            control_received: get(&c.control_received),
            rtt: q.path.rtt,
            lost_packets: q.path.lost_packets,
            lost_bytes: q.path.lost_bytes,
            sent_packets: q.path.sent_packets,
            congestion_window: q.path.cwnd,
            congestion_events: q.path.congestion_events,
            current_mtu: q.path.current_mtu,
            udp_bytes_sent: q.udp_tx.bytes,
            udp_bytes_received: q.udp_rx.bytes,
            max_datagram_size: self.inner.conn.max_datagram_size(),
        }
    }

    /// Wait until the link is closed (by either side, or by the idle timeout).
    pub async fn closed(&self) {
        self.inner.conn.closed().await;
    }

    /// Whether the link is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.conn.close_reason().is_some()
    }

    /// Why the link closed, if it did.
    pub fn close_reason(&self) -> Option<String> {
        let e = self.inner.conn.close_reason()?;
        match (&e, self.inner.local_close.get()) {
            (quinn::ConnectionError::LocallyClosed, Some(why)) => {
                Some(format!("closed here: {why}"))
            }
            _ => Some(e.to_string()),
        }
    }

    /// Close the link now (queued datagrams and control messages may be lost).
    pub fn close(&self) {
        self.close_with(close_code::NORMAL, "closed");
    }

    pub(crate) fn close_with(&self, code: u32, reason: &str) {
        let _ = self
            .inner
            .local_close
            .set(format!("{reason} (code {code})"));
        self.inner
            .conn
            .close(VarInt::from_u32(code), reason.as_bytes());
    }

    /// The peer's node name (from its `Hello`; on the origin checked against its certificate).
    pub fn peer(&self) -> &str {
        &self.inner.peer
    }

    /// The peer's `public_url` from its `Hello`.
    pub fn peer_public_url(&self) -> Option<&str> {
        self.inner.peer_public_url.as_deref()
    }

    /// The peer's UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.conn.remote_address()
    }

    /// Whether two handles are the same link.
    pub fn same_link(&self, other: &Link) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn downgrade(&self) -> Weak<LinkInner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &Weak<LinkInner>) -> Option<Link> {
        weak.upgrade().map(|inner| Link { inner })
    }

    /// Count a received datagram and decode it.
    pub(crate) fn receive_datagram(&self, d: Bytes) -> Option<RelayPacket> {
        let c = &self.inner.counters;
        bump(&c.bytes_received, d.len() as u64);
        match RelayPacket::decode(d) {
            Ok(p) => {
                bump(&c.datagrams_received, 1);
                Some(p)
            }
            Err(e) => {
                bump(&c.datagrams_invalid, 1);
                tracing::debug!(peer = %self.inner.peer, error = %e, "invalid relay datagram");
                None
            }
        }
    }

    pub(crate) fn count_not_delivered(&self) {
        bump(&self.inner.counters.packets_not_delivered, 1);
    }
}

/// Transport parameters of both sides (see docs/cluster.md).
pub(crate) mod transport {
    use std::time::Duration;

    /// Closed when nothing at all arrived for this long (the smaller of both sides' values).
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
    /// Each side sends a PING frame when it sent nothing for this long.
    pub const KEEP_ALIVE: Duration = Duration::from_millis(500);
    /// The MTU assumed from the start (IPv6's minimum); path MTU discovery may raise it.
    pub const INITIAL_MTU: u16 = 1280;
    /// Outgoing datagrams buffered by a connection (origin → edge) before new ones are dropped.
    pub const DATAGRAM_SEND_BUFFER: usize = 256 * 1024;
    /// Incoming datagrams buffered before the oldest are dropped (edge).
    pub const DATAGRAM_RECEIVE_BUFFER: usize = 1024 * 1024;
    /// The handshake's first RTT estimate (quinn's default is 333 ms): retransmits of a lost
    /// Initial come sooner, so an edge finds a restarted origin sooner.
    pub const INITIAL_RTT: Duration = Duration::from_millis(100);
    /// The congestion window a link starts with (quinn's default is 10 packets, 12 000 bytes).
    /// Relayed media is rate-limited by its source, so the window only decides how fast a
    /// burst goes out: a 720p keyframe (tens of kilobytes, all at once) waited for several
    /// round trips of acknowledgements behind 12 000 bytes; 256 KiB lets it through at once
    /// (and sets quinn's pacer to ≥ 1.25 × 256 KiB per RTT). Loss still shrinks the window
    /// (Cubic), which is what caps a slow edge's layers.
    pub const INITIAL_WINDOW: u64 = 256 * 1024;
}

/// The transport configuration: datagrams are received on the edge only (the origin takes
/// none, so an edge cannot send it any); one bidirectional stream, opened by the edge.
pub(crate) fn transport_config(role: Role) -> Result<quinn::TransportConfig, ClusterError> {
    use transport::*;
    let mut t = quinn::TransportConfig::default();
    let mut cubic = quinn::congestion::CubicConfig::default();
    cubic.initial_window(INITIAL_WINDOW);
    let idle = quinn::IdleTimeout::try_from(IDLE_TIMEOUT)
        .map_err(|e| ClusterError::Tls(format!("idle timeout: {e}")))?;
    t.max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(KEEP_ALIVE))
        .initial_mtu(INITIAL_MTU)
        .min_mtu(INITIAL_MTU)
        .initial_rtt(INITIAL_RTT)
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_send_buffer_size(DATAGRAM_SEND_BUFFER)
        .congestion_controller_factory(Arc::new(cubic))
        .stream_receive_window(VarInt::from_u32(1024 * 1024));
    match role {
        Role::Origin => {
            // Some(0): sending stays enabled (quinn needs a receive buffer for that) while the
            // transport parameter max_datagram_frame_size is 0, which RFC 9221 reads as "takes
            // no datagrams"; a DATAGRAM frame from an edge is a protocol violation.
            t.max_concurrent_bidi_streams(VarInt::from_u32(1))
                .datagram_receive_buffer_size(Some(0));
        }
        Role::Edge => {
            t.max_concurrent_bidi_streams(VarInt::from_u32(0))
                .datagram_receive_buffer_size(Some(DATAGRAM_RECEIVE_BUFFER));
        }
    }
    Ok(t)
}

/// Read one control message; `Ok(None)` at a clean end of the stream.
pub(crate) async fn read_control(recv: &mut RecvStream) -> Result<Option<Control>, ClusterError> {
    let mut prefix = [0u8; 4];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(ClusterError::Protocol(format!("control stream: {e}"))),
    }
    let len = frame_len(&prefix)?;
    debug_assert!(len <= MAX_CONTROL_LEN);
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| ClusterError::Protocol(format!("control stream: {e}")))?;
    Ok(Some(Control::decode_body(&body)?))
}

async fn write_frame(send: &mut SendStream, frame: &[u8]) -> Result<(), ClusterError> {
    send.write_all(frame)
        .await
        .map_err(|e| ClusterError::Protocol(format!("control stream: {e}")))
}

/// Send our `Hello` and read the peer's (in that order on the edge; the origin reads first and
/// calls `expect_hello` then `send_hello`).
pub(crate) async fn send_hello(
    send: &mut SendStream,
    node: &str,
    role: Role,
    public_url: Option<&str>,
) -> Result<(), ClusterError> {
    let hello = Control::Hello {
        node: node.to_owned(),
        role,
        version: PROTOCOL_VERSION,
        public_url: public_url.map(str::to_owned),
    };
    write_frame(send, &hello.encode_frame()?).await
}

/// The peer's `Hello`: (node, public_url). Closes the connection with the matching code when
/// it is something else, another version or the wrong role.
pub(crate) async fn expect_hello(
    conn: &Connection,
    recv: &mut RecvStream,
    role: Role,
) -> Result<(String, Option<String>), ClusterError> {
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_control(recv))
        .await
        .map_err(|_| ClusterError::Protocol("no Hello in time".into()))?;
    let refuse = |code: u32, why: String| {
        conn.close(VarInt::from_u32(code), why.as_bytes());
        ClusterError::Protocol(why)
    };
    match first {
        Ok(Some(Control::Hello {
            node,
            role: r,
            version,
            public_url,
        })) => {
            if version != PROTOCOL_VERSION {
                return Err(refuse(
                    close_code::VERSION,
                    format!("protocol version {version}, this node speaks {PROTOCOL_VERSION}"),
                ));
            }
            if r != role {
                return Err(refuse(
                    close_code::IDENTITY,
                    format!("peer says it is {r:?}, expected {role:?}"),
                ));
            }
            Ok((node, public_url))
        }
        Ok(Some(other)) => Err(refuse(
            close_code::PROTOCOL,
            format!("first control message is {}, not hello", other.kind()),
        )),
        Ok(None) => Err(refuse(close_code::PROTOCOL, "control stream ended".into())),
        Err(e) => Err(refuse(close_code::PROTOCOL, e.to_string())),
    }
}

/// Build the link after the `Hello`s and start its control writer.
pub(crate) fn establish(
    conn: Connection,
    send: SendStream,
    peer: String,
    peer_public_url: Option<String>,
) -> Link {
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let link = Link {
        inner: Arc::new(LinkInner {
            conn,
            peer,
            peer_public_url,
            control_tx,
            counters: Counters::default(),
            local_close: std::sync::OnceLock::new(),
        }),
    };
    tokio::spawn(control_writer(send, control_rx, link.inner.conn.clone()));
    link
}

/// Write queued frames in order; finish the stream when every `Link` handle is gone.
async fn control_writer(mut send: SendStream, mut rx: mpsc::Receiver<Vec<u8>>, conn: Connection) {
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(frame) => {
                    if write_frame(&mut send, &frame).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = send.finish();
                    return;
                }
            },
            _ = conn.closed() => return,
        }
    }
}

/// Read control messages until the stream or the connection ends; answer `Ping` with `Pong`,
/// hand everything else to `deliver` (which returns false when nobody listens any more). A
/// malformed message or an unexpected `Hello` closes the connection. Holds the link weakly.
pub(crate) async fn control_reader<F, Fut>(
    mut recv: RecvStream,
    link: Weak<LinkInner>,
    conn: Connection,
    mut deliver: F,
) where
    F: FnMut(Control) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        let msg = tokio::select! {
            m = read_control(&mut recv) => m,
            _ = conn.closed() => return,
        };
        let close = |code: u32, why: &str| conn.close(VarInt::from_u32(code), why.as_bytes());
        match msg {
            Ok(Some(Control::Ping)) => {
                if let Some(l) = Link::upgrade(&link) {
                    bump(&l.inner.counters.control_received, 1);
                    let _ = l.send_control(Control::Pong);
                }
            }
            Ok(Some(Control::Hello { .. })) => {
                close(close_code::PROTOCOL, "second hello");
                return;
            }
            Ok(Some(c)) => {
                if let Some(l) = Link::upgrade(&link) {
                    bump(&l.inner.counters.control_received, 1);
                }
                if !deliver(c).await {
                    return;
                }
            }
            Ok(None) => {
                close(close_code::PROTOCOL, "control stream ended");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "closing cluster link: bad control message");
                close(close_code::PROTOCOL, &e.to_string());
                return;
            }
        }
    }
}

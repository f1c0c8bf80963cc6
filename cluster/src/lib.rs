//! Plenum's links between nodes: an *origin* hosting rooms relays their media to *edge* nodes
//! over one QUIC connection per edge (quinn, mutual TLS with a cluster CA).
//!
//! - RTP packets travel as QUIC datagrams ([`RelayPacket`], format in [`wire`]), origin → edge.
//! - Control messages ([`Control`]) travel on one bidirectional stream, both ways, as
//!   length-prefixed JSON.
//! - [`OriginNode`] listens and hands the server one [`EdgeConnected`] per edge;
//!   [`EdgeNode`] keeps one connection to its origin, reconnecting forever with backoff and
//!   re-sending its subscriptions.
//!
//! This crate knows nothing about str0m or rooms: it moves packets and messages. The protocol
//! is specified in docs/cluster.md ("The QUIC protocol between nodes").

use std::path::PathBuf;
use std::time::Duration;

pub mod control;
mod edge;
pub mod link;
mod origin;
pub mod tls;
pub mod wire;

pub use control::{Control, ControlError, MAX_CONTROL_LEN, PROTOCOL_VERSION, Role, StreamInfo};
pub use edge::{EdgeEvent, EdgeNode, PacketHandler, backoff};
pub use link::{Link, LinkStats, close_code};
pub use origin::{EdgeConnected, OriginNode};
pub use tls::{ALPN, ClusterCa, NodeTls, generate_ca, issue_node_cert};
pub use wire::{RelayKind, RelayPacket, WIRE_VERSION, WireError};

/// How long a connection may take from its first packet to both `Hello`s.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A PEM file does not hold what it should.
    #[error("PEM: {0}")]
    Pem(String),
    /// The TLS configuration is refused (or a certificate does not verify).
    #[error("TLS: {0}")]
    Tls(String),
    /// Generating a key or certificate failed.
    #[error("certificate generation: {0}")]
    CertGen(#[from] rcgen::Error),
    /// Binding the UDP socket failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Starting a connection failed (bad server name, endpoint closed, …).
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or is closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The peer broke the protocol, or the handshake did not complete.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A control message could not be encoded or decoded.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The link is closed.
    #[error("link closed")]
    Closed,
    /// A datagram larger than the link takes now.
    #[error("datagram of {size} bytes, the link takes at most {max}")]
    TooLarge {
        /// The datagram's size.
        size: usize,
        /// The largest the link takes now.
        max: usize,
    },
    /// The peer takes no datagrams (an edge sending to the origin).
    #[error("the peer takes no datagrams")]
    DatagramsUnsupported,
    /// Too many control messages wait for the peer.
    #[error("control messages back up: the peer does not read")]
    ControlBacklog,
}

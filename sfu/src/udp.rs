//! The media socket: one UDP socket read with `recvmmsg` and written with `sendmmsg`
//! (nix's safe wrappers), so a loop turn costs two system calls instead of one per
//! datagram. The send buffer is enlarged through socket2 (as far as `net.core.wmem_max`
//! allows): one video frame fanned out to 150 viewers is about 1 MiB in one burst.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use socket2::{Domain, Protocol, Socket, Type};
use str0m::net::Transmit;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::{debug, info};

/// Datagrams per `recvmmsg` / `sendmmsg` call.
pub(crate) const BATCH: usize = 64;
/// Largest datagram read; str0m's MTU is far below.
const DATAGRAM_MAX: usize = 2048;
/// Requested kernel send buffer. The receive buffer keeps the kernel default on purpose: an
/// 8 MiB one turned a CPU overload in congress-150 into a standing queue of 360 ms latency
/// (docs/perf.md); for live media a late packet is as useless as a lost one.
const SEND_BUFFER: usize = 4 << 20;

/// The bound media socket with its receive buffers. nix's batch headers hold raw pointers
/// (not `Send`), so they are allocated per call: one small allocation per system call.
pub(crate) struct MediaSocket {
    socket: UdpSocket,
    recv_bufs: Vec<Vec<u8>>,
    received: Vec<(usize, Option<SocketAddr>)>,
}

/// Bind `count` non-blocking UDP sockets to `addr` with enlarged send buffers: one for each
/// shard. With more than one they share the port through `SO_REUSEPORT`, and the kernel
/// spreads incoming datagrams over them by a hash of the remote address (stable per remote).
/// A port of 0 is resolved by the first socket; the others bind the same port.
pub(crate) fn bind_group(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::UdpSocket>> {
    let mut sockets = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        if count > 1 {
            socket.set_reuse_port(true)?;
        }
        // Best effort: the kernel clamps to its maximum, which ops can raise.
        let _ = socket.set_send_buffer_size(SEND_BUFFER);
        socket.bind(&addr.into())?;
        if let Some(bound) = socket.local_addr()?.as_socket() {
            addr = bound;
        }
        sockets.push(socket.into());
    }
    if let Some(first) = sockets.first() {
        let s = socket2::SockRef::from(first);
        info!(
            sockets = sockets.len(),
            recv_buffer = s.recv_buffer_size().unwrap_or(0),
            send_buffer = s.send_buffer_size().unwrap_or(0),
            "media sockets bound"
        );
    }
    Ok(sockets)
}

impl MediaSocket {
    /// Bind one non-blocking UDP socket with an enlarged send buffer. Must run inside a
    /// tokio runtime.
    #[cfg(test)]
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<Self> {
        let socket = bind_group(addr, 1)?.into_iter().next();
        Self::from_std(socket.ok_or_else(|| io::Error::other("no socket"))?)
    }

    /// Take over a socket of [`bind_group`]. Must run inside the tokio runtime that polls it.
    pub(crate) fn from_std(socket: std::net::UdpSocket) -> io::Result<Self> {
        Ok(Self {
            socket: UdpSocket::from_std(socket)?,
            recv_bufs: vec![vec![0u8; DATAGRAM_MAX]; BATCH],
            received: Vec::with_capacity(BATCH),
        })
    }

    #[cfg(test)]
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Wait until a datagram can be read.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Read up to [`BATCH`] waiting datagrams with one system call and hand each to `on`.
    /// Returns how many were read; `WouldBlock` when none was waiting.
    pub(crate) fn try_recv_batch(
        &mut self,
        mut on: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        let Self {
            socket,
            recv_bufs,
            received,
            ..
        } = self;
        received.clear();
        socket.try_io(Interest::READABLE, || {
            let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
            let mut slices: Vec<[IoSliceMut<'_>; 1]> =
                recv_bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let results = recvmmsg(
                socket.as_raw_fd(),
                &mut headers,
                slices.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )
            .map_err(io::Error::from)?;
            for msg in results {
                received.push((msg.bytes, msg.address.as_ref().and_then(to_socket_addr)));
            }
            Ok(())
        })?;
        for (buf, &(len, source)) in recv_bufs.iter().zip(received.iter()) {
            if let Some(source) = source {
                on(source, &buf[..len.min(buf.len())]);
            }
        }
        Ok(received.len())
    }

    /// Send every transmit, [`BATCH`] per system call. A datagram the kernel refuses is
    /// skipped; when the send buffer is full the rest is dropped, as a congested network
    /// would. Returns the number of datagrams not sent.
    pub(crate) fn send_all(&self, transmits: &[Transmit]) -> usize {
        let mut pending = transmits;
        while !pending.is_empty() {
            let chunk = &pending[..pending.len().min(BATCH)];
            match self.try_send_batch(chunk) {
                Ok(sent) => pending = &pending[sent.max(1)..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return pending.len(),
                Err(e) => {
                    // sendmmsg reports an error only for the first datagram of the call.
                    debug!("udp send error: {e}");
                    pending = &pending[1..];
                }
            }
        }
        0
    }

    fn try_send_batch(&self, chunk: &[Transmit]) -> io::Result<usize> {
        let slices: Vec<[IoSlice<'_>; 1]> =
            chunk.iter().map(|t| [IoSlice::new(&t.contents)]).collect();
        let addrs: Vec<Option<SockaddrStorage>> = chunk
            .iter()
            .map(|t| Some(SockaddrStorage::from(t.destination)))
            .collect();
        // No readiness gate: the media loop never waits for writability, and the socket is
        // non-blocking, so a full buffer shows as `WouldBlock` straight from the kernel.
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(chunk.len(), None);
        let results = sendmmsg(
            self.socket.as_raw_fd(),
            &mut headers,
            slices.iter(),
            &addrs,
            [],
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        Ok(results.count())
    }
}

fn to_socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    addr.as_sockaddr_in6().map(|v6| {
        SocketAddr::V6(SocketAddrV6::new(
            v6.ip(),
            v6.port(),
            v6.flowinfo(),
            v6.scope_id(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::net::Protocol as NetProtocol;

    fn transmit(from: SocketAddr, to: SocketAddr, byte: u8, len: usize) -> Transmit {
        Transmit {
            proto: NetProtocol::Udp,
            source: from,
            destination: to,
            contents: vec![byte; len].into(),
        }
    }

    #[tokio::test]
    async fn batches_round_trip_over_loopback() {
        let a = MediaSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut b = MediaSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (from, to) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // More than one batch, distinct sizes and contents.
        let out: Vec<Transmit> = (0..150u8)
            .map(|i| transmit(from, to, i, 100 + usize::from(i)))
            .collect();
        assert_eq!(a.send_all(&out), 0);

        let mut got = Vec::new();
        while got.len() < out.len() {
            b.readable().await.unwrap();
            match b.try_recv_batch(|src, data| got.push((src, data.to_vec()))) {
                Ok(n) => assert!(n <= BATCH),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        for (i, (src, data)) in got.iter().enumerate() {
            assert_eq!(*src, from);
            assert_eq!(data.len(), 100 + i);
            assert!(data.iter().all(|&x| usize::from(x) == i));
        }
    }

    #[tokio::test]
    async fn a_refused_datagram_does_not_stop_the_rest() {
        let a = MediaSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut b = MediaSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (from, to) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // An IPv6 destination cannot be reached from an IPv4 socket: EAFNOSUPPORT/EINVAL.
        let bad: SocketAddr = "[::1]:9".parse().unwrap();
        let out = vec![
            transmit(from, bad, 1, 10),
            transmit(from, to, 2, 20),
            transmit(from, bad, 3, 30),
            transmit(from, to, 4, 40),
        ];
        assert_eq!(a.send_all(&out), 0);
        let mut got = Vec::new();
        while got.len() < 2 {
            b.readable().await.unwrap();
            let _ = b.try_recv_batch(|_, data| got.push(data.to_vec()));
        }
        assert_eq!(got, vec![vec![2u8; 20], vec![4u8; 40]]);
    }
}

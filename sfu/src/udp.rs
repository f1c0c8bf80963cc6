//! The media socket: one UDP socket read with `recvmmsg` and written with `sendmmsg`
//! (nix's safe wrappers), so a loop turn costs two system calls instead of one per
//! datagram. Runs of datagrams to one destination — a subscriber's share of a video frame —
//! leave as one UDP GSO send (`UDP_SEGMENT`): the kernel then passes one buffer through its
//! stack and cuts it into datagrams at the end, instead of doing the whole path per
//! datagram. Receiving asks for UDP GRO (`UDP_GRO`): a run from one sender may arrive as one
//! buffer of equal segments, which [`MediaSocket::try_recv_batch`] hands on datagram by
//! datagram. The send buffer is enlarged through socket2 (as far as `net.core.wmem_max`
//! allows): one video frame fanned out to 150 viewers is about 1 MiB in one burst.
//!
//! The media plane's workers use it, and so does the load tester's synthetic participants
//! (the same batching on both ends of a measurement).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg,
    sendmmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};
use str0m::net::Transmit;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

/// Messages per `recvmmsg` / `sendmmsg` call of the media plane.
pub const BATCH: usize = 64;
/// Largest datagram read without GRO; str0m's MTU is far below.
const DATAGRAM_MAX: usize = 2048;
/// A receive buffer with GRO: one coalesced run (at most 64 KiB).
const GRO_BUFFER: usize = 65_536;
/// Most segments in one GSO send (the kernel's `UDP_MAX_SEGMENTS` is 64 on older kernels).
const GSO_MAX_SEGMENTS: usize = 64;
/// Most bytes in one GSO send (a UDP datagram's limit, with room for the headers).
const GSO_MAX_BYTES: usize = 60_000;
/// Requested kernel send buffer. The receive buffer keeps the kernel default on purpose: an
/// 8 MiB one turned a CPU overload in congress-150 into a standing queue of 360 ms latency
/// (docs/perf.md); for live media a late packet is as useless as a lost one.
const SEND_BUFFER: usize = 4 << 20;

/// The bound media socket with its receive buffers. nix's batch headers hold raw pointers
/// (not `Send`), so they are allocated per call: one small allocation per system call.
pub struct MediaSocket {
    socket: UdpSocket,
    recv_bufs: Vec<Vec<u8>>,
    /// Per message of the last receive: bytes, sender, GRO segment size (0: one datagram),
    /// the kernel's receive time (with [`MediaSocket::enable_timestamps`]).
    received: Vec<(usize, Option<SocketAddr>, usize, Option<SystemTime>)>,
    /// The kernel coalesces runs on receive (`UDP_GRO` is on).
    gro: bool,
    /// The kernel stamps each message with its receive time (`SO_TIMESTAMPNS`).
    timestamps: bool,
    /// Send runs with UDP GSO; cleared for good when the kernel refuses it.
    gso: bool,
    /// The send plan of the current [`MediaSocket::send_all`] (kept for its allocation).
    plan: Vec<Message>,
}

/// One `msghdr` of a send: `transmits[start..end]`, to one destination. With a segment size
/// it is a GSO send of equal segments (the last may be shorter); else one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Message {
    start: usize,
    end: usize,
    segment: Option<u16>,
}

/// Cut `transmits` into messages: each run of datagrams to one destination becomes GSO
/// sends of equal-sized datagrams, where one shorter datagram may end a send (the kernel
/// cuts a GSO buffer into `segment`-sized datagrams, the last one shorter); everything else
/// is one datagram per message. The order of the datagrams is kept.
fn plan_messages(transmits: &[Transmit], gso: bool, plan: &mut Vec<Message>) {
    plan.clear();
    let mut i = 0;
    while i < transmits.len() {
        let first = &transmits[i];
        let size = first.contents.len();
        let mut end = i + 1;
        let mut total = size;
        if gso && u16::try_from(size).is_ok() {
            while let Some(next) = transmits.get(end) {
                let len = next.contents.len();
                if next.destination != first.destination
                    || end - i >= GSO_MAX_SEGMENTS
                    || total + len > GSO_MAX_BYTES
                    || len > size
                {
                    break;
                }
                total += len;
                end += 1;
                if len < size {
                    break;
                }
            }
        }
        let segment = (end - i > 1).then_some(size as u16);
        plan.push(Message {
            start: i,
            end,
            segment,
        });
        i = end;
    }
}

/// Bind `count` non-blocking UDP sockets to `addr` with enlarged send buffers: one for each
/// shard. With more than one they share the port through `SO_REUSEPORT`, and the kernel
/// spreads incoming datagrams over them by a hash of the remote address (stable per remote).
/// A port of 0 is resolved by the first socket; the others bind the same port.
pub fn bind_group(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::UdpSocket>> {
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

impl std::fmt::Debug for MediaSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSocket")
            .field("local", &self.socket.local_addr().ok())
            .field("gro", &self.gro)
            .field("gso", &self.gso)
            .finish_non_exhaustive()
    }
}

impl MediaSocket {
    /// Bind one non-blocking UDP socket with an enlarged send buffer that reads up to
    /// `batch` messages per system call, with GSO and GRO. Must run inside a tokio runtime.
    pub fn bind(addr: SocketAddr, batch: usize) -> io::Result<Self> {
        let socket = bind_group(addr, 1)?.into_iter().next();
        Self::from_std(
            socket.ok_or_else(|| io::Error::other("no socket"))?,
            batch,
            true,
        )
    }

    /// Take over a socket of [`bind_group`], reading up to `batch` messages per system call;
    /// with `offload`, UDP GSO on sends and GRO on receives. Must run inside the tokio runtime
    /// that polls it.
    pub fn from_std(socket: std::net::UdpSocket, batch: usize, offload: bool) -> io::Result<Self> {
        // Best effort: without GRO every datagram arrives on its own.
        let gro = offload && setsockopt(&socket, sockopt::UdpGroSegment, &true).is_ok();
        let size = if gro { GRO_BUFFER } else { DATAGRAM_MAX };
        let batch = batch.max(1);
        Ok(Self {
            socket: UdpSocket::from_std(socket)?,
            recv_bufs: vec![vec![0u8; size]; batch],
            received: Vec::with_capacity(batch),
            gro,
            timestamps: false,
            gso: offload,
            plan: Vec::new(),
        })
    }

    /// The same socket, registered with the tokio runtime this runs in instead of the one
    /// it was bound in (e.g. to be polled on a thread of its own). Must run inside that
    /// runtime.
    pub fn into_current_runtime(self) -> io::Result<Self> {
        let socket = UdpSocket::from_std(self.socket.into_std()?)?;
        Ok(Self { socket, ..self })
    }

    /// Have the kernel stamp every received message with its arrival time (for measuring
    /// what a sender did without the reader's own delays). Best effort: `false` when the
    /// kernel refuses.
    pub fn enable_timestamps(&mut self) -> bool {
        self.timestamps = setsockopt(&self.socket, sockopt::ReceiveTimestampns, &true).is_ok();
        self.timestamps
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Wait until a datagram can be read.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Read the waiting datagrams (up to the batch's messages) with one system call and hand
    /// each to `on`; a GRO buffer is handed on as the datagrams it holds. Returns how many
    /// messages were read; `WouldBlock` when none was waiting. A read of fewer messages
    /// than the batch holds leaves the socket not readable until another datagram arrives
    /// (the next call answers `WouldBlock` without a system call).
    pub fn try_recv_batch(&mut self, mut on: impl FnMut(SocketAddr, &[u8])) -> io::Result<usize> {
        self.try_recv_batch_stamped(|source, data, _| on(source, data))
    }

    /// [`MediaSocket::try_recv_batch`] with each datagram's kernel receive time (`None`
    /// unless [`MediaSocket::enable_timestamps`] succeeded).
    pub fn try_recv_batch_stamped(
        &mut self,
        mut on: impl FnMut(SocketAddr, &[u8], Option<SystemTime>),
    ) -> io::Result<usize> {
        let Self {
            socket,
            recv_bufs,
            received,
            gro,
            timestamps,
            ..
        } = self;
        received.clear();
        let (gro, timestamps) = (*gro, *timestamps);
        let capacity = recv_bufs.len();
        let read = socket.try_io(Interest::READABLE, || {
            let cmsg = (gro || timestamps).then(|| nix::cmsg_space!(i32, nix::sys::time::TimeSpec));
            let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(recv_bufs.len(), cmsg);
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
                let (mut segment, mut at) = (0, None);
                for c in msg.cmsgs().ok().into_iter().flatten() {
                    match c {
                        ControlMessageOwned::UdpGroSegments(size) => {
                            segment = usize::try_from(size).unwrap_or(0);
                        }
                        ControlMessageOwned::ScmTimestampns(ts) => {
                            let since = Duration::new(
                                u64::try_from(ts.tv_sec()).unwrap_or(0),
                                u32::try_from(ts.tv_nsec()).unwrap_or(0),
                            );
                            at = SystemTime::UNIX_EPOCH.checked_add(since);
                        }
                        _ => {}
                    }
                }
                let source = msg.address.as_ref().and_then(to_socket_addr);
                received.push((msg.bytes, source, segment, at));
            }
            if received.len() < capacity {
                // Fewer than asked for: the queue was empty when the call returned. Say so
                // now, and tokio clears the socket's readiness (a datagram arriving since sets
                // it again: its event is newer than the one this read began with) instead of
                // learning it from one more call that returns EAGAIN.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match read {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !received.is_empty() => {}
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        for (buf, &(len, source, segment, at)) in recv_bufs.iter().zip(received.iter()) {
            let Some(source) = source else { continue };
            let data = &buf[..len.min(buf.len())];
            if segment == 0 || segment >= data.len() {
                on(source, data, at);
            } else {
                for datagram in data.chunks(segment) {
                    on(source, datagram, at);
                }
            }
        }
        Ok(received.len())
    }

    /// Send every transmit: runs to one destination as GSO sends, up to [`BATCH`] messages
    /// per system call. A datagram the kernel refuses is skipped; when the send buffer is
    /// full the rest is dropped, as a congested network would. Returns the number of
    /// datagrams not sent.
    pub fn send_all(&mut self, transmits: &[Transmit]) -> usize {
        let mut plan = std::mem::take(&mut self.plan);
        plan_messages(transmits, self.gso, &mut plan);
        let mut pending = &plan[..];
        let mut unsent = 0;
        while let Some(first) = pending.first() {
            // One system call carries messages of one kind (the GSO segment size travels
            // as a control message shared by all of them).
            let same = pending
                .iter()
                .take(BATCH)
                .take_while(|m| m.segment == first.segment)
                .count();
            let chunk = &pending[..same];
            match self.try_send_batch(transmits, chunk) {
                Ok(sent) => pending = &pending[sent.max(1)..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    unsent = pending.iter().map(|m| m.end - m.start).sum();
                    break;
                }
                Err(e) if first.segment.is_some() && gso_unsupported(&e) => {
                    // Refused as a GSO send (no UDP_SEGMENT here): send datagram by
                    // datagram from now on, starting with these.
                    warn!("UDP GSO refused ({e}); sending datagram by datagram");
                    self.gso = false;
                    let rest = first.start;
                    self.plan = plan;
                    return self.send_all(&transmits[rest..]);
                }
                Err(e) => {
                    // sendmmsg reports an error only for the first message of the call.
                    debug!("udp send error: {e}");
                    pending = &pending[1..];
                }
            }
        }
        self.plan = plan;
        unsent
    }

    fn try_send_batch(&self, transmits: &[Transmit], chunk: &[Message]) -> io::Result<usize> {
        let slices: Vec<Vec<IoSlice<'_>>> = chunk
            .iter()
            .map(|m| {
                transmits[m.start..m.end]
                    .iter()
                    .map(|t| IoSlice::new(&t.contents))
                    .collect()
            })
            .collect();
        let addrs: Vec<Option<SockaddrStorage>> = chunk
            .iter()
            .map(|m| Some(SockaddrStorage::from(transmits[m.start].destination)))
            .collect();
        // No readiness gate: the media loop never waits for writability, and the socket is
        // non-blocking, so a full buffer shows as `WouldBlock` straight from the kernel.
        let segment = chunk.first().and_then(|m| m.segment);
        let results = match segment {
            Some(size) => {
                let cmsg = [ControlMessage::UdpGsoSegments(&size)];
                let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(
                    chunk.len(),
                    Some(nix::cmsg_space!(u16)),
                );
                sendmmsg(
                    self.socket.as_raw_fd(),
                    &mut headers,
                    slices.iter(),
                    &addrs,
                    cmsg,
                    MsgFlags::MSG_DONTWAIT,
                )
                .map(|r| r.count())
            }
            None => {
                let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(chunk.len(), None);
                sendmmsg(
                    self.socket.as_raw_fd(),
                    &mut headers,
                    slices.iter(),
                    &addrs,
                    [],
                    MsgFlags::MSG_DONTWAIT,
                )
                .map(|r| r.count())
            }
        };
        results.map_err(io::Error::from)
    }
}

/// Whether a send error means "no UDP GSO on this socket or route" (as quinn-udp reads it).
fn gso_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EIO | Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOPROTOOPT)
    )
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
        let mut a = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
        let mut b = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
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
    async fn a_short_read_leaves_the_socket_waiting_for_the_next_datagram() {
        let mut a = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
        let mut b = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
        let (from, to) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // Growing sizes: three messages (no GSO run), queued before the send returns.
        let three = [1u8, 2, 3].map(|i| transmit(from, to, i, 100 * usize::from(i)));
        assert_eq!(a.send_all(&three), 0);
        b.readable().await.unwrap();
        let mut got = Vec::new();
        let n = b.try_recv_batch(|_, data| got.push(data.to_vec())).unwrap();
        assert!(n < BATCH);
        assert_eq!(got.len(), 3);

        // The batch was short, so the queue is empty: the socket is not readable any more
        // and the next read answers without asking the kernel.
        let wait = Duration::from_millis(50);
        assert!(tokio::time::timeout(wait, b.readable()).await.is_err());
        let err = b
            .try_recv_batch(|_, _| panic!("nothing waits"))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

        // A datagram that arrives now makes it readable again.
        assert_eq!(a.send_all(&[transmit(from, to, 4, 400)]), 0);
        tokio::time::timeout(Duration::from_secs(5), b.readable())
            .await
            .expect("the new datagram wakes the reader")
            .unwrap();
        got.clear();
        b.try_recv_batch(|_, data| got.push(data.to_vec())).unwrap();
        assert_eq!(got, vec![vec![4u8; 400]]);
    }

    fn sized(to: SocketAddr, sizes: &[usize]) -> Vec<Transmit> {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        sizes
            .iter()
            .map(|&len| transmit(from, to, 0, len))
            .collect()
    }

    #[test]
    fn runs_to_one_destination_become_gso_sends() {
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let mut t = sized(a, &[1200, 1200, 1200, 700, 1200, 90]);
        t.extend(sized(b, &[90, 1200, 1200]));
        t.extend(sized(a, &[500]));
        let mut plan = Vec::new();
        plan_messages(&t, true, &mut plan);
        let m = |start, end, segment| Message {
            start,
            end,
            segment,
        };
        assert_eq!(
            plan,
            vec![
                // equal segments, ended by a shorter one
                m(0, 4, Some(1200)),
                m(4, 6, Some(1200)),
                // a longer datagram cannot follow a shorter one
                m(6, 7, None),
                m(7, 9, Some(1200)),
                m(9, 10, None),
            ]
        );
        plan_messages(&t, false, &mut plan);
        assert_eq!(plan.len(), t.len());
        assert!(plan.iter().all(|m| m.segment.is_none()));
    }

    #[test]
    fn gso_sends_respect_the_kernel_limits() {
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let mut plan = Vec::new();
        plan_messages(&sized(a, &[100; 150]), true, &mut plan);
        assert_eq!(plan.len(), 3);
        assert!(plan.iter().all(|m| m.end - m.start <= GSO_MAX_SEGMENTS));
        plan_messages(&sized(a, &[1400; 50]), true, &mut plan);
        assert!(
            plan.iter()
                .all(|m| (m.end - m.start) * 1400 <= GSO_MAX_BYTES)
        );
        assert_eq!(plan.iter().map(|m| m.end - m.start).sum::<usize>(), 50);
    }

    #[tokio::test]
    async fn gso_runs_arrive_as_the_datagrams_they_were() {
        let mut a = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
        let mut b = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
        let mut c = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
        let from = a.local_addr().unwrap();
        let (to_b, to_c) = (b.local_addr().unwrap(), c.local_addr().unwrap());
        // Two subscribers' shares of frames, interleaved with single datagrams; each datagram
        // carries its index so order and boundaries can be checked.
        let shape: &[(SocketAddr, usize)] = &[
            (to_b, 1200),
            (to_b, 1200),
            (to_b, 1200),
            (to_b, 640),
            (to_c, 1200),
            (to_c, 1200),
            (to_c, 33),
            (to_b, 180),
            (to_c, 1100),
            (to_c, 1100),
            (to_b, 1200),
            (to_b, 1200),
        ];
        let out: Vec<Transmit> = shape
            .iter()
            .enumerate()
            .map(|(i, &(to, len))| transmit(from, to, i as u8, len))
            .collect();
        assert_eq!(a.send_all(&out), 0);
        assert!(a.gso, "the kernel takes UDP GSO on loopback");
        for (socket, to) in [(&mut b, to_b), (&mut c, to_c)] {
            let want: Vec<(u8, usize)> = shape
                .iter()
                .enumerate()
                .filter(|(_, (dest, _))| *dest == to)
                .map(|(i, &(_, len))| (i as u8, len))
                .collect();
            let mut got = Vec::new();
            let mut messages = 0;
            while got.len() < want.len() {
                socket.readable().await.unwrap();
                messages += socket
                    .try_recv_batch(|src, data| {
                        assert_eq!(src, from);
                        assert!(data.iter().all(|&x| x == data[0]), "one datagram, not two");
                        got.push((data[0], data.len()));
                    })
                    .unwrap_or(0);
            }
            assert_eq!(got, want);
            assert!(socket.gro, "the kernel takes UDP GRO on loopback");
            assert!(
                messages < want.len(),
                "runs arrived coalesced: {messages} messages for {} datagrams",
                want.len()
            );
        }
    }

    #[tokio::test]
    async fn a_refused_datagram_does_not_stop_the_rest() {
        let mut a = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
        let mut b = MediaSocket::bind("127.0.0.1:0".parse().unwrap(), BATCH).unwrap();
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

//! ICE-TCP (RFC 6544) for networks that block UDP: one TCP port, passive host candidates, and
//! RFC 4571 framing (every packet prefixed with its 16-bit length).
//!
//! The first frame of a connection must be a STUN message whose username starts with one of
//! our ufrags; the ufrag's shard prefix names the shard that owns the connection from then on.
//! Its frames go to that shard as datagrams of `Protocol::Tcp`, and the shard's TCP transmits
//! come back through a bounded channel (full: dropped, as a congested link would). A connection
//! that sends nothing useful in time, or goes quiet for longer than ICE consent allows, is closed.
//!
//! [`frame`] and [`Deframer`] are public for clients (the load tester's ICE-TCP participants).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use str0m::ice::StunMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tracing::debug;

use crate::driver::Input;
use crate::shard::owner_of_ufrag;

/// How long a new connection may take to send its first STUN request.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// Browsers send consent checks every ~5 s; a connection silent for this long is dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent ICE-TCP connections (each holds two small tasks and buffers).
const MAX_CONNECTIONS: usize = 4096;
/// Frames queued towards one connection before further ones are dropped.
pub(crate) const WRITE_QUEUE: usize = 512;

/// Prefix `data` with its length (RFC 4571); `None` when it does not fit 16 bits.
pub fn frame(data: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(data.len()).ok()?;
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Some(out)
}

/// Splits a TCP byte stream into RFC 4571 frames.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
    start: usize,
}

impl Deframer {
    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let rest = &self.buf[self.start..];
        let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
        let frame = rest.get(2..2 + len)?.to_vec();
        self.start += 2 + len;
        if self.start > 64 * 1024 {
            // Compact now and then so the buffer does not grow with the connection's age.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Some(frame)
    }
}

/// Accept ICE-TCP connections until the listener fails; hand each to the owning shard.
pub(crate) async fn serve(listener: TcpListener, shards: Arc<[mpsc::UnboundedSender<Input>]>) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                debug!("ice-tcp accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            continue; // too many connections: refuse this one by dropping it
        };
        let shards = shards.clone();
        tokio::spawn(async move {
            connection(stream, remote, &shards).await;
            drop(permit);
        });
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    shards: &[mpsc::UnboundedSender<Input>],
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let mut deframer = Deframer::default();
    let mut buf = vec![0u8; 16 * 1024];

    // The first frame decides the owner.
    let first = tokio::time::timeout(FIRST_FRAME_TIMEOUT, async {
        loop {
            if let Some(frame) = deframer.next_frame() {
                return Some(frame);
            }
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => deframer.push(&buf[..n]),
            }
        }
    })
    .await;
    let Ok(Some(first)) = first else {
        return;
    };
    let Some(owner) = StunMessage::parse(&first)
        .ok()
        .and_then(|m| {
            m.split_username()
                .and_then(|(ufrag, _)| owner_of_ufrag(ufrag))
        })
        .and_then(|i| shards.get(i))
    else {
        debug!("ice-tcp connection without a known STUN username closed");
        return;
    };

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    if owner.send(Input::TcpOpen { remote, writer: tx }).is_err() {
        return;
    }
    let received = metrics::counter!("plenum_media_tcp_received_total");
    let mut frame = Some(first);
    loop {
        while let Some(data) = frame.take().or_else(|| deframer.next_frame()) {
            received.increment(1);
            if owner.send(Input::TcpFrame { remote, data }).is_err() {
                return;
            }
        }
        match tokio::time::timeout(IDLE_TIMEOUT, reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => deframer.push(&buf[..n]),
            _ => break,
        }
    }
    let _ = owner.send(Input::TcpClosed { remote });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_any_split() {
        let packets: Vec<Vec<u8>> = vec![vec![1; 20], vec![], vec![7; 1200], vec![9; 3]];
        let stream: Vec<u8> = packets.iter().flat_map(|p| frame(p).unwrap()).collect();
        for chunk in [1, 2, 3, 7, 100, stream.len()] {
            let mut d = Deframer::default();
            let mut got = Vec::new();
            for part in stream.chunks(chunk) {
                d.push(part);
                while let Some(f) = d.next_frame() {
                    got.push(f);
                }
            }
            assert_eq!(got, packets, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_frame_longer_than_16_bits_is_refused() {
        assert!(frame(&vec![0; 65_535]).is_some());
        assert!(frame(&vec![0; 65_536]).is_none());
        assert_eq!(frame(&[0xab]).unwrap(), vec![0, 1, 0xab]);
    }

    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_never_panic_and_frames_stay_in_bounds() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4571);
        for _ in 0..200 {
            let mut d = Deframer::default();
            let mut pushed = 0usize;
            let mut taken = 0usize;
            for _ in 0..50 {
                let chunk: Vec<u8> = (0..rng.random_range(0..300))
                    .map(|_| rng.random())
                    .collect();
                pushed += chunk.len();
                d.push(&chunk);
                while let Some(f) = d.next_frame() {
                    taken += f.len() + 2;
                }
            }
            assert!(taken <= pushed, "frames come only from what was pushed");
        }
    }

    #[test]
    fn a_partial_frame_waits_for_the_rest() {
        let mut d = Deframer::default();
        d.push(&[0, 4, 1, 2]);
        assert_eq!(d.next_frame(), None);
        d.push(&[3]);
        assert_eq!(d.next_frame(), None);
        d.push(&[4, 0]);
        assert_eq!(d.next_frame(), Some(vec![1, 2, 3, 4]));
        assert_eq!(d.next_frame(), None);
    }
}

//! The tokio glue: one UDP socket, one task, one [`Shard`]. Reads datagrams in batches,
//! hands them and commands and time to the shard, sends what it transmits.

use std::time::Instant;

use str0m::net::Transmit;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::shard::Shard;
use crate::{Command, MediaConfig, SfuError, SfuEvent, SfuHandle};

/// Datagrams read per loop turn before the batched writes are flushed.
const RECV_BATCH: usize = 64;

/// Bind the media socket and start the media task. Events go to `events`; the task ends
/// when every [`SfuHandle`] is dropped.
pub async fn spawn(
    config: MediaConfig,
    events: mpsc::UnboundedSender<SfuEvent>,
) -> Result<(SfuHandle, JoinHandle<()>), SfuError> {
    let bind_err = |source| SfuError::Bind {
        addr: config.bind,
        source,
    };
    let socket = UdpSocket::bind(config.bind).await.map_err(bind_err)?;
    let local_addr = socket.local_addr().map_err(bind_err)?;
    let announced = if config.public_addresses.is_empty() {
        vec![local_addr]
    } else {
        config.public_addresses.clone()
    };
    let mut candidates = Vec::new();
    for mut addr in announced {
        if addr.port() == 0 {
            addr.set_port(local_addr.port());
        }
        if addr.ip().is_unspecified() {
            return Err(SfuError::InvalidPublicAddress(addr));
        }
        candidates.push(addr);
    }
    let shard = Shard::new(local_addr, candidates, config.slots, config.router, events)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(shard, socket, rx));
    Ok((
        SfuHandle {
            commands: tx,
            local_addr,
        },
        task,
    ))
}

async fn run(mut shard: Shard, socket: UdpSocket, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut buf = vec![0u8; 2000];
    let mut out: Vec<Transmit> = Vec::new();
    info!(addr = ?socket.local_addr().ok(), "media plane running");
    loop {
        let deadline = shard.poll_timeout(Instant::now());
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => handle_command(&mut shard, cmd),
                None => break,
            },
            res = socket.recv_from(&mut buf) => match res {
                Ok((n, source)) => {
                    let now = Instant::now();
                    shard.handle_datagram(now, source, &buf[..n]);
                    for _ in 1..RECV_BATCH {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, source)) => shard.handle_datagram(now, source, &buf[..n]),
                            Err(_) => break,
                        }
                    }
                }
                Err(e) => debug!("udp receive error: {e}"),
            },
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        shard.handle_timeout(Instant::now());
        shard.take_transmits(&mut out);
        for t in out.drain(..) {
            // UDP: a full send buffer drops the datagram, like the network would.
            let _ = socket.try_send_to(&t.contents, t.destination);
        }
    }
    info!("media plane stopped");
}

fn handle_command(shard: &mut Shard, cmd: Command) {
    let now = Instant::now();
    match cmd {
        Command::Connect {
            peer,
            room,
            offer,
            reply,
        } => {
            let result = shard.connect(now, peer, room, &offer);
            if reply.send(result).is_err() {
                // The asking connection went away meanwhile.
                shard.disconnect(now, peer);
            }
        }
        Command::Disconnect { peer } => shard.disconnect(now, peer),
        Command::SetPublishing { peer, kind, on } => shard.set_publishing(now, peer, kind, on),
        Command::SetMuted { peer, muted } => shard.set_muted(now, peer, muted),
        Command::SetStagePin { room, peer } => shard.set_stage_pin(now, room, peer),
    }
}
